//! Governance entities as config.json's `governance` section and the API write them (behaviour
//! reference §4.5), their validation, and the compiled form the request path reads.

use super::counters::{Kind, Level, LimitSpec, Window};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default)]
    pub id: String,
    /// USD per window.
    pub max_limit: f64,
    /// `1m`, `1h`, `1d`, `1w`, `1M`, `1Y`, or a multiple such as `30d`.
    pub reset_duration: String,
    #[serde(default)]
    pub calendar_aligned: bool,
    /// The original keeps usage here; ours lives in the KV store (accepted, not read).
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<f64>)]
    pub current_usage: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub last_reset: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_max_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_reset_duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_max_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_reset_duration: Option<String>,
    // The original's usage state (accepted, not read: usage lives in the KV store).
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<u64>)]
    pub request_current_usage: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<u64>)]
    pub token_current_usage: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub request_last_reset: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub token_last_reset: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Free-form, kept for the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub profile: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The original numbers these; accepted and kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub id: Option<serde_json::Value>,
    pub provider: String,
    #[serde(default = "one")]
    pub weight: f64,
    /// Empty: every model of the provider.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// The provider keys this key may use, as key objects (`{"id": …}` / `{"key_id": …}`);
    /// empty (with `key_ids`): every key of the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
    /// The same, as ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<String>,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualKey {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `sk-bf-…` (or `env.NAME`) in config.json; never stored or shown — only its hash.
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
    /// SHA-256 of the value, hex (what the store keeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub value_hash: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
    /// Requests this key may have in flight at once (RS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 2147483647)]
    pub max_concurrent_requests: Option<u32>,
    #[serde(default)]
    pub provider_configs: Vec<ProviderConfig>,
    /// MCP tool filters: refused when non-empty (no MCP in this version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub mcp_configs: Vec<serde_json::Value>,
}

/// Budgets and limits for a model (optionally on one provider), for every request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default)]
    pub id: String,
    pub model_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_id: Option<String>,
}

/// Every governance entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entities {
    #[serde(default)]
    pub budgets: Vec<Budget>,
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    #[serde(default)]
    pub customers: Vec<Customer>,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub virtual_keys: Vec<VirtualKey>,
    #[serde(default)]
    pub model_configs: Vec<ModelConfig>,
}

/// The SHA-256 of a virtual key's value (the request path's lookup key).
pub fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The hex SHA-256 of a virtual key's value (what the store keeps).
pub fn hash_value(value: &str) -> String {
    hex(&digest(value))
}

fn hex(d: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// A stored hex hash back to its digest.
fn unhex(h: &str) -> Option<[u8; 32]> {
    let h = h.as_bytes();
    if h.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(h[2 * i])? << 4) | nibble(h[2 * i + 1])?;
    }
    Some(out)
}

/// The prefix that tells a virtual key from a provider key.
pub const VK_PREFIX: &str = "sk-bf-";

/// A field path and what is wrong there.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses `1m`, `1h`, `30d`, `1w`, `1M`, `1Y` (a positive count and a unit).
pub fn parse_duration(s: &str, calendar: bool) -> Result<Window, String> {
    let s = s.trim();
    let split = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    let (n, unit) = s.split_at(split);
    let n: u32 = match n.parse() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(format!(
                "{s:?} is not a duration: a positive count and a unit (s, m, h, d, w, M, Y), e.g. \"1h\" or \"30d\""
            ))
        }
    };
    let secs = |k: u64| Window::Seconds(u64::from(n) * k);
    Ok(match unit {
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        "w" if calendar => Window::Weeks(n),
        "w" => secs(604_800),
        "M" if calendar => Window::Months(n),
        "M" => secs(30 * 86_400),
        "Y" if calendar => Window::Months(
            n.checked_mul(12)
                .ok_or_else(|| format!("{s:?} is too long"))?,
        ),
        "Y" => secs(365 * 86_400),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (s, m, h, d, w, M or Y)"
            ))
        }
    })
}

/// USD to integer micro-dollars (money never accumulates float error).
pub fn micros(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

/// A provider config as the request path reads it.
#[derive(Debug)]
pub struct PcRule {
    pub provider: String,
    pub weight: f64,
    pub allowed_models: Vec<String>,
    pub limits: Vec<LimitSpec>,
    /// Provider keys (by id) this key may use; `None`: all.
    pub allowed_keys: Option<Arc<[String]>>,
}

impl PcRule {
    pub fn allows(&self, model: &str) -> bool {
        self.allowed_models.is_empty()
            || self.allowed_models.iter().any(|m| {
                m == model
                    || m.split_once('/')
                        .is_some_and(|(p, rest)| p == self.provider && rest == model)
            })
    }
}

/// A virtual key as the request path reads it.
#[derive(Debug)]
pub struct VkRule {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub provider_configs: Vec<PcRule>,
    /// The VK's own limits, then its team's, then the customer's.
    pub limits: Vec<LimitSpec>,
}

/// What the request path reads: every entity compiled, looked up by hash.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub by_hash: HashMap<[u8; 32], Arc<VkRule>>,
    /// (provider or any, model) → limits.
    pub models: Vec<(Option<String>, String, Vec<LimitSpec>)>,
    /// A team's or customer's own limits (for their usage in the API).
    pub teams: HashMap<String, Vec<LimitSpec>>,
    pub customers: HashMap<String, Vec<LimitSpec>>,
    /// Keys already found, by value: later requests skip the SHA-256 (only keys that exist
    /// get here; the snapshot and this go together when entities change).
    seen: std::sync::Mutex<super::FastMap<Box<str>, Arc<VkRule>>>,
}

impl Snapshot {
    /// The key whose value is `value`.
    pub fn find(&self, value: &str) -> Option<Arc<VkRule>> {
        if let Some(vk) = self.seen().get(value) {
            return Some(vk.clone());
        }
        let vk = self.by_hash.get(&digest(value))?.clone();
        let mut cache = self.seen();
        if cache.len() < 100_000 {
            cache.insert(value.into(), vk.clone());
        }
        Some(vk)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, super::FastMap<Box<str>, Arc<VkRule>>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn model_limits<'a>(
        &'a self,
        provider: &'a str,
        model: &'a str,
    ) -> impl Iterator<Item = &'a LimitSpec> + 'a {
        self.models
            .iter()
            .filter(move |(p, m, _)| {
                p.as_deref().is_none_or(|p| p == provider)
                    && (m == model || m.split_once('/').is_some_and(|(_, rest)| rest == model))
            })
            .flat_map(|(_, _, l)| l.iter())
    }
}

impl Entities {
    /// Checks every field and reference; the first problem names its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.compile().map(|_| ())
    }

    /// Validates and compiles.
    pub fn compile(&self) -> Result<Snapshot, Invalid> {
        fn unique<'a>(list: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), Invalid> {
            let mut seen = std::collections::HashSet::new();
            for (i, id) in ids.enumerate() {
                if id.trim().is_empty() {
                    return Err(bad(format!("{list}[{i}].id"), "must not be empty"));
                }
                if !seen.insert(id) {
                    return Err(bad(
                        format!("{list}[{i}].id"),
                        format!("{id:?} appears twice"),
                    ));
                }
            }
            Ok(())
        }
        unique("budgets", self.budgets.iter().map(|b| b.id.as_str()))?;
        unique(
            "rate_limits",
            self.rate_limits.iter().map(|b| b.id.as_str()),
        )?;
        unique("customers", self.customers.iter().map(|b| b.id.as_str()))?;
        unique("teams", self.teams.iter().map(|b| b.id.as_str()))?;
        unique(
            "virtual_keys",
            self.virtual_keys.iter().map(|b| b.id.as_str()),
        )?;
        unique(
            "model_configs",
            self.model_configs.iter().map(|b| b.id.as_str()),
        )?;

        let mut budgets: HashMap<&str, LimitSpec> = HashMap::new();
        for (i, b) in self.budgets.iter().enumerate() {
            if !b.max_limit.is_finite() || b.max_limit < 0.0 {
                return Err(bad(
                    format!("budgets[{i}].max_limit"),
                    "must be a number of US dollars, 0 or more",
                ));
            }
            if b.current_usage
                .as_ref()
                .is_some_and(|v| !v.is_number() && !v.is_null())
            {
                return Err(bad(
                    format!("budgets[{i}].current_usage"),
                    "must be a number",
                ));
            }
            if b.last_reset
                .as_ref()
                .is_some_and(|v| !v.is_string() && !v.is_null())
            {
                return Err(bad(format!("budgets[{i}].last_reset"), "must be a string"));
            }
            let window = parse_duration(&b.reset_duration, b.calendar_aligned)
                .map_err(|m| bad(format!("budgets[{i}].reset_duration"), m))?;
            budgets.insert(
                &b.id,
                LimitSpec::new(Kind::Budget, &b.id, micros(b.max_limit), window),
            );
        }
        let mut limits: HashMap<&str, Vec<LimitSpec>> = HashMap::new();
        for (i, r) in self.rate_limits.iter().enumerate() {
            for (name, v) in [
                ("request_current_usage", &r.request_current_usage),
                ("token_current_usage", &r.token_current_usage),
            ] {
                if v.as_ref()
                    .is_some_and(|v| !v.is_null() && v.as_u64().is_none_or(|n| n > i64::MAX as u64))
                {
                    return Err(bad(
                        format!("rate_limits[{i}].{name}"),
                        "must be a whole number",
                    ));
                }
            }
            for (name, v) in [
                ("request_last_reset", &r.request_last_reset),
                ("token_last_reset", &r.token_last_reset),
            ] {
                if v.as_ref().is_some_and(|v| !v.is_string() && !v.is_null()) {
                    return Err(bad(format!("rate_limits[{i}].{name}"), "must be a string"));
                }
            }
            let mut specs = Vec::new();
            for (kind, max, dur, name) in [
                (
                    Kind::Requests,
                    r.request_max_limit,
                    &r.request_reset_duration,
                    "request",
                ),
                (
                    Kind::Tokens,
                    r.token_max_limit,
                    &r.token_reset_duration,
                    "token",
                ),
            ] {
                match (max, dur) {
                    (None, None) => {}
                    (Some(_), None) => {
                        return Err(bad(
                            format!("rate_limits[{i}].{name}_reset_duration"),
                            format!("required with {name}_max_limit"),
                        ))
                    }
                    (None, Some(_)) => {
                        return Err(bad(
                            format!("rate_limits[{i}].{name}_max_limit"),
                            format!("required with {name}_reset_duration"),
                        ))
                    }
                    (Some(max), _) if max > i64::MAX as u64 => {
                        return Err(bad(
                            format!("rate_limits[{i}].{name}_max_limit"),
                            format!("must be at most {}", i64::MAX),
                        ))
                    }
                    (Some(max), Some(d)) => {
                        let window = parse_duration(d, false).map_err(|m| {
                            bad(format!("rate_limits[{i}].{name}_reset_duration"), m)
                        })?;
                        specs.push(LimitSpec::new(
                            kind,
                            &r.id,
                            i64::try_from(max).unwrap_or(i64::MAX),
                            window,
                        ));
                    }
                }
            }
            limits.insert(&r.id, specs);
        }
        // The limits one entity references, checked to exist.
        let refs = |field: String,
                    budget: &Option<String>,
                    rate: &Option<String>,
                    level: Level|
         -> Result<Vec<LimitSpec>, Invalid> {
            let mut out = Vec::new();
            if let Some(id) = budget {
                let b = budgets.get(id.as_str()).ok_or_else(|| {
                    bad(format!("{field}.budget_id"), format!("no budget {id:?}"))
                })?;
                out.push(b.at(level));
            }
            if let Some(id) = rate {
                let r = limits.get(id.as_str()).ok_or_else(|| {
                    bad(
                        format!("{field}.rate_limit_id"),
                        format!("no rate limit {id:?}"),
                    )
                })?;
                out.extend(r.iter().map(|s| s.at(level)));
            }
            Ok(out)
        };
        let mut customers: HashMap<&str, Vec<LimitSpec>> = HashMap::new();
        for (i, c) in self.customers.iter().enumerate() {
            customers.insert(
                &c.id,
                refs(
                    format!("customers[{i}]"),
                    &c.budget_id,
                    &c.rate_limit_id,
                    Level::Customer,
                )?,
            );
        }
        let mut teams: HashMap<&str, Vec<LimitSpec>> = HashMap::new();
        let mut own_team_limits = HashMap::new();
        for (i, t) in self.teams.iter().enumerate() {
            for (name, v) in [("profile", &t.profile), ("claims", &t.claims)] {
                if v.as_ref().is_some_and(|v| !v.is_object() && !v.is_null()) {
                    return Err(bad(format!("teams[{i}].{name}"), "must be an object"));
                }
            }
            let mut l = refs(
                format!("teams[{i}]"),
                &t.budget_id,
                &t.rate_limit_id,
                Level::Team,
            )?;
            own_team_limits.insert(t.id.clone(), l.clone());
            if let Some(c) = &t.customer_id {
                let cl = customers.get(c.as_str()).ok_or_else(|| {
                    bad(
                        format!("teams[{i}].customer_id"),
                        format!("no customer {c:?}"),
                    )
                })?;
                l.extend(cl.iter().cloned());
            }
            teams.insert(&t.id, l);
        }
        let mut snap = Snapshot {
            teams: own_team_limits,
            customers: customers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            ..Snapshot::default()
        };
        for (i, vk) in self.virtual_keys.iter().enumerate() {
            let field = format!("virtual_keys[{i}]");
            let hash = match (&vk.value, &vk.value_hash) {
                (Some(v), _) => {
                    if !v.starts_with(VK_PREFIX) || v.len() <= VK_PREFIX.len() {
                        return Err(bad(
                            format!("{field}.value"),
                            format!("a virtual key starts with {VK_PREFIX:?}"),
                        ));
                    }
                    digest(v)
                }
                (None, Some(h)) => unhex(h)
                    .ok_or_else(|| bad(format!("{field}.value_hash"), "not a hex SHA-256"))?,
                (None, None) => {
                    return Err(bad(format!("{field}.value"), "required (sk-bf-…)"));
                }
            };
            if vk.team_id.is_some() && vk.customer_id.is_some() {
                return Err(bad(
                    format!("{field}.customer_id"),
                    "a virtual key belongs to a team or a customer, not both",
                ));
            }
            if !vk.mcp_configs.is_empty() {
                return Err(bad(
                    format!("{field}.mcp_configs"),
                    "MCP is not supported by this version; remove the MCP tool filters",
                ));
            }
            if vk
                .max_concurrent_requests
                .is_some_and(|n| n > i32::MAX as u32)
            {
                return Err(bad(
                    format!("{field}.max_concurrent_requests"),
                    "must be at most 2147483647",
                ));
            }
            if vk.max_concurrent_requests == Some(0) {
                return Err(bad(
                    format!("{field}.max_concurrent_requests"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
            let mut own = refs(
                field.clone(),
                &vk.budget_id,
                &vk.rate_limit_id,
                Level::VirtualKey,
            )?;
            if let Some(n) = vk.max_concurrent_requests {
                own.push(LimitSpec::new(
                    Kind::Concurrency,
                    &vk.id,
                    i64::from(n),
                    Window::Seconds(0),
                ));
            }
            if let Some(t) = &vk.team_id {
                let tl = teams
                    .get(t.as_str())
                    .ok_or_else(|| bad(format!("{field}.team_id"), format!("no team {t:?}")))?;
                own.extend(tl.iter().cloned());
            }
            if let Some(c) = &vk.customer_id {
                let cl = customers.get(c.as_str()).ok_or_else(|| {
                    bad(format!("{field}.customer_id"), format!("no customer {c:?}"))
                })?;
                own.extend(cl.iter().cloned());
            }
            let mut pcs = Vec::new();
            for (j, pc) in vk.provider_configs.iter().enumerate() {
                let pf = format!("{field}.provider_configs[{j}]");
                if pc.provider.trim().is_empty() {
                    return Err(bad(format!("{pf}.provider"), "must name a provider"));
                }
                if pc
                    .id
                    .as_ref()
                    .is_some_and(|v| v.as_u64().is_none_or(|n| n > i64::MAX as u64))
                {
                    return Err(bad(
                        format!("{pf}.id"),
                        format!("a whole number from 0 to {}", i64::MAX),
                    ));
                }
                if !pc.weight.is_finite() || pc.weight < 0.0 {
                    return Err(bad(format!("{pf}.weight"), "must be a number, 0 or more"));
                }
                let mut ids: Vec<String> = Vec::new();
                for (k, key) in pc.keys.iter().enumerate() {
                    let id = match key {
                        serde_json::Value::Object(o) => o
                            .get("id")
                            .or_else(|| o.get("key_id"))
                            .and_then(|v| v.as_str()),
                        _ => None,
                    };
                    match id.map(str::trim) {
                        Some(id) if !id.is_empty() => ids.push(id.to_owned()),
                        _ => {
                            return Err(bad(
                                format!("{pf}.keys[{k}]"),
                                "a key object with its \"id\" (ids alone go in key_ids)",
                            ))
                        }
                    }
                }
                for (k, id) in pc.key_ids.iter().enumerate() {
                    if id.trim().is_empty() {
                        return Err(bad(format!("{pf}.key_ids[{k}]"), "must not be empty"));
                    }
                    ids.push(id.trim().to_owned());
                }
                pcs.push(PcRule {
                    allowed_keys: (!ids.is_empty()).then(|| ids.into()),
                    provider: pc.provider.clone(),
                    weight: pc.weight,
                    allowed_models: pc.allowed_models.clone(),
                    limits: refs(pf, &pc.budget_id, &pc.rate_limit_id, Level::ProviderConfig)?,
                });
            }
            if snap.by_hash.contains_key(&hash) {
                return Err(bad(
                    format!("{field}.value"),
                    "the same value as another virtual key",
                ));
            }
            snap.by_hash.insert(
                hash,
                Arc::new(VkRule {
                    id: vk.id.clone(),
                    name: vk.name.clone(),
                    active: vk.is_active,
                    provider_configs: pcs,
                    limits: own,
                }),
            );
        }
        for (i, m) in self.model_configs.iter().enumerate() {
            let field = format!("model_configs[{i}]");
            if m.model_name.trim().is_empty() {
                return Err(bad(format!("{field}.model_name"), "must name a model"));
            }
            let l = refs(field, &m.budget_id, &m.rate_limit_id, Level::Model)?;
            snap.models
                .push((m.provider.clone(), m.model_name.clone(), l));
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h", false), Ok(Window::Seconds(3600)));
        assert_eq!(
            parse_duration("30d", true),
            Ok(Window::Seconds(30 * 86_400))
        );
        assert_eq!(parse_duration("1M", true), Ok(Window::Months(1)));
        assert_eq!(
            parse_duration("1M", false),
            Ok(Window::Seconds(30 * 86_400))
        );
        assert_eq!(parse_duration("1Y", true), Ok(Window::Months(12)));
        assert_eq!(parse_duration("2w", true), Ok(Window::Weeks(2)));
        assert!(parse_duration("0h", false).is_err());
        assert!(parse_duration("h", false).is_err());
        assert!(parse_duration("1x", false).is_err());
    }

    #[test]
    fn references_are_checked_with_the_field_named() {
        let e: Entities = serde_json::from_str(
            r#"{"virtual_keys":[{"id":"a","value":"sk-bf-a","budget_id":"nope"}]}"#,
        )
        .unwrap();
        assert_eq!(e.validate().unwrap_err().field, "virtual_keys[0].budget_id");
        let e: Entities = serde_json::from_str(
            r#"{"virtual_keys":[{"id":"a","value":"sk-bf-a","team_id":"t","customer_id":"c"}],
                "teams":[{"id":"t"}],"customers":[{"id":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(
            e.validate().unwrap_err().field,
            "virtual_keys[0].customer_id"
        );
        let e: Entities =
            serde_json::from_str(r#"{"virtual_keys":[{"id":"a","value":"plain"}]}"#).unwrap();
        assert_eq!(e.validate().unwrap_err().field, "virtual_keys[0].value");
        let e: Entities =
            serde_json::from_str(r#"{"rate_limits":[{"id":"r","request_max_limit":5}]}"#).unwrap();
        assert_eq!(
            e.validate().unwrap_err().field,
            "rate_limits[0].request_reset_duration"
        );
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_value("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
