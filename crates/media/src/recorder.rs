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

/// One side's samples not yet released: `v[head..end]` (a plain vector
/// whose front is dropped in steps, so writing and releasing work on
/// contiguous slices). `v` past `end` is memory written before, kept
/// initialised so that a packet's samples are written once, not zeroed
/// first (in a profile of recorded calls that zeroing was about a fifth
/// of the recorder's samples).
#[derive(Default)]
struct Pending<T> {
    v: Vec<T>,
    head: usize,
    end: usize,
}

impl<T: Copy> Pending<T> {
    fn len(&self) -> usize {
        self.end - self.head
    }

    /// The `n` samples from `at` on (relative to the front), for the
    /// caller to write whole; a gap between the end so far and `at` becomes
    /// `silence`.
    fn window(&mut self, at: usize, n: usize, silence: T) -> &mut [T] {
        let from = self.head + at;
        let need = from + n;
        if self.v.len() < need {
            self.v.resize(need, silence);
        }
        if from > self.end {
            self.v[self.end..from].fill(silence);
        }
        self.end = self.end.max(need);
        &mut self.v[from..need]
    }

    /// The first `k` samples (at most what there is), then dropped.
    fn take(&mut self, k: usize) -> &[T] {
        let k = k.min(self.len());
        if self.head >= 4096 && self.head * 2 >= self.end {
            // Drop the released front now and then (a short move: what
            // remains is about the jitter window).
            self.v.copy_within(self.head..self.end, 0);
            self.end -= self.head;
            self.head = 0;
        }
        let from = self.head;
        self.head += k;
        &self.v[from..from + k]
    }
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
    /// Each side's pending samples: 16-bit linear, or G.711 bytes when
    /// recording G.711 (`law`).
    bufs: [Pending<i16>; 2],
    bytes: [Pending<u8>; 2],
    law: Option<Law>,
    flushed: u64,
    /// Released bytes: `out[..out_len]`; the rest is earlier output kept
    /// as initialised memory to write over.
    out: Vec<u8>,
    out_len: usize,
    jitter: u64,
    max_ahead: u64,
    finished: bool,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(Duration::from_millis(200))
    }
}

/// `n` samples (`x(j)`) at twice the rate into `out` (2n): each sample,
/// then the point between it and the next by the four-point half-band
/// interpolator (−1, 9, 9, −1)/16, the packet's edge samples repeated.
/// A 1 kHz tone's image at 7 kHz lands more than 40 dB down.
fn upsample2(n: usize, x: impl Fn(usize) -> i16, out: &mut [i16]) {
    if n == 0 {
        return;
    }
    let at = |j: isize| i32::from(x(j.clamp(0, n as isize - 1) as usize));
    for j in 0..n {
        let k = j as isize;
        out[2 * j] = x(j);
        let mid = (9 * (at(k) + at(k + 1)) - at(k - 1) - at(k + 2)) / 16;
        out[2 * j + 1] = mid.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
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

/// Released samples of both sides into `frames` (one frame per sample
/// pair, caller first), `silence` where a side has none: each byte of
/// `frames` is written. Both sides' samples (the usual case), then the
/// rest of the side that has more, then silence.
fn interleave<T: Sample>(l: &[T], r: &[T], silence: T, frames: &mut [u8]) {
    let frame = 2 * T::BYTES;
    let both = l.len().min(r.len());
    let (paired, rest) = frames.split_at_mut(both * frame);
    for ((f, a), b) in paired.chunks_exact_mut(frame).zip(&l[..both]).zip(&r[..both]) {
        let (x, y) = f.split_at_mut(T::BYTES);
        a.put(x);
        b.put(y);
    }
    for (f, k) in rest.chunks_exact_mut(frame).zip(both..) {
        let (x, y) = f.split_at_mut(T::BYTES);
        l.get(k).copied().unwrap_or(silence).put(x);
        r.get(k).copied().unwrap_or(silence).put(y);
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
            bufs: [Pending::default(), Pending::default()],
            bytes: [Pending::default(), Pending::default()],
            law: None,
            flushed: 0,
            out: Vec::new(),
            out_len: 0,
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
        if let Some(law) = self.law {
            if let Some(at) = self.place(arrival, side as usize, p.ssrc, p.timestamp, RATE) {
                let w = self.bytes[side as usize].window(at, p.payload.len(), law.silence());
                match g711::Law::of(p.payload_type) {
                    Some(l) if l == law => w.copy_from_slice(p.payload),
                    _ => {
                        for (d, b) in w.iter_mut().zip(p.payload) {
                            *d = law.convert(*b);
                        }
                    }
                }
            }
            self.release_due(arrival);
            return;
        }
        if let Some(at) = self.place(arrival, side as usize, p.ssrc, p.timestamp, RATE) {
            let buf = &mut self.bufs[side as usize];
            if self.rate == RATE {
                for (d, b) in buf.window(at, p.payload.len(), 0).iter_mut().zip(p.payload) {
                    *d = table[usize::from(*b)];
                }
            } else {
                upsample2(p.payload.len(), |j| table[usize::from(p.payload[j])], buf.window(at, 2 * p.payload.len(), 0));
            }
        }
        // (Earlier than what was released: too late to place; dropped.)
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
        if let Some(at) = self.place(arrival, side as usize, ssrc, timestamp, rate) {
            // Half the rate: the mean of each pair.
            let half = |pair: &[i16]| ((i32::from(pair[0]) + i32::from(pair[1])) / 2) as i16;
            if let Some(law) = self.law {
                // (Recording G.711 is at 8 kHz.)
                let w = &mut self.bytes[side as usize];
                if pcm_rate == self.rate {
                    for (d, x) in w.window(at, pcm.len(), law.silence()).iter_mut().zip(pcm) {
                        *d = law.encode(*x);
                    }
                } else if pcm_rate > self.rate {
                    for (d, pair) in w.window(at, pcm.len() / 2, law.silence()).iter_mut().zip(pcm.chunks_exact(2)) {
                        *d = law.encode(half(pair));
                    }
                }
            } else {
                let buf = &mut self.bufs[side as usize];
                if pcm_rate == self.rate {
                    buf.window(at, pcm.len(), 0).copy_from_slice(pcm);
                } else if pcm_rate < self.rate {
                    upsample2(pcm.len(), |j| pcm[j], buf.window(at, 2 * pcm.len(), 0));
                } else {
                    let w = buf.window(at, pcm.len() / 2, 0);
                    for (d, pair) in w.iter_mut().zip(pcm.chunks_exact(2)) {
                        *d = half(pair);
                    }
                }
            }
        }
        self.release_due(arrival);
    }

    /// Where in side `i`'s pending audio a packet of `ssrc` with RTP
    /// `ts` (clock `rate`) that arrived at sample `arrival` goes; `None`
    /// when that place was released already (too late).
    fn place(&mut self, arrival: u64, i: usize, ssrc: u32, ts: u32, rate: u32) -> Option<usize> {
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
        (pos >= self.flushed).then(|| (pos - self.flushed) as usize)
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
    /// a twentieth of a second has gathered (not a few samples per
    /// packet: each release is a pass over both sides).
    fn release_due(&mut self, arrival: u64) {
        let upto = arrival.saturating_sub(self.jitter);
        if upto >= self.flushed + u64::from(self.rate / 20) {
            self.release(upto);
        }
    }

    fn release(&mut self, upto: u64) {
        if self.flushed >= upto {
            return;
        }
        // In one pass per call (this runs for every packet of a recorded
        // call): each side's released samples drained at once, silence
        // where a side has none.
        let n = (upto - self.flushed) as usize;
        let size = n * self.frame_bytes();
        let start = self.out_len;
        if self.out.len() < start + size {
            self.out.resize(start + size, 0);
        }
        let frames = &mut self.out[start..start + size];
        match self.law {
            None => {
                let [left, right] = &mut self.bufs;
                interleave(left.take(n), right.take(n), 0, frames);
            }
            Some(law) => {
                let [left, right] = &mut self.bytes;
                interleave(left.take(n), right.take(n), law.silence(), frames);
            }
        }
        self.out_len = start + size;
        self.flushed = upto;
    }

    /// The call ended at `now`: release everything up to the later of now
    /// and the last sample received.
    pub fn finish(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let end = if self.start.is_some() { self.now_pos(now) } else { 0 };
        let pending = self.bufs.iter().map(Pending::len).chain(self.bytes.iter().map(Pending::len));
        let buffered = self.flushed + pending.max().unwrap_or(0) as u64;
        self.release(end.max(buffered));
        self.finished = true;
    }

    /// Bytes released and not yet taken.
    pub fn pending(&self) -> usize {
        self.out_len
    }

    /// Interleaved stereo audio released since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.out[..self.out_len].to_vec();
        self.out_len = 0;
        out
    }

    /// Interleaved stereo audio released since the last call, handed over
    /// whole (no copy). `spare` becomes the buffer the next output goes to:
    /// an earlier output given back keeps its memory, and its bytes are
    /// written over, not zeroed first.
    pub fn swap_output(&mut self, spare: Vec<u8>) -> Vec<u8> {
        let mut out = std::mem::replace(&mut self.out, spare);
        out.truncate(self.out_len);
        self.out_len = 0;
        out
    }

    /// Sample frames released so far.
    pub fn frames(&self) -> u64 {
        self.flushed
    }
}
