//! Webhook delivery: the outbox in the store is the queue. Each CDR's
//! delivery is inserted in the same transaction as the CDR (persist.rs),
//! so once a call's record is durable its webhook is too; this worker
//! POSTs due deliveries, signs them, and records each attempt, retrying
//! with exponential back-off. Delivery is at least once: a crash between
//! the POST and its record repeats it, and `X-Ferroswitch-Delivery`
//! lets the receiver deduplicate.

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::Notify;

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s … capped at 10 min.
pub fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 20)).min(Duration::from_secs(600))
}

/// The document POSTed when a call ends: the CDR, the caller's opaque
/// data exactly as given (`ext_data`: any JSON value), the recording URL.
pub fn body(cdr: &store::Cdr, ext_data: Option<&serde_json::value::RawValue>, recording_url: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        event: &'static str,
        call_id: &'a str,
        cdr: &'a store::Cdr,
        ext_data: Option<&'a serde_json::value::RawValue>,
        recording_url: Option<&'a str>,
    }
    serde_json::to_string(&Doc { event: "call.ended", call_id: &cdr.id, cdr, ext_data, recording_url }).unwrap_or_default()
}

pub struct Settings {
    pub secret: String,
    pub max_attempts: u32,
    pub timeout: Duration,
}

/// Deliver due webhooks until the process ends. `wake` is notified when
/// new deliveries are committed.
pub async fn worker(store: Store, settings: Settings, clock: crate::clock::Clock, wake: Arc<Notify>, depth: Arc<std::sync::atomic::AtomicU64>) {
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    loop {
        let now = clock.now_ms() as i64;
        if let Ok(n) = store.pending_webhooks().await {
            depth.store(u64::try_from(n).unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        }
        let due = match store.due_webhooks(now, 64).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox unreadable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            let next = store.next_webhook_due().await.ok().flatten();
            let wait = next.map(|t| Duration::from_millis((t - now).clamp(0, 60_000) as u64)).unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
            }
            continue;
        }
        // Deliver this batch concurrently (each bounded by the timeout).
        let mut set = tokio::task::JoinSet::new();
        for w in due {
            let client = client.clone();
            let sig = signature(settings.secret.as_bytes(), w.body.as_bytes());
            let timeout = settings.timeout;
            set.spawn(async move {
                let result = post(&client, &w, &sig, timeout).await;
                (w, result)
            });
        }
        while let Some(done) = set.join_next().await {
            let Ok((w, result)) = done else { continue };
            let now = clock.now_ms() as i64;
            let (delivered, status, error) = match result {
                Ok(s) if (200..300).contains(&s) => (true, Some(s), None),
                Ok(s) => (false, Some(s), Some(format!("HTTP {s}"))),
                Err(e) => (false, None, Some(e)),
            };
            let attempts = w.attempts + 1;
            let next = (!delivered && attempts < i64::from(settings.max_attempts)).then(|| now + backoff(w.attempts).as_millis() as i64);
            if delivered {
                tracing::info!(delivery = w.id, cdr = %w.cdr_id, attempts, "webhook delivered");
            } else {
                tracing::warn!(delivery = w.id, cdr = %w.cdr_id, attempts, error = error.as_deref().unwrap_or(""), given_up = next.is_none(), "webhook delivery failed");
            }
            if let Err(e) = store.webhook_attempted(w.id, now, delivered, next, status, error.as_deref()).await {
                tracing::error!(delivery = w.id, error = %e, "could not record the webhook attempt");
            }
        }
    }
}

async fn post<C>(client: &hyper_util::client::legacy::Client<C, Full<Bytes>>, w: &store::Webhook, sig: &str, timeout: Duration) -> Result<u16, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let req = hyper::Request::post(&w.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ferroswitch/", env!("CARGO_PKG_VERSION")))
        .header("x-ferroswitch-event", "call.ended")
        .header("x-ferroswitch-delivery", w.id.to_string())
        .header("x-ferroswitch-signature", sig)
        .body(Full::new(Bytes::from(w.body.clone())))
        .map_err(|e| format!("bad request: {e}"))?;
    let resp = tokio::time::timeout(timeout, client.request(req)).await.map_err(|_| "timeout".to_owned())?.map_err(|e| format!("{e}"))?;
    let status = resp.status().as_u16();
    // Read (and bound) the body so the connection can be reused.
    let _ = tokio::time::timeout(timeout, http_body_util::Limited::new(resp.into_body(), 64 * 1024).collect()).await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(signature(b"Jefe", b"what do ya want for nothing?"), "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(600));
    }

    #[test]
    fn ext_data_is_echoed_byte_for_byte() {
        let raw = serde_json::value::RawValue::from_string("{\"crm\":  [1, 2.50, \"x\"]}".into()).expect("raw");
        let cdr = store::Cdr {
            id: "c1".into(),
            caller: "1000".into(),
            callee: "1001".into(),
            a_call_id: "a".into(),
            start_ms: 1,
            answer_ms: None,
            end_ms: 2,
            duration_ms: 1,
            billable_ms: 0,
            disposition: "failed".into(),
            hangup_side: "system".into(),
            hangup_cause: "x".into(),
            a_status: 503,
            b_status: 503,
            codec: None,
            packets_to_a: 0,
            packets_to_b: 0,
            gateway: None,
            recording: None,
            ..Default::default()
        };
        let b = body(&cdr, Some(&raw), None);
        assert!(b.contains("\"ext_data\":{\"crm\":  [1, 2.50, \"x\"]}"), "{b}");
    }
}
