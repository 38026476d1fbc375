//! Live calls (`/v1/calls`) and call detail records (`/v1/cdrs`).

use crate::{ApiError, ApiState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

/// A live call.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CallView {
    /// Call UUID.
    pub id: String,
    /// Calling extension.
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// trying, ringing, answered, ending.
    pub state: String,
    /// Start, unix ms.
    pub start_ms: u64,
    /// Answer, unix ms.
    pub answer_ms: Option<u64>,
}

/// `POST /v1/calls`: click-to-call. The switch rings the caller first
/// (an extension's phones, or a number through a gateway) and, when the
/// caller answers, dials the callee and bridges them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginateRequest {
    /// Who is rung first: an extension (the agent) or an external number.
    pub caller: String,
    /// Who is dialled once the caller answered: an extension or a number.
    pub callee: String,
    /// Gateways to reach an external number through, in failover order
    /// (default: the route table).
    #[serde(default)]
    pub gateways: Option<Vec<String>>,
    /// Caller number the callee sees (default: the caller).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Record the call (stereo WAV: caller left, callee right; relayed media).
    #[serde(default)]
    pub record: Option<bool>,
    /// Opaque data echoed byte for byte in the call's webhook.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub ext_data: Option<Box<serde_json::value::RawValue>>,
    /// Where to POST this call's CDR (default: `webhooks.url`).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// The call just started.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Originated {
    /// Call UUID (`GET /v1/calls/{id}`, `GET /v1/cdrs/{id}` once it ended).
    pub id: String,
}

fn is_party(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*' | b'#' | b'.' | b'-' | b'_'))
}

/// Click-to-call: returns the call's UUID at once; the call goes on.
#[utoipa::path(post, path = "/v1/calls", request_body = OriginateRequest,
    responses((status = 201, body = Originated), (status = 422, body = crate::error::ErrorBody), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "no extension or route for the caller or callee"),
              (status = 409, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn originate(State(st): State<ApiState>, body: Result<Json<OriginateRequest>, axum::extract::rejection::JsonRejection>) -> Result<(StatusCode, Json<Originated>), ApiError> {
    let Json(req) = body?;
    if !is_party(&req.caller) {
        return Err(ApiError::invalid("caller", "an extension or a number (up to 32 characters)"));
    }
    if !is_party(&req.callee) {
        return Err(ApiError::invalid("callee", "an extension or a number (up to 32 characters)"));
    }
    if let Some(g) = &req.gateways {
        if g.is_empty() || g.len() > 16 || g.iter().any(|n| n.is_empty() || n.len() > 64) {
            return Err(ApiError::invalid("gateways", "1 to 16 gateway names"));
        }
    }
    if let Some(c) = &req.caller_id {
        if c.is_empty() || c.len() > 32 || !c.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*' | b'#')) {
            return Err(ApiError::invalid("caller_id", "digits, + * # (up to 32)"));
        }
    }
    if req.ext_data.as_ref().is_some_and(|e| e.get().len() > 16 * 1024) {
        return Err(ApiError::invalid("ext_data", "at most 16 KiB of JSON"));
    }
    if let Some(u) = &req.webhook_url {
        let ok = u.len() <= 2048 && (u.starts_with("http://") || u.starts_with("https://")) && u.len() > 8 && !u.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
        if !ok {
            return Err(ApiError::invalid("webhook_url", "an http:// or https:// URL"));
        }
    }
    if st.control.draining() {
        return Err(ApiError::status(503, "draining", "the switch is shutting down"));
    }
    let id = st.control.originate(req).await?;
    Ok((StatusCode::CREATED, Json(Originated { id })))
}

/// Live calls.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallPage {
    /// Items, oldest first.
    pub items: Vec<CallView>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// A CDR page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CdrPage {
    /// Items, newest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<store::Cdr>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/cdrs`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CdrQuery {
    /// Calls started at or after (unix ms).
    pub from: Option<i64>,
    /// Calls started before (unix ms).
    pub to: Option<i64>,
    /// Caller or callee.
    pub extension: Option<String>,
    /// answered, busy, no_answer, cancelled, declined, failed, interrupted.
    pub disposition: Option<String>,
    /// Calls through this queue.
    pub queue: Option<String>,
    /// Items per page (1–1000, default 100).
    pub limit: Option<u32>,
    /// Cursor from `next_cursor`.
    pub cursor: Option<String>,
}

/// Live calls.
#[utoipa::path(get, path = "/v1/calls", params(crate::Paging), responses((status = 200, body = CallPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(State(st): State<ApiState>, p: Result<Query<crate::Paging>, QueryRejection>) -> Result<Json<CallPage>, ApiError> {
    let Query(p) = p?;
    let mut all = st.control.calls().await;
    all.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
    let (items, next_cursor) = crate::live::page(all, &p, |c| format!("{:020}.{}", c.start_ms, c.id))?;
    Ok(Json(CallPage { items, next_cursor }))
}

/// One live call.
#[utoipa::path(get, path = "/v1/calls/{id}", params(("id" = String, Path)), responses((status = 200, body = CallView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_one(State(st): State<ApiState>, Path(id): Path<String>) -> Result<Json<CallView>, ApiError> {
    st.control.calls().await.into_iter().find(|c| c.id == id).map(Json).ok_or_else(|| ApiError::not_found("call"))
}

/// Hang a live call up.
#[utoipa::path(delete, path = "/v1/calls/{id}", params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn hangup(State(st): State<ApiState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if st.control.hangup(id).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("call"))
    }
}

const DISPOSITIONS: [&str; 7] = ["answered", "busy", "no_answer", "cancelled", "declined", "failed", "interrupted"];

/// Call detail records, newest first.
#[utoipa::path(get, path = "/v1/cdrs", params(CdrQuery), responses((status = 200, body = CdrPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn cdrs(State(st): State<ApiState>, q: Result<Query<CdrQuery>, QueryRejection>) -> Result<Json<CdrPage>, ApiError> {
    let Query(q) = q?;
    let limit = crate::Paging { limit: q.limit, cursor: None }.limit()?;
    if let Some(d) = &q.disposition {
        if !DISPOSITIONS.contains(&d.as_str()) {
            return Err(ApiError::invalid("disposition", format!("one of {}", DISPOSITIONS.join(", "))));
        }
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let (s, id) = c.split_once('.').ok_or_else(|| ApiError::invalid("cursor", "not a cursor from this API"))?;
            Some((s.parse::<i64>().map_err(|_| ApiError::invalid("cursor", "not a cursor from this API"))?, id.to_owned()))
        }
    };
    let filter = store::CdrFilter { from_ms: q.from, to_ms: q.to, extension: q.extension, disposition: q.disposition, queue: q.queue, after };
    let mut rows = st.store.list_cdrs(&filter, limit + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|c| format!("{}.{}", c.start_ms, c.id))
    } else {
        None
    };
    Ok(Json(CdrPage { items: rows, next_cursor }))
}

/// One CDR.
#[utoipa::path(get, path = "/v1/cdrs/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn cdr(State(st): State<ApiState>, Path(id): Path<String>) -> Result<Json<CdrWithDeliveries>, ApiError> {
    let cdr = st.store.get_cdr(&id).await?.ok_or_else(|| ApiError::not_found("cdr"))?;
    let webhooks = st.store.webhooks_of(&id).await?;
    Ok(Json(CdrWithDeliveries { cdr, webhooks }))
}

/// A CDR with the state of its webhook deliveries.
#[derive(Serialize)]
pub struct CdrWithDeliveries {
    /// The record.
    #[serde(flatten)]
    pub cdr: store::Cdr,
    /// Its webhook deliveries (pending, delivered or failed), oldest first.
    pub webhooks: Vec<store::WebhookState>,
}

/// The byte range `Range: bytes=...` asks of a file of `len` bytes (RFC
/// 9110 §14.1.2: one range; `a-b`, `a-` or `-n`), as (start, end
/// inclusive). `Ok(None)`: no usable Range header (the whole file);
/// `Err(())`: a range that cannot be satisfied (416).
#[allow(clippy::result_unit_err)]
pub fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        // Several ranges: served whole, as RFC 9110 allows.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() { len.saturating_sub(1) } else { b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)) };
        if start >= len || end < start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// A call recording (stereo WAV, 8 kHz, 16-bit: caller left, callee
/// right), by the file name its CDR and webhook give. Byte ranges are
/// served (`Range: bytes=...`, 206), so players can seek.
#[utoipa::path(get, path = "/v1/recordings/{file}", params(("file" = String, Path, description = "`<call uuid>.wav` (`.opus` with `recordings.format = \"opus\"`), or the name a queue's `record_template` gave")),
    responses((status = 200, content_type = "audio/wav", description = "the WAV file (audio/ogg for an Opus one)"), (status = 206, content_type = "audio/wav", description = "the requested byte range"),
        (status = 404, body = crate::error::ErrorBody), (status = 416, description = "the range is outside the file")))]
pub async fn recording(State(st): State<ApiState>, Path(file): Path<String>, headers: axum::http::HeaderMap) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    // Only names the switch writes: `<uuid>.wav` (or `.opus` with
    // recordings.format = "opus"), or a queue's record_template filled
    // in; a plain file name, never a path.
    let kind = if file.ends_with(".wav") {
        "audio/wav"
    } else if file.ends_with(".opus") {
        "audio/ogg"
    } else {
        ""
    };
    let ok = file.len() <= 255 && !kind.is_empty() && !file.starts_with('.') && file.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    if !ok {
        return Err(ApiError::not_found("recording"));
    }
    let mut f = tokio::fs::File::open(st.recordings_dir.join(&file)).await.map_err(|_| ApiError::not_found("recording"))?;
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    use axum::http::header;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match byte_range(range, len) {
        Ok(None) => {
            let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(f));
            Ok(([(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_LENGTH, len.to_string()), (header::ACCEPT_RANGES, "bytes".to_owned())], body).into_response())
        }
        Ok(Some((start, end))) => {
            f.seek(std::io::SeekFrom::Start(start)).await.map_err(|_| ApiError::not_found("recording"))?;
            let n = end - start + 1;
            let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(f.take(n)));
            Ok((
                StatusCode::PARTIAL_CONTENT,
                [(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_LENGTH, n.to_string()), (header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")), (header::ACCEPT_RANGES, "bytes".to_owned())],
                body,
            )
                .into_response())
        }
        Err(()) => Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{len}"))]).into_response()),
    }
}

#[cfg(test)]
mod range_tests {
    use super::byte_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-43"), 100), Ok(Some((0, 43))));
        assert_eq!(byte_range(Some("bytes=44-"), 100), Ok(Some((44, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-1000"), 100), Ok(Some((0, 99))));
        assert_eq!(byte_range(Some("bytes=90-1000"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None), "several ranges: the whole file");
        assert_eq!(byte_range(Some("items=0-1"), 100), Ok(None));
        for bad in ["bytes=100-", "bytes=5-4", "bytes=-0", "bytes=x-", "bytes=", "bytes=1-x"] {
            assert_eq!(byte_range(Some(bad), 100), Err(()), "{bad}");
        }
        assert_eq!(byte_range(Some("bytes=0-"), 0), Err(()), "an empty file has no byte 0");
    }
}
