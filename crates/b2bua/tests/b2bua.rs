//! The b2bua on a virtual clock: caller A, the switch S (endpoint + b2bua),
//! callees B1/B2, over the testkit network. No sleeps; a 60 s ring
//! timeout runs in microseconds.

use b2bua::*;
use bytes::Bytes;
use sip_msg::{HeaderName, Message, Method};
use sip_proto::{Dialog, EndpointConfig, Event, TxId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use testkit::sim::SimNet;

#[derive(Default)]
struct FakeMedia {
    open: HashMap<String, (u16, u16)>,
    peers: Vec<(String, Side, SocketAddr)>,
    closed: Vec<String>,
    transcodes: Vec<(String, Option<Transcode>)>,
    digits: Vec<(String, Side, char, u8, u32, u32)>,
    relayed: Vec<(String, Option<b2bua::Relayed>)>,
}

impl Media for FakeMedia {
    fn open(&mut self, call: &str) -> Option<(u16, u16)> {
        let n = self.open.len() as u16;
        self.open.insert(call.to_owned(), (20000 + 4 * n, 20002 + 4 * n));
        self.open.get(call).copied()
    }
    fn set_peer(&mut self, call: &str, side: Side, rtp: SocketAddr) {
        self.peers.push((call.to_owned(), side, rtp));
    }
    fn stats(&self, _call: &str) -> (u64, u64) {
        (10, 20)
    }
    fn send_digit(&mut self, call: &str, to: Side, digit: char, pt: u8, rate: u32, duration_ms: u32) -> bool {
        self.digits.push((call.to_owned(), to, digit, pt, rate, duration_ms));
        true
    }
    fn transcode(&mut self, call: &str, plan: Option<Transcode>) {
        self.transcodes.push((call.to_owned(), plan));
    }
    fn relayed(&mut self, call: &str, codec: Option<b2bua::Relayed>) {
        self.relayed.push((call.to_owned(), codec));
    }
    fn close(&mut self, call: &str) {
        self.open.remove(call);
        self.closed.push(call.to_owned());
    }
}

const A: usize = 0;
const S: usize = 1;
const B1: usize = 2;
const B2: usize = 3;

struct World {
    net: SimNet,
    b2b: B2bua,
    media: FakeMedia,
    cdrs: Vec<Cdr>,
    /// Requests that reached a scripted peer: (node, tx, request).
    inbox: Vec<(usize, TxId, Message)>,
    /// Responses that reached A: (tx, response).
    a_responses: Vec<(TxId, Message)>,
    callees: usize,
    /// Gateway mode: the hunt list (gateway name, node); None = extension call.
    hunt: Option<Vec<(&'static str, usize)>>,
    /// Gateway events seen, as text.
    gw_events: Vec<String>,
    /// Answer gateway challenges with this header value.
    credentials: Option<String>,
    /// Click-to-call: the node to dial once the caller answered.
    dial_b: Option<usize>,
    /// Events seen for originated calls, as text.
    orig_events: Vec<String>,
    /// Calls the b2bua refused to start.
    start_errors: Vec<StartError>,
    /// Queue mode: park new calls instead of ringing anyone.
    park: bool,
    /// The callee extension's codec preference.
    callee_codecs: Vec<String>,
    /// The route's media mode (None: the configured one).
    route_media: Option<MediaMode>,
    /// Originated calls become standing calls when answered (uuid-standby).
    stand: bool,
}

fn sdp(ip: &str, port: u16) -> Bytes {
    Bytes::from(format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"))
}

/// Once every call has ended, nothing of them may remain in the b2bua's
/// shared indexes (dialogs, relayed requests, deadlines): checked at the
/// end of every test.
impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.b2b.count() == 0 {
            assert_eq!(self.b2b.index_sizes(), [0; 5], "an ended call left entries in the indexes");
        }
    }
}

impl World {
    fn new(callees: usize) -> World {
        let mut net = SimNet::new(42);
        for addr in ["10.0.0.1:5060", "10.0.0.2:5060", "10.0.0.3:5060", "10.0.0.4:5060"] {
            net.add(addr, EndpointConfig::default());
        }
        let b2b = B2bua::new(B2buaConfig {
            transcode: Vec::new(),
            domain: "pbx.test".into(),
            media_ip: "10.0.0.2".parse().expect("ip"),
            media_mode: MediaMode::Relay,
            ring_timeout: Duration::from_secs(60),
            user_agent: "ferroswitch-test".into(),
            gateway_progress_timeout: Duration::from_secs(10),
            hold_bye_reply: false,
        });
        World { net, b2b, media: FakeMedia::default(), cdrs: vec![], inbox: vec![], a_responses: vec![], callees, hunt: None, gw_events: vec![], credentials: None, dial_b: None, orig_events: vec![], start_errors: vec![], park: false, callee_codecs: vec![], route_media: None, stand: false }
    }

    /// Run the network for `d`, letting the switch's b2bua handle its events.
    fn run(&mut self, d: Duration) {
        let end = self.net.now() + d;
        while self.net.now() < end {
            let step = Duration::from_millis(5);
            self.net.run_for(step);
            let now = self.net.now();
            for (_, ev) in self.net.take_events(S) {
                let ep = &mut self.net.node(S).ep;
                match ev {
                    Event::Request { tx, request, source } => {
                        let in_dialog = request.to().ok().and_then(|t| t.tag().map(|_| ())).is_some();
                        if in_dialog {
                            assert!(self.b2b.handle_in_dialog(now, ep, &mut self.media, tx, request), "in-dialog request not ours");
                        } else if self.park {
                            if let Err(e) = self.b2b.park(now, ep, &mut self.media, tx, request, source, "1000", None, "7000", format!("call-{}", tx)) {
                                self.start_errors.push(e);
                            }
                        } else if let Some(hunt) = self.hunt.as_mut() {
                            let (name, node) = hunt.remove(0);
                            let leg = gw_leg(name, node);
                            if let Err(e) = self.b2b.start_gateway_call(now, ep, &mut self.media, tx, request, source, "1000", None, "0301234", leg, format!("call-{}", tx), None) {
                                self.start_errors.push(e);
                            }
                        } else {
                            let targets = [B1, B2][..self.callees]
                                .iter()
                                .map(|n| Target { uri: format!("sip:1001@10.0.0.{}:5060", n + 1), dest: sip_proto::Peer::udp(format!("10.0.0.{}:5060", n + 1).parse().expect("addr")), headers: vec![] })
                                .collect();
                            if let Err(e) = self.b2b.start_call(now, ep, &mut self.media, tx, request, source, "1000", Some("Alice"), "1001", targets, &self.callee_codecs, format!("call-{}", tx), self.route_media) {
                                self.start_errors.push(e);
                            }
                        }
                    }
                    Event::Response { tx, response } => {
                        self.b2b.handle_response(now, ep, &mut self.media, tx, response);
                    }
                    Event::Cancelled { tx, .. } => {
                        assert!(self.b2b.handle_cancel(now, ep, &mut self.media, tx));
                    }
                    Event::Timeout { tx } | Event::TransportError { tx } => {
                        self.b2b.handle_tx_failure(now, ep, &mut self.media, tx);
                    }
                    Event::Ack { request, .. } => {
                        self.b2b.handle_ack(&request);
                    }
                    Event::StrayResponse { response, .. } => {
                        self.b2b.handle_stray_2xx(ep, &response);
                    }
                    Event::AckTimeout { tx } => {
                        self.b2b.handle_ack_timeout(now, ep, &mut self.media, tx);
                    }
                    _ => {}
                }
            }
            if self.b2b.poll_timeout().is_some_and(|t| t <= now) {
                let ep = &mut self.net.node(S).ep;
                self.b2b.handle_timeout(now, ep, &mut self.media);
            }
            while let Some(ev) = self.b2b.poll_event() {
                let ep = &mut self.net.node(S).ep;
                match ev {
                    CallEvent::Ended(c) => self.cdrs.push(*c),
                    CallEvent::CallerAnswered { id } => {
                        self.orig_events.push("caller answered".into());
                        if self.stand {
                            assert!(self.b2b.stand(now, &id));
                            continue;
                        }
                        let node = self.dial_b.expect("a callee to dial");
                        let host = format!("10.0.0.{}:5060", node + 1);
                        let leg = Leg { uri: format!("sip:1001@{host}"), to: "sip:1001@pbx.test".into(), from_user: "1000".into(), dest: sip_proto::Peer::udp(host.parse().expect("addr")), gateway: None, codecs: vec![], headers: vec![] };
                        assert!(self.b2b.dial_b(now, ep, &id, vec![leg]));
                    }
                    CallEvent::Ringing { .. } => self.orig_events.push("ringing".into()),
                    CallEvent::Answered { .. } => self.orig_events.push("answered".into()),
                    CallEvent::Bridged { group, .. } => self.orig_events.push(format!("bridged {group}")),
                    CallEvent::AgentFailed { code, group, .. } => self.orig_events.push(format!("agent failed {code} ({group})")),
                    CallEvent::Dtmf { digit, .. } => self.orig_events.push(format!("dtmf {digit}")),
                    CallEvent::GatewayUsed { gateway, .. } => self.gw_events.push(format!("used {gateway}")),
                    CallEvent::GatewayReleased { gateway, .. } => self.gw_events.push(format!("released {gateway}")),
                    CallEvent::GatewayFailed { id, gateway, code } => {
                        self.gw_events.push(format!("failed {gateway} {code}"));
                        match self.hunt.as_mut().filter(|h| !h.is_empty()).map(|h| h.remove(0)) {
                            Some((name, node)) => assert!(self.b2b.hunt_next(now, ep, &id, gw_leg(name, node))),
                            None => self.b2b.fail_call(now, ep, &mut self.media, &id, 0),
                        }
                    }
                    CallEvent::GatewayChallenged { id, gateway, challenge, .. } => {
                        self.gw_events.push(format!("challenged {gateway} {}", challenge.status().unwrap_or(0)));
                        match &self.credentials {
                            Some(c) => assert!(self.b2b.authenticate(now, ep, &id, HeaderName::ProxyAuthorization, c)),
                            None => self.b2b.fail_call(now, ep, &mut self.media, &id, 0),
                        }
                    }
                    _ => {}
                }
            }
            self.net.flush();
            for node in [A, B1, B2] {
                for (_, ev) in self.net.take_events(node) {
                    match ev {
                        Event::Request { tx, request, .. } => self.inbox.push((node, tx, request)),
                        // The peer's endpoint answered a CANCEL itself; note it.
                        Event::Cancelled { tx, cancel, .. } => self.inbox.push((node, tx, cancel)),
                        Event::Response { tx, response } if node == A => self.a_responses.push((tx, response)),
                        _ => {}
                    }
                }
            }
        }
    }

    fn invite(&mut self) -> (TxId, Message) {
        self.invite_with(sdp("10.0.0.1", 4000))
    }

    fn invite_with(&mut self, body: Bytes) -> (TxId, Message) {
        self.invite_with_headers(body, &[])
    }

    fn invite_with_headers(&mut self, body: Bytes, extra: &[(HeaderName, &str)]) -> (TxId, Message) {
        let mut m = Message::request(Method::Invite, "sip:1001@pbx.test");
        for (h, v) in extra {
            m.push(*h, v);
        }
        m.push(HeaderName::From, "\"Alice\" <sip:1000@pbx.test>;tag=a1");
        m.push(HeaderName::To, "<sip:1001@pbx.test>");
        m.push(HeaderName::CallId, "a-call-1");
        m.push(HeaderName::CSeq, "1 INVITE");
        m.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
        m.push(HeaderName::ContentType, "application/sdp");
        m.set_body(body);
        let now = self.net.now();
        let dest = self.net.peer(S);
        let tx = self.net.node(A).ep.send_request(now, m.clone(), dest).expect("send");
        (tx, m)
    }

    fn take(&mut self, node: usize, method: Method) -> (TxId, Message) {
        let i = self.inbox.iter().position(|(n, _, r)| *n == node && r.method() == Some(&method)).unwrap_or_else(|| panic!("no {method} at node {node}: {:?}", self.inbox.iter().map(|(n, _, r)| (*n, r.method().cloned())).collect::<Vec<_>>()));
        let (_, tx, r) = self.inbox.remove(i);
        (tx, r)
    }

    /// Every request of `method` node has received, taken.
    fn all(&mut self, node: usize, method: Method) -> Vec<(TxId, Message)> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.inbox).into_iter().partition(|(n, _, r)| *n == node && r.method() == Some(&method));
        self.inbox = rest;
        mine.into_iter().map(|(_, tx, r)| (tx, r)).collect()
    }

    fn respond(&mut self, node: usize, tx: TxId, req: &Message, code: u16, tag: &str, body: Option<Bytes>) {
        let mut r = Message::response_to(req, code, "X", Some(tag));
        r.push(HeaderName::Contact, &format!("<sip:1001@10.0.0.{}:5060>", node + 1));
        if let Some(b) = body {
            r.push(HeaderName::ContentType, "application/sdp");
            r.set_body(b);
        }
        let now = self.net.now();
        self.net.node(node).ep.respond(now, tx, r).expect("respond");
    }

    /// The INVITE A sent (for building A's dialog).
    fn b2b_a_invite(&self) -> Message {
        let mut m = Message::request(Method::Invite, "sip:1001@pbx.test");
        m.push(HeaderName::From, "\"Alice\" <sip:1000@pbx.test>;tag=a1");
        m.push(HeaderName::To, "<sip:1001@pbx.test>");
        m.push(HeaderName::CallId, "a-call-1");
        m.push(HeaderName::CSeq, "1 INVITE");
        m.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
        m
    }

    fn a_codes(&self, tx: TxId) -> Vec<u16> {
        self.a_responses.iter().filter(|(t, _)| *t == tx).filter_map(|(_, r)| r.status()).collect()
    }
}

thread_local! {
    /// Codecs the test gateways accept (empty: any).
    static GW_CODECS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn gw_leg(name: &str, node: usize) -> GatewayLeg {
    let host = format!("10.0.0.{}:5060", node + 1);
    GatewayLeg {
        gateway: name.into(),
        uri: format!("sip:90301234@{host}"),
        to: format!("sip:90301234@{host}"),
        from_user: "4930999".into(),
        dest: sip_proto::Peer::udp(host.parse().expect("addr")),
        codecs: GW_CODECS.with(|c| c.borrow().clone()),
    }
}

fn gateway_world(hunt: Vec<(&'static str, usize)>) -> World {
    let mut w = World::new(1);
    w.hunt = Some(hunt);
    w
}

#[test]
fn gateway_503_fails_over_to_the_next_gateway() {
    let mut w = gateway_world(vec![("gw1", B1), ("gw2", B2)]);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (t1, inv1) = w.take(B1, Method::Invite);
    assert_eq!(inv1.request_uri().map(|u| u.to_string()).as_deref(), Some("sip:90301234@10.0.0.3:5060"));
    assert!(inv1.get(HeaderName::From).is_some_and(|f| f.contains("sip:4930999@")), "caller number presented: {:?}", inv1.get(HeaderName::From));
    w.respond(B1, t1, &inv1, 503, "g1", None);
    w.run(Duration::from_millis(50));
    let (t2, inv2) = w.take(B2, Method::Invite);
    assert_ne!(inv2.call_id().ok(), inv1.call_id().ok(), "a new dialog per gateway");
    assert_eq!(w.a_codes(atx), vec![100], "the caller saw nothing of the failed attempt");
    w.respond(B2, t2, &inv2, 200, "g2", Some(sdp("10.0.0.4", 7000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 200]);
    assert_eq!(w.gw_events, ["used gw1", "released gw1", "failed gw1 503", "used gw2"]);
    // Hang up from the API: gw2 is released, the CDR names it.
    let id = w.b2b.calls()[0].id.clone();
    let now = w.net.now();
    let ep = &mut w.net.node(S).ep;
    assert!(w.b2b.hangup(now, ep, &mut w.media, &id));
    w.run(Duration::from_millis(50));
    assert_eq!(w.gw_events.last().map(String::as_str), Some("released gw2"));
    assert_eq!(w.cdrs[0].gateway.as_deref(), Some("gw2"));
    assert_eq!(w.cdrs[0].disposition, Disposition::Answered);
}

#[test]
fn gateway_codecs_restrict_the_offer_and_a_gateway_without_common_codec_is_skipped() {
    // gw1 takes only G.729 (not offered): skipped; gw2 takes PCMU: offered PCMU + events.
    let mut w = gateway_world(vec![("gw1", B1)]);
    GW_CODECS.with(|c| *c.borrow_mut() = vec!["G729".into()]);
    let _ = w.invite();
    w.run(Duration::from_millis(50));
    assert_eq!(w.start_errors, vec![StartError::NoCommonMedia], "no INVITE can go to a gateway without a common codec");
    assert!(!w.inbox.iter().any(|(n, _, _)| *n == B1));
    GW_CODECS.with(|c| *c.borrow_mut() = vec!["pcmu".into()]);
    let mut w = gateway_world(vec![("gw2", B2)]);
    let _ = w.invite();
    w.run(Duration::from_millis(50));
    let (_, inv) = w.take(B2, Method::Invite);
    let body = std::str::from_utf8(inv.body()).expect("utf8").to_owned();
    GW_CODECS.with(|c| c.borrow_mut().clear());
    assert!(body.contains("RTP/AVP 0 101\r\n"), "{body}");
}

#[test]
fn gateway_486_does_not_fail_over() {
    let mut w = gateway_world(vec![("gw1", B1), ("gw2", B2)]);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (t1, inv1) = w.take(B1, Method::Invite);
    w.respond(B1, t1, &inv1, 486, "g1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 486]);
    assert!(!w.inbox.iter().any(|(n, _, r)| *n == B2 && r.method() == Some(&Method::Invite)), "486 is the callee's answer, not the gateway's failure");
    assert_eq!(w.gw_events, ["used gw1", "released gw1"]);
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].gateway.as_deref()), (Disposition::Busy, Some("gw1")));
}

#[test]
fn silent_gateway_fails_over_after_the_progress_timeout_and_the_last_failure_is_503() {
    let mut w = gateway_world(vec![("gw1", B1), ("gw2", B2)]);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (t1, inv1) = w.take(B1, Method::Invite); // 100 Trying (automatic), then nothing
    w.run(Duration::from_millis(9_900));
    assert!(!w.inbox.iter().any(|(n, _, _)| *n == B2), "not before the progress timeout");
    w.run(Duration::from_millis(200));
    let _ = w.take(B1, Method::Cancel);
    let (t2, inv2) = w.take(B2, Method::Invite);
    // gw1's 487 for the cancelled INVITE changes nothing.
    w.respond(B1, t1, &inv1, 487, "g1", None);
    w.run(Duration::from_millis(50));
    w.respond(B2, t2, &inv2, 500, "g2", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 503], "no gateway left: 503 to the caller");
    assert_eq!(w.gw_events, ["used gw1", "released gw1", "failed gw1 408", "used gw2", "released gw2", "failed gw2 500"]);
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].hangup_cause.as_str()), (Disposition::Failed, "gateway_failure"));
}

#[test]
fn gateway_challenge_is_answered_once_with_credentials() {
    let mut w = gateway_world(vec![("gw1", B1)]);
    w.credentials = Some("Digest username=\"acct\", realm=\"carrier\", nonce=\"n\", uri=\"sip:90301234@10.0.0.3:5060\", response=\"00\"".into());
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (t1, inv1) = w.take(B1, Method::Invite);
    let mut ch = Message::response_to(&inv1, 407, "Proxy Authentication Required", Some("g1"));
    ch.push(HeaderName::ProxyAuthenticate, "Digest realm=\"carrier\", nonce=\"n\", qop=\"auth\"");
    let now = w.net.now();
    w.net.node(B1).ep.respond(now, t1, ch).expect("respond");
    w.run(Duration::from_millis(50));
    let (t2, inv2) = w.take(B1, Method::Invite);
    assert_eq!(inv2.cseq().map(|c| c.seq).ok(), Some(2));
    assert_eq!(inv2.call_id().ok(), inv1.call_id().ok(), "same dialog attempt, next CSeq");
    assert!(inv2.get(HeaderName::ProxyAuthorization).is_some_and(|v| v.contains("username=\"acct\"")));
    // A second challenge is a wrong password: no loop, the caller fails.
    let mut ch = Message::response_to(&inv2, 407, "Proxy Authentication Required", Some("g1"));
    ch.push(HeaderName::ProxyAuthenticate, "Digest realm=\"carrier\", nonce=\"n2\"");
    let now = w.net.now();
    w.net.node(B1).ep.respond(now, t2, ch).expect("respond");
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 503], "the gateway's challenge is not passed to the caller");
    assert_eq!(w.gw_events, ["used gw1", "challenged gw1 407", "released gw1", "failed gw1 407"]);
}

/// Click-to-call: the switch rings the agent (A), then the customer (B1).
fn originate(w: &mut World) -> String {
    w.dial_b = Some(B1);
    let now = w.net.now();
    let ep = &mut w.net.node(S).ep;
    let leg = Leg { uri: "sip:1000@10.0.0.1:5060".into(), to: "sip:1000@pbx.test".into(), from_user: "0301234".into(), dest: sip_proto::Peer::udp("10.0.0.1:5060".parse().expect("addr")), gateway: None, codecs: vec![], headers: vec![] };
    w.b2b.originate(now, ep, &mut w.media, "c2c-1".into(), "1000", "0301234", None, vec![leg]).expect("originate")
}

#[test]
fn click_to_call_rings_the_caller_then_dials_the_callee_and_bridges() {
    let mut w = World::new(1);
    let id = originate(&mut w);
    w.run(Duration::from_millis(50));
    let (atx, ainv) = w.take(A, Method::Invite);
    assert!(ainv.get(HeaderName::From).is_some_and(|f| f.contains("sip:0301234@")), "the agent sees whom it will be connected to");
    assert_eq!(audio_port(ainv.body()), ("10.0.0.2".into(), 20000), "our own offer, relay port facing A");
    assert!(!w.inbox.iter().any(|(n, _, _)| *n == B1), "the callee is not dialled before the caller answers");
    w.respond(A, atx, &ainv, 180, "a", None);
    w.run(Duration::from_millis(50));
    w.respond(A, atx, &ainv, 200, "a", Some(sdp("10.0.0.1", 4000)));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    assert_eq!(audio_port(binv.body()), ("10.0.0.2".into(), 20002), "the caller's answer, relay port facing B");
    w.respond(B1, btx, &binv, 200, "b", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events, ["ringing", "caller answered", "answered"]);
    let peers: Vec<_> = w.media.peers.iter().filter(|(c, _, _)| *c == id).map(|(_, s, a)| (*s, a.to_string())).collect();
    assert_eq!(peers, vec![(Side::A, "10.0.0.1:4000".to_owned()), (Side::B, "10.0.0.3:6000".to_owned())]);
    // The agent hangs up: BYE from A (to the switch's Contact) reaches B.
    let ok = Message::response_to(&ainv, 200, "OK", Some("a"));
    let mut ad = Dialog::from_uas(&ainv, "a", true).expect("a dialog");
    let _ = ok;
    let bye = ad.request(Method::Bye);
    let now = w.net.now();
    let sdest = w.net.peer(S);
    w.net.node(A).ep.send_request(now, bye, sdest).expect("bye");
    w.run(Duration::from_millis(50));
    let (bbye_tx, bbye) = w.take(B1, Method::Bye);
    w.respond(B1, bbye_tx, &bbye, 200, "b", None);
    w.run(Duration::from_millis(50));
    let c = &w.cdrs[0];
    assert_eq!((c.caller.as_str(), c.callee.as_str(), c.disposition, c.hangup_side, c.a_status, c.b_status), ("1000", "0301234", Disposition::Answered, "caller", 200, 200));
    assert_eq!(w.b2b.count(), 0);
    assert_eq!(w.b2b.index_sizes(), [0; 5], "nothing outlives its call");
}

#[test]
fn click_to_call_busy_callee_hangs_up_the_caller() {
    let mut w = World::new(1);
    originate(&mut w);
    w.run(Duration::from_millis(50));
    let (atx, ainv) = w.take(A, Method::Invite);
    w.respond(A, atx, &ainv, 200, "a", Some(sdp("10.0.0.1", 4000)));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 486, "b", None);
    w.run(Duration::from_millis(50));
    let (abye_tx, abye) = w.take(A, Method::Bye);
    w.respond(A, abye_tx, &abye, 200, "a", None);
    w.run(Duration::from_millis(50));
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].b_status, w.cdrs[0].hangup_cause.as_str()), (Disposition::Busy, 486, "user_busy"));
}

#[test]
fn click_to_call_caller_not_answering_ends_without_dialling() {
    let mut w = World::new(1);
    originate(&mut w);
    w.run(Duration::from_millis(50));
    let (atx, ainv) = w.take(A, Method::Invite);
    w.respond(A, atx, &ainv, 180, "a", None);
    w.run(Duration::from_secs(61)); // ring timeout 60 s: CANCEL to the caller
    let _ = w.take(A, Method::Cancel);
    assert!(!w.inbox.iter().any(|(n, _, _)| *n == B1));
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].hangup_cause.as_str()), (Disposition::NoAnswer, "no_answer"));
}

/// A uuid-standby agent's standing call: originated to the agent and,
/// once answered, kept with nobody dialled and no ring deadline; a parked
/// caller speaking the same codec meets it untouched (the relay lends the
/// agent's side); the agent's BYE ends it.
#[test]
fn a_standing_call_outlives_the_ring_timeout_and_meets_parked_callers() {
    let mut w = World::new(1);
    w.stand = true;
    let id = originate(&mut w);
    w.run(Duration::from_millis(50));
    let (atx, ainv) = w.take(A, Method::Invite);
    w.respond(A, atx, &ainv, 200, "a", Some(sdp("10.0.0.1", 4000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events, ["caller answered", "answered"]);
    // Twice the ring timeout: nothing is dialled, nothing ends.
    w.run(Duration::from_secs(125));
    assert!(w.cdrs.is_empty(), "the standing call stays");
    assert!(w.inbox.iter().all(|(n, _, r)| *n == A && r.method() == Some(&Method::Ack)), "no callee dialled, no BYE or CANCEL: {:?}", w.inbox.iter().map(|(n, _, r)| (*n, r.method().cloned())).collect::<Vec<_>>());
    let now = w.net.now();
    assert!(!w.b2b.stand(now, &id), "once only");
    // A caller waits in a queue (PCMU, like the agent's phone).
    w.park = true;
    let (mtx, _) = w.invite();
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(mtx).last(), Some(&200));
    let member = w.b2b.calls().iter().map(|c| c.id.clone()).find(|c| *c != id).expect("the parked caller");
    assert_eq!(w.b2b.standby_plan(&member, &id), Some(None), "same codec, same payload type: relayed untouched");
    assert_eq!(w.b2b.standby_plan(&id, &member), None, "roles matter");
    // The agent hangs up its standing call.
    let mut ad = Dialog::from_uas(&ainv, "a", true).expect("a dialog");
    let bye = ad.request(Method::Bye);
    let sdest = w.net.peer(S);
    w.net.node(A).ep.send_request(now, bye, sdest).expect("bye");
    w.run(Duration::from_millis(50));
    let c = w.cdrs.iter().find(|c| c.id == id).expect("the standing call's CDR");
    assert_eq!((c.disposition, c.hangup_side, c.a_status), (Disposition::Answered, "caller", 200));
    assert_eq!(w.b2b.standby_plan(&member, &id), None, "nothing to meet any more");
    // The waiting caller is hung up by the switch.
    let now = w.net.now();
    assert!(w.b2b.hangup(now, &mut w.net.node(S).ep, &mut w.media, &member));
    w.run(Duration::from_millis(50));
    let (btx, bye) = w.take(A, Method::Bye);
    w.respond(A, btx, &bye, 200, "x", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.b2b.count(), 0);
}

#[test]
fn refer_in_dialog_is_refused_not_relayed() {
    let mut w = World::new(1);
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    // A asks for a blind transfer to an external number.
    let mut refer = d.request(Method::Refer);
    refer.push(HeaderName::ReferTo, "<sip:0900123456@pbx.test>");
    let now = w.net.now();
    let rtx = w.net.node(A).ep.send_request(now, refer, dest).expect("refer");
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(rtx), vec![405]);
    assert!(!w.inbox.iter().any(|(n, _, r)| *n == B1 && r.method() == Some(&Method::Refer)), "REFER must not reach the other leg");
    assert_eq!(w.b2b.count(), 1, "the call goes on");
}

#[test]
fn retransmitted_2xx_of_the_winner_is_re_acked_not_hung_up() {
    let mut w = World::new(1);
    let (_atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    // B1 did not get our ACK and sends its 200 again (RFC 3261 §13.3.1.4).
    let mut again = Message::response_to(&binv, 200, "OK", Some("b1"));
    again.push(HeaderName::Contact, "<sip:1001@10.0.0.3:5060>");
    again.push(HeaderName::ContentType, "application/sdp");
    again.set_body(sdp("10.0.0.3", 6000));
    let dest = w.net.peer(S);
    w.net.node(B1).ep.send_stateless(&again, dest);
    w.run(Duration::from_millis(50));
    assert!(!w.inbox.iter().any(|(n, _, r)| *n == B1 && r.method() == Some(&Method::Bye)), "a retransmitted 200 must not hang the call up");
    assert_eq!(w.b2b.count(), 1);
}

fn audio_port(body: &[u8]) -> (String, u16) {
    let s = sdp::Session::parse_bytes(body).expect("sdp");
    let m = s.media().next().expect("m=");
    (m.effective_connection().expect("c=").address.to_owned(), m.port())
}

#[test]
fn answered_call_bridges_both_legs_and_caller_hangs_up() {
    let mut w = World::new(1);
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    // The B-leg is a new dialog, with SDP pointing at the relay port facing B.
    assert_ne!(binv.call_id().expect("cid"), "a-call-1");
    assert_eq!(binv.from().expect("from").display().as_deref(), Some("Alice"));
    assert_eq!(audio_port(binv.body()), ("10.0.0.2".into(), 20002));
    w.respond(B1, btx, &binv, 180, "b1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 180]);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx), vec![100, 180, 200]);
    let ok = w.a_responses.iter().find(|(_, r)| r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    assert_eq!(audio_port(ok.body()), ("10.0.0.2".into(), 20000), "caller talks to the relay port facing A");
    // Both sides' real media addresses were handed to the relay.
    let peers: Vec<_> = w.media.peers.iter().map(|(_, s, a)| (*s, a.to_string())).collect();
    assert!(peers.contains(&(Side::A, "10.0.0.1:4000".into())) && peers.contains(&(Side::B, "10.0.0.3:6000".into())), "{peers:?}");
    assert!(w.net.count_wire(S, "ACK") >= 1, "the switch ACKed B's 200");
    // A ACKs and hangs up.
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    let bye = d.request(Method::Bye);
    let now = w.net.now();
    w.net.node(A).ep.send_request(now, bye, dest).expect("bye");
    w.run(Duration::from_millis(50));
    let (bbye_tx, bbye) = w.take(B1, Method::Bye);
    assert_eq!(bbye.call_id(), binv.call_id());
    w.respond(B1, bbye_tx, &bbye, 200, "b1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.cdrs.len(), 1);
    let c = &w.cdrs[0];
    assert_eq!((c.disposition, c.hangup_side, c.a_status, c.b_status), (Disposition::Answered, "caller", 200, 200));
    assert!(c.bye_reply.is_none(), "without hold_bye_reply the b2bua answers the BYE itself");
    assert_eq!(c.codec.as_deref(), Some("PCMU/8000"));
    assert!(w.media.open.is_empty() && w.media.closed.len() == 1, "relay closed");
    assert_eq!(w.b2b.count(), 0);
    assert_eq!(w.b2b.index_sizes(), [0; 5], "nothing outlives its call");
}

#[test]
fn busy_is_relayed_and_recorded() {
    let mut w = World::new(1);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 486, "b1", None);
    w.run(Duration::from_millis(100));
    assert_eq!(w.a_codes(atx), vec![100, 486]);
    assert_eq!(w.cdrs[0].disposition, Disposition::Busy);
    assert_eq!(w.net.count_wire(A, "ACK"), 1, "the caller's transaction ACKed the 486");
}

#[test]
fn caller_cancel_cancels_the_b_leg() {
    let mut w = World::new(1);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 180, "b1", None);
    w.run(Duration::from_millis(50));
    let now = w.net.now();
    w.net.node(A).ep.cancel(now, atx, None).expect("cancel");
    w.run(Duration::from_millis(50));
    assert!(w.a_codes(atx).contains(&487));
    // B saw the CANCEL (its endpoint answered 200 and reported it).
    assert!(w.net.wire.iter().any(|x| x.to.to_string() == "10.0.0.3:5060" && x.first_line().starts_with("CANCEL")));
    assert_eq!(w.cdrs[0].disposition, Disposition::Cancelled);
    assert_eq!(w.cdrs[0].hangup_side, "caller");
}

#[test]
fn ring_timeout_gives_480_and_cancels_in_virtual_time() {
    let mut w = World::new(1);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 180, "b1", None);
    w.run(Duration::from_secs(61));
    assert!(w.a_codes(atx).contains(&480), "{:?}", w.a_codes(atx));
    assert!(w.net.wire.iter().any(|x| x.first_line().starts_with("CANCEL")));
    assert_eq!(w.cdrs[0].disposition, Disposition::NoAnswer);
    assert_eq!(w.cdrs[0].hangup_cause, "no_answer");
}

#[test]
fn forking_first_answer_wins_and_the_other_is_cancelled() {
    let mut w = World::new(2);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (t1, i1) = w.take(B1, Method::Invite);
    let (t2, i2) = w.take(B2, Method::Invite);
    w.respond(B1, t1, &i1, 180, "b1", None);
    w.respond(B2, t2, &i2, 180, "b2", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.b2b.channel_count(), 3, "the caller and two ringing forks");
    w.respond(B2, t2, &i2, 200, "b2", Some(sdp("10.0.0.4", 7000)));
    w.run(Duration::from_millis(100));
    assert_eq!(w.b2b.channel_count(), 2, "the caller and the answered fork");
    assert_eq!(w.a_codes(atx).iter().filter(|c| **c == 200).count(), 1);
    assert!(w.net.wire.iter().any(|x| x.to.to_string() == "10.0.0.3:5060" && x.first_line().starts_with("CANCEL")), "B1 cancelled");
    assert!(!w.net.wire.iter().any(|x| x.to.to_string() == "10.0.0.4:5060" && x.first_line().starts_with("CANCEL")), "B2 not cancelled");
    assert_eq!(w.b2b.count(), 1);
}

#[test]
fn callee_bye_ends_the_caller_leg() {
    let mut w = World::new(1);
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    // B hangs up: its BYE goes to the switch's Contact.
    let mut bd = Dialog::from_uas(&binv, "b1", true).expect("b dialog");
    let bye = bd.request(Method::Bye);
    let now = w.net.now();
    let sdest = w.net.peer(S);
    w.net.node(B1).ep.send_request(now, bye, sdest).expect("bye");
    w.run(Duration::from_millis(50));
    let (abye_tx, abye) = w.take(A, Method::Bye);
    assert_eq!(abye.call_id(), Ok("a-call-1"));
    w.respond(A, abye_tx, &abye, 200, "a", None);
    w.run(Duration::from_millis(50));
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].hangup_side), (Disposition::Answered, "callee"));
}

fn agent_leg(node: usize) -> Leg {
    let host = format!("10.0.0.{}:5060", node + 1);
    Leg { uri: format!("sip:1001@{host}"), to: "sip:1001@pbx.test".into(), from_user: "1000".into(), dest: sip_proto::Peer::udp(host.parse().expect("addr")), gateway: None, codecs: vec![], headers: vec![] }
}

/// Ring the agent at `node`, as offer (group) `node`.
fn dial_agent(w: &mut World, id: &str, node: usize) -> bool {
    let now = w.net.now();
    let ep = &mut w.net.node(S).ep;
    w.b2b.dial_agent(now, ep, id, node as u64, vec![agent_leg(node)])
}

/// A queue call: the caller is answered by us at once, a first agent
/// does not answer (busy), a second is cancelled by the engine, a third
/// answers and is bridged on the caller's codec; the caller hangs up.
#[test]
fn parked_call_is_answered_by_us_then_agents_are_tried_until_one_answers() {
    let mut w = World::new(1);
    w.park = true;
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx).last(), Some(&200), "answered by the switch");
    assert!(!w.a_codes(atx).contains(&180), "no ringing: the caller is answered at once");
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    assert_eq!(audio_port(ok.body()), ("10.0.0.2".into(), 20000), "our relay port facing the caller");
    let body = String::from_utf8_lossy(ok.body()).to_string();
    assert!(body.contains("m=audio 20000 RTP/AVP 0 101"), "one codec (the caller's) plus its events: {body}");
    let id = format!("call-{}", w.b2b.calls()[0].id.trim_start_matches("call-"));
    assert!(w.b2b.is_waiting(&id));
    assert_eq!(w.b2b.caller_payload_type(&id), Some(0));
    assert_eq!(w.orig_events, ["answered"]);
    // Agent 1: busy.
    assert!(dial_agent(&mut w, &id, B1));
    assert!(!dial_agent(&mut w, &id, B1), "one ringing per offer");
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    assert_eq!(audio_port(binv.body()), ("10.0.0.2".into(), 20002), "the agent is offered the relay port facing B");
    assert!(String::from_utf8_lossy(binv.body()).contains("RTP/AVP 0 101"), "with the caller's codec");
    w.respond(B1, btx, &binv, 486, "b1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events, ["answered", format!("agent failed 486 ({B1})").as_str()]);
    assert!(w.cdrs.is_empty() && w.b2b.is_waiting(&id), "the caller keeps waiting");
    // Agent 2 rings; the engine gives up on it (ring timeout): CANCEL.
    assert!(dial_agent(&mut w, &id, B2));
    w.run(Duration::from_millis(50));
    let (b2tx, b2inv) = w.take(B2, Method::Invite);
    w.respond(B2, b2tx, &b2inv, 180, "b2", None);
    w.run(Duration::from_millis(50));
    let now = w.net.now();
    assert!(w.b2b.cancel_agent(now, &mut w.net.node(S).ep, &id, None));
    w.run(Duration::from_millis(50));
    let _ = w.take(B2, Method::Cancel);
    assert_eq!(w.orig_events, ["answered", format!("agent failed 486 ({B1})").as_str()], "a cancelled agent leg is not reported");
    // Agent 1 again: answers.
    assert!(dial_agent(&mut w, &id, B1));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1b", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events, ["answered", format!("agent failed 486 ({B1})").as_str(), format!("bridged {B1}").as_str()]);
    assert!(!w.b2b.is_waiting(&id));
    assert!(w.media.peers.iter().any(|(c, s, a)| *c == id && *s == Side::B && a.to_string() == "10.0.0.3:6000"));
    // The caller hangs up: the agent gets a BYE.
    let mut ad = Dialog::from_uac(&w.b2b_a_invite(), &ok).expect("dialog");
    let bye = ad.request(Method::Bye);
    let now = w.net.now();
    let sdest = w.net.peer(S);
    w.net.node(A).ep.send_request(now, bye, sdest).expect("bye");
    w.run(Duration::from_millis(50));
    let (bye_tx, bye) = w.take(B1, Method::Bye);
    w.respond(B1, bye_tx, &bye, 200, "b1b", None);
    w.run(Duration::from_millis(50));
    let c = &w.cdrs[0];
    assert_eq!((c.disposition, c.hangup_side, c.a_status, c.b_status, c.callee.as_str()), (Disposition::Answered, "caller", 200, 200, "7000"));
    assert_eq!(w.b2b.count(), 0);
    assert_eq!(w.b2b.index_sizes(), [0; 5], "nothing outlives its call");
}

/// Ring-all: two agents ring for one parked caller at once. One
/// declining is reported for its own offer only, while the other rings on;
/// when that one answers it is bridged under its offer, and the leg of a
/// third agent still ringing is cancelled, unreported.
#[test]
fn parked_call_rings_several_agents_at_once_each_under_its_offer() {
    let mut w = World::new(1);
    w.park = true;
    w.invite();
    w.run(Duration::from_millis(50));
    let id = format!("call-{}", w.b2b.calls()[0].id.trim_start_matches("call-"));
    assert!(dial_agent(&mut w, &id, B1));
    assert!(dial_agent(&mut w, &id, B2), "another agent rings at the same time");
    let now = w.net.now();
    let b3 = Leg { uri: "sip:1003@10.0.0.3:5070".into(), ..agent_leg(B1) };
    assert!(w.b2b.dial_agent(now, &mut w.net.node(S).ep, &id, 7, vec![b3]), "and a third");
    w.run(Duration::from_millis(50));
    let invites = w.all(B1, Method::Invite);
    assert_eq!(invites.len(), 2, "agents 1 and 3 share node B1's address here");
    let (b1tx, b1inv) = invites.iter().find(|(_, m)| m.request_uri_str().is_some_and(|u| u.contains("1001"))).cloned().expect("agent 1");
    let (b3tx, b3inv) = invites.iter().find(|(_, m)| m.request_uri_str().is_some_and(|u| u.contains("1003"))).cloned().expect("agent 3");
    let (b2tx, b2inv) = w.take(B2, Method::Invite);
    for (node, tx, inv, tag) in [(B1, b1tx, &b1inv, "b1"), (B2, b2tx, &b2inv, "b2"), (B1, b3tx, &b3inv, "b3")] {
        w.respond(node, tx, inv, 180, tag, None);
    }
    w.run(Duration::from_millis(50));
    w.respond(B1, b1tx, &b1inv, 603, "b1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events, ["answered", format!("agent failed 603 ({B1})").as_str()], "a 603 ends that agent's offer only");
    assert!(w.all(B2, Method::Cancel).is_empty(), "the other agent rings on");
    w.respond(B2, b2tx, &b2inv, 200, "b2", Some(sdp("10.0.0.4", 6000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events.last(), Some(&format!("bridged {B2}")));
    let cancels = w.all(B1, Method::Cancel);
    assert_eq!(cancels.len(), 1, "agent 3's leg is cancelled");
    assert!(cancels[0].1.request_uri_str().is_some_and(|u| u.contains("1003")));
    assert_eq!(w.orig_events.len(), 3, "the cancelled leg is not reported: {:?}", w.orig_events);
}

/// A parked caller's re-INVITE (hold) is answered by us; its BYE while
/// an agent rings cancels the agent and ends the call.
#[test]
fn parked_caller_reinvite_is_answered_locally_and_bye_cancels_the_agent() {
    let mut w = World::new(1);
    w.park = true;
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let id = w.b2b.calls()[0].id.clone();
    let mut ad = Dialog::from_uac(&w.b2b_a_invite(), &ok).expect("dialog");
    let mut re = ad.request(Method::Invite);
    re.push(HeaderName::ContentType, "application/sdp");
    re.set_body(Bytes::from(String::from_utf8_lossy(&sdp("10.0.0.1", 4000)).replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")));
    let now = w.net.now();
    let sdest = w.net.peer(S);
    let rtx = w.net.node(A).ep.send_request(now, re, sdest).expect("reinvite");
    w.run(Duration::from_millis(50));
    let r = w.a_responses.iter().find(|(t, r)| *t == rtx && r.status() >= Some(200)).map(|(_, r)| r.clone()).expect("answer to the re-INVITE");
    assert_eq!(r.status(), Some(200));
    assert!(String::from_utf8_lossy(r.body()).contains("a=recvonly"), "hold answered recvonly");
    // SIP INFO digits from the parked caller are answered and reported.
    let mut info = ad.request(Method::Info);
    info.push(HeaderName::ContentType, "application/dtmf-relay");
    info.set_body(Bytes::from_static(b"Signal=5\r\nDuration=160\r\n"));
    let now = w.net.now();
    let itx = w.net.node(A).ep.send_request(now, info, sdest).expect("info");
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(itx), vec![200]);
    assert_eq!(w.orig_events.last().map(String::as_str), Some("dtmf 5"));
    assert!(dial_agent(&mut w, &id, B1));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 180, "b1", None);
    w.run(Duration::from_millis(50));
    let bye = ad.request(Method::Bye);
    let now = w.net.now();
    w.net.node(A).ep.send_request(now, bye, sdest).expect("bye");
    w.run(Duration::from_millis(50));
    let _ = w.take(B1, Method::Cancel);
    assert_eq!(w.cdrs.len(), 1);
    assert_eq!((w.cdrs[0].disposition, w.cdrs[0].hangup_side), (Disposition::Answered, "caller"));
}

#[test]
fn park_without_an_offer_or_common_codec_is_refused_without_answering() {
    let mut w = World::new(1);
    w.park = true;
    let mut m = Message::request(Method::Invite, "sip:7000@pbx.test");
    m.push(HeaderName::From, "<sip:1000@pbx.test>;tag=a1");
    m.push(HeaderName::To, "<sip:7000@pbx.test>");
    m.push(HeaderName::CallId, "a-call-g729");
    m.push(HeaderName::CSeq, "1 INVITE");
    m.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
    m.push(HeaderName::ContentType, "application/sdp");
    m.set_body(Bytes::from("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"));
    let now = w.net.now();
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_request(now, m, dest).expect("send");
    w.run(Duration::from_millis(50));
    assert!(matches!(w.start_errors.as_slice(), [StartError::NoCommonMedia]));
    assert!(w.media.open.is_empty(), "the relay ports were given back");
    assert_eq!(w.b2b.count(), 0);
    assert_eq!(w.b2b.index_sizes(), [0; 5], "nothing outlives its call");
}

fn opus_sdp(dir: &str) -> Bytes {
    Bytes::from(format!("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 110\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\na={dir}\r\n"))
}

#[test]
fn legs_without_a_common_codec_are_transcoded_and_stay_so_across_a_hold() {
    let mut w = World::new(1);
    w.b2b = transcoding_b2bua();
    let (atx, ainv) = w.invite_with(opus_sdp("sendrecv"));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    let offer = std::str::from_utf8(binv.body()).expect("utf8").to_owned();
    assert!(offer.contains("m=audio 20002 RTP/AVP 111 110 0 8 96\r\n"), "B is offered opus, then what the switch adds: {offer}");
    // B speaks PCMU only.
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let answer = std::str::from_utf8(ok.body()).expect("utf8").to_owned();
    assert!(answer.contains("m=audio 20000 RTP/AVP 111 110\r\n") && answer.contains("a=rtpmap:111 opus/48000/2"), "A gets opus: {answer}");
    let plan = w.media.transcodes.last().and_then(|(_, p)| p.clone()).expect("the relay was told to transcode");
    assert_eq!((plan.a.codec.name.as_ref(), plan.a.payload_type, plan.a.events), ("opus", 111, Some(110)));
    assert_eq!((plan.b.codec.name.as_ref(), plan.b.payload_type, plan.b.events), ("PCMU", 0, Some(101)));
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    // A puts B on hold, still offering opus only.
    let mut hold = d.request(Method::Invite);
    hold.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
    hold.push(HeaderName::ContentType, "application/sdp");
    hold.set_body(opus_sdp("sendonly"));
    let now = w.net.now();
    let htx = w.net.node(A).ep.send_request(now, hold, dest).expect("re-INVITE");
    w.run(Duration::from_millis(50));
    let (brtx, breinv) = w.take(B1, Method::Invite);
    assert!(std::str::from_utf8(breinv.body()).expect("utf8").contains(" 0 8 96\r\n"), "the re-offer gains PCMU too");
    let held = Bytes::from(std::str::from_utf8(&sdp("10.0.0.3", 6000)).expect("utf8").to_owned() + "a=recvonly\r\n");
    w.respond(B1, brtx, &breinv, 200, "b1", Some(held));
    w.run(Duration::from_millis(50));
    let r = w.a_responses.iter().rev().find(|(t, r)| *t == htx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200 to the hold");
    let body = std::str::from_utf8(r.body()).expect("utf8");
    assert!(body.contains("RTP/AVP 111 110\r\n") && body.contains("a=recvonly"), "A's hold is answered in opus, recvonly: {body}");
    assert!(w.media.transcodes.iter().all(|(_, p)| p.as_ref() == Some(&plan)), "the plan is unchanged: {:?}", w.media.transcodes);
    // The CDR names both codecs.
    let bye = d.request(Method::Bye);
    let now = w.net.now();
    w.net.node(A).ep.send_request(now, bye, dest).expect("bye");
    w.run(Duration::from_millis(50));
    let (bbye_tx, bbye) = w.take(B1, Method::Bye);
    w.respond(B1, bbye_tx, &bbye, 200, "b1", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.cdrs.last().and_then(|c| c.codec.clone()).as_deref(), Some("opus/48000>PCMU/8000"));
}

/// Legs that share Opus are relayed untouched, and the relay is told what
/// the streams carry and in which payload type each side sends: B answers
/// Opus under its own number (RFC 3264 allows it), so A sends 96 and B
/// sends 111.
#[test]
fn a_relayed_call_tells_the_relay_its_codec_and_each_sides_payload_type() {
    let mut w = World::new(1);
    w.b2b = transcoding_b2bua();
    let (atx, ainv) = w.invite_with(opus_sdp("sendrecv"));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    let b_opus = Bytes::from_static(b"v=0\r\no=- 2 2 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 6000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n");
    w.respond(B1, btx, &binv, 200, "b1", Some(b_opus));
    w.run(Duration::from_millis(50));
    assert!(w.a_responses.iter().any(|(t, r)| *t == atx && r.status() == Some(200)));
    assert!(w.media.transcodes.iter().all(|(_, p)| p.is_none()), "shared codec: no transcoding");
    let r = w.media.relayed.last().and_then(|(_, r)| r.clone()).expect("the relay was told the codec");
    assert_eq!((r.codec.name.as_ref(), r.codec.clock_rate, r.from_a, r.from_b), ("opus", 48000, 96, 111));
}

/// A queue caller that speaks only Opus: the switch answers in Opus,
/// offers agents G.711 and transcodes; the plan follows the agent's codec.
#[test]
fn parked_opus_caller_is_answered_in_opus_and_transcoded_to_the_agent() {
    let mut w = World::new(1);
    w.park = true;
    w.b2b = transcoding_b2bua();
    let (atx, _) = w.invite_with(opus_sdp("sendrecv"));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("answered by the switch");
    let body = String::from_utf8_lossy(ok.body()).to_string();
    assert!(body.contains("m=audio 20000 RTP/AVP 111 110\r\n") && body.contains("opus/48000/2"), "{body}");
    let id = format!("call-{}", w.b2b.calls()[0].id.trim_start_matches("call-"));
    let plan = w.media.transcodes.last().and_then(|(_, p)| p.clone()).expect("transcoding from the start (music on hold)");
    assert_eq!((plan.a.codec.name.as_ref(), plan.a.payload_type, plan.b.codec.name.as_ref(), plan.b.payload_type), ("opus", 111, "PCMU", 0));
    assert_eq!(w.b2b.caller_payload_type(&id), Some(0), "music is made in the B side's G.711 and transcoded");
    assert!(dial_agent(&mut w, &id, B1));
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    let offer = String::from_utf8_lossy(binv.body()).to_string();
    assert!(offer.contains("m=audio 20002 RTP/AVP 0 8 ") && !offer.contains("opus"), "agents are offered G.711 only: {offer}");
    let pcma = Bytes::from("v=0\r\no=- 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n");
    w.respond(B1, btx, &binv, 200, "b1", Some(pcma));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events.last(), Some(&format!("bridged {B1}")));
    let plan = w.media.transcodes.last().and_then(|(_, p)| p.clone()).expect("plan");
    assert_eq!((plan.a.codec.name.as_ref(), plan.b.codec.name.as_ref(), plan.b.payload_type, plan.b.events), ("opus", "PCMA", 8, Some(101)));
    // Without Opus among the transcoded codecs the caller is refused (488 by the driver).
    let mut w2 = World::new(1);
    w2.park = true;
    w2.invite_with(opus_sdp("sendrecv"));
    w2.run(Duration::from_millis(50));
    assert_eq!(w2.start_errors, vec![StartError::NoCommonMedia]);
}

/// A SIP INFO digit becomes RFC 4733 towards a side that negotiated
/// telephone-event (in that side's payload type), and is relayed as INFO
/// to a side that did not. The relay is told the events' clock rate too
/// (48 kHz where that side's telephone-event runs at it).
#[test]
fn info_digits_become_rfc4733_where_the_other_side_takes_events() {
    for (b_has_events, rate) in [(true, 8000u32), (false, 0), (true, 48000)] {
        let mut w = World::new(1);
        let (atx, ainv) = w.invite();
        w.run(Duration::from_millis(50));
        let (btx, binv) = w.take(B1, Method::Invite);
        let answer = if b_has_events {
            Bytes::from(format!("v=0\r\no=- 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/{rate}\r\n"))
        } else {
            Bytes::from("v=0\r\no=- 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        };
        w.respond(B1, btx, &binv, 200, "b1", Some(answer));
        w.run(Duration::from_millis(50));
        let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
        let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
        let dest = w.net.peer(S);
        w.net.node(A).ep.send_ack(d.ack(1), dest);
        let mut info = d.request(Method::Info);
        info.push(HeaderName::ContentType, "application/dtmf-relay");
        info.set_body(Bytes::from_static(b"Signal=5\r\nDuration=250\r\n"));
        let now = w.net.now();
        let itx = w.net.node(A).ep.send_request(now, info, dest).expect("info");
        w.run(Duration::from_millis(50));
        if b_has_events {
            assert_eq!(w.a_codes(itx), vec![200], "answered by the switch");
            assert_eq!(w.media.digits, vec![(w.b2b.calls()[0].id.clone(), Side::B, '5', 96, rate, 250)], "sent as RFC 4733 in B's payload type and clock");
            assert!(!w.inbox.iter().any(|(_, _, r)| r.method() == Some(&Method::Info)), "no INFO reaches B");
            assert!(w.orig_events.contains(&"dtmf 5".to_owned()));
        } else {
            assert!(w.media.digits.is_empty());
            let (b_itx, b_info) = w.take(B1, Method::Info);
            assert_eq!(b_info.body().as_ref(), b"Signal=5\r\nDuration=250\r\n");
            w.respond(B1, b_itx, &b_info, 200, "b1", None);
            w.run(Duration::from_millis(50));
            assert_eq!(w.a_codes(itx), vec![200], "B's answer relayed");
        }
    }
}

/// The callee extension's codec preference: its phones are offered only
/// those codecs; with transcoding, the ones the caller lacks are added.
#[test]
fn the_callees_codec_preference_restricts_its_offer() {
    let mut w = World::new(1);
    w.callee_codecs = vec!["PCMA".into()];
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    assert!(!w.inbox.iter().any(|(n, _, _)| *n == B1), "a PCMU caller has nothing for a PCMA-only callee");
    assert_eq!(w.start_errors, vec![StartError::NoCommonMedia], "the driver answers 488");
    let _ = atx;
    let mut w = World::new(1);
    w.callee_codecs = vec!["PCMA".into()];
    w.b2b = transcoding_b2bua();
    w.invite();
    w.run(Duration::from_millis(50));
    let (_, binv) = w.take(B1, Method::Invite);
    let offer = String::from_utf8_lossy(binv.body()).to_string();
    assert!(offer.contains("m=audio 20002 RTP/AVP 101 8\r\n") && !offer.contains("PCMU"), "PCMA only (added), with the events: {offer}");
}

/// A route may bypass the media although the switch relays by default:
/// no relay is opened, both legs see each other's SDP untouched, and the
/// callee is not offered codecs the switch would transcode.
#[test]
fn a_bypass_route_leaves_the_media_alone_on_a_relaying_switch() {
    let mut w = World::new(1);
    w.b2b = transcoding_b2bua();
    w.route_media = Some(MediaMode::Bypass);
    let (atx, _) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    assert_eq!(binv.body(), &sdp("10.0.0.1", 4000), "the caller's offer, untouched");
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    assert_eq!(ok.body(), &sdp("10.0.0.3", 6000), "the callee's answer, untouched");
    assert!(w.media.open.is_empty() && w.media.peers.is_empty(), "no relay: {:?}", w.media.open);
    // The same switch relays (and offers transcodable codecs) by default.
    let mut w = World::new(1);
    w.b2b = transcoding_b2bua();
    w.invite();
    w.run(Duration::from_millis(50));
    let (_, binv) = w.take(B1, Method::Invite);
    assert!(String::from_utf8_lossy(binv.body()).contains("m=audio 20002 "), "relayed by default");
    assert_eq!(w.media.open.len(), 1);
}

/// A caller's digit (found by the relay) goes to a callee that negotiated
/// no telephone-event but allows INFO as SIP INFO; not to one with events.
#[test]
fn digits_go_as_info_to_a_callee_without_events_that_allows_info() {
    for (events, allow) in [(false, true), (true, true), (false, false)] {
        let mut w = World::new(1);
        let (_, _) = w.invite();
        w.run(Duration::from_millis(50));
        let (btx, binv) = w.take(B1, Method::Invite);
        let fmts = if events { "0 101\r\na=rtpmap:101 telephone-event/8000" } else { "0" };
        let body = Bytes::from(format!("v=0\r\no=- 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 6000 RTP/AVP {fmts}\r\na=rtpmap:0 PCMU/8000\r\n"));
        let mut r = Message::response_to(&binv, 200, "OK", Some("b1"));
        r.push(HeaderName::Contact, "<sip:1001@10.0.0.3:5060>");
        if allow {
            r.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, INFO");
        }
        r.push(HeaderName::ContentType, "application/sdp");
        r.set_body(body);
        let now = w.net.now();
        w.net.node(B1).ep.respond(now, btx, r).expect("respond");
        w.run(Duration::from_millis(50));
        let id = w.b2b.calls()[0].id.clone();
        let now = w.net.now();
        let sent = w.b2b.send_info_digit(now, &mut w.net.node(S).ep, &id, '7');
        w.run(Duration::from_millis(50));
        assert_eq!(sent, !events && allow, "events={events} allow={allow}");
        let info = w.inbox.iter().find(|(n, _, r)| *n == B1 && r.method() == Some(&Method::Info));
        match info {
            Some((_, _, m)) => {
                assert!(sent);
                assert_eq!(m.get(HeaderName::ContentType), Some("application/dtmf-relay"));
                assert_eq!(m.body().as_ref(), b"Signal=7\r\nDuration=160\r\n");
            }
            None => assert!(!sent),
        }
    }
}

/// RFC 4028 on the caller's leg: an interval below 90 s is refused; an
/// accepted one is confirmed in the 200 (the caller refreshes); a refresh
/// keeps the call; without one the call is torn down on time (virtual clock).
#[test]
fn session_timers_with_the_caller() {
    let mut w = World::new(1);
    w.invite_with_headers(sdp("10.0.0.1", 4000), &[(HeaderName::SessionExpires, "30"), (HeaderName::Supported, "timer")]);
    w.run(Duration::from_millis(50));
    assert_eq!(w.start_errors, vec![StartError::SessionIntervalTooSmall], "the driver answers 422 with Min-SE");

    let mut w = World::new(1);
    let (atx, ainv) = w.invite_with_headers(sdp("10.0.0.1", 4000), &[(HeaderName::SessionExpires, "120;refresher=uac"), (HeaderName::Supported, "timer")]);
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    assert!(binv.get(HeaderName::SessionExpires).is_none(), "the timer is ours with the caller, not passed on");
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    assert_eq!(ok.get(HeaderName::SessionExpires), Some("120;refresher=uac"));
    assert_eq!(ok.get(HeaderName::Require), Some("timer"));
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    // A refresh (re-INVITE, same SDP) at 60 s: relayed, answered with the timer again.
    w.run(Duration::from_secs(60));
    let mut re = d.request(Method::Invite);
    re.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
    re.push(HeaderName::SessionExpires, "120;refresher=uac");
    re.push(HeaderName::ContentType, "application/sdp");
    re.set_body(sdp("10.0.0.1", 4000));
    let now = w.net.now();
    let rtx = w.net.node(A).ep.send_request(now, re, dest).expect("refresh");
    w.run(Duration::from_millis(50));
    let (brtx, breinv) = w.take(B1, Method::Invite);
    w.respond(B1, brtx, &breinv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let r = w.a_responses.iter().rev().find(|(t, r)| *t == rtx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200 to the refresh");
    assert_eq!(r.get(HeaderName::SessionExpires), Some("120;refresher=uac"));
    // 100 s after the first answer (past its 88 s end) the call is still up.
    w.run(Duration::from_secs(40));
    assert!(w.cdrs.is_empty() && w.b2b.count() == 1, "refreshed: still up");
    // No further refresh: 88 s after the refresh both legs get a BYE.
    w.run(Duration::from_secs(50));
    let _ = w.take(B1, Method::Bye);
    let _ = w.take(A, Method::Bye);
    w.run(Duration::from_secs(40));
    assert_eq!(w.cdrs.len(), 1);
    assert_eq!(w.cdrs[0].hangup_cause, "session_timer_expired");

    // A caller that does not support timers gets none.
    let mut w = World::new(1);
    let (atx, ainv) = w.invite_with_headers(sdp("10.0.0.1", 4000), &[(HeaderName::SessionExpires, "120")]);
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    assert!(ok.get(HeaderName::SessionExpires).is_none());
    let d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    w.run(Duration::from_secs(300));
    assert_eq!(w.b2b.count(), 1, "no timer, no teardown");
}

/// Toll fraud: a re-INVITE whose Request-URI names another number (a
/// carrier's) is still only the existing call's: it goes to the B-leg's
/// dialog, to the callee, and nowhere else.
#[test]
fn a_reinvite_cannot_retarget_the_call() {
    let mut w = World::new(2);
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    let _ = w.take(B2, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    w.run(Duration::from_millis(50));
    w.inbox.clear();
    let mut re = d.request(Method::Invite);
    re.set_request_uri("sip:0049301234@carrier.example");
    re.push(HeaderName::Contact, "<sip:1000@10.0.0.1:5060>");
    re.push(HeaderName::ContentType, "application/sdp");
    re.set_body(sdp("10.0.0.1", 4000));
    let now = w.net.now();
    w.net.node(A).ep.send_request(now, re, dest).expect("re-INVITE");
    w.run(Duration::from_millis(50));
    let invites: Vec<(usize, String)> = w.inbox.iter().filter(|(_, _, r)| r.method() == Some(&Method::Invite)).map(|(n, _, r)| (*n, r.request_uri().map(|u| u.to_string()).unwrap_or_default())).collect();
    assert_eq!(invites, vec![(B1, "sip:1001@10.0.0.3:5060".to_owned())], "only the answered callee, at its own contact");
    assert_eq!(w.b2b.count(), 1);
}

/// The test switch with PCMU, PCMA and Opus transcoding on.
fn transcoding_b2bua() -> B2bua {
    B2bua::new(B2buaConfig {
        transcode: vec![sdp::Codec::PCMU, sdp::Codec::PCMA, sdp::Codec::OPUS],
        domain: "pbx.test".into(),
        media_ip: "10.0.0.2".parse().expect("ip"),
        media_mode: MediaMode::Relay,
        ring_timeout: Duration::from_secs(60),
        user_agent: "ferroswitch-test".into(),
        gateway_progress_timeout: Duration::from_secs(10),
        hold_bye_reply: false,
    })
}

/// With `hold_bye_reply`, the 200 to the caller's BYE is not sent by the
/// b2bua: it comes with the call's record, and the caller sees it only
/// when the driver sends it (after storing the record).
#[test]
fn held_bye_reply_goes_out_only_when_the_driver_sends_it() {
    let mut w = World::new(1);
    w.b2b = B2bua::new(B2buaConfig {
        transcode: Vec::new(),
        domain: "pbx.test".into(),
        media_ip: "10.0.0.2".parse().expect("ip"),
        media_mode: MediaMode::Relay,
        ring_timeout: Duration::from_secs(60),
        user_agent: "ferroswitch-test".into(),
        gateway_progress_timeout: Duration::from_secs(10),
        hold_bye_reply: true,
    });
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_ack(d.ack(1), dest);
    let bye = d.request(Method::Bye);
    let now = w.net.now();
    let bye_tx = w.net.node(A).ep.send_request(now, bye, dest).expect("bye");
    w.run(Duration::from_millis(50));
    // The callee is hung up at once; the caller's BYE waits for the driver.
    let (bbye_tx, bbye) = w.take(B1, Method::Bye);
    w.respond(B1, bbye_tx, &bbye, 200, "b1", None);
    w.run(Duration::from_millis(200));
    assert_eq!(w.cdrs.len(), 1);
    assert!(w.a_codes(bye_tx).is_empty(), "no answer to the BYE before the record is stored");
    let (tx, reply) = w.cdrs[0].bye_reply.take().expect("the BYE's 200 travels with the record");
    assert_eq!(reply.status(), Some(200));
    let now = w.net.now();
    w.net.node(S).ep.respond(now, tx, reply).expect("respond");
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(bye_tx), vec![200]);
}

/// The far end of an answered call is lost for good (the cluster node it
/// went through died): the call is held as a parked call, nothing is sent
/// to the lost leg, the caller is put through to another leg on its own
/// codec and bridged, and its hang-up goes to the new leg only.
#[test]
fn a_call_whose_far_end_is_lost_is_held_and_put_through_elsewhere() {
    let mut w = World::new(1);
    let (atx, ainv) = w.invite();
    w.run(Duration::from_millis(50));
    let (btx, binv) = w.take(B1, Method::Invite);
    w.respond(B1, btx, &binv, 200, "b1", Some(sdp("10.0.0.3", 6000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.a_codes(atx).last(), Some(&200));
    let ok = w.a_responses.iter().find(|(t, r)| *t == atx && r.status() == Some(200)).map(|(_, r)| r.clone()).expect("200");
    let id = w.b2b.calls()[0].id.clone();
    assert_eq!(w.b2b.calls_with_peer("10.0.0.3:5060".parse().expect("addr")), [id.clone()], "the leg to B1");
    assert_eq!(w.b2b.calls_with_peer("10.0.0.1:5060".parse().expect("addr")), [id.clone()], "the caller");
    assert!(w.b2b.calls_with_peer("10.0.0.4:5060".parse().expect("addr")).is_empty());
    assert!(!dial_agent(&mut w, &id, B2), "a bridged call takes no other leg");
    let byes_before = w.net.count_wire(S, "BYE");
    assert!(w.b2b.repark(&id));
    assert!(!w.b2b.repark(&id), "held already: no leg to lose");
    assert!(w.b2b.is_waiting(&id));
    assert!(w.b2b.calls_with_peer("10.0.0.3:5060".parse().expect("addr")).is_empty(), "the lost leg is forgotten");
    assert!(dial_agent(&mut w, &id, B2));
    w.run(Duration::from_millis(50));
    let (b2tx, b2inv) = w.take(B2, Method::Invite);
    assert_eq!(audio_port(b2inv.body()), ("10.0.0.2".into(), 20002), "offered our port facing B");
    assert!(String::from_utf8_lossy(b2inv.body()).contains("RTP/AVP 0"), "on the caller's codec");
    w.respond(B2, b2tx, &b2inv, 200, "b2", Some(sdp("10.0.0.4", 7000)));
    w.run(Duration::from_millis(50));
    assert_eq!(w.orig_events.last().map(String::as_str), Some(format!("bridged {B2}").as_str()));
    assert!(w.media.peers.iter().any(|(c, s, a)| *c == id && *s == Side::B && a.to_string() == "10.0.0.4:7000"));
    assert_eq!(w.net.count_wire(S, "BYE"), byes_before, "nothing to the lost leg");
    // The caller hangs up: the new leg gets the BYE.
    let mut d = Dialog::from_uac(&ainv, &ok).expect("dialog");
    let bye = d.request(Method::Bye);
    let now = w.net.now();
    let dest = w.net.peer(S);
    w.net.node(A).ep.send_request(now, bye, dest).expect("bye");
    w.run(Duration::from_millis(50));
    let (bye_tx, bye) = w.take(B2, Method::Bye);
    assert_eq!(bye.call_id(), b2inv.call_id());
    w.respond(B2, bye_tx, &bye, 200, "b2", None);
    w.run(Duration::from_millis(50));
    assert_eq!(w.net.count_wire(S, "BYE"), byes_before + 1, "one BYE, to the new leg");
    assert_eq!(w.cdrs.len(), 1);
    assert_eq!(w.b2b.count(), 0);
    assert_eq!(w.b2b.index_sizes(), [0; 5], "nothing outlives its call");
}
