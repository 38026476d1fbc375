//! Builders for the requests tests send.

use sip_msg::{HeaderName, Message, Method};

/// A minimal out-of-dialog request from `from_user@a.example` to `uri`.
/// The endpoint adds Via and Max-Forwards.
pub fn request(method: Method, uri: &str, call_id: &str, cseq: u32, from_tag: &str) -> Message {
    let mut m = Message::request(method.clone(), uri);
    m.push(HeaderName::From, &format!("<sip:caller@a.example>;tag={from_tag}"));
    m.push(HeaderName::To, &format!("<{uri}>"));
    m.push(HeaderName::CallId, call_id);
    m.push(HeaderName::CSeq, &format!("{cseq} {method}"));
    m.push(HeaderName::Contact, "<sip:caller@10.0.0.1:5060>");
    m
}
