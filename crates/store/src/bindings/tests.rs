use super::*;

fn binding() -> Binding {
    Binding {
        aor: "1001".into(),
        contact: "<sip:1001@192.0.2.7:5060;transport=udp>".into(),
        instance: Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into()),
        reg_id: Some(1),
        q: Some(0.5),
        expires_at_ms: 3_600_000,
        call_id: "a84b4c76e66710@pc33".into(),
        cseq: 314_159,
        transport: "udp".into(),
        source: "192.0.2.7:5060".into(),
        user_agent: Some("baresip".into()),
        path: None,
        updated_at_ms: 0,
    }
}

#[test]
fn a_well_formed_binding_passes() {
    check_binding(&binding()).unwrap();
    let minimal = Binding {
        instance: None,
        reg_id: None,
        q: None,
        user_agent: None,
        ..binding()
    };
    check_binding(&minimal).unwrap();
}

#[test]
fn each_bad_field_is_named() {
    let cases: [(&str, Binding); 9] = [
        (
            "aor",
            Binding {
                aor: "10 01".into(),
                ..binding()
            },
        ),
        (
            "contact",
            Binding {
                contact: String::new(),
                ..binding()
            },
        ),
        (
            "instance",
            Binding {
                instance: Some(String::new()),
                ..binding()
            },
        ),
        (
            "reg_id",
            Binding {
                reg_id: Some(0),
                ..binding()
            },
        ),
        (
            "q",
            Binding {
                q: Some(1.5),
                ..binding()
            },
        ),
        (
            "call_id",
            Binding {
                call_id: "x\r\ny".into(),
                ..binding()
            },
        ),
        (
            "transport",
            Binding {
                transport: "UDP".into(),
                ..binding()
            },
        ),
        (
            "source",
            Binding {
                source: "192.0.2.7".into(),
                ..binding()
            },
        ),
        (
            "path",
            Binding {
                path: Some(String::new()),
                ..binding()
            },
        ),
    ];
    for (field, b) in cases {
        assert_eq!(check_binding(&b).err().and_then(|e| e.field()), Some(field));
    }
}

#[test]
fn change_json_shape() {
    let c = BindingChange::Delete {
        aor: "1001".into(),
        contact: "<sip:x>".into(),
    };
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"op": "delete", "aor": "1001", "contact": "<sip:x>"})
    );
    let up = BindingChange::Upsert(binding());
    let back: BindingChange = serde_json::from_value(serde_json::to_value(&up).unwrap()).unwrap();
    assert_eq!(back, up);
}
