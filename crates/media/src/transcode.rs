//! One direction of a transcoded call: RTP in one codec, RTP out in
//! another.
//!
//! ```text
//!   push(packet) ─▶ JitterBuffer ─▶ Decoder (PLC) ─▶ 8 kHz PCM ─▶ Encoder ─▶ poll_transmit()
//!                   (reorder, loss,   (+ in-band FEC)   (ptime          (own SSRC,
//!                    adaptive delay)                      translation)    seq, timestamps)
//! ```
//!
//! Sans-IO in the style of quinn-proto: packets go in with [`push`], time
//! goes in with [`handle_timeout`] at [`poll_timeout`], packets come out of
//! [`poll_transmit`]. RFC 4733 telephone events are not decoded: they are
//! passed on at once with the other side's payload type, in the outgoing
//! stream's sequence and timestamp space (one event keeps one timestamp;
//! durations are rescaled between clock rates). Comfort noise and unknown
//! payload types are dropped.
//!
//! [`push`]: Transcoder::push
//! [`handle_timeout`]: Transcoder::handle_timeout
//! [`poll_timeout`]: Transcoder::poll_timeout
//! [`poll_transmit`]: Transcoder::poll_transmit

use crate::codec::{Codec, CodecError, Decoder, Encoder, PCM_RATE};
use crate::jitter::{Frame, JitterBuffer, JitterStats, Playout};
use crate::rtp;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One side's negotiated format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// The voice codec.
    pub codec: Codec,
    /// Its payload type on this side.
    pub payload_type: u8,
    /// The telephone-event payload type on this side, if negotiated.
    pub events: Option<u8>,
    /// The telephone-event's clock rate (its `a=rtpmap`; event durations
    /// count in it). Usually the codec's; 8000 is common with Opus.
    pub events_rate: u32,
    /// Packet duration this side receives, in ms (its `a=ptime`, else 20).
    pub ptime_ms: u32,
    /// This side asked for Opus in-band FEC (what we encode for it then
    /// carries redundancy for a lost packet; costs encoder time).
    pub fec: bool,
    /// The most this side takes, in bits per second (Opus
    /// `maxaveragebitrate`); what we encode for it stays within it.
    pub max_bitrate: Option<u32>,
}

/// Jitter buffer bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest playout delay.
    pub min: Duration,
    /// Largest playout delay.
    pub max: Duration,
    /// On arrival (the default: no added latency, one timer wake-up
    /// fewer per packet) or paced.
    pub playout: Playout,
}

impl Default for JitterConfig {
    fn default() -> JitterConfig {
        JitterConfig { min: Duration::from_millis(20), max: Duration::from_millis(200), playout: Playout::OnArrival }
    }
}

/// How a transcoder works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Jitter buffer bounds.
    pub jitter: JitterConfig,
    /// Opus encoder complexity (0–10). The encoder is most of the cost of
    /// a transcoded call; for narrowband audio from G.711 at 24 kbit/s,
    /// 0 scores within 0.02 PESQ of 1 for 10–15% less CPU (docs/benchmarks.md).
    pub opus_complexity: u8,
    /// Opus encoder bitrate, bits per second (lowered to a side's
    /// `maxaveragebitrate`). libopus on its own would pick about 11 kbit/s
    /// for 8 kHz audio in 20 ms frames, which loses about a point of PESQ
    /// on male voices against 24 kbit/s (docs/benchmarks.md).
    pub opus_bitrate: u32,
}

/// The default Opus bitrate for transcoded calls.
pub const OPUS_BITRATE: u32 = 24_000;

impl Default for Config {
    fn default() -> Config {
        Config { jitter: JitterConfig::default(), opus_complexity: 0, opus_bitrate: OPUS_BITRATE }
    }
}

/// Outgoing packets held at most (a consumer that stops polling loses the oldest).
const OUT_CAPACITY: usize = 64;

/// Transcodes one direction. See the module documentation.
pub struct Transcoder {
    from: Format,
    to: Format,
    jb: JitterBuffer,
    dec: Decoder,
    enc: Encoder,
    /// Decoded samples not yet encoded.
    pcm: Vec<i16>,
    /// The last decoded frame (G.711 concealment repeats it).
    history: Vec<i16>,
    conceal_run: u32,
    /// Samples per outgoing frame (8 kHz).
    frame: usize,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    last_out: Option<Instant>,
    /// The event being passed on: its incoming and outgoing timestamps.
    event: Option<(u32, u32)>,
    /// The timestamp of the event we are generating.
    injected: Option<u32>,
    out: VecDeque<Vec<u8>>,
    payload: Vec<u8>,
    frames_out: u64,
    /// Packets and payload octets sent (for RTCP sender reports).
    packets_sent: u64,
    octets_sent: u64,
}

impl Transcoder {
    /// Transcode RTP in `from` to RTP in `to`, sent with `ssrc` starting at
    /// sequence `seq` and timestamp `ts` (random, RFC 3550 §5.1). A ptime
    /// the outgoing codec cannot carry falls back to 20 ms.
    pub fn new(from: Format, to: Format, cfg: Config, ssrc: u32, seq: u16, ts: u32) -> Result<Transcoder, CodecError> {
        let jitter = cfg.jitter;
        let ptime = if to.codec.supports_ptime(to.ptime_ms) { to.ptime_ms } else { 20 };
        Ok(Transcoder {
            from,
            to: Format { ptime_ms: ptime, ..to },
            jb: JitterBuffer::new(from.codec.clock_rate(), jitter.min, jitter.max, jitter.playout),
            dec: Decoder::new(from.codec)?,
            enc: Encoder::with_options(to.codec, cfg.opus_complexity, to.fec, to.max_bitrate.map_or(cfg.opus_bitrate, |m| m.min(cfg.opus_bitrate)))?,
            pcm: Vec::with_capacity(1920),
            history: Vec::new(),
            conceal_run: 0,
            frame: (PCM_RATE * ptime / 1000) as usize,
            ssrc,
            seq,
            ts,
            marker: true,
            last_out: None,
            event: None,
            injected: None,
            out: VecDeque::new(),
            payload: Vec::with_capacity(256),
            frames_out: 0, packets_sent: 0, octets_sent: 0,
        })
    }

    /// The incoming format.
    pub fn from(&self) -> Format {
        self.from
    }

    /// The outgoing format.
    pub fn to(&self) -> Format {
        self.to
    }

    /// Jitter buffer counters.
    pub fn jitter_stats(&self) -> JitterStats {
        self.jb.stats()
    }

    /// Frames encoded so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// An RTP packet from the incoming side arrived at `now`. Anything
    /// that is not RTP of the negotiated payload types is ignored.
    pub fn push(&mut self, now: Instant, packet: &[u8]) {
        let Ok(p) = rtp::parse(packet) else { return };
        if Some(p.payload_type) == self.from.events {
            self.pass_event(p.timestamp, p.marker, p.payload);
            return;
        }
        if p.payload_type != self.from.payload_type {
            return;
        }
        let Some(duration) = self.dec.duration(p.payload) else { return };
        self.jb.push(now, p.seq, p.timestamp, p.ssrc, p.marker, duration, p.payload);
        self.handle_timeout(now);
    }

    fn pass_event(&mut self, ts: u32, marker: bool, payload: &[u8]) {
        let Some(pt) = self.to.events else { return };
        if payload.len() < 4 {
            return;
        }
        let out_ts = match self.event {
            Some((i, o)) if i == ts => o,
            _ => {
                // A new event starts now in the outgoing stream's time.
                self.event = Some((ts, self.ts));
                self.ts
            }
        };
        let mut ev = payload[..4].to_vec();
        let dur = u64::from(u16::from_be_bytes([ev[2], ev[3]])) * u64::from(self.to.events_rate.max(1)) / u64::from(self.from.events_rate.max(1));
        let dur = u16::try_from(dur).unwrap_or(u16::MAX).to_be_bytes();
        ev[2] = dur[0];
        ev[3] = dur[1];
        let pkt = rtp::build(pt, marker, self.seq, out_ts, self.ssrc, &ev);
        self.seq = self.seq.wrapping_add(1);
        self.emit(pkt);
    }

    /// Send a telephone event of our own (a SIP INFO digit turned into
    /// RFC 4733) in the outgoing stream: `payload` from
    /// [`crate::dtmf::EventGen`] with durations in the outgoing events'
    /// clock; `first` starts a new event at the stream's current time.
    /// `false` when the outgoing side has no telephone-event.
    pub fn inject_event(&mut self, payload: [u8; 4], first: bool) -> bool {
        let Some(pt) = self.to.events else { return false };
        if first || self.injected.is_none() {
            self.injected = Some(self.ts);
        }
        let ts = self.injected.unwrap_or(self.ts);
        let pkt = rtp::build(pt, first, self.seq, ts, self.ssrc, &payload);
        self.seq = self.seq.wrapping_add(1);
        self.emit(pkt);
        true
    }

    /// What this direction has sent, for an RTCP sender report at `now`:
    /// its SSRC, the RTP timestamp of `now` on its clock, packets and
    /// payload octets.
    pub fn sent(&self, now: Instant) -> crate::rtcp::SenderInfo {
        let last = self.ts.wrapping_sub(self.out_units(self.frame));
        let since = self.last_out.map_or(0, |t| now.saturating_duration_since(t).as_micros() as u64);
        let rtp_ts = last.wrapping_add((since * u64::from(self.to.codec.clock_rate()) / 1_000_000) as u32);
        crate::rtcp::SenderInfo { ssrc: self.ssrc, ntp: 0, rtp_ts, packets: self.packets_sent as u32, octets: self.octets_sent as u32 }
    }

    /// Where the outgoing stream goes on at `now`: its SSRC, the next
    /// sequence number and the timestamp of a frame starting then (the
    /// time since the last packet counted in, as after a pause). A
    /// transcoder that replaces this one, when the call's codecs are
    /// negotiated again, starts there, so the phone sees one stream. A
    /// new SSRC whose sequence numbers jump back makes some phones
    /// (baresip) drop every packet after it as late.
    pub fn resume_point(&self, now: Instant) -> (u32, u16, u32) {
        let mut ts = self.ts;
        if let Some(last) = self.last_out {
            let frame = Duration::from_millis(u64::from(self.to.ptime_ms));
            let gap = now.saturating_duration_since(last);
            if gap > frame {
                ts = ts.wrapping_add(((gap - frame).as_micros() as u64 * u64::from(self.to.codec.clock_rate()) / 1_000_000) as u32);
            }
        }
        (self.ssrc, self.seq, ts)
    }

    fn emit(&mut self, pkt: Vec<u8>) {
        self.packets_sent += 1;
        self.octets_sent += pkt.len().saturating_sub(12) as u64;
        if self.out.len() >= OUT_CAPACITY {
            self.out.pop_front();
        }
        self.out.push_back(pkt);
    }

    /// When [`Transcoder::handle_timeout`] has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.jb.next_due()
    }

    /// Time passes: play out every frame due by `now`, encode what fills
    /// outgoing frames.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(f) = self.jb.pop(now) {
            let at = self.pcm.len();
            match f {
                Frame::Audio { payload, resumed, .. } => {
                    if resumed && self.last_out.is_some() {
                        // After a pause: the outgoing stream skips the
                        // silent time and marks the new talkspurt.
                        self.pcm.clear();
                        self.skip_to(now);
                    }
                    self.conceal_run = 0;
                    if !self.dec.decode(&payload, &mut self.pcm) {
                        let n = self.samples(self.jb_frame());
                        self.dec.conceal(n, None, &self.history, 0, &mut self.pcm);
                    }
                }
                Frame::Lost { duration, next } => {
                    let n = self.samples(duration);
                    self.dec.conceal(n, next.as_deref(), &self.history, self.conceal_run, &mut self.pcm);
                    self.conceal_run += 1;
                }
            }
            if self.pcm.len() > at {
                self.history.clear();
                self.history.extend_from_slice(&self.pcm[at..]);
            }
            self.encode_ready(now);
        }
    }

    fn jb_frame(&self) -> u32 {
        self.from.codec.clock_rate() / 50
    }

    /// Incoming clock units to 8 kHz samples.
    fn samples(&self, units: u32) -> usize {
        (u64::from(units) * u64::from(PCM_RATE) / u64::from(self.from.codec.clock_rate())) as usize
    }

    fn out_units(&self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.to.codec.clock_rate()) / u64::from(PCM_RATE)) as u32
    }

    fn skip_to(&mut self, now: Instant) {
        if let Some(last) = self.last_out {
            let gap = now.saturating_duration_since(last);
            let frame = Duration::from_millis(u64::from(self.to.ptime_ms));
            if gap > frame {
                let extra = (gap - frame).as_micros() as u64 * u64::from(self.to.codec.clock_rate()) / 1_000_000;
                self.ts = self.ts.wrapping_add(extra as u32);
            }
        }
        self.marker = true;
    }

    fn encode_ready(&mut self, now: Instant) {
        let mut start = 0;
        while self.pcm.len() - start >= self.frame {
            self.payload.clear();
            let frame = &self.pcm[start..start + self.frame];
            start += self.frame;
            if self.enc.encode(frame, &mut self.payload).is_err() {
                continue;
            }
            let pkt = rtp::build(self.to.payload_type, self.marker, self.seq, self.ts, self.ssrc, &self.payload);
            self.marker = false;
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(self.out_units(self.frame));
            self.last_out = Some(now);
            self.frames_out += 1;
            self.emit(pkt);
        }
        self.pcm.drain(..start);
    }

    /// The next packet to send to the outgoing side.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
}
