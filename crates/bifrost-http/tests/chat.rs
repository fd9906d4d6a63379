//! End to end: a client over real HTTP → the gateway → mock providers over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A chat for OpenAI that may fall back to Anthropic.
const WITH_FALLBACK: &str = r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
            "fallbacks":["anthropic/claude-3-5-haiku-latest"]}"#;

const SEED_BODY: &str = r#"{"provider":"openai","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

/// openai and anthropic providers at two mocks; `net` is spliced into both network_configs.
fn two_providers(openai: &MockServer, anthropic: &MockServer, net: &str) -> String {
    format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"sk-openai","models":["gpt-4o-mini","gpt-4o"],"weight":1.0}}],
                    "network_config":{{"base_url":"{}"{net}}}}},
          "anthropic":{{"keys":[{{"value":"sk-ant"}}],
                    "network_config":{{"base_url":"{}"{net}}}}}
        }}}}"#,
        openai.url(),
        anthropic.url()
    )
}

async fn mocks() -> (MockServer, MockServer) {
    mocks_with(MockConfig::default()).await
}

/// The openai mock with `openai`, the anthropic one with the default config.
async fn mocks_with(openai: MockConfig) -> (MockServer, MockServer) {
    (
        start_mock(openai).await,
        start_mock(MockConfig::default()).await,
    )
}

/// Both mocks, and a gateway on them with `net` in both network_configs.
async fn started(openai: MockConfig, net: &str) -> (MockServer, MockServer, TestGateway) {
    let (oa, an) = mocks_with(openai).await;
    let gw = start(&two_providers(&oa, &an, net)).await;
    (oa, an, gw)
}

async fn post(gw: &TestGateway, body: impl Into<reqwest::Body>) -> reqwest::Response {
    post_raw(gw, "/v1/chat/completions", body, &[]).await
}

/// [`post`], checked to be served.
async fn post_ok(gw: &TestGateway, body: impl Into<reqwest::Body>) -> reqwest::Response {
    let resp = post(gw, body).await;
    assert_eq!(resp.status(), 200);
    resp
}

/// A mock config that answers after `latency`.
fn slow(latency: Duration) -> MockConfig {
    MockConfig {
        latency,
        ..MockConfig::default()
    }
}

/// One OpenAI provider at `oa`, with a single slot and no queue.
fn one_slot(oa: &MockServer) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"k"}}],
            "concurrency_and_buffer_size":{{"concurrency":1,"buffer_size":0}},
            "network_config":{{"base_url":"{}"}}}}}}}}"#,
        oa.url()
    )
}

#[tokio::test]
async fn seed_body_through_openai_provider() {
    let (oa, _an, gw) = started(MockConfig::default(), "").await;
    let resp = post_ok(&gw, SEED_BODY).await;
    assert_eq!(resp.headers()["x-bf-provider"], "openai");
    assert_eq!(resp.headers()["x-bf-model"], "gpt-4o-mini");
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply to: Hello!"
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // The upstream saw the bare model, our key, and no gateway fields.
    let seen = oa.last_request().unwrap();
    assert_eq!(seen.body["model"], "gpt-4o-mini");
    assert!(seen.body.get("provider").is_none());
    assert_eq!(seen.header("authorization"), Some("Bearer sk-openai"));
    gw.stop().await;
}

#[tokio::test]
async fn provider_prefix_and_unknown_fields_pass_through() {
    let (oa, _an, gw) = started(MockConfig::default(), "").await;
    post_ok(
        &gw,
        r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],
            "seed":42,"response_format":{"type":"json_object"},"vendor_extension":{"x":[1,2]}}"#,
    )
    .await;
    let seen = oa.last_request().unwrap().body;
    assert_eq!(seen["model"], "gpt-4o");
    assert_eq!(seen["seed"], 42);
    assert_eq!(seen["response_format"], json!({"type":"json_object"}));
    assert_eq!(seen["vendor_extension"], json!({"x":[1,2]}));
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_through_the_openai_api() {
    let (_oa, an, gw) = started(MockConfig::default(), "").await;
    let resp = post_ok(
        &gw,
        r#"{"model":"anthropic/claude-3-5-haiku-latest","max_tokens":64,"temperature":0.2,
            "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}]}"#,
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply to: Hi there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let seen = an.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.body["system"], "Be brief.");
    assert_eq!(seen.body["max_tokens"], 64);
    assert_eq!(seen.body["model"], "claude-3-5-haiku-latest");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant"));
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_tool_calls_come_back_as_openai_tool_calls() {
    let (_oa, an, gw) = started(MockConfig::default(), "").await;
    let req = json!({
        "model": "anthropic/claude-3-5-haiku-latest",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "tool_choice": "required"
    });
    let resp = post_ok(&gw, req.to_string()).await;
    let body: Value = resp.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        an.last_request().unwrap().body["tool_choice"],
        json!({"type": "any"})
    );

    // And streamed: the tool call arrives as deltas with one index.
    let mut streamed = req.clone();
    streamed["stream"] = json!(true);
    let events = read_sse(post(&gw, streamed.to_string()).await).await;
    let mut name = String::new();
    let mut args = String::new();
    for e in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(&e.data).unwrap();
        if let Some(tc) = c["choices"][0]["delta"]["tool_calls"].get(0) {
            assert_eq!(tc["index"], 0);
            name.push_str(tc["function"]["name"].as_str().unwrap_or(""));
            args.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "Paris"})
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
    gw.stop().await;
}

/// Chunks reach the client as the mock produces them: the first arrives long before the last
/// one is even produced.
async fn assert_streams_chunk_by_chunk(model: &str) {
    let delay = Duration::from_millis(150);
    let chunks = 6;
    let slow = MockConfig {
        chunk_delay: delay,
        chunks,
        ..MockConfig::default()
    };
    let (oa, an) = (start_mock(slow.clone()).await, start_mock(slow).await);
    let gw = start(&two_providers(&oa, &an, "")).await;
    let sent = Instant::now();
    let resp = post_ok(
        &gw,
        format!(r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"count to six"}}]}}"#),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = read_sse(resp).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Mock reply to: count to six");
    // No usage chunk unless asked for.
    assert!(events.iter().all(|e| !e.data.contains("\"usage\"")));
    let first_content = events
        .iter()
        .find(|e| e.data.contains("\"content\":\"M"))
        .unwrap();
    let last = events.last().unwrap();
    // The mock needs (chunks-1) × delay after the first content chunk to produce the rest.
    assert!(
        last.at.duration_since(first_content.at) >= delay * (chunks as u32 - 2),
        "chunks were coalesced: first content at {:?}, end at {:?}",
        first_content.at.duration_since(sent),
        last.at.duration_since(sent)
    );
    assert!(first_content.at.duration_since(sent) < delay * 2);
    gw.stop().await;
}

#[tokio::test]
async fn openai_stream_arrives_chunk_by_chunk() {
    assert_streams_chunk_by_chunk("openai/gpt-4o-mini").await;
}

#[tokio::test]
async fn anthropic_stream_arrives_chunk_by_chunk() {
    assert_streams_chunk_by_chunk("anthropic/claude-3-5-haiku-latest").await;
}

#[tokio::test]
async fn stream_usage_only_when_asked() {
    let (_oa, _an, gw) = started(MockConfig::default(), "").await;
    for model in ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"] {
        let events = read_sse(
            post(
                &gw,
                format!(r#"{{"model":"{model}","stream":true,"stream_options":{{"include_usage":true}},"messages":[{{"role":"user","content":"hi"}}]}}"#),
            )
            .await,
        )
        .await;
        let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2].data).unwrap();
        assert_eq!(usage_chunk["choices"], json!([]), "{model}");
        assert!(
            usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0,
            "{model}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn broken_upstream_stream_ends_with_an_error_event_not_done() {
    let cfg = MockConfig {
        chunks: 8,
        // Spaced chunks, so the mock flushes the first ones before it cuts the connection.
        chunk_delay: Duration::from_millis(20),
        stream_fail_after: Some(2),
        ..MockConfig::default()
    };
    let (oa, an) = (start_mock(cfg.clone()).await, start_mock(cfg).await);
    let gw = start(&two_providers(&oa, &an, "")).await;
    for model in ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"] {
        let resp = post(
            &gw,
            format!(r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"hello there friend"}}]}}"#),
        )
        .await;
        assert_eq!(resp.status(), 200, "{model}");
        let events = read_sse(resp).await;
        assert!(
            events.iter().all(|e| e.data != "[DONE]"),
            "{model}: {events:?}"
        );
        let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
        assert!(last["error"]["message"].is_string(), "{model}: {last}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn fallback_to_second_provider_when_first_answers_500() {
    let (oa, an, gw) = started(
        failing(500),
        r#","retries":1,"retry_backoff_initial":1,"retry_backoff_max":2"#,
    )
    .await;
    let resp = post_ok(&gw, WITH_FALLBACK).await;
    assert_eq!(resp.headers()["x-bf-provider"], "anthropic");
    assert_eq!(resp.headers()["x-bf-fallback-index"], "1");
    // Primary: first attempt + 1 retry, then the fallback's single attempt. The header
    // counts retries (what `retries: 1` allows), not failed attempts.
    assert_eq!(resp.headers()["x-bf-retries"], "1");
    assert_eq!(oa.stats().requests, 2);
    assert_eq!(an.stats().requests, 1);

    // Streams fall back too, before the first byte.
    let events = read_sse(
        post(
            &gw,
            r#"{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],
                "fallbacks":["anthropic/claude-3-5-haiku-latest"]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(events.last().unwrap().data, "[DONE]");

    // All targets failing: the primary's error, with every attempt listed.
    an.set_config(failing(503));
    let resp = post(&gw, WITH_FALLBACK).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    let attempts = body["extra_fields"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[3]["provider"], "anthropic");
    gw.stop().await;
}

#[tokio::test]
async fn caller_errors_are_returned_without_retry_or_fallback() {
    let (oa, an, gw) = started(failing(400), "").await;
    let resp = post(&gw, WITH_FALLBACK).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["is_bifrost_error"], false);
    assert!(body["error"]["message"].as_str().unwrap().contains("mock"));
    assert_eq!(oa.stats().requests, 1);
    assert_eq!(an.stats().requests, 0);
    gw.stop().await;
}

#[tokio::test]
async fn retries_follow_the_configured_count() {
    for (net, attempts) in [
        (
            r#","retries":3,"retry_backoff_initial":1,"retry_backoff_max":5"#,
            4,
        ),
        (r#","retries":0"#, 1),
    ] {
        let (oa, _an, gw) = started(failing(502), net).await;
        assert_eq!(post(&gw, SEED_BODY).await.status(), 502);
        assert_eq!(oa.stats().requests, attempts, "{net}");
        gw.stop().await;
    }
}

#[tokio::test]
async fn upstream_timeout_is_a_504_naming_the_limit() {
    let (_oa, _an, gw) = started(
        slow(Duration::from_secs(3)),
        r#","timeout":200,"retries":0"#,
    )
    .await;
    let t = Instant::now();
    let resp = post(&gw, SEED_BODY).await;
    assert_eq!(resp.status(), 504);
    assert!(t.elapsed() < Duration::from_secs(2));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("200 ms"),
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn full_queue_with_drop_excess_answers_503_at_once() {
    let (oa, _an) = mocks_with(slow(Duration::from_millis(500))).await;
    let config = one_slot(&oa).replacen('{', r#"{"drop_excess_requests":true,"#, 1);
    let gw = start(&config).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let slow = tokio::spawn(client().post(&url).body(SEED_BODY).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let resp = client().post(&url).body(SEED_BODY).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full");
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn full_queue_without_drop_waits_for_a_slot() {
    let (oa, _an) = mocks_with(slow(Duration::from_millis(300))).await;
    let gw = start(&one_slot(&oa)).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let t = Instant::now();
    let (a, b) = tokio::join!(
        client().post(&url).body(SEED_BODY).send(),
        client().post(&url).body(SEED_BODY).send()
    );
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    // concurrency 1: the second waited for the first.
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    gw.stop().await;
}

#[tokio::test]
async fn client_errors_get_clear_statuses() {
    let (oa, an) = mocks().await;
    let config = format!(
        r#"{{"client":{{"max_request_body_size_mb":1}},"providers":{{
          "openai":{{"keys":[{{"value":"k","models":["gpt-4o"]}}],"network_config":{{"base_url":"{}"}}}},
          "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}"}}}}}}}}"#,
        oa.url(),
        an.url()
    );
    let gw = start(&config).await;
    let check = |status: u16, code: &'static str| {
        move |resp: (u16, Value)| {
            assert_eq!(resp.0, status, "{}", resp.1);
            assert_eq!(resp.1["error"]["code"], code, "{}", resp.1);
            assert!(resp.1["error"]["message"].as_str().unwrap().len() > 10);
        }
    };
    async fn send(gw: &TestGateway, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = post(gw, body).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }
    let (s, b) = send(&gw, "{not json").await;
    check(400, "invalid_request")((s, b.clone()));
    assert!(
        b["error"]["message"].as_str().unwrap().contains("line 1"),
        "{b}"
    );
    let (s, b) = send(&gw, r#"{"messages":[]}"#).await;
    check(400, "invalid_request")((s, b.clone()));
    assert!(
        b["error"]["message"].as_str().unwrap().contains("model"),
        "{b}"
    );
    check(400, "invalid_request")(
        send(&gw, r#"{"provider":"nope","model":"m","messages":[]}"#).await,
    );
    check(400, "invalid_request")(send(&gw, r#"{"model":"groq/llama","messages":[]}"#).await);
    check(404, "model_not_found")(send(&gw, r#"{"model":"who-knows","messages":[]}"#).await);
    check(401, "missing_api_key")(
        send(
            &gw,
            r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await,
    );
    let big = format!(
        r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(1024 * 1024 + 10)
    );
    check(413, "request_too_large")(send(&gw, big).await);
    // A bare model listed by exactly one provider's keys needs no prefix.
    let (s, _) = send(
        &gw,
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#,
    )
    .await;
    assert_eq!(s, 200);
    // Unknown route, wrong method.
    for (path, status) in [("/v1/nothing", 404), ("/v1/chat/completions", 405)] {
        let r = http_get(format!("{}{path}", gw.url)).await;
        assert_eq!(r.status(), status, "{path}");
    }
    assert_eq!(oa.stats().requests + an.stats().requests, 1);
    gw.stop().await;
}

#[tokio::test]
async fn upstream_errors_pass_through_with_status_and_message() {
    let (_oa, _an, gw) = started(
        MockConfig {
            retry_after: Some(Duration::from_secs(7)),
            ..failing(429)
        },
        r#","retries":0"#,
    )
    .await;
    let resp = post(&gw, SEED_BODY).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["is_bifrost_error"], false);
    assert_eq!(body["extra_fields"]["provider"], "openai");
    gw.stop().await;
}

#[tokio::test]
async fn env_references_resolve_at_load() {
    let oa = start_mock(MockConfig::default()).await;
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"env.MY_TEAM_KEY"}}],
            "network_config":{{"base_url":"{}"}}}}}}}}"#,
        oa.url()
    );
    let gw = start_with(&config, &[("MY_TEAM_KEY", "sk-from-env")], Cli::default()).await;
    assert_eq!(post(&gw, SEED_BODY).await.status(), 200);
    let seen = oa.last_request().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk-from-env"));
    gw.stop().await;

    let msg = format!("{:#}", load_error(&config, &[]).await);
    assert!(
        msg.contains("MY_TEAM_KEY") && msg.contains("providers.openai.keys[0].value"),
        "{msg}"
    );
}

#[tokio::test]
async fn models_and_health() {
    let (_oa, _an, gw) = started(MockConfig::default(), "").await;
    let ids = model_ids(&gw).await;
    // The openai key names its models; the anthropic key allows any, so that upstream's own
    // list (the mock's) is asked for.
    assert_eq!(
        ids,
        vec![
            "openai/gpt-4o-mini",
            "openai/gpt-4o",
            "anthropic/gpt-4o-mini",
            "anthropic/gpt-4o",
            "anthropic/claude-3-5-haiku-latest",
            "anthropic/mock-model"
        ]
    );
    let health = http_get(format!("{}/health", gw.url)).await;
    assert_eq!(health.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn no_config_serves_the_builtin_mock() {
    let dir = std::env::temp_dir().join(format!("bifrost-empty-{}", std::process::id()));
    let cli = Cli {
        app_dir: Some(dir),
        ..Cli::default()
    };
    let gw = bifrost_http::Gateway::load(&cli, &|_| None).await.unwrap();
    assert!(gw.source.contains("mock"));
    let gw = serve(gw).await;
    let resp = post_ok(
        &gw,
        r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#,
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply to: Hello!"
    );
    gw.stop().await;
}

#[tokio::test]
async fn client_disconnect_mid_stream_closes_upstream_and_frees_the_slot() {
    let oa = start_mock(MockConfig {
        chunk_delay: Duration::from_millis(50),
        chunks: 40,
        ..MockConfig::default()
    })
    .await;
    let gw = bifrost_http::Gateway::load(
        &Cli {
            config: Some(config_file(&one_slot(&oa))),
            drop_excess_requests: Some(true),
            ..Cli::default()
        },
        &|_| None,
    )
    .await
    .unwrap();
    let gw = serve(gw).await;
    let body = r#"{"model":"openai/m","stream":true,"messages":[{"role":"user","content":"a long story please"}]}"#;
    let mut resp = post(&gw, body).await;
    assert_eq!(resp.status(), 200);
    let _first = resp.chunk().await.unwrap();
    drop(resp);
    let t = Instant::now();
    while oa.stats().streams_aborted == 0 && t.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(oa.stats().streams_aborted, 1);
    // The mock writes a chunk every 50 ms, and the first write after the gateway hung up
    // fails: the upstream connection closed at once.
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    // The only slot is free again: with drop_excess on, a busy slot would give 503.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(post(&gw, SEED_BODY).await.status(), 200);
    gw.stop().await;
}
