//! REGISTER processing on a virtual clock (unix ms passed in).

use registrar::*;
use sip_msg::{Credentials, HeaderName, Message};
use sip_proto::digest::{client_response, ha1, Algorithm, DigestServer, Ha1s};
use sip_proto::{Peer, Transport};
use std::collections::HashMap;

const REALM: &str = "pbx.example";
const T0: u64 = 1_800_000_000_000;

fn dir() -> HashMap<String, DirectoryEntry> {
    let mut d = HashMap::new();
    for (u, p, enabled) in [("1001", "pw1001", true), ("1002", "pw1002", true), ("1003", "pw1003", false)] {
        d.insert(
            u.to_owned(),
            DirectoryEntry { enabled, ha1: Ha1s { md5: ha1(Algorithm::Md5, u, REALM, p), sha256: ha1(Algorithm::Sha256, u, REALM, p) } },
        );
    }
    d
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig::default(), DigestServer::new(REALM, [3; 32], 60_000))
}

fn udp(port: u16) -> Peer {
    Peer::udp(format!("192.0.2.10:{port}").parse().expect("addr"))
}

fn register(user: &str, cseq: u32, contacts: &[&str], expires: Option<u32>, auth: Option<&str>) -> Message {
    let mut m = Message::request(sip_msg::Method::Register, &format!("sip:{REALM}"));
    m.push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKr1;rport");
    m.push(HeaderName::From, &format!("<sip:{user}@{REALM}>;tag=ft"));
    m.push(HeaderName::To, &format!("<sip:{user}@{REALM}>"));
    m.push(HeaderName::CallId, "reg-call-1");
    m.push(HeaderName::CSeq, &format!("{cseq} REGISTER"));
    for c in contacts {
        m.push(HeaderName::Contact, c);
    }
    if let Some(e) = expires {
        m.push(HeaderName::Expires, &e.to_string());
    }
    if let Some(a) = auth {
        m.push(HeaderName::Authorization, a);
    }
    m
}

fn nonce_from(reply: &Message) -> String {
    let ch = reply.get(HeaderName::WwwAuthenticate).expect("challenge");
    Credentials::parse(ch).expect("parse").params.get("nonce").expect("nonce").to_owned()
}

fn auth(user: &str, pass: &str, nonce: &str, nc: u32) -> String {
    let h = ha1(Algorithm::Md5, user, REALM, pass);
    let uri = format!("sip:{REALM}");
    let r = client_response(Algorithm::Md5, &h, nonce, nc, "abc", "REGISTER", &uri);
    format!("Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", algorithm=MD5, qop=auth, nc={nc:08x}, cnonce=\"abc\"")
}

fn reply_of(o: Outcome) -> Message {
    match o {
        Outcome::Reply(m) => m,
        Outcome::Commit { reply, .. } => reply,
        Outcome::Ignore => panic!("ignored"),
    }
}

/// Challenge, then answer it; returns the outcome of the authorized request.
fn authed(r: &mut Registrar, now: u64, user: &str, pass: &str, cseq: u32, contacts: &[&str], expires: Option<u32>) -> Outcome {
    let d = dir();
    let first = reply_of(r.handle_register(now, &register(user, cseq, contacts, expires, None), udp(5062), &d, "tg"));
    assert_eq!(first.status(), Some(401));
    let nonce = nonce_from(&first);
    r.handle_register(now, &register(user, cseq + 1, contacts, expires, Some(&auth(user, pass, &nonce, 1))), udp(5062), &d, "tg")
}

#[test]
fn challenge_offers_md5_and_sha256() {
    let mut r = registrar();
    let m = reply_of(r.handle_register(T0, &register("1001", 1, &["<sip:1001@192.0.2.10:5062>"], None, None), udp(5062), &dir(), "tg"));
    assert_eq!(m.status(), Some(401));
    let ch: Vec<_> = m.get_all(HeaderName::WwwAuthenticate).collect();
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=MD5") && ch[1].contains("algorithm=SHA-256"));
    assert!(ch[0].contains(&format!("realm=\"{REALM}\"")));
    assert_eq!(m.to().expect("to").tag(), Some("tg"));
}

#[test]
fn register_binds_and_lists_contacts() {
    let mut r = registrar();
    let o = authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>;q=0.8", "<sip:1001@10.0.0.5:5070>;expires=120"], Some(600));
    let Outcome::Commit { changes, reply } = o else { panic!("expected commit") };
    assert_eq!(reply.status(), Some(200));
    assert_eq!(changes.len(), 2);
    let contacts: Vec<_> = reply.get_all(HeaderName::Contact).collect();
    assert_eq!(contacts, vec!["<sip:1001@192.0.2.10:5062>;expires=600;q=0.8", "<sip:1001@10.0.0.5:5070>;expires=120"]);
    assert!(reply.get(HeaderName::Date).is_some_and(|d| d.ends_with("GMT")));
    assert_eq!(r.lookup("1001").len(), 2);
    assert_eq!(r.lookup("1001")[0].source, udp(5062), "remembers where it came from");
}

#[test]
fn expires_limits_423_and_clamp() {
    let mut r = registrar();
    let m = reply_of(authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>"], Some(30)));
    assert_eq!(m.status(), Some(423));
    assert_eq!(m.get(HeaderName::MinExpires), Some("60"));
    assert!(r.lookup("1001").is_empty());
    let m = reply_of(authed(&mut r, T0, "1001", "pw1001", 10, &["<sip:1001@192.0.2.10:5062>"], Some(999_999)));
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.get(HeaderName::Contact), Some("<sip:1001@192.0.2.10:5062>;expires=3600"));
}

#[test]
fn wildcard_removes_all_and_needs_expires_zero() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.11:5062>"], None);
    assert_eq!(r.lookup("1001").len(), 2);
    let m = reply_of(authed(&mut r, T0, "1001", "pw1001", 10, &["*"], Some(3600)));
    assert_eq!(m.status(), Some(400));
    let o = authed(&mut r, T0, "1001", "pw1001", 20, &["*"], Some(0));
    let Outcome::Commit { changes, reply } = o else { panic!("commit") };
    assert_eq!(changes, vec![Change::DeleteAll { aor: "1001".into() }]);
    assert_eq!(reply.get(HeaderName::Contact), None);
    assert!(r.lookup("1001").is_empty());
}

#[test]
fn unregister_one_contact_with_expires_zero() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.11:5062>"], None);
    let o = authed(&mut r, T0, "1001", "pw1001", 10, &["<sip:1001@192.0.2.10:5062>;expires=0"], None);
    let Outcome::Commit { changes, .. } = o else { panic!("commit") };
    assert_eq!(changes, vec![Change::Delete { aor: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into() }]);
    assert_eq!(r.lookup("1001").len(), 1);
}

#[test]
fn out_of_order_cseq_is_refused() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 10, &["<sip:1001@192.0.2.10:5062>"], None); // stored CSeq 11
    let m = reply_of(authed(&mut r, T0, "1001", "pw1001", 5, &["<sip:1001@192.0.2.10:5062>"], None)); // CSeq 6
    assert_eq!(m.status(), Some(500));
}

#[test]
fn to_must_be_the_authenticated_user() {
    let mut r = registrar();
    let d = dir();
    let first = reply_of(r.handle_register(T0, &register("1002", 1, &["<sip:x@192.0.2.10>"], None, None), udp(5062), &d, "tg"));
    let nonce = nonce_from(&first);
    let m = reply_of(r.handle_register(T0, &register("1002", 2, &["<sip:x@192.0.2.10>"], None, Some(&auth("1001", "pw1001", &nonce, 1))), udp(5062), &d, "tg"));
    assert_eq!(m.status(), Some(403));
}

#[test]
fn wrong_password_unknown_and_disabled_users_look_the_same() {
    let mut r = registrar();
    let d = dir();
    let mut seen = vec![];
    for (user, pass) in [("1001", "nope"), ("7777", "pw"), ("1003", "pw1003")] {
        let first = reply_of(r.handle_register(T0, &register(user, 1, &["<sip:x@192.0.2.10>"], None, None), udp(6000), &d, "tg"));
        let nonce = nonce_from(&first);
        let m = reply_of(r.handle_register(T0, &register(user, 2, &["<sip:x@192.0.2.10>"], None, Some(&auth(user, pass, &nonce, 1))), udp(6000), &d, "tg"));
        seen.push((m.status(), m.reason().map(str::to_owned), m.get_all(HeaderName::WwwAuthenticate).count()));
    }
    assert!(seen.iter().all(|s| *s == (Some(401), Some("Unauthorized".to_owned()), 2)), "{seen:?}");
}

#[test]
fn stale_nonce_and_replay() {
    let mut r = registrar();
    let d = dir();
    let first = reply_of(r.handle_register(T0, &register("1001", 1, &["<sip:1001@192.0.2.10:5062>"], None, None), udp(5062), &d, "tg"));
    let nonce = nonce_from(&first);
    let late = T0 + 61_000;
    let m = reply_of(r.handle_register(late, &register("1001", 2, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1))), udp(5062), &d, "tg"));
    assert_eq!(m.status(), Some(401));
    assert!(m.get(HeaderName::WwwAuthenticate).is_some_and(|c| c.contains("stale=true")));
    let ok = r.handle_register(T0 + 1, &register("1001", 3, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1))), udp(5062), &d, "tg");
    assert_eq!(reply_of(ok).status(), Some(200));
    let replay = reply_of(r.handle_register(T0 + 2, &register("1001", 4, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1))), udp(5062), &d, "tg"));
    assert_eq!(replay.status(), Some(401), "same nonce-count again is a replay");
}

#[test]
fn brute_force_blocks_the_source_then_clears() {
    let mut r = registrar();
    let d = dir();
    let src = udp(7000);
    let mut ignored_at = None;
    for i in 0..10u32 {
        let first = r.handle_register(T0 + i as u64, &register("1001", i * 2 + 1, &["<sip:x@192.0.2.10>"], None, None), src, &d, "tg");
        let Outcome::Reply(first) = first else {
            ignored_at = Some(i);
            break;
        };
        let nonce = nonce_from(&first);
        let o = r.handle_register(T0 + i as u64, &register("1001", i * 2 + 2, &["<sip:x@192.0.2.10>"], None, Some(&auth("1001", "guess", &nonce, 1))), src, &d, "tg");
        if matches!(o, Outcome::Ignore) {
            ignored_at = Some(i);
            break;
        }
    }
    assert_eq!(ignored_at, Some(4), "the fifth failure blocks");
    let ip = src.addr.ip();
    assert!(r.is_blocked(ip, T0 + 100));
    assert_eq!(r.blocked(T0 + 100).len(), 1);
    // Even the right password is ignored while blocked.
    assert!(matches!(authed_raw(&mut r, T0 + 200, src), Outcome::Ignore));
    assert!(r.clear_block(ip));
    assert!(!r.is_blocked(ip, T0 + 300));
}

fn authed_raw(r: &mut Registrar, now: u64, src: Peer) -> Outcome {
    r.handle_register(now, &register("1001", 100, &["<sip:x@192.0.2.10>"], None, None), src, &dir(), "tg")
}

#[test]
fn bindings_expire_on_time_and_survive_restore() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>;expires=120", "<sip:1001@192.0.2.11:5062>"], None);
    let (changes, _) = r.handle_timeout(T0 + 119_000);
    assert!(changes.is_empty());
    let (changes, _) = r.handle_timeout(T0 + 120_000);
    assert_eq!(changes, vec![Change::Delete { aor: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into() }]);
    let kept: Vec<Binding> = r.all().cloned().collect();
    let mut fresh = registrar();
    let mut with_expired = kept.clone();
    with_expired.push(Binding { expires_at_ms: T0, contact: "sip:old@192.0.2.99".into(), ..kept[0].clone() });
    fresh.restore(with_expired, T0 + 121_000);
    assert_eq!(fresh.lookup("1001").len(), 1, "expired bindings are not restored");
}

#[test]
fn keepalive_pings_udp_bindings_and_drops_dead_ones() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>"], None);
    let mut tcp_reg = register("1002", 1, &["<sip:1002@192.0.2.12:5062;transport=tcp>"], None, None);
    let tcp = Peer { transport: Transport::Tcp, addr: "192.0.2.12:40000".parse().expect("addr"), conn: Some(9) };
    let d = dir();
    let nonce = nonce_from(&reply_of(r.handle_register(T0, &tcp_reg, tcp, &d, "tg")));
    tcp_reg.push(HeaderName::Authorization, &auth("1002", "pw1002", &nonce, 1));
    assert_eq!(reply_of(r.handle_register(T0, &tcp_reg, tcp, &d, "tg")).status(), Some(200));
    assert_eq!(r.poll_timeout(), Some(T0 + 30_000));
    let (_, pings) = r.handle_timeout(T0 + 30_000);
    assert_eq!(pings, vec![PingDue { aor: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into(), dest: udp(5062) }]);
    let (_, pings) = r.handle_timeout(T0 + 60_000);
    assert_eq!(pings.len(), 1, "again one interval later; never for the TCP binding");
    assert!(r.ping_failed("1001", "sip:1001@192.0.2.10:5062").is_some());
    assert!(r.lookup("1001").is_empty());
    let (_, pings) = r.handle_timeout(T0 + 90_000);
    assert!(pings.is_empty());
}

#[test]
fn outbound_instance_replaces_binding_with_new_contact() {
    let mut r = registrar();
    let c1 = "<sip:1001@192.0.2.10:5062>;+sip.instance=\"<urn:uuid:0001>\";reg-id=1";
    let c2 = "<sip:1001@192.0.2.10:6000>;+sip.instance=\"<urn:uuid:0001>\";reg-id=1";
    authed(&mut r, T0, "1001", "pw1001", 1, &[c1], None);
    let o = authed(&mut r, T0, "1001", "pw1001", 10, &[c2], None);
    let Outcome::Commit { changes, reply } = o else { panic!("commit") };
    assert_eq!(r.lookup("1001").len(), 1);
    assert_eq!(r.lookup("1001")[0].contact, "sip:1001@192.0.2.10:6000");
    assert!(matches!(&changes[0], Change::Delete { contact, .. } if contact == "sip:1001@192.0.2.10:5062"));
    assert!(reply.get(HeaderName::Contact).is_some_and(|c| c.contains("reg-id=1") && c.contains("+sip.instance")));
}

#[test]
fn old_libre_clients_get_only_the_md5_challenge() {
    let mut r = registrar();
    let mut req = register("1001", 1, &["<sip:1001@192.0.2.10:5062>"], None, None);
    req.push(HeaderName::UserAgent, "baresip v1.0.0 (x86_64/linux)");
    let m = reply_of(r.handle_register(T0, &req, udp(5062), &dir(), "tg"));
    let ch: Vec<_> = m.get_all(HeaderName::WwwAuthenticate).collect();
    assert_eq!(ch.len(), 1);
    assert!(ch[0].contains("algorithm=MD5"));
}

/// `req` sent `times` times more at `at`: each time a 200 listing
/// `contacts` bindings, and nothing changed.
fn answered_again(r: &mut Registrar, req: &Message, at: u64, times: usize, contacts: usize) {
    for _ in 0..times {
        match r.handle_register(at, req, udp(5062), &dir(), "tg") {
            Outcome::Reply(m) => {
                assert_eq!(m.status(), Some(200));
                assert_eq!(m.get_all(HeaderName::Contact).count(), contacts, "the 200 lists the bindings");
            }
            other => panic!("a retransmission changes nothing: {other:?}"),
        }
    }
}

#[test]
fn retransmitted_register_gets_the_200_again_without_changes() {
    // The 200 of an authenticated REGISTER goes out statelessly, so its
    // retransmission (same nonce-count, Call-ID, CSeq and branch) comes
    // back here and must be answered 200 again, not refused as a replay
    // (401) or as out of order (500).
    let mut r = registrar();
    let d = dir();
    let first = reply_of(r.handle_register(T0, &register("1001", 1, &["<sip:1001@192.0.2.10:5062>"], None, None), udp(5062), &d, "tg"));
    let nonce = nonce_from(&first);
    let req = register("1001", 2, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1)));
    assert!(matches!(r.handle_register(T0, &req, udp(5062), &d, "tg"), Outcome::Commit { .. }));
    answered_again(&mut r, &req, T0 + 500, 3, 1);
    // The same credentials on another request (another branch) are a replay.
    let mut replay = register("1001", 2, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1)));
    replay.set(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKother;rport");
    assert_eq!(reply_of(r.handle_register(T0 + 600, &replay, udp(5062), &d, "tg")).status(), Some(401));
    assert_eq!(r.auth_counters().0, 0, "a right response repeated is no password guess");
    assert_eq!(r.lookup("1001").len(), 1);
}

/// The retransmission of a REGISTER whose 200 was lost is recognised
/// however many REGISTERs of the same device came in between (a load test
/// re-registering one extension 1,000 times a second: the 200 of one lost
/// in a full socket buffer, its retransmission 500 ms later), until its
/// client has given up retransmitting (Timer F, 32 s); after that the
/// same credentials are a replay.
#[test]
fn a_retransmission_is_recognised_after_hundreds_of_other_registers() {
    let mut r = registrar();
    let d = dir();
    let contact = ["<sip:1001@192.0.2.10:5062>"];
    let mut sent = Vec::new();
    for k in 0..600u32 {
        let at = T0 + u64::from(k);
        let first = reply_of(r.handle_register(at, &register("1001", 2 * k + 1, &contact, None, None), udp(5062), &d, "tg"));
        let req = register("1001", 2 * k + 2, &contact, None, Some(&auth("1001", "pw1001", &nonce_from(&first), 1)));
        assert!(matches!(r.handle_register(at, &req, udp(5062), &d, "tg"), Outcome::Commit { .. }), "REGISTER {k} applied");
        sent.push(req);
    }
    answered_again(&mut r, &sent[0], T0 + 500, 1, 1);
    answered_again(&mut r, &sent[300], T0 + 800, 1, 1);
    // After Timer F (and another REGISTER, which forgets what has aged):
    let later = T0 + 600 + 32_001;
    let first = reply_of(r.handle_register(later, &register("1001", 5000, &contact, None, None), udp(5062), &d, "tg"));
    let req = register("1001", 5001, &contact, None, Some(&auth("1001", "pw1001", &nonce_from(&first), 1)));
    assert!(matches!(r.handle_register(later, &req, udp(5062), &d, "tg"), Outcome::Commit { .. }));
    assert_eq!(reply_of(r.handle_register(later, &sent[599], udp(5062), &d, "tg")).status(), Some(401), "forgotten after 32 s: a replay");
}

#[test]
fn retransmitted_unregister_gets_the_200_again() {
    // An unregister leaves no binding to remember its branch by: its
    // retransmission (the 200 lost) must still be answered 200, listing
    // no contact, and change nothing; a replay on another branch is not.
    let mut r = registrar();
    let d = dir();
    let first = reply_of(r.handle_register(T0, &register("1001", 1, &["<sip:1001@192.0.2.10:5062>"], None, None), udp(5062), &d, "tg"));
    let nonce = nonce_from(&first);
    let reg = register("1001", 2, &["<sip:1001@192.0.2.10:5062>"], None, Some(&auth("1001", "pw1001", &nonce, 1)));
    assert!(matches!(r.handle_register(T0, &reg, udp(5062), &d, "tg"), Outcome::Commit { .. }));
    let mut unreg = register("1001", 3, &["<sip:1001@192.0.2.10:5062>"], Some(0), Some(&auth("1001", "pw1001", &nonce, 2)));
    unreg.set(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKunreg;rport");
    assert!(matches!(r.handle_register(T0 + 1_000, &unreg, udp(5062), &d, "tg"), Outcome::Commit { .. }));
    assert!(r.lookup("1001").is_empty());
    answered_again(&mut r, &unreg, T0 + 1_500, 2, 0);
    let mut replay = unreg.clone();
    replay.set(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKother;rport");
    assert_eq!(reply_of(r.handle_register(T0 + 1_600, &replay, udp(5062), &d, "tg")).status(), Some(401));
}

#[test]
fn frequent_refreshes_keep_the_schedule_small_and_expiry_moves() {
    let mut r = registrar();
    let contact = ["<sip:1001@192.0.2.10:5062>;expires=120"];
    // Refresh every second for 100 s: each moves the expiry 1 s later.
    for i in 0..100u32 {
        let o = authed(&mut r, T0 + u64::from(i) * 1_000, "1001", "pw1001", 10 * i + 1, &contact, None);
        assert!(matches!(o, Outcome::Commit { .. }), "refresh {i}");
        let _ = r.handle_timeout(T0 + u64::from(i) * 1_000);
    }
    assert!(r.scheduled() <= 3, "one expiry and one keep-alive, not one per refresh: {}", r.scheduled());
    // Registered last at T0+99 s for 120 s: alive past the first expiry...
    let (changes, _) = r.handle_timeout(T0 + 218_000);
    assert!(changes.is_empty(), "not expired at {changes:?}");
    assert_eq!(r.lookup("1001").len(), 1);
    // ...and gone at its last one.
    let (changes, _) = r.handle_timeout(T0 + 219_000);
    assert_eq!(changes, vec![Change::Delete { aor: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into() }]);
    // A keep-alive entry still queued finds nothing to ping and is gone.
    let (_, pings) = r.handle_timeout(T0 + 260_000);
    assert!(pings.is_empty());
    assert_eq!(r.scheduled(), 0);
}

#[test]
fn a_forgotten_binding_is_gone_without_a_change_and_never_pinged_or_expired() {
    let mut r = registrar();
    authed(&mut r, T0, "1001", "pw1001", 1, &["<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.11:5062>"], None);
    assert_eq!(r.lookup("1001").len(), 2);
    assert!(r.forget("1001", "sip:1001@192.0.2.10:5062"));
    assert!(!r.forget("1001", "sip:1001@192.0.2.10:5062"), "once");
    assert!(!r.forget("1002", "sip:1002@192.0.2.10:5062"));
    assert_eq!(r.lookup("1001").iter().map(|b| b.contact.as_str()).collect::<Vec<_>>(), ["sip:1001@192.0.2.11:5062"]);
    // Its keep-alive and expiry are forgotten with it: only the other
    // binding is ever pinged, and its expiry is the only change.
    let (_, pings) = r.handle_timeout(T0 + 30_000);
    assert_eq!(pings.iter().map(|p| p.contact.as_str()).collect::<Vec<_>>(), ["sip:1001@192.0.2.11:5062"]);
    let (changes, _) = r.handle_timeout(T0 + 3_600_000);
    assert!(changes.iter().all(|c| !matches!(c, Change::Delete { contact, .. } if contact == "sip:1001@192.0.2.10:5062")), "{changes:?}");
}
