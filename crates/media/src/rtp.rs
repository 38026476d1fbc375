//! RTP fixed header (RFC 3550 §5.1).

/// The parts of an RTP packet the recorder needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtp<'a> {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, after CSRCs, the header extension and before padding.
    pub payload: &'a [u8],
}

/// Why bytes are not an RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the header it announces.
    Truncated,
    /// Version is not 2.
    Version,
    /// Padding longer than the payload.
    Padding,
    /// An RTCP packet (payload types 72–76 with the marker: RFC 5761 §4).
    Rtcp,
}

/// Parse an RTP packet.
pub fn parse(b: &[u8]) -> Result<Rtp<'_>, RtpError> {
    if b.len() < 12 {
        return Err(RtpError::Truncated);
    }
    if b[0] >> 6 != 2 {
        return Err(RtpError::Version);
    }
    if (200..=204).contains(&b[1]) {
        return Err(RtpError::Rtcp);
    }
    let padding = b[0] & 0x20 != 0;
    let extension = b[0] & 0x10 != 0;
    let cc = usize::from(b[0] & 0x0f);
    let mut off = 12 + 4 * cc;
    if b.len() < off {
        return Err(RtpError::Truncated);
    }
    if extension {
        if b.len() < off + 4 {
            return Err(RtpError::Truncated);
        }
        let words = usize::from(u16::from_be_bytes([b[off + 2], b[off + 3]]));
        off += 4 + 4 * words;
        if b.len() < off {
            return Err(RtpError::Truncated);
        }
    }
    let mut end = b.len();
    if padding {
        let pad = usize::from(b[end - 1]);
        if pad == 0 || pad > end - off {
            return Err(RtpError::Padding);
        }
        end -= pad;
    }
    Ok(Rtp {
        payload_type: b[1] & 0x7f,
        marker: b[1] & 0x80 != 0,
        seq: u16::from_be_bytes([b[2], b[3]]),
        timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        payload: &b[off..end],
    })
}

/// Build an RTP packet (tests, tone generation).
pub fn build(payload_type: u8, marker: bool, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + payload.len());
    v.push(0x80);
    v.push((payload_type & 0x7f) | if marker { 0x80 } else { 0 });
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_csrc_extension_padding() {
        let p = build(8, true, 7, 160, 0xdead_beef, &[1, 2, 3]);
        let r = parse(&p).expect("rtp");
        assert_eq!((r.payload_type, r.marker, r.seq, r.timestamp, r.ssrc, r.payload), (8, true, 7, 160, 0xdead_beef, &[1u8, 2, 3][..]));
        // One CSRC, a one-word extension, 2 bytes of padding.
        let mut q = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        q.extend_from_slice(&[9, 9, 9, 9]); // CSRC
        q.extend_from_slice(&[0xbe, 0xde, 0, 1, 5, 5, 5, 5]); // extension
        q.extend_from_slice(&[42, 43, 0, 2]); // payload 42 43 + padding (0, 2)
        assert_eq!(parse(&q).expect("rtp").payload, &[42, 43]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version));
        assert_eq!(parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(RtpError::Rtcp));
        assert_eq!(parse(&[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(RtpError::Truncated));
        let mut pad = build(0, false, 0, 0, 0, &[1]);
        pad[0] |= 0x20;
        *pad.last_mut().expect("byte") = 9;
        assert_eq!(parse(&pad), Err(RtpError::Padding));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = parse(&b);
        }

        #[test]
        fn build_parse_round_trip(pt in 0u8..128, m: bool, seq: u16, ts: u32, ssrc: u32, payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let p = build(pt, m, seq, ts, ssrc, &payload);
            if (200..=204).contains(&p[1]) {
                proptest::prop_assert_eq!(parse(&p), Err(RtpError::Rtcp));
            } else {
                let r = parse(&p).expect("rtp");
                proptest::prop_assert_eq!((r.payload_type, r.marker, r.seq, r.timestamp, r.ssrc, r.payload), (pt, m, seq, ts, ssrc, &payload[..]));
            }
        }
    }
}
