//! Number rules, inbound source recognition, and credentials for calls.

use crate::harness::*;
use sip_msg::{HeaderName, Message, Method};
use sip_proto::digest::{Algorithm, Verdict};
use std::net::IpAddr;
use trunks::{IpCidr, RegisterConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn callee_is_stripped_then_prefixed_and_caller_is_fixed_or_passed() {
    let mut rig = Rig::new();
    let mut a = gateway("a");
    a.register = None;
    a.strip = 1;
    a.prefix = "+44".into();
    a.caller_id = Some("+441234567890".into());
    let mut b = gateway("b");
    b.register = None;
    rig.set(vec![a, b]);
    let t = &rig.trunks;
    assert_eq!(t.callee_number("a", "07700900123").as_deref(), Some("+447700900123"));
    assert_eq!(t.callee_number("a", "").as_deref(), Some("+44"), "shorter than strip");
    assert_eq!(t.callee_number("a", "é5").as_deref(), Some("+445"), "strips characters, not bytes");
    assert_eq!(t.callee_number("b", "07700900123").as_deref(), Some("07700900123"));
    assert_eq!(t.caller_number("a", "1000").as_deref(), Some("+441234567890"));
    assert_eq!(t.caller_number("b", "1000").as_deref(), Some("1000"));
    assert_eq!(t.callee_number("zz", "1"), None);
    assert_eq!(t.caller_number("zz", "1"), None);
    assert_eq!(t.get("a").map(|g| g.strip), Some(1));
    assert!(t.get("zz").is_none());
    assert_eq!(t.configs().map(|g| g.name.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
}

#[test]
fn codecs_filter() {
    let mut g = gateway("a");
    assert!(g.allows_codec("opus"), "empty list: any");
    g.codecs = vec!["PCMU".into(), "PCMA".into()];
    assert!(g.allows_codec("pcmu"));
    assert!(!g.allows_codec("G729"));
}

#[test]
fn inbound_source_first_match_in_configuration_order() {
    let mut rig = Rig::new();
    let mut a = gateway("a");
    a.register = None;
    a.inbound = vec!["192.0.2.0/24".parse().expect("cidr"), "2001:db8::/32".parse().expect("cidr")];
    let mut b = gateway("b");
    b.register = None;
    b.inbound = vec!["192.0.2.10".parse().expect("cidr"), "198.51.100.0/24".parse().expect("cidr")];
    rig.set(vec![a, b]);
    let t = &rig.trunks;
    assert_eq!(t.gateway_for_source(ip("192.0.2.10")), Some("a"), "a comes first even though b is more specific");
    assert_eq!(t.gateway_for_source(ip("198.51.100.99")), Some("b"));
    assert_eq!(t.gateway_for_source(ip("2001:db8:1::5")), Some("a"));
    assert_eq!(t.gateway_for_source(ip("::ffff:198.51.100.1")), Some("b"), "IPv4-mapped");
    assert_eq!(t.gateway_for_source(ip("203.0.113.1")), None);
    assert_eq!(t.gateway_for_source(ip("2001:db9::1")), None);
}

fn invite_challenge(code: u16, header: HeaderName, values: &[String]) -> Message {
    let mut m = Message::response(code, reason(code));
    for v in values {
        m.push(header, v);
    }
    m
}

#[test]
fn authorize_answers_invite_challenges_with_the_gateway_credentials() {
    let mut rig = Rig::new();
    let mut carrier = CarrierAuth::new(&[Algorithm::Sha256], "secret");
    let mut g = gateway("gw");
    g.ping_interval = None;
    let mut plain = gateway("plain");
    plain.register = None;
    let mut picky = gateway("picky");
    picky.register = Some(RegisterConfig { username: "alice".into(), password: "secret".into(), realm: Some("elsewhere".into()), expires: 60 });
    rig.set(vec![g, plain, picky]);
    let uri = "sip:+447700900123@carrier.example";

    let ch = carrier.challenges(&rig, false);
    let resp = invite_challenge(407, HeaderName::ProxyAuthenticate, &ch);
    let (h, v) = rig.trunks.authorize("gw", &resp, "INVITE", uri).expect("credentials");
    assert_eq!(h, HeaderName::ProxyAuthorization);
    assert_eq!(auth_param(&v, "uri"), Some(uri));
    assert_eq!(auth_param(&v, "nc"), Some("00000001"));
    let mut invite = Message::request(Method::Invite, uri);
    invite.push(h, &v);
    assert_eq!(carrier.verify(&rig, &invite, HeaderName::ProxyAuthorization), Verdict::Ok { user: "alice".into() });

    // The same nonce again (a second call): nc goes up, cnonce changes.
    let (_, v2) = rig.trunks.authorize("gw", &resp, "INVITE", uri).expect("credentials");
    assert_eq!(auth_param(&v2, "nc"), Some("00000002"));
    assert_ne!(auth_param(&v, "cnonce"), auth_param(&v2, "cnonce"));
    let mut invite2 = Message::request(Method::Invite, uri);
    invite2.push(HeaderName::ProxyAuthorization, &v2);
    assert_eq!(carrier.verify(&rig, &invite2, HeaderName::ProxyAuthorization), Verdict::Ok { user: "alice".into() });

    // 401 → Authorization.
    let resp401 = invite_challenge(401, HeaderName::WwwAuthenticate, &carrier.challenges(&rig, false));
    assert_eq!(rig.trunks.authorize("gw", &resp401, "INVITE", uri).map(|(h, _)| h), Some(HeaderName::Authorization));

    // No credentials, unknown gateway, other realm, unusable challenge: None.
    assert_eq!(rig.trunks.authorize("plain", &resp, "INVITE", uri), None);
    assert_eq!(rig.trunks.authorize("zz", &resp, "INVITE", uri), None);
    assert_eq!(rig.trunks.authorize("picky", &resp, "INVITE", uri), None);
    let basic = invite_challenge(401, HeaderName::WwwAuthenticate, &["Basic realm=\"x\"".to_owned()]);
    assert_eq!(rig.trunks.authorize("gw", &basic, "INVITE", uri), None);
}

#[test]
fn cidr_type_is_usable_from_config() {
    let c: IpCidr = "10.1.2.3/8".parse().expect("cidr");
    assert_eq!(c.to_string(), "10.0.0.0/8");
}
