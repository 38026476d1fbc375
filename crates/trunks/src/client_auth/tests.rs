use super::*;

fn resp(code: u16, header: HeaderName, values: &[&str]) -> Message {
    let mut m = Message::response(code, "Unauthorized");
    for v in values {
        m.push(header, v);
    }
    m
}

/// RFC 2617 §3.5 (MD5, qop=auth) and RFC 7616 §3.9.1 (SHA-256) test vectors.
#[test]
fn rfc_vectors() {
    let md5 = Challenge {
        alg: Algorithm::Md5,
        alg_written: false,
        realm: "testrealm@host.com".into(),
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
        opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
        qop_auth: true,
        stale: false,
        proxy: false,
    };
    let (name, v) = authorization(&md5, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b");
    assert_eq!(name, HeaderName::Authorization);
    assert!(v.contains("response=\"6629fae49393a05397450978507c4ef1\""), "{v}");
    assert!(v.contains("nc=00000001") && v.contains("qop=auth") && v.contains("cnonce=\"0a4f113b\""));
    assert!(v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    assert!(!v.contains("algorithm"), "not written in the challenge: not echoed");

    let sha = Challenge {
        alg: Algorithm::Sha256,
        alg_written: true,
        realm: "http-auth@example.org".into(),
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
        opaque: None,
        qop_auth: true,
        stale: false,
        proxy: true,
    };
    let (name, v) = authorization(&sha, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
    assert_eq!(name, HeaderName::ProxyAuthorization);
    assert!(v.contains("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""), "{v}");
    assert!(v.contains("algorithm=SHA-256"));
}

#[test]
fn rfc2069_form_without_qop() {
    let ch = Challenge {
        alg: Algorithm::Md5,
        alg_written: false,
        realm: "r".into(),
        nonce: "n".into(),
        opaque: None,
        qop_auth: false,
        stale: false,
        proxy: false,
    };
    let (_, v) = authorization(&ch, "u", "p", "REGISTER", "sip:x", 7, "c");
    let h1 = Algorithm::Md5.hash(b"u:r:p");
    let h2 = Algorithm::Md5.hash(b"REGISTER:sip:x");
    let want = Algorithm::Md5.hash(format!("{h1}:n:{h2}").as_bytes());
    assert!(v.contains(&format!("response=\"{want}\"")), "{v}");
    assert!(!v.contains("nc=") && !v.contains("cnonce") && !v.contains("qop"));
}

#[test]
fn pick_prefers_sha256_and_skips_unsupported() {
    let r = resp(
        401,
        HeaderName::WwwAuthenticate,
        &[
            "Digest realm=\"c\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"c\", nonce=\"n2\", algorithm=SHA-512-256, qop=\"auth\"",
            "Digest realm=\"c\", nonce=\"n3\", algorithm=SHA-256, qop=\"auth,auth-int\"",
        ],
    );
    let ch = pick(&r, None).expect("usable");
    assert_eq!((ch.alg, ch.nonce.as_str(), ch.qop_auth, ch.proxy), (Algorithm::Sha256, "n3", true, false));

    let only_int = resp(401, HeaderName::WwwAuthenticate, &["Digest realm=\"c\", nonce=\"n\", qop=\"auth-int\""]);
    assert_eq!(pick(&only_int, None), Err(Unusable::NoSupportedChallenge));
    let basic = resp(401, HeaderName::WwwAuthenticate, &["Basic realm=\"c\""]);
    assert_eq!(pick(&basic, None), Err(Unusable::NoSupportedChallenge));
    let none = Message::response(401, "x");
    assert_eq!(pick(&none, None), Err(Unusable::NoSupportedChallenge));
    let no_nonce = resp(401, HeaderName::WwwAuthenticate, &["Digest realm=\"c\""]);
    assert_eq!(pick(&no_nonce, None), Err(Unusable::NoSupportedChallenge));
}

#[test]
fn pick_proxy_challenge_realm_and_stale() {
    let r = resp(407, HeaderName::ProxyAuthenticate, &["Digest realm=\"carrier\", nonce=\"abc\", stale=TRUE, opaque=\"o\""]);
    let ch = pick(&r, Some("carrier")).expect("usable");
    assert!(ch.proxy && ch.stale && !ch.qop_auth && !ch.alg_written);
    assert_eq!(ch.opaque.as_deref(), Some("o"));
    assert_eq!(pick(&r, Some("other")), Err(Unusable::RealmMismatch { offered: "carrier".into() }));
    // A 407 answers only Proxy-Authenticate.
    let wrong = resp(407, HeaderName::WwwAuthenticate, &["Digest realm=\"carrier\", nonce=\"abc\""]);
    assert!(pick(&wrong, None).is_err());
}

#[test]
fn hostile_values_are_refused() {
    for v in ["Digest realm=\"a\\\"b\", nonce=\"n\"", "Digest realm=\"a\", nonce=\"n\u{1}x\""] {
        let r = resp(401, HeaderName::WwwAuthenticate, &[v]);
        assert!(pick(&r, None).is_err(), "{v}");
    }
}

#[test]
fn nonce_counts_increase_per_nonce_and_stay_bounded() {
    let mut n = NonceCounts::default();
    assert_eq!(n.next("a"), 1);
    assert_eq!(n.next("a"), 2);
    assert_eq!(n.next("b"), 1);
    assert_eq!(n.next("a"), 3);
    for i in 0..100 {
        n.next(&format!("x{i}"));
    }
    assert!(n.seen.len() <= NonceCounts::MAX);
    assert_eq!(n.next("a"), 1, "forgotten after many others");
}

#[test]
fn cnonces_vary() {
    let mut c = Cnonces::new("seed");
    let a = c.next();
    let b = c.next();
    assert_ne!(a, b);
    assert_eq!(a.len(), 16);
    let mut d = Cnonces::new("seed");
    d.mix("more");
    assert_ne!(d.next(), a);
}
