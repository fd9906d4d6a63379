//! The management API end to end: providers and keys changed over HTTP serve the next request
//! with no restart and no failed request, survive a restart through the config store, and
//! reach other replicas sharing a PostgreSQL config store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn chat_status(gw: &TestGateway, model: &str) -> u16 {
    let body = json!({"model": model, "messages":[{"role":"user","content":"hi"}]});
    post_json(gw, "/v1/chat/completions", &body, &[])
        .await
        .status()
        .as_u16()
}

/// A gateway on [`base_config`] that keeps its stores in `dir`, to share them with a restart.
async fn start_in(dir: &std::path::Path, mock: &MockServer) -> TestGateway {
    let cli = Cli {
        app_dir: Some(dir.to_owned()),
        ..Cli::default()
    };
    start_with(&base_config(mock), &[], cli).await
}

/// Fails with `what` unless `done` holds within 5 s (replicas hear of changes through
/// PostgreSQL, rows are written in batches).
async fn within_5s(what: &str, done: impl AsyncFnMut() -> bool) {
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(50),
        what,
        done,
    )
    .await
}

fn base_config(mock: &MockServer) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"id":"oa-1","value":"sk-file-key-0123456789"}}],
            "network_config":{{"base_url":"{}","retries":0}}}}}}}}"#,
        mock.url()
    )
}

#[tokio::test]
async fn providers_and_keys_change_over_the_api_and_survive_a_restart() {
    use reqwest::Method as M;
    // The upstream's model list, which keys naming models are checked against.
    let mut models = MockConfig::default().models;
    models.extend(["llama-3".to_owned(), "other-model".to_owned()]);
    let mock = start_mock(MockConfig {
        models,
        ..MockConfig::default()
    })
    .await;
    let dir = app_dir();
    let gw = start_in(&dir, &mock).await;

    // The file's provider is listed with its key masked.
    let (s, list) = call(&gw, M::GET, "/api/providers", None).await;
    assert_eq!(s, 200);
    let oa = &list["providers"][0];
    assert_eq!(
        (oa["name"].as_str(), oa["source"].as_str()),
        (Some("openai"), Some("file"))
    );
    assert_eq!(oa["keys"][0]["value"], "****6789");
    assert!(!list.to_string().contains("sk-file-key"));

    // A new provider serves the next request.
    assert_eq!(chat_status(&gw, "groq/llama-3").await, 400);
    let (s, created) = call(
        &gw,
        M::POST,
        "/api/providers",
        Some(
            json!({"name":"groq","keys":[{"name":"g1","value":"gsk-secret-value-123456"}],
                    "network_config":{"base_url": mock.url(), "retries":0}}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["keys"][0]["value"], "****3456");
    assert_eq!(chat_status(&gw, "groq/llama-3").await, 200);

    // Keys: add one limited to a model, then remove the original.
    let add_key = async |value: &str| {
        let key = json!({"name":"g2","value":value,"models":["llama-3"]});
        call(&gw, M::POST, "/api/providers/groq/keys", Some(key)).await
    };
    let (s, key) = add_key("env.GROQ_TEST_KEY_UNSET").await;
    assert_eq!(s, 422, "an env reference that is not set: {key}");
    assert!(key["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GROQ_TEST_KEY_UNSET"));
    let (s, key) = add_key("gsk-second-key-abcdef").await;
    assert_eq!(s, 201, "{key}");
    let id = key["id"].as_str().unwrap().to_owned();
    let (s, _) = call(&gw, M::DELETE, "/api/providers/groq/keys/groq-0", None).await;
    assert_eq!(s, 200);
    // Only the model-limited key is left.
    let (_, g) = call(&gw, M::GET, "/api/providers/groq", None).await;
    eprintln!("{g}");
    assert_eq!(
        chat_status(&gw, "groq/llama-3").await,
        200,
        "{:?}",
        mock.last_request()
    );
    assert_ne!(chat_status(&gw, "groq/other-model").await, 200);
    // A PUT that sends the masked value back keeps the secret.
    let (s, _) = call(
        &gw,
        M::PUT,
        &format!("/api/providers/groq/keys/{id}"),
        Some(json!({"name":"g2","value":"****cdef","models":["llama-3","other-model"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(chat_status(&gw, "groq/other-model").await, 200);
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some("Bearer gsk-second-key-abcdef")
    );

    // Bad input names its field.
    let key_path = format!("/api/providers/groq/keys/{id}");
    for (method, path, body, status, param) in [
        (M::POST, "/api/providers", json!({"keys":[]}), 400, "name"),
        (M::POST, "/api/providers", json!({"name":"openai"}), 409, ""),
        (
            M::POST,
            "/api/providers",
            json!({"name":"cerebras","colour":"red"}),
            400,
            "providers.cerebras.colour",
        ),
        (
            M::POST,
            "/api/providers",
            json!({"name":"mistral","keys":[{"value":"k","weight":"heavy"}]}),
            422,
            "providers.mistral.keys[0].weight",
        ),
        (
            M::POST,
            "/api/providers",
            json!({"name":"not-a-provider","keys":[{"value":"k"}]}),
            422,
            "",
        ),
        (M::PUT, "/api/providers/nope", json!({}), 404, ""),
        (M::DELETE, "/api/providers/nope", Value::Null, 404, ""),
        (
            M::POST,
            "/api/providers/nope/keys",
            json!({"value":"k"}),
            404,
            "",
        ),
        // A model the provider's upstream does not list.
        (
            M::POST,
            "/api/providers/groq/keys",
            json!({"value":"gsk-third-key-000000","models":["llama-3","llama-9000"]}),
            422,
            "models[1]",
        ),
        (
            M::PUT,
            key_path.as_str(),
            json!({"value":"****cdef","models":["no-such-model"]}),
            422,
            "models[0]",
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (s, e) = call(&gw, method.clone(), path, body).await;
        assert_eq!(s, status, "{method} {path}: {e}");
        if !param.is_empty() {
            assert_eq!(e["error"]["param"], param, "{method} {path}: {e}");
        }
    }
    let r = post_raw(&gw, "/api/providers", "{oops", &[]).await;
    assert_eq!(r.status(), 400);
    gw.stop().await;

    // A restart on the same app dir serves what the API added.
    let gw = start_in(&dir, &mock).await;
    assert_eq!(chat_status(&gw, "groq/other-model").await, 200);
    let (_, g) = call(&gw, M::GET, "/api/providers/groq", None).await;
    assert_eq!(g["source"], "api");
    // Deleting it stops serving it.
    let (s, _) = call(&gw, M::DELETE, "/api/providers/groq", None).await;
    assert_eq!(s, 200);
    assert_eq!(chat_status(&gw, "groq/llama-3").await, 400);
    gw.stop().await;
}

#[tokio::test]
async fn keys_change_under_load_without_a_failed_request() {
    use reqwest::Method as M;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Arc::new(start(&base_config(&mock)).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if chat_status(&gw, "openai/gpt-4o-mini").await == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for i in 0..20 {
        let (s, _) = call(
            &gw,
            M::POST,
            "/api/providers/openai/keys",
            Some(json!({"id": format!("k{i}"), "value": format!("sk-rotating-{i}")})),
        )
        .await;
        assert_eq!(s, 201);
        // Remove the previous key (the file's first): one key is always left.
        let old = if i == 0 {
            "oa-1".to_owned()
        } else {
            format!("k{}", i - 1)
        };
        let (s, _) = call(
            &gw,
            M::DELETE,
            &format!("/api/providers/openai/keys/{old}"),
            None,
        )
        .await;
        assert_eq!(s, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) > 50, "{ok:?}");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some("Bearer sk-rotating-19")
    );
}

#[tokio::test]
async fn with_config_json_as_source_of_truth_file_providers_are_read_only() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = base_config(&mock).replacen('{', r#"{"source_of_truth":"config.json","#, 1);
    let gw = start(&config).await;
    let (s, e) = call(&gw, reqwest::Method::DELETE, "/api/providers/openai", None).await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("config.json"));
    assert_eq!(chat_status(&gw, "openai/gpt-4o-mini").await, 200);
    gw.stop().await;
}

/// A fresh database on the test PostgreSQL, as a `config_store` section.
/// `base_config` with a config store in a new database on the test PostgreSQL (named `db`
/// and this process's id), for replicas that share it; `None` (skipped) without PostgreSQL.
fn shared_store_config(mock: &MockServer, db: &str) -> Option<String> {
    let Ok(url) = std::env::var("BIFROST_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("BIFROST_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "BIFROST_REQUIRE_POSTGRES=1 but BIFROST_TEST_POSTGRES_URL is not set"
        );
        eprintln!("skipped: BIFROST_TEST_POSTGRES_URL is not set");
        return None;
    };
    let section = postgres_section(&url, &format!("{db}_{}", std::process::id()));
    Some(base_config(mock).replacen(
        '{',
        &format!(r#"{{"config_store":{section},"logs_store":{{"enabled":false}},"#),
        1,
    ))
}

/// Two gateways sharing a config store (see [`shared_store_config`]), or `None` (skipped).
async fn replicas(mock: &MockServer, db: &str) -> Option<(TestGateway, TestGateway)> {
    let config = shared_store_config(mock, db)?;
    Some((start(&config).await, start(&config).await))
}

fn postgres_section(url: &str, db: &str) -> Value {
    let status = std::process::Command::new("psql")
        .args([url, "-q", "-c", &format!("CREATE DATABASE {db}")])
        .status()
        .expect("psql runs");
    assert!(status.success());
    let rest = url.strip_prefix("postgres://").unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let (hostport, _) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    json!({"enabled": true, "type": "postgres", "config": {
        "host": host, "port": port, "user": user, "password": "", "db_name": db, "ssl_mode": "disable"
    }})
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_the_other_through_postgres() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let Some((a, b)) = replicas(&mock, "bifrost_replicas").await else {
        return;
    };
    assert_eq!(chat_status(&b, "groq/llama-3").await, 400);
    let (s, _) = call(
        &a,
        reqwest::Method::POST,
        "/api/providers",
        Some(json!({"name":"groq","keys":[{"value":"gsk-shared"}],
                    "network_config":{"base_url": mock.url(), "retries":0}})),
    )
    .await;
    assert_eq!(s, 201);
    let t = Instant::now();
    within_5s("replica b never saw the change", async || {
        chat_status(&b, "groq/llama-3").await == 200
    })
    .await;
    eprintln!("replica b served the new provider after {:?}", t.elapsed());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_virtual_key_made_on_one_replica_works_on_the_other_through_postgres() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let Some((a, b)) = replicas(&mock, "bifrost_governance").await else {
        return;
    };
    let (s, vk) = call(
        &a,
        reqwest::Method::POST,
        "/api/governance/virtual-keys",
        Some(json!({"id":"shared","name":"shared"})),
    )
    .await;
    assert_eq!(s, 201, "{vk}");
    let value = vk["value"].as_str().unwrap().to_owned();
    let body = json!({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]});
    let send = async |gw: &TestGateway| {
        post_json(gw, "/v1/chat/completions", &body, &[("x-bf-vk", &value)])
            .await
            .status()
    };
    within_5s("replica b never saw the key", async || {
        send(&b).await == 200
    })
    .await;
    // Switched off on b: refused on a.
    let (s, _) = call(
        &b,
        reqwest::Method::PUT,
        "/api/governance/virtual-keys/shared",
        Some(json!({"name":"shared","is_active":false})),
    )
    .await;
    assert_eq!(s, 200);
    within_5s("replica a never saw the change", async || {
        send(&a).await == 401
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn client_settings_change_at_once_or_after_a_restart() {
    use reqwest::Method as M;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = app_dir();
    let gw = start_in(&dir, &mock).await;
    let (s, c) = call(&gw, M::GET, "/api/config", None).await;
    assert_eq!(s, 200);
    assert_eq!(c["client"]["disable_content_logging"], false);
    let (s, c) = call(
        &gw,
        M::PUT,
        "/api/config",
        Some(json!({"client":{"disable_content_logging":true,"initial_pool_size":7}})),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["client"]["disable_content_logging"], true);
    assert_eq!(c["restart_required"], json!(["initial_pool_size"]));
    // Applies to the next request's log row at once.
    let r = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"private"}]}),
        &[("x-request-id", "after-put")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let row = eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || match call(&gw, M::GET, "/api/logs/after-put", None).await {
            (200, row) => Ok(row),
            (s, e) => Err(format!("{s} {e}")),
        },
    )
    .await;
    assert!(row["input"].is_null() && row["output"].is_null(), "{row}");
    for (body, param) in [
        (json!({"client":{"colour":"red"}}), "client.colour"),
        (
            json!({"log_retention_days":"long"}),
            "client.log_retention_days",
        ),
        (json!({"log_retention_days":0}), "log_retention_days"),
    ] {
        let (s, e) = call(&gw, M::PUT, "/api/config", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["error"]["param"], param, "{body}: {e}");
    }
    gw.stop().await;
    // After a restart both changes are in effect.
    let gw = start_in(&dir, &mock).await;
    let (_, c) = call(&gw, M::GET, "/api/config", None).await;
    assert_eq!(c["client"]["disable_content_logging"], true, "{c}");
    assert_eq!(c["client"]["initial_pool_size"], 7, "{c}");
    gw.stop().await;
}
