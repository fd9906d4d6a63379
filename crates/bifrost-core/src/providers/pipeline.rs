//! The translated path of one call, written once for every native provider:
//!
//! translate (`Formatting`) → serialize (`Marshaling`) → address and authenticate → POST
//! (`Http`) → decode (`Parsing`), or for a stream → open (`Http`) → translate as it arrives.
//!
//! A provider brings the rest: its codec (the pure request, response and stream functions of
//! its module), its auth (headers, signing) and its URL — for chat ([`ChatCodec`]),
//! embeddings ([`EmbedCodec`]) and the bodies it forwards untranslated ([`RawCodec`]: the
//! POST (`Http`), the answer relayed). Since every provider runs through here, each stage
//! metric means the same thing for all of them.

use super::http::{ByteStream, EventStream, Upstream};
use super::{CallContext, ChunkStream};
use crate::config::RequestType;
use crate::error::BifrostError;
use crate::observe::Stage;
use crate::schemas::{
    ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse, RawBody, RawResponse,
};
use http::header::HeaderMap;
use http::Uri;
use serde::Serialize;
use std::future::Future;
use std::time::Instant;

/// Where one call goes, with its credentials.
pub(crate) struct Target {
    pub url: Uri,
    pub headers: HeaderMap,
}

impl Target {
    pub fn new(url: Uri, headers: HeaderMap) -> Self {
        Self { url, headers }
    }

    /// A target known before the body, as a ready future for [`complete`] and [`stream`].
    pub fn ready(self) -> std::future::Ready<Result<Self, BifrostError>> {
        std::future::ready(Ok(self))
    }
}

/// How an upstream frames a streamed answer.
pub(crate) trait Framing {
    type Items: Send;

    fn open(
        upstream: &Upstream,
        url: &Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Self::Items, BifrostError>> + Send;
}

/// A whole body, read within the request timeout (non-streaming calls).
pub(crate) struct Whole;

impl Framing for Whole {
    type Items = bytes::Bytes;

    fn open(
        upstream: &Upstream,
        url: &Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bytes::Bytes, BifrostError>> + Send {
        upstream.post_json(url, headers, body)
    }
}

/// Server-sent events (OpenAI, Anthropic, Gemini, Cohere).
pub(crate) struct Sse;

impl Framing for Sse {
    type Items = EventStream;

    fn open(
        upstream: &Upstream,
        url: &Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<EventStream, BifrostError>> + Send {
        upstream.post_sse(url, headers, body)
    }
}

/// Raw body chunks for a binary framing the codec decodes (AWS event-stream).
pub(crate) struct Chunks;

impl Framing for Chunks {
    type Items = ByteStream;

    fn open(
        upstream: &Upstream,
        url: &Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<ByteStream, BifrostError>> + Send {
        upstream.post_stream(url, headers, body)
    }
}

/// Serializes a request body; failing is the gateway's fault, not the client's.
pub(crate) fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, BifrostError> {
    serde_json::to_vec(value)
        .map_err(|e| BifrostError::internal(format!("serializing the request failed: {e}")))
}

/// Translates (`Formatting`) and serializes (`Marshaling`) a request.
pub(crate) fn encode<W: Serialize>(
    cx: CallContext<'_>,
    translate: impl FnOnce() -> Result<W, BifrostError>,
) -> Result<Vec<u8>, BifrostError> {
    let t = Instant::now();
    let wire = translate()?;
    cx.clock.record(Stage::Formatting, t.elapsed());
    let t = Instant::now();
    let body = serialize(&wire);
    cx.clock.record(Stage::Marshaling, t.elapsed());
    body
}

/// A whole non-streaming call: [`send`] for the complete body, then `decode` (`Parsing`).
pub(crate) async fn complete<W, O, T, Fut>(
    upstream: &Upstream,
    cx: CallContext<'_>,
    translate: impl FnOnce() -> Result<W, BifrostError>,
    target: T,
    decode: impl FnOnce(&[u8]) -> Result<O, BifrostError>,
) -> Result<O, BifrostError>
where
    W: Serialize,
    T: FnOnce(&[u8]) -> Fut,
    Fut: Future<Output = Result<Target, BifrostError>>,
{
    let bytes = send::<_, Whole, _, _>(upstream, cx, translate, target).await?;
    let t = Instant::now();
    let out = decode(&bytes);
    cx.clock.record(Stage::Parsing, t.elapsed());
    out
}

/// A streaming call: [`send`] until 2xx headers, then `decode`, the codec's translator, which
/// turns items into chunks as they arrive.
pub(crate) async fn stream<W, F, T, Fut>(
    upstream: &Upstream,
    cx: CallContext<'_>,
    translate: impl FnOnce() -> Result<W, BifrostError>,
    target: T,
    decode: impl FnOnce(F::Items) -> ChunkStream,
) -> Result<ChunkStream, BifrostError>
where
    W: Serialize,
    F: Framing,
    T: FnOnce(&[u8]) -> Fut,
    Fut: Future<Output = Result<Target, BifrostError>>,
{
    Ok(decode(
        send::<_, F, _, _>(upstream, cx, translate, target).await?,
    ))
}

/// One chat call as a [`ChatCodec`] sees it; `stream` tells `chat_stream` from `chat`.
#[derive(Clone, Copy)]
pub(crate) struct Call<'r> {
    pub cx: CallContext<'r>,
    pub req: &'r ChatRequest,
    pub stream: bool,
}

/// What a translating provider brings to its chat calls: its codec and where each call goes.
/// [`translated_chat!`] writes the provider's `name`, `chat` and `chat_stream` from it, so that
/// every provider wires the stages the same way.
pub(crate) trait ChatCodec: Sync {
    /// The upstream request body.
    type Wire<'r>: Serialize;
    /// What is settled before the request is translated (so that its errors come first), for
    /// [`ChatCodec::target`]: a URL, or `()` where nothing needs to be.
    type Address: Send + Default;
    /// How the upstream frames a streamed answer.
    type Framing: Framing;

    fn address(&self, _c: Call<'_>) -> Result<Self::Address, BifrostError> {
        Ok(Self::Address::default())
    }

    /// Translates the request (`Formatting`).
    fn request(c: Call<'_>) -> Result<Self::Wire<'_>, BifrostError>;

    /// URL and headers, given the serialized body (which SigV4 signs).
    fn target<'r>(
        &'r self,
        c: Call<'r>,
        address: Self::Address,
        body: &[u8],
    ) -> impl TargetFuture + use<'r, Self>;

    /// Decodes a whole answer (`Parsing`).
    fn response(&self, c: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError>;

    /// Translates a streamed answer as it arrives.
    fn chunks(&self, c: Call<'_>, items: <Self::Framing as Framing>::Items) -> ChunkStream;
}

/// The future of a [`Target`] (a short name for [`ChatCodec::target`]'s signatures).
pub(crate) trait TargetFuture: Future<Output = Result<Target, BifrostError>> + Send {}

impl<F: Future<Output = Result<Target, BifrostError>> + Send> TargetFuture for F {}

/// `chat` of a [`ChatCodec`] provider: [`complete`] with its codec.
pub(crate) async fn chat<C: ChatCodec>(
    codec: &C,
    upstream: &Upstream,
    cx: CallContext<'_>,
    req: &ChatRequest,
) -> Result<ChatCompletion, BifrostError> {
    let c = Call {
        cx,
        req,
        stream: false,
    };
    let address = codec.address(c)?;
    complete(
        upstream,
        cx,
        || C::request(c),
        |body: &[u8]| codec.target(c, address, body),
        |bytes| codec.response(c, bytes),
    )
    .await
}

/// `chat_stream` of a [`ChatCodec`] provider: [`stream`] with its codec.
pub(crate) async fn chat_stream<C: ChatCodec>(
    codec: &C,
    upstream: &Upstream,
    cx: CallContext<'_>,
    req: &ChatRequest,
) -> Result<ChunkStream, BifrostError> {
    let c = Call {
        cx,
        req,
        stream: true,
    };
    let address = codec.address(c)?;
    stream::<_, C::Framing, _, _>(
        upstream,
        cx,
        || C::request(c),
        |body: &[u8]| codec.target(c, address, body),
        |items| codec.chunks(c, items),
    )
    .await
}

/// One `Provider` method as the pipeline function of the same name, given the provider, its
/// `upstream` field and the call's arguments (the trait's signatures are fixed, so the macros
/// below write them once).
macro_rules! delegate {
    ($lt:lifetime, $name:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        fn $name<$lt>(
            &$lt self,
            cx: $crate::providers::CallContext<$lt>,
            $($arg: $ty),*
        ) -> ::futures::future::BoxFuture<$lt, Result<$out, $crate::error::BifrostError>> {
            Box::pin($crate::providers::pipeline::$name(self, &self.upstream, cx, $($arg),*))
        }
    };
}
pub(crate) use delegate;

/// `name`, `chat` and `chat_stream` of the `impl Provider` of a [`ChatCodec`] provider with an
/// `upstream: Upstream` field: the trait's signatures are fixed, so they are written once here.
macro_rules! translated_chat {
    () => {
        fn name(&self) -> &str {
            &self.upstream.name
        }
        $crate::providers::pipeline::delegate!('a, chat(req: &'a $crate::schemas::ChatRequest)
            -> $crate::schemas::ChatCompletion);
        $crate::providers::pipeline::delegate!('a, chat_stream(req: &'a $crate::schemas::ChatRequest)
            -> $crate::providers::ChunkStream);
    };
}
pub(crate) use translated_chat;

/// What a translating provider brings to embeddings: its codec and where the call goes.
/// [`translated_embed!`] writes the provider's `embed` from it.
pub(crate) trait EmbedCodec: Sync {
    /// The upstream request body.
    type Embed<'r>: Serialize;

    /// Translates the request (`Formatting`).
    fn embed_request<'r>(
        cx: CallContext<'r>,
        req: &'r EmbeddingRequest,
    ) -> Result<Self::Embed<'r>, BifrostError>;

    /// URL and headers of the call.
    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r, Self>;

    /// Decodes the answer (`Parsing`).
    fn embed_response(
        &self,
        cx: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError>;
}

/// `embed` of an [`EmbedCodec`] provider: [`complete`] with its codec.
pub(crate) async fn embed<C: EmbedCodec>(
    codec: &C,
    upstream: &Upstream,
    cx: CallContext<'_>,
    req: &EmbeddingRequest,
) -> Result<EmbeddingResponse, BifrostError> {
    complete(
        upstream,
        cx,
        || C::embed_request(cx, req),
        |_: &[u8]| codec.embed_target(cx),
        |bytes| codec.embed_response(cx, bytes),
    )
    .await
}

/// `embed` of the `impl Provider` of an [`EmbedCodec`] provider with an `upstream: Upstream`
/// field.
macro_rules! translated_embed {
    () => {
        $crate::providers::pipeline::delegate!('a, embed(req: &'a $crate::schemas::EmbeddingRequest)
            -> $crate::schemas::EmbeddingResponse);
    };
}
pub(crate) use translated_embed;

/// What a provider that forwards bodies it does not translate (OpenAI-shaped operations,
/// native bodies) brings: the URL, headers and body of each. [`forwarded_raw!`] writes the
/// provider's `raw` and `raw_stream` from it.
pub(crate) trait RawCodec: Sync {
    fn raw_target<'r>(
        &'r self,
        cx: CallContext<'r>,
        op: RequestType,
        body: &'r RawBody,
    ) -> impl RawTargetFuture + use<'r, Self>;
}

/// The future of a [`Target`] and its body (a short name for [`RawCodec::raw_target`]'s
/// signatures).
pub(crate) trait RawTargetFuture:
    Future<Output = Result<(Target, Vec<u8>), BifrostError>> + Send
{
}

impl<F: Future<Output = Result<(Target, Vec<u8>), BifrostError>> + Send> RawTargetFuture for F {}

/// `raw` of a [`RawCodec`] provider: the POST (`Http`), the answer relayed as it is.
pub(crate) async fn raw<C: RawCodec>(
    codec: &C,
    upstream: &Upstream,
    cx: CallContext<'_>,
    op: RequestType,
    body: &RawBody,
) -> Result<RawResponse, BifrostError> {
    let (Target { url, headers }, bytes) = codec.raw_target(cx, op, body).await?;
    let (content_type, answer) = timed_http(cx, upstream.post(&url, headers, bytes)).await?;
    Ok(super::openai::raw_response(content_type, answer))
}

/// `raw_stream` of a [`RawCodec`] provider: the upstream's bytes as they come.
pub(crate) async fn raw_stream<C: RawCodec>(
    codec: &C,
    upstream: &Upstream,
    cx: CallContext<'_>,
    op: RequestType,
    body: &RawBody,
) -> Result<ByteStream, BifrostError> {
    let (Target { url, headers }, bytes) = codec.raw_target(cx, op, body).await?;
    timed_http(cx, upstream.post_stream(&url, headers, bytes)).await
}

/// `raw` and `raw_stream` of the `impl Provider` of a [`RawCodec`] provider with an
/// `upstream: Upstream` field.
macro_rules! forwarded_raw {
    () => {
        $crate::providers::pipeline::delegate!('a, raw(
            op: $crate::config::RequestType,
            body: &'a $crate::schemas::RawBody
        ) -> $crate::schemas::RawResponse);
        $crate::providers::pipeline::delegate!('a, raw_stream(
            op: $crate::config::RequestType,
            body: &'a $crate::schemas::RawBody
        ) -> $crate::providers::ByteStream);
    };
}
pub(crate) use forwarded_raw;

/// [`encode`], then `target` (given the body, which SigV4 signs), then the POST (`Http`).
async fn send<W, F, T, Fut>(
    upstream: &Upstream,
    cx: CallContext<'_>,
    translate: impl FnOnce() -> Result<W, BifrostError>,
    target: T,
) -> Result<F::Items, BifrostError>
where
    W: Serialize,
    F: Framing,
    T: FnOnce(&[u8]) -> Fut,
    Fut: Future<Output = Result<Target, BifrostError>>,
{
    let body = encode(cx, translate)?;
    let Target { url, headers } = target(&body).await?;
    timed_http(cx, F::open(upstream, &url, headers, body)).await
}

/// Awaits an upstream exchange, recording it as the `Http` stage when it succeeds.
pub(crate) async fn timed_http<T>(
    cx: CallContext<'_>,
    exchange: impl Future<Output = Result<T, BifrostError>>,
) -> Result<T, BifrostError> {
    let t = Instant::now();
    let out = exchange.await?;
    cx.clock.record(Stage::Http, t.elapsed());
    Ok(out)
}
