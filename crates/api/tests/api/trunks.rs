//! `/v1/gateways` and `/v1/routes`: validation naming the field, the
//! write-only gateway password, merge-patch semantics, reloads of the
//! running switch, the live status list.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn gateway_crud_hides_the_password_and_reloads_the_switch() {
    let h = Harness::new().await;
    let before = h.directory_changes();
    let r = h
        .post(
            "/v1/gateways",
            json!({"name": "carrier-a", "proxy": "127.0.0.1:5080", "register": {"username": "acct", "password": "s3cret-pw", "expires": 60},
                   "caller_id": "+4930123", "prefix": "0", "strip": 1, "max_calls": 2, "inbound": ["127.0.0.0/8"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let g = r.json();
    assert_eq!((g["name"].as_str(), g["proxy"].as_str(), g["transport"].as_str(), g["enabled"].as_bool()), (Some("carrier-a"), Some("127.0.0.1:5080"), Some("udp"), Some(true)));
    assert!(g["register"].get("password").is_none(), "password is write-only: {g}");
    assert!(!r.text().contains("s3cret-pw"));
    assert_eq!(h.directory_changes(), before + 1);
    h.post("/v1/gateways", json!({"name": "carrier-a", "proxy": "127.0.0.1"})).await.assert_error(StatusCode::CONFLICT, "conflict", None);

    // A patch that does not repeat the password keeps it (checked in the store).
    let r = h.patch("/v1/gateways/carrier-a", json!({"max_calls": 5, "register": {"expires": 120}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!((r.json()["max_calls"].as_u64(), r.json()["register"]["expires"].as_u64()), (Some(5), Some(120)));
    let stored = h.state().store.get_config(store::ConfigKind::Gateway, "carrier-a").await.expect("get").expect("row");
    assert_eq!(stored.spec["register"]["password"], "s3cret-pw");
    // null removes an optional field.
    let r = h.patch("/v1/gateways/carrier-a", json!({"max_calls": null})).await;
    assert!(r.json()["max_calls"].is_null(), "{}", r.text());

    let list = h.get("/v1/gateways").await;
    assert_eq!(list.json()["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(h.get("/v1/gateways/carrier-a").await.json()["prefix"], "0");
    h.delete("/v1/gateways/carrier-a").await.assert_no_content();
    h.get("/v1/gateways/carrier-a").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.delete("/v1/gateways/carrier-a").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn gateway_validation_names_the_field() {
    let h = Harness::new().await;
    let cases = [
        (json!({"name": "g", "proxy": "127.0.0.1:0"}), "proxy"),
        (json!({"name": "g", "proxy": "bad host!"}), "proxy"),
        (json!({"name": "g", "proxy": "1.2.3.4", "transport": "sctp"}), "transport"),
        (json!({"name": "g", "proxy": "1.2.3.4", "register": {"username": "u"}}), "register.password"),
        (json!({"name": "g", "proxy": "1.2.3.4", "register": {"username": "u", "password": "p", "expires": 5}}), "register.expires"),
        (json!({"name": "g", "proxy": "1.2.3.4", "caller_id": "abc"}), "caller_id"),
        (json!({"name": "g", "proxy": "1.2.3.4", "prefix": "9x"}), "prefix"),
        (json!({"name": "g", "proxy": "1.2.3.4", "max_calls": 0}), "max_calls"),
        (json!({"name": "g", "proxy": "1.2.3.4", "max_cps": -1.0}), "max_cps"),
        (json!({"name": "g", "proxy": "1.2.3.4", "inbound": ["10.0.0.0/40"]}), "inbound"),
        (json!({"name": "g", "proxy": "1.2.3.4", "bogus": 1}), "bogus"),
        (json!({"name": "g", "proxy": "1.2.3.4", "inbound_username": "c7"}), "inbound_password"),
        (json!({"name": "g", "proxy": "1.2.3.4", "inbound_password": "long-enough"}), "inbound_username"),
        (json!({"name": "g", "proxy": "1.2.3.4", "inbound_username": "c 7", "inbound_password": "long-enough"}), "inbound_username"),
        (json!({"name": "g", "proxy": "1.2.3.4", "inbound_username": "c7", "inbound_password": "short"}), "inbound_password"),
        (json!({"name": "g"}), "proxy"),
        (json!({"name": "status", "proxy": "1.2.3.4"}), "name"),
        (json!({"name": "has space", "proxy": "1.2.3.4"}), "name"),
    ];
    for (body, field) in cases {
        let r = h.post("/v1/gateways", body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    assert_eq!(h.get("/v1/gateways").await.json()["items"], json!([]));
}

#[tokio::test]
async fn status_comes_from_the_switch() {
    let h = Harness::new().await;
    h.control.gateway_status.lock().unwrap().push(api::GatewayStatusView {
        name: "b".into(),
        registration: "registered".into(),
        registration_expires_in: Some(50),
        ping: "up".into(),
        latency_ms: Some(3),
        calls: 1,
        last_error: None,
    });
    let r = h.get("/v1/gateways/status").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["items"][0]["registration"], "registered");
    assert_eq!(r.json()["items"][0]["calls"], 1);
}

#[tokio::test]
async fn routes_in_evaluation_order_with_validation() {
    let h = Harness::new().await;
    let mk = |name: &str, prio: i64| json!({"name": name, "priority": prio, "destination_prefix": "9", "strip": 1, "action": {"gateways": ["a", "b"]}});
    for (n, p) in [("late", 200), ("early", -5), ("mid", 100)] {
        let r = h.post("/v1/routes", mk(n, p)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let r = h.post("/v1/routes", json!({"name": "ext", "destination_regex": "^8(\\d{4})$", "action": {"extension": "1000"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["priority"], 100);
    let names: Vec<String> = h.get("/v1/routes").await.json()["items"].as_array().expect("items").iter().map(|r| r["name"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(names, ["early", "ext", "mid", "late"]);
    // Paging walks the same order.
    let first = h.get("/v1/routes?limit=2").await;
    let cursor = first.json()["next_cursor"].as_str().expect("cursor").to_owned();
    let second = h.get(&format!("/v1/routes?limit=2&cursor={}", pct(&cursor))).await;
    assert_eq!(second.json()["items"][0]["name"], "mid");

    let r = h.patch("/v1/routes/late", json!({"priority": -10, "action": {"reject": {"code": 403, "reason": "Forbidden"}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.get("/v1/routes").await.json()["items"][0]["name"], "late");

    let cases = [
        (json!({"name": "x", "destination_regex": "(", "action": {"extension": "1"}}), "destination_regex"),
        (json!({"name": "x", "destination_prefix": "1", "destination_regex": "1", "action": {"extension": "1"}}), "destination_regex"),
        (json!({"name": "x", "action": {"reject": {"code": 200}}}), "action.reject.code"),
        (json!({"name": "x", "action": {"gateways": []}}), "action.gateways"),
        (json!({"name": "x", "source": "moon", "action": {"extension": "1"}}), "source"),
        (json!({"name": "x", "source_gateway": "a", "action": {"extension": "1"}}), "source_gateway"),
        (json!({"name": "x"}), "action"),
    ];
    for (body, field) in cases {
        let r = h.post("/v1/routes", body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    h.delete("/v1/routes/mid").await.assert_no_content();
    h.get("/v1/routes/mid").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn click_to_call_validates_and_passes_ext_data_through_untouched() {
    let h = Harness::new().await;
    // ext_data as raw JSON text: spacing and number forms must survive.
    let body = r#"{"caller":"1000","callee":"004930123","gateways":["a"],"ext_data":{"crm_id": 42, "x":[1.50, "é"]},"webhook_url":"https://crm.example/hook"}"#;
    let r = h.call_raw(axum::http::Method::POST, "/v1/calls", Some("application/json"), body.to_owned()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["id"], "orig-1000-004930123");
    let got = h.control.originated.lock().unwrap().clone();
    assert_eq!(got, vec![("1000".to_owned(), "004930123".to_owned(), Some(r#"{"crm_id": 42, "x":[1.50, "é"]}"#.to_owned()))]);
    let cases = [
        (json!({"caller": "", "callee": "1"}), "caller"),
        (json!({"caller": "1000", "callee": "a b"}), "callee"),
        (json!({"caller": "1000", "callee": "1", "gateways": []}), "gateways"),
        (json!({"caller": "1000", "callee": "1", "caller_id": "x"}), "caller_id"),
        (json!({"caller": "1000", "callee": "1", "webhook_url": "ftp://x"}), "webhook_url"),
        (json!({"caller": "1000", "callee": "1", "surprise": 1}), "surprise"),
    ];
    for (body, field) in cases {
        let r = h.post("/v1/calls", body.clone()).await;
        assert!(r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        if r.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
        }
    }
    h.post("/v1/calls", json!({"caller": "404", "callee": "1"})).await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.set_draining(true);
    h.post("/v1/calls", json!({"caller": "1000", "callee": "1"})).await.assert_error(StatusCode::SERVICE_UNAVAILABLE, "draining", None);
}

#[tokio::test]
async fn recordings_are_served_by_file_name_only() {
    let h = Harness::new().await;
    let dir = h.state().recordings_dir;
    std::fs::create_dir_all(&dir).expect("dir");
    let name = "0f8fad5b-d9cb-469f-a165-70867728950e.wav";
    std::fs::write(dir.join(name), b"RIFF....WAVEfmt ").expect("write");
    let r = h.get(&format!("/v1/recordings/{name}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("audio/wav"));
    assert_eq!(r.bytes, b"RIFF....WAVEfmt ");
    for bad in ["..%2F..%2Fetc%2Fpasswd", "x.wav", "0f8fad5b.txt", "nope.wav"] {
        let r = h.get(&format!("/v1/recordings/{bad}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let _ = std::fs::remove_file(dir.join(name));
}

#[tokio::test]
async fn log_level_reads_and_changes() {
    let h = Harness::new().await;
    let r = h.call(axum::http::Method::PUT, "/v1/log", Some(json!({"level": "info,sip_proto=debug"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["level"], "info,sip_proto=debug");
    assert_eq!(h.get("/v1/log").await.json()["level"], "info,sip_proto=debug");
    h.call(axum::http::Method::PUT, "/v1/log", Some(json!({"level": "bad!"}))).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("level"));
    h.call(axum::http::Method::PUT, "/v1/log", Some(json!({"level": ""}))).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("level"));
}
