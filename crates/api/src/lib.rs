//! # api
//!
//! The admin REST API: JSON over HTTP under `/v1`, bearer token on
//! everything but `GET /v1/health`, errors as
//! `{"error": {"code", "message", "field"?}}`, paged lists
//! (`?limit=&cursor=` → `{"items", "next_cursor"}`), and the OpenAPI
//! document at `GET /v1/openapi.json` generated from the same handlers.
//!
//! It owns HTTP concerns only. The directory is read and written through
//! the [`store`]; live state (registrations, bans) comes from the running
//! switch through the [`Control`] trait, which the binary implements over
//! the core's command channel, so this crate does not depend on it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod calls;
mod callcenter;
mod error;
mod events;
mod extensions;
mod live;
mod tls;
mod trunks;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::OpenApi;

pub use calls::{CallView, OriginateRequest};
pub use callcenter::{AgentAction, CcRequest};
pub use events::LiveEvent;
pub use error::ApiError;
pub use extensions::{ExtensionCreated, ExtensionView, NewExtensionRequest, PatchExtensionRequest};
pub use live::{BlockView, RegistrationView};
pub use trunks::{parse_cidr, split_host_port, GatewayRegister, GatewaySpec, GatewayStatusView, RouteAction, RouteSpec};

/// A boxed future, so [`Control`] stays object-safe without extra crates.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the API asks of the running switch.
pub trait Control: Send + Sync + 'static {
    /// Current registrations.
    fn registrations(&self) -> BoxFuture<'_, Vec<RegistrationView>>;
    /// Banned sources.
    fn blocks(&self) -> BoxFuture<'_, Vec<BlockView>>;
    /// Lift a ban; false if there was none.
    fn clear_block(&self, ip: IpAddr) -> BoxFuture<'_, bool>;
    /// Is the switch draining (shutting down)?
    fn draining(&self) -> bool;
    /// The directory was written: make the running switch use it before
    /// the API answers, so a phone can register with it right away.
    fn directory_changed(&self) -> BoxFuture<'_, ()>;
    /// Live calls.
    fn calls(&self) -> BoxFuture<'_, Vec<CallView>>;
    /// Hang a call up; false if there is no such call.
    fn hangup(&self, id: String) -> BoxFuture<'_, bool>;
    /// Prometheus text exposition of the switch's metrics.
    fn metrics(&self) -> BoxFuture<'_, String>;
    /// Start a click-to-call; the call's UUID, or why not (404 unknown
    /// caller, 409 caller not reachable, 503 no gateway).
    fn originate(&self, req: OriginateRequest) -> BoxFuture<'_, Result<String, ApiError>>;
    /// The log filter in force (`info`, `info,sip_proto=debug`, ...).
    fn log_level(&self) -> String;
    /// Change the log filter at run time; why not, if it is invalid.
    fn set_log_level(&self, level: &str) -> Result<(), String>;
    /// Live state of the carrier gateways.
    fn gateway_status(&self) -> BoxFuture<'_, Vec<GatewayStatusView>>;
    /// A receiver of the switch's events (bounded; lagging is reported).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<LiveEvent>>;
    /// Ask the queue engine (live agents, queue statistics and members,
    /// agent actions); JSON as the engine's views serialise.
    fn callcenter(&self, req: CcRequest) -> BoxFuture<'_, Result<serde_json::Value, ApiError>>;
    /// Re-read the configuration file (and the store): apply what can
    /// change at run time, report what needs a restart.
    fn reload(&self) -> BoxFuture<'_, Result<Reloaded, ApiError>>;
    /// SIP trace to the log: set it (`Some`), or read it (`None`).
    fn trace(&self, req: Option<Trace>) -> BoxFuture<'_, Result<Trace, ApiError>>;
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: store::Store,
    /// The running switch.
    pub control: Arc<dyn Control>,
    /// The bearer token.
    pub token: Arc<str>,
    /// Digest realm (HA1s are computed for it).
    pub realm: Arc<str>,
    /// Version string for /v1/health.
    pub version: &'static str,
    /// Unix ms clock for created/updated stamps.
    pub now_ms: fn() -> i64,
    /// Where call recordings are (served by `GET /v1/recordings/{file}`).
    pub recordings_dir: std::path::PathBuf,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ferroswitch admin API", description = "Directory, registrations and security of a ferroswitch SIP softswitch."),
    paths(
        health,
        extensions::create, extensions::list, extensions::get_one, extensions::patch, extensions::remove,
        live::registrations, live::blocks, live::clear_block,
        calls::list, calls::originate, calls::get_one, calls::hangup, calls::cdrs, calls::cdr, calls::recording,
        events::events, log_get, log_put, trace_get, trace_put, reload,
        trunks::create_gateway, trunks::list_gateways, trunks::get_gateway, trunks::patch_gateway, trunks::delete_gateway, trunks::gateway_status,
        trunks::create_route, trunks::list_routes, trunks::get_route, trunks::patch_route, trunks::delete_route,
        callcenter::create_queue, callcenter::list_queues, callcenter::get_queue, callcenter::patch_queue, callcenter::delete_queue,
        callcenter::queue_stats, callcenter::queue_members,
        callcenter::create_agent, callcenter::list_agents, callcenter::get_agent, callcenter::patch_agent, callcenter::delete_agent, callcenter::agent_action,
        callcenter::create_tier, callcenter::list_tiers, callcenter::get_tier, callcenter::patch_tier, callcenter::delete_tier,
        callcenter::create_ivr, callcenter::list_ivrs, callcenter::get_ivr, callcenter::patch_ivr, callcenter::delete_ivr,
    ),
    components(schemas(
        Health, LogLevel, Trace, Reloaded, error::ErrorBody, error::ErrorDetail,
        extensions::ExtensionView, extensions::ExtensionCreated, extensions::NewExtensionRequest,
        extensions::PatchExtensionRequest, extensions::ExtensionPage,
        live::RegistrationView, live::RegistrationPage, live::BlockView, live::BlockPage,
        calls::CallView, calls::CallPage, calls::CdrPage, calls::OriginateRequest, calls::Originated,
        trunks::GatewaySpec, trunks::GatewayRegister, trunks::GatewayView, trunks::NewGatewayRequest, trunks::GatewayPage,
        trunks::GatewayStatusView, trunks::GatewayStatusPage, trunks::RouteAction, trunks::RouteSpec, trunks::RouteView,
        trunks::NewRouteRequest, trunks::RoutePage,
        callcenter::ConfigView, callcenter::ConfigPage,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{Content, RefOr, ResponseBuilder};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        }
        let err = |desc: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(desc)
                    .content("application/json", Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody")))))
                    .build(),
            )
        };
        // Every operation but health needs the token; bodies must be JSON.
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put];
            for op in ops.into_iter().flatten() {
                if path != "/v1/health" {
                    op.responses.responses.entry("401".into()).or_insert_with(|| err("missing or wrong bearer token"));
                }
                if op.request_body.is_some() {
                    op.responses.responses.entry("415".into()).or_insert_with(|| err("body is not application/json"));
                    op.responses.responses.entry("413".into()).or_insert_with(|| err("body larger than 64 KiB"));
                }
            }
        }
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Liveness and readiness.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `draining` while shutting down.
    pub status: &'static str,
    /// Version of the switch.
    pub version: &'static str,
}

/// Health check (no token needed). 503 while draining.
#[utoipa::path(get, path = "/v1/health", security(()), responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(st): State<ApiState>) -> Response {
    if st.control.draining() {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "draining", version: st.version })).into_response()
    } else {
        Json(Health { status: "ok", version: st.version }).into_response()
    }
}

/// The log filter (tracing `EnvFilter` syntax).
#[derive(serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLevel {
    /// `error`, `warn`, `info`, `debug`, `trace`, or directives such as
    /// `info,sip_proto=debug`.
    pub level: String,
}

/// The log filter in force.
/// What a configuration reload did.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// Keys whose new values are in force (live calls keep going).
    pub applied: Vec<String>,
    /// Sections that changed but take effect only after a restart.
    pub restart_required: Vec<String>,
}

/// Reload the configuration file and the store (SIGHUP does the same):
/// routes, gateways, queues, IVRs, extensions, prompts, log level, call
/// limits, ringback and media timeout change without dropping calls.
#[utoipa::path(post, path = "/v1/reload", responses((status = 200, body = Reloaded), (status = 415, body = error::ErrorBody), (status = 422, body = error::ErrorBody)))]
async fn reload(State(st): State<ApiState>) -> Result<Json<Reloaded>, ApiError> {
    Ok(Json(st.control.reload().await?))
}

/// The SIP trace (like `sofia global siptrace on`): every SIP message
/// sent or received, written to the log (target `sip_trace`), for one call,
/// one extension, or everything.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Tracing on or off.
    pub enabled: bool,
    /// Only this call's messages (its UUID).
    #[serde(default)]
    pub call: Option<String>,
    /// Only messages from, to or for this extension (or number).
    #[serde(default)]
    pub extension: Option<String>,
}

#[utoipa::path(get, path = "/v1/trace", responses((status = 200, body = Trace)))]
async fn trace_get(State(st): State<ApiState>) -> Result<Json<Trace>, ApiError> {
    Ok(Json(st.control.trace(None).await?))
}

#[utoipa::path(put, path = "/v1/trace", request_body = Trace,
    responses((status = 200, body = Trace), (status = 404, body = error::ErrorBody), (status = 422, body = error::ErrorBody), (status = 400, body = error::ErrorBody)))]
async fn trace_put(State(st): State<ApiState>, body: Result<Json<Trace>, axum::extract::rejection::JsonRejection>) -> Result<Json<Trace>, ApiError> {
    let Json(req) = body?;
    if req.call.is_some() && req.extension.is_some() {
        return Err(ApiError::invalid("extension", "trace one call or one extension, not both"));
    }
    if req.extension.as_ref().is_some_and(|e| e.is_empty() || e.len() > 64) {
        return Err(ApiError::invalid("extension", "1 to 64 characters"));
    }
    if req.call.as_ref().is_some_and(|c| c.is_empty() || c.len() > 64) {
        return Err(ApiError::invalid("call", "a call UUID"));
    }
    Ok(Json(st.control.trace(Some(req)).await?))
}

#[utoipa::path(get, path = "/v1/log", responses((status = 200, body = LogLevel)))]
async fn log_get(State(st): State<ApiState>) -> Json<LogLevel> {
    Json(LogLevel { level: st.control.log_level() })
}

/// Change the log filter at run time (not persisted: the config file's
/// `log.level` applies at the next start).
#[utoipa::path(put, path = "/v1/log", request_body = LogLevel,
    responses((status = 200, body = LogLevel), (status = 422, body = error::ErrorBody), (status = 400, body = error::ErrorBody)))]
async fn log_put(State(st): State<ApiState>, body: Result<Json<LogLevel>, axum::extract::rejection::JsonRejection>) -> Result<Json<LogLevel>, ApiError> {
    let Json(req) = body?;
    if req.level.is_empty() || req.level.len() > 512 {
        return Err(ApiError::invalid("level", "1 to 512 characters"));
    }
    st.control.set_log_level(&req.level).map_err(|e| ApiError::invalid("level", e))?;
    Ok(Json(LogLevel { level: st.control.log_level() }))
}

/// Prometheus metrics (text format 0.0.4); needs the token like /v1.
async fn metrics(State(st): State<ApiState>) -> Response {
    let body = st.control.metrics().await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

async fn require_token(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim()))
        .map(str::to_owned)
        .or_else(|| {
            // Browsers cannot set headers on a WebSocket: accept ?token= there.
            (req.uri().path() == "/v1/events")
                .then(|| req.uri().query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("token=").map(str::to_owned)))
                .flatten()
        })
        .unwrap_or_default();
    let given = given.as_str();
    // Constant-time comparison (length is not secret: tokens are fixed-size).
    // An empty configured token never authorises anything.
    if !st.token.is_empty() && bool::from(given.as_bytes().ct_eq(st.token.as_bytes())) {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// The router: public routes, token-protected routes, JSON 404s, and a
/// 64 KiB body limit.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics))
        .route("/v1/events", get(events::events))
        .route("/v1/extensions", get(extensions::list).post(extensions::create))
        .route("/v1/extensions/{number}", get(extensions::get_one).patch(extensions::patch).delete(extensions::remove))
        .route("/v1/registrations", get(live::registrations))
        .route("/v1/security/blocks", get(live::blocks))
        .route("/v1/security/blocks/{ip}", delete(live::clear_block))
        .route("/v1/calls", get(calls::list).post(calls::originate))
        .route("/v1/calls/{id}", get(calls::get_one).delete(calls::hangup))
        .route("/v1/cdrs", get(calls::cdrs))
        .route("/v1/cdrs/{id}", get(calls::cdr))
        .route("/v1/recordings/{file}", get(calls::recording))
        .route("/v1/log", get(log_get).put(log_put))
        .route("/v1/trace", get(trace_get).put(trace_put))
        .route("/v1/reload", axum::routing::post(reload))
        .route("/v1/gateways", get(trunks::list_gateways).post(trunks::create_gateway))
        .route("/v1/gateways/status", get(trunks::gateway_status))
        .route("/v1/gateways/{name}", get(trunks::get_gateway).patch(trunks::patch_gateway).delete(trunks::delete_gateway))
        .route("/v1/routes", get(trunks::list_routes).post(trunks::create_route))
        .route("/v1/routes/{name}", get(trunks::get_route).patch(trunks::patch_route).delete(trunks::delete_route))
        .route("/v1/queues", get(callcenter::list_queues).post(callcenter::create_queue))
        .route("/v1/queues/{name}", get(callcenter::get_queue).patch(callcenter::patch_queue).delete(callcenter::delete_queue))
        .route("/v1/queues/{name}/stats", get(callcenter::queue_stats))
        .route("/v1/queues/{name}/members", get(callcenter::queue_members))
        .route("/v1/agents", get(callcenter::list_agents).post(callcenter::create_agent))
        .route("/v1/agents/{name}", get(callcenter::get_agent).patch(callcenter::patch_agent).delete(callcenter::delete_agent))
        .route("/v1/agents/{name}/{action}", axum::routing::post(callcenter::agent_action))
        .route("/v1/tiers", get(callcenter::list_tiers).post(callcenter::create_tier))
        .route("/v1/ivrs", get(callcenter::list_ivrs).post(callcenter::create_ivr))
        .route("/v1/ivrs/{name}", get(callcenter::get_ivr).patch(callcenter::patch_ivr).delete(callcenter::delete_ivr))
        .route("/v1/tiers/{queue}/{agent}", get(callcenter::get_tier).patch(callcenter::patch_tier).delete(callcenter::delete_tier))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/health", get(health))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Serve until `shutdown` resolves: plain HTTP, or HTTPS when `tls` is
/// given (ALPN `http/1.1` is added to it; each handshake runs on its own,
/// bounded by 10 s, so a silent or failing client delays nobody else).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    tls: Option<tokio_rustls::rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // A modest kernel send buffer per connection bounds what a client that
    // stops reading (an event stream) can hold up before it is dropped.
    fn tune(tcp: &tokio::net::TcpStream) {
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(tcp).set_send_buffer_size(64 * 1024);
    }
    match tls {
        None => axum::serve(listener.tap_io(|tcp| tune(tcp)), router(state)).with_graceful_shutdown(shutdown).await,
        Some(mut cfg) => {
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
            axum::serve(tls::TlsListener::new(listener, acceptor, tune), router(state)).with_graceful_shutdown(shutdown).await
        }
    }
}

/// Paging parameters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page (1–1000, default 100).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Paging {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(l) if (1..=1000).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 1000")),
        }
    }
}
