//! Optional HTTP push of the `/v1/events` stream (`http.events_push_url`):
//! the same JSON events, POSTed in batches (a JSON array, at most 200
//! events or 200 ms apart), signed like webhooks
//! (`X-Ferroswitch-Signature: sha256=…` over the body).
//!
//! It reads the same bounded broadcast as WebSocket clients, so a slow or
//! dead receiver never slows call handling: events it falls behind on are
//! dropped, and the next batch starts with `{"type":"overflow","missed":N}`.
//! A failed POST is retried (1 s, 2 s, … 30 s) while new events keep
//! being collected up to the broadcast's bound.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{error::RecvError, Receiver};

const MAX_BATCH: usize = 200;

/// Push events from `rx` to `url` until the channel closes.
pub async fn run(url: String, secret: String, mut rx: Receiver<Arc<api::LiveEvent>>) {
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    let mut batch: Vec<String> = Vec::new();
    let mut failures = 0u32;
    loop {
        // Wait for the first event, then gather what follows for 200 ms.
        if batch.is_empty() {
            match rx.recv().await {
                // Another node's events are that node's to push.
                Ok(e) if e.remote => continue,
                Ok(e) => batch.push(e.json.clone()),
                Err(RecvError::Lagged(n)) => batch.push(format!("{{\"type\":\"overflow\",\"missed\":{n}}}")),
                Err(RecvError::Closed) => return,
            }
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(200);
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Ok(e)) if e.remote => {}
                Ok(Ok(e)) => batch.push(e.json.clone()),
                Ok(Err(RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, url = %url, "event push fell behind; events dropped");
                    batch.push(format!("{{\"type\":\"overflow\",\"missed\":{n}}}"));
                }
                Ok(Err(RecvError::Closed)) | Err(_) => break,
            }
        }
        let body = format!("[{}]", batch.join(","));
        let sig = crate::webhooks::signature(secret.as_bytes(), body.as_bytes());
        let sent = match hyper::Request::post(&url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("ferroswitch/", env!("CARGO_PKG_VERSION")))
            .header("x-ferroswitch-event", "events")
            .header("x-ferroswitch-signature", sig)
            .body(Full::new(Bytes::from(body)))
        {
            Ok(req) => match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
                Ok(Ok(resp)) => {
                    let ok = resp.status().is_success();
                    let _ = tokio::time::timeout(Duration::from_secs(5), http_body_util::Limited::new(resp.into_body(), 64 * 1024).collect()).await;
                    ok
                }
                _ => false,
            },
            Err(_) => false,
        };
        if sent {
            batch.clear();
            failures = 0;
        } else {
            failures += 1;
            tracing::warn!(url = %url, failures, events = batch.len(), "event push failed; retrying");
            tokio::time::sleep(Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))).await;
            // Keep at most one batch's worth while the receiver is away.
            if batch.len() > MAX_BATCH * 5 {
                let drop = batch.len() - MAX_BATCH * 5;
                batch.drain(..drop);
            }
        }
    }
}
