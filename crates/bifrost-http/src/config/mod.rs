//! config.json: raw serde structs that accept the seed's spellings and the original's newer
//! ones, validated into the engine's typed configuration. Every error names its JSON path.

use crate::otel::{self, OtelConfig};
use bifrost_core::config::AZURE_DEFAULT_API_VERSION;
use bifrost_core::schemas::Fallback;
use bifrost_core::{
    providers, AliasTarget, ApiFormat, AzureKeyConfig, BedrockKeyConfig, CloudKeyConfig,
    ConcurrencyAndBufferSize, CustomProviderConfig, EntraCredentials, Key, KeyHealthConfig,
    ModelAlias, NetworkConfig, ProviderConfig, RequestType, Secret, VertexKeyConfig,
};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A configuration error: the JSON path and what is wrong there.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

mod detect;
mod gov;
mod raw;

pub use detect::detect_providers;
pub use gov::{GovernanceConfig, KvStore};
use raw::*;

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// A provider ready for the engine.
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    pub name: String,
    pub config: ProviderConfig,
    pub keys: Vec<Key>,
}

/// The validated file.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    pub providers: Vec<ProviderEntry>,
    pub initial_pool_size: Option<usize>,
    pub drop_excess_requests: Option<bool>,
    pub prometheus_labels: Vec<String>,
    pub max_request_body_bytes: Option<usize>,
    pub max_request_bytes_in_flight: Option<usize>,
    pub allow_direct_keys: bool,
    pub aliases: Vec<(String, ModelAlias)>,
    /// OpenTelemetry trace export from an enabled `otel` plugin entry (the `OTEL_*` variables
    /// fill what it leaves out).
    pub otel: Option<OtelConfig>,
    /// An `otel` plugin entry says `"enabled": false`: the `OTEL_*` variables must not turn
    /// export on either.
    pub otel_disabled: bool,
    /// `auth_config`, with the password resolved (the gateway hashes it at load).
    pub auth: AuthConfig,
    /// `client.allowed_origins` / `client.allowed_headers`.
    pub cors: CorsConfig,
    /// `client.whitelisted_routes`: route patterns (trailing `*`) that skip admin auth.
    pub whitelisted_routes: Vec<String>,
    /// `client.enable_pprof`; unset means on when listening on loopback or with auth enabled.
    pub enable_pprof: Option<bool>,
    /// `client.disable_db_pings_in_health`: `/health` skips the component checks.
    pub disable_db_pings_in_health: bool,
    /// Non-fatal findings (unknown keys, deprecated forms) to log at startup.
    pub warnings: Vec<String>,
    /// Each provider's object as written (keys included, `env.*` unresolved), in file order:
    /// what the config store imports.
    pub provider_json: Vec<(String, serde_json::Value)>,
    pub stores: StoreSettings,
    /// Virtual keys, budgets, rate limits, prices and where counters live.
    pub governance: GovernanceConfig,
}

/// The stores and what request logging records.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `config_store` / `logs_store` sections as written (`None`: the SQLite default).
    pub config_store: Option<serde_json::Value>,
    pub logs_store: Option<serde_json::Value>,
    /// `encryption_key` (resolved), else `BIFROST_ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
    pub source_of_truth: bifrost_store::SourceOfTruth,
    pub enable_logging: bool,
    pub disable_content_logging: bool,
    pub log_retention_days: u32,
    pub logging_headers: Vec<String>,
    pub log_queue_size: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            config_store: None,
            logs_store: None,
            encryption_key: None,
            source_of_truth: bifrost_store::SourceOfTruth::Split,
            enable_logging: true,
            disable_content_logging: false,
            log_retention_days: 365,
            logging_headers: Vec::new(),
            log_queue_size: 10_000,
        }
    }
}

/// `auth_config`: admin credentials. Off by default.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub enabled: bool,
    pub username: String,
    pub password: Secret,
    /// Inference routes need no admin credentials.
    pub disable_auth_on_inference: bool,
    /// RS addition: `/metrics` stays open while auth is enabled (for a Prometheus scraper).
    pub metrics_open: bool,
}

/// CORS settings from `client`. Localhost origins are always allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorsConfig {
    /// Lowercased `scheme://host[:port]`, or `"*"`.
    pub allowed_origins: Vec<String>,
    /// Lowercased header names; a trailing `*` matches a prefix.
    pub allowed_headers: Vec<String>,
}

/// Parses and validates config.json text. `env` looks variables up (the process environment
/// in production, a map in tests).
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<FileConfig, ConfigError> {
    let mut unknown = Vec::new();
    let de = &mut serde_json::Deserializer::from_str(text);
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let tracked = serde_ignored::Deserializer::new(de, &mut on_unknown);
    let raw: RawConfig = serde_path_to_error::deserialize(tracked)
        .map_err(|e| err(e.path().to_string(), e.inner().to_string()))?;
    let mut warnings: Vec<String> = unknown
        .into_iter()
        .map(|p| format!("{p}: unknown setting, ignored"))
        .collect();
    unsupported_sections(&raw, &mut warnings)?;
    let auth = auth_config(raw.auth_config, env)?;
    let cors = cors_config(
        raw.client.allowed_origins.unwrap_or_default(),
        raw.client.allowed_headers.unwrap_or_default(),
    )?;
    let whitelisted_routes = route_patterns(raw.client.whitelisted_routes.unwrap_or_default())?;

    let initial_pool_size = reconcile(
        raw.initial_pool_size,
        "initial_pool_size",
        raw.client.initial_pool_size,
        "client.initial_pool_size",
    )?;
    let drop_excess_requests = reconcile(
        raw.drop_excess_requests,
        "drop_excess_requests",
        raw.client.drop_excess_requests,
        "client.drop_excess_requests",
    )?;
    let max_request_body_bytes = match raw.client.max_request_body_size_mb {
        Some(0) => return Err(err("client.max_request_body_size_mb", "must be at least 1")),
        Some(mb) => Some(usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)),
        None => None,
    };
    let max_request_bytes_in_flight = match raw.client.max_request_bytes_in_flight_mb {
        Some(0) => {
            return Err(err(
                "client.max_request_bytes_in_flight_mb",
                "must be at least 1",
            ))
        }
        Some(mb) => Some(usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)),
        None => None,
    };

    let mut otel = None;
    let mut otel_disabled = false;
    let mut gov_plugin: Option<serde_json::Value> = None;
    for (i, plugin) in raw.plugins.into_iter().flatten().enumerate() {
        let path = format!("plugins[{i}]");
        if plugin.path.as_deref().is_some_and(|p| !p.trim().is_empty()) {
            return Err(err(
                format!("{path}.path"),
                "loading plugins from a file is not supported yet (plugins are compiled in); \
                 remove \"path\"",
            ));
        }
        match plugin.name.as_str() {
            "otel" => {}
            // Built in and always on: the Prometheus metrics and the request log.
            "telemetry" | "logging" => continue,
            // Always on; its entry only carries settings.
            "governance" => {
                if plugin.enabled != Some(false) {
                    gov_plugin = Some(plugin.config.clone().unwrap_or(serde_json::Value::Null));
                }
                continue;
            }
            other if plugin.enabled == Some(true) => {
                return Err(err(
                    path,
                    format!(
                        "plugin {other:?} is not supported by this version yet; remove it or \
                         set \"enabled\": false (supported: otel; telemetry and logging are \
                         built in)"
                    ),
                ))
            }
            other => {
                warnings.push(format!(
                    "{path}: plugin {other:?} is not enabled and not supported by this version, \
                     ignored"
                ));
                continue;
            }
        }
        match plugin.enabled {
            Some(true) => {}
            Some(false) => {
                otel_disabled = true;
                continue;
            }
            None => {
                warnings.push(format!(
                    "{path}.enabled: not set, so the otel plugin is off (set \"enabled\": true)"
                ));
                otel_disabled = true;
                continue;
            }
        }
        if otel.is_some() {
            return Err(err(path, "a second enabled otel plugin; keep only one"));
        }
        otel = Some(otel_plugin(&path, plugin.config, env, &mut warnings)?);
    }

    let mut providers = Vec::new();
    let mut overrides = Vec::new();
    for (name, p) in raw.providers {
        if let Some(v) = &p.pricing_overrides {
            overrides.extend(
                crate::governance::pricing::Override::parse(&name, v)
                    .map_err(|m| err(format!("providers.{name}.pricing_overrides"), m))?,
            );
        }
        providers.push(provider(&name, p, env, &mut warnings)?);
    }
    let governance = gov::governance(
        gov::Inputs {
            section: raw.governance,
            plugin: gov_plugin.as_ref(),
            kv_store: raw.kv_store,
            framework: raw.framework,
            enforce: raw.client.enforce_auth_on_inference.unwrap_or(false)
                || raw.client.enforce_governance_header.unwrap_or(false),
            overrides,
        },
        env,
        &mut warnings,
    )?;
    let mut aliases = Vec::new();
    for (name, a) in raw.client.model_aliases {
        aliases.push((name.clone(), alias(&name, a)?));
    }
    let provider_json = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut top)) => match top.remove("providers") {
            Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let encryption_key = match raw.encryption_key {
        Some(k) => Some(resolve_env(&k, "encryption_key", env)?).filter(|k| !k.is_empty()),
        None => env("BIFROST_ENCRYPTION_KEY").filter(|k| !k.is_empty()),
    };
    if raw.client.log_retention_days == Some(0) {
        return Err(err("client.log_retention_days", "must be at least 1"));
    }
    let stores = StoreSettings {
        config_store: raw.config_store,
        logs_store: raw.logs_store,
        encryption_key,
        source_of_truth: raw.source_of_truth.unwrap_or_default(),
        enable_logging: raw.client.enable_logging.unwrap_or(true),
        disable_content_logging: raw.client.disable_content_logging.unwrap_or(false),
        log_retention_days: raw.client.log_retention_days.unwrap_or(365),
        logging_headers: raw
            .client
            .logging_headers
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        log_queue_size: match raw.client.log_queue_size {
            Some(0) => return Err(err("client.log_queue_size", "must be at least 1")),
            Some(n) => n,
            None => 10_000,
        },
    };
    Ok(FileConfig {
        provider_json,
        stores,
        governance,
        providers,
        aliases,
        initial_pool_size,
        drop_excess_requests,
        prometheus_labels: raw.client.prometheus_labels.unwrap_or_default(),
        max_request_body_bytes,
        max_request_bytes_in_flight,
        allow_direct_keys: raw.client.allow_direct_keys.unwrap_or(false),
        otel,
        otel_disabled,
        auth,
        cors,
        whitelisted_routes,
        enable_pprof: raw.client.enable_pprof,
        disable_db_pings_in_health: raw.client.disable_db_pings_in_health.unwrap_or(false),
        warnings,
    })
}

/// Sections this version cannot enforce stop startup when they ask for anything (an empty or
/// disabled section is fine): a gateway silently running without the governance, MCP tools or
/// semantic cache its file describes would be worse than one that refuses to start. Sections
/// other work reads soon (stores, encryption, pricing, websocket) only warn.
fn unsupported_sections(raw: &RawConfig, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    use serde_json::Value;
    /// Anything other than null, `false`, `""`, `[]`, `{}` or an object of such values.
    fn asks_for_something(v: &Value) -> bool {
        match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => o.values().any(asks_for_something),
            Value::Bool(true) | Value::Number(_) => true,
        }
    }
    let refuse = |section: &str, what: &str| {
        Err(err(
            section,
            format!(
                "{what} is not supported by this version yet, and the gateway will not start \
                 without enforcing it; remove the section (or disable it) to run without it"
            ),
        ))
    };
    if let Some(mcp) = &raw.mcp {
        let clients = mcp.get("client_configs");
        if clients.is_some_and(asks_for_something) {
            return refuse("mcp.client_configs", "MCP");
        }
        if mcp.as_object().is_some_and(|o| !o.is_empty()) {
            warnings.push("mcp: no client_configs, ignored".to_owned());
        }
    }
    if let Some(vs) = &raw.vector_store {
        if vs.get("enabled") == Some(&Value::Bool(false)) || !asks_for_something(vs) {
            warnings.push("vector_store: disabled, ignored".to_owned());
        } else {
            return refuse("vector_store", "the vector store (semantic cache)");
        }
    }
    for (section, present) in [("websocket", raw.websocket.is_some())] {
        if present {
            warnings.push(format!(
                "{section}: not supported by this version yet, ignored"
            ));
        }
    }
    Ok(())
}

/// `auth_config`, validated: enabling it needs both credentials.
fn auth_config(
    raw: Option<RawAuth>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AuthConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(AuthConfig::default());
    };
    let enabled = raw.is_enabled.unwrap_or(false);
    let field = |v: Option<String>, name: &str| -> Result<String, ConfigError> {
        let path = format!("auth_config.{name}");
        let v = match v {
            Some(v) => resolve_env(&v, &path, env)?,
            None => String::new(),
        };
        if enabled && v.is_empty() {
            return Err(err(path, "required when auth_config.is_enabled is true"));
        }
        Ok(v)
    };
    // Credentials are only read (and their env variables only required) when auth is on.
    let (username, password) = if enabled {
        (
            field(raw.admin_username, "admin_username")?,
            field(raw.admin_password, "admin_password")?,
        )
    } else {
        (String::new(), String::new())
    };
    Ok(AuthConfig {
        enabled,
        username,
        password: Secret::new(password),
        disable_auth_on_inference: raw.disable_auth_on_inference.unwrap_or(false),
        metrics_open: raw.metrics_open.unwrap_or(false),
    })
}

/// `client.allowed_origins` (each `"*"` or `scheme://host[:port]`, no path) and
/// `client.allowed_headers` (header names, a trailing `*` allowed), lowercased.
pub(crate) fn cors_config(
    origins: Vec<String>,
    headers: Vec<String>,
) -> Result<CorsConfig, ConfigError> {
    let mut out = CorsConfig::default();
    for (i, o) in origins.into_iter().enumerate() {
        let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
        let valid = o == "*"
            || o.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && !rest.is_empty()
                    && !rest.contains('/')
                    && !rest.contains('?')
                    && !rest.contains('#')
            });
        if !valid {
            return Err(err(
                format!("client.allowed_origins[{i}]"),
                format!(
                    "{o:?} is not an origin; write \"scheme://host[:port]\" (no path) or \"*\""
                ),
            ));
        }
        out.allowed_origins.push(o);
    }
    for (i, h) in headers.into_iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let name = h.strip_suffix('*').unwrap_or(&h);
        if name.is_empty() || axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(err(
                format!("client.allowed_headers[{i}]"),
                format!("{h:?} is not a header name"),
            ));
        }
        out.allowed_headers.push(h);
    }
    Ok(out)
}

/// `client.whitelisted_routes`: paths starting with `/`, `*` only at the end.
fn route_patterns(routes: Vec<String>) -> Result<Vec<String>, ConfigError> {
    routes
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let r = r.trim().to_owned();
            let body = r.strip_suffix('*').unwrap_or(&r);
            if !r.starts_with('/') || body.contains('*') {
                return Err(err(
                    format!("client.whitelisted_routes[{i}]"),
                    format!("{r:?} must be a path starting with \"/\", with \"*\" only at the end"),
                ));
            }
            Ok(r)
        })
        .collect()
}

/// An enabled `otel` plugin entry at `path`. Settings it leaves out come from the standard
/// `OTEL_*` variables.
fn otel_plugin(
    path: &str,
    config: Option<serde_json::Value>,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<OtelConfig, ConfigError> {
    let cpath = format!("{path}.config");
    let raw: RawOtel = match config {
        None | Some(serde_json::Value::Null) => RawOtel::default(),
        Some(value) => {
            let mut unknown = Vec::new();
            let mut on_unknown = |p: serde_ignored::Path<'_>| unknown.push(p.to_string());
            let tracked = serde_ignored::Deserializer::new(value, &mut on_unknown);
            let raw = serde_path_to_error::deserialize(tracked).map_err(|e| {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    cpath.clone()
                } else {
                    format!("{cpath}.{inner}")
                };
                err(at, e.inner().to_string())
            })?;
            warnings.extend(
                unknown
                    .into_iter()
                    .map(|p| format!("{cpath}.{p}: unknown setting, ignored")),
            );
            raw
        }
    };
    match raw.protocol.as_deref().map(str::trim) {
        None | Some("http" | "http/protobuf") => {}
        Some(other) => {
            return Err(err(
                format!("{cpath}.protocol"),
                format!(
                    "{other:?} is not supported; only \"http\" (OTLP over HTTP with protobuf) \
                     is, usually on port 4318"
                ),
            ))
        }
    }
    match raw.trace_type.as_deref() {
        None | Some("genai_extension") => {}
        Some(other) => warnings.push(format!(
            "{cpath}.trace_type: {other:?} is not supported; spans use the OpenTelemetry GenAI \
             conventions (\"genai_extension\")"
        )),
    }
    let endpoint = match raw.collector_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => {
            let upath = format!("{cpath}.collector_url");
            otel::check_url(url, &upath)?;
            otel::append_traces_path(url)
        }
        _ => {
            let from_env = otel::env_endpoint(env)?.ok_or_else(|| {
                err(
                    format!("{cpath}.collector_url"),
                    "required (e.g. \"http://localhost:4318\"), unless \
                     OTEL_EXPORTER_OTLP_ENDPOINT is set",
                )
            })?;
            if raw.protocol.is_none() {
                otel::env_protocol(env)?;
            }
            from_env
        }
    };
    let service_name = raw
        .service_name
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("OTEL_SERVICE_NAME").filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| otel::DEFAULT_SERVICE_NAME.to_owned());
    let mut headers = otel::env_headers(env);
    for (name, value) in raw.headers {
        let hpath = format!("{cpath}.headers.{name}");
        if axum::http::HeaderName::try_from(name.as_str()).is_err() {
            return Err(err(hpath, "not a valid HTTP header name"));
        }
        let value = resolve_env(&value, &hpath, env)?;
        if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(err(hpath, "not a valid HTTP header value"));
        }
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        headers.push((name, value));
    }
    Ok(OtelConfig {
        endpoint,
        service_name,
        headers,
    })
}

/// The same setting under an old and a new name: equal values are fine, different ones are an
/// error naming both paths.
/// The longest request timeout accepted (24 h).
const MAX_TIMEOUT_MS: u64 = 86_400_000;

fn reconcile<T: PartialEq + fmt::Debug>(
    a: Option<T>,
    path_a: &str,
    b: Option<T>,
    path_b: &str,
) -> Result<Option<T>, ConfigError> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(err(
            path_a,
            format!("{a:?} conflicts with {path_b} = {b:?}; set only one of them"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn provider(
    name: &str,
    raw: RawProvider,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ProviderEntry, ConfigError> {
    let path = format!("providers.{name}");
    let custom = match raw.custom_provider_config {
        Some(c) => {
            let cpath = format!("{path}.custom_provider_config");
            let base_format = ApiFormat::parse(&c.base_provider_type).ok_or_else(|| {
                err(
                    format!("{cpath}.base_provider_type"),
                    format!(
                        "{:?} is not supported; use one of \"openai\", \"anthropic\", \
                         \"gemini\", \"bedrock\", \"cohere\"",
                        c.base_provider_type
                    ),
                )
            })?;
            let request_type = |field: &str, name: &str| {
                RequestType::parse(name).ok_or_else(|| {
                    let all: Vec<&str> = RequestType::ALL.iter().map(|t| t.as_str()).collect();
                    err(
                        format!("{cpath}.{field}.{name}"),
                        format!("unknown request type; use one of {}", all.join(", ")),
                    )
                })
            };
            let mut custom = CustomProviderConfig::new(base_format);
            custom.is_key_less = c.is_key_less;
            if let Some(allowed) = c.allowed_requests {
                let mut list = Vec::new();
                for (name, on) in allowed {
                    let t = request_type("allowed_requests", &name)?;
                    if on {
                        list.push(t);
                    }
                }
                custom.allowed_requests = Some(list);
            }
            for (name, path) in c.request_path_overrides.unwrap_or_default() {
                let t = request_type("request_path_overrides", &name)?;
                if !path.starts_with('/') {
                    return Err(err(
                        format!("{cpath}.request_path_overrides.{name}"),
                        format!("{path:?} must start with '/'"),
                    ));
                }
                custom.request_path_overrides.insert(t, path);
            }
            Some(custom)
        }
        None => None,
    };
    // The in-process mock is set up by the server (see `mock_provider`).
    if custom.is_none() && providers::known(name).is_none() && name != "mock" {
        let known: Vec<&str> = providers::KNOWN.iter().map(|s| s.name).collect();
        return Err(err(
            path,
            format!(
                "unknown provider {name:?}; built-in providers are {}, or add a \
                 custom_provider_config with a base_provider_type",
                known.join(", ")
            ),
        ));
    }

    let network = network(&path, raw.network_config.unwrap_or_default())?;
    let mut concurrency = ConcurrencyAndBufferSize::default();
    if let Some(c) = raw.concurrency_and_buffer_size {
        if let Some(n) = c.concurrency {
            if n == 0 {
                return Err(err(
                    format!("{path}.concurrency_and_buffer_size.concurrency"),
                    "must be at least 1",
                ));
            }
            concurrency.concurrency = n;
        }
        if let Some(n) = c.buffer_size {
            concurrency.buffer_size = n;
        }
    }
    let mut key_health = KeyHealthConfig::default();
    if let Some(h) = raw.key_health {
        if let Some(ms) = h.rate_limit_cooldown_ms {
            key_health.rate_limit_cooldown = Duration::from_millis(ms);
        }
        if let Some(ms) = h.auth_failure_cooldown_ms {
            key_health.auth_failure_cooldown = Duration::from_millis(ms);
        }
    }
    let config = ProviderConfig {
        network,
        concurrency,
        key_health,
        custom,
    };
    let keyless = name == "mock"
        || config.custom.as_ref().map_or_else(
            || providers::known(name).is_some_and(|s| s.keyless),
            |c| c.is_key_less,
        );

    let mut keys = Vec::new();
    for (i, k) in raw.keys.into_iter().enumerate() {
        let kpath = format!("{path}.keys[{i}]");
        let value = match k.value.as_deref() {
            Some(v) => resolve_env(v, &format!("{kpath}.value"), env)?,
            None => String::new(),
        };
        let format = config
            .custom
            .as_ref()
            .map(|c| c.base_format)
            .or_else(|| providers::known(name).map(|s| s.format));
        let (cloud, deployments) = cloud_config(name, format, &kpath, &k, env)?;
        // Azure, Bedrock and Vertex keys may carry their credentials in the sub-config.
        let credentials_elsewhere = match &cloud {
            Some(CloudKeyConfig::Azure(a)) => a.entra.is_some(),
            Some(CloudKeyConfig::Bedrock(_) | CloudKeyConfig::Vertex(_)) => true,
            None => false,
        };
        if value.is_empty() && !keyless && !credentials_elsewhere {
            return Err(err(
                format!("{kpath}.value"),
                format!("the API key of provider {name:?} is empty"),
            ));
        }
        let weight = k.weight.unwrap_or(1.0);
        if !weight.is_finite() || weight < 0.0 {
            return Err(err(
                format!("{kpath}.weight"),
                format!("must be a number ≥ 0, got {weight}"),
            ));
        }
        let models = match k.models {
            None => Vec::new(),
            Some(m) if m.is_empty() => {
                warnings.push(format!(
                    "{kpath}.models: an empty list allows every model (deprecated; omit it or \
                     use [\"*\"], and use \"enabled\": false to switch a key off)"
                ));
                Vec::new()
            }
            Some(m) if m.iter().any(|x| x == "*") => Vec::new(),
            Some(m) => m,
        };
        let id = k.id.unwrap_or_else(|| format!("{name}-{i}"));
        keys.push(Key {
            name: k.name.unwrap_or_else(|| id.clone()),
            id,
            value: Secret::new(value),
            models,
            weight,
            enabled: k.enabled.unwrap_or(true),
            deployments,
            cloud,
        });
    }
    Ok(ProviderEntry {
        name: name.to_owned(),
        config,
        keys,
    })
}

type Deployments = std::collections::HashMap<String, String>;

/// A key's `azure_key_config` / `bedrock_key_config` / `vertex_key_config`, which must match
/// the provider's format; secret fields accept `env.VAR`.
fn cloud_config(
    provider: &str,
    format: Option<ApiFormat>,
    kpath: &str,
    k: &RawKey,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<CloudKeyConfig>, Deployments), ConfigError> {
    let secret = |v: &Option<String>, field: &str| -> Result<String, ConfigError> {
        match v {
            Some(v) => resolve_env(v, &format!("{kpath}.{field}"), env),
            None => Ok(String::new()),
        }
    };
    let wrong = |field: &str| {
        err(
            format!("{kpath}.{field}"),
            format!("provider {provider:?} does not use {field}"),
        )
    };
    let deployments = |d: &Option<BTreeMap<String, String>>| -> Deployments {
        d.clone().unwrap_or_default().into_iter().collect()
    };
    if let Some(a) = &k.azure_key_config {
        if format != Some(ApiFormat::Azure) {
            return Err(wrong("azure_key_config"));
        }
        let p = "azure_key_config";
        let endpoint = secret(&a.endpoint, &format!("{p}.endpoint"))?;
        let client_id = secret(&a.client_id, &format!("{p}.client_id"))?;
        let entra = if client_id.is_empty() {
            None
        } else {
            let tenant_id = secret(&a.tenant_id, &format!("{p}.tenant_id"))?;
            let client_secret = secret(&a.client_secret, &format!("{p}.client_secret"))?;
            if tenant_id.is_empty() || client_secret.is_empty() {
                return Err(err(
                    format!("{kpath}.{p}"),
                    "Entra ID auth needs client_id, client_secret and tenant_id",
                ));
            }
            Some(EntraCredentials {
                tenant_id,
                client_id,
                client_secret: Secret::new(client_secret),
                scopes: a.scopes.clone().unwrap_or_default(),
                token_url: a.token_url.clone(),
                token: Default::default(),
            })
        };
        let cfg = AzureKeyConfig {
            endpoint,
            api_version: a
                .api_version
                .clone()
                .unwrap_or_else(|| AZURE_DEFAULT_API_VERSION.to_owned()),
            entra,
        };
        return Ok((
            Some(CloudKeyConfig::Azure(cfg)),
            deployments(&a.deployments),
        ));
    }
    if let Some(b) = &k.bedrock_key_config {
        if format != Some(ApiFormat::Bedrock) {
            return Err(wrong("bedrock_key_config"));
        }
        let p = "bedrock_key_config";
        let session_token = secret(&b.session_token, &format!("{p}.session_token"))?;
        let cfg = BedrockKeyConfig {
            access_key: secret(&b.access_key, &format!("{p}.access_key"))?,
            secret_key: Secret::new(secret(&b.secret_key, &format!("{p}.secret_key"))?),
            session_token: (!session_token.is_empty()).then(|| Secret::new(session_token)),
            region: secret(&b.region, &format!("{p}.region"))?,
        };
        if cfg.access_key.is_empty() != cfg.secret_key.is_empty() {
            return Err(err(
                format!("{kpath}.{p}"),
                "set both access_key and secret_key, or neither (to use the AWS environment)",
            ));
        }
        return Ok((
            Some(CloudKeyConfig::Bedrock(cfg)),
            deployments(&b.deployments),
        ));
    }
    if let Some(v) = &k.vertex_key_config {
        if format != Some(ApiFormat::Vertex) {
            return Err(wrong("vertex_key_config"));
        }
        let p = "vertex_key_config";
        let credentials = match &v.auth_credentials {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => {
                resolve_env(s, &format!("{kpath}.{p}.auth_credentials"), env)?
            }
            Some(obj @ serde_json::Value::Object(_)) => obj.to_string(),
            Some(_) => {
                return Err(err(
                    format!("{kpath}.{p}.auth_credentials"),
                    "must be the service-account JSON, as a string or an object",
                ))
            }
        };
        if !credentials.is_empty() {
            providers::auth::ServiceAccount::parse(&credentials)
                .map_err(|e| err(format!("{kpath}.{p}.auth_credentials"), e.message.clone()))?;
        }
        let project_id = secret(&v.project_id, &format!("{p}.project_id"))?;
        if project_id.is_empty() {
            return Err(err(format!("{kpath}.{p}.project_id"), "is required"));
        }
        let cfg = VertexKeyConfig {
            project_id,
            region: secret(&v.region, &format!("{p}.region"))?,
            auth_credentials: Secret::new(credentials),
            token: Default::default(),
        };
        return Ok((
            Some(CloudKeyConfig::Vertex(cfg)),
            deployments(&v.deployments),
        ));
    }
    match format {
        Some(ApiFormat::Azure) => Err(err(
            format!("{kpath}.azure_key_config"),
            "an Azure key needs azure_key_config with its endpoint",
        )),
        Some(ApiFormat::Vertex) => Err(err(
            format!("{kpath}.vertex_key_config"),
            "a Vertex key needs vertex_key_config with its project_id",
        )),
        // Credentials from the AWS environment (or a Bedrock API key in `value`).
        Some(ApiFormat::Bedrock) => Ok((
            Some(CloudKeyConfig::Bedrock(BedrockKeyConfig {
                access_key: String::new(),
                secret_key: Secret::default(),
                session_token: None,
                region: String::new(),
            })),
            Deployments::new(),
        )),
        _ => Ok((None, Deployments::new())),
    }
}

fn network(path: &str, raw: RawNetwork) -> Result<NetworkConfig, ConfigError> {
    let path = format!("{path}.network_config");
    let p = |field: &str| format!("{path}.{field}");
    let mut net = NetworkConfig::default();
    if let Some(url) = raw.base_url {
        let trimmed = url.trim();
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
            return Err(err(
                p("base_url"),
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        net.base_url = Some(trimmed.to_owned());
    }
    net.extra_headers = raw.extra_headers.unwrap_or_default().into_iter().collect();
    let timeout_secs_ms = match raw.default_request_timeout_in_seconds {
        Some(s) => Some(s.checked_mul(1000).ok_or_else(|| {
            err(
                p("default_request_timeout_in_seconds"),
                format!("{s} seconds is too large"),
            )
        })?),
        None => None,
    };
    let timeout_ms = reconcile(
        raw.timeout,
        &p("timeout"),
        timeout_secs_ms,
        &p("default_request_timeout_in_seconds"),
    )?;
    if let Some(ms) = timeout_ms {
        if ms == 0 {
            return Err(err(p("timeout"), "must be greater than 0"));
        }
        // A deadline this far out is a typo, and past it `Instant + Duration` overflows.
        if ms > MAX_TIMEOUT_MS {
            return Err(err(
                p("timeout"),
                format!("{ms} ms is more than the 24 h maximum"),
            ));
        }
        net.request_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = reconcile(
        raw.retries,
        &p("retries"),
        raw.max_retries,
        &p("max_retries"),
    )? {
        net.max_retries = n;
    }
    if let Some(ms) = reconcile(
        raw.retry_backoff_initial,
        &p("retry_backoff_initial"),
        raw.retry_backoff_initial_ms,
        &p("retry_backoff_initial_ms"),
    )? {
        net.retry_backoff_initial = Duration::from_millis(ms);
    }
    if let Some(ms) = reconcile(
        raw.retry_backoff_max,
        &p("retry_backoff_max"),
        raw.retry_backoff_max_ms,
        &p("retry_backoff_max_ms"),
    )? {
        net.retry_backoff_max = Duration::from_millis(ms);
    }
    if net.retry_backoff_max < net.retry_backoff_initial {
        return Err(err(
            p("retry_backoff_max"),
            "must not be smaller than retry_backoff_initial",
        ));
    }
    if let Some(s) = raw.stream_idle_timeout_in_seconds {
        if !(1..=3600).contains(&s) {
            return Err(err(p("stream_idle_timeout_in_seconds"), "must be 1–3600"));
        }
        net.stream_idle_timeout = Duration::from_secs(s);
    }
    if let Some(ms) = raw.connect_timeout_ms {
        net.connect_timeout = Duration::from_millis(ms.max(1));
    }
    if let Some(n) = raw.max_conns_per_host {
        if !(1..=10_000).contains(&n) {
            return Err(err(p("max_conns_per_host"), "must be 1–10000"));
        }
        net.max_conns_per_host = n;
    }
    if let Some(b) = raw.enforce_http2 {
        net.enforce_http2 = b;
    }
    Ok(net)
}

fn alias(name: &str, raw: RawAlias) -> Result<ModelAlias, ConfigError> {
    let path = format!("client.model_aliases.{name}");
    let (targets, fallbacks) = match raw {
        RawAlias::One(t) => (
            vec![RawAliasTarget {
                target: t,
                weight: 1.0,
            }],
            Vec::new(),
        ),
        RawAlias::Weighted(t) => (t, Vec::new()),
        RawAlias::Full { targets, fallbacks } => (targets, fallbacks),
    };
    if targets.is_empty() {
        return Err(err(path, "an alias needs at least one target"));
    }
    let mut out = ModelAlias::default();
    for (i, t) in targets.into_iter().enumerate() {
        if !t.weight.is_finite() || t.weight < 0.0 {
            return Err(err(
                format!("{path}.targets[{i}].weight"),
                "must be a number ≥ 0",
            ));
        }
        if !t.target.contains('/') {
            return Err(err(
                format!("{path}.targets[{i}].target"),
                format!("{:?} must name a provider, as \"provider/model\"", t.target),
            ));
        }
        out.targets.push(AliasTarget {
            provider: None,
            model: t.target,
            weight: t.weight,
        });
    }
    out.fallbacks = fallbacks
        .into_iter()
        .map(|model| Fallback {
            provider: None,
            model,
        })
        .collect();
    Ok(out)
}

/// `env.NAME` reads the environment variable NAME; anything else is the literal value.
fn resolve_env(
    value: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match value.strip_prefix("env.") {
        Some(var) if !var.is_empty() => env(var).ok_or_else(|| {
            err(
                path,
                format!("environment variable {var} is not set (referenced as \"env.{var}\")"),
            )
        }),
        _ => Ok(value.to_owned()),
    }
}

/// A provider as the management API and the config store hold it: config.json's provider
/// object (keys included), validated exactly like the file's. Errors name the JSON path
/// (`providers.<name>.…`); unknown fields are returned by path for the caller to refuse or
/// warn about.
pub fn provider_from_json(
    name: &str,
    value: &serde_json::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ProviderEntry, Vec<String>), ConfigError> {
    let base = format!("providers.{name}");
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(format!("{base}.{path}"));
    let tracked = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let raw: RawProvider = serde_path_to_error::deserialize(tracked).map_err(|e| {
        let at = e.path().to_string();
        let path = if at == "." {
            base.clone()
        } else {
            format!("{base}.{at}")
        };
        err(path, e.inner().to_string())
    })?;
    let mut warnings = Vec::new();
    let entry = provider(name, raw, env, &mut warnings)?;
    Ok((entry, unknown))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment made of fixed pairs.
    pub(crate) fn env_of(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const SEED_HIGH_PERF: &str = include_str!("../../tests/fixtures/seed-config.json");

    #[test]
    fn the_seed_config_loads_as_printed() {
        let c = parse(SEED_HIGH_PERF, &env_of(&[("OPENAI_API_KEY", "sk-test")])).unwrap();
        assert_eq!(c.initial_pool_size, Some(20000));
        assert_eq!(c.drop_excess_requests, Some(false));
        let p = &c.providers[0];
        assert_eq!(p.name, "openai");
        assert_eq!(p.keys[0].value.expose(), "sk-test");
        assert_eq!(p.keys[0].models, vec!["gpt-4o-mini", "gpt-4o"]);
        assert_eq!(p.config.network.request_timeout, Duration::from_secs(60));
        assert_eq!(p.config.network.max_retries, 3);
        assert_eq!(
            p.config.concurrency,
            ConcurrencyAndBufferSize {
                concurrency: 25,
                buffer_size: 300
            }
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn the_seed_memory_efficient_config_loads_as_printed() {
        let c = parse(
            r#"{
  "providers": {
    "openai": {
      "keys": [
        {
          "value": "env.OPENAI_API_KEY",
          "models": ["gpt-4o-mini"],
          "weight": 1.0
        }
      ],
      "concurrency_and_buffer_size": {
        "concurrency": 10,
        "buffer_size": 50
      }
    }
  },
  "initial_pool_size": 1000,
  "drop_excess_requests": true
}"#,
            &env_of(&[("OPENAI_API_KEY", "sk-test")]),
        )
        .unwrap();
        assert_eq!(c.initial_pool_size, Some(1000));
        assert_eq!(c.drop_excess_requests, Some(true));
        assert!(!c.auth.enabled && c.cors == CorsConfig::default());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn a_missing_env_variable_names_path_and_variable() {
        let e = parse(SEED_HIGH_PERF, &env_of(&[])).unwrap_err();
        assert_eq!(e.path, "providers.openai.keys[0].value");
        assert!(e.message.contains("OPENAI_API_KEY"), "{e}");
    }

    #[test]
    fn type_errors_name_the_json_path() {
        let e = parse(
            r#"{"providers":{"openai":{"keys":[{"value":"k","weight":"heavy"}]}}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "providers.openai.keys[0].weight");
        let e = parse(r#"{"providers":{"nope":{"keys":[]}}}"#, &env_of(&[])).unwrap_err();
        assert_eq!(e.path, "providers.nope");
    }

    #[test]
    fn newer_spellings_load_and_conflicts_fail() {
        let c = parse(
            r#"{"client":{"initial_pool_size":100,"drop_excess_requests":true,
                "prometheus_labels":["team-id"],"max_request_body_size_mb":2},
               "providers":{"anthropic":{"keys":[{"value":"k"}],
                "network_config":{"default_request_timeout_in_seconds":5,"max_retries":0,
                  "retry_backoff_initial_ms":10,"retry_backoff_max":20,
                  "base_url":"http://127.0.0.1:1/"}}}}"#,
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(c.initial_pool_size, Some(100));
        assert_eq!(c.drop_excess_requests, Some(true));
        assert_eq!(c.max_request_body_bytes, Some(2 * 1024 * 1024));
        let n = &c.providers[0].config.network;
        assert_eq!(n.request_timeout, Duration::from_secs(5));
        assert_eq!(n.max_retries, 0);
        assert_eq!(n.retry_backoff_initial, Duration::from_millis(10));

        let e = parse(
            r#"{"initial_pool_size":1,"client":{"initial_pool_size":2}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "initial_pool_size");
        assert!(e.message.contains("client.initial_pool_size"));
        let e = parse(
            r#"{"providers":{"openai":{"keys":[{"value":"k"}],"network_config":{"timeout":1000,"default_request_timeout_in_seconds":2}}}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "providers.openai.network_config.timeout");
        for (nc, path) in [
            (
                r#""default_request_timeout_in_seconds":18446744073709551615"#,
                "default_request_timeout_in_seconds",
            ),
            (r#""timeout":86400001"#, "timeout"),
        ] {
            let e = parse(
                &format!(
                    r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],"network_config":{{{nc}}}}}}}}}"#
                ),
                &env_of(&[]),
            )
            .unwrap_err();
            assert_eq!(
                e.path,
                format!("providers.openai.network_config.{path}"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_warn_and_empty_model_lists_allow_all() {
        let c = parse(
            r#"{"surprise":1,"providers":{"openai":{"keys":[{"value":"k","models":[],"colour":"red"}]}}}"#,
            &env_of(&[]),
        )
        .unwrap();
        assert!(c.warnings.iter().any(|w| w.starts_with("surprise")));
        assert!(c.warnings.iter().any(|w| w.contains("colour")));
        assert!(c.providers[0].keys[0].models.is_empty());
    }

    #[test]
    fn detection_reads_provider_key_variables() {
        let found = detect_providers(&env_of(&[
            ("ANTHROPIC_KEY", "a"),
            ("OPENAI_API_KEY", "o"),
            ("GROQ_API_KEY", " "),
        ]));
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["openai", "anthropic"]);
        assert_eq!(found[1].keys[0].value.expose(), "a");

        let found = detect_providers(&env_of(&[
            ("GEMINI_API_KEY", "g"),
            ("COHERE_API_KEY", "c"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]));
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        // Bedrock needs a region too.
        assert_eq!(names, vec!["gemini", "cohere"]);
        let found = detect_providers(&env_of(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_REGION", "eu-west-1"),
        ]));
        let Some(CloudKeyConfig::Bedrock(b)) = &found[0].keys[0].cloud else {
            panic!("{found:?}")
        };
        assert_eq!(
            (b.access_key.as_str(), b.region.as_str()),
            ("AKID", "eu-west-1")
        );
        let found = detect_providers(&env_of(&[("AWS_BEARER_TOKEN_BEDROCK", "bk")]));
        assert_eq!(found[0].name, "bedrock");
        assert_eq!(found[0].keys[0].value.expose(), "bk");
    }

    #[test]
    fn cloud_key_configs_are_validated_with_their_paths() {
        let bad = |json: &str| parse(json, &env_of(&[("SK", "secret")])).unwrap_err();
        let e = bad(r#"{"providers":{"azure":{"keys":[{"value":"k"}]}}}"#);
        assert_eq!(e.path, "providers.azure.keys[0].azure_key_config");
        let e = bad(
            r#"{"providers":{"openai":{"keys":[{"value":"k","azure_key_config":{"endpoint":"x"}}]}}}"#,
        );
        assert_eq!(e.path, "providers.openai.keys[0].azure_key_config");
        let e = bad(
            r#"{"providers":{"azure":{"keys":[{"azure_key_config":{"endpoint":"https://x","client_id":"c"}}]}}}"#,
        );
        assert!(e.message.contains("client_secret and tenant_id"), "{e}");
        let e = bad(
            r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK"}}]}}}"#,
        );
        assert_eq!(e.path, "providers.bedrock.keys[0].bedrock_key_config");
        let e = bad(
            r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK","secret_key":"env.NOPE"}}]}}}"#,
        );
        assert_eq!(
            e.path,
            "providers.bedrock.keys[0].bedrock_key_config.secret_key"
        );
        let e = bad(
            r#"{"providers":{"vertex":{"keys":[{"vertex_key_config":{"project_id":"p","auth_credentials":"{}"}}]}}}"#,
        );
        assert_eq!(
            e.path,
            "providers.vertex.keys[0].vertex_key_config.auth_credentials"
        );
        let e = bad(
            r#"{"providers":{"x":{"keys":[],"custom_provider_config":{"base_provider_type":"soap"}}}}"#,
        );
        assert_eq!(
            e.path,
            "providers.x.custom_provider_config.base_provider_type"
        );
        let e = bad(
            r#"{"providers":{"x":{"keys":[],"network_config":{"base_url":"http://h"},"custom_provider_config":{"base_provider_type":"openai","is_key_less":true,"allowed_requests":{"video":true}}}}}"#,
        );
        assert_eq!(
            e.path,
            "providers.x.custom_provider_config.allowed_requests.video"
        );

        let ok = parse(
            r#"{"providers":{"bedrock":{"keys":[{"bedrock_key_config":{"access_key":"AK","secret_key":"env.SK","region":"eu-west-1","deployments":{"claude":"arn:aws:bedrock:eu-west-1:1:inference-profile/x"}}}]}}}"#,
            &env_of(&[("SK", "secret")]),
        )
        .unwrap();
        let key = &ok.providers[0].keys[0];
        assert!(key.allows("claude") && !key.allows("other"));
        let Some(CloudKeyConfig::Bedrock(b)) = &key.cloud else {
            panic!("{key:?}")
        };
        assert_eq!(b.secret_key.expose(), "secret");
        // The secret never shows in debug output.
        assert!(!format!("{key:?}").contains("secret\""), "{key:?}");
    }

    #[test]
    fn the_otel_plugin_loads_and_disabled_plugins_warn() {
        let c = parse(
            r#"{"plugins":[
                {"enabled":true,"name":"otel","config":{"collector_url":"http://collector:4318",
                  "protocol":"http","service_name":"gw","trace_type":"genai_extension",
                  "headers":{"authorization":"env.OTEL_TOKEN","x-team":"t1"}}},
                {"enabled":false,"name":"semanticcache","config":{"ttl":5}}]}"#,
            &env_of(&[
                ("OTEL_TOKEN", "Bearer s3cret"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=env,x-env=1"),
                ("OTEL_SERVICE_NAME", "ignored"),
            ]),
        )
        .unwrap();
        let o = c.otel.unwrap();
        assert_eq!(o.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(o.service_name, "gw");
        let h: BTreeMap<_, _> = o.headers.into_iter().collect();
        assert_eq!(h["authorization"], "Bearer s3cret");
        assert_eq!(h["x-team"], "t1", "config.json wins over the environment");
        assert_eq!(h["x-env"], "1");
        assert!(!c.otel_disabled);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("plugins[1]"), "{:?}", c.warnings);
    }

    #[test]
    fn the_otel_plugin_rejects_grpc_and_bad_settings_by_path() {
        let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c:4317","protocol":"grpc"}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "plugins[0].config.protocol");
        assert!(e.message.contains("only \"http\""), "{e}");
        let e = parse(
            r#"{"plugins":[{"enabled":false,"name":"x"},{"enabled":true,"name":"otel","config":{"collector_url":"c:4318"}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "plugins[1].config.collector_url");
        let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c","headers":{"k":7}}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "plugins[0].config.headers.k");
        let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"collector_url":"http://c","headers":{"k":"env.NOPE"}}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "plugins[0].config.headers.k");
        assert!(e.message.contains("NOPE"), "{e}");
        let e = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{}}]}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "plugins[0].config.collector_url");
    }

    #[test]
    fn the_otel_plugin_falls_back_on_the_environment_or_stays_off() {
        let c = parse(
            r#"{"plugins":[{"enabled":true,"name":"otel","config":{"colour":"red"}}]}"#,
            &env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")]),
        )
        .unwrap();
        assert_eq!(c.otel.unwrap().endpoint, "http://env:4318/v1/traces");
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("plugins[0].config.colour")));
        let c = parse(
            r#"{"plugins":[{"enabled":false,"name":"otel","config":{"collector_url":"http://c"}}]}"#,
            &env_of(&[]),
        )
        .unwrap();
        assert!(c.otel.is_none() && c.otel_disabled);
    }

    #[test]
    fn sections_that_cannot_be_enforced_stop_startup() {
        let refused = |json: &str| parse(json, &env_of(&[])).unwrap_err();
        let e = refused(r#"{"governance":{"routing_rules":[{"id":"r1"}]}}"#);
        assert_eq!(e.path, "governance.routing_rules");
        assert!(e.message.contains("not supported"), "{e}");
        let e = refused(r#"{"mcp":{"client_configs":[{"name":"fs","connection_type":"stdio"}]}}"#);
        assert_eq!(e.path, "mcp.client_configs");
        let e = refused(r#"{"vector_store":{"enabled":true,"type":"redis","config":{}}}"#);
        assert_eq!(e.path, "vector_store");
        let e = refused(r#"{"plugins":[{"enabled":true,"name":"semantic_cache"}]}"#);
        assert_eq!(e.path, "plugins[0]");
        assert!(e.message.contains("semantic_cache") && e.message.contains("not supported"));
        let e = refused(r#"{"plugins":[{"enabled":true,"name":"otel","path":"/x.so"}]}"#);
        assert_eq!(e.path, "plugins[0].path");

        // Empty or disabled sections, built-in plugins and the store sections load.
        let c = parse(
            r#"{"governance":{"virtual_keys":[],"budgets":[]},"mcp":{"client_configs":[]},
                "vector_store":{"enabled":false,"type":"redis"},
                "plugins":[{"enabled":true,"name":"telemetry","config":{}},
                           {"enabled":true,"name":"logging"},
                           {"enabled":false,"name":"maxim"}],
                "config_store":{"enabled":true,"type":"sqlite","config":{"path":"c.db"}},
                "logs_store":{"enabled":false},"encryption_key":"k","kv_store":{"type":"memory"},
                "framework":{},"websocket":{},"source_of_truth":"split"}"#,
            &env_of(&[]),
        )
        .unwrap();
        // kv_store and framework are read now (governance); the others are ignored, said so.
        for section in ["vector_store", "plugins[2]", "websocket"] {
            assert!(
                c.warnings.iter().any(|w| w.starts_with(section)),
                "{section}: {:?}",
                c.warnings
            );
        }
        assert!(!c
            .warnings
            .iter()
            .any(|w| w.starts_with("governance") || w.starts_with("kv_store")));
    }

    #[test]
    fn auth_config_is_read_and_validated() {
        let c = parse(
            r#"{"auth_config":{"is_enabled":true,"admin_username":"admin",
                "admin_password":"env.ADMIN_PW","disable_auth_on_inference":true,
                "metrics_open":true}}"#,
            &env_of(&[("ADMIN_PW", "s3cret")]),
        )
        .unwrap();
        assert!(c.auth.enabled && c.auth.disable_auth_on_inference && c.auth.metrics_open);
        assert_eq!(c.auth.username, "admin");
        assert_eq!(c.auth.password.expose(), "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);

        let e = parse(
            r#"{"auth_config":{"is_enabled":true,"admin_password":"p"}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "auth_config.admin_username");
        let e = parse(
            r#"{"auth_config":{"is_enabled":true,"admin_username":"a","admin_password":""}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "auth_config.admin_password");
        let e = parse(
            r#"{"auth_config":{"is_enabled":true,"admin_username":"a","admin_password":"env.NOPE"}}"#,
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(e.path, "auth_config.admin_password");
        assert!(e.message.contains("NOPE"));
        // Off: credentials (and their variables) are not needed.
        let c = parse(
            r#"{"auth_config":{"is_enabled":false,"admin_password":"env.NOPE"}}"#,
            &env_of(&[]),
        )
        .unwrap();
        assert!(!c.auth.enabled);
        let e = parse(r#"{"auth_config":{"is_enabled":"yes"}}"#, &env_of(&[])).unwrap_err();
        assert_eq!(e.path, "auth_config.is_enabled");
    }

    #[test]
    fn client_cors_whitelist_and_pprof_settings() {
        let c = parse(
            r#"{"client":{"allowed_origins":["https://App.example.com/","*"],
                "allowed_headers":["X-Team","x-tenant-*"],"whitelisted_routes":["/v1/models","/api/public/*"],
                "enable_pprof":false,"disable_db_pings_in_health":true}}"#,
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(
            c.cors.allowed_origins,
            vec!["https://app.example.com".to_owned(), "*".to_owned()]
        );
        assert_eq!(c.cors.allowed_headers, vec!["x-team", "x-tenant-*"]);
        assert_eq!(c.whitelisted_routes, vec!["/v1/models", "/api/public/*"]);
        assert_eq!(c.enable_pprof, Some(false));
        assert!(c.disable_db_pings_in_health);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);

        let bad = |json: &str| parse(json, &env_of(&[])).unwrap_err().path;
        assert_eq!(
            bad(r#"{"client":{"allowed_origins":["example.com"]}}"#),
            "client.allowed_origins[0]"
        );
        assert_eq!(
            bad(r#"{"client":{"allowed_origins":["*","https://x.com/app"]}}"#),
            "client.allowed_origins[1]"
        );
        assert_eq!(
            bad(r#"{"client":{"allowed_headers":["bad header"]}}"#),
            "client.allowed_headers[0]"
        );
        assert_eq!(
            bad(r#"{"client":{"whitelisted_routes":["v1/models"]}}"#),
            "client.whitelisted_routes[0]"
        );
        assert_eq!(
            bad(r#"{"client":{"whitelisted_routes":["/a/*/b"]}}"#),
            "client.whitelisted_routes[0]"
        );
    }
}
