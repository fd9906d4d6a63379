//! Server-sent events in each drop-in API's framing: every translated event is written the
//! moment its chunk arrives (never buffered), and a failure ends the stream with that API's
//! own error event.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bifrost_core::providers::native::WireApi;
use bifrost_core::{inbound, BifrostError, ChatCompletionChunk};
use futures::StreamExt;
use serde_json::Value;

/// Turns the unified chunk stream into one API's events.
pub(crate) trait Encoder: Send + 'static {
    fn chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Bytes>;
    /// The clean end: whatever closes the stream.
    fn end(&mut self) -> Vec<Bytes>;
    /// A failure after the stream began: one error event.
    fn error(&mut self, e: &BifrostError) -> Vec<Bytes>;
}

fn named(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Each `(event, data)` pair of an encoder, framed.
fn all_named(events: &[(&str, Value)]) -> Vec<Bytes> {
    events.iter().map(|(e, d)| named(e, d)).collect()
}

fn data(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\r\n\r\n"))
}

pub(crate) struct Responses(pub inbound::responses::StreamEncoder);

impl Encoder for Responses {
    fn chunk(&mut self, c: &ChatCompletionChunk) -> Vec<Bytes> {
        all_named(&self.0.on_chunk(c))
    }
    fn end(&mut self) -> Vec<Bytes> {
        all_named(&self.0.finish())
    }
    fn error(&mut self, e: &BifrostError) -> Vec<Bytes> {
        let (event, body) = self.0.failed_event(e);
        vec![named(event, &body)]
    }
}

pub(crate) struct Anthropic(pub inbound::anthropic::StreamEncoder);

impl Encoder for Anthropic {
    fn chunk(&mut self, c: &ChatCompletionChunk) -> Vec<Bytes> {
        all_named(&self.0.on_chunk(c))
    }
    fn end(&mut self) -> Vec<Bytes> {
        all_named(&self.0.finish())
    }
    fn error(&mut self, e: &BifrostError) -> Vec<Bytes> {
        let (event, body) = inbound::anthropic::error_event(e);
        vec![named(event, &body)]
    }
}

pub(crate) struct GenAi(pub inbound::genai::StreamEncoder);

impl Encoder for GenAi {
    fn chunk(&mut self, c: &ChatCompletionChunk) -> Vec<Bytes> {
        self.0.on_chunk(c).iter().map(data).collect()
    }
    fn end(&mut self) -> Vec<Bytes> {
        self.0.finish().iter().map(data).collect()
    }
    fn error(&mut self, e: &BifrostError) -> Vec<Bytes> {
        vec![data(&inbound::genai::error_body(e))]
    }
}

/// An SSE response: the content type, and no caching or proxy buffering on the way.
pub(super) fn event_stream(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// The stream, each chunk translated by `encoder` as it arrives.
pub(crate) fn encoded_sse<E: Encoder>(stream: bifrost_core::ChatStream, encoder: E) -> Response {
    // State: (chunks, encoder, finished).
    let events = futures::stream::unfold(
        (stream, encoder, false),
        |(mut stream, mut enc, finished)| async move {
            if finished {
                return None;
            }
            let (frames, finished) = match stream.next().await {
                Some(Ok(chunk)) => (enc.chunk(&chunk), false),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "stream failed after it started");
                    (enc.error(&e), true)
                }
                None => (enc.end(), true),
            };
            let mut buf = Vec::with_capacity(frames.iter().map(Bytes::len).sum());
            for f in frames {
                buf.extend_from_slice(&f);
            }
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(buf)),
                (stream, enc, finished),
            ))
        },
    )
    .filter(|b| futures::future::ready(b.as_ref().map_or(true, |b| !b.is_empty())));
    event_stream(Body::from_stream(events))
}

/// A same-format stream relayed as the upstream sent it (each item one event, already framed).
/// A failure the gateway saw after the start (a broken connection, an idle timeout, a stream
/// cut short) ends it with one error event in the client API's own shape.
pub(crate) fn relayed(
    stream: bifrost_core::RawStream,
    content_type: &'static str,
    api: WireApi,
) -> Response {
    let events = stream.map(move |item| match item {
        Ok(bytes) => Ok::<_, std::convert::Infallible>(bytes),
        Err(e) => {
            tracing::debug!(error = %e, "relayed stream failed after it started");
            Ok(match api {
                WireApi::OpenAiChat => Bytes::from(format!("data: {}\n\n", e.to_json())),
                WireApi::Anthropic => {
                    let (event, body) = inbound::anthropic::error_event(&e);
                    named(event, &body)
                }
                WireApi::Gemini => data(&inbound::genai::error_body(&e)),
                WireApi::OpenAiResponses => named(
                    "error",
                    &serde_json::json!({
                        "type": "error",
                        "code": e.code,
                        "message": e.message,
                        "param": e.param,
                    }),
                ),
            })
        }
    });
    let mut resp = event_stream(Body::from_stream(events));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A forwarded SSE stream (text completions): the upstream's bytes as they come; a failure
/// adds one OpenAI-shaped error event.
pub(crate) fn raw_sse_response(stream: bifrost_core::RawStream) -> Response {
    let events = ending_with(stream, |e| {
        Bytes::from(format!("data: {}\n\n", e.to_json()))
    });
    event_stream(Body::from_stream(events))
}

/// The upstream's bytes as they come, until the first failure, which ends the stream with
/// the one frame `error_frame` makes of it.
fn ending_with(
    stream: bifrost_core::RawStream,
    error_frame: impl Fn(&BifrostError) -> Bytes + Send + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures::stream::unfold(
        (stream, false, error_frame),
        |(mut stream, done, error_frame)| async move {
            if done {
                return None;
            }
            match stream.next().await {
                Some(Ok(bytes)) => Some((Ok(bytes), (stream, false, error_frame))),
                Some(Err(e)) => {
                    let frame = error_frame(&e);
                    Some((Ok(frame), (stream, true, error_frame)))
                }
                None => None,
            }
        },
    )
}

/// A forwarded native stream (Cohere SSE, Bedrock event-stream): the upstream's bytes as they
/// come; a failure adds one error in the stream's own framing (an AWS exception frame, or a
/// Cohere-style SSE error event).
pub(crate) fn native_stream(
    stream: bifrost_core::RawStream,
    content_type: &'static str,
    aws: bool,
) -> Response {
    let events = ending_with(stream, move |e| {
        if aws {
            let payload = serde_json::json!({ "message": e.message }).to_string();
            bifrost_core::providers::bedrock::eventstream::encode(
                "exception",
                Some((":exception-type", "internalServerException")),
                payload.as_bytes(),
            )
            .unwrap_or_default()
        } else {
            let data = serde_json::json!({"type": "error", "message": e.message});
            Bytes::from(format!("event: error\ndata: {data}\n\n"))
        }
    });
    let mut resp = event_stream(Body::from_stream(events));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
