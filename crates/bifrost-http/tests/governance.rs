//! Governance end to end (counters in memory): virtual keys on every route shape, the order
//! and statuses of refusals, rate limits with their headers, budgets, concurrency, routing
//! through a key's provider configs, cost on answers and log rows, and the config section.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::*;
use reqwest::Method as M;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Two providers on one mock, and the governance section given.
fn config(mock: &MockServer, governance: &str, extra: &str) -> String {
    format!(
        r#"{{"providers":{{
              "openai":{{"keys":[{{"id":"k-oa","value":"sk-openai","weight":1.0}},
                                 {{"id":"k-oa2","value":"sk-openai-2","weight":1.0}}],
                        "network_config":{{"base_url":"{u}","retries":0}},
                        "pricing_overrides":[{{"model_pattern":"gpt-4o-mini","input_cost_per_token":0,
                                               "output_cost_per_token":0.001}}]}},
              "anthropic":{{"keys":[{{"id":"k-an","value":"sk-ant"}}],
                        "network_config":{{"base_url":"{u}","retries":0}}}}}},
            "governance":{governance}{extra}}}"#,
        u = mock.url()
    )
}

const ENTITIES: &str = r#"{
    "budgets":[{"id":"b-small","max_limit":0.05,"reset_duration":"1h"},
               {"id":"b-team","max_limit":100,"reset_duration":"1M","calendar_aligned":true}],
    "rate_limits":[{"id":"rl-3","request_max_limit":3,"request_reset_duration":"1h",
                    "token_max_limit":100000,"token_reset_duration":"1m"}],
    "customers":[{"id":"c1","name":"Acme"}],
    "teams":[{"id":"t1","name":"Search","customer_id":"c1","budget_id":"b-team"}],
    "virtual_keys":[
      {"id":"vk-limited","name":"limited","value":"sk-bf-limited","team_id":"t1","rate_limit_id":"rl-3"},
      {"id":"vk-budget","name":"budget","value":"sk-bf-budget","budget_id":"b-small"},
      {"id":"vk-off","name":"off","value":"sk-bf-off","is_active":false},
      {"id":"vk-routed","name":"routed","value":"sk-bf-routed",
       "provider_configs":[{"provider":"openai","weight":1,"allowed_models":["gpt-4o-mini"]},
                           {"provider":"anthropic","weight":0,"allowed_models":["gpt-4o-mini"]}]},
      {"id":"vk-one","name":"one at a time","value":"sk-bf-one","max_concurrent_requests":1},
      {"id":"vk-keyed","name":"second key only","value":"sk-bf-keyed",
       "provider_configs":[{"provider":"openai","keys":[{"id":"k-oa2"}]}]}
    ]}"#;

/// A mock, and a gateway on it with [`ENTITIES`] and `extra`.
async fn gateway(mock: MockConfig, extra: &str) -> (MockServer, TestGateway) {
    let mock = start_mock(mock).await;
    let gw = start_counting(&config(&mock, ENTITIES, extra)).await;
    (mock, gw)
}

async fn post(
    gw: &TestGateway,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, Value) {
    let req = client().post(format!("{}{path}", gw.url)).json(&body);
    exchange(with_headers(req, headers)).await
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "max_tokens": 10, "messages":[{"role":"user","content":"Hello!"}]})
}

async fn chat(gw: &TestGateway, vk: &str, model: &str) -> (u16, http::HeaderMap, Value) {
    post(
        gw,
        "/v1/chat/completions",
        chat_body(model),
        &[("x-bf-vk", vk)],
    )
    .await
}

/// A chat that must be served; its headers.
async fn chat_ok(gw: &TestGateway, vk: &str, model: &str) -> http::HeaderMap {
    let (s, headers, b) = chat(gw, vk, model).await;
    assert_eq!(s, 200, "{b}");
    headers
}

fn h<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

async fn get(gw: &TestGateway, path: &str) -> (u16, Value) {
    call(gw, M::GET, path, None).await
}

/// Polls the usage report at `path` until `done` holds for it (charges are settled in the
/// background), for at most 5 s.
async fn usage_until(gw: &TestGateway, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            let (s, u) = get(gw, path).await;
            assert_eq!(s, 200, "{u}");
            if done(&u) {
                Ok(u)
            } else {
                Err(format!("{path}: {u}"))
            }
        },
    )
    .await
}

/// The usage of the key `vk` of the single-key sections below.
const VK_USAGE: &str = "/api/governance/virtual-keys/vk/usage";

/// A governance section with one key, `vk`, whose value is `value`, limited to 1M tokens an hour.
fn token_limited(value: &str) -> String {
    format!(
        r#"{{"rate_limits":[{{"id":"tok","token_max_limit":1000000,"token_reset_duration":"1h"}}],
            "virtual_keys":[{{"id":"vk","value":"{value}","rate_limit_id":"tok"}}]}}"#
    )
}

/// A mock streaming 20 chunks, 100 ms apart: long enough for a client to leave midway.
async fn slow_stream_mock() -> MockServer {
    MockServer::start(MockConfig {
        chunks: 20,
        chunk_delay: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// What a usage report says is used of its limit of `kind`.
fn used(u: &Value, kind: &str) -> f64 {
    limit_used(u, kind).as_f64().unwrap()
}

#[tokio::test]
async fn keys_are_checked_in_order_with_the_routes_own_error_shapes() {
    let (mock, gw) = gateway(MockConfig::default(), "").await;

    // No key, not mandatory: served.
    let (s, _, _) = post(
        &gw,
        "/v1/chat/completions",
        chat_body("openai/gpt-4o-mini"),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    // Unknown and inactive keys: 401, in OpenAI's shape.
    let (s, _, b) = chat(&gw, "sk-bf-made-up", "openai/gpt-4o-mini").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("virtual_key_not_found"))
    );
    let (s, _, b) = chat(&gw, "sk-bf-off", "openai/gpt-4o-mini").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("virtual_key_inactive"))
    );
    // The key is accepted in every header the SDKs use.
    for (name, value) in [
        ("authorization", "Bearer sk-bf-made-up"),
        ("x-api-key", "sk-bf-made-up"),
        ("x-goog-api-key", "sk-bf-made-up"),
    ] {
        let (s, _, _) = post(
            &gw,
            "/v1/chat/completions",
            chat_body("openai/gpt-4o-mini"),
            &[(name, value)],
        )
        .await;
        assert_eq!(s, 401, "{name}");
    }
    // Anthropic's route answers in Anthropic's shape.
    let (s, _, b) = post(
        &gw,
        "/anthropic/v1/messages",
        json!({"model":"claude-3-5-haiku-latest","max_tokens":10,
               "messages":[{"role":"user","content":"Hi"}]}),
        &[("x-api-key", "sk-bf-made-up")],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(b["type"], "error", "{b}");
    assert_eq!(b["error"]["type"], "authentication_error", "{b}");
    // Gemini's too.
    let (s, _, b) = post(
        &gw,
        "/genai/v1beta/models/gemini-2.0-flash:generateContent",
        json!({"contents":[{"parts":[{"text":"Hi"}]}]}),
        &[("x-goog-api-key", "sk-bf-made-up")],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["code"], 401, "{b}");

    // A key limited to some providers and models: 403 for the others.
    let (s, _, b) = chat(&gw, "sk-bf-routed", "openai/gpt-4o").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("model_not_allowed")),
        "{b}"
    );
    let (s, _, b) = chat(&gw, "sk-bf-routed", "mock/gpt-4o-mini").await;
    assert!(s == 403 || s == 404, "{s} {b}");
    gw.stop().await;

    // Mandatory keys: a request without one is refused.
    let gw = start_counting(&config(
        &mock,
        ENTITIES,
        r#","client":{"enforce_auth_on_inference":true}"#,
    ))
    .await;
    let (s, _, b) = post(
        &gw,
        "/v1/chat/completions",
        chat_body("openai/gpt-4o-mini"),
        &[],
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("virtual_key_required")),
        "{b}"
    );
    chat_ok(&gw, "sk-bf-limited", "openai/gpt-4o-mini").await;
    gw.stop().await;
}

#[tokio::test]
async fn rate_limits_send_headers_and_refuse_with_429() {
    let (_mock, gw) = gateway(MockConfig::default(), "").await;
    for left in [2, 1, 0] {
        let headers = chat_ok(&gw, "sk-bf-limited", "openai/gpt-4o-mini").await;
        assert_eq!(h(&headers, "x-ratelimit-limit-requests"), "3");
        assert_eq!(
            h(&headers, "x-ratelimit-remaining-requests"),
            left.to_string()
        );
        assert!(h(&headers, "x-ratelimit-reset-requests").ends_with('s'));
        assert_eq!(h(&headers, "x-ratelimit-limit-tokens"), "100000");
    }
    let (s, headers, b) = chat(&gw, "sk-bf-limited", "openai/gpt-4o-mini").await;
    assert_eq!(s, 429, "{b}");
    assert_eq!(b["error"]["code"], "rate_limit_exceeded");
    let retry: u64 = h(&headers, "retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(h(&headers, "x-ratelimit-remaining-requests"), "0");
    // Another key is not affected.
    let (s, _, _) = chat(&gw, "sk-bf-budget", "openai/gpt-4o-mini").await;
    assert_eq!(s, 200);

    let metrics = metrics_text(&gw.url).await;
    assert!(
        metrics.contains(r#"bifrost_governance_rejections_total{reason="rate_limit_exceeded"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("vk-limited"), "no per-key label");

    // The team's budget was charged too, and its usage reads back.
    usage_until(&gw, "/api/governance/teams/t1/usage", |u| {
        assert_eq!(u["limits"][0]["id"], "b-team");
        u["limits"][0]["used"].as_f64().unwrap() > 0.0
    })
    .await;
    let (s, u) = get(&gw, "/api/governance/customers/c1/usage").await;
    assert_eq!(
        (s, u["limits"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{u}"
    );
    assert_eq!(get(&gw, "/api/governance/teams/nope/usage").await.0, 404);
    gw.stop().await;
}

#[tokio::test]
async fn budgets_reserve_the_most_a_request_can_cost_and_refuse_with_402() {
    let (_mock, gw) = gateway(MockConfig::default(), "").await;
    // $0.001 per output token, max_tokens 10: each request reserves $0.01 of $0.05.
    let mut ok = 0;
    let mut cost = 0.0;
    for _ in 0..8 {
        let (s, headers, b) = chat(&gw, "sk-bf-budget", "openai/gpt-4o-mini").await;
        match s {
            200 => {
                ok += 1;
                let c: f64 = h(&headers, "x-bf-cost").parse().unwrap();
                let tokens = b["usage"]["completion_tokens"].as_f64().unwrap();
                assert!((c - tokens * 0.001).abs() < 1e-9, "{c} for {tokens} tokens");
                cost += c;
            }
            402 => assert_eq!(b["error"]["code"], "budget_exceeded", "{b}"),
            other => panic!("{other} {b}"),
        }
    }
    // Reconciled to the actual cost after each answer, so more than 5 fit, and never more
    // than the budget was spent.
    assert!(ok >= 5, "{ok}");
    assert!(cost <= 0.05 + 1e-9, "{cost}");
    let (s, _, b) = chat(&gw, "sk-bf-budget", "openai/gpt-4o-mini").await;
    if s == 402 {
        assert!(
            b["error"]["message"].as_str().unwrap().contains("b-small"),
            "{b}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_key_limited_to_some_provider_keys_uses_only_those() {
    let (mock, gw) = gateway(MockConfig::default(), "").await;
    for _ in 0..6 {
        let headers = chat_ok(&gw, "sk-bf-keyed", "openai/gpt-4o-mini").await;
        assert_eq!(h(&headers, "x-bf-key-id"), "k-oa2");
    }
    let by_key = mock.stats().requests_by_key;
    assert_eq!(by_key.get("sk-openai-2"), Some(&6), "{by_key:?}");
    assert!(!by_key.contains_key("sk-openai"), "{by_key:?}");
    gw.stop().await;
}

#[tokio::test]
async fn concurrency_is_limited_per_key() {
    let (_mock, gw) = gateway(
        MockConfig {
            latency: Duration::from_millis(300),
            ..MockConfig::default()
        },
        "",
    )
    .await;
    let (a, b) = tokio::join!(chat(&gw, "sk-bf-one", "openai/gpt-4o-mini"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chat(&gw, "sk-bf-one", "openai/gpt-4o-mini").await
    });
    assert_eq!(a.0, 200);
    assert_eq!(
        (b.0, b.2["error"]["code"].as_str()),
        (429, Some("concurrency_limit_exceeded"))
    );
    // The lease came back with the answer.
    let returned = async || chat(&gw, "sk-bf-one", "openai/gpt-4o-mini").await.0 == 200;
    wait_until(
        Duration::from_secs(5),
        Duration::ZERO,
        "the lease was never returned",
        returned,
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_bare_model_routes_through_the_keys_providers_and_rows_name_the_key() {
    let (_mock, gw) = gateway(MockConfig::default(), "").await;
    for _ in 0..5 {
        let headers = chat_ok(&gw, "sk-bf-routed", "gpt-4o-mini").await;
        // Weight 0 never wins the draw.
        assert_eq!(h(&headers, "x-bf-provider"), "openai");
    }
    let rows = poll_logs(&gw, "virtual_key_ids=vk-routed", |rows| rows.len() == 5).await;
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["virtual_key_name"], "routed");
    assert!(rows[0]["cost"].as_f64().unwrap() > 0.0, "{}", rows[0]);
    let text = serde_json::to_string(&rows).unwrap();
    assert!(
        !text.contains("sk-bf-routed"),
        "the key's value is never logged"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_section_loads_as_the_original_writes_it_and_bad_fields_are_named() {
    let bad = |gov: &str| {
        let text = format!(r#"{{"governance":{gov}}}"#);
        bifrost_http::config::parse(&text, &|_| None).unwrap_err()
    };
    let e = bad(r#"{"virtual_keys":[{"id":"v","value":"sk-bf-v","colour":"red"}]}"#);
    assert!(
        e.to_string().contains("virtual_keys[0]") && e.to_string().contains("colour"),
        "{e}"
    );
    let e = bad(r#"{"budgets":[{"id":"b","max_limit":1,"reset_duration":"1 fortnight"}]}"#);
    assert_eq!(e.path, "governance.budgets[0].reset_duration");
    let e = bad(r#"{"routing_rules":[{"id":"r","cel_expression":"true"}]}"#);
    assert_eq!(e.path, "governance.routing_rules");
    let e = bad(r#"{"on_store_failure":"maybe"}"#);
    assert_eq!(e.path, "governance.on_store_failure");
    let e = bifrost_http::config::parse(
        r#"{"kv_store":{"type":"redis","redis":{"addr":"127.0.0.1:6379","tls":true}}}"#,
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(e.path, "kv_store.redis.tls");
    let e = bifrost_http::config::parse(
        r#"{"kv_store":{"type":"redis","redis":{"addr":"127.0.0.1:6379","timeout_ms":0}}}"#,
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(e.path, "kv_store.redis.timeout_ms");
    // The original's fields, usage state included, load.
    let ok = bifrost_http::config::parse(
        r#"{"governance":{
            "budgets":[{"id":"b","max_limit":10,"reset_duration":"1d","current_usage":2.5,
                        "last_reset":"2025-01-01T00:00:00Z"}],
            "rate_limits":[{"id":"r","request_max_limit":10,"request_reset_duration":"1m",
                            "token_max_limit":1000,"token_reset_duration":"1h",
                            "request_current_usage":0,"token_current_usage":0}],
            "customers":[{"id":"c","name":"C","budget_id":"b"}],
            "teams":[{"id":"t","name":"T","customer_id":"c","profile":{},"claims":{}}],
            "virtual_keys":[{"id":"v","name":"V","value":"env.VK","is_active":true,"team_id":"t",
                             "rate_limit_id":"r","mcp_configs":[],
                             "provider_configs":[{"id":1,"provider":"openai","weight":0.5,
                                                  "allowed_models":["gpt-4o"],"keys":[]}]}],
            "routing_rules":[]},
            "plugins":[{"enabled":true,"name":"governance","config":{"is_vk_mandatory":true}}]}"#,
        &|k| (k == "VK").then(|| "sk-bf-from-env".to_owned()),
    )
    .unwrap();
    assert!(ok.governance.settings.mandatory);
    let vk = &ok.governance.entities.virtual_keys[0];
    assert_eq!(vk.value, None, "only the hash is kept");
    assert_eq!(
        vk.value_hash.as_deref(),
        Some(bifrost_http::governance::model::hash_value("sk-bf-from-env").as_str())
    );
}

#[tokio::test]
async fn the_api_creates_keys_whose_value_is_shown_once_and_validates_every_field() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start_counting(&config(&mock, "{}", "")).await;
    let (s, b) = call(
        &gw,
        M::POST,
        "/api/governance/budgets",
        Some(json!({"id":"b1","max_limit":1,"reset_duration":"1h"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(
        &gw,
        M::POST,
        "/api/governance/budgets",
        Some(json!({"id":"b2","max_limit":1,"reset_duration":"1h","colour":1})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("colour"),
        "{b}"
    );
    // Refused, naming the field (nothing is created, so the order does not matter).
    for (path, body, param) in [
        (
            "budgets",
            json!({"id":"b2","max_limit":-1,"reset_duration":"1h"}),
            "max_limit",
        ),
        (
            "teams",
            json!({"id":"t","profile":"not an object"}),
            "profile",
        ),
        (
            "virtual-keys",
            json!({"max_concurrent_requests": 2_147_483_648_u64}),
            "max_concurrent_requests",
        ),
        (
            "virtual-keys",
            json!({"provider_configs":[{"provider":"openai","id":1e28}]}),
            "provider_configs[0].id",
        ),
        (
            "virtual-keys",
            json!({"name":"x","budget_id":"b1","rate_limit_id":"nope"}),
            "rate_limit_id",
        ),
        (
            "virtual-keys",
            json!({"name":"x","value":"sk-bf-mine"}),
            "value",
        ),
    ] {
        let path = format!("/api/governance/{path}");
        let (s, b) = call(&gw, M::POST, &path, Some(body)).await;
        assert_eq!(
            (s, b["error"]["param"].as_str()),
            (400, Some(param)),
            "{path}: {b}"
        );
    }

    let (s, created) = call(
        &gw,
        M::POST,
        "/api/governance/virtual-keys",
        Some(json!({"id":"vk1","name":"team key","budget_id":"b1"})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let value = created["value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("sk-bf-") && value.len() > 40, "{value}");
    // Never shown again.
    for path in [
        "/api/governance/virtual-keys",
        "/api/governance/virtual-keys/vk1",
    ] {
        let (s, b) = get(&gw, path).await;
        assert_eq!(s, 200);
        assert!(!b.to_string().contains(&value), "{b}");
    }
    let (s, headers, b) = chat(&gw, &value, "openai/gpt-4o-mini").await;
    assert_eq!(s, 200, "{b}");
    let cost: f64 = h(&headers, "x-bf-cost").parse().unwrap();
    let u = usage_until(&gw, "/api/governance/virtual-keys/vk1/usage", |u| {
        (u["limits"][0]["used"].as_f64().unwrap() - cost).abs() < 1e-9
    })
    .await;
    assert_eq!(u["limits"][0]["kind"], "budget");
    assert_eq!(u["limits"][0]["limit"], 1.0);
    // A budget in use cannot go; a key can be switched off, then deleted.
    let (s, b) = call(&gw, M::DELETE, "/api/governance/budgets/b1", None).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = call(
        &gw,
        M::PUT,
        "/api/governance/virtual-keys/vk1",
        Some(json!({"name":"team key","budget_id":"b1","is_active":false})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(chat(&gw, &value, "openai/gpt-4o-mini").await.0, 401);
    let (s, _) = call(&gw, M::DELETE, "/api/governance/virtual-keys/vk1", None).await;
    assert_eq!(s, 204);
    let (s, b) = chat(&gw, &value, "openai/gpt-4o-mini")
        .await
        .2
        .get("error")
        .map_or((0, Value::Null), |e| (1, e.clone()));
    assert_eq!((s, b["code"].as_str()), (1, Some("virtual_key_not_found")));
    let (s, _) = call(&gw, M::DELETE, "/api/governance/budgets/b1", None).await;
    assert_eq!(s, 204);
    let (s, _) = get(&gw, "/api/governance/virtual-keys/vk1").await;
    assert_eq!(s, 404);
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_still_charged() {
    let mock = slow_stream_mock().await;
    let gov = r#"{"rate_limits":[{"id":"tok","token_max_limit":1000000,"token_reset_duration":"1h",
                                  "request_max_limit":100,"request_reset_duration":"1h"}],
                  "virtual_keys":[{"id":"vk","value":"sk-bf-stream","rate_limit_id":"tok"}]}"#;
    let gw = start_counting(&config(&mock, gov, "")).await;
    let body = json!({"model":"openai/gpt-4o-mini","max_tokens":50,"stream":true,
                      "messages":[{"role":"user","content":"Tell me a long story"}]});
    let sent = serde_json::to_vec(&body).unwrap();
    let r = post_raw(
        &gw,
        "/v1/chat/completions",
        sent.clone(),
        &[("x-bf-vk", "sk-bf-stream")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    use futures::StreamExt as _;
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    // Charged what was relayed before the client left (about a token per event), not the
    // whole reservation (prompt estimate + max_tokens 50), and the request counts.
    let prompt = (sent.len() / 4) as f64;
    let u = usage_until(&gw, VK_USAGE, |u| {
        used(u, "requests") == 1.0 && used(u, "tokens") < prompt + 50.0
    })
    .await;
    let cut = used(&u, "tokens");
    assert!(cut >= prompt + 1.0 && cut <= prompt + 6.0, "{cut} {u}");
    // A stream read to its end is charged what the upstream reported.
    let mut body = body;
    body["stream_options"] = json!({"include_usage": true});
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-bf-vk", "sk-bf-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let usage: Value = sse_json(&text)
        .find_map(|v| v.get("usage").filter(|u| !u.is_null()).cloned())
        .unwrap_or(Value::Null);
    assert!(usage["total_tokens"].as_u64().unwrap() > 0, "{text}");
    let total = cut + usage["total_tokens"].as_f64().unwrap();
    usage_until(&gw, VK_USAGE, |u| used(u, "tokens") == total).await;
    gw.stop().await;
}

#[tokio::test]
async fn with_admin_auth_only_a_real_key_stands_in_for_credentials() {
    let auth =
        r#","auth_config":{"is_enabled":true,"admin_username":"admin","admin_password":"pw"}"#;
    let (_mock, gw) = gateway(MockConfig::default(), auth).await;
    let models = |vk: &'static str| {
        client()
            .get(format!("{}/v1/models", gw.url))
            .header("x-bf-vk", vk)
            .send()
    };
    assert_eq!(models("sk-bf-made-up").await.unwrap().status(), 401);
    assert_eq!(models("sk-bf-off").await.unwrap().status(), 401);
    assert_eq!(models("sk-bf-limited").await.unwrap().status(), 200);
    assert_eq!(chat(&gw, "sk-bf-budget", "openai/gpt-4o-mini").await.0, 200);
    assert_eq!(
        chat(&gw, "sk-bf-made-up", "openai/gpt-4o-mini").await.0,
        401
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_virtual_key_never_reaches_the_upstream_in_any_header() {
    let (mock, gw) = gateway(
        MockConfig::default(),
        r#","client":{"allow_direct_keys":true}"#,
    )
    .await;
    for (name, value) in [
        ("x-api-key", "sk-bf-other"),
        ("x-goog-api-key", "sk-bf-other"),
        ("authorization", "Bearer sk-bf-other"),
    ] {
        let (s, _, b) = post(
            &gw,
            "/v1/chat/completions",
            chat_body("openai/gpt-4o-mini"),
            &[("x-bf-vk", "sk-bf-budget"), (name, value)],
        )
        .await;
        assert_eq!(s, 200, "{name}: {b}");
    }
    let by_key = mock.stats().requests_by_key;
    assert!(
        by_key.keys().all(|k| !k.starts_with("sk-bf-")),
        "{by_key:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_upstream_429_on_the_only_allowed_key_stays_a_429() {
    let (mock, gw) = gateway(
        MockConfig {
            fail_keys: vec!["sk-openai-2".to_owned()],
            fail_status: 429,
            ..MockConfig::default()
        },
        "",
    )
    .await;
    let (s, _, b) = chat(&gw, "sk-bf-keyed", "openai/gpt-4o-mini").await;
    assert_eq!(s, 429, "{b}");
    assert!(!mock.stats().requests_by_key.contains_key("sk-openai"));
    gw.stop().await;
}

#[tokio::test]
async fn forwarded_answers_are_charged_their_reported_usage() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start_counting(&config(&mock, &token_limited("sk-bf-raw"), "")).await;
    let (s, _, b) = post(
        &gw,
        "/v1/completions",
        json!({"model":"openai/gpt-4o-mini","prompt":"Say hi","max_tokens":10}),
        &[("x-bf-vk", "sk-bf-raw")],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let total = b["usage"]["total_tokens"]
        .as_f64()
        .expect("the mock reports usage");
    usage_until(&gw, VK_USAGE, |u| {
        u["limits"][0]["used"].as_f64() == Some(total)
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn an_anthropic_stream_cut_early_is_charged_what_was_relayed() {
    let mock = slow_stream_mock().await;
    let gw = start_counting(&config(&mock, &token_limited("sk-bf-ant"), "")).await;
    let r = post_json(
        &gw,
        "/anthropic/v1/messages",
        &json!({"model":"claude-3-5-haiku-latest","max_tokens":500,"stream":true,
                "messages":[{"role":"user","content":"Tell me a long story"}]}),
        &[
            ("x-api-key", "sk-bf-ant"),
            ("anthropic-version", "2023-06-01"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    use futures::StreamExt as _;
    let mut seen = String::new();
    while seen.matches("content_block_delta").count() < 4 {
        let piece = stream.next().await.unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&piece).unwrap());
    }
    drop(stream);
    let input: f64 = sse_json(&seen)
        .find_map(|v| {
            v.pointer("/message/usage/input_tokens")
                .and_then(Value::as_f64)
        })
        .unwrap();
    usage_until(&gw, VK_USAGE, |u| {
        let used = u["limits"][0]["used"].as_f64().unwrap();
        // At least the four deltas the client saw, and far from the 500 reserved.
        used >= input + 4.0 && used < input + 100.0
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn prices_refresh_in_the_background_without_holding_up_startup() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // A price list server that answers after a second: startup must not wait for it.
    let app = axum::Router::new().route(
        "/prices",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            axum::Json(json!({"source":"test","date":"2026-12-06",
                              "models":{"openai/gpt-4o":{"input":1000000.0,"output":0.0}}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let prices = format!("http://{}/prices", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let t = Instant::now();
    let gw = start_counting(&config(
        &mock,
        "{}",
        &format!(r#","framework":{{"pricing":{{"pricing_url":"{prices}","pricing_sync_interval":3600}}}}"#),
    ))
    .await;
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "startup waited for the price list"
    );
    // The built-in price first ($2.50 per million input tokens), then the fetched one ($1 each).
    let (s, headers, b) = post(&gw, "/v1/chat/completions", chat_body("openai/gpt-4o"), &[]).await;
    assert_eq!(s, 200, "{b}");
    let prompt = b["usage"]["prompt_tokens"].as_f64().unwrap();
    let built_in: f64 = h(&headers, "x-bf-cost").parse().unwrap();
    assert!(built_in < 1.0, "{built_in}");
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        async || {
            let (_, headers, _) =
                post(&gw, "/v1/chat/completions", chat_body("openai/gpt-4o"), &[]).await;
            let cost: f64 = h(&headers, "x-bf-cost").parse().unwrap();
            if (cost - prompt).abs() < 1e-6 {
                Ok(())
            } else {
                Err(format!("prices never refreshed ({cost})"))
            }
        },
    )
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn soft_budgets_estimates_required_headers_and_model_configs_take_effect() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // Without max_tokens a request reserves ~body/4 + token_estimate_default tokens: 7 here,
    // so a limit of exactly that lets the request through (1,024 by default would not).
    let body = r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;
    let limit = body.len() / 4 + 7;
    let gov = format!(
        r#"{{"budget_mode":"soft","token_estimate_default":7,"required_headers":["x-team"],
            "budgets":[{{"id":"tiny","max_limit":0.000001,"reset_duration":"1h"}}],
            "rate_limits":[{{"id":"tok","token_max_limit":{limit},"token_reset_duration":"1h"}},
                           {{"id":"one","request_max_limit":1,"request_reset_duration":"1h"}}],
            "model_configs":[{{"id":"m","model_name":"gpt-4o","provider":"openai","rate_limit_id":"one"}}],
            "virtual_keys":[{{"id":"s","value":"sk-bf-soft","budget_id":"tiny"}},
                            {{"id":"e","value":"sk-bf-est","rate_limit_id":"tok"}}]}}"#
    );
    let gw = start_counting(&config(&mock, &gov, "")).await;
    let send = async |vk: Option<&str>, body: String, team: bool| {
        let mut headers = Vec::new();
        if let Some(vk) = vk {
            headers.push(("x-bf-vk", vk));
        }
        if team {
            headers.push(("x-team", "search"));
        }
        status_json(post_raw(&gw, "/v1/chat/completions", body, &headers).await).await
    };
    // required_headers.
    let (s, b) = send(None, body.to_owned(), false).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("missing_required_header")),
        "{b}"
    );
    // token_estimate_default.
    let (s, b) = send(Some("sk-bf-est"), body.to_owned(), true).await;
    assert_eq!(s, 200, "{b}");
    // Soft budget: the first request passes on a budget it will overspend (strict mode would
    // refuse it up front), the next is refused once the cost is charged.
    let mut with_max = serde_json::from_str::<Value>(body).unwrap();
    with_max["max_tokens"] = json!(10);
    let (s, b) = send(Some("sk-bf-soft"), with_max.to_string(), true).await;
    assert_eq!(s, 200, "{b}");
    eventually(Duration::from_secs(5), Duration::ZERO, async || {
        let (s, b) = send(Some("sk-bf-soft"), with_max.to_string(), true).await;
        if s == 402 {
            return Ok(());
        }
        assert_eq!(s, 200, "{b}");
        Err("the soft budget never closed".to_owned())
    })
    .await;
    // A model config limits that model for everyone, key or not.
    let gpt4o = body.replace("gpt-4o-mini", "gpt-4o");
    assert_eq!(send(None, gpt4o.clone(), true).await.0, 200);
    let (s, b) = send(None, gpt4o, true).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded")),
        "{b}"
    );
    gw.stop().await;
}
