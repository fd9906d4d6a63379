//! Cohere v2 (`/v2/chat`, `/v2/embed`): requests and responses are translated by the pure
//! functions of [`request`], [`response`] and [`stream`].

pub mod request;
pub mod response;
pub mod stream;

use super::http::{ByteStream, EventStream, Upstream};
use super::pipeline::{self, serialize, Sse, Target};
use super::{openai, parse_url, path_override, CallContext, ChunkStream, Provider};
use crate::config::{ProviderConfig, RequestType};
use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse, RawBody, RawResponse,
};
use futures::future::BoxFuture;

pub struct Cohere {
    upstream: Upstream,
    chat_url: http::Uri,
    embed_url: http::Uri,
    rerank_url: http::Uri,
}

impl Cohere {
    pub fn new(
        upstream: Upstream,
        base: &str,
        config: &ProviderConfig,
    ) -> Result<Self, BifrostError> {
        let path = |t: RequestType, default: &str| {
            path_override(config, t).unwrap_or_else(|| default.to_owned())
        };
        let chat_url = parse_url(
            &upstream.name,
            &format!("{base}{}", path(RequestType::ChatCompletion, "/v2/chat")),
        )?;
        let embed_url = parse_url(
            &upstream.name,
            &format!("{base}{}", path(RequestType::Embedding, "/v2/embed")),
        )?;
        let rerank_url = parse_url(
            &upstream.name,
            &format!("{base}{}", path(RequestType::Rerank, "/v2/rerank")),
        )?;
        Ok(Self {
            upstream,
            chat_url,
            embed_url,
            rerank_url,
        })
    }
}

/// Cohere's keys are Bearer tokens.
fn auth(cx: &CallContext<'_>) -> http::HeaderMap {
    openai::bearer(cx.key.value.expose())
}

/// Translates Cohere's SSE events into chunks as they arrive; `message-end` ends the stream.
pub fn chunk_stream(name: &str, model: &str, events: EventStream) -> ChunkStream {
    super::translate_stream(
        name,
        events,
        stream::StreamState::new(name, model),
        stream::StreamState::is_finished,
        "message-end",
        |state, ev: eventsource_stream::Event| {
            if ev.data.trim().is_empty() {
                Ok(Vec::new())
            } else {
                state.on_event(&ev.event, &ev.data)
            }
        },
    )
}

impl Provider for Cohere {
    fn name(&self) -> &str {
        &self.upstream.name
    }

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>> {
        Box::pin(pipeline::complete(
            &self.upstream,
            cx,
            move || request::to_cohere(cx.model, req, false),
            move |_: &[u8]| Target::new(self.chat_url.clone(), auth(&cx)).ready(),
            move |bytes| response::from_cohere(&self.upstream.name, cx.model, bytes),
        ))
    }

    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>> {
        Box::pin(pipeline::stream(
            &self.upstream,
            cx,
            move || request::to_cohere(cx.model, req, true),
            move |_: &[u8]| Target::new(self.chat_url.clone(), auth(&cx)).ready(),
            Sse,
            move |events| chunk_stream(&self.upstream.name, cx.model, events),
        ))
    }

    fn embed<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a EmbeddingRequest,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, BifrostError>> {
        Box::pin(async move {
            let bytes = serialize(&request::embed_request(cx.model, req)?)?;
            let resp = self
                .upstream
                .post_json(&self.embed_url, auth(&cx), bytes)
                .await?;
            response::embed_response(&self.upstream.name, cx.model, &resp)
        })
    }

    /// `/v1/rerank` (Cohere's own shape) through `/v2/rerank`.
    fn raw<'a>(
        &'a self,
        cx: CallContext<'a>,
        op: RequestType,
        raw: &'a RawBody,
    ) -> BoxFuture<'a, Result<RawResponse, BifrostError>> {
        Box::pin(async move {
            if let (RequestType::ChatCompletion, RawBody::Native(bytes)) = (op, raw) {
                let body = native_body(cx.model, bytes)?;
                let (ct, resp) = self.upstream.post(&self.chat_url, auth(&cx), body).await?;
                return Ok(openai::raw_response(ct, resp));
            }
            let (RequestType::Rerank, RawBody::Json(map)) = (op, raw) else {
                return Err(BifrostError::unsupported(&self.upstream.name, op.as_str()));
            };
            let req: request::RerankRequest =
                serde_json::from_value(serde_json::Value::Object(map.clone()))
                    .map_err(|e| BifrostError::invalid_request(format!("rerank request: {e}")))?;
            let bytes = serialize(&request::rerank_request(cx.model, &req)?)?;
            let resp = self
                .upstream
                .post_json(&self.rerank_url, auth(&cx), bytes)
                .await?;
            let out = response::rerank_response(&self.upstream.name, cx.model, &req, &resp)?;
            Ok(RawResponse {
                content_type: "application/json".into(),
                body: serialize(&out)?.into(),
            })
        })
    }

    /// `/cohere/v2/chat` with `stream: true`: Cohere's SSE bytes as they come.
    fn raw_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        op: RequestType,
        raw: &'a RawBody,
    ) -> BoxFuture<'a, Result<ByteStream, BifrostError>> {
        Box::pin(async move {
            let (RequestType::ChatCompletionStream, RawBody::Native(bytes)) = (op, raw) else {
                return Err(BifrostError::unsupported(&self.upstream.name, op.as_str()));
            };
            let body = native_body(cx.model, bytes)?;
            self.upstream
                .post_stream(&self.chat_url, auth(&cx), body)
                .await
        })
    }
}

/// A Cohere request body with the upstream model.
fn native_body(model: &str, bytes: &[u8]) -> Result<Vec<u8>, BifrostError> {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| BifrostError::invalid_request(format!("invalid JSON body: {e}")))?;
    v.insert("model".into(), serde_json::Value::String(model.to_owned()));
    serialize(&v)
}
