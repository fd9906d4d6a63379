//! Google Gemini API (`generateContent`, `streamGenerateContent?alt=sse`,
//! `batchEmbedContents`): requests and responses are translated by the pure functions of
//! [`request`], [`response`] and [`stream`], to and from the types of [`crate::wire::gemini`].
//! Vertex AI reuses them with its own URLs and auth.

pub mod request;
pub mod response;
pub mod stream;

use super::http::{EventStream, Upstream};
use super::native::{self, GeminiRelay, NativeRequest, NativeResponse, WireApi};
use super::pipeline::{self, Call, ChatCodec, EmbedCodec, Sse, Target, TargetFuture};
use super::{parse_url, path_override, path_segment, CallContext, ChunkStream, Provider};
use crate::config::{ProviderConfig, RequestType};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, EmbeddingRequest, EmbeddingResponse};
use crate::wire::gemini::{BatchEmbedContentsRequest, GenerateContentRequest};
use futures::future::BoxFuture;
use http::header::HeaderMap;

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

    /// `generateContent`, or `streamGenerateContent` for a stream (translated or forwarded).
    fn chat_url(&self, model: &str, stream: bool) -> Result<http::Uri, BifrostError> {
        if stream {
            let action = "streamGenerateContent?alt=sse";
            self.url(self.stream_path.as_ref(), model, action)
        } else {
            self.url(self.chat_path.as_ref(), model, "generateContent")
        }
    }
}

fn headers(cx: &CallContext<'_>) -> HeaderMap {
    let mut h = HeaderMap::new();
    super::auth::insert_key(&mut h, "x-goog-api-key", cx.key.value.expose());
    h
}

/// Translates upstream `data:` lines into chunks as they arrive. Gemini streams have no
/// terminator: the stream is complete once every candidate has a `finishReason`, and an end
/// before that is a truncation.
pub fn chunk_stream(name: &str, model: &str, events: EventStream) -> ChunkStream {
    let state = stream::StreamState::new(name, model);
    super::translate_sse(name, events, state, |s, ev| s.on_data(&ev.data))
}

/// The URL comes first: its errors (a bad path override) come before the request's.
impl ChatCodec for Gemini {
    type Wire<'r> = GenerateContentRequest;
    type Address = http::Uri;
    type Framing = Sse;

    fn address(&self, c: Call<'_>) -> Result<http::Uri, BifrostError> {
        self.chat_url(c.cx.model, c.stream)
    }

    fn request(c: Call<'_>) -> Result<GenerateContentRequest, BifrostError> {
        request::to_gemini(c.req)
    }

    fn target<'r>(&'r self, c: Call<'r>, url: http::Uri, _: &[u8]) -> impl TargetFuture + use<'r> {
        Target::new(url, headers(&c.cx)).ready()
    }

    fn response(&self, c: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        response::from_gemini(&self.upstream.name, c.cx.model, bytes)
    }

    fn chunks(&self, c: Call<'_>, events: EventStream) -> ChunkStream {
        chunk_stream(&self.upstream.name, c.cx.model, events)
    }
}

impl EmbedCodec for Gemini {
    type Embed<'r> = BatchEmbedContentsRequest;

    fn embed_request(
        cx: CallContext<'_>,
        req: &EmbeddingRequest,
    ) -> Result<BatchEmbedContentsRequest, BifrostError> {
        request::embed_request(cx.model, req)
    }

    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r> {
        let url = self.url(self.embed_path.as_ref(), cx.model, "batchEmbedContents");
        std::future::ready(url.map(|url| Target::new(url, headers(&cx))))
    }

    fn embed_response(
        &self,
        cx: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError> {
        response::embed_response(&self.upstream.name, cx.model, bytes)
    }
}

impl Provider for Gemini {
    pipeline::translated_chat!();
    pipeline::translated_embed!();

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
            native::expect_api(&self.upstream.name, req, WireApi::Gemini)?;
            let url = self.chat_url(cx.model, req.stream)?;
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
}
