use super::*;

fn parse(s: &str) -> Result<Message, ParseError> {
    Message::parse_slice(s.as_bytes())
}

const BASIC: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\r\n";

#[test]
fn rfc3261_example_invite() {
    let m = parse(BASIC).expect("parse");
    assert!(m.is_request());
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri_str(), Some("sip:bob@biloxi.com"));
    assert_eq!(m.call_id(), Ok("a84b4c76e66710@pc33.atlanta.com"));
    assert_eq!(m.cseq().expect("cseq"), CSeq { seq: 314159, method: Method::Invite });
    assert_eq!(m.from().expect("from").tag(), Some("1928301774"));
    assert_eq!(m.from().expect("from").display().as_deref(), Some("Alice"));
    assert_eq!(m.to().expect("to").tag(), None);
    assert_eq!(m.max_forwards(), Ok(Some(70)));
    assert_eq!(m.body().as_ref(), b"v=0\r");
    let v = m.top_via().expect("via");
    assert_eq!(v.transport(), "UDP");
    assert_eq!(v.host_str(), "pc33.atlanta.com");
    assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
    assert!(m.check_core().is_ok());
}

#[test]
fn print_then_parse_is_identity() {
    let m = parse(BASIC).expect("parse");
    let again = Message::parse(m.to_bytes()).expect("reparse");
    assert_eq!(m, again);
}

#[test]
fn compact_forms_folding_and_multi_values() {
    let raw = "OPTIONS sip:a@b.c SIP/2.0\r\n\
v: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1,\r\n SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK2\r\n\
Via: SIP/2.0/UDP five.example.com ; branch=z9hG4bK3\r\n\
f: <sip:x@y>;tag=a\r\nt:\r\n  <sip:a@b.c>\r\ni: id1\r\nCSeq:\t9 OPTIONS\r\n\
X-Custom: keep me  verbatim\r\nl: 0\r\n\r\n";
    let m = parse(raw).expect("parse");
    let vias: Vec<_> = m.vias().map(|v| v.expect("via").branch().map(str::to_owned)).collect();
    assert_eq!(vias, vec![Some("z9hG4bK1".into()), Some("z9hG4bK2".into()), Some("z9hG4bK3".into())]);
    let second = m.vias().nth(1).expect("2").expect("via");
    assert_eq!(second.port(), Some(5061));
    assert_eq!(second.host(), crate::Host::V6("2001:db8::1".parse().expect("v6")));
    assert_eq!(m.to().expect("to").uri().as_str(), "sip:a@b.c");
    assert_eq!(m.get_named("x-custom"), Some("keep me  verbatim"));
    assert_eq!(m.cseq().expect("cseq").seq, 9);
    let printed = String::from_utf8(m.to_bytes().to_vec()).expect("utf8");
    assert!(printed.contains("X-Custom: keep me  verbatim\r\n"));
    assert!(printed.contains("Call-ID: id1\r\n"));
    assert_eq!(Message::parse(m.to_bytes()).expect("reparse"), m);
}

#[test]
fn content_length_checks() {
    let short = BASIC.replace("Content-Length: 4", "Content-Length: 40");
    assert_eq!(parse(&short), Err(ParseError::BodyTooShort { declared: 40, available: 5 }));
    let neg = BASIC.replace("Content-Length: 4", "Content-Length: -4");
    assert_eq!(parse(&neg), Err(ParseError::BadContentLength));
    let two = BASIC.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 5\r\n");
    assert_eq!(parse(&two), Err(ParseError::ConflictingContentLength));
    // Extra bytes after the declared body are ignored on datagrams (§18.3).
    let extra = format!("{BASIC}garbage");
    assert_eq!(parse(&extra).expect("parse").body().as_ref(), b"v=0\r");
}

#[test]
fn start_line_errors() {
    assert_eq!(parse("INVITE  sip:a@b SIP/2.0\r\n\r\n").err(), Some(ParseError::BadRequestUri));
    assert_eq!(parse("INVITE sip:a@b SIP/2.0 \r\n\r\n").err(), Some(ParseError::BadVersion));
    assert_eq!(parse("INV@TE sip:a@b SIP/2.0\r\n\r\n").err(), Some(ParseError::BadMethod));
    assert_eq!(parse("SIP/2.0 2000 OK\r\n\r\n").err(), Some(ParseError::BadStatusCode));
    assert_eq!(parse("SIP/2.0 099 Low\r\n\r\n").err(), Some(ParseError::BadStatusCode));
    assert_eq!(parse("\r\n\r\n").err(), Some(ParseError::Empty));
    assert_eq!(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n").err(), Some(ParseError::NoHeaderEnd));
    assert_eq!(parse("OPTIONS sip:a@b SIP/2.0\r\nno colon here\r\n\r\n").err(), Some(ParseError::BadHeaderLine { line: 2 }));
    assert_eq!(parse("OPTIONS sip:a@b SIP/2.0\r\n folded first\r\n\r\n").err(), Some(ParseError::BadHeaderLine { line: 2 }));
}

#[test]
fn other_version_parses_for_505() {
    let m = parse("OPTIONS sip:a@b SIP/7.0\r\nCall-ID: x\r\n\r\n").expect("parse");
    assert!(!m.is_sip2());
    assert_eq!(m.version(), "SIP/7.0");
}

#[test]
fn response_reason_may_be_empty() {
    let m = parse("SIP/2.0 100 \r\nCall-ID: x\r\n\r\n").expect("parse");
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
    let m = parse("SIP/2.0 180\r\nCall-ID: x\r\n\r\n").expect("parse");
    assert_eq!(m.reason(), Some(""));
}

#[test]
fn bounds() {
    let big = "a".repeat(70_000);
    assert_eq!(Message::parse_slice(big.as_bytes()).err(), Some(ParseError::TooLarge));
    let many: String = (0..300).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("OPTIONS sip:a@b SIP/2.0\r\n{many}\r\n");
    assert_eq!(parse(&raw).err(), Some(ParseError::TooManyHeaders));
    assert_eq!(Message::parse_slice(b"OPTIONS sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n").err(), Some(ParseError::NotUtf8));
}

#[test]
fn build_and_edit() {
    let mut m = Message::request(Method::Options, "sip:bob@example.com");
    m.push(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa");
    m.push(HeaderName::CallId, "c1");
    m.prepend(HeaderName::Via, "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKb");
    m.push_named("X-Thing", "1");
    m.set_body(Bytes::from_static(b"hi"));
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bKb"));
    assert!(m.remove_first_value(HeaderName::Via));
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bKa"));
    m.set(HeaderName::CallId, "c2");
    assert_eq!(m.call_id(), Ok("c2"));
    m.remove_named("x-thing");
    assert_eq!(m.get_named("X-Thing"), None);
    let text = String::from_utf8(m.to_bytes().to_vec()).expect("utf8");
    assert_eq!(
        text,
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\nCall-ID: c2\r\nContent-Length: 2\r\n\r\nhi"
    );
    let r = Message::response(486, "Busy Here");
    assert_eq!(String::from_utf8(r.to_bytes().to_vec()).expect("utf8"), "SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn remove_first_value_of_multi_value_line() {
    let mut m = parse("OPTIONS sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\n\r\n").expect("parse");
    assert!(m.remove_first_value(HeaderName::Route));
    let r: Vec<_> = m.routes().map(|r| r.expect("route").uri().as_str().to_owned()).collect();
    assert_eq!(r, vec!["sip:p2;lr", "sip:p3;lr"]);
}

#[test]
fn core_check_errors() {
    let no_via = BASIC.replace("Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n", "");
    assert_eq!(parse(&no_via).expect("parse").check_core(), Err(ParseError::MissingHeader(HeaderName::Via)));
    let bad_cseq = BASIC.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    assert!(matches!(parse(&bad_cseq).expect("parse").check_core(), Err(ParseError::BadHeaderValue { header: HeaderName::CSeq, .. })));
    let dup = BASIC.replace("Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", "Call-ID: a\r\nCall-ID: b\r\n");
    assert_eq!(parse(&dup).expect("parse").check_core(), Err(ParseError::DuplicateHeader(HeaderName::CallId)));
}

#[test]
fn response_to_copies_and_tags() {
    let req = parse(BASIC).expect("parse");
    let r = Message::response_to(&req, 180, "Ringing", Some("xyz"));
    assert_eq!(r.status(), Some(180));
    assert_eq!(r.to().expect("to").tag(), Some("xyz"));
    assert_eq!(r.call_id(), req.call_id());
    assert_eq!(r.top_via().expect("via").branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(r.get(HeaderName::Contact), None);
    let r2 = Message::response_to(&Message::response_to(&req, 200, "OK", Some("a")), 200, "OK", Some("b"));
    assert_eq!(r2.to().expect("to").tag(), Some("a"));
}

#[test]
fn salvage_broken_request() {
    let raw = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKq\r\nContent-Length: -3\r\nCall-ID: c\r\n\r\n";
    assert!(Message::parse_slice(raw).is_err());
    let s = Message::salvage_request(raw).expect("salvage");
    assert_eq!(s.method(), Some(&Method::Invite));
    assert_eq!(s.top_via().expect("via").branch(), Some("z9hG4bKq"));
    assert_eq!(s.get(HeaderName::CallId), Some("c"));
    assert!(Message::salvage_request(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n").is_none());
    assert!(Message::salvage_request(b"INVITE x\r\nCall-ID: c\r\n\r\n").is_none());
}
