//! The raw serde shape of config.json: every spelling the seed and the original accept, before
//! validation (the parent module turns it into the engine's configuration).

use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConfig {
    #[serde(rename = "$schema")]
    pub(super) _schema: Option<IgnoredAny>,
    #[serde(default)]
    pub(super) providers: BTreeMap<String, RawProvider>,
    pub(super) initial_pool_size: Option<usize>,
    pub(super) drop_excess_requests: Option<bool>,
    #[serde(default)]
    pub(super) client: RawClient,
    pub(super) auth_config: Option<RawAuth>,
    pub(super) plugins: Option<Vec<RawPlugin>>,
    // Sections this version cannot enforce: kept as JSON so startup can tell an empty section
    // (accepted) from one that asks for something (refused).
    pub(super) governance: Option<serde_json::Value>,
    pub(super) mcp: Option<serde_json::Value>,
    pub(super) vector_store: Option<serde_json::Value>,
    // Sections that later features read (the stores are being wired); accepted with a warning
    // so existing files load, and kept so they can be read.
    pub(super) framework: Option<serde_json::Value>,
    pub(super) websocket: Option<serde_json::Value>,
    pub(super) kv_store: Option<serde_json::Value>,
    // The stores (read by the server at startup).
    pub(super) encryption_key: Option<String>,
    pub(super) config_store: Option<serde_json::Value>,
    pub(super) logs_store: Option<serde_json::Value>,
    pub(super) source_of_truth: Option<bifrost_store::SourceOfTruth>,
}

/// `auth_config`: admin credentials for the management API (and inference, unless
/// `disable_auth_on_inference`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAuth {
    pub(super) is_enabled: Option<bool>,
    pub(super) admin_username: Option<String>,
    /// A literal or `env.NAME`.
    pub(super) admin_password: Option<String>,
    pub(super) disable_auth_on_inference: Option<bool>,
    /// RS addition: `/metrics` stays open (for a Prometheus scraper) while auth is enabled.
    pub(super) metrics_open: Option<bool>,
}

/// One `plugins` entry, as the original writes it. `otel` is implemented (its `config` is read
/// by [`otel_plugin`]); `telemetry` and `logging` are built in; others are refused when enabled.
#[derive(Debug, Deserialize)]
pub(super) struct RawPlugin {
    pub(super) enabled: Option<bool>,
    pub(super) name: String,
    pub(super) path: Option<String>,
    #[serde(rename = "version")]
    pub(super) _version: Option<IgnoredAny>,
    pub(super) config: Option<serde_json::Value>,
}

/// The `config` of the `otel` plugin.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawOtel {
    pub(super) collector_url: Option<String>,
    pub(super) protocol: Option<String>,
    pub(super) service_name: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) trace_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawClient {
    pub(super) initial_pool_size: Option<usize>,
    pub(super) drop_excess_requests: Option<bool>,
    pub(super) prometheus_labels: Option<Vec<String>>,
    pub(super) max_request_body_size_mb: Option<u64>,
    /// (RS) Request bodies the gateway holds at once, in MB; more are refused with 503.
    pub(super) max_request_bytes_in_flight_mb: Option<u64>,
    /// Callers may bring their own provider key (`Authorization`, `x-api-key`,
    /// `x-goog-api-key`) instead of the configured ones.
    pub(super) allow_direct_keys: Option<bool>,
    #[serde(default)]
    pub(super) model_aliases: BTreeMap<String, RawAlias>,
    pub(super) enable_logging: Option<bool>,
    pub(super) disable_content_logging: Option<bool>,
    pub(super) log_retention_days: Option<u32>,
    pub(super) logging_headers: Option<Vec<String>>,
    /// RS: rows waiting to be written at most; beyond it rows are dropped and counted.
    pub(super) log_queue_size: Option<usize>,
    /// CORS origins besides the always-allowed localhost ones; `"*"` allows any.
    pub(super) allowed_origins: Option<Vec<String>>,
    /// Extra request headers a browser may send cross-origin.
    pub(super) allowed_headers: Option<Vec<String>>,
    /// Route patterns (trailing `*` allowed) that skip admin auth.
    pub(super) whitelisted_routes: Option<Vec<String>>,
    pub(super) enable_pprof: Option<bool>,
    pub(super) disable_db_pings_in_health: Option<bool>,
    /// A virtual key is required on inference routes (`enforce_governance_header` is the
    /// older spelling).
    pub(super) enforce_auth_on_inference: Option<bool>,
    pub(super) enforce_governance_header: Option<bool>,
}

/// `"gpt-4o": "openai/gpt-4o"`, `[{"target":…,"weight":…}]`, or
/// `{"targets":[…], "fallbacks":["provider/model", …]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAlias {
    One(String),
    Weighted(Vec<RawAliasTarget>),
    Full {
        targets: Vec<RawAliasTarget>,
        #[serde(default)]
        fallbacks: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
pub(super) struct RawAliasTarget {
    pub(super) target: String,
    #[serde(default = "one")]
    pub(super) weight: f64,
}

pub(super) fn one() -> f64 {
    1.0
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawProvider {
    #[serde(default)]
    pub(super) keys: Vec<RawKey>,
    pub(super) network_config: Option<RawNetwork>,
    pub(super) concurrency_and_buffer_size: Option<RawConcurrency>,
    pub(super) custom_provider_config: Option<RawCustom>,
    pub(super) key_health: Option<RawKeyHealth>,
    /// Read by the pricing of the governance plugin.
    pub(super) pricing_overrides: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawKeyHealth {
    pub(super) rate_limit_cooldown_ms: Option<u64>,
    pub(super) auth_failure_cooldown_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawKey {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) value: Option<String>,
    pub(super) models: Option<Vec<String>>,
    pub(super) weight: Option<f64>,
    pub(super) enabled: Option<bool>,
    #[serde(rename = "description")]
    pub(super) _description: Option<IgnoredAny>,
    pub(super) azure_key_config: Option<RawAzure>,
    pub(super) bedrock_key_config: Option<RawBedrock>,
    pub(super) vertex_key_config: Option<RawVertex>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAzure {
    pub(super) endpoint: Option<String>,
    pub(super) deployments: Option<BTreeMap<String, String>>,
    pub(super) api_version: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) tenant_id: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    /// RS addition: the Entra token endpoint (sovereign clouds, tests).
    pub(super) token_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawBedrock {
    pub(super) access_key: Option<String>,
    pub(super) secret_key: Option<String>,
    pub(super) session_token: Option<String>,
    pub(super) region: Option<String>,
    pub(super) deployments: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawVertex {
    pub(super) project_id: Option<String>,
    pub(super) region: Option<String>,
    /// The service-account JSON, as a string or an object.
    pub(super) auth_credentials: Option<serde_json::Value>,
    pub(super) deployments: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawNetwork {
    pub(super) base_url: Option<String>,
    pub(super) extra_headers: Option<BTreeMap<String, String>>,
    /// The seed's spelling, in milliseconds.
    pub(super) timeout: Option<u64>,
    pub(super) default_request_timeout_in_seconds: Option<u64>,
    /// The seed's spelling.
    pub(super) retries: Option<u32>,
    pub(super) max_retries: Option<u32>,
    pub(super) retry_backoff_initial: Option<u64>,
    pub(super) retry_backoff_initial_ms: Option<u64>,
    pub(super) retry_backoff_max: Option<u64>,
    pub(super) retry_backoff_max_ms: Option<u64>,
    pub(super) stream_idle_timeout_in_seconds: Option<u64>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) max_conns_per_host: Option<usize>,
    pub(super) enforce_http2: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConcurrency {
    pub(super) concurrency: Option<usize>,
    pub(super) buffer_size: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawCustom {
    pub(super) base_provider_type: String,
    #[serde(default)]
    pub(super) is_key_less: bool,
    /// Request type → allowed; `null` (absent) allows all.
    pub(super) allowed_requests: Option<BTreeMap<String, bool>>,
    pub(super) request_path_overrides: Option<BTreeMap<String, String>>,
}
