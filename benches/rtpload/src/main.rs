//! rtpload: the RTP load generator of benches/media_load.sh (issue 9,
//! scenario 2, relayed media).
//!
//! Sets up `--calls` calls through a relay, at `--setup-rate` per second:
//! through ferroswitch with real SIP calls (trunk to trunk, `sip.rs`),
//! through rtpengine with its ng protocol (`ng.rs`), or `direct` (no relay:
//! each side sends straight to the other, the generator's own floor).
//! Every call streams PCMU (PCMA with `--alaw`; 160-byte payload) every 20 ms in both
//! directions from the moment it is set up, the calls spread evenly over
//! the 20 ms period (`media.rs`). After all calls are up and `--warmup`
//! seconds more, it measures over `--window` seconds: packets sent and
//! received back, one-way latency through the relay, the relay's CPU and
//! memory (`--server-pid`), and prints one line of key=value pairs,
//! starting with `RTPLOAD`. Then it hangs the calls up.
//!
//! Every address must be on loopback (127.0.0.0/8); it refuses anything
//! else, and never sends to an SDP address that is not loopback.

#![allow(clippy::disallowed_methods)] // a load generator lives on the clock

mod media;
mod ng;
mod procfs;
mod sip;

use clap::{Parser, ValueEnum};
use media::{NewCall, Shared, Sockets, Stats};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Target {
    /// SIP calls through ferroswitch (media.mode = relay).
    Ferroswitch,
    /// Sessions in rtpengine over its ng protocol.
    Rtpengine,
    /// No relay: each side sends to the other directly.
    Direct,
}

#[derive(Parser, Debug)]
#[command(name = "rtpload", about = "RTP load generator: N relayed G.711 calls, loss and latency")]
struct Args {
    #[arg(long, value_enum)]
    target: Target,
    /// Concurrent calls.
    #[arg(long)]
    calls: usize,
    /// ferroswitch's SIP address, or rtpengine's ng address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddrV4,
    /// ferroswitch only: the address of our UAS (the outbound gateway's proxy).
    #[arg(long, default_value = "127.0.0.3:5090")]
    uas: SocketAddrV4,
    /// The caller's address (SIP and RTP of side A; ferroswitch knows it as the inbound gateway).
    #[arg(long, default_value = "127.0.0.2")]
    caller_ip: Ipv4Addr,
    /// The callee's RTP address (side B).
    #[arg(long, default_value = "127.0.0.3")]
    callee_ip: Ipv4Addr,
    /// New calls per second while setting up.
    #[arg(long, default_value_t = 500.0)]
    setup_rate: f64,
    /// Seconds one call may take to set up.
    #[arg(long, default_value_t = 8.0)]
    call_timeout: f64,
    /// Seconds of streaming after the last call is up, before the window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    window: f64,
    /// Seconds to wait after the window for its last packets.
    #[arg(long, default_value_t = 0.5)]
    drain: f64,
    /// Sender/receiver threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// UDP sockets per side and thread (calls are spread over them).
    #[arg(long, default_value_t = 8)]
    sockets: usize,
    /// Time slots per 20 ms period (calls are spread over them).
    #[arg(long, default_value_t = 40)]
    slots: usize,
    /// Socket buffer size asked for (the kernel caps it at rmem_max/wmem_max).
    #[arg(long, default_value_t = 4 << 20)]
    sock_buf: usize,
    /// The relay's PID: its CPU, RSS, threads and open files are reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Calls hung up per second at the end (0: leave them up).
    #[arg(long, default_value_t = 2000.0)]
    teardown_rate: f64,
    /// The caller speaks Opus only (payload type 111), the callee PCMU:
    /// through ferroswitch every call is transcoded both ways. What comes
    /// back carries none of our markers, so loss is counted by direction
    /// and receive time, and there is no latency figure.
    #[arg(long)]
    opus_caller: bool,
    /// Offer and answer RFC 4733 telephone-event (payload type 101), as
    /// carriers' and softphones' SDP does. Without it the switch listens
    /// for digits in the audio (in-band detection) on every call.
    #[arg(long)]
    events: bool,
    /// Speak PCMA (payload type 8, G.711 A-law, as carriers in much of the
    /// world do) rather than PCMU.
    #[arg(long)]
    alaw: bool,
}

fn loopback_only(a: &Args) -> Result<(), String> {
    for (what, ip) in [("--server", *a.server.ip()), ("--uas", *a.uas.ip()), ("--caller-ip", a.caller_ip), ("--callee-ip", a.callee_ip)] {
        if !ip.is_loopback() {
            return Err(format!("{what} {ip} is not a loopback address (127.0.0.0/8); rtpload sends nowhere else"));
        }
    }
    Ok(())
}

fn main() {
    let a = Args::parse();
    let _ = sip::EVENTS.set(a.events);
    let _ = sip::ALAW.set(a.alaw);
    if a.opus_caller {
        match opus_frames() {
            Ok(f) => {
                let _ = media::OPUS_FRAMES.set(f);
                let _ = sip::OPUS_CALLER.set(true);
            }
            Err(e) => {
                eprintln!("rtpload: cannot encode the caller's Opus frames: {e}");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = loopback_only(&a) {
        eprintln!("rtpload: {e}");
        std::process::exit(2);
    }
    if a.calls == 0 || a.threads == 0 || a.sockets == 0 || a.slots == 0 || a.setup_rate <= 0.0 {
        eprintln!("rtpload: --calls, --threads, --sockets, --slots and --setup-rate must be positive");
        std::process::exit(2);
    }
    // Whatever happens, the process ends in bounded time.
    let budget = a.calls as f64 / a.setup_rate + a.call_timeout + a.warmup + a.window + a.drain + if a.teardown_rate > 0.0 { a.calls as f64 / a.teardown_rate + 15.0 } else { 0.0 } + 30.0;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(budget));
        eprintln!("rtpload: still running after {budget:.0} s; giving up");
        std::process::exit(3);
    });
    match run(&a) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("rtpload: {e}");
            std::process::exit(1);
        }
    }
}

fn run(a: &Args) -> Result<String, String> {
    let pid = a.server_pid.map(|p| p.to_string());
    let pid = pid.as_deref();
    let rss_idle = pid.and_then(|p| procfs::status_field(p, "VmRSS")).unwrap_or(0);
    let fds_idle = pid.and_then(procfs::fds).unwrap_or(0);

    // The UAS first, on the port the gateway was given (before the RTP
    // sockets take ephemeral ports on the same address); then the RTP
    // sockets, whose ports go into the SDP.
    let uas = match a.target {
        Target::Ferroswitch => Some(std::net::UdpSocket::bind(a.uas).map_err(|e| format!("UAS socket {}: {e}", a.uas))?),
        _ => None,
    };
    let mut socks = Vec::new();
    for _ in 0..a.threads {
        socks.push(Sockets::bind(a.caller_ip, a.callee_ip, a.sockets, a.sock_buf).map_err(|e| format!("binding RTP sockets: {e}"))?);
    }
    let addrs: Vec<Vec<(SocketAddrV4, SocketAddrV4)>> = socks.iter().map(|s| (0..a.sockets).map(|k| (s.addr(false, k), s.addr(true, k))).collect()).collect();
    let (threads, sockets) = (a.threads, a.sockets);
    let addr_of = move |id: u32| {
        let (w, k) = media::socket_of(id, threads, sockets);
        addrs[w][k]
    };
    let ports = {
        let addr_of = addr_of.clone();
        move |id: u32| {
            let (x, y) = addr_of(id);
            (x.port(), y.port())
        }
    };

    let shared = Arc::new(Shared { window_start: AtomicU64::new(0), window_end: AtomicU64::new(0), stop: AtomicBool::new(false), epoch: Instant::now() + Duration::from_millis(20), slots: a.slots, threads: a.threads });
    let mut txs = Vec::new();
    let mut workers = Vec::new();
    for (w, s) in socks.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel::<NewCall>();
        txs.push(tx);
        let sh = shared.clone();
        let n = a.calls;
        workers.push(std::thread::Builder::new().name(format!("rtp{w}")).spawn(move || media::run(w, s, rx, sh, n)).map_err(|e| e.to_string())?);
    }
    let ready = |c: NewCall| {
        let _ = txs[c.id as usize % threads].send(c);
    };

    // Call setup.
    let t_setup = Instant::now();
    let call_timeout = Duration::from_secs_f64(a.call_timeout);
    let overall = Duration::from_secs_f64(a.calls as f64 / a.setup_rate + a.call_timeout + 5.0);
    enum Signalling {
        Sip(sip::Sip),
        Ng(ng::Ng),
        None,
    }
    let (mut sig, (up, failed), failures) = match a.target {
        Target::Ferroswitch => {
            let uas = uas.ok_or("no UAS socket")?;
            let mut s = sip::Sip::new(a.caller_ip, uas, a.server, a.calls, ports).map_err(|e| format!("SIP sockets: {e}"))?;
            let r = s.setup(a.setup_rate, call_timeout, overall, ready);
            let f = fmt_failures(s.failures.iter().map(|(k, v)| (k.to_string(), *v)));
            (Signalling::Sip(s), r, f)
        }
        Target::Rtpengine => {
            let mut s = ng::Ng::new(a.caller_ip, a.callee_ip, a.server, a.calls, ports).map_err(|e| format!("ng socket: {e}"))?;
            let r = s.setup(a.setup_rate, call_timeout, overall, ready);
            let f = fmt_failures(s.failures.iter().map(|(k, v)| (k.clone(), *v)));
            (Signalling::Ng(s), r, f)
        }
        Target::Direct => {
            for id in 0..a.calls as u32 {
                let (sa, sb) = addr_of(id);
                ready(NewCall { id, a_dst: sb, b_dst: sa, narrowband: false });
            }
            (Signalling::None, (a.calls, 0), String::new())
        }
    };
    let setup_s = t_setup.elapsed().as_secs_f64();

    // Warm up, then the window (set a little ahead so every worker sees it
    // before its first packet is due).
    std::thread::sleep(Duration::from_secs_f64(a.warmup));
    let ws = media::realtime_ns() + 100_000_000;
    let we = ws + (a.window * 1e9) as u64;
    shared.window_end.store(we, Ordering::SeqCst);
    shared.window_start.store(ws, Ordering::SeqCst);
    sleep_until_realtime(ws);
    let snap0 = Snap::take(pid);
    sleep_until_realtime(we);
    let snap1 = Snap::take(pid);
    let rss_load = pid.and_then(|p| procfs::status_field(p, "VmRSS")).unwrap_or(0);
    let fds_load = pid.and_then(procfs::fds).unwrap_or(0);
    let threads_load = pid.and_then(|p| procfs::status_field(p, "Threads")).unwrap_or(0);
    std::thread::sleep(Duration::from_secs_f64(a.drain));
    shared.stop.store(true, Ordering::SeqCst);
    let mut stats: Vec<Stats> = Vec::new();
    for w in workers {
        stats.push(w.join().map_err(|_| "a worker panicked".to_string())?);
    }

    // Hang up, then see whether the relay gave its sockets back.
    let mut torn_down = 0;
    if a.teardown_rate > 0.0 {
        let overall = Duration::from_secs_f64(a.calls as f64 / a.teardown_rate + 5.0);
        torn_down = match &mut sig {
            Signalling::Sip(s) => s.teardown(a.teardown_rate, overall),
            Signalling::Ng(s) => s.teardown(a.teardown_rate, overall),
            Signalling::None => 0,
        };
    }
    let mut fds_after = fds_load;
    if let Some(p) = pid {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            fds_after = procfs::fds(p).unwrap_or(0);
            if fds_after <= fds_idle + 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Merge.
    let mut sent = 0;
    let mut received = 0;
    let (mut send_errors, mut foreign, mut no_kts) = (0, 0, 0);
    let mut hist = vec![0u64; stats[0].hist.len()];
    let mut late = vec![0u64; stats[0].late.len()];
    let (mut lossy, mut dead) = (0, 0);
    // By direction: 0 = caller to callee (A to B), 1 = callee to caller.
    let mut lost_dir = [0u64; 2];
    let mut dead_dir = [0u64; 2];
    let mut busy_max: f64 = 0.0;
    for s in &stats {
        sent += s.sent;
        received += s.received;
        send_errors += s.send_errors;
        foreign += s.foreign;
        no_kts += s.no_kernel_ts;
        for (h, x) in hist.iter_mut().zip(&s.hist) {
            *h += x;
        }
        for (h, x) in late.iter_mut().zip(&s.late) {
            *h += x;
        }
        for (i, &(tx, rx)) in s.streams.iter().enumerate() {
            if tx > 0 && rx < tx {
                lossy += 1;
                lost_dir[i % 2] += u64::from(tx - rx);
            }
            if tx > 0 && rx == 0 {
                dead += 1;
                dead_dir[i % 2] += 1;
            }
        }
        if s.wall_ns > 0 {
            busy_max = busy_max.max(s.busy_ns as f64 / s.wall_ns as f64);
        }
    }
    if media::OPUS_FRAMES.get().is_some() {
        // Transcoded: what came back, by direction, against what was sent.
        let mut sent_dir = [0u64; 2];
        let mut recv_dir = [0u64; 2];
        for s in &stats {
            for (i, &(tx, _)) in s.streams.iter().enumerate() {
                sent_dir[i % 2] += u64::from(tx);
            }
            recv_dir[0] += s.unmarked[0];
            recv_dir[1] += s.unmarked[1];
        }
        received = recv_dir[0] + recv_dir[1];
        lost_dir = [sent_dir[0].saturating_sub(recv_dir[0]), sent_dir[1].saturating_sub(recv_dir[1])];
        foreign = foreign.saturating_sub(received);
        (lossy, dead, dead_dir) = (0, 0, [0, 0]);
    }
    let lost = sent.saturating_sub(received);
    let wall = snap1.at.duration_since(snap0.at).as_secs_f64();
    let scpu = snap1.server_cpu - snap0.server_cpu;
    let gcpu = snap1.own_cpu - snap0.own_cpu;
    let busy = snap1.machine.0 - snap0.machine.0;
    let irq = snap1.machine.1 - snap0.machine.1;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_call = |x: f64| if up > 0 { x / up as f64 } else { 0.0 };
    let mut line = format!("RTPLOAD target={:?} calls={} up={up} failed={failed}", a.target, a.calls).to_lowercase();
    let mut kv = |k: &str, v: String| {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        line.push_str(&v);
    };
    kv("failures", if failures.is_empty() { "-".into() } else { failures });
    kv("setup_s", format!("{setup_s:.2}"));
    kv("window_s", format!("{wall:.2}"));
    kv("sent", sent.to_string());
    kv("received", received.to_string());
    kv("lost", lost.to_string());
    kv("loss_pct", format!("{:.4}", if sent > 0 { 100.0 * lost as f64 / sent as f64 } else { 0.0 }));
    kv("streams_lossy", lossy.to_string());
    kv("streams_dead", dead.to_string());
    kv("lost_ab", lost_dir[0].to_string());
    kv("lost_ba", lost_dir[1].to_string());
    kv("dead_ab", dead_dir[0].to_string());
    kv("dead_ba", dead_dir[1].to_string());
    kv("lat_p50_us", format!("{:.0}", media::quantile(&hist, 0.5, 1.0)));
    kv("lat_p99_us", format!("{:.0}", media::quantile(&hist, 0.99, 1.0)));
    kv("lat_p999_us", format!("{:.0}", media::quantile(&hist, 0.999, 1.0)));
    kv("lat_max_us", format!("{:.0}", media::max_of(&hist, 1.0)));
    kv("gen_late_p99_us", format!("{:.0}", media::quantile(&late, 0.99, 10.0)));
    kv("gen_busy_max_pct", format!("{:.0}", 100.0 * busy_max));
    kv("gen_cpu_s", format!("{gcpu:.2}"));
    kv("send_errors", send_errors.to_string());
    kv("foreign", foreign.to_string());
    kv("no_kernel_ts", no_kts.to_string());
    kv("server_cpu_s", format!("{scpu:.2}"));
    kv("server_core_pct", format!("{:.1}", 100.0 * scpu / wall.max(1e-9)));
    kv("server_core_pct_per_call", format!("{:.5}", per_call(100.0 * scpu / wall.max(1e-9))));
    // /proc/stat is sampled at the tick and misses short bursts on a mostly
    // idle core; the relay's and our own times are exact: at least those.
    // (irq time may also be inside the processes' system time: cap at 100%.)
    kv("machine_busy_pct", format!("{:.0}", (100.0 * busy.max(scpu + gcpu + irq) / wall.max(1e-9) / cores).min(100.0)));
    kv("irq_cpu_s", format!("{irq:.2}"));
    // Busy time of the machine outside irq/softirq, the relay and us: anything else running.
    kv("other_cpu_s", format!("{:.2}", (busy - irq - scpu - gcpu).max(0.0)));
    kv("udp_drops", (snap1.drops - snap0.drops).to_string());
    kv("rss_idle_kb", rss_idle.to_string());
    kv("rss_kb", rss_load.to_string());
    kv("rss_per_call_kb", format!("{:.1}", per_call(rss_load.saturating_sub(rss_idle) as f64)));
    kv("server_threads", threads_load.to_string());
    kv("fds_idle", fds_idle.to_string());
    kv("fds_load", fds_load.to_string());
    kv("fds_after", fds_after.to_string());
    kv("torn_down", torn_down.to_string());
    Ok(line)
}

fn fmt_failures(it: impl Iterator<Item = (String, u32)>) -> String {
    let mut v: Vec<(String, u32)> = it.collect();
    v.sort();
    // One shell-safe token: the script reads the line with sed.
    let safe = |k: &str| k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' }).collect::<String>();
    v.iter().map(|(k, n)| format!("{}:{n}", safe(k))).collect::<Vec<_>>().join(",")
}

fn sleep_until_realtime(t: u64) {
    let now = media::realtime_ns();
    if t > now {
        std::thread::sleep(Duration::from_nanos(t - now));
    }
}

/// CPU and drop counters at one moment.
struct Snap {
    at: Instant,
    server_cpu: f64,
    own_cpu: f64,
    machine: (f64, f64),
    drops: u64,
}

impl Snap {
    fn take(pid: Option<&str>) -> Snap {
        Snap {
            at: Instant::now(),
            server_cpu: pid.and_then(procfs::cpu_s).unwrap_or(0.0),
            own_cpu: procfs::cpu_s("self").unwrap_or(0.0),
            machine: procfs::machine(),
            drops: procfs::udp_rcvbuf_errors(),
        }
    }
}

/// A second of speech-like audio as 50 Opus frames (48 kHz, mono, VoIP), for
/// `--opus-caller`: fullband as libopus encodes by default, and narrowband
/// (what it sends when told `maxplaybackrate=8000`).
fn opus_frames() -> Result<[Vec<Vec<u8>>; 2], opus::Error> {
    let mut out = [Vec::new(), Vec::new()];
    for (k, set) in out.iter_mut().enumerate() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)?;
        enc.set_bitrate(opus::Bitrate::Bits(24_000))?;
        // Speech, as a phone's microphone gives it (a pure tone would
        // make libopus pick its music mode, CELT).
        enc.set_signal(opus::Signal::Voice)?;
        if k == 1 {
            enc.set_max_bandwidth(opus::Bandwidth::Narrowband)?;
        }
        let mut buf = [0u8; 1500];
        for f in 0..50usize {
            // transcode.sh's speech-like signal: 220 Hz and 1130 Hz under a 3 Hz envelope.
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f64 / 48_000.0;
                    let env = 0.5 + 0.5 * (t * 3.0 * 2.0 * std::f64::consts::PI).sin();
                    env * 6000.0 * ((t * 220.0 * 2.0 * std::f64::consts::PI).sin() + 0.5 * (t * 1130.0 * 2.0 * std::f64::consts::PI).sin())
                })
                .map(|v| v as i16)
                .collect();
            // At most what a packet's payload holds.
            let n = enc.encode(&pcm, &mut buf[..160])?;
            set.push(buf[..n].to_vec());
        }
    }
    Ok(out)
}
