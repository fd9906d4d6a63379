//! The plugin pipeline: the seam every cross-cutting feature (metrics, traces, request logs,
//! governance, caching) hangs on, with the original's semantics (behaviour reference §8.1):
//!
//! - **HTTP pre-hooks** run once per request, before the route parses the body: a plugin may
//!   rewrite headers and body (virtual-key routing) or answer at once.
//! - **Pre-hooks** run per attempted *target* (the primary, then each fallback) — not per
//!   retry — in registration order. A pre-hook may modify the request or short-circuit with a
//!   response (or stream) or an error that says whether fallbacks may still be tried.
//! - **Post-hooks** run for the same target after its outcome is known (retries included), in
//!   reverse order, and only for the plugins whose pre-hook ran (a short-circuit at plugin `i`
//!   unwinds through `i…0`). A post-hook may replace the response or the error: recover or
//!   invalidate.
//! - **Chunk hooks** see every chunk of a chat stream as it passes and may keep, skip or abort.
//! - **Events** report what the engine did — every upstream attempt, queue waits, retries,
//!   fallbacks, key cooldowns, token usage, the end of a request — through one channel
//!   ([`Event`]); metrics and traces are plugins that listen to it.
//!
//! Every hook is timed (reported as [`Event::Hook`]) and isolated: a panicking plugin is
//! caught, logged, counted ([`Pipeline::panics`]) and treated as passing the request through.
//! A plugin implements only the hooks it needs; the async hooks return `None` when not
//! implemented, so an unused hook costs no allocation.

use crate::config::RequestType;
use crate::engine::context::{RequestContext, RequestOptions};
use crate::error::{BifrostError, ErrorClass};
use crate::observe::StageTimes;
use crate::schemas::{ChatCompletionChunk, Usage};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::engine::call::{Request, Response};

/// What a pre-hook decided.
pub enum PreHook {
    /// Go on (with the request as the hook left it).
    Continue,
    /// Answer without calling the provider (boxed: the common case, `Continue`, stays small).
    ShortCircuit(Box<ShortCircuit>),
}

/// A pre-hook's own answer (already boxed inside [`PreHook`]).
#[allow(clippy::large_enum_variant)]
pub enum ShortCircuit {
    /// A ready response (a cached answer, a canned stream).
    Respond(Response),
    /// A refusal; `allow_fallbacks` says whether the next target may still be tried.
    Fail {
        error: BifrostError,
        allow_fallbacks: bool,
    },
}

/// What a chunk hook decided about one chunk.
pub enum ChunkAction {
    Keep,
    /// Drop this chunk; the stream goes on.
    Skip,
    /// End the stream with this error (as its last item).
    Abort(BifrostError),
}

/// The raw HTTP request a route received, before it parses the body.
pub struct HttpRequest<'a> {
    pub method: &'a http::Method,
    pub path: &'a str,
    pub headers: &'a mut http::HeaderMap,
    pub body: &'a mut bytes::Bytes,
}

/// One upstream attempt, finished (for streams: when the first chunk arrived or it failed).
#[derive(Debug)]
pub struct AttemptEvent<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub request_type: &'static str,
    /// 200 on success, else the error's status.
    pub status: u16,
    /// `None` on success.
    pub error: Option<ErrorClass>,
    /// The key's name, when a configured key was used.
    pub key_name: Option<&'a str>,
    /// 0 for the first try of a target, n for its n-th retry.
    pub retry: u32,
    /// 0 for the primary target, i+1 for the i-th fallback.
    pub fallback_index: usize,
    pub stream: bool,
    /// When the call started (wall clock, for trace exporters) and how long it took.
    pub started_at: SystemTime,
    pub latency: Duration,
    pub stages: StageTimes,
    /// Usage the answer reported, when known at this point (not for streams).
    pub usage: Option<&'a Usage>,
    /// `max_tokens` / `temperature` of a chat request (trace attributes).
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
}

/// Which hook an [`Event::Hook`] timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Http,
    Pre,
    Post,
    Chunk,
}

impl HookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Http => "http_pre_hook",
            HookKind::Pre => "pre_hook",
            HookKind::Post => "post_hook",
            HookKind::Chunk => "chunk_hook",
        }
    }
}

/// How a request ended, for [`Event::RequestEnd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error,
    /// The client went away before the end (a stream dropped early).
    Cancelled,
}

/// What the engine reports as it works. Handlers run on the request path: they must be cheap
/// and must not block.
#[derive(Debug)]
pub enum Event<'a> {
    Attempt(&'a AttemptEvent<'a>),
    /// Time a request waited for a provider slot (zero when one was free).
    QueueWait {
        provider: &'a str,
        waited: Duration,
    },
    /// A request refused by a provider queue: `queue_full` or `queue_timeout`.
    Dropped {
        provider: &'a str,
        reason: &'static str,
    },
    /// The same target is tried again after a failure of this class.
    Retry {
        provider: &'a str,
        class: ErrorClass,
    },
    /// A failed target handed the request to the next one.
    Fallback {
        from: &'a str,
        to: &'a str,
    },
    /// A key left rotation after a failure that was its fault.
    KeyCooldown {
        provider: &'a str,
        key_name: &'a str,
        class: ErrorClass,
        period: Duration,
    },
    /// Token usage reported by the provider (for streams, from the final chunk).
    Tokens {
        provider: &'a str,
        model: &'a str,
        request_type: &'static str,
        usage: &'a Usage,
    },
    /// A plugin hook ran for this long. Only hooks that return a future are timed: `None` is
    /// "done already" (work done in the call itself, as the governance plugin's memory
    /// counters do), and timing it would cost every request an event per plugin.
    Hook {
        plugin: &'a str,
        hook: HookKind,
        elapsed: Duration,
    },
    /// A plugin hook panicked (and was treated as passing through).
    PluginPanic {
        plugin: &'a str,
        hook: HookKind,
    },
    /// The request is over: answered, failed, or (streams) ended or abandoned.
    RequestEnd {
        request_type: RequestType,
        outcome: Outcome,
        elapsed: Duration,
        /// The answer was a stream that had started (its attempt reported success): the
        /// outcome is how the stream itself ended.
        streamed: bool,
        /// The failure's class when `outcome` is [`Outcome::Error`].
        error: Option<ErrorClass>,
    },
}

/// A plugin. Every method has a do-nothing default.
pub trait Plugin: Send + Sync {
    fn name(&self) -> &str;

    /// Before the route parses the request (once per request); `options` become the request
    /// context's (a plugin may set key pins, labels or extensions there).
    fn http_pre_hook<'a>(
        &'a self,
        _options: &'a mut RequestOptions,
        _req: HttpRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<(), BifrostError>>> {
        None
    }

    /// Before each target is attempted; `req` is the request as that target will get it.
    fn pre_hook<'a>(
        &'a self,
        _ctx: &'a mut RequestContext,
        _req: &'a mut Request,
    ) -> Option<BoxFuture<'a, PreHook>> {
        None
    }

    /// After a target's outcome is known; may replace it.
    fn post_hook<'a>(
        &'a self,
        _ctx: &'a mut RequestContext,
        _result: &'a mut Result<Response, BifrostError>,
    ) -> Option<BoxFuture<'a, ()>> {
        None
    }

    /// Each chunk of a chat stream, as it passes.
    fn on_chunk(&self, _ctx: &RequestContext, _chunk: &mut ChatCompletionChunk) -> ChunkAction {
        ChunkAction::Keep
    }

    /// Whether [`Plugin::on_chunk`] is implemented (streams skip the hook loop otherwise).
    fn wants_chunks(&self) -> bool {
        false
    }

    /// What the engine did ([`Event`]).
    fn on_event(&self, _ctx: &RequestContext, _event: &Event<'_>) {}
}

/// The registered plugins, in order, and the hook runner.
#[derive(Clone, Default)]
pub struct Pipeline {
    plugins: Arc<[Arc<dyn Plugin>]>,
    chunk_plugins: Arc<[Arc<dyn Plugin>]>,
    panics: Arc<AtomicU64>,
}

impl Pipeline {
    pub fn new(plugins: Vec<Arc<dyn Plugin>>) -> Self {
        let chunk_plugins: Vec<_> = plugins
            .iter()
            .filter(|p| p.wants_chunks())
            .cloned()
            .collect();
        Self {
            plugins: plugins.into(),
            chunk_plugins: chunk_plugins.into(),
            panics: Arc::default(),
        }
    }

    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    /// Hooks that panicked since start.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    pub fn has_chunk_hooks(&self) -> bool {
        !self.chunk_plugins.is_empty()
    }

    /// Reports `event` to every plugin.
    pub fn emit(&self, ctx: &RequestContext, event: &Event<'_>) {
        for p in self.plugins.iter() {
            if std::panic::catch_unwind(AssertUnwindSafe(|| p.on_event(ctx, event))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
                tracing::error!(plugin = p.name(), "plugin panicked in on_event; ignored");
            }
        }
    }

    fn timed(&self, ctx: &RequestContext, plugin: &dyn Plugin, hook: HookKind, start: Instant) {
        let elapsed = start.elapsed();
        self.emit(
            ctx,
            &Event::Hook {
                plugin: plugin.name(),
                hook,
                elapsed,
            },
        );
    }

    fn panicked(&self, ctx: &RequestContext, plugin: &dyn Plugin, hook: HookKind) {
        self.panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            plugin = plugin.name(),
            hook = hook.as_str(),
            "plugin panicked; treated as pass-through"
        );
        self.emit(
            ctx,
            &Event::PluginPanic {
                plugin: plugin.name(),
                hook,
            },
        );
    }

    /// Runs every HTTP pre-hook; the first error answers the request.
    pub async fn http_pre_hooks(
        &self,
        options: &mut RequestOptions,
        req: HttpRequest<'_>,
    ) -> Result<(), BifrostError> {
        let HttpRequest {
            method,
            path,
            headers,
            body,
        } = req;
        for p in self.plugins.iter() {
            let start = Instant::now();
            let req = HttpRequest {
                method,
                path,
                headers: &mut *headers,
                body: &mut *body,
            };
            let Some(result) = guarded(|| p.http_pre_hook(&mut *options, req)).await else {
                continue;
            };
            // Hook events need a context; before parsing there is only the options.
            let ctx =
                RequestContext::new(options.clone(), crate::config::RequestType::ChatCompletion);
            match result {
                Ok(r) => {
                    self.timed(&ctx, &**p, HookKind::Http, start);
                    r?;
                }
                Err(_) => self.panicked(&ctx, &**p, HookKind::Http),
            }
        }
        Ok(())
    }

    /// Runs the pre-hooks in order. Returns how many plugins ran (whose post-hooks must run)
    /// and a short-circuit, if one answered.
    pub(crate) async fn pre_hooks(
        &self,
        ctx: &mut RequestContext,
        req: &mut Request,
    ) -> (usize, Option<ShortCircuit>) {
        for (i, p) in self.plugins.iter().enumerate() {
            let start = Instant::now();
            let Some(result) = guarded(|| p.pre_hook(&mut *ctx, &mut *req)).await else {
                continue;
            };
            match result {
                Ok(PreHook::Continue) => self.timed(ctx, &**p, HookKind::Pre, start),
                Ok(PreHook::ShortCircuit(sc)) => {
                    self.timed(ctx, &**p, HookKind::Pre, start);
                    return (i + 1, Some(*sc));
                }
                Err(_) => self.panicked(ctx, &**p, HookKind::Pre),
            }
        }
        (self.plugins.len(), None)
    }

    /// Runs the post-hooks of the first `ran` plugins, last first.
    pub(crate) async fn post_hooks(
        &self,
        ctx: &mut RequestContext,
        ran: usize,
        result: &mut Result<Response, BifrostError>,
    ) {
        for p in self.plugins[..ran.min(self.plugins.len())].iter().rev() {
            let start = Instant::now();
            let Some(outcome) = guarded(|| p.post_hook(&mut *ctx, &mut *result)).await else {
                continue;
            };
            match outcome {
                Ok(()) => self.timed(ctx, &**p, HookKind::Post, start),
                Err(_) => self.panicked(ctx, &**p, HookKind::Post),
            }
        }
    }

    /// Runs the chunk hooks on one chunk.
    pub(crate) fn on_chunk(
        &self,
        ctx: &RequestContext,
        chunk: &mut ChatCompletionChunk,
    ) -> ChunkAction {
        for p in self.chunk_plugins.iter() {
            let start = Instant::now();
            match std::panic::catch_unwind(AssertUnwindSafe(|| p.on_chunk(ctx, chunk))) {
                Ok(ChunkAction::Keep) => self.timed(ctx, &**p, HookKind::Chunk, start),
                Ok(other) => {
                    self.timed(ctx, &**p, HookKind::Chunk, start);
                    return other;
                }
                Err(_) => self.panicked(ctx, &**p, HookKind::Chunk),
            }
        }
        ChunkAction::Keep
    }
}

/// Calls a hook with panics caught both in its synchronous part and in its future: `None` when
/// the plugin has nothing to do for this request, `Some(Err(_))` when it panicked.
async fn guarded<'f, T>(
    hook: impl FnOnce() -> Option<BoxFuture<'f, T>>,
) -> Option<std::thread::Result<T>> {
    match std::panic::catch_unwind(AssertUnwindSafe(hook)) {
        Ok(None) => None,
        Ok(Some(fut)) => Some(AssertUnwindSafe(fut).catch_unwind().await),
        Err(panic) => Some(Err(panic)),
    }
}
