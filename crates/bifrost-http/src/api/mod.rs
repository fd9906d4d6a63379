//! The management API under `/api/*` (behaviour reference §3.10): providers and keys, client
//! config, models, version; the logs API lives with the logs ([`crate::logs::api`]). Every
//! error is `{"error":{"message","type","param"}}` with a 4xx naming the field, never a 500
//! for a caller's mistake.

pub mod config;
pub mod providers;

use crate::control::ControlPlane;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bifrost_store::StoreError;
use serde_json::json;
use std::sync::Arc;

/// An API error: status, machine-readable type, message, and the field it is about.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            Json(json!({
                "error": {
                    "message": self.message,
                    "type": self.kind,
                    "param": self.param,
                }
            })),
        )
            .into_response()
    }
}

/// The JSON object of a body, or a 400 that says what is wrong with it.
pub(crate) fn json_object(
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match body {
        Ok(Json(serde_json::Value::Object(m))) => Ok(m),
        Ok(Json(_)) => Err(bad_request("", "the body must be a JSON object")),
        Err(rej) => Err(bad_request("", rej.body_text())),
    }
}

/// 400 about `field` (empty when it is about the whole request).
pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        param: Some(field.to_owned()).filter(|f| !f.is_empty()),
        ..ApiError::new(400, "invalid_request_error", message)
    }
}

/// 422 about `field`: a well-formed setting the gateway cannot take.
pub fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 422,
        ..bad_request(field, message)
    }
}

/// The control plane behind the provider and config routes, or a 503 when there is none.
pub(crate) fn control(st: &crate::AppState) -> Result<&Arc<ControlPlane>, ApiError> {
    st.control
        .as_ref()
        .ok_or_else(|| ApiError::new(503, "unavailable", "the management API is not enabled"))
}

/// A store failure: the caller's argument (400), else the store is unavailable (503). The
/// message never carries a password (the store's errors redact them).
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidArgument(m) => bad_request("", m),
        other => {
            tracing::warn!(error = %other, "store request failed");
            ApiError::new(503, "store_unavailable", other.to_string())
        }
    }
}
