//! Governance (behaviour reference §7): virtual keys, budgets, rate limits and cost, as a plugin
//! on the engine's seam.
//!
//! - The **HTTP pre-hook** finds the request's virtual key (`x-bf-vk`, or `sk-bf-…` in
//!   `Authorization`, `x-api-key`, `x-goog-api-key`), refuses a missing (when mandatory),
//!   unknown or inactive one (401), and routes a bare model through the key's provider configs
//!   by weight, the other eligible providers becoming fallbacks.
//! - The **pre-hook** (per target) refuses a provider or model the key does not allow (403),
//!   then reserves every limit and budget of the chain — provider config, key, team, customer,
//!   model configs — at once ([`counters`]): 429 for a rate or concurrency limit, 402 for a
//!   budget. A provider config's own limit only skips that provider (fallbacks go on).
//! - **Usage** (from the answer, or a stream's final chunk) is priced ([`pricing`]) and the
//!   reservation is reconciled when the request's context goes away — normally, on error, or
//!   when the client left mid-stream — on a task of its own that shutdown waits for.

pub mod api;
pub mod counters;
pub mod model;
pub mod pricing;
pub mod store;

use crate::logs::LogEntry;
use bifrost_core::plugin::{Event, Response};
use bifrost_core::schemas::Usage;
use bifrost_core::{
    BifrostError, ErrorClass, HttpRequest, Plugin, PreHook, Request, RequestContext,
    RequestOptions, ShortCircuit,
};
use counters::{Check, Counters, Kind, Level, Refusal, Reservation};
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use model::{Entities, Snapshot, VkRule, VK_PREFIX};
use pricing::{Price, Pricing};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod plugin;
pub use plugin::GovernancePlugin;

mod vk;
use vk::{find_vk, strip_vks};

/// Maps the request path reads, keyed by names from the config or by keys already verified
/// (never filled from what clients send): a fast hasher instead of SipHash.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// `budget_mode`: reserve the most a request can cost first (`strict`), or only check that the
/// budget is not yet spent (`soft`, as the original).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetMode {
    Strict,
    Soft,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// A request without a virtual key is refused (401).
    pub mandatory: bool,
    pub budget_mode: BudgetMode,
    /// Output tokens reserved when a request does not set `max_tokens`.
    pub token_estimate_default: u64,
    /// Headers every inference request must carry (400 otherwise), lowercased.
    pub required_headers: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mandatory: false,
            budget_mode: BudgetMode::Strict,
            token_estimate_default: 1024,
            required_headers: Vec::new(),
        }
    }
}

/// Prometheus counters of the governance plugin.
pub struct GovMetrics {
    rejections: prometheus::IntCounterVec,
    store_failures: prometheus::IntCounter,
    cost: prometheus::CounterVec,
}

impl GovMetrics {
    pub fn new(r: &prometheus::Registry) -> Result<Self, String> {
        let rejections = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "bifrost_governance_rejections_total",
                "Requests refused by governance, by reason.",
            ),
            &["reason"],
        )
        .map_err(|e| e.to_string())?;
        let store_failures = prometheus::IntCounter::new(
            "bifrost_governance_store_failures_total",
            "Calls to the shared counter store (Redis) that failed or timed out.",
        )
        .map_err(|e| e.to_string())?;
        let cost = prometheus::CounterVec::new(
            prometheus::Opts::new("bifrost_cost_total", "Cost of answered requests, in USD."),
            &["provider", "model", "method"],
        )
        .map_err(|e| e.to_string())?;
        r.register(Box::new(rejections.clone()))
            .map_err(|e| e.to_string())?;
        r.register(Box::new(store_failures.clone()))
            .map_err(|e| e.to_string())?;
        r.register(Box::new(cost.clone()))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            rejections,
            store_failures,
            cost,
        })
    }
}

/// The governance service: entities, counters, prices.
pub struct Governance {
    pub snapshot: arc_swap::ArcSwap<Snapshot>,
    /// The entities as written (the API edits these).
    pub entities: arc_swap::ArcSwap<Entities>,
    pub counters: Counters,
    pub pricing: Arc<Pricing>,
    pub settings: Settings,
    pub store: Option<bifrost_store::ConfigStore>,
    metrics: Option<GovMetrics>,
    /// Serialises the API's writes.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
}

/// What the request path knows about one request's governance.
pub struct GovRequest {
    pub vk: Option<Arc<VkRule>>,
    /// The body's size (a prompt-token estimate: ~4 bytes per token).
    prompt_bytes: usize,
    /// The answer's usage and cost (micro-dollars), once known.
    used: Mutex<Option<(Usage, Option<i64>)>>,
    /// Stream events relayed so far: a stream cut before its usage arrived is charged about a
    /// token per event.
    events: AtomicU64,
    /// The answer is a stream, and the client left before its end.
    stream: AtomicBool,
    cut: AtomicBool,
}

impl std::fmt::Debug for GovRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GovRequest")
    }
}

/// One target's reservation; reconciled when dropped.
struct Pending {
    gov: Arc<Governance>,
    req: Arc<GovRequest>,
    reservation: Option<Reservation>,
    failed: AtomicBool,
    /// The prompt-token estimate and the price, for a stream cut before its usage came.
    prompt: u64,
    price: Option<Price>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(r) = self.reservation.take() else {
            return;
        };
        // Nothing reads the usage after the reconciliation (the cost header and the log row
        // were written when it came): taken, not copied.
        let mut used = lock(&self.req.used).take();
        let failed = self.failed.load(Ordering::Relaxed);
        let events = self.req.events.load(Ordering::Relaxed);
        let stream = self.req.stream.load(Ordering::Relaxed);
        let cut = self.req.cut.load(Ordering::Relaxed);
        let estimate = |completion: u64| {
            let u = Usage {
                prompt_tokens: self.prompt,
                completion_tokens: completion,
                total_tokens: self.prompt + completion,
                ..Usage::default()
            };
            let cost = self.price.map(|p| model::micros(p.cost(&u)));
            (u, cost)
        };
        match &mut used {
            // Answered in one piece without a usage report (audio, images, …): the input.
            None if !failed && !stream => used = Some(estimate(0)),
            // The client left mid-stream: charge what was relayed, about a token per event.
            None if !failed && events > 0 => used = Some(estimate(events)),
            // Cut short, the upstream's running count may lag what was relayed (Anthropic
            // reports output tokens at the end).
            Some((u, cost)) if cut && u.completion_tokens < events => {
                u.completion_tokens = events;
                u.total_tokens = u.prompt_tokens + events;
                *cost = self.price.map(|p| model::micros(p.cost(u)));
            }
            _ => {}
        }
        let deltas: Vec<i64> = r
            .entries
            .iter()
            .map(|e| match (e.spec.kind, &used) {
                (Kind::Tokens, Some((u, _))) => tokens(u) - e.amount,
                (Kind::Budget, Some((_, cost))) => cost.unwrap_or(0) - e.amount,
                // Failed without an answer: nothing was produced.
                (Kind::Tokens | Kind::Budget, None) if failed => -e.amount,
                // Nothing relayed and no usage (a stream dropped before its first event): the
                // reservation stands.
                _ => 0,
            })
            .collect();
        // Memory: at once; Redis: queued for the next batch (never lost with the request).
        self.gov.counters.settle(r, &deltas);
    }
}

fn tokens(u: &Usage) -> i64 {
    let t = if u.total_tokens > 0 {
        u.total_tokens
    } else {
        u.prompt_tokens + u.completion_tokens
    };
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn refuse(status: u16, code: &str, msg: impl Into<String>) -> BifrostError {
    let class = match status {
        429 => ErrorClass::RateLimited,
        402 => ErrorClass::Quota,
        401 | 403 => ErrorClass::Credential,
        503 => ErrorClass::Transient,
        _ => ErrorClass::InvalidRequest,
    };
    BifrostError::policy(class, status, code, msg)
}

impl Governance {
    /// Whether `headers` carry an active virtual key this gateway knows (admin auth lets such
    /// inference requests through).
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        find_vk(headers).is_some_and(|v| self.snapshot.load().find(v).is_some_and(|vk| vk.active))
    }

    /// Whether `headers` carry a virtual key this gateway knows that is deactivated (admin
    /// auth then says so, rather than asking the client to log in).
    pub fn knows_inactive(&self, headers: &HeaderMap) -> bool {
        find_vk(headers).is_some_and(|v| self.snapshot.load().find(v).is_some_and(|vk| !vk.active))
    }

    pub fn new(
        entities: Entities,
        counters: Counters,
        pricing: Arc<Pricing>,
        settings: Settings,
        store: Option<bifrost_store::ConfigStore>,
        metrics: Option<GovMetrics>,
    ) -> Result<Arc<Self>, model::Invalid> {
        let snapshot = entities.compile()?;
        Ok(Arc::new(Self {
            snapshot: arc_swap::ArcSwap::from_pointee(snapshot),
            entities: arc_swap::ArcSwap::from_pointee(entities),
            counters,
            pricing,
            settings,
            store,
            metrics,
            write_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Puts new entities in force (they were validated).
    pub fn install(&self, entities: Entities) -> Result<(), model::Invalid> {
        let snapshot = entities.compile()?;
        self.snapshot.store(Arc::new(snapshot));
        self.entities.store(Arc::new(entities));
        self.counters.clear_blocked();
        Ok(())
    }

    /// Waits (up to `limit`) for reconciliations still running.
    pub async fn drain(&self, limit: Duration) {
        self.counters.wait_settled(limit).await;
    }

    /// Brings the store-failure counter up to date (before a scrape).
    pub fn sync_metrics(&self) {
        if let Some(m) = &self.metrics {
            let n = self.counters.failures.load(Ordering::Relaxed);
            m.store_failures
                .inc_by(n.saturating_sub(m.store_failures.get()));
        }
    }

    fn rejected(&self, reason: &str) {
        if let Some(m) = &self.metrics {
            m.rejections.with_label_values(&[reason]).inc();
        }
    }

    /// Reloads entities from the config store (another replica changed them).
    pub async fn reload(&self) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let e = store::load(store).await?;
        self.install(e).map_err(|e| e.to_string())
    }

    /// Follows the config store's change notifications.
    pub fn watch(self: &Arc<Self>) {
        if let Some(store) = &self.store {
            crate::control::follow(store, self, |me| async move {
                if let Err(e) = me.reload().await {
                    tracing::warn!(error = %e, "governance: reloading entities failed");
                }
            });
        }
    }

    /// Picks providers for a bare model by weight: the primary, then the others by weight.
    fn route(&self, vk: &VkRule, model: &str) -> Vec<String> {
        let mut eligible: Vec<(&str, f64)> = vk
            .provider_configs
            .iter()
            .filter(|pc| pc.weight > 0.0 && pc.allows(model))
            .filter(|pc| !self.counters.known_blocked(&pc.limits))
            .map(|pc| (pc.provider.as_str(), pc.weight))
            .collect();
        if eligible.is_empty() {
            return Vec::new();
        }
        let total: f64 = eligible.iter().map(|(_, w)| w).sum();
        let mut pick = fastrand::f64() * total;
        let mut first = eligible.len() - 1;
        for (i, (_, w)) in eligible.iter().enumerate() {
            if pick < *w {
                first = i;
                break;
            }
            pick -= w;
        }
        let primary = eligible.remove(first);
        eligible.sort_by(|a, b| b.1.total_cmp(&a.1));
        std::iter::once(primary)
            .chain(eligible)
            .map(|(p, _)| p.to_owned())
            .collect()
    }
}

/// What one target's pre-hook reserves: the checks, and the prompt estimate and price used for
/// a stream cut before its usage came.
struct Plan {
    checks: Vec<Check>,
    prompt: u64,
    price: Option<Price>,
}

fn fail(error: BifrostError, allow_fallbacks: bool) -> PreHook {
    PreHook::ShortCircuit(Box::new(ShortCircuit::Fail {
        error,
        allow_fallbacks,
    }))
}

impl Governance {
    /// The provider and model checks of the key's provider configs, then every limit of the
    /// chain with the amount this request takes from it.
    fn plan(
        &self,
        snap: &Snapshot,
        ctx: &mut RequestContext,
        req: &Request,
        greq: &GovRequest,
    ) -> Result<Plan, BifrostError> {
        let (provider, model) = (&*ctx.provider, ctx.model.as_str());
        let max_out = match req {
            Request::Chat(r) => r.max_completion_tokens.or(r.max_tokens),
            Request::Native(n) => n.max_tokens,
            _ => None,
        }
        .map_or(self.settings.token_estimate_default, u64::from);
        let prompt = (greq.prompt_bytes / 4) as u64;
        let price = self
            .pricing
            .price(provider, model, ctx.request_type.as_str());
        let est_tokens = i64::try_from(prompt + max_out).unwrap_or(i64::MAX);
        let est_cost = match self.settings.budget_mode {
            BudgetMode::Strict => price.map_or(0, |p| model::micros(p.max_cost(prompt, max_out))),
            BudgetMode::Soft => 0,
        };
        let mut checks: Vec<Check> = Vec::new();
        let mut add = |specs: &mut dyn Iterator<Item = &counters::LimitSpec>| {
            for s in specs {
                if checks.iter().any(|c| c.spec.base == s.base) {
                    continue;
                }
                let amount = match s.kind {
                    Kind::Requests | Kind::Concurrency => 1,
                    Kind::Tokens => est_tokens,
                    Kind::Budget => est_cost,
                };
                checks.push(Check {
                    spec: s.clone(),
                    amount,
                });
            }
        };
        let mut allowed_keys = None;
        if let Some(vk) = &greq.vk {
            if !vk.provider_configs.is_empty() {
                let Some(pc) = vk
                    .provider_configs
                    .iter()
                    .find(|pc| pc.provider == provider)
                else {
                    self.rejected("provider_not_allowed");
                    return Err(refuse(
                        403,
                        "provider_not_allowed",
                        format!("this virtual key may not use provider {provider}"),
                    ));
                };
                if !pc.allows(model) {
                    self.rejected("model_not_allowed");
                    return Err(refuse(
                        403,
                        "model_not_allowed",
                        format!("this virtual key may not use model {model} on {provider}"),
                    ));
                }
                allowed_keys = Some(&pc.allowed_keys);
                add(&mut pc.limits.iter());
            }
            add(&mut vk.limits.iter());
        }
        add(&mut snap.model_limits(provider, model));
        if let Some(keys) = allowed_keys {
            ctx.allowed_keys.clone_from(keys);
        }
        Ok(Plan {
            checks,
            prompt,
            price,
        })
    }

    /// The pre-hook's answer once the counters answered: the reservation kept for the
    /// reconciliation and its `x-ratelimit-*` headers, or the refusal in the route's terms.
    fn reserved(
        self: &Arc<Self>,
        ctx: &mut RequestContext,
        greq: Arc<GovRequest>,
        plan: Plan,
        r: Result<Reservation, Refusal>,
    ) -> PreHook {
        match r {
            Ok(r) => {
                ratelimit_headers(&mut ctx.response_headers, &r, now_ms());
                ctx.options.extensions.insert(Arc::new(Pending {
                    gov: self.clone(),
                    req: greq,
                    reservation: Some(r),
                    failed: AtomicBool::new(false),
                    prompt: plan.prompt,
                    price: plan.price,
                }));
                PreHook::Continue
            }
            Err(Refusal::Exceeded(ex)) => {
                let (status, code) = match ex.spec.kind {
                    Kind::Budget => (402, "budget_exceeded"),
                    Kind::Concurrency => (429, "concurrency_limit_exceeded"),
                    _ => (429, "rate_limit_exceeded"),
                };
                self.rejected(code);
                let what = match ex.spec.kind {
                    Kind::Budget => format!(
                        "budget {} of the {} is spent (${:.6} of ${:.6})",
                        ex.spec.id,
                        ex.spec.level.as_str(),
                        ex.used as f64 / 1e6,
                        ex.spec.limit as f64 / 1e6
                    ),
                    Kind::Concurrency => format!(
                        "the virtual key already has {} requests in flight (max_concurrent_requests)",
                        ex.used
                    ),
                    k => format!(
                        "{} limit {} of the {} reached ({} of {})",
                        k.as_str(),
                        ex.spec.id,
                        ex.spec.level.as_str(),
                        ex.used,
                        ex.spec.limit
                    ),
                };
                let mut e = refuse(status, code, what);
                if status == 429 {
                    e.retry_after = Some(ex.retry_after.max(Duration::from_secs(1)));
                    let (l, rem) = match ex.spec.kind {
                        Kind::Tokens => {
                            ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens")
                        }
                        _ => (
                            "x-ratelimit-limit-requests",
                            "x-ratelimit-remaining-requests",
                        ),
                    };
                    header(&mut e.headers, l, ex.spec.limit);
                    header(&mut e.headers, rem, (ex.spec.limit - ex.used).max(0));
                }
                // A provider config's own limit skips that provider only.
                fail(e, ex.spec.level == Level::ProviderConfig)
            }
            Err(Refusal::Unavailable(why)) => {
                self.rejected("store_unavailable");
                fail(
                    refuse(
                        503,
                        "governance_unavailable",
                        format!("usage limits cannot be checked right now ({why}); try again"),
                    ),
                    false,
                )
            }
        }
    }
}

fn header(h: &mut HeaderMap, name: &'static str, v: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
        h.insert(HeaderName::from_static(name), v);
    }
}

static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// `x-ratelimit-*` of the tightest request and token limits reserved.
fn ratelimit_headers(h: &mut HeaderMap, r: &Reservation, now_ms: i64) {
    let requests = [&LIMIT_REQUESTS, &REMAINING_REQUESTS, &RESET_REQUESTS];
    let tokens = [&LIMIT_TOKENS, &REMAINING_TOKENS, &RESET_TOKENS];
    // These six, `x-bf-cost`, and room for what joins this map before it is written: the
    // route's headers and `x-bf-*` (`routes::respond::add_meta`), then the request id, `vary`
    // and `content-length` (~17 in all). One allocation, no growth on the way (a map sized
    // for 12 grew, and rehashed, once per request).
    h.reserve(20);
    for (kind, [limit, remaining, reset]) in [(Kind::Requests, requests), (Kind::Tokens, tokens)] {
        let tightest = r
            .entries
            .iter()
            .filter(|e| e.spec.kind == kind)
            .min_by_key(|e| e.spec.limit - e.used);
        if let Some(e) = tightest {
            let secs = ((e.window_end_ms - now_ms).max(0) as u64).div_ceil(1000);
            h.insert(limit.clone(), e.spec.limit_header.clone());
            h.insert(
                remaining.clone(),
                HeaderValue::from((e.spec.limit - e.used).max(0)),
            );
            h.insert(reset.clone(), seconds(secs));
        }
    }
}

/// `"{secs}s"` without a formatter.
fn seconds(secs: u64) -> HeaderValue {
    let mut buf = itoa::Buffer::new();
    let mut v = String::with_capacity(21);
    v.push_str(buf.format(secs));
    v.push('s');
    HeaderValue::try_from(v).unwrap_or(HeaderValue::from_static("0s"))
}

fn now_ms() -> i64 {
    crate::logs::now_ms()
}
