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

mod provider;
pub use provider::provider_from_json;
use provider::{alias, provider};

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// Deserializes the object at JSON path `base`: an error names the full path, and the unknown
/// fields come back as full paths.
fn deserialize_at<'de, T, D>(base: &str, value: D) -> Result<(T, Vec<String>), ConfigError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let mut unknown = Vec::new();
    let mut on_unknown = |p: serde_ignored::Path<'_>| unknown.push(format!("{base}.{p}"));
    let tracked = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let raw = serde_path_to_error::deserialize(tracked).map_err(|e| {
        let at = e.path().to_string();
        let path = if at == "." {
            base.to_string()
        } else {
            format!("{base}.{at}")
        };
        err(path, e.inner().to_string())
    })?;
    Ok((raw, unknown))
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
            let (raw, unknown) = deserialize_at(&cpath, value)?;
            warnings.extend(
                unknown
                    .into_iter()
                    .map(|p| format!("{p}: unknown setting, ignored")),
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

#[cfg(test)]
pub(crate) mod tests;
