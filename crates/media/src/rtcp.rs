//! RTCP for the streams the switch itself sends (RFC 3550 §6): a
//! transcoded leg receives our transcoder's stream, with our SSRC,
//! sequence and timestamps, so the far phone's reports about it and ours
//! about its stream cannot be the other leg's, relayed. The relay sends
//! each transcoded leg a compound packet of a sender report (what we sent
//! it, and one report block on what it sent us) and an SDES CNAME.
//!
//! Sans-IO: the wall clock comes in as an NTP timestamp, arrival times as
//! microseconds.

/// One report block (RFC 3550 §6.4.1) about a stream we receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source the block is about.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24 bits, clamped).
    pub cumulative_lost: u32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from that
    /// source (0: none yet).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// What we sent on a stream: for the sender-info part of an SR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// Our SSRC on that stream.
    pub ssrc: u32,
    /// Wall clock now, NTP format (seconds since 1900 << 32 | fraction).
    pub ntp: u64,
    /// The RTP timestamp that corresponds to `ntp`.
    pub rtp_ts: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// A compound packet: SR with `block` (if any), then SDES with `cname`
/// (truncated to 255 bytes).
pub fn sender_report(info: &SenderInfo, block: Option<&ReportBlock>, cname: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(80);
    let rc = u8::from(block.is_some());
    let words = 6 + 6 * usize::from(rc); // length in 32-bit words minus one
    p.extend_from_slice(&[0x80 | rc, 200]);
    p.extend_from_slice(&(words as u16).to_be_bytes());
    p.extend_from_slice(&info.ssrc.to_be_bytes());
    p.extend_from_slice(&info.ntp.to_be_bytes());
    p.extend_from_slice(&info.rtp_ts.to_be_bytes());
    p.extend_from_slice(&info.packets.to_be_bytes());
    p.extend_from_slice(&info.octets.to_be_bytes());
    if let Some(b) = block {
        p.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = b.cumulative_lost.min(0x7F_FFFF).to_be_bytes();
        p.extend_from_slice(&[b.fraction_lost, lost[1], lost[2], lost[3]]);
        p.extend_from_slice(&b.highest_seq.to_be_bytes());
        p.extend_from_slice(&b.jitter.to_be_bytes());
        p.extend_from_slice(&b.lsr.to_be_bytes());
        p.extend_from_slice(&b.dlsr.to_be_bytes());
    }
    // SDES: one chunk, CNAME item, then a null item and padding to 32 bits.
    let name = &cname.as_bytes()[..cname.len().min(255)];
    let chunk = 4 + 2 + name.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    p.extend_from_slice(&[0x81, 202]);
    p.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    p.extend_from_slice(&info.ssrc.to_be_bytes());
    p.extend_from_slice(&[1, name.len() as u8]);
    p.extend_from_slice(name);
    p.resize(p.len() + padded - chunk + 1, 0);
    p
}

/// A sender report found in a compound packet: the sender's SSRC and the
/// middle 32 bits of its NTP timestamp (what a report block's LSR echoes).
/// `None` if the packet holds no well-formed SR.
pub fn find_sender_report(packet: &[u8]) -> Option<(u32, u32)> {
    let mut rest = packet;
    while rest.len() >= 4 {
        if rest[0] >> 6 != 2 {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return None;
        }
        if rest[1] == 200 && len >= 28 {
            let ssrc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let mid = u32::from_be_bytes([rest[10], rest[11], rest[12], rest[13]]);
            return Some((ssrc, mid));
        }
        rest = &rest[len..];
    }
    None
}

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A Unix time (µs) as an NTP timestamp.
pub fn ntp_from_unix_micros(us: u64) -> u64 {
    let secs = us / 1_000_000 + NTP_UNIX_OFFSET;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_report_reads_back() {
        let info = SenderInfo { ssrc: 0x1234_5678, ntp: ntp_from_unix_micros(1_700_000_000_500_000), rtp_ts: 160_000, packets: 500, octets: 80_000 };
        let block = ReportBlock { ssrc: 0xabcd_ef01, fraction_lost: 26, cumulative_lost: 12, highest_seq: 0x1_0005, jitter: 40, lsr: 0x1111_2222, dlsr: 65536 };
        let p = sender_report(&info, Some(&block), "ferroswitch@127.0.0.1");
        assert_eq!(p.len() % 4, 0);
        // SR: 7 words + 6 for the block, then SDES.
        assert_eq!((p[0], p[1], u16::from_be_bytes([p[2], p[3]])), (0x81, 200, 12));
        assert_eq!(&p[28..32], &0xabcd_ef01u32.to_be_bytes());
        assert_eq!(&p[32..36], &[26, 0, 0, 12]);
        assert_eq!((p[52], p[53]), (0x81, 202));
        let sdes_len = (usize::from(u16::from_be_bytes([p[54], p[55]])) + 1) * 4;
        assert_eq!(52 + sdes_len, p.len(), "lengths add up to the whole compound");
        assert_eq!(&p[60..62], &[1, 21]);
        assert_eq!(&p[62..83], b"ferroswitch@127.0.0.1");
        let (ssrc, mid) = find_sender_report(&p).expect("an SR");
        assert_eq!(ssrc, 0x1234_5678);
        assert_eq!(mid, (info.ntp >> 16) as u32);
        // Without a block: RC 0.
        let p = sender_report(&info, None, "x");
        assert_eq!((p[0], u16::from_be_bytes([p[2], p[3]])), (0x80, 6));
    }

    #[test]
    fn garbage_holds_no_sender_report() {
        assert_eq!(find_sender_report(&[]), None);
        assert_eq!(find_sender_report(&[0x80, 201, 0, 1, 0, 0, 0, 1]), None, "an RR alone");
        assert_eq!(find_sender_report(&[0x80, 200, 0xff, 0xff, 0, 0]), None, "length beyond the packet");
        assert_eq!(find_sender_report(&[0x40, 200, 0, 6]), None, "not version 2");
    }

    proptest::proptest! {
        /// Whatever we build reads back, and is whole 32-bit words; any
        /// bytes are read without panicking.
        #[test]
        fn reports_round_trip(ssrc in proptest::prelude::any::<u32>(), ntp in proptest::prelude::any::<u64>(), block in proptest::prelude::any::<bool>(), cname in "[a-z0-9@.:-]{0,300}", junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let info = SenderInfo { ssrc, ntp, ..Default::default() };
            let b = ReportBlock { ssrc: !ssrc, ..Default::default() };
            let p = sender_report(&info, block.then_some(&b), &cname);
            proptest::prop_assert_eq!(p.len() % 4, 0);
            proptest::prop_assert_eq!(find_sender_report(&p), Some((ssrc, (ntp >> 16) as u32)));
            let _ = find_sender_report(&junk);
        }
    }

    #[test]
    fn ntp_time_of_the_unix_epoch() {
        assert_eq!(ntp_from_unix_micros(0) >> 32, NTP_UNIX_OFFSET);
        assert_eq!(ntp_from_unix_micros(500_000) & 0xffff_ffff, 1 << 31);
    }
}
