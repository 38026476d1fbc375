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

/// The first audio codec of an answer (`PCMU/8000`), for the CDR.
pub fn codec(body: &[u8]) -> Option<String> {
    let s = sdp::Session::parse_bytes(body).ok()?;
    let m = s.media().find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let pt = m.payload_types().next()?;
    let c = m.codec(pt)?;
    Some(format!("{}/{}", c.encoding, c.clock_rate))
}
