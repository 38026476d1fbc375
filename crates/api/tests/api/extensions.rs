//! `/v1/extensions`: create, read, change, delete; credentials kept only as
//! HA1s; validation naming the field; `directory_changed` once per write.

use crate::support::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sip_proto::digest::{ha1, Algorithm};

const ALPHABET: &str = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

fn default_view(number: &str, at: i64) -> Value {
    json!({
        "number": number,
        "display_name": "",
        "enabled": true,
        "caller_id_name": "",
        "caller_id_number": "",
        "codecs": [],
        "max_calls": 0,
        "record": false,
        "tags": {},
        "created_at_ms": at,
        "updated_at_ms": at,
    })
}

fn assert_generated(password: &str) {
    assert_eq!(password.chars().count(), 16, "{password:?}");
    assert!(
        password.chars().all(|c| ALPHABET.contains(c)),
        "{password:?}"
    );
}

/// The stored credentials are the HA1s of `password` for the API's realm.
async fn assert_credentials(h: &Harness, number: &str, password: &str) {
    let e = h
        .store
        .get_extension(number)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        e.ha1_md5,
        ha1(Algorithm::Md5, number, REALM, password),
        "MD5 HA1 of {number}"
    );
    assert_eq!(
        e.ha1_sha256,
        ha1(Algorithm::Sha256, number, REALM, password),
        "SHA-256 HA1 of {number}"
    );
    assert_eq!(e.realm, REALM);
}

#[tokio::test]
async fn create_with_a_generated_password() {
    let h = Harness::new().await;
    let r = h.post("/v1/extensions", json!({"number": "1001"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.content_type(), Some("application/json"));
    let body = r.json();
    assert_eq!(keys(body), set(&["extension", "password"]));
    assert_eq!(body["extension"], default_view("1001", T0));
    let password = body["password"].as_str().unwrap();
    assert_generated(password);
    assert_credentials(&h, "1001", password).await;
    assert_eq!(h.directory_changes(), 1);

    // Another one gets another password.
    let other = h.create(json!({"number": "1002"})).await;
    assert_generated(&other);
    assert_ne!(other, password);
}

#[tokio::test]
async fn create_with_every_field_and_a_given_password() {
    let h = Harness::new().await;
    let body = json!({
        "number": "alice.b-1_x",
        "password": "correct horse battery",
        "display_name": "Alice B",
        "enabled": false,
        "caller_id_name": "Reception",
        "caller_id_number": "+3212345678",
        "codecs": ["opus", "PCMA", "telephone-event"],
        "max_calls": 3,
        "record": true,
        "tags": {"team": "support", "desk": 7, "nested": {"a": [1, 2]}},
    });
    let r = h.post("/v1/extensions", body).await;
    r.assert_json(
        StatusCode::CREATED,
        &json!({
            "extension": {
                "number": "alice.b-1_x",
                "display_name": "Alice B",
                "enabled": false,
                "caller_id_name": "Reception",
                "caller_id_number": "+3212345678",
                "codecs": ["opus", "PCMA", "telephone-event"],
                "max_calls": 3,
                "record": true,
                "tags": {"team": "support", "desk": 7, "nested": {"a": [1, 2]}},
                "created_at_ms": T0,
                "updated_at_ms": T0,
            },
            "password": "correct horse battery",
        }),
    );
    assert_credentials(&h, "alice.b-1_x", "correct horse battery").await;
    // And it reads back the same, without the password.
    let got = h.get("/v1/extensions/alice.b-1_x").await;
    got.assert_json(StatusCode::OK, &r.json()["extension"]);
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn the_plain_password_never_reaches_the_database_file() {
    let h = Harness::new().await;
    let given = "Pl41nT3xt-Sentinel-Password";
    h.create(json!({"number": "1001", "password": given})).await;
    let generated = h.create(json!({"number": "1002"})).await;
    let changed = "An0ther-Sentinel-Passw0rd";
    h.patch("/v1/extensions/1001", json!({"password": changed}))
        .await;
    let reset = h
        .patch("/v1/extensions/1002", json!({"reset_password": true}))
        .await
        .json()["password"]
        .as_str()
        .unwrap()
        .to_owned();

    let bytes = h.db_bytes();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    // The scan does see what was written (WAL included).
    let e = h.store.get_extension("1001").await.unwrap().unwrap();
    assert!(
        contains(&e.ha1_md5) && contains(&e.ha1_sha256),
        "scan does not see the stored HA1s"
    );
    for p in [given, generated.as_str(), changed, reset.as_str()] {
        assert!(
            !contains(p),
            "plain password {p:?} found in the SQLite files"
        );
    }
}

#[tokio::test]
async fn reading_never_shows_credentials() {
    let h = Harness::new().await;
    h.create(json!({"number": "1001", "password": "secret-password"}))
        .await;
    let one = h.get("/v1/extensions/1001").await;
    one.assert_json(StatusCode::OK, &default_view("1001", T0));
    let list = h.get("/v1/extensions").await;
    list.assert_json(
        StatusCode::OK,
        &json!({"items": [default_view("1001", T0)], "next_cursor": null}),
    );
    let e = h.store.get_extension("1001").await.unwrap().unwrap();
    for r in [&one, &list] {
        let text = r.text();
        for secret in [
            "secret-password",
            e.ha1_md5.as_str(),
            e.ha1_sha256.as_str(),
            "ha1",
            "password",
        ] {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
}

#[tokio::test]
async fn get_unknown_is_404() {
    let h = Harness::new().await;
    h.get("/v1/extensions/1001")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.create(json!({"number": "1001"})).await;
    h.get("/v1/extensions/1002")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.get("/v1/extensions/1001")
        .await
        .assert_json(StatusCode::OK, &default_view("1001", T0));
}

#[tokio::test]
async fn duplicate_is_409_and_changes_nothing() {
    let h = Harness::new().await;
    let first = h
        .create(json!({"number": "1001", "display_name": "First"}))
        .await;
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "display_name": "Second", "password": "other-password"}),
        )
        .await;
    r.assert_error(StatusCode::CONFLICT, "conflict", None);
    let mut view = default_view("1001", T0);
    view["display_name"] = json!("First");
    h.get("/v1/extensions/1001")
        .await
        .assert_json(StatusCode::OK, &view);
    assert_credentials(&h, "1001", &first).await;
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn invalid_number_is_422_naming_number() {
    let h = Harness::new().await;
    let long = "1".repeat(33);
    for number in [
        "",
        "10 01",
        "1001@pbx",
        "sip:1001",
        "a/b",
        "é",
        "10\u{0}1",
        long.as_str(),
    ] {
        let r = h.post("/v1/extensions", json!({"number": number})).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("number"));
    }
    // 32 is still fine.
    h.create(json!({"number": "1".repeat(32)})).await;
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn number_missing_or_mistyped_is_422_naming_number() {
    let h = Harness::new().await;
    h.post("/v1/extensions", json!({})).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("number"),
    );
    h.post("/v1/extensions", json!({"number": 1001}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("number"));
    h.post("/v1/extensions", json!({"number": null}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("number"));
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn bad_password_is_422_naming_password() {
    let h = Harness::new().await;
    let long = "p".repeat(129);
    for password in [
        "",
        "short",
        "7chars!",
        "contains\ncontrol",
        "tab\tinside-it",
        long.as_str(),
    ] {
        let r = h
            .post(
                "/v1/extensions",
                json!({"number": "1001", "password": password}),
            )
            .await;
        r.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("password"),
        );
    }
    assert!(h.store.get_extension("1001").await.unwrap().is_none());
    // The bounds themselves are fine (counted in characters, not bytes).
    h.create(json!({"number": "1001", "password": "8chars!!"}))
        .await;
    h.create(json!({"number": "1002", "password": "p".repeat(128)}))
        .await;
    h.create(json!({"number": "1003", "password": "ééééééé€"}))
        .await;
    assert_credentials(&h, "1003", "ééééééé€").await;
    assert_eq!(h.directory_changes(), 3);
}

#[tokio::test]
async fn unknown_field_is_422_naming_it() {
    let h = Harness::new().await;
    let r = h
        .post("/v1/extensions", json!({"number": "1001", "colour": "red"}))
        .await;
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("colour"));
    // Credentials cannot be smuggled in.
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "ha1_md5": "0".repeat(32)}),
        )
        .await;
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("ha1_md5"));
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn mistyped_fields_are_422_naming_them() {
    let h = Harness::new().await;
    for (field, value) in [
        ("max_calls", json!("three")),
        ("max_calls", json!(-1)),
        ("max_calls", json!(1.5)),
        ("enabled", json!("yes")),
        ("record", json!(1)),
        ("codecs", json!("opus")),
        ("display_name", json!(7)),
    ] {
        let mut body = json!({"number": "1001"});
        body[field] = value.clone();
        let r = h.post("/v1/extensions", body).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(field));
    }
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn store_validation_is_422_naming_the_field() {
    let h = Harness::new().await;
    for (field, value) in [
        ("codecs", json!(["PCMU", "pcmu"])),
        ("codecs", json!([""])),
        ("display_name", json!("line\nbreak")),
        ("display_name", json!("x".repeat(257))),
        ("caller_id_name", json!("a\u{7}bell")),
        ("caller_id_number", json!("x".repeat(257))),
    ] {
        let mut body = json!({"number": "1001"});
        body[field] = value.clone();
        let r = h.post("/v1/extensions", body).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(field));
    }
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn tags_must_be_an_object() {
    let h = Harness::new().await;
    for tags in [json!([1, 2]), json!("team"), json!(5), json!(true)] {
        let r = h
            .post("/v1/extensions", json!({"number": "1001", "tags": tags}))
            .await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("tags"));
    }
    // null is the same as absent.
    h.create(json!({"number": "1001", "tags": null})).await;
    h.get("/v1/extensions/1001")
        .await
        .assert_json(StatusCode::OK, &default_view("1001", T0));
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let h = Harness::new().await;
    for body in [
        "{",
        "{\"number\": }",
        "not json",
        "",
        "{\"number\": \"1001\"} trailing",
        "{\"number\": \"1001\",}",
    ] {
        let r = h
            .call_raw(
                Method::POST,
                "/v1/extensions",
                Some("application/json"),
                body,
            )
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "bad_json", None);
    }
    let r = h
        .call_raw(
            Method::PATCH,
            "/v1/extensions/1001",
            Some("application/json"),
            "{",
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_json", None);
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_422() {
    let h = Harness::new().await;
    for body in ["[\"1001\"]", "\"1001\"", "1001", "null"] {
        let r = h
            .call_raw(
                Method::POST,
                "/v1/extensions",
                Some("application/json"),
                body,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["code"], "invalid", "{body}");
    }
}

#[tokio::test]
async fn missing_or_wrong_content_type_is_415() {
    let h = Harness::new().await;
    let body = json!({"number": "1001"}).to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = h
            .call_raw(Method::POST, "/v1/extensions", ct, body.clone())
            .await;
        r.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_json", None);
        let r = h
            .call_raw(Method::PATCH, "/v1/extensions/1001", ct, "{}")
            .await;
        r.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_json", None);
    }
    // With parameters it is still JSON.
    let r = h
        .call_raw(
            Method::POST,
            "/v1/extensions",
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn patch_changes_only_the_fields_given() {
    let h = Harness::new().await;
    let password = h
        .create(json!({"number": "1001", "display_name": "Old", "tags": {"a": 1}}))
        .await;
    let before = h.store.get_extension("1001").await.unwrap().unwrap();
    set_now(T0 + 5_000);
    let r = h
        .patch(
            "/v1/extensions/1001",
            json!({"display_name": "New", "max_calls": 2}),
        )
        .await;
    let mut view = default_view("1001", T0);
    view["display_name"] = json!("New");
    view["max_calls"] = json!(2);
    view["tags"] = json!({"a": 1});
    view["updated_at_ms"] = json!(T0 + 5_000);
    // No password change: the password field is empty.
    r.assert_json(StatusCode::OK, &json!({"extension": view, "password": ""}));

    set_now(T0 + 9_000);
    let r = h
        .patch(
            "/v1/extensions/1001",
            json!({
                "enabled": false,
                "caller_id_name": "Desk",
                "caller_id_number": "200",
                "codecs": ["G722", "PCMU"],
                "record": true,
                "tags": {"b": "two"},
            }),
        )
        .await;
    let view = json!({
        "number": "1001",
        "display_name": "New",
        "enabled": false,
        "caller_id_name": "Desk",
        "caller_id_number": "200",
        "codecs": ["G722", "PCMU"],
        "max_calls": 2,
        "record": true,
        "tags": {"b": "two"},
        "created_at_ms": T0,
        "updated_at_ms": T0 + 9_000,
    });
    r.assert_json(StatusCode::OK, &json!({"extension": view, "password": ""}));
    h.get("/v1/extensions/1001")
        .await
        .assert_json(StatusCode::OK, &view);

    // The credentials did not move.
    let after = h.store.get_extension("1001").await.unwrap().unwrap();
    assert_eq!(
        (after.ha1_md5, after.ha1_sha256),
        (before.ha1_md5, before.ha1_sha256)
    );
    assert_credentials(&h, "1001", &password).await;
    assert_eq!(h.directory_changes(), 3);
}

#[tokio::test]
async fn patch_can_empty_lists_and_tags() {
    let h = Harness::new().await;
    h.create(json!({"number": "1001", "codecs": ["PCMA"], "tags": {"a": 1}, "display_name": "X"}))
        .await;
    let r = h
        .patch(
            "/v1/extensions/1001",
            json!({"codecs": [], "tags": {}, "display_name": ""}),
        )
        .await;
    r.assert_json(
        StatusCode::OK,
        &json!({"extension": default_view("1001", T0), "password": ""}),
    );
}

#[tokio::test]
async fn patch_reset_password_returns_a_new_one_and_changes_the_ha1s() {
    let h = Harness::new().await;
    let old = h
        .create(json!({"number": "1001", "password": "old-password"}))
        .await;
    let before = h.store.get_extension("1001").await.unwrap().unwrap();
    let r = h
        .patch("/v1/extensions/1001", json!({"reset_password": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(keys(body), set(&["extension", "password"]));
    assert_eq!(body["extension"], default_view("1001", T0));
    let new = body["password"].as_str().unwrap();
    assert_generated(new);
    assert_ne!(new, old);
    assert_credentials(&h, "1001", new).await;
    let after = h.store.get_extension("1001").await.unwrap().unwrap();
    assert_ne!(after.ha1_md5, before.ha1_md5);
    assert_ne!(after.ha1_sha256, before.ha1_sha256);
    assert_eq!(h.directory_changes(), 2);
}

#[tokio::test]
async fn patch_password_sets_it() {
    let h = Harness::new().await;
    h.create(json!({"number": "1001"})).await;
    let r = h
        .patch(
            "/v1/extensions/1001",
            json!({"password": "brand-new-pass", "reset_password": false}),
        )
        .await;
    r.assert_json(
        StatusCode::OK,
        &json!({"extension": default_view("1001", T0), "password": "brand-new-pass"}),
    );
    assert_credentials(&h, "1001", "brand-new-pass").await;
    // reset_password false alone changes nothing.
    let r = h
        .patch("/v1/extensions/1001", json!({"reset_password": false}))
        .await;
    r.assert_json(
        StatusCode::OK,
        &json!({"extension": default_view("1001", T0), "password": ""}),
    );
    assert_credentials(&h, "1001", "brand-new-pass").await;
    assert_eq!(h.directory_changes(), 3);
}

#[tokio::test]
async fn patch_rejects_bad_input_and_changes_nothing() {
    let h = Harness::new().await;
    let password = h.create(json!({"number": "1001"})).await;
    let cases = [
        (
            json!({"password": "brand-new-pass", "reset_password": true}),
            "reset_password",
        ),
        (json!({"password": "short"}), "password"),
        (json!({"password": "with\u{1}control"}), "password"),
        (json!({"tags": [1]}), "tags"),
        (json!({"tags": "x"}), "tags"),
        (json!({"number": "1002"}), "number"),
        (json!({"ha1_md5": "0".repeat(32)}), "ha1_md5"),
        (json!({"max_calls": -1}), "max_calls"),
        (json!({"codecs": ["PCMU", "PCMU"]}), "codecs"),
        (json!({"display_name": "a\nb"}), "display_name"),
    ];
    for (body, field) in cases {
        let r = h.patch("/v1/extensions/1001", body).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(field));
    }
    h.get("/v1/extensions/1001")
        .await
        .assert_json(StatusCode::OK, &default_view("1001", T0));
    assert_credentials(&h, "1001", &password).await;
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn patch_unknown_is_404() {
    let h = Harness::new().await;
    for body in [
        json!({"display_name": "x"}),
        json!({"reset_password": true}),
        json!({}),
    ] {
        h.patch("/v1/extensions/1001", body).await.assert_error(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
    }
    assert!(h.store.get_extension("1001").await.unwrap().is_none());
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let h = Harness::new().await;
    h.create(json!({"number": "1001"})).await;
    h.create(json!({"number": "1002"})).await;
    h.delete("/v1/extensions/1001").await.assert_no_content();
    assert_eq!(h.directory_changes(), 3);
    h.get("/v1/extensions/1001")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.delete("/v1/extensions/1001")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.patch("/v1/extensions/1001", json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(h.directory_changes(), 3);
    // The other one is untouched, and the number can be reused.
    h.get("/v1/extensions/1002")
        .await
        .assert_json(StatusCode::OK, &default_view("1002", T0));
    let p = h.create(json!({"number": "1001"})).await;
    assert_credentials(&h, "1001", &p).await;
}

#[tokio::test]
async fn directory_changed_once_per_successful_write_and_never_for_reads() {
    let h = Harness::new().await;
    h.set_registrations(vec![registration("1001", "sip:1001@192.0.2.7:5060")]);
    h.set_blocks(vec![block("192.0.2.99")]);
    let reads = [
        "/v1/health",
        "/v1/openapi.json",
        "/v1/extensions",
        "/v1/extensions?limit=1",
        "/v1/extensions/1001",
        "/v1/registrations",
        "/v1/security/blocks",
    ];
    let mut expected = 0;
    let mut check = |what: &str, write: bool, h: &Harness| {
        expected += usize::from(write);
        assert_eq!(h.directory_changes(), expected, "after {what}");
    };

    for uri in reads {
        h.get(uri).await;
        check(uri, false, &h);
    }
    assert_eq!(
        h.post("/v1/extensions", json!({"number": "1001"}))
            .await
            .status,
        StatusCode::CREATED
    );
    check("create", true, &h);
    for uri in reads {
        h.get(uri).await;
        check(uri, false, &h);
    }
    assert_eq!(
        h.post("/v1/extensions", json!({"number": "1001"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    check("duplicate", false, &h);
    assert_eq!(
        h.patch("/v1/extensions/1001", json!({"display_name": "A"}))
            .await
            .status,
        StatusCode::OK
    );
    check("patch", true, &h);
    assert_eq!(
        h.patch("/v1/extensions/1001", json!({})).await.status,
        StatusCode::OK
    );
    check("empty patch (still a write)", true, &h);
    assert_eq!(
        h.patch("/v1/extensions/1001", json!({"reset_password": true}))
            .await
            .status,
        StatusCode::OK
    );
    check("reset", true, &h);
    assert_eq!(
        h.patch("/v1/extensions/1001", json!({"password": "x"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    check("rejected patch", false, &h);
    assert_eq!(
        h.patch("/v1/extensions/9999", json!({"display_name": "A"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    check("patch of nothing", false, &h);
    h.delete("/v1/security/blocks/192.0.2.99")
        .await
        .assert_no_content();
    check("clearing a block (not the directory)", false, &h);
    h.delete("/v1/extensions/1001").await.assert_no_content();
    check("delete", true, &h);
    assert_eq!(
        h.delete("/v1/extensions/1001").await.status,
        StatusCode::NOT_FOUND
    );
    check("delete of nothing", false, &h);
}

#[tokio::test]
async fn directory_changed_comes_after_the_write_is_committed() {
    // The switch must be able to reload the new directory when told.
    let h = Harness::new().await;
    let v0 = h.store.directory_version().await.unwrap();
    h.create(json!({"number": "1001"})).await;
    h.patch("/v1/extensions/1001", json!({"reset_password": true}))
        .await;
    h.delete("/v1/extensions/1001").await.assert_no_content();
    let seen = h.control.versions_seen.lock().unwrap().clone();
    assert_eq!(seen, vec![v0 + 1, v0 + 2, v0 + 3]);
}
