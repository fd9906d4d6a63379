//! OpenTelemetry trace export: one `bifrost.request` server span per HTTP request (a
//! `bifrost_otel` tracing span opened by the routes) and one client span per upstream attempt,
//! built by [`OtelPlugin`] from the engine's attempt events, sent to an OTLP/HTTP (protobuf)
//! collector; and the logging subscriber they share.
//!
//! Turned on by an enabled `otel` entry in config.json's `plugins`, or by the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables; config.json
//! wins. Built only with the `otel` Cargo feature (on by default); without it the settings are
//! still parsed, [`init`] only sets up logging, and [`set_parent`] does nothing.

use crate::config::ConfigError;
use axum::http::HeaderMap;
use std::fmt;

/// The target of the spans meant for the exporter (never for log lines).
pub const TARGET: &str = "bifrost_otel";
/// `service.name` when neither config.json nor `OTEL_SERVICE_NAME` sets one.
pub const DEFAULT_SERVICE_NAME: &str = "bifrost";
/// The OTLP/HTTP path of the traces signal.
pub const TRACES_PATH: &str = "/v1/traces";

/// Where and how to export spans.
#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    /// The URL spans are POSTed to, `/v1/traces` included: a base URL (config.json's
    /// `collector_url`, `OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://127.0.0.1:4318`) gets
    /// `/v1/traces` appended per the OTLP spec; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used
    /// as is.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Extra request headers (authentication for a hosted collector).
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for OtelConfig {
    // Header values are often credentials: show only their names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtelConfig")
            .field("endpoint", &self.endpoint)
            .field("service_name", &self.service_name)
            .field("headers", &names)
            .finish()
    }
}

impl OtelConfig {
    /// The configuration the standard `OTEL_*` variables describe, if they turn export on
    /// (an OTLP endpoint is set and `OTEL_SDK_DISABLED` is not `true`).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let set = |k: &str| env_set(env, k);
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let Some(endpoint) = env_endpoint(env)? else {
            return Ok(None);
        };
        env_protocol(env)?;
        Ok(Some(Self {
            endpoint,
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
            headers: env_headers(env),
        }))
    }
}

/// A variable's trimmed value, unless unset or blank.
fn env_set(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The traces URL from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base: `/v1/traces` appended).
pub fn env_endpoint(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let set = |k: &str| env_set(env, k);
    if let Some(url) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        check_url(&url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?;
        return Ok(Some(url));
    }
    if let Some(base) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        check_url(&base, "OTEL_EXPORTER_OTLP_ENDPOINT")?;
        return Ok(Some(append_traces_path(&base)));
    }
    Ok(None)
}

/// Fails when `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` asks for something other than
/// `http/protobuf`.
pub fn env_protocol(env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(p) = env_set(env, var) {
            if p != "http/protobuf" {
                return Err(ConfigError {
                    path: var.to_owned(),
                    message: format!(
                        "{p:?} is not supported; only OTLP over HTTP (\"http/protobuf\") is"
                    ),
                });
            }
            break;
        }
    }
    Ok(())
}

/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`: `k1=v1,k2=v2`, values
/// percent-decoded.
pub fn env_headers(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let raw = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
        .unwrap_or_default();
    parse_headers(&raw)
}

/// Parses the OTLP exporter's header list, `k1=v1,k2=v2` (values percent-encoded).
pub fn parse_headers(raw: &str) -> Vec<(String, String)> {
    raw.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base` + `/v1/traces`, unless `base` already ends with it.
pub fn append_traces_path(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

/// An absolute `http://` or `https://` URL, or an error at `path`.
pub fn check_url(url: &str, path: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError {
        path: path.to_owned(),
        message: format!("{url:?} is not a valid collector URL: {why}"),
    };
    let uri: axum::http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(bad("expected an absolute http:// or https:// URL")),
    }
}

/// Parents `span` on the W3C `traceparent` (and `tracestate`) of an incoming request, so the
/// gateway's spans join the caller's trace. Call it right after creating the span, before it is
/// entered. A no-op when the span is disabled (no exporter) or there is no `traceparent`.
pub fn set_parent(span: &tracing::Span, headers: &HeaderMap) {
    #[cfg(feature = "otel")]
    imp::set_parent(span, headers);
    #[cfg(not(feature = "otel"))]
    let _ = (span, headers);
}

/// The trace plugin: each upstream attempt the engine reports becomes a client span, child of
/// the request's server span, with the GenAI semantic-convention attributes and the attempt's
/// own start and end times. Costs nothing when no exporter is installed (the request span is
/// then disabled).
pub struct OtelPlugin;

impl bifrost_core::Plugin for OtelPlugin {
    fn name(&self) -> &str {
        "otel"
    }

    fn on_event(&self, _ctx: &bifrost_core::RequestContext, event: &bifrost_core::Event<'_>) {
        #[cfg(feature = "otel")]
        if let bifrost_core::Event::Attempt(a) = event {
            imp::attempt_span(a);
        }
        #[cfg(not(feature = "otel"))]
        let _ = event;
    }
}

/// The installed logging (and, when configured, trace export). Keep it until exit and call
/// [`Telemetry::shutdown`] so queued spans are sent.
#[must_use = "dropping the handle without shutdown() may lose queued spans"]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn is_exporting(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.provider.is_some();
        #[cfg(not(feature = "otel"))]
        false
    }

    /// Sends every span ended so far and waits for the collector (blocking; from async code
    /// call it in `spawn_blocking`).
    pub fn flush(&self) -> anyhow::Result<()> {
        #[cfg(feature = "otel")]
        if let Some(p) = &self.provider {
            p.force_flush()
                .map_err(|e| anyhow::anyhow!("flushing trace export: {e}"))?;
        }
        Ok(())
    }

    /// Flushes queued spans (waiting at most `SHUTDOWN_TIMEOUT`) and stops the exporter.
    /// Blocking: call it after the async runtime is done, or in `spawn_blocking`.
    pub fn shutdown(self) -> anyhow::Result<()> {
        #[cfg(feature = "otel")]
        if let Some(p) = &self.provider {
            p.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
                .map_err(|e| anyhow::anyhow!("shutting down trace export: {e}"))?;
        }
        Ok(())
    }
}

/// How long [`Telemetry::shutdown`] waits for the last export.
pub const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide subscriber: log lines (`style` `json` or `pretty`, to stderr)
/// filtered by `RUST_LOG` or `level`, never showing `bifrost_otel` spans; plus, when `otel` is
/// given, an OpenTelemetry layer that sees only `bifrost_otel` spans at info and exports them
/// through a bounded batch processor (a full queue drops spans; requests never wait).
/// Fails if a global subscriber is already set or the exporter cannot be built.
pub fn init(level: &str, style: &str, otel: Option<&OtelConfig>) -> anyhow::Result<Telemetry> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    // Trace spans are for the exporter, not for log lines.
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    if let Ok(d) = format!("{TARGET}=off").parse() {
        filter = filter.add_directive(d);
    }
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if style == "pretty" {
        fmt.with_filter(filter).boxed()
    } else {
        fmt.json()
            .event_format(crate::logfmt::FastJson::default())
            .with_filter(filter)
            .boxed()
    };
    let registry = tracing_subscriber::registry().with(fmt);

    #[cfg(feature = "otel")]
    {
        let provider = otel.map(tracer_provider).transpose()?;
        if let Some(p) = &provider {
            // The trace plugin builds attempt spans through the global tracer.
            opentelemetry::global::set_tracer_provider(p.clone());
        }
        // No layer at all without an exporter: an absent (`None`) layer still declares interest in
        // every callsite, which made the request and attempt spans live at `info` for nothing
        // (~4k instructions a request building spans for the no-op tracer).
        match &provider {
            Some(p) => registry.with(layer(p)).try_init(),
            None => registry.try_init(),
        }
        .map_err(|e| anyhow::anyhow!("installing the tracing subscriber: {e}"))?;
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otel"))]
    {
        registry
            .try_init()
            .map_err(|e| anyhow::anyhow!("installing the tracing subscriber: {e}"))?;
        if otel.is_some() {
            tracing::warn!(
                "OpenTelemetry export is configured but this build lacks the `otel` feature; \
                 no spans are exported"
            );
        }
        Ok(Telemetry {})
    }
}

#[cfg(feature = "otel")]
pub use imp::{layer, tracer_provider};

#[cfg(feature = "otel")]
mod imp {
    use super::{OtelConfig, TARGET};
    use axum::http::HeaderMap;
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
    use opentelemetry_sdk::Resource;
    use std::time::Duration;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    /// Spans waiting for export; past this the processor drops new ones.
    const MAX_QUEUE: usize = 4096;
    /// One export waits at most this long for the collector.
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

    /// An OTLP/HTTP (protobuf) exporter behind a bounded batch processor, with
    /// `service.name` set. `OTEL_BSP_*` variables tune the batching.
    pub fn tracer_provider(cfg: &OtelConfig) -> anyhow::Result<SdkTracerProvider> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(cfg.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(cfg.headers.iter().cloned().collect())
            .build()
            .map_err(|e| anyhow::anyhow!("building the OTLP exporter for {}: {e}", cfg.endpoint))?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(MAX_QUEUE)
                    .build(),
            )
            .build();
        Ok(SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .build(),
            )
            .build())
    }

    /// The OpenTelemetry layer exporting through `provider`, filtered to `bifrost_otel` spans
    /// at info (nothing else reaches it).
    pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bifrost"))
            .with_threads(false)
            .with_filter(Targets::new().with_target(TARGET, LevelFilter::INFO))
    }

    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    /// One attempt as a client span under the current (request) span.
    pub(super) fn attempt_span(a: &bifrost_core::AttemptEvent<'_>) {
        use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
        use opentelemetry::KeyValue;
        let parent = tracing::Span::current();
        if parent.is_disabled() {
            return;
        }
        let cx = parent.context();
        let operation = match a.request_type {
            "chat_completion" | "chat_completion_stream" => "chat",
            "embedding" => "embeddings",
            other => other,
        };
        // Integers are i64: the exporter would turn unsigned ones into strings.
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", operation),
            KeyValue::new("gen_ai.provider.name", a.provider.to_owned()),
            KeyValue::new("gen_ai.request.model", a.model.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(a.status)),
            KeyValue::new("bifrost.retry", i64::from(a.retry)),
            KeyValue::new("bifrost.fallback_index", int(a.fallback_index as u64)),
            KeyValue::new("bifrost.stream", a.stream),
        ];
        if let Some(k) = a.key_name {
            attrs.push(KeyValue::new("bifrost.key_name", k.to_owned()));
        }
        if let Some(m) = a.max_tokens {
            attrs.push(KeyValue::new("gen_ai.request.max_tokens", i64::from(m)));
        }
        if let Some(t) = a.temperature {
            attrs.push(KeyValue::new("gen_ai.request.temperature", t));
        }
        if let Some(u) = a.usage {
            attrs.push(KeyValue::new(
                "gen_ai.usage.input_tokens",
                int(u.prompt_tokens),
            ));
            attrs.push(KeyValue::new(
                "gen_ai.usage.output_tokens",
                int(u.completion_tokens),
            ));
        }
        if let Some(class) = a.error {
            attrs.push(KeyValue::new("error.type", class.as_str()));
        }
        let tracer = opentelemetry::global::tracer("bifrost");
        let mut span = tracer
            .span_builder(format!("{operation} {}", a.model))
            .with_kind(SpanKind::Client)
            .with_start_time(a.started_at)
            .with_attributes(attrs)
            .start_with_context(&tracer, &cx);
        if let Some(class) = a.error {
            span.set_status(Status::error(class.as_str()));
        }
        span.end_with_timestamp(a.started_at + a.latency);
    }

    pub(super) fn set_parent(span: &tracing::Span, headers: &HeaderMap) {
        if span.is_disabled() || !headers.contains_key("traceparent") {
            return;
        }
        let cx = TraceContextPropagator::new().extract(&Headers(headers));
        // Fails only if the span was already started, which a fresh span is not.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env_of;

    #[test]
    fn the_base_endpoint_gets_the_traces_path() {
        let c = OtelConfig::from_env(&env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_SERVICE_NAME", "gw"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20t0k,x-a = b ",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.service_name, "gw");
        assert_eq!(
            c.headers,
            vec![
                ("authorization".to_owned(), "Bearer t0k".to_owned()),
                ("x-a".to_owned(), "b".to_owned())
            ]
        );
        assert!(!format!("{c:?}").contains("t0k"), "{c:?}");
    }

    #[test]
    fn the_signal_endpoint_is_used_as_is_and_wins() {
        let c = OtelConfig::from_env(&env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://x.example/otlp/t",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://x.example/otlp/t");
        assert_eq!(c.service_name, DEFAULT_SERVICE_NAME);
        assert!(c.headers.is_empty());
    }

    #[test]
    fn no_endpoint_disabled_or_grpc() {
        assert_eq!(OtelConfig::from_env(&env_of(&[])).unwrap(), None);
        assert_eq!(
            OtelConfig::from_env(&env_of(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ]))
            .unwrap(),
            None
        );
        let e = OtelConfig::from_env(&env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]))
        .unwrap_err();
        assert_eq!(e.path, "OTEL_EXPORTER_OTLP_PROTOCOL");
        let e = OtelConfig::from_env(&env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "base:4318")]))
            .unwrap_err();
        assert_eq!(e.path, "OTEL_EXPORTER_OTLP_ENDPOINT");
    }

    #[test]
    fn header_lists_and_paths() {
        assert_eq!(parse_headers(""), vec![]);
        assert_eq!(
            parse_headers("a=1%2C2,bad,=x,c=%zz"),
            vec![
                ("a".to_owned(), "1,2".to_owned()),
                ("c".to_owned(), "%zz".to_owned())
            ]
        );
        assert_eq!(append_traces_path("http://h:1"), "http://h:1/v1/traces");
        assert_eq!(
            append_traces_path("http://h:1/v1/traces"),
            "http://h:1/v1/traces"
        );
        assert_eq!(
            append_traces_path("http://h:1/p/"),
            "http://h:1/p/v1/traces"
        );
    }

    #[test]
    fn set_parent_without_a_subscriber_is_harmless() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            axum::http::HeaderValue::from_static(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        );
        set_parent(&tracing::Span::current(), &h);
        set_parent(&tracing::info_span!(target: "bifrost_otel", "x"), &h);
    }
}
