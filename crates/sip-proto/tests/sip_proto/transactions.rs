use sip_msg::{HeaderName, Message, Method};
use sip_proto::{EndpointConfig, Event, TxId};
use std::time::Duration;
use testkit::sim::{Faults, SimNet};
use testkit::sipmsg::request;

fn pair(seed: u64) -> (SimNet, usize, usize) {
    let mut net = SimNet::new(seed);
    let a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let b = net.add("10.0.0.2:5060", EndpointConfig::default());
    (net, a, b)
}

fn requests(events: Vec<(Duration, Event)>) -> Vec<(TxId, Message)> {
    events
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Request { tx, request, .. } => Some((tx, request)),
            _ => None,
        })
        .collect()
}

fn responses(events: &[(Duration, Event)], tx: TxId) -> Vec<u16> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Response { tx: t, response } if *t == tx => response.status(),
            _ => None,
        })
        .collect()
}

fn has_timeout(events: &[(Duration, Event)], tx: TxId) -> Option<Duration> {
    events.iter().find_map(|(at, e)| matches!(e, Event::Timeout { tx: t } if *t == tx).then_some(*at))
}

#[test]
fn timer_b_fires_after_64_t1_with_doubling_retransmissions() {
    let (mut net, a, _) = pair(1);
    let now = net.now();
    let dest = net.peer_at("10.0.0.99:5060"); // nobody there
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c1", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_secs(40));
    let ev = net.take_events(a);
    assert_eq!(has_timeout(&ev, tx), Some(Duration::from_secs(32)));
    // Sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s: Timer A doubles without cap.
    let times: Vec<_> = net.wire.iter().filter(|w| w.first_line().starts_with("INVITE")).map(|w| w.at.as_millis()).collect();
    assert_eq!(times, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(net.node(a).ep.transaction_count(), 0);
}

#[test]
fn timer_f_caps_retransmissions_at_t2() {
    let (mut net, a, _) = pair(2);
    let now = net.now();
    let dest = net.peer_at("10.0.0.99:5060");
    let tx = net.node(a).ep.send_request(now, request(Method::Options, "sip:bob@b.example", "c2", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_secs(40));
    let ev = net.take_events(a);
    assert_eq!(has_timeout(&ev, tx), Some(Duration::from_secs(32)));
    let times: Vec<_> = net.wire.iter().filter(|w| w.first_line().starts_with("OPTIONS")).map(|w| w.at.as_millis()).collect();
    assert_eq!(times, vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
}

#[test]
fn reliable_transport_does_not_retransmit() {
    let mut net = SimNet::new(3).reliable();
    let a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let now = net.now();
    let dest = net.peer_at("10.0.0.99:5060");
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c3", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_secs(40));
    assert_eq!(has_timeout(&net.take_events(a), tx), Some(Duration::from_secs(32)));
    assert_eq!(net.count_wire(a, "INVITE"), 1);
}

#[test]
fn invite_rejected_is_acked_by_the_transaction_and_absorbed() {
    let (mut net, a, b) = pair(4);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c4", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let reqs = requests(net.take_events(b));
    assert_eq!(reqs.len(), 1);
    let (stx, invite) = &reqs[0];
    // 100 Trying went out at once.
    assert_eq!(net.count_wire(b, "SIP/2.0 100"), 1);
    // Lose the first 486 so the UAS must retransmit it (Timer G).
    let mut lost = false;
    net.drop_if(move |w| {
        if !lost && w.first_line().starts_with("SIP/2.0 486") {
            lost = true;
            return true;
        }
        false
    });
    let now = net.now();
    let busy = Message::response_to(invite, 486, "Busy Here", Some("uas1"));
    net.node(b).ep.respond(now, *stx, busy).expect("respond");
    net.run_for(Duration::from_secs(40));
    let ev = net.take_events(a);
    assert_eq!(responses(&ev, tx), vec![100, 486]);
    assert_eq!(net.count_wire(b, "SIP/2.0 486"), 2, "retransmitted once after loss");
    assert_eq!(net.count_wire(a, "ACK"), 1);
    // Both sides cleaned up after Timers D and I.
    assert_eq!(net.node(a).ep.transaction_count(), 0);
    assert_eq!(net.node(b).ep.transaction_count(), 0);
    // A second final response from the TU is refused.
    let now = net.now();
    assert!(net.node(b).ep.respond(now, *stx, Message::response(500, "x")).is_err());
}

#[test]
fn invite_2xx_is_retransmitted_until_the_ack() {
    let (mut net, a, b) = pair(5);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c5", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, invite) = requests(net.take_events(b)).remove(0);
    let mut ok = Message::response_to(&invite, 200, "OK", Some("uas2"));
    ok.push(HeaderName::Contact, "<sip:bob@10.0.0.2:5060>");
    let now = net.now();
    net.node(b).ep.respond(now, stx, ok).expect("respond");
    // The UAC's TU takes 1.2 s to ACK: the UAS retransmits at 0.5 and 1.5 s... until ACK.
    net.run_for(Duration::from_millis(1200));
    let ev = net.take_events(a);
    let oks = responses(&ev, tx).iter().filter(|c| **c == 200).count();
    assert_eq!(oks, 2, "original 200 + one retransmission at T1 (plus RFC 6026 passes both up)");
    let resp = ev.iter().find_map(|(_, e)| match e {
        Event::Response { response, .. } if response.status() == Some(200) => Some(response.clone()),
        _ => None,
    });
    let resp = resp.expect("200");
    let dialog = sip_proto::Dialog::from_uac(&invite_as_sent(&net, a), &resp).expect("dialog");
    net.node(a).ep.send_ack(dialog.ack(1), dest);
    net.run_for(Duration::from_secs(40));
    let b_events = net.take_events(b);
    assert!(b_events.iter().any(|(_, e)| matches!(e, Event::Ack { tx: Some(t), .. } if *t == stx)));
    assert!(!b_events.iter().any(|(_, e)| matches!(e, Event::AckTimeout { .. })));
    assert_eq!(net.count_wire(b, "SIP/2.0 200"), 2, "at 0 s and 0.5 s; the ACK sent at 1.2 s stops Timer G before 1.5 s");
    // Timer L (and the UAC's Timer M) reaped both transactions: the ACK
    // stopped Timer G, whose queued deadline must not be the only one.
    assert_eq!(net.node(b).ep.transaction_count(), 0, "the acknowledged INVITE server transaction is gone after Timer L");
    assert_eq!(net.node(a).ep.transaction_count(), 0);
}

fn invite_as_sent(net: &SimNet, a: usize) -> Message {
    let _ = a;
    let w = net.wire.iter().find(|w| w.first_line().starts_with("INVITE")).expect("invite on wire");
    Message::parse(w.data.clone()).expect("parse")
}

#[test]
fn missing_ack_gives_ack_timeout() {
    let (mut net, a, b) = pair(6);
    let now = net.now();
    let dest = net.peer(b);
    net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c6", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, invite) = requests(net.take_events(b)).remove(0);
    let now = net.now();
    net.node(b).ep.respond(now, stx, Message::response_to(&invite, 200, "OK", Some("x"))).expect("respond");
    net.run_for(Duration::from_secs(40));
    let ev = net.take_events(b);
    let at = ev.iter().find_map(|(at, e)| matches!(e, Event::AckTimeout { tx } if *tx == stx).then_some(*at));
    assert!(at.is_some_and(|t| t >= Duration::from_secs(32) && t < Duration::from_millis(32_100)), "{at:?}");
    // 2xx retransmissions capped at T2: 0, .5, 1.5, 3.5, 7.5, 11.5, ... 31.5
    assert_eq!(net.count_wire(b, "SIP/2.0 200"), 11);
    assert_eq!(net.node(b).ep.transaction_count(), 0);
}

#[test]
fn cancel_before_answer() {
    let (mut net, a, b) = pair(7);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:bob@b.example", "c7", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, invite) = requests(net.take_events(b)).remove(0);
    let now = net.now();
    net.node(b).ep.respond(now, stx, Message::response_to(&invite, 180, "Ringing", Some("u7"))).expect("180");
    net.run_for(Duration::from_millis(15));
    let now = net.now();
    // CANCEL before any provisional would be refused; now it is allowed.
    let ctx = net.node(a).ep.cancel(now, tx, Some("SIP;cause=200;text=\"Call completed elsewhere\"")).expect("cancel");
    net.run_for(Duration::from_millis(15));
    let ev = net.take_events(b);
    let cancelled = ev.iter().any(|(_, e)| matches!(e, Event::Cancelled { tx, .. } if *tx == stx));
    assert!(cancelled);
    let now = net.now();
    net.node(b).ep.respond(now, stx, Message::response_to(&invite, 487, "Request Terminated", Some("u7"))).expect("487");
    net.run_for(Duration::from_secs(40));
    let ev = net.take_events(a);
    assert_eq!(responses(&ev, ctx), vec![200]);
    assert_eq!(responses(&ev, tx), vec![100, 180, 487]);
    assert_eq!(net.count_wire(a, "ACK"), 1);
    // The CANCEL went with the INVITE's branch.
    let branch = |prefix: &str| {
        let w = net.wire.iter().find(|w| w.first_line().starts_with(prefix)).expect("msg");
        Message::parse(w.data.clone()).expect("parse").top_via().expect("via").branch().map(str::to_owned)
    };
    assert_eq!(branch("INVITE"), branch("CANCEL"));
}

#[test]
fn cancel_without_invite_gets_481() {
    let (mut net, a, b) = pair(8);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Cancel, "sip:bob@b.example", "c8", 1, "t1"), dest).expect("send");
    net.run_for(Duration::from_secs(1));
    assert_eq!(responses(&net.take_events(a), tx), vec![481]);
    assert!(requests(net.take_events(b)).is_empty(), "the application never sees it");
}

#[test]
fn non_invite_retransmissions_are_absorbed() {
    let (mut net, a, b) = pair(9);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Options, "sip:bob@b.example", "c9", 1, "t1"), dest).expect("send");
    // The UAS application takes 2 s to answer: the UAC retransmits meanwhile.
    net.run_for(Duration::from_secs(2));
    let reqs = requests(net.take_events(b));
    assert_eq!(reqs.len(), 1, "retransmissions never reach the application");
    assert!(net.count_wire(a, "OPTIONS") >= 3);
    assert!(net.node(b).ep.stats().retransmissions_absorbed >= 2);
    let now = net.now();
    net.node(b).ep.respond(now, reqs[0].0, Message::response_to(&reqs[0].1, 200, "OK", Some("x"))).expect("200");
    net.run_for(Duration::from_secs(1));
    assert_eq!(responses(&net.take_events(a), tx), vec![200]);
}

#[test]
fn merged_request_gets_482() {
    let (mut net, _a, b) = pair(10);
    let base = "OPTIONS sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKaaa\r\n\
From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: m1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    net.inject("10.0.0.1:5060", b, base.as_bytes());
    net.inject("10.0.0.1:5060", b, base.replace("z9hG4bKaaa", "z9hG4bKbbb").as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1);
    assert_eq!(net.count_wire(b, "SIP/2.0 482"), 1);
}

#[test]
fn broken_request_gets_stateless_400_with_warning() {
    let (mut net, _a, b) = pair(11);
    let bad = "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbad\r\n\
From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: b1\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nshort";
    net.inject("10.0.0.1:5060", b, bad.as_bytes());
    let w = net.wire.iter().find(|w| w.first_line().starts_with("SIP/2.0 400")).expect("400 sent");
    let m = Message::parse(w.data.clone()).expect("parse");
    let warning = m.get(HeaderName::Warning).expect("warning");
    assert!(warning.contains("Content-Length 99"), "{warning}");
    assert_eq!(m.call_id(), Ok("b1"));
    assert_eq!(w.to, "10.0.0.1:5060".parse().expect("addr"));
    // Missing CSeq: parsed, but no transaction can be formed.
    let no_cseq = bad.replace("CSeq: 1 INVITE\r\n", "").replace("Content-Length: 99\r\n\r\nshort", "Content-Length: 0\r\n\r\n");
    net.inject("10.0.0.1:5060", b, no_cseq.as_bytes());
    assert_eq!(net.count_wire(b, "SIP/2.0 400"), 2);
    // Garbage with no Via: dropped silently.
    net.inject("10.0.0.1:5060", b, b"\x00\x01garbage\r\n\r\n");
    assert_eq!(net.count_wire(b, "SIP/2.0"), 2);
    // A response is never answered.
    net.inject("10.0.0.1:5060", b, b"SIP/2.0 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(net.count_wire(b, "SIP/2.0"), 2);
    assert!(requests(net.take_events(b)).is_empty());
}

#[test]
fn other_sip_version_gets_505() {
    let (mut net, _a, b) = pair(12);
    let req = "OPTIONS sip:bob@b.example SIP/7.0\r\nVia: SIP/7.0/UDP 10.0.0.1:5060;branch=z9hG4bKv\r\n\
From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: v1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    net.inject("10.0.0.1:5060", b, req.as_bytes());
    assert_eq!(net.count_wire(b, "SIP/2.0 505"), 1);
}

#[test]
fn rfc2543_requests_match_by_fallback() {
    let (mut net, _a, b) = pair(13);
    let req = "OPTIONS sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n\
From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: old1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    net.inject("10.0.0.1:5060", b, req.as_bytes());
    let reqs = requests(net.take_events(b));
    assert_eq!(reqs.len(), 1);
    let now = net.now();
    net.node(b).ep.respond(now, reqs[0].0, Message::response_to(&reqs[0].1, 200, "OK", Some("x"))).expect("200");
    net.inject("10.0.0.1:5060", b, req.as_bytes());
    assert!(requests(net.take_events(b)).is_empty(), "retransmission absorbed");
    assert_eq!(net.count_wire(b, "SIP/2.0 200"), 2, "and answered again");
}

#[test]
fn received_and_rport_route_the_response_to_the_source() {
    let (mut net, _a, b) = pair(14);
    // The phone claims a private address; it really sends from 10.0.0.1:40000.
    let req = "OPTIONS sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;rport;branch=z9hG4bKnat\r\n\
From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: nat1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    net.inject("10.0.0.1:40000", b, req.as_bytes());
    let (tx, r) = requests(net.take_events(b)).remove(0);
    let via = r.top_via().expect("via");
    assert_eq!(via.received(), Some("10.0.0.1"));
    assert_eq!(via.rport(), Some(Some(40000)));
    let now = net.now();
    net.node(b).ep.respond(now, tx, Message::response_to(&r, 200, "OK", Some("x"))).expect("200");
    net.flush();
    let w = net.wire.iter().rev().find(|w| w.first_line().starts_with("SIP/2.0 200")).expect("200");
    assert_eq!(w.to, "10.0.0.1:40000".parse().expect("addr"));
    // Without rport: to received, at the Via port.
    let req2 = req.replace(";rport", "").replace("nat1", "nat2").replace("z9hG4bKnat", "z9hG4bKnat2");
    net.inject("10.0.0.1:40000", b, req2.as_bytes());
    let (tx, r) = requests(net.take_events(b)).remove(0);
    let now = net.now();
    net.node(b).ep.respond(now, tx, Message::response_to(&r, 200, "OK", Some("x"))).expect("200");
    net.flush();
    let w = net.wire.iter().rev().find(|w| w.first_line().starts_with("SIP/2.0 200")).expect("200");
    assert_eq!(w.to, "10.0.0.1:5060".parse().expect("addr"));
}

/// Many transactions over a hostile network: 20% loss, 10% duplication,
/// reordering jitter. Every transaction ends with its real answer, never
/// a timeout, and the application sees each request exactly once.
#[test]
fn transactions_survive_loss_duplication_and_reordering() {
    for seed in 1..=5u64 {
        let (mut net, a, b) = pair(seed * 101);
        net.faults = Faults { loss: 0.2, duplicate: 0.1, latency: Duration::from_millis(20), jitter: Duration::from_millis(80) };
        let mut txs = vec![];
        for i in 0..40u32 {
            let now = net.now();
            let dest = net.peer(b);
            let m = if i % 2 == 0 { Method::Invite } else { Method::Options };
            let tx = net.node(a).ep.send_request(now, request(m, "sip:bob@b.example", &format!("lossy{i}"), 1, "t"), dest).expect("send");
            txs.push((tx, i));
        }
        // The UAS answers whatever reaches it, 486 for INVITE and 200 for OPTIONS.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            net.run_for(Duration::from_millis(100));
            for (stx, req) in requests(net.take_events(b)) {
                assert!(seen.insert(req.call_id().expect("cid").to_owned()), "duplicate delivery of {:?}", req.call_id());
                let code = if req.method() == Some(&Method::Invite) { 486 } else { 200 };
                let now = net.now();
                net.node(b).ep.respond(now, stx, Message::response_to(&req, code, "X", Some("u"))).expect("respond");
            }
        }
        net.run_for(Duration::from_secs(60));
        let ev = net.take_events(a);
        for (tx, i) in txs {
            let finals: Vec<u16> = responses(&ev, tx).into_iter().filter(|c| *c >= 200).collect();
            let want = if i % 2 == 0 { 486 } else { 200 };
            assert_eq!(finals, vec![want], "seed {seed} tx {i}: {:?}", has_timeout(&ev, tx));
        }
        assert_eq!(seen.len(), 40);
        assert_eq!(net.node(a).ep.transaction_count(), 0);
        assert_eq!(net.node(b).ep.transaction_count(), 0);
    }
}

#[test]
fn overload_bound_answers_503() {
    let mut net = SimNet::new(15);
    let _a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let b = net.add("10.0.0.2:5060", EndpointConfig { max_transactions: 2, ..EndpointConfig::default() });
    for i in 0..3 {
        let req = format!("OPTIONS sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKo{i}\r\n\
From: <sip:a@a.example>;tag=f{i}\r\nTo: <sip:bob@b.example>\r\nCall-ID: o{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        net.inject("10.0.0.1:5060", b, req.as_bytes());
    }
    assert_eq!(requests(net.take_events(b)).len(), 2);
    let w = net.wire.iter().find(|w| w.first_line().starts_with("SIP/2.0 503")).expect("503");
    let m = Message::parse(w.data.clone()).expect("parse");
    assert_eq!(m.get(HeaderName::RetryAfter), Some("5"));
}

#[test]
fn a_full_table_still_takes_the_bye_of_an_admitted_call() {
    // At the bound a new request is refused, but an in-dialog BYE (and a
    // CANCEL) may use a quarter more: a call already taken must be able
    // to end. Beyond that, even those are refused.
    let mut net = SimNet::new(16);
    let _a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let b = net.add("10.0.0.2:5060", EndpointConfig { max_transactions: 4, ..EndpointConfig::default() });
    let req = |m: &str, i: u32, to_tag: &str| {
        format!("{m} sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKf{i}\r\n\
From: <sip:a@a.example>;tag=f{i}\r\nTo: <sip:bob@b.example>{to_tag}\r\nCall-ID: f{i}\r\nCSeq: 1 {m}\r\nContent-Length: 0\r\n\r\n")
    };
    for i in 0..4 {
        net.inject("10.0.0.1:5060", b, req("OPTIONS", i, "").as_bytes());
    }
    assert_eq!(requests(net.take_events(b)).len(), 4);
    net.wire.clear();
    net.inject("10.0.0.1:5060", b, req("OPTIONS", 4, "").as_bytes());
    assert!(requests(net.take_events(b)).is_empty(), "new work is refused at the bound");
    assert!(net.wire.iter().any(|w| w.first_line().starts_with("SIP/2.0 503")));
    net.inject("10.0.0.1:5060", b, req("BYE", 5, ";tag=dlg").as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1, "the BYE of an admitted call is served");
    net.inject("10.0.0.1:5060", b, req("BYE", 6, ";tag=dlg").as_bytes());
    assert!(requests(net.take_events(b)).is_empty(), "a quarter more (here one), then refused too");
    assert_eq!(net.node(b).ep.stats().overload_rejections, 2);
}

/// Load shedding on the virtual clock: a receive queue reported non-empty
/// for `overload_after` turns new work away with 503 + Retry-After, while
/// a request answering a challenge and an in-dialog request still reach
/// the TU; once the queue is reported empty, new work is served again.
/// (Without the trickle of admissions while shedding: the next test.)
#[test]
fn backlogged_receive_queue_sheds_new_work_only() {
    let mut net = SimNet::new(18);
    let _a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let b = net.add("10.0.0.2:5060", EndpointConfig { overload_after: Some(Duration::from_millis(50)), shed_admit_every: None, ..EndpointConfig::default() });
    let invite = |i: u32, extra: &str| {
        format!(
            "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsh{i}\r\n\
From: <sip:a@a.example>;tag=f{i}\r\nTo: <sip:bob@b.example>{extra}\r\nCall-ID: sh{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let t0 = net.now();
    // A backlog shorter than the threshold changes nothing.
    net.node(b).ep.note_receive_queue(t0, false, None);
    net.node(b).ep.note_receive_queue(t0 + Duration::from_millis(49), false, Some(Duration::from_millis(30)));
    assert!(!net.node(b).ep.is_shedding());
    net.inject("10.0.0.1:5060", b, invite(1, "").as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1, "served before the threshold");
    // 50 ms without the queue emptying: shedding.
    net.node(b).ep.note_receive_queue(t0 + Duration::from_millis(50), false, Some(Duration::from_millis(40)));
    assert!(net.node(b).ep.is_shedding());
    net.wire.clear();
    net.inject("10.0.0.1:5060", b, invite(2, "").as_bytes());
    assert!(requests(net.take_events(b)).is_empty(), "a new INVITE is not served");
    let w = net.wire.iter().find(|w| w.first_line().starts_with("SIP/2.0 503")).expect("503");
    let m = Message::parse(w.data.clone()).expect("parse");
    assert_eq!(m.get(HeaderName::RetryAfter), Some("5"));
    assert!(m.to().expect("to").tag().is_some(), "the 503 carries a To tag");
    // Answering a challenge, and in a dialog: served.
    let with_auth = invite(3, "").replace("Content-Length", "Proxy-Authorization: Digest username=\"a\", realm=\"b\", nonce=\"n\", uri=\"sip:bob@b.example\", response=\"r\"\r\nContent-Length");
    net.inject("10.0.0.1:5060", b, with_auth.as_bytes());
    net.inject("10.0.0.1:5060", b, invite(4, ";tag=dlg").as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 2, "the credentialed and the in-dialog INVITE are served");
    // A REGISTER without credentials is new work too.
    let register = "REGISTER sip:b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKshr\r\n\
From: <sip:a@b.example>;tag=r1\r\nTo: <sip:a@b.example>\r\nCall-ID: shr\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    net.inject("10.0.0.1:5060", b, register.as_bytes());
    assert!(requests(net.take_events(b)).is_empty());
    let st = net.node(b).ep.stats();
    assert_eq!((st.load_shed, st.overload_episodes), (2, 1));
    // The queue emptied: new work is served again.
    net.node(b).ep.note_receive_queue(t0 + Duration::from_millis(80), true, None);
    assert!(!net.node(b).ep.is_shedding());
    net.inject("10.0.0.1:5060", b, invite(5, "").as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1);
}

/// While shedding, one new request is admitted per `shed_admit_every` of
/// the virtual clock, the rest get 503: an overload that keeps the queue
/// full however much is refused still lets some new calls in, all along.
/// Retransmissions of shed requests do not take those places.
#[test]
fn shedding_still_admits_one_new_request_per_interval() {
    let mut net = SimNet::new(19);
    let _a = net.add("10.0.0.1:5060", EndpointConfig::default());
    let cfg = EndpointConfig { overload_after: Some(Duration::from_millis(50)), shed_admit_every: Some(Duration::from_millis(20)), ..EndpointConfig::default() };
    let b = net.add("10.0.0.2:5060", cfg);
    let invite = |i: u32| {
        format!(
            "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtr{i}\r\n\
From: <sip:a@a.example>;tag=f{i}\r\nTo: <sip:bob@b.example>\r\nCall-ID: tr{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let t0 = net.now();
    net.node(b).ep.note_receive_queue(t0, false, None);
    net.node(b).ep.note_receive_queue(t0 + Duration::from_millis(50), false, None);
    assert!(net.node(b).ep.is_shedding());
    // 100 ms of the clock, a new INVITE every 2 ms: 50 offered, one
    // admitted each 20 ms (the first at once), the others refused.
    let mut served = Vec::new();
    for i in 0..50u32 {
        net.run_for(Duration::from_millis(2));
        let now = net.now();
        net.node(b).ep.note_receive_queue(now, false, None);
        assert!(net.node(b).ep.is_shedding(), "the queue still stands");
        net.inject("10.0.0.1:5060", b, invite(i).as_bytes());
        if !requests(net.take_events(b)).is_empty() {
            served.push(i);
        }
    }
    assert_eq!(served, vec![0, 10, 20, 30, 40], "one each 20 ms of the 100");
    let st = net.node(b).ep.stats();
    assert_eq!((st.admitted_while_shedding, st.load_shed), (5, 45));
    // A slot is open again, and a retransmission of a shed INVITE comes
    // first: shed again (its client has its 503); the next new one is let
    // through.
    net.run_for(Duration::from_millis(30));
    let now = net.now();
    net.node(b).ep.note_receive_queue(now, false, None);
    net.inject("10.0.0.1:5060", b, invite(1).as_bytes());
    assert!(requests(net.take_events(b)).is_empty(), "the retransmission is shed again");
    net.inject("10.0.0.1:5060", b, invite(50).as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1, "a new INVITE takes the slot");
    // Once the queue empties, what was shed is forgotten.
    let now = net.now();
    net.node(b).ep.note_receive_queue(now, true, None);
    net.inject("10.0.0.1:5060", b, invite(2).as_bytes());
    assert_eq!(requests(net.take_events(b)).len(), 1, "served after the overload");
    // None: nothing new gets through while shedding.
    let none = EndpointConfig { overload_after: Some(Duration::from_millis(50)), shed_admit_every: None, ..EndpointConfig::default() };
    let c = net.add("10.0.0.3:5060", none);
    let t1 = net.now();
    net.node(c).ep.note_receive_queue(t1, false, None);
    net.node(c).ep.note_receive_queue(t1 + Duration::from_millis(50), false, None);
    for i in 50..60u32 {
        net.run_for(Duration::from_millis(30));
        let now = net.now();
        net.node(c).ep.note_receive_queue(now, false, None);
        net.inject("10.0.0.1:5060", c, invite(i).as_bytes());
        assert!(requests(net.take_events(c)).is_empty(), "refused");
    }
    assert_eq!(net.node(c).ep.stats().admitted_while_shedding, 0);
}

#[test]
fn a_queue_that_never_empties_but_does_not_wait_is_no_overload() {
    // A busy server reads full batches all the time while each datagram
    // waits a millisecond: no shedding. Once datagrams wait a tenth of
    // overload_after (5 ms of 50), the queue stands; standing that long
    // sheds; a short wait again ends it.
    let mut net = SimNet::new(19);
    let b = net.add("10.0.0.2:5060", EndpointConfig { overload_after: Some(Duration::from_millis(50)), ..EndpointConfig::default() });
    let t0 = net.now();
    let ms = Duration::from_millis;
    for i in 0..100 {
        net.node(b).ep.note_receive_queue(t0 + ms(i), false, Some(ms(1)));
    }
    assert!(!net.node(b).ep.is_shedding(), "busy, not overloaded");
    net.node(b).ep.note_receive_queue(t0 + ms(100), false, Some(ms(5)));
    net.node(b).ep.note_receive_queue(t0 + ms(149), false, Some(ms(9)));
    assert!(!net.node(b).ep.is_shedding(), "standing for 49 ms");
    net.node(b).ep.note_receive_queue(t0 + ms(150), false, Some(ms(12)));
    assert!(net.node(b).ep.is_shedding(), "standing for 50 ms");
    net.node(b).ep.note_receive_queue(t0 + ms(151), false, Some(ms(2)));
    assert!(!net.node(b).ep.is_shedding(), "the wait fell below the target");
    assert_eq!(net.node(b).ep.stats().overload_episodes, 1);
}

#[test]
fn discarded_transaction_sends_nothing_and_is_forgotten() {
    let (mut net, a, b) = pair(16);
    let now = net.now();
    let dest = net.peer(b);
    net.node(a).ep.send_request(now, request(Method::Register, "sip:b.example", "d1", 1, "t"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, _) = requests(net.take_events(b)).remove(0);
    net.node(b).ep.discard(stx);
    assert_eq!(net.node(b).ep.transaction_count(), 0);
    // The UAC retransmits; each retransmission is a new request again.
    net.run_for(Duration::from_millis(600));
    assert_eq!(requests(net.take_events(b)).len(), 1);
    assert_eq!(net.count_wire(b, "SIP/2.0"), 0, "nothing was ever sent back");
}

#[test]
fn stateless_answer_keeps_no_transaction() {
    let (mut net, a, b) = pair(17);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Options, "sip:b.example", "sl1", 1, "t"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, req) = requests(net.take_events(b)).remove(0);
    let now = net.now();
    net.node(b).ep.respond_stateless(now, stx, Message::response_to(&req, 200, "OK", Some("x"))).expect("respond");
    assert_eq!(net.node(b).ep.transaction_count(), 0);
    net.run_for(Duration::from_secs(1));
    assert_eq!(responses(&net.take_events(a), tx), vec![200]);
}

#[test]
fn stateless_rejection_of_an_invite_and_no_stateless_2xx() {
    let (mut net, a, b) = pair(18);
    let now = net.now();
    let dest = net.peer(b);
    let tx = net.node(a).ep.send_request(now, request(Method::Invite, "sip:b.example", "sl2", 1, "t"), dest).expect("send");
    net.run_for(Duration::from_millis(15));
    let (stx, req) = requests(net.take_events(b)).remove(0);
    let now = net.now();
    assert!(net.node(b).ep.respond_stateless(now, stx, Message::response_to(&req, 200, "OK", Some("x"))).is_err(), "a 2xx needs its transaction");
    // Here the 100 went out before the TU answered (the simulator flushes
    // output before it delivers events), so the UAC will not retransmit
    // its INVITE: the 407 must be sent statefully, and a lost one is made
    // up for by Timer G.
    let mut dropped = false;
    net.drop_if(move |w| {
        let first = w.first_line().starts_with("SIP/2.0 407") && !dropped;
        dropped |= first;
        first
    });
    net.node(b).ep.respond_stateless(now, stx, Message::response_to(&req, 407, "Proxy Authentication Required", Some("x"))).expect("407");
    assert_eq!(net.node(b).ep.transaction_count(), 1, "kept for its retransmissions");
    net.run_for(Duration::from_secs(2));
    assert_eq!(responses(&net.take_events(a), tx), vec![100, 407]);
    assert_eq!(net.count_wire(b, "SIP/2.0 407"), 2, "the lost 407 was retransmitted");
    assert_eq!(net.count_wire(a, "ACK"), 1, "the client transaction still ACKs it");
    net.run_for(Duration::from_secs(10));
    assert_eq!(net.node(b).ep.transaction_count(), 0, "gone after the ACK and Timer I");
}

/// A TU that answers while it handles the request (a 407 challenge) sends
/// no 100 first: the 100 is owed only until the next output. The final
/// answer can then be stateless: a UAC that saw no provisional keeps
/// retransmitting its INVITE, and each retransmission is answered anew.
#[test]
fn an_invite_answered_at_once_gets_no_100_and_a_stateless_407() {
    let mut ep = sip_proto::Endpoint::new(EndpointConfig::default());
    let now = std::time::Instant::now();
    let from = sip_proto::Peer::udp("10.0.0.1:5060".parse().expect("addr"));
    let invite = "INVITE sip:b@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnotrying\r\nFrom: <sip:a@a.example>;tag=1\r\n\
                  To: <sip:b@b.example>\r\nCall-ID: nt1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    for round in 0..2 {
        ep.handle_input(now, from, bytes::Bytes::from_static(invite.as_bytes()));
        let (tx, req) = match ep.poll_event() {
            Some(Event::Request { tx, request, .. }) => (tx, request),
            other => panic!("round {round}: expected the INVITE, got {other:?}"),
        };
        ep.respond_stateless(now, tx, Message::response_to(&req, 407, "Proxy Authentication Required", Some("x"))).expect("407");
        let out: Vec<String> = std::iter::from_fn(|| ep.poll_transmit()).map(|t| String::from_utf8_lossy(&t.data).lines().next().unwrap_or("").to_owned()).collect();
        assert_eq!(out, vec!["SIP/2.0 407 Proxy Authentication Required".to_owned()], "round {round}: only the 407");
        assert_eq!(ep.transaction_count(), 0, "round {round}: nothing kept");
    }
    // An INVITE the TU leaves unanswered still gets its 100 with the next output.
    ep.handle_input(now, from, bytes::Bytes::from_static(invite.replace("nt1", "nt2").leak().as_bytes()));
    assert!(matches!(ep.poll_event(), Some(Event::Request { .. })));
    let out: Vec<String> = std::iter::from_fn(|| ep.poll_transmit()).map(|t| String::from_utf8_lossy(&t.data).lines().next().unwrap_or("").to_owned()).collect();
    assert_eq!(out, vec!["SIP/2.0 100 Trying".to_owned()]);
}
