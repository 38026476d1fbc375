//! RTP/RTCP relay sockets for anchored media (`media.mode = relay`).
//!
//! Each call gets four sockets from the configured port range: RTP and
//! RTCP (port + 1) facing the A-leg, and the same facing the B-leg. One
//! task per call moves packets between them, untouched (same-codec relay
//! is zero-decode). Symmetric RTP: the address packets really arrive from
//! is latched and used for the return direction, so phones behind NAT that
//! announce an unreachable private address still get audio.

use b2bua::{Media, Side};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
/// A relay socket, registered with the runtime for reading only. Sends go
/// straight to the socket, non-blocking (a full buffer drops the packet:
/// RTP does not wait). Registered for writability too, as a tokio
/// `UdpSocket` is, every send's buffer freed on delivery would be an
/// epoll event (EPOLLOUT) for the runtime's driver to take and dispatch.
type Sock = tokio::io::unix::AsyncFd<std::net::UdpSocket>;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use crate::udp_batch::read_pair;
use crate::inbox::{inbox, Rx, Tx};
use crate::rec_writer::RecFile;

enum Ctl {
    Peer(Side, SocketAddr),
    /// Record both directions (stereo WAV at the given rate) into this
    /// file; with `true`, converted to Ogg Opus when the call ends.
    Record(PathBuf, bool, u32, Option<media::g711::Law>),
    /// Play towards A (ringback, music, a prompt) until None, or until
    /// B's media arrives (the callee's early media or answer takes over).
    Play(Option<media::Player>),
    /// Report digits from A.
    Dtmf(Digits),
    /// Report B's RFC 4733 digits in this payload type (None: stop).
    CalleeDtmf(Option<u8>),
    /// Transcode between the legs (None: relay untouched again).
    Transcode(Option<b2bua::Transcode>),
    /// What the streams relayed untouched carry.
    Relayed(Option<b2bua::Relayed>),
    /// Send a digit as RFC 4733 events towards a side, in its payload type.
    Digit { to: Side, digit: char, pt: u8, rate: u32, duration_ms: u32 },
    /// The call is over: finish the recording, then end.
    Stop(oneshot::Sender<Option<Recording>>),
    /// Lend the A side (sockets and where they send) to the relay of
    /// `to`, whose B side it becomes; `back` reaches this relay again.
    /// Until [`Ctl::Reclaim`] this relay leaves those sockets alone.
    Lend { to: Tx<Ctl>, back: Tx<Ctl> },
    /// Another relay's A side, lent: it replaces this relay's B side.
    Borrow(Borrowed),
    /// Give a borrowed side back.
    Return,
    /// The A side lent out is back.
    Reclaim,
}

/// Another call's A side (a uuid-standby agent's standing call), lent to
/// this relay as its B side. Dropping it (given back, or this relay's
/// task ended or aborted) tells the owner to take its sockets back, after
/// this relay's last poll of them, so the owner's wake-up registration is
/// the one that stays.
struct Borrowed {
    socks: [Arc<Sock>; 2],
    peer: [Option<SocketAddr>; 2],
    latched: [bool; 2],
    /// The owner's last-packet clock: its call is alive while we relay.
    last: Arc<AtomicU64>,
    owner: Tx<Ctl>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        let _ = self.owner.send(Ctl::Reclaim);
    }
}

/// How a relay finds the digits the A side sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digits {
    /// It does not.
    Off,
    /// RFC 4733 telephone events in this payload type.
    Rfc4733(u8),
    /// DTMF tones in the G.711 audio (Goertzel): for callers that did not
    /// negotiate telephone-event. Costs a decode and eight Goertzel filters
    /// per packet, so it is only for those.
    Inband,
}

impl Digits {
    /// RFC 4733 when the caller negotiated telephone-event in `pt`, in-band otherwise.
    pub fn for_caller(pt: Option<u8>) -> Digits {
        pt.map_or(Digits::Inband, Digits::Rfc4733)
    }
}

/// What a relay reports to the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A digit from the A side (RFC 4733 or in-band).
    Dtmf(String, char),
    /// A digit from the B side (RFC 4733).
    CalleeDtmf(String, char),
    /// A prompt that does not loop played to its end.
    PlayDone(String),
}

/// A finished recording.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The WAV file (stereo, 8 kHz, 16-bit: caller left, callee right).
    pub path: PathBuf,
    /// Its length.
    pub duration: std::time::Duration,
}

/// Recording bytes gathered before they are handed to the writer between
/// two checkpoints (which hand over all there is): 2 s of 8 kHz stereo, 1 s
/// at 16 kHz, so a recording is written about once a second.
const REC_BLOCK: usize = 64_000;

/// How often a recording's gathered audio goes to the writer thread, which
/// writes it and fixes the header up (what a `kill -9` can lose at most,
/// besides the recorder's 200 ms jitter window and what the writer has not
/// written yet). Each write costs the filesystem per call, not per byte
/// only: at 500 recorded calls, writing every 0.25 s with a header every
/// 0.5 s was 3,000 system calls a second.
const REC_CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(1);

/// A relay's recording checkpoints, every [`REC_CHECKPOINT`] (missed ones
/// skipped), as a timer the relay loop looks at only when it may have
/// fired. Polled every time the loop waits (about every packet), a tokio
/// timer is a read of its own allocation, which at hundreds of calls a
/// thread is out of the cache by the call's next packet: in profiles of
/// 250 recorded calls, that miss alone was a tenth of what recording
/// cost. Once polled (registered), the timer wakes the task when it fires;
/// until then, a packet that arrived before the deadline says it has not
/// (`saw`, the time the loop read anyway), and on a wake without packets
/// the timer itself is asked.
struct Checkpoints {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The pool's epoch, and the deadline in µs since it.
    epoch: tokio::time::Instant,
    due_us: u64,
    /// Polled since its deadline was set: registered with this task.
    armed: bool,
    /// When the last packet since the last look came (µs since the epoch).
    seen_us: Option<u64>,
}

impl Checkpoints {
    fn new(epoch: tokio::time::Instant, first: tokio::time::Instant) -> Checkpoints {
        let due_us = first.saturating_duration_since(epoch).as_micros() as u64;
        Checkpoints { sleep: Box::pin(tokio::time::sleep_until(first)), epoch, due_us, armed: false, seen_us: None }
    }

    /// A packet came at `now_us` (since the epoch).
    fn saw(&mut self, now_us: u64) {
        self.seen_us = Some(now_us);
    }

    /// Ready at each checkpoint.
    fn poll_due(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        use std::future::Future;
        let seen = self.seen_us.take();
        if self.armed && (seen.is_some_and(|t| t < self.due_us) || !self.sleep.is_elapsed()) {
            return std::task::Poll::Pending;
        }
        // (Out of the task's cooperative budget, a poll returns at once,
        // registering nothing: the task is polled again soon, and the timer
        // with it.)
        let registers = tokio::task::coop::has_budget_remaining();
        match self.sleep.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => {
                let now = tokio::time::Instant::now();
                let mut next = self.sleep.deadline() + REC_CHECKPOINT;
                while next <= now {
                    next += REC_CHECKPOINT;
                }
                self.sleep.as_mut().reset(next);
                self.due_us = next.saturating_duration_since(self.epoch).as_micros() as u64;
                self.armed = false;
                std::task::Poll::Ready(())
            }
            std::task::Poll::Pending => {
                self.armed = registers;
                std::task::Poll::Pending
            }
        }
    }
}

/// Recordings being finished at once (each on a blocking thread).
static FINISHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// A recording in progress: the recorder and the file it goes to (written
/// as `NAME.part` by the writer thread, `rec_writer`, and renamed when
/// complete, so a file with the final name is always whole). The relay
/// itself never touches the filesystem for it.
struct Rec {
    recorder: media::Recorder,
    file: RecFile,
    part: PathBuf,
    path: PathBuf,
    /// Convert to Ogg Opus when finished.
    opus: bool,
}

impl Rec {
    fn start(path: PathBuf, opus: bool, rate: u32, law: Option<media::g711::Law>) -> Rec {
        let part = path.with_extension("wav.part");
        let jitter = std::time::Duration::from_millis(200);
        let recorder = match law {
            Some(law) => media::Recorder::g711(jitter, law),
            None => media::Recorder::with_rate(jitter, rate),
        };
        let file = RecFile::create(part.clone(), recorder.rate(), recorder.encoding());
        Rec { recorder, file, part, path, opus }
    }

    /// After a packet: hand audio over only once a block has gathered (not
    /// a job per packet). The checkpoint tick and the end hand the rest.
    fn write_some(&mut self) {
        if self.recorder.pending() >= REC_BLOCK {
            self.write_out();
        }
    }

    /// Hand what has gathered to the writer, which appends it and makes
    /// the header name it, so a file cut short (`kill -9`, power loss) is a
    /// valid WAV of all but the last moments.
    fn write_out(&mut self) {
        if self.recorder.pending() > 0 {
            // Room for a checkpoint's audio (a second, and the jitter
            // window's batches), so the buffers do not grow as they fill.
            let spare = self.recorder.track_second().map(|second| crate::rec_writer::spare(second + second / 4));
            let out = self.recorder.take_chunk(spare);
            self.file.write(out);
        }
    }

    /// Write the rest, then make the file durable and give it its final
    /// name (and convert it) on the blocking pool, a few at a time: a mass
    /// hang-up otherwise started a blocking thread per recording, hundreds
    /// at once.
    async fn finish(mut self, now: std::time::Instant) -> Option<Recording> {
        self.recorder.finish(now);
        let last = self.recorder.take_chunk(Default::default());
        let Some((file, bytes)) = self.file.close(last).await else {
            tracing::error!(path = %self.part.display(), "could not write the recording");
            return None;
        };
        let frames = self.recorder.frames();
        let rate = self.recorder.rate();
        let enc = self.recorder.encoding();
        let (part, path, opus) = (self.part, self.path, self.opus);
        let _turn = FINISHING.acquire().await;
        tokio::task::spawn_blocking(move || {
            if file.sync_all().is_err() || std::fs::rename(&part, &path).is_err() {
                tracing::error!(path = %part.display(), "could not finish the recording");
                return None;
            }
            let duration = std::time::Duration::from_micros(frames * 1_000_000 / u64::from(rate));
            let path = if opus { to_opus(&path, bytes / (2 * enc.sample_bytes() as u64), rate, enc).unwrap_or(path) } else { path };
            Some(Recording { path, duration })
        })
        .await
        .ok()
        .flatten()
    }
}

/// Convert a finished recording (`NAME.wav`, `frames` stereo frames at
/// `rate`, its samples in `enc`) to `NAME.opus` (Ogg Opus), durable, then
/// remove the WAV. `None` (the WAV stays, nothing is lost) if that fails.
pub(crate) fn to_opus(wav: &std::path::Path, frames: u64, rate: u32, enc: media::wav::Encoding) -> Option<PathBuf> {
    use std::io::{Seek, Write};
    let out = wav.with_extension("opus");
    let part = wav.with_extension("opus.part");
    let run = || -> std::io::Result<()> {
        let mut input = std::fs::File::open(wav)?;
        input.seek(std::io::SeekFrom::Start(media::wav::header_for(enc, 2, rate, 0).bytes().len() as u64))?;
        let file = std::fs::File::create(&part)?;
        let mut w = std::io::BufWriter::new(file);
        let serial = u32::from_le_bytes(rand::random::<[u8; 4]>());
        let pcm = media::wav::Pcm16Reader::new(std::io::BufReader::new(input), enc);
        media::oggopus::encode_stereo_from(pcm, frames, rate, serial, &mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        std::fs::rename(&part, &out)
    };
    match run() {
        Ok(()) => {
            let _ = std::fs::remove_file(wav);
            Some(out)
        }
        Err(e) => {
            tracing::error!(path = %wav.display(), error = %e, "could not convert the recording to Opus; keeping the WAV");
            let _ = std::fs::remove_file(&part);
            None
        }
    }
}

struct Relay {
    ctl: Tx<Ctl>,
    stats: Arc<[AtomicU64; 2]>,
    /// Lost towards B, lost towards A, jitter µs towards B, towards A.
    quality: Arc<[AtomicU64; 4]>,
    /// Milliseconds since the pool's epoch of the last packet (RTP or RTCP, either way).
    last: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    /// The file it records into, if it does.
    recording: Option<PathBuf>,
    transcoding: bool,
}

/// A digit being sent as RFC 4733: its events, payload type, timestamp
/// (set at its first packet) and the events' clock rate.
type Inject = (media::dtmf::EventGen, u8, Option<u32>, u32);

/// In-band digit detection of the caller's audio: the detector, the
/// packet's audio as 16-bit PCM, and the digits it found.
type Inband = (media::inband::InbandDetector, Vec<i16>, Vec<char>);

/// A relay counted on its media thread while this lives.
struct OnThread(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for OnThread {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// RTCP report interval of transcoded legs.
const RTCP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The pool of relay ports.
pub struct RelayPool {
    epoch: tokio::time::Instant,
    ip: IpAddr,
    min: u16,
    max: u16,
    next: u16,
    relays: HashMap<String, Relay>,
    /// Recordings being finished after their call closed.
    finishing: HashMap<String, oneshot::Receiver<Option<Recording>>>,
    /// Where relays report digits and finished prompts.
    events: Option<mpsc::UnboundedSender<RelayEvent>>,
    /// How transcoded calls are transcoded.
    transcode: media::transcode::Config,
    /// Convert finished recordings to Ogg Opus.
    opus_recordings: bool,
    /// Recordings' sample rate (8000 or 16000).
    recording_rate: u32,
    /// Record G.711 (at 8 kHz) rather than 16-bit PCM.
    g711_recordings: bool,
    /// How often a transcoded leg gets our RTCP report.
    rtcp_interval: std::time::Duration,
    /// The runtime the pool was made in (not the SIP core's own thread
    /// that calls [`Media::open`]): relays run there unless there are
    /// media threads.
    rt: Option<tokio::runtime::Handle>,
    /// Media threads, each a single-threaded runtime, and how many relays
    /// each runs. See [`RelayPool::with_threads`].
    threads: Vec<(tokio::runtime::Handle, Arc<std::sync::atomic::AtomicUsize>)>,
}

impl RelayPool {
    /// Ports `min..=max` on `ip` (RTP on even ports).
    pub fn new(ip: IpAddr, min: u16, max: u16) -> RelayPool {
        let min = min + (min % 2);
        RelayPool { epoch: tokio::time::Instant::now(), ip, min, max, next: min, relays: HashMap::new(), finishing: HashMap::new(), events: None, transcode: media::transcode::Config::default(), opus_recordings: false, recording_rate: media::recorder::RATE, g711_recordings: false, rtcp_interval: RTCP_INTERVAL, rt: tokio::runtime::Handle::try_current().ok(), threads: Vec::new() }
    }

    /// Send transcoded legs our RTCP reports every `every` (5 s by
    /// default, RFC 3550 §6.2's minimum), for relays opened from now on.
    pub fn set_rtcp_interval(&mut self, every: std::time::Duration) {
        self.rtcp_interval = every;
    }

    /// Run relays on `n` media threads of their own, each a single-threaded
    /// runtime, a new relay on the one running the fewest. A relay's
    /// sockets, timers and task then stay on one thread: no work stealing,
    /// and no waking another worker for a packet (the futex and epoll
    /// traffic a multi-threaded runtime spends on small tasks). `n = 0`
    /// keeps relays on the pool's runtime.
    pub fn with_threads(mut self, n: usize) -> std::io::Result<RelayPool> {
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = rt.handle().clone();
            std::thread::Builder::new().name(format!("media-{i}")).spawn(move || rt.block_on(std::future::pending::<()>()))?;
            self.threads.push((handle, Arc::new(std::sync::atomic::AtomicUsize::new(0))));
        }
        Ok(self)
    }

    /// The runtime a new relay runs on, and its relay count (None: the
    /// pool's own runtime).
    fn relay_runtime(&self) -> Option<&(tokio::runtime::Handle, Arc<std::sync::atomic::AtomicUsize>)> {
        self.threads.iter().min_by_key(|(_, n)| n.load(Ordering::Relaxed))
    }

    /// Run `fut` on the pool's runtime (the media and storage side, not
    /// the SIP core's thread).
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.rt {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    /// Report digits and finished prompts on `tx`.
    pub fn set_events(&mut self, tx: mpsc::UnboundedSender<RelayEvent>) {
        self.events = Some(tx);
    }

    /// Relays open.
    pub fn len(&self) -> usize {
        self.relays.len()
    }

    /// No relays open.
    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
    }

    /// Calls whose relay has seen no packet (RTP or RTCP, either
    /// direction) for `timeout`: the phones are gone or the network is.
    pub fn idle(&self, timeout: std::time::Duration) -> Vec<String> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let limit = timeout.as_millis() as u64;
        self.relays.iter().filter(|(_, r)| now.saturating_sub(r.last.load(Ordering::Relaxed)) >= limit).map(|(id, _)| id.clone()).collect()
    }

    /// Record `call` (both directions, stereo WAV) into `path`; `law` is
    /// the call's G.711 law, the file's where recordings are G.711. `true`
    /// when this starts a recording (the call has a relay that was not
    /// recording already), which then goes to `path`.
    pub fn record(&mut self, call: &str, path: PathBuf, law: media::g711::Law) -> bool {
        let law = (self.g711_recordings && self.recording_rate == media::recorder::RATE).then_some(law);
        match self.relays.get_mut(call) {
            Some(r) if r.recording.is_none() => {
                r.recording = Some(path.clone());
                let _ = r.ctl.send(Ctl::Record(path, self.opus_recordings, self.recording_rate, law));
                true
            }
            _ => false,
        }
    }

    /// Recordings started from now on are G.711 (`recordings.encoding =
    /// "g711"`: 8 kHz, one byte a sample, in the call's law): half the size
    /// of 16-bit PCM, and a G.711 call's audio is written as it came.
    pub fn set_g711_recordings(&mut self, on: bool) {
        self.g711_recordings = on;
    }

    /// Recordings finished from now on are converted to Ogg Opus (a
    /// tenth of the WAV's size; `recordings.format = "opus"`).
    pub fn set_opus_recordings(&mut self, on: bool) {
        self.opus_recordings = on;
    }

    /// Record at `rate`: 8000 (the default) or 16000, where wideband legs
    /// (G.722, Opus) keep their band and G.711 is interpolated up.
    pub fn set_recording_rate(&mut self, rate: u32) {
        self.recording_rate = if rate >= 16000 { 16000 } else { media::recorder::RATE };
    }

    /// How calls opened from now on transcode (jitter buffer, Opus complexity).
    pub fn set_transcoding(&mut self, cfg: media::transcode::Config) {
        self.transcode = cfg;
    }

    /// Relays transcoding now.
    pub fn transcoding(&self) -> usize {
        self.relays.values().filter(|r| r.transcoding).count()
    }

    /// The file `call` is being recorded into (its final name: see
    /// [`RelayPool::record`]), if it is.
    pub fn recording_path(&self, call: &str) -> Option<&std::path::Path> {
        self.relays.get(call).and_then(|r| r.recording.as_deref())
    }

    /// Is `call` being recorded?
    pub fn is_recording(&self, call: &str) -> bool {
        self.relays.get(call).is_some_and(|r| r.recording.is_some())
    }

    /// Play `tone` towards the A side of `call` (None stops it). It also
    /// stops by itself when the B side starts sending.
    pub fn tone(&mut self, call: &str, tone: Option<media::ToneGen>) {
        self.play(call, tone.map(media::Player::from));
    }

    /// Play `player` (a tone or a prompt) towards the A side of `call`
    /// (None stops it); it stops by itself when the B side starts sending.
    /// A prompt that does not loop reports [`RelayEvent::PlayDone`] at its end.
    pub fn play(&mut self, call: &str, player: Option<media::Player>) {
        if let Some(r) = self.relays.get(call) {
            let _ = r.ctl.send(Ctl::Play(player));
        }
    }

    /// Put `member`'s caller through to `agent`'s standing call (a
    /// uuid-standby agent): the agent call's A side (its phone) becomes
    /// the B side of `member`'s relay, which then relays, transcodes,
    /// records and detects digits as for any bridged call, and keeps the
    /// agent call's media clock alive. Until [`RelayPool::unjoin`], or
    /// `member` closes: then the agent's relay takes its side back (and
    /// whatever it was playing the agent resumes). `false` if either relay
    /// is unknown.
    pub fn join(&mut self, member: &str, agent: &str) -> bool {
        let (Some(m), Some(a)) = (self.relays.get(member), self.relays.get(agent)) else { return false };
        a.ctl.send(Ctl::Lend { to: m.ctl.clone(), back: a.ctl.clone() }).is_ok()
    }

    /// Give back the standing call `member` was joined to.
    pub fn unjoin(&mut self, member: &str) {
        if let Some(m) = self.relays.get(member) {
            let _ = m.ctl.send(Ctl::Return);
        }
    }

    /// Report the A side's digits as [`RelayEvent::Dtmf`].
    pub fn detect_dtmf(&mut self, call: &str, how: Digits) {
        if let Some(r) = self.relays.get(call) {
            let _ = r.ctl.send(Ctl::Dtmf(how));
        }
    }

    /// Report the B side's RFC 4733 digits (its telephone-event payload
    /// type `pt`; None: stop) as [`RelayEvent::CalleeDtmf`]. The callee's
    /// audio is not searched for tones: an agent's or a carrier's speech
    /// is no place for an IVR, and the cost would fall on every call.
    pub fn detect_callee_dtmf(&mut self, call: &str, pt: Option<u8>) {
        if let Some(r) = self.relays.get(call) {
            let _ = r.ctl.send(Ctl::CalleeDtmf(pt));
        }
    }

    /// After `close`: the recording of `call`, once its file is complete
    /// (`None` inside if it failed). `None` if the call was not recorded.
    pub fn take_recording(&mut self, call: &str) -> Option<oneshot::Receiver<Option<Recording>>> {
        self.finishing.remove(call)
    }

    fn bind_pair(&mut self) -> Option<(u16, std::net::UdpSocket, std::net::UdpSocket)> {
        // Even RTP ports p with p + 1 (RTCP) still in range.
        if self.max <= self.min {
            return None;
        }
        let slots = ((self.max - 1 - self.min) / 2 + 1) as usize;
        for _ in 0..slots {
            let p = self.next;
            self.next = if p + 3 > self.max { self.min } else { p + 2 };
            let rtp = std::net::UdpSocket::bind(SocketAddr::new(self.ip, p));
            let rtcp = std::net::UdpSocket::bind(SocketAddr::new(self.ip, p + 1));
            if let (Ok(a), Ok(b)) = (rtp, rtcp) {
                return Some((p, a, b));
            }
        }
        None
    }
}

/// A transcoded call's two directions: [0] A→B, [1] B→A.
struct Transcoders {
    plan: b2bua::Transcode,
    dir: [media::transcode::Transcoder; 2],
    /// RTP clock rates of the streams from A and from B.
    rates: [u32; 2],
    /// Whether the stream from A (index 0) and from B speaks G.711: the
    /// recorder takes it as it arrives; otherwise it takes that side's
    /// audio from its transcoder's output (the far side's codec).
    g711: [bool; 2],
}

fn format(side: &b2bua::TranscodeSide) -> Option<media::transcode::Format> {
    let codec = media::codec::Codec::from_rtpmap(&side.codec.name, side.codec.clock_rate)?;
    Some(media::transcode::Format { codec, payload_type: side.payload_type, events: side.events, events_rate: side.events_rate, ptime_ms: side.ptime_ms, fec: side.fec, max_bitrate: side.max_bitrate })
}

/// Where a direction's outgoing stream goes on: its SSRC, the next
/// sequence number, a timestamp, and the µs since that timestamp held
/// (it moves on by as much in the new output codec's clock).
type Resume = (u32, u16, u32, u64);

impl Transcoders {
    /// Transcoders for `plan`, each direction's outgoing stream going on
    /// from `resume` where given (the stream the phone saw last: a
    /// transcoder this one replaces, the codecs negotiated again, or the
    /// packets relayed untouched until now), else a new stream. A phone
    /// that sees a new SSRC whose sequence numbers jump back may drop
    /// every packet after it as late (baresip does).
    fn new(plan: b2bua::Transcode, cfg: media::transcode::Config, resume: [Option<Resume>; 2]) -> Option<Transcoders> {
        let (a, b) = (format(&plan.a)?, format(&plan.b)?);
        let start = |k: usize, to: &media::transcode::Format| match resume[k] {
            Some((ssrc, seq, ts, age_us)) => (ssrc, seq, ts.wrapping_add((age_us.saturating_mul(u64::from(to.codec.clock_rate())) / 1_000_000) as u32)),
            None => (rand::random(), rand::random(), rand::random()),
        };
        let mk = |from, to, (ssrc, seq, ts): (u32, u16, u32)| media::transcode::Transcoder::new(from, to, cfg, ssrc, seq, ts);
        let dir = match (mk(a, b, start(0, &b)), mk(b, a, start(1, &a))) {
            (Ok(ab), Ok(ba)) => [ab, ba],
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot set up transcoding");
                return None;
            }
        };
        Some(Transcoders { plan, dir, rates: [a.codec.clock_rate(), b.codec.clock_rate()], g711: [g711(a.codec), g711(b.codec)] })
    }

    fn next_timeout(&self) -> Option<tokio::time::Instant> {
        let t = match (self.dir[0].poll_timeout(), self.dir[1].poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        t.map(tokio::time::Instant::from_std)
    }
}

/// The decoder in `slot` for `codec` at `rate`, made on first use.
fn decoder(slot: &mut Option<media::codec::Decoder>, codec: media::codec::Codec, rate: u32) -> Option<&mut media::codec::Decoder> {
    if slot.is_none() {
        *slot = media::codec::Decoder::with_rate(codec, rate).ok();
    }
    slot.as_mut()
}

/// A side's voice codec and payload type, where the relay would have to
/// decode it (not G.711, and a codec it has a decoder for).
fn voice_of(codec: &sdp::Codec, pt: u8) -> Option<(u8, media::codec::Codec)> {
    let c = media::codec::Codec::from_rtpmap(&codec.name, codec.clock_rate)?;
    (!g711(c)).then_some((pt, c))
}

/// Is a codec's audio something the recorder takes as it is (G.711)?
fn g711(c: media::codec::Codec) -> bool {
    matches!(c, media::codec::Codec::Pcmu | media::codec::Codec::Pcma)
}

/// Receive one datagram from whichever of the call's four sockets has one,
/// trying them in turn from `start`. The caller moves `start` past the
/// socket that was served, so the sockets are served round robin. A side
/// whose socket always has packets waiting (a flood, or plain overload)
/// cannot starve the other direction, as polling them in a fixed order did.
///
/// Each socket is read two datagrams at a time ([`read_pair`]): one
/// system call per packet where tokio's own read needs two. A second
/// datagram goes to `spare` and `pending` (socket, length, source), for
/// the caller to take before it polls again. With `lent`, the A side's
/// sockets are another relay's to read.
#[allow(clippy::too_many_arguments)]
fn recv_any<'a>(socks: &'a [Arc<Sock>; 4], buf: &'a mut [u8], start: usize, lent: bool, spare: &'a mut [u8], pending: &'a mut Option<(usize, usize, SocketAddr)>, armed: &'a mut [bool; 4]) -> impl std::future::Future<Output = (usize, std::io::Result<(usize, SocketAddr)>)> + 'a {
    use std::task::Poll;
    std::future::poll_fn(move |cx| {
        for j in 0..4 {
            let i = (start + j) % 4;
            if lent && i < 2 {
                continue;
            }
            loop {
                // An armed socket has our waker (nothing arrived since it
                // was registered), so its readiness alone says whether to
                // read: registering again would take the socket's waker
                // lock on every poll, twice per relayed packet.
                if !armed[i] {
                    // Out of tokio's budget the poll would answer Pending
                    // without registering: yield instead of arming. (select!
                    // itself yields at a poll's start when the budget is out;
                    // this is for a read that spent the last of it and found
                    // nothing, within one poll.)
                    if !tokio::task::coop::has_budget_remaining() {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    match socks[i].poll_read_ready(cx).map_ok(drop) {
                        Poll::Pending => {
                            armed[i] = true;
                            break;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                        Poll::Ready(Ok(())) => {}
                    }
                }
                let mut got = None;
                let mut ran = false;
                // Fewer than two back: the queue is empty, and answering
                // WouldBlock makes tokio clear the readiness (unless an
                // arrival came meanwhile), saving the read that fails.
                let r = socks[i].try_io(tokio::io::Interest::READABLE, |sock| {
                    // Readiness was set: the arrival that set it took the
                    // waker, so the socket is armed no more.
                    ran = true;
                    let p = read_pair(sock, &mut *buf, &mut *spare)?;
                    got = Some(p);
                    if p.0 < 2 {
                        Err(std::io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(())
                    }
                });
                if ran {
                    armed[i] = false;
                }
                if let Some((n, [(len, from), (len2, from2)])) = got {
                    if let (2, Some(f2)) = (n, from2) {
                        *pending = Some((i, len2.min(spare.len()), f2));
                    }
                    let Some(from) = from else { return Poll::Ready((i, Err(std::io::ErrorKind::InvalidData.into()))) };
                    return Poll::Ready((i, Ok((len.min(buf.len()), from))));
                }
                match r {
                    // Nothing was queued (readiness cleared): poll again,
                    // which registers for the next arrival.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && ran => continue,
                    // Armed and not ready.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Poll::Ready((i, Err(e))),
                    Ok(()) => break,
                }
            }
        }
        Poll::Pending
    })
}

/// Send `p` from socket `out` to where it sends (connected or not);
/// whether it went.
fn send(socks: &[Arc<Sock>; 4], connected: &[bool; 4], peer: &[Option<SocketAddr>; 4], out: usize, p: &[u8]) -> bool {
    match (connected[out], peer[out]) {
        (true, _) => socks[out].get_ref().send(p).is_ok(),
        (false, Some(dst)) => socks[out].get_ref().send_to(p, dst).is_ok(),
        (false, None) => false,
    }
}

/// Disconnect the sockets marked connected.
fn disconnect(socks: &[Arc<Sock>; 4], connected: &mut [bool; 4]) {
    for (s, c) in socks.iter().zip(connected.iter_mut()) {
        if std::mem::take(c) {
            // EINVAL may come back although the socket was disconnected
            // (rustix's note); nothing else can fail here.
            let _ = rustix::net::connect_unspec(s.get_ref());
        }
    }
}

fn to_tokio(s: std::net::UdpSocket) -> Option<Sock> {
    s.set_nonblocking(true).ok()?;
    // Deprecated because a generic `T` may close its descriptor while it
    // is registered; an owned `std::net::UdpSocket` inside the `AsyncFd`
    // lives exactly as long as the registration. (Its replacement is an
    // `unsafe fn`, and the workspace forbids unsafe code.)
    #[allow(deprecated)]
    Sock::with_interest(s, tokio::io::Interest::READABLE).ok()
}

/// Send what direction `k` of a transcoded call has ready. Where the
/// source side's codec is not G.711, the recorder takes that side's audio
/// from here (the far side's codec), so the recording stays G.711.
#[allow(clippy::too_many_arguments)]
fn send_transcoded(t: &mut Transcoders, k: usize, socks: &[Arc<Sock>; 4], connected: &[bool; 4], peer: &[Option<SocketAddr>; 4], stats: &[AtomicU64; 2], rec: &mut Option<Box<Rec>>, now: std::time::Instant) {
    let out = if k == 0 { 2 } else { 0 };
    let record_here = !t.g711[k];
    while let Some(p) = t.dir[k].poll_transmit() {
        if let (true, Some(r)) = (record_here, rec.as_mut()) {
            r.recorder.push(now, if k == 0 { media::Side::Caller } else { media::Side::Callee }, &p);
            r.write_some();
        }
        if send(socks, connected, peer, out, &p) {
            stats[k].fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(mut socks: [Arc<Sock>; 4], mut ctl: Rx<Ctl>, stats: Arc<[AtomicU64; 2]>, quality: Arc<[AtomicU64; 4]>, last: Arc<AtomicU64>, epoch: tokio::time::Instant, call: String, events: Option<mpsc::UnboundedSender<RelayEvent>>, tc_cfg: media::transcode::Config, rtcp_every: std::time::Duration, on_thread: Option<OnThread>) {
    let _on_thread = on_thread;
    // Receive statistics of the stream from A (index 0) and from B (1).
    // G.711 and telephone-event both run at 8 kHz.
    let mut rx = [media::stats::StreamStats::default(), media::stats::StreamStats::default()];
    // socks: A-rtp, A-rtcp, B-rtp, B-rtcp. peer[i]: where socket i sends.
    let mut peer: [Option<SocketAddr>; 4] = [None; 4];
    // Where each side said (SDP) it sends from and receives: see the latch below.
    let mut announced: [Option<SocketAddr>; 4] = [None; 4];
    let mut latched = [false; 4];
    let mut buf = [0u8; 2048];
    // Two-datagram reads: the second datagram's buffer, and which socket
    // it came from, its length and source, until the loop takes it.
    let mut spare = [0u8; 2048];
    let mut pending: Option<(usize, usize, SocketAddr)> = None;
    // Where recv_any starts looking next (round robin over the sockets).
    let mut next_sock = 0usize;
    // Sockets holding this task's waker (see recv_any); any control
    // message may move sockets between relays, so it disarms all.
    let mut armed = [false; 4];
    // Sockets connected to their side's announced address, once that
    // address holds the latch: the kernel then filters other sources (as
    // the latch rule below does), and a send skips the route lookup and
    // address handling of an unconnected `sendto`. Any control message
    // disconnects them all (it may move the peer or the sockets); the
    // next packet connects again.
    let mut connected = [false; 4];
    // Boxed, as the transcoders and the in-band detector below: a call
    // that does not use them keeps a pointer in its task, not their state.
    let mut rec: Option<Box<Rec>> = None;
    // Recording checkpoints on whole seconds of the pool's epoch, the same
    // instants for every relay: a media thread's recorded calls are woken
    // for them together, not each at its own moment (at 250 recorded calls
    // a thread, 250 timer wake-ups a second).
    let since = epoch.elapsed().as_millis() as u64;
    let period = REC_CHECKPOINT.as_millis() as u64;
    let mut checkpoints = Checkpoints::new(epoch, epoch + std::time::Duration::from_millis(since.div_ceil(period) * period));
    let mut tone: Option<media::Player> = None;
    // RFC 4733 digits looked for in the stream from A (index 0) and from
    // B: the telephone-event payload type and its detector.
    let mut digits: [Option<(u8, media::dtmf::Detector)>; 2] = [None, None];
    let mut inband: Option<Box<Inband>> = None;
    let mut tone_tick = tokio::time::interval(std::time::Duration::from_millis(20));
    tone_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tc: Option<Box<Transcoders>> = None;
    // The voice codec of the stream from A and from B, with its payload
    // type, where it is not G.711 (from a transcoding plan, or what the
    // b2bua says a relayed call carries), and a decoder for each, made
    // when the audio is first needed: a recording of a relayed call, or
    // in-band digits from the caller. `pcm` takes one packet's audio; it
    // and `rec_pcm` grow on first use (most relayed calls decode nothing).
    let mut voice: [Option<(u8, media::codec::Codec)>; 2] = [None, None];
    let mut decoders: [Option<media::codec::Decoder>; 2] = [None, None];
    let mut pcm: Vec<i16> = Vec::new();
    // The same for the recording, at its rate (wideband where it is 16 kHz).
    let mut rec_decoders: [Option<media::codec::Decoder>; 2] = [None, None];
    let mut rec_pcm: Vec<i16> = Vec::new();
    // Transcoded legs get RTCP of our own (their streams are ours): the
    // last SR each side sent (NTP middle bits, when), for our report blocks.
    let mut rtcp_tick = tokio::time::interval_at(tokio::time::Instant::now() + rtcp_every, rtcp_every);
    rtcp_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut their_sr: [Option<(u32, u64)>; 2] = [None; 2];
    // Digits we send as RFC 4733 (index 0: towards A, 1: towards B), and
    // for relayed streams each direction's continuity (sources changing,
    // digits put in) and the last packet sent each way (SSRC, sequence, timestamp, µs since epoch), so
    // the events fit into the stream.
    let mut inject: [Option<Inject>; 2] = [None, None];
    let mut cont = [media::rtp::Continuity::default(), media::rtp::Continuity::default()];
    let mut sent_last: [Option<(u32, u16, u32, u64)>; 2] = [None; 2];
    // The transcoders' next timeout, kept in one timer reset only when it moves.
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    let mut tc_sleep = Box::pin(tokio::time::sleep_until(far));
    let mut inject_tick = tokio::time::interval(std::time::Duration::from_millis(20));
    inject_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A standing call's A side lent to a member's relay (`lent_to`), and
    // on a member's relay the side it borrowed in place of its own B side
    // (whose sockets and peers wait in `own_b`).
    let mut lent_to: Option<Tx<Ctl>> = None;
    let mut borrowed: Option<Borrowed> = None;
    let own_b = [socks[2].clone(), socks[3].clone()];
    let mut own_b_peer: ([Option<SocketAddr>; 2], [bool; 2], [Option<SocketAddr>; 2]) = ([None; 2], [false; 2], [None; 2]);
    loop {
        let tc_due = tc.as_deref().and_then(Transcoders::next_timeout);
        if let Some(d) = tc_due {
            if tc_sleep.deadline() != d {
                tc_sleep.as_mut().reset(d);
            }
        }
        let (i, r) = if let Some((si, n, from)) = pending.take() {
            // The second datagram of the last read.
            buf[..n].copy_from_slice(&spare[..n]);
            (si, Ok((n, from)))
        } else { tokio::select! {
            // Control first: an SDP address set before a packet arrived
            // must be in force when that packet is relayed.
            biased;
            c = ctl.recv() => { armed = [false; 4]; disconnect(&socks, &mut connected); match c {
                Some(Ctl::Peer(Side::A, addr)) if lent_to.is_some() => {
                    // Lent out: the borrower sends there now.
                    peer[0] = Some(addr);
                    peer[1] = Some(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)));
                    if let Some(to) = &lent_to {
                        let _ = to.send(Ctl::Peer(Side::B, addr));
                    }
                    continue;
                }
                Some(Ctl::Lend { to, back }) => {
                    if lent_to.is_none() {
                        let b = Borrowed { socks: [socks[0].clone(), socks[1].clone()], peer: [peer[0], peer[1]], latched: [latched[0], latched[1]], last: last.clone(), owner: back };
                        // A borrower already gone drops it, which reclaims.
                        let _ = to.send(Ctl::Borrow(b));
                        lent_to = Some(to);
                    }
                    continue;
                }
                Some(Ctl::Reclaim) => {
                    lent_to = None;
                    tone_tick.reset();
                    continue;
                }
                Some(Ctl::Borrow(b)) => {
                    if borrowed.is_none() {
                        own_b_peer = ([peer[2], peer[3]], [latched[2], latched[3]], [announced[2], announced[3]]);
                    }
                    // Latched by its owner already: no preference here.
                    [announced[2], announced[3]] = [None, None];
                    socks[2] = b.socks[0].clone();
                    socks[3] = b.socks[1].clone();
                    [peer[2], peer[3]] = b.peer;
                    [latched[2], latched[3]] = b.latched;
                    cont[0].source_moved();
                    cont[1].source_moved();
                    // One borrowed before is given back by being dropped.
                    borrowed = Some(b);
                    continue;
                }
                Some(Ctl::Return) => {
                    if borrowed.take().is_some() {
                        socks[2] = own_b[0].clone();
                        socks[3] = own_b[1].clone();
                        [peer[2], peer[3]] = own_b_peer.0;
                        [latched[2], latched[3]] = own_b_peer.1;
                        [announced[2], announced[3]] = own_b_peer.2;
                        cont[0].source_moved();
                        cont[1].source_moved();
                    }
                    continue;
                }
                Some(Ctl::Peer(side, addr)) => {
                    let (rtp, rtcp) = if side == Side::A { (0, 1) } else { (2, 3) };
                    // Its media moved: a new source from it takes over at once
                    // (packets from B go towards A: continuity 0, and back).
                    cont[usize::from(side == Side::A)].source_moved();
                    peer[rtp] = Some(addr);
                    peer[rtcp] = Some(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)));
                    announced[rtp] = peer[rtp];
                    announced[rtcp] = peer[rtcp];
                    latched[rtp] = false;
                    latched[rtcp] = false;
                    continue;
                }
                Some(Ctl::Play(t)) => {
                    tone = t;
                    tone_tick.reset();
                    continue;
                }
                Some(Ctl::Transcode(plan)) => {
                    if tc.as_ref().map(|t| &t.plan) != plan.as_ref() {
                        voice = match &plan {
                            Some(p) => [voice_of(&p.a.codec, p.a.payload_type), voice_of(&p.b.codec, p.b.payload_type)],
                            None => [None, None],
                        };
                        decoders = [None, None];
                        rec_decoders = [None, None];
                        let now = tokio::time::Instant::now().into_std();
                        let now_us = epoch.elapsed().as_micros() as u64;
                        // Each phone sees one stream, whatever carries it.
                        // Transcoder dir[k] sends what relayed direction
                        // 1 - k would (A->B goes towards B: continuity 1).
                        // New transcoders go on from the ones they replace,
                        // or from the last packet relayed untouched (which
                        // itself went on from any transcoder before it).
                        let prev = tc.take();
                        let resume = [0usize, 1].map(|k| match prev.as_deref() {
                            Some(p) => {
                                let (ssrc, seq, ts) = p.dir[k].resume_point(now);
                                Some((ssrc, seq, ts, 0))
                            }
                            None => sent_last[1 - k].map(|(ssrc, seq, ts, at)| (ssrc, seq.wrapping_add(1), ts, now_us.saturating_sub(at))),
                        });
                        tc = plan.and_then(|p| Transcoders::new(p, tc_cfg, resume)).map(Box::new);
                        if let (None, Some(p)) = (&tc, prev.as_deref()) {
                            // Relayed untouched from now on: the packets
                            // relayed go on with the transcoders' streams.
                            for k in 0..2 {
                                let (ssrc, seq, ts) = p.dir[k].resume_point(now);
                                cont[1 - k].carry_on_from(ssrc, seq, ts);
                                sent_last[1 - k] = Some((ssrc, seq.wrapping_sub(1), ts, now_us));
                            }
                        }
                    }
                    continue;
                }
                Some(Ctl::Relayed(r)) => {
                    let v = match &r {
                        Some(r) => [voice_of(&r.codec, r.from_a), voice_of(&r.codec, r.from_b)],
                        None => [None, None],
                    };
                    if tc.is_none() && v != voice {
                        voice = v;
                        decoders = [None, None];
                        rec_decoders = [None, None];
                    }
                    continue;
                }
                Some(Ctl::Digit { to, digit, pt, rate, duration_ms }) => {
                    let d = usize::from(to == Side::B);
                    let rate = rate.clamp(8000, 48000);
                    inject[d] = media::dtmf::EventGen::new(digit, duration_ms.clamp(40, 2000) * rate / 1000, rate / 50).map(|g| (g, pt, None, rate));
                    inject_tick.reset();
                    continue;
                }
                Some(Ctl::CalleeDtmf(pt)) => {
                    digits[1] = pt.map(|pt| (pt, media::dtmf::Detector::default()));
                    continue;
                }
                Some(Ctl::Dtmf(how)) => {
                    digits[0] = None;
                    inband = None;
                    match how {
                        Digits::Off => {}
                        Digits::Rfc4733(pt) => digits[0] = Some((pt, media::dtmf::Detector::default())),
                        Digits::Inband => inband = Some(Box::new((media::inband::InbandDetector::default(), Vec::with_capacity(160), Vec::new()))),
                    }
                    continue;
                }
                Some(Ctl::Record(path, opus, rate, law)) => {
                    if rec.is_none() {
                        rec = Some(Box::new(Rec::start(path, opus, rate, law)));
                        rec_decoders = [None, None];
                    }
                    continue;
                }
                Some(Ctl::Stop(done)) => {
                    let now = tokio::time::Instant::now().into_std();
                    let result = match rec.take() {
                        Some(r) => Box::pin(Rec::finish(*r, now)).await,
                        None => None,
                    };
                    let _ = done.send(result);
                    return;
                }
                None => return,
            } },
            _ = tone_tick.tick(), if tone.is_some() && lent_to.is_none() => {
                if let (Some(g), Some(dst)) = (tone.as_mut(), peer[0]) {
                    match g.next_packet() {
                        Some(p) => match tc.as_mut() {
                            // A transcoded caller: the G.711 music goes
                            // through the B-to-A transcoder.
                            Some(t) => {
                                let now = tokio::time::Instant::now().into_std();
                                t.dir[1].push(now, &p);
                                send_transcoded(t, 1, &socks, &connected, &peer, &stats, &mut rec, now);
                            }
                            None => {
                                let _ = socks[0].get_ref().send_to(&p, dst);
                            }
                        },
                        None => {
                            tone = None;
                            if let Some(tx) = &events {
                                let _ = tx.send(RelayEvent::PlayDone(call.clone()));
                            }
                        }
                    }
                }
                continue;
            },
            _ = &mut tc_sleep, if tc_due.is_some() => {
                if let Some(t) = tc.as_mut() {
                    let now = tokio::time::Instant::now().into_std();
                    for k in 0..2 {
                        t.dir[k].handle_timeout(now);
                        send_transcoded(t, k, &socks, &connected, &peer, &stats, &mut rec, now);
                    }
                }
                continue;
            },
            _ = inject_tick.tick(), if inject[0].is_some() || inject[1].is_some() => {
                let now_us = epoch.elapsed().as_micros() as u64;
                for d in 0..2 {
                    let Some((g, pt, ts, rate)) = inject[d].as_mut() else { continue };
                    let Some((payload, first)) = g.next_payload() else {
                        inject[d] = None;
                        continue;
                    };
                    if let Some(t) = tc.as_mut() {
                        // Transcoded: the transcoder towards that side owns the stream.
                        let k = if d == 1 { 0 } else { 1 };
                        t.dir[k].inject_event(payload, first);
                        send_transcoded(t, k, &socks, &connected, &peer, &stats, &mut rec, tokio::time::Instant::now().into_std());
                        continue;
                    }
                    let out = if d == 1 { 2 } else { 0 };
                    let (ssrc, seq, last_ts, at) = sent_last[d].unwrap_or((0x5eed_0000 | d as u32, 0, 0, now_us));
                    // The stream's time now, in the events' clock (the
                    // relayed stream's: 8 kHz, or 48 kHz beside Opus).
                    let ev_ts = *ts.get_or_insert_with(|| last_ts.wrapping_add((now_us.saturating_sub(at) * u64::from(*rate) / 1_000_000) as u32));
                    let seq = seq.wrapping_add(1);
                    let pkt = media::rtp::build(*pt, first, seq, ev_ts, ssrc, &payload);
                    if let Some(dst) = peer[out] {
                        let _ = socks[out].get_ref().send_to(&pkt, dst);
                    }
                    // The relayed packets after it move up one.
                    cont[d].inserted();
                    sent_last[d] = Some((ssrc, seq, last_ts, at));
                }
                continue;
            },
            _ = rtcp_tick.tick(), if tc.is_some() => {
                if let Some(t) = tc.as_ref() {
                    let now = tokio::time::Instant::now().into_std();
                    let now_us = epoch.elapsed().as_micros() as u64;
                    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
                    // Side A (index 0) receives direction 1's stream and
                    // sends what rx[0] counts; B the other way round.
                    for (side, dir, sock) in [(0usize, 1usize, 1usize), (1, 0, 3)] {
                        let (Some(dst), false) = (peer[sock], side == 0 && lent_to.is_some()) else { continue };
                        let mut info = t.dir[dir].sent(now);
                        info.ntp = media::rtcp::ntp_from_unix_micros(wall);
                        let block = rx[side].report_block().map(|mut b| {
                            if let Some((mid, at)) = their_sr[side] {
                                b.lsr = mid;
                                b.dlsr = (now_us.saturating_sub(at).saturating_mul(65_536) / 1_000_000).min(u64::from(u32::MAX)) as u32;
                            }
                            b
                        });
                        let cname = socks[sock].get_ref().local_addr().map_or_else(|_| "ferroswitch".to_owned(), |a| format!("ferroswitch@{}", a.ip()));
                        let _ = socks[sock].get_ref().send_to(&media::rtcp::sender_report(&info, block.as_ref(), &cname), dst);
                    }
                }
                continue;
            },
            r = recv_any(&socks, &mut buf, next_sock, lent_to.is_some(), &mut spare, &mut pending, &mut armed) => r,
            // After the sockets: looked at once the call's packets are
            // drained, not for every packet. A packet never waits for it; a
            // checkpoint waits at most for the packets already queued.
            () = std::future::poll_fn(|cx| checkpoints.poll_due(cx)), if rec.is_some() => {
                if let Some(r) = rec.as_mut() {
                    r.recorder.advance(tokio::time::Instant::now().into_std());
                    r.write_out();
                }
                continue;
            },
        } };
        next_sock = (i + 1) % 4;
        let Ok((n, from)) = r else { continue };
        let now_us = epoch.elapsed().as_micros() as u64;
        checkpoints.saw(now_us);
        // Symmetric RTP: the first packet on a socket fixes where its side
        // is (a phone behind NAT sends from elsewhere than it announced). A
        // packet from the very address the side announced takes the latch
        // back, and once that address holds it, other sources are not
        // relayed or recorded: a stray stream that came first (a phone still
        // sending to a port reused after a crash) or one sent to guess the
        // port (RTP bleed) does not keep or share the call.
        if !latched[i] || (announced[i] == Some(from) && peer[i] != Some(from)) {
            peer[i] = Some(from);
            latched[i] = true;
        }
        if peer[i] != Some(from) && peer[i] == announced[i] {
            continue;
        }
        // A borrowed side's sockets are never connected here: they go back
        // to their owner, which knows nothing of it (it disconnected them
        // when it lent them).
        if !connected[i] && peer[i] == announced[i] && !(i >= 2 && borrowed.is_some()) {
            connected[i] = socket2::SockRef::from(socks[i].get_ref()).connect(&from.into()).is_ok();
        }
        // (Only accepted packets keep the call alive for the media timeout.)
        last.store(now_us / 1000, Ordering::Relaxed);
        if let (Some(b), 2 | 3) = (&borrowed, i) {
            b.last.store(now_us / 1000, Ordering::Relaxed);
        }
        if i == 2 && tone.is_some() {
            // The callee's media (early or answered) replaces our tone.
            tone = None;
        }
        if i % 2 == 0 {
            // One header parse per RTP packet: receive statistics, and the
            // caller's telephone events when digits are wanted.
            if let Ok(h) = media::rtp::parse(&buf[..n]) {
                let k = i / 2;
                let at = now_us;
                // This packet's audio decoded, where it is in a codec
                // other than G.711 and wanted: for the recording of a
                // relayed call (at the recording's rate), and for in-band
                // digits from the caller (at 8 kHz).
                let record_here = rec.is_some() && peer[i] == Some(from) && tc.as_ref().is_none_or(|t| t.g711[k]);
                let (mut rec_decoded, mut decoded) = (None, false);
                if let Some((_, codec)) = voice[k].filter(|(pt, _)| *pt == h.payload_type) {
                    if let (true, None, Some(r)) = (record_here, &tc, rec.as_ref()) {
                        rec_pcm.clear();
                        if let Some(d) = decoder(&mut rec_decoders[k], codec, r.recorder.rate()) {
                            rec_decoded = d.decode(h.payload, &mut rec_pcm).then(|| (codec.clock_rate(), d.rate()));
                        }
                    }
                    if i == 0 && inband.is_some() {
                        pcm.clear();
                        decoded = decoder(&mut decoders[k], codec, media::recorder::RATE).is_some_and(|d| d.decode(h.payload, &mut pcm));
                    }
                }
                if let (Some(r), true) = (rec.as_mut(), record_here) {
                    // What each side sends (its latched source only), placed
                    // by its timestamps. A
                    // transcoded side that is not G.711 is recorded from
                    // its transcoder's output instead (`send_transcoded`).
                    let at = epoch.into_std() + std::time::Duration::from_micros(now_us);
                    let side = if k == 0 { media::Side::Caller } else { media::Side::Callee };
                    match rec_decoded {
                        Some((clock, pcm_rate)) => r.recorder.push_pcm(at, side, h.ssrc, h.timestamp, clock, &rec_pcm, pcm_rate),
                        None => r.recorder.push_rtp(at, side, &h),
                    }
                    r.write_some();
                }
                let rate = tc.as_ref().map_or(8000, |t| t.rates[k]);
                rx[k].push(at, h.seq, h.timestamp, h.ssrc, rate);
                quality[k].store(rx[k].lost(), Ordering::Relaxed);
                quality[2 + k].store((rx[k].jitter_ms(rate) * 1000.0) as u64, Ordering::Relaxed);
                if let Some((_, det)) = digits[k].as_mut().filter(|(pt, _)| *pt == h.payload_type) {
                    if let (Some(d), Some(tx)) = (det.push(h.timestamp, h.payload), &events) {
                        let _ = tx.send(if k == 0 { RelayEvent::Dtmf(call.clone(), d) } else { RelayEvent::CalleeDtmf(call.clone(), d) });
                    }
                }
                if let (0, Some((det, g711_pcm, found))) = (i, inband.as_deref_mut()) {
                    let audio = match media::g711::table(h.payload_type) {
                        Some(table) => {
                            g711_pcm.clear();
                            g711_pcm.extend(h.payload.iter().map(|b| table[usize::from(*b)]));
                            Some(&g711_pcm[..])
                        }
                        None => decoded.then_some(&pcm[..]),
                    };
                    if let Some(audio) = audio {
                        det.push(audio, found);
                        for d in found.drain(..) {
                            if let Some(tx) = &events {
                                let _ = tx.send(RelayEvent::Dtmf(call.clone(), d));
                            }
                        }
                    }
                }
            }
        }
        if tc.is_some() && i % 2 == 1 {
            // Transcoded: a leg's RTCP reports on our stream and its own,
            // which the other phone never sees: kept here (its SR's time,
            // for our report blocks), not relayed.
            if let Some((_, mid)) = media::rtcp::find_sender_report(&buf[..n]) {
                their_sr[i / 2] = Some((mid, now_us));
            }
            continue;
        }
        if let (Some(t), 0 | 2) = (tc.as_mut(), i) {
            // Transcoded: the packet goes into its direction's transcoder;
            // what comes out (now or at a later timeout) goes across.
            let k = i / 2;
            let now = tokio::time::Instant::now().into_std();
            t.dir[k].push(now, &buf[..n]);
            send_transcoded(t, k, &socks, &connected, &peer, &stats, &mut rec, now);
            continue;
        }
        let out = i ^ 2; // A-rtp(0) <-> B-rtp(2), A-rtcp(1) <-> B-rtcp(3)
        // RTP only (version 2, not RTCP multiplexed on the RTP port).
        if i % 2 == 0 && n >= 12 && buf[0] >> 6 == 2 && !(200..=204).contains(&buf[1]) {
            // Keep the stream's sequence continuous around digits we sent
            // into it, and remember where it is for the next one.
            // A new source behind this side (a re-INVITE to another device)
            // is hidden from the far phone: one SSRC, no jump. A second
            // stream competing with the current one is not relayed.
            let d = usize::from(out == 2);
            match cont[d].apply(&mut buf[..n], now_us) {
                Some((ssrc, seq, ts)) => sent_last[d] = Some((ssrc, seq, ts, now_us)),
                None => continue,
            }
        }
        if send(&socks, &connected, &peer, out, &buf[..n]) && i % 2 == 0 {
            // Index 0 counts packets towards B, 1 towards A.
            stats[if i == 0 { 0 } else { 1 }].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Media for RelayPool {
    fn open(&mut self, call: &str) -> Option<(u16, u16)> {
        let (pa, a_rtp, a_rtcp) = self.bind_pair()?;
        let (pb, b_rtp, b_rtcp) = self.bind_pair()?;
        // Registered with the runtime that runs the relay.
        let shard = self.relay_runtime().cloned();
        let socks = {
            let _rt = match &shard {
                Some((h, _)) => Some(h.enter()),
                None => self.rt.as_ref().map(|rt| rt.enter()),
            };
            [to_tokio(a_rtp)?, to_tokio(a_rtcp)?, to_tokio(b_rtp)?, to_tokio(b_rtcp)?].map(Arc::new)
        };
        let (tx, rx) = inbox::<Ctl>();
        let stats = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let quality = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
        let last = Arc::new(AtomicU64::new(self.epoch.elapsed().as_millis() as u64));
        // Counted on its media thread until the task ends (returned or
        // aborted). The guard goes into the relay's own future rather than
        // an `async move` wrapper awaiting it: a wrapper's state keeps the
        // moved-in future and the awaited one side by side, twice the
        // relay's size (about 9 KiB) in every call's task.
        let on_thread = shard.as_ref().map(|(_, n)| {
            n.fetch_add(1, Ordering::Relaxed);
            OnThread(n.clone())
        });
        let relay = run(socks, rx, stats.clone(), quality.clone(), last.clone(), self.epoch, call.to_owned(), self.events.clone(), self.transcode, self.rtcp_interval, on_thread);
        let task = match shard {
            Some((h, _)) => h.spawn(relay),
            None => self.spawn(relay),
        };
        self.relays.insert(call.to_owned(), Relay { ctl: tx, stats, quality, last, task, recording: None, transcoding: false });
        Some((pa, pb))
    }

    fn transcode(&mut self, call: &str, plan: Option<b2bua::Transcode>) {
        if let Some(r) = self.relays.get_mut(call) {
            r.transcoding = plan.is_some();
            let _ = r.ctl.send(Ctl::Transcode(plan));
        }
    }

    fn relayed(&mut self, call: &str, codec: Option<b2bua::Relayed>) {
        if let Some(r) = self.relays.get(call) {
            let _ = r.ctl.send(Ctl::Relayed(codec));
        }
    }

    fn send_digit(&mut self, call: &str, to: Side, digit: char, pt: u8, rate: u32, duration_ms: u32) -> bool {
        match self.relays.get(call) {
            Some(r) => r.ctl.send(Ctl::Digit { to, digit, pt, rate, duration_ms }).is_ok(),
            None => false,
        }
    }

    fn set_peer(&mut self, call: &str, side: Side, rtp: SocketAddr) {
        if let Some(r) = self.relays.get(call) {
            let _ = r.ctl.send(Ctl::Peer(side, rtp));
        }
    }

    fn stats(&self, call: &str) -> (u64, u64) {
        self.relays
            .get(call)
            .map(|r| (r.stats[1].load(Ordering::Relaxed), r.stats[0].load(Ordering::Relaxed)))
            .unwrap_or((0, 0))
    }

    fn quality(&self, call: &str) -> b2bua::Quality {
        self.relays
            .get(call)
            .map(|r| {
                let q = |i: usize| r.quality[i].load(Ordering::Relaxed);
                // Index 0/2: the stream from A (towards B); 1/3: from B (towards A).
                b2bua::Quality { lost: (q(1), q(0)), jitter_us: (q(3), q(2)) }
            })
            .unwrap_or_default()
    }

    /// The task is aborted (or, when recording, finishes the file and
    /// ends); its sockets are released when it is dropped, a moment later
    /// (ports are reused after that).
    fn close(&mut self, call: &str) {
        if let Some(r) = self.relays.remove(call) {
            if r.recording.is_some() {
                let (tx, rx) = oneshot::channel();
                if r.ctl.send(Ctl::Stop(tx)).is_ok() {
                    self.finishing.insert(call.to_owned(), rx);
                    return;
                }
            }
            r.task.abort();
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Every relayed call's task holds this future: issue 9's memory per
    /// relayed call (<= 48 KiB) has it as its largest part. The two 2 KiB
    /// datagram buffers are most of it; state only some calls use
    /// (transcoders, recorder, in-band detector, a recording's end) is
    /// boxed so the others keep a pointer. It was 9 KiB, and spawned
    /// inside a wrapper that doubled it.
    #[tokio::test]
    async fn relay_task_stays_small() {
        let sock = || std::net::UdpSocket::bind("127.0.0.1:0").ok().and_then(to_tokio).map(Arc::new);
        let (Some(a), Some(b), Some(c), Some(d)) = (sock(), sock(), sock(), sock()) else {
            panic!("loopback sockets");
        };
        let (_tx, rx) = inbox::<Ctl>();
        let stats = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let quality = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
        let relay = run([a, b, c, d], rx, stats, quality, Arc::new(AtomicU64::new(0)), tokio::time::Instant::now(), String::new(), None, media::transcode::Config::default(), RTCP_INTERVAL, None);
        let size = std::mem::size_of_val(&relay);
        assert!(size <= 7 * 1024, "a relay's future is {size} bytes");
    }

    /// The checkpoint timer on tokio's virtual clock: due on the whole
    /// seconds after its first deadline, a packet seen before the deadline
    /// keeps it from being looked at, one seen after does not, a wake
    /// without packets finds it fired, and missed checkpoints are skipped.
    #[tokio::test(start_paused = true)]
    async fn checkpoints_fire_on_whole_seconds_and_packets_do_not_hide_them() {
        use std::task::Poll;
        use std::time::Duration;
        let epoch = tokio::time::Instant::now();
        let mut c = Checkpoints::new(epoch, epoch + Duration::from_millis(1000));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut poll = |c: &mut Checkpoints| c.poll_due(&mut cx);
        assert_eq!(poll(&mut c), Poll::Pending, "not yet due (and now registered)");
        tokio::time::advance(Duration::from_millis(990)).await;
        c.saw(990_000);
        assert_eq!(poll(&mut c), Poll::Pending, "a packet before the deadline: not due");
        tokio::time::advance(Duration::from_millis(20)).await;
        c.saw(999_000);
        assert_eq!(poll(&mut c), Poll::Pending, "a packet read before the deadline: not looked at");
        assert_eq!(poll(&mut c), Poll::Ready(()), "the wake without packets finds it fired");
        assert_eq!(poll(&mut c), Poll::Pending, "the next is a second on");
        tokio::time::advance(Duration::from_millis(1000)).await;
        c.saw(2_001_000);
        assert_eq!(poll(&mut c), Poll::Ready(()), "a packet after the deadline does not hide it");
        // Three seconds missed: one checkpoint, then on the whole second.
        tokio::time::advance(Duration::from_millis(3500)).await;
        assert_eq!(poll(&mut c), Poll::Ready(()));
        assert_eq!(c.sleep.deadline(), epoch + Duration::from_secs(6), "missed ones skipped, on whole seconds");
        assert_eq!(poll(&mut c), Poll::Pending);
    }
}
