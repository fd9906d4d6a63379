//! Server-sent-event bodies with the stream-shaping knobs (chunk delay,
//! stalls, injected truncation) and abort accounting.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use crate::config::MockConfig;
use crate::state::Counters;

/// One SSE event, already encoded.
pub(crate) struct Frame {
    bytes: Bytes,
    /// Content frames are the ones `chunks`, `chunk_delay`, `stall_after_chunks`
    /// and `stream_fail_after` talk about.
    content: bool,
}

impl Frame {
    /// `data: <json>\n\n` (OpenAI style).
    pub(crate) fn data(json: &impl Serialize, content: bool) -> serde_json::Result<Self> {
        Self::framed(b"data: ".to_vec(), json, b"\n\n", content)
    }

    /// `data: <json>\r\n\r\n` (Google style: Gemini and Vertex AI end lines with CRLF).
    pub(crate) fn data_crlf(json: &impl Serialize, content: bool) -> serde_json::Result<Self> {
        Self::framed(b"data: ".to_vec(), json, b"\r\n\r\n", content)
    }

    /// `event: <name>\ndata: <json>\n\n` (Anthropic style).
    pub(crate) fn event(
        name: &str,
        json: &impl Serialize,
        content: bool,
    ) -> serde_json::Result<Self> {
        let head = format!("event: {name}\ndata: ").into_bytes();
        Self::framed(head, json, b"\n\n", content)
    }

    /// `head`, the JSON, `tail`: the one encoding the SSE framings differ only around.
    fn framed(
        mut head: Vec<u8>,
        json: &impl Serialize,
        tail: &[u8],
        content: bool,
    ) -> serde_json::Result<Self> {
        serde_json::to_writer(&mut head, json)?;
        head.extend_from_slice(tail);
        Ok(Self {
            bytes: Bytes::from(head),
            content,
        })
    }

    /// A frame already encoded in some other framing (AWS event-stream).
    pub(crate) fn encoded(bytes: Bytes, content: bool) -> Self {
        Self { bytes, content }
    }

    /// A pre-encoded non-content frame such as `data: [DONE]\n\n`.
    pub(crate) fn raw(bytes: &'static [u8]) -> Self {
        Self {
            bytes: Bytes::from_static(bytes),
            content: false,
        }
    }
}

/// Counts how a stream ended. Dropped by hyper together with the body, so a
/// drop before `complete`/`fail` means the client went away mid-stream.
struct StreamGuard {
    counters: Arc<Counters>,
    finished: bool,
}

impl StreamGuard {
    fn complete(&mut self) {
        self.finished = true;
        Counters::incr(&self.counters.streams_completed);
    }

    /// An injected truncation is the server's doing, not an abort.
    fn fail(&mut self) {
        self.finished = true;
        Counters::incr(&self.counters.failures_injected);
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.finished {
            Counters::incr(&self.counters.streams_aborted);
        }
    }
}

/// The knobs a stream needs, copied out of the config it started with.
struct Knobs {
    chunk_delay: Duration,
    stall_before_first: Option<Duration>,
    stall_after: Option<(usize, Duration)>,
    fail_after: Option<usize>,
    /// What `fail_after` ends the body with: this frame (a Bedrock exception), or else an I/O
    /// error that truncates the body.
    fail_frame: Option<Bytes>,
}

struct Run {
    frames: std::vec::IntoIter<Frame>,
    knobs: Knobs,
    guard: StreamGuard,
    emitted: usize,
    content_sent: usize,
    stalled: bool,
    done: bool,
}

async fn sleep(d: Duration) {
    // Avoid registering a timer for the common zero-delay configuration.
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

impl Run {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        if self.done {
            return None;
        }
        let frame = self.frames.next()?;
        if self.emitted == 0 {
            if let Some(d) = self.knobs.stall_before_first {
                sleep(d).await;
            }
        } else {
            // Both "after N content chunks" knobs fire before the frame that
            // follows the N-th content chunk, whatever kind that frame is.
            if let Some((n, d)) = self.knobs.stall_after {
                if !self.stalled && self.content_sent >= n {
                    self.stalled = true;
                    sleep(d).await;
                }
            }
            if let Some(n) = self.knobs.fail_after {
                if self.content_sent >= n {
                    // hyper flushes its write buffer only when the body is
                    // pending; without this, frames produced back to back
                    // (no chunk_delay) would be discarded with the connection
                    // and the client would not even see the response head.
                    tokio::task::yield_now().await;
                    self.done = true;
                    self.guard.fail();
                    if let Some(frame) = self.knobs.fail_frame.take() {
                        return Some((Ok(frame), self));
                    }
                    let err = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mock: injected stream failure",
                    );
                    return Some((Err(err), self));
                }
            }
        }
        if frame.content {
            sleep(self.knobs.chunk_delay).await;
            self.content_sent += 1;
        }
        self.emitted += 1;
        if self.frames.as_slice().is_empty() {
            self.done = true;
            self.guard.complete();
        }
        Some((Ok(frame.bytes), self))
    }
}

/// A `text/event-stream` response that writes `frames` one by one, each as
/// soon as it is due, honouring the stream knobs of `config`.
pub(crate) fn sse_response(
    frames: Vec<Frame>,
    config: &MockConfig,
    counters: Arc<Counters>,
) -> Response {
    let mut response = stream_response(frames, config, counters, None);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An `application/vnd.amazon.eventstream` response of pre-encoded frames, ended by
/// `fail_frame` (an exception frame) when `stream_fail_after` fires.
pub(crate) fn eventstream_response(
    frames: Vec<Frame>,
    config: &MockConfig,
    counters: Arc<Counters>,
    fail_frame: Bytes,
) -> Response {
    let mut response = stream_response(frames, config, counters, Some(fail_frame));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    response
}

/// A streamed body writing `frames` one by one, each as soon as it is due, honouring the
/// stream knobs of `config`.
fn stream_response(
    frames: Vec<Frame>,
    config: &MockConfig,
    counters: Arc<Counters>,
    fail_frame: Option<Bytes>,
) -> Response {
    Counters::incr(&counters.streams_started);
    let run = Run {
        frames: frames.into_iter(),
        knobs: Knobs {
            chunk_delay: config.chunk_delay,
            stall_before_first: config.stall_before_first_chunk,
            stall_after: config.stall_after_chunks,
            fail_after: config.stream_fail_after,
            fail_frame,
        },
        guard: StreamGuard {
            counters,
            finished: false,
        },
        emitted: 0,
        content_sent: 0,
        stalled: false,
        done: false,
    };
    let body = Body::from_stream(futures::stream::unfold(run, Run::next));
    Response::new(body)
}
