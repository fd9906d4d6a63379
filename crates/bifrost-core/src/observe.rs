//! What the engine reports as it works. The server turns these events into Prometheus metrics;
//! an embedder may log them or ignore them. Every method has a no-op default and is called on
//! the request path, so implementations must be cheap and must not block.

use crate::error::ErrorClass;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The request type, as the `method` label of the original's metrics names it.
pub const CHAT_COMPLETION: &str = "chat_completion";
pub const CHAT_COMPLETION_STREAM: &str = "chat_completion_stream";
pub const EMBEDDING: &str = "embedding";

/// The seed's stage table, measured per upstream attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub key_selection: Duration,
    /// Translating the request into the provider's shape.
    pub message_formatting: Duration,
    /// Serializing the upstream body.
    pub json_marshaling: Duration,
    /// Sending the request and receiving the response (the first chunk, for streams).
    pub http_request: Duration,
    /// Decoding and translating the response.
    pub response_parsing: Duration,
}

/// Filled in by a provider during one call (atomics, so a `&StageClock` can cross awaits).
#[derive(Debug, Default)]
pub struct StageClock {
    formatting_ns: AtomicU64,
    marshaling_ns: AtomicU64,
    http_ns: AtomicU64,
    parsing_ns: AtomicU64,
}

/// Which provider-side stage a measurement belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Formatting,
    Marshaling,
    Http,
    Parsing,
}

impl StageClock {
    pub fn record(&self, stage: Stage, d: Duration) {
        let slot = match stage {
            Stage::Formatting => &self.formatting_ns,
            Stage::Marshaling => &self.marshaling_ns,
            Stage::Http => &self.http_ns,
            Stage::Parsing => &self.parsing_ns,
        };
        slot.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn times(&self, key_selection: Duration) -> StageTimes {
        let get = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        StageTimes {
            key_selection,
            message_formatting: get(&self.formatting_ns),
            json_marshaling: get(&self.marshaling_ns),
            http_request: get(&self.http_ns),
            response_parsing: get(&self.parsing_ns),
        }
    }
}

/// One upstream attempt, finished (for streams: once the first chunk arrived or it failed).
#[derive(Debug)]
pub struct AttemptEvent<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub request_type: &'static str,
    /// 200 on success, else the error's status.
    pub status: u16,
    /// `None` on success.
    pub error: Option<ErrorClass>,
    pub latency: Duration,
    pub stages: StageTimes,
    /// Values of the configured custom metric labels, in their order.
    pub labels: &'a [String],
}

pub trait Observer: Send + Sync {
    fn attempt(&self, _ev: &AttemptEvent<'_>) {}
    /// Time a request waited for a provider slot (zero when one was free).
    fn queue_wait(&self, _provider: &str, _waited: Duration) {}
    /// A request refused by a provider queue: `queue_full` or `queue_timeout`.
    fn dropped(&self, _provider: &str, _reason: &'static str) {}
    fn retry(&self, _provider: &str, _class: ErrorClass) {}
    /// A failed target handed the request to the next one.
    fn fallback(&self, _from: &str, _to: &str) {}
    /// A key left rotation after a failure that was its fault.
    fn key_cooldown(&self, _provider: &str, _key_name: &str, _class: ErrorClass) {}
    /// Token usage reported by the provider (for streams, from the final chunk).
    fn tokens(
        &self,
        _provider: &str,
        _model: &str,
        _request_type: &'static str,
        _labels: &[String],
        _input: u64,
        _output: u64,
    ) {
    }
}

/// Reports nothing.
pub struct NoopObserver;

impl Observer for NoopObserver {}
