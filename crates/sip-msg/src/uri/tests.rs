use super::*;

#[test]
fn sip_uri_full() {
    let u = Uri::parse("sip:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent").expect("uri");
    assert_eq!(u.scheme(), Scheme::Sip);
    assert_eq!(u.user(), Some("alice"));
    assert_eq!(u.password(), Some("secret"));
    assert_eq!(u.host(), Some(Host::Domain("atlanta.com")));
    assert_eq!(u.port(), Some(5061));
    assert_eq!(u.transport(), Some("tcp"));
    assert!(u.is_loose_route());
    assert_eq!(u.headers(), Some("subject=project%20x&priority=urgent"));
}

#[test]
fn ipv6_reference() {
    let u = Uri::parse("sip:[2001:db8::10]:5070;maddr=[2001:db8::1]").expect("uri");
    assert_eq!(u.host(), Some(Host::V6("2001:db8::10".parse().expect("v6"))));
    assert_eq!(u.port(), Some(5070));
    assert_eq!(u.params().get("maddr"), Some(Some("[2001:db8::1]")));
    let u = Uri::parse("sip:[2001:db8::10]").expect("uri");
    assert_eq!(u.port(), None);
    assert!(Uri::parse("sip:2001:db8::10").is_err());
    assert!(Uri::parse("sip:[2001:db8::10").is_err());
}

#[test]
fn tel_and_other() {
    let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").expect("tel");
    assert_eq!(u.scheme(), Scheme::Tel);
    assert_eq!(u.user(), Some("+1-201-555-0123"));
    assert_eq!(u.params().get("phone-context"), Some(Some("example.com")));
    let u = Uri::parse("mailto:a@b.c").expect("mailto");
    assert_eq!(u.scheme(), Scheme::Other);
}

#[test]
fn rejects() {
    assert!(Uri::parse("sip:").is_err());
    assert!(Uri::parse("sip:a b@c").is_err());
    assert!(Uri::parse("sip:host:99999").is_err());
    assert!(Uri::parse("sip:host:").is_err());
    assert!(Uri::parse("nocolon").is_err());
    assert!(Uri::parse("sip:@host").is_err());
}

#[test]
fn escaped_user_decodes() {
    let u = Uri::parse("sip:%61lice@atlanta.com").expect("uri");
    assert_eq!(u.user_decoded().as_deref(), Some("alice"));
}

#[test]
fn equivalence_rfc3261_examples() {
    // RFC 3261 §19.1.4 equivalent pairs.
    let eq = [
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
        ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
         "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ];
    for (a, b) in eq {
        let (a, b) = (Uri::parse(a).expect("a"), Uri::parse(b).expect("b"));
        assert!(a.equivalent(&b), "{a} ~ {b}");
        assert!(b.equivalent(&a), "{b} ~ {a}");
    }
    let ne = [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ];
    for (a, b) in ne {
        let (a, b) = (Uri::parse(a).expect("a"), Uri::parse(b).expect("b"));
        assert!(!a.equivalent(&b), "{a} !~ {b}");
    }
}

/// Found by the sip_parse fuzz target: repeated parameter names broke
/// reflexivity (`fuzz/regressions/sip_parse/uri-repeated-param-not-self-equivalent`).
#[test]
fn equivalence_is_reflexive_with_repeated_parameters() {
    for raw in ["sip:a@b;x=1;x=2", "sip:a@b;transport=udp;transport=tcp", "tel:123;x=1;x=2", "sip:P;=;", "sip:a@b;;"] {
        let u = Uri::parse(raw).expect("parses");
        assert!(u.equivalent(&u), "{raw}");
        assert!(u.params().equivalent_all(&u.params()), "{raw}");
    }
    let a = Uri::parse("tel:123;x=1;x=2").expect("a");
    let b = Uri::parse("tel:123;x=2;x=1").expect("b");
    assert!(a.equivalent(&b));
    let c = Uri::parse("tel:123;x=1;x=3").expect("c");
    assert!(!a.equivalent(&c));
}
