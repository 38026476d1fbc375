use super::*;

fn field_of(r: Result<impl std::fmt::Debug>) -> &'static str {
    match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn numbers() {
    for ok in ["1", "1001", "alice", "A.b-c_d", &"9".repeat(MAX_NUMBER_LEN)] {
        number("number", ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    for bad in [
        "",
        " 1",
        "10 01",
        "+1001",
        "1001@x",
        "é",
        "a/b",
        &"9".repeat(33),
    ] {
        assert_eq!(field_of(number("number", bad)), "number", "{bad:?}");
    }
    assert_eq!(field_of(number("aor", "")), "aor");
}

#[test]
fn text_rejects_control_characters_and_length() {
    text("display_name", "Zoë Ünicode", 256).unwrap();
    text("display_name", "", 256).unwrap();
    assert_eq!(
        field_of(text("display_name", "a\r\nVia: x", 256)),
        "display_name"
    );
    assert_eq!(field_of(text("display_name", "abc", 2)), "display_name");
    assert_eq!(field_of(non_empty_text("contact", "", 9)), "contact");
}

#[test]
fn codec_lists() {
    codecs(&[]).unwrap();
    codecs(&["opus".into(), "PCMU".into(), "telephone-event".into()]).unwrap();
    for bad in [
        vec!["".to_string()],
        vec!["PCM U".to_string()],
        vec!["PCMU".to_string(), "pcmu".to_string()],
        vec!["x".repeat(65)],
        (0..33).map(|i| format!("c{i}")).collect(),
    ] {
        assert_eq!(field_of(codecs(&bad)), "codecs", "{bad:?}");
    }
}

#[test]
fn tags_must_be_an_object() {
    assert_eq!(
        tags(&serde_json::json!({"team": "sales"})).unwrap(),
        r#"{"team":"sales"}"#
    );
    for bad in [
        serde_json::json!([1]),
        serde_json::json!("x"),
        serde_json::Value::Null,
    ] {
        assert_eq!(field_of(tags(&bad)), "tags");
    }
    let huge = serde_json::json!({ "k": "v".repeat(70_000) });
    assert_eq!(field_of(tags(&huge)), "tags");
}

#[test]
fn credentials_are_hex_and_normalized() {
    let md5 = "0123456789ABCDEF0123456789abcdef";
    let sha = "A".repeat(64);
    let (m, s, r) = credentials(md5, &sha, "pbx.example.com").unwrap();
    assert_eq!(m, md5.to_ascii_lowercase());
    assert_eq!(s, "a".repeat(64));
    assert_eq!(r, "pbx.example.com");

    assert_eq!(field_of(credentials("abc", &sha, "r")), "ha1_md5");
    assert_eq!(field_of(credentials(&"g".repeat(32), &sha, "r")), "ha1_md5");
    assert_eq!(
        field_of(credentials(md5, &"a".repeat(63), "r")),
        "ha1_sha256"
    );
    assert_eq!(field_of(credentials(md5, &sha, "")), "realm");
    assert_eq!(field_of(credentials(md5, &sha, "a\"b")), "realm");
}

#[test]
fn binding_fields() {
    reg_id(1).unwrap();
    reg_id(i32::MAX as u32).unwrap();
    assert_eq!(field_of(reg_id(0)), "reg_id");
    assert_eq!(field_of(reg_id(1 << 31)), "reg_id");

    q(0.0).unwrap();
    q(1.0).unwrap();
    q(0.5).unwrap();
    for bad in [-0.1, 1.001, f32::NAN, f32::INFINITY] {
        assert_eq!(field_of(q(bad)), "q");
    }

    socket_addr("source", "192.0.2.1:5060").unwrap();
    socket_addr("source", "[2001:db8::1]:5061").unwrap();
    for bad in ["192.0.2.1", "host:5060", "", "2001:db8::1:5060"] {
        assert_eq!(field_of(socket_addr("source", bad)), "source", "{bad:?}");
    }

    uri("contact", "<sip:1001@192.0.2.1:5060;transport=udp>").unwrap();
    assert_eq!(field_of(uri("contact", "")), "contact");
    assert_eq!(field_of(uri("contact", "sip:a\nb")), "contact");
}
