//! What the phases of one request share: the caller's options, the context plugins see, and
//! the answer's bookkeeping.

use crate::config::{RequestType, Secret};
use crate::error::Attempt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Per-request options (the `x-bf-*` headers of the HTTP API).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The request's id (`x-request-id`), for logs and plugins.
    pub request_id: String,
    /// Use exactly this configured key (by id), on the primary target.
    pub key_id: Option<String>,
    /// Use exactly this configured key (by name); `key_id` wins.
    pub key_name: Option<String>,
    /// Keep using one key for this conversation (primary target only).
    pub session_id: Option<String>,
    /// How long a session keeps its key (default 1 h).
    pub session_ttl: Option<Duration>,
    /// Values of the configured custom metric labels, for the metrics plugin.
    pub labels: Vec<String>,
    /// The caller's own provider key (`client.allow_direct_keys`), used instead of the
    /// configured keys on the primary target.
    pub direct_key: Option<Secret>,
    /// Typed values for plugins (a trace parent, a resolved virtual key, …).
    pub extensions: http::Extensions,
}

impl RequestOptions {
    pub(crate) fn pins_key(&self) -> bool {
        self.key_id.is_some() || self.key_name.is_some()
    }
}

/// The per-request context every phase and plugin hook sees. The engine fills in the current
/// target and the bookkeeping as the request moves through its phases.
#[derive(Debug)]
pub struct RequestContext {
    pub options: RequestOptions,
    pub request_type: RequestType,
    /// When the engine admitted the request.
    pub started: Instant,
    /// The target being attempted (or that answered): provider, upstream model, its position.
    pub provider: Arc<str>,
    pub model: String,
    /// 0 for the primary target, i+1 for the i-th fallback.
    pub fallback_index: usize,
    /// The configured key of the latest attempt (none for keyless or direct keys).
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    /// Every upstream attempt so far, in order.
    pub attempts: Vec<Attempt>,
    /// Attempts that repeated a target after a failure (fallbacks are not retries).
    pub retries: usize,
    /// Time spent in upstream calls over all attempts (to the first chunk, for streams).
    pub upstream_time: Duration,
    /// Time spent sleeping between retries.
    pub backoff_time: Duration,
    /// Queue wait of the latest attempt.
    pub queue_wait: Duration,
    /// Headers plugins add to the client's answer (e.g. rate-limit headers); the HTTP layer
    /// sends them with the response.
    pub response_headers: http::HeaderMap,
    /// Keys (by id) the current target may use; `None`: any. A pre-hook sets it per target
    /// (a virtual key limited to some provider keys); it is cleared as each target starts.
    pub allowed_keys: Option<Arc<[String]>>,
}

impl RequestContext {
    pub fn new(options: RequestOptions, request_type: RequestType) -> Self {
        Self {
            options,
            request_type,
            started: Instant::now(),
            provider: Arc::from(""),
            model: String::new(),
            fallback_index: 0,
            key_id: None,
            key_name: None,
            attempts: Vec::new(),
            retries: 0,
            upstream_time: Duration::ZERO,
            backoff_time: Duration::ZERO,
            queue_wait: Duration::ZERO,
            response_headers: http::HeaderMap::new(),
            allowed_keys: None,
        }
    }

    /// The answer's bookkeeping, from the target that produced it. The plugins' response
    /// headers move into it (they are read nowhere else once the answer is settled).
    pub(crate) fn meta(&mut self) -> ResponseMeta {
        ResponseMeta {
            provider: self.provider.to_string(),
            model: self.model.clone(),
            key_id: self.key_id.clone(),
            fallback_index: self.fallback_index,
            attempts: self.attempts.len(),
            retries: self.retries,
            queue_wait: self.queue_wait,
            upstream_time: self.upstream_time,
            backoff_time: self.backoff_time,
            headers: std::mem::take(&mut self.response_headers),
        }
    }
}

/// A successful answer and who produced it.
#[derive(Debug)]
pub struct BifrostResponse<T> {
    pub body: T,
    pub meta: ResponseMeta,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMeta {
    pub provider: String,
    pub model: String,
    pub key_id: Option<String>,
    /// 0 for the primary target, i+1 for the i-th fallback.
    pub fallback_index: usize,
    /// Upstream attempts made in all, this one included.
    pub attempts: usize,
    /// Attempts that repeated a target after it failed (the `x-bf-retries` header and
    /// `bifrost_request_retries_total` count these; moving to a fallback is not a retry).
    pub retries: usize,
    /// Time spent waiting for a provider slot by the attempt that answered.
    pub queue_wait: Duration,
    /// Time spent in upstream calls, over all attempts (to the first chunk, for streams).
    pub upstream_time: Duration,
    /// Time spent sleeping between retries.
    pub backoff_time: Duration,
    /// Headers plugins added for the client.
    pub headers: http::HeaderMap,
}
