//! Provider-shaped error responses.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Which provider's error shape to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    OpenAi,
    Anthropic,
    Cohere,
    /// Google's `{"error":{"code","message","status"}}` (Gemini API and Vertex AI).
    Gemini,
    /// AWS: `{"message":…}` with the error type in the `x-amzn-ErrorType` header.
    Bedrock,
}

/// The request body parsed as `T`, or a 400 in `flavor`'s error shape (returned at once by the
/// handler, so the large error variant is never carried around).
#[allow(clippy::result_large_err)]
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    flavor: Flavor,
    body: &[u8],
) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error_response(
            flavor,
            StatusCode::BAD_REQUEST,
            &format!("mock: invalid request body: {e}"),
        )
    })
}

/// Each provider's own error body shape, depending on `flavor`.
pub(crate) fn error_response(flavor: Flavor, status: StatusCode, message: &str) -> Response {
    let body = match flavor {
        Flavor::Bedrock => return bedrock_error(status, bedrock_kind(status), message),
        Flavor::OpenAi => {
            let (kind, code) = openai_kind(status);
            json!({"error": {"message": message, "type": kind, "code": code}})
        }
        Flavor::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_kind(status), "message": message}})
        }
        // Cohere's errors carry a request id (a UUID) and the message, nothing else.
        Flavor::Cohere => json!({"id": format!("{:032x}", fastrand::u128(..)), "message": message}),
        Flavor::Gemini => json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "status": google_status(status),
        }}),
    };
    (status, Json(body)).into_response()
}

/// An injected failure; carries retry hints for the statuses that have them.
pub(crate) fn injected_failure(
    flavor: Flavor,
    status: u16,
    retry_after: Option<Duration>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error_response(flavor, status, "mock: injected failure");
    let retryable = matches!(status.as_u16(), 429 | 503 | 529);
    if let (true, Some(after)) = (retryable, retry_after) {
        // Round up: a client honouring the hint must not retry early.
        let millis = u64::try_from(after.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        let headers = response.headers_mut();
        headers.insert("retry-after", HeaderValue::from(millis.div_ceil(1000)));
        headers.insert("retry-after-ms", HeaderValue::from(millis));
    }
    response
}

/// A Bedrock error with an explicit exception name (`InvalidSignatureException`, …).
pub(crate) fn bedrock_error(
    status: StatusCode,
    error_type: &'static str,
    message: &str,
) -> Response {
    let mut response = (status, Json(json!({ "message": message }))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

fn bedrock_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

fn openai_kind(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request_error", "invalid_request"),
        401 => ("invalid_request_error", "invalid_api_key"),
        403 => ("invalid_request_error", "permission_denied"),
        404 => ("invalid_request_error", "not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        503 | 529 => ("server_error", "overloaded"),
        _ => ("server_error", "server_error"),
    }
}

fn anthropic_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The canonical gRPC status name Google APIs put next to the HTTP code.
fn google_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if status.is_client_error() => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

/// 500 for a reply that could not be encoded (not expected to happen: every
/// reply type serializes infallibly in practice, but the API is fallible).
pub(crate) fn encode_failure(flavor: Flavor, err: &serde_json::Error) -> Response {
    tracing::error!("bifrost-mock: cannot encode reply: {err}");
    error_response(
        flavor,
        StatusCode::INTERNAL_SERVER_ERROR,
        "mock: cannot encode reply",
    )
}
