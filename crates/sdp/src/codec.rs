//! Codecs as the offer/answer logic compares them, and the static payload
//! types of RFC 3551.

use std::borrow::Cow;
use std::fmt;

use crate::fields::RtpMap;

/// A codec by encoding name, clock rate and channel count, e.g. `PCMU/8000`,
/// `opus/48000/2`. Names compare case-insensitively (RFC 4855 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// Encoding name as it appears in `a=rtpmap` (`PCMU`, `opus`, ...).
    pub name: Cow<'static, str>,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count (1 when an `a=rtpmap` gives none).
    pub channels: u16,
}

impl Codec {
    /// G.711 µ-law, static payload type 0.
    pub const PCMU: Codec = Codec::from_static("PCMU", 8000, 1);
    /// G.711 A-law, static payload type 8.
    pub const PCMA: Codec = Codec::from_static("PCMA", 8000, 1);
    /// G.722, static payload type 9 (clock rate 8000 by RFC 3551's erratum).
    pub const G722: Codec = Codec::from_static("G722", 8000, 1);
    /// G.729, static payload type 18.
    pub const G729: Codec = Codec::from_static("G729", 8000, 1);
    /// Opus (RFC 7587: always written `opus/48000/2`).
    pub const OPUS: Codec = Codec::from_static("opus", 48000, 2);
    /// DTMF events at 8 kHz (RFC 4733).
    pub const TELEPHONE_EVENT: Codec = Codec::from_static("telephone-event", 8000, 1);
    /// DTMF events at 48 kHz, to go with opus (RFC 4733 §2.1).
    pub const TELEPHONE_EVENT_48K: Codec = Codec::from_static("telephone-event", 48000, 1);
    /// Comfort noise at 8 kHz, static payload type 13 (RFC 3389).
    pub const CN: Codec = Codec::from_static("CN", 8000, 1);

    /// A codec with a static name.
    pub const fn from_static(name: &'static str, clock_rate: u32, channels: u16) -> Codec {
        Codec {
            name: Cow::Borrowed(name),
            clock_rate,
            channels,
        }
    }

    /// A codec.
    pub fn new(name: impl Into<Cow<'static, str>>, clock_rate: u32, channels: u16) -> Codec {
        Codec {
            name: name.into(),
            clock_rate,
            channels,
        }
    }

    /// The codec an `a=rtpmap` (or static payload type) stands for.
    pub fn from_rtpmap(r: &RtpMap<'_>) -> Codec {
        Codec::new(r.encoding.to_owned(), r.clock_rate, r.channel_count())
    }

    /// Whether `r` is this codec: same name ignoring case, same clock rate,
    /// same channel count.
    pub fn matches(&self, r: &RtpMap<'_>) -> bool {
        self.name.eq_ignore_ascii_case(r.encoding)
            && self.clock_rate == r.clock_rate
            && self.channels == r.channel_count()
    }

    /// True for `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// True for `CN`.
    pub fn is_comfort_noise(&self) -> bool {
        self.name.eq_ignore_ascii_case("CN")
    }

    /// Codecs that travel alongside the voice codec rather than being it:
    /// `telephone-event` and `CN`.
    pub fn is_auxiliary(&self) -> bool {
        self.is_telephone_event() || self.is_comfort_noise()
    }

    /// The static payload type RFC 3551 assigns to this codec, if any.
    pub fn static_payload_type(&self) -> Option<u8> {
        STATIC
            .iter()
            .find(|&&(_, name, rate, ch)| {
                self.name.eq_ignore_ascii_case(name)
                    && self.clock_rate == rate
                    && self.channels == ch.unwrap_or(1)
            })
            .map(|&(pt, ..)| pt)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.clock_rate)?;
        if self.channels != 1 {
            write!(f, "/{}", self.channels)?;
        }
        Ok(())
    }
}

/// RFC 3551 §6 tables 4 and 5: payload type, name, clock rate, channels.
const STATIC: &[(u8, &str, u32, Option<u16>)] = &[
    (0, "PCMU", 8000, Some(1)),
    (3, "GSM", 8000, Some(1)),
    (4, "G723", 8000, Some(1)),
    (5, "DVI4", 8000, Some(1)),
    (6, "DVI4", 16000, Some(1)),
    (7, "LPC", 8000, Some(1)),
    (8, "PCMA", 8000, Some(1)),
    (9, "G722", 8000, Some(1)),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, Some(1)),
    (12, "QCELP", 8000, Some(1)),
    (13, "CN", 8000, Some(1)),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, Some(1)),
    (16, "DVI4", 11025, Some(1)),
    (17, "DVI4", 22050, Some(1)),
    (18, "G729", 8000, Some(1)),
    (25, "CelB", 90000, None),
    (26, "JPEG", 90000, None),
    (28, "nv", 90000, None),
    (31, "H261", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

/// The static assignment of payload type `pt`, as if it had an `a=rtpmap`.
pub(crate) fn static_payload_type(pt: u8) -> Option<RtpMap<'static>> {
    STATIC.iter().find(|&&(p, ..)| p == pt).map(
        |&(payload_type, encoding, clock_rate, channels)| RtpMap {
            payload_type,
            encoding,
            clock_rate,
            channels: channels.filter(|&c| c != 1),
        },
    )
}
