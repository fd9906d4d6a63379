//! What a request cost: a price catalog compiled into the binary (`data/pricing.json`, with its
//! source and date), the providers' `pricing_overrides`, and an optional background refresh
//! from `framework.pricing.pricing_url` that never holds up startup.

use super::FastMap;
use bifrost_core::schemas::Usage;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The built-in catalog.
pub const BUILT_IN: &str = include_str!("../../data/pricing.json");

/// Prices in USD per million tokens (and per request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default)]
    pub input: f64,
    #[serde(default)]
    pub output: f64,
    /// Cached prompt tokens (default: `input`).
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Reasoning tokens, which count as output tokens too (default: `output`).
    #[serde(default)]
    pub reasoning: Option<f64>,
    #[serde(default)]
    pub per_request: f64,
}

impl Price {
    /// USD for `usage`.
    pub fn cost(&self, u: &Usage) -> f64 {
        let detail = |outer: &str, inner: &str| {
            u.extra
                .get(outer)
                .and_then(|d| d.get(inner))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let cached = detail("prompt_tokens_details", "cached_tokens").min(u.prompt_tokens);
        let reasoning =
            detail("completion_tokens_details", "reasoning_tokens").min(u.completion_tokens);
        let per = |n: u64, p: f64| n as f64 * p / 1e6;
        per(u.prompt_tokens - cached, self.input)
            + per(cached, self.cached_input.unwrap_or(self.input))
            + per(u.completion_tokens - reasoning, self.output)
            + per(reasoning, self.reasoning.unwrap_or(self.output))
            + self.per_request
    }

    /// The most `prompt` tokens and up to `max_output` tokens can cost (strict budgets).
    pub fn max_cost(&self, prompt: u64, max_output: u64) -> f64 {
        let per = |n: u64, p: f64| n as f64 * p / 1e6;
        per(prompt, self.input.max(self.cached_input.unwrap_or(0.0)))
            + per(max_output, self.output.max(self.reasoning.unwrap_or(0.0)))
            + self.per_request
    }
}

#[derive(Debug, Deserialize)]
pub struct Catalog {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub date: String,
    pub models: HashMap<String, Price>,
}

impl Catalog {
    pub fn built_in() -> Self {
        #[allow(clippy::expect_used)] // checked by a unit test
        serde_json::from_str(BUILT_IN).expect("data/pricing.json parses")
    }
}

/// How an override's `model_pattern` matches.
#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    /// `*` matches any run of characters.
    Wildcard(regex::Regex),
    Regex(regex::Regex),
}

impl Pattern {
    fn matches(&self, model: &str) -> bool {
        match self {
            Pattern::Exact(m) => m == model,
            Pattern::Wildcard(r) | Pattern::Regex(r) => r.is_match(model),
        }
    }
}

/// One `providers.<name>.pricing_overrides[]` entry.
#[derive(Debug, Clone)]
pub struct Override {
    provider: String,
    pattern: Pattern,
    /// Empty: every request type.
    request_types: Vec<String>,
    price: Price,
}

/// An override as config.json writes it (per-token prices, as the original does).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    model_pattern: String,
    #[serde(default)]
    match_type: Option<String>,
    #[serde(default)]
    request_types: Vec<String>,
    #[serde(default)]
    input_cost_per_token: Option<f64>,
    #[serde(default)]
    output_cost_per_token: Option<f64>,
    #[serde(default)]
    cache_read_input_token_cost: Option<f64>,
    #[serde(default)]
    output_cost_per_reasoning_token: Option<f64>,
    #[serde(default)]
    input_cost_per_request: Option<f64>,
}

impl Override {
    /// Parses `providers.<provider>.pricing_overrides`; errors name the field.
    pub fn parse(provider: &str, v: &serde_json::Value) -> Result<Vec<Self>, String> {
        let field = format!("providers.{provider}.pricing_overrides");
        let raw: Vec<RawOverride> = serde_path_to_error::deserialize(v)
            .map_err(|e| format!("{field}.{}: {}", e.path(), e.inner()))?;
        let mut out = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            let f = format!("{field}[{i}]");
            let pattern = match r.match_type.as_deref().unwrap_or("exact") {
                "exact" => Pattern::Exact(r.model_pattern.clone()),
                "wildcard" => {
                    let re = format!(
                        "^{}$",
                        r.model_pattern
                            .split('*')
                            .map(regex::escape)
                            .collect::<Vec<_>>()
                            .join(".*")
                    );
                    Pattern::Wildcard(
                        regex::Regex::new(&re).map_err(|e| format!("{f}.model_pattern: {e}"))?,
                    )
                }
                "regex" => Pattern::Regex(
                    regex::Regex::new(&r.model_pattern)
                        .map_err(|e| format!("{f}.model_pattern: {e}"))?,
                ),
                other => {
                    return Err(format!(
                        "{f}.match_type: {other:?} is not one of exact, wildcard, regex"
                    ))
                }
            };
            let per_m = |v: Option<f64>, name: &str| -> Result<Option<f64>, String> {
                match v {
                    Some(p) if !p.is_finite() || p < 0.0 => {
                        Err(format!("{f}.{name}: must be a price in USD, 0 or more"))
                    }
                    Some(p) => Ok(Some(p * 1e6)),
                    None => Ok(None),
                }
            };
            let price = Price {
                input: per_m(r.input_cost_per_token, "input_cost_per_token")?.unwrap_or(0.0),
                output: per_m(r.output_cost_per_token, "output_cost_per_token")?.unwrap_or(0.0),
                cached_input: per_m(r.cache_read_input_token_cost, "cache_read_input_token_cost")?,
                reasoning: per_m(
                    r.output_cost_per_reasoning_token,
                    "output_cost_per_reasoning_token",
                )?,
                per_request: per_m(r.input_cost_per_request, "input_cost_per_request")?
                    .map_or(0.0, |p| p / 1e6),
            };
            out.push(Override {
                provider: provider.to_owned(),
                pattern,
                request_types: r.request_types,
                price,
            });
        }
        Ok(out)
    }
}

/// The catalog as the request path looks it up (no key is built per request): `provider/model`
/// entries by provider then model, and bare `model` entries.
#[derive(Default)]
struct Index {
    by_provider: FastMap<String, FastMap<String, Price>>,
    bare: FastMap<String, Price>,
}

impl Index {
    fn new(models: HashMap<String, Price>) -> Self {
        let mut ix = Index::default();
        for (name, price) in models {
            match name.split_once('/') {
                Some((p, m)) => {
                    ix.by_provider
                        .entry(p.to_owned())
                        .or_default()
                        .insert(m.to_owned(), price);
                }
                None => {
                    ix.bare.insert(name, price);
                }
            }
        }
        ix
    }
}

/// Prices the request path reads (swapped whole by a refresh).
pub struct Pricing {
    catalog: arc_swap::ArcSwap<Index>,
    overrides: Vec<Override>,
}

impl Pricing {
    pub fn new(overrides: Vec<Override>) -> Self {
        Self {
            catalog: arc_swap::ArcSwap::from_pointee(Index::new(Catalog::built_in().models)),
            overrides,
        }
    }

    /// The price of `model` on `provider` for `request_type`: an override, else the catalog's
    /// `provider/model`, else its bare `model`.
    pub fn price(&self, provider: &str, model: &str, request_type: &str) -> Option<Price> {
        for o in &self.overrides {
            if o.provider == provider
                && o.pattern.matches(model)
                && (o.request_types.is_empty() || o.request_types.iter().any(|t| t == request_type))
            {
                return Some(o.price);
            }
        }
        let catalog = self.catalog.load();
        catalog
            .by_provider
            .get(provider)
            .and_then(|m| m.get(model))
            .or_else(|| catalog.bare.get(model))
            .copied()
    }

    /// Replaces the catalog (a refresh).
    pub fn replace(&self, models: HashMap<String, Price>) {
        self.catalog.store(Arc::new(Index::new(models)));
    }

    /// Fetches `url` now and then every `every`, in the background; failures keep the prices
    /// in use and are logged.
    pub fn spawn_refresh(self: &Arc<Self>, url: String, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default();
            loop {
                let Some(p) = me.upgrade() else { return };
                match fetch(&client, &url).await {
                    Ok(c) => {
                        tracing::info!(
                            url,
                            models = c.models.len(),
                            date = c.date,
                            "pricing refreshed"
                        );
                        p.replace(c.models);
                    }
                    Err(e) => {
                        tracing::warn!(url, error = %e, "pricing refresh failed; prices unchanged")
                    }
                }
                drop(p);
                tokio::time::sleep(every).await;
            }
        });
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Catalog, String> {
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("status {}", r.status()));
    }
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not a price catalog: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage(p: u64, c: u64, cached: u64, reasoning: u64) -> Usage {
        serde_json::from_value(json!({
            "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }))
        .unwrap()
    }

    #[test]
    fn built_in_catalog_parses_and_prices() {
        let c = Catalog::built_in();
        assert!(!c.source.is_empty() && !c.date.is_empty());
        let p = Pricing::new(Vec::new());
        let gpt4o = p.price("openai", "gpt-4o", "chat").unwrap();
        // 1M prompt tokens of which 400k cached, 100k output.
        let cost = gpt4o.cost(&usage(1_000_000, 100_000, 400_000, 0));
        assert!(
            (cost - (0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)).abs() < 1e-9,
            "{cost}"
        );
        // A bare model name prices the model on any provider.
        assert_eq!(
            p.price("mock", "gpt-4o-mini", "chat"),
            p.price("openai", "gpt-4o-mini", "chat")
        );
        assert!(p.price("openai", "no-such-model", "chat").is_none());
    }

    #[test]
    fn overrides_win_and_match_by_pattern() {
        let o = Override::parse(
            "openai",
            &json!([{"model_pattern":"gpt-4o*","match_type":"wildcard",
                      "input_cost_per_token":0.000001,"output_cost_per_token":0.000002}]),
        )
        .unwrap();
        let p = Pricing::new(o);
        let price = p.price("openai", "gpt-4o-mini", "chat").unwrap();
        assert!((price.cost(&usage(1000, 1000, 0, 0)) - 0.003).abs() < 1e-12);
        assert_ne!(p.price("anthropic", "gpt-4o-mini", "chat"), Some(price));
        let e = Override::parse(
            "openai",
            &json!([{"model_pattern":"x","match_type":"glob"}]),
        )
        .unwrap_err();
        assert!(e.contains("pricing_overrides[0].match_type"), "{e}");
        let e =
            Override::parse("openai", &json!([{"model_pattern":"x","input_cost":1}])).unwrap_err();
        assert!(e.contains("input_cost"), "{e}");
    }
}
