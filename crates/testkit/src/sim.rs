//! A virtual network of endpoints.
//!
//! Time is an `Instant` that only moves when [`SimNet::run_until`] moves it,
//! so a 32-second Timer B runs in microseconds. Faults are drawn from a
//! seeded generator: the same seed gives the same run.

use bytes::Bytes;
use sip_proto::{Endpoint, EndpointConfig, Event, Peer, Transmit, Transport};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Network faults applied to every datagram.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Base one-way latency.
    pub latency: Duration,
    /// Extra random latency, uniform in `[0, jitter)`: reorders datagrams.
    pub jitter: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults { loss: 0.0, duplicate: 0.0, latency: Duration::from_millis(10), jitter: Duration::ZERO }
    }
}

/// A datagram seen on the wire (for assertions).
#[derive(Clone, Debug)]
pub struct Wire {
    /// When it was sent.
    pub at: Duration,
    /// Sender address.
    pub from: SocketAddr,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes.
    pub data: Bytes,
}

impl Wire {
    /// First line of the message.
    pub fn first_line(&self) -> String {
        let s = String::from_utf8_lossy(&self.data);
        s.lines().next().unwrap_or("").to_owned()
    }
}

/// One simulated host.
pub struct Node {
    /// Its address.
    pub addr: SocketAddr,
    /// Its endpoint.
    pub ep: Endpoint,
    /// Events it produced, with the virtual time.
    pub events: Vec<(Duration, Event)>,
}

type Dropper = Box<dyn FnMut(&Wire) -> bool>;

/// The simulator.
pub struct SimNet {
    start: Instant,
    now: Instant,
    nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    payloads: std::collections::HashMap<u64, (SocketAddr, Bytes)>,
    seq: u64,
    rng: u64,
    /// Faults in force.
    pub faults: Faults,
    /// Every datagram sent, in order.
    pub wire: Vec<Wire>,
    dropper: Option<Dropper>,
    transport: Transport,
}

impl SimNet {
    /// A network with a seed for its fault generator.
    pub fn new(seed: u64) -> SimNet {
        let start = Instant::now();
        SimNet {
            start,
            now: start,
            nodes: vec![],
            in_flight: BinaryHeap::new(),
            payloads: Default::default(),
            seq: 0,
            rng: seed | 1,
            faults: Faults::default(),
            wire: vec![],
            dropper: None,
            transport: Transport::Udp,
        }
    }

    /// Pretend every datagram travels over a reliable transport (no loss
    /// applied, timers of reliable transports in force).
    pub fn reliable(mut self) -> SimNet {
        self.transport = Transport::Tcp;
        self
    }

    /// Add a host; returns its index.
    pub fn add(&mut self, addr: &str, mut cfg: EndpointConfig) -> usize {
        let addr: SocketAddr = addr.parse().unwrap_or_else(|_| panic!("bad address {addr}"));
        if cfg.sent_by.is_empty() {
            cfg.sent_by = vec![(Transport::Udp, addr.to_string()), (Transport::Tcp, addr.to_string())];
        }
        cfg.seed = cfg.seed.wrapping_add(self.nodes.len() as u64 * 7919);
        self.nodes.push(Node { addr, ep: Endpoint::new(cfg), events: vec![] });
        self.nodes.len() - 1
    }

    /// Drop datagrams for which `f` returns true (targeted loss).
    pub fn drop_if(&mut self, f: impl FnMut(&Wire) -> bool + 'static) {
        self.dropper = Some(Box::new(f));
    }

    /// Stop targeted dropping.
    pub fn clear_drop(&mut self) {
        self.dropper = None;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A node.
    pub fn node(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// The peer address of node `i` as seen by others.
    pub fn peer(&self, i: usize) -> Peer {
        Peer { transport: self.transport, addr: self.nodes[i].addr, conn: None }
    }

    /// A peer at an address where no node listens.
    pub fn peer_at(&self, addr: &str) -> Peer {
        Peer { transport: self.transport, addr: addr.parse().unwrap_or_else(|_| panic!("bad address {addr}")), conn: None }
    }

    fn rand(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Inject raw bytes at node `to` as if sent from `from`.
    pub fn inject(&mut self, from: &str, to: usize, data: &[u8]) {
        let from: SocketAddr = from.parse().unwrap_or_else(|_| panic!("bad address {from}"));
        let source = Peer { transport: self.transport, addr: from, conn: None };
        let now = self.now;
        self.nodes[to].ep.handle_input(now, source, Bytes::copy_from_slice(data));
        self.flush();
    }

    /// Move every endpoint's output onto the network and collect events.
    pub fn flush(&mut self) {
        let elapsed = self.now - self.start;
        for i in 0..self.nodes.len() {
            while let Some(Transmit { dest, data }) = self.nodes[i].ep.poll_transmit() {
                let w = Wire { at: elapsed, from: self.nodes[i].addr, to: dest.addr, data: data.clone() };
                let targeted = self.dropper.as_mut().is_some_and(|d| d(&w));
                self.wire.push(w);
                if targeted {
                    continue;
                }
                let reliable = self.transport.is_reliable();
                if !reliable && self.rand() < self.faults.loss {
                    continue;
                }
                let copies = if !reliable && self.rand() < self.faults.duplicate { 2 } else { 1 };
                for _ in 0..copies {
                    let jitter = self.faults.jitter.mul_f64(self.rand());
                    let at = self.now + self.faults.latency + jitter;
                    self.seq += 1;
                    let to = self.nodes.iter().position(|n| n.addr == dest.addr);
                    if let Some(to) = to {
                        self.payloads.insert(self.seq, (self.nodes[i].addr, data.clone()));
                        self.in_flight.push(Reverse((at, self.seq, to)));
                    }
                }
            }
            while let Some(e) = self.nodes[i].ep.poll_event() {
                self.nodes[i].events.push((elapsed, e));
            }
        }
    }

    /// Run until virtual time `deadline`, delivering datagrams and firing
    /// timers in time order.
    pub fn run_until(&mut self, deadline: Instant) {
        self.flush();
        loop {
            let next_packet = self.in_flight.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > deadline {
                break;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                if let Some(Reverse((_, seq, to))) = self.in_flight.pop() {
                    if let Some((from, data)) = self.payloads.remove(&seq) {
                        let source = Peer { transport: self.transport, addr: from, conn: None };
                        let now = self.now;
                        self.nodes[to].ep.handle_input(now, source, data);
                    }
                }
            } else {
                let now = self.now;
                for n in &mut self.nodes {
                    if n.ep.poll_timeout().is_some_and(|t| t <= now) {
                        n.ep.handle_timeout(now);
                    }
                }
            }
            self.flush();
        }
        self.now = self.now.max(deadline);
    }

    /// Run for a virtual duration.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Take node `i`'s events.
    pub fn take_events(&mut self, i: usize) -> Vec<(Duration, Event)> {
        std::mem::take(&mut self.nodes[i].events)
    }

    /// Datagrams on the wire whose first line starts with `prefix`.
    pub fn count_wire(&self, from: usize, prefix: &str) -> usize {
        let a = self.nodes[from].addr;
        self.wire.iter().filter(|w| w.from == a && w.first_line().starts_with(prefix)).count()
    }
}
