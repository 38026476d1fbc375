//! Offer/answer (RFC 3264) as pure functions.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::codec::Codec;
use crate::fields::{payload_type, Direction, RtpMap, Timing};
use crate::media::Media;
use crate::session::{addr_type, Builder, Session};
use crate::Error;

/// Whose codec order wins when several codecs are in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CodecPreference {
    /// Ours: the order of [`LocalCapabilities::codecs`].
    #[default]
    Ours,
    /// Theirs: the order of the offer's `m=` line (the offerer's wish). A
    /// B2BUA that wants the far leg's choice passes that leg's negotiated
    /// codec as its only local codec instead.
    Theirs,
}

/// What we can and want to do, for [`answer`] and [`offer`].
///
/// Build with [`LocalCapabilities::new`] and adjust the fields.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Audio codecs we take, best first. `telephone-event` and `CN` entries
    /// say which rates of those we take; they are never chosen as the voice
    /// codec but negotiated alongside it.
    pub codecs: Vec<Codec>,
    /// Whose order decides among common codecs.
    pub preference: CodecPreference,
    /// Answer only the best common voice codec (plus its telephone-event)
    /// rather than every common one; spares a transcoding media engine
    /// codec switches mid-stream.
    pub single_codec: bool,
    /// Our media address, written in `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port for each `m=` line of the offer, by index (for
    /// [`offer`], the first one). A stream without a port here is rejected.
    pub rtp_ports: Vec<u16>,
    /// The direction we want (RFC 3264 §6.1 combines it with the offer's).
    pub direction: Direction,
    /// The `a=ptime` we write, if any.
    pub ptime: Option<u32>,
    /// Whether we multiplex RTP and RTCP on one port when the offer does
    /// (RFC 5761 §5.1.1); we then answer `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// Transport protocols we accept; the answer echoes the offer's.
    pub protos: Vec<Cow<'static, str>>,
    /// `o=` user name.
    pub username: Cow<'static, str>,
    /// `o=` session id: unique per session (RFC 8866 §5.2).
    pub session_id: u64,
    /// `o=` session version: the caller raises it for each new description
    /// in the same session (RFC 3264 §8).
    pub session_version: u64,
    /// `s=` session name (must not be empty).
    pub session_name: Cow<'static, str>,
}

impl LocalCapabilities {
    /// PCMU, PCMA and telephone-event/8000 at `address:rtp_port`, sendrecv,
    /// our codec order, every common codec, RTP/AVP and RTP/AVPF, rtcp-mux
    /// when offered, `o=- 0 0`, `s=ferroswitch`.
    pub fn new(address: IpAddr, rtp_port: u16) -> LocalCapabilities {
        LocalCapabilities {
            codecs: vec![Codec::PCMU, Codec::PCMA, Codec::TELEPHONE_EVENT],
            preference: CodecPreference::Ours,
            single_codec: false,
            address,
            rtp_ports: vec![rtp_port],
            direction: Direction::SendRecv,
            ptime: None,
            rtcp_mux: true,
            protos: vec![Cow::Borrowed("RTP/AVP"), Cow::Borrowed("RTP/AVPF")],
            username: Cow::Borrowed("-"),
            session_id: 0,
            session_version: 0,
            session_name: Cow::Borrowed("ferroswitch"),
        }
    }

    fn check(&self) -> Result<(), Error> {
        let text = |s: &str| !s.is_empty() && !s.contains([' ', '\r', '\n', '\0']);
        let token = |s: &str| text(s) && !s.contains('/');
        if !token(&self.username) {
            return Err(Error::InvalidValue { what: "username" });
        }
        if self.session_name.is_empty() || self.session_name.contains(['\r', '\n', '\0']) {
            return Err(Error::InvalidValue {
                what: "session name",
            });
        }
        if !self.protos.iter().all(|p| text(p)) {
            return Err(Error::InvalidValue { what: "proto" });
        }
        if !self.codecs.iter().all(|c| token(&c.name)) {
            return Err(Error::InvalidValue { what: "codec name" });
        }
        Ok(())
    }
}

/// Answers an offer (RFC 3264 §6).
///
/// For each `m=` line of the offer, in order, the answer has one `m=` line
/// of the same type and protocol. An audio stream whose protocol is in
/// [`LocalCapabilities::protos`] and that has a port in
/// [`LocalCapabilities::rtp_ports`] gets the common codecs, in the order
/// [`LocalCapabilities::preference`] picks. Codecs match by encoding name
/// (ignoring case), clock rate and channels, through `a=rtpmap` or the static
/// payload types of RFC 3551 (0, 8, 9, 18, ...); the answer keeps the
/// offer's payload type numbers (RFC 3264 §6.1) and echoes its `a=rtpmap`
/// and `a=fmtp` lines. `telephone-event` (and `CN`) go along at the clock
/// rate of a chosen codec when we list that rate; failing that, the first
/// telephone-event rate we list is taken anyway, as much equipment offers
/// only 8 kHz events with wideband codecs. Every other stream, and every
/// stream with nothing in common, is rejected with port 0 (RFC 3264 §6),
/// so the `m=` lines keep their count and order.
///
/// The direction is [`Direction::answer_to`] the offered one, where an
/// offered `c=0.0.0.0` counts as the offerer not receiving (RFC 3264 §8.4):
/// a hold (sendonly) is answered recvonly, inactive inactive.
///
/// Fails with [`Error::NoCommonMedia`] when the offer has streams and all
/// would be rejected (answer 488), and with [`Error::InvalidValue`] when
/// `local` holds a value that cannot be printed.
pub fn answer(offer: &Session, local: &LocalCapabilities) -> Result<Session, Error> {
    local.check()?;
    let mut b = Session::builder();
    header(&mut b, local, offer.timing());
    let mut accepted = 0;
    for media in offer.media() {
        match plan(&media, local) {
            Some(p) => {
                accepted += 1;
                b.line(
                    'm',
                    format_args!("{} {} {}", media.media_type(), p.port, media.proto()),
                );
                append_formats(&mut b, p.codecs.iter().map(|r| r.payload_type));
                for r in &p.codecs {
                    rtpmap_line(&mut b, r);
                    let pt = Some(r.payload_type);
                    if let Some(f) = media.fmtps().find(|f| payload_type(f.format) == pt) {
                        b.line('a', format_args!("fmtp:{} {}", r.payload_type, f.params));
                    }
                }
                tail(&mut b, local.ptime, p.rtcp_mux, p.direction);
            }
            None => {
                b.line(
                    'm',
                    format_args!("{} 0 {}", media.media_type(), media.proto()),
                );
                append_formats(&mut b, media.formats());
            }
        }
    }
    if accepted == 0 && offer.media_count() > 0 {
        return Err(Error::NoCommonMedia);
    }
    Ok(b.finish())
}

/// Builds an offer (RFC 3264 §5) with one audio stream carrying every codec
/// of `local` in order, at the first of [`LocalCapabilities::rtp_ports`] with
/// the first of [`LocalCapabilities::protos`]. Codecs with a static payload
/// type use it; the others get dynamic ones from 96 up.
pub fn offer(local: &LocalCapabilities) -> Result<Session, Error> {
    local.check()?;
    let port = *local
        .rtp_ports
        .first()
        .ok_or(Error::InvalidValue { what: "rtp_ports" })?;
    let proto = local
        .protos
        .first()
        .ok_or(Error::InvalidValue { what: "protos" })?;
    if local.codecs.is_empty() {
        return Err(Error::InvalidValue { what: "codecs" });
    }
    let mut assigned: Vec<(u8, &Codec)> = Vec::with_capacity(local.codecs.len());
    let mut next = 96u8;
    for c in &local.codecs {
        let pt = match c.static_payload_type() {
            Some(pt) => pt,
            None => {
                while assigned.iter().any(|&(p, _)| p == next) {
                    next += 1;
                }
                if next > 127 {
                    return Err(Error::InvalidValue { what: "codecs" });
                }
                next
            }
        };
        if !assigned.iter().any(|&(p, _)| p == pt) {
            assigned.push((pt, c));
        }
    }
    let mut b = Session::builder();
    header(&mut b, local, None);
    b.line('m', format_args!("audio {port} {proto}"));
    append_formats(&mut b, assigned.iter().map(|&(pt, _)| pt));
    for &(pt, c) in &assigned {
        let r = RtpMap {
            payload_type: pt,
            encoding: &c.name,
            clock_rate: c.clock_rate,
            channels: Some(c.channels).filter(|&n| n != 1),
        };
        rtpmap_line(&mut b, &r);
    }
    tail(&mut b, local.ptime, local.rtcp_mux, local.direction);
    Ok(b.finish())
}

/// What an offer and its answer agreed, stream by stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// One entry per `m=` line of the offer, in order.
    pub streams: Vec<NegotiatedStream>,
}

impl Negotiated {
    /// The first accepted audio stream: what a voice call bridges.
    pub fn audio(&self) -> Option<&NegotiatedStream> {
        self.streams
            .iter()
            .find(|s| s.accepted && s.media_type.eq_ignore_ascii_case("audio"))
    }
}

/// The outcome for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the `m=` line.
    pub index: usize,
    /// Media type of the offered `m=` line.
    pub media_type: String,
    /// Both ports non-zero.
    pub accepted: bool,
    /// The voice codec in use: the first format of the answer that is not
    /// `telephone-event`/`CN` and that the offer has too.
    pub codec: Option<Codec>,
    /// What the offer says about its end: the payload numbers there are the
    /// ones the answerer must send.
    pub offer: StreamSide,
    /// What the answer says about its end: the payload numbers there are the
    /// ones the offerer must send.
    pub answer: StreamSide,
    /// Both sides said `a=rtcp-mux`: RTCP goes to the RTP address.
    pub rtcp_mux: bool,
    /// The direction from the offerer's point of view (sendonly: the
    /// offerer sends, the answerer receives), folding in a `c=0.0.0.0` hold
    /// on either side; inactive when the stream is not accepted.
    pub direction: Direction,
}

/// One end of a negotiated stream, as its own description states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamSide {
    /// Payload type of the chosen codec in this side's description.
    pub payload_type: Option<u8>,
    /// Payload type of the telephone-event that goes with it.
    pub telephone_event: Option<u8>,
    /// The `a=ptime` this side asks for.
    pub ptime: Option<u32>,
    /// Where this side receives RTP.
    pub rtp: Option<SocketAddr>,
    /// Where this side receives RTCP (`a=rtcp`, port + 1, or the RTP
    /// address under rtcp-mux).
    pub rtcp: Option<SocketAddr>,
}

/// Summarises what `offer` and `answer` agreed (RFC 3264 §6.1, §7).
pub fn negotiated(offer: &Session, answer: &Session) -> Negotiated {
    let streams = offer
        .media()
        .map(|o| {
            let a = answer.media_at(o.index());
            stream(&o, a.as_ref())
        })
        .collect();
    Negotiated { streams }
}

fn stream(o: &Media<'_>, a: Option<&Media<'_>>) -> NegotiatedStream {
    let mut s = NegotiatedStream {
        index: o.index(),
        media_type: o.media_type().to_owned(),
        accepted: false,
        codec: None,
        offer: side(o),
        answer: a.map(side).unwrap_or_default(),
        rtcp_mux: false,
        direction: Direction::Inactive,
    };
    let Some(a) = a.filter(|a| !a.is_rejected() && !o.is_rejected()) else {
        return s;
    };
    s.accepted = true;
    s.rtcp_mux = o.rtcp_mux() && a.rtcp_mux();
    if s.rtcp_mux {
        s.offer.rtcp = s.offer.rtp;
        s.answer.rtcp = s.answer.rtp;
    }
    let od = effective_direction(o);
    let ad = effective_direction(a);
    s.direction = Direction::from_flags(od.sends() && ad.receives(), od.receives() && ad.sends());
    let offered: Vec<RtpMap<'_>> = o.codecs().collect();
    let answered: Vec<RtpMap<'_>> = a.codecs().collect();
    let chosen = answered
        .iter()
        .filter(|r| !is_auxiliary(r))
        .find_map(|ar| Some((ar, find_in(&offered, ar)?)));
    if let Some((ar, opt)) = chosen {
        s.codec = Some(Codec::from_rtpmap(ar));
        s.answer.payload_type = Some(ar.payload_type);
        s.offer.payload_type = Some(opt);
        let mut tes = answered.iter().filter(|r| r.is_telephone_event());
        let te = tes
            .clone()
            .find(|r| r.clock_rate == ar.clock_rate)
            .or_else(|| tes.next());
        if let Some(te) = te {
            if let Some(opt) = find_in(&offered, te) {
                s.answer.telephone_event = Some(te.payload_type);
                s.offer.telephone_event = Some(opt);
            }
        }
    }
    s
}

fn side(m: &Media<'_>) -> StreamSide {
    StreamSide {
        payload_type: None,
        telephone_event: None,
        ptime: m.ptime(),
        rtp: m.rtp_address(),
        rtcp: m.rtcp_address(),
    }
}

/// The payload type among `codecs` for the codec `r` from the other side:
/// the same number if it means the same codec, else the first match.
fn find_in(codecs: &[RtpMap<'_>], r: &RtpMap<'_>) -> Option<u8> {
    let same = |x: &&RtpMap<'_>| {
        x.encoding.eq_ignore_ascii_case(r.encoding)
            && x.clock_rate == r.clock_rate
            && x.channel_count() == r.channel_count()
    };
    let mut matching = codecs.iter().filter(same);
    matching
        .clone()
        .find(|x| x.payload_type == r.payload_type)
        .or_else(|| matching.next())
        .map(|x| x.payload_type)
}

/// The direction a description states for a stream, with a `c=0.0.0.0`
/// (or `::`) meaning "do not send to me" (RFC 3264 §8.4).
fn effective_direction(m: &Media<'_>) -> Direction {
    let d = m.direction();
    if m.effective_connection().is_some_and(|c| c.is_hold()) {
        Direction::from_flags(d.sends(), false)
    } else {
        d
    }
}

fn is_auxiliary(r: &RtpMap<'_>) -> bool {
    r.is_telephone_event() || r.is_comfort_noise()
}

/// What we answer for one accepted stream.
struct Plan<'a> {
    port: u16,
    codecs: Vec<RtpMap<'a>>,
    rtcp_mux: bool,
    direction: Direction,
}

fn plan<'a>(media: &Media<'a>, local: &LocalCapabilities) -> Option<Plan<'a>> {
    if media.is_rejected() || !media.media_type().eq_ignore_ascii_case("audio") {
        return None;
    }
    if !local
        .protos
        .iter()
        .any(|p| p.eq_ignore_ascii_case(media.proto()))
    {
        return None;
    }
    let port = local
        .rtp_ports
        .get(media.index())
        .copied()
        .filter(|&p| p != 0)?;
    let mut offered: Vec<RtpMap<'a>> = Vec::with_capacity(8);
    for r in media.codecs() {
        if !offered.iter().any(|o| o.payload_type == r.payload_type) {
            offered.push(r);
        }
    }
    let voice = |c: &&Codec| !c.is_auxiliary();
    let mut codecs: Vec<RtpMap<'a>> = Vec::with_capacity(4);
    match local.preference {
        CodecPreference::Ours => {
            for c in local.codecs.iter().filter(voice) {
                for r in offered.iter().filter(|r| !is_auxiliary(r) && c.matches(r)) {
                    if !codecs.iter().any(|x| x.payload_type == r.payload_type) {
                        codecs.push(*r);
                    }
                }
            }
        }
        CodecPreference::Theirs => {
            for r in offered.iter().filter(|r| !is_auxiliary(r)) {
                if local.codecs.iter().filter(voice).any(|c| c.matches(r)) {
                    codecs.push(*r);
                }
            }
        }
    }
    if local.single_codec {
        codecs.truncate(1);
    }
    if codecs.is_empty() {
        return None;
    }
    // Telephone-event and CN: at the rate of a chosen codec (RFC 4733 §2.1,
    // RFC 3389 §5); telephone-event falls back to any rate we take.
    let mut aux: Vec<RtpMap<'a>> = Vec::new();
    for (kind, fallback) in [(true, true), (false, false)] {
        let ours = |r: &&RtpMap<'a>| {
            (if kind {
                r.is_telephone_event()
            } else {
                r.is_comfort_noise()
            }) && local.codecs.iter().any(|c| c.matches(r))
        };
        let before = aux.len();
        for r in offered.iter().filter(ours) {
            let rate_ok = codecs.iter().any(|c| c.clock_rate == r.clock_rate);
            let fresh = !aux[before..].iter().any(|x| x.clock_rate == r.clock_rate);
            if rate_ok && fresh {
                aux.push(*r);
            }
        }
        if aux.len() == before && fallback {
            if let Some(r) = offered.iter().find(ours) {
                aux.push(*r);
            }
        }
    }
    codecs.extend(aux);
    Some(Plan {
        port,
        codecs,
        rtcp_mux: local.rtcp_mux && media.rtcp_mux(),
        direction: Direction::answer_to(effective_direction(media), local.direction),
    })
}

fn header(b: &mut Builder, local: &LocalCapabilities, timing: Option<Timing>) {
    let at = addr_type(local.address);
    b.line('v', format_args!("0"));
    b.line(
        'o',
        format_args!(
            "{} {} {} IN {} {}",
            local.username, local.session_id, local.session_version, at, local.address
        ),
    );
    b.line('s', format_args!("{}", local.session_name));
    b.line('c', format_args!("IN {} {}", at, local.address));
    // RFC 3264 §6: the answer's t= must equal the offer's.
    let t = timing.unwrap_or(Timing { start: 0, stop: 0 });
    b.line('t', format_args!("{} {}", t.start, t.stop));
}

/// Appends formats to the `m=` line just written.
fn append_formats<T: std::fmt::Display>(b: &mut Builder, formats: impl Iterator<Item = T>) {
    b.extend_last(formats);
}

fn rtpmap_line(b: &mut Builder, r: &RtpMap<'_>) {
    match r.channels {
        Some(ch) => b.line(
            'a',
            format_args!(
                "rtpmap:{} {}/{}/{}",
                r.payload_type, r.encoding, r.clock_rate, ch
            ),
        ),
        None => b.line(
            'a',
            format_args!("rtpmap:{} {}/{}", r.payload_type, r.encoding, r.clock_rate),
        ),
    }
}

fn tail(b: &mut Builder, ptime: Option<u32>, rtcp_mux: bool, direction: Direction) {
    if let Some(p) = ptime {
        b.line('a', format_args!("ptime:{p}"));
    }
    if rtcp_mux {
        b.line('a', format_args!("rtcp-mux"));
    }
    b.line('a', format_args!("{}", direction.as_str()));
}

#[cfg(test)]
mod tests;
