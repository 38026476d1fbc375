//! Live state of the running switch: registrations and banned sources.

use crate::{ApiError, ApiState, Paging};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

/// An online registration.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RegistrationView {
    /// Extension number.
    pub extension: String,
    /// Registered Contact URI.
    pub contact: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// Where the phone sends from (`ip:port`), which may differ from the Contact behind NAT.
    pub source: String,
    /// User-Agent of the phone.
    pub user_agent: Option<String>,
    /// Seconds until the binding expires.
    pub expires_in: u64,
    /// Expiry, unix ms.
    pub expires_at_ms: u64,
}

/// A page of registrations.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationPage {
    /// Items, ordered by extension then contact.
    pub items: Vec<RegistrationView>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// A source blocked after failed authentications.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BlockView {
    /// The address.
    pub ip: String,
    /// Seconds until the block lifts.
    pub expires_in: u64,
    /// Failures that led to it.
    pub failures: u32,
}

/// A page of blocks.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockPage {
    /// Items, ordered by address.
    pub items: Vec<BlockView>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

pub(crate) fn page<T, K: Fn(&T) -> String>(mut all: Vec<T>, p: &Paging, key: K) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = p.limit()? as usize;
    // Keyset paging needs the items in cursor order, whatever order they came in.
    all.sort_by_cached_key(|x| key(x));
    let mut items: Vec<T> = all.into_iter().filter(|x| p.cursor.as_ref().is_none_or(|c| key(x) > *c)).collect();
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&key)
    } else {
        None
    };
    Ok((items, next))
}

/// Online registrations.
#[utoipa::path(get, path = "/v1/registrations", params(Paging), responses((status = 200, body = RegistrationPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn registrations(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<RegistrationPage>, ApiError> {
    let Query(p) = p?;
    let all = st.control.registrations().await;
    let (items, next_cursor) = page(all, &p, |r| format!("{}\u{1}{}", r.extension, r.contact))?;
    Ok(Json(RegistrationPage { items, next_cursor }))
}

/// Sources blocked for failed authentications.
#[utoipa::path(get, path = "/v1/security/blocks", params(Paging), responses((status = 200, body = BlockPage), (status = 422, body = crate::error::ErrorBody)))]
pub async fn blocks(State(st): State<ApiState>, p: Result<Query<Paging>, QueryRejection>) -> Result<Json<BlockPage>, ApiError> {
    let Query(p) = p?;
    let all = st.control.blocks().await;
    let (items, next_cursor) = page(all, &p, |b| ip_key(&b.ip))?;
    Ok(Json(BlockPage { items, next_cursor }))
}

/// Lift a block.
#[utoipa::path(delete, path = "/v1/security/blocks/{ip}", params(("ip" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn clear_block(State(st): State<ApiState>, ip: Result<Path<String>, PathRejection>) -> Result<StatusCode, ApiError> {
    let Path(ip) = ip?;
    let ip = ip.parse().map_err(|_| ApiError::invalid("ip", "not an IP address"))?;
    if st.control.clear_block(ip).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("block"))
    }
}

/// A cursor key that orders addresses numerically (v4 before v6).
fn ip_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => format!("4-{:08x}", u32::from(a)),
        Ok(std::net::IpAddr::V6(a)) => format!("6-{:032x}", u128::from(a)),
        Err(_) => format!("z-{ip}"),
    }
}
