//! set_gateways: add, remove (un-REGISTER), change, keep.

use crate::harness::*;
use sip_msg::{HeaderName, Message, Method};
use sip_proto::digest::{Algorithm, Verdict};
use std::time::Duration;
use trunks::{PingState, RegState, RegisterConfig};

/// Register `gw` through a challenge; returns the carrier and the 200'd REGISTER.
fn registered(rig: &mut Rig, carrier: &mut CarrierAuth) -> Sent {
    let r1 = rig.expect(Method::Register);
    let ch = carrier.challenges(rig, false);
    rig.reply(&r1, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    let r2 = rig.expect(Method::Register);
    rig.reply_200_register(&r2, 600);
    r2
}

#[test]
fn removed_gateway_unregisters_answering_one_challenge() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    let mut g = gateway("gw");
    g.ping_interval = Some(Duration::from_secs(60));
    rig.set(vec![g]);
    let ping = rig.expect(Method::Options);
    let r2 = registered(&mut rig, &mut carrier);
    rig.set(vec![]);
    assert!(rig.trunks.status(rig.now).is_empty());
    assert!(rig.trunks.get("gw").is_none());
    let un = rig.expect(Method::Register);
    assert_eq!(un.header(HeaderName::Expires), Some("0"));
    assert_eq!(un.header(HeaderName::Contact), Some("<sip:alice@10.0.0.1:5060>;expires=0"));
    assert_eq!(un.msg.call_id(), r2.msg.call_id());
    assert_eq!(un.cseq(), r2.cseq() + 1);
    // Pre-authorised with the cached nonce (nc=2): the carrier accepts it as is.
    let auth = un.header(HeaderName::Authorization).expect("credentials").to_owned();
    assert_eq!(auth_param(&auth, "nc"), Some("00000002"));
    assert_eq!(carrier.verify(&rig, &un.msg, HeaderName::Authorization), Verdict::Ok { user: "alice".into() });
    // This carrier challenges anyway: answered once ...
    let ch = carrier.challenges(&rig, false);
    rig.reply(&un, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    let un2 = rig.expect(Method::Register);
    assert_eq!(un2.header(HeaderName::Expires), Some("0"));
    assert_eq!(un2.cseq(), un.cseq() + 1);
    // ... and no more.
    let ch = carrier.challenges(&rig, false);
    rig.reply(&un2, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    assert!(rig.drain().is_empty());
    // The ping still in flight is swallowed, not reported as foreign.
    rig.reply(&ping, 200, |_| {});
    assert!(rig.foreign.is_empty());
    assert_eq!(rig.trunks.pending_transactions(), 0);
    rig.advance_secs(3600);
    assert!(rig.drain().is_empty(), "nothing more for a removed gateway");
}

#[test]
fn removed_gateway_that_was_not_registered_sends_nothing() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    rig.set(vec![]);
    assert!(rig.drain().is_empty());
    // Its REGISTER's late answer is ours and ignored.
    rig.reply_200_register(&r1, 600);
    assert!(rig.foreign.is_empty());
    rig.advance_secs(3600);
    assert!(rig.drain().is_empty());
}

#[test]
fn unchanged_gateway_keeps_its_state_and_counters() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    let g = gateway("gw");
    rig.set(vec![g.clone()]);
    registered(&mut rig, &mut carrier);
    rig.trunks.acquire(rig.now, "gw").expect("admit");
    rig.trunks.acquire(rig.now, "gw").expect("admit");
    let mut other = gateway("other");
    other.register = None;
    rig.set(vec![other.clone(), g.clone()]);
    assert!(rig.drain().is_empty(), "no REGISTER for an unchanged gateway");
    let st = rig.trunks.status(rig.now);
    assert_eq!(st.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["other", "gw"], "configuration order");
    assert_eq!(st[1].calls, 2);
    assert_eq!(st[1].registration, RegState::Registered { expires_in_secs: 600 });
    // A duplicate name keeps its first entry.
    let mut dup = g.clone();
    dup.prefix = "x".into();
    rig.set(vec![g.clone(), other, dup]);
    assert_eq!(rig.trunks.get("gw").map(|c| c.prefix.as_str()), Some(""));
    assert_eq!(rig.trunks.status(rig.now).len(), 2);
}

#[test]
fn new_password_reregisters_at_once_on_the_same_call_id_keeping_calls() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    let mut g = gateway("gw");
    g.max_calls = Some(5);
    rig.set(vec![g.clone()]);
    let r2 = registered(&mut rig, &mut carrier);
    rig.trunks.acquire(rig.now, "gw").expect("admit");
    rig.advance_secs(10);
    g.register = Some(RegisterConfig { username: "alice".into(), password: "new".into(), realm: None, expires: 300 });
    g.max_calls = Some(1);
    rig.set(vec![g.clone()]);
    let r3 = rig.expect(Method::Register);
    assert_eq!(rig.secs(r3.at), 10.0);
    assert_eq!(r3.msg.call_id(), r2.msg.call_id(), "same binding, same Call-ID");
    assert_eq!(r3.cseq(), r2.cseq() + 1);
    assert_eq!(r3.header(HeaderName::Expires), Some("300"));
    assert_eq!(r3.header(HeaderName::Authorization), None, "the old challenge is forgotten");
    assert!(rig.drain().is_empty(), "no un-REGISTER: the binding is the same");
    let st = rig.trunks.status(rig.now).remove(0);
    assert_eq!(st.calls, 1);
    assert!(matches!(st.registration, RegState::Registered { .. }), "still registered until told otherwise");
    assert_eq!(rig.trunks.acquire(rig.now, "gw"), Err(trunks::Refused::MaxCalls), "new limit applies to the kept counter");
}

#[test]
fn change_while_a_register_is_in_flight_waits_for_it() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    rig.set(vec![g.clone()]);
    let r1 = rig.expect(Method::Register);
    g.register = Some(RegisterConfig { username: "alice".into(), password: "other".into(), realm: None, expires: 600 });
    rig.set(vec![g]);
    assert!(rig.drain().is_empty(), "never two REGISTERs of a gateway at once");
    // The old request's outcome is disregarded and the new one goes out.
    rig.reply(&r1, 403, |_| {});
    let r2 = rig.expect(Method::Register);
    assert_eq!(r2.cseq(), r1.cseq() + 1);
    assert_eq!(rig.trunks.status(rig.now)[0].registration, RegState::Registering);
    rig.reply_200_register(&r2, 600);
    assert!(matches!(rig.trunks.status(rig.now)[0].registration, RegState::Registered { .. }));
}

#[test]
fn new_domain_unregisters_the_old_binding_and_registers_the_new() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    let mut g = gateway("gw");
    g.ping_interval = Some(Duration::from_secs(30));
    rig.set(vec![g.clone()]);
    let opt = rig.expect(Method::Options);
    rig.reply(&opt, 200, |_| {});
    let r2 = registered(&mut rig, &mut carrier);
    g.domain = "new.example".into();
    rig.set(vec![g]);
    let sent = rig.drain();
    let un = sent.iter().find(|s| s.header(HeaderName::Expires) == Some("0")).expect("un-REGISTER");
    assert_eq!(un.msg.request_uri_str(), Some("sip:carrier.example"));
    assert_eq!(un.msg.call_id(), r2.msg.call_id());
    let reg = sent.iter().find(|s| s.method() == Method::Register && s.header(HeaderName::Expires) == Some("600")).expect("new REGISTER");
    assert_eq!(reg.msg.request_uri_str(), Some("sip:new.example"));
    assert_ne!(reg.msg.call_id(), r2.msg.call_id());
    let ping = sent.iter().find(|s| s.method() == Method::Options).expect("the pinger restarted");
    assert_eq!(ping.msg.request_uri_str(), Some("sip:new.example"));
    assert_eq!(sent.len(), 3);
    assert_eq!(rig.trunks.status(rig.now)[0].ping, PingState::Unknown);
}

/// Responses to transactions that are not the trunks' are left alone.
#[test]
fn foreign_transactions_are_not_claimed() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let mut invite = Message::request(Method::Invite, "sip:bob@carrier.example");
    invite.push(HeaderName::From, "<sip:a@x>;tag=1");
    invite.push(HeaderName::To, "<sip:bob@carrier.example>");
    invite.push(HeaderName::CallId, "call-1");
    invite.push(HeaderName::CSeq, "1 INVITE");
    let dest = sip_proto::Peer::udp(addr(CARRIER));
    let tx = rig.ep.send_request(rig.now, invite, dest).expect("send");
    rig.pump();
    let inv = rig.drain().into_iter().find(|s| s.method() == Method::Invite).expect("invite");
    rig.reply(&inv, 486, |_| {});
    assert_eq!(rig.foreign, vec![(tx, 486)]);
    assert!(!rig.trunks.handle_tx_failure(rig.now, &mut rig.ep, tx));
}

/// Removed then added back before the un-REGISTER is done: its challenge
/// is not answered, or the late un-REGISTER would remove the new binding.
#[test]
fn readded_gateway_is_not_unregistered_by_the_old_leaving() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    let g = gateway("gw");
    rig.set(vec![g.clone()]);
    registered(&mut rig, &mut carrier);
    rig.set(vec![]);
    let un = rig.expect(Method::Register);
    assert_eq!(un.header(HeaderName::Expires), Some("0"));
    rig.set(vec![g]);
    let again = rig.expect(Method::Register);
    assert_eq!(again.header(HeaderName::Expires), Some("600"));
    let ch = carrier.challenges(&rig, false);
    rig.reply(&un, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    assert!(rig.drain().is_empty(), "no second un-REGISTER");
    assert!(rig.foreign.is_empty());
}

#[test]
fn debug_output_hides_passwords() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let dump = format!("{:?} {:?}", rig.trunks, gateway("gw"));
    assert!(dump.contains("alice"));
    assert!(!dump.contains("secret"), "{dump}");
}
