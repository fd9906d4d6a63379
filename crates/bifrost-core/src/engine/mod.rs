//! The engine and the path of a request through it.
//!
//! Every request goes through these phases, each in its own module:
//!
//! 1. **Admit** ([`Bifrost::admit`], here): refused once shutdown began; counted in flight
//!    until its answer (or its stream) ends. A [`RequestContext`] is opened: options, ids,
//!    custom labels, timings, attempts — what the phases and plugins share.
//! 2. **Resolve targets** ([`targets`]): the primary (`provider` field, `provider/model`
//!    prefix, model alias, or the one provider whose keys list the model), then the request's
//!    `fallbacks`, then an alias's other targets and fallbacks.
//! 3. For each target, in order ([`Bifrost::run`], here):
//!    1. **Pre-hooks** ([`crate::plugin`]): plugins may change the request or answer it.
//!    2. **Attempt** ([`attempt`]), repeated while the decision says retry:
//!       select a key (pinned, sticky, or weighted random among healthy keys) → wait for a
//!       slot in the provider's queue ([`crate::queue`]) → call the provider ([`call`];
//!       translation happens inside it) → report the attempt to the plugins → **decide**
//!       ([`decision`], a pure function): cool the key down, retry now on another key, retry
//!       after a backoff, or give the target up.
//!    3. **Post-hooks**, in reverse: plugins may replace the answer or the error.
//!    4. **Fallback decision**: a success ends the loop; a failure whose class allows it moves
//!       on to the next target.
//! 4. **Account** ([`streams`] for streams, here otherwise): the request's end is reported
//!    ([`crate::plugin::Event::RequestEnd`]) with its outcome; a stream holds its slot and
//!    reports usage and its end as it finishes, or `cancelled` if the client leaves.
//!
//! When every target failed, the answer is the most informative error, with every attempt.

pub(crate) mod attempt;
pub(crate) mod call;
mod clients;
pub mod context;
pub mod decision;
mod models;
pub(crate) mod streams;
mod table;
pub(crate) mod targets;

use crate::config::{
    Account, ApiFormat, BifrostConfig, ConcurrencyAndBufferSize, KeyHealthConfig, NetworkConfig,
    ProviderConfig, ProviderInstance, RequestType,
};
use crate::error::BifrostError;
use crate::plugin::{Event, Outcome, Pipeline, ShortCircuit};
use crate::providers::native::{NativeResponse, WireApi};
use crate::providers::Provider;
use crate::queue::ProviderQueue;
use crate::routing::aliases::ModelAlias;
use crate::routing::breaker::Breaker;
use crate::routing::keys::KeySet;
use crate::routing::sticky::StickyTable;
use crate::schemas::{
    ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse, ModelInfo, RawRequest,
    RawResponse,
};
use arc_swap::ArcSwap;
pub use call::NativeChat;
use call::{Answer, Request, Response};
use context::{BifrostResponse, RequestContext, RequestOptions, ResponseMeta};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use streams::{ChatStream, Holding, InFlightGuard, RawStream};
pub use table::ProviderChange;
use table::RoutingTable;
use tokio::sync::Notify;

/// The answer to a [`NativeChat`]: the upstream's own bytes when it spoke the client's API,
/// else the unified completion for the route to render.
pub enum NativeAnswer {
    Json {
        body: bytes::Bytes,
        content_type: String,
    },
    Stream {
        content_type: &'static str,
        stream: RawStream,
    },
    Chat(ChatCompletion),
    ChatStream(ChatStream),
}

pub(crate) const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);
pub(crate) const MODEL_LIST_TTL: Duration = Duration::from_secs(60);

/// The engine. Cheap to clone; all clones share providers, queues and connection pools.
#[derive(Clone)]
pub struct Bifrost {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Providers, keys and aliases: replaced whole by [`Bifrost::reconfigure`]; a request
    /// reads it once (one atomic load, no lock) and keeps that snapshot.
    table: ArcSwap<RoutingTable>,
    /// Kept to rebuild the table: instances replace built-in adapters by provider name.
    instances: HashMap<String, ProviderInstance>,
    /// Serialises reconfigurations (each builds on the table before it).
    reconfiguring: std::sync::Mutex<()>,
    drop_excess_requests: bool,
    initial_pool_size: usize,
    shutdown_timeout: Duration,
    closing: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Streams whose consumer went away before the end.
    cancelled_streams: AtomicU64,
    /// Upstream model listings, refreshed at most every [`MODEL_LIST_TTL`].
    upstream_models: std::sync::Mutex<Option<(Instant, Vec<ModelInfo>)>>,
    pipeline: Pipeline,
}

pub(crate) struct ProviderState {
    pub(crate) name: Arc<str>,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) keys: KeySet,
    pub(crate) keyless: bool,
    pub(crate) format: ApiFormat,
    /// What this provider may be asked for (its format's operations, narrowed by
    /// `allowed_requests`).
    pub(crate) supported: Vec<RequestType>,
    pub(crate) network: NetworkConfig,
    pub(crate) key_health: KeyHealthConfig,
    limits: ConcurrencyAndBufferSize,
    pub(crate) queue: Arc<ProviderQueue>,
    pub(crate) sticky: StickyTable,
    /// Shared by the rebuilds that keep the upstream (key changes).
    pub(crate) breaker: Arc<Breaker>,
    /// The settings it was built from (a reconfiguration compares them).
    pub(crate) config: ProviderConfig,
}

impl Bifrost {
    /// Builds every configured provider (its connection pool, keys and queue; or the instance
    /// given in [`BifrostConfig::provider_instances`]) and checks that every alias target names
    /// a configured provider.
    pub fn init(config: BifrostConfig) -> Result<Self, BifrostError> {
        let (table, _) = RoutingTable::build(
            &*config.account,
            config.aliases,
            &config.provider_instances,
            config.initial_pool_size,
            None,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                table: ArcSwap::from_pointee(table),
                instances: config.provider_instances,
                reconfiguring: std::sync::Mutex::new(()),
                drop_excess_requests: config.drop_excess_requests,
                initial_pool_size: config.initial_pool_size,
                shutdown_timeout: config.shutdown_timeout,
                closing: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                cancelled_streams: AtomicU64::new(0),
                upstream_models: std::sync::Mutex::new(None),
                pipeline: Pipeline::new(config.plugins),
            }),
        })
    }

    /// Replaces the providers, keys and aliases while traffic flows. Requests already running
    /// finish on the table they started with; new ones see the new table. Providers whose
    /// settings did not change keep their connection pool and queue; an invalid configuration
    /// (an alias naming a missing provider, say) changes nothing and is returned as the error.
    pub fn reconfigure(
        &self,
        account: &dyn Account,
        aliases: HashMap<String, ModelAlias>,
    ) -> Result<Vec<ProviderChange>, BifrostError> {
        let _one_at_a_time = self
            .inner
            .reconfiguring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.inner.table.load_full();
        let (table, changes) = RoutingTable::build(
            account,
            aliases,
            &self.inner.instances,
            self.inner.initial_pool_size,
            Some(&current),
        )?;
        self.inner.table.store(Arc::new(table));
        if let Ok(mut listed) = self.inner.upstream_models.lock() {
            *listed = None;
        }
        Ok(changes)
    }

    /// The current routing table.
    pub(crate) fn table(&self) -> Arc<RoutingTable> {
        self.inner.table.load_full()
    }

    /// Configured provider names, in configuration order.
    pub fn providers(&self) -> Vec<String> {
        self.inner.table.load().order.clone()
    }

    /// Whether `name` is a configured provider.
    pub fn has_provider(&self, name: &str) -> bool {
        self.inner.table.load().providers.contains_key(name)
    }

    /// The plugin pipeline (the routes run its HTTP pre-hooks).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The wire format of the provider a request for `model` would try first (after aliases).
    pub fn target_format(&self, provider: Option<&str>, model: &str) -> Option<ApiFormat> {
        let table = self.inner.table.load();
        let mut targets = Vec::new();
        table.expand(provider, model, &mut targets).ok()?;
        targets.first().map(|t| t.provider.format)
    }

    /// True once [`Bifrost::shutdown`] has begun.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Relaxed)
    }

    pub fn drop_excess_requests(&self) -> bool {
        self.inner.drop_excess_requests
    }

    pub fn initial_pool_size(&self) -> usize {
        self.inner.initial_pool_size
    }

    /// Requests in flight to `provider` right now (holding a concurrency slot).
    pub fn in_flight(&self, provider: &str) -> Option<usize> {
        self.inner
            .table
            .load()
            .providers
            .get(provider)
            .map(|p| p.queue.in_flight())
    }

    /// Requests waiting for a slot at `provider` right now.
    pub fn queued(&self, provider: &str) -> Option<usize> {
        let table = self.inner.table.load();
        table.providers.get(provider).map(|p| p.queue.queued())
    }

    /// `(key name, cooling down)` for every key of `provider`.
    pub fn key_states(&self, provider: &str) -> Vec<(String, bool)> {
        self.inner
            .table
            .load()
            .providers
            .get(provider)
            .map_or_else(Vec::new, |p| {
                p.keys
                    .keys()
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.name.clone(), p.keys.is_cooling(i)))
                    .collect()
            })
    }

    /// Streams whose consumer left before the stream ended.
    pub fn cancelled_streams(&self) -> u64 {
        self.inner.cancelled_streams.load(Ordering::Relaxed)
    }

    /// Whether `key_id` of `provider` is out of rotation right now.
    pub fn key_cooling(&self, provider: &str, key_id: &str) -> Option<bool> {
        let table = self.inner.table.load();
        let p = table.providers.get(provider)?;
        let i = p.keys.find(Some(key_id), None)?;
        Some(p.keys.is_cooling(i))
    }

    /// `(provider, concurrency, buffer_size)` of every provider.
    pub fn limits(&self) -> Vec<(String, ConcurrencyAndBufferSize)> {
        let table = self.inner.table.load();
        table
            .order
            .iter()
            .filter_map(|n| table.providers.get(n).map(|p| (n.clone(), p.limits)))
            .collect()
    }

    /// A chat completion, through the phases described on this module.
    pub async fn chat_completion(
        &self,
        req: ChatRequest,
    ) -> Result<BifrostResponse<ChatCompletion>, BifrostError> {
        self.chat_completion_with(req, RequestOptions::default())
            .await
    }

    /// [`Bifrost::chat_completion`] with per-request options.
    pub async fn chat_completion_with(
        &self,
        req: ChatRequest,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<ChatCompletion>, BifrostError> {
        let ctx = RequestContext::new(opts, RequestType::ChatCompletion);
        match self.unary(ctx, Request::Chat(Box::new(req))).await? {
            (Response::Chat(body), meta) => Ok(BifrostResponse { body, meta }),
            _ => Err(BifrostError::internal(
                "a plugin answered a chat with something else",
            )),
        }
    }

    /// Embeddings (`/v1/embeddings`), with the same routing, keys, queues, retries and
    /// fallbacks as a chat completion.
    pub async fn embedding(
        &self,
        req: EmbeddingRequest,
    ) -> Result<BifrostResponse<EmbeddingResponse>, BifrostError> {
        self.embedding_with(req, RequestOptions::default()).await
    }

    /// [`Bifrost::embedding`] with per-request options.
    pub async fn embedding_with(
        &self,
        req: EmbeddingRequest,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<EmbeddingResponse>, BifrostError> {
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let ctx = RequestContext::new(opts, RequestType::Embedding);
        match self.unary(ctx, Request::Embedding(Box::new(req))).await? {
            (Response::Embedding(mut body), meta) => {
                // Native embedding APIs answer floats; the client asked for OpenAI's base64.
                if base64 {
                    body.encode_base64();
                }
                Ok(BifrostResponse { body, meta })
            }
            _ => Err(BifrostError::internal(
                "a plugin answered an embedding with something else",
            )),
        }
    }

    /// An operation forwarded in OpenAI's shape (text completions, speech, transcription,
    /// image generation, rerank), or a native body (Cohere, Bedrock drop-in routes), with the
    /// same routing, queues, retries and fallbacks.
    pub async fn raw_request(
        &self,
        op: RequestType,
        req: RawRequest,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<RawResponse>, BifrostError> {
        let ctx = RequestContext::new(opts, op);
        match self.unary(ctx, Request::Raw(req)).await? {
            (Response::Raw(body), meta) => Ok(BifrostResponse { body, meta }),
            _ => Err(BifrostError::internal(
                "wrong answer for a forwarded request",
            )),
        }
    }

    /// A streamed [`Bifrost::raw_request`] (text completions, native streams): the upstream's
    /// bytes.
    pub async fn raw_stream(
        &self,
        op: RequestType,
        req: RawRequest,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<RawStream>, BifrostError> {
        match self.open_stream(opts, op, Request::Raw(req)).await? {
            (Response::RawStream(s), held, meta) => Ok(BifrostResponse {
                body: RawStream::new(s, None, held),
                meta,
            }),
            _ => Err(BifrostError::internal(
                "wrong answer for a forwarded stream",
            )),
        }
    }

    /// A streaming chat completion. Resolves once a provider has produced its first chunk, so
    /// retries and fallbacks cover every failure before the client sees a byte; after that,
    /// a failure is the stream's last item and the stream ends (never a fake end of stream).
    ///
    /// The stream holds its provider slot until it ends: an open stream is real upstream
    /// concurrency (a provider's limits count it), so releasing the slot once the stream is
    /// established, as the original does, would let `concurrency` be exceeded without bound.
    pub async fn chat_completion_stream(
        &self,
        req: ChatRequest,
    ) -> Result<BifrostResponse<ChatStream>, BifrostError> {
        self.chat_completion_stream_with(req, RequestOptions::default())
            .await
    }

    /// [`Bifrost::chat_completion_stream`] with per-request options.
    pub async fn chat_completion_stream_with(
        &self,
        req: ChatRequest,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<ChatStream>, BifrostError> {
        let include_usage = req.wants_stream_usage();
        let op = RequestType::ChatCompletionStream;
        match self
            .open_stream(opts, op, Request::Chat(Box::new(req)))
            .await?
        {
            (Response::ChatStream(s), held, meta) => Ok(BifrostResponse {
                body: ChatStream::new(s, include_usage, held),
                meta,
            }),
            _ => Err(BifrostError::internal(
                "a plugin answered a stream with something else",
            )),
        }
    }

    /// A chat in a client API's own format (a drop-in route): targets speaking that API get
    /// the client's body with only the gateway's edits, and the answer comes back as they sent
    /// it; other targets get the translation, and the route renders their answer.
    pub async fn native_chat(
        &self,
        req: NativeChat,
        opts: RequestOptions,
    ) -> Result<BifrostResponse<NativeAnswer>, BifrostError> {
        let stream = req.native.stream;
        let include_usage = req.native.api != WireApi::OpenAiChat || req.native.client_wants_usage;
        let request_type = if stream {
            RequestType::ChatCompletionStream
        } else {
            RequestType::ChatCompletion
        };
        if !stream {
            let ctx = RequestContext::new(opts, request_type);
            return match self.unary(ctx, Request::Native(Box::new(req))).await? {
                (
                    Response::Native(NativeResponse::Json {
                        body, content_type, ..
                    }),
                    meta,
                ) => Ok(BifrostResponse {
                    body: NativeAnswer::Json { body, content_type },
                    meta,
                }),
                (Response::Chat(c), meta) => Ok(BifrostResponse {
                    body: NativeAnswer::Chat(c),
                    meta,
                }),
                _ => Err(BifrostError::internal("wrong answer for a chat")),
            };
        }
        let req = Request::Native(Box::new(req));
        let (response, held, meta) = self.open_stream(opts, request_type, req).await?;
        let body = match response {
            Response::Native(NativeResponse::Stream(s)) => NativeAnswer::Stream {
                content_type: s.content_type,
                stream: RawStream::new(s.bytes, Some(s.usage), held),
            },
            Response::ChatStream(s) => {
                NativeAnswer::ChatStream(ChatStream::new(s, include_usage, held))
            }
            _ => return Err(BifrostError::internal("wrong answer for a chat stream")),
        };
        Ok(BifrostResponse { body, meta })
    }

    /// Stops taking requests, then waits (up to the configured shutdown timeout) for the ones in
    /// flight, streams included, to finish. Returns whether all finished in time.
    pub async fn shutdown(&self) -> bool {
        self.inner.closing.store(true, Ordering::SeqCst);
        let wait = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(self.inner.shutdown_timeout, wait)
            .await
            .is_ok()
    }

    /// Phase 1: admission.
    fn admit(&self) -> Result<InFlightGuard, BifrostError> {
        if self.inner.closing.load(Ordering::Relaxed) {
            return Err(BifrostError::shutting_down());
        }
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(InFlightGuard {
            inner: self.inner.clone(),
        })
    }

    pub(crate) fn emit(&self, ctx: &RequestContext, event: &Event<'_>) {
        self.inner.pipeline.emit(ctx, event);
    }

    /// A request answered in one piece: admitted, run, and accounted for.
    async fn unary(
        &self,
        mut ctx: RequestContext,
        req: Request,
    ) -> Result<(Response, ResponseMeta), BifrostError> {
        let _guard = self.admit()?;
        let answer = self.run(&mut ctx, req).await;
        let error = answer.as_ref().err().map(|e| e.class);
        let outcome = if error.is_none() {
            Outcome::Success
        } else {
            Outcome::Error
        };
        let settled = self.settle(&mut ctx, answer);
        self.emit(
            &ctx,
            &Event::RequestEnd {
                request_type: ctx.request_type,
                outcome,
                elapsed: ctx.started.elapsed(),
                streamed: false,
                error,
            },
        );
        settled.map(|(a, meta)| (a.response, meta))
    }

    /// [`Bifrost::settle`] for a stream: only a failure ends the request here (a stream's end
    /// is reported by the stream).
    /// Phases 1–4 of a stream: admitted, run up to its first chunk and settled. The answer's
    /// wrapper keeps what is held until the stream ends.
    async fn open_stream(
        &self,
        opts: RequestOptions,
        op: RequestType,
        req: Request,
    ) -> Result<(Response, Holding, ResponseMeta), BifrostError> {
        let guard = self.admit()?;
        let mut ctx = RequestContext::new(opts, op);
        let answer = self.run(&mut ctx, req).await;
        let (answer, meta) = self.settle_stream(&mut ctx, answer)?;
        let pipeline = self.inner.pipeline.clone();
        let held = Holding::new(ctx, pipeline, (answer.permit, guard));
        Ok((answer.response, held, meta))
    }

    fn settle_stream(
        &self,
        ctx: &mut RequestContext,
        answer: Result<Answer, BifrostError>,
    ) -> Result<(Answer, ResponseMeta), BifrostError> {
        let settled = self.settle(ctx, answer);
        if let Err(e) = &settled {
            self.emit(
                ctx,
                &Event::RequestEnd {
                    request_type: ctx.request_type,
                    outcome: Outcome::Error,
                    elapsed: ctx.started.elapsed(),
                    streamed: false,
                    error: Some(e.class),
                },
            );
        }
        settled
    }

    /// The answer's bookkeeping, or the error with every attempt listed.
    fn settle(
        &self,
        ctx: &mut RequestContext,
        answer: Result<Answer, BifrostError>,
    ) -> Result<(Answer, ResponseMeta), BifrostError> {
        match answer {
            Ok(a) => Ok((a, ctx.meta())),
            Err(mut e) => {
                if ctx.attempts.len() > 1 {
                    e.attempts = ctx.attempts.clone();
                }
                Err(e)
            }
        }
    }

    /// Phases 2 and 3: resolve the targets, then try each (pre-hooks, attempts, post-hooks)
    /// until one answers or a failure stops the fallbacks.
    async fn run(
        &self,
        ctx: &mut RequestContext,
        mut req: Request,
    ) -> Result<Answer, BifrostError> {
        // One snapshot for the whole request: a reconfiguration meanwhile does not affect it.
        let table = self.table();
        let targets = table.targets(req.provider(), req.model(), req.fallbacks())?;
        let pipeline = &self.inner.pipeline;
        // Each target starts from the client's request, whatever the previous target's
        // pre-hooks made of it.
        let pristine = (targets.len() > 1 && !pipeline.plugins().is_empty()).then(|| req.clone());
        let mut errors: Vec<BifrostError> = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            if index > 0 {
                let from = &targets[index - 1].provider.name;
                self.emit(
                    ctx,
                    &Event::Fallback {
                        from,
                        to: &target.provider.name,
                    },
                );
                if let Some(p) = &pristine {
                    req = p.clone();
                }
            }
            ctx.provider = target.provider.name.clone();
            ctx.model.clone_from(&target.model);
            ctx.fallback_index = index;
            ctx.allowed_keys = None;

            let (ran, short_circuit) = pipeline.pre_hooks(ctx, &mut req).await;
            // A plugin's refusal says itself whether fallbacks may follow; otherwise the
            // error's class decides.
            let mut plugin_says: Option<bool> = None;
            let (mut result, permit) = match short_circuit {
                Some(ShortCircuit::Respond(response)) => (Ok(response), None),
                Some(ShortCircuit::Fail {
                    error,
                    allow_fallbacks,
                }) => {
                    plugin_says = Some(allow_fallbacks);
                    (Err(error), None)
                }
                None => match self.attempt_target(ctx, target, &req).await {
                    Ok(a) => (Ok(a.response), a.permit),
                    Err(e) => (Err(e), None),
                },
            };
            if ran > 0 {
                pipeline.post_hooks(ctx, ran, &mut result).await;
            }
            match result {
                Ok(response) => return Ok(Answer { response, permit }),
                Err(e) => {
                    let stop = !plugin_says.unwrap_or_else(|| e.class.allows_fallback());
                    errors.push(e.with_model(&target.model));
                    if stop {
                        break;
                    }
                    tracing::debug!(
                        from = %target.provider.name,
                        next = ?targets.get(index + 1).map(|t| &t.provider.name),
                        "falling back"
                    );
                }
            }
        }
        // The error that tells the caller most; among equals, the earliest (the primary's).
        errors
            .iter()
            .enumerate()
            .max_by_key(|(i, e)| (e.class.informativeness(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
            .map(|i| errors.swap_remove(i))
            .map_or_else(|| Err(BifrostError::internal("no target was tried")), Err)
    }
}
