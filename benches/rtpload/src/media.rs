//! The RTP side: worker threads that send every call's packets on a
//! schedule spread over the 20 ms period and receive them back.
//!
//! Calls are spread over the workers by id (`id % threads`). Each worker
//! owns `sockets` UDP sockets on the caller's address (side A) and as many
//! on the callee's (side B); its calls are spread over them, so one
//! `sendmmsg` carries every packet of a socket that is due in a time slot.
//! The relay under test still has its own ports per call: the packets of
//! two calls that share a generator socket go to different relay ports and
//! come back from different relay ports.
//!
//! Every packet is a 12-byte RTP header (PCMU, payload type 0, or PCMA,
//! 8, with `--alaw`) and 160 bytes of payload, which starts with a marker, the call id, the
//! direction, a counter and the send time (CLOCK_REALTIME, ns, written
//! right before the `sendmmsg`). The receive time is the kernel's
//! (`SO_TIMESTAMPNS`, the same clock), so the latency does not include the
//! generator's own delay in reading its sockets, which it does once per
//! time slot (so each `recvmmsg` gets many packets).

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::socket::{recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn};
use nix::sys::time::TimeSpec;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// RTP header + payload.
pub const PACKET: usize = 12 + 160;
const MAGIC: &[u8; 4] = b"RTPL";
/// Packets per `sendmmsg` / `recvmmsg`.
const BATCH: usize = 64;
/// Latency histogram: 1 µs buckets up to this (larger values go to the last).
const HIST_US: usize = 200_000;
/// The RTP packet interval.
pub const PERIOD: Duration = Duration::from_millis(20);

/// Realtime clock in ns (the clock `SO_TIMESTAMPNS` uses).
pub fn realtime_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Transcoded mode (`--opus-caller`): the Opus frames the caller sends in
/// turn (payload type 111, 48 kHz clock), where it otherwise sends PCMU.
/// The relay then transcodes both ways, so what comes back carries none of
/// our markers: it is counted by side and receive time only.
/// Index 0: fullband frames; 1: narrowband (for a call whose answer said
/// `maxplaybackrate=8000`, as a libopus phone would then send).
pub static OPUS_FRAMES: std::sync::OnceLock<[Vec<Vec<u8>>; 2]> = std::sync::OnceLock::new();

/// How much later than the sending window the transcoded packets' receive
/// window lies (more than the transcoder's delay, less than `--drain`).
const TRANSCODED_SHIFT_NS: u64 = 100_000_000;

/// What workers share with the main thread.
pub struct Shared {
    /// The measurement window, realtime ns ([start, end)); 0 = not set yet.
    pub window_start: AtomicU64,
    pub window_end: AtomicU64,
    /// Stop streaming and return the statistics.
    pub stop: AtomicBool,
    /// When slot 0 of the schedule is.
    pub epoch: Instant,
    /// Time slots per 20 ms period.
    pub slots: usize,
    pub threads: usize,
}

/// A call whose both relay ports are known: start streaming.
#[derive(Clone, Copy, Debug)]
pub struct NewCall {
    pub id: u32,
    /// Where side A (the caller) sends: the relay's port for the caller.
    pub a_dst: SocketAddrV4,
    /// Where side B (the callee) sends.
    pub b_dst: SocketAddrV4,
    /// Send narrowband Opus (`--opus-caller`).
    pub narrowband: bool,
}

#[derive(Clone, Copy)]
struct Call {
    id: u32,
    sock: usize,
    dst: [SockaddrIn; 2],
    seq: [u16; 2],
    ts: [u32; 2],
    count: u32,
    narrowband: bool,
}

/// What a worker measured.
#[derive(Default)]
pub struct Stats {
    /// Packets stamped inside the window and handed to the kernel.
    pub sent: u64,
    /// Of those, received back.
    pub received: u64,
    /// Packets the kernel refused to send (any time).
    pub send_errors: u64,
    /// Received packets that were not ours, or too short.
    pub foreign: u64,
    /// Received without a kernel timestamp (the read time was used).
    pub no_kernel_ts: u64,
    /// Per stream (call id * 2 + direction) inside the window: sent, received.
    pub streams: Vec<(u32, u32)>,
    /// One-way latency of the window's packets, 1 µs buckets.
    pub hist: Vec<u64>,
    /// How late the worker served its time slots, 10 µs buckets (to 100 ms).
    pub late: Vec<u64>,
    /// Wall and busy (not waiting in ppoll) time inside the window, ns.
    pub wall_ns: u64,
    pub busy_ns: u64,
    /// Transcoded mode: packets received inside the window by the
    /// caller's sockets (index 1: callee to caller) and the callee's (0).
    pub unmarked: [u64; 2],
}

/// A worker's sockets, bound before the worker starts (their ports go
/// into the SDP).
pub struct Sockets {
    pub a: Vec<UdpSocket>,
    pub b: Vec<UdpSocket>,
}

impl Sockets {
    /// `n` sockets on each side, non-blocking, with large buffers and
    /// kernel receive timestamps.
    pub fn bind(caller_ip: std::net::Ipv4Addr, callee_ip: std::net::Ipv4Addr, n: usize, buf: usize) -> std::io::Result<Sockets> {
        let mk = |ip| -> std::io::Result<UdpSocket> {
            let s = UdpSocket::bind(SocketAddrV4::new(ip, 0))?;
            s.set_nonblocking(true)?;
            setsockopt(&s, sockopt::RcvBuf, &buf)?;
            setsockopt(&s, sockopt::SndBuf, &buf)?;
            setsockopt(&s, sockopt::ReceiveTimestampns, &true)?;
            Ok(s)
        };
        Ok(Sockets { a: (0..n).map(|_| mk(caller_ip)).collect::<Result<_, _>>()?, b: (0..n).map(|_| mk(callee_ip)).collect::<Result<_, _>>()? })
    }

    /// Local address of socket `k` of side A (`b == false`) or B.
    pub fn addr(&self, b: bool, k: usize) -> SocketAddrV4 {
        let s = if b { &self.b[k] } else { &self.a[k] };
        match s.local_addr() {
            Ok(SocketAddr::V4(a)) => a,
            _ => SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0),
        }
    }
}

/// The socket index (within its worker) that call `id` uses on both sides.
pub fn socket_of(id: u32, threads: usize, sockets: usize) -> (usize, usize) {
    let w = id as usize % threads;
    (w, (id as usize / threads) % sockets)
}

/// Run one worker until `shared.stop`.
pub fn run(w: usize, socks: Sockets, calls_rx: Receiver<NewCall>, shared: Arc<Shared>, max_calls: usize) -> Stats {
    let (pt, _) = crate::sip::g711();
    let k = socks.a.len();
    let slots = shared.slots;
    let slot_len = PERIOD / slots as u32;
    let local_cap = max_calls / shared.threads + 1;
    let mut calls: Vec<Option<Call>> = vec![None; local_cap];
    let mut wheel: Vec<Vec<u32>> = vec![Vec::new(); slots];
    let mut st = Stats { streams: vec![(0, 0); local_cap * 2], hist: vec![0; HIST_US + 1], late: vec![0; 10_001], ..Stats::default() };
    // Outgoing packets per socket (side A sockets 0..k, side B k..2k).
    let mut out: Vec<Vec<([u8; PACKET], usize, SockaddrIn, u32)>> = vec![Vec::new(); 2 * k];
    let opus = OPUS_FRAMES.get();
    let mut send_hdr = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let cmsg = nix::cmsg_space!(TimeSpec);
    let mut recv_hdr = MultiHeaders::<SockaddrIn>::preallocate(BATCH, Some(cmsg.clone()));
    let mut rbufs = vec![[0u8; 256]; BATCH];
    // The next slot to serve (absolute index since the epoch).
    let mut next_slot: u64 = 0;
    let mut window_seen = false;
    let (mut wall0, mut busy_acc, mut in_window) = (Instant::now(), 0u64, false);
    let all: Vec<&UdpSocket> = socks.a.iter().chain(socks.b.iter()).collect();
    let mut readable: Vec<usize> = Vec::with_capacity(all.len());
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let ws = shared.window_start.load(Ordering::Relaxed);
        let we = shared.window_end.load(Ordering::Relaxed);
        // New calls join the wheel at their slot.
        while let Ok(c) = calls_rx.try_recv() {
            let local = c.id as usize / shared.threads;
            if local >= calls.len() {
                continue;
            }
            let (_, sock) = socket_of(c.id, shared.threads, k);
            calls[local] = Some(Call { id: c.id, sock, dst: [SockaddrIn::from(c.a_dst), SockaddrIn::from(c.b_dst)], seq: [0; 2], ts: [0; 2], count: 0, narrowband: c.narrowband });
            wheel[c.id as usize % slots].push(local as u32);
        }
        let now = Instant::now();
        let rt_now = realtime_ns();
        if !window_seen && ws != 0 && rt_now >= ws {
            window_seen = true;
            in_window = true;
            wall0 = now;
            busy_acc = 0;
        }
        if in_window && we != 0 && rt_now >= we {
            in_window = false;
            st.wall_ns = now.duration_since(wall0).as_nanos() as u64;
            st.busy_ns = busy_acc;
        }
        let busy_start = now;
        // Every slot whose time has come.
        loop {
            let due = shared.epoch + slot_len * (next_slot as u32);
            if due > now {
                break;
            }
            let late_us = now.duration_since(due).as_micros() as usize;
            st.late[(late_us / 10).min(10_000)] += 1;
            for &local in &wheel[(next_slot % slots as u64) as usize] {
                let Some(c) = calls[local as usize].as_mut() else { continue };
                for dir in 0..2 {
                    let mut p = [0xffu8; PACKET];
                    p[0] = 0x80;
                    p[1] = pt; // PCMU or PCMA
                    p[2..4].copy_from_slice(&c.seq[dir].to_be_bytes());
                    p[4..8].copy_from_slice(&c.ts[dir].to_be_bytes());
                    p[8..12].copy_from_slice(&(0x5000_0000u32 ^ (c.id * 2 + dir as u32)).to_be_bytes());
                    p[12..16].copy_from_slice(MAGIC);
                    p[16..20].copy_from_slice(&c.id.to_be_bytes());
                    p[20] = dir as u8;
                    p[21..25].copy_from_slice(&c.count.to_be_bytes());
                    let mut len = PACKET;
                    let mut step = 160;
                    if let (0, Some(frames)) = (dir, opus) {
                        // The caller speaks Opus: a real frame, 20 ms at 48 kHz.
                        let set = &frames[usize::from(c.narrowband)];
                        let f = &set[c.count as usize % set.len()];
                        p[1] = 111;
                        p[12..12 + f.len()].copy_from_slice(f);
                        len = 12 + f.len();
                        step = 960;
                    }
                    c.seq[dir] = c.seq[dir].wrapping_add(1);
                    c.ts[dir] = c.ts[dir].wrapping_add(step);
                    out[dir * k + c.sock].push((p, len, c.dst[dir], local * 2 + dir as u32));
                }
                c.count = c.count.wrapping_add(1);
            }
            next_slot += 1;
            // Far behind (the machine is overloaded): do not send a burst of
            // old slots, skip to the present; the lateness shows it.
            if now.duration_since(due) > PERIOD * 5 {
                let behind = (now.duration_since(shared.epoch).as_nanos() / slot_len.as_nanos()) as u64;
                next_slot = next_slot.max(behind);
            }
        }
        // Send, one sendmmsg per socket and batch, stamped right before.
        for (i, q) in out.iter_mut().enumerate() {
            if q.is_empty() {
                continue;
            }
            let sock = all[i];
            for chunk in q.chunks_mut(BATCH) {
                let t = realtime_ns();
                for (p, len, _, _) in chunk.iter_mut() {
                    if *len == PACKET {
                        p[25..33].copy_from_slice(&t.to_be_bytes());
                    }
                }
                let iovs: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(p, len, _, _)| [IoSlice::new(&p[..*len])]).collect();
                let addrs: Vec<Option<SockaddrIn>> = chunk.iter().map(|(_, _, a, _)| Some(*a)).collect();
                let sent = match sendmmsg(sock.as_raw_fd(), &mut send_hdr, &iovs, &addrs, [], MsgFlags::MSG_DONTWAIT) {
                    Ok(r) => r.count(),
                    Err(_) => 0,
                };
                st.send_errors += (chunk.len() - sent) as u64;
                if t >= ws && ws != 0 && t < we {
                    st.sent += sent as u64;
                    for (_, _, _, s) in &chunk[..sent] {
                        st.streams[*s as usize].0 += 1;
                    }
                }
            }
            q.clear();
        }
        // Sleep until the next slot, then read every socket that has
        // packets. Reading once per slot (not on every arrival) batches the
        // reads; the latency is unaffected, it uses the kernel's receive time.
        let after = Instant::now();
        if in_window {
            busy_acc += after.duration_since(busy_start).as_nanos() as u64;
        }
        let due = shared.epoch + slot_len * (next_slot as u32);
        if due > after {
            std::thread::sleep((due - after).min(Duration::from_millis(5)));
        }
        readable.clear();
        {
            let mut fds: Vec<PollFd<'_>> = all.iter().map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)).collect();
            if ppoll(&mut fds, Some(TimeSpec::from_duration(Duration::ZERO)), None).unwrap_or(0) > 0 {
                readable.extend(fds.iter().enumerate().filter(|(_, f)| f.any().unwrap_or(false)).map(|(i, _)| i));
            }
        }
        let busy_start = Instant::now();
        for &i in &readable {
            let sock = all[i];
            loop {
                let n;
                {
                    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = rbufs.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
                    let res = match recvmmsg(sock.as_raw_fd(), &mut recv_hdr, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                        Ok(r) => r,
                        Err(_) => break,
                    };
                    let mut got = 0;
                    let mut truncated = false;
                    for m in res {
                        got += 1;
                        let mut kts = None;
                        match m.cmsgs() {
                            Ok(it) => {
                                for c in it {
                                    if let ControlMessageOwned::ScmTimestampns(ts) = c {
                                        kts = Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64);
                                    }
                                }
                            }
                            Err(_) => truncated = true,
                        }
                        let Some(data) = m.iovs().next() else { continue };
                        account(&mut st, data, m.bytes, kts, ws, we, shared.threads, usize::from(i < k));
                    }
                    if truncated {
                        // The kernel shrank a header's control length; start afresh.
                        recv_hdr = MultiHeaders::<SockaddrIn>::preallocate(BATCH, Some(cmsg.clone()));
                    }
                    n = got;
                }
                if n < BATCH {
                    break;
                }
            }
        }
        if in_window {
            busy_acc += busy_start.elapsed().as_nanos() as u64;
        }
    }
    if in_window {
        st.wall_ns = Instant::now().duration_since(wall0).as_nanos() as u64;
        st.busy_ns = busy_acc;
    }
    let _ = w;
    st
}

/// `side`: 1 when a caller's socket received it (the callee-to-caller
/// direction), 0 for a callee's.
#[allow(clippy::too_many_arguments)]
fn account(st: &mut Stats, data: &[u8], bytes: usize, kts: Option<u64>, ws: u64, we: u64, threads: usize, side: usize) {
    let data = &data[..bytes.min(data.len())];
    if data.len() < 33 || &data[12..16] != MAGIC {
        st.foreign += 1;
        // Transcoded: counted by when it arrived, in a window as long as
        // the sending one and TRANSCODED_SHIFT later (the transcoder holds
        // packets a few tens of ms): a steady 20 ms stream has as many
        // packets in both.
        if kts.is_some_and(|t| ws != 0 && t >= ws + TRANSCODED_SHIFT_NS && t < we + TRANSCODED_SHIFT_NS) {
            st.unmarked[side] += 1;
        }
        return;
    }
    let id = u32::from_be_bytes([data[16], data[17], data[18], data[19]]);
    let dir = data[20] as usize & 1;
    let sent_at = u64::from_be_bytes([data[25], data[26], data[27], data[28], data[29], data[30], data[31], data[32]]);
    if ws == 0 || sent_at < ws || sent_at >= we {
        return;
    }
    let stream = (id as usize / threads) * 2 + dir;
    if let Some(s) = st.streams.get_mut(stream) {
        s.1 += 1;
    }
    st.received += 1;
    let at = match kts {
        Some(t) => t,
        None => {
            st.no_kernel_ts += 1;
            realtime_ns()
        }
    };
    let us = (at.saturating_sub(sent_at) / 1000) as usize;
    st.hist[us.min(HIST_US)] += 1;
}

/// The `q` quantile (0..1) of a histogram with buckets of `unit` µs.
pub fn quantile(hist: &[u64], q: f64, unit: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let want = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut acc = 0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= want {
            return i as f64 * unit;
        }
    }
    (hist.len() - 1) as f64 * unit
}

/// Largest non-empty bucket, in µs.
pub fn max_of(hist: &[u64], unit: f64) -> f64 {
    hist.iter().rposition(|&c| c > 0).map_or(0.0, |i| i as f64 * unit)
}
