//! The request and response of one operation, whichever it is, and the provider call of one
//! attempt.

use super::ProviderState;
use crate::config::{ApiFormat, RequestType};
use crate::error::BifrostError;
use crate::providers::native::{NativeRequest, NativeResponse, WireApi};
use crate::providers::{ByteStream, CallContext, ChunkStream};
use crate::queue::Permit;
use crate::schemas::{
    self, ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingRequest, EmbeddingResponse,
    RawRequest, RawResponse,
};
use futures::StreamExt;

/// The client's request. Pre-hooks may change it; the target's provider and model are in the
/// [`super::context::RequestContext`], not here (the request keeps the client's model name).
// The large variants are boxed: the request is held by value at several levels of the engine's
// futures (the client's and a pristine copy per attempt), and a 576-byte enum made every
// request in flight carry kilobytes of it (`-Zprint-type-sizes`).
#[derive(Debug, Clone)]
pub enum Request {
    /// A chat completion; streamed when the context's request type is a stream.
    Chat(Box<ChatRequest>),
    Embedding(Box<EmbeddingRequest>),
    /// An operation forwarded in OpenAI's shape (text completions, audio, images, rerank) or a
    /// body in a provider's own format (the Cohere and Bedrock drop-in routes).
    Raw(RawRequest),
    /// A chat in a client API's own format (a drop-in route, or OpenAI chat): forwarded as
    /// it came to targets that speak that API, translated for the others.
    Native(Box<NativeChat>),
}

/// A chat request as the client sent it, in one API's wire format, with its routing fields
/// and a translation to the unified shape for targets that speak another API.
#[derive(Clone)]
pub struct NativeChat {
    pub native: NativeRequest,
    /// The routing fields, read from the body (or the URL) by the route.
    pub provider: Option<String>,
    pub model: String,
    pub fallbacks: Vec<schemas::Fallback>,
    /// `max_tokens` and `temperature`, when the route read them (trace attributes).
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    translate: std::sync::Arc<dyn Fn() -> Result<ChatRequest, BifrostError> + Send + Sync>,
    translated: std::sync::Arc<std::sync::OnceLock<Result<ChatRequest, BifrostError>>>,
}

impl NativeChat {
    /// `translate` turns the client's body into the unified chat request; it runs at most once,
    /// and only if a target speaks another API.
    pub fn new(
        native: NativeRequest,
        model: String,
        translate: impl Fn() -> Result<ChatRequest, BifrostError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            native,
            provider: None,
            model,
            fallbacks: Vec::new(),
            max_tokens: None,
            temperature: None,
            translate: std::sync::Arc::new(translate),
            translated: std::sync::Arc::default(),
        }
    }

    /// The request in the unified shape, for a target of `format`. Fields only the client's
    /// API knows are dropped for OpenAI-format targets, which reject them; decided per attempt,
    /// so a fallback to a provider of the client's own format still gets them.
    pub(crate) fn chat_for(&self, format: ApiFormat) -> Result<ChatRequest, BifrostError> {
        let mut chat = self.translated.get_or_init(|| (self.translate)()).clone()?;
        if self.native.api == WireApi::Anthropic
            && matches!(format, ApiFormat::OpenAi | ApiFormat::Azure)
        {
            crate::inbound::anthropic::strip_anthropic_fields(&mut chat);
        }
        Ok(chat)
    }
}

impl std::fmt::Debug for NativeChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeChat")
            .field("api", &self.native.api)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("stream", &self.native.stream)
            .finish_non_exhaustive()
    }
}

impl Request {
    pub fn provider(&self) -> Option<&str> {
        match self {
            Request::Chat(r) => r.provider.as_deref(),
            Request::Embedding(r) => r.provider.as_deref(),
            Request::Raw(r) => r.provider.as_deref(),
            Request::Native(r) => r.provider.as_deref(),
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Request::Chat(r) => &r.model,
            Request::Embedding(r) => &r.model,
            Request::Raw(r) => &r.model,
            Request::Native(r) => &r.model,
        }
    }

    pub fn fallbacks(&self) -> &[schemas::Fallback] {
        match self {
            Request::Chat(r) => &r.fallbacks,
            Request::Embedding(r) => &r.fallbacks,
            Request::Raw(r) => &r.fallbacks,
            Request::Native(r) => &r.fallbacks,
        }
    }
}

/// An answer, whichever operation it is.
pub enum Response {
    Chat(ChatCompletion),
    ChatStream(ChunkStream),
    Embedding(EmbeddingResponse),
    Raw(RawResponse),
    RawStream(ByteStream),
    /// A same-format answer, as the upstream sent it.
    Native(NativeResponse),
}

impl Response {
    /// Whether this answer is a stream (which keeps its provider slot until it ends).
    pub fn is_stream(&self) -> bool {
        matches!(
            self,
            Response::ChatStream(_)
                | Response::RawStream(_)
                | Response::Native(NativeResponse::Stream(_))
        )
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Response::Chat(c) => f.debug_tuple("Chat").field(c).finish(),
            Response::ChatStream(_) => f.write_str("ChatStream(..)"),
            Response::Embedding(e) => f.debug_tuple("Embedding").field(e).finish(),
            Response::Raw(r) => f.debug_tuple("Raw").field(r).finish(),
            Response::RawStream(_) => f.write_str("RawStream(..)"),
            Response::Native(NativeResponse::Json { body, .. }) => {
                f.debug_tuple("NativeJson").field(body).finish()
            }
            Response::Native(NativeResponse::Stream(_)) => f.write_str("NativeStream(..)"),
        }
    }
}

/// A response and, for a stream, the provider slot it keeps until it ends.
pub(crate) struct Answer {
    pub response: Response,
    pub permit: Option<Permit>,
}

/// Calls the provider for one attempt. A stream resolves only once its first chunk carrying
/// something arrived, so a failure before that is still the attempt's failure.
pub(crate) async fn call(
    p: &ProviderState,
    cx: CallContext<'_>,
    request_type: RequestType,
    req: &Request,
) -> Result<Response, BifrostError> {
    use RequestType as T;
    let provider = &*p.provider;
    if let Request::Native(n) = req {
        if provider.speaks_natively(n.native.api, cx.model) {
            return provider
                .passthrough(cx, &n.native)
                .await
                .map(Response::Native);
        }
        let chat = Request::Chat(Box::new(n.chat_for(p.format)?));
        return Box::pin(call(p, cx, request_type, &chat)).await;
    }
    match (request_type, req) {
        (T::Embedding, Request::Embedding(r)) => {
            provider.embed(cx, r).await.map(Response::Embedding)
        }
        (T::ChatCompletion, Request::Chat(r)) => provider.chat(cx, r).await.map(Response::Chat),
        (T::ChatCompletionStream, Request::Chat(r)) => {
            let stream = provider.chat_stream(cx, r).await?;
            let t = std::time::Instant::now();
            let first = first_chunk(stream).await;
            // Waiting for the first chunk is part of the upstream exchange.
            cx.clock.record(crate::observe::Stage::Http, t.elapsed());
            first.map(Response::ChatStream)
        }
        (T::TextCompletionStream | T::ChatCompletionStream, Request::Raw(r)) => provider
            .raw_stream(cx, request_type, &r.body)
            .await
            .map(Response::RawStream),
        (op, Request::Raw(r)) => provider.raw(cx, op, &r.body).await.map(Response::Raw),
        _ => Err(BifrostError::internal(
            "request does not match its operation",
        )),
    }
}

/// Waits for the first chunk that carries something (text, tool calls, a finish reason,
/// usage): until then a failure — an error event or exception frame right after a role-only
/// start chunk — is still an attempt failure that may be retried or fall back. Empty leading
/// chunks are held and sent on with it.
async fn first_chunk(mut stream: ChunkStream) -> Result<ChunkStream, BifrostError> {
    let mut held = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let empty = is_empty_chunk(&chunk);
                held.push(Ok(chunk));
                // A bounded hold: a stream of nothing but empty chunks is passed on as is.
                if !empty || held.len() >= 8 {
                    return Ok(Box::pin(futures::stream::iter(held).chain(stream)));
                }
            }
            Some(Err(e)) => return Err(e),
            None if held.is_empty() => {
                return Err(BifrostError::internal(
                    "provider stream ended before it began",
                ))
            }
            None => return Ok(Box::pin(futures::stream::iter(held))),
        }
    }
}

fn is_empty_chunk(c: &ChatCompletionChunk) -> bool {
    c.usage.is_none()
        && c.choices.iter().all(|ch| {
            ch.finish_reason.is_none()
                && ch.delta.content.as_deref().is_none_or(str::is_empty)
                && ch.delta.tool_calls.is_none()
                && ch.delta.extra.is_empty()
        })
}
