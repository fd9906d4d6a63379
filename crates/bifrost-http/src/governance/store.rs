//! Entities in the config store (namespace `governance`, keys `<kind>:<id>`).

use super::model::Entities;
use serde_json::Value;

pub const NS: &str = "governance";

pub async fn load(store: &bifrost_store::ConfigStore) -> Result<Entities, String> {
    let rows = store.list_kv(NS).await.map_err(|e| e.to_string())?;
    let mut e = Entities::default();
    for (key, v) in rows {
        let kind = key.split_once(':').map_or("", |(k, _)| k);
        let bad = |err: serde_json::Error| format!("stored governance entity {key}: {err}");
        match kind {
            "budget" => e.budgets.push(serde_json::from_value(v).map_err(bad)?),
            "rate_limit" => e.rate_limits.push(serde_json::from_value(v).map_err(bad)?),
            "customer" => e.customers.push(serde_json::from_value(v).map_err(bad)?),
            "team" => e.teams.push(serde_json::from_value(v).map_err(bad)?),
            "virtual_key" => e.virtual_keys.push(serde_json::from_value(v).map_err(bad)?),
            "model_config" => e
                .model_configs
                .push(serde_json::from_value(v).map_err(bad)?),
            _ => {}
        }
    }
    Ok(e)
}

pub async fn put(
    store: &bifrost_store::ConfigStore,
    kind: &str,
    id: &str,
    v: &Value,
) -> Result<(), String> {
    store
        .put_kv(NS, &format!("{kind}:{id}"), v)
        .await
        .map_err(|e| e.to_string())
}

pub async fn delete(
    store: &bifrost_store::ConfigStore,
    kind: &str,
    id: &str,
) -> Result<bool, String> {
    store
        .delete_kv(NS, &format!("{kind}:{id}"))
        .await
        .map_err(|e| e.to_string())
}
