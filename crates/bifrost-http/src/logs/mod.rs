//! Request logs: exactly one row per inference request, whatever became of it.
//!
//! The route opens a [`LogEntry`] when a request arrives and hands it to the engine in the
//! request's options; the [`RequestLogger`] plugin fills it in as the engine works (target,
//! key, attempts, tokens, time to first token, the answer), and the route records how the
//! exchange ended. The row is submitted when the last holder lets go of the entry: the route
//! for a unary answer, the stream when it ends or the client leaves. Submitting only enqueues
//! ([`LogWriter::log`]); a background thread writes batches, and a full queue drops the row
//! (counted), never the request. A request that arrives while the queue is full gets no entry
//! at all ([`LogWriter::admit`]): its row is counted as dropped then.

pub mod api;

use bifrost_core::plugin::{Event, Outcome, Response};
use bifrost_core::schemas::Usage;
use bifrost_core::{BifrostError, Plugin, PreHook, Request, RequestContext, RequestType};
use bifrost_store::{LogRow, LogWriter};
use futures::future::BoxFuture;
use futures::StreamExt as _;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What request logging records, from `client` (`enable_logging`,
/// `disable_content_logging`, `logging_headers`).
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// Keep the request's and the answer's content (messages, outputs).
    pub content: bool,
    /// Request headers copied into a row's metadata (besides every `x-bf-lh-*` header).
    pub headers: Vec<String>,
}

/// The request-logging service: the writer and what to record.
#[derive(Clone)]
pub struct RequestLogs {
    pub writer: LogWriter,
    /// Swapped whole by `PUT /api/config`.
    pub settings: Arc<arc_swap::ArcSwap<LogSettings>>,
    /// `client.log_retention_days`, read by the retention task at each run.
    pub retention_days: Arc<std::sync::atomic::AtomicU32>,
    /// Set at shutdown: live tails end, so their connections do not hold the drain open.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl RequestLogs {
    /// Opens the entry of a request that just arrived; none when the writer's queue is full
    /// (the row is counted as dropped now, and nothing is spent building it).
    pub(crate) fn open(
        &self,
        id: &str,
        route: &str,
        object: &str,
        headers: &http::HeaderMap,
        body: Option<&bytes::Bytes>,
    ) -> Option<Arc<LogEntry>> {
        if !self.writer.admit() {
            return None;
        }
        let settings = self.settings.load();
        let timestamp = now_ms();
        let mut metadata = std::collections::BTreeMap::new();
        for (name, value) in headers {
            let key = match name.as_str().strip_prefix("x-bf-lh-") {
                Some(k) => k,
                None if settings.headers.iter().any(|h| h == name.as_str()) => name.as_str(),
                None => continue,
            };
            if let Ok(v) = value.to_str() {
                metadata.insert(key.to_owned(), v.to_owned());
            }
        }
        // Parsed on the writer's thread, not here. Copied: the body may be a slice of a much
        // larger read buffer, which a queued row would otherwise keep alive.
        let (raw_input, input) = match body
            .filter(|_| settings.content)
            .map(|b| bifrost_store::capture(b))
        {
            Some(Ok(b)) => (Some(b), None),
            Some(Err(note)) => (None, Some(note)),
            None => (None, None),
        };
        Some(Arc::new(LogEntry {
            row: Mutex::new(LogRow {
                id: id.to_owned(),
                timestamp,
                route: route.to_owned(),
                object: object.to_owned(),
                metadata,
                raw_input,
                input,
                ..LogRow::default()
            }),
            streamed: Mutex::default(),
            started: Instant::now(),
            content: settings.content,
            writer: self.writer.clone(),
        }))
    }
}

/// The row of one request while it is in progress.
pub struct LogEntry {
    row: Mutex<LogRow>,
    /// What a stream's answer said, as it passed (content logging only).
    streamed: Mutex<Streamed>,
    started: Instant,
    content: bool,
    writer: LogWriter,
}

impl std::fmt::Debug for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogEntry")
    }
}

/// A stream's answer while it passes: relayed events as bytes (parsed by the writer), or the
/// text of unified chunks.
#[derive(Default)]
struct Streamed {
    sse: Vec<u8>,
    text: String,
    finish_reason: Option<String>,
}

impl LogEntry {
    fn streamed(&self) -> std::sync::MutexGuard<'_, Streamed> {
        self.streamed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a relayed event's bytes, up to the capture limit.
    fn capture_sse(&self, b: &[u8]) {
        let mut s = self.streamed();
        let room = bifrost_store::STREAM_CAPTURE_LIMIT.saturating_sub(s.sse.len());
        s.sse.extend_from_slice(&b[..b.len().min(room)]);
    }

    /// Keeps a unified chunk's text and finish reason (first choice).
    fn capture_chunk(&self, c: &bifrost_core::schemas::ChatCompletionChunk) {
        let Some(choice) = c.choices.first() else {
            return;
        };
        let mut s = self.streamed();
        if let Some(t) = &choice.delta.content {
            if s.text.len() + t.len() <= bifrost_store::STREAM_CAPTURE_LIMIT {
                s.text.push_str(t);
            }
        }
        if choice.finish_reason.is_some() {
            s.finish_reason.clone_from(&choice.finish_reason);
        }
    }

    fn with(&self, f: impl FnOnce(&mut LogRow)) {
        let mut row = self
            .row
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut row);
    }

    /// How the HTTP exchange ended, as the route saw it: a unary answer or an error. (A
    /// stream's outcome comes from the engine when it ends.)
    pub(crate) fn answered(&self, http_status: u16, error: Option<&BifrostError>, stream: bool) {
        self.with(|row| {
            row.http_status = i64::from(http_status);
            match error {
                Some(e) => {
                    row.status = "error".to_owned();
                    row.error = Some(error_json(e));
                    if row.provider.is_none() {
                        row.provider.clone_from(&e.provider);
                    }
                    if row.model.is_none() {
                        row.model.clone_from(&e.model);
                    }
                }
                // A stream's outcome is known when it ends.
                None if row.status.is_empty() && !stream => row.status = "success".to_owned(),
                None => {}
            }
        });
    }

    /// The virtual key the request came with.
    pub(crate) fn virtual_key(&self, id: &str, name: &str) {
        self.with(|row| {
            row.virtual_key_id = Some(id.to_owned());
            row.virtual_key_name = Some(name.to_owned());
        });
    }

    /// What the answer cost, in USD.
    pub(crate) fn cost(&self, usd: f64) {
        self.with(|row| row.cost = Some(usd));
    }

    /// The routing outcome of a successful answer (what the engine reported back).
    pub(crate) fn routed(&self, meta: &crate::routes::Answered, stream: bool) {
        self.with(|row| {
            if !meta.provider.is_empty() {
                row.provider = Some(meta.provider.clone());
                row.model = Some(meta.model.clone());
                row.key_id.clone_from(&meta.key_id);
            }
            row.fallback_index = meta.fallback_index as i64;
            row.number_of_retries = meta.retries as i64;
            row.stream = stream;
        });
    }
}

impl Drop for LogEntry {
    fn drop(&mut self) {
        let mut row = std::mem::take(
            self.row
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let streamed = std::mem::take(
            self.streamed
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !streamed.sse.is_empty() {
            row.raw_output_sse = Some(streamed.sse.into());
        } else if !streamed.text.is_empty() || streamed.finish_reason.is_some() {
            row.output = Some(serde_json::json!({
                "role": "assistant",
                "content": streamed.text,
                "finish_reason": streamed.finish_reason,
            }));
        }
        if row.status.is_empty() {
            // Nobody saw an end: the client left before the answer.
            row.status = "cancelled".to_owned();
        }
        if row.latency_ms == 0.0 {
            row.latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        }
        if row.http_status == 0 {
            row.http_status = if row.status == "cancelled" { 499 } else { 200 };
        }
        self.writer.log(row);
    }
}

fn error_json(e: &BifrostError) -> Value {
    e.to_json()
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Deletes rows older than `days` now and then every hour, in batches (short transactions).
pub fn spawn_retention(store: bifrost_store::LogStore, days: Arc<std::sync::atomic::AtomicU32>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let days = days.load(std::sync::atomic::Ordering::Relaxed);
            let cutoff = now_ms() - i64::from(days) * 86_400_000;
            match store.delete_older_than(cutoff, 5000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "request logs past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "request log retention failed"),
            }
        }
    });
}

/// Token counts of a usage report.
pub(crate) fn usage_fields(row: &mut LogRow, u: &Usage) {
    row.prompt_tokens = u.prompt_tokens as i64;
    row.completion_tokens = u.completion_tokens as i64;
    row.total_tokens = if u.total_tokens > 0 {
        u.total_tokens as i64
    } else {
        (u.prompt_tokens + u.completion_tokens) as i64
    };
    let detail = |outer: &str, inner: &str| {
        u.extra
            .get(outer)
            .and_then(|d| d.get(inner))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    row.cached_tokens = detail("prompt_tokens_details", "cached_tokens");
    row.reasoning_tokens = detail("completion_tokens_details", "reasoning_tokens");
}

/// Wraps a byte stream so that each item, passed on unchanged, is also captured into `e`.
fn tap_bytes(s: &mut bifrost_core::providers::ByteStream, e: &Arc<LogEntry>) {
    let inner = std::mem::replace(s, Box::pin(futures::stream::empty()));
    let e = e.clone();
    *s = Box::pin(inner.inspect(move |item| {
        if let Ok(b) = item {
            e.capture_sse(b);
        }
    }));
}

/// The plugin that fills request log entries in from what the engine does.
pub struct RequestLogger;

fn entry(ctx: &RequestContext) -> Option<&Arc<LogEntry>> {
    ctx.options.extensions.get::<Arc<LogEntry>>()
}

impl Plugin for RequestLogger {
    fn name(&self) -> &str {
        "logging"
    }

    fn pre_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        _req: &'a mut Request,
    ) -> Option<BoxFuture<'a, PreHook>> {
        if let Some(e) = entry(ctx) {
            let provider = ctx.provider.to_string();
            let model = ctx.model.clone();
            let fallback = ctx.fallback_index as i64;
            e.with(|row| {
                row.provider = Some(provider);
                row.model = Some(model);
                row.fallback_index = fallback;
            });
        }
        None
    }

    fn post_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        result: &'a mut Result<Response, BifrostError>,
    ) -> Option<BoxFuture<'a, ()>> {
        let e = entry(ctx)?;
        if !e.content {
            return None;
        }
        // Streams are watched as they pass: each item goes on at once, a copy is kept.
        match result {
            Ok(Response::Native(bifrost_core::providers::native::NativeResponse::Stream(s))) => {
                tap_bytes(&mut s.bytes, e);
                return None;
            }
            Ok(Response::RawStream(b)) => {
                tap_bytes(b, e);
                return None;
            }
            Ok(Response::ChatStream(c)) => {
                let inner = std::mem::replace(c, Box::pin(futures::stream::empty()));
                let e = e.clone();
                *c = Box::pin(inner.inspect(move |item| {
                    if let Ok(chunk) = item {
                        e.capture_chunk(chunk);
                    }
                }));
                return None;
            }
            _ => {}
        }
        // Upstream JSON is kept as bytes and parsed by the writer; copied, not shared, so a
        // queued row holds its own bytes rather than the connection's read buffer.
        let raw = match result {
            Ok(Response::Native(bifrost_core::providers::native::NativeResponse::Json {
                body,
                ..
            })) => Some(bifrost_store::capture(body)),
            Ok(Response::Raw(r)) if r.content_type.contains("json") => {
                Some(bifrost_store::capture(&r.body))
            }
            _ => None,
        };
        match raw {
            Some(Ok(b)) => {
                e.with(|row| row.raw_output = Some(b));
                return None;
            }
            Some(Err(note)) => {
                e.with(|row| row.output = Some(note));
                return None;
            }
            None => {}
        }
        let output = match result {
            Ok(Response::Chat(c)) => serde_json::to_value(c).ok(),
            Ok(Response::Embedding(r)) => Some(serde_json::json!({
                "object": "list",
                "embeddings": r.data.len(),
                "model": r.model,
            })),
            _ => None,
        };
        if output.is_some() {
            e.with(|row| row.output = output);
        }
        None
    }

    fn on_event(&self, ctx: &RequestContext, event: &Event<'_>) {
        let Some(e) = entry(ctx) else {
            return;
        };
        match event {
            Event::Attempt(a) => {
                let ttft = (a.stream && a.error.is_none())
                    .then(|| ctx.started.elapsed().as_secs_f64() * 1000.0);
                e.with(|row| {
                    row.key_name = a.key_name.map(str::to_owned);
                    row.key_id.clone_from(&ctx.key_id);
                    row.number_of_retries = ctx.retries as i64;
                    if ttft.is_some() {
                        row.ttft_ms = ttft;
                        row.stream = true;
                    }
                });
            }
            Event::Tokens { usage, .. } => e.with(|row| usage_fields(row, usage)),
            Event::RequestEnd {
                request_type,
                outcome,
                elapsed,
                ..
            } => {
                let stream = matches!(
                    request_type,
                    RequestType::ChatCompletionStream | RequestType::TextCompletionStream
                );
                e.with(|row| {
                    row.latency_ms = elapsed.as_secs_f64() * 1000.0;
                    row.stream |= stream;
                    row.status = match outcome {
                        Outcome::Success => "success",
                        Outcome::Error => "error",
                        Outcome::Cancelled => "cancelled",
                    }
                    .to_owned();
                });
            }
            _ => {}
        }
    }
}
