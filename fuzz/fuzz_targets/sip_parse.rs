//! Fuzz target for `sip-msg` parsing: arbitrary bytes through
//! `Message::parse_slice`; whatever parses is read through every typed
//! accessor, printed, and must parse back to itself (`parse(print(m)) == m`,
//! house style §10). Whatever does not parse goes through the 400 salvage
//! path a server uses to answer garbage (RFC 3261 §8.2, §21.4.1).
//!
//! Seed corpus: `crates/sip-msg/tests/vectors/**/*.dat` and
//! `crates/sip-msg/tests/fixtures/*.sip` (see `fuzz/seed.sh`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_msg::{
    CSeq, ContentType, Credentials, HeaderName, Host, Message, NameAddr, RAck, Reason, Replaces, RetryAfter,
    SessionExpires, Uri, Via,
};
use std::hint::black_box;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse_slice(data) {
        exercise(&m);
        round_trip(&m);
    }

    if let Some(req) = Message::salvage_request(data) {
        exercise(&req);
        let resp = Message::response_to(&req, 400, "Bad Request", Some("t"));
        exercise(&resp);
        let printed = resp.to_bytes();
        // The answer we send to garbage must itself be a SIP message.
        let back = Message::parse(printed.clone())
            .unwrap_or_else(|e| panic!("salvaged 400 does not parse ({e}): {:?}", String::from_utf8_lossy(&printed)));
        assert_eq!(back, resp, "salvaged 400 does not round-trip");
    }
});

/// `parse(print(m)) == m`, and printing is a fixed point after one pass.
fn round_trip(m: &Message) {
    let printed = m.to_bytes();
    let back = Message::parse(printed.clone()).unwrap_or_else(|e| {
        panic!("printed message does not parse ({e}):\n--- input as parsed ---\n{m:?}\n--- printed ---\n{:?}", String::from_utf8_lossy(&printed))
    });
    assert_eq!(&back, m, "parse(print(m)) != m; printed: {:?}", String::from_utf8_lossy(&printed));
    assert_eq!(back.to_bytes(), printed, "print(parse(print(m))) != print(m)");
}

/// Call every typed accessor; results are discarded, panics are bugs.
fn exercise(m: &Message) {
    let _ = black_box(m.check_core());
    let _ = black_box(m.call_id());
    let _ = black_box(m.cseq());
    if let Ok(n) = m.from() {
        name_addr(&n);
    }
    if let Ok(n) = m.to() {
        name_addr(&n);
    }
    if let Ok(v) = m.top_via() {
        via(&v);
    }
    for v in m.vias().flatten() {
        via(&v);
    }
    for n in m.contacts().flatten().flatten() {
        name_addr(&n);
    }
    for n in m.routes().flatten() {
        name_addr(&n);
    }
    for n in m.record_routes().flatten() {
        name_addr(&n);
    }
    let _ = black_box((m.max_forwards(), m.expires(), m.min_expires()));
    for name in [HeaderName::Supported, HeaderName::Require, HeaderName::Allow, HeaderName::Unsupported] {
        black_box(m.tokens(name).count());
        black_box(m.has_token(name, "100rel"));
        black_box(m.has_token(name, "timer"));
    }
    for name in ["X-Fuzz", "Via", "l", "i", "P-Asserted-Identity", ""] {
        black_box(m.get_named(name));
    }
    black_box((m.is_request(), m.method(), m.status(), m.reason(), m.version(), m.is_sip2(), m.body().len()));
    black_box((m.header_count(), m.encoded_len_hint()));
    for h in m.headers() {
        black_box((h.name, h.name_str, h.value, h.name.is_list()));
        header_value(h.name, h.value);
    }
    black_box(m.values(HeaderName::Via).count());

    match m.request_uri_str() {
        Some(raw) => {
            // Validated while parsing: a parsed request always has one.
            let u = m.request_uri().unwrap_or_else(|| panic!("request URI {raw:?} parsed once but not twice"));
            uri(&u);
        }
        None => assert!(m.request_uri().is_none()),
    }
}

/// The typed parsers for headers the message does not interpret itself.
fn header_value(name: HeaderName, v: &str) {
    match name {
        HeaderName::CSeq => drop(black_box(CSeq::parse(v))),
        HeaderName::ContentType => {
            if let Ok(c) = ContentType::parse(v) {
                black_box((c.is("application", "sdp"), c.params.iter().count()));
            }
        }
        HeaderName::SessionExpires | HeaderName::MinSe => drop(black_box(SessionExpires::parse(v))),
        HeaderName::RAck => drop(black_box(RAck::parse(v))),
        HeaderName::Replaces => drop(black_box(Replaces::parse(v))),
        HeaderName::Reason => drop(black_box(Reason::parse(v))),
        HeaderName::RetryAfter => drop(black_box(RetryAfter::parse(v))),
        HeaderName::WwwAuthenticate
        | HeaderName::ProxyAuthenticate
        | HeaderName::Authorization
        | HeaderName::ProxyAuthorization => {
            if let Ok(c) = Credentials::parse(v) {
                black_box((c.is_digest(), c.params.iter().count(), c.params.get("nonce"), c.params.as_str()));
            }
        }
        HeaderName::ReferTo
        | HeaderName::ReferredBy
        | HeaderName::PAssertedIdentity
        | HeaderName::PPreferredIdentity
        | HeaderName::Path => {
            if let Ok(n) = NameAddr::parse(v) {
                name_addr(&n);
            }
        }
        _ => {}
    }
}

fn name_addr(n: &NameAddr<'_>) {
    black_box((n.display_raw(), n.display(), n.tag(), n.has_angle_brackets()));
    black_box(n.params().iter().count());
    uri(&n.uri());
}

fn via(v: &Via<'_>) {
    black_box((v.protocol(), v.version(), v.transport(), v.host_str(), v.port()));
    black_box((v.branch(), v.received(), v.rport(), v.maddr(), v.is_rfc3261_branch(), v.is_reliable()));
    black_box(v.params().iter().count());
    host(&v.host());
}

fn uri(u: &Uri<'_>) {
    black_box((u.as_str(), u.scheme(), u.user(), u.user_decoded(), u.password(), u.host_str(), u.port()));
    black_box((u.headers(), u.transport(), u.is_loose_route(), u.to_string()));
    let p = u.params();
    black_box((p.iter().count(), p.get("lr"), p.get_unquoted("transport"), p.contains("maddr")));
    assert!(p.equivalent_all(&p), "params not equivalent to themselves: {:?}", p.as_str());
    if let Some(h) = u.host() {
        host(&h);
    }
    // RFC 3261 §19.1.4 equivalence is reflexive.
    assert!(u.equivalent(u), "URI not equivalent to itself: {:?}", u.as_str());
    // Re-parsing the URI text yields the same URI.
    assert_eq!(Uri::parse(u.as_str()).as_ref(), Ok(u), "URI does not re-parse to itself");
}

fn host(h: &Host<'_>) {
    black_box((h.ip(), h.to_string()));
    assert!(h.same_as(h), "host not the same as itself: {h}");
}
