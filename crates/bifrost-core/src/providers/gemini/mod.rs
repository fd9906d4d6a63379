//! Google Gemini API (`generateContent`, `streamGenerateContent?alt=sse`,
//! `batchEmbedContents`): requests and responses are translated by the pure functions of
//! [`request`], [`response`] and [`stream`]. Vertex AI reuses them with its own URLs and auth.

pub mod request;
pub mod response;
pub mod stream;

use super::http::{EventStream, Upstream};
use super::native::{self, GeminiRelay, NativeRequest, NativeResponse, WireApi};
use super::pipeline::{self, serialize, Sse, Target};
use super::{parse_url, path_override, path_segment, CallContext, ChunkStream, Provider};
use crate::config::{ProviderConfig, RequestType};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse};
use futures::future::BoxFuture;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub struct Gemini {
    upstream: Upstream,
    /// `…/v1beta`.
    base: String,
    chat_path: Option<String>,
    stream_path: Option<String>,
    embed_path: Option<String>,
}

impl Gemini {
    pub fn new(upstream: Upstream, base: String, config: &ProviderConfig) -> Self {
        Self {
            upstream,
            base,
            chat_path: path_override(config, RequestType::ChatCompletion),
            stream_path: path_override(config, RequestType::ChatCompletionStream),
            embed_path: path_override(config, RequestType::Embedding),
        }
    }

    fn url(
        &self,
        over: Option<&String>,
        model: &str,
        action: &str,
    ) -> Result<http::Uri, BifrostError> {
        // The model is the client's: one path segment, whatever it holds.
        let model = path_segment(model);
        let url = match over {
            Some(path) => format!("{}{}", self.base, path.replace("{model}", &model)),
            None => format!("{}/models/{model}:{action}", self.base),
        };
        parse_url(&self.upstream.name, &url)
    }
}

fn headers(cx: &CallContext<'_>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let key = cx.key.value.expose();
    if !key.is_empty() {
        if let Ok(mut v) = HeaderValue::from_str(key) {
            v.set_sensitive(true);
            h.insert(HeaderName::from_static("x-goog-api-key"), v);
        }
    }
    h
}

/// Translates upstream `data:` lines into chunks as they arrive. Gemini streams have no
/// terminator: the stream is complete once every candidate has a `finishReason`, and an end
/// before that is a truncation.
pub fn chunk_stream(name: &str, model: &str, events: EventStream) -> ChunkStream {
    super::translate_stream(
        name,
        events,
        stream::StreamState::new(name, model),
        stream::StreamState::is_finished,
        "a finishReason",
        |state, ev: eventsource_stream::Event| {
            if ev.data.trim().is_empty() {
                Ok(Vec::new())
            } else {
                state.on_data(&ev.data)
            }
        },
    )
}

impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.upstream.name
    }

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>> {
        Box::pin(async move {
            let url = self.url(self.chat_path.as_ref(), cx.model, "generateContent")?;
            pipeline::complete(
                &self.upstream,
                cx,
                || request::to_gemini(req),
                |_: &[u8]| Target::new(url, headers(&cx)).ready(),
                |bytes| response::from_gemini(&self.upstream.name, cx.model, bytes),
            )
            .await
        })
    }

    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>> {
        Box::pin(async move {
            let url = self.url(
                self.stream_path.as_ref(),
                cx.model,
                "streamGenerateContent?alt=sse",
            )?;
            pipeline::stream(
                &self.upstream,
                cx,
                || request::to_gemini(req),
                |_: &[u8]| Target::new(url, headers(&cx)).ready(),
                Sse,
                |events| chunk_stream(&self.upstream.name, cx.model, events),
            )
            .await
        })
    }

    fn native_api(&self, _model: &str) -> Option<WireApi> {
        Some(WireApi::Gemini)
    }

    /// The body goes upstream unchanged: the model is in the URL, and Gemini's body has no
    /// gateway fields.
    fn passthrough<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a NativeRequest,
    ) -> BoxFuture<'a, Result<NativeResponse, BifrostError>> {
        Box::pin(async move {
            if req.api != WireApi::Gemini {
                return Err(BifrostError::unsupported(
                    &self.upstream.name,
                    native::operation(req.api),
                ));
            }
            let url = if req.stream {
                self.url(
                    self.stream_path.as_ref(),
                    cx.model,
                    "streamGenerateContent?alt=sse",
                )?
            } else {
                self.url(self.chat_path.as_ref(), cx.model, "generateContent")?
            };
            let relay = req.stream.then(|| GeminiRelay::new(&self.upstream.name));
            native::forward(
                &self.upstream,
                &cx,
                &url,
                headers(&cx),
                req.body.clone(),
                relay,
                native::gemini_usage,
            )
            .await
        })
    }

    fn embed<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a EmbeddingRequest,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, BifrostError>> {
        Box::pin(async move {
            let url = self.url(self.embed_path.as_ref(), cx.model, "batchEmbedContents")?;
            let body = serialize(&request::embed_request(cx.model, req)?)?;
            let bytes = self.upstream.post_json(&url, headers(&cx), body).await?;
            response::embed_response(&self.upstream.name, cx.model, &bytes)
        })
    }
}
