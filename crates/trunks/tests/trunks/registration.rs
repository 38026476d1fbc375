//! Outbound registration (RFC 3261 §10.2) with digest (RFC 7616).

use crate::harness::*;
use sip_msg::{HeaderName, Method};
use sip_proto::digest::{client_response, ha1, Algorithm, Verdict};
use sip_proto::Transport;
use std::time::Duration;
use trunks::{RegState, RegisterConfig};

fn reg_state(rig: &Rig, name: &str) -> RegState {
    rig.trunks.status(rig.now).into_iter().find(|s| s.name == name).expect("gateway").registration
}

fn last_error(rig: &Rig, name: &str) -> Option<String> {
    rig.trunks.status(rig.now).into_iter().find(|s| s.name == name).expect("gateway").last_error
}

#[test]
fn md5_challenge_then_200_registers_and_the_digest_is_right() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    rig.set(vec![gateway("gw")]);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registering);

    // The first REGISTER, as RFC 3261 §10.2 wants it.
    let r1 = rig.expect(Method::Register);
    assert_eq!(r1.dest.addr, addr(CARRIER));
    assert_eq!(r1.dest.transport, Transport::Udp);
    assert_eq!(r1.msg.request_uri_str(), Some("sip:carrier.example"));
    let from = r1.msg.from().expect("from");
    assert_eq!(from.uri().as_str(), "sip:alice@carrier.example");
    assert!(from.tag().is_some_and(|t| !t.is_empty()));
    let to = r1.msg.to().expect("to");
    assert_eq!(to.uri().as_str(), "sip:alice@carrier.example");
    assert_eq!(to.tag(), None);
    assert_eq!(r1.header(HeaderName::Contact), Some("<sip:alice@10.0.0.1:5060>"));
    assert_eq!(r1.header(HeaderName::Expires), Some("600"));
    assert_eq!(r1.header(HeaderName::MaxForwards), Some("70"));
    assert_eq!(r1.header(HeaderName::UserAgent), Some("ferroswitch-test"));
    assert_eq!(r1.header(HeaderName::ContentLength), Some("0"));
    assert_eq!(r1.msg.cseq().expect("cseq").method, Method::Register);
    let via = r1.msg.top_via().expect("via");
    assert_eq!(via.transport(), "UDP");
    assert!(via.branch().is_some_and(|b| b.starts_with("z9hG4bK")));
    assert_eq!(r1.header(HeaderName::Authorization), None);

    let ch = carrier.challenges(&rig, false);
    rig.reply(&r1, 401, |r| {
        for c in &ch {
            r.push(HeaderName::WwwAuthenticate, c);
        }
    });

    let r2 = rig.expect(Method::Register);
    assert_eq!(r2.msg.call_id(), r1.msg.call_id(), "one Call-ID per gateway");
    assert_eq!(r2.msg.from().expect("from").tag(), from.tag());
    assert_eq!(r2.cseq(), r1.cseq() + 1);
    let auth = r2.header(HeaderName::Authorization).expect("Authorization").to_owned();
    // Recompute the response with sip_proto::digest.
    let nonce = auth_param(&auth, "nonce").expect("nonce");
    let cnonce = auth_param(&auth, "cnonce").expect("cnonce");
    assert_eq!(auth_param(&auth, "nc"), Some("00000001"));
    assert_eq!(auth_param(&auth, "qop"), Some("auth"));
    assert_eq!(auth_param(&auth, "username"), Some("alice"));
    assert_eq!(auth_param(&auth, "realm"), Some("carrier.example"));
    assert_eq!(auth_param(&auth, "uri"), Some("sip:carrier.example"));
    assert_eq!(auth_param(&auth, "algorithm"), Some("MD5"));
    let h1 = ha1(Algorithm::Md5, "alice", "carrier.example", "secret");
    let want = client_response(Algorithm::Md5, &h1, nonce, 1, cnonce, "REGISTER", "sip:carrier.example");
    assert_eq!(auth_param(&auth, "response"), Some(want.as_str()));
    assert_eq!(carrier.verify(&rig, &r2.msg, HeaderName::Authorization), Verdict::Ok { user: "alice".into() });

    rig.reply_200_register(&r2, 600);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 600 });
    assert_eq!(RegState::Registered { expires_in_secs: 1 }.as_str(), "registered");
    assert_eq!(last_error(&rig, "gw"), None);
    assert_eq!(rig.trunks.pending_transactions(), 0);
    rig.advance_secs(100);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 500 });
    assert!(rig.drain().is_empty(), "nothing before the refresh");
}

#[test]
fn sha256_is_preferred_and_407_gets_proxy_authorization() {
    let mut rig = Rig::new();
    // MD5 listed first, as our own registrar does: the client still picks SHA-256.
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5, Algorithm::Sha256], "secret");
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    let ch = carrier.challenges(&rig, false);
    assert_eq!(ch.len(), 2);
    rig.reply(&r1, 407, |r| {
        for c in &ch {
            r.push(HeaderName::ProxyAuthenticate, c);
        }
    });
    let r2 = rig.expect(Method::Register);
    assert_eq!(r2.header(HeaderName::Authorization), None);
    let auth = r2.header(HeaderName::ProxyAuthorization).expect("Proxy-Authorization").to_owned();
    assert_eq!(auth_param(&auth, "algorithm"), Some("SHA-256"));
    let h1 = ha1(Algorithm::Sha256, "alice", "carrier.example", "secret");
    let want = client_response(
        Algorithm::Sha256,
        &h1,
        auth_param(&auth, "nonce").expect("nonce"),
        1,
        auth_param(&auth, "cnonce").expect("cnonce"),
        "REGISTER",
        "sip:carrier.example",
    );
    assert_eq!(auth_param(&auth, "response"), Some(want.as_str()));
    assert_eq!(want.len(), 64);
    assert_eq!(carrier.verify(&rig, &r2.msg, HeaderName::ProxyAuthorization), Verdict::Ok { user: "alice".into() });
    rig.reply_200_register(&r2, 300);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 300 });
}

#[test]
fn rfc2069_challenge_without_qop_and_opaque_echoed() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    rig.reply(&r1, 401, |r| r.push(HeaderName::WwwAuthenticate, "Digest realm=\"old\", nonce=\"abc123\", opaque=\"xyz\""));
    let r2 = rig.expect(Method::Register);
    let auth = r2.header(HeaderName::Authorization).expect("Authorization").to_owned();
    let h1 = ha1(Algorithm::Md5, "alice", "old", "secret");
    let h2 = Algorithm::Md5.hash(b"REGISTER:sip:carrier.example");
    let want = Algorithm::Md5.hash(format!("{h1}:abc123:{h2}").as_bytes());
    assert_eq!(auth_param(&auth, "response"), Some(want.as_str()));
    assert_eq!(auth_param(&auth, "opaque"), Some("xyz"));
    assert_eq!(auth_param(&auth, "qop"), None);
    assert_eq!(auth_param(&auth, "nc"), None);
    assert_eq!(auth_param(&auth, "cnonce"), None);
}

/// Wrong password: the carrier challenges the credentials again (no
/// stale): Failed{401}, then retries 2, 4, 8 … 300 s apart.
#[test]
fn wrong_password_fails_and_backs_off_exponentially_up_to_300s() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "not-secret");
    rig.set(vec![gateway("gw")]);
    let mut cycle_starts = vec![];
    let mut registers = 0;
    while rig.elapsed() < Duration::from_secs(1200) {
        while let Some(req) = rig.next() {
            assert_eq!(req.method(), Method::Register);
            registers += 1;
            if req.header(HeaderName::Authorization).is_none() {
                cycle_starts.push(rig.secs(req.at));
            } else {
                assert!(matches!(carrier.verify(&rig, &req.msg, HeaderName::Authorization), Verdict::Refused(_)));
            }
            let ch = carrier.challenges(&rig, false);
            rig.reply(&req, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
        }
        if cycle_starts.len() == 1 {
            // Right after the first failure.
            assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 401, retry_in_secs: 2 });
            assert!(last_error(&rig, "gw").is_some_and(|e| e.contains("401")), "{:?}", last_error(&rig, "gw"));
        }
        let next = rig.trunks.poll_timeout().expect("a retry is scheduled");
        rig.run_until(next);
    }
    assert_eq!(cycle_starts, vec![0.0, 2.0, 6.0, 14.0, 30.0, 62.0, 126.0, 254.0, 510.0, 810.0, 1110.0]);
    assert_eq!(registers, 2 * cycle_starts.len(), "one answer per challenge, then give up until the back-off");
    assert_eq!(RegState::Failed { code: 401, retry_in_secs: 2 }.as_str(), "failed");
}

#[test]
fn stale_nonce_is_retried_once_then_fails() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    let ch = carrier.challenges(&rig, false);
    rig.reply(&r1, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    let r2 = rig.expect(Method::Register);
    let ch = carrier.challenges(&rig, true);
    rig.reply(&r2, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    // stale=true: same password, new nonce.
    let r3 = rig.expect(Method::Register);
    let a2 = r2.header(HeaderName::Authorization).expect("auth").to_owned();
    let a3 = r3.header(HeaderName::Authorization).expect("auth").to_owned();
    assert_ne!(auth_param(&a2, "nonce"), auth_param(&a3, "nonce"));
    assert_eq!(auth_param(&a3, "nc"), Some("00000001"), "a new nonce starts at 1");
    assert_eq!(carrier.verify(&rig, &r3.msg, HeaderName::Authorization), Verdict::Ok { user: "alice".into() });
    // A second stale in a row is not believed.
    let ch = carrier.challenges(&rig, true);
    rig.reply(&r3, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    assert!(rig.drain().is_empty());
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 401, retry_in_secs: 2 });
}

#[test]
fn configured_realm_must_match_the_challenge() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.register = Some(RegisterConfig { username: "alice".into(), password: "secret".into(), realm: Some("right.example".into()), expires: 600 });
    rig.set(vec![g]);
    let r1 = rig.expect(Method::Register);
    rig.reply(&r1, 401, |r| r.push(HeaderName::WwwAuthenticate, "Digest realm=\"evil.example\", nonce=\"n\", qop=\"auth\""));
    assert!(rig.drain().is_empty(), "the password is not sent to another realm");
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 401, retry_in_secs: 2 });
    assert!(last_error(&rig, "gw").is_some_and(|e| e.contains("evil.example")));
}

/// Refresh at 85 % of the granted expiry (not what we asked), reusing the
/// nonce with nc=2; a challenge to reused credentials is just answered.
#[test]
fn refresh_before_expiry_with_the_granted_interval() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Md5], "secret");
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    let ch = carrier.challenges(&rig, false);
    rig.reply(&r1, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    let r2 = rig.expect(Method::Register);
    assert_eq!(carrier.verify(&rig, &r2.msg, HeaderName::Authorization), Verdict::Ok { user: "alice".into() });
    // The registrar grants 60 s in our Contact (and lists another binding of the AOR).
    rig.reply(&r2, 200, |r| {
        r.push(HeaderName::Contact, "<sip:alice@198.51.100.7:5060>;expires=3000");
        r.push(HeaderName::Contact, "<sip:alice@10.0.0.1:5060>;expires=60");
        r.push(HeaderName::Expires, "900");
    });
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 60 });
    rig.advance_secs(50);
    assert!(rig.drain().is_empty());
    rig.advance_secs(1);
    // 85 % of 60 s = 51 s (earlier than 5 s before expiry).
    let r3 = rig.expect(Method::Register);
    assert_eq!(rig.secs(r3.at), 51.0);
    assert_eq!(r3.msg.call_id(), r1.msg.call_id());
    assert_eq!(r3.cseq(), 3);
    let a3 = r3.header(HeaderName::Authorization).expect("reused credentials").to_owned();
    assert_eq!(auth_param(&a3, "nc"), Some("00000002"));
    assert_eq!(
        auth_param(&a3, "nonce"),
        auth_param(r2.header(HeaderName::Authorization).expect("auth"), "nonce")
    );
    assert_eq!(carrier.verify(&rig, &r3.msg, HeaderName::Authorization), Verdict::Ok { user: "alice".into() });
    assert!(matches!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 9 }), "still registered while refreshing");
    // This registrar wants a fresh nonce anyway (no stale flag): answered, not a failure.
    let ch = carrier.challenges(&rig, false);
    rig.reply(&r3, 401, |r| r.push(HeaderName::WwwAuthenticate, &ch[0]));
    let r4 = rig.expect(Method::Register);
    assert_eq!(r4.cseq(), 4);
    assert_eq!(auth_param(r4.header(HeaderName::Authorization).expect("auth"), "nc"), Some("00000001"));
    // No expires param on our Contact this time: the Expires header rules.
    rig.reply(&r4, 200, |r| {
        r.push(HeaderName::Contact, "<sip:alice@10.0.0.1:5060>");
        r.push(HeaderName::Expires, "20");
    });
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 20 });
    rig.advance_secs(14);
    assert!(rig.drain().is_empty());
    rig.advance_secs(1);
    // 20 s: 5 s before expiry (15 s) comes before 85 % (17 s).
    let r5 = rig.expect(Method::Register);
    assert_eq!(rig.secs(r5.at), 51.0 + 15.0);
    // Neither contact param nor Expires: what we asked (600 s).
    rig.reply(&r5, 200, |_| {});
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 600 });
}

/// Carrier silent: Timer F (64·T1 = 32 s) ends the REGISTER, the gateway
/// is Failed with code 0 and retries 2 s later; another gateway is unaffected.
#[test]
fn silent_carrier_times_out_and_retries_without_affecting_others() {
    let mut rig = Rig::new();
    let mut good = gateway("good");
    good.proxy = addr("192.0.2.20:5060");
    rig.set(vec![gateway("dead"), good]);
    let mut dead_sent = vec![];
    let mut t = 0;
    while t < 80 {
        for req in rig.drain() {
            if req.dest.addr == addr(CARRIER) {
                dead_sent.push(rig.secs(req.at));
            } else {
                rig.reply_200_register(&req, 3600);
            }
        }
        rig.advance_secs(1);
        t += 1;
        if t == 33 {
            assert_eq!(reg_state(&rig, "dead"), RegState::Failed { code: 0, retry_in_secs: 1 });
            assert!(last_error(&rig, "dead").is_some_and(|e| e.contains("timed out")));
        }
    }
    // First at 0, Timer F at 32 s, retry at 34, Timer F at 66, retry at 70.
    assert_eq!(dead_sent, vec![0.0, 34.0, 70.0]);
    // UDP retransmissions happened (Timer E) but never two REGISTERs at once.
    let retrans = rig.wire.iter().filter(|s| s.dest.addr == addr(CARRIER)).count();
    assert!(retrans > 3 * 5, "{retrans}");
    assert!(matches!(reg_state(&rig, "good"), RegState::Registered { .. }));
    assert_eq!(last_error(&rig, "good"), None);
}

#[test]
fn interval_too_brief_is_retried_at_once_with_min_expires() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let r1 = rig.expect(Method::Register);
    rig.reply(&r1, 423, |r| r.push(HeaderName::MinExpires, "1800"));
    let r2 = rig.expect(Method::Register);
    assert_eq!(r2.at, r1.at, "at once");
    assert_eq!(r2.header(HeaderName::Expires), Some("1800"));
    assert_eq!(r2.cseq(), r1.cseq() + 1);
    rig.reply_200_register(&r2, 1800);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 1800 });
    // The refresh keeps asking 1800.
    rig.advance_secs(1530);
    let r3 = rig.expect(Method::Register);
    assert_eq!(r3.header(HeaderName::Expires), Some("1800"));

    // A 423 that does not say what it wants is a failure, not a loop.
    rig.reply(&r3, 423, |_| {});
    assert!(rig.drain().is_empty());
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 423, retry_in_secs: 2 });
}

#[test]
fn other_failures_retry_after_and_success_resets_the_back_off() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let r = rig.expect(Method::Register);
    rig.reply(&r, 403, |_| {});
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 403, retry_in_secs: 2 });
    rig.advance_secs(2);
    let r = rig.expect(Method::Register);
    rig.reply(&r, 503, |m| m.push(HeaderName::RetryAfter, "30 (maintenance)"));
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 503, retry_in_secs: 30 });
    rig.advance_secs(29);
    assert!(rig.drain().is_empty());
    rig.advance_secs(1);
    let r = rig.expect(Method::Register);
    rig.reply(&r, 500, |_| {});
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 500, retry_in_secs: 8 }, "third failure in a row");
    rig.advance_secs(8);
    let r = rig.expect(Method::Register);
    rig.reply_200_register(&r, 10);
    assert!(matches!(reg_state(&rig, "gw"), RegState::Registered { .. }));
    assert_eq!(last_error(&rig, "gw"), None);
    rig.advance_secs(5);
    let r = rig.expect(Method::Register);
    rig.reply(&r, 480, |_| {});
    assert_eq!(reg_state(&rig, "gw"), RegState::Failed { code: 480, retry_in_secs: 2 }, "back-off restarted");
}

#[test]
fn tcp_gateway_contact_names_the_transport() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.transport = Transport::Tcp;
    rig.set(vec![g]);
    let r = rig.expect(Method::Register);
    assert_eq!(r.dest.transport, Transport::Tcp);
    assert_eq!(r.header(HeaderName::Contact), Some("<sip:alice@10.0.0.1:5060;transport=tcp>"));
    assert_eq!(r.msg.top_via().expect("via").transport(), "TCP");
    rig.reply_200_register(&r, 120);
    assert_eq!(reg_state(&rig, "gw"), RegState::Registered { expires_in_secs: 120 }, "our Contact matched despite the transport param");
}

#[test]
fn gateway_without_register_is_disabled_and_sends_nothing() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.register = None;
    rig.set(vec![g]);
    assert_eq!(reg_state(&rig, "gw"), RegState::Disabled);
    assert_eq!(RegState::Disabled.as_str(), "disabled");
    assert_eq!(RegState::Registering.as_str(), "registering");
    rig.advance_secs(3600);
    assert!(rig.wire.is_empty());
    assert_eq!(rig.trunks.poll_timeout(), None);
}

#[test]
fn provisional_responses_change_nothing() {
    let mut rig = Rig::new();
    rig.set(vec![gateway("gw")]);
    let r = rig.expect(Method::Register);
    rig.reply(&r, 100, |_| {});
    assert_eq!(reg_state(&rig, "gw"), RegState::Registering);
    assert!(rig.foreign.is_empty(), "the 100 was recognised as ours");
    rig.reply_200_register(&r, 60);
    assert!(matches!(reg_state(&rig, "gw"), RegState::Registered { .. }));
}
