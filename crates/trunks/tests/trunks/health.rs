//! OPTIONS health pings.

use crate::harness::*;
use sip_msg::{HeaderName, Method};
use std::time::Duration;
use trunks::{PingState, RegState, Refused};

fn pinged(name: &str, secs: u64) -> trunks::GatewayConfig {
    let mut g = gateway(name);
    g.register = None;
    g.ping_interval = Some(Duration::from_secs(secs));
    g
}

fn ping(rig: &Rig, name: &str) -> (PingState, Option<u32>) {
    let s = rig.trunks.status(rig.now).into_iter().find(|s| s.name == name).expect("gateway");
    (s.ping, s.latency_ms)
}

#[test]
fn any_response_is_up_two_timeouts_are_down_and_a_response_recovers() {
    let mut rig = Rig::new();
    rig.set(vec![pinged("gw", 30)]);
    assert_eq!(ping(&rig, "gw"), (PingState::Unknown, None));
    let p1 = rig.expect(Method::Options);
    assert_eq!(p1.msg.request_uri_str(), Some("sip:carrier.example"));
    assert_eq!(p1.dest.addr, addr(CARRIER));
    assert_eq!(p1.header(HeaderName::MaxForwards), Some("70"));
    assert_eq!(p1.header(HeaderName::UserAgent), Some("ferroswitch-test"));
    assert!(p1.msg.from().expect("from").tag().is_some());
    rig.advance_ms(40);
    // A 404 proves the carrier alive as well as a 200 would.
    rig.reply(&p1, 404, |_| {});
    assert_eq!(ping(&rig, "gw"), (PingState::Up, Some(40)));
    assert_eq!(PingState::Up.as_str(), "up");

    // Next ping one period after the previous one was sent.
    rig.advance(Duration::from_secs(30) - Duration::from_millis(41));
    assert!(rig.drain().is_empty());
    rig.advance_ms(1);
    let p2 = rig.expect(Method::Options);
    assert_eq!(rig.secs(p2.at), 30.0);
    assert_eq!(p2.msg.call_id(), p1.msg.call_id());
    assert_eq!(p2.cseq(), p1.cseq() + 1);
    // Silence: Timer F at 62 s. One failure is not enough.
    rig.advance_secs(32);
    assert_eq!(ping(&rig, "gw").0, PingState::Up);
    assert!(rig.trunks.acquire(rig.now, "gw").is_ok());
    rig.trunks.release("gw");
    // The next ping went out as soon as the previous one ended (its period had passed).
    let p3 = rig.expect(Method::Options);
    assert_eq!(rig.secs(p3.at), 62.0);
    rig.advance_secs(32);
    assert_eq!(ping(&rig, "gw").0, PingState::Down);
    assert_eq!(PingState::Down.as_str(), "down");
    assert_eq!(rig.trunks.acquire(rig.now, "gw"), Err(Refused::Down));
    let st = rig.trunks.status(rig.now).remove(0);
    assert!(st.last_error.is_some_and(|e| e.contains("OPTIONS")));
    // A Down gateway is still pinged and comes back on the next response.
    let p4 = rig.expect(Method::Options);
    assert_eq!(rig.secs(p4.at), 94.0);
    rig.advance_ms(15);
    rig.reply(&p4, 501, |_| {});
    assert_eq!(ping(&rig, "gw"), (PingState::Up, Some(15)));
    assert!(rig.trunks.acquire(rig.now, "gw").is_ok());
    assert_eq!(rig.trunks.status(rig.now).remove(0).last_error, None);
}

#[test]
fn never_more_than_one_options_in_flight() {
    let mut rig = Rig::new();
    // Period 5 s, far shorter than Timer F.
    rig.set(vec![pinged("gw", 5)]);
    rig.advance_secs(31);
    assert_eq!(rig.drain().len(), 1, "the second ping waits for the first to end");
    rig.advance_secs(1);
    assert_eq!(rig.drain().len(), 1, "sent when the first timed out at 32 s");
    assert_eq!(ping(&rig, "gw").0, PingState::Unknown, "one failure, no result yet");
}

#[test]
fn without_pings_the_gateway_is_unknown_and_usable() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.register = None;
    rig.set(vec![g]);
    rig.advance_secs(600);
    assert!(rig.wire.is_empty());
    assert_eq!(ping(&rig, "gw"), (PingState::Unknown, None));
    assert_eq!(PingState::Unknown.as_str(), "unknown");
    assert!(rig.trunks.acquire(rig.now, "gw").is_ok());
}

#[test]
fn pings_and_registration_are_independent() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.ping_interval = Some(Duration::from_secs(60));
    rig.set(vec![g]);
    let sent = rig.drain();
    assert_eq!(sent.len(), 2, "REGISTER and OPTIONS both at once");
    for s in &sent {
        match s.method() {
            Method::Register => rig.reply(s, 403, |_| {}),
            Method::Options => rig.reply(s, 200, |_| {}),
            m => panic!("unexpected {m}"),
        }
    }
    let st = rig.trunks.status(rig.now).remove(0);
    assert_eq!(st.registration, RegState::Failed { code: 403, retry_in_secs: 2 });
    assert_eq!(st.ping, PingState::Up);
    assert!(rig.trunks.acquire(rig.now, "gw").is_ok(), "a failed registration does not block calls; only health does");
}
