use super::*;
use crate::{Host, Method, Scheme};

#[test]
fn name_addr_forms() {
    let n = NameAddr::parse(r#""Bob \"B\" Smith" <sip:bob@biloxi.com;transport=tcp>;tag=a6c85cf"#).expect("na");
    assert_eq!(n.display().as_deref(), Some("Bob \"B\" Smith"));
    assert_eq!(n.uri().transport(), Some("tcp"));
    assert_eq!(n.tag(), Some("a6c85cf"));
    let n = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").expect("addr-spec");
    assert_eq!(n.uri().as_str(), "sip:alice@atlanta.com");
    assert_eq!(n.tag(), Some("88sja8x"));
    assert!(!n.has_angle_brackets());
    let n = NameAddr::parse("Anonymous <sip:c8oqz84zk7z@privacy.org>").expect("na");
    assert_eq!(n.display().as_deref(), Some("Anonymous"));
    let n = NameAddr::parse("<tel:+15551234567>").expect("tel");
    assert_eq!(n.uri().scheme(), Scheme::Tel);
    assert!(NameAddr::parse(r#""unterminated <sip:a@b>"#).is_err());
    assert!(NameAddr::parse("<sip:a@b").is_err());
    assert!(NameAddr::parse("<sip:a@b> junk").is_err());
    assert!(NameAddr::parse("").is_err());
}

#[test]
fn via_forms() {
    let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;received=198.51.100.2;rport=5061;branch=z9hG4bKx").expect("via");
    assert_eq!(v.host(), Host::V4("192.0.2.1".parse().expect("v4")));
    assert_eq!(v.rport(), Some(Some(5061)));
    assert_eq!(v.received(), Some("198.51.100.2"));
    assert!(v.is_rfc3261_branch());
    let v = Via::parse("SIP / 2.0 / TCP  host.example.com : 5070 ;rport").expect("lws via");
    assert_eq!(v.transport(), "TCP");
    assert_eq!(v.port(), Some(5070));
    assert_eq!(v.rport(), Some(None));
    assert!(v.is_reliable());
    assert!(Via::parse("SIP/2.0/UDP").is_err());
    assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
    assert!(Via::parse("SIP/2.0/UDP [::1").is_err());
}

#[test]
fn misc() {
    assert!(CSeq::parse("2147483648 INVITE").is_err());
    assert_eq!(CSeq::parse(" 1\r\n INVITE ").expect("cseq").method, Method::Invite);
    let ct = ContentType::parse("application/SDP ; charset=utf-8").expect("ct");
    assert!(ct.is("application", "sdp"));
    assert_eq!(ct.params.get("charset"), Some(Some("utf-8")));
    let se = SessionExpires::parse("1800;refresher=uas").expect("se");
    assert_eq!(se, SessionExpires { delta: 1800, refresher: Some(Refresher::Uas) });
    let ra = RAck::parse("776656 1 INVITE").expect("rack");
    assert_eq!((ra.rseq, ra.cseq), (776656, 1));
    let rp = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only").expect("rp");
    assert_eq!((rp.call_id, rp.to_tag, rp.from_tag, rp.early_only), ("425928@bobster.example.org", "7743", "6472", true));
    let r = Reason::parse(r#"SIP ;cause=200 ;text="Call completed elsewhere""#).expect("reason");
    assert_eq!((r.protocol, r.cause, r.text), ("SIP", Some(200), Some("Call completed elsewhere")));
    let ra = RetryAfter::parse("18000;duration=3600").expect("ra");
    assert_eq!((ra.seconds, ra.duration), (18000, Some(3600)));
    let ra = RetryAfter::parse("120 (I'm in a meeting)").expect("ra");
    assert_eq!(ra.comment, Some("I'm in a meeting"));
}

#[test]
fn digest_credentials() {
    let c = Credentials::parse(
        r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .expect("creds");
    assert!(c.is_digest());
    assert_eq!(c.params.get("username"), Some("bob"));
    assert_eq!(c.params.get("NC"), Some("00000001"));
    assert_eq!(c.params.get("qop"), Some("auth"));
    assert_eq!(c.params.get("response"), Some("6629fae49393a05397450978507c4ef1"));
    let ch = Credentials::parse(r#"Digest realm="a, b", qop="auth,auth-int", algorithm=SHA-256, nonce="n""#).expect("ch");
    assert_eq!(ch.params.get("realm"), Some("a, b"));
    assert_eq!(ch.params.get("qop"), Some("auth,auth-int"));
    assert_eq!(ch.params.get("algorithm"), Some("SHA-256"));
}
