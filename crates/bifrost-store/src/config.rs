//! [`ConfigStore`]: providers and their keys, the client config and a generic key/value table,
//! with change notification across replicas on PostgreSQL (§4.8).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::backend::{migrate, now_ms, Kind, Migration};
use crate::crypto::{open, seal};
use crate::sql::{get_opt_string, get_string};
use crate::{Backend, Cipher, StoreError};

/// The Postgres NOTIFY channel every config write signals on.
const CHANNEL: &str = "bifrost_config_changed";
const CLIENT_NS: &str = "_bifrost";
const CLIENT_KEY: &str = "client_config";

/// A provider as stored: its config.json object without `keys`, and its keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredProvider {
    pub name: String,
    /// The provider's config.json object WITHOUT "keys".
    pub config: Value,
    pub keys: Vec<StoredKey>,
    /// "file" | "api".
    pub source: String,
    /// Content hash of the config.json entry this copy was imported from (see
    /// [`ConfigStore::import_file`]); keep it when editing a file-sourced provider so the edit
    /// survives restarts under [`SourceOfTruth::Split`].
    pub file_hash: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredKey {
    pub id: String,
    pub name: String,
    /// Plaintext in memory (may be "env.NAME"); encrypted at rest when a [`Cipher`] is set.
    pub value: String,
    /// The rest of the key object: models, weight, enabled, azure_key_config, ...
    pub config: Value,
}

/// Which side wins when config.json and the database both define a provider (§4.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceOfTruth {
    /// Per-provider content hash: unchanged → database copy kept, changed → file wins.
    #[default]
    Split,
    /// The file wins for every provider it names.
    #[serde(rename = "config.json", alias = "config_json")]
    ConfigJson,
    /// The file only seeds providers the database does not have yet.
    Database,
}

/// What [`ConfigStore::import_file`] did with one provider, for the startup log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportDecision {
    pub provider: String,
    /// "config.json" | "database".
    pub winner: &'static str,
    pub reason: String,
}

fn migration_1(_: Kind) -> Vec<String> {
    vec![
        "CREATE TABLE config_providers (
            name TEXT PRIMARY KEY,
            position BIGINT NOT NULL,
            config TEXT NOT NULL,
            source TEXT NOT NULL,
            file_hash TEXT,
            updated_at BIGINT NOT NULL
        )"
        .into(),
        "CREATE TABLE config_keys (
            provider TEXT NOT NULL,
            id TEXT NOT NULL,
            position BIGINT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            config TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (provider, id)
        )"
        .into(),
        "CREATE TABLE config_kv (
            ns TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (ns, key)
        )"
        .into(),
    ]
}

const MIGRATIONS: &[Migration] = &[migration_1];

/// The config store. Cheap to clone.
#[derive(Clone)]
pub struct ConfigStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    kind: Kind,
    cipher: Option<Cipher>,
    changes: broadcast::Sender<()>,
    /// This instance's NOTIFY payload, so the listener ignores our own writes.
    instance: String,
    listener: Option<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

impl ConfigStore {
    /// Opens and migrates. With `cipher`, secrets are encrypted on write; without one, reading an
    /// encrypted value is an error. On PostgreSQL this also starts listening for other
    /// processes' changes (the listener is connected before `open` returns).
    pub async fn open(b: &Backend, cipher: Option<Cipher>) -> Result<Self, StoreError> {
        let pool = b.connect().await?;
        migrate(&pool, b.kind(), "config", MIGRATIONS).await?;
        let (changes, _) = broadcast::channel(64);
        let instance = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let listener = match b {
            Backend::Postgres { url, .. } => {
                let l = connect_listener(url)
                    .await
                    .map_err(|source| StoreError::Connect {
                        backend: b.describe(),
                        source,
                    })?;
                let task = tokio::spawn(listen(l, url.clone(), instance.clone(), changes.clone()));
                Some(task.abort_handle())
            }
            Backend::Sqlite { .. } => None,
        };
        Ok(ConfigStore {
            inner: Arc::new(Inner {
                pool,
                kind: b.kind(),
                cipher,
                changes,
                instance,
                listener,
            }),
        })
    }

    /// The highest schema version this binary knows.
    pub fn schema_version() -> i64 {
        MIGRATIONS.len() as i64
    }

    fn cipher(&self) -> Option<&Cipher> {
        self.inner.cipher.as_ref()
    }

    /// All providers in insertion order, keys included (decrypted).
    pub async fn providers(&self) -> Result<Vec<StoredProvider>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, config, source, file_hash FROM config_providers ORDER BY position, name",
        )
        .fetch_all(&self.inner.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.decode_provider(&row).await?);
        }
        Ok(out)
    }

    pub async fn provider(&self, name: &str) -> Result<Option<StoredProvider>, StoreError> {
        let row = sqlx::query(
            "SELECT name, config, source, file_hash FROM config_providers WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.inner.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.decode_provider(&row).await?)),
            None => Ok(None),
        }
    }

    async fn decode_provider(&self, row: &sqlx::any::AnyRow) -> Result<StoredProvider, StoreError> {
        let name = get_string(row, 0)?;
        let config = self.read_json(&get_string(row, 1)?, &format!("provider {name} config"))?;
        let keys = sqlx::query(
            "SELECT id, name, value, config FROM config_keys WHERE provider = $1 ORDER BY position, id",
        )
        .bind(name.clone())
        .fetch_all(&self.inner.pool)
        .await?
        .iter()
        .map(|k| {
            let id = get_string(k, 0)?;
            let entity = format!("provider {name} key {id}");
            Ok(StoredKey {
                name: get_string(k, 1)?,
                value: open(self.cipher(), &get_string(k, 2)?, &format!("{entity} value"))?,
                config: self.read_json(&get_string(k, 3)?, &format!("{entity} config"))?,
                id,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(StoredProvider {
            config,
            keys,
            source: get_string(row, 2)?,
            file_hash: get_opt_string(row, 3)?,
            name,
        })
    }

    fn write_json(&self, v: &Value) -> String {
        seal(self.cipher(), &v.to_string())
    }

    fn read_json(&self, stored: &str, entity: &str) -> Result<Value, StoreError> {
        let text = open(self.cipher(), stored, entity)?;
        serde_json::from_str(&text).map_err(|e| StoreError::corrupt(entity, e))
    }

    /// Upserts the provider and replaces its keys, in one transaction.
    pub async fn put_provider(&self, p: &StoredProvider) -> Result<(), StoreError> {
        let mut tx = self.inner.pool.begin().await?;
        self.put_provider_in(&mut tx, p).await?;
        self.commit(tx, true).await
    }

    async fn put_provider_in(
        &self,
        conn: &mut AnyConnection,
        p: &StoredProvider,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO config_providers (name, position, config, source, file_hash, updated_at) \
             VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM config_providers), $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET config = excluded.config, source = excluded.source, \
             file_hash = excluded.file_hash, updated_at = excluded.updated_at",
        )
        .bind(p.name.clone())
        .bind(self.write_json(&p.config))
        .bind(p.source.clone())
        .bind(p.file_hash.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM config_keys WHERE provider = $1")
            .bind(p.name.clone())
            .execute(&mut *conn)
            .await?;
        for (i, k) in p.keys.iter().enumerate() {
            sqlx::query(
                "INSERT INTO config_keys (provider, id, position, name, value, config, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(p.name.clone())
            .bind(k.id.clone())
            .bind(i as i64)
            .bind(k.name.clone())
            .bind(seal(self.cipher(), &k.value))
            .bind(self.write_json(&k.config))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub async fn delete_provider(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query("DELETE FROM config_keys WHERE provider = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?;
        self.delete_in(tx, "DELETE FROM config_providers WHERE name = $1", &[name])
            .await
    }

    /// Upserts one key by id; the provider must exist.
    pub async fn put_key(&self, provider: &str, k: &StoredKey) -> Result<(), StoreError> {
        let mut tx = self.inner.pool.begin().await?;
        let exists = sqlx::query("SELECT name FROM config_providers WHERE name = $1")
            .bind(provider.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::InvalidArgument(format!(
                "provider {provider} does not exist"
            )));
        }
        sqlx::query(
            "INSERT INTO config_keys (provider, id, position, name, value, config, updated_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM config_keys WHERE provider = $1), \
             $3, $4, $5, $6) \
             ON CONFLICT (provider, id) DO UPDATE SET name = excluded.name, value = excluded.value, \
             config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(provider.to_string())
        .bind(k.id.clone())
        .bind(k.name.clone())
        .bind(seal(self.cipher(), &k.value))
        .bind(self.write_json(&k.config))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        self.commit(tx, true).await
    }

    pub async fn delete_key(&self, provider: &str, id: &str) -> Result<bool, StoreError> {
        self.delete_one(
            "DELETE FROM config_keys WHERE provider = $1 AND id = $2",
            provider,
            id,
        )
        .await
    }

    pub async fn client_config(&self) -> Result<Option<Value>, StoreError> {
        self.get_kv(CLIENT_NS, CLIENT_KEY).await
    }

    pub async fn put_client_config(&self, v: &Value) -> Result<(), StoreError> {
        self.put_kv(CLIENT_NS, CLIENT_KEY, v).await
    }

    /// A value of the generic key/value table (encrypted at rest like everything else).
    pub async fn get_kv(&self, ns: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM config_kv WHERE ns = $1 AND key = $2")
            .bind(ns.to_string())
            .bind(key.to_string())
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| self.read_json(&get_string(&r, 0)?, &format!("kv {ns}/{key}")))
            .transpose()
    }

    pub async fn put_kv(&self, ns: &str, key: &str, v: &Value) -> Result<(), StoreError> {
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query(
            "INSERT INTO config_kv (ns, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(ns.to_string())
        .bind(key.to_string())
        .bind(self.write_json(v))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        self.commit(tx, true).await
    }

    pub async fn delete_kv(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.delete_one("DELETE FROM config_kv WHERE ns = $1 AND key = $2", ns, key)
            .await
    }

    /// Every `(key, value)` of a namespace, ordered by key.
    pub async fn list_kv(&self, ns: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM config_kv WHERE ns = $1 ORDER BY key")
            .bind(ns.to_string())
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let key = get_string(r, 0)?;
                let v = self.read_json(&get_string(r, 1)?, &format!("kv {ns}/{key}"))?;
                Ok((key, v))
            })
            .collect()
    }

    /// Merges config.json's providers into the store by the rule of §4.8 and returns one
    /// decision per provider. A provider's `file_hash` is computed here when it has none.
    pub async fn import_file(
        &self,
        providers: &[StoredProvider],
        mode: SourceOfTruth,
    ) -> Result<Vec<ImportDecision>, StoreError> {
        let mut decisions = Vec::with_capacity(providers.len());
        for p in providers {
            let hash = p.file_hash.clone().unwrap_or_else(|| content_hash(p));
            let existing = self.provider(&p.name).await?;
            let decision = |winner: &'static str, reason: &str| ImportDecision {
                provider: p.name.clone(),
                winner,
                reason: reason.to_string(),
            };
            let (import, d) = match (mode, &existing) {
                (_, None) => (
                    true,
                    decision("config.json", "not in the database yet; imported"),
                ),
                (SourceOfTruth::ConfigJson, Some(_)) => (
                    true,
                    decision(
                        "config.json",
                        "source_of_truth is config.json; the file wins",
                    ),
                ),
                (SourceOfTruth::Database, Some(_)) => (
                    false,
                    decision(
                        "database",
                        "source_of_truth is database; config.json ignored",
                    ),
                ),
                (SourceOfTruth::Split, Some(db)) if db.file_hash.as_deref() == Some(&hash) => (
                    false,
                    decision(
                        "database",
                        "unchanged in config.json since it was imported; keeping the database copy",
                    ),
                ),
                (SourceOfTruth::Split, Some(_)) => (
                    true,
                    decision(
                        "config.json",
                        "changed in config.json since it was imported; the file wins",
                    ),
                ),
            };
            if import {
                let mut stored = p.clone();
                stored.source = "file".to_string();
                stored.file_hash = Some(hash);
                self.put_provider(&stored).await?;
            }
            decisions.push(d);
        }
        Ok(decisions)
    }

    /// Fires after every change made through this store and, on PostgreSQL, after changes made
    /// by other processes on the same database (and once after the listener reconnects, since
    /// changes may have been missed).
    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.inner.changes.subscribe()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.inner.pool).await?;
        Ok(())
    }

    /// Commits a write. When it changed something, the other instances are told inside the
    /// transaction and this one's subscribers after it.
    async fn commit(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        changed: bool,
    ) -> Result<(), StoreError> {
        if changed {
            self.notify_in(&mut tx).await?;
        }
        tx.commit().await?;
        if changed {
            self.changed();
        }
        Ok(())
    }

    /// Deletes the row with a two-column key; whether there was one.
    async fn delete_one(&self, sql: &'static str, a: &str, b: &str) -> Result<bool, StoreError> {
        let tx = self.inner.pool.begin().await?;
        self.delete_in(tx, sql, &[a, b]).await
    }

    /// Deletes the row `sql` names by `key` as the last write of `tx`, and commits; whether
    /// there was one.
    async fn delete_in(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        sql: &'static str,
        key: &[&str],
    ) -> Result<bool, StoreError> {
        let mut query = sqlx::query(sql);
        for k in key {
            query = query.bind(k.to_string());
        }
        let n = query.execute(&mut *tx).await?.rows_affected();
        self.commit(tx, n > 0).await?;
        Ok(n > 0)
    }

    async fn notify_in(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.inner.kind == Kind::Postgres {
            // pg_notify returns `void`, which the Any driver cannot decode; count it instead.
            sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_notify($1, $2)) AS n")
                .bind(CHANNEL)
                .bind(self.inner.instance.clone())
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn changed(&self) {
        let _ = self.inner.changes.send(());
    }
}

/// Hex SHA-256 of the provider's config and keys as config.json gave them.
fn content_hash(p: &StoredProvider) -> String {
    let canonical = serde_json::json!({"config": p.config, "keys": p.keys});
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn connect_listener(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut l = sqlx::postgres::PgListener::connect(url).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

/// Forwards other processes' NOTIFYs to subscribers, reconnecting when the connection drops.
async fn listen(
    mut l: sqlx::postgres::PgListener,
    url: String,
    me: String,
    changes: broadcast::Sender<()>,
) {
    loop {
        loop {
            match l.try_recv().await {
                Ok(Some(n)) => {
                    if n.payload() != me {
                        let _ = changes.send(());
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "config change listener failed; reconnecting");
                    break;
                }
            }
        }
        l = loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match connect_listener(&url).await {
                Ok(l) => break l,
                Err(error) => tracing::warn!(%error, "config change listener cannot reconnect"),
            }
        };
        // Changes made while we were away were not seen: tell subscribers to reload.
        let _ = changes.send(());
    }
}
