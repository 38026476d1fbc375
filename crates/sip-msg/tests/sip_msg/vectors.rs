//! RFC 4475 and RFC 5118 torture tests, from the data files in
//! `tests/vectors/` and the expected values in `manifest.toml`.

use serde::Deserialize;
use sip_msg::{HeaderName, Message, ParseError};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct Entry {
    kind: String,
    valid: bool,
    #[serde(default)]
    must_accept: bool,
    semantic_error: Option<String>,
    content_length_matches_body: Option<bool>,
    method: Option<String>,
    request_uri: Option<String>,
    status: Option<u16>,
    reason_phrase: Option<String>,
    call_id: Option<String>,
    cseq_num: Option<u32>,
    cseq_method: Option<String>,
    via_count: Option<usize>,
    top_via_branch: Option<String>,
    from_tag: Option<String>,
    to_tag: Option<String>,
    max_forwards: Option<u32>,
    content_length: Option<i64>,
    body_len: Option<usize>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn manifest() -> BTreeMap<String, BTreeMap<String, Entry>> {
    let text = std::fs::read_to_string(dir().join("manifest.toml")).expect("manifest");
    toml::from_str(&text).expect("manifest parses")
}

fn load(rfc: &str, name: &str) -> Vec<u8> {
    std::fs::read(dir().join(rfc).join(format!("{name}.dat"))).expect("vector file")
}

/// Everything a server checks before acting on a message: the parse, the
/// core headers, the version, and the grammar of the headers it reads.
fn full_check(m: &Message) -> Result<(), ParseError> {
    m.check_core()?;
    if !m.is_sip2() {
        return Err(ParseError::UnsupportedVersion);
    }
    m.max_forwards()?;
    m.expires()?;
    for c in m.contacts() {
        c?;
    }
    for r in m.routes() {
        r?;
    }
    for r in m.record_routes() {
        r?;
    }
    for v in m.vias() {
        v?;
    }
    if let Some(ct) = m.get(HeaderName::ContentType) {
        sip_msg::ContentType::parse(ct)?;
    }
    Ok(())
}

fn check_fields(id: &str, m: &Message, e: &Entry, check_content_length: bool) {
    assert_eq!(m.is_request(), e.kind == "request", "{id}: kind");
    if let Some(method) = &e.method {
        assert_eq!(m.method().map(|x| x.as_str()), Some(method.as_str()), "{id}: method");
    }
    if let Some(u) = &e.request_uri {
        assert_eq!(m.request_uri_str(), Some(u.as_str()), "{id}: request-uri");
    }
    if let Some(s) = e.status {
        assert_eq!(m.status(), Some(s), "{id}: status");
    }
    if let Some(r) = &e.reason_phrase {
        assert_eq!(m.reason(), Some(r.as_str()), "{id}: reason");
    }
    if let Some(c) = &e.call_id {
        assert_eq!(m.call_id().ok(), Some(c.as_str()), "{id}: call-id");
    }
    if let Some(n) = e.cseq_num {
        let cseq = m.cseq().unwrap_or_else(|err| panic!("{id}: cseq {err}"));
        assert_eq!(cseq.seq, n, "{id}: cseq num");
        if let Some(cm) = &e.cseq_method {
            assert_eq!(cseq.method.as_str(), cm, "{id}: cseq method");
        }
    }
    if let Some(n) = e.via_count {
        assert_eq!(m.vias().count(), n, "{id}: via count");
    }
    if let Some(b) = &e.top_via_branch {
        assert_eq!(m.top_via().ok().and_then(|v| v.branch()), Some(b.as_str()), "{id}: branch");
    }
    if let Some(t) = &e.from_tag {
        assert_eq!(m.from().ok().and_then(|f| f.tag()), Some(t.as_str()), "{id}: from tag");
    }
    if let Some(t) = &e.to_tag {
        assert_eq!(m.to().ok().and_then(|f| f.tag()), Some(t.as_str()), "{id}: to tag");
    }
    if let Some(mf) = e.max_forwards {
        assert_eq!(m.max_forwards().ok().flatten().map(u32::from), Some(mf), "{id}: max-forwards");
    }
    if let Some(bl) = e.body_len {
        assert_eq!(m.body().len(), bl, "{id}: body length");
    }
    if let Some(cl) = e.content_length.filter(|_| check_content_length) {
        let v = m.get(HeaderName::ContentLength).map(|v| v.trim().parse::<i64>().ok());
        assert_eq!(v, Some(Some(cl)), "{id}: content-length");
    }
}

/// The messages the RFCs call valid but whose note is informational only.
const ACCEPT_DESPITE_NOTE: &[&str] = &["badbranch", "port-ambiguous"];

/// Invalid messages the RFC lets a lenient parser accept, which we accept:
/// nothing in them stops a server from answering correctly.
const LENIENT_ACCEPT: &[&str] = &["baddate"];

#[test]
fn every_vector_is_judged_as_the_rfc_says() {
    let mut judged = 0;
    for (rfc, entries) in manifest() {
        for (name, e) in entries {
            let id = format!("{rfc}/{name}");
            let raw = load(&rfc, &name);
            let parsed = Message::parse_slice(&raw);
            let must_accept = (e.valid && (e.semantic_error.is_none() || ACCEPT_DESPITE_NOTE.contains(&name.as_str())))
                || e.must_accept
                || LENIENT_ACCEPT.contains(&name.as_str());
            if e.content_length_matches_body == Some(false) {
                // RFC 5118 prints Content-Length values that disagree with its
                // bodies. Framing must follow Content-Length exactly ...
                let declared = e.content_length.expect("declared length") as usize;
                let body = e.body_len.expect("body length");
                match &parsed {
                    Err(ParseError::BodyTooShort { declared: d, available }) => {
                        assert!(declared > body && *d == declared && *available >= body, "{id}: {parsed:?}");
                    }
                    Ok(m) => assert_eq!(m.body().len(), declared, "{id}: body cut at Content-Length"),
                    Err(other) => panic!("{id}: unexpected {other}"),
                }
                // ... and with a corrected length the IPv6 content is accepted.
                let text = String::from_utf8(raw.clone()).expect("utf8");
                let fixed = text.replace(&format!("Content-Length: {declared}"), &format!("Content-Length: {body}"));
                let m = Message::parse_slice(fixed.as_bytes()).unwrap_or_else(|err| panic!("{id}: {err}"));
                full_check(&m).unwrap_or_else(|err| panic!("{id}: {err}"));
                check_fields(&id, &m, &e, false);
                judged += 1;
                continue;
            }
            let verdict = parsed.as_ref().map_err(Clone::clone).and_then(|m| full_check(m));
            if must_accept {
                let m = parsed.as_ref().unwrap_or_else(|err| panic!("{id}: must parse, got {err}"));
                if let Err(err) = verdict {
                    panic!("{id}: must be accepted, got {err}");
                }
                check_fields(&id, m, &e, true);
                // And it survives a print/parse round trip.
                let again = Message::parse(m.to_bytes()).unwrap_or_else(|err| panic!("{id}: reparse {err}"));
                assert_eq!(&again, m, "{id}: round trip");
            } else {
                let err = verdict.err().unwrap_or_else(|| panic!("{id}: must be rejected"));
                // Each rejection answers 400, or 505 for the version.
                let want = if name == "badvers" { 505 } else { 400 };
                assert_eq!(err.status(), want, "{id}: {err}");
            }
            judged += 1;
        }
    }
    assert_eq!(judged, 61, "every vector in the manifest was judged");
}

#[test]
fn specific_errors_are_the_fitting_ones() {
    let p = |n: &str| Message::parse_slice(&load("rfc4475", n));
    assert!(matches!(p("clerr"), Err(ParseError::BodyTooShort { .. })));
    assert_eq!(p("ncl").err(), Some(ParseError::BadContentLength));
    assert_eq!(p("mcl01").err(), Some(ParseError::ConflictingContentLength));
    assert_eq!(p("bigcode").err(), Some(ParseError::BadStatusCode));
    assert_eq!(p("ltgtruri").err(), Some(ParseError::BadRequestUri));
    assert_eq!(p("lwsstart").err(), Some(ParseError::BadRequestUri));
    assert_eq!(p("escruri").err(), Some(ParseError::BadRequestUri));
    assert_eq!(p("baddn").err(), Some(ParseError::NoHeaderEnd));
    let insuf = p("insuf").expect("parses");
    assert!(matches!(insuf.check_core(), Err(ParseError::MissingHeader(_))));
    let multi = p("multi01").expect("parses");
    assert!(matches!(multi.check_core(), Err(ParseError::DuplicateHeader(_))));
    let mm = p("mismatch01").expect("parses");
    assert!(matches!(mm.check_core(), Err(ParseError::BadHeaderValue { header: HeaderName::CSeq, .. })));
    let bv = p("badvers").expect("parses");
    assert!(!bv.is_sip2());
}

#[test]
fn esc01_user_parts_unescape_and_compare() {
    let m = Message::parse_slice(&load("rfc4475", "esc01")).expect("esc01");
    let u = m.request_uri().expect("ruri");
    assert_eq!(u.user_decoded().as_deref(), Some("sips:user@example.com"));
    assert_eq!(u.scheme(), sip_msg::Scheme::Sip);
}

#[test]
fn dblreq_takes_only_the_first_request() {
    let raw = load("rfc4475", "dblreq");
    let m = Message::parse_slice(&raw).expect("dblreq");
    assert_eq!(m.body().len(), 0);
    assert_eq!(m.method().map(|x| x.as_str()), Some("REGISTER"));
}

#[test]
fn ipv6_hosts() {
    let m = Message::parse_slice(&load("rfc5118", "ipv6-good")).expect("ipv6-good");
    assert!(matches!(m.request_uri().expect("ruri").host(), Some(sip_msg::Host::V6(_))));
    let m = Message::parse_slice(&load("rfc5118", "port-unambiguous")).expect("port");
    assert_eq!(m.request_uri().expect("ruri").port(), Some(5070));
    assert!(Message::parse_slice(&load("rfc5118", "ipv6-bad")).is_err());
}
