//! A jitter buffer for the decoding side of a transcoder.
//!
//! Packets go in as they arrive ([`JitterBuffer::push`]); frames come out
//! on the media's own timeline ([`JitterBuffer::pop`]), each at the time
//! its RTP timestamp says, shifted by a playout delay. Reordered packets
//! are put back in order; a missing one comes out as [`Frame::Lost`] (the
//! decoder conceals it), with the packet after it when that one is already
//! here (Opus can rebuild the lost frame from its in-band FEC).
//!
//! Frames come out in one of two ways ([`Playout`]). Paced, each at its
//! time on the timeline, so the output is smooth and late by the delay.
//! On arrival (a transcoder's default), a packet that is next in sequence
//! comes out at once: a clean stream gains no latency, and the output
//! keeps the input's jitter, as behind a plain relay, for the far phone's
//! own buffer to absorb. The timeline then only bounds how long a missing
//! or reordered packet is waited for before it is concealed.
//!
//! The delay adapts: the RFC 3550 interarrival jitter is tracked, and at
//! the start of each talkspurt (the first packet, or one after a pause) the
//! delay is set to three times the jitter, within `[min, max]`, plus a
//! margin that grows while packets arrive too late and shrinks while none
//! do. Between talkspurts it does not move, so nothing is time-stretched.
//! When the buffer runs dry the loss is concealed for a few frames; after
//! that the stream counts as paused (silence suppression, hold, a dead
//! phone) and nothing comes out until packets return. A buffer that fills
//! beyond its delay (a sender whose clock runs fast, a burst after a
//! stall) drops its oldest frames, so latency stays bounded, as does
//! memory (at most [`CAPACITY`] packets).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Most packets held at once.
pub const CAPACITY: usize = 64;
/// Frames concealed in a row before the stream counts as paused.
const CONCEAL_LIMIT: u32 = 3;

/// What comes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The next packet's payload, lasting `duration` RTP clock units.
    Audio {
        /// The payload.
        payload: Vec<u8>,
        /// Its RTP timestamp.
        timestamp: u32,
        /// How long it plays (clock units).
        duration: u32,
        /// The first frame after a pause or at the start.
        resumed: bool,
    },
    /// A frame that did not arrive in time: conceal `duration` clock units.
    Lost {
        /// How long to conceal (the last frame's duration).
        duration: u32,
        /// The payload of the packet right after the lost one, if it is here.
        next: Option<Vec<u8>>,
    },
}

/// When frames come out. See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Playout {
    /// In-order packets at once; the delay bounds the wait for a missing one.
    #[default]
    OnArrival,
    /// Every frame at its timestamp's time plus the delay.
    Paced,
}

struct Slot {
    timestamp: u32,
    duration: u32,
    due: Instant,
    payload: Vec<u8>,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets that arrived after their playout time (dropped).
    pub late: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Packets dropped because the buffer was over its delay or full.
    pub overflow: u64,
    /// Duplicates dropped.
    pub duplicate: u64,
}

/// Is timestamp `a` before `b` (modulo 2^32)?
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// One stream's jitter buffer. See the module documentation.
pub struct JitterBuffer {
    playout: Playout,
    rate: u32,
    min: Duration,
    max: Duration,
    delay: Duration,
    margin: Duration,
    late_in_spurt: bool,
    slots: BTreeMap<u64, Slot>,
    ssrc: Option<u32>,
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    /// Timeline: the time at which timestamp `base_ts` plays.
    base: Option<(Instant, u32)>,
    next_seq: u64,
    next_ts: u32,
    last_duration: u32,
    conceal_run: u32,
    resumed: bool,
    /// RFC 3550 A.8 jitter, in clock units (scaled by 16 as there).
    jitter16: u64,
    last_transit: Option<i64>,
    epoch: Option<Instant>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for a stream with RTP clock `rate`, with a playout delay
    /// between `min` and `max`, giving out frames as `playout` says.
    pub fn new(rate: u32, min: Duration, max: Duration, playout: Playout) -> JitterBuffer {
        let max = max.max(min);
        JitterBuffer {
            playout,
            rate: rate.max(1),
            min,
            max,
            delay: min,
            margin: Duration::ZERO,
            late_in_spurt: false,
            slots: BTreeMap::new(),
            ssrc: None,
            highest: None,
            base: None,
            next_seq: 0,
            next_ts: 0,
            last_duration: 0,
            conceal_run: 0,
            resumed: true,
            jitter16: 0,
            last_transit: None,
            epoch: None,
            stats: JitterStats::default(),
        }
    }

    /// The playout delay in force.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn clock(&self, units: i64) -> Duration {
        Duration::from_micros((units.max(0) as u64).saturating_mul(1_000_000) / u64::from(self.rate))
    }

    fn due(&self, ts: u32) -> Option<Instant> {
        let (t0, ts0) = self.base?;
        let d = i64::from(ts.wrapping_sub(ts0) as i32);
        if d >= 0 {
            Some(t0 + self.clock(d))
        } else {
            Some(t0.checked_sub(self.clock(-d)).unwrap_or(t0))
        }
    }

    fn extend(&mut self, seq: u16) -> u64 {
        match self.highest {
            None => u64::from(seq) + (1 << 16),
            Some(h) => {
                let d = i64::from(seq.wrapping_sub(h as u16) as i16);
                (h as i64 + d).max(0) as u64
            }
        }
    }

    fn jitter_delay(&self) -> Duration {
        // Three times the jitter (A.8 keeps it scaled by 16).
        self.clock((self.jitter16 / 16 * 3) as i64)
    }

    /// Start a talkspurt at packet (`seq`, `ts`) arriving `now`.
    fn rebase(&mut self, now: Instant, seq: u64, ts: u32) {
        if self.late_in_spurt {
            self.margin = (self.margin + Duration::from_millis(10)).min(self.max);
        } else {
            self.margin = self.margin.saturating_sub(Duration::from_millis(5));
        }
        self.late_in_spurt = false;
        self.delay = (self.jitter_delay() + self.margin).clamp(self.min, self.max);
        self.base = Some((now + self.delay, ts));
        self.next_seq = seq;
        self.next_ts = ts;
        self.conceal_run = 0;
        self.resumed = true;
    }

    /// A packet of the stream arrived at `now`: sequence number,
    /// timestamp, SSRC, marker bit, how long it plays (clock units, from
    /// the decoder), and its payload.
    #[allow(clippy::too_many_arguments)]
    pub fn push(&mut self, now: Instant, seq: u16, ts: u32, ssrc: u32, marker: bool, duration: u32, payload: &[u8]) {
        if self.ssrc != Some(ssrc) {
            // A new source (or the first): start over.
            self.slots.clear();
            self.ssrc = Some(ssrc);
            self.highest = None;
            self.base = None;
            self.last_transit = None;
        }
        // Interarrival jitter (RFC 3550 A.8) in clock units.
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = (now.saturating_duration_since(epoch).as_micros() as i64) * i64::from(self.rate) / 1_000_000;
        let transit = arrival - i64::from(ts);
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).unsigned_abs();
            // Ignore timestamp jumps (a new talkspurt, a restarted sender).
            if d < u64::from(self.rate) {
                self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
            }
        }
        self.last_transit = Some(transit);

        let ext = self.extend(seq);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        let paused = self.base.is_none() || (self.slots.is_empty() && self.conceal_run >= CONCEAL_LIMIT);
        let new_spurt = marker && self.slots.is_empty() && ext >= self.next_seq;
        if paused || new_spurt {
            self.rebase(now, ext, ts);
        } else if ext < self.next_seq || before(ts, self.next_ts) {
            // Its turn has passed (it was concealed, or a later one played).
            self.stats.late += 1;
            self.late_in_spurt = true;
            self.next_seq = self.next_seq.max(ext + 1);
            return;
        }
        if self.slots.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        let Some(due) = self.due(ts) else { return };
        self.slots.insert(ext, Slot { timestamp: ts, duration: duration.max(1), due, payload: payload.to_vec() });
        // Bounded: too many packets, or more buffered than the delay plus
        // a little (the sender's clock runs fast, or a burst came after a
        // stall): drop the oldest and move the timeline on.
        let allowed = self.delay + Duration::from_millis(60);
        while self.slots.len() > CAPACITY || self.slots.len() > 1 && self.buffered() > allowed {
            let Some((k, s)) = self.slots.pop_first() else { break };
            self.stats.overflow += 1;
            self.next_seq = k + 1;
            self.next_ts = s.timestamp.wrapping_add(s.duration);
            if let Some(first) = self.slots.first_key_value().map(|(_, s)| s.timestamp) {
                // Play the new oldest now + delay.
                self.base = Some((now + self.delay, first));
                let rebased: Vec<(u64, u32)> = self.slots.iter().map(|(k, s)| (*k, s.timestamp)).collect();
                for (k, t) in rebased {
                    if let (Some(d), Some(s)) = (self.due(t), self.slots.get_mut(&k)) {
                        s.due = d;
                    }
                }
                self.next_ts = first;
            }
        }
    }

    /// Time spanned by the packets held.
    fn buffered(&self) -> Duration {
        match (self.slots.first_key_value(), self.slots.last_key_value()) {
            (Some((_, a)), Some((_, b))) => self.clock(i64::from(b.timestamp.wrapping_sub(a.timestamp) as i32) + i64::from(b.duration)),
            _ => Duration::ZERO,
        }
    }

    /// When [`JitterBuffer::pop`] next has something to give.
    pub fn next_due(&self) -> Option<Instant> {
        self.base?;
        if let Some(s) = self.head() {
            return Some(s.due);
        }
        if self.slots.is_empty() && self.conceal_run >= CONCEAL_LIMIT {
            return None;
        }
        self.due(self.next_ts)
    }

    /// The oldest packet if it is the next to play: the next sequence
    /// number, or a later one whose time has come (the ones between were
    /// concealed while the buffer was empty).
    fn head(&self) -> Option<&Slot> {
        let (k, s) = self.slots.first_key_value()?;
        (*k == self.next_seq || !before(self.next_ts, s.timestamp)).then_some(s)
    }

    /// The frame due at `now`, if any. Call until it gives `None`.
    pub fn pop(&mut self, now: Instant) -> Option<Frame> {
        let due = self.next_due()?;
        let in_order = self.playout == Playout::OnArrival && self.slots.first_key_value().is_some_and(|(k, _)| *k == self.next_seq);
        if due > now && !in_order {
            return None;
        }
        let next = self.next_seq;
        if self.head().is_some() {
            if let Some((k, s)) = self.slots.pop_first() {
                self.next_seq = k + 1;
                self.next_ts = s.timestamp.wrapping_add(s.duration);
                self.last_duration = s.duration;
                self.conceal_run = 0;
                let resumed = std::mem::replace(&mut self.resumed, false);
                return Some(Frame::Audio { payload: s.payload, timestamp: s.timestamp, duration: s.duration, resumed });
            }
        }
        // Missing: conceal one frame. A gap in sequence numbers means a
        // lost packet (its number is used up); an empty buffer may be a
        // pause, so the number waits for the packet.
        let duration = if self.last_duration > 0 { self.last_duration } else { self.rate / 50 };
        let mut following = None;
        if let Some((k, s)) = self.slots.first_key_value() {
            if *k == next + 1 {
                following = Some(s.payload.clone());
            }
            self.next_seq += 1;
        } else {
            self.conceal_run += 1;
            if self.conceal_run > CONCEAL_LIMIT {
                return None;
            }
        }
        self.next_ts = self.next_ts.wrapping_add(duration);
        self.stats.concealed += 1;
        Some(Frame::Lost { duration, next: following })
    }
}
