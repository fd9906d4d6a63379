//! Reading what a request carries besides its JSON body: a caller's own provider key and a
//! multipart upload.

use axum::body::Bytes;
use axum::http::header::AsHeaderName;
use axum::http::{header, HeaderMap, HeaderName};
use bifrost_core::schemas::FormPart;
use bifrost_core::{BifrostError, RawBody, RawRequest, Secret};

/// A header's value, trimmed; `None` when absent, empty or not text.
pub(super) fn header_text(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

// Named once: a lookup by `&str` parses and validates the name on every request.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
pub(super) static X_BF_SESSION_TTL: HeaderName = HeaderName::from_static("x-bf-session-ttl");
pub(super) static X_BF_API_KEY_ID: HeaderName = HeaderName::from_static("x-bf-api-key-id");
pub(super) static X_BF_API_KEY: HeaderName = HeaderName::from_static("x-bf-api-key");
pub(super) static X_BF_SESSION_ID: HeaderName = HeaderName::from_static("x-bf-session-id");

/// The caller's own provider key: `x-api-key` (Anthropic SDK), `x-goog-api-key` (GenAI SDK),
/// or `Authorization: Bearer` (OpenAI SDK) unless it is a Bifrost virtual key (`sk-bf-…`).
pub(super) fn direct_key(headers: &HeaderMap) -> Option<Secret> {
    let text = |name: &HeaderName| header_text(headers, name);
    let bearer = text(&header::AUTHORIZATION)
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with("sk-bf-"));
    // A virtual key (sk-bf-…) is never a provider key, in whichever header it came.
    let not_vk = |k: &&str| !k.trim().starts_with("sk-bf-");
    text(&X_API_KEY)
        .filter(not_vk)
        .or_else(|| text(&X_GOOG_API_KEY).filter(not_vk))
        .or(bearer)
        .map(Secret::new)
}

/// A transcription upload: every part kept in order, the model read from its field.
pub(crate) async fn multipart_request(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<RawRequest, BifrostError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        BifrostError::invalid_request(format!("expected a multipart/form-data body: {e}"))
    })?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    let mut model = None;
    let mut provider = None;
    let bad = |e: multer::Error| BifrostError::invalid_request(format!("multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(bad)?;
        if filename.is_none() && name == "model" {
            model = Some(String::from_utf8_lossy(&data).into_owned());
        }
        if filename.is_none() && name == "provider" {
            provider = Some(String::from_utf8_lossy(&data).into_owned());
            continue;
        }
        parts.push(FormPart {
            name,
            filename,
            content_type,
            data,
        });
    }
    let model =
        model.ok_or_else(|| BifrostError::invalid_request("the form has no 'model' field"))?;
    if !parts.iter().any(|p| p.filename.is_some()) {
        return Err(BifrostError::invalid_request("the form has no file"));
    }
    Ok(RawRequest {
        provider,
        model,
        body: RawBody::Multipart(parts),
        fallbacks: Vec::new(),
    })
}
