//! Bearer token on everything but `GET /v1/health`; the health check.

use crate::support::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

/// Every route the router serves behind the token, with a request that
/// would succeed (or at least get past authentication) with it.
fn protected_routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/v1/openapi.json", None),
        (Method::GET, "/v1/extensions", None),
        (
            Method::POST,
            "/v1/extensions",
            Some(json!({"number": "1001"})),
        ),
        (Method::GET, "/v1/extensions/1000", None),
        (
            Method::PATCH,
            "/v1/extensions/1000",
            Some(json!({"display_name": "x"})),
        ),
        (Method::DELETE, "/v1/extensions/1000", None),
        (Method::GET, "/v1/registrations", None),
        (Method::GET, "/v1/security/blocks", None),
        (Method::DELETE, "/v1/security/blocks/192.0.2.1", None),
        (Method::GET, "/v1/calls", None),
        (Method::GET, "/v1/calls/call-1", None),
        (Method::DELETE, "/v1/calls/call-1", None),
        (Method::GET, "/v1/cdrs", None),
        (Method::GET, "/v1/cdrs/cdr-1", None),
    ]
}

fn request(
    method: &Method,
    uri: &str,
    auth: Option<&str>,
    body: &Option<serde_json::Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method.clone()).uri(uri);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn every_route_but_health_rejects_a_missing_or_wrong_token() {
    let h = Harness::new().await;
    h.create(json!({"number": "1000"})).await;
    h.set_blocks(vec![block("192.0.2.1")]);
    *h.control.calls.lock().unwrap() = vec![call("call-1")];
    let changes = h.directory_changes();
    let wrong = [
        None,
        Some(String::new()),
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some("Bearer wrong-token".to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(TOKEN.to_string()),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Token {TOKEN}")),
    ];
    for (method, uri, body) in protected_routes() {
        for auth in &wrong {
            let r = h.send(request(&method, uri, auth.as_deref(), &body)).await;
            let what = format!("{method} {uri} with Authorization {auth:?}");
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text());
            r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", None);
        }
    }
    // Nothing happened behind the 401s.
    assert_eq!(h.directory_changes(), changes);
    assert!(
        h.control.cleared.lock().unwrap().is_empty(),
        "clear_block called without a token"
    );
    assert!(
        h.control.hangups.lock().unwrap().is_empty(),
        "hangup called without a token"
    );
    assert!(
        h.store.get_extension("1001").await.unwrap().is_none(),
        "created without a token"
    );
    let e = h
        .store
        .get_extension("1000")
        .await
        .unwrap()
        .expect("deleted without a token");
    assert_eq!(e.display_name, "", "patched without a token");
}

#[tokio::test]
async fn the_right_token_gets_through_on_every_route() {
    let h = Harness::new().await;
    h.create(json!({"number": "1000"})).await;
    h.set_blocks(vec![block("192.0.2.1")]);
    *h.control.calls.lock().unwrap() = vec![call("call-1")];
    for (method, uri, body) in protected_routes() {
        let r = h
            .send(request(
                &method,
                uri,
                Some(&format!("Bearer {TOKEN}")),
                &body,
            ))
            .await;
        // The CDR does not exist: 404 from the handler, not 401.
        let want_ok = !uri.starts_with("/v1/cdrs/");
        assert!(
            r.status.is_success() == want_ok && r.status != StatusCode::UNAUTHORIZED,
            "{method} {uri}: {} {}",
            r.status,
            r.text()
        );
    }
    // Lower-case scheme is accepted too (auth schemes are case-insensitive, RFC 9110 §11.1).
    let r = h
        .send(request(
            &Method::GET,
            "/v1/extensions",
            Some(&format!("bearer {TOKEN}")),
            &None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn health_needs_no_token() {
    let h = Harness::new().await;
    let expected = json!({"status": "ok", "version": VERSION});
    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&*format!("Bearer {TOKEN}")),
    ] {
        let r = h
            .send(request(&Method::GET, "/v1/health", auth, &None))
            .await;
        r.assert_json(StatusCode::OK, &expected);
        assert_eq!(r.content_type(), Some("application/json"));
    }
    assert_eq!(h.directory_changes(), 0);
}

#[tokio::test]
async fn health_is_503_while_draining() {
    let h = Harness::new().await;
    h.set_draining(true);
    let r = h
        .send(request(&Method::GET, "/v1/health", None, &None))
        .await;
    r.assert_json(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"status": "draining", "version": VERSION}),
    );
    h.set_draining(false);
    let r = h
        .send(request(&Method::GET, "/v1/health", None, &None))
        .await;
    r.assert_json(StatusCode::OK, &json!({"status": "ok", "version": VERSION}));
}

#[tokio::test]
async fn draining_does_not_block_the_admin_routes() {
    // Operators must still be able to look at a draining switch.
    let h = Harness::new().await;
    h.set_draining(true);
    let r = h.get("/v1/extensions").await;
    r.assert_json(StatusCode::OK, &json!({"items": [], "next_cursor": null}));
}
