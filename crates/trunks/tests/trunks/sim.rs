//! End to end over testkit's simulated network: the switch (an `Endpoint`
//! driven by `Trunks`) and a carrier (a second `Endpoint` answering with
//! `sip_proto::digest::DigestServer`), 10 ms apart, on a virtual clock.

use sip_msg::{Credentials, HeaderName, Message, Method};
use sip_proto::digest::{ha1, Algorithm, DigestServer, Ha1s, Verdict};
use sip_proto::{EndpointConfig, Event};
use std::time::Duration;
use testkit::sim::SimNet;
use trunks::{GatewayConfig, PingState, RegState, RegisterConfig, Refused, Trunks};

const S: usize = 0;
const C: usize = 1;

struct World {
    net: SimNet,
    trunks: Trunks,
    auth: DigestServer,
    /// The carrier drops every request while set.
    silent: bool,
    verdicts: Vec<Verdict>,
}

impl World {
    fn new() -> World {
        let mut net = SimNet::new(7);
        net.add("10.0.0.1:5060", EndpointConfig::default());
        net.add("10.0.0.2:5060", EndpointConfig::default());
        let mut g = GatewayConfig::new("carrier", "10.0.0.2:5060".parse().expect("addr"));
        g.domain = "carrier.example".into();
        g.register = Some(RegisterConfig { username: "alice".into(), password: "secret".into(), realm: Some("carrier.example".into()), expires: 600 });
        g.ping_interval = Some(Duration::from_secs(20));
        let mut trunks = Trunks::new("10.0.0.1:5060".into(), "ferroswitch-sim".into());
        let now = net.now();
        trunks.set_gateways(now, &mut net.node(S).ep, vec![g]);
        World { net, trunks, auth: DigestServer::new("carrier.example", [3; 32], 3_600_000), silent: false, verdicts: vec![] }
    }

    fn now_ms(&self) -> u64 {
        1_700_000_000_000 + self.net.elapsed().as_millis() as u64
    }

    /// The carrier's answer to a request.
    fn carrier_answer(&mut self, req: &Message) -> Message {
        match req.method() {
            Some(Method::Register) => {
                let verdict = req.get(HeaderName::Authorization).and_then(|v| Credentials::parse(v).ok()).map(|c| {
                    let ha = Ha1s {
                        md5: ha1(Algorithm::Md5, "alice", "carrier.example", "secret"),
                        sha256: ha1(Algorithm::Sha256, "alice", "carrier.example", "secret"),
                    };
                    let now = self.now_ms();
                    self.auth.verify(now, &c, "REGISTER", |u| (u == "alice").then_some(ha))
                });
                if let Some(v) = verdict.clone() {
                    self.verdicts.push(v);
                }
                if let Some(Verdict::Ok { .. }) = verdict {
                    let mut ok = Message::response_to(req, 200, "OK", Some("c1"));
                    let contact = req.get(HeaderName::Contact).unwrap_or("").to_owned();
                    ok.push(HeaderName::Contact, &format!("{contact};expires=600"));
                    ok
                } else {
                    let now = self.now_ms();
                    let mut r = Message::response_to(req, 401, "Unauthorized", Some("c1"));
                    for c in self.auth.challenges(now, false) {
                        r.push(HeaderName::WwwAuthenticate, &c);
                    }
                    r
                }
            }
            // The carrier does not implement OPTIONS: 405 still proves it alive.
            _ => Message::response_to(req, 405, "Method Not Allowed", Some("c1")),
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.net.now() + d;
        while self.net.now() < end {
            let now = self.net.now();
            let busy = self.net.node(S).ep.transaction_count() + self.net.node(C).ep.transaction_count() > 0;
            let mut next = if busy { now + Duration::from_millis(1) } else { end };
            if let Some(t) = self.trunks.poll_timeout() {
                next = next.min(t.max(now));
            }
            self.net.run_until(next.min(end));
            let now = self.net.now();
            for (_, ev) in self.net.take_events(S) {
                let ep = &mut self.net.node(S).ep;
                match ev {
                    Event::Response { tx, response } => assert!(self.trunks.handle_response(now, ep, tx, &response)),
                    Event::Timeout { tx } | Event::TransportError { tx } => assert!(self.trunks.handle_tx_failure(now, ep, tx)),
                    _ => {}
                }
            }
            if self.trunks.poll_timeout().is_some_and(|t| t <= now) {
                self.trunks.handle_timeout(now, &mut self.net.node(S).ep);
            }
            self.net.flush();
            for (_, ev) in self.net.take_events(C) {
                if let Event::Request { tx, request, .. } = ev {
                    if !self.silent {
                        let resp = self.carrier_answer(&request);
                        self.net.node(C).ep.respond(now, tx, resp).expect("respond");
                    }
                }
            }
            self.net.flush();
        }
    }

    fn status(&self) -> trunks::GatewayStatus {
        self.trunks.status(self.net.now()).remove(0)
    }
}

#[test]
fn registers_through_a_challenge_and_tracks_health() {
    let mut w = World::new();
    w.run(Duration::from_secs(1));
    let st = w.status();
    assert!(matches!(st.registration, RegState::Registered { expires_in_secs: 599 }), "{st:?}");
    assert_eq!(st.ping, PingState::Up);
    let latency = st.latency_ms.expect("latency");
    assert!((20..=22).contains(&latency), "two 10 ms hops: {latency}");
    assert_eq!(w.net.count_wire(S, "REGISTER"), 2, "challenge, then credentials");
    assert_eq!(w.verdicts, vec![Verdict::Ok { user: "alice".into() }]);
    assert!(w.trunks.acquire(w.net.now(), "carrier").is_ok());
    w.trunks.release("carrier");

    // The carrier goes quiet: pings at 20 s and 52 s time out (Timer F), Down at 84 s.
    w.silent = true;
    w.run(Duration::from_secs(82));
    assert_eq!(w.status().ping, PingState::Up, "one failure is not enough");
    w.run(Duration::from_secs(2));
    assert_eq!(w.status().ping, PingState::Down);
    assert_eq!(w.trunks.acquire(w.net.now(), "carrier"), Err(Refused::Down));
    assert!(matches!(w.status().registration, RegState::Registered { .. }), "registration is independent of pings");

    // Back: the ping sent at 84 s is lost too; the one at 116 s is answered.
    w.silent = false;
    w.run(Duration::from_secs(33));
    assert_eq!(w.status().ping, PingState::Up);
    assert!(w.trunks.acquire(w.net.now(), "carrier").is_ok());

    // The refresh at 85 % of 600 s goes through on the cached nonce (nc=2).
    w.run(Duration::from_secs(400));
    assert_eq!(w.net.count_wire(S, "REGISTER"), 3);
    assert_eq!(w.verdicts.len(), 2);
    assert_eq!(w.verdicts[1], Verdict::Ok { user: "alice".into() });
    assert!(matches!(w.status().registration, RegState::Registered { expires_in_secs } if expires_in_secs > 500));
}

#[test]
fn silent_carrier_register_retransmits_times_out_and_retries() {
    let mut w = World::new();
    w.silent = true;
    w.run(Duration::from_secs(33));
    let st = w.status();
    assert_eq!(st.registration, RegState::Failed { code: 0, retry_in_secs: 1 });
    assert_eq!(st.ping, PingState::Unknown);
    // Timer E: sent at 0, 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s, then Timer F.
    assert_eq!(w.net.count_wire(S, "REGISTER"), 11);
    w.run(Duration::from_secs(1));
    assert_eq!(w.net.count_wire(S, "REGISTER"), 12, "retried 2 s after the failure");
}
