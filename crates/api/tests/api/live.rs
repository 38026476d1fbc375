//! `/v1/registrations` and `/v1/security/blocks`: the running switch's
//! state, passed through and paged; lifting a block.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;

#[tokio::test]
async fn registrations_pass_through() {
    let h = Harness::new().await;
    let mut anonymous = registration("1002", "sip:1002@10.0.0.5:5062;transport=tcp");
    anonymous.user_agent = None;
    anonymous.transport = "tcp".into();
    anonymous.source = "[2001:db8::5]:40000".into();
    anonymous.expires_in = 0;
    anonymous.expires_at_ms = 0;
    h.set_registrations(vec![
        registration("1001", "sip:1001@192.0.2.7:5060"),
        registration("1001", "sip:1001@192.0.2.8:5060"),
        anonymous,
    ]);
    let r = h.get("/v1/registrations").await;
    r.assert_json(
        StatusCode::OK,
        &json!({
            "items": [
                {"extension": "1001", "contact": "sip:1001@192.0.2.7:5060", "transport": "udp", "source": "192.0.2.7:5060",
                 "user_agent": "Yealink SIP-T46S", "expires_in": 3600, "expires_at_ms": T0 + 3_600_000},
                {"extension": "1001", "contact": "sip:1001@192.0.2.8:5060", "transport": "udp", "source": "192.0.2.7:5060",
                 "user_agent": "Yealink SIP-T46S", "expires_in": 3600, "expires_at_ms": T0 + 3_600_000},
                {"extension": "1002", "contact": "sip:1002@10.0.0.5:5062;transport=tcp", "transport": "tcp",
                 "source": "[2001:db8::5]:40000", "user_agent": null, "expires_in": 0, "expires_at_ms": 0},
            ],
            "next_cursor": null,
        }),
    );
    h.set_registrations(vec![]);
    h.get("/v1/registrations")
        .await
        .assert_json(StatusCode::OK, &json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn blocks_pass_through() {
    let h = Harness::new().await;
    h.set_blocks(vec![
        block("192.0.2.1"),
        api::BlockView {
            ip: "2001:db8::1".into(),
            expires_in: 1,
            failures: 100,
        },
    ]);
    let r = h.get("/v1/security/blocks").await;
    r.assert_json(
        StatusCode::OK,
        &json!({
            "items": [
                {"ip": "192.0.2.1", "expires_in": 600, "failures": 5},
                {"ip": "2001:db8::1", "expires_in": 1, "failures": 100},
            ],
            "next_cursor": null,
        }),
    );
    h.set_blocks(vec![]);
    h.get("/v1/security/blocks")
        .await
        .assert_json(StatusCode::OK, &json!({"items": [], "next_cursor": null}));
}

/// 25 registrations ordered by (extension, contact), as the switch would
/// hand them over: several contacts per extension, and numbers that are
/// prefixes of each other.
fn twenty_five_registrations() -> Vec<api::RegistrationView> {
    let mut all = Vec::new();
    for ext in ["100", "1000", "1001", "1002", "2000"] {
        for i in 0..5 {
            all.push(registration(
                ext,
                &format!("sip:{ext}@192.0.2.{}:5060", 10 + i),
            ));
        }
    }
    all
}

fn reg_keys(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|r| {
            (
                r["extension"].as_str().unwrap().to_owned(),
                r["contact"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ips(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|b| b["ip"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn registrations_page_ten_ten_five() {
    let h = Harness::new().await;
    let all = twenty_five_registrations();
    h.set_registrations(all.clone());
    let want: Vec<_> = all
        .iter()
        .map(|r| (r.extension.clone(), r.contact.clone()))
        .collect();
    let (sizes, items) = walk(&h, "/v1/registrations", 10).await;
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(reg_keys(&items), want);
    for limit in [1, 3, 5, 24, 25, 1000] {
        let (_, items) = walk(&h, "/v1/registrations", limit).await;
        assert_eq!(reg_keys(&items), want, "limit={limit}");
    }
}

#[tokio::test]
async fn blocks_page_ten_ten_five() {
    let h = Harness::new().await;
    // Two-digit last octets: textual and numeric order agree.
    let all: Vec<String> = (10..35).map(|n| format!("192.0.2.{n}")).collect();
    h.set_blocks(all.iter().map(|ip| block(ip)).collect());
    let (sizes, items) = walk(&h, "/v1/security/blocks", 10).await;
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(ips(&items), all);
    for limit in [1, 4, 25, 26] {
        let (_, items) = walk(&h, "/v1/security/blocks", limit).await;
        assert_eq!(ips(&items), all, "limit={limit}");
    }
}

#[tokio::test]

async fn registrations_page_correctly_whatever_order_control_returns() {
    // The schema says "Items, ordered by extension then contact", and
    // `Control::registrations` promises no order. With Control returning
    // them newest first, GET /v1/registrations?limit=10 then
    // ?cursor=<next_cursor> repeats some and skips others.
    let h = Harness::new().await;
    let sorted = twenty_five_registrations();
    let mut shuffled = sorted.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    h.set_registrations(shuffled);
    let want: Vec<_> = sorted
        .iter()
        .map(|r| (r.extension.clone(), r.contact.clone()))
        .collect();
    let (sizes, items) = walk(&h, "/v1/registrations", 10).await;
    assert_eq!(
        reg_keys(&items),
        want,
        "every registration exactly once, ordered by extension then contact"
    );
    assert_eq!(sizes, vec![10, 10, 5]);
}

#[tokio::test]

async fn blocks_page_correctly_whatever_order_control_returns() {
    // Control hands over 10.0.0.1 ..= 10.0.0.25 in numeric order.
    // GET /v1/security/blocks?limit=10 → 10.0.0.1..10.0.0.10, next_cursor "10.0.0.10";
    // then ?cursor=10.0.0.10 keeps every ip with ip > "10.0.0.10" as a
    // string, which includes 10.0.0.2..10.0.0.9 again.
    let h = Harness::new().await;
    let numeric: Vec<String> = (1..=25).map(|n| format!("10.0.0.{n}")).collect();
    h.set_blocks(numeric.iter().map(|ip| block(ip)).collect());
    let (_, items) = walk(&h, "/v1/security/blocks", 10).await;
    let mut got = ips(&items);
    assert_eq!(got.len(), 25, "each block exactly once: {got:?}");
    // Whatever "ordered by address" means, it is one consistent order.
    let mut by_text = got.clone();
    by_text.sort();
    let mut by_addr = got.clone();
    by_addr.sort_by_key(|s| s.parse::<IpAddr>().unwrap());
    assert!(got == by_text || got == by_addr, "not ordered: {got:?}");
    got.sort();
    let mut want = numeric;
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn live_lists_reject_limits_out_of_range() {
    let h = Harness::new().await;
    h.set_registrations(twenty_five_registrations());
    h.set_blocks(vec![block("192.0.2.1")]);
    for path in ["/v1/registrations", "/v1/security/blocks"] {
        for q in ["limit=0", "limit=1001"] {
            h.get(&format!("{path}?{q}")).await.assert_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                Some("limit"),
            );
        }
    }
}

#[tokio::test]
async fn clearing_a_block() {
    let h = Harness::new().await;
    h.set_blocks(vec![
        block("192.0.2.1"),
        block("2001:db8::1"),
        block("192.0.2.2"),
    ]);
    h.delete("/v1/security/blocks/192.0.2.1")
        .await
        .assert_no_content();
    // Once only.
    h.delete("/v1/security/blocks/192.0.2.1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    // Never blocked.
    h.delete("/v1/security/blocks/198.51.100.1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    // IPv6, in any spelling that parses to the same address.
    h.delete("/v1/security/blocks/2001:0db8:0:0::1")
        .await
        .assert_no_content();
    h.get("/v1/security/blocks").await.assert_json(
        StatusCode::OK,
        &json!({"items": [{"ip": "192.0.2.2", "expires_in": 600, "failures": 5}], "next_cursor": null}),
    );
    let cleared: Vec<String> = h
        .control
        .cleared
        .lock()
        .unwrap()
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(
        cleared,
        ["192.0.2.1", "192.0.2.1", "198.51.100.1", "2001:db8::1"]
    );
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn clearing_something_that_is_not_an_ip_is_422_naming_ip() {
    let h = Harness::new().await;
    h.set_blocks(vec![block("192.0.2.1")]);
    for bad in [
        "not-an-ip",
        "192.0.2",
        "192.0.2.256",
        "192.0.2.1:5060",
        "example.com",
        "%20",
    ] {
        h.delete(&format!("/v1/security/blocks/{bad}"))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("ip"));
    }
    assert!(
        h.control.cleared.lock().unwrap().is_empty(),
        "Control asked to clear a non-address"
    );
}

#[tokio::test]
async fn sip_trace_is_set_and_read_back() {
    let h = Harness::new().await;
    assert_eq!(h.get("/v1/trace").await.json()["enabled"], false);
    let r = h.call(axum::http::Method::PUT, "/v1/trace", Some(serde_json::json!({"enabled": true, "extension": "1000"}))).await;
    assert_eq!((r.status, r.json()["extension"].as_str()), (axum::http::StatusCode::OK, Some("1000")), "{}", r.text());
    assert_eq!(h.get("/v1/trace").await.json()["enabled"], true);
    h.call(axum::http::Method::PUT, "/v1/trace", Some(serde_json::json!({"enabled": true, "extension": "1000", "call": "x"}))).await.assert_error(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("extension"));
    h.call(axum::http::Method::PUT, "/v1/trace", Some(serde_json::json!({"enabled": true, "call": "nope"}))).await.assert_error(axum::http::StatusCode::NOT_FOUND, "not_found", None);
    h.call(axum::http::Method::PUT, "/v1/trace", Some(serde_json::json!({"enabled": true, "everything": 1}))).await.assert_error(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("everything"));
}
