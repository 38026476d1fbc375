//! # runtime
//!
//! The tokio shell of ferroswitch. It owns sockets, connections and the
//! clock, and drives the sans-IO cores: one task owns the
//! [`sip_proto::Endpoint`] and the application [`Service`], so the hot path
//! takes no lock. It does not parse SIP beyond framing streams, and it makes
//! no call decisions.
//!
//! * UDP: one socket; after each wake-up the core drains every datagram
//!   already queued (`try_recv_from`) before running timers, so a burst costs
//!   one task wake-up, not one per packet.
//! * TCP: one reader task per connection frames by Content-Length
//!   ([`sip_msg::frame`]), answers RFC 5626 CRLF keep-alives, closes idle or
//!   misbehaving connections; responses and in-dialog requests reuse the
//!   connection a request arrived on, and new connections are opened (and
//!   then reused) for requests to a peer we have no connection to.
//! * TLS: rustls (ring provider) on `sip.tls_port`, same framing as TCP;
//!   a self-signed certificate is generated once when none is configured.
//! * Time: `tokio::time` (pausable in tests), converted to `std` instants
//!   for the cores.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(clippy::disallowed_methods)] // the shell is where the clock lives

mod inbox;
mod core;
pub(crate) mod rec_writer;
mod relay;
mod tcp;
mod tls;
mod udp_batch;

pub use crate::core::{run, Handle, RuntimeConfig, Service, Started};
pub use crate::rec_writer::backlog as recording_backlog;
pub use crate::rec_writer::finish_cut as finish_cut_recording;
pub use crate::relay::{Digits, Recording, RelayEvent, RelayPool};
pub use crate::tls::{load_certs, server_config, TlsSource};
