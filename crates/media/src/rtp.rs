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

/// Keeps one relayed RTP stream continuous for its receiver when the
/// source behind it changes: a re-INVITE that moves the far end to another
/// device or media server, or a phone that restarts its stream. Its packets
/// keep flowing under the first SSRC, with sequence numbers and timestamps
/// that carry on from the last packet sent (one frame later, the frame
/// being the last timestamp step seen). The first packet after a change
/// carries the marker bit, so the receiver's jitter buffer resynchronises.
/// Until the source first changes, packets pass untouched.
///
/// One source at a time: a packet with another SSRC takes over only once
/// the current source has sent nothing for [`Continuity::TAKEOVER_US`].
/// Until then it is dropped, so two streams arriving at once (early media
/// from two forked phones, a device echoing while another plays) never
/// reach the receiver interleaved.
#[derive(Clone, Debug, Default)]
pub struct Continuity {
    /// SSRC of the source being relayed now.
    src: Option<u32>,
    /// SSRC the receiver sees (the first source's).
    out_ssrc: u32,
    seq_off: u16,
    ts_off: u32,
    /// Last sequence number and timestamp sent, and the timestamp step
    /// between the last two packets.
    last: Option<(u16, u32)>,
    step: u32,
    /// When (µs, the caller's clock) the current source last sent.
    last_at: u64,
    /// The next new source may take over at once (see [`Continuity::source_moved`]).
    moved: bool,
}

impl Continuity {
    /// Silence of the current source after which another may take over.
    pub const TAKEOVER_US: u64 = 40_000;

    /// Rewrite `pkt` (a whole RTP packet, at least 12 bytes) in place if
    /// need be; `now_us` is when it arrived. Returns the SSRC, sequence
    /// number and timestamp it now has, or `None` if it must not be sent
    /// (too short, or from a source competing with the current one).
    pub fn apply(&mut self, pkt: &mut [u8], now_us: u64) -> Option<(u32, u16, u32)> {
        if pkt.len() < 12 {
            return None;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let mut marker = false;
        match self.src {
            None => {
                self.src = Some(ssrc);
                self.out_ssrc = ssrc;
            }
            Some(s) if s != ssrc && !self.moved && now_us.saturating_sub(self.last_at) < Self::TAKEOVER_US => return None,
            Some(s) if s != ssrc => {
                self.moved = false;
                // A new source: carry on one frame after the last packet.
                if let Some((lseq, lts)) = self.last {
                    self.seq_off = lseq.wrapping_add(1).wrapping_sub(seq);
                    self.ts_off = lts.wrapping_add(if self.step == 0 { 160 } else { self.step }).wrapping_sub(ts);
                }
                self.src = Some(ssrc);
                marker = true;
            }
            Some(_) => {}
        }
        let (oseq, ots) = (seq.wrapping_add(self.seq_off), ts.wrapping_add(self.ts_off));
        if let Some((lseq, lts)) = self.last {
            // The step of consecutive packets only (not across a loss or a reorder).
            if oseq == lseq.wrapping_add(1) && ots != lts {
                self.step = ots.wrapping_sub(lts);
            }
        }
        if self.seq_off != 0 || self.ts_off != 0 || ssrc != self.out_ssrc {
            pkt[2..4].copy_from_slice(&oseq.to_be_bytes());
            pkt[4..8].copy_from_slice(&ots.to_be_bytes());
            pkt[8..12].copy_from_slice(&self.out_ssrc.to_be_bytes());
        }
        if marker {
            pkt[1] |= 0x80;
        }
        self.last_at = now_us;
        // Keep the newest position (a late, reordered packet does not move it back).
        let newer = self.last.is_none_or(|(lseq, _)| oseq.wrapping_sub(lseq) < 0x8000);
        if newer {
            self.last = Some((oseq, ots));
        }
        Some((self.out_ssrc, oseq, ots))
    }

    /// The signalling moved this side's media (a re-INVITE with a new
    /// address): the next new source takes over at once, without waiting
    /// for the current one to fall silent.
    pub fn source_moved(&mut self) {
        // Before any packet there is nothing to take over from.
        self.moved = self.src.is_some();
    }

    /// The receiver's stream came from elsewhere until now (a transcoder
    /// of ours, withdrawn when the call's codecs were negotiated again):
    /// the next packet relayed, whatever its source, goes on with that
    /// stream, under `ssrc`, with sequence number `next_seq` and timestamp
    /// `ts` (marked), and later ones follow on from it.
    pub fn carry_on_from(&mut self, ssrc: u32, next_seq: u16, ts: u32) {
        // `ssrc` stands for the source until the first packet, which
        // (another SSRC) takes over at once.
        self.src = Some(ssrc);
        self.out_ssrc = ssrc;
        self.moved = true;
        self.step = 0;
        self.last = Some((next_seq.wrapping_sub(1), ts.wrapping_sub(160)));
    }

    /// Count a packet the relay itself put into the stream (an RFC 4733
    /// digit) with the next sequence number: later packets move up one.
    pub fn inserted(&mut self) {
        self.seq_off = self.seq_off.wrapping_add(1);
        if let Some((lseq, lts)) = self.last {
            self.last = Some((lseq.wrapping_add(1), lts));
        }
    }
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

    fn fields(p: &[u8]) -> (bool, u16, u32, u32) {
        let r = parse(p).expect("rtp");
        (r.marker, r.seq, r.timestamp, r.ssrc)
    }

    #[test]
    fn continuity_passes_one_source_untouched_and_hides_a_new_one() {
        let mut c = Continuity::default();
        for i in 0..5u16 {
            let mut p = build(0, false, 100 + i, 8000 + 160 * u32::from(i), 0xaaaa, &[1; 160]);
            let before = p.clone();
            c.apply(&mut p, 20_000 * u64::from(i));
            assert_eq!(p, before, "one source: untouched");
        }
        // Another stream while the first still runs: dropped.
        let mut other = build(0, false, 40_000, 900_000, 0xbbbb, &[2; 160]);
        assert_eq!(c.apply(&mut other, 80_000 + 10_000), None, "a competing source is not relayed");
        // The first falls silent and the other takes over (a re-INVITE to
        // another device): new SSRC, sequence and timestamp base.
        let mut p = build(0, false, 40_001, 900_160, 0xbbbb, &[2; 160]);
        c.apply(&mut p, 80_000 + Continuity::TAKEOVER_US);
        assert_eq!(fields(&p), (true, 105, 8000 + 160 * 5, 0xaaaa), "carries on one frame later, marked");
        let mut q = build(0, false, 40_002, 900_320, 0xbbbb, &[2; 160]);
        c.apply(&mut q, 140_000);
        assert_eq!(fields(&q), (false, 106, 8000 + 160 * 6, 0xaaaa));
        assert_eq!(parse(&q).expect("rtp").payload, &[2; 160][..], "payload untouched");
        // A digit the relay put in, then the stream moves up one.
        c.inserted();
        let mut r = build(0, false, 40_003, 900_480, 0xbbbb, &[2; 160]);
        c.apply(&mut r, 160_000);
        assert_eq!(fields(&r), (false, 108, 8000 + 160 * 7, 0xaaaa));
        // A re-INVITE moves the media: the next source takes over at once.
        c.source_moved();
        let mut m = build(0, false, 9, 70, 0xcccc, &[3; 160]);
        assert_eq!(fields(&{ c.apply(&mut m, 170_000); m }), (true, 109, 8000 + 160 * 8, 0xaaaa));
        let mut late = build(0, false, 40_004, 900_640, 0xbbbb, &[2; 160]);
        assert_eq!(c.apply(&mut late, 175_000), None, "the old source is now the competing one");
        // Back to the first source later (resume from hold on the old device).
        let mut s2 = build(0, false, 105, 8800, 0xaaaa, &[1; 160]);
        c.apply(&mut s2, 500_000);
        assert_eq!(fields(&s2), (true, 110, 8000 + 160 * 9, 0xaaaa));
    }

    #[test]
    fn continuity_uses_the_streams_own_frame_and_survives_wrap() {
        let mut c = Continuity::default();
        // 20 ms Opus at 48 kHz (960 per frame), sequence about to wrap.
        for i in 0..3u16 {
            let mut p = build(111, false, 65_534u16.wrapping_add(i), (u32::MAX - 960).wrapping_add(960 * u32::from(i)), 7, &[0; 20]);
            c.apply(&mut p, 20_000 * u64::from(i));
        }
        let mut p = build(111, false, 3, 50, 8, &[0; 20]);
        c.apply(&mut p, 1_000_000);
        let (_, seq, ts, ssrc) = fields(&p);
        assert_eq!((seq, ts, ssrc), (1, (u32::MAX - 960).wrapping_add(960 * 3), 7));
    }

    #[test]
    fn continuity_carries_on_a_stream_that_came_from_elsewhere() {
        let mut c = Continuity::default();
        // A transcoder sent up to seq 99 under 0x7c; its next frame is ts 16_000.
        c.carry_on_from(0x7c, 100, 16_000);
        // The phone's own stream is relayed from now on, at once (no
        // waiting for the transcoder to fall silent: it is gone).
        for i in 0..3u16 {
            let mut p = build(0, false, 5000 + i, 777 + 160 * u32::from(i), 0xb, &[0; 160]);
            assert!(c.apply(&mut p, 1000 + u64::from(i)).is_some(), "relayed at once");
            let (m, seq, ts, ssrc) = fields(&p);
            assert_eq!((seq, ts, ssrc), (100 + i, 16_000 + 160 * u32::from(i), 0x7c), "the same stream, going on");
            assert_eq!(m, i == 0, "the first one marked");
        }
    }

    proptest::proptest! {
        /// Whatever the sources do, the receiver sees one SSRC and, for
        /// packets sent in order, consecutive sequence numbers.
        #[test]
        fn continuity_keeps_one_ssrc_and_consecutive_sequence(switches in proptest::collection::vec((proptest::prelude::any::<u32>(), proptest::prelude::any::<u16>(), proptest::prelude::any::<u32>(), 1usize..6), 1..8)) {
            let mut c = Continuity::default();
            let mut out = Vec::new();
            let mut now = 0u64;
            for (ssrc, seq0, ts0, n) in switches {
                // Each source starts after the previous one fell silent.
                now += Continuity::TAKEOVER_US;
                for k in 0..n {
                    let mut p = build(0, false, seq0.wrapping_add(k as u16), ts0.wrapping_add(160 * k as u32), ssrc, &[0; 4]);
                    out.push(c.apply(&mut p, now).expect("rtp"));
                    now += 20_000;
                }
            }
            for w in out.windows(2) {
                proptest::prop_assert_eq!(w[1].0, out[0].0);
                proptest::prop_assert_eq!(w[1].1, w[0].1.wrapping_add(1));
            }
        }

        #[test]
        fn continuity_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let mut b = b;
            let _ = Continuity::default().apply(&mut b, 0);
        }

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
