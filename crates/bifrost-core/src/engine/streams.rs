//! Phase 4 for streams: an answered stream keeps its provider slot and its place among the
//! requests in flight until it ends; chunk hooks, usage and the end of the request are
//! reported as it goes.

use super::context::RequestContext;
use super::Inner;
use crate::error::{BifrostError, ErrorClass};
use crate::plugin::{ChunkAction, Event, Outcome, Pipeline};
use crate::providers::native::UsageCell;
use crate::providers::{ByteStream, ChunkStream};
use crate::queue::Permit;
use crate::schemas::ChatCompletionChunk;
use futures::Stream;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Counts a request (or open stream) as in flight until dropped, for a draining shutdown.
pub(crate) struct InFlightGuard {
    pub(crate) inner: Arc<Inner>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// What an answered stream holds until it ends: the end to report and the provider slot.
pub(crate) struct Holding {
    end: StreamEnd,
    permit: Option<Permit>,
}

impl Holding {
    pub(crate) fn new(
        ctx: RequestContext,
        pipeline: Pipeline,
        (permit, guard): (Option<Permit>, InFlightGuard),
    ) -> Self {
        let end = StreamEnd {
            ctx,
            pipeline,
            guard,
            outcome: None,
        };
        Self { end, permit }
    }
}

/// The end of a streamed request, reported once: at its last item, or when it is dropped early.
struct StreamEnd {
    ctx: RequestContext,
    pipeline: Pipeline,
    guard: InFlightGuard,
    outcome: Option<Outcome>,
}

impl StreamEnd {
    /// Reports the usage the upstream gave for the stream.
    fn tokens(&self, usage: &crate::schemas::Usage) {
        self.pipeline.emit(
            &self.ctx,
            &Event::Tokens {
                provider: &self.ctx.provider,
                model: &self.ctx.model,
                request_type: self.ctx.request_type.as_str(),
                usage,
            },
        );
    }

    fn finish(&mut self, outcome: Outcome, error: Option<ErrorClass>) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            let elapsed = self.ctx.started.elapsed();
            self.pipeline.emit(
                &self.ctx,
                &Event::RequestEnd {
                    request_type: self.ctx.request_type,
                    outcome,
                    elapsed,
                    streamed: true,
                    error,
                },
            );
        }
    }
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if self.outcome.is_none() {
            self.guard
                .inner
                .cancelled_streams
                .fetch_add(1, Ordering::Relaxed);
            self.finish(Outcome::Cancelled, None);
        }
    }
}

/// A chat stream. Holds the provider slot and counts as in flight until it ends or is dropped;
/// dropping it (a client that left) closes the upstream connection.
pub struct ChatStream {
    inner: ChunkStream,
    include_usage: bool,
    usage_reported: bool,
    end: StreamEnd,
    _permit: Option<Permit>,
}

impl ChatStream {
    pub(crate) fn new(inner: ChunkStream, include_usage: bool, held: Holding) -> Self {
        Self {
            inner,
            include_usage,
            usage_reported: false,
            end: held.end,
            _permit: held.permit,
        }
    }

    fn report_usage(&mut self, c: &ChatCompletionChunk) {
        if let (Some(u), false) = (&c.usage, self.usage_reported) {
            self.usage_reported = true;
            self.end.tokens(u);
        }
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk, BifrostError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.end.outcome.is_some() {
            return Poll::Ready(None);
        }
        loop {
            let mut chunk = match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.end.finish(Outcome::Success, None);
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.end.finish(Outcome::Error, Some(e.class));
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(c))) => c,
            };
            self.report_usage(&chunk);
            if self.end.pipeline.has_chunk_hooks() {
                let end = &self.end;
                match end.pipeline.on_chunk(&end.ctx, &mut chunk) {
                    ChunkAction::Keep => {}
                    ChunkAction::Skip => continue,
                    ChunkAction::Abort(e) => {
                        self.end.finish(Outcome::Error, Some(e.class));
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            // Usage is always requested upstream; the client gets it only if it asked.
            if !self.include_usage && chunk.choices.is_empty() && chunk.usage.is_some() {
                continue;
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
    }
}

/// The upstream's bytes of a forwarded stream; holds the provider slot until dropped. For a
/// same-format stream, the usage the relay read is reported when it ends.
pub struct RawStream {
    inner: ByteStream,
    usage: Option<UsageCell>,
    end: StreamEnd,
    _permit: Option<Permit>,
}

impl RawStream {
    pub(crate) fn new(inner: ByteStream, usage: Option<UsageCell>, held: Holding) -> Self {
        Self {
            inner,
            usage,
            end: held.end,
            _permit: held.permit,
        }
    }

    fn finish(&mut self, outcome: Outcome, error: Option<ErrorClass>) {
        self.report_usage();
        self.end.finish(outcome, error);
    }

    fn report_usage(&mut self) {
        if let Some(u) = self.usage.take().and_then(|c| c.get()) {
            self.end.tokens(&u);
        }
    }
}

impl Drop for RawStream {
    fn drop(&mut self) {
        // A client that left is still charged for what the upstream produced so far (the end
        // itself is reported as cancelled when `end` drops).
        if self.end.outcome.is_none() {
            self.report_usage();
        }
    }
}

impl Stream for RawStream {
    type Item = Result<bytes::Bytes, BifrostError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.end.outcome.is_some() {
            return Poll::Ready(None);
        }
        let item = self.inner.as_mut().poll_next(cx);
        match &item {
            Poll::Ready(None) => self.finish(Outcome::Success, None),
            Poll::Ready(Some(Err(e))) => self.finish(Outcome::Error, Some(e.class)),
            _ => {}
        }
        item
    }
}
