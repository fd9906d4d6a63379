//! Model listings (`GET /v1/models`): what the keys name, the aliases, and what upstreams whose
//! keys allow every model list themselves.

use super::{Bifrost, MODEL_LIST_TTL};
use crate::config::Key;
use crate::observe::StageClock;
use crate::providers::CallContext;
use crate::schemas::ModelInfo;
use std::time::{Duration, Instant};

impl Bifrost {
    /// The models the configured keys name, as `provider/model`, then the aliases. A provider
    /// whose keys allow every model contributes nothing here (it cannot be enumerated without
    /// asking upstream).
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut out: Vec<ModelInfo> = Vec::new();
        let mut push = |id: String, owned_by: &str| {
            if !out.iter().any(|m| m.id == id) {
                out.push(ModelInfo {
                    id,
                    object: "model",
                    created: 0,
                    owned_by: owned_by.to_owned(),
                });
            }
        };
        let table = self.table();
        for name in &table.order {
            let Some(p) = table.providers.get(name) else {
                continue;
            };
            for model in p
                .keys
                .keys()
                .iter()
                .filter(|k| k.enabled)
                .flat_map(|k| k.models.iter().chain(k.deployments.keys()))
            {
                push(format!("{name}/{model}"), name);
            }
        }
        let mut aliases: Vec<&String> = table.aliases.keys().collect();
        aliases.sort();
        for a in aliases {
            push(a.clone(), "bifrost");
        }
        out
    }

    /// [`Bifrost::models`] plus what the upstreams list for providers whose keys allow every
    /// model (asked concurrently, each within 5 s, cached for a minute; a provider that cannot
    /// list is skipped).
    pub async fn list_models(&self) -> Vec<ModelInfo> {
        let mut out = self.models();
        let cached = self
            .inner
            .upstream_models
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .filter(|(at, _)| at.elapsed() < MODEL_LIST_TTL);
        let listed = match cached {
            Some((_, listed)) => listed,
            None => {
                let listed = self.ask_upstreams_for_models().await;
                if let Ok(mut c) = self.inner.upstream_models.lock() {
                    *c = Some((Instant::now(), listed.clone()));
                }
                listed
            }
        };
        for m in listed {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(m);
            }
        }
        out
    }

    /// What `provider`'s upstream lists when asked with `key` (within 5 s), or `None` when the
    /// provider is not configured, cannot list, or does not answer: the management API checks a
    /// new key's `models` against it.
    pub async fn upstream_models(&self, provider: &str, key: &Key) -> Option<Vec<String>> {
        let table = self.table();
        let p = table.providers.get(provider)?;
        let clock = StageClock::default();
        let cx = CallContext {
            model: "",
            key,
            clock: &clock,
        };
        match tokio::time::timeout(Duration::from_secs(5), p.provider.list_models(cx)).await {
            Ok(Ok(ids)) => Some(ids),
            Ok(Err(e)) => {
                tracing::debug!(provider, error = %e, "model listing failed");
                None
            }
            Err(_) => None,
        }
    }

    async fn ask_upstreams_for_models(&self) -> Vec<ModelInfo> {
        let keyless = Key::new("");
        let table = self.table();
        let asks = table.order.iter().filter_map(|name| {
            let p = table.providers.get(name)?;
            let open_key = p
                .keys
                .keys()
                .iter()
                .find(|k| k.enabled && k.models.is_empty() && k.deployments.is_empty());
            let key = match open_key {
                Some(k) => k,
                None if p.keyless && p.keys.keys().is_empty() => &keyless,
                None => return None,
            };
            Some(async move {
                let clock = StageClock::default();
                let cx = CallContext {
                    model: "",
                    key,
                    clock: &clock,
                };
                let ids =
                    tokio::time::timeout(Duration::from_secs(5), p.provider.list_models(cx)).await;
                match ids {
                    Ok(Ok(ids)) => ids
                        .into_iter()
                        .map(|id| ModelInfo {
                            id: format!("{name}/{id}"),
                            object: "model",
                            created: 0,
                            owned_by: name.clone(),
                        })
                        .collect(),
                    Ok(Err(e)) => {
                        tracing::debug!(provider = %name, error = %e, "model listing failed");
                        Vec::new()
                    }
                    Err(_) => Vec::new(),
                }
            })
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}
