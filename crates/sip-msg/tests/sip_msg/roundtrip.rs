//! `parse(print(m)) == m` over generated messages, and "never panics" over
//! arbitrary and mutated bytes.

use proptest::prelude::*;
use sip_msg::{HeaderName, Message, Method};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Printable text without leading/trailing whitespace; may contain a fold.
    prop_oneof![
        "[!-~]([ -~]{0,30}[!-~])?",
        "[!-~]{1,10}\r\n [!-~]{1,10}",
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Register),
        "[A-Z]{3,9}".prop_map(|m| Method::from_token(&m)),
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips"), Just("tel")],
        "[a-z0-9]{1,8}",
        "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
        proptest::option::of(1u16..=65535),
        "(;[a-z]{1,5}(=[a-z0-9]{1,5})?){0,3}",
    )
        .prop_map(|(s, u, h, p, params)| match s {
            "tel" => format!("tel:+{}{}", u.len() * 1234567, params),
            _ => match p {
                Some(p) => format!("{s}:{u}@{h}:{p}{params}"),
                None => format!("{s}:{u}@{h}{params}"),
            },
        })
}

prop_compose! {
    fn message()(
        is_req in any::<bool>(),
        m in method(),
        u in uri(),
        code in 100u16..700,
        reason in "([A-Za-z][A-Za-z ]{0,20})?",
        headers in proptest::collection::vec((token(), header_value()), 0..20),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) -> Message {
        let mut msg = if is_req { Message::request(m, &u) } else { Message::response(code, reason.trim_end()) };
        for (n, v) in headers {
            if HeaderName::recognise(&n) != HeaderName::ContentLength {
                msg.push_named(&n, &v);
            }
        }
        msg.set_body(bytes::Bytes::from(body));
        msg
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_parse_roundtrip(m in message()) {
        let printed = m.to_bytes();
        let parsed = Message::parse(printed.clone()).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&printed))))?;
        prop_assert_eq!(&parsed, &m);
        // And printing is stable.
        prop_assert_eq!(parsed.to_bytes(), printed);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(m) = Message::parse_slice(&data) {
            let _ = m.check_core();
            let _ = m.contacts().count();
            let _ = m.routes().count();
            let _ = Message::parse(m.to_bytes());
        }
        let _ = sip_msg::frame(&data, 4096);
        if let Some(m) = Message::salvage_request(&data) {
            let _ = Message::response_to(&m, 400, "Bad Request", Some("t")).to_bytes();
        }
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut raw = m.to_bytes().to_vec();
        let i = pos.index(raw.len());
        raw[i] = byte;
        raw.truncate(cut.index(raw.len() + 1).max(1));
        let _ = Message::salvage_request(&raw);
        if let Ok(p) = Message::parse_slice(&raw) {
            let _ = p.check_core();
            let _ = p.vias().count();
            let _ = p.expires();
        }
    }
}
