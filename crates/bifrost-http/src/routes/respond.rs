//! Writing answers: JSON bodies, the gateway's response headers, and OpenAI-style SSE.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bifrost_core::{BifrostError, ResponseMeta};
use futures::StreamExt;

pub(super) fn json_response<T: serde::Serialize>(body: &T) -> Result<Response, BifrostError> {
    let json = serde_json::to_vec(body)
        .map_err(|e| BifrostError::internal(format!("serializing the response failed: {e}")))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response())
}

/// Who answered, and how many attempts it took.
pub(super) fn add_meta(h: &mut HeaderMap, meta: &ResponseMeta) {
    let mut put = |name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    put("x-bf-provider", &meta.provider);
    put("x-bf-model", &meta.model);
    if let Some(k) = &meta.key_id {
        put("x-bf-key-id", k);
    }
    put("x-bf-fallback-index", &meta.fallback_index.to_string());
    // Retries of a target after a failure (what `bifrost_request_retries_total` counts);
    // moving on to a fallback is not a retry (`x-bf-fallback-index` says that).
    put("x-bf-retries", &meta.retries.to_string());
    for (name, value) in &meta.headers {
        h.append(name, value.clone());
    }
}

/// Each chunk is written as `data: <json>\n\n` the moment it arrives; a clean end adds
/// `data: [DONE]`, a failure one error event and no `[DONE]`.
pub(super) fn sse_response(stream: bifrost_core::ChatStream) -> Response {
    // State: (chunks, finished).
    let events = futures::stream::unfold((stream, false), |(mut stream, finished)| async move {
        if finished {
            return None;
        }
        let (bytes, finished) = match stream.next().await {
            Some(Ok(chunk)) => match serde_json::to_vec(&chunk) {
                Ok(json) => (frame(&json), false),
                Err(e) => (
                    error_frame(&BifrostError::internal(format!(
                        "serializing a chunk failed: {e}"
                    ))),
                    true,
                ),
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "stream failed after it started");
                (error_frame(&e), true)
            }
            None => (Bytes::from_static(b"data: [DONE]\n\n"), true),
        };
        Some((Ok::<_, std::convert::Infallible>(bytes), (stream, finished)))
    });
    super::sse::event_stream(Body::from_stream(events))
}

pub(super) fn frame(json: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(json.len() + 8);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(json);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

pub(super) fn error_frame(e: &BifrostError) -> Bytes {
    frame(e.to_json().to_string().as_bytes())
}
