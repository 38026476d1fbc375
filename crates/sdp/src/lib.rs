//! SDP for ferroswitch: the session description model (RFC 8866, RFC 4566)
//! with lossless parse and print, typed access on demand, the edits a
//! media-anchoring B2BUA makes, and offer/answer (RFC 3264) as pure
//! functions.
//!
//! # What this crate owns
//!
//! - [`Session`]: parse ([`Session::parse`], [`Session::parse_bytes`]) and
//!   print ([`Session::as_str`], `Display`). Printing gives back the input
//!   byte for byte for any well-formed CRLF input: unknown lines and
//!   unknown attributes stay verbatim and in place. LF-only input parses
//!   too; printing always uses CRLF.
//! - Typed views decoded on demand from the text: [`Origin`],
//!   [`Connection`] (IP4/IP6, [`Connection::ip`]), [`Media`] (type, port,
//!   port count, proto, formats), [`RtpMap`], [`Fmtp`], ptime/maxptime,
//!   [`Direction`] (the session level is the default for media),
//!   [`Rtcp`] (RFC 3605), rtcp-mux, telephone-event payload types.
//! - Edits: connection address ([`Session::set_connection_address`],
//!   [`MediaMut::set_connection_address`],
//!   [`Session::set_all_connection_addresses`]), port
//!   ([`MediaMut::set_port`]), direction, keeping only some payload types
//!   ([`MediaMut::retain_payload_types`]), adding and removing attributes,
//!   bumping the origin version ([`Session::bump_origin_version`]).
//! - Offer/answer: [`answer`] an offer against [`LocalCapabilities`], build
//!   an [`offer`], and summarise an exchange with [`negotiated`].
//! - [`Error`]: one error type, sorted by who is at fault ([`Fault`]), each
//!   mapping to a SIP status ([`Error::status_code`]).
//!
//! # What it does not own
//!
//! No I/O, no clock, no SIP: the caller takes the body out of the SIP
//! message and decides what status to send (sip-proto, b2bua). No RTP
//! either: ports come from the runtime's port pool, and the media crate
//! sends and receives. It does not track offer/answer *state* (who may
//! offer when, glare, 491) — that belongs to the dialog in b2bua — nor the
//! session version counter, which the caller keeps in
//! [`LocalCapabilities::session_version`]. ICE, DTLS-SRTP, SDES keys,
//! BUNDLE and simulcast are kept verbatim and never interpreted; answers
//! accept audio over `RTP/AVP` and `RTP/AVPF` (configurable) and reject
//! every other stream.
//!
//! # Storage, and why
//!
//! A [`Session`] is one `String` holding exactly the printed form plus a
//! `Vec` of line spans (two `usize`s each) and the index of each `m=` line.
//! Parsing is one pass filling three buffers (text, spans, media index),
//! whatever the number of lines; printing is free (`as_str`); every typed
//! value borrows `&str` from the text, so reading an SDP allocates nothing.
//! An edit of one line splices the string in place and shifts the spans
//! after it; an edit touching many lines (removing attributes, keeping some
//! payload types) rebuilds text and spans in one pass. Either way the text
//! never holds garbage, stays equal to the printed form, and every edit is
//! linear in the size of the description. A line-per-`String` model would cost an
//! allocation per line on parse and a join on print; a borrowed
//! `Session<'a>` would tie every description to the SIP message buffer.
//! SDP is handled once per offer or answer, never per packet, so neither
//! matters for throughput, but this layout is both the simplest to keep
//! lossless and the cheapest.
//!
//! Parsing validates the grammar of every line this crate types (`v o c b
//! t m`, `a=rtpmap fmtp ptime maxptime rtcp`); the typed accessors then
//! decode without failing, and the edits only ever write valid lines. Work
//! is linear in the input, which is capped at [`MAX_INPUT_LEN`], with at
//! most [`MAX_MEDIA`] media sections of [`MAX_FORMATS`] formats each.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use sdp::{answer, negotiated, Codec, Direction, LocalCapabilities, Session};
//!
//! let offer = Session::parse(
//!     "v=0\r\n\
//!      o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n\
//!      s=-\r\n\
//!      c=IN IP4 198.51.100.1\r\n\
//!      t=0 0\r\n\
//!      m=audio 49170 RTP/AVP 0 8 97 101\r\n\
//!      a=rtpmap:97 opus/48000/2\r\n\
//!      a=rtpmap:101 telephone-event/8000\r\n\
//!      a=fmtp:101 0-15\r\n\
//!      a=sendonly\r\n",
//! )?;
//! let media = offer.media_at(0).ok_or("one m= line")?;
//! assert_eq!(media.codec(97).map(|r| r.encoding), Some("opus"));
//! assert_eq!(media.direction(), Direction::SendOnly);
//!
//! let mut local = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 30000);
//! local.codecs = vec![Codec::PCMA, Codec::PCMU, Codec::TELEPHONE_EVENT];
//! let ans = answer(&offer, &local)?;
//! assert!(ans.as_str().contains("m=audio 30000 RTP/AVP 8 0 101\r\n"));
//! assert!(ans.as_str().contains("a=recvonly\r\n")); // sendonly is answered recvonly
//!
//! let n = negotiated(&offer, &ans);
//! let audio = n.audio().ok_or("audio accepted")?;
//! assert_eq!(audio.codec, Some(Codec::PCMA));
//! assert_eq!(audio.offer.telephone_event, Some(101));
//! assert_eq!(audio.offer.rtp, Some("198.51.100.1:49170".parse()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod error;
mod fields;
mod media;
mod negotiate;
mod session;

pub use codec::Codec;
pub use error::{Error, Fault};
pub use fields::{
    Attribute, Bandwidth, Connection, Direction, Fmtp, Line, MediaLine, Origin, Rtcp, RtpMap,
    Timing,
};
pub use media::{Media, MediaMut};
pub use negotiate::{
    answer, negotiated, offer, CodecPreference, LocalCapabilities, Negotiated, NegotiatedStream,
    StreamSide,
};
pub use session::{Session, MAX_FORMATS, MAX_INPUT_LEN, MAX_MEDIA};
