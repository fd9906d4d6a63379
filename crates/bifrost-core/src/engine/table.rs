//! The routing table: providers (with their keys, queues and connection pools), their order
//! and the model aliases. It is the part of the engine that configuration changes replace
//! while traffic flows ([`crate::Bifrost::reconfigure`]): a request takes one snapshot when it
//! starts and finishes on it, so it never sees half a change.

use super::{clients, ProviderState};
use crate::config::{Account, ProviderConfig, ProviderInstance};
use crate::error::BifrostError;
use crate::providers;
use crate::queue::ProviderQueue;
use crate::routing::aliases::ModelAlias;
use crate::routing::keys::KeySet;
use crate::routing::sticky::StickyTable;
use std::collections::HashMap;
use std::sync::Arc;

/// Looked up by name on every request; the names come from configuration, so a fast hash.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct RoutingTable {
    pub(crate) providers: FastMap<String, Arc<ProviderState>>,
    /// Provider names in configuration order (for listings).
    pub(crate) order: Vec<String>,
    pub(crate) aliases: FastMap<String, ModelAlias>,
}

/// What one provider became in a rebuild, for the caller's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderChange {
    Added(String),
    Removed(String),
    /// Same settings, new keys: connection pool, queue and in-flight slots kept.
    KeysChanged(String),
    /// New settings: a new connection pool and queue (requests in flight finish on the old).
    Rebuilt(String),
    Unchanged(String),
}

impl RoutingTable {
    /// Builds the table `account` describes. Providers of `previous` whose settings are
    /// unchanged keep their connection pool and queue (so their in-flight limits still hold
    /// across the change); those whose keys are unchanged too are kept whole, key health
    /// and sticky sessions included.
    pub(crate) fn build(
        account: &dyn Account,
        aliases: HashMap<String, ModelAlias>,
        instances: &HashMap<String, ProviderInstance>,
        initial_pool_size: usize,
        previous: Option<&RoutingTable>,
    ) -> Result<(Self, Vec<ProviderChange>), BifrostError> {
        let mut providers = FastMap::default();
        let mut order = Vec::new();
        let mut changes = Vec::new();
        for name in account.configured_providers() {
            let pcfg = account.config_for_provider(&name)?;
            let keys = account.keys_for_provider(&name)?;
            let old = previous.and_then(|t| t.providers.get(&name));
            let state = match old {
                Some(old) if old.config == pcfg && old.keys.keys() == keys.as_slice() => {
                    changes.push(ProviderChange::Unchanged(name.clone()));
                    old.clone()
                }
                Some(old) if old.config == pcfg => {
                    changes.push(ProviderChange::KeysChanged(name.clone()));
                    Arc::new(ProviderState {
                        keys: KeySet::new(keys),
                        // Key indexes changed: sessions re-pin on their next request.
                        sticky: StickyTable::default(),
                        ..old.share()
                    })
                }
                _ => {
                    changes.push(if old.is_some() {
                        ProviderChange::Rebuilt(name.clone())
                    } else {
                        ProviderChange::Added(name.clone())
                    });
                    Arc::new(ProviderState::build(
                        &name,
                        pcfg,
                        keys,
                        instances.get(&name),
                        initial_pool_size,
                    )?)
                }
            };
            order.push(name.clone());
            providers.insert(name, state);
        }
        if let Some(prev) = previous {
            for name in &prev.order {
                if !providers.contains_key(name) {
                    changes.push(ProviderChange::Removed(name.clone()));
                }
            }
        }
        let table = Self {
            providers,
            order,
            aliases: aliases.into_iter().collect(),
        };
        table.check_aliases()?;
        Ok((table, changes))
    }

    /// Every alias target names a configured provider.
    fn check_aliases(&self) -> Result<(), BifrostError> {
        for (alias, def) in &self.aliases {
            if def.targets.is_empty() {
                return Err(BifrostError::invalid_request(format!(
                    "model alias '{alias}' has no targets"
                )));
            }
            let all = def
                .targets
                .iter()
                .map(|t| (t.provider.as_deref(), &t.model));
            let fbs = def
                .fallbacks
                .iter()
                .map(|f| (f.provider.as_deref(), &f.model));
            for (provider, model) in all.chain(fbs) {
                self.resolve_direct(provider, model).map_err(|e| {
                    BifrostError::invalid_request(format!(
                        "model alias '{alias}': target '{model}': {}",
                        e.message
                    ))
                })?;
            }
        }
        Ok(())
    }
}

impl ProviderState {
    /// A provider with a new connection pool (or the given instance), keys and queue.
    pub(crate) fn build(
        name: &str,
        pcfg: ProviderConfig,
        keys: Vec<crate::config::Key>,
        instance: Option<&ProviderInstance>,
        initial_pool_size: usize,
    ) -> Result<Self, BifrostError> {
        // Fewer connections than slots would cap the requests in flight below what the user
        // configured, silently (the extra ones would wait inside the pool): refused instead.
        if let Some(n) = pcfg.network.max_conns_per_host {
            let c = pcfg.concurrency.concurrency;
            if n < c {
                return Err(BifrostError::invalid_request(format!(
                    "provider '{name}': max_conns_per_host ({n}) is below concurrency ({c}); \
                     raise max_conns_per_host or lower concurrency"
                )));
            }
        }
        let built = match instance {
            Some(i) => providers::Built {
                provider: i.provider.clone(),
                keyless: i.keyless,
                format: i.format,
                supported: i.supported.clone(),
            },
            None => {
                let clients = clients::http_clients(&pcfg, initial_pool_size);
                providers::build(name, &pcfg, clients)?
            }
        };
        let limits = pcfg.concurrency;
        Ok(Self {
            name: Arc::from(name),
            provider: built.provider,
            keys: KeySet::new(keys),
            keyless: built.keyless,
            format: built.format,
            supported: built.supported,
            queue: Arc::new(ProviderQueue::new(name, limits)),
            network: pcfg.network.clone(),
            key_health: pcfg.key_health,
            limits,
            sticky: StickyTable::default(),
            breaker: Arc::default(),
            config: pcfg,
        })
    }

    /// Everything but the keys and sticky sessions, shared with `self` (the pool, the queue).
    fn share(&self) -> Self {
        Self {
            name: self.name.clone(),
            provider: self.provider.clone(),
            keys: KeySet::new(Vec::new()),
            keyless: self.keyless,
            format: self.format,
            supported: self.supported.clone(),
            network: self.network.clone(),
            key_health: self.key_health,
            limits: self.limits,
            queue: self.queue.clone(),
            sticky: StickyTable::default(),
            breaker: self.breaker.clone(),
            config: self.config.clone(),
        }
    }
}
