//! The admin API driven in-process through its router (`tower::ServiceExt::oneshot`):
//! a real SQLite store in a temporary file, a fake [`api::Control`] standing in
//! for the running switch, and exact status codes and JSON bodies checked
//! against the conventions in `docs`/`interface.md` (bearer token, JSON errors
//! naming the field, paged lists, OpenAPI matching the handlers).
//!
//! Tests marked `#[ignore = "bug: ..."]` show contract violations in the
//! current code; they are meant to be un-ignored once fixed.

#[path = "api/support.rs"]
mod support;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/callcenter.rs"]
mod callcenter;
#[path = "api/extensions.rs"]
mod extensions;
#[path = "api/live.rs"]
mod live;
#[path = "api/openapi.rs"]
mod openapi;
#[path = "api/paging.rs"]
mod paging;
#[path = "api/routing.rs"]
mod routing;
#[path = "api/trunks.rs"]
mod trunks;
