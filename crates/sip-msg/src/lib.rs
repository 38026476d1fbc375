//! # sip-msg
//!
//! SIP messages (RFC 3261 §7, §25): parse, print, and typed header access on
//! demand. This crate owns the wire format only: no transactions, no
//! transport, no policy. It is used by every other SIP crate of ferroswitch.
//!
//! * [`Message::parse`] takes one datagram (or one frame cut from a stream
//!   by [`frame`]) and returns a [`Message`]. It validates the start line,
//!   the header-line syntax (folding, compact names, case-insensitive names)
//!   and Content-Length against the body, and copies the head once into a
//!   string; the header list is one allocation per message.
//! * Header values stay raw until asked for: [`Message::top_via`],
//!   [`Message::from`], [`Message::cseq`], [`Message::contacts`] ... parse on
//!   demand into views ([`Via`], [`NameAddr`], [`Uri`], [`CSeq`]) that borrow
//!   from the message. Unknown headers and parameters are kept verbatim.
//! * [`Message::encode`] prints the message; `parse(print(m)) == m`.
//! * Errors ([`ParseError`]) say what was wrong and map to the SIP status a
//!   server answers with ([`ParseError::status`]).
//!
//! ```
//! use sip_msg::{Message, HeaderName};
//! let raw = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//!             v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n\
//!             f: <sip:alice@example.com>;tag=1\r\nt: <sip:bob@example.com>\r\n\
//!             i: a84b4c76e66710\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";
//! let msg = Message::parse_slice(raw)?;
//! assert_eq!(msg.call_id()?, "a84b4c76e66710");
//! assert_eq!(msg.top_via()?.branch(), Some("z9hG4bK776"));
//! assert_eq!(msg.from()?.tag(), Some("1"));
//! assert_eq!(msg.get(HeaderName::MaxForwards), Some("70"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod framing;
mod headers;
mod message;
mod method;
mod name;
mod params;
mod scan;
mod uri;

pub use error::ParseError;
pub use framing::{frame, Frame, FrameError};
pub use headers::{
    CSeq, ContentType, Credentials, DigestParams, NameAddr, RAck, Reason, Refresher, Replaces, RetryAfter,
    SessionExpires, Via,
};
pub use message::{HeaderRef, Limits, Message};
pub use method::Method;
pub use name::HeaderName;
pub use params::Params;
pub use scan::percent_decode;
pub use uri::{Host, Scheme, Uri};
