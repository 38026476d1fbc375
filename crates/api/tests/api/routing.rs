//! Routing edges: unknown routes, body limit, methods, store failures. Every
//! error is `{"error": {...}}` JSON.

use crate::support::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let h = Harness::new().await;
    for uri in [
        "/",
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v2/extensions",
        "/v1/extensions/1001/extra",
        "/v1/security",
        "/v1/health/x",
        "/metricsx",
    ] {
        h.get(uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found", None);
        // Without a token too (it must not be a 401 that hides nothing, nor a 200).
        let r = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::UNAUTHORIZED,
            "{uri}: {}",
            r.status
        );
        assert!(r.json().get("error").is_some(), "{uri}: {}", r.text());
    }
    h.call(Method::POST, "/v1/nope", Some(json!({})))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn body_under_64_kib_is_read() {
    let h = Harness::new().await;
    // 60 KiB of tags: read, then refused by validation (not by size).
    let big = "x".repeat(60 * 1024);
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "display_name": big}),
        )
        .await;
    r.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("display_name"),
    );
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "tags": {"blob": "y".repeat(60 * 1024)}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]

async fn body_over_64_kib_is_413() {
    // POST /v1/extensions, Content-Type: application/json, 70 KiB body
    // → expected 413 {"error":{...}}; got 400 {"error":{"code":"bad_json","message":"Failed to buffer the request body: length limit exceeded"}}.
    let h = Harness::new().await;
    let body = json!({"number": "1001", "tags": {"blob": "y".repeat(70 * 1024)}});
    let r = h.post("/v1/extensions", body.clone()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json().get("error").is_some(), "{}", r.text());
    h.create(json!({"number": "1002"})).await;
    let r = h
        .patch(
            "/v1/extensions/1002",
            json!({"tags": {"blob": "y".repeat(70 * 1024)}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json().get("error").is_some(), "{}", r.text());
    assert!(h.store.get_extension("1001").await.unwrap().is_none());
    assert_eq!(h.directory_changes(), 1);
}

#[tokio::test]
async fn body_over_64_kib_is_refused() {
    // What holds today, whatever the status: an error, JSON, nothing written.
    let h = Harness::new().await;
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "tags": {"blob": "y".repeat(70 * 1024)}}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.json().get("error").is_some(), "{}", r.text());
    assert!(h.store.get_extension("1001").await.unwrap().is_none());
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]

async fn wrong_method_is_a_json_405() {
    // PUT /v1/extensions → expected 405 {"error":{"code":...,"message":...}} (and Allow);
    // got 405 with an empty body.
    let h = Harness::new().await;
    for (method, uri) in [
        (Method::PUT, "/v1/extensions"),
        (Method::DELETE, "/v1/extensions"),
        (Method::POST, "/v1/extensions/1001"),
        (Method::POST, "/v1/health"),
        (Method::POST, "/v1/registrations"),
        (Method::GET, "/v1/security/blocks/192.0.2.1"),
    ] {
        let r = h.call(method.clone(), uri, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            r.headers.contains_key(header::ALLOW),
            "{method} {uri}: no Allow"
        );
        assert!(
            r.json().get("error").is_some(),
            "{method} {uri}: {:?}",
            r.text()
        );
    }
}

#[tokio::test]

async fn undecodable_path_segment_is_a_json_error() {
    // GET /v1/extensions/%FF → expected a JSON 4xx (404 or 422 number); got 400 text/plain.
    let h = Harness::new().await;
    for uri in ["/v1/extensions/%FF", "/v1/security/blocks/%FF"] {
        let method = if uri.contains("blocks") {
            Method::DELETE
        } else {
            Method::GET
        };
        let r = h.call(method, uri, None).await;
        assert!(r.status.is_client_error(), "{uri}: {}", r.status);
        assert!(r.json().get("error").is_some(), "{uri}: {:?}", r.text());
    }
}

#[tokio::test]

async fn store_unavailable_is_503() {
    // Store closed (as when the database is unreachable) → GET /v1/extensions
    // → expected 503 {"error":{"code":"storage_unavailable",...}}; got 500 {"error":{"code":"internal",...}}.
    let h = Harness::new().await;
    h.store.close().await;
    h.get("/v1/extensions").await.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        None,
    );
    h.post("/v1/extensions", json!({"number": "1001"}))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", None);
}

#[tokio::test]
async fn store_failure_is_a_json_5xx_and_not_notified() {
    // What holds today: a JSON server error that leaks nothing, and no
    // directory_changed for a write that did not happen.
    let h = Harness::new().await;
    h.store.close().await;
    let r = h
        .post(
            "/v1/extensions",
            json!({"number": "1001", "password": "secret-password"}),
        )
        .await;
    assert!(r.status.is_server_error(), "{}", r.status);
    assert!(r.json()["error"]["code"].is_string(), "{}", r.text());
    assert!(!r.text().contains("secret-password"));
    assert!(
        !r.text().to_lowercase().contains("sqlite"),
        "internal details leaked: {}",
        r.text()
    );
    assert_eq!(h.directory_changes(), 0);
}
