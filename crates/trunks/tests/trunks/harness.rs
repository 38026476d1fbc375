//! A scripted carrier over a real switch-side `Endpoint`, on a virtual
//! clock: every request the switch sends is parsed off the endpoint's
//! transmit queue; the test answers it by feeding a response back in, at
//! the virtual instant it chooses. Nothing sleeps.

use sip_msg::{Credentials, HeaderName, Message, Method};
use sip_proto::digest::{ha1, Algorithm, DigestServer, Ha1s, Verdict};
use sip_proto::{Endpoint, EndpointConfig, Event, Peer, Transport, TxId};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use trunks::{GatewayConfig, RegisterConfig, Trunks};

pub const US: &str = "10.0.0.1:5060";
pub const CARRIER: &str = "192.0.2.10:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// A gateway at CARRIER, domain `carrier.example`, registering as alice.
pub fn gateway(name: &str) -> GatewayConfig {
    let mut g = GatewayConfig::new(name, addr(CARRIER));
    g.domain = "carrier.example".into();
    g.register = Some(RegisterConfig { username: "alice".into(), password: "secret".into(), realm: None, expires: 600 });
    g
}

/// One request the switch put on the wire.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub dest: Peer,
    pub msg: Message,
}

impl Sent {
    pub fn method(&self) -> Method {
        self.msg.method().cloned().expect("a request")
    }
    pub fn header(&self, h: HeaderName) -> Option<&str> {
        self.msg.get(h)
    }
    pub fn cseq(&self) -> u32 {
        self.msg.cseq().expect("cseq").seq
    }
}

pub struct Rig {
    pub t0: Instant,
    pub now: Instant,
    pub ep: Endpoint,
    pub trunks: Trunks,
    /// Every request sent, retransmissions included.
    pub wire: Vec<Sent>,
    /// Branches already seen (retransmissions are not queued again).
    seen: HashSet<String>,
    /// New requests not yet taken by the test.
    queue: VecDeque<Sent>,
    /// Responses the switch endpoint reported for transactions that were not trunks'.
    pub foreign: Vec<(TxId, u16)>,
}

impl Rig {
    pub fn new() -> Rig {
        // The one anchor Instant of the virtual clock (SimNet reads the real
        // clock once; nothing here does).
        let t0 = testkit::sim::SimNet::new(0).now();
        let cfg = EndpointConfig {
            sent_by: vec![(Transport::Udp, US.into()), (Transport::Tcp, US.into())],
            ..EndpointConfig::default()
        };
        Rig {
            t0,
            now: t0,
            ep: Endpoint::new(cfg),
            trunks: Trunks::new(US.into(), "ferroswitch-test".into()),
            wire: vec![],
            seen: HashSet::new(),
            queue: VecDeque::new(),
            foreign: vec![],
        }
    }

    /// Virtual seconds since the start (milliseconds precision).
    pub fn secs(&self, at: Instant) -> f64 {
        (at - self.t0).as_millis() as f64 / 1000.0
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn set(&mut self, gws: Vec<GatewayConfig>) {
        self.trunks.set_gateways(self.now, &mut self.ep, gws);
        self.pump();
    }

    /// Move output and events between the endpoint and trunks until quiet.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.ep.poll_transmit() {
                progressed = true;
                let msg = Message::parse(t.data).expect("the switch sends parseable SIP");
                if msg.is_request() {
                    let sent = Sent { at: self.now, dest: t.dest, msg };
                    let branch = sent.msg.top_via().ok().and_then(|v| v.branch().map(str::to_owned)).unwrap_or_default();
                    if self.seen.insert(branch) {
                        self.queue.push_back(sent.clone());
                    }
                    self.wire.push(sent);
                }
            }
            while let Some(ev) = self.ep.poll_event() {
                progressed = true;
                let (tx, ours, code) = match ev {
                    Event::Response { tx, response } => {
                        (tx, self.trunks.handle_response(self.now, &mut self.ep, tx, &response), response.status().unwrap_or(0))
                    }
                    Event::Timeout { tx } | Event::TransportError { tx } => (tx, self.trunks.handle_tx_failure(self.now, &mut self.ep, tx), 0),
                    _ => continue,
                };
                if !ours {
                    self.foreign.push((tx, code));
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Run every timer (endpoint and trunks) due up to `end`, in time order.
    pub fn run_until(&mut self, end: Instant) {
        for _ in 0..1_000_000 {
            let next = [self.ep.poll_timeout(), self.trunks.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.ep.handle_timeout(self.now);
                    self.pump();
                    if self.trunks.poll_timeout().is_some_and(|t| t <= self.now) {
                        self.trunks.handle_timeout(self.now, &mut self.ep);
                        self.pump();
                    }
                    assert!(
                        self.trunks.poll_timeout().is_none_or(|t| t > self.now),
                        "trunks left a deadline in the past after handle_timeout"
                    );
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        panic!("timer loop did not settle");
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }

    pub fn advance_secs(&mut self, s: u64) {
        self.advance(Duration::from_secs(s));
    }

    /// The next request not handed out yet, skipping retransmissions.
    pub fn next(&mut self) -> Option<Sent> {
        self.queue.pop_front()
    }

    /// The first new request of method `m` (others stay queued).
    pub fn expect(&mut self, m: Method) -> Sent {
        let i = self
            .queue
            .iter()
            .position(|s| s.method() == m)
            .unwrap_or_else(|| panic!("no {m} sent by {:?}; queued: {:?}", self.elapsed(), self.queue.iter().map(|s| s.method()).collect::<Vec<_>>()));
        self.queue.remove(i).expect("present")
    }

    /// Every new (non-retransmitted) request still queued.
    pub fn drain(&mut self) -> Vec<Sent> {
        std::iter::from_fn(|| self.next()).collect()
    }

    /// Answer `req` with `code` from where it was sent, now.
    pub fn reply(&mut self, req: &Sent, code: u16, edit: impl FnOnce(&mut Message)) {
        let mut r = Message::response_to(&req.msg, code, reason(code), Some("carrier1"));
        edit(&mut r);
        let source = Peer { transport: req.dest.transport, addr: req.dest.addr, conn: None };
        self.ep.handle_input(self.now, source, r.to_bytes());
        self.pump();
    }

    /// 200 OK to a REGISTER echoing its Contact with `;expires=`.
    pub fn reply_200_register(&mut self, req: &Sent, expires: u32) {
        let contact = req.header(HeaderName::Contact).expect("contact").to_owned();
        let contact = contact.split(";expires").next().unwrap_or("").to_owned();
        self.reply(req, 200, |r| r.push(HeaderName::Contact, &format!("{contact};expires={expires}")));
    }
}

pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        423 => "Interval Too Brief",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// The carrier's authentication, using the server half of
/// `sip_proto::digest`: challenges it issues and credentials it checks.
pub struct CarrierAuth {
    pub server: DigestServer,
    pub user: String,
    pub password: String,
    pub realm: String,
    /// Unix ms at virtual time zero.
    pub epoch_ms: u64,
}

impl CarrierAuth {
    pub fn new(algs: &[Algorithm], password: &str) -> CarrierAuth {
        CarrierAuth {
            server: DigestServer::new("carrier.example", [7; 32], 300_000).with_algorithms(algs),
            user: "alice".into(),
            password: password.into(),
            realm: "carrier.example".into(),
            epoch_ms: 1_700_000_000_000,
        }
    }

    pub fn now_ms(&self, rig: &Rig) -> u64 {
        self.epoch_ms + rig.elapsed().as_millis() as u64
    }

    /// Challenge header values.
    pub fn challenges(&mut self, rig: &Rig, stale: bool) -> Vec<String> {
        let now = self.now_ms(rig);
        self.server.challenges(now, stale)
    }

    /// Check the request's credentials (`header`: Authorization or Proxy-Authorization).
    pub fn verify(&mut self, rig: &Rig, req: &Message, header: HeaderName) -> Verdict {
        let Some(v) = req.get(header) else { return Verdict::Refused(sip_proto::digest::Refusal::Malformed) };
        let creds = Credentials::parse(v).expect("credentials parse");
        let method = req.method().expect("request").as_str().to_owned();
        let now = self.now_ms(rig);
        let ha = Ha1s {
            md5: ha1(Algorithm::Md5, &self.user, &self.realm, &self.password),
            sha256: ha1(Algorithm::Sha256, &self.user, &self.realm, &self.password),
        };
        let user = self.user.clone();
        self.server.verify(now, &creds, &method, |u| (u == user).then_some(ha))
    }
}

/// A parameter of an Authorization-style header.
pub fn auth_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    Credentials::parse(value).ok()?.params.get(name)
}
