//! `POST /v1/chat/completions` (JSON and SSE) and `POST /v1/embeddings`.

use super::{error_response, request_id, Endpoint, MetricLabels, X_REQUEST_ID};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bifrost_core::{BifrostError, ChatRequest, EmbeddingRequest, RequestOptions, ResponseMeta};
use futures::StreamExt;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Which unified operation a route serves.
#[derive(Clone, Copy)]
enum Operation {
    Chat,
    Embedding,
}

pub async fn chat_completions(
    State(st): State<AppState>,
    Extension(labels): Extension<MetricLabels>,
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(Operation::Chat, st, labels, endpoint, headers, body).await
}

pub async fn embeddings(
    State(st): State<AppState>,
    Extension(labels): Extension<MetricLabels>,
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(Operation::Embedding, st, labels, endpoint, headers, body).await
}

async fn serve(
    op: Operation,
    st: AppState,
    MetricLabels(labels): MetricLabels,
    Endpoint(endpoint): Endpoint,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let rid = request_id(&headers);
    let rid_text = rid.to_str().unwrap_or("");
    // The request's trace span; attempts are its children (see the engine).
    let span = tracing::info_span!(
        target: "bifrost_otel",
        "bifrost.request",
        otel.name = %format_args!("POST {endpoint}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = "POST",
        http.route = %endpoint,
        http.response.status_code = tracing::field::Empty,
        bifrost.request_id = rid_text,
        gen_ai.provider.name = tracing::field::Empty,
        gen_ai.response.model = tracing::field::Empty,
    );
    crate::otel::set_parent(&span, &headers);
    let outcome = handle(op, &st, &headers, labels, body)
        .instrument(span.clone())
        .await;
    match &outcome {
        Ok((_, meta, _)) => {
            span.record("http.response.status_code", 200);
            span.record("gen_ai.provider.name", meta.provider.as_str());
            span.record("gen_ai.response.model", meta.model.as_str());
        }
        Err(e) => {
            span.record("http.response.status_code", i64::from(e.status));
            span.record("otel.status_code", "ERROR");
        }
    }
    let mut resp = match outcome {
        Ok((resp, meta, stream)) => {
            let elapsed = start.elapsed();
            // What the gateway itself added: everything but upstream calls and retry sleeps.
            let overhead = elapsed.saturating_sub(meta.upstream_time + meta.backoff_time);
            st.metrics.overhead(&endpoint, stream, overhead);
            tracing::info!(
                request_id = rid_text,
                provider = %meta.provider,
                model = %meta.model,
                status = 200,
                stream,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                overhead_us = overhead.as_micros() as u64,
                prompt_tokens = meta.usage.map(|u| u.0),
                completion_tokens = meta.usage.map(|u| u.1),
                attempts = meta.attempts,
                "request"
            );
            resp
        }
        Err(e) => {
            tracing::info!(
                request_id = rid_text,
                provider = e.provider.as_deref().unwrap_or(""),
                model = e.model.as_deref().unwrap_or(""),
                status = e.status,
                code = e.code.as_deref().unwrap_or(""),
                latency_ms = start.elapsed().as_secs_f64() * 1000.0,
                attempts = e.attempts.len().max(usize::from(!e.is_bifrost_error)),
                error = %e.message,
                "request failed"
            );
            error_response(&e)
        }
    };
    resp.headers_mut().insert(X_REQUEST_ID.clone(), rid);
    resp
}

/// What the log line and metrics need about a successful answer.
struct Answered {
    provider: String,
    model: String,
    attempts: usize,
    upstream_time: Duration,
    backoff_time: Duration,
    /// `(prompt, completion)` tokens, when known at this point (not for streams).
    usage: Option<(u64, u64)>,
}

impl Answered {
    fn new(meta: &ResponseMeta, usage: Option<(u64, u64)>) -> Self {
        Self {
            provider: meta.provider.clone(),
            model: meta.model.clone(),
            attempts: meta.attempts,
            upstream_time: meta.upstream_time,
            backoff_time: meta.backoff_time,
            usage,
        }
    }
}

/// Routing options from `x-bf-api-key`, `x-bf-api-key-id`, `x-bf-session-id` and
/// `x-bf-session-ttl` (seconds).
fn options(headers: &HeaderMap) -> Result<RequestOptions, BifrostError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let session_ttl = match text("x-bf-session-ttl") {
        Some(v) => Some(Duration::from_secs(v.parse::<u64>().map_err(|_| {
            BifrostError::invalid_request(format!(
                "x-bf-session-ttl must be a number of seconds, got {v:?}"
            ))
        })?)),
        None => None,
    };
    Ok(RequestOptions {
        key_id: text("x-bf-api-key-id"),
        key_name: text("x-bf-api-key"),
        session_id: text("x-bf-session-id"),
        session_ttl,
        labels: Vec::new(),
    })
}

async fn handle(
    op: Operation,
    st: &AppState,
    headers: &HeaderMap,
    labels: Vec<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Response, Answered, bool), BifrostError> {
    let body = body.map_err(|rej| match rej {
        BytesRejection::FailedToBufferBody(ref inner)
            if matches!(
                inner,
                axum::extract::rejection::FailedToBufferBody::LengthLimitError(_)
            ) =>
        {
            let mut e = BifrostError::invalid_request(format!(
                "request body is larger than the limit of {} bytes (client.max_request_body_size_mb)",
                st.settings.max_request_body_bytes
            ));
            e.status = 413;
            e.code = Some("request_too_large".to_owned());
            e
        }
        other => BifrostError::invalid_request(format!("could not read the request body: {other}")),
    })?;
    let invalid =
        |e: serde_json::Error| BifrostError::invalid_request(format!("invalid JSON body: {e}"));
    let mut opts = options(headers)?;
    opts.labels = labels;
    if let Operation::Embedding = op {
        let req: EmbeddingRequest = serde_json::from_slice(&body).map_err(invalid)?;
        let out = st.engine.embedding_with(req, &opts).await?;
        let usage = out.body.usage.as_ref().map(|u| (u.prompt_tokens, 0));
        let mut resp = json_response(&out.body)?;
        add_meta(resp.headers_mut(), &out.meta);
        return Ok((resp, Answered::new(&out.meta, usage), false));
    }
    let req: ChatRequest = serde_json::from_slice(&body).map_err(invalid)?;
    if req.stream == Some(true) {
        let out = st.engine.chat_completion_stream_with(req, &opts).await?;
        let mut resp = sse_response(out.body);
        add_meta(resp.headers_mut(), &out.meta);
        Ok((resp, Answered::new(&out.meta, None), true))
    } else {
        let out = st.engine.chat_completion_with(req, &opts).await?;
        let mut resp = json_response(&out.body)?;
        add_meta(resp.headers_mut(), &out.meta);
        let usage = out
            .body
            .usage
            .as_ref()
            .map(|u| (u.prompt_tokens, u.completion_tokens));
        Ok((resp, Answered::new(&out.meta, usage), false))
    }
}

fn json_response<T: serde::Serialize>(body: &T) -> Result<Response, BifrostError> {
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
fn add_meta(h: &mut HeaderMap, meta: &ResponseMeta) {
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
    put("x-bf-retries", &meta.attempts.saturating_sub(1).to_string());
}

/// Each chunk is written as `data: <json>\n\n` the moment it arrives; a clean end adds
/// `data: [DONE]`, a failure one error event and no `[DONE]`.
fn sse_response(stream: bifrost_core::ChatStream) -> Response {
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
    let mut resp = Response::new(Body::from_stream(events));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn frame(json: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(json.len() + 8);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(json);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

fn error_frame(e: &BifrostError) -> Bytes {
    frame(e.to_json().to_string().as_bytes())
}
