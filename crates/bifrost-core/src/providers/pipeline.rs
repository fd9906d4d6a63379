//! The translated path of one call, written once for every native provider:
//!
//! translate (`Formatting`) → serialize (`Marshaling`) → address and authenticate → POST
//! (`Http`) → decode (`Parsing`), or for a stream → open (`Http`) → translate as it arrives.
//!
//! A provider brings the rest: its codec (the pure request, response and stream functions of
//! its module), its auth (headers, signing) and its URL. Since every provider runs through
//! here, each stage metric means the same thing for all of them.

use super::http::{ByteStream, EventStream, Upstream};
use super::{CallContext, ChunkStream};
use crate::error::BifrostError;
use crate::observe::Stage;
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
    _framing: F,
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
    let t = Instant::now();
    let items = F::open(upstream, &url, headers, body).await?;
    cx.clock.record(Stage::Http, t.elapsed());
    Ok(items)
}
