//! Recording files are written by a thread of their own, never by a relay.
//!
//! A relay gathers a recording's audio in memory (`media::Recorder`, each
//! side's track as it came) and hands each second of it here: creating the
//! file, making the file's interleaved bytes of the two tracks
//! (`Chunk::write_to`, into one buffer of this thread's), every write and
//! its header fix-up, and the last write are jobs for one writer thread,
//! done in the order they were sent. A slow or stalled disk (dirty-page
//! throttling, a full journal, a network mount that hangs) then delays the
//! recording, never a packet: a media thread relays hundreds of calls, and a
//! write that blocked it for 200 ms would be heard on all of them.
//!
//! The writer keeps each file's length and fixes the WAV header to name it
//! after every write, so a file cut short by `kill -9` is a valid WAV of
//! what was written. What is queued and not yet written is bounded
//! ([`MAX_QUEUED`]): past it, new audio is dropped (and the loss logged)
//! rather than held without limit while the disk does not take it.
//!
//! The fsync, rename and Ogg Opus conversion of a finished recording are
//! slower still and stay on tokio's blocking pool (`relay.rs`); the writer
//! only gives the file back once everything sent for it is written.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;

use tokio::sync::oneshot;

/// Audio bytes queued to the writer and not yet written, over which new
/// audio is dropped: 256 MiB is about 4 s of what 2,000 recorded calls
/// write at 8 kHz (2 s at 16 kHz), or over a minute of 100 calls, far more
/// than a healthy disk ever lets gather.
pub(crate) const MAX_QUEUED: usize = 256 << 20;

/// Bytes queued and not yet written, all recordings.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

/// Buffers written and given back, for the relays' next outputs (their
/// memory is in use already: no allocation, no page faults, no zeroing),
/// and the bytes of memory they hold.
static SPARE: std::sync::Mutex<(Vec<Vec<u8>>, usize)> = std::sync::Mutex::new((Vec::new(), 0));

/// Memory kept in [`SPARE`] at most (more is freed): a second of output
/// for 2,000 calls recorded at 8 kHz in 16-bit PCM. Kept by count, 256
/// buffers, a relay pool of 500 recorded calls got fresh, empty buffers
/// for half of them every second, grown by doubling (copied, and new
/// pages faulted in) as each second's audio came.
const MAX_SPARE_BYTES: usize = 64 << 20;

/// A buffer for a recording's next output, of at least `capacity`
/// bytes: one given back, or a new one.
pub(crate) fn spare(capacity: usize) -> Vec<u8> {
    let mut buf = SPARE
        .lock()
        .ok()
        .and_then(|mut s| {
            let b = s.0.pop()?;
            s.1 = s.1.saturating_sub(b.capacity());
            Some(b)
        })
        .unwrap_or_default();
    // Its bytes stay (they are written over, not zeroed first); room is
    // made for the rest.
    buf.reserve(capacity.saturating_sub(buf.len()));
    buf
}

fn give_back(buf: Vec<u8>) {
    if let Ok(mut s) = SPARE.lock() {
        if s.1 + buf.capacity() <= MAX_SPARE_BYTES {
            s.1 += buf.capacity();
            s.0.push(buf);
        }
    }
}

/// Audio bytes dropped because the writer was too far behind, all recordings.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Audio bytes waiting for the writer, and bytes dropped so far because it
/// was too far behind (both for metrics).
pub fn backlog() -> (u64, u64) {
    (QUEUED.load(Ordering::Relaxed) as u64, DROPPED.load(Ordering::Relaxed))
}

/// Recording ids, to name a file in the writer's jobs.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

enum Job {
    /// Create `part` (and its directory) and write a header naming no audio.
    Open { id: u64, part: PathBuf, rate: u32, enc: media::wav::Encoding },
    /// Append `data`'s frames, then fix the header up to name everything
    /// written.
    Write { id: u64, data: media::recorder::Chunk },
    /// Append `data`'s frames, fix the header, give the file and its audio
    /// length back.
    Close { id: u64, data: media::recorder::Chunk, done: oneshot::Sender<Option<(File, u64)>> },
    /// The recording was dropped without being closed: close the file.
    Forget { id: u64 },
}

struct Open {
    file: File,
    part: PathBuf,
    rate: u32,
    enc: media::wav::Encoding,
    /// The header's length.
    header: u64,
    /// Audio bytes written (after the header).
    bytes: u64,
    /// Audio past the last page boundary written, for the next write.
    carry: Vec<u8>,
    /// A write failed (logged once).
    failed: bool,
}

fn writer() -> Option<&'static mpsc::Sender<Job>> {
    static TX: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        match std::thread::Builder::new().name("rec-writer".into()).spawn(move || run(rx)) {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the recording writer thread; calls will not be recorded");
                None
            }
        }
    })
    .as_ref()
}

fn send(job: Job) -> bool {
    writer().is_some_and(|w| w.send(job).is_ok())
}

/// How long the writer lets jobs gather after the first one before it
/// writes them all: one wake-up for the writes of many calls. Woken per
/// job (every call's write once a second), the thread spent more on
/// waking, and on preempting the media threads, than on writing.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);

fn run(rx: mpsc::Receiver<Job>) {
    let mut files: HashMap<u64, Open> = HashMap::new();
    // The file's bytes of each recording's audio are made here, from the
    // sides' tracks, into this one buffer (it stays in the cache) and
    // written from it.
    let mut bytes: Vec<u8> = Vec::new();
    while let Ok(first) = rx.recv() {
        std::thread::sleep(GATHER);
        let mut next = Some(first);
        while let Some(job) = next.take().or_else(|| rx.try_recv().ok()) {
            handle(&mut files, job, &mut bytes);
        }
    }
}

fn handle(files: &mut HashMap<u64, Open>, job: Job, bytes: &mut Vec<u8>) {
        match job {
            Job::Open { id, part, rate, enc } => {
                if let Some(dir) = part.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let header = media::wav::header_for(enc, 2, rate, 0);
                let opened = File::create(&part).and_then(|mut f| f.write_all(header.bytes()).map(|()| f));
                match opened {
                    Ok(file) => {
                        files.insert(id, Open { file, part, rate, enc, header: header.bytes().len() as u64, bytes: 0, carry: Vec::new(), failed: false });
                    }
                    Err(e) => tracing::error!(path = %part.display(), error = %e, "cannot create the recording file"),
                }
            }
            Job::Write { id, data } => {
                QUEUED.fetch_sub(data.len(), Ordering::Relaxed);
                if let Some(f) = files.get_mut(&id) {
                    bytes.clear();
                    data.write_to(bytes);
                    f.append(bytes, false);
                }
                for b in data.into_buffers() {
                    give_back(b);
                }
            }
            Job::Close { id, data, done } => {
                QUEUED.fetch_sub(data.len(), Ordering::Relaxed);
                let out = files.remove(&id).map(|mut f| {
                    bytes.clear();
                    data.write_to(bytes);
                    f.append(bytes, true);
                    (f.file, f.bytes)
                });
                let _ = done.send(out);
            }
            Job::Forget { id } => {
                files.remove(&id);
            }
        }
}

/// Writes end on a page boundary of the file: a write that ends inside a
/// page left the filesystem zeroing the rest of that new page, which the
/// next write then filled again (in a profile of 500 recorded calls, the
/// zeroing was about a sixth of the writer's samples). The audio past the
/// last boundary waits for the next write (less than a page: 0.13 s of
/// 16-bit stereo at 8 kHz, 0.26 s of G.711: what a `kill -9` can lose
/// more), and the last write takes everything.
const PAGE: u64 = 4096;

/// Write `a` then `b`, in one system call where it takes them.
fn write_both(f: &mut File, a: &[u8], b: &[u8]) -> std::io::Result<()> {
    let n = f.write_vectored(&[std::io::IoSlice::new(a), std::io::IoSlice::new(b)])?;
    if n < a.len() {
        f.write_all(&a[n..])?;
        f.write_all(b)
    } else {
        f.write_all(&b[n - a.len()..])
    }
}

impl Open {
    /// Append audio (up to the last page boundary, or all of it when it is
    /// the `last`) and make the header name all that is written: one
    /// write and one positioned write of the header (44 bytes, 58 for
    /// G.711).
    fn append(&mut self, data: &[u8], last: bool) {
        let at = self.header + self.bytes;
        let have = (self.carry.len() + data.len()) as u64;
        let n = if last { have } else { ((at + have) / PAGE * PAGE).saturating_sub(at) };
        if n == 0 {
            self.carry.extend_from_slice(data);
            return;
        }
        // (`n` covers the carried bytes: they are less than a page, and
        // all of them lie before the boundary the write ends on.)
        let from_data = (n as usize).saturating_sub(self.carry.len());
        let written = write_both(&mut self.file, &self.carry, &data[..from_data]);
        self.carry.clear();
        self.carry.extend_from_slice(&data[from_data..]);
        match written {
            Ok(()) => {
                self.bytes += n;
                let len = u32::try_from(self.bytes).unwrap_or(u32::MAX);
                let _ = self.file.write_at(media::wav::header_for(self.enc, 2, self.rate, len).bytes(), 0);
            }
            Err(e) if !self.failed => {
                self.failed = true;
                tracing::error!(path = %self.part.display(), error = %e, "cannot write the recording; its audio from here on is lost");
            }
            Err(_) => {}
        }
    }
}

/// A recording's file, as the relay sees it: every operation is a job for
/// the writer thread.
pub(crate) struct RecFile {
    id: u64,
    closed: bool,
    /// Audio of this recording was dropped because the writer was too far
    /// behind (logged once per recording).
    dropping: bool,
}

impl RecFile {
    /// Create `part` (a stereo WAV at `rate`, its samples in `enc`), on
    /// the writer thread.
    pub(crate) fn create(part: PathBuf, rate: u32, enc: media::wav::Encoding) -> RecFile {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        send(Job::Open { id, part, rate, enc });
        RecFile { id, closed: false, dropping: false }
    }

    /// Queue audio to be appended (dropped, and the loss logged, while the
    /// writer is more than [`MAX_QUEUED`] behind).
    pub(crate) fn write(&mut self, data: media::recorder::Chunk) {
        if data.is_empty() {
            return;
        }
        if QUEUED.load(Ordering::Relaxed) >= MAX_QUEUED {
            if !self.dropping {
                tracing::error!(queued = MAX_QUEUED, "the recording writer is too far behind (the disk does not keep up): dropping recorded audio");
            }
            self.dropping = true;
            DROPPED.fetch_add(data.len() as u64, Ordering::Relaxed);
            return;
        }
        QUEUED.fetch_add(data.len(), Ordering::Relaxed);
        let n = data.len();
        if !send(Job::Write { id: self.id, data }) {
            QUEUED.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Queue the last audio and wait until everything sent for this file is
    /// written: the file and its audio length in bytes, or `None` if it
    /// could not be created.
    pub(crate) async fn close(mut self, data: media::recorder::Chunk) -> Option<(File, u64)> {
        self.closed = true;
        let (done, result) = oneshot::channel();
        let n = data.len();
        QUEUED.fetch_add(n, Ordering::Relaxed);
        if !send(Job::Close { id: self.id, data, done }) {
            QUEUED.fetch_sub(n, Ordering::Relaxed);
            return None;
        }
        result.await.ok().flatten()
    }
}

impl Drop for RecFile {
    fn drop(&mut self) {
        if !self.closed {
            send(Job::Forget { id: self.id });
        }
    }
}

/// Make whole a recording a crash cut short, at the next start: `path` is
/// where the finished recording goes (`NAME.wav`), the writer's file
/// `NAME.wav.part`. Its header is made to name all the whole frames the
/// file holds (the writer fixes it after each write, so it can lag one
/// write behind), a torn last frame is cut off, and the file is made
/// durable and renamed to `path` (then converted to Ogg Opus when `opus`).
/// A recording that was finished before the crash (no `.part`, the WAV or
/// its `.opus` there) is taken as it is, or converted if the conversion
/// was cut. `None`, with the reason logged, when there is nothing to link
/// or the file is not one of our recordings (it is left as it was).
pub fn finish_cut(path: &Path, opus: bool) -> Option<PathBuf> {
    let part = path.with_extension("wav.part");
    let wav = match std::fs::OpenOptions::new().read(true).write(true).open(&part) {
        Ok(file) => match make_whole(&file) {
            Ok(Some(h)) => match file.sync_all().and_then(|()| std::fs::rename(&part, path)) {
                Ok(()) => {
                    if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
                        // The rename itself made durable.
                        let _ = dir.sync_all();
                    }
                    tracing::info!(path = %path.display(), seconds = h.1 / u64::from(h.0.rate.max(1)), "a recording cut by the last stop was finished");
                    Some(h)
                }
                Err(e) => {
                    tracing::error!(path = %part.display(), error = %e, "cannot finish a recording cut by the last stop");
                    return None;
                }
            },
            Ok(None) => {
                tracing::warn!(path = %part.display(), "not a recording this switch wrote; left as it is");
                return None;
            }
            Err(e) => {
                tracing::error!(path = %part.display(), error = %e, "cannot finish a recording cut by the last stop");
                return None;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Finished before the crash: converted, or to be.
            let converted = path.with_extension("opus");
            if converted.exists() {
                return Some(converted);
            }
            if !path.exists() {
                tracing::warn!(path = %part.display(), "the recording of an interrupted call is not there");
                return None;
            }
            if !opus {
                return Some(path.to_path_buf());
            }
            File::open(path).ok().and_then(|f| read_back(&f).ok().flatten())
        }
        Err(e) => {
            tracing::error!(path = %part.display(), error = %e, "cannot open a recording cut by the last stop");
            return None;
        }
    };
    let (h, frames) = wav?;
    if opus {
        return Some(crate::relay::to_opus(path, frames, h.rate, h.enc).unwrap_or_else(|| path.to_path_buf()));
    }
    Some(path.to_path_buf())
}

/// Bytes of one frame (a sample of each channel).
fn frame_bytes(h: &media::wav::Parsed) -> u64 {
    (u64::from(h.channels) * h.enc.sample_bytes() as u64).max(1)
}

/// A recording's header read back, and the whole frames the file holds;
/// `None` if the header is not one this switch writes.
fn read_back(file: &File) -> std::io::Result<Option<(media::wav::Parsed, u64)>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(58);
    file.take(58).read_to_end(&mut head)?;
    let Some(h) = media::wav::parse_header(&head) else { return Ok(None) };
    // A WAV names at most 4 GiB of audio (37 hours of 16-bit stereo at 8 kHz).
    let frame = frame_bytes(&h);
    Ok(Some((h, (file.metadata()?.len().saturating_sub(h.header_len as u64) / frame).min(u64::from(u32::MAX) / frame))))
}

/// Cut a `.part` file to whole frames and make its header name them all:
/// the header read back and the frames, or `None` if the header is not
/// one this switch writes.
fn make_whole(file: &File) -> std::io::Result<Option<(media::wav::Parsed, u64)>> {
    let Some((h, frames)) = read_back(file)? else { return Ok(None) };
    let audio = frames * frame_bytes(&h);
    file.set_len(h.header_len as u64 + audio)?;
    file.write_all_at(media::wav::header_for(h.enc, h.channels, h.rate, audio as u32).bytes(), 0)?;
    Ok(Some((h, frames)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the writer cannot write (its file is a FIFO nobody reads yet,
    /// so opening it blocks), what waits for it stops growing at
    /// [`MAX_QUEUED`]: the rest is dropped and counted. Once the file
    /// opens, everything queued is written, in order, after the header.
    #[test]
    fn audio_past_the_bound_is_dropped_and_counted_while_the_writer_is_stuck() {
        let dir = std::env::temp_dir().join(format!("ferroswitch-rec-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let part = dir.join("bound.wav.part");
        let _ = std::fs::remove_file(&part);
        assert!(std::process::Command::new("mkfifo").arg(&part).status().expect("mkfifo runs").success());
        let law = media::g711::Law::Mulaw;
        let mut file = RecFile::create(part.clone(), 8000, media::wav::Encoding::G711(law));
        const CHUNK: usize = 1 << 20;
        let (_, dropped_before) = backlog();
        for k in 0..MAX_QUEUED / CHUNK + 8 {
            // Each chunk says which it is, to check the order written.
            file.write(media::recorder::Chunk::g711(law, [vec![k as u8; CHUNK / 2], vec![k as u8; CHUNK / 2]]));
        }
        let (queued, dropped) = backlog();
        assert_eq!(queued, MAX_QUEUED as u64, "queued up to the bound, not past it");
        assert_eq!(dropped - dropped_before, 8 * CHUNK as u64, "the rest dropped and counted");
        // Let the writer open the file and drain what it writes.
        let reader = std::thread::spawn(move || std::fs::read(part).expect("read the FIFO"));
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let closed = rt.block_on(file.close(media::recorder::Chunk::g711(law, [vec![0xee; 2], vec![0xee; 2]])));
        let (_, bytes) = closed.expect("the file was written and given back");
        assert_eq!(bytes, MAX_QUEUED as u64 + 4);
        // Dropping the FIFO's writer end ends the reader.
        let written = reader.join().expect("reader");
        let _ = std::fs::remove_dir_all(&dir);
        let header = media::wav::header_for(media::wav::Encoding::G711(law), 2, 8000, 0).bytes().len();
        assert_eq!(written.len(), header + MAX_QUEUED + 4);
        assert!(written.starts_with(b"RIFF"));
        let audio = &written[header..];
        assert!(audio.chunks(CHUNK).take(MAX_QUEUED / CHUNK).enumerate().all(|(k, c)| c.iter().all(|b| *b == k as u8)), "in the order sent");
        assert_eq!(&audio[MAX_QUEUED..], &[0xee; 4], "the last write last");
        assert_eq!(backlog().0, 0, "nothing left waiting");
    }

    /// Each write but the last ends on a page boundary of the file, what
    /// is past it carried (less than a page) to the next, and the header
    /// names exactly the audio in the file after every write; the last
    /// write takes everything, in order.
    #[test]
    fn writes_end_on_page_boundaries_and_the_last_takes_the_rest() {
        let dir = std::env::temp_dir().join(format!("ferroswitch-rec-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for enc in [media::wav::Encoding::Pcm16, media::wav::Encoding::G711(media::g711::Law::Mulaw)] {
            let part = dir.join("pages.wav.part");
            let header = media::wav::header_for(enc, 2, 8000, 0);
            let mut file = File::create(&part).expect("create");
            file.write_all(header.bytes()).expect("header");
            let mut f = Open { file, part: part.clone(), rate: 8000, enc, header: header.bytes().len() as u64, bytes: 0, carry: Vec::new(), failed: false };
            let mut sent = Vec::new();
            for (k, size) in [10usize, 3000, 16000, 4096, 1, 32000, 7, 0, 12345].into_iter().enumerate() {
                let chunk: Vec<u8> = (0..size).map(|i| (k * 31 + i) as u8).collect();
                f.append(&chunk, false);
                sent.extend_from_slice(&chunk);
                let on_disk = std::fs::metadata(&part).expect("len").len();
                assert_eq!(on_disk, f.header + f.bytes, "the file holds what is counted");
                assert!(f.bytes == 0 || on_disk.is_multiple_of(PAGE), "write {k} ended inside a page: {on_disk}");
                assert!((f.carry.len() as u64) < PAGE && f.bytes + f.carry.len() as u64 == sent.len() as u64);
                let h = std::fs::read(&part).expect("read");
                let named = media::wav::header_for(enc, 2, 8000, f.bytes as u32);
                assert_eq!(&h[..named.bytes().len()], named.bytes(), "the header names what is written");
            }
            f.append(&[9, 9, 9], true);
            sent.extend_from_slice(&[9, 9, 9]);
            let h = std::fs::read(&part).expect("read");
            assert_eq!(&h[f.header as usize..], &sent[..], "everything, in order");
            assert!(f.carry.is_empty());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A recording a crash cut short is made whole at the next start: its
    /// header made to name every whole frame in the file (also those of
    /// the write the header had not caught up with), the torn frame cut,
    /// the file renamed; finished recordings are taken as they are;
    /// anything else is left alone.
    #[test]
    fn a_cut_recording_is_made_whole_and_named() {
        let dir = std::env::temp_dir().join(format!("ferroswitch-rec-cut-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for (enc, name) in [(media::wav::Encoding::Pcm16, "cut16.wav"), (media::wav::Encoding::G711(media::g711::Law::Alaw), "cuta.wav")] {
            let path = dir.join(name);
            let part = path.with_extension("wav.part");
            let header = media::wav::header_for(enc, 2, 8000, 0);
            let mut file = File::create(&part).expect("create");
            file.write_all(header.bytes()).expect("header");
            let mut f = Open { file, part: part.clone(), rate: 8000, enc, header: header.bytes().len() as u64, bytes: 0, carry: Vec::new(), failed: false };
            let audio: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
            f.append(&audio[..9000], false);
            let named = f.bytes;
            assert!(named > 0);
            // Killed after the next write, before its header fix-up, in the
            // middle of a frame.
            let frame = 2 * enc.sample_bytes();
            let more = 5000 + frame - 1;
            f.file.write_all(&audio[named as usize..named as usize + more]).expect("write");
            drop(f);
            let got = finish_cut(&path, false).expect("finished");
            assert_eq!(got, path);
            assert!(!part.exists(), "the .part is gone");
            let data = std::fs::read(&path).expect("read");
            let whole = (named as usize + more) / frame * frame;
            let h = media::wav::parse_header(&data).expect("our header");
            assert_eq!((h.enc, h.channels, h.rate, h.data_len as usize), (enc, 2, 8000, whole), "the header names every whole frame");
            assert_eq!(&data[h.header_len..], &audio[..whole], "the audio as written, the torn frame cut");
            // Asked again (a second crash before the CDR was written): the
            // finished file as it is.
            assert_eq!(finish_cut(&path, false), Some(path.clone()));
            assert_eq!(std::fs::read(&path).expect("read"), data);
        }
        // Not one of ours: left alone.
        let odd = dir.join("odd.wav");
        std::fs::write(odd.with_extension("wav.part"), b"RIFF....WAVEjunk").expect("write");
        assert_eq!(finish_cut(&odd, false), None);
        assert!(odd.with_extension("wav.part").exists() && !odd.exists());
        // Nothing there.
        assert_eq!(finish_cut(&dir.join("none.wav"), false), None);
        // A finished WAV whose conversion to Ogg Opus was cut: converted now.
        let done = dir.join("cut16.wav");
        let opus = finish_cut(&done, true).expect("converted");
        assert_eq!(opus, dir.join("cut16.opus"));
        assert!(std::fs::read(&opus).expect("read").starts_with(b"OggS") && !done.exists());
        assert_eq!(finish_cut(&done, true), Some(opus), "then taken as it is");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
