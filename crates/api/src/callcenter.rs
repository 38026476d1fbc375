//! Call-center queues, agents and tiers: `/v1/queues`, `/v1/agents`,
//! `/v1/tiers`, agent actions and queue statistics.
//!
//! Configuration is stored (JSON documents validated against the queue
//! engine's own types, so the API accepts exactly what the engine runs);
//! status, state, counters, members and statistics come live from the
//! running switch's engine through [`crate::Control::callcenter`].

use crate::trunks::{merge, to_value};
use crate::{ApiError, ApiState, Paging};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use callcenter::{AgentConfig, QueueConfig, Tier};
use serde::Serialize;
use serde_json::{Map, Value};
use store::{ConfigKind, ConfigRow};

/// What the API asks of the running engine.
#[derive(Clone, Debug, PartialEq)]
pub enum CcRequest {
    /// Every agent, live (`callcenter::AgentView` as JSON, in a list).
    Agents,
    /// One queue's statistics.
    Stats(String),
    /// One queue's waiting members.
    Members(String),
    /// Set an agent's status: `login`/`ready` (Available, Waiting),
    /// `logout` (Logged Out), `break` (On Break).
    AgentAction(String, AgentAction),
}

/// Agent actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentAction {
    /// Status Available.
    Login,
    /// Status Logged Out.
    Logout,
    /// Status Available (keeps On Demand), state Waiting.
    Ready,
    /// Status On Break.
    Break,
}

/// A stored queue, agent or tier.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfigView {
    /// Name (`queue/agent` for tiers).
    pub name: String,
    /// The configuration (mod_callcenter parameter names in snake case).
    #[schema(value_type = Object)]
    pub spec: Value,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Changed, unix ms.
    pub updated_at_ms: i64,
    /// Agents only: live status, state and counters from the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub live: Option<Value>,
}

/// A page of queues, agents or tiers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfigPage {
    /// Items.
    pub items: Vec<ConfigView>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

fn view(row: ConfigRow) -> ConfigView {
    ConfigView { name: row.name, spec: row.spec, created_at_ms: row.created_at_ms, updated_at_ms: row.updated_at_ms, live: None }
}

/// Deserialise a configuration, naming the field at fault: each field is
/// tried alone (every field has a default), then the whole.
fn parse_spec<T: serde::de::DeserializeOwned>(spec: Value) -> Result<T, ApiError> {
    if let Value::Object(o) = &spec {
        for (k, v) in o {
            let mut one = Map::new();
            one.insert(k.clone(), v.clone());
            if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
                return Err(ApiError::invalid(k, e.to_string()));
            }
        }
    }
    serde_json::from_value(spec).map_err(|e| ApiError::invalid("body", e.to_string()))
}

fn check_queue(spec: Value) -> Result<QueueConfig, ApiError> {
    let q: QueueConfig = parse_spec(spec)?;
    let limits = [
        ("tier_rule_wait_second", q.tier_rule_wait_second),
        ("max_wait_time", q.max_wait_time),
        ("max_wait_time_with_no_agent", q.max_wait_time_with_no_agent),
        ("max_wait_time_with_no_agent_time_reached", q.max_wait_time_with_no_agent_time_reached),
        ("discard_abandoned_after", q.discard_abandoned_after),
        ("ring_progressively_delay", q.ring_progressively_delay),
        ("dissuade_max_wait_estimate", q.dissuade_max_wait_estimate),
    ];
    for (f, v) in limits {
        if v > 86_400 {
            return Err(ApiError::invalid(f, "0 to 86400 seconds"));
        }
    }
    if !(1..=600).contains(&q.agent_ring_timeout) {
        return Err(ApiError::invalid("agent_ring_timeout", "1 to 600 seconds"));
    }
    if q.skills.len() > 64 || q.skills.iter().any(|s| s.is_empty() || s.len() > 64) {
        return Err(ApiError::invalid("skills", "at most 64 skills of 1 to 64 characters"));
    }
    if q.moh.as_ref().is_some_and(|m| m.len() > 256) {
        return Err(ApiError::invalid("moh", "at most 256 characters"));
    }
    if q.announce.as_ref().is_some_and(|m| m.is_empty() || m.len() > 256) {
        return Err(ApiError::invalid("announce", "1 to 256 characters"));
    }
    if q.dissuade_prompt.as_ref().is_some_and(|m| m.is_empty() || m.len() > 256) {
        return Err(ApiError::invalid("dissuade_prompt", "1 to 256 characters"));
    }
    if q.announce_frequency > 3600 || (q.announce.is_some() && q.announce_frequency == 0) {
        return Err(ApiError::invalid("announce_frequency", "1 to 3600 seconds with an announce prompt"));
    }
    if let Some(t) = &q.record_template {
        if !valid_record_template(t) {
            return Err(ApiError::invalid(
                "record_template",
                "a file name ending in .wav, at most 200 characters of letters, digits, - _ . and the fields {call_id} (required), {queue}, {agent}, {caller}, {date}, {time}",
            ));
        }
    }
    if q.fallback.as_ref().is_some_and(|f| f.is_empty() || f.len() > 64 || !f.bytes().all(|b| b.is_ascii_alphanumeric() || b"+*#-_.".contains(&b))) {
        return Err(ApiError::invalid("fallback", "a number or extension: 1 to 64 of letters, digits, + * # - _ ."));
    }
    Ok(q)
}

/// A recording file name template: a plain file name (no path) once its
/// fields are filled in, which `{call_id}` makes unique.
fn valid_record_template(t: &str) -> bool {
    const FIELDS: [&str; 6] = ["{call_id}", "{queue}", "{agent}", "{caller}", "{date}", "{time}"];
    let mut rest = t.to_owned();
    for f in FIELDS {
        rest = rest.replace(f, "x");
    }
    t.len() <= 200
        && t.contains("{call_id}")
        && t.ends_with(".wav")
        && !t.starts_with('.')
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn check_agent(spec: Value) -> Result<AgentConfig, ApiError> {
    let a: AgentConfig = parse_spec(spec)?;
    if a.contact.is_empty() || a.contact.len() > 64 || !a.contact.bytes().all(|b| b.is_ascii_alphanumeric() || b"+*#-_.".contains(&b)) {
        return Err(ApiError::invalid("contact", "the agent's extension: 1 to 64 of letters, digits, + * # - _ ."));
    }
    for (f, v) in [("wrap_up_time", a.wrap_up_time), ("reject_delay_time", a.reject_delay_time), ("busy_delay_time", a.busy_delay_time), ("no_answer_delay_time", a.no_answer_delay_time)] {
        if v > 86_400 {
            return Err(ApiError::invalid(f, "0 to 86400 seconds"));
        }
    }
    if a.max_no_answer > 1000 {
        return Err(ApiError::invalid("max_no_answer", "0 to 1000"));
    }
    if a.skills.len() > 64 || a.skills.iter().any(|s| s.is_empty() || s.len() > 64) {
        return Err(ApiError::invalid("skills", "at most 64 skills of 1 to 64 characters"));
    }
    Ok(a)
}

fn check_tier(spec: Value) -> Result<Tier, ApiError> {
    let t: Tier = parse_spec(spec)?;
    if !matches!(t.state, callcenter::TierState::Ready | callcenter::TierState::Standby) {
        return Err(ApiError::invalid("state", "Ready or Standby"));
    }
    if t.level > 1000 || t.position > 100_000 {
        return Err(ApiError::invalid(if t.level > 1000 { "level" } else { "position" }, "level 0 to 1000, position 0 to 100000"));
    }
    Ok(t)
}

fn check_name_field(field: &str, v: &str) -> Result<(), ApiError> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"+*#-_.".contains(&b)) {
        return Err(ApiError::invalid(field, "1 to 64 of letters, digits, + * # - _ ."));
    }
    Ok(())
}

fn check_ivr(spec: Value) -> Result<callcenter::ivr::Menu, ApiError> {
    use callcenter::ivr::Target;
    let m: callcenter::ivr::Menu = parse_spec(spec)?;
    if m.prompt.is_empty() || m.prompt.len() > 256 {
        return Err(ApiError::invalid("prompt", "a prompt: tone:FREQ@ON/OFF, or an audio file (1 to 256 characters)"));
    }
    if m.invalid_prompt.as_ref().is_some_and(|p| p.is_empty() || p.len() > 256) {
        return Err(ApiError::invalid("invalid_prompt", "1 to 256 characters"));
    }
    if !(1..=60).contains(&m.timeout) || !(1..=30).contains(&m.inter_digit_timeout) {
        return Err(ApiError::invalid(if (1..=60).contains(&m.timeout) { "inter_digit_timeout" } else { "timeout" }, "timeout 1 to 60 s, inter_digit_timeout 1 to 30 s"));
    }
    if !(1..=16).contains(&m.max_digits) || m.retries > 10 {
        return Err(ApiError::invalid(if m.retries > 10 { "retries" } else { "max_digits" }, "max_digits 1 to 16, retries 0 to 10"));
    }
    if m.choices.is_empty() || m.choices.len() > 100 {
        return Err(ApiError::invalid("choices", "1 to 100 choices"));
    }
    for (k, t) in m.choices.iter().map(|(k, t)| (k.as_str(), t)).chain(m.on_failure.iter().map(|t| ("on_failure", t))) {
        if k != "on_failure" && (k.is_empty() || k.len() > m.max_digits as usize || !k.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')) {
            return Err(ApiError::invalid("choices", format!("{k:?}: 1 to max_digits of 0-9 * #")));
        }
        let field = if k == "on_failure" { "on_failure".to_owned() } else { format!("choices.{k}") };
        match t {
            Target::Extension(x) | Target::Queue(x) | Target::Ivr(x) => check_name_field(&field, x)?,
            Target::Hangup => {}
        }
    }
    Ok(m)
}

fn body_with_name(mut body: Map<String, Value>, name: &str) -> Value {
    body.insert("name".into(), Value::String(name.to_owned()));
    Value::Object(body)
}

fn name_of(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("name") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::invalid("name", "required: 1 to 64 characters")),
    }
}

/// Create a queue (fields of mod_callcenter's queue parameters; see `QueueConfig`).
#[utoipa::path(post, path = "/v1/queues", request_body = Object,
    responses((status = 201, body = ConfigView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_queue(State(st): State<ApiState>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let name = name_of(&body)?;
    let q = check_queue(Value::Object(body))?;
    let row = st.store.create_config(ConfigKind::Queue, &name, 0, &to_value(&q)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(view(row))).into_response())
}

/// Queues, by name.
#[utoipa::path(get, path = "/v1/queues", params(Paging), responses((status = 200, body = ConfigPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_queues(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<ConfigPage>, ApiError> {
    list(st, p, ConfigKind::Queue).await
}

async fn list(st: ApiState, p: Result<Query<Paging>, QueryRejection>, kind: ConfigKind) -> Result<Json<ConfigPage>, ApiError> {
    let Query(p) = p?;
    let mut all: Vec<ConfigView> = st.store.list_configs(kind).await?.into_iter().map(view).collect();
    if kind == ConfigKind::Agent {
        let live = live_agents(&st).await?;
        for a in all.iter_mut() {
            a.live = live.get(&a.name).cloned();
        }
    }
    let (items, next_cursor) = crate::live::page(all, &p, |v| v.name.clone())?;
    Ok(Json(ConfigPage { items, next_cursor }))
}

async fn live_agents(st: &ApiState) -> Result<std::collections::HashMap<String, Value>, ApiError> {
    let v = st.control.callcenter(CcRequest::Agents).await?;
    let mut out = std::collections::HashMap::new();
    if let Value::Array(items) = v {
        for mut a in items {
            let Some(name) = a.get("name").and_then(Value::as_str).map(str::to_owned) else { continue };
            if let Some(o) = a.as_object_mut() {
                // Configuration is in `spec`; keep only the live part here.
                for k in ["name", "type", "contact", "max_no_answer", "wrap_up_time", "reject_delay_time", "busy_delay_time", "no_answer_delay_time", "skills"] {
                    o.remove(k);
                }
            }
            out.insert(name, a);
        }
    }
    Ok(out)
}

async fn get_one(st: &ApiState, kind: ConfigKind, name: &str, what: &str) -> Result<ConfigView, ApiError> {
    let row = st.store.get_config(kind, name).await?.ok_or_else(|| ApiError::not_found(what))?;
    let mut v = view(row);
    if kind == ConfigKind::Agent {
        v.live = live_agents(st).await?.remove(name);
    }
    Ok(v)
}

/// One queue.
#[utoipa::path(get, path = "/v1/queues/{name}", params(("name" = String, Path)), responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_queue(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    Ok(Json(get_one(&st, ConfigKind::Queue, &name, "queue").await?))
}

async fn patch(st: ApiState, kind: ConfigKind, name: &str, what: &str, patch: Map<String, Value>) -> Result<ConfigView, ApiError> {
    let row = st.store.get_config(kind, name).await?.ok_or_else(|| ApiError::not_found(what))?;
    let mut spec = row.spec;
    merge(&mut spec, Value::Object(patch));
    let spec = match kind {
        ConfigKind::Queue => {
            let mut q = check_queue(spec)?;
            q.name = name.to_owned();
            to_value(&q)?
        }
        ConfigKind::Agent => {
            let mut a = check_agent(spec)?;
            a.name = name.to_owned();
            to_value(&a)?
        }
        ConfigKind::Ivr => {
            let mut m = check_ivr(spec)?;
            m.name = name.to_owned();
            to_value(&m)?
        }
        _ => {
            let mut t = check_tier(spec)?;
            let (q, a) = name.split_once('/').unwrap_or((name, ""));
            (t.queue, t.agent) = (q.to_owned(), a.to_owned());
            to_value(&t)?
        }
    };
    let row = st.store.replace_config(kind, name, 0, &spec, (st.now_ms)()).await?.ok_or_else(|| ApiError::not_found(what))?;
    st.control.directory_changed().await;
    Ok(view(row))
}

/// Change a queue (JSON merge patch); waiting callers keep their place.
#[utoipa::path(patch, path = "/v1/queues/{name}", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_queue(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    let Json(body) = body?;
    Ok(Json(patch(st, ConfigKind::Queue, &name, "queue", body).await?))
}

async fn remove(st: ApiState, kind: ConfigKind, name: &str, what: &str) -> Result<StatusCode, ApiError> {
    if !st.store.delete_config(kind, name).await? {
        return Err(ApiError::not_found(what));
    }
    if matches!(kind, ConfigKind::Queue | ConfigKind::Agent) {
        // A queue's or agent's tiers go with it.
        let prefix_q = format!("{name}/");
        let suffix_a = format!("/{name}");
        for t in st.store.list_configs(ConfigKind::Tier).await? {
            let hit = if kind == ConfigKind::Queue { t.name.starts_with(&prefix_q) } else { t.name.ends_with(&suffix_a) };
            if hit {
                st.store.delete_config(ConfigKind::Tier, &t.name).await?;
            }
        }
    }
    st.control.directory_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a queue (its waiting callers go to its fallback or are hung up; its tiers go).
#[utoipa::path(delete, path = "/v1/queues/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_queue(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    remove(st, ConfigKind::Queue, &name, "queue").await
}

/// A queue's live statistics: waiting members, longest wait, agents by
/// status, answered/abandoned counts, service level.
#[utoipa::path(get, path = "/v1/queues/{name}/stats", params(("name" = String, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn queue_stats(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<Value>, ApiError> {
    let Path(name) = name?;
    Ok(Json(st.control.callcenter(CcRequest::Stats(name)).await?))
}

/// A queue's waiting callers in service order.
#[utoipa::path(get, path = "/v1/queues/{name}/members", params(("name" = String, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn queue_members(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<Value>, ApiError> {
    let Path(name) = name?;
    let items = st.control.callcenter(CcRequest::Members(name)).await?;
    Ok(Json(serde_json::json!({ "items": items, "next_cursor": null })))
}

/// Create an agent (starts Logged Out).
#[utoipa::path(post, path = "/v1/agents", request_body = Object,
    responses((status = 201, body = ConfigView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_agent(State(st): State<ApiState>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let name = name_of(&body)?;
    let a = check_agent(body_with_name(body, &name))?;
    let row = st.store.create_config(ConfigKind::Agent, &name, 0, &to_value(&a)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(view(row))).into_response())
}

/// Agents with their live status, state and counters.
#[utoipa::path(get, path = "/v1/agents", params(Paging), responses((status = 200, body = ConfigPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_agents(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<ConfigPage>, ApiError> {
    list(st, p, ConfigKind::Agent).await
}

/// One agent.
#[utoipa::path(get, path = "/v1/agents/{name}", params(("name" = String, Path)), responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_agent(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    Ok(Json(get_one(&st, ConfigKind::Agent, &name, "agent").await?))
}

/// Change an agent (JSON merge patch); status and counters are kept.
#[utoipa::path(patch, path = "/v1/agents/{name}", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_agent(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    let Json(body) = body?;
    Ok(Json(patch(st, ConfigKind::Agent, &name, "agent", body).await?))
}

/// Delete an agent (and its tiers).
#[utoipa::path(delete, path = "/v1/agents/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_agent(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    remove(st, ConfigKind::Agent, &name, "agent").await
}

/// Agent actions: `login` (Available), `logout` (Logged Out), `ready`
/// (Available and Waiting: also after an On Demand call), `break` (On
/// Break). Returns the agent's live view.
#[utoipa::path(post, path = "/v1/agents/{name}/{action}", params(("name" = String, Path), ("action" = String, Path, description = "login, logout, ready or break")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody)))]
pub async fn agent_action(State(st): State<ApiState>, p: Result<Path<(String, String)>, PathRejection>) -> Result<Json<Value>, ApiError> {
    let Path((name, action)) = p?;
    let action = match action.as_str() {
        "login" => AgentAction::Login,
        "logout" => AgentAction::Logout,
        "ready" => AgentAction::Ready,
        "break" => AgentAction::Break,
        _ => return Err(ApiError::not_found("agent action (login, logout, ready, break)")),
    };
    if st.store.get_config(ConfigKind::Agent, &name).await?.is_none() {
        return Err(ApiError::not_found("agent"));
    }
    Ok(Json(st.control.callcenter(CcRequest::AgentAction(name, action)).await?))
}

/// Create an IVR menu: a prompt, digits collected with timeouts and
/// retries, each choice going to an extension, a queue, another menu or a
/// hang-up. Routes reach it with `{"action": {"ivr": NAME}}`.
#[utoipa::path(post, path = "/v1/ivrs", request_body = Object,
    responses((status = 201, body = ConfigView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_ivr(State(st): State<ApiState>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let name = name_of(&body)?;
    let m = check_ivr(Value::Object(body))?;
    let row = st.store.create_config(ConfigKind::Ivr, &name, 0, &to_value(&m)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(view(row))).into_response())
}

/// IVR menus, by name.
#[utoipa::path(get, path = "/v1/ivrs", params(Paging), responses((status = 200, body = ConfigPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_ivrs(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<ConfigPage>, ApiError> {
    list(st, p, ConfigKind::Ivr).await
}

/// One IVR menu.
#[utoipa::path(get, path = "/v1/ivrs/{name}", params(("name" = String, Path)), responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_ivr(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    Ok(Json(get_one(&st, ConfigKind::Ivr, &name, "IVR menu").await?))
}

/// Change an IVR menu (JSON merge patch).
#[utoipa::path(patch, path = "/v1/ivrs/{name}", params(("name" = String, Path)), request_body = Object,
    responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_ivr(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path(name) = name?;
    let Json(body) = body?;
    Ok(Json(patch(st, ConfigKind::Ivr, &name, "IVR menu", body).await?))
}

/// Delete an IVR menu.
#[utoipa::path(delete, path = "/v1/ivrs/{name}", params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_ivr(State(st): State<ApiState>, name: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    remove(st, ConfigKind::Ivr, &name, "IVR menu").await
}

/// Put an agent in a queue.
#[utoipa::path(post, path = "/v1/tiers", request_body = Object,
    responses((status = 201, body = ConfigView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create_tier(State(st): State<ApiState>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let t = check_tier(Value::Object(body))?;
    if st.store.get_config(ConfigKind::Queue, &t.queue).await?.is_none() {
        return Err(ApiError::invalid("queue", "no such queue"));
    }
    if st.store.get_config(ConfigKind::Agent, &t.agent).await?.is_none() {
        return Err(ApiError::invalid("agent", "no such agent"));
    }
    let name = format!("{}/{}", t.queue, t.agent);
    let row = st.store.create_config(ConfigKind::Tier, &name, 0, &to_value(&t)?, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(view(row))).into_response())
}

/// Tiers, by queue then agent.
#[utoipa::path(get, path = "/v1/tiers", params(Paging), responses((status = 200, body = ConfigPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_tiers(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<ConfigPage>, ApiError> {
    list(st, p, ConfigKind::Tier).await
}

/// One tier.
#[utoipa::path(get, path = "/v1/tiers/{queue}/{agent}", params(("queue" = String, Path), ("agent" = String, Path)), responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_tier(State(st): State<ApiState>, p: Result<Path<(String, String)>, PathRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path((q, a)) = p?;
    Ok(Json(get_one(&st, ConfigKind::Tier, &format!("{q}/{a}"), "tier").await?))
}

/// Change a tier's level, position or state (JSON merge patch).
#[utoipa::path(patch, path = "/v1/tiers/{queue}/{agent}", params(("queue" = String, Path), ("agent" = String, Path)), request_body = Object,
    responses((status = 200, body = ConfigView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch_tier(State(st): State<ApiState>, p: Result<Path<(String, String)>, PathRejection>, body: Result<Json<Map<String, Value>>, JsonRejection>) -> Result<Json<ConfigView>, ApiError> {
    let Path((q, a)) = p?;
    let Json(body) = body?;
    Ok(Json(patch(st, ConfigKind::Tier, &format!("{q}/{a}"), "tier", body).await?))
}

/// Take an agent out of a queue.
#[utoipa::path(delete, path = "/v1/tiers/{queue}/{agent}", params(("queue" = String, Path), ("agent" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_tier(State(st): State<ApiState>, p: Result<Path<(String, String)>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path((q, a)) = p?;
    remove(st, ConfigKind::Tier, &format!("{q}/{a}"), "tier").await
}

#[cfg(test)]
mod tests {
    use super::valid_record_template;

    #[test]
    fn record_templates() {
        assert!(valid_record_template("{queue}-{date}_{time}-{agent}-{caller}-{call_id}.wav"));
        assert!(valid_record_template("{call_id}.wav"));
        assert!(!valid_record_template("{queue}.wav"), "{{call_id}} keeps names unique");
        assert!(!valid_record_template("{call_id}.mp3"));
        assert!(!valid_record_template("../{call_id}.wav"));
        assert!(!valid_record_template("a/{call_id}.wav"));
        assert!(!valid_record_template(".{call_id}.wav"));
        assert!(!valid_record_template("{uuid}-{call_id}.wav"), "unknown field");
        assert!(!valid_record_template(&format!("{}{{call_id}}.wav", "a".repeat(200))));
    }
}
