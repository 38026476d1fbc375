//! Receive statistics of one RTP stream (RFC 3550 appendix A.1 and A.8):
//! packets, packets lost (expected from the extended highest sequence
//! number minus received, never negative), and interarrival jitter.
//!
//! Sans-IO: the arrival time is passed in (microseconds on any monotonic
//! clock), with the stream's clock rate.

/// Statistics of one stream (one SSRC at a time: a new SSRC restarts the
/// sequence accounting, as after a re-INVITE to another phone).
#[derive(Clone, Debug, Default)]
pub struct StreamStats {
    ssrc: Option<u32>,
    base: u32,
    /// Extended highest sequence number seen (cycles << 16 | seq).
    max: u32,
    /// Received in the current SSRC run.
    received: u64,
    /// Lost in earlier SSRC runs.
    lost_before: u64,
    /// Packets over all runs.
    packets: u64,
    /// RFC 3550 jitter estimate ×16, in timestamp units.
    jitter16: u64,
    /// Previous transit time (arrival in timestamp units − RTP timestamp).
    transit: Option<i64>,
    /// Expected and received at the last report block (A.3), this run.
    expected_prior: u64,
    received_prior: u64,
}

impl StreamStats {
    /// Account one packet that arrived at `arrival_us` with `seq`,
    /// `timestamp` and `ssrc`; `rate` is the payload's clock rate (Hz).
    pub fn push(&mut self, arrival_us: u64, seq: u16, timestamp: u32, ssrc: u32, rate: u32) {
        self.packets += 1;
        if self.ssrc != Some(ssrc) {
            self.lost_before += self.lost_in_run();
            *self = StreamStats { ssrc: Some(ssrc), base: u32::from(seq), max: u32::from(seq), received: 1, lost_before: self.lost_before, packets: self.packets, jitter16: self.jitter16, transit: None, expected_prior: 0, received_prior: 0 };
            self.jitter(arrival_us, timestamp, rate);
            return;
        }
        self.received += 1;
        let cur = self.max;
        let cycles = cur & 0xFFFF_0000;
        let last = (cur & 0xFFFF) as u16;
        let delta = seq.wrapping_sub(last);
        if delta != 0 && delta < 0x8000 {
            // In order (maybe after a gap), possibly wrapping.
            let wrapped = seq < last;
            self.max = if wrapped { cycles.wrapping_add(0x1_0000) } else { cycles } | u32::from(seq);
        }
        // Late or duplicate packets do not move max (A.1 keeps it simple too).
        self.jitter(arrival_us, timestamp, rate);
    }

    fn jitter(&mut self, arrival_us: u64, timestamp: u32, rate: u32) {
        let arrival = (arrival_us as i128 * i128::from(rate) / 1_000_000) as i64;
        let transit = arrival.wrapping_sub(i64::from(timestamp));
        if let Some(prev) = self.transit {
            let d = transit.wrapping_sub(prev).unsigned_abs();
            // J += (|D| - J) / 16, kept ×16 as in RFC 3550 A.8.
            let j = self.jitter16 as i128 + i128::from(d.min(u64::from(u32::MAX))) - ((self.jitter16 as i128 + 8) >> 4);
            self.jitter16 = j.max(0) as u64;
        }
        self.transit = Some(transit);
    }

    fn lost_in_run(&self) -> u64 {
        if self.ssrc.is_none() {
            return 0;
        }
        let expected = u64::from(self.max.wrapping_sub(self.base)) + 1;
        expected.saturating_sub(self.received)
    }

    /// Packets received.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets lost (never negative: duplicates do not make up for losses
    /// in the count, as RFC 3550 allows, but the count stays at zero or more).
    pub fn lost(&self) -> u64 {
        self.lost_before + self.lost_in_run()
    }

    /// An RTCP report block about the stream (RFC 3550 §6.4.1, A.3): the
    /// fraction lost since the last block this made; `lsr` and `dlsr`
    /// are the caller's (they come from the sender's SRs). `None` before
    /// the first packet.
    pub fn report_block(&mut self) -> Option<crate::rtcp::ReportBlock> {
        let ssrc = self.ssrc?;
        let expected = u64::from(self.max.wrapping_sub(self.base)) + 1;
        let (de, dr) = (expected.saturating_sub(self.expected_prior), self.received.saturating_sub(self.received_prior));
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = de.saturating_sub(dr);
        let fraction_lost = (lost_interval << 8).checked_div(de).map_or(0, |f| f.min(255) as u8);
        Some(crate::rtcp::ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.lost_in_run().min(0x7F_FFFF) as u32,
            highest_seq: self.max,
            jitter: (self.jitter16 >> 4).min(u64::from(u32::MAX)) as u32,
            lsr: 0,
            dlsr: 0,
        })
    }

    /// Interarrival jitter in milliseconds for a stream of clock `rate`.
    pub fn jitter_ms(&self, rate: u32) -> f64 {
        if rate == 0 {
            return 0.0;
        }
        (self.jitter16 as f64 / 16.0) * 1000.0 / f64::from(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_blocks_count_loss_per_interval() {
        let mut s = StreamStats::default();
        assert!(s.report_block().is_none(), "nothing received yet");
        // 100 packets, 10 of them lost (every tenth).
        for k in (0u16..100).filter(|k| k % 10 != 5) {
            s.push(u64::from(k) * 20_000, 65_500u16.wrapping_add(k), 160 * u32::from(k), 9, 8000);
        }
        let b = s.report_block().expect("a block");
        assert_eq!((b.ssrc, b.cumulative_lost), (9, 10));
        assert_eq!(b.fraction_lost, 25, "10 lost of 100 expected, in 1/256");
        assert_eq!(b.highest_seq, 0x1_0000 | u32::from(65_500u16.wrapping_add(99)), "one wrap");
        // The next interval: 50 more, none lost.
        for k in 100u16..150 {
            s.push(u64::from(k) * 20_000, 65_500u16.wrapping_add(k), 160 * u32::from(k), 9, 8000);
        }
        let b = s.report_block().expect("a block");
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 10));
    }

    fn feed(s: &mut StreamStats, seqs: &[u16], jitter_us: &[u64]) {
        for (i, seq) in seqs.iter().enumerate() {
            let k = u64::from(seq.wrapping_sub(seqs[0]));
            let arrival = k * 20_000 + jitter_us.get(i).copied().unwrap_or(0);
            s.push(arrival, *seq, (k * 160) as u32, 7, 8000);
        }
    }

    #[test]
    fn a_clean_stream_has_no_loss_and_no_jitter() {
        let mut s = StreamStats::default();
        let seqs: Vec<u16> = (100..600).collect();
        feed(&mut s, &seqs, &[]);
        assert_eq!((s.packets(), s.lost()), (500, 0));
        assert!(s.jitter_ms(8000) < 0.01);
    }

    #[test]
    fn gaps_count_as_lost_across_the_sequence_wrap_and_reordering_does_not() {
        let mut s = StreamStats::default();
        // 65530..=65535, 0..=9 with 65534, 2 and 3 missing; 5 arrives after 6.
        let mut seqs: Vec<u16> = (65530..=65535).chain(0..=9).filter(|q| ![65534, 2, 3].contains(q)).collect();
        let i5 = seqs.iter().position(|q| *q == 5).unwrap();
        seqs.swap(i5, i5 + 1);
        feed(&mut s, &seqs, &[]);
        assert_eq!((s.packets(), s.lost()), (13, 3));
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut s = StreamStats::default();
        // Every other packet 10 ms late: |D| = 80 timestamp units each time,
        // J converges to 80 units = 10 ms.
        let seqs: Vec<u16> = (0..2000).collect();
        let late: Vec<u64> = (0..2000).map(|i| if i % 2 == 1 { 10_000 } else { 0 }).collect();
        feed(&mut s, &seqs, &late);
        assert!((s.jitter_ms(8000) - 10.0).abs() < 0.5, "{}", s.jitter_ms(8000));
    }

    #[test]
    fn a_new_ssrc_starts_a_new_run_and_keeps_earlier_losses() {
        let mut s = StreamStats::default();
        for (i, q) in [1u16, 2, 4].iter().enumerate() {
            s.push(i as u64 * 20_000, *q, 0, 1, 8000);
        }
        for (i, q) in [9000u16, 9001].iter().enumerate() {
            s.push(100_000 + i as u64 * 20_000, *q, 0, 2, 8000);
        }
        assert_eq!((s.packets(), s.lost()), (5, 1));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_loss_is_bounded(pkts: Vec<(u64, u16, u32, bool)>) {
            let mut s = StreamStats::default();
            for (t, q, ts, other) in pkts {
                s.push(t, q, ts, if other { 2 } else { 1 }, 8000);
            }
            let _ = s.jitter_ms(8000);
            proptest::prop_assert!(s.lost() <= 65536 * (s.packets() + 1));
        }
    }
}
