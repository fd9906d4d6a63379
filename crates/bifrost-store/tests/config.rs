//! The config store: CRUD, encryption at rest, config.json import rules, schema refusal and
//! cross-process change notification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bifrost_store::{Cipher, ConfigStore, SourceOfTruth, StoredKey, StoredProvider};
use common::{assert_newer_schema_refused, TestDb};
use serde_json::{json, Value};
use sqlx::Row;

fn key(id: &str, value: &str) -> StoredKey {
    StoredKey {
        id: id.into(),
        name: format!("{id}-name"),
        value: value.into(),
        config: json!({"models": ["*"], "weight": 1.0, "bedrock_key_config": {"secret_key": format!("aws-{value}")}}),
    }
}

fn provider(name: &str, keys: Vec<StoredKey>) -> StoredProvider {
    StoredProvider {
        name: name.into(),
        config: json!({"network_config": {"base_url": format!("https://{name}.example")}, "proxy_config": {"password": "proxy-pw"}}),
        keys,
        source: "api".into(),
        file_hash: None,
    }
}

async fn crud(db: &TestDb) {
    let store = ConfigStore::open(&db.backend, None).await.unwrap();
    let mut changes = store.subscribe();
    assert!(store.providers().await.unwrap().is_empty());
    let openai = provider(
        "openai",
        vec![key("k1", "sk-1"), key("k2", "env.OPENAI_KEY")],
    );
    let anthropic = provider("anthropic", vec![key("a1", "sk-ant")]);
    store.put_provider(&openai).await.unwrap();
    store.put_provider(&anthropic).await.unwrap();
    changes.recv().await.unwrap();
    assert_eq!(
        store.providers().await.unwrap(),
        vec![openai.clone(), anthropic.clone()]
    );
    assert_eq!(
        store.provider("openai").await.unwrap(),
        Some(openai.clone())
    );
    assert_eq!(store.provider("nope").await.unwrap(), None);

    // Upsert keeps insertion order and replaces keys.
    let mut openai2 = openai.clone();
    openai2.keys = vec![key("k3", "sk-3")];
    openai2.config = json!({"network_config": {"max_retries": 4}});
    store.put_provider(&openai2).await.unwrap();
    assert_eq!(
        store.providers().await.unwrap(),
        vec![openai2.clone(), anthropic.clone()]
    );

    // Keys by id.
    store.put_key("openai", &key("k4", "sk-4")).await.unwrap();
    store
        .put_key("openai", &key("k3", "sk-3-rotated"))
        .await
        .unwrap();
    let keys = store.provider("openai").await.unwrap().unwrap().keys;
    assert_eq!(keys, vec![key("k3", "sk-3-rotated"), key("k4", "sk-4")]);
    assert!(store.put_key("ghost", &key("x", "y")).await.is_err());
    assert!(store.delete_key("openai", "k3").await.unwrap());
    assert!(!store.delete_key("openai", "k3").await.unwrap());
    assert_eq!(
        store.provider("openai").await.unwrap().unwrap().keys,
        vec![key("k4", "sk-4")]
    );

    assert!(store.delete_provider("anthropic").await.unwrap());
    assert!(!store.delete_provider("anthropic").await.unwrap());
    assert_eq!(store.providers().await.unwrap().len(), 1);

    // Client config and the generic kv table.
    assert_eq!(store.client_config().await.unwrap(), None);
    let client = json!({"drop_excess_requests": true, "prometheus_labels": ["team"]});
    store.put_client_config(&client).await.unwrap();
    assert_eq!(store.client_config().await.unwrap(), Some(client));
    store
        .put_kv("governance", "vk-2", &json!({"name": "b"}))
        .await
        .unwrap();
    store
        .put_kv("governance", "vk-1", &json!({"name": "a"}))
        .await
        .unwrap();
    store
        .put_kv("governance", "vk-1", &json!({"name": "a2"}))
        .await
        .unwrap();
    store.put_kv("sessions", "s", &json!(1)).await.unwrap();
    assert_eq!(
        store.get_kv("governance", "vk-1").await.unwrap(),
        Some(json!({"name": "a2"}))
    );
    assert_eq!(
        store.list_kv("governance").await.unwrap(),
        vec![
            ("vk-1".to_string(), json!({"name": "a2"})),
            ("vk-2".to_string(), json!({"name": "b"}))
        ]
    );
    assert!(store.delete_kv("governance", "vk-2").await.unwrap());
    assert!(!store.delete_kv("governance", "vk-2").await.unwrap());
    assert_eq!(store.get_kv("governance", "vk-2").await.unwrap(), None);
    store.ping().await.unwrap();

    // Everything survives a reopen.
    drop(store);
    let store = ConfigStore::open(&db.backend, None).await.unwrap();
    assert_eq!(
        store.provider("openai").await.unwrap().unwrap().keys,
        vec![key("k4", "sk-4")]
    );
}

async fn raw_texts(db: &TestDb) -> String {
    let raw = db.raw().await;
    let mut all = String::new();
    for sql in [
        "SELECT value || ' ' || config FROM config_keys",
        "SELECT config FROM config_providers",
        "SELECT value FROM config_kv",
    ] {
        for row in sqlx::query(sql).fetch_all(&raw).await.unwrap() {
            all.push_str(&row.try_get::<String, _>(0).unwrap());
            all.push('\n');
        }
    }
    all
}

async fn encryption_at_rest(db: &TestDb) {
    // Written before encryption was turned on: plaintext, still readable afterwards.
    let plain = ConfigStore::open(&db.backend, None).await.unwrap();
    plain
        .put_provider(&provider("legacy", vec![key("l1", "sk-legacy-plain")]))
        .await
        .unwrap();
    drop(plain);
    assert!(raw_texts(db).await.contains("sk-legacy-plain"));

    let store = ConfigStore::open(&db.backend, Some(Cipher::from_passphrase("pass-1")))
        .await
        .unwrap();
    let mut p = provider("openai", vec![key("k1", "sk-very-secret-1")]);
    p.config["proxy_config"]["password"] = json!("proxy-very-secret");
    store.put_provider(&p).await.unwrap();
    store
        .put_kv("secrets", "admin", &json!({"token": "tok-very-secret"}))
        .await
        .unwrap();
    assert_eq!(store.provider("openai").await.unwrap(), Some(p.clone()));
    assert_eq!(first_key(&store, "legacy").await, "sk-legacy-plain");
    assert_eq!(
        store.get_kv("secrets", "admin").await.unwrap(),
        Some(json!({"token": "tok-very-secret"}))
    );

    let raw = raw_texts(db).await;
    for secret in [
        "sk-very-secret-1",
        "aws-sk-very-secret-1",
        "tok-very-secret",
        "proxy-very-secret",
    ] {
        assert!(!raw.contains(secret), "{secret} stored in clear:\n{raw}");
    }
    assert!(raw.contains("enc:v1:"));
    drop(store);

    let wrong = ConfigStore::open(&db.backend, Some(Cipher::from_passphrase("pass-2")))
        .await
        .unwrap();
    let err = wrong.provider("openai").await.unwrap_err().to_string();
    assert!(err.starts_with("provider openai "), "{err}");
    assert!(err.contains("wrong encryption key"), "{err}");
    assert!(!err.contains("sk-very"), "{err}");
    let err = wrong
        .get_kv("secrets", "admin")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("kv secrets/admin"), "{err}");

    let none = ConfigStore::open(&db.backend, None).await.unwrap();
    let err = none.providers().await.unwrap_err().to_string();
    assert!(err.contains("no encryption key is configured"), "{err}");
}

/// Imports `file` in `mode`; which side won for each provider.
async fn import(
    store: &ConfigStore,
    file: &[StoredProvider],
    mode: SourceOfTruth,
) -> Vec<(String, &'static str)> {
    let d = store.import_file(file, mode).await.unwrap();
    d.iter().map(|d| (d.provider.clone(), d.winner)).collect()
}

/// The value of provider `name`'s first key.
async fn first_key(store: &ConfigStore, name: &str) -> String {
    store.provider(name).await.unwrap().unwrap().keys[0]
        .value
        .clone()
}

async fn import_file_modes(db: &TestDb) {
    let store = ConfigStore::open(&db.backend, None).await.unwrap();
    let file_v1 = vec![
        provider("openai", vec![key("k1", "sk-file-1")]),
        provider("anthropic", vec![key("a1", "sk-ant-file")]),
    ];

    // Split: new → imported.
    assert_eq!(
        import(&store, &file_v1, SourceOfTruth::Split).await,
        vec![
            ("openai".into(), "config.json"),
            ("anthropic".into(), "config.json")
        ]
    );
    let stored = store.provider("openai").await.unwrap().unwrap();
    assert_eq!(stored.source, "file");
    assert!(stored.file_hash.is_some());

    // A UI edit (keeping the hash) survives a restart with an unchanged file.
    let mut edited = stored.clone();
    edited.keys = vec![key("k1", "sk-edited-in-ui")];
    store.put_provider(&edited).await.unwrap();
    assert_eq!(
        import(&store, &file_v1, SourceOfTruth::Split).await,
        vec![
            ("openai".into(), "database"),
            ("anthropic".into(), "database")
        ]
    );
    assert_eq!(first_key(&store, "openai").await, "sk-edited-in-ui");

    // The file changes for openai only → file wins for openai, DB for anthropic.
    let mut file_v2 = file_v1.clone();
    file_v2[0].keys = vec![key("k1", "sk-file-2")];
    assert_eq!(
        import(&store, &file_v2, SourceOfTruth::Split).await,
        vec![
            ("openai".into(), "config.json"),
            ("anthropic".into(), "database")
        ]
    );
    assert_eq!(first_key(&store, "openai").await, "sk-file-2");

    // Database: only providers the store lacks are imported.
    store
        .put_key("anthropic", &key("a1", "sk-ant-ui"))
        .await
        .unwrap();
    let mut file_v3 = file_v2.clone();
    file_v3[1].keys = vec![key("a1", "sk-ant-file-3")];
    file_v3.push(provider("gemini", vec![key("g1", "g-file")]));
    assert_eq!(
        import(&store, &file_v3, SourceOfTruth::Database).await,
        vec![
            ("openai".into(), "database"),
            ("anthropic".into(), "database"),
            ("gemini".into(), "config.json")
        ]
    );
    assert_eq!(first_key(&store, "anthropic").await, "sk-ant-ui");
    assert!(store.provider("gemini").await.unwrap().is_some());

    // ConfigJson: the file wins for every provider it names, even unchanged ones.
    store.put_key("gemini", &key("g1", "g-ui")).await.unwrap();
    let d = store
        .import_file(&file_v3, SourceOfTruth::ConfigJson)
        .await
        .unwrap();
    assert!(
        d.iter()
            .all(|d| d.winner == "config.json" && !d.reason.is_empty()),
        "{d:?}"
    );
    assert_eq!(first_key(&store, "anthropic").await, "sk-ant-file-3");
    assert_eq!(first_key(&store, "gemini").await, "g-file");
    // Providers only in the database are left alone.
    store
        .put_provider(&provider("ui-only", vec![]))
        .await
        .unwrap();
    store
        .import_file(&file_v3, SourceOfTruth::ConfigJson)
        .await
        .unwrap();
    assert!(store.provider("ui-only").await.unwrap().is_some());

    let mode: SourceOfTruth = serde_json::from_value(Value::from("config.json")).unwrap();
    assert_eq!(mode, SourceOfTruth::ConfigJson);
}

async fn newer_schema_is_refused(db: &TestDb) {
    let open = async || ConfigStore::open(&db.backend, None).await;
    assert_newer_schema_refused(db, "config", ConfigStore::schema_version(), open).await;
}

on_both_backends!(
    crud,
    encryption_at_rest,
    import_file_modes,
    newer_schema_is_refused
);

/// Two processes on one database: a write through one fires the other's subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_reach_other_instances() {
    let Some(db) = TestDb::postgres("notify").await else {
        return;
    };
    let a = ConfigStore::open(&db.backend, None).await.unwrap();
    let b = ConfigStore::open(&db.backend, None).await.unwrap();
    let mut on_b = b.subscribe();
    let mut on_a = a.subscribe();
    a.put_provider(&provider("openai", vec![key("k1", "sk")]))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .expect("b was not told about a's write")
        .unwrap();
    assert_eq!(first_key(&b, "openai").await, "sk");
    // a hears its own write once (locally), not again through NOTIFY.
    on_a.recv().await.unwrap();
    b.put_kv("ns", "k", &json!(1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), on_a.recv())
        .await
        .expect("a was not told about b's write")
        .unwrap();
    assert!(on_a.try_recv().is_err(), "no duplicate notification");
}
