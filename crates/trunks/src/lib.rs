//! # trunks
//!
//! Sans-IO carrier trunks ("gateways") of ferroswitch: what the switch needs
//! to place calls through, and accept calls from, a SIP carrier.
//!
//! What this crate owns:
//!
//! * **Outbound registration** (RFC 3261 §10.2): one REGISTER client per
//!   gateway with a stable Call-ID, increasing CSeq, digest authentication
//!   as a client (RFC 3261 §22.2, RFC 7616, RFC 2617 and its RFC 2069
//!   fallback), 423 Interval Too Brief, refresh before expiry, capped
//!   exponential back-off after failures, and an un-REGISTER when a gateway
//!   is removed. See [`RegState`] for the state diagram.
//! * **Health**: OPTIONS pings (RFC 3261 §11) every `ping_interval`; any
//!   response means the carrier is up, two timeouts in a row mean it is
//!   down ([`PingState`]).
//! * **Admission**: concurrent-call limits and a calls-per-second token
//!   bucket per gateway ([`Trunks::acquire`] / [`Trunks::release`]).
//! * **Number rules**: strip and prefix for the callee, fixed caller id
//!   ([`Trunks::callee_number`], [`Trunks::caller_number`]).
//! * **Inbound recognition**: which gateway a source address belongs to
//!   ([`IpCidr`], [`Trunks::gateway_for_source`]).
//! * **Digest for calls**: credentials for an INVITE the carrier challenged
//!   ([`Trunks::authorize`]).
//! * **Route table** ([`routes`]): which destination goes to which
//!   extension, gateway list, queue, or rejection; and when a failed
//!   attempt should move on to the next gateway ([`fails_over`]).
//!
//! What it does not own: sockets, DNS (the proxy address arrives
//! resolved), the clock, the calls themselves (the B2BUA places them and
//! asks this crate for numbers, admission and credentials), or persistence
//! (configuration comes from the store through [`Trunks::set_gateways`]).
//!
//! ## The loop a driver runs
//!
//! The driver already runs a [`sip_proto::Endpoint`]; this crate sends its
//! REGISTER and OPTIONS requests through it and is fed back the outcomes:
//!
//! ```text
//! on configuration change:      trunks.set_gateways(now, &mut ep, gateways)
//! on Event::Response{tx, r}:    if !trunks.handle_response(now, &mut ep, tx, &r) { b2bua... }
//! on Event::Timeout{tx} |
//!    Event::TransportError{tx}: if !trunks.handle_tx_failure(now, &mut ep, tx) { b2bua... }
//! when trunks.poll_timeout() <= now: trunks.handle_timeout(now, &mut ep)
//! then drain ep.poll_transmit() as usual, and sleep until the earliest of
//! ep.poll_timeout() and trunks.poll_timeout().
//! ```
//!
//! `now` is always passed in: the crate never reads a clock, so tests run a
//! 300-second back-off in microseconds of virtual time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cidr;
mod client_auth;
mod config;
mod health;
mod limits;
mod register;
pub mod routes;
mod trunks;

pub use cidr::{CidrError, IpCidr};
pub use config::{GatewayConfig, RegisterConfig};
pub use health::PingState;
pub use limits::Refused;
pub use register::RegState;
pub use trunks::{GatewayStatus, Trunks};

/// Should a call that failed through one gateway be tried on the next
/// gateway of the route?
///
/// Yes for a failure of the carrier rather than an answer about the callee:
/// no answer at all (`0`: Timer B or a transport error, RFC 3261 §17.1.1.2,
/// §8.1.3.1), 408 Request Timeout, and every 5xx server failure (including
/// 503 Service Unavailable, RFC 3261 §21.5.4). No for the other 4xx and
/// every 6xx: 404, 486 Busy Here, 603 Decline and the like are definitive
/// answers that another carrier would repeat (RFC 3261 §21.4, §21.6), and
/// trying again would ring a busy callee twice.
pub fn fails_over(code: u16) -> bool {
    code == 0 || code == 408 || (500..600).contains(&code)
}
