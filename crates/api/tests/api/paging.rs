//! Paged lists (`?limit=&cursor=` → `{"items", "next_cursor"}`), on
//! `/v1/extensions`; the live lists are in `live.rs`.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

/// 2001..=2025, created out of order.
async fn twenty_five(h: &Harness) -> Vec<String> {
    let mut numbers: Vec<String> = (2001..=2025).map(|n| n.to_string()).collect();
    // A fixed shuffle: the list must come back ordered by number anyway.
    for i in 0..numbers.len() {
        let j = (i * 7 + 3) % numbers.len();
        numbers.swap(i, j);
    }
    for n in &numbers {
        h.create(json!({"number": n})).await;
    }
    numbers.sort();
    numbers
}

fn numbers_of(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|e| e["number"].as_str().expect("number").to_owned())
        .collect()
}

#[tokio::test]
async fn pages_of_ten_are_ten_ten_five() {
    let h = Harness::new().await;
    let all = twenty_five(&h).await;
    let (sizes, items) = walk(&h, "/v1/extensions", 10).await;
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(
        numbers_of(&items),
        all,
        "every number exactly once, in order"
    );
    // Items are full views.
    for e in &items {
        assert_eq!(
            keys(e),
            set(&[
                "number",
                "display_name",
                "enabled",
                "caller_id_name",
                "caller_id_number",
                "codecs",
                "max_calls",
                "record",
                "tags",
                "created_at_ms",
                "updated_at_ms"
            ])
        );
    }
}

#[tokio::test]
async fn every_page_size_walks_every_number_once() {
    let h = Harness::new().await;
    let all = twenty_five(&h).await;
    for (limit, sizes) in [
        (1, vec![1; 25]),
        (5, vec![5; 5]),
        (7, vec![7, 7, 7, 4]),
        (24, vec![24, 1]),
        (25, vec![25]),
        (26, vec![25]),
        (1000, vec![25]),
    ] {
        let (got_sizes, items) = walk(&h, "/v1/extensions", limit).await;
        assert_eq!(got_sizes, sizes, "limit={limit}");
        assert_eq!(numbers_of(&items), all, "limit={limit}");
    }
}

#[tokio::test]
async fn the_default_page_is_100() {
    let h = Harness::new().await;
    for n in 0..101 {
        h.create(json!({"number": format!("3{n:03}")})).await;
    }
    let r = h.get("/v1/extensions").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 100);
    let cursor = r.json()["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let r = h
        .get(&format!("/v1/extensions?cursor={}", pct(&cursor)))
        .await;
    assert_eq!(
        numbers_of(r.json()["items"].as_array().unwrap()),
        vec!["3100".to_string()]
    );
    assert_eq!(r.json()["next_cursor"], json!(null));
}

#[tokio::test]
async fn empty_list() {
    let h = Harness::new().await;
    h.get("/v1/extensions")
        .await
        .assert_json(StatusCode::OK, &json!({"items": [], "next_cursor": null}));
    h.get("/v1/extensions?limit=10")
        .await
        .assert_json(StatusCode::OK, &json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn deleting_during_a_walk_does_not_skip_or_repeat() {
    // Keyset paging: the cursor is a position, not an offset.
    let h = Harness::new().await;
    let all = twenty_five(&h).await;
    let r = h.get("/v1/extensions?limit=10").await;
    let first = numbers_of(r.json()["items"].as_array().unwrap());
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_owned();
    h.delete(&format!("/v1/extensions/{}", all[0]))
        .await
        .assert_no_content();
    h.delete(&format!("/v1/extensions/{}", all[9]))
        .await
        .assert_no_content();
    let r = h
        .get(&format!("/v1/extensions?limit=10&cursor={}", pct(&cursor)))
        .await;
    assert_eq!(
        numbers_of(r.json()["items"].as_array().unwrap()),
        all[10..20].to_vec()
    );
    assert_eq!(first, all[..10].to_vec());
}

#[tokio::test]
async fn limit_out_of_range_is_422_naming_limit() {
    let h = Harness::new().await;
    twenty_five(&h).await;
    for q in [
        "limit=0",
        "limit=1001",
        "limit=4294967295",
        "limit=0&cursor=2005",
    ] {
        h.get(&format!("/v1/extensions?{q}")).await.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("limit"),
        );
    }
    for q in ["limit=1", "limit=1000"] {
        assert_eq!(
            h.get(&format!("/v1/extensions?{q}")).await.status,
            StatusCode::OK,
            "{q}"
        );
    }
}

#[tokio::test]

async fn limit_not_a_number_is_a_json_error_naming_limit() {
    // GET /v1/extensions?limit=abc → expected 400/422 {"error":{"code":"invalid","field":"limit",...}};
    // got 400 text/plain "Failed to deserialize query string: limit: invalid digit found in string".
    let h = Harness::new().await;
    for q in [
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=99999999999",
        "limit=",
    ] {
        for path in ["/v1/extensions", "/v1/registrations", "/v1/security/blocks"] {
            let r = h.get(&format!("{path}?{q}")).await;
            assert!(
                r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
                "{path}?{q}: {} {}",
                r.status,
                r.text()
            );
            r.assert_error(r.status, "invalid", Some("limit"));
        }
    }
}
