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
//! Each side's audio is kept in a track of its own, as compact as it
//! came: a μ-law leg's bytes as they were (one byte a sample, copied, not
//! decoded; recording G.711, any G.711 leg's, in the file's law), other
//! audio as 16-bit samples. Releasing only makes silent
//! what no packet filled. The released audio is handed over as a
//! [`Chunk`] of both tracks, and interleaved into the file's encoding
//! where the file is written ([`Chunk::write_to`]): off the media thread,
//! into a buffer that stays in the cache. Written straight into
//! interleaved 16-bit frames instead, each packet's 160 samples were
//! stores to every other pair of bytes across ten cache lines that the
//! two sides each brought in from memory, and the writer read them all
//! back out of memory again (see docs/benchmarks.md).
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

/// One side's audio from the recorder's `base` frame on: G.711 bytes in
/// `law`, or 16-bit little-endian samples where `law` is `None`. Bytes
/// past what the side has written are whatever the buffer held before
/// (a buffer given back is written over, never zeroed first).
struct Track {
    law: Option<Law>,
    buf: Vec<u8>,
}

impl Track {
    fn sample_bytes(&self) -> usize {
        if self.law.is_some() {
            1
        } else {
            2
        }
    }

    /// Its samples `from..to` (indices into the track) made silence.
    fn silence(&mut self, from: usize, to: usize) {
        let sb = self.sample_bytes();
        if self.buf.len() < to * sb {
            self.buf.resize(to * sb, 0);
        }
        let fill = self.law.map_or(0, Law::silence);
        self.buf[from * sb..to * sb].fill(fill);
    }
}

/// Released audio of both sides, `frames` stereo frames, as a recorder's
/// tracks held it: [`Chunk::write_to`] makes the file's interleaved
/// bytes of it. Its buffers go back to a recorder for later audio
/// ([`Chunk::into_buffers`], [`Recorder::take_chunk`]).
pub struct Chunk {
    frames: usize,
    tracks: [Track; 2],
    encoding: crate::wav::Encoding,
}

/// `o` filled with frames of a left then a right sample of `W` bytes each,
/// from `a` and `b`.
fn zip_into<const W: usize>(o: &mut [u8], a: impl Iterator<Item = [u8; W]>, b: impl Iterator<Item = [u8; W]>) {
    for ((fr, x), y) in o.chunks_exact_mut(2 * W).zip(a).zip(b) {
        fr[..W].copy_from_slice(&x);
        fr[W..].copy_from_slice(&y);
    }
}

impl Chunk {
    /// G.711 frames in `law`: the caller's bytes and the callee's (as many
    /// frames as the shorter holds).
    pub fn g711(law: Law, sides: [Vec<u8>; 2]) -> Chunk {
        let frames = sides[0].len().min(sides[1].len());
        let [a, b] = sides;
        Chunk { frames, tracks: [Track { law: Some(law), buf: a }, Track { law: Some(law), buf: b }], encoding: crate::wav::Encoding::G711(law) }
    }

    /// Stereo frames in it.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Bytes of the file it makes.
    pub fn len(&self) -> usize {
        self.frames * 2 * self.encoding.sample_bytes()
    }

    /// No audio in it.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Append its frames, interleaved caller-left, callee-right, in the
    /// recording's encoding, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.len(), 0);
        let o = &mut out[start..];
        let [a, b] = &self.tracks;
        let (ab, bb) = (&a.buf[..], &b.buf[..]);
        match self.encoding {
            crate::wav::Encoding::Pcm16 => {
                let le = |x: i16| x.to_le_bytes();
                match (a.law, b.law) {
                    (Some(la), Some(lb)) => {
                        let (ta, tb) = (la.table(), lb.table());
                        zip_into(o, ab.iter().map(|x| le(ta[usize::from(*x)])), bb.iter().map(|x| le(tb[usize::from(*x)])));
                    }
                    (Some(la), None) => {
                        let ta = la.table();
                        zip_into(o, ab.iter().map(|x| le(ta[usize::from(*x)])), bb.chunks_exact(2).map(|c| [c[0], c[1]]));
                    }
                    (None, Some(lb)) => {
                        let tb = lb.table();
                        zip_into(o, ab.chunks_exact(2).map(|c| [c[0], c[1]]), bb.iter().map(|x| le(tb[usize::from(*x)])));
                    }
                    (None, None) => zip_into(o, ab.chunks_exact(2).map(|c| [c[0], c[1]]), bb.chunks_exact(2).map(|c| [c[0], c[1]])),
                }
            }
            crate::wav::Encoding::G711(law) => {
                // (A G.711 recording's tracks are always in its law:
                // `track_for` converts what comes into it.)
                debug_assert!(a.law == Some(law) && b.law == Some(law));
                zip_into(o, ab.iter().map(|x| [*x]), bb.iter().map(|x| [*x]));
            }
        }
    }

    /// Its frames interleaved, in a buffer of their own.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }

    /// Its buffers (the caller's track, the callee's), to hand back to a
    /// recorder for later audio.
    pub fn into_buffers(self) -> [Vec<u8>; 2] {
        let [a, b] = self.tracks;
        [a.buf, b.buf]
    }
}

/// The recorder of one call. Feed it with [`Recorder::push`], tick it with
/// [`Recorder::advance`], take audio with [`Recorder::take_chunk`] (or
/// [`Recorder::take_output`]), end with [`Recorder::finish`].
pub struct Recorder {
    /// Samples a second written (per channel).
    rate: u32,
    start: Option<Instant>,
    streams: [Option<Stream>; 2],
    /// Record G.711 bytes in this law rather than 16-bit linear.
    law: Option<Law>,
    /// Frames released: handed over, or waiting at the front of the
    /// tracks (the frames `base..flushed`).
    flushed: u64,
    /// The frame the tracks start with.
    base: u64,
    /// Each side's track is written (its audio, or silence) up to this
    /// frame (never before `flushed`); past it, it holds whatever the
    /// buffer held.
    end: [u64; 2],
    /// Each side's audio from `base` on: the frames up to `flushed` are
    /// released, then come those still inside the jitter window.
    tracks: [Track; 2],
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

/// `samples` into the 16-bit track bytes `w`, one each.
fn put16(w: &mut [u8], samples: impl IntoIterator<Item = i16>) {
    for (o, x) in w.chunks_exact_mut(2).zip(samples) {
        o.copy_from_slice(&x.to_le_bytes());
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
        // At 8 kHz a track starts out taking μ-law bytes (see
        // `track_for`); at 16 kHz its samples are interpolated.
        let law = (rate == RATE).then_some(Law::Mulaw);
        debug_assert!(Law::Mulaw.decode(Law::Mulaw.silence()) == 0);
        Recorder {
            rate,
            start: None,
            streams: [None, None],
            law: None,
            flushed: 0,
            base: 0,
            end: [0, 0],
            tracks: [Track { law, buf: Vec::new() }, Track { law, buf: Vec::new() }],
            jitter: samples(jitter, rate),
            max_ahead: u64::from(rate) * 2,
            finished: false,
        }
    }

    /// A recorder writing G.711 in `law` at 8 kHz (one byte a sample,
    /// interleaved caller-left, callee-right): half the bytes of 16-bit
    /// PCM, and a G.711 leg's audio goes in as it came, not decoded.
    pub fn g711(jitter: Duration, law: Law) -> Recorder {
        let mut r = Recorder::with_rate(jitter, RATE);
        r.law = Some(law);
        r.tracks = [Track { law: Some(law), buf: Vec::new() }, Track { law: Some(law), buf: Vec::new() }];
        r
    }

    /// The sample rate written.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The encoding of the samples written: 16-bit PCM, or G.711 in a law.
    pub fn encoding(&self) -> crate::wav::Encoding {
        self.law.map_or(crate::wav::Encoding::Pcm16, crate::wav::Encoding::G711)
    }

    /// Bytes a second of audio takes in each side's track (the caller's,
    /// the callee's): what to make room for in buffers for it.
    pub fn track_second(&self) -> [usize; 2] {
        self.tracks.each_ref().map(|t| self.rate as usize * t.sample_bytes())
    }

    /// Bytes of one stereo frame in the output.
    fn frame_bytes(&self) -> usize {
        2 * self.encoding().sample_bytes()
    }

    fn now_pos(&mut self, now: Instant) -> u64 {
        let t0 = *self.start.get_or_insert(now);
        samples(now.saturating_duration_since(t0), self.rate)
    }

    /// Side `i`'s track made ready for audio in `law` (G.711 bytes) or
    /// linear (`None`); the law it then holds (`None`: linear). A G.711
    /// recording's tracks stay in its law (audio is converted into it). A
    /// 16-bit recording's track holds μ-law bytes while μ-law is all that
    /// came, and becomes linear (what it holds decoded) when other audio
    /// comes. (μ-law has a byte for linear 0, the silence of a 16-bit
    /// recording; A-law has none, its quietest bytes are ±8: A-law sides of
    /// a 16-bit recording are kept decoded.)
    fn track_for(&mut self, i: usize, law: Option<Law>) -> Option<Law> {
        let held = (self.end[i] - self.base) as usize;
        let t = &mut self.tracks[i];
        match (t.law, law) {
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(a), _) if self.law.is_some() => Some(a),
            (Some(a), _) => {
                let table = a.table();
                let mut buf = Vec::with_capacity(2 * t.buf.len().max(held));
                buf.extend(t.buf[..held].iter().flat_map(|x| table[usize::from(*x)].to_le_bytes()));
                *t = Track { law: None, buf };
                None
            }
            (None, _) => None,
        }
    }

    /// Side `i`'s track bytes for the frames `at..at + n` (at >=
    /// `flushed`), for it to write in whole: the track grown to hold them,
    /// and its samples between what it wrote last and `at` made silence
    /// (a lost packet, a hold).
    fn slots(&mut self, i: usize, at: u64, n: usize) -> &mut [u8] {
        let from = (at - self.base) as usize;
        let end = self.end[i];
        let t = &mut self.tracks[i];
        if at > end {
            t.silence((end - self.base) as usize, from);
        }
        let sb = t.sample_bytes();
        let to = (from + n) * sb;
        if t.buf.len() < to {
            t.buf.resize(to, 0);
        }
        self.end[i] = end.max(at + n as u64);
        &mut t.buf[from * sb..to]
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
        let Some(law) = Law::of(p.payload_type) else {
            self.release_due(arrival);
            return;
        };
        let i = side as usize;
        // (Earlier than what was released: too late to place; dropped.)
        if let Some(at) = self.place(arrival, i, p.ssrc, p.timestamp, RATE) {
            let n = p.payload.len();
            if self.rate == RATE {
                match self.track_for(i, Some(law)) {
                    Some(l) if l == law => self.slots(i, at, n).copy_from_slice(p.payload),
                    Some(l) => {
                        for (o, b) in self.slots(i, at, n).iter_mut().zip(p.payload) {
                            *o = l.convert(*b);
                        }
                    }
                    None => {
                        let table = law.table();
                        put16(self.slots(i, at, n), p.payload.iter().map(|b| table[usize::from(*b)]));
                    }
                }
            } else {
                self.track_for(i, None);
                let table = law.table();
                let w = self.slots(i, at, 2 * n);
                upsample2(n, |j| table[usize::from(p.payload[j])], |k, x| w[2 * k..2 * k + 2].copy_from_slice(&x.to_le_bytes()));
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
            if let Some(law) = self.track_for(i, None) {
                // (A G.711 recording: at 8 kHz.)
                if pcm_rate == self.rate {
                    for (o, x) in self.slots(i, at, pcm.len()).iter_mut().zip(pcm) {
                        *o = law.encode(*x);
                    }
                } else if pcm_rate > self.rate {
                    for (o, pair) in self.slots(i, at, pcm.len() / 2).iter_mut().zip(pcm.chunks_exact(2)) {
                        *o = law.encode(half(pair));
                    }
                }
            } else if pcm_rate == self.rate {
                put16(self.slots(i, at, pcm.len()), pcm.iter().copied());
            } else if pcm_rate < self.rate {
                let w = self.slots(i, at, 2 * pcm.len());
                upsample2(pcm.len(), |j| pcm[j], |k, x| w[2 * k..2 * k + 2].copy_from_slice(&x.to_le_bytes()));
            } else {
                put16(self.slots(i, at, pcm.len() / 2), pcm.chunks_exact(2).map(half));
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
    /// only what a side did not write (no packet came) becomes silence.
    fn release(&mut self, upto: u64) {
        if self.flushed >= upto {
            return;
        }
        for i in 0..2 {
            let end = self.end[i];
            if end < upto {
                self.tracks[i].silence((end - self.base) as usize, (upto - self.base) as usize);
                self.end[i] = upto;
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

    /// Bytes of the file released and not yet taken.
    pub fn pending(&self) -> usize {
        (self.flushed - self.base) as usize * self.frame_bytes()
    }

    /// The audio released since the last call, handed over whole (no copy
    /// of it). `spare` become the tracks' buffers for later audio, the
    /// samples not yet released (inside the jitter window) copied to their
    /// front: buffers given back keep their memory, and their bytes are
    /// written over, not zeroed first.
    pub fn take_chunk(&mut self, spare: [Vec<u8>; 2]) -> Chunk {
        let frames = (self.flushed - self.base) as usize;
        let [s0, s1] = spare;
        let mut take = |i: usize, mut next: Vec<u8>| {
            let t = &mut self.tracks[i];
            let sb = t.sample_bytes();
            let tail = frames * sb..(self.end[i] - self.base) as usize * sb;
            if next.len() < tail.len() {
                next.resize(tail.len(), 0);
            }
            next[..tail.len()].copy_from_slice(&t.buf[tail]);
            let mut out = std::mem::replace(&mut t.buf, next);
            out.truncate(frames * sb);
            Track { law: t.law, buf: out }
        };
        let tracks = [take(0, s0), take(1, s1)];
        self.base = self.flushed;
        Chunk { frames, tracks, encoding: self.encoding() }
    }

    /// Interleaved stereo audio released since the last call, in the
    /// file's encoding.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.take_chunk([Vec::new(), Vec::new()]).to_vec()
    }

    /// Sample frames released so far.
    pub fn frames(&self) -> u64 {
        self.flushed
    }
}
