//! Reliability under upstream faults: retries, key health, fallbacks, queues, timeouts,
//! aliases, pinning, sessions and connection reuse — client → gateway → mock over loopback.
//! (Retry, cooldown, queue and drain policies are tested on a paused clock in
//! `bifrost-core/tests/engine.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_mock::{MockConfig, MockServer};
use common::*;
use futures::future::join_all;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BODY: &str = r#"{"provider":"openai","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

async fn mock(cfg: MockConfig) -> MockServer {
    start_mock(cfg).await
}

/// A mock config that answers after `latency`.
fn slow(latency: Duration) -> MockConfig {
    MockConfig {
        latency,
        ..MockConfig::default()
    }
}

/// One OpenAI provider with the key `k` at `up`; `net` is spliced into its network_config.
fn openai_at(up: &MockServer, net: &str) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],
            "network_config":{{"base_url":"{}"{net}}}}}}}}}"#,
        up.url()
    )
}

async fn post_with(gw: &TestGateway, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let req = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .body(body.to_owned());
    with_headers(req, headers).send().await.unwrap()
}

/// Sends `n` requests, `parallel` at a time; returns the statuses.
async fn blast(gw: &TestGateway, body: &str, n: usize, parallel: usize) -> Vec<u16> {
    let url = Arc::new(format!("{}/v1/chat/completions", gw.url));
    let c = client();
    let mut statuses = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(parallel) {
        let futs = batch.iter().map(|_| {
            let (c, url, body) = (c.clone(), url.clone(), body.to_owned());
            async move {
                c.post(url.as_str())
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        statuses.extend(join_all(futs).await);
    }
    statuses
}

#[tokio::test]
async fn all_keys_rate_limited_gives_429_with_the_soonest_retry_after() {
    let up = mock(MockConfig {
        fail_keys: vec!["sk-a".into(), "sk-b".into()],
        fail_status: 429,
        retry_after: Some(Duration::from_secs(3)),
        ..MockConfig::default()
    })
    .await;
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"sk-a"}},{{"value":"sk-b"}}],
            "network_config":{{"base_url":"{}"}}}}}}}}"#,
        up.url()
    );
    let gw = start(&config).await;
    let resp = post_with(&gw, BODY, &[]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(up.stats().requests, 2, "both keys tried once");
    // Now every key cools down: the gateway answers itself, without calling upstream.
    let resp = post_with(&gw, BODY, &[]).await;
    assert_eq!(resp.status(), 429);
    let ra: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&ra), "{ra}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_rate_limited");
    assert_eq!(up.stats().requests, 2);
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_primary_falls_back() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let up = mock(MockConfig::default()).await;
    let config = format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{dead}","retries":1,"retry_backoff_initial":1,"retry_backoff_max":2}}}},
          "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}"}}}}}}}}"#,
        up.url()
    );
    let gw = start(&config).await;
    let resp = post_with(
        &gw,
        r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
            "fallbacks":["anthropic/claude-3-5-haiku-latest"]}"#,
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "anthropic");
    // Without a fallback: 502 naming the connection failure.
    let resp = post_with(&gw, BODY, &[]).await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_connection_error");
    gw.stop().await;
}

#[tokio::test]
async fn stalls_before_the_first_token_and_mid_stream_are_timeouts() {
    let up = mock(MockConfig {
        stall_before_first_chunk: Some(Duration::from_secs(3)),
        ..MockConfig::default()
    })
    .await;
    let gw = start(&openai_at(
        &up,
        r#","timeout":300,"retries":0,"stream_idle_timeout_in_seconds":1"#,
    ))
    .await;
    let stream_body = r#"{"model":"openai/m","stream":true,"messages":[{"role":"user","content":"hi there you"}]}"#;
    let t = Instant::now();
    let resp = post_with(&gw, stream_body, &[]).await;
    assert_eq!(resp.status(), 504);
    assert!(t.elapsed() < Duration::from_secs(2));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout_ttft");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("time-to-first-token"));

    up.set_config(MockConfig {
        chunks: 6,
        stall_after_chunks: Some((2, Duration::from_secs(5))),
        ..MockConfig::default()
    });
    let t = Instant::now();
    let resp = post_with(&gw, stream_body, &[]).await;
    assert_eq!(resp.status(), 200);
    let events = read_sse(resp).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout_idle", "{last}");
    gw.stop().await;
}

#[tokio::test]
async fn pinned_keys_and_sticky_sessions() {
    let up = mock(MockConfig::default()).await;
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[
            {{"id":"k1","name":"first","value":"sk-1"}},{{"id":"k2","name":"second","value":"sk-2"}},
            {{"id":"k3","name":"third","value":"sk-3"}}],
            "network_config":{{"base_url":"{}"}}}}}}}}"#,
        up.url()
    );
    let gw = start(&config).await;
    for _ in 0..10 {
        let r = post_with(&gw, BODY, &[("x-bf-api-key-id", "k2")]).await;
        assert_eq!(r.headers()["x-bf-key-id"], "k2");
        let r = post_with(&gw, BODY, &[("x-bf-api-key", "third")]).await;
        assert_eq!(r.headers()["x-bf-key-id"], "k3");
    }
    let r = post_with(&gw, BODY, &[("x-bf-api-key-id", "nope")]).await;
    assert_eq!(r.status(), 400);

    // One session keeps one key; many sessions spread over all keys.
    let mut first = None;
    for _ in 0..20 {
        let r = post_with(&gw, BODY, &[("x-bf-session-id", "conv-1")]).await;
        let k = r.headers()["x-bf-key-id"].to_str().unwrap().to_owned();
        assert_eq!(first.get_or_insert(k.clone()), &k);
    }
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let sid = format!("conv-x{i}");
        let r = post_with(&gw, BODY, &[("x-bf-session-id", &sid)]).await;
        seen.insert(r.headers()["x-bf-key-id"].to_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 3);
    // A malformed TTL is the client's mistake.
    let r = post_with(
        &gw,
        BODY,
        &[("x-bf-session-ttl", "abc"), ("x-bf-session-id", "s")],
    )
    .await;
    assert_eq!(r.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn model_aliases_route_bare_names_with_weights_and_fallbacks() {
    let (a, b) = (
        mock(MockConfig::default()).await,
        mock(MockConfig::default()).await,
    );
    let config = format!(
        r#"{{"client":{{"model_aliases":{{
              "gpt-4o":"openai/gpt-4o",
              "chat-default":{{"targets":[{{"target":"openai/gpt-4o-mini","weight":3}},
                                          {{"target":"anthropic/claude-3-5-haiku-latest","weight":1}}]}},
              "safe":{{"targets":[{{"target":"openai/gpt-4o-mini"}}],"fallbacks":["anthropic/claude-3-5-haiku-latest"]}}}}}},
            "providers":{{
              "openai":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}","retries":0}}}},
              "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}","retries":0}}}}}}}}"#,
        a.url(),
        b.url()
    );
    let gw = start(&config).await;
    let r = post_with(
        &gw,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-bf-model"], "gpt-4o");
    assert_eq!(a.last_request().unwrap().body["model"], "gpt-4o");

    let statuses = blast(
        &gw,
        r#"{"model":"chat-default","messages":[{"role":"user","content":"x"}]}"#,
        400,
        40,
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let to_openai = a.stats().requests - 1;
    let share = to_openai as f64 / 400.0;
    assert!((share - 0.75).abs() < 0.08, "{share}");

    a.set_config(failing(503));
    let r = post_with(
        &gw,
        r#"{"model":"safe","messages":[{"role":"user","content":"x"}]}"#,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-bf-provider"], "anthropic");

    // Aliases first; then what the upstreams list (these keys allow any model).
    let ids = model_ids(&gw).await;
    assert_eq!(ids[..3], ["chat-default", "gpt-4o", "safe"]);
    assert!(ids[3..]
        .iter()
        .all(|id| id.starts_with("anthropic/") || id.starts_with("openai/")));
    gw.stop().await;

    // An alias naming an unconfigured provider is a start-up error.
    let bad = r#"{"client":{"model_aliases":{"x":"groq/llama"}},"providers":{}}"#;
    let e = load(bad, &[], Cli::default()).await.err().unwrap();
    assert!(format!("{e:#}").contains("model alias 'x'"), "{e:#}");
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_pool_size_bounds_idle_ones() {
    let up = mock(slow(Duration::from_millis(20))).await;
    let config = openai_at(&up, "");
    // Sequential requests share one upstream connection.
    let gw = start(&config).await;
    blast(&gw, BODY, 30, 1).await;
    assert_eq!(up.stats().connections, 1);
    // Bursts of 16: a warm pool of 64 serves every burst after the first without new
    // connections…
    blast(&gw, BODY, 16 * 4, 16).await;
    let big_pool = up.stats().connections;
    assert!(big_pool <= 17, "{big_pool}");
    gw.stop().await;

    // …while -pool-size 2 keeps only two idle, so each burst reconnects.
    up.reset_stats();
    let cli = Cli {
        pool_size: Some(2),
        ..Cli::default()
    };
    let gw = start_with(&config, &[], cli).await;
    blast(&gw, BODY, 16 * 4, 16).await;
    let small_pool = up.stats().connections;
    assert!(small_pool >= 16 + 3 * 12, "{small_pool}");
    gw.stop().await;
}

#[tokio::test]
async fn http2_upstreams_get_several_connections() {
    let up = mock(slow(Duration::from_millis(200))).await;
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],
            "concurrency_and_buffer_size":{{"concurrency":300,"buffer_size":10}},
            "network_config":{{"base_url":"{}","enforce_http2":true}}}}}}}}"#,
        up.url()
    );
    let gw = start(&config).await;
    let t = Instant::now();
    let statuses = blast(&gw, BODY, 300, 300).await;
    assert!(statuses.iter().all(|s| *s == 200));
    // 300 slots over HTTP/2: three connections, so none carries more than 100 streams.
    assert_eq!(up.stats().connections, 3);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    gw.stop().await;
}
