//! Bifrost-RS engine: one OpenAI-shaped API over many LLM providers, with weighted key
//! selection, per-provider concurrency and queueing, retries and fallbacks.
//!
//! Embeddable: no HTTP server dependency. The counterpart of the original's Go usage:
//!
//! ```no_run
//! use bifrost_core::{Bifrost, BifrostConfig, ChatMessage, ChatRequest, Key, ProviderConfig, StaticAccount};
//! # async fn run() -> Result<(), bifrost_core::BifrostError> {
//! let account = StaticAccount::new().with_provider(
//!     "openai",
//!     ProviderConfig::default(),
//!     vec![Key::new("sk-…").with_models(&["gpt-4o-mini"])],
//! );
//! let client = Bifrost::init(BifrostConfig::new(account))?;
//! let reply = client
//!     .chat_completion(ChatRequest::new("openai", "gpt-4o-mini", vec![ChatMessage::user("Hello!")]))
//!     .await?;
//! println!("{:?}", reply.body.choices[0].message.content);
//! client.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod inbound;
pub mod observe;
pub mod providers;
pub mod queue;
pub mod retry;
pub mod routing;
pub mod schemas;

pub use config::{
    Account, ApiFormat, AzureKeyConfig, BedrockKeyConfig, BifrostConfig, CloudKeyConfig,
    ConcurrencyAndBufferSize, CustomProviderConfig, EntraCredentials, Key, KeyHealthConfig,
    NetworkConfig, ProviderConfig, RequestType, Secret, StaticAccount, VertexKeyConfig,
};
pub use error::{Attempt, BifrostError, ErrorClass};
pub use observe::{AttemptEvent, NoopObserver, Observer, StageTimes};
pub use routing::aliases::{AliasTarget, ModelAlias};
pub use schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, ModelInfo, RawBody, RawRequest, RawResponse,
};

use futures::{Stream, StreamExt};
use observe::{StageClock, CHAT_COMPLETION, CHAT_COMPLETION_STREAM, EMBEDDING};
use providers::{ByteStream, CallContext, ChunkStream, Provider};
use queue::{Permit, ProviderQueue};
use routing::keys::{KeySet, Selection};
use routing::sticky::StickyTable;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracing::Instrument;

/// The engine. Cheap to clone; all clones share providers, queues and connection pools.
#[derive(Clone)]
pub struct Bifrost {
    inner: Arc<Inner>,
}

struct Inner {
    /// Fixed at init: lookups on the hot path take no lock.
    providers: HashMap<String, ProviderState>,
    /// Provider names in configuration order (for listings).
    order: Vec<String>,
    aliases: HashMap<String, ModelAlias>,
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
    observer: Arc<dyn Observer>,
}

struct ProviderState {
    name: String,
    provider: Arc<dyn Provider>,
    keys: KeySet,
    keyless: bool,
    format: ApiFormat,
    /// What this provider may be asked for (its format's operations, narrowed by
    /// `allowed_requests`).
    supported: Vec<RequestType>,
    network: NetworkConfig,
    key_health: KeyHealthConfig,
    limits: ConcurrencyAndBufferSize,
    queue: ProviderQueue,
    sticky: StickyTable,
}

/// Per-request routing options (the `x-bf-*` headers of the HTTP API).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Use exactly this configured key (by id), on the primary target.
    pub key_id: Option<String>,
    /// Use exactly this configured key (by name); `key_id` wins.
    pub key_name: Option<String>,
    /// Keep using one key for this conversation (primary target only).
    pub session_id: Option<String>,
    /// How long a session keeps its key (default 1 h).
    pub session_ttl: Option<Duration>,
    /// Values of the configured custom metric labels, handed to the [`Observer`].
    pub labels: Vec<String>,
    /// The caller's own provider key (`client.allow_direct_keys`), used instead of the
    /// configured keys on the primary target.
    pub direct_key: Option<Secret>,
}

const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);
const MODEL_LIST_TTL: Duration = Duration::from_secs(60);

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
    /// Time spent waiting for a provider slot by the attempt that answered.
    pub queue_wait: Duration,
    /// Time spent in upstream calls, over all attempts (to the first chunk, for streams).
    pub upstream_time: Duration,
    /// Time spent sleeping between retries.
    pub backoff_time: Duration,
}

/// Time accounting of one request across its attempts.
#[derive(Default)]
struct Spent {
    upstream: Duration,
    backoff: Duration,
}

/// Where one attempt goes.
struct Target<'a> {
    provider: &'a ProviderState,
    model: String,
}

#[derive(Clone, Copy)]
enum Mode {
    Unary,
    Stream,
    Embed,
    /// A forwarded operation (text completion, audio, images, rerank).
    Raw(RequestType),
    RawStream(RequestType),
}

impl Mode {
    fn request_type(self) -> RequestType {
        match self {
            Mode::Unary => RequestType::ChatCompletion,
            Mode::Stream => RequestType::ChatCompletionStream,
            Mode::Embed => RequestType::Embedding,
            Mode::Raw(t) | Mode::RawStream(t) => t,
        }
    }
}

/// The client's request, whichever operation it is.
#[derive(Clone, Copy)]
enum Req<'r> {
    Chat(&'r ChatRequest),
    Embed(&'r EmbeddingRequest),
    Raw(&'r RawRequest),
}

impl<'r> Req<'r> {
    fn provider(self) -> Option<&'r str> {
        match self {
            Req::Chat(r) => r.provider.as_deref(),
            Req::Embed(r) => r.provider.as_deref(),
            Req::Raw(r) => r.provider.as_deref(),
        }
    }

    fn model(self) -> &'r str {
        match self {
            Req::Chat(r) => &r.model,
            Req::Embed(r) => &r.model,
            Req::Raw(r) => &r.model,
        }
    }

    fn fallbacks(self) -> &'r [schemas::Fallback] {
        match self {
            Req::Chat(r) => &r.fallbacks,
            Req::Embed(r) => &r.fallbacks,
            Req::Raw(r) => &r.fallbacks,
        }
    }
}

enum Output {
    Unary(ChatCompletion),
    Stream(ChunkStream, Permit),
    Embedding(EmbeddingResponse),
    Raw(RawResponse),
    RawStream(ByteStream, Permit),
}

impl Bifrost {
    /// Builds every configured provider (its connection pool, keys and queue) and checks that
    /// every alias target names a configured provider.
    pub fn init(config: BifrostConfig) -> Result<Self, BifrostError> {
        let account = &config.account;
        let mut providers = HashMap::new();
        let mut order = Vec::new();
        for name in account.configured_providers() {
            let pcfg = account.config_for_provider(&name)?;
            let keys = account.keys_for_provider(&name)?;
            let clients = http_clients(&pcfg, config.initial_pool_size)?;
            let built = providers::build(&name, &pcfg, clients)?;
            // Without more connections than this, more slots would only queue inside the pool.
            let limits = ConcurrencyAndBufferSize {
                concurrency: pcfg
                    .concurrency
                    .concurrency
                    .min(pcfg.network.max_conns_per_host.max(1)),
                ..pcfg.concurrency
            };
            let state = ProviderState {
                name: name.clone(),
                provider: built.provider,
                keys: KeySet::new(keys),
                keyless: built.keyless,
                format: built.format,
                supported: built.supported,
                queue: ProviderQueue::new(&name, limits),
                network: pcfg.network,
                key_health: pcfg.key_health,
                limits,
                sticky: StickyTable::default(),
            };
            order.push(name.clone());
            providers.insert(name, state);
        }
        let engine = Self {
            inner: Arc::new(Inner {
                providers,
                order,
                aliases: config.aliases,
                drop_excess_requests: config.drop_excess_requests,
                initial_pool_size: config.initial_pool_size,
                shutdown_timeout: config.shutdown_timeout,
                closing: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                cancelled_streams: AtomicU64::new(0),
                upstream_models: std::sync::Mutex::new(None),
                observer: config.observer,
            }),
        };
        for (alias, def) in &engine.inner.aliases {
            if def.targets.is_empty() {
                return Err(BifrostError::invalid_request(format!(
                    "model alias '{alias}' has no targets"
                )));
            }
            let all = def
                .targets
                .iter()
                .map(|t| (t.provider.as_deref(), &t.model));
            let fbs = def
                .fallbacks
                .iter()
                .map(|f| (f.provider.as_deref(), &f.model));
            for (provider, model) in all.chain(fbs) {
                engine.resolve_direct(provider, model).map_err(|e| {
                    BifrostError::invalid_request(format!(
                        "model alias '{alias}': target '{model}': {}",
                        e.message
                    ))
                })?;
            }
        }
        Ok(engine)
    }

    /// Configured provider names, in configuration order.
    pub fn providers(&self) -> &[String] {
        &self.inner.order
    }

    /// The wire format of the provider a request for `model` would try first (after aliases),
    /// so that a drop-in route can drop fields only its own API knows.
    pub fn target_format(&self, provider: Option<&str>, model: &str) -> Option<ApiFormat> {
        let mut targets = Vec::new();
        self.expand(provider, model, &mut targets).ok()?;
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
            .providers
            .get(provider)
            .map(|p| p.queue.in_flight())
    }

    /// Requests waiting for a slot at `provider` right now.
    pub fn queued(&self, provider: &str) -> Option<usize> {
        self.inner.providers.get(provider).map(|p| p.queue.queued())
    }

    /// `(key name, cooling down)` for every key of `provider`.
    pub fn key_states(&self, provider: &str) -> Vec<(String, bool)> {
        self.inner
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
        let p = self.inner.providers.get(provider)?;
        let i = p.keys.find(Some(key_id), None)?;
        Some(p.keys.is_cooling(i))
    }

    /// `(provider, concurrency, buffer_size)` of every provider.
    pub fn limits(&self) -> Vec<(String, ConcurrencyAndBufferSize)> {
        self.inner
            .order
            .iter()
            .filter_map(|n| self.inner.providers.get(n).map(|p| (n.clone(), p.limits)))
            .collect()
    }

    /// The models the configured keys name, as `provider/model`, then the aliases. A provider
    /// whose keys allow every model contributes nothing here (it cannot be enumerated without
    /// asking upstream).
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut out: Vec<ModelInfo> = Vec::new();
        let mut push = |id: String, owned_by: &str| {
            if !out.iter().any(|m| m.id == id) {
                out.push(ModelInfo {
                    id,
                    object: "model",
                    created: 0,
                    owned_by: owned_by.to_owned(),
                });
            }
        };
        for name in &self.inner.order {
            let Some(p) = self.inner.providers.get(name) else {
                continue;
            };
            for model in p
                .keys
                .keys()
                .iter()
                .filter(|k| k.enabled)
                .flat_map(|k| k.models.iter().chain(k.deployments.keys()))
            {
                push(format!("{name}/{model}"), name);
            }
        }
        let mut aliases: Vec<&String> = self.inner.aliases.keys().collect();
        aliases.sort();
        for a in aliases {
            push(a.clone(), "bifrost");
        }
        out
    }

    /// [`Bifrost::models`] plus what the upstreams list for providers whose keys allow every
    /// model (asked concurrently, each within 5 s, cached for a minute; a provider that cannot
    /// list is skipped).
    pub async fn list_models(&self) -> Vec<ModelInfo> {
        let mut out = self.models();
        let cached = self
            .inner
            .upstream_models
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .filter(|(at, _)| at.elapsed() < MODEL_LIST_TTL);
        let listed = match cached {
            Some((_, listed)) => listed,
            None => {
                let listed = self.ask_upstreams_for_models().await;
                if let Ok(mut c) = self.inner.upstream_models.lock() {
                    *c = Some((Instant::now(), listed.clone()));
                }
                listed
            }
        };
        for m in listed {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(m);
            }
        }
        out
    }

    async fn ask_upstreams_for_models(&self) -> Vec<ModelInfo> {
        let keyless = Key::new("");
        let asks = self.inner.order.iter().filter_map(|name| {
            let p = self.inner.providers.get(name)?;
            let open_key = p
                .keys
                .keys()
                .iter()
                .find(|k| k.enabled && k.models.is_empty() && k.deployments.is_empty());
            let key = match open_key {
                Some(k) => k,
                None if p.keyless && p.keys.keys().is_empty() => &keyless,
                None => return None,
            };
            Some(async move {
                let clock = StageClock::default();
                let cx = CallContext {
                    model: "",
                    key,
                    clock: &clock,
                };
                let ids =
                    tokio::time::timeout(Duration::from_secs(5), p.provider.list_models(cx)).await;
                match ids {
                    Ok(Ok(ids)) => ids
                        .into_iter()
                        .map(|id| ModelInfo {
                            id: format!("{name}/{id}"),
                            object: "model",
                            created: 0,
                            owned_by: name.clone(),
                        })
                        .collect(),
                    Ok(Err(e)) => {
                        tracing::debug!(provider = %name, error = %e, "model listing failed");
                        Vec::new()
                    }
                    Err(_) => Vec::new(),
                }
            })
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// A chat completion.
    ///
    /// The request path, in order: admission (refused once shutdown began) → resolve the
    /// targets: the primary (`provider` field, `provider/model` prefix, model alias, or the one
    /// provider whose keys list the model), then the request's `fallbacks`, then the alias's
    /// other targets and fallbacks → for each target in turn: wait for a slot in the provider's
    /// queue → select a key (pinned, sticky, or weighted random among healthy keys) → call the
    /// provider (translation happens inside it) → on failure, classify: cool the key down if it
    /// was the key's fault, retry with backoff if the class allows (on another key for key
    /// faults), else fall back to the next target if the class allows. Future stages (plugin
    /// pre/post hooks for governance, cache and logging) wrap the per-target step.
    pub async fn chat_completion(
        &self,
        req: ChatRequest,
    ) -> Result<BifrostResponse<ChatCompletion>, BifrostError> {
        self.chat_completion_with(req, &RequestOptions::default())
            .await
    }

    /// [`Bifrost::chat_completion`] with per-request routing options.
    pub async fn chat_completion_with(
        &self,
        req: ChatRequest,
        opts: &RequestOptions,
    ) -> Result<BifrostResponse<ChatCompletion>, BifrostError> {
        let _guard = self.admit()?;
        match self.run(Req::Chat(&req), opts, Mode::Unary).await? {
            (Output::Unary(body), meta) => Ok(BifrostResponse { body, meta }),
            _ => Err(BifrostError::internal("stream for a unary call")),
        }
    }

    /// Embeddings (`/v1/embeddings`), with the same routing, keys, queues, retries and
    /// fallbacks as a chat completion.
    pub async fn embedding(
        &self,
        req: EmbeddingRequest,
    ) -> Result<BifrostResponse<EmbeddingResponse>, BifrostError> {
        self.embedding_with(req, &RequestOptions::default()).await
    }

    /// [`Bifrost::embedding`] with per-request routing options.
    pub async fn embedding_with(
        &self,
        req: EmbeddingRequest,
        opts: &RequestOptions,
    ) -> Result<BifrostResponse<EmbeddingResponse>, BifrostError> {
        let _guard = self.admit()?;
        match self.run(Req::Embed(&req), opts, Mode::Embed).await? {
            (Output::Embedding(mut body), meta) => {
                // Native embedding APIs answer floats; the client asked for OpenAI's base64.
                if req.encoding_format.as_deref() == Some("base64") {
                    body.encode_base64();
                }
                Ok(BifrostResponse { body, meta })
            }
            _ => Err(BifrostError::internal("chat result for an embedding")),
        }
    }

    /// An operation forwarded in OpenAI's shape (text completions, speech, transcription,
    /// image generation, rerank), with the same routing, queues, retries and fallbacks.
    pub async fn raw_request(
        &self,
        op: RequestType,
        req: RawRequest,
        opts: &RequestOptions,
    ) -> Result<BifrostResponse<RawResponse>, BifrostError> {
        let _guard = self.admit()?;
        match self.run(Req::Raw(&req), opts, Mode::Raw(op)).await? {
            (Output::Raw(body), meta) => Ok(BifrostResponse { body, meta }),
            _ => Err(BifrostError::internal("wrong result for a raw request")),
        }
    }

    /// A streamed [`Bifrost::raw_request`] (text completions): the upstream's SSE bytes.
    pub async fn raw_stream(
        &self,
        op: RequestType,
        req: RawRequest,
        opts: &RequestOptions,
    ) -> Result<BifrostResponse<RawStream>, BifrostError> {
        let guard = self.admit()?;
        match self.run(Req::Raw(&req), opts, Mode::RawStream(op)).await? {
            (Output::RawStream(inner, permit), meta) => Ok(BifrostResponse {
                body: RawStream {
                    inner,
                    _permit: permit,
                    _guard: guard,
                },
                meta,
            }),
            _ => Err(BifrostError::internal("wrong result for a raw stream")),
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
        self.chat_completion_stream_with(req, &RequestOptions::default())
            .await
    }

    /// [`Bifrost::chat_completion_stream`] with per-request routing options.
    pub async fn chat_completion_stream_with(
        &self,
        req: ChatRequest,
        opts: &RequestOptions,
    ) -> Result<BifrostResponse<ChatStream>, BifrostError> {
        let guard = self.admit()?;
        let include_usage = req.wants_stream_usage();
        match self.run(Req::Chat(&req), opts, Mode::Stream).await? {
            (Output::Stream(inner, permit), meta) => Ok(BifrostResponse {
                body: ChatStream {
                    inner,
                    include_usage,
                    finished: false,
                    usage_reported: false,
                    provider: meta.provider.clone(),
                    model: meta.model.clone(),
                    labels: opts.labels.clone(),
                    _permit: permit,
                    guard,
                },
                meta,
            }),
            _ => Err(BifrostError::internal("unary result for a stream")),
        }
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

    fn admit(&self) -> Result<InFlightGuard, BifrostError> {
        if self.inner.closing.load(Ordering::Relaxed) {
            return Err(BifrostError::shutting_down());
        }
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(InFlightGuard {
            inner: self.inner.clone(),
        })
    }

    /// Resolves a provider and model without aliases: the `provider` field (model verbatim),
    /// a configured `provider/` prefix, or the one provider whose keys list the model.
    fn resolve_direct(
        &self,
        provider: Option<&str>,
        model: &str,
    ) -> Result<Target<'_>, BifrostError> {
        let providers = &self.inner.providers;
        let not_configured = |p: &str| {
            BifrostError::invalid_request(format!(
                "provider '{p}' is not configured (configured: {})",
                self.inner.order.join(", ")
            ))
        };
        if model.is_empty() {
            return Err(BifrostError::invalid_request("'model' must not be empty"));
        }
        if let Some(p) = provider {
            // The seed's spelling: the model is taken verbatim (ids may contain '/').
            let state = providers.get(p).ok_or_else(|| not_configured(p))?;
            return Ok(Target {
                provider: state,
                model: model.to_owned(),
            });
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(state) = providers.get(prefix) {
                if rest.is_empty() {
                    return Err(BifrostError::invalid_request(format!(
                        "model '{model}' names provider '{prefix}' but no model"
                    )));
                }
                return Ok(Target {
                    provider: state,
                    model: rest.to_owned(),
                });
            }
            if providers::known(prefix).is_some() {
                return Err(not_configured(prefix));
            }
        }
        let mut serving = self
            .inner
            .order
            .iter()
            .filter_map(|n| providers.get(n))
            .filter(|p| {
                p.keys.keys().iter().any(|k| {
                    k.enabled
                        && (k.models.iter().any(|m| m == model)
                            || k.deployments.contains_key(model))
                })
            });
        match (serving.next(), serving.next()) {
            (Some(state), None) => Ok(Target {
                provider: state,
                model: model.to_owned(),
            }),
            (Some(a), Some(b)) => Err(BifrostError::invalid_request(format!(
                "model '{model}' is served by several providers ({}, {}, …); name one as \
                 'provider/{model}' or with the 'provider' field",
                a.name, b.name
            ))),
            _ => Err(BifrostError::model_not_found(format!(
                "model '{model}' is not served by any configured provider; name it as \
                 'provider/model' (configured providers: {})",
                self.inner.order.join(", ")
            ))),
        }
    }

    /// Every target of one entry (the request's model or a fallback): an alias expands to its
    /// targets in try-order, then its own fallbacks.
    fn expand<'a>(
        &'a self,
        provider: Option<&str>,
        model: &str,
        out: &mut Vec<Target<'a>>,
    ) -> Result<(), BifrostError> {
        // An explicit provider or a provider prefix wins over an alias of the same name.
        let has_prefix = model
            .split_once('/')
            .is_some_and(|(p, _)| self.inner.providers.contains_key(p));
        let alias = (provider.is_none() && !has_prefix)
            .then(|| self.inner.aliases.get(model))
            .flatten();
        let Some(alias) = alias else {
            out.push(self.resolve_direct(provider, model)?);
            return Ok(());
        };
        for t in alias.ordered_targets() {
            out.push(self.resolve_direct(t.provider.as_deref(), &t.model)?);
        }
        for f in &alias.fallbacks {
            out.push(self.resolve_direct(f.provider.as_deref(), &f.model)?);
        }
        Ok(())
    }

    async fn run(
        &self,
        req: Req<'_>,
        opts: &RequestOptions,
        mode: Mode,
    ) -> Result<(Output, ResponseMeta), BifrostError> {
        let mut targets = Vec::with_capacity(1 + req.fallbacks().len());
        self.expand(req.provider(), req.model(), &mut targets)
            .map_err(|e| e.with_model(req.model()))?;
        // The request's own fallbacks come right after the primary, before an alias's siblings.
        let mut explicit = Vec::new();
        for (i, fb) in req.fallbacks().iter().enumerate() {
            self.expand(fb.provider.as_deref(), &fb.model, &mut explicit)
                .map_err(|mut e| {
                    e.message = format!("fallbacks[{i}]: {}", e.message);
                    e
                })?;
        }
        let rest = targets.split_off(1);
        targets.extend(explicit);
        targets.extend(rest);

        let mut attempts = Vec::new();
        let mut errors: Vec<BifrostError> = Vec::new();
        let mut spent = Spent::default();
        for (index, target) in targets.iter().enumerate() {
            if index > 0 {
                let from = &targets[index - 1].provider.name;
                self.inner.observer.fallback(from, &target.provider.name);
            }
            // Pins and sessions are about the primary target's keys.
            let pin = if index == 0 { Some(opts) } else { None };
            let attempt = self
                .try_target(
                    target,
                    req,
                    pin,
                    &opts.labels,
                    mode,
                    &mut attempts,
                    &mut spent,
                )
                .await;
            match attempt {
                Ok((out, key_id, queue_wait)) => {
                    let meta = ResponseMeta {
                        provider: target.provider.name.clone(),
                        model: target.model.clone(),
                        key_id,
                        fallback_index: index,
                        attempts: attempts.len(),
                        queue_wait,
                        upstream_time: spent.upstream,
                        backoff_time: spent.backoff,
                    };
                    return Ok((out, meta));
                }
                Err(e) => {
                    let stop = !e.class.allows_fallback();
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
        let mut err = errors
            .iter()
            .enumerate()
            .max_by_key(|(i, e)| (e.class.informativeness(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
            .map(|i| errors.swap_remove(i))
            .unwrap_or_else(|| BifrostError::internal("no target was tried"));
        if attempts.len() > 1 {
            err.attempts = attempts;
        }
        Err(err)
    }

    /// Chooses the key for an attempt: a pinned key, a session's key, or a weighted random
    /// healthy one.
    fn choose_key(
        &self,
        p: &ProviderState,
        model: &str,
        excluded: &[usize],
        opts: Option<&RequestOptions>,
        first_attempt: bool,
    ) -> Result<Option<usize>, BifrostError> {
        if let Some(o) = opts.filter(|o| o.key_id.is_some() || o.key_name.is_some()) {
            let pinned = p
                .keys
                .find(o.key_id.as_deref(), o.key_name.as_deref())
                .filter(|i| p.keys.get(*i).allows(model));
            return match pinned {
                Some(i) if !excluded.contains(&i) => Ok(Some(i)),
                Some(_) => Err(BifrostError::missing_key(format!(
                    "the pinned key of provider '{}' has failed for this request",
                    p.name
                ))),
                None => Err(BifrostError::invalid_request(format!(
                    "the key pinned by x-bf-api-key{} is not among the keys of provider '{}' \
                     that allow model '{model}'",
                    if o.key_id.is_some() { "-id" } else { "" },
                    p.name
                ))),
            };
        }
        let session = opts.and_then(|o| o.session_id.as_deref().map(|s| (s, o.session_ttl)));
        if let (Some((sid, _)), true) = (session, first_attempt) {
            // A session's key is reused while it is healthy; otherwise a new one is stored.
            if let Some(i) = p.sticky.get(sid, model) {
                let usable = p.keys.keys().get(i).is_some_and(|k| k.allows(model))
                    && !p.keys.is_cooling(i)
                    && !excluded.contains(&i);
                if usable {
                    return Ok(Some(i));
                }
            }
        }
        match p.keys.select(model, excluded) {
            Selection::Key(i) => {
                if let Some((sid, ttl)) = session {
                    p.sticky
                        .put(sid, model, i, ttl.unwrap_or(DEFAULT_SESSION_TTL));
                }
                Ok(Some(i))
            }
            Selection::AllCooling(wait) => Err(BifrostError::all_keys_cooling(&p.name, wait)),
            Selection::NoKey if p.keyless => Ok(None),
            Selection::NoKey if !excluded.is_empty() => Err(BifrostError::missing_key(format!(
                "every API key of provider '{}' for model '{model}' has failed for this request",
                p.name
            ))),
            Selection::NoKey => Err(BifrostError::missing_key(format!(
                "no API key is configured for provider '{}' that allows model '{model}'",
                p.name
            ))),
        }
    }

    /// Attempts one target: queue, key, call; retries per the error class.
    #[allow(clippy::too_many_arguments)]
    async fn try_target(
        &self,
        target: &Target<'_>,
        req: Req<'_>,
        opts: Option<&RequestOptions>,
        labels: &[String],
        mode: Mode,
        attempts: &mut Vec<Attempt>,
        spent: &mut Spent,
    ) -> Result<(Output, Option<String>, Duration), BifrostError> {
        let p = target.provider;
        let net = &p.network;
        let observer = &*self.inner.observer;
        let request_type = match mode {
            Mode::Unary => CHAT_COMPLETION,
            Mode::Stream => CHAT_COMPLETION_STREAM,
            Mode::Embed => EMBEDDING,
            Mode::Raw(t) | Mode::RawStream(t) => t.as_str(),
        };
        if !p.supported.contains(&mode.request_type()) {
            return Err(BifrostError::unsupported(&p.name, request_type));
        }
        let (max_tokens, temperature, operation) = match req {
            Req::Chat(r) => (
                r.max_completion_tokens.or(r.max_tokens).map(i64::from),
                r.temperature,
                "chat",
            ),
            Req::Embed(_) => (None, None, "embeddings"),
            Req::Raw(_) => (None, None, request_type),
        };
        let keyless_key = Key::new("");
        let direct_key = opts
            .and_then(|o| o.direct_key.as_ref())
            .map(|k| Key::new(k.expose()));
        let mut excluded: Vec<usize> = Vec::new();
        let mut retry = 0u32;
        loop {
            let t = Instant::now();
            // A caller's own key replaces key selection (and its cooldowns) entirely.
            let key_index = match direct_key {
                Some(_) => None,
                None => self.choose_key(p, &target.model, &excluded, opts, retry == 0)?,
            };
            let key_selection = t.elapsed();
            let key = match (&direct_key, key_index) {
                (Some(k), _) => k,
                (None, Some(i)) => p.keys.get(i),
                (None, None) => &keyless_key,
            };
            let deadline = Instant::now() + net.request_timeout;
            let (permit, queue_wait) = match p
                .queue
                .acquire(deadline, self.inner.drop_excess_requests)
                .await
            {
                Ok(acquired) => acquired,
                Err(e) => {
                    let reason = match e.class {
                        ErrorClass::QueueFull => "queue_full",
                        _ => "queue_timeout",
                    };
                    observer.dropped(&p.name, reason);
                    return Err(e);
                }
            };
            observer.queue_wait(&p.name, queue_wait);

            let clock = StageClock::default();
            let cx = CallContext {
                model: &target.model,
                key,
                clock: &clock,
            };
            // One span per upstream attempt, with GenAI semantic-convention attributes; its
            // target is off unless trace export is on, so it costs nothing otherwise. Integers
            // are recorded as i64: the exporter would turn unsigned ones into strings.
            let span = tracing::info_span!(
                target: "bifrost_otel",
                "bifrost.attempt",
                otel.name = %format_args!("{operation} {}", target.model),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                gen_ai.operation.name = operation,
                gen_ai.provider.name = %p.name,
                gen_ai.request.model = %target.model,
                gen_ai.request.max_tokens = max_tokens,
                gen_ai.request.temperature = temperature,
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                http.response.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
                bifrost.retry = i64::from(retry),
                bifrost.key_name = %key.name,
                bifrost.stream = matches!(mode, Mode::Stream),
            );
            let started = Instant::now();
            let mut permit = Some(permit);
            let call = async {
                match (mode, req) {
                    (Mode::Embed, Req::Embed(req)) => {
                        p.provider.embed(cx, req).await.map(Output::Embedding)
                    }
                    (Mode::Unary, Req::Chat(req)) => {
                        p.provider.chat(cx, req).await.map(Output::Unary)
                    }
                    (Mode::Stream, Req::Chat(req)) => match p.provider.chat_stream(cx, req).await {
                        Ok(stream) => {
                            let t = Instant::now();
                            let first = first_chunk(stream).await;
                            // Waiting for the first chunk is part of the upstream exchange.
                            clock.record(observe::Stage::Http, t.elapsed());
                            match (first, permit.take()) {
                                (Ok(s), Some(permit)) => Ok(Output::Stream(s, permit)),
                                (Ok(_), None) => {
                                    Err(BifrostError::internal("stream permit missing"))
                                }
                                (Err(e), _) => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    },
                    (Mode::Raw(op), Req::Raw(req)) => {
                        p.provider.raw(cx, op, &req.body).await.map(Output::Raw)
                    }
                    (Mode::RawStream(op), Req::Raw(req)) => {
                        match p.provider.raw_stream(cx, op, &req.body).await {
                            Ok(s) => match permit.take() {
                                Some(permit) => Ok(Output::RawStream(s, permit)),
                                None => Err(BifrostError::internal("stream permit missing")),
                            },
                            Err(e) => Err(e),
                        }
                    }
                    _ => Err(BifrostError::internal("request does not match its mode")),
                }
            };
            let result = call.instrument(span.clone()).await;
            let latency = started.elapsed();
            match &result {
                Ok(out) => {
                    span.record("http.response.status_code", 200);
                    if let Output::Unary(ChatCompletion { usage: Some(u), .. }) = out {
                        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                        span.record("gen_ai.usage.input_tokens", int(u.prompt_tokens));
                        span.record("gen_ai.usage.output_tokens", int(u.completion_tokens));
                    }
                }
                Err(e) => {
                    span.record("http.response.status_code", i64::from(e.status));
                    span.record("error.type", e.class.as_str());
                    span.record("otel.status_code", "ERROR");
                }
            }
            spent.upstream += latency;
            observer.attempt(&AttemptEvent {
                provider: &p.name,
                model: &target.model,
                request_type,
                status: result.as_ref().map_or_else(|e| e.status, |_| 200),
                error: result.as_ref().err().map(|e| e.class),
                latency,
                stages: clock.times(key_selection),
                labels,
            });
            let used = match &result {
                Ok(Output::Unary(body)) => body
                    .usage
                    .as_ref()
                    .map(|u| (u.prompt_tokens, u.completion_tokens)),
                Ok(Output::Embedding(body)) => body.usage.as_ref().map(|u| (u.prompt_tokens, 0)),
                _ => None,
            };
            if let Some((prompt, completion)) = used {
                observer.tokens(
                    &p.name,
                    &target.model,
                    request_type,
                    labels,
                    prompt,
                    completion,
                );
            }
            attempts.push(Attempt {
                provider: p.name.clone(),
                model: target.model.clone(),
                key_name: key_index.map(|_| key.name.clone()),
                status: result.as_ref().map_or_else(|e| e.status, |_| 200),
                class: result
                    .as_ref()
                    .err()
                    .map_or("success", |e| e.class.as_str()),
                latency_ms: latency.as_millis() as u64,
            });
            let err = match result {
                Ok(out) => return Ok((out, key_index.map(|_| key.id.clone()), queue_wait)),
                Err(e) => e,
            };
            drop(permit);

            // A failure that is the key's fault takes the key out of rotation for everyone,
            // and this request moves on to another key.
            let key_fault = match err.class {
                ErrorClass::RateLimited => {
                    Some(err.retry_after.unwrap_or(p.key_health.rate_limit_cooldown))
                }
                ErrorClass::Credential | ErrorClass::Quota => {
                    Some(p.key_health.auth_failure_cooldown)
                }
                _ => None,
            };
            if let (Some(period), Some(i)) = (key_fault, key_index) {
                if !err.is_bifrost_error {
                    p.keys.cool_down(i, period);
                    observer.key_cooldown(&p.name, &key.name, err.class);
                    tracing::debug!(provider = %p.name, key = %key.name, ?period, "key cooling down");
                }
                excluded.push(i);
            }
            let retry_after_too_long = err.retry_after.is_some_and(|d| d > retry::MAX_RETRY_AFTER);
            if !err.class.is_retryable() || retry >= net.max_retries || retry_after_too_long {
                return Err(err);
            }
            let pinned = opts.is_some_and(|o| o.key_id.is_some() || o.key_name.is_some());
            let other_key = key_fault.is_some()
                && !pinned
                && matches!(p.keys.select(&target.model, &excluded), Selection::Key(_));
            if key_fault.is_some() && !other_key {
                // No healthy key is left: the provider's answer stands (or a fallback takes
                // over).
                return Err(err);
            }
            retry += 1;
            observer.retry(&p.name, err.class);
            tracing::debug!(provider = %p.name, retry, error = %err, "retrying");
            // Another key can be tried at once; the same upstream gets time to recover.
            if !other_key {
                let delay = retry::delay(
                    retry,
                    err.retry_after,
                    net.retry_backoff_initial,
                    net.retry_backoff_max,
                );
                tokio::time::sleep(delay).await;
                spent.backoff += delay;
            }
        }
    }
}

/// Waits for the first chunk that carries something (text, tool calls, a finish reason,
/// usage): until then a failure — an error event or exception frame right after a role-only
/// start chunk — is still an attempt failure that may be retried or fall back. Empty leading
/// chunks are held and sent on with it.
async fn first_chunk(mut stream: ChunkStream) -> Result<ChunkStream, BifrostError> {
    let mut held = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let empty = is_empty_chunk(&chunk);
                held.push(Ok(chunk));
                // A bounded hold: a stream of nothing but empty chunks is passed on as is.
                if !empty || held.len() >= 8 {
                    return Ok(Box::pin(futures::stream::iter(held).chain(stream)));
                }
            }
            Some(Err(e)) => return Err(e),
            None if held.is_empty() => {
                return Err(BifrostError::internal(
                    "provider stream ended before it began",
                ))
            }
            None => return Ok(Box::pin(futures::stream::iter(held))),
        }
    }
}

fn is_empty_chunk(c: &ChatCompletionChunk) -> bool {
    c.usage.is_none()
        && c.choices.iter().all(|ch| {
            ch.finish_reason.is_none()
                && ch.delta.content.as_deref().is_none_or(str::is_empty)
                && ch.delta.tool_calls.is_none()
                && ch.delta.extra.is_empty()
        })
}

/// HTTP/2 peers commonly allow 100 concurrent streams per connection; beyond that a single
/// connection queues requests silently, so plan one connection per this many slots.
const H2_STREAMS_PER_CONNECTION: usize = 100;
const MAX_CLIENT_SHARDS: usize = 64;

/// The provider's connection pools. `initial_pool_size` is the number of idle keep-alive
/// connections kept per upstream host: Rust needs no object pools to spare a garbage
/// collector, but a warm connection spares a TCP (and TLS) handshake on the next burst, which
/// is the memory-for-speed trade the seed's knob describes.
fn http_clients(
    pcfg: &ProviderConfig,
    pool_size: usize,
) -> Result<Vec<providers::HttpClient>, BifrostError> {
    let net = &pcfg.network;
    let may_multiplex = net.enforce_http2
        || net
            .base_url
            .as_deref()
            .is_none_or(|u| u.starts_with("https://"));
    let slots = pcfg
        .concurrency
        .concurrency
        .min(net.max_conns_per_host)
        .max(1);
    let shards = if may_multiplex {
        slots
            .div_ceil(H2_STREAMS_PER_CONNECTION)
            .clamp(1, MAX_CLIENT_SHARDS)
    } else {
        1
    };
    Ok((0..shards)
        .map(|_| providers::http_client(net, pool_size.div_ceil(shards)))
        .collect())
}

/// Counts a request (or open stream) as in flight until dropped, for a draining shutdown.
struct InFlightGuard {
    inner: Arc<Inner>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// A chat stream. Holds the provider slot and counts as in flight until it ends or is dropped;
/// dropping it (a client that left) closes the upstream connection.
pub struct ChatStream {
    inner: ChunkStream,
    include_usage: bool,
    finished: bool,
    usage_reported: bool,
    provider: String,
    model: String,
    labels: Vec<String>,
    _permit: Permit,
    guard: InFlightGuard,
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk, BifrostError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let item = self.inner.as_mut().poll_next(cx);
            if let Poll::Ready(Some(Ok(c))) = &item {
                if let (Some(u), false) = (&c.usage, self.usage_reported) {
                    self.usage_reported = true;
                    self.guard.inner.observer.tokens(
                        &self.provider,
                        &self.model,
                        CHAT_COMPLETION_STREAM,
                        &self.labels,
                        u.prompt_tokens,
                        u.completion_tokens,
                    );
                }
            }
            match item {
                // Usage is always requested upstream; the client gets it only if it asked.
                Poll::Ready(Some(Ok(c)))
                    if !self.include_usage && c.choices.is_empty() && c.usage.is_some() =>
                {
                    continue
                }
                Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                    self.finished = true;
                    return item;
                }
                other => return other,
            }
        }
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        if !self.finished {
            self.guard
                .inner
                .cancelled_streams
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The upstream's bytes of a forwarded stream; holds the provider slot until dropped.
pub struct RawStream {
    inner: ByteStream,
    _permit: Permit,
    _guard: InFlightGuard,
}

impl Stream for RawStream {
    type Item = Result<bytes::Bytes, BifrostError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
