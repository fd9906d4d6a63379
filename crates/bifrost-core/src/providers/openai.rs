//! OpenAI chat completions, and every OpenAI-compatible server: the request goes out as the
//! client sent it (unknown fields included), with only the model and stream flags set.

use super::http::{EventStream, Upstream};
use super::native::{
    self, NativeRequest, NativeResponse, OpenAiChatRelay, OpenAiResponsesRelay, WireApi,
};
use super::pipeline::{
    self, serialize, Call, ChatCodec, EmbedCodec, RawCodec, RawTargetFuture, Sse, Target,
    TargetFuture,
};
use super::{CallContext, ChunkStream, Provider};
use crate::config::RequestType;
use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingRequest, EmbeddingResponse, RawBody,
    RawResponse, StreamOptions,
};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::Uri;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub struct OpenAi {
    upstream: Upstream,
    /// Parsed once: the hot path formats no URL.
    chat_url: Uri,
    embed_url: Uri,
    /// The forwarded operations' URLs (completions, audio, images, rerank).
    op_urls: HashMap<RequestType, Uri>,
    /// The Responses API, for OpenAI itself and custom OpenAI-format providers: other
    /// OpenAI-compatible servers mostly lack it.
    responses_url: Option<Uri>,
}

impl OpenAi {
    pub fn new(
        upstream: Upstream,
        chat_url: Uri,
        embed_url: Uri,
        op_urls: HashMap<RequestType, Uri>,
    ) -> Self {
        Self {
            upstream,
            chat_url,
            embed_url,
            op_urls,
            responses_url: None,
        }
    }

    /// Also forwards native Responses API requests, to `url`.
    pub fn with_responses_url(mut self, url: Uri) -> Self {
        self.responses_url = Some(url);
        self
    }

    fn op_url(&self, op: RequestType) -> Result<&Uri, BifrostError> {
        self.op_urls
            .get(&op)
            .ok_or_else(|| BifrostError::unsupported(&self.upstream.name, op.as_str()))
    }
}

/// The body of a forwarded operation with the upstream model, and its content type.
pub fn raw_body(model: &str, body: &RawBody) -> Result<(HeaderValue, Vec<u8>), BifrostError> {
    match body {
        RawBody::Json(map) => {
            let mut map = map.clone();
            map.insert("model".into(), Value::String(model.to_owned()));
            Ok((
                HeaderValue::from_static("application/json"),
                serialize(&map)?,
            ))
        }
        RawBody::Native(_) => Err(BifrostError::invalid_request(
            "an OpenAI-format provider takes OpenAI-shaped requests",
        )),
        RawBody::Multipart(parts) => {
            let (content_type, bytes) = super::multipart::encode(parts, model);
            let content_type = HeaderValue::from_str(&content_type)
                .map_err(|e| BifrostError::internal(format!("multipart content type: {e}")))?;
            Ok((content_type, bytes))
        }
    }
}

/// The ids of an OpenAI-shaped model list (`{"data":[{"id":…}]}`, which Anthropic shares).
pub fn model_ids(provider: &str, bytes: &[u8]) -> Result<Vec<String>, BifrostError> {
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
    }
    let list: List = serde_json::from_slice(bytes)
        .map_err(|e| BifrostError::bad_upstream_response(provider, format!("model list: {e}")))?;
    Ok(list.data.into_iter().map(|e| e.id).collect())
}

/// The answer of a forwarded operation, as it came.
pub fn raw_response(content_type: Option<HeaderValue>, body: Bytes) -> RawResponse {
    RawResponse {
        content_type: content_type
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_else(|| "application/json".to_owned()),
        body,
    }
}

/// The embeddings body: the client's request with the upstream model.
#[derive(Serialize)]
pub struct WireEmbedding<'a> {
    model: &'a str,
    #[serde(flatten)]
    req: &'a EmbeddingRequest,
}

impl<'a> WireEmbedding<'a> {
    pub fn new(model: &'a str, req: &'a EmbeddingRequest) -> Self {
        Self { model, req }
    }
}

/// The wire body: the client's request with the upstream model and our stream settings.
#[derive(Serialize)]
pub struct WireRequest<'a> {
    model: &'a str,
    #[serde(flatten)]
    req: &'a ChatRequest,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

/// The upstream request. Streams always ask for usage (accounting needs it); the engine drops
/// the usage chunk again if the client did not ask for it.
pub fn wire_request<'a>(model: &'a str, req: &'a ChatRequest, stream: bool) -> WireRequest<'a> {
    let stream_options = stream.then(|| {
        let mut o = req.stream_options.clone().unwrap_or_default();
        o.include_usage = Some(true);
        o
    });
    WireRequest {
        model,
        req,
        stream,
        stream_options,
    }
}

/// Serializes [`wire_request`].
pub fn wire_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Vec<u8>, BifrostError> {
    serialize(&wire_request(model, req, stream))
}

fn auth_headers(cx: &CallContext<'_>) -> HeaderMap {
    bearer(cx.key.value.expose())
}

static OPENAI_BETA: http::HeaderName = http::HeaderName::from_static("openai-beta");

/// The headers of a forwarded request: the gateway's credentials and the client's beta
/// opt-ins (the Assistants-era `OpenAI-Beta`).
fn native_headers(cx: &CallContext<'_>, client: &HeaderMap) -> HeaderMap {
    let mut h = auth_headers(cx);
    native::copy_client_headers(&mut h, client, std::slice::from_ref(&OPENAI_BETA));
    h
}

/// `Authorization: Bearer <token>`, marked sensitive; nothing for an empty token.
pub fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if !token.is_empty() {
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
    }
    h
}

/// Parses a chat completion body.
pub fn parse_completion(provider: &str, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
    serde_json::from_slice(bytes).map_err(|e| BifrostError::bad_upstream_response(provider, e))
}

/// Parses an embeddings body.
pub fn parse_embedding(provider: &str, bytes: &[u8]) -> Result<EmbeddingResponse, BifrostError> {
    serde_json::from_slice(bytes).map_err(|e| BifrostError::bad_upstream_response(provider, e))
}

/// Parses one SSE `data:` payload. `Ok(None)` is the `[DONE]` terminator.
pub fn parse_chunk(
    provider: &str,
    data: &str,
) -> Result<Option<ChatCompletionChunk>, BifrostError> {
    if data.trim() == "[DONE]" {
        return Ok(None);
    }
    let chunk: ChatCompletionChunk = serde_json::from_str(data)
        .map_err(|e| BifrostError::bad_upstream_response(provider, format!("stream chunk: {e}")))?;
    // Some servers report failures inside a 200 stream.
    if let Some(err) = chunk.extra.get("error") {
        let body = serde_json::json!({ "error": err }).to_string();
        let mut e = BifrostError::upstream(provider, 500, body.as_bytes(), None);
        e.status = 502;
        return Err(e);
    }
    Ok(Some(chunk))
}

impl ChatCodec for OpenAi {
    type Wire<'r> = WireRequest<'r>;
    type Address = ();
    type Framing = Sse;

    fn request(c: Call<'_>) -> Result<WireRequest<'_>, BifrostError> {
        Ok(wire_request(c.cx.model, c.req, c.stream))
    }

    fn target<'r>(&'r self, c: Call<'r>, _: (), _: &[u8]) -> impl TargetFuture + use<'r> {
        Target::new(self.chat_url.clone(), auth_headers(&c.cx)).ready()
    }

    fn response(&self, _: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        parse_completion(&self.upstream.name, bytes)
    }

    fn chunks(&self, _: Call<'_>, events: EventStream) -> ChunkStream {
        chunk_stream(&self.upstream.name, events)
    }
}

impl EmbedCodec for OpenAi {
    type Embed<'r> = WireEmbedding<'r>;

    fn embed_request<'r>(
        cx: CallContext<'r>,
        req: &'r EmbeddingRequest,
    ) -> Result<WireEmbedding<'r>, BifrostError> {
        Ok(WireEmbedding::new(cx.model, req))
    }

    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r> {
        Target::new(self.embed_url.clone(), auth_headers(&cx)).ready()
    }

    fn embed_response(
        &self,
        _: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError> {
        parse_embedding(&self.upstream.name, bytes)
    }
}

impl RawCodec for OpenAi {
    fn raw_target<'r>(
        &'r self,
        cx: CallContext<'r>,
        op: RequestType,
        body: &'r RawBody,
    ) -> impl RawTargetFuture + use<'r> {
        std::future::ready(self.op_url(op).and_then(|url| {
            let (content_type, bytes) = raw_body(cx.model, body)?;
            let mut headers = auth_headers(&cx);
            headers.insert(CONTENT_TYPE, content_type);
            Ok((Target::new(url.clone(), headers), bytes))
        }))
    }
}

impl Provider for OpenAi {
    pipeline::translated_chat!();
    pipeline::translated_embed!();
    pipeline::forwarded_raw!();

    fn list_models<'a>(
        &'a self,
        cx: CallContext<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, BifrostError>> {
        let url = self
            .chat_url
            .to_string()
            .replace("chat/completions", "models");
        Box::pin(self.upstream.model_ids(url, auth_headers(&cx)))
    }

    fn native_api(&self, _model: &str) -> Option<WireApi> {
        Some(WireApi::OpenAiChat)
    }

    fn speaks_natively(&self, api: WireApi, _model: &str) -> bool {
        match api {
            WireApi::OpenAiChat => true,
            WireApi::OpenAiResponses => self.responses_url.is_some(),
            WireApi::Anthropic | WireApi::Gemini => false,
        }
    }

    fn passthrough<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a NativeRequest,
    ) -> BoxFuture<'a, Result<NativeResponse, BifrostError>> {
        Box::pin(async move {
            let name = &self.upstream.name;
            let headers = native_headers(&cx, &req.headers);
            match (req.api, &self.responses_url) {
                (WireApi::OpenAiChat, _) => {
                    let body = native::timed(&cx, || {
                        native::openai_chat_body(&req.body, cx.model, req.stream)
                    })?;
                    let relay = req
                        .stream
                        .then(|| OpenAiChatRelay::new(name, req.client_wants_usage));
                    let usage = native::openai_chat_usage;
                    native::forward(
                        &self.upstream,
                        &cx,
                        &self.chat_url,
                        headers,
                        body,
                        relay,
                        usage,
                    )
                    .await
                }
                (WireApi::OpenAiResponses, Some(url)) => {
                    let body = native::timed(&cx, || native::model_body(&req.body, cx.model))?;
                    let relay = req.stream.then(|| OpenAiResponsesRelay::new(name));
                    let usage = native::responses_usage;
                    native::forward(&self.upstream, &cx, url, headers, body, relay, usage).await
                }
                (api, _) => Err(BifrostError::unsupported(name, native::operation(api))),
            }
        })
    }
}

/// Parses upstream events into chunks as they arrive; `[DONE]` ends the stream, and an end
/// without it is a truncation error.
pub fn chunk_stream(name: &str, events: EventStream) -> ChunkStream {
    let name: Arc<str> = name.into();
    // State: (events, provider name, nothing more to yield).
    let stream = futures::stream::unfold(
        (events, name, false),
        |(mut events, name, finished)| async move {
            if finished {
                return None;
            }
            let item = match events.next().await {
                None => Err(BifrostError::stream_error(
                    &name,
                    format!("the stream from '{name}' ended without [DONE]"),
                    "upstream_stream_truncated",
                )),
                Some(Err(e)) => Err(e),
                Some(Ok(ev)) => match parse_chunk(&name, &ev.data) {
                    Ok(Some(chunk)) => Ok(chunk),
                    Ok(None) => return None,
                    Err(e) => Err(e),
                },
            };
            let finished = item.is_err();
            Some((item, (events, name, finished)))
        },
    );
    Box::pin(stream)
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn wire_body_keeps_unknown_fields_and_sets_model_and_stream() {
        let req: ChatRequest = serde_json::from_value(json!({
            "provider": "openai", "model": "openai/gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "fallbacks": ["anthropic/claude"],
            "logit_bias": {"50256": -100}, "x_custom": true
        }))
        .unwrap();
        let out: Value =
            serde_json::from_slice(&wire_body("gpt-4o-mini", &req, true).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "logit_bias": {"50256": -100}, "x_custom": true,
                "stream": true, "stream_options": {"include_usage": true}
            })
        );
        let out: Value = serde_json::from_slice(&wire_body("m", &req, false).unwrap()).unwrap();
        assert!(out.get("stream").is_none() && out.get("stream_options").is_none());
    }

    #[test]
    fn error_inside_a_200_stream_is_an_error() {
        let e = parse_chunk(
            "openai",
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.message, "overloaded");
        assert!(parse_chunk("openai", "[DONE]").unwrap().is_none());
    }
}
