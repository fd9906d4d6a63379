//! Providers and keys at run time: what the management API edits, the config store keeps and
//! the engine serves.
//!
//! The editable providers live here as config.json-shaped JSON ([`StoredProvider`]). A change
//! is validated exactly like config.json, written to the config store, then applied to the
//! engine with [`Bifrost::reconfigure`] — requests in flight finish on the providers they
//! started with, unchanged providers keep their connection pools. Changes made by another
//! replica on the same PostgreSQL arrive through the store's notifications and are applied the
//! same way. Providers detected from the environment and the built-in mock are fixed: served,
//! listed, not editable.

use crate::api::{store_error, unprocessable, ApiError};
use crate::config::{self, ProviderEntry};
use bifrost_core::{Bifrost, ModelAlias, StaticAccount};
use bifrost_store::{ConfigStore, SourceOfTruth, StoredKey, StoredProvider};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct ControlPlane {
    engine: Bifrost,
    store: Option<ConfigStore>,
    mode: SourceOfTruth,
    /// Providers config.json defines (read-only with `source_of_truth: "config.json"`).
    file_names: HashSet<String>,
    /// Served but not editable: detected from the environment, or the built-in mock.
    fixed: Vec<ProviderEntry>,
    aliases: HashMap<String, ModelAlias>,
    /// Where the in-process mock listens, for a stored `mock` provider without a base URL.
    mock_url: Option<String>,
    env: Env,
    /// The editable providers, in order. Held across a whole change so changes apply one at
    /// a time.
    current: tokio::sync::Mutex<Vec<StoredProvider>>,
}

/// What [`ControlPlane::new`] needs.
pub struct ControlParts {
    pub engine: Bifrost,
    pub store: Option<ConfigStore>,
    pub mode: SourceOfTruth,
    pub file_names: HashSet<String>,
    pub fixed: Vec<ProviderEntry>,
    pub aliases: HashMap<String, ModelAlias>,
    pub mock_url: Option<String>,
    pub env: Env,
    pub providers: Vec<StoredProvider>,
}

impl ControlPlane {
    pub fn new(p: ControlParts) -> Arc<Self> {
        Arc::new(Self {
            engine: p.engine,
            store: p.store,
            mode: p.mode,
            file_names: p.file_names,
            fixed: p.fixed,
            aliases: p.aliases,
            mock_url: p.mock_url,
            env: p.env,
            current: tokio::sync::Mutex::new(p.providers),
        })
    }

    pub(crate) fn env(&self) -> &Env {
        &self.env
    }

    pub fn store(&self) -> Option<&ConfigStore> {
        self.store.as_ref()
    }

    /// Every provider: the editable ones, then the fixed ones (`source` says which).
    pub async fn list(&self) -> Vec<StoredProvider> {
        let mut out = self.current.lock().await.clone();
        for f in &self.fixed {
            if !out.iter().any(|p| p.name == f.name) {
                out.push(StoredProvider {
                    name: f.name.clone(),
                    config: Value::Object(Map::new()),
                    keys: f
                        .keys
                        .iter()
                        .map(|k| StoredKey {
                            id: k.id.clone(),
                            name: k.name.clone(),
                            value: format!("env.{}", k.name),
                            config: Value::Object(Map::new()),
                        })
                        .collect(),
                    source: if f.name == "mock" {
                        "builtin".to_owned()
                    } else {
                        "environment".to_owned()
                    },
                    file_hash: None,
                });
            }
        }
        out
    }

    pub async fn get(&self, name: &str) -> Option<StoredProvider> {
        self.list().await.into_iter().find(|p| p.name == name)
    }

    /// Applies `change` to a copy of the editable providers; on success the copy is stored,
    /// served, and becomes current. `touched` names the provider it changes.
    pub async fn change(
        &self,
        touched: &str,
        change: impl FnOnce(&mut Vec<StoredProvider>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        if self.fixed.iter().any(|f| f.name == touched) {
            return Err(ApiError::new(
                409,
                "conflict",
                format!(
                    "provider {touched:?} is detected from the environment (or built in) and \
                     cannot be edited; define it in config.json or through this API under \
                     another name"
                ),
            ));
        }
        if self.mode == SourceOfTruth::ConfigJson && self.file_names.contains(touched) {
            return Err(ApiError::new(
                409,
                "conflict",
                format!(
                    "provider {touched:?} is defined in config.json and source_of_truth is \
                     \"config.json\": edit the file instead"
                ),
            ));
        }
        let mut current = self.current.lock().await;
        let mut next = current.clone();
        change(&mut next)?;
        let account = self
            .account(&next)
            .map_err(|e| unprocessable(&e.path, e.to_string()))?;
        let before = current.iter().find(|p| p.name == touched);
        let after = next.iter().find(|p| p.name == touched);
        if let Some(store) = &self.store {
            match after {
                Some(p) => store.put_provider(p).await.map_err(store_error)?,
                None => {
                    store.delete_provider(touched).await.map_err(store_error)?;
                }
            }
        }
        if let Err(e) = self.engine.reconfigure(&account, self.aliases.clone()) {
            // Put the store back as it was: the engine still serves the old providers.
            if let Some(store) = &self.store {
                let undo = match before {
                    Some(p) => store.put_provider(p).await,
                    None => store.delete_provider(touched).await.map(|_| ()),
                };
                if let Err(u) = undo {
                    tracing::error!(error = %u, "could not undo a refused provider change");
                }
            }
            return Err(unprocessable("", e.message.clone()));
        }
        *current = next;
        Ok(())
    }

    /// Serves what the store holds now, if it differs from what is served (another replica
    /// changed it, or this one did and this is the echo).
    pub async fn reload(&self) {
        let Some(store) = &self.store else {
            return;
        };
        // Read under the lock: a read taken before a change made here commits would be stale
        // once the lock is ours, and would undo that change.
        let mut current = self.current.lock().await;
        let stored = match store.providers().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reloading providers from the config store failed");
                return;
            }
        };
        if *current == stored {
            return;
        }
        match self
            .account(&stored)
            .map_err(|e| e.to_string())
            .and_then(|a| {
                self.engine
                    .reconfigure(&a, self.aliases.clone())
                    .map_err(|e| e.message.clone())
            }) {
            Ok(changes) => {
                tracing::info!(?changes, "providers reloaded from the config store");
                *current = stored;
            }
            Err(e) => tracing::error!(
                error = %e,
                "the config store holds providers this replica cannot serve; keeping the \
                 current ones"
            ),
        }
    }

    /// Applies the store's change notifications until the store goes away.
    pub fn watch(self: &Arc<Self>) {
        if let Some(store) = &self.store {
            follow(store, self, |me| async move { me.reload().await });
        }
    }

    /// The engine's account for `editable` plus the fixed providers.
    fn account(&self, editable: &[StoredProvider]) -> Result<StaticAccount, config::ConfigError> {
        let mut account = StaticAccount::new();
        for p in editable {
            let mut entry = entry(p, &*self.env)?;
            fix_mock(&mut entry, self.mock_url.as_deref());
            account = account.with_provider(entry.name, entry.config, entry.keys);
        }
        for f in &self.fixed {
            if !editable.iter().any(|p| p.name == f.name) {
                account = account.with_provider(f.name.clone(), f.config.clone(), f.keys.clone());
            }
        }
        Ok(account)
    }
}

/// Runs `reload` on `target` after each change another process makes to the config store, for
/// as long as `target` lives.
pub(crate) fn follow<T, F, Fut>(store: &ConfigStore, target: &Arc<T>, reload: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut rx = store.subscribe();
    let me = Arc::downgrade(target);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            let Some(me) = me.upgrade() else { return };
            reload(me).await;
        }
    });
}

/// The config.json object of a stored provider: its settings with its keys.
pub fn provider_json(p: &StoredProvider) -> Value {
    let mut obj = match &p.config {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let keys = p
        .keys
        .iter()
        .map(|k| {
            let mut m = match &k.config {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            m.insert("id".into(), Value::String(k.id.clone()));
            m.insert("name".into(), Value::String(k.name.clone()));
            m.insert("value".into(), Value::String(k.value.clone()));
            Value::Object(m)
        })
        .collect();
    obj.insert("keys".into(), Value::Array(keys));
    Value::Object(obj)
}

/// A stored provider validated into the engine's form.
pub fn entry(
    p: &StoredProvider,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderEntry, config::ConfigError> {
    config::provider_from_json(&p.name, &provider_json(p), env).map(|(e, _)| e)
}

/// Splits a config.json provider object into a stored provider (keys get stable ids:
/// their own, else `<provider>-<index>` as config.json loading names them).
pub fn stored(name: &str, v: &Value, source: &str) -> StoredProvider {
    let mut config = match v {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let keys = match config.remove("keys") {
        Some(Value::Array(keys)) => keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| stored_key(name, i, k))
            .collect(),
        _ => Vec::new(),
    };
    StoredProvider {
        name: name.to_owned(),
        config: Value::Object(config),
        keys,
        source: source.to_owned(),
        file_hash: None,
    }
}

pub fn stored_key(provider: &str, index: usize, k: Value) -> StoredKey {
    let mut m = match k {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let text = |m: &mut Map<String, Value>, f: &str| match m.remove(f) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let id = text(&mut m, "id").unwrap_or_else(|| format!("{provider}-{index}"));
    let name = text(&mut m, "name").unwrap_or_else(|| id.clone());
    let value = text(&mut m, "value").unwrap_or_default();
    StoredKey {
        id,
        name,
        value,
        config: Value::Object(m),
    }
}

/// A provider named `mock` without a base URL is the in-process mock.
pub fn fix_mock(entry: &mut ProviderEntry, mock_url: Option<&str>) {
    use bifrost_core::{ApiFormat, CustomProviderConfig};
    if entry.name != "mock" {
        return;
    }
    if entry.config.network.base_url.is_none() {
        entry.config.network.base_url = mock_url.map(str::to_owned);
    }
    if entry.config.custom.is_none() {
        entry.config.custom = Some(CustomProviderConfig {
            is_key_less: true,
            ..CustomProviderConfig::new(ApiFormat::OpenAi)
        });
    }
}

/// What an API answer shows of a secret: `env.NAME` references as written, otherwise a mask
/// that keeps only the last four characters of long values.
pub fn mask(value: &str) -> String {
    if value.starts_with("env.") || value.is_empty() {
        return value.to_owned();
    }
    let chars: Vec<char> = value.chars().collect();
    if chars.len() >= 16 {
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("****{tail}")
    } else {
        "****".to_owned()
    }
}

/// Secret fields inside a key's provider-specific config, by path.
const KEY_SECRETS: [(&str, &str); 4] = [
    ("azure_key_config", "client_secret"),
    ("bedrock_key_config", "secret_key"),
    ("bedrock_key_config", "session_token"),
    ("vertex_key_config", "auth_credentials"),
];

/// A provider as the API shows it: every secret masked.
pub fn redacted(p: &StoredProvider) -> StoredProvider {
    let mut p = p.clone();
    for k in &mut p.keys {
        k.value = mask(&k.value);
        for (section, field) in KEY_SECRETS {
            if let Some(Value::String(s)) = k.config.get_mut(section).and_then(|c| c.get_mut(field))
            {
                *s = mask(s);
            }
        }
    }
    p
}

/// A key sent back by a client with its secrets still masked keeps the stored secrets.
pub fn unmask(new: &mut StoredKey, old: &StoredKey) {
    if new.value == mask(&old.value) {
        new.value.clone_from(&old.value);
    }
    for (section, field) in KEY_SECRETS {
        let old_secret = old
            .config
            .get(section)
            .and_then(|c| c.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let (Some(Value::String(s)), Some(o)) = (
            new.config.get_mut(section).and_then(|c| c.get_mut(field)),
            old_secret,
        ) {
            if *s == mask(&o) {
                *s = o;
            }
        }
    }
}
