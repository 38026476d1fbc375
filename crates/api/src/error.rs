//! Errors as the API returns them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// `{"error": {...}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`not_found`, `invalid`, `conflict`, `unauthorized`, `bad_json`, `internal`).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: format!("no such {what}"), field: None }
    }
    /// 422 naming the field.
    pub fn invalid(field: &str, why: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid", message: format!("{field}: {}", why.into()), field: Some(field.into()) }
    }
    /// 409.
    pub fn conflict(what: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, code: "conflict", message: what.into(), field: None }
    }
    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, code: "unauthorized", message: "missing or wrong bearer token".into(), field: None }
    }
    /// 400 for unparseable JSON.
    pub fn bad_json(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_json", message: msg.into(), field: None }
    }
    /// Any status with a code and message (the switch refusing an action).
    pub fn status(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), code, message: message.into(), field: None }
    }
    /// 500.
    pub fn internal(msg: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %msg, "API internal error");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: "internal error".into(), field: None }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        if e.fault() == store::Fault::Environment {
            tracing::error!(error = %e, "store unavailable");
            return ApiError { status: StatusCode::SERVICE_UNAVAILABLE, code: e.code(), message: "storage unavailable".into(), field: None };
        }
        match e.code() {
            "not_found" => ApiError::not_found("resource"),
            "conflict" => ApiError::conflict(e.to_string()),
            "invalid" => ApiError::invalid(e.field().unwrap_or("body"), e.to_string()),
            _ => ApiError::internal(e),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> ApiError {
        use axum::extract::rejection::JsonRejection as J;
        match &r {
            J::JsonDataError(_) => {
                ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid", message: r.body_text(), field: field_of(&r.body_text()) }
            }
            J::MissingJsonContentType(_) => ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "bad_json",
                message: "expected Content-Type: application/json".into(),
                field: None,
            },
            _ => ApiError { status: r.status(), ..ApiError::bad_json(r.body_text()) },
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> ApiError {
        let text = r.body_text();
        let field = text.split("query string: ").nth(1).and_then(|rest| rest.split(':').next()).map(|f| f.trim().to_owned());
        match field {
            Some(f) if !f.is_empty() && !f.contains(' ') => ApiError::invalid(&f, text),
            _ => ApiError { status: StatusCode::BAD_REQUEST, code: "invalid", message: text, field: None },
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "invalid", message: r.body_text(), field: None }
    }
}

impl ApiError {
    /// 405.
    pub fn method_not_allowed() -> ApiError {
        ApiError { status: StatusCode::METHOD_NOT_ALLOWED, code: "method_not_allowed", message: "method not allowed on this path".into(), field: None }
    }
}

/// serde messages name the field as "... field `x` ..." or "x: ...".
fn field_of(msg: &str) -> Option<String> {
    if let Some(i) = msg.find("field `") {
        let rest = &msg[i + 7..];
        return rest.find('`').map(|j| rest[..j].to_owned());
    }
    let body = msg.split_once(": ").map(|(_, b)| b).unwrap_or(msg);
    body.split_once(": ").map(|(f, _)| f.trim().to_owned()).filter(|f| !f.contains(' ') && !f.is_empty())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: ErrorDetail { code: self.code, message: self.message, field: self.field } })).into_response()
    }
}
