//! `POST /v1/chat/completions` (JSON and SSE) and `POST /v1/embeddings`.

use super::native::{
    forwarded, native, native_chat, native_request, routed_chat, ChatRender, Native,
};
use super::request::{
    direct_key, header_text, multipart_request, X_BF_API_KEY, X_BF_API_KEY_ID, X_BF_SESSION_ID,
    X_BF_SESSION_TTL,
};
use super::respond::{add_meta, json_response};
use super::sse::raw_sse_response;
use super::{error_in_shape, request_id, Endpoint, MetricLabels, X_REQUEST_ID};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bifrost_core::providers::native::WireApi;
use bifrost_core::wire::cohere::ChatHead;
use bifrost_core::{
    inbound, BifrostError, ChatRequest, EmbeddingRequest, HttpRequest, NativeChat, RawRequest,
    RequestOptions, RequestType, ResponseMeta,
};
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Which operation a route serves; drop-in routes also say whose error and stream shapes
/// the client expects.
#[derive(Clone)]
pub(crate) enum Operation {
    Chat,
    Embedding,
    /// Forwarded in OpenAI's shape: text completions, speech, image generation, rerank.
    Raw(RequestType),
    /// `multipart/form-data` speech-to-text.
    Transcription,
    /// OpenAI's Responses API, served by any provider through chat.
    Responses,
    /// The Anthropic Messages API, served by any provider.
    AnthropicMessages,
    AnthropicCountTokens,
    /// The Google GenAI API: `model:generateContent` / `:streamGenerateContent`.
    GenAi {
        model: String,
        stream: bool,
    },
    GenAiCountTokens {
        model: String,
    },
    /// `model:embedContent` (one content) and `:batchEmbedContents`.
    GenAiEmbed {
        model: String,
        batch: bool,
    },
    /// Cohere's `/v2/chat`, forwarded to a Cohere-format provider.
    CohereChat,
    /// Bedrock's Converse, forwarded (re-signed) to a Bedrock-format provider.
    BedrockConverse {
        model: String,
        stream: bool,
    },
}

/// The error body shape a client's SDK parses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    OpenAi,
    Anthropic,
    Google,
    Cohere,
    Aws,
}

impl Operation {
    /// What a request log row records as the request's `object`.
    fn object(&self) -> &'static str {
        match self {
            Operation::Chat => "chat.completion",
            Operation::Embedding | Operation::GenAiEmbed { .. } => "embedding",
            Operation::Raw(t) => t.as_str(),
            Operation::Transcription => "transcription",
            Operation::Responses => "responses",
            Operation::AnthropicMessages => "messages",
            Operation::AnthropicCountTokens | Operation::GenAiCountTokens { .. } => "count_tokens",
            Operation::GenAi { .. } => "generate_content",
            Operation::CohereChat => "chat",
            Operation::BedrockConverse { .. } => "converse",
        }
    }

    fn error_shape(&self) -> ErrorShape {
        match self {
            Operation::AnthropicMessages | Operation::AnthropicCountTokens => ErrorShape::Anthropic,
            Operation::GenAi { .. }
            | Operation::GenAiCountTokens { .. }
            | Operation::GenAiEmbed { .. } => ErrorShape::Google,
            Operation::CohereChat => ErrorShape::Cohere,
            Operation::BedrockConverse { .. } => ErrorShape::Aws,
            _ => ErrorShape::OpenAi,
        }
    }
}

/// Set by the drop-in routers: the provider a bare model name means (`/openai` → `openai`).
#[derive(Clone, Copy)]
pub(crate) struct DefaultProvider(pub &'static str);

macro_rules! handler {
    ($name:ident, $op:expr) => {
        pub async fn $name(
            State(st): State<AppState>,
            Extension(labels): Extension<MetricLabels>,
            Extension(endpoint): Extension<Endpoint>,
            default: Option<Extension<DefaultProvider>>,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            let default = default.map(|Extension(d)| d);
            serve($op, st, labels, endpoint, default, headers, body).await
        }
    };
}

handler!(chat_completions, Operation::Chat);
handler!(embeddings, Operation::Embedding);
handler!(completions, Operation::Raw(RequestType::TextCompletion));
handler!(speech, Operation::Raw(RequestType::Speech));
handler!(
    image_generations,
    Operation::Raw(RequestType::ImageGeneration)
);
handler!(rerank, Operation::Raw(RequestType::Rerank));
handler!(transcriptions, Operation::Transcription);
handler!(responses, Operation::Responses);
handler!(anthropic_messages, Operation::AnthropicMessages);
handler!(anthropic_count_tokens, Operation::AnthropicCountTokens);

pub async fn cohere_chat(
    State(st): State<AppState>,
    Extension(labels): Extension<MetricLabels>,
    Extension(endpoint): Extension<Endpoint>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let default = Some(DefaultProvider("cohere"));
    serve(
        Operation::CohereChat,
        st,
        labels,
        endpoint,
        default,
        headers,
        body,
    )
    .await
}

/// `/bedrock/model/{model_id}/converse` and `/converse-stream`.
pub async fn bedrock_converse(
    State(st): State<AppState>,
    Extension(labels): Extension<MetricLabels>,
    Extension(endpoint): Extension<Endpoint>,
    Path((model, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let stream = match action.as_str() {
        "converse" => false,
        "converse-stream" => true,
        other => {
            let mut e = BifrostError::invalid_request(format!(
                "'{other}' is not served on /bedrock (converse and converse-stream are)"
            ));
            e.status = 404;
            return error_in_shape(ErrorShape::Aws, &e);
        }
    };
    let op = Operation::BedrockConverse { model, stream };
    let default = Some(DefaultProvider("bedrock"));
    serve(op, st, labels, endpoint, default, headers, body).await
}

/// `/genai/v1beta/models/{model}:{action}`.
pub async fn genai(
    State(st): State<AppState>,
    Extension(labels): Extension<MetricLabels>,
    Extension(endpoint): Extension<Endpoint>,
    Path(model_action): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The last colon: Bedrock-style model ids (`anthropic.claude-v2:1`) hold one too.
    let (model, action) = model_action
        .rsplit_once(':')
        .unwrap_or((model_action.as_str(), ""));
    let model = model.to_owned();
    let op = match action {
        "generateContent" => Operation::GenAi {
            model,
            stream: false,
        },
        "streamGenerateContent" => Operation::GenAi {
            model,
            stream: true,
        },
        "countTokens" => Operation::GenAiCountTokens { model },
        "embedContent" => Operation::GenAiEmbed {
            model,
            batch: false,
        },
        "batchEmbedContents" => Operation::GenAiEmbed { model, batch: true },
        other => {
            let mut e = BifrostError::invalid_request(format!(
                "method '{other}' is not served on /genai (generateContent, \
                 streamGenerateContent, countTokens, embedContent, batchEmbedContents are)"
            ));
            e.status = 404;
            return error_in_shape(ErrorShape::Google, &e);
        }
    };
    let default = Some(DefaultProvider("gemini"));
    serve(op, st, labels, endpoint, default, headers, body).await
}

async fn serve(
    op: Operation,
    st: AppState,
    MetricLabels(labels): MetricLabels,
    Endpoint(endpoint): Endpoint,
    default: Option<DefaultProvider>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let shape = op.error_shape();
    let start = Instant::now();
    // Held until the answer is built: the body's bytes count against the gateway's budget.
    let (body, _reserved) = match crate::body::read(
        &st.settings.body_budget,
        st.settings.max_request_body_bytes,
        &headers,
        body,
    )
    .await
    {
        Ok(read) => (Ok(read.bytes), Some(read.reservation)),
        Err(e) => (Err(e), None),
    };
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
    let mut opts = RequestOptions {
        request_id: rid_text.to_owned(),
        labels,
        ..RequestOptions::default()
    };
    let log = st.logs.as_ref().and_then(|l| {
        l.open(
            rid_text,
            &endpoint,
            op.object(),
            &headers,
            body.as_ref().ok(),
        )
    });
    if let Some(entry) = &log {
        opts.extensions.insert(entry.clone());
    }
    let mut headers = headers;
    // Boxed: the engine's futures nest to ≈ 6 KB, and every level above would hold (and each
    // move copy) all of it; this way the handler's future stays ≈ 1 KB.
    let outcome = Box::pin(handle(
        op,
        &st,
        (&endpoint, &mut headers),
        opts,
        default,
        body,
    ))
    .instrument(span.clone())
    .await;
    if let Some(entry) = &log {
        match &outcome {
            Ok((resp, meta, stream)) => {
                entry.routed(meta, *stream);
                entry.answered(resp.status().as_u16(), None, *stream);
            }
            Err(e) => entry.answered(e.status, Some(e), false),
        }
    }
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
            error_in_shape(shape, &e)
        }
    };
    resp.headers_mut().insert(X_REQUEST_ID.clone(), rid);
    resp
}

/// What the log line, the request log and metrics need about a successful answer.
pub(crate) struct Answered {
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) key_id: Option<String>,
    pub(crate) fallback_index: usize,
    pub(crate) retries: usize,
    attempts: usize,
    upstream_time: Duration,
    backoff_time: Duration,
    /// `(prompt, completion)` tokens, when known at this point (not for streams).
    usage: Option<(u64, u64)>,
}

impl Answered {
    /// Answered by the gateway itself (token counting): no provider was called.
    fn local() -> Self {
        Self {
            provider: String::new(),
            model: String::new(),
            key_id: None,
            fallback_index: 0,
            retries: 0,
            attempts: 0,
            upstream_time: Duration::ZERO,
            backoff_time: Duration::ZERO,
            usage: None,
        }
    }

    /// Takes the names out of `meta` (after [`add_meta`] read them): no copies.
    pub(super) fn new(meta: ResponseMeta, usage: Option<(u64, u64)>) -> Self {
        Self {
            provider: meta.provider,
            model: meta.model,
            key_id: meta.key_id,
            fallback_index: meta.fallback_index,
            retries: meta.retries,
            attempts: meta.attempts,
            upstream_time: meta.upstream_time,
            backoff_time: meta.backoff_time,
            usage,
        }
    }
}

/// Routing options from `x-bf-api-key`, `x-bf-api-key-id`, `x-bf-session-id` and
/// `x-bf-session-ttl` (seconds).
pub(crate) fn options(
    headers: &HeaderMap,
    base: RequestOptions,
) -> Result<RequestOptions, BifrostError> {
    let text = |name: &HeaderName| header_text(headers, name).map(str::to_owned);
    let session_ttl = match text(&X_BF_SESSION_TTL) {
        Some(v) => Some(Duration::from_secs(v.parse::<u64>().map_err(|_| {
            BifrostError::invalid_request(format!(
                "x-bf-session-ttl must be a number of seconds, got {v:?}"
            ))
        })?)),
        None => None,
    };
    Ok(RequestOptions {
        key_id: text(&X_BF_API_KEY_ID),
        key_name: text(&X_BF_API_KEY),
        session_id: text(&X_BF_SESSION_ID),
        session_ttl,
        ..base
    })
}

async fn handle(
    op: Operation,
    st: &AppState,
    (endpoint, headers): (&str, &mut HeaderMap),
    mut opts: RequestOptions,
    default: Option<DefaultProvider>,
    body: Result<Bytes, BifrostError>,
) -> Result<(Response, Answered, bool), BifrostError> {
    let mut body = body?;
    let invalid =
        |e: serde_json::Error| BifrostError::invalid_request(format!("invalid JSON body: {e}"));
    // Plugins see the raw request first (and may rewrite it or refuse it).
    st.engine
        .pipeline()
        .http_pre_hooks(
            &mut opts,
            HttpRequest {
                method: &axum::http::Method::POST,
                path: endpoint,
                headers,
                body: &mut body,
            },
        )
        .await?;
    let headers = &*headers;
    let mut opts = options(headers, opts)?;
    if st
        .settings
        .allow_direct_keys
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        opts.direct_key = direct_key(headers);
    }
    let engine = &st.engine;
    // A bare model on a drop-in route means that route's provider, when it is configured.
    let route_provider = |provider: &mut Option<String>, model: &str| {
        if let Some(DefaultProvider(d)) = default {
            let prefixed = model
                .split_once('/')
                .is_some_and(|(p, _)| engine.has_provider(p));
            if provider.is_none() && !prefixed && engine.has_provider(d) {
                *provider = Some(d.to_owned());
            }
        }
    };
    match op {
        Operation::Embedding => {
            let mut req: EmbeddingRequest = serde_json::from_slice(&body).map_err(invalid)?;
            route_provider(&mut req.provider, &req.model.clone());
            let mut out = engine.embedding_with(req, opts).await?;
            let usage = out.body.usage.as_ref().map(|u| (u.prompt_tokens, 0));
            let mut resp = json_response(&out.body)?;
            add_meta(resp.headers_mut(), &mut out.meta);
            Ok((resp, Answered::new(out.meta, usage), false))
        }
        Operation::Raw(op) => {
            let map: serde_json::Map<String, Value> =
                serde_json::from_slice(&body).map_err(invalid)?;
            let mut req = RawRequest::from_json(map).map_err(BifrostError::invalid_request)?;
            route_provider(&mut req.provider, &req.model.clone());
            if op == RequestType::TextCompletion && req.wants_stream() {
                let mut out = engine
                    .raw_stream(RequestType::TextCompletionStream, req, opts)
                    .await?;
                let mut resp = raw_sse_response(out.body);
                add_meta(resp.headers_mut(), &mut out.meta);
                return Ok((resp, Answered::new(out.meta, None), true));
            }
            let out = engine.raw_request(op, req, opts).await?;
            Ok(forwarded(out))
        }
        Operation::Transcription => {
            let mut req = multipart_request(headers, body).await?;
            route_provider(&mut req.provider, &req.model.clone());
            let out = engine
                .raw_request(RequestType::Transcription, req, opts)
                .await?;
            Ok(forwarded(out))
        }
        Operation::Chat => {
            let mut req = routed_chat(WireApi::OpenAiChat, &body, headers, |b| {
                serde_json::from_slice::<ChatRequest>(b)
                    .map_err(|e| BifrostError::invalid_request(format!("invalid JSON body: {e}")))
            })?;
            route_provider(&mut req.provider, &req.model.clone());
            native_chat(engine, req, opts, ChatRender::OpenAi).await
        }
        Operation::Responses => {
            let mut req = routed_chat(WireApi::OpenAiResponses, &body, headers, |b| {
                inbound::responses::parse(b).map(|(req, _)| req)
            })?;
            route_provider(&mut req.provider, &req.model.clone());
            native_chat(engine, req, opts, ChatRender::Responses(body)).await
        }
        Operation::AnthropicMessages => {
            let mut req = routed_chat(
                WireApi::Anthropic,
                &body,
                headers,
                inbound::anthropic::to_chat,
            )?;
            route_provider(&mut req.provider, &req.model.clone());
            let model = req.model.clone();
            native_chat(engine, req, opts, ChatRender::Anthropic(model)).await
        }
        Operation::AnthropicCountTokens => {
            let out = inbound::anthropic::count_tokens(&body)?;
            Ok((Json(out).into_response(), Answered::local(), false))
        }
        Operation::GenAi { model, stream } => {
            let native = native_request(WireApi::Gemini, &body, headers, stream);
            let translated = body.clone();
            let for_translation = model.clone();
            let mut req = NativeChat::new(native, model.clone(), move || {
                inbound::genai::to_chat(&for_translation, &translated)
            });
            route_provider(&mut req.provider, &model);
            native_chat(engine, req, opts, ChatRender::GenAi(model)).await
        }
        Operation::CohereChat => {
            // Only what routing needs is read; the body goes on as the client sent it.
            let head: ChatHead = serde_json::from_slice(&body).map_err(invalid)?;
            let model = head
                .model
                .ok_or_else(|| BifrostError::invalid_request("'model' is required"))?
                .into_owned();
            let call = Native::Cohere.call(model, head.stream);
            native(engine, opts, route_provider, body, call).await
        }
        Operation::BedrockConverse { model, stream } => {
            let call = Native::Bedrock.call(model, stream);
            native(engine, opts, route_provider, body, call).await
        }
        Operation::GenAiEmbed { model, batch } => {
            let mut req = if batch {
                inbound::genai::to_batch_embedding(&model, &body)?
            } else {
                inbound::genai::to_embedding(&model, &body)?
            };
            route_provider(&mut req.provider, &model);
            let mut out = engine.embedding_with(req, opts).await?;
            let usage = out.body.usage.as_ref().map(|u| (u.prompt_tokens, 0));
            let answer = if batch {
                inbound::genai::from_batch_embedding(&out.body)
            } else {
                inbound::genai::from_embedding(&out.body)
            };
            let mut resp = json_response(&answer)?;
            add_meta(resp.headers_mut(), &mut out.meta);
            Ok((resp, Answered::new(out.meta, usage), false))
        }
        Operation::GenAiCountTokens { model } => {
            let out = inbound::genai::count_tokens(&model, &body)?;
            Ok((Json(out).into_response(), Answered::local(), false))
        }
    }
}
