//! SDP handling between the legs: in relay mode every connection address
//! becomes the switch's and every audio port the relay port facing the
//! receiving leg; in bypass mode SDP passes untouched.

use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};

/// Where media flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaMode {
    /// Media is anchored in the switch.
    Relay,
    /// SDP is passed through; media flows phone to phone.
    Bypass,
}

/// The RTP address of the first audio stream of an SDP body.
pub fn audio_addr(body: &[u8]) -> Option<SocketAddr> {
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio")?;
    m.rtp_address()
}

/// Rewrite `body` for the other leg: connection address `ip`, audio port
/// `port`. Returns None when the body is not SDP we can parse.
pub fn rewrite(body: &[u8], ip: IpAddr, port: u16) -> Option<Bytes> {
    let mut s = sdp::Session::parse_bytes(body).ok()?;
    s.set_all_connection_addresses(ip);
    let idx: Vec<usize> = s.media().filter(|m| m.media_type() == "audio").map(|m| m.index()).collect();
    for i in idx {
        if let Some(mut m) = s.media_mut(i) {
            if !m.as_media().is_rejected() {
                m.set_port(port);
            }
        }
    }
    Some(Bytes::from(s.into_string()))
}

/// Does this description put the call on hold: its first audio stream
/// sendonly or inactive, or `c=0.0.0.0` (RFC 3264 §8.4)? `None` if not SDP.
pub fn is_hold(body: &[u8]) -> Option<bool> {
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let zero = m.effective_connection().is_some_and(|c| c.is_hold());
    Some(zero || matches!(m.direction(), sdp::Direction::SendOnly | sdp::Direction::Inactive))
}

/// The first audio codec of an answer (`PCMU/8000`), for the CDR.
pub fn codec(body: &[u8]) -> Option<String> {
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let pt = m.payload_types().next()?;
    let c = m.codec(pt)?;
    Some(format!("{}/{}", c.encoding, c.clock_rate))
}

/// An answer without telephone-event to an offer with one gets the
/// offer's (payload type, rtpmap, fmtp): the switch takes the offerer's
/// RFC 4733 digits itself (and passes them on as SIP INFO), so the
/// offerer need not fall back to nothing. `None` if there is nothing to add.
pub fn add_offered_events(answer: &[u8], offer: &[u8]) -> Option<Bytes> {
    let o = sdp::Session::parse_bytes(offer).ok()?;
    let mut a = sdp::Session::parse_bytes(answer).ok()?;
    let idx = a.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?.index();
    let am = a.media_at(idx)?;
    if am.telephone_event_payload_types().next().is_some() {
        return None;
    }
    let rate = am.payload_types().find_map(|pt| am.codec(pt).filter(|c| !c.is_comfort_noise()).map(|c| c.clock_rate)).unwrap_or(8000);
    let om = o.media_at(idx)?;
    let (pt, r) = events(&om, rate)?;
    if am.payload_types().any(|p| p == pt) {
        return None;
    }
    let fmtp = om.fmtp(&pt.to_string()).map(str::to_owned);
    a.media_mut(idx)?.add_payload_type(pt, &sdp::Codec::new("telephone-event", r, 1), fmtp.as_deref()).ok()?;
    Some(Bytes::from(a.into_string()))
}

/// Is `c` in `list` (names without case, RFC 4855 §3)?
fn listed(list: &[sdp::Codec], c: &sdp::Codec) -> bool {
    list.iter().any(|l| l.name.eq_ignore_ascii_case(&c.name) && l.clock_rate == c.clock_rate && l.channels == c.channels)
}

/// The offer a leg gets: restricted to `allowed` codecs when the leg
/// names some (a gateway's list), and, when the switch transcodes
/// (`transcode` not empty) and the offer has a codec it can decode, with
/// the transcodable codecs the offer lacks appended after the offered
/// ones, so the answerer prefers a shared codec (relayed untouched) and
/// can still pick one of ours. A telephone-event at 8 kHz goes along when
/// such a codec is added and the offer had events only at another rate.
/// `None` when no codec is left for some audio stream.
pub fn offer_for_leg(body: &[u8], allowed: &[String], transcode: &[sdp::Codec]) -> Option<Bytes> {
    let mut s = sdp::Session::parse_bytes(body).ok()?;
    let allow = |name: &str| allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
    let audio: Vec<usize> = s.media().filter(|m| m.media_type() == "audio" && !m.is_rejected()).map(|m| m.index()).collect();
    for i in audio {
        let (keep, adds, add_te, mut used) = {
            let m = s.media_at(i)?;
            let offered: Vec<sdp::Codec> = m.codecs().filter(|c| !c.is_telephone_event() && !c.is_comfort_noise()).map(|c| sdp::Codec::from_rtpmap(&c)).collect();
            let keep: Vec<u8> = m
                .payload_types()
                .filter(|pt| m.codec(*pt).is_some_and(|c| c.is_telephone_event() || c.is_comfort_noise() || allow(c.encoding)))
                .collect();
            let decodable = offered.iter().any(|c| listed(transcode, c));
            let adds: Vec<sdp::Codec> = if decodable { transcode.iter().filter(|t| allow(&t.name) && !listed(&offered, t)).cloned().collect() } else { Vec::new() };
            let te: Vec<u32> = m.codecs().filter(|c| c.is_telephone_event()).map(|c| c.clock_rate).collect();
            let add_te = adds.iter().any(|c| c.clock_rate == 8000) && !te.is_empty() && !te.contains(&8000);
            (keep, adds, add_te, m.payload_types().collect::<Vec<u8>>())
        };
        let real = keep.iter().any(|pt| s.media_at(i).and_then(|m| m.codec(*pt)).is_some_and(|c| !c.is_telephone_event() && !c.is_comfort_noise()));
        if !real && adds.is_empty() {
            return None;
        }
        let mut all = keep;
        let mut m = s.media_mut(i)?;
        let te = add_te.then_some(sdp::Codec::TELEPHONE_EVENT);
        for c in adds.iter().chain(te.iter()) {
            let pt = c.static_payload_type().filter(|pt| !used.contains(pt)).or_else(|| (96..=127).find(|pt| !used.contains(pt)))?;
            let fmtp = if c.is_telephone_event() { Some("0-16") } else if c.name.eq_ignore_ascii_case("opus") { Some(OPUS_TRANSCODED_FMTP) } else { None };
            m.add_payload_type(pt, c, fmtp).ok()?;
            used.push(pt);
            all.push(pt);
        }
        m.retain_payload_types(&all).ok()?;
    }
    Some(Bytes::from(s.into_string()))
}

/// A caller extension's codec preference applied to its phone's offer:
/// in each audio stream only the codecs named in `prefs` stay, in the
/// order of `prefs` (telephone-event and comfort noise stay too, after
/// them). `None` when a stream would keep no codec of `prefs`; the offer
/// unchanged when `prefs` is empty.
pub fn prefer_codecs(body: &[u8], prefs: &[String]) -> Option<Bytes> {
    if prefs.is_empty() {
        return Some(Bytes::copy_from_slice(body));
    }
    let mut s = sdp::Session::parse_bytes(body).ok()?;
    let audio: Vec<usize> = s.media().filter(|m| m.media_type() == "audio" && !m.is_rejected()).map(|m| m.index()).collect();
    for i in audio {
        let (keep, order) = {
            let m = s.media_at(i)?;
            let rank = |pt: u8| m.codec(pt).and_then(|c| prefs.iter().position(|p| p.eq_ignore_ascii_case(c.encoding)));
            let mut real: Vec<(usize, u8)> = m.payload_types().filter_map(|pt| rank(pt).map(|r| (r, pt))).collect();
            real.sort_by_key(|(r, _)| *r);
            let extra = m.payload_types().filter(|pt| m.codec(*pt).is_some_and(|c| c.is_telephone_event() || c.is_comfort_noise()));
            let order: Vec<u8> = real.iter().map(|(_, pt)| *pt).collect();
            (order.iter().copied().chain(extra).collect::<Vec<u8>>(), order)
        };
        if order.is_empty() {
            return None;
        }
        let mut m = s.media_mut(i)?;
        m.retain_payload_types(&keep).ok()?;
        m.reorder_payload_types(&order);
    }
    Some(Bytes::from(s.into_string()))
}

/// What an offerer and an answerer that share no codec each speak, when
/// the answerer chose a codec the switch added ([`offer_for_leg`]): the
/// offerer's side is its first offered codec the switch transcodes. `None`
/// when the answer's codec is one the offer had (the media is relayed
/// untouched) or when either side has nothing the switch transcodes.
pub fn transcode_plan(offer: &[u8], answer: &[u8], transcode: &[sdp::Codec]) -> Option<(crate::TranscodeSide, crate::TranscodeSide)> {
    let o = sdp::Session::parse_bytes(offer).ok()?;
    let a = sdp::Session::parse_bytes(answer).ok()?;
    let am = a.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let om = o.media_at(am.index())?;
    let (b_pt, b_codec) = am.payload_types().find_map(|pt| {
        let c = am.codec(pt)?;
        (!c.is_telephone_event() && !c.is_comfort_noise()).then(|| (pt, sdp::Codec::from_rtpmap(&c)))
    })?;
    if om.codecs().any(|c| b_codec.matches(&c)) || !listed(transcode, &b_codec) {
        return None;
    }
    let (a_pt, a_codec) = om.payload_types().find_map(|pt| {
        let c = sdp::Codec::from_rtpmap(&om.codec(pt)?);
        listed(transcode, &c).then_some((pt, c))
    })?;
    let offerer = side_of(&om, a_pt, a_codec);
    Some((offerer, side_of(&am, b_pt, b_codec)))
}

fn side_of(m: &sdp::Media<'_>, pt: u8, codec: sdp::Codec) -> crate::TranscodeSide {
    let fmtp = m.fmtp(&pt.to_string()).unwrap_or("");
    let params = || fmtp.split(';').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim()));
    let fec = params().any(|(k, v)| k.eq_ignore_ascii_case("useinbandfec") && v == "1");
    let max_bitrate = params().find(|(k, _)| k.eq_ignore_ascii_case("maxaveragebitrate")).and_then(|(_, v)| v.parse().ok());
    let mut side = crate::TranscodeSide { payload_type: pt, events: None, events_rate: 8000, ptime_ms: m.ptime().unwrap_or(20), codec, fec, max_bitrate };
    if let Some((pt, rate)) = events(m, side.codec.clock_rate) {
        side.events = Some(pt);
        side.events_rate = rate;
    }
    side
}

/// What a description (an answer, or our own) speaks: its first voice
/// codec with its payload type, its telephone-event and ptime.
pub fn side(body: &[u8]) -> Option<crate::TranscodeSide> {
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let (pt, codec) = m.payload_types().find_map(|pt| {
        let c = m.codec(pt)?;
        (!c.is_telephone_event() && !c.is_comfort_noise()).then(|| (pt, sdp::Codec::from_rtpmap(&c)))
    })?;
    Some(side_of(&m, pt, codec))
}

/// What an offerer and an answerer that share a codec send each other
/// untouched: the answer's first voice codec, with the payload type the
/// answerer listed it under (the offerer sends that) and the one the
/// offerer listed it under (the answerer sends that).
pub fn relayed(offer: &[u8], answer: &[u8]) -> Option<(sdp::Codec, u8, u8)> {
    let ans = side(answer)?;
    let o = sdp::Session::parse_bytes(offer).ok()?;
    let om = o.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let offer_pt = om.payload_types().find(|pt| om.codec(*pt).is_some_and(|c| ans.codec.matches(&c))).unwrap_or(ans.payload_type);
    Some((ans.codec, ans.payload_type, offer_pt))
}

/// The telephone-event of a stream: the one at `rate` if there is, else
/// the first; with its clock rate.
fn events(m: &sdp::Media<'_>, rate: u32) -> Option<(u8, u32)> {
    let te: Vec<(u8, u32)> = m.payload_types().filter_map(|pt| m.codec(pt).filter(|c| c.is_telephone_event()).map(|c| (pt, c.clock_rate))).collect();
    te.iter().find(|(_, r)| *r == rate).or(te.first()).copied()
}

/// The switch's own answer to `offer` for a transcoded call: the codec of
/// `side` only (with the offer's payload type, rtpmap and fmtp), the
/// offer's telephone-event if any, at `ip:port`. Returns the body and the
/// telephone-event (payload type, clock rate) it kept.
pub fn answer_transcoded(offer: &[u8], side: &crate::TranscodeSide, ip: IpAddr, port: u16, version: u64) -> Option<(Bytes, Option<(u8, u32)>)> {
    let o = sdp::Session::parse_bytes(offer).ok()?;
    let mut local = sdp::LocalCapabilities::new(ip, port);
    local.codecs = vec![side.codec.clone(), sdp::Codec::TELEPHONE_EVENT, sdp::Codec::TELEPHONE_EVENT_48K];
    local.single_codec = true;
    local.rtp_ports = vec![port; o.media().count()];
    local.ptime = o.media().find(|m| m.media_type() == "audio").and_then(|m| m.ptime());
    local.session_id = u64::from(port);
    local.session_version = version;
    let answer = sdp::answer(&o, &local).ok()?;
    let ev = answer.media().find(|m| m.media_type() == "audio" && !m.is_rejected()).and_then(|m| events(&m, side.codec.clock_rate));
    let body = Bytes::from(answer.into_string());
    Some((narrowband_opus(&body).unwrap_or(body), ev))
}

/// The fmtp of an Opus payload type on a leg the switch transcodes, in its
/// offers: in-band FEC welcome, and (RFC 7587 §7) nothing above 8 kHz
/// wanted or sent, since the audio goes to and comes from G.711.
pub const OPUS_TRANSCODED_FMTP: &str = "useinbandfec=1;maxplaybackrate=8000;sprop-maxcapturerate=8000";

/// Our own description of a transcoded Opus leg told narrowband: each
/// Opus payload type's fmtp gets `maxplaybackrate=8000;
/// sprop-maxcapturerate=8000` (RFC 7587 §7), so a sender like libopus
/// encodes narrowband SILK, which costs the switch a fraction of decoding
/// fullband (the audio becomes G.711 at 8 kHz either way) and the network
/// fewer bits. `None` if the body has no Opus or cannot be read.
pub fn narrowband_opus(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let pts: Vec<u8> = m.payload_types().filter(|pt| m.codec(*pt).is_some_and(|c| c.encoding.eq_ignore_ascii_case("opus"))).collect();
    if pts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 64 * pts.len());
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    const ADD: &str = "maxplaybackrate=8000;sprop-maxcapturerate=8000";
    let strip = |params: &str| -> String {
        params.split(';').map(str::trim).filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("maxplaybackrate=") && !p.to_ascii_lowercase().starts_with("sprop-maxcapturerate=")).collect::<Vec<_>>().join(";")
    };
    let mut has_fmtp: Vec<u8> = Vec::new();
    for l in &lines {
        for pt in &pts {
            if l.strip_prefix("a=fmtp:").and_then(|r| r.split_once(' ')).is_some_and(|(p, _)| p == pt.to_string()) {
                has_fmtp.push(*pt);
            }
        }
    }
    for l in lines {
        let fmtp_pt = l.strip_prefix("a=fmtp:").and_then(|r| r.split_once(' ')).and_then(|(p, rest)| p.parse::<u8>().ok().filter(|p| pts.contains(p)).map(|p| (p, rest)));
        if let Some((pt, rest)) = fmtp_pt {
            let kept = strip(rest);
            out.push_str(&format!("a=fmtp:{pt} {}{ADD}\r\n", if kept.is_empty() { String::new() } else { format!("{kept};") }));
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
        let rtpmap_pt = l.strip_prefix("a=rtpmap:").and_then(|r| r.split_once(' ')).and_then(|(p, _)| p.parse::<u8>().ok()).filter(|p| pts.contains(p) && !has_fmtp.contains(p));
        if let Some(pt) = rtpmap_pt {
            out.push_str(&format!("a=fmtp:{pt} {ADD}\r\n"));
        }
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcoded_opus_is_told_narrowband() {
        let with = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1; maxplaybackrate=48000\r\na=rtpmap:101 telephone-event/48000\r\na=x-unknown:kept\r\n";
        let s = String::from_utf8(narrowband_opus(with.as_bytes()).expect("opus").to_vec()).expect("utf8");
        assert!(s.contains("a=fmtp:111 useinbandfec=1;maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n"), "{s}");
        assert!(!s.contains("48000\r\na=rtpmap:101") && s.contains("a=rtpmap:101 telephone-event/48000\r\na=x-unknown:kept\r\n"), "{s}");
        let without = with.replace("a=fmtp:111 useinbandfec=1; maxplaybackrate=48000\r\n", "");
        let s = String::from_utf8(narrowband_opus(without.as_bytes()).expect("opus").to_vec()).expect("utf8");
        assert!(s.contains("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxplaybackrate=8000;sprop-maxcapturerate=8000\r\n"), "{s}");
        assert!(sdp::Session::parse_bytes(s.as_bytes()).is_ok());
        assert_eq!(narrowband_opus(OFFER.as_bytes()), None, "no Opus: nothing to say");
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 9 101\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=x-unknown:kept\r\n";

    #[test]
    fn restrict_keeps_allowed_and_events_and_unknown_lines() {
        let out = offer_for_leg(OFFER.as_bytes(), &["pcma".into()], &[]).expect("PCMA is offered");
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(s.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{s}");
        assert!(!s.contains("PCMU") && !s.contains("G722"), "{s}");
        assert!(s.contains("a=fmtp:101 0-16") && s.contains("a=x-unknown:kept"), "{s}");
        assert_eq!(offer_for_leg(OFFER.as_bytes(), &["opus".into()], &[]), None, "nothing in common");
        assert_eq!(offer_for_leg(OFFER.as_bytes(), &[], &[]).as_deref(), Some(OFFER.as_bytes()), "no restriction, no transcoding: untouched");
    }

    #[test]
    fn caller_preference_filters_and_orders_the_offer() {
        let out = prefer_codecs(OFFER.as_bytes(), &["PCMA".into(), "pcmu".into()]).expect("both offered");
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(s.contains("m=audio 4000 RTP/AVP 8 0 101\r\n"), "{s}");
        assert!(!s.contains("G722") && s.contains("a=fmtp:101 0-16") && s.contains("a=x-unknown:kept"), "{s}");
        assert_eq!(prefer_codecs(OFFER.as_bytes(), &["opus".into()]), None, "nothing the extension may use");
        assert_eq!(prefer_codecs(OFFER.as_bytes(), &[]).as_deref(), Some(OFFER.as_bytes()), "no preference: untouched");
    }

    const OPUS_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 110\r\n\
        a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:110 telephone-event/48000\r\na=ptime:40\r\na=sendrecv\r\n";
    const PCMU_ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 101\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    fn all() -> Vec<sdp::Codec> {
        vec![sdp::Codec::PCMU, sdp::Codec::PCMA, sdp::Codec::OPUS]
    }

    #[test]
    fn offers_gain_the_transcodable_codecs_they_lack_after_their_own() {
        let out = offer_for_leg(OPUS_ONLY.as_bytes(), &[], &all()).expect("offer");
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(s.contains("m=audio 4000 RTP/AVP 111 110 0 8 96\r\n"), "{s}");
        assert!(s.contains("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16"), "{s}");
        // A gateway taking only PCMA gets PCMA (added) and the events.
        let gw = offer_for_leg(OPUS_ONLY.as_bytes(), &["PCMA".into()], &all()).expect("transcodable");
        let g = std::str::from_utf8(&gw).expect("utf8");
        assert!(g.contains("m=audio 4000 RTP/AVP 110 8 96\r\n") && !g.contains("opus"), "{g}");
        // Nothing the switch decodes in the offer: nothing added.
        let g722 = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n";
        assert_eq!(offer_for_leg(g722.as_bytes(), &[], &all()).as_deref(), Some(g722.as_bytes()));
        assert_eq!(offer_for_leg(g722.as_bytes(), &["PCMU".into()], &all()), None);
    }

    #[test]
    fn an_opus_legs_fmtp_gives_its_fec_and_bitrate_cap() {
        let with = |fmtp: &str| OPUS_ONLY.replace("a=fmtp:111 useinbandfec=1", fmtp);
        let plan = |offer: String| transcode_plan(offer.as_bytes(), PCMU_ANSWER.as_bytes(), &all()).expect("plan").0;
        let a = plan(with("a=fmtp:111 maxplaybackrate=16000; MaxAverageBitrate = 12000;useinbandfec=1"));
        assert_eq!((a.fec, a.max_bitrate), (true, Some(12000)));
        let a = plan(with("a=fmtp:111 useinbandfec=0;maxaveragebitrate=lots"));
        assert_eq!((a.fec, a.max_bitrate), (false, None), "0 is no FEC; a value that is no number is ignored");
        let a = plan(with("a=fmtp:111 stereo=1"));
        assert_eq!((a.fec, a.max_bitrate), (false, None));
    }

    #[test]
    fn an_answer_without_events_gets_the_offers() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
        let answer = "v=0\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        let out = add_offered_events(answer.as_bytes(), offer.as_bytes()).expect("added");
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(s.contains("m=audio 5000 RTP/AVP 0 101\r\n") && s.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15"), "{s}");
        assert_eq!(add_offered_events(&out, offer.as_bytes()), None, "already there");
        assert_eq!(add_offered_events(answer.as_bytes(), answer.as_bytes()), None, "nothing offered");
    }

    #[test]
    fn an_answer_in_an_added_codec_makes_a_plan_and_our_own_answer() {
        let (a, b) = transcode_plan(OPUS_ONLY.as_bytes(), PCMU_ANSWER.as_bytes(), &all()).expect("plan");
        assert_eq!((a.codec.name.as_ref(), a.payload_type, a.ptime_ms, a.fec, a.max_bitrate), ("opus", 111, 40, true, None));
        assert_eq!((b.codec.name.as_ref(), b.payload_type, b.events, b.events_rate, b.ptime_ms), ("PCMU", 0, Some(101), 8000, 20));
        let (body, events) = answer_transcoded(OPUS_ONLY.as_bytes(), &a, "192.0.2.9".parse().expect("ip"), 7000, 1).expect("answer");
        let s = std::str::from_utf8(&body).expect("utf8");
        assert!(s.contains("m=audio 7000 RTP/AVP 111 110\r\n") && s.contains("c=IN IP4 192.0.2.9"), "{s}");
        assert!(s.contains("a=rtpmap:111 opus/48000/2") && s.contains("a=fmtp:111 useinbandfec=1") && s.contains("a=ptime:40"), "{s}");
        assert_eq!(events, Some((110, 48000)), "the offer's events, at Opus's rate");
        // A shared codec is relayed untouched: no plan.
        let both = OPUS_ONLY.replace("RTP/AVP 111 110", "RTP/AVP 111 0 110");
        assert_eq!(transcode_plan(both.as_bytes(), PCMU_ANSWER.as_bytes(), &all()), None);
        // Nothing the switch transcodes on the answer's side: no plan.
        let g722 = PCMU_ANSWER.replace("RTP/AVP 0 101", "RTP/AVP 9 101").replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:9 G722/8000");
        assert_eq!(transcode_plan(OPUS_ONLY.as_bytes(), g722.as_bytes(), &all()), None);
    }
}
