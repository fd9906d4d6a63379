//! Cohere v2 (`/v2/chat`, `/v2/embed`): requests and responses are translated by the pure
//! functions of [`request`], [`response`] and [`stream`], to and from the wire types of
//! [`crate::wire::cohere`].

pub mod request;
pub mod response;
pub mod stream;

use super::http::{ByteStream, EventStream, Upstream};
use super::pipeline::{
    self, serialize, Call, ChatCodec, EmbedCodec, RawCodec, RawTargetFuture, Sse, Target,
    TargetFuture,
};
use super::{openai, parse_url, path_override, CallContext, ChunkStream, Provider};
use crate::config::{ProviderConfig, RequestType};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, EmbeddingRequest, EmbeddingResponse, RawBody, RawResponse};
use crate::wire::cohere::{CohereChatRequest, CohereEmbedRequest};
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
    let state = stream::StreamState::new(name, model);
    super::translate_sse(name, events, state, |s, ev| s.on_event(&ev.event, &ev.data))
}

impl ChatCodec for Cohere {
    type Wire<'r> = CohereChatRequest;
    type Address = ();
    type Framing = Sse;

    fn request(c: Call<'_>) -> Result<CohereChatRequest, BifrostError> {
        request::to_cohere(c.cx.model, c.req, c.stream)
    }

    fn target<'r>(&'r self, c: Call<'r>, _: (), _: &[u8]) -> impl TargetFuture + use<'r> {
        Target::new(self.chat_url.clone(), auth(&c.cx)).ready()
    }

    fn response(&self, c: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        response::from_cohere(&self.upstream.name, c.cx.model, bytes)
    }

    fn chunks(&self, c: Call<'_>, events: EventStream) -> ChunkStream {
        chunk_stream(&self.upstream.name, c.cx.model, events)
    }
}

impl EmbedCodec for Cohere {
    type Embed<'r> = CohereEmbedRequest;

    fn embed_request(
        cx: CallContext<'_>,
        req: &EmbeddingRequest,
    ) -> Result<CohereEmbedRequest, BifrostError> {
        request::embed_request(cx.model, req)
    }

    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r> {
        Target::new(self.embed_url.clone(), auth(&cx)).ready()
    }

    fn embed_response(
        &self,
        cx: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError> {
        response::embed_response(&self.upstream.name, cx.model, bytes)
    }
}

/// `/cohere/v2/chat` bodies (streamed or not) go to the chat URL with the upstream model.
impl RawCodec for Cohere {
    fn raw_target<'r>(
        &'r self,
        cx: CallContext<'r>,
        op: RequestType,
        raw: &'r RawBody,
    ) -> impl RawTargetFuture + use<'r> {
        std::future::ready(match (op, raw) {
            (
                RequestType::ChatCompletion | RequestType::ChatCompletionStream,
                RawBody::Native(bytes),
            ) => native_body(cx.model, bytes)
                .map(|body| (Target::new(self.chat_url.clone(), auth(&cx)), body)),
            _ => Err(BifrostError::unsupported(&self.upstream.name, op.as_str())),
        })
    }
}

impl Provider for Cohere {
    pipeline::translated_chat!();
    pipeline::translated_embed!();

    /// `/v1/rerank` (Cohere's own shape) through `/v2/rerank`.
    fn raw<'a>(
        &'a self,
        cx: CallContext<'a>,
        op: RequestType,
        raw: &'a RawBody,
    ) -> BoxFuture<'a, Result<RawResponse, BifrostError>> {
        if op != RequestType::Rerank {
            return Box::pin(pipeline::raw(self, &self.upstream, cx, op, raw));
        }
        Box::pin(async move {
            let (RequestType::Rerank, RawBody::Json(map)) = (op, raw) else {
                return Err(BifrostError::unsupported(&self.upstream.name, op.as_str()));
            };
            let req: request::RerankRequest =
                serde_json::from_value(serde_json::Value::Object(map.clone()))
                    .map_err(|e| BifrostError::invalid_request(format!("rerank request: {e}")))?;
            let out = pipeline::complete(
                &self.upstream,
                cx,
                || request::rerank_request(cx.model, &req),
                |_: &[u8]| Target::new(self.rerank_url.clone(), auth(&cx)).ready(),
                |bytes| response::rerank_response(&self.upstream.name, cx.model, &req, bytes),
            )
            .await?;
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
        Box::pin(pipeline::raw_stream(self, &self.upstream, cx, op, raw))
    }
}

/// A Cohere request body with the upstream model.
fn native_body(model: &str, bytes: &[u8]) -> Result<Vec<u8>, BifrostError> {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| BifrostError::invalid_request(format!("invalid JSON body: {e}")))?;
    v.insert("model".into(), serde_json::Value::String(model.to_owned()));
    serialize(&v)
}
