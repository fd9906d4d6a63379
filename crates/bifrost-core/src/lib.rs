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
pub mod providers;
pub mod queue;
pub mod retry;
pub mod routing;
pub mod schemas;

pub use config::{
    Account, ApiFormat, BifrostConfig, ConcurrencyAndBufferSize, CustomProviderConfig, Key,
    NetworkConfig, ProviderConfig, Secret, StaticAccount,
};
pub use error::{Attempt, BifrostError, ErrorClass};
pub use schemas::{ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ModelInfo};

use futures::{Stream, StreamExt};
use providers::{CallContext, ChunkStream, Provider};
use queue::{Permit, ProviderQueue};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    drop_excess_requests: bool,
    initial_pool_size: usize,
    shutdown_timeout: Duration,
    closing: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

struct ProviderState {
    name: String,
    provider: Arc<dyn Provider>,
    keys: Vec<Key>,
    keyless: bool,
    network: NetworkConfig,
    limits: ConcurrencyAndBufferSize,
    queue: ProviderQueue,
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
    /// 0 for the primary target, i+1 for `fallbacks[i]`.
    pub fallback_index: usize,
    /// Upstream attempts made in all, this one included.
    pub attempts: usize,
    /// Time spent waiting for a provider slot.
    pub queue_wait: Duration,
}

/// Where one attempt goes.
struct Target<'a> {
    provider: &'a ProviderState,
    model: String,
}

enum Mode {
    Unary,
    Stream,
}

enum Output {
    Unary(ChatCompletion),
    Stream(ChunkStream, Permit),
}

impl Bifrost {
    /// Builds every configured provider (one connection pool each) and its queue.
    pub fn init(config: BifrostConfig) -> Result<Self, BifrostError> {
        let account = &config.account;
        let mut providers = HashMap::new();
        let mut order = Vec::new();
        for name in account.configured_providers() {
            let pcfg = account.config_for_provider(&name)?;
            let keys = account.keys_for_provider(&name)?;
            let client = http_client(&pcfg)?;
            let (provider, keyless) = providers::build(&name, &pcfg, client)?;
            let state = ProviderState {
                name: name.clone(),
                provider,
                keys,
                keyless,
                queue: ProviderQueue::new(&name, pcfg.concurrency),
                network: pcfg.network,
                limits: pcfg.concurrency,
            };
            order.push(name.clone());
            providers.insert(name, state);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                providers,
                order,
                drop_excess_requests: config.drop_excess_requests,
                initial_pool_size: config.initial_pool_size,
                shutdown_timeout: config.shutdown_timeout,
                closing: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        })
    }

    /// Configured provider names, in configuration order.
    pub fn providers(&self) -> &[String] {
        &self.inner.order
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

    /// `(provider, concurrency, buffer_size)` of every provider.
    pub fn limits(&self) -> Vec<(String, ConcurrencyAndBufferSize)> {
        self.inner
            .order
            .iter()
            .filter_map(|n| self.inner.providers.get(n).map(|p| (n.clone(), p.limits)))
            .collect()
    }

    /// The models the configured keys name, as `provider/model`. A provider whose keys allow
    /// every model contributes nothing here (it cannot be enumerated without asking upstream).
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut out: Vec<ModelInfo> = Vec::new();
        for name in &self.inner.order {
            let Some(p) = self.inner.providers.get(name) else {
                continue;
            };
            for model in p.keys.iter().filter(|k| k.enabled).flat_map(|k| &k.models) {
                let id = format!("{name}/{model}");
                if !out.iter().any(|m| m.id == id) {
                    out.push(ModelInfo {
                        id,
                        object: "model",
                        created: 0,
                        owned_by: name.clone(),
                    });
                }
            }
        }
        out
    }

    /// A chat completion.
    ///
    /// The request path, in order: admission (refused once shutdown began) → resolve the target
    /// (`provider` field, `provider/model` prefix, or the one provider whose keys list the model)
    /// and the fallbacks → for each target in turn: wait for a slot in the provider's queue →
    /// select a key → call the provider (translation happens inside it) → on failure, retry
    /// per the error's class with backoff, on another key where the key was at fault → on
    /// final failure, fall back to the next target if the class allows. Future stages (plugin
    /// pre/post hooks for governance, cache and logging) wrap the per-target step.
    pub async fn chat_completion(
        &self,
        req: ChatRequest,
    ) -> Result<BifrostResponse<ChatCompletion>, BifrostError> {
        let _guard = self.admit()?;
        match self.run(&req, Mode::Unary).await? {
            (Output::Unary(body), meta) => Ok(BifrostResponse { body, meta }),
            (Output::Stream(..), _) => Err(BifrostError::internal("stream for a unary call")),
        }
    }

    /// A streaming chat completion. Resolves once a provider has produced its first chunk, so
    /// retries and fallbacks cover every failure before the client sees a byte; after that,
    /// a failure is the stream's last item and the stream ends (never a fake end of stream).
    pub async fn chat_completion_stream(
        &self,
        req: ChatRequest,
    ) -> Result<BifrostResponse<ChatStream>, BifrostError> {
        let guard = self.admit()?;
        let include_usage = req.wants_stream_usage();
        match self.run(&req, Mode::Stream).await? {
            (Output::Stream(inner, permit), meta) => Ok(BifrostResponse {
                body: ChatStream {
                    inner,
                    include_usage,
                    _permit: permit,
                    _guard: guard,
                },
                meta,
            }),
            (Output::Unary(_), _) => Err(BifrostError::internal("unary result for a stream")),
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

    /// Resolves `model` (and an explicit `provider`) to a configured provider and the model
    /// name that provider knows.
    fn resolve<'a>(
        &'a self,
        provider: Option<&str>,
        model: &str,
    ) -> Result<Target<'a>, BifrostError> {
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
                p.keys
                    .iter()
                    .any(|k| k.enabled && k.models.iter().any(|m| m == model))
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

    async fn run(
        &self,
        req: &ChatRequest,
        mode: Mode,
    ) -> Result<(Output, ResponseMeta), BifrostError> {
        let primary = self
            .resolve(req.provider.as_deref(), &req.model)
            .map_err(|e| e.with_model(&req.model))?;
        let mut targets = vec![primary];
        for (i, fb) in req.fallbacks.iter().enumerate() {
            let t = self
                .resolve(fb.provider.as_deref(), &fb.model)
                .map_err(|mut e| {
                    e.message = format!("fallbacks[{i}]: {}", e.message);
                    e
                })?;
            targets.push(t);
        }

        let mut attempts = Vec::new();
        let mut errors: Vec<BifrostError> = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            match self.try_target(target, req, &mode, &mut attempts).await {
                Ok((out, key_id, queue_wait)) => {
                    let meta = ResponseMeta {
                        provider: target.provider.name.clone(),
                        model: target.model.clone(),
                        key_id,
                        fallback_index: index,
                        attempts: attempts.len(),
                        queue_wait,
                    };
                    return Ok((out, meta));
                }
                Err(e) => {
                    let stop = !e.class.allows_fallback();
                    errors.push(e.with_model(&target.model));
                    if stop {
                        break;
                    }
                }
            }
        }
        // The primary's error, unless a later target failed in a way no fallback may continue
        // from (then that is the answer the client must see).
        let mut err = match errors.last() {
            Some(last) if !last.class.allows_fallback() => errors.pop(),
            _ => errors.into_iter().next(),
        }
        .unwrap_or_else(|| BifrostError::internal("no target was tried"));
        if attempts.len() > 1 {
            err.attempts = attempts;
        }
        Err(err)
    }

    /// Attempts one target: queue, key, call; retries per the error class.
    async fn try_target(
        &self,
        target: &Target<'_>,
        req: &ChatRequest,
        mode: &Mode,
        attempts: &mut Vec<Attempt>,
    ) -> Result<(Output, Option<String>, Duration), BifrostError> {
        let p = target.provider;
        let net = &p.network;
        let keyless_key = Key::new("");
        let mut excluded: Vec<usize> = Vec::new();
        let mut retry = 0u32;
        loop {
            let deadline = Instant::now() + net.request_timeout;
            let (permit, queue_wait) = p
                .queue
                .acquire(deadline, self.inner.drop_excess_requests)
                .await?;

            let (key_index, key) = match routing::keys::select(&p.keys, &target.model, &excluded) {
                Some(i) => (Some(i), &p.keys[i]),
                None if p.keyless => (None, &keyless_key),
                None if !excluded.is_empty() => {
                    // Every key that could serve this model has failed for this request.
                    return Err(BifrostError::missing_key(format!(
                        "every API key of provider '{}' for model '{}' has failed for this request",
                        p.name, target.model
                    )));
                }
                None => {
                    return Err(BifrostError::missing_key(format!(
                        "no API key is configured for provider '{}' that allows model '{}'",
                        p.name, target.model
                    )));
                }
            };
            let cx = CallContext {
                model: &target.model,
                key,
            };
            let started = Instant::now();
            let mut permit = Some(permit);
            let result = match mode {
                Mode::Unary => p.provider.chat(cx, req).await.map(Output::Unary),
                Mode::Stream => match p.provider.chat_stream(cx, req).await {
                    Ok(stream) => match (first_chunk(stream).await, permit.take()) {
                        (Ok(s), Some(permit)) => Ok(Output::Stream(s, permit)),
                        (Ok(_), None) => Err(BifrostError::internal("stream permit missing")),
                        (Err(e), _) => Err(e),
                    },
                    Err(e) => Err(e),
                },
            };
            let status = match &result {
                Ok(_) => 200,
                Err(e) => e.status,
            };
            attempts.push(Attempt {
                provider: p.name.clone(),
                model: target.model.clone(),
                key_name: key_index.map(|_| key.name.clone()),
                status,
                class: result
                    .as_ref()
                    .err()
                    .map_or("success", |e| e.class.as_str()),
                latency_ms: started.elapsed().as_millis() as u64,
            });
            let err = match result {
                Ok(out) => return Ok((out, key_index.map(|_| key.id.clone()), queue_wait)),
                Err(e) => e,
            };
            let retry_after_too_long = err.retry_after.is_some_and(|d| d > retry::MAX_RETRY_AFTER);
            if !err.class.is_retryable() || retry >= net.max_retries || retry_after_too_long {
                return Err(err);
            }
            // A key-level failure: this request tries another key if there is one.
            if matches!(
                err.class,
                ErrorClass::RateLimited | ErrorClass::Credential | ErrorClass::Quota
            ) {
                if let Some(i) = key_index {
                    excluded.push(i);
                }
                if routing::keys::select(&p.keys, &target.model, &excluded).is_none() {
                    return Err(err);
                }
            }
            retry += 1;
            tracing::debug!(provider = %p.name, retry, error = %err, "retrying");
            // The slot is not held while sleeping: other requests may use it.
            drop(permit);
            let delay = retry::delay(
                retry,
                err.retry_after,
                net.retry_backoff_initial,
                net.retry_backoff_max,
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Waits for the first chunk: until it arrives, a failure is still an attempt failure that
/// may be retried or fall back.
async fn first_chunk(mut stream: ChunkStream) -> Result<ChunkStream, BifrostError> {
    match stream.next().await {
        Some(Ok(chunk)) => Ok(Box::pin(
            futures::stream::once(async { Ok(chunk) }).chain(stream),
        )),
        Some(Err(e)) => Err(e),
        None => Err(BifrostError::internal(
            "provider stream ended before it began",
        )),
    }
}

fn http_client(pcfg: &ProviderConfig) -> Result<reqwest::Client, BifrostError> {
    reqwest::Client::builder()
        .connect_timeout(pcfg.network.connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("bifrost-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BifrostError::internal(format!("building the HTTP client failed: {e}")))
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
    _permit: Permit,
    _guard: InFlightGuard,
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk, BifrostError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.inner.as_mut().poll_next(cx) {
                // Usage is always requested upstream; the client gets it only if it asked.
                Poll::Ready(Some(Ok(c)))
                    if !self.include_usage && c.choices.is_empty() && c.usage.is_some() =>
                {
                    continue
                }
                other => return other,
            }
        }
    }
}
