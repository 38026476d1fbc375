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

/// Keep only the audio codecs named in `allowed` (case-insensitive, e.g.
/// `PCMA`), plus telephone-event and comfort noise. `None` when no allowed
/// codec is left in some audio stream (the far end could not answer it).
pub fn restrict_codecs(body: &[u8], allowed: &[String]) -> Option<Bytes> {
    let mut s = sdp::Session::parse_bytes(body).ok()?;
    let audio: Vec<(usize, Vec<u8>)> = s
        .media()
        .filter(|m| m.media_type() == "audio" && !m.is_rejected())
        .map(|m| {
            let keep = m
                .payload_types()
                .filter(|pt| match m.codec(*pt) {
                    Some(c) => c.is_telephone_event() || c.is_comfort_noise() || allowed.iter().any(|a| a.eq_ignore_ascii_case(c.encoding)),
                    None => false,
                })
                .collect();
            (m.index(), keep)
        })
        .collect();
    for (i, keep) in audio {
        let m = s.media_at(i)?;
        let real = keep.iter().any(|pt| m.codec(*pt).is_some_and(|c| !c.is_telephone_event() && !c.is_comfort_noise()));
        if !real {
            return None;
        }
        s.media_mut(i)?.retain_payload_types(&keep).ok()?;
    }
    Some(Bytes::from(s.into_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 9 101\r\n\
        a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=x-unknown:kept\r\n";

    #[test]
    fn restrict_keeps_allowed_and_events_and_unknown_lines() {
        let out = restrict_codecs(OFFER.as_bytes(), &["pcma".into()]).expect("PCMA is offered");
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(s.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{s}");
        assert!(!s.contains("PCMU") && !s.contains("G722"), "{s}");
        assert!(s.contains("a=fmtp:101 0-16") && s.contains("a=x-unknown:kept"), "{s}");
        assert_eq!(restrict_codecs(OFFER.as_bytes(), &["opus".into()]), None, "nothing in common");
    }
}
