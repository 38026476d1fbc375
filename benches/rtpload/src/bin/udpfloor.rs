//! udpfloor: what the kernel alone charges a relay for one packet on this
//! machine (issue 9, scenario 2), so the relayed-media benchmark can print
//! ferroswitch's and rtpengine's CPU per packet against the least any
//! userspace relay must spend.
//!
//! A relay reads every packet once and sends it once. This tool does only
//! that, on one thread, over `--sockets` loopback sockets that each hold
//! one RTP-sized datagram (as a relay's call sockets do every 20 ms), and
//! times it with the thread's CPU clock (user + system, as the benchmark
//! counts a server's CPU; softirq time the kernel accounts apart is in
//! neither):
//!
//! - per socket: `recv` from each socket, then `send` on a connected socket
//!   to a sink (what a relay with its own ports per call does);
//! - batched: `recvmmsg` and `sendmmsg` of 64 datagrams on one shared
//!   socket, each sent to a different sink (the most batching a relay could
//!   do, with one port for all calls);
//! - a system call that does nothing (`getppid`): the cost of crossing into
//!   the kernel and back alone.
//!
//! The two ways alternate round by round; each figure is the median of the
//! rounds. Output: one line of key=value pairs starting with `UDPFLOOR`.
//! Only loopback addresses are used.

#![allow(clippy::disallowed_methods)] // a benchmark lives on the clock

use clap::Parser;
use nix::sys::socket::{recvmmsg, sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::time::{clock_gettime, ClockId};
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

#[derive(Parser, Debug)]
#[command(name = "udpfloor", about = "The kernel's CPU cost of relaying one UDP packet over loopback")]
struct Args {
    /// Sockets holding one datagram each per round (calls' relay sockets).
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Sockets the relayed datagrams go to (the far ends; the benchmark's
    /// generator has 32: 2 threads x 8 sockets x 2 sides).
    #[arg(long, default_value_t = 32)]
    sinks: usize,
    /// Rounds (each reads and sends every socket's datagram once each way).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Loopback address to bind.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    ip: Ipv4Addr,
}

/// Datagrams per `recvmmsg` / `sendmmsg`.
const BATCH: usize = 64;
/// RTP header and 20 ms of G.711.
const PACKET: usize = 12 + 160;

/// This thread's CPU time, µs.
fn cpu_us() -> f64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0.0, |t| t.tv_sec() as f64 * 1e6 + t.tv_nsec() as f64 / 1e3)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn bind(ip: Ipv4Addr) -> Result<UdpSocket, String> {
    let s = UdpSocket::bind((ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    // Room for a whole round's datagrams on the shared socket.
    let _ = setsockopt(&s, sockopt::RcvBuf, &(4 << 20));
    Ok(s)
}

fn addr(s: &UdpSocket) -> Result<SocketAddr, String> {
    s.local_addr().map_err(|e| e.to_string())
}

fn run(a: &Args) -> Result<(), String> {
    if !a.ip.is_loopback() {
        return Err(format!("{} is not a loopback address", a.ip));
    }
    let n = a.sockets.max(1);
    let ins = (0..n).map(|_| bind(a.ip)).collect::<Result<Vec<_>, _>>()?;
    let outs = (0..n).map(|_| bind(a.ip)).collect::<Result<Vec<_>, _>>()?;
    let sinks = (0..a.sinks.max(1)).map(|_| bind(a.ip)).collect::<Result<Vec<_>, _>>()?;
    for (o, s) in outs.iter().zip(sinks.iter().cycle()) {
        o.connect(addr(s)?).map_err(|e| e.to_string())?;
    }
    let in_addrs = ins.iter().map(addr).collect::<Result<Vec<_>, _>>()?;
    let sink_addrs: Vec<SockaddrStorage> = sinks.iter().map(|s| addr(s).map(SockaddrStorage::from)).collect::<Result<_, _>>()?;
    let feeder = bind(a.ip)?;
    let shared = bind(a.ip)?;
    let shared_addr = addr(&shared)?;
    let pkt = [0x80u8; PACKET];
    let mut buf = [0u8; 2048];
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut rhdr = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut shdr = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let drain = |buf: &mut [u8]| for s in &sinks {
        while s.recv(buf).is_ok() {}
    };
    let (mut recv, mut send, mut brecv, mut bsend, mut null) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        // Per socket: every call socket holds one datagram.
        for to in &in_addrs {
            feeder.send_to(&pkt, to).map_err(|e| format!("feed: {e}"))?;
        }
        let mut lens = vec![0usize; n];
        let t0 = cpu_us();
        for (len, s) in lens.iter_mut().zip(&ins) {
            *len = s.recv(&mut buf).map_err(|e| format!("recv: {e}"))?;
        }
        let t1 = cpu_us();
        for (len, o) in lens.iter().zip(&outs) {
            o.send(&pkt[..*len]).map_err(|e| format!("send: {e}"))?;
        }
        let t2 = cpu_us();
        recv.push((t1 - t0) / n as f64);
        send.push((t2 - t1) / n as f64);
        drain(&mut buf);

        // Batched: the same datagrams on one shared socket, fed a few
        // batches at a time (within any receive buffer's limit).
        let (mut tr, mut ts, mut got) = (0.0, 0.0, 0usize);
        while got < n {
            let fed = (n - got).min(4 * BATCH);
            for _ in 0..fed {
                feeder.send_to(&pkt, shared_addr).map_err(|e| format!("feed: {e}"))?;
            }
            let before = got;
            loop {
                let t0 = cpu_us();
                let mut iovs: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
                let lens: Vec<usize> = match recvmmsg(shared.as_raw_fd(), &mut rhdr, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                    Ok(r) => r.map(|m| m.bytes).collect(),
                    Err(_) => Vec::new(),
                };
                let t1 = cpu_us();
                tr += t1 - t0;
                if lens.is_empty() {
                    break;
                }
                let slices: Vec<[IoSlice; 1]> = lens.iter().map(|&l| [IoSlice::new(&pkt[..l.min(PACKET)])]).collect();
                let to: Vec<Option<SockaddrStorage>> = (0..lens.len()).map(|j| sink_addrs.get((got + j) % sink_addrs.len()).copied()).collect();
                let t2 = cpu_us();
                sendmmsg(shared.as_raw_fd(), &mut shdr, slices.iter(), &to, [], MsgFlags::empty()).map_err(|e| format!("sendmmsg: {e}"))?;
                ts += cpu_us() - t2;
                got += lens.len();
            }
            if got - before < fed {
                return Err(format!("the shared socket got {} of {fed} datagrams", got - before));
            }
        }
        brecv.push(tr / got as f64);
        bsend.push(ts / got as f64);
        drain(&mut buf);

        let t0 = cpu_us();
        for _ in 0..n {
            let _ = nix::unistd::getppid();
        }
        null.push((cpu_us() - t0) / n as f64);
    }
    let (r, s, br, bs, z) = (median(&mut recv), median(&mut send), median(&mut brecv), median(&mut bsend), median(&mut null));
    println!(
        "UDPFLOOR sockets={n} sinks={} rounds={} recv_us={r:.2} send_us={s:.2} per_packet_us={:.2} recvmmsg_us={br:.2} sendmmsg_us={bs:.2} batched_per_packet_us={:.2} syscall_us={z:.3}",
        sinks.len(),
        a.rounds,
        r + s,
        br + bs
    );
    Ok(())
}

fn main() {
    let a = Args::parse();
    if let Err(e) = run(&a) {
        eprintln!("udpfloor: {e}");
        std::process::exit(1);
    }
}
