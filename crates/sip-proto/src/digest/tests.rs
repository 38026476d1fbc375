use super::*;

const REALM: &str = "example.com";

fn server() -> DigestServer {
    DigestServer::new(REALM, [7; 32], 30_000)
}

fn nonce_of(ch: &str) -> String {
    let c = Credentials::parse(ch).expect("challenge parses");
    c.params.get("nonce").expect("nonce").to_owned()
}

fn creds(alg: Algorithm, user: &str, pass: &str, nonce: &str, nc: u32) -> String {
    let h = ha1(alg, user, REALM, pass);
    let r = client_response(alg, &h, nonce, nc, "c0ffee", "REGISTER", "sip:example.com");
    format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"{r}\", algorithm={}, qop=auth, nc={nc:08x}, cnonce=\"c0ffee\"",
        alg.name()
    )
}

fn lookup(user: &str) -> Option<Ha1s> {
    (user == "1001").then(|| Ha1s { md5: ha1(Algorithm::Md5, "1001", REALM, "s3cret"), sha256: ha1(Algorithm::Sha256, "1001", REALM, "s3cret") })
}

#[test]
fn rfc2617_md5_vector_shape() {
    // RFC 2617 §3.5 example values (HTTP, MD5, qop=auth).
    let ha1 = ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
    let r = client_response(Algorithm::Md5, &ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", 1, "0a4f113b", "GET", "/dir/index.html");
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_sha256_vector() {
    // RFC 7616 §3.9.1 (SHA-256, qop=auth).
    let ha1 = ha1(Algorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
    let r = client_response(
        Algorithm::Sha256,
        &ha1,
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        1,
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        "GET",
        "/dir/index.html",
    );
    assert_eq!(r, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

#[test]
fn both_algorithms_offered_and_accepted() {
    let mut s = server();
    let ch = s.challenges(1_000, false);
    let (md5, sha) = (&ch[0], &ch[1]);
    assert!(sha.contains("algorithm=SHA-256") && sha.contains("qop=\"auth\""));
    assert!(md5.contains("algorithm=MD5"), "MD5 first by default");
    let mut pref = server().with_algorithms(&[Algorithm::Sha256, Algorithm::Md5]);
    assert!(pref.challenges(1, false)[0].contains("SHA-256"));
    let mut only = server().with_algorithms(&[Algorithm::Sha256]);
    let n = nonce_of(&only.challenges(1, false)[0]);
    let c = creds(Algorithm::Md5, "1001", "s3cret", &n, 1);
    assert_eq!(only.verify(2, &Credentials::parse(&c).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::Unsupported), "MD5 not offered, not accepted");
    let nonce = nonce_of(sha);
    assert_eq!(nonce, nonce_of(md5));
    for (alg, nc) in [(Algorithm::Sha256, 1), (Algorithm::Md5, 2)] {
        let c = creds(alg, "1001", "s3cret", &nonce, nc);
        let v = s.verify(2_000, &Credentials::parse(&c).expect("creds"), "REGISTER", lookup);
        assert_eq!(v, Verdict::Ok { user: "1001".into() }, "{alg:?}");
    }
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let mut s = server();
    let nonce = nonce_of(&s.challenges(1_000, false)[0]);
    let wrong = creds(Algorithm::Md5, "1001", "guess", &nonce, 1);
    let unknown = creds(Algorithm::Md5, "9999", "s3cret", &nonce, 1);
    let a = s.verify(2_000, &Credentials::parse(&wrong).expect("c"), "REGISTER", lookup);
    let b = s.verify(2_000, &Credentials::parse(&unknown).expect("c"), "REGISTER", lookup);
    assert_eq!(a, Verdict::Refused(Refusal::BadCredentials));
    assert_eq!(a, b);
}

#[test]
fn stale_nonce_and_replayed_nc() {
    let mut s = server();
    let nonce = nonce_of(&s.challenges(1_000, false)[0]);
    let c = creds(Algorithm::Md5, "1001", "s3cret", &nonce, 1);
    let c = Credentials::parse(&c).expect("c");
    assert_eq!(s.verify(40_000, &c, "REGISTER", lookup), Verdict::Stale);
    assert!(matches!(s.verify(2_000, &c, "REGISTER", lookup), Verdict::Ok { .. }));
    assert_eq!(s.verify(2_001, &c, "REGISTER", lookup), Verdict::Repeated { user: "1001".into() }, "the same nc again");
    let c2 = creds(Algorithm::Md5, "1001", "s3cret", &nonce, 2);
    assert!(matches!(s.verify(2_002, &Credentials::parse(&c2).expect("c"), "REGISTER", lookup), Verdict::Ok { .. }));
    assert_eq!(s.verify(2_003, &c, "REGISTER", lookup), Verdict::Refused(Refusal::Replay), "an nc below the last");
    let wrong = creds(Algorithm::Md5, "1001", "guess", &nonce, 2);
    assert_eq!(s.verify(2_004, &Credentials::parse(&wrong).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::BadCredentials), "a repeat must still be right");
    let stale = s.challenges(3_000, true);
    assert!(stale[0].contains("stale=true"));
}

#[test]
fn forged_nonce_and_wrong_realm_are_refused() {
    let mut s = server();
    let forged = "000000000000000000010123456789abcdef01234567";
    let c = creds(Algorithm::Md5, "1001", "s3cret", forged, 1);
    assert_eq!(s.verify(1, &Credentials::parse(&c).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::ForgedNonce));
    let other = DigestServer::new("other.org", [7; 32], 30_000).nonce(1);
    let c = creds(Algorithm::Md5, "1001", "s3cret", &other, 1);
    assert_eq!(s.verify(1, &Credentials::parse(&c).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::ForgedNonce));
    let nonce = s.nonce(1);
    let c = creds(Algorithm::Md5, "1001", "s3cret", &nonce, 1).replace("realm=\"example.com\"", "realm=\"evil\"");
    assert_eq!(s.verify(1, &Credentials::parse(&c).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::WrongRealm));
    let c = creds(Algorithm::Md5, "1001", "s3cret", &nonce, 1).replace(", qop=auth", "");
    assert_eq!(s.verify(1, &Credentials::parse(&c).expect("c"), "REGISTER", lookup), Verdict::Refused(Refusal::Unsupported));
}

#[test]
fn a_nonce_whose_count_slot_was_taken_is_stale_not_accepted() {
    let mut s = server();
    s.nc = vec![(0, 0); 4]; // remember four nonces' counts instead of 2^19
    let first = nonce_of(&s.challenges(1_000, false)[0]);
    let use_ = |s: &mut DigestServer, nonce: &str, nc: u32| s.verify(1_500, &Credentials::parse(&creds(Algorithm::Md5, "1001", "s3cret", nonce, nc)).expect("c"), "REGISTER", lookup);
    assert!(matches!(use_(&mut s, &first, 1), Verdict::Ok { .. }));
    assert!(matches!(use_(&mut s, &first, 2), Verdict::Ok { .. }), "a higher count on the same nonce");
    let later: Vec<String> = (0..4).map(|_| nonce_of(&s.challenges(1_100, false)[0])).collect();
    // The fourth later nonce maps to the first one's slot.
    assert!(matches!(use_(&mut s, &later[3], 1), Verdict::Ok { .. }));
    assert_eq!(use_(&mut s, &first, 3), Verdict::Stale, "its count is forgotten: a fresh nonce, not a replay window");
    assert!(matches!(use_(&mut s, &later[0], 1), Verdict::Ok { .. }), "other slots are untouched");
    assert_eq!(use_(&mut s, &later[3], 1), Verdict::Repeated { user: "1001".into() });
}
