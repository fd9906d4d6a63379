//! Shared state: the live config, counters and the recorded requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;

use crate::config::MockConfig;

/// Snapshot of the server's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockStats {
    /// API requests received (everything except `/health`).
    pub requests: u64,
    /// Requests answered with an injected failure status, plus streams cut by
    /// `stream_fail_after`.
    pub failures_injected: u64,
    /// Streaming responses that started sending a body.
    pub streams_started: u64,
    /// Streams that produced their terminal event (`[DONE]` / `message_stop`).
    pub streams_completed: u64,
    /// Streams whose client went away before the terminal event.
    pub streams_aborted: u64,
    /// TCP connections accepted (a client that keeps connections alive opens few).
    pub connections: u64,
    /// Requests per API key value (Bearer token, `x-api-key`, `x-goog-api-key` or `?key=`).
    pub requests_by_key: BTreeMap<String, u64>,
}

/// How many requests [`MockState::requests`] keeps (the oldest go first).
pub const RECORDED_REQUESTS: usize = 64;

/// A request as the mock saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `POST`, or `GET` for the model list.
    pub method: String,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Parsed JSON body; `Null` for an empty body, a JSON string holding the
    /// (lossy UTF-8) raw text when the body is not valid JSON.
    pub body: serde_json::Value,
    /// All request headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// First value of a header (`name` must be lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What is kept of a request. Conversion to [`RecordedRequest`] is deferred to
/// [`MockState::last_request`] and [`MockState::requests`] so that the request path only pays
/// for moving the already-owned header map and a refcounted body clone.
struct RawRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) failures_injected: AtomicU64,
    pub(crate) streams_started: AtomicU64,
    pub(crate) streams_completed: AtomicU64,
    pub(crate) streams_aborted: AtomicU64,
    pub(crate) connections: AtomicU64,
}

impl Counters {
    pub(crate) fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    config: ArcSwap<MockConfig>,
    counters: Arc<Counters>,
    by_key: Mutex<BTreeMap<String, u64>>,
    /// The last [`RECORDED_REQUESTS`] requests with `record_requests`, else the last one.
    recorded: Mutex<VecDeque<RawRequest>>,
    next_id: AtomicU64,
}

/// Cheaply cloneable handle on the mock's state; pass it to [`crate::router`]
/// to embed the mock in another axum app.
#[derive(Clone)]
pub struct MockState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockState")
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

/// Locks ignoring poisoning: the guarded data stays consistent even if a
/// holder panicked, since every critical section is a single assignment.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockState {
    pub fn new(config: MockConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: ArcSwap::from_pointee(config),
                counters: Arc::default(),
                by_key: Mutex::default(),
                // Allocated once: recording never grows it on the request path.
                recorded: Mutex::new(VecDeque::with_capacity(RECORDED_REQUESTS + 1)),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Current config (a copy).
    pub fn config(&self) -> MockConfig {
        MockConfig::clone(&self.inner.config.load())
    }

    /// Replaces the config for requests that arrive from now on.
    pub fn set_config(&self, config: MockConfig) {
        self.inner.config.store(Arc::new(config));
    }

    pub fn stats(&self) -> MockStats {
        let c = &self.inner.counters;
        MockStats {
            requests: c.requests.load(Ordering::Relaxed),
            failures_injected: c.failures_injected.load(Ordering::Relaxed),
            streams_started: c.streams_started.load(Ordering::Relaxed),
            streams_completed: c.streams_completed.load(Ordering::Relaxed),
            streams_aborted: c.streams_aborted.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            requests_by_key: lock(&self.inner.by_key).clone(),
        }
    }

    /// Zeroes all counters (the recorded requests are kept).
    pub fn reset_stats(&self) {
        let c = &self.inner.counters;
        for counter in [
            &c.requests,
            &c.failures_injected,
            &c.streams_started,
            &c.streams_completed,
            &c.streams_aborted,
            &c.connections,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        lock(&self.inner.by_key).clear();
    }

    /// The last request received (recorded whether or not `record_requests` is on).
    pub fn last_request(&self) -> Option<RecordedRequest> {
        // Clone out of the lock (cheap: refcounts and a small map) and do the
        // JSON parsing after releasing it.
        let raw = lock(&self.inner.recorded)
            .back()
            .map(RawRequest::clone_out)?;
        Some(raw.into_recorded())
    }

    /// The last [`RECORDED_REQUESTS`] requests received, oldest first, when the config's
    /// `record_requests` is on (the default); with it off, only the last one.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let raw: Vec<RawRequest> = lock(&self.inner.recorded)
            .iter()
            .map(RawRequest::clone_out)
            .collect();
        raw.into_iter().map(RawRequest::into_recorded).collect()
    }

    pub(crate) fn load_config(&self) -> Arc<MockConfig> {
        self.inner.config.load_full()
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.inner.counters
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts an API request and records it (see [`MockState::requests`]).
    pub(crate) fn record(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
        key: Option<&str>,
    ) {
        Counters::incr(&self.inner.counters.requests);
        if let Some(key) = key {
            let mut by_key = lock(&self.inner.by_key);
            // Look up by &str first so only a never-seen key allocates.
            match by_key.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    by_key.insert(key.to_owned(), 1);
                }
            }
        }
        let keep = if self.inner.config.load().record_requests {
            RECORDED_REQUESTS
        } else {
            1
        };
        let raw = RawRequest {
            method,
            uri,
            headers,
            body,
        };
        // Push under the lock, drop the evicted request outside of it.
        let evicted = {
            let mut recorded = lock(&self.inner.recorded);
            recorded.push_back(raw);
            // More than one goes only right after `record_requests` was turned off.
            while recorded.len() > keep + 1 {
                recorded.pop_front();
            }
            if recorded.len() > keep {
                recorded.pop_front()
            } else {
                None
            }
        };
        drop(evicted);
    }
}

impl RawRequest {
    fn clone_out(&self) -> Self {
        Self {
            method: self.method.clone(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }

    fn into_recorded(self) -> RecordedRequest {
        let RawRequest {
            method,
            uri,
            headers,
            body,
        } = self;
        let body = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
            })
        };
        let headers = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        RecordedRequest {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            body,
            headers,
        }
    }
}
