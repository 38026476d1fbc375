//! Carrier gateways (`/v1/gateways`) and the route table (`/v1/routes`).
//!
//! The API owns the shape of both documents: it validates them here and
//! the store keeps them whole. Every write tells the running switch to
//! reload before the API answers, so the next call uses it.

use crate::{ApiError, ApiState, Paging};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use store::{ConfigKind, ConfigRow};

/// Outbound registration to a carrier.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayRegister {
    /// Username (the carrier account).
    pub username: String,
    /// Password; write-only: never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Realm to accept challenges for (any when absent).
    #[serde(default)]
    pub realm: Option<String>,
    /// Requested registration lifetime, seconds (10–86400, default 3600).
    #[serde(default = "default_expires")]
    pub expires: u32,
}

fn default_expires() -> u32 {
    3600
}
fn default_transport() -> String {
    "udp".into()
}
fn default_true() -> bool {
    true
}

/// A carrier gateway: where calls go out (and may come in from).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// The carrier's SIP proxy, `host` or `host:port` (port 5060 when absent).
    pub proxy: String,
    /// `udp` or `tcp` (default udp).
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Domain for Request-URI, From and To (default: the proxy host).
    #[serde(default)]
    pub domain: Option<String>,
    /// Register to the carrier with these credentials (also used to answer its 401/407 to our INVITEs).
    #[serde(default)]
    pub register: Option<GatewayRegister>,
    /// Caller number to send; absent = pass the caller's number through.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Prefix added to the callee number (after stripping).
    #[serde(default)]
    pub prefix: String,
    /// Leading digits removed from the callee number.
    #[serde(default)]
    pub strip: u32,
    /// Codecs the carrier accepts (e.g. `["PCMA","PCMU"]`); empty = any.
    #[serde(default)]
    pub codecs: Vec<String>,
    /// Concurrent calls through this gateway (absent = unlimited).
    #[serde(default)]
    pub max_calls: Option<u32>,
    /// New calls per second (absent = unlimited).
    #[serde(default)]
    pub max_cps: Option<f64>,
    /// OPTIONS health ping interval, seconds (0 or absent = no pings).
    #[serde(default)]
    pub ping_interval: Option<u32>,
    /// Addresses or CIDRs the carrier sends calls from (`192.0.2.0/24`).
    #[serde(default)]
    pub inbound: Vec<String>,
    /// Digest username issued to the carrier for calls it sends from
    /// addresses not listed in `inbound`.
    #[serde(default)]
    pub inbound_username: Option<String>,
    /// Its password; write-only: never returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_password: Option<String>,
    /// Disabled gateways neither register nor carry calls.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// A gateway as shown (the password is never returned).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayView {
    /// Name (URL key).
    pub name: String,
    /// The configuration.
    #[serde(flatten)]
    pub spec: GatewaySpec,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Last changed, unix ms.
    pub updated_at_ms: i64,
}

/// `POST /v1/gateways` body: a name plus the configuration.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewGatewayRequest {
    /// Name: letters, digits, `-`, `_`, `.` (1–64).
    pub name: String,
    /// The configuration.
    #[serde(flatten)]
    pub spec: serde_json::Map<String, serde_json::Value>,
}

/// Gateways.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GatewayPage {
    /// By name.
    pub items: Vec<GatewayView>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// Live state of a gateway.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayStatusView {
    /// Name.
    pub name: String,
    /// disabled, registering, registered, failed.
    pub registration: String,
    /// Seconds until the registration expires (registered) or the next retry (failed).
    pub registration_expires_in: Option<u64>,
    /// unknown, up, down (OPTIONS pings).
    pub ping: String,
    /// Round trip of the last ping, ms.
    pub latency_ms: Option<u32>,
    /// Calls through it now.
    pub calls: u32,
    /// The last registration or ping failure.
    pub last_error: Option<String>,
}

/// Gateway states.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GatewayStatusPage {
    /// By name.
    pub items: Vec<GatewayStatusView>,
    /// Always null: one page.
    pub next_cursor: Option<String>,
}

/// What a route does with a call.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteAction {
    /// Ring this extension.
    Extension(String),
    /// Try these gateways in order (failover on 5xx, 408, no answer).
    Gateways(Vec<String>),
    /// Put the caller in this queue.
    Queue(String),
    /// Send the caller to this IVR menu.
    Ivr(String),
    /// Refuse with this SIP status.
    Reject {
        /// 400–699.
        code: u16,
        /// Reason phrase.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// One rule of the route table.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Order of evaluation (lower first; ties by name). Default 100.
    #[serde(default = "default_priority")]
    pub priority: i64,
    /// The dialled number starts with this (default: any).
    #[serde(default)]
    pub destination_prefix: Option<String>,
    /// Or matches this regular expression; capture group 1, if any, becomes the number.
    #[serde(default)]
    pub destination_regex: Option<String>,
    /// Only for callers whose number starts with this.
    #[serde(default)]
    pub caller_prefix: Option<String>,
    /// Who may use the route: `any`, `extension` (authenticated phones) or `gateway` (inbound carrier calls).
    #[serde(default = "default_source")]
    pub source: String,
    /// With source `gateway`: only calls from this gateway.
    #[serde(default)]
    pub source_gateway: Option<String>,
    /// What to do.
    pub action: RouteAction,
    /// Leading digits removed from the number.
    #[serde(default)]
    pub strip: u32,
    /// Prefix added after stripping.
    #[serde(default)]
    pub prefix: String,
    /// Caller number to present instead of the caller's.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Media of calls on this route: `relay` (through the switch) or
    /// `bypass` (phone to phone, SDP untouched); default: `media.mode`.
    #[serde(default)]
    pub media_mode: Option<String>,
    /// Record every call this route sends to an extension or a gateway
    /// (stereo WAV; the CDR links it). Needs relayed media.
    #[serde(default)]
    pub record: bool,
}

fn default_priority() -> i64 {
    100
}
fn default_source() -> String {
    "any".into()
}

/// A route as shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RouteView {
    /// Name (URL key).
    pub name: String,
    /// The rule.
    #[serde(flatten)]
    pub spec: RouteSpec,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Last changed, unix ms.
    pub updated_at_ms: i64,
}

/// `POST /v1/routes` body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewRouteRequest {
    /// Name: letters, digits, `-`, `_`, `.` (1–64).
    pub name: String,
    /// The rule.
    #[serde(flatten)]
    pub spec: serde_json::Map<String, serde_json::Value>,
}

/// Routes, in evaluation order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoutePage {
    /// In evaluation order.
    pub items: Vec<RouteView>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

fn is_dial_string(s: &str) -> bool {
    s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*' | b'#'))
}

/// Parse `ip` or `ip/len`.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = ip.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
    };
    Some((ip, len))
}

fn check_gateway(name: &str, spec: serde_json::Value, old: Option<&GatewaySpec>) -> Result<GatewaySpec, ApiError> {
    if name == "status" {
        return Err(ApiError::invalid("name", "\"status\" is reserved"));
    }
    let mut g: GatewaySpec = serde_json::from_value(spec).map_err(|e| ApiError::invalid(&field_of(&e.to_string()), e.to_string()))?;
    let Some((host, _port)) = split_host_port(&g.proxy) else {
        return Err(ApiError::invalid("proxy", "host, host:port or [v6]:port with a port 1-65535"));
    };
    if host.is_empty() || host.len() > 253 || !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':')) {
        return Err(ApiError::invalid("proxy", "host or host:port"));
    }
    if !matches!(g.transport.as_str(), "udp" | "tcp") {
        return Err(ApiError::invalid("transport", "udp or tcp"));
    }
    if let Some(d) = &g.domain {
        if d.is_empty() || d.len() > 253 || !d.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')) {
            return Err(ApiError::invalid("domain", "a host name or address"));
        }
    }
    if let Some(r) = &mut g.register {
        if r.username.is_empty() || r.username.len() > 64 || r.username.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'"') {
            return Err(ApiError::invalid("register.username", "1 to 64 printable characters, no spaces or quotes"));
        }
        if r.password.is_none() {
            // Keep the stored password when a change does not repeat it.
            r.password = old.and_then(|o| o.register.as_ref()).and_then(|o| o.password.clone());
        }
        match &r.password {
            Some(p) if !p.is_empty() && p.len() <= 128 && !p.bytes().any(|b| b.is_ascii_control()) => {}
            _ => return Err(ApiError::invalid("register.password", "1 to 128 characters")),
        }
        if !(10..=86400).contains(&r.expires) {
            return Err(ApiError::invalid("register.expires", "10 to 86400 seconds"));
        }
    }
    if let Some(c) = &g.caller_id {
        if c.is_empty() || !is_dial_string(c) {
            return Err(ApiError::invalid("caller_id", "digits, + * # (up to 32)"));
        }
    }
    if !is_dial_string(&g.prefix) {
        return Err(ApiError::invalid("prefix", "digits, + * # (up to 32)"));
    }
    if g.strip > 32 {
        return Err(ApiError::invalid("strip", "0 to 32"));
    }
    if g.codecs.len() > 16 || g.codecs.iter().any(|c| c.is_empty() || c.len() > 32 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')) {
        return Err(ApiError::invalid("codecs", "up to 16 codec names like PCMU, PCMA, opus"));
    }
    if g.max_calls == Some(0) {
        return Err(ApiError::invalid("max_calls", "at least 1 (omit for unlimited)"));
    }
    if let Some(c) = g.max_cps {
        if !(c.is_finite() && c > 0.0 && c <= 100_000.0) {
            return Err(ApiError::invalid("max_cps", "a positive number (omit for unlimited)"));
        }
    }
    if let Some(p) = g.ping_interval {
        if p > 3600 {
            return Err(ApiError::invalid("ping_interval", "0 to 3600 seconds"));
        }
    }
    if g.inbound.len() > 64 || g.inbound.iter().any(|c| parse_cidr(c).is_none()) {
        return Err(ApiError::invalid("inbound", "up to 64 addresses or CIDRs like 192.0.2.0/24"));
    }
    if g.inbound_password.is_none() && g.inbound_username.is_some() {
        g.inbound_password = old.filter(|o| o.inbound_username == g.inbound_username).and_then(|o| o.inbound_password.clone());
    }
    match (&g.inbound_username, &g.inbound_password) {
        (None, None) => {}
        (Some(u), Some(p)) => {
            if u.is_empty() || u.len() > 64 || !u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return Err(ApiError::invalid("inbound_username", "1 to 64 letters, digits, '-', '_', '.'"));
            }
            if p.len() < 8 || p.len() > 128 || p.bytes().any(|b| b.is_ascii_control()) {
                return Err(ApiError::invalid("inbound_password", "8 to 128 characters"));
            }
        }
        (None, Some(_)) => return Err(ApiError::invalid("inbound_username", "required with inbound_password")),
        (Some(_), None) => return Err(ApiError::invalid("inbound_password", "required with inbound_username")),
    }
    Ok(g)
}

/// Split `host`, `host:port`, `v6`, `[v6]` or `[v6]:port`; `None` if malformed.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((h.to_owned(), None)),
            p => Some((h.to_owned(), Some(port(p.strip_prefix(':')?)?))),
        };
    }
    match s.split_once(':') {
        None => Some((s.to_owned(), None)),
        Some((h, p)) if !p.contains(':') => Some((h.to_owned(), Some(port(p)?))),
        _ => {
            s.parse::<std::net::Ipv6Addr>().ok()?;
            Some((s.to_owned(), None))
        }
    }
}

fn check_route(spec: serde_json::Value) -> Result<RouteSpec, ApiError> {
    let r: RouteSpec = serde_json::from_value(spec).map_err(|e| ApiError::invalid(&field_of(&e.to_string()), e.to_string()))?;
    if r.destination_prefix.is_some() && r.destination_regex.is_some() {
        return Err(ApiError::invalid("destination_regex", "give destination_prefix or destination_regex, not both"));
    }
    if let Some(p) = &r.destination_prefix {
        if !is_dial_string(p) {
            return Err(ApiError::invalid("destination_prefix", "digits, + * # (up to 32)"));
        }
    }
    if let Some(re) = &r.destination_regex {
        if re.len() > 256 {
            return Err(ApiError::invalid("destination_regex", "at most 256 characters"));
        }
        regex::RegexBuilder::new(re).size_limit(1 << 20).build().map_err(|e| ApiError::invalid("destination_regex", e.to_string()))?;
    }
    if let Some(p) = &r.caller_prefix {
        if !is_dial_string(p) {
            return Err(ApiError::invalid("caller_prefix", "digits, + * # (up to 32)"));
        }
    }
    if !matches!(r.source.as_str(), "any" | "extension" | "gateway") {
        return Err(ApiError::invalid("source", "any, extension or gateway"));
    }
    if r.source_gateway.is_some() && r.source != "gateway" {
        return Err(ApiError::invalid("source_gateway", "only with source \"gateway\""));
    }
    match &r.action {
        RouteAction::Extension(e) if e.is_empty() || e.len() > store::MAX_NUMBER_LEN => return Err(ApiError::invalid("action.extension", "an extension number")),
        RouteAction::Gateways(g) if g.is_empty() || g.len() > 16 => return Err(ApiError::invalid("action.gateways", "1 to 16 gateway names")),
        RouteAction::Queue(q) if q.is_empty() || q.len() > 64 => return Err(ApiError::invalid("action.queue", "a queue name")),
        RouteAction::Ivr(m) if m.is_empty() || m.len() > 64 => return Err(ApiError::invalid("action.ivr", "an IVR menu name")),
        RouteAction::Reject { code, .. } if !(400..=699).contains(code) => return Err(ApiError::invalid("action.reject.code", "400 to 699")),
        _ => {}
    }
    if r.strip > 32 {
        return Err(ApiError::invalid("strip", "0 to 32"));
    }
    if !is_dial_string(&r.prefix) {
        return Err(ApiError::invalid("prefix", "digits, + * # (up to 32)"));
    }
    if let Some(c) = &r.caller_id {
        if c.is_empty() || !is_dial_string(c) {
            return Err(ApiError::invalid("caller_id", "digits, + * # (up to 32)"));
        }
    }
    if r.media_mode.as_deref().is_some_and(|m| m != "relay" && m != "bypass") {
        return Err(ApiError::invalid("media_mode", "relay or bypass"));
    }
    Ok(r)
}

/// serde's messages name the field as "unknown field `x`" or "missing field `x`".
fn field_of(msg: &str) -> String {
    ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| msg.split_once(p).and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f.to_owned()))
        .unwrap_or_else(|| "body".to_owned())
}

fn gateway_view(row: ConfigRow) -> Result<GatewayView, ApiError> {
    let mut spec: GatewaySpec = serde_json::from_value(row.spec).map_err(ApiError::internal)?;
    if let Some(r) = &mut spec.register {
        r.password = None;
    }
    spec.inbound_password = None;
    Ok(GatewayView { name: row.name, spec, created_at_ms: row.created_at_ms, updated_at_ms: row.updated_at_ms })
}

fn route_view(row: ConfigRow) -> Result<RouteView, ApiError> {
    let spec: RouteSpec = serde_json::from_value(row.spec).map_err(ApiError::internal)?;
    Ok(RouteView { name: row.name, spec, created_at_ms: row.created_at_ms, updated_at_ms: row.updated_at_ms })
}

pub(crate) fn to_value<T: Serialize>(t: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(t).map_err(ApiError::internal)
}

/// JSON merge patch (RFC 7396) of `patch` onto `base`.
pub(crate) fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// Create a gateway.
#[utoipa::path(post, path = "/v1/gateways", request_body = NewGatewayRequest,
    responses((status = 201, body = GatewayView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_gateway(State(st): State<ApiState>, body: Result<Json<NewGatewayRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let spec = check_gateway(&req.name, serde_json::Value::Object(req.spec), None)?;
    let row = st.store.create_config(ConfigKind::Gateway, &req.name, 0, &to_value(&spec)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(gateway_view(row)?)).into_response())
}

/// Gateways, by name.
#[utoipa::path(get, path = "/v1/gateways", params(Paging), responses((status = 200, body = GatewayPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_gateways(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<GatewayPage>, ApiError> {
    let Query(p) = p?;
    let all = st.store.list_configs(ConfigKind::Gateway).await?.into_iter().map(gateway_view).collect::<Result<Vec<_>, _>>()?;
    let (items, next_cursor) = crate::live::page(all, &p, |g| g.name.clone())?;
    Ok(Json(GatewayPage { items, next_cursor }))
}

/// One gateway.
#[utoipa::path(get, path = "/v1/gateways/{name}", params(("name" = String, Path)), responses((status = 200, body = GatewayView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_gateway(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<GatewayView>, ApiError> {
    let Path(name) = name?;
    let row = st.store.get_config(ConfigKind::Gateway, &name).await?.ok_or_else(|| ApiError::not_found("gateway"))?;
    Ok(Json(gateway_view(row)?))
}

/// Change a gateway (JSON merge patch: fields given replace, `null` removes).
#[utoipa::path(patch, path = "/v1/gateways/{name}", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = GatewayView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_gateway(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>, body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>) -> Result<Json<GatewayView>, ApiError> {
    let Path(name) = name?;
    let Json(patch) = body?;
    let row = st.store.get_config(ConfigKind::Gateway, &name).await?.ok_or_else(|| ApiError::not_found("gateway"))?;
    let old: GatewaySpec = serde_json::from_value(row.spec.clone()).map_err(ApiError::internal)?;
    let mut spec = row.spec;
    if let Some(r) = spec.get_mut("register").and_then(|r| r.as_object_mut()) {
        // The stored password is re-added by check_gateway when the patch does not give one.
        r.remove("password");
    }
    if let Some(o) = spec.as_object_mut() {
        o.remove("inbound_password");
    }
    merge(&mut spec, serde_json::Value::Object(patch));
    let spec = check_gateway(&name, spec, Some(&old))?;
    let row = st.store.replace_config(ConfigKind::Gateway, &name, 0, &to_value(&spec)?, (st.now_ms)()).await?.ok_or_else(|| ApiError::not_found("gateway"))?;
    st.control.directory_changed().await;
    Ok(Json(gateway_view(row)?))
}

/// Delete a gateway (it un-registers from the carrier).
#[utoipa::path(delete, path = "/v1/gateways/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_gateway(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    if !st.store.delete_config(ConfigKind::Gateway, &name).await? {
        return Err(ApiError::not_found("gateway"));
    }
    st.control.directory_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// Live state of every gateway: registration, pings, latency, calls.
#[utoipa::path(get, path = "/v1/gateways/status", responses((status = 200, body = GatewayStatusPage)))]
pub async fn gateway_status(State(st): State<ApiState>) -> Json<GatewayStatusPage> {
    let mut items = st.control.gateway_status().await;
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Json(GatewayStatusPage { items, next_cursor: None })
}

/// Create a route.
#[utoipa::path(post, path = "/v1/routes", request_body = NewRouteRequest,
    responses((status = 201, body = RouteView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_route(State(st): State<ApiState>, body: Result<Json<NewRouteRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let spec = check_route(serde_json::Value::Object(req.spec))?;
    let row = st.store.create_config(ConfigKind::Route, &req.name, spec.priority, &to_value(&spec)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(route_view(row)?)).into_response())
}

/// Routes, in evaluation order.
#[utoipa::path(get, path = "/v1/routes", params(Paging), responses((status = 200, body = RoutePage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_routes(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<RoutePage>, ApiError> {
    let Query(p) = p?;
    let all = st.store.list_configs(ConfigKind::Route).await?.into_iter().map(route_view).collect::<Result<Vec<_>, _>>()?;
    // Cursor order = evaluation order: priority (offset to sort as text), then name.
    let (items, next_cursor) = crate::live::page(all, &p, |r| format!("{:020}.{}", (r.spec.priority as i128 + i64::MAX as i128 + 1), r.name))?;
    Ok(Json(RoutePage { items, next_cursor }))
}

/// One route.
#[utoipa::path(get, path = "/v1/routes/{name}", params(("name" = String, Path)), responses((status = 200, body = RouteView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_route(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<RouteView>, ApiError> {
    let Path(name) = name?;
    let row = st.store.get_config(ConfigKind::Route, &name).await?.ok_or_else(|| ApiError::not_found("routing rule"))?;
    Ok(Json(route_view(row)?))
}

/// Change a route (JSON merge patch).
#[utoipa::path(patch, path = "/v1/routes/{name}", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = RouteView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_route(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>, body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>) -> Result<Json<RouteView>, ApiError> {
    let Path(name) = name?;
    let Json(patch) = body?;
    let row = st.store.get_config(ConfigKind::Route, &name).await?.ok_or_else(|| ApiError::not_found("routing rule"))?;
    let mut spec = row.spec;
    if patch.contains_key("action") {
        // One action replaces the other (merging two would mean both).
        if let Some(o) = spec.as_object_mut() {
            o.remove("action");
        }
    }
    merge(&mut spec, serde_json::Value::Object(patch));
    let spec = check_route(spec)?;
    let row = st.store.replace_config(ConfigKind::Route, &name, spec.priority, &to_value(&spec)?, (st.now_ms)()).await?.ok_or_else(|| ApiError::not_found("routing rule"))?;
    st.control.directory_changed().await;
    Ok(Json(route_view(row)?))
}

/// Delete a route.
#[utoipa::path(delete, path = "/v1/routes/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_route(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    if !st.store.delete_config(ConfigKind::Route, &name).await? {
        return Err(ApiError::not_found("routing rule"));
    }
    st.control.directory_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.0.0.0/8"), Some(("10.0.0.0".parse().expect("ip"), 8)));
        assert_eq!(parse_cidr("::1"), Some(("::1".parse().expect("ip"), 128)));
        for bad in ["10.0.0.0/33", "x", "", "1.2.3.4/", "/8", "::/129"] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("127.0.0.1:5080"), Some(("127.0.0.1".into(), Some(5080))));
        assert_eq!(split_host_port("sip.carrier.example"), Some(("sip.carrier.example".into(), None)));
        assert_eq!(split_host_port("[::1]:5062"), Some(("::1".into(), Some(5062))));
        assert_eq!(split_host_port("::1"), Some(("::1".into(), None)));
        for bad in ["h:0", "h:70000", "h:x", "[::1", "[nope]:5", "a:b:c"] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn merge_patch() {
        let mut b = serde_json::json!({"a": 1, "r": {"u": "x", "p": "y"}});
        merge(&mut b, serde_json::json!({"a": null, "r": {"u": "z"}, "n": 2}));
        assert_eq!(b, serde_json::json!({"r": {"u": "z", "p": "y"}, "n": 2}));
    }
}
