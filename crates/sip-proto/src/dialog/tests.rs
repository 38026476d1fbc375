use super::*;

fn msg(s: &str) -> Message {
    Message::parse_slice(s.replace('\n', "\r\n").as_bytes()).expect("parse")
}

const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>
Content-Length: 0

";

const OK: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4>
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>
Content-Length: 0

";

#[test]
fn uac_dialog_reverses_record_route_and_builds_bye() {
    let mut d = Dialog::from_uac(&msg(INVITE), &msg(OK)).expect("dialog");
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.remote_tag, "a6c85cf");
    assert_eq!(d.local_tag, "1928301774");
    assert_eq!(d.route_set, vec!["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(d.next_hop(), "sip:p1.example.com;lr");
    let bye = d.request(Method::Bye);
    assert_eq!(bye.request_uri_str(), Some("sip:bob@192.0.2.4"));
    let routes: Vec<_> = bye.routes().map(|r| r.expect("route").uri().as_str().to_owned()).collect();
    assert_eq!(routes, vec!["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(bye.cseq().expect("cseq").seq, 314160);
    assert_eq!(bye.to().expect("to").tag(), Some("a6c85cf"));
    assert_eq!(bye.from().expect("from").tag(), Some("1928301774"));
    let ack = d.ack(314159);
    assert_eq!(ack.cseq().expect("cseq"), sip_msg::CSeq { seq: 314159, method: Method::Ack });
}

#[test]
fn strict_router_goes_into_request_uri() {
    let ok = OK.replace("<sip:p2.example.com;lr>, <sip:p1.example.com;lr>", "<sip:p2.example.com>, <sip:p1.example.com>");
    let mut d = Dialog::from_uac(&msg(INVITE), &msg(&ok)).expect("dialog");
    let bye = d.request(Method::Bye);
    assert_eq!(bye.request_uri_str(), Some("sip:p1.example.com"));
    let routes: Vec<_> = bye.routes().map(|r| r.expect("route").uri().as_str().to_owned()).collect();
    assert_eq!(routes, vec!["sip:p2.example.com", "sip:bob@192.0.2.4"]);
}

#[test]
fn uas_dialog_checks_cseq_and_refreshes_target() {
    let req = msg(INVITE);
    let mut d = Dialog::from_uas(&req, "uas9", true).expect("dialog");
    assert_eq!(d.route_set, vec!["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
    assert!(d.local.ends_with(";tag=uas9"));
    let reinvite = INVITE
        .replace("To: Bob <sip:bob@biloxi.com>", "To: Bob <sip:bob@biloxi.com>;tag=uas9")
        .replace("CSeq: 314159", "CSeq: 314160")
        .replace("Contact: <sip:alice@pc33.atlanta.com>", "Contact: <sip:alice@198.51.100.7:5070>");
    let reinvite = msg(&reinvite);
    assert!(d.matches_request(&reinvite));
    d.on_request(&reinvite).expect("in order");
    assert_eq!(d.remote_target, "sip:alice@198.51.100.7:5070");
    assert_eq!(d.on_request(&reinvite), Err(DialogError::CSeqOutOfOrder));
    assert_eq!(DialogError::CSeqOutOfOrder.status(), 500);
    // Our first request starts our own CSeq space.
    let bye = d.request(Method::Bye);
    assert_eq!(bye.cseq().expect("cseq").seq, 1);
    assert_eq!(bye.to().expect("to").tag(), Some("1928301774"));
}

#[test]
fn missing_contact_or_tag_is_an_error() {
    let ok = OK.replace("Contact: <sip:bob@192.0.2.4>\n", "");
    assert_eq!(Dialog::from_uac(&msg(INVITE), &msg(&ok)), Err(DialogError::NoContact));
    let ok = OK.replace(";tag=a6c85cf", "");
    assert_eq!(Dialog::from_uac(&msg(INVITE), &msg(&ok)), Err(DialogError::NoRemoteTag));
}
