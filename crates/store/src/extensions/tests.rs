use super::*;

#[test]
fn new_extension_json_defaults() {
    let json = serde_json::json!({
        "number": "1001",
        "ha1_md5": "0".repeat(32),
        "ha1_sha256": "0".repeat(64),
        "realm": "pbx.example.com",
    });
    let new: NewExtension = serde_json::from_value(json).unwrap();
    assert_eq!(
        new,
        NewExtension::new("1001", "0".repeat(32), "0".repeat(64), "pbx.example.com")
    );
    assert!(new.enabled);
    assert_eq!(new.tags, serde_json::json!({}));
    check_new(&new).unwrap();
}

#[test]
fn patch_json_round_trip_omits_unset_fields() {
    let patch = ExtensionPatch {
        enabled: Some(false),
        max_calls: Some(2),
        ..Default::default()
    };
    let json = serde_json::to_value(&patch).unwrap();
    assert_eq!(json, serde_json::json!({"enabled": false, "max_calls": 2}));
    assert_eq!(
        serde_json::from_value::<ExtensionPatch>(json).unwrap(),
        patch
    );
    assert_eq!(
        serde_json::from_str::<ExtensionPatch>("{}").unwrap(),
        ExtensionPatch::default()
    );
}

#[test]
fn checks_name_the_field() {
    let mut new = NewExtension::new("1001", "a".repeat(32), "b".repeat(64), "r");
    new.caller_id_number = "1\n2".into();
    assert_eq!(
        check_new(&new).err().and_then(|e| e.field()),
        Some("caller_id_number")
    );

    let patch = ExtensionPatch {
        credentials: Some(("a".repeat(32), "b".repeat(64), String::new())),
        ..Default::default()
    };
    assert_eq!(
        check_patch(&patch).err().and_then(|e| e.field()),
        Some("realm")
    );

    let patch = ExtensionPatch {
        tags: Some(serde_json::json!([])),
        ..Default::default()
    };
    assert_eq!(
        check_patch(&patch).err().and_then(|e| e.field()),
        Some("tags")
    );
}

#[test]
fn credentials_are_stored_lower_case() {
    let new = NewExtension::new("1001", "A".repeat(32), "B".repeat(64), "r");
    let checked = check_new(&new).unwrap();
    assert_eq!(checked.ha1_md5, "a".repeat(32));
    assert_eq!(checked.ha1_sha256, "b".repeat(64));
}
