//! An exact stereo recorder for a two-party call.
//!
//! Each direction's RTP stream is placed on a common timeline by its RTP
//! timestamps: the first packet of a stream (or of a new SSRC, after a
//! re-INVITE or a transfer) is anchored to its arrival time since the
//! recording started; later packets go where their timestamp says, so
//! jitter and reordering do not move audio, lost packets and silence
//! (no packets at all, e.g. VAD or hold) stay as silence of the right
//! length, and a stream that starts late (early media, the callee
//! answering) starts at the right moment. Samples are released once they
//! are older than the jitter window, interleaved caller-left,
//! callee-right, as 16-bit little-endian PCM at 8 kHz, or 16 kHz
//! ([`Recorder::with_rate`]: G.711 is then interpolated up), or as G.711
//! bytes at 8 kHz ([`Recorder::g711`]: what the legs sent, as it was).
//! A packet's samples are written straight into their side's slots of the
//! interleaved output; releasing only makes the slots no packet filled
//! silent. (Per-side buffers interleaved at release cost twice the
//! memory traffic: `cargo bench -p media --bench recorder`.)
//!
//! G.711 (payload types 0 and 8) is decoded here, or, recording G.711,
//! copied (converted between μ-law and A-law where the file's law is the
//! other); the audio of other codecs comes decoded
//! ([`Recorder::push_pcm`]); other payloads (RFC 4733 events, comfort
//! noise) record as silence.

use crate::{g711, rtp};
use std::time::{Duration, Instant};

pub use g711::Law;

/// Sample rate of recordings by default, and G.711's.
pub const RATE: u32 = 8000;

/// Which party: the left or the right channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller (A-leg): left.
    Caller,
    /// The callee (B-leg): right.
    Callee,
}

struct Stream {
    ssrc: u32,
    ts0: u32,
    pos0: u64,
}

/// The recorder of one call. Feed it with [`Recorder::push`], tick it with
/// [`Recorder::advance`], take bytes with [`Recorder::take_output`], end
/// with [`Recorder::finish`].
pub struct Recorder {
    /// Samples a second written (per channel).
    rate: u32,
    start: Option<Instant>,
    streams: [Option<Stream>; 2],
    /// Record G.711 bytes in this law rather than 16-bit linear.
    law: Option<Law>,
    /// Frames released: handed over, or waiting at the front of `out`
    /// (the frames `base..flushed`).
    flushed: u64,
    /// The frame `out` starts with.
    base: u64,
    /// Each side's slots in `out` are written (its audio, or silence)
    /// up to this frame (never before `flushed`); past it they hold
    /// whatever the buffer held.
    end: [u64; 2],
    /// Interleaved frames from `base` on, each side's samples written into
    /// their slots as packets come (no per-side buffer, no pass that
    /// interleaves at release): the frames up to `flushed` are released; after them
    /// come the frames still inside the jitter window, then earlier
    /// output kept as initialised memory to write over.
    out: Vec<u8>,
    jitter: u64,
    max_ahead: u64,
    finished: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(Duration::from_millis(200))
    }
}

/// `n` samples (`x(j)`) at twice the rate, each given to `put` with its
/// index (2n of them): each sample, then the point between it and the
/// next by the four-point half-band interpolator (−1, 9, 9, −1)/16, the
/// packet's edge samples repeated. A 1 kHz tone's image at 7 kHz lands
/// more than 40 dB down.
fn upsample2(n: usize, x: impl Fn(usize) -> i16, mut put: impl FnMut(usize, i16)) {
    if n == 0 {
        return;
    }
    let at = |j: isize| i32::from(x(j.clamp(0, n as isize - 1) as usize));
    for j in 0..n {
        let k = j as isize;
        put(2 * j, x(j));
        let mid = (9 * (at(k) + at(k + 1)) - at(k - 1) - at(k + 2)) / 16;
        put(2 * j + 1, mid.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16);
    }
}

/// A sample as the recording file holds it.
trait Sample: Copy {
    const BYTES: usize;
    fn put(self, to: &mut [u8]);
}

impl Sample for i16 {
    const BYTES: usize = 2;
    fn put(self, to: &mut [u8]) {
        to.copy_from_slice(&self.to_le_bytes());
    }
}

impl Sample for u8 {
    const BYTES: usize = 1;
    fn put(self, to: &mut [u8]) {
        to[0] = self;
    }
}

/// Side `side`'s slots of the interleaved `frames` (caller first) made
/// `silence`.
fn fill<T: Sample>(frames: &mut [u8], side: usize, silence: T) {
    put_all(frames, side, std::iter::repeat(silence));
}

/// Side `side`'s slots of `frames` from `samples`, one a frame.
fn put_all<T: Sample>(frames: &mut [u8], side: usize, samples: impl IntoIterator<Item = T>) {
    let frame = 2 * T::BYTES;
    let o = side * T::BYTES;
    for (fr, x) in frames.chunks_exact_mut(frame).zip(samples) {
        x.put(&mut fr[o..o + T::BYTES]);
    }
}

fn samples(d: Duration, rate: u32) -> u64 {
    (d.as_micros() as u64).saturating_mul(u64::from(rate)) / 1_000_000
}

impl Recorder {
    /// A recorder that holds audio `jitter` long before releasing it (late
    /// packets within that window still land in place).
    pub fn new(jitter: Duration) -> Recorder {
        Recorder::with_rate(jitter, RATE)
    }

    /// [`Recorder::new`] writing at `rate`: 8000, or 16000 for wideband
    /// (G.722, Opus) legs; G.711 audio is interpolated up to it.
    pub fn with_rate(jitter: Duration, rate: u32) -> Recorder {
        let rate = if rate >= 16000 { 16000 } else { RATE };
        Recorder {
            rate,
            start: None,
            streams: [None, None],
            law: None,
            flushed: 0,
            base: 0,
            end: [0, 0],
            out: Vec::new(),
            jitter: samples(jitter, rate),
            max_ahead: u64::from(rate) * 2,
            finished: false,
        }
    }

    /// A recorder writing G.711 in `law` at 8 kHz (one byte a sample,
    /// interleaved caller-left, callee-right): half the bytes of 16-bit
    /// PCM, and a G.711 leg's audio goes in as it came, not decoded.
    pub fn g711(jitter: Duration, law: Law) -> Recorder {
        Recorder { law: Some(law), ..Recorder::with_rate(jitter, RATE) }
    }

    /// The sample rate written.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The encoding of the samples written: 16-bit PCM, or G.711 in a law.
    pub fn encoding(&self) -> crate::wav::Encoding {
        self.law.map_or(crate::wav::Encoding::Pcm16, crate::wav::Encoding::G711)
    }

    /// Bytes of one stereo frame in the output.
    fn frame_bytes(&self) -> usize {
        2 * self.encoding().sample_bytes()
    }

    fn now_pos(&mut self, now: Instant) -> u64 {
        let t0 = *self.start.get_or_insert(now);
        samples(now.saturating_duration_since(t0), self.rate)
    }

    /// The frames `at..at + n` of `out` (at >= `flushed`), for side
    /// `side` to write its slots in whole: the buffer grown to hold them,
    /// and that side's slots between what it wrote last and `at` made
    /// silence (a lost packet, a hold). The other side's slots are left
    /// as they are: it writes them, or [`Recorder::release`] fills them.
    fn slots(&mut self, side: usize, at: u64, n: usize) -> &mut [u8] {
        let fb = self.frame_bytes();
        let from = (at - self.base) as usize * fb;
        let to = from + n * fb;
        if self.out.len() < to {
            self.out.resize(to, 0);
        }
        let end = self.end[side];
        if at > end {
            let gap = &mut self.out[(end - self.base) as usize * fb..from];
            match self.law {
                None => fill::<i16>(gap, side, 0),
                Some(law) => fill::<u8>(gap, side, law.silence()),
            }
        }
        self.end[side] = end.max(at + n as u64);
        &mut self.out[from..to]
    }

    /// One RTP packet from `side`, arrived at `now`. Anything that is not
    /// RTP is ignored.
    pub fn push(&mut self, now: Instant, side: Side, packet: &[u8]) {
        if let Ok(p) = rtp::parse(packet) {
            self.push_rtp(now, side, &p);
        }
    }

    /// [`Recorder::push`] of a packet already parsed.
    pub fn push_rtp(&mut self, now: Instant, side: Side, p: &rtp::Rtp<'_>) {
        if self.finished {
            return;
        }
        let arrival = self.now_pos(now);
        let Some(table) = g711::table(p.payload_type) else {
            self.release_due(arrival);
            return;
        };
        let i = side as usize;
        // (Earlier than what was released: too late to place; dropped.)
        if let Some(at) = self.place(arrival, i, p.ssrc, p.timestamp, RATE) {
            let n = p.payload.len();
            match self.law {
                Some(law) => {
                    let w = self.slots(i, at, n);
                    match g711::Law::of(p.payload_type) {
                        Some(l) if l == law => put_all(w, i, p.payload.iter().copied()),
                        _ => put_all(w, i, p.payload.iter().map(|b| law.convert(*b))),
                    }
                }
                None if self.rate == RATE => put_all(self.slots(i, at, n), i, p.payload.iter().map(|b| table[usize::from(*b)])),
                None => {
                    let w = self.slots(i, at, 2 * n);
                    let o = i * 2;
                    upsample2(n, |j| table[usize::from(p.payload[j])], |k, x| w[4 * k + o..4 * k + o + 2].copy_from_slice(&x.to_le_bytes()));
                }
            }
        }
        self.release_due(arrival);
    }

    /// Audio a packet carried in another codec, decoded to `pcm` at
    /// `pcm_rate` (8000 or 16000: the recorder's rate, or the other one,
    /// converted): from `side`, arrived at `now`, its stream's `ssrc` and
    /// RTP `timestamp` in that stream's clock `rate` (48000 for Opus), by
    /// which it is placed as a G.711 packet is.
    #[allow(clippy::too_many_arguments)]
    pub fn push_pcm(&mut self, now: Instant, side: Side, ssrc: u32, timestamp: u32, rate: u32, pcm: &[i16], pcm_rate: u32) {
        if self.finished {
            return;
        }
        let arrival = self.now_pos(now);
        let i = side as usize;
        if let Some(at) = self.place(arrival, i, ssrc, timestamp, rate) {
            // Half the rate: the mean of each pair.
            let half = |pair: &[i16]| ((i32::from(pair[0]) + i32::from(pair[1])) / 2) as i16;
            if let Some(law) = self.law {
                // (Recording G.711 is at 8 kHz.)
                if pcm_rate == self.rate {
                    put_all(self.slots(i, at, pcm.len()), i, pcm.iter().map(|x| law.encode(*x)));
                } else if pcm_rate > self.rate {
                    put_all(self.slots(i, at, pcm.len() / 2), i, pcm.chunks_exact(2).map(|pair| law.encode(half(pair))));
                }
            } else if pcm_rate == self.rate {
                put_all(self.slots(i, at, pcm.len()), i, pcm.iter().copied());
            } else if pcm_rate < self.rate {
                let w = self.slots(i, at, 2 * pcm.len());
                let o = i * 2;
                upsample2(pcm.len(), |j| pcm[j], |k, x| w[4 * k + o..4 * k + o + 2].copy_from_slice(&x.to_le_bytes()));
            } else {
                put_all(self.slots(i, at, pcm.len() / 2), i, pcm.chunks_exact(2).map(half));
            }
        }
        self.release_due(arrival);
    }

    /// Where (the frame) a packet of side `i` of `ssrc` with RTP `ts`
    /// (clock `rate`) that arrived at sample `arrival` goes; `None` when
    /// that place was released already (too late).
    fn place(&mut self, arrival: u64, i: usize, ssrc: u32, ts: u32, rate: u32) -> Option<u64> {
        // Anchor a new stream (or one whose timestamps jumped: a
        // restarted sender) at its arrival.
        let pos = match &self.streams[i] {
            Some(s) if s.ssrc == ssrc => {
                let delta = i64::from(ts.wrapping_sub(s.ts0) as i32) * i64::from(self.rate) / i64::from(rate.max(1));
                let pos = s.pos0 as i64 + delta;
                let drift = pos - arrival as i64;
                // Timestamps far ahead of the clock, or so far behind it that
                // the place they name was written out a second ago (no
                // network delivers a packet that late, but a sender starting
                // its timestamps over does): a new run, anchored anew.
                let stale = pos + i64::from(self.rate) < self.flushed as i64;
                if drift > self.max_ahead as i64 || drift < -(self.max_ahead as i64) || stale {
                    None
                } else {
                    Some(pos.max(0) as u64)
                }
            }
            _ => None,
        };
        let pos = pos.unwrap_or_else(|| {
            self.streams[i] = Some(Stream { ssrc, ts0: ts, pos0: arrival });
            arrival
        });
        (pos >= self.flushed).then_some(pos)
    }

    /// Time passes: release what is older than the jitter window (silence
    /// where no packet came).
    pub fn advance(&mut self, now: Instant) {
        if self.start.is_none() || self.finished {
            return;
        }
        let p = self.now_pos(now);
        self.release(p.saturating_sub(self.jitter));
    }

    /// After a packet: release what is older than the jitter window once
    /// a twentieth of a second has gathered (not a few frames per
    /// packet).
    fn release_due(&mut self, arrival: u64) {
        let upto = arrival.saturating_sub(self.jitter);
        if upto >= self.flushed + u64::from(self.rate / 20) {
            self.release(upto);
        }
    }

    /// Release the frames up to `upto`: the audio is in place already, so
    /// only the slots a side did not write (no packet came) become
    /// silence.
    fn release(&mut self, upto: u64) {
        if self.flushed >= upto {
            return;
        }
        let fb = self.frame_bytes();
        let to = (upto - self.base) as usize * fb;
        if self.out.len() < to {
            self.out.resize(to, 0);
        }
        for side in 0..2 {
            let end = self.end[side];
            if end < upto {
                let gap = &mut self.out[(end - self.base) as usize * fb..to];
                match self.law {
                    None => fill::<i16>(gap, side, 0),
                    Some(law) => fill::<u8>(gap, side, law.silence()),
                }
                self.end[side] = upto;
            }
        }
        self.flushed = upto;
    }

    /// The call ended at `now`: release everything up to the later of now
    /// and the last sample received.
    pub fn finish(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let end = if self.start.is_some() { self.now_pos(now) } else { 0 };
        let buffered = self.end[0].max(self.end[1]);
        self.release(end.max(buffered));
        self.finished = true;
    }

    /// Bytes released and not yet taken.
    pub fn pending(&self) -> usize {
        (self.flushed - self.base) as usize * self.frame_bytes()
    }

    /// The bytes of the frames after the released ones that a side has
    /// written (still inside the jitter window): they move to the front
    /// when the released ones are taken.
    fn tail(&self) -> std::ops::Range<usize> {
        let written = self.end[0].max(self.end[1]);
        self.pending()..(written - self.base) as usize * self.frame_bytes()
    }

    /// Interleaved stereo audio released since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        let tail = self.tail();
        let out = self.out[..tail.start].to_vec();
        self.out.copy_within(tail, 0);
        self.base = self.flushed;
        out
    }

    /// Interleaved stereo audio released since the last call, handed over
    /// whole (no copy of it). `spare` becomes the buffer the next output
    /// goes to, the frames not yet released copied to its front: an
    /// earlier output given back keeps its memory, and its bytes are
    /// written over, not zeroed first.
    pub fn swap_output(&mut self, spare: Vec<u8>) -> Vec<u8> {
        let tail = self.tail();
        let mut next = spare;
        if next.len() < tail.len() {
            next.resize(tail.len(), 0);
        }
        next[..tail.len()].copy_from_slice(&self.out[tail.clone()]);
        let mut out = std::mem::replace(&mut self.out, next);
        out.truncate(tail.start);
        self.base = self.flushed;
        out
    }

    /// Sample frames released so far.
    pub fn frames(&self) -> u64 {
        self.flushed
    }
}
