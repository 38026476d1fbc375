//! # b2bua
//!
//! Sans-IO call control of ferroswitch: a call is two independent dialogs,
//! the A-leg (the caller's INVITE, answered by us) and the B-leg (our
//! INVITE to the callee, forked to every registered contact). This crate
//! decides what each leg is told; it acts on a [`sip_proto::Endpoint`]
//! (itself sans-IO) and on a [`Media`] implementation that owns the relay
//! sockets, and reports calls as [`CallEvent`]s (the CDR among them).
//!
//! It does not authenticate, look up registrations or resolve addresses:
//! the caller of [`B2bua::start_call`] has done that and passes the
//! targets. Time is passed in.
//!
//! Flow of one call (RFC 3261 §13, §15, §9):
//!
//! ```text
//!   A                 ferroswitch                  B (1..n contacts)
//!   |--INVITE (SDP a)-->|                             |
//!   |<--100-------------|--INVITE (SDP a') fork 1..n->|
//!   |<--180/183 (SDP b')|<--180/183 (SDP b)-----------|
//!   |<--200 (SDP b')----|<--200 (first wins)----------|  other forks: CANCEL
//!   |--ACK------------->|--ACK----------------------->|
//!   |<======= RTP ======>relay<======= RTP ==========>|
//!   |--BYE------------->|--BYE----------------------->|
//!   |<--200-------------|<--200-----------------------|
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod call;
mod sdp_rewrite;

pub use call::{fails_over, B2bua, B2buaConfig, CallEvent, CallInfo, CallState, Cdr, Disposition, GatewayLeg, Leg, Side, StartError, Target, MIN_SE};
pub use sdp_rewrite::{prefer_codecs, MediaMode};

use std::net::SocketAddr;

/// Receive quality of a call's two streams (RFC 3550 loss and jitter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quality {
    /// Packets lost (towards A, towards B).
    pub lost: (u64, u64),
    /// Interarrival jitter in microseconds (towards A, towards B).
    pub jitter_us: (u64, u64),
}

/// One leg's end of a transcoded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscodeSide {
    /// The voice codec this leg speaks.
    pub codec: sdp::Codec,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// This leg's telephone-event payload type, if negotiated.
    pub events: Option<u8>,
    /// Its clock rate (8000 when there is none).
    pub events_rate: u32,
    /// The leg asked for Opus in-band FEC (`a=fmtp:... useinbandfec=1`,
    /// RFC 7587 §6.1): what we encode for it carries redundancy.
    pub fec: bool,
    /// The most this leg asked to receive, in bits per second
    /// (`maxaveragebitrate`, RFC 7587 §6.1), if it said.
    pub max_bitrate: Option<u32>,
    /// The packet duration this leg asked to receive (ms; 20 when unsaid).
    pub ptime_ms: u32,
}

/// A call whose legs share no codec: what each speaks. The media engine
/// decodes one and encodes the other, both ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcode {
    /// The caller's leg.
    pub a: TranscodeSide,
    /// The callee's leg.
    pub b: TranscodeSide,
}

impl Transcode {
    /// Both codecs, for the CDR: `opus/48000>PCMU/8000`.
    pub fn codecs(&self) -> String {
        format!("{}/{}>{}/{}", self.a.codec.name, self.a.codec.clock_rate, self.b.codec.name, self.b.codec.clock_rate)
    }
}

/// What a call relayed untouched carries (the legs share its codec): the
/// voice codec, and the payload type of the stream from A and of the
/// stream from B (each the one its receiver listed; RFC 3264 asks the
/// answerer to reuse the offer's, but does not require it). The media
/// engine decodes it where it needs the audio (a recording, in-band
/// digits) and the codec is not G.711.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed {
    /// The shared voice codec.
    pub codec: sdp::Codec,
    /// Payload type of the stream A sends.
    pub from_a: u8,
    /// Payload type of the stream B sends.
    pub from_b: u8,
}

/// Relay sockets, owned by the driver. The b2bua asks for a pair of local
/// ports per call and tells where each side said it receives media.
pub trait Media {
    /// Open a relay for `call`: returns the local RTP port facing the
    /// A-leg and the one facing the B-leg (RTCP on each port + 1).
    fn open(&mut self, call: &str) -> Option<(u16, u16)>;
    /// The address a side announced in SDP (symmetric RTP may override it
    /// with the address packets really come from).
    fn set_peer(&mut self, call: &str, side: Side, rtp: SocketAddr);
    /// Packets relayed so far (towards A, towards B).
    fn stats(&self, call: &str) -> (u64, u64);
    /// Receive quality of the two streams (towards A, towards B): RTP
    /// packets lost and interarrival jitter in microseconds.
    fn quality(&self, call: &str) -> Quality {
        let _ = call;
        Quality::default()
    }
    /// Transcode between the legs as `plan` says (None: relay packets
    /// untouched again). Only called when [`B2buaConfig::transcode`] names
    /// codecs, which the implementation must then handle.
    fn transcode(&mut self, call: &str, plan: Option<Transcode>) {
        let _ = (call, plan);
    }
    /// The codec a call relayed untouched carries (None: not known, or
    /// the call is transcoded: see [`Media::transcode`]).
    fn relayed(&mut self, call: &str, codec: Option<Relayed>) {
        let _ = (call, codec);
    }
    /// Send `digit` towards side `to` as RFC 4733 events in payload type
    /// `pt` with clock `rate` (that side's telephone-event: 8000, or
    /// 48000 beside Opus), lasting `duration_ms` (a SIP INFO digit the
    /// other side sent). `false` if the relay cannot (the INFO is then
    /// relayed as it is).
    fn send_digit(&mut self, call: &str, to: Side, digit: char, pt: u8, rate: u32, duration_ms: u32) -> bool {
        let _ = (call, to, digit, pt, rate, duration_ms);
        false
    }
    /// Close the relay.
    fn close(&mut self, call: &str);
}
