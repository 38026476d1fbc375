//! `/v1/extensions`: the directory. Passwords go in (or are generated and
//! shown once, at creation or reset) and are kept only as HA1 values.

use crate::{ApiError, ApiState, Paging};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sip_proto::digest::{ha1, Algorithm};

/// An extension as the API shows it (never its credentials).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    /// Number: SIP user and digest username.
    pub number: String,
    /// Display name.
    pub display_name: String,
    /// Disabled extensions cannot register or call.
    pub enabled: bool,
    /// Caller-ID name for outbound calls.
    pub caller_id_name: String,
    /// Caller-ID number for outbound calls.
    pub caller_id_number: String,
    /// Codec preference, best first (empty: the switch's default).
    pub codecs: Vec<String>,
    /// Concurrent call limit (0: unlimited).
    pub max_calls: u32,
    /// Record this extension's calls.
    pub record: bool,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    pub tags: serde_json::Value,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last change, unix ms.
    pub updated_at_ms: i64,
}

impl From<store::Extension> for ExtensionView {
    fn from(e: store::Extension) -> Self {
        ExtensionView {
            number: e.number,
            display_name: e.display_name,
            enabled: e.enabled,
            caller_id_name: e.caller_id_name,
            caller_id_number: e.caller_id_number,
            codecs: e.codecs,
            max_calls: e.max_calls,
            record: e.record,
            tags: e.tags,
            created_at_ms: e.created_at_ms,
            updated_at_ms: e.updated_at_ms,
        }
    }
}

/// The created extension and its password, shown only this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExtensionCreated {
    /// The extension.
    pub extension: ExtensionView,
    /// The SIP password (generated when none was given). Not retrievable later.
    pub password: String,
}

/// Body of `POST /v1/extensions`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExtensionRequest {
    /// Number (1–32 of letters, digits, `.`, `-`, `_`).
    pub number: String,
    /// Password (8–128 characters); generated when absent.
    pub password: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// Caller-ID name.
    #[serde(default)]
    pub caller_id_name: String,
    /// Caller-ID number.
    #[serde(default)]
    pub caller_id_number: String,
    /// Codec preference.
    #[serde(default)]
    pub codecs: Vec<String>,
    /// Concurrent call limit (0: unlimited).
    #[serde(default)]
    pub max_calls: u32,
    /// Record calls.
    #[serde(default)]
    pub record: bool,
    /// Free-form JSON object.
    #[schema(value_type = Option<Object>)]
    pub tags: Option<serde_json::Value>,
}

/// Body of `PATCH /v1/extensions/{number}`: only the fields given change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchExtensionRequest {
    /// New password (8–128 characters).
    pub password: Option<String>,
    /// Generate a new password and return it once.
    pub reset_password: Option<bool>,
    /// Display name.
    pub display_name: Option<String>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// Caller-ID name.
    pub caller_id_name: Option<String>,
    /// Caller-ID number.
    pub caller_id_number: Option<String>,
    /// Codec preference (replaces the list).
    pub codecs: Option<Vec<String>>,
    /// Concurrent call limit.
    pub max_calls: Option<u32>,
    /// Record calls.
    pub record: Option<bool>,
    /// Tags (replaces the object).
    #[schema(value_type = Option<Object>)]
    pub tags: Option<serde_json::Value>,
}

/// A page of extensions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExtensionPage {
    /// Items.
    pub items: Vec<ExtensionView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Generate a random password: 16 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    use std::io::Read;
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    if !ok {
        // Never expected on Linux; refuse to hand out a weak password.
        return String::new();
    }
    b.iter().map(|x| A[*x as usize % A.len()] as char).collect()
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if !(8..=128).contains(&p.chars().count()) {
        return Err(ApiError::invalid("password", "must be 8 to 128 characters"));
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid("password", "must not contain control characters"));
    }
    Ok(())
}

fn check_tags(t: &serde_json::Value) -> Result<(), ApiError> {
    if !t.is_object() {
        return Err(ApiError::invalid("tags", "must be a JSON object"));
    }
    Ok(())
}

fn credentials(number: &str, realm: &str, password: &str) -> (String, String, String) {
    (ha1(Algorithm::Md5, number, realm, password), ha1(Algorithm::Sha256, number, realm, password), realm.to_owned())
}

fn fresh_password() -> Result<String, ApiError> {
    let p = generate_password();
    if p.is_empty() {
        return Err(ApiError::internal("no randomness available"));
    }
    Ok(p)
}

/// Create an extension.
#[utoipa::path(post, path = "/v1/extensions", request_body = NewExtensionRequest,
    responses((status = 201, body = ExtensionCreated), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn create(State(st): State<ApiState>, body: Result<Json<NewExtensionRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let password = match req.password {
        Some(p) => {
            check_password(&p)?;
            p
        }
        None => fresh_password()?,
    };
    let tags = req.tags.unwrap_or_else(|| serde_json::json!({}));
    check_tags(&tags)?;
    let (md5, sha, realm) = credentials(&req.number, &st.realm, &password);
    let mut new = store::NewExtension::new(req.number, md5, sha, realm);
    new.display_name = req.display_name;
    new.enabled = req.enabled.unwrap_or(true);
    new.caller_id_name = req.caller_id_name;
    new.caller_id_number = req.caller_id_number;
    new.codecs = req.codecs;
    new.max_calls = req.max_calls;
    new.record = req.record;
    new.tags = tags;
    let e = st.store.create_extension(&new, (st.now_ms)()).await?;
    st.control.directory_changed().await;
    Ok((StatusCode::CREATED, Json(ExtensionCreated { extension: e.into(), password })).into_response())
}

/// List extensions, ordered by number.
#[utoipa::path(get, path = "/v1/extensions", params(Paging), responses((status = 200, body = ExtensionPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<ExtensionPage>, ApiError> {
    let Query(p) = p?;
    let limit = p.limit()?;
    let mut rows = st.store.list_extensions(limit + 1, p.cursor.as_deref()).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.number.clone())
    } else {
        None
    };
    Ok(Json(ExtensionPage { items: rows.into_iter().map(Into::into).collect(), next_cursor: next }))
}

/// One extension.
#[utoipa::path(get, path = "/v1/extensions/{number}", params(("number" = String, Path)), responses((status = 200, body = ExtensionView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_one(State(st): State<ApiState>, number: Result<Path<String>, PathRejection>) -> Result<Json<ExtensionView>, ApiError> {
    let Path(number) = number?;
    st.store.get_extension(&number).await?.map(|e| Json(e.into())).ok_or_else(|| ApiError::not_found("extension"))
}

/// Change an extension. With `password` or `reset_password`, the response
/// carries the new password once.
#[utoipa::path(patch, path = "/v1/extensions/{number}", params(("number" = String, Path)), request_body = PatchExtensionRequest,
    responses((status = 200, body = ExtensionCreated), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn patch(State(st): State<ApiState>, number: Result<Path<String>, PathRejection>, body: Result<Json<PatchExtensionRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let Path(number) = number?;
    let Json(req) = body?;
    let password = match (req.password, req.reset_password.unwrap_or(false)) {
        (Some(_), true) => return Err(ApiError::invalid("reset_password", "give either password or reset_password")),
        (Some(p), false) => {
            check_password(&p)?;
            Some(p)
        }
        (None, true) => Some(fresh_password()?),
        (None, false) => None,
    };
    if let Some(t) = &req.tags {
        check_tags(t)?;
    }
    let patch = store::ExtensionPatch {
        display_name: req.display_name,
        enabled: req.enabled,
        caller_id_name: req.caller_id_name,
        caller_id_number: req.caller_id_number,
        codecs: req.codecs,
        max_calls: req.max_calls,
        record: req.record,
        tags: req.tags,
        credentials: password.as_deref().map(|p| credentials(&number, &st.realm, p)),
    };
    let e = st.store.update_extension(&number, &patch, (st.now_ms)()).await?.ok_or_else(|| ApiError::not_found("extension"))?;
    st.control.directory_changed().await;
    Ok(Json(ExtensionCreated { extension: e.into(), password: password.unwrap_or_default() }).into_response())
}

/// Delete an extension (and its registrations).
#[utoipa::path(delete, path = "/v1/extensions/{number}", params(("number" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove(State(st): State<ApiState>, number: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(number) = number?;
    if st.store.delete_extension(&number).await? {
        st.control.directory_changed().await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("extension"))
    }
}
