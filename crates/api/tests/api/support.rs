//! The harness: a router over a temporary SQLite store and a fake switch.
#![allow(dead_code)]

use api::{ApiState, BlockView, BoxFuture, CallView, Control, RegistrationView};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const REALM: &str = "pbx.example.com";
pub const VERSION: &str = "9.8.7-test";
/// The clock's start, unix ms.
pub const T0: i64 = 1_700_000_000_000;

thread_local! {
    // `#[tokio::test]` runs on one thread, so each test has its own clock.
    static NOW: Cell<i64> = const { Cell::new(T0) };
}

fn now_ms() -> i64 {
    NOW.with(Cell::get)
}

/// Set the clock the handlers read (this thread only).
pub fn set_now(ms: i64) {
    NOW.with(|c| c.set(ms));
}

/// Stands in for the running switch.
#[derive(Default)]
pub struct FakeControl {
    pub registrations: Mutex<Vec<RegistrationView>>,
    pub blocks: Mutex<Vec<BlockView>>,
    pub cleared: Mutex<Vec<IpAddr>>,
    pub calls: Mutex<Vec<CallView>>,
    pub gateway_status: Mutex<Vec<api::GatewayStatusView>>,
    pub originated: Mutex<Vec<(String, String, Option<String>)>>,
    pub log_level: Mutex<String>,
    pub hangups: Mutex<Vec<String>>,
    pub draining: AtomicBool,
    pub directory_changes: AtomicUsize,
    /// The store's directory version each time `directory_changed` was called.
    pub versions_seen: Mutex<Vec<i64>>,
    pub store: OnceLock<store::Store>,
    /// Queue-engine requests received, and the live agents to answer with.
    pub cc_requests: Mutex<Vec<api::CcRequest>>,
    pub cc_agents: Mutex<Value>,
    pub trace: Mutex<api::Trace>,
}

impl Control for FakeControl {
    fn registrations(&self) -> BoxFuture<'_, Vec<RegistrationView>> {
        Box::pin(async move { self.registrations.lock().unwrap().clone() })
    }

    fn blocks(&self) -> BoxFuture<'_, Vec<BlockView>> {
        Box::pin(async move { self.blocks.lock().unwrap().clone() })
    }

    fn clear_block(&self, ip: IpAddr) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.cleared.lock().unwrap().push(ip);
            let mut blocks = self.blocks.lock().unwrap();
            let before = blocks.len();
            blocks.retain(|b| b.ip.parse::<IpAddr>().ok() != Some(ip));
            blocks.len() != before
        })
    }

    fn calls(&self) -> BoxFuture<'_, Vec<CallView>> {
        Box::pin(async move { self.calls.lock().unwrap().clone() })
    }

    fn hangup(&self, id: String) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.hangups.lock().unwrap().push(id.clone());
            let mut calls = self.calls.lock().unwrap();
            let before = calls.len();
            calls.retain(|c| c.id != id);
            calls.len() != before
        })
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn originate(&self, req: api::OriginateRequest) -> BoxFuture<'_, Result<String, api::ApiError>> {
        Box::pin(async move {
            if req.caller == "404" {
                return Err(api::ApiError::status(404, "not_found", "no such caller"));
            }
            let id = format!("orig-{}-{}", req.caller, req.callee);
            self.originated.lock().unwrap().push((req.caller, req.callee, req.ext_data.map(|e| e.get().to_owned())));
            Ok(id)
        })
    }

    fn log_level(&self) -> String {
        self.log_level.lock().unwrap().clone()
    }

    fn set_log_level(&self, level: &str) -> Result<(), String> {
        if level.contains('!') {
            return Err(format!("invalid filter {level:?}"));
        }
        *self.log_level.lock().unwrap() = level.to_owned();
        Ok(())
    }

    fn gateway_status(&self) -> BoxFuture<'_, Vec<api::GatewayStatusView>> {
        Box::pin(async move { self.gateway_status.lock().unwrap().clone() })
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<api::LiveEvent>> {
        tokio::sync::broadcast::channel(16).1
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move { "# HELP ferroswitch_calls_active Calls in progress.\n# TYPE ferroswitch_calls_active gauge\nferroswitch_calls_active 0\n".to_owned() })
    }

    fn callcenter(&self, req: api::CcRequest) -> BoxFuture<'_, Result<Value, api::ApiError>> {
        Box::pin(async move {
            self.cc_requests.lock().unwrap().push(req.clone());
            match req {
                api::CcRequest::Agents => Ok(self.cc_agents.lock().unwrap().clone()),
                api::CcRequest::Stats(q) if q == "nope" => Err(api::ApiError::not_found("queue")),
                api::CcRequest::Stats(q) => Ok(serde_json::json!({"queue": q, "waiting": 0})),
                api::CcRequest::Members(_) => Ok(serde_json::json!([])),
                api::CcRequest::AgentAction(a, _) => Ok(serde_json::json!({"name": a, "status": "Available"})),
            }
        })
    }

    fn reload(&self) -> BoxFuture<'_, Result<api::Reloaded, api::ApiError>> {
        Box::pin(async move { Ok(api::Reloaded { applied: vec!["log.level".into()], restart_required: vec![] }) })
    }

    fn trace(&self, req: Option<api::Trace>) -> BoxFuture<'_, Result<api::Trace, api::ApiError>> {
        Box::pin(async move {
            let mut t = self.trace.lock().unwrap();
            if let Some(r) = req {
                if r.call.as_deref() == Some("nope") {
                    return Err(api::ApiError::not_found("call"));
                }
                *t = r;
            }
            Ok(t.clone())
        })
    }

    fn directory_changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.directory_changes.fetch_add(1, Ordering::SeqCst);
            if let Some(store) = self.store.get() {
                let v = store.directory_version().await.expect("directory version");
                self.versions_seen.lock().unwrap().push(v);
            }
        })
    }
}

/// One router over its own store file and fake switch.
pub struct Harness {
    pub control: Arc<FakeControl>,
    pub store: store::Store,
    pub dir: PathBuf,
    pub db: PathBuf,
    state: ApiState,
}

impl Harness {
    pub async fn new() -> Harness {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("api-tests")
            .join(format!(
                "{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("ferroswitch.db");
        let store = store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .expect("open store");
        let control = Arc::new(FakeControl::default());
        control.store.set(store.clone()).unwrap();
        let state = ApiState {
            store: store.clone(),
            control: control.clone(),
            token: TOKEN.into(),
            realm: REALM.into(),
            version: VERSION,
            now_ms,
            recordings_dir: std::env::temp_dir().join("ferroswitch-api-test-recordings"),
        };
        set_now(T0);
        Harness {
            control,
            store,
            dir,
            db,
            state,
        }
    }

    pub fn state(&self) -> ApiState {
        self.state.clone()
    }

    pub fn directory_changes(&self) -> usize {
        self.control.directory_changes.load(Ordering::SeqCst)
    }

    pub fn set_draining(&self, on: bool) {
        self.control.draining.store(on, Ordering::SeqCst);
    }

    pub fn set_registrations(&self, r: Vec<RegistrationView>) {
        *self.control.registrations.lock().unwrap() = r;
    }

    pub fn set_blocks(&self, b: Vec<BlockView>) {
        *self.control.blocks.lock().unwrap() = b;
    }

    /// Send a request as built.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = api::router(self.state())
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let json = serde_json::from_slice(&bytes).ok();
        Resp {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// A request with the right token and, when `body` is given, a JSON body.
    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    /// A request with the right token and a raw body and content type.
    pub async fn call_raw(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.call(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Resp {
        self.call(Method::POST, uri, Some(body)).await
    }

    pub async fn patch(&self, uri: &str, body: Value) -> Resp {
        self.call(Method::PATCH, uri, Some(body)).await
    }

    pub async fn delete(&self, uri: &str) -> Resp {
        self.call(Method::DELETE, uri, None).await
    }

    /// Create an extension, asserting 201; returns the password.
    pub async fn create(&self, body: Value) -> String {
        let r = self.post("/v1/extensions", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "creating {body}: {}",
            r.text()
        );
        r.json()["password"].as_str().expect("password").to_owned()
    }

    /// Every file SQLite may have written (the database, its WAL and shm).
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        all
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response, body collected.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    json: Option<Value>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("{} body is not JSON: {:?}", self.status, self.text()))
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and a JSON body exactly `expected`.
    pub fn assert_json(&self, status: StatusCode, expected: &Value) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.json(), expected);
    }

    /// Asserts an error response: the status, `application/json`, and a body
    /// of exactly `{"error": {"code", "message"[, "field"]}}` with that code
    /// and field (`None`: no `field` key) and a non-empty message.
    pub fn assert_error(&self, status: StatusCode, code: &str, field: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.content_type(),
            Some("application/json"),
            "body: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(keys(body), set(&["error"]), "{body}");
        let e = &body["error"];
        let mut want = set(&["code", "message"]);
        if field.is_some() {
            want.insert("field".into());
        }
        assert_eq!(keys(e), want, "{body}");
        assert_eq!(e["code"], code, "{body}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        if let Some(f) = field {
            assert_eq!(e["field"], f, "{body}");
        }
    }

    /// Asserts an empty 204.
    pub fn assert_no_content(&self) {
        assert_eq!(self.status, StatusCode::NO_CONTENT, "body: {}", self.text());
        assert!(self.bytes.is_empty(), "204 with a body: {}", self.text());
    }
}

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for
/// putting an opaque cursor into a query string.
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Walks a paged list from the start with `limit`, returning the page sizes
/// and all items in order. Gives up after 100 pages.
pub async fn walk(h: &Harness, path: &str, limit: u32) -> (Vec<usize>, Vec<Value>) {
    let mut sizes = Vec::new();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let uri = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={}", pct(c)),
        };
        let r = h.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        let body = r.json();
        assert_eq!(keys(body), set(&["items", "next_cursor"]), "{uri}: {body}");
        let page = body["items"].as_array().expect("items is an array");
        sizes.push(page.len());
        items.extend(page.iter().cloned());
        match &body["next_cursor"] {
            Value::Null => return (sizes, items),
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next_cursor is neither null nor a string: {other}"),
        }
    }
    panic!("{path}: more than 100 pages");
}

pub fn registration(ext: &str, contact: &str) -> RegistrationView {
    RegistrationView {
        extension: ext.into(),
        contact: contact.into(),
        transport: "udp".into(),
        source: "192.0.2.7:5060".into(),
        user_agent: Some("Yealink SIP-T46S".into()),
        expires_in: 3600,
        expires_at_ms: (T0 + 3_600_000) as u64,
    }
}

pub fn call(id: &str) -> CallView {
    CallView {
        id: id.into(),
        caller: "1001".into(),
        callee: "1002".into(),
        state: "answered".into(),
        start_ms: T0 as u64,
        answer_ms: Some(T0 as u64 + 2_000),
    }
}

pub fn block(ip: &str) -> BlockView {
    BlockView {
        ip: ip.into(),
        expires_in: 600,
        failures: 5,
    }
}
