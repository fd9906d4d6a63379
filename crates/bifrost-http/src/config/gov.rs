//! config.json's `governance` section (as the original writes it, plus our settings), the
//! `governance` plugin entry, `kv_store`, `framework.pricing` and the providers'
//! `pricing_overrides`.

use super::{err, resolve_env, ConfigError};
use crate::governance::counters::OnFailure;
use crate::governance::model::{hash_value, Entities};
use crate::governance::pricing::Override;
use crate::governance::{BudgetMode, Settings};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Where governance counters live.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum KvStore {
    /// In this process: limits are per replica.
    #[default]
    Memory,
    Redis {
        host: String,
        port: u16,
        username: Option<String>,
        password: Option<String>,
        db: i64,
        /// How long a request waits for Redis before `on_store_failure` applies.
        timeout: Duration,
    },
}

impl KvStore {
    pub fn describe(&self) -> String {
        match self {
            KvStore::Memory => "memory".to_owned(),
            KvStore::Redis { host, port, db, .. } => format!("redis {host}:{port} db {db}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GovernanceConfig {
    pub entities: Entities,
    pub settings: Settings,
    pub on_store_failure: OnFailure,
    pub kv: KvStore,
    /// `framework.pricing.pricing_url`: refreshed in the background when set.
    pub pricing_url: Option<String>,
    pub pricing_sync_interval: Duration,
    pub overrides: Vec<Override>,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        Self {
            entities: Entities::default(),
            settings: Settings::default(),
            on_store_failure: OnFailure::Open,
            kv: KvStore::Memory,
            pricing_url: None,
            pricing_sync_interval: Duration::from_secs(86_400),
            overrides: Vec::new(),
        }
    }
}

/// What feeds [`governance`].
pub(super) struct Inputs<'a> {
    pub section: Option<Value>,
    pub plugin: Option<&'a Value>,
    pub kv_store: Option<Value>,
    pub framework: Option<Value>,
    pub enforce: bool,
    pub overrides: Vec<Override>,
}

fn field<T: for<'de> Deserialize<'de>>(
    obj: &mut serde_json::Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<T>, ConfigError> {
    match obj.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| err(format!("{path}.{name}"), e.to_string())),
    }
}

/// The settings object at `path` (null: empty) less the settings that both the plugin entry
/// and the section take (`is_vk_mandatory`, `required_headers`), which go into `settings`.
fn with_shared_settings(
    v: Value,
    path: &str,
    settings: &mut Settings,
) -> Result<serde_json::Map<String, Value>, ConfigError> {
    let mut obj = match v {
        Value::Object(o) => o,
        Value::Null => Default::default(),
        _ => return Err(err(path, "must be an object")),
    };
    if field::<bool>(&mut obj, path, "is_vk_mandatory")? == Some(true) {
        settings.mandatory = true;
    }
    if let Some(h) = field::<Vec<String>>(&mut obj, path, "required_headers")? {
        settings.required_headers = h.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    }
    Ok(obj)
}

pub(super) fn governance(
    inputs: Inputs<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<GovernanceConfig, ConfigError> {
    let mut g = GovernanceConfig {
        overrides: inputs.overrides,
        ..GovernanceConfig::default()
    };
    g.settings.mandatory = inputs.enforce;
    if let Some(p) = inputs.plugin {
        let path = "plugins.governance.config";
        let obj = with_shared_settings(p.clone(), path, &mut g.settings)?;
        if let Some(k) = obj.keys().next() {
            return Err(err(
                format!("{path}.{k}"),
                "unknown setting (is_vk_mandatory, required_headers)",
            ));
        }
    }
    if let Some(section) = inputs.section {
        let path = "governance";
        let mut obj = with_shared_settings(section, path, &mut g.settings)?;
        match field::<String>(&mut obj, path, "on_store_failure")?.as_deref() {
            None | Some("open") => {}
            Some("closed") => g.on_store_failure = OnFailure::Closed,
            Some(other) => {
                return Err(err(
                    "governance.on_store_failure",
                    format!("{other:?} is not \"open\" or \"closed\""),
                ))
            }
        }
        match field::<String>(&mut obj, path, "budget_mode")?.as_deref() {
            None | Some("strict") => {}
            Some("soft") => g.settings.budget_mode = BudgetMode::Soft,
            Some(other) => {
                return Err(err(
                    "governance.budget_mode",
                    format!("{other:?} is not \"strict\" or \"soft\""),
                ))
            }
        }
        if let Some(n) = field::<u64>(&mut obj, path, "token_estimate_default")? {
            if n == 0 {
                return Err(err(
                    "governance.token_estimate_default",
                    "must be at least 1",
                ));
            }
            g.settings.token_estimate_default = n;
        }
        if let Some(Value::Array(rules)) = obj.remove("routing_rules") {
            if !rules.is_empty() {
                return Err(err(
                    "governance.routing_rules",
                    "CEL routing rules are not supported by this version; remove them (virtual \
                     keys route through their provider_configs)",
                ));
            }
        }
        let mut entities: Entities = serde_path_to_error::deserialize(Value::Object(obj))
            .map_err(|e| err(format!("governance.{}", e.path()), e.inner().to_string()))?;
        for (i, vk) in entities.virtual_keys.iter_mut().enumerate() {
            if let Some(v) = vk.value.take() {
                let v = resolve_env(&v, &format!("governance.virtual_keys[{i}].value"), env)?;
                if !v.starts_with(crate::governance::model::VK_PREFIX) {
                    return Err(err(
                        format!("governance.virtual_keys[{i}].value"),
                        "a virtual key's value starts with \"sk-bf-\"",
                    ));
                }
                vk.value_hash = Some(hash_value(&v));
            }
        }
        entities
            .validate()
            .map_err(|e| err(format!("governance.{}", e.field), e.message))?;
        g.entities = entities;
    }
    if let Some(kv) = inputs.kv_store {
        g.kv = kv_store(kv, env)?;
    }
    if let Some(Value::Object(mut fw)) = inputs.framework {
        if let Some(pricing) = fw.remove("pricing") {
            let mut p = match pricing {
                Value::Object(o) => o,
                _ => return Err(err("framework.pricing", "must be an object")),
            };
            let path = "framework.pricing";
            g.pricing_url = field::<String>(&mut p, path, "pricing_url")?.filter(|u| !u.is_empty());
            if let Some(s) = field::<u64>(&mut p, path, "pricing_sync_interval")? {
                if s < 3600 {
                    return Err(err(
                        "framework.pricing.pricing_sync_interval",
                        "must be at least 3600 seconds",
                    ));
                }
                g.pricing_sync_interval = Duration::from_secs(s);
            }
            if let Some(k) = p.keys().next() {
                return Err(err(
                    format!("framework.pricing.{k}"),
                    "unknown setting (pricing_url, pricing_sync_interval)",
                ));
            }
        }
        for k in fw.keys() {
            warnings.push(format!(
                "framework.{k}: not supported by this version, ignored"
            ));
        }
    }
    Ok(g)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKv {
    #[serde(rename = "type")]
    kind: String,
    redis: Option<RawRedis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    addr: String,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    db: i64,
    #[serde(default)]
    tls: bool,
    /// Milliseconds a request waits for Redis (default 500).
    timeout_ms: Option<u64>,
}

fn kv_store(v: Value, env: &dyn Fn(&str) -> Option<String>) -> Result<KvStore, ConfigError> {
    let raw: RawKv = serde_path_to_error::deserialize(v)
        .map_err(|e| err(format!("kv_store.{}", e.path()), e.inner().to_string()))?;
    match raw.kind.as_str() {
        "memory" => Ok(KvStore::Memory),
        "redis" => {
            let r = raw
                .redis
                .ok_or_else(|| err("kv_store.redis", "required with \"type\": \"redis\""))?;
            if r.tls {
                return Err(err(
                    "kv_store.redis.tls",
                    "TLS to Redis is not supported by this version; reach Redis over a private \
                     network or a TLS tunnel",
                ));
            }
            let addr = resolve_env(&r.addr, "kv_store.redis.addr", env)?;
            let (host, port) = match addr.rsplit_once(':') {
                Some((h, p)) => (
                    h.trim_start_matches('[').trim_end_matches(']').to_owned(),
                    p.parse::<u16>().map_err(|_| {
                        err("kv_store.redis.addr", format!("{addr:?} is not host:port"))
                    })?,
                ),
                None => (addr.clone(), 6379),
            };
            if host.is_empty() {
                return Err(err("kv_store.redis.addr", "must name a host"));
            }
            let password = match r.password {
                Some(p) => Some(resolve_env(&p, "kv_store.redis.password", env)?),
                None => None,
            };
            let timeout = match r.timeout_ms {
                Some(0) => return Err(err("kv_store.redis.timeout_ms", "must be at least 1")),
                Some(ms) => Duration::from_millis(ms),
                None => crate::governance::counters::REDIS_TIMEOUT,
            };
            Ok(KvStore::Redis {
                host,
                port,
                username: r.username.filter(|u| !u.is_empty()),
                password: password.filter(|p| !p.is_empty()),
                db: r.db,
                timeout,
            })
        }
        other => Err(err(
            "kv_store.type",
            format!("{other:?} is not \"memory\" or \"redis\""),
        )),
    }
}
