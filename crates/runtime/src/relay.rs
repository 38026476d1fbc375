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
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

enum Ctl {
    Peer(Side, SocketAddr),
}

struct Relay {
    ctl: mpsc::UnboundedSender<Ctl>,
    stats: Arc<[AtomicU64; 2]>,
    /// Milliseconds since the pool's epoch of the last packet (RTP or RTCP, either way).
    last: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// The pool of relay ports.
pub struct RelayPool {
    epoch: tokio::time::Instant,
    ip: IpAddr,
    min: u16,
    max: u16,
    next: u16,
    relays: HashMap<String, Relay>,
}

impl RelayPool {
    /// Ports `min..=max` on `ip` (RTP on even ports).
    pub fn new(ip: IpAddr, min: u16, max: u16) -> RelayPool {
        let min = min + (min % 2);
        RelayPool { epoch: tokio::time::Instant::now(), ip, min, max, next: min, relays: HashMap::new() }
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

fn to_tokio(s: std::net::UdpSocket) -> Option<UdpSocket> {
    s.set_nonblocking(true).ok()?;
    UdpSocket::from_std(s).ok()
}

async fn run(socks: [UdpSocket; 4], mut ctl: mpsc::UnboundedReceiver<Ctl>, stats: Arc<[AtomicU64; 2]>, last: Arc<AtomicU64>, epoch: tokio::time::Instant) {
    // socks: A-rtp, A-rtcp, B-rtp, B-rtcp. peer[i]: where socket i sends.
    let mut peer: [Option<SocketAddr>; 4] = [None; 4];
    let mut latched = [false; 4];
    let mut bufs = [[0u8; 2048], [0u8; 2048], [0u8; 2048], [0u8; 2048]];
    loop {
        let [b0, b1, b2, b3] = &mut bufs;
        let (i, r) = tokio::select! {
            // Control first: an SDP address set before a packet arrived
            // must be in force when that packet is relayed.
            biased;
            c = ctl.recv() => match c {
                Some(Ctl::Peer(side, addr)) => {
                    let (rtp, rtcp) = if side == Side::A { (0, 1) } else { (2, 3) };
                    peer[rtp] = Some(addr);
                    peer[rtcp] = Some(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)));
                    latched[rtp] = false;
                    latched[rtcp] = false;
                    continue;
                }
                None => return,
            },
            r = socks[0].recv_from(b0) => (0usize, r),
            r = socks[1].recv_from(b1) => (1, r),
            r = socks[2].recv_from(b2) => (2, r),
            r = socks[3].recv_from(b3) => (3, r),
        };
        let Ok((n, from)) = r else { continue };
        last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        // Symmetric RTP: the first packet on a socket fixes where its side is.
        if !latched[i] {
            peer[i] = Some(from);
            latched[i] = true;
        }
        let out = i ^ 2; // A-rtp(0) <-> B-rtp(2), A-rtcp(1) <-> B-rtcp(3)
        if let Some(dst) = peer[out] {
            if socks[out].try_send_to(&bufs[i][..n], dst).is_ok() && i % 2 == 0 {
                // Index 0 counts packets towards B, 1 towards A.
                stats[if i == 0 { 0 } else { 1 }].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Media for RelayPool {
    fn open(&mut self, call: &str) -> Option<(u16, u16)> {
        let (pa, a_rtp, a_rtcp) = self.bind_pair()?;
        let (pb, b_rtp, b_rtcp) = self.bind_pair()?;
        let socks = [to_tokio(a_rtp)?, to_tokio(a_rtcp)?, to_tokio(b_rtp)?, to_tokio(b_rtcp)?];
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let last = Arc::new(AtomicU64::new(self.epoch.elapsed().as_millis() as u64));
        let task = tokio::spawn(run(socks, rx, stats.clone(), last.clone(), self.epoch));
        self.relays.insert(call.to_owned(), Relay { ctl: tx, stats, last, task });
        Some((pa, pb))
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

    /// The task is aborted; its sockets are released when the runtime
    /// drops it, a moment later (ports are reused after that).
    fn close(&mut self, call: &str) {
        if let Some(r) = self.relays.remove(call) {
            r.task.abort();
        }
    }
}
