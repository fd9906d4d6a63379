//! Prometheus metrics: the seed's names (`bifrost_upstream_requests_total`,
//! `bifrost_upstream_latency_seconds`, `http_requests_total`, a `queue_wait_time` histogram),
//! the original's companions, the seed's stage table and the gateway overhead, encoded by the
//! `prometheus` crate in text format 0.0.4.
//!
//! Cardinality is bounded: default labels come from configuration (providers, models, request
//! types, statuses); each custom label (`-prometheus-labels`) keeps at most
//! [`MAX_LABEL_VALUES`] distinct values, and a value longer than [`MAX_LABEL_LEN`] bytes, not
//! printable ASCII, or beyond the cap is reported as `other`.

use crate::governance::FastMap;
use bifrost_core::{AttemptEvent, Bifrost, ErrorClass, Event, Outcome, Plugin, RequestContext};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::collections::HashSet;
use std::hash::BuildHasher as _;
use std::sync::RwLock;
use std::time::Duration;

pub const MAX_LABEL_VALUES: usize = 1000;
pub const MAX_LABEL_LEN: usize = 128;
pub const OVERFLOW_VALUE: &str = "other";

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0,
];
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Fine enough to see microseconds: the seed's stage table is in µs.
const MICRO_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.05,
    0.1, 0.5, 1.0, 5.0, 10.0,
];

/// A metric family whose children are kept by their label values. prometheus' own lookup
/// hashes the values with FNV, then that hash again with SipHash, on every call; a request
/// makes about seventeen (callgrind: ~7k instructions of ~140k).
struct Memo<F: Family> {
    family: F,
    hasher: foldhash::fast::RandomState,
    /// By hash of the values; the values are compared too, so a collision costs nothing but
    /// a longer list.
    children: RwLock<FastMap<u64, Vec<Labelled<F::Child>>>>,
}

/// A child with its label values.
type Labelled<C> = (Box<[Box<str>]>, C);

/// A labelled family of the `prometheus` crate.
trait Family {
    type Child: Clone;
    fn child(&self, values: &[&str]) -> Self::Child;
}

impl Family for IntCounterVec {
    type Child = IntCounter;
    fn child(&self, values: &[&str]) -> IntCounter {
        self.with_label_values(values)
    }
}

impl Family for HistogramVec {
    type Child = Histogram;
    fn child(&self, values: &[&str]) -> Histogram {
        self.with_label_values(values)
    }
}

/// The five stages of an upstream attempt, as `bifrost_stage_duration_seconds` names them.
const ATTEMPT_STAGES: [&str; 5] = [
    "key_selection",
    "message_formatting",
    "json_marshaling",
    "http_request",
    "response_parsing",
];

/// A provider's attempt stages resolved together: one lookup per attempt, not five.
struct Stages(HistogramVec);

impl Family for Stages {
    type Child = std::sync::Arc<[Histogram; 5]>;
    /// `values` is `[provider]`.
    fn child(&self, values: &[&str]) -> Self::Child {
        let provider = values.first().copied().unwrap_or_default();
        std::sync::Arc::new(ATTEMPT_STAGES.map(|s| self.0.with_label_values(&[provider, s])))
    }
}

impl<F: Family> Memo<F> {
    fn new(family: F) -> Self {
        Self {
            family,
            hasher: foldhash::fast::RandomState::default(),
            children: RwLock::default(),
        }
    }

    /// The child for `values` (which must be as many as the family's labels).
    fn with_label_values(&self, values: &[&str]) -> F::Child {
        let hash = self.hasher.hash_one(values);
        let same = |(v, _): &&Labelled<F::Child>| {
            v.len() == values.len() && v.iter().zip(values).all(|(a, b)| **a == **b)
        };
        if let Some(child) = self
            .children
            .read()
            .ok()
            .and_then(|m| m.get(&hash)?.iter().find(same).map(|(_, c)| c.clone()))
        {
            return child;
        }
        let child = self.family.child(values);
        if let Ok(mut m) = self.children.write() {
            let list = m.entry(hash).or_default();
            if !list.iter().any(|e| same(&e)) {
                let key = values.iter().map(|v| Box::from(*v)).collect();
                list.push((key, child.clone()));
            }
        }
        child
    }
}

/// One custom label's distinct values seen so far.
struct LabelCap {
    name: String,
    /// Looked up on every request: a fast hash (the values are capped, so no flooding).
    seen: RwLock<HashSet<String, foldhash::fast::RandomState>>,
}

pub struct Metrics {
    registry: Registry,
    custom: Vec<LabelCap>,
    /// The `model` label: clients choose model names wherever a key allows every model, so it
    /// is capped like a custom label.
    models: LabelCap,
    http_requests: Memo<IntCounterVec>,
    http_duration: Memo<HistogramVec>,
    http_request_size: Memo<HistogramVec>,
    http_response_size: Memo<HistogramVec>,
    upstream_requests: Memo<IntCounterVec>,
    upstream_latency: Memo<HistogramVec>,
    success: Memo<IntCounterVec>,
    errors: Memo<IntCounterVec>,
    cancelled: Memo<IntCounterVec>,
    input_tokens: Memo<IntCounterVec>,
    output_tokens: Memo<IntCounterVec>,
    retries: Memo<IntCounterVec>,
    fallbacks: Memo<IntCounterVec>,
    dropped: Memo<IntCounterVec>,
    key_cooldowns: Memo<IntCounterVec>,
    queue_wait: Memo<HistogramVec>,
    stage: Memo<HistogramVec>,
    /// The same family as `stage`, by provider.
    stages: Memo<Stages>,
    overhead: Memo<HistogramVec>,
    label_overflow: Memo<IntCounterVec>,
    queue_depth: IntGaugeVec,
    active: IntGaugeVec,
    key_healthy: IntGaugeVec,
    plugin_hook: Memo<HistogramVec>,
    plugin_panics: Memo<IntCounterVec>,
    /// Request-log rows by what became of them; brought up to the writer's counts at each
    /// scrape (under the lock, so concurrent scrapes add each row once).
    log_rows: Memo<IntCounterVec>,
    log_rows_sync: std::sync::Mutex<()>,
}

fn labels<'a>(fixed: &[&'static str], custom: &'a [String]) -> Vec<&'a str> {
    fixed
        .iter()
        .copied()
        .chain(custom.iter().map(String::as_str))
        .collect()
}

impl Metrics {
    /// `custom` are normalised custom label names (`team_id`); they must not collide with a
    /// default label.
    pub fn new(custom: &[String]) -> Result<Self, String> {
        const RESERVED: &[&str] = &[
            "endpoint",
            "path",
            "method",
            "status",
            "provider",
            "model",
            "is_success",
            "status_code",
            "error_class",
            "stage",
            "stream",
            "reason",
            "key_name",
            "from_provider",
            "to_provider",
            "label",
            "version",
            "plugin",
            "hook",
        ];
        for c in custom {
            if RESERVED.contains(&c.as_str()) {
                return Err(format!(
                    "custom Prometheus label {c:?} collides with a built-in label; rename it"
                ));
            }
            if !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                || c.starts_with(|ch: char| ch.is_ascii_digit())
            {
                return Err(format!(
                    "custom Prometheus label {c:?} is not a valid label name"
                ));
            }
        }
        let registry = Registry::new();
        let r = &registry;
        let with = |fixed: &[&'static str]| labels(fixed, custom);
        let http_requests = counter(
            r,
            "http_requests_total",
            "HTTP requests by route template, method and status.",
            &with(&["endpoint", "path", "method", "status"]),
        )?;
        let upstream_requests = counter(
            r,
            "bifrost_upstream_requests_total",
            "Upstream attempts by provider, model, request type and outcome.",
            &with(&["provider", "model", "method", "status", "status_code"]),
        )?;
        let success = counter(
            r,
            "bifrost_success_requests_total",
            "Successful upstream attempts.",
            &with(&["provider", "model", "method"]),
        )?;
        let errors = counter(
            r,
            "bifrost_error_requests_total",
            "Failed upstream attempts by status code and error class.",
            &with(&["provider", "model", "method", "status_code", "error_class"]),
        )?;
        let cancelled = counter(
            r,
            "bifrost_cancelled_streams_total",
            "Streams the client left before their end (neither a success nor an error).",
            &["provider", "model", "method"],
        )?;
        let input_tokens = counter(
            r,
            "bifrost_input_tokens_total",
            "Prompt tokens reported by providers.",
            &with(&["provider", "model", "method"]),
        )?;
        let output_tokens = counter(
            r,
            "bifrost_output_tokens_total",
            "Completion tokens reported by providers.",
            &with(&["provider", "model", "method"]),
        )?;
        let retries = counter(
            r,
            "bifrost_request_retries_total",
            "Retries by provider and the error class that caused them.",
            &["provider", "error_class"],
        )?;
        let fallbacks = counter(
            r,
            "bifrost_fallbacks_total",
            "Requests handed from a failed target to the next.",
            &["from_provider", "to_provider"],
        )?;
        let dropped = counter(
            r,
            "bifrost_dropped_requests_total",
            "Requests refused by a provider queue (queue_full, queue_timeout).",
            &["provider", "reason"],
        )?;
        let key_cooldowns = counter(
            r,
            "bifrost_key_rotation_events_total",
            "Keys taken out of rotation after a failure that was the key's fault.",
            &["provider", "key_name", "reason"],
        )?;
        let label_overflow = counter(
            r,
            "bifrost_metric_label_overflow_total",
            "Custom label values folded into \"other\" (too long or beyond the cap).",
            &["label"],
        )?;
        let http_duration = histogram(
            r,
            "http_request_duration_seconds",
            "Time to response headers, by route template.",
            &with(&["endpoint", "method", "status"]),
            HTTP_BUCKETS,
        )?;
        let http_request_size = histogram(
            r,
            "http_request_size_bytes",
            "Request body sizes.",
            &with(&["endpoint", "method"]),
            SIZE_BUCKETS,
        )?;
        let http_response_size = histogram(
            r,
            "http_response_size_bytes",
            "Response body sizes (non-streaming responses).",
            &with(&["endpoint", "method", "status"]),
            SIZE_BUCKETS,
        )?;
        let upstream_latency = histogram(
            r,
            "bifrost_upstream_latency_seconds",
            "Upstream attempt latency (to the first chunk, for streams).",
            &with(&["provider", "model", "method", "is_success"]),
            LATENCY_BUCKETS,
        )?;
        let queue_wait = histogram(
            r,
            "bifrost_queue_wait_time_seconds",
            "Time requests waited for a provider slot.",
            &["provider"],
            MICRO_BUCKETS,
        )?;
        let stage = histogram(
            r,
            "bifrost_stage_duration_seconds",
            "The seed's stages per upstream attempt: queue_wait, key_selection, \
             message_formatting, json_marshaling, http_request, response_parsing.",
            &["provider", "stage"],
            MICRO_BUCKETS,
        )?;
        let overhead = histogram(
            r,
            "bifrost_gateway_overhead_seconds",
            "Time in the gateway minus time waiting on upstreams and between retries.",
            &["endpoint", "stream"],
            MICRO_BUCKETS,
        )?;
        let queue_depth = gauge(
            r,
            "bifrost_queue_depth",
            "Requests waiting for a provider slot.",
            &["provider"],
        )?;
        let active = gauge(
            r,
            "bifrost_active_requests",
            "Requests holding a provider slot (in flight upstream).",
            &["provider"],
        )?;
        let key_healthy = gauge(
            r,
            "bifrost_provider_key_healthy",
            "1 if the key is in rotation, 0 while it cools down.",
            &["provider", "key_name"],
        )?;
        let plugin_hook = histogram(
            r,
            "bifrost_plugin_hook_seconds",
            "Time spent in each plugin hook.",
            &["plugin", "hook"],
            MICRO_BUCKETS,
        )?;
        let plugin_panics = counter(
            r,
            "bifrost_plugin_panics_total",
            "Plugin hooks that panicked (and were treated as passing through).",
            &["plugin", "hook"],
        )?;
        let log_rows = counter(
            r,
            "bifrost_log_rows_total",
            "Request-log rows: written to the logs store, dropped because the write queue was \
             full, or failed (the store refused the batch).",
            &["outcome"],
        )?;
        gauge(
            r,
            "bifrost_build_info",
            "Build information; always 1.",
            &["version"],
        )?
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            registry,
            models: LabelCap {
                name: "model".to_owned(),
                seen: RwLock::default(),
            },
            custom: custom
                .iter()
                .map(|name| LabelCap {
                    name: name.clone(),
                    seen: RwLock::default(),
                })
                .collect(),
            http_requests,
            http_duration,
            http_request_size,
            http_response_size,
            upstream_requests,
            upstream_latency,
            success,
            errors,
            cancelled,
            input_tokens,
            output_tokens,
            retries,
            fallbacks,
            dropped,
            key_cooldowns,
            queue_wait,
            stages: Memo::new(Stages(stage.family.clone())),
            stage,
            overhead,
            label_overflow,
            queue_depth,
            active,
            key_healthy,
            plugin_hook,
            plugin_panics,
            log_rows,
            log_rows_sync: std::sync::Mutex::new(()),
        })
    }

    pub fn custom_label_names(&self) -> impl Iterator<Item = &str> {
        self.custom.iter().map(|c| c.name.as_str())
    }

    /// The values of the custom labels for a request, from `x-bf-prom-<name>` headers (with
    /// `-` or `_`), capped as the module documentation says. Missing headers give "".
    pub fn label_values(&self, header: impl Fn(&str) -> Option<String>) -> Vec<String> {
        self.custom
            .iter()
            .map(|cap| {
                let dashed = format!("x-bf-prom-{}", cap.name.replace('_', "-"));
                let under = format!("x-bf-prom-{}", cap.name);
                let Some(v) = header(&dashed).or_else(|| header(&under)) else {
                    return String::new();
                };
                self.cap_value(cap, v)
            })
            .collect()
    }

    /// `model` as a label value: itself while it is short, printable and among the first
    /// [`MAX_LABEL_VALUES`] seen, else `other`.
    fn model_label<'m>(&self, model: &'m str) -> std::borrow::Cow<'m, str> {
        let cap = &self.models;
        let printable = model.bytes().all(|b| (0x20..0x7f).contains(&b));
        if model.len() <= MAX_LABEL_LEN
            && printable
            && cap.seen.read().is_ok_and(|s| s.contains(model))
        {
            return std::borrow::Cow::Borrowed(model);
        }
        std::borrow::Cow::Owned(self.cap_value(cap, model.to_owned()))
    }

    fn cap_value(&self, cap: &LabelCap, v: String) -> String {
        let printable = v.bytes().all(|b| (0x20..0x7f).contains(&b));
        if v.len() > MAX_LABEL_LEN || !printable {
            self.label_overflow.with_label_values(&[&cap.name]).inc();
            return OVERFLOW_VALUE.to_owned();
        }
        if cap.seen.read().is_ok_and(|s| s.contains(&v)) {
            return v;
        }
        let Ok(mut seen) = cap.seen.write() else {
            return OVERFLOW_VALUE.to_owned();
        };
        if seen.contains(&v) || seen.len() < MAX_LABEL_VALUES {
            seen.insert(v.clone());
            v
        } else {
            self.label_overflow.with_label_values(&[&cap.name]).inc();
            OVERFLOW_VALUE.to_owned()
        }
    }

    /// One finished HTTP exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn http(
        &self,
        endpoint: &str,
        method: &str,
        status: u16,
        duration: Duration,
        request_size: Option<u64>,
        response_size: Option<u64>,
        custom: &[String],
    ) {
        let mut status_text = itoa::Buffer::new();
        let status = status_text.format(status);
        let c = custom.iter().map(String::as_str);
        let l: Vec<&str> = [endpoint, endpoint, method, status]
            .into_iter()
            .chain(c.clone())
            .collect();
        self.http_requests.with_label_values(&l).inc();
        let l: Vec<&str> = [endpoint, method, status]
            .into_iter()
            .chain(c.clone())
            .collect();
        self.http_duration
            .with_label_values(&l)
            .observe(duration.as_secs_f64());
        if let Some(size) = response_size {
            self.http_response_size
                .with_label_values(&l)
                .observe(size as f64);
        }
        if let Some(size) = request_size {
            let l: Vec<&str> = [endpoint, method].into_iter().chain(c).collect();
            self.http_request_size
                .with_label_values(&l)
                .observe(size as f64);
        }
    }

    /// The registry, for plugins that export their own series.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Time in the gateway that was not spent waiting on an upstream.
    pub fn overhead(&self, endpoint: &str, stream: bool, d: Duration) {
        self.overhead
            .with_label_values(&[endpoint, if stream { "true" } else { "false" }])
            .observe(d.as_secs_f64());
    }

    /// Brings `bifrost_log_rows_total` up to the request-log writer's counts.
    pub fn log_rows(&self, written: u64, dropped: u64, failed: u64) {
        let _one_at_a_time = self
            .log_rows_sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (outcome, n) in [
            ("written", written),
            ("dropped", dropped),
            ("failed", failed),
        ] {
            let c = self.log_rows.with_label_values(&[outcome]);
            c.inc_by(n.saturating_sub(c.get()));
        }
    }

    /// The exposition, with the gauges read from the engine first.
    pub fn render(&self, engine: &Bifrost) -> Vec<u8> {
        for p in &engine.providers() {
            let p = p.as_str();
            self.queue_depth
                .with_label_values(&[p])
                .set(engine.queued(p).unwrap_or(0) as i64);
            self.active
                .with_label_values(&[p])
                .set(engine.in_flight(p).unwrap_or(0) as i64);
            for (name, cooling) in engine.key_states(p) {
                self.key_healthy
                    .with_label_values(&[p, name.as_str()])
                    .set(i64::from(!cooling));
            }
        }
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("encoding metrics failed: {e}");
        }
        out
    }
}

fn error_label(class: ErrorClass) -> &'static str {
    class.as_str()
}

/// Metrics are a plugin: every engine event reaches them through the pipeline.
impl Plugin for Metrics {
    fn name(&self) -> &str {
        "telemetry"
    }

    fn on_event(&self, ctx: &RequestContext, event: &Event<'_>) {
        let labels = &ctx.options.labels;
        match *event {
            Event::Attempt(ev) => self.attempt(ev, labels),
            Event::QueueWait { provider, waited } => {
                let secs = waited.as_secs_f64();
                self.queue_wait.with_label_values(&[provider]).observe(secs);
                self.stage
                    .with_label_values(&[provider, "queue_wait"])
                    .observe(secs);
            }
            Event::Dropped { provider, reason } => {
                self.dropped.with_label_values(&[provider, reason]).inc();
            }
            Event::Retry { provider, class } => {
                self.retries
                    .with_label_values(&[provider, error_label(class)])
                    .inc();
            }
            Event::Fallback { from, to } => {
                self.fallbacks.with_label_values(&[from, to]).inc();
            }
            Event::KeyCooldown {
                provider,
                key_name,
                class,
                ..
            } => {
                self.key_cooldowns
                    .with_label_values(&[provider, key_name, error_label(class)])
                    .inc();
            }
            Event::Tokens {
                provider,
                model,
                request_type,
                usage,
            } => {
                let model = self.model_label(model);
                let l: Vec<&str> = [provider, &model, request_type]
                    .into_iter()
                    .chain(labels.iter().map(String::as_str))
                    .collect();
                self.input_tokens
                    .with_label_values(&l)
                    .inc_by(usage.prompt_tokens);
                self.output_tokens
                    .with_label_values(&l)
                    .inc_by(usage.completion_tokens);
            }
            Event::Hook {
                plugin,
                hook,
                elapsed,
            } => {
                self.plugin_hook
                    .with_label_values(&[plugin, hook.as_str()])
                    .observe(elapsed.as_secs_f64());
            }
            Event::PluginPanic { plugin, hook } => {
                self.plugin_panics
                    .with_label_values(&[plugin, hook.as_str()])
                    .inc();
            }
            Event::RequestEnd {
                streamed: true,
                outcome,
                error,
                ..
            } => {
                let model = self.model_label(&ctx.model);
                let method = ctx.request_type.as_str();
                match outcome {
                    Outcome::Success => self.outcome(&ctx.provider, &model, method, None, labels),
                    // The stream's status was 200; the class says how it broke.
                    Outcome::Error => self.outcome(
                        &ctx.provider,
                        &model,
                        method,
                        Some(("200", error.unwrap_or(ErrorClass::StreamError))),
                        labels,
                    ),
                    Outcome::Cancelled => {
                        self.cancelled
                            .with_label_values(&[&*ctx.provider, &*model, method])
                            .inc();
                    }
                }
            }
            Event::RequestEnd { .. } => {}
        }
    }
}

impl Metrics {
    /// `bifrost_success_requests_total`, or `bifrost_error_requests_total` with the status code
    /// and class of the failure.
    fn outcome(
        &self,
        provider: &str,
        model: &str,
        method: &str,
        error: Option<(&str, ErrorClass)>,
        labels: &[String],
    ) {
        let c = labels.iter().map(String::as_str);
        match error {
            None => {
                let l: Vec<&str> = [provider, model, method].into_iter().chain(c).collect();
                self.success.with_label_values(&l).inc();
            }
            Some((code, class)) => {
                let l: Vec<&str> = [provider, model, method, code, error_label(class)]
                    .into_iter()
                    .chain(c)
                    .collect();
                self.errors.with_label_values(&l).inc();
            }
        }
    }

    fn attempt(&self, ev: &AttemptEvent<'_>, labels: &[String]) {
        let status = if ev.error.is_none() {
            "success"
        } else {
            "error"
        };
        let mut code = itoa::Buffer::new();
        let code = code.format(ev.status);
        let model = self.model_label(ev.model);
        let model = model.as_ref();
        let c = labels.iter().map(String::as_str);
        let l: Vec<&str> = [ev.provider, model, ev.request_type, status, code]
            .into_iter()
            .chain(c.clone())
            .collect();
        self.upstream_requests.with_label_values(&l).inc();
        let is_success = if ev.error.is_none() { "true" } else { "false" };
        let l: Vec<&str> = [ev.provider, model, ev.request_type, is_success]
            .into_iter()
            .chain(c.clone())
            .collect();
        self.upstream_latency
            .with_label_values(&l)
            .observe(ev.latency.as_secs_f64());
        match ev.error {
            // A started stream is counted when it ends (`RequestEnd`): it may still break.
            None if ev.stream => {}
            None => self.outcome(ev.provider, model, ev.request_type, None, labels),
            Some(class) => self.outcome(
                ev.provider,
                model,
                ev.request_type,
                Some((code, class)),
                labels,
            ),
        }
        let s = &ev.stages;
        let durations = [
            s.key_selection,
            s.message_formatting,
            s.json_marshaling,
            s.http_request,
            s.response_parsing,
        ];
        let stages = self.stages.with_label_values(&[ev.provider]);
        for (h, d) in stages.iter().zip(durations) {
            h.observe(d.as_secs_f64());
        }
    }
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<Memo<IntCounterVec>, String> {
    let c = IntCounterVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    r.register(Box::new(c.clone())).map_err(|e| e.to_string())?;
    Ok(Memo::new(c))
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<Memo<HistogramVec>, String> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let h = HistogramVec::new(opts, labels).map_err(|e| e.to_string())?;
    r.register(Box::new(h.clone())).map_err(|e| e.to_string())?;
    Ok(Memo::new(h))
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, String> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    r.register(Box::new(g.clone())).map_err(|e| e.to_string())?;
    Ok(g)
}
