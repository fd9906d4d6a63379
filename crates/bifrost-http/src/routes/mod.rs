//! HTTP routes. Errors are rendered in exactly one place, [`error_response`].

mod chat;

use crate::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bifrost_core::BifrostError;
use serde_json::json;

pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_request_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/chat/completions", post(chat::chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's `x-request-id`, or a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(|| {
            let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
            HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
        })
}

/// The OpenAI-style error response for `e`: its status, `Retry-After` when known, and the JSON
/// body `{"error":{"message","type","code","param"}, …}`.
pub(crate) fn error_response(e: &BifrostError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = (status, Json(e.to_json())).into_response();
    if let Some(ra) = e.retry_after {
        let secs = ra.as_secs() + u64::from(ra.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    resp
}

async fn models(State(st): State<AppState>) -> Response {
    Json(json!({ "object": "list", "data": st.engine.models() })).into_response()
}

async fn health(State(st): State<AppState>) -> Response {
    // Draining: load balancers should stop sending new work here.
    if st.engine.is_closing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting_down"})),
        )
            .into_response();
    }
    Json(json!({"status": "ok"})).into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let mut e = BifrostError::invalid_request(format!("no route for {}", uri.path()));
    e.status = 404;
    e.code = Some("not_found".to_owned());
    error_response(&e)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let mut e =
        BifrostError::invalid_request(format!("method {method} is not allowed on {}", uri.path()));
    e.status = 405;
    e.code = Some("method_not_allowed".to_owned());
    error_response(&e)
}
