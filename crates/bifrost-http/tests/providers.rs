//! Every provider end to end: a client → the gateway → the mock speaking that provider's wire
//! format (OpenAI, Azure, Anthropic, Gemini, Vertex, Bedrock, Cohere), with credentials from
//! config.json, `env.` references included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_core::providers::KNOWN;
use bifrost_core::{ApiFormat, RequestType};
use bifrost_http::cli::Cli;
use bifrost_mock::{MockConfig, MockServer, TOKEN_REQUESTS};
use common::*;
use serde_json::{json, Value};

async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await.unwrap()
}

/// A mock that serves without credentials, as keyless local servers expect.
async fn open_mock() -> MockServer {
    start_mock(MockConfig {
        require_auth: false,
        ..MockConfig::default()
    })
    .await
}

async fn post(gw: &TestGateway, path: &str, body: &Value) -> reqwest::Response {
    post_json(gw, path, body, &[]).await
}

/// A one-message chat request for `model`.
fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "x"}]})
}

async fn chat(gw: &TestGateway, model: &str) -> Value {
    let resp = post(
        gw,
        "/v1/chat/completions",
        &json!({"model": model, "max_tokens": 64,
                "messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "Hello!"}]}),
    )
    .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{model}: {body}");
    body
}

async fn assert_chat(gw: &TestGateway, model: &str) {
    let body = chat(gw, model).await;
    assert_eq!(body["object"], "chat.completion", "{model}: {body}");
    assert_eq!(
        body["choices"][0]["message"]["content"], "Mock reply to: Hello!",
        "{model}: {body}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop", "{model}");
    assert!(
        body["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{model}: {body}"
    );
}

/// Streams a chat; returns the text and the number of content chunks.
async fn stream_text(gw: &TestGateway, model: &str) -> (String, usize) {
    let resp = post(
        gw,
        "/v1/chat/completions",
        &json!({"model": model, "max_tokens": 64, "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Hello!"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200, "{model}");
    let events = read_sse(resp).await;
    assert_eq!(events.last().unwrap().data, "[DONE]", "{model}");
    let mut text = String::new();
    let mut pieces = 0;
    let mut finish = None;
    let mut usage = None;
    for e in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(&e.data).unwrap();
        assert!(chunk.get("error").is_none(), "{model}: {chunk}");
        if let Some(c) = chunk["choices"][0]["delta"]["content"].as_str() {
            if !c.is_empty() {
                text.push_str(c);
                pieces += 1;
            }
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert_eq!(finish.as_deref(), Some("stop"), "{model}");
    assert!(
        usage.is_some_and(|u| u["completion_tokens"].as_u64().unwrap() > 0),
        "{model}: no usage chunk"
    );
    (text, pieces)
}

async fn assert_stream(gw: &TestGateway, model: &str) {
    let (text, pieces) = stream_text(gw, model).await;
    assert_eq!(text, "Mock reply to: Hello!", "{model}");
    assert!(pieces > 1, "{model}: the stream came in {pieces} piece(s)");
}

async fn assert_embedding(gw: &TestGateway, model: &str) {
    let resp = post(
        gw,
        "/v1/embeddings",
        &json!({"model": model, "input": ["first text", "second text"]}),
    )
    .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{model}: {body}");
    assert_eq!(body["object"], "list", "{model}: {body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{model}: {body}");
    assert_eq!(data[1]["index"], 1);
    let v = data[0]["embedding"].as_array().unwrap();
    assert!(!v.is_empty() && v.iter().all(Value::is_number), "{model}");
    assert_ne!(data[0]["embedding"], data[1]["embedding"], "{model}");
}

/// Every call of `provider` ran through the same stages: a chat, a stream and an embedding
/// each translated, serialized, sent and decoded.
async fn assert_stages(gw: &TestGateway, provider: &str) {
    let text = metrics_text(&gw.url).await;
    let p = format!(r#"provider="{provider}""#);
    for (stage, n) in [
        ("message_formatting", 3.0),
        ("json_marshaling", 3.0),
        ("http_request", 3.0),
        ("response_parsing", 3.0),
    ] {
        let s = format!(r#"stage="{stage}""#);
        let count = metric_sum(&text, "bifrost_stage_duration_seconds_count", &[&p, &s]);
        assert_eq!(count, n, "{provider} {stage}");
    }
}

async fn assert_all(gw: &TestGateway, model: &str, embeddings: Option<&str>) {
    assert_chat(gw, model).await;
    assert_stream(gw, model).await;
    if let Some(m) = embeddings {
        assert_embedding(gw, m).await;
    }
}

#[tokio::test]
async fn every_openai_compatible_provider_with_keys_from_env() {
    let m = mock().await;
    // Keyless local servers send no credentials, so theirs must not ask for any.
    let open = open_mock().await;
    let names: Vec<&str> = KNOWN
        .iter()
        .filter(|s| s.format == ApiFormat::OpenAi)
        .map(|s| s.name)
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    let mut providers = serde_json::Map::new();
    for s in KNOWN.iter().filter(|s| s.format == ApiFormat::OpenAi) {
        let keys = if s.keyless {
            json!([])
        } else {
            json!([{"value": "env.COMPAT_KEY", "weight": 1.0}])
        };
        let url = if s.keyless { open.url() } else { m.url() };
        providers.insert(
            s.name.into(),
            json!({"keys": keys, "network_config": {"base_url": url}}),
        );
    }
    let config = json!({ "providers": providers }).to_string();
    let gw = start_with(&config, &[("COMPAT_KEY", "sk-compat")], Cli::default()).await;
    for s in KNOWN.iter().filter(|s| s.format == ApiFormat::OpenAi) {
        m.reset_stats();
        open.reset_stats();
        let embed = s.requests.contains(&RequestType::Embedding);
        let model = format!("{}/mock-model", s.name);
        assert_all(&gw, &model, embed.then_some(model.as_str())).await;
        let by_key = m.stats().requests_by_key;
        if s.keyless {
            assert!(by_key.is_empty(), "{}: {by_key:?}", s.name);
            let stats = open.stats();
            assert!(
                stats.requests >= 2 && stats.requests_by_key.is_empty(),
                "{stats:?}"
            );
        } else {
            assert!(by_key["sk-compat"] >= 2, "{}: {by_key:?}", s.name);
        }
    }
    // An operation a provider lacks is refused without reaching the upstream.
    m.reset_stats();
    let resp = post(
        &gw,
        "/v1/embeddings",
        &json!({"model": "groq/mock-model", "input": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_operation", "{body}");
    assert_eq!(m.stats().requests, 0);
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_gemini_and_cohere_native_formats() {
    let m = mock().await;
    let config = format!(
        r#"{{"providers":{{
          "anthropic":{{"keys":[{{"value":"env.ANT_KEY"}}],"network_config":{{"base_url":"{u}"}}}},
          "gemini":{{"keys":[{{"value":"env.GEMINI_KEY"}}],"network_config":{{"base_url":"{u}"}}}},
          "cohere":{{"keys":[{{"value":"env.COHERE_KEY"}}],"network_config":{{"base_url":"{u}"}}}}
        }}}}"#,
        u = m.url()
    );
    let env = [
        ("ANT_KEY", "sk-ant-e2e"),
        ("GEMINI_KEY", "gm-e2e"),
        ("COHERE_KEY", "co-e2e"),
    ];
    let gw = start_with(&config, &env, Cli::default()).await;

    assert_all(&gw, "anthropic/claude-3-5-haiku-latest", None).await;
    assert_eq!(m.stats().requests_by_key["sk-ant-e2e"], 2);

    m.reset_stats();
    assert_all(
        &gw,
        "gemini/gemini-2.0-flash",
        Some("gemini/text-embedding-004"),
    )
    .await;
    assert_eq!(m.stats().requests_by_key["gm-e2e"], 3);
    let last = m.last_request().unwrap();
    assert_eq!(
        last.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_stages(&gw, "gemini").await;

    m.reset_stats();
    assert_all(&gw, "cohere/command-r-plus", Some("cohere/embed-v4.0")).await;
    assert_eq!(m.stats().requests_by_key["co-e2e"], 3);
    assert_stages(&gw, "cohere").await;
    gw.stop().await;
}

#[tokio::test]
async fn azure_with_api_key_and_deployments() {
    let m = mock().await;
    let config = r#"{"providers":{"azure":{"keys":[{"value":"env.AZURE_KEY",
             "azure_key_config":{"endpoint":"env.AZURE_ENDPOINT","api_version":"2024-10-21",
               "deployments":{"gpt-4o":"gpt4o-prod","text-embedding-3-small":"embed-prod"}}}]}}}"#;
    let env = [
        ("AZURE_KEY", "az-key-e2e"),
        ("AZURE_ENDPOINT", m.url().leak()),
    ];
    let gw = start_with(config, &env, Cli::default()).await;
    assert_all(&gw, "azure/gpt-4o", Some("azure/text-embedding-3-small")).await;
    let last = m.last_request().unwrap();
    assert_eq!(last.path, "/openai/deployments/embed-prod/embeddings");
    assert_eq!(m.stats().requests_by_key["az-key-e2e"], 3);
    assert_stages(&gw, "azure").await;
    // The deployments map restricts the key to its models.
    let resp = post(&gw, "/v1/chat/completions", &ask("azure/gpt-3.5")).await;
    assert_eq!(resp.status(), 401);
    gw.stop().await;
}

#[tokio::test]
async fn azure_with_entra_id_fetches_one_token_and_reuses_it() {
    let m = MockServer::start(MockConfig {
        oauth_client_secret: Some("entra-secret".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let config = format!(
        r#"{{"providers":{{"azure":{{"keys":[{{"value":"",
             "azure_key_config":{{"endpoint":"{u}","client_id":"app-1","tenant_id":"tenant-1",
               "client_secret":"env.ENTRA_SECRET","token_url":"{u}/tenant-1/oauth2/v2.0/token",
               "deployments":{{"gpt-4o":"gpt4o-prod"}}}}}}]}}}}}}"#,
        u = m.url()
    );
    let gw = start_with(&config, &[("ENTRA_SECRET", "entra-secret")], Cli::default()).await;
    assert_chat(&gw, "azure/gpt-4o").await;
    assert_stream(&gw, "azure/gpt-4o").await;
    assert_chat(&gw, "azure/gpt-4o").await;
    let stats = m.stats();
    assert_eq!(stats.requests_by_key[TOKEN_REQUESTS], 1, "{stats:?}");
    let token: Vec<&String> = stats
        .requests_by_key
        .keys()
        .filter(|k| k.starts_with("entra.tenant-1.app-1."))
        .collect();
    assert_eq!(token.len(), 1, "{stats:?}");
    assert_eq!(stats.requests_by_key[token[0]], 3);
    gw.stop().await;

    // A wrong secret is a credential error naming the token exchange, and no secret leaks.
    let gw = start_with(&config, &[("ENTRA_SECRET", "wrong")], Cli::default()).await;
    let resp = post(&gw, "/v1/chat/completions", &ask("azure/gpt-4o")).await;
    assert_eq!(resp.status(), 401);
    let text = resp.text().await.unwrap();
    assert!(text.contains("Entra ID token request failed"), "{text}");
    assert!(!text.contains("wrong"), "{text}");
    gw.stop().await;
}

fn service_account(token_uri: &str) -> String {
    let mut sa: Value = serde_json::from_str(include_str!("fixtures/test-google-sa.json")).unwrap();
    sa["token_uri"] = json!(token_uri);
    sa.to_string()
}

#[tokio::test]
async fn vertex_gemini_and_claude_models_with_a_service_account() {
    let m = MockServer::start(MockConfig {
        google_public_key_pem: Some(include_str!("fixtures/test-google-sa.pub.pem").into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let config = format!(
        r#"{{"providers":{{"vertex":{{"keys":[{{"value":"",
             "vertex_key_config":{{"project_id":"bifrost-test","region":"us-central1",
               "auth_credentials":"env.VERTEX_SA"}}}}],
             "network_config":{{"base_url":"{}"}}}}}}}}"#,
        m.url()
    );
    let sa = service_account(&format!("{}/token", m.url()));
    let gw = start_with(&config, &[("VERTEX_SA", sa.as_str())], Cli::default()).await;
    assert_all(
        &gw,
        "vertex/gemini-2.0-flash",
        Some("vertex/text-embedding-005"),
    )
    .await;
    let last = m.last_request().unwrap();
    assert_eq!(
        last.path,
        "/v1/projects/bifrost-test/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    );
    assert_all(&gw, "vertex/claude-3-5-haiku-latest", None).await;
    let last = m.last_request().unwrap();
    assert!(last
        .path
        .ends_with("claude-3-5-haiku-latest:streamRawPredict"));
    // (The mock answers 400 unless the body has Vertex's anthropic_version and no model.)
    let stats = m.stats();
    assert_eq!(stats.requests_by_key[TOKEN_REQUESTS], 1, "{stats:?}");
    assert!(stats
        .requests_by_key
        .keys()
        .any(|k| k.starts_with("ya29.mock-")));
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_with_sigv4_credentials_and_with_an_api_key() {
    let m = aws_mock("AKIDEXAMPLE", "aws-secret-e2e").await;
    let config = format!(
        r#"{{"providers":{{"bedrock":{{"keys":[{{"value":"",
             "bedrock_key_config":{{"access_key":"env.AWS_AK","secret_key":"env.AWS_SK",
               "region":"us-west-2",
               "deployments":{{"claude-sonnet":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"}}}}}}],
             "network_config":{{"base_url":"{}"}}}}}}}}"#,
        m.url()
    );
    let env = [("AWS_AK", "AKIDEXAMPLE"), ("AWS_SK", "aws-secret-e2e")];
    let gw = start_with(&config, &env, Cli::default()).await;
    assert_all(&gw, "bedrock/claude-sonnet", None).await;
    let last = m.last_request().unwrap();
    assert!(
        last.path
            .starts_with("/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/"),
        "{}",
        last.path
    );
    gw.stop().await;

    // A wrong secret fails the mock's signature check: a credential error.
    let env = [("AWS_AK", "AKIDEXAMPLE"), ("AWS_SK", "not-the-secret")];
    let gw = start_with(&config, &env, Cli::default()).await;
    let resp = post(&gw, "/v1/chat/completions", &ask("bedrock/claude-sonnet")).await;
    assert_eq!(resp.status(), 403);
    gw.stop().await;

    // A Bedrock API key is a bearer token.
    let config = format!(
        r#"{{"providers":{{"bedrock":{{"keys":[{{"value":"env.BEDROCK_API_KEY"}}],
             "network_config":{{"base_url":"{}"}}}}}}}}"#,
        m.url()
    );
    let gw = start_with(
        &config,
        &[("BEDROCK_API_KEY", "bedrock-api-key-e2e")],
        Cli::default(),
    )
    .await;
    m.reset_stats();
    assert_all(&gw, "bedrock/amazon.nova-lite-v1:0", None).await;
    assert_eq!(m.stats().requests_by_key["bedrock-api-key-e2e"], 2);
    gw.stop().await;
}

#[tokio::test]
async fn custom_providers_of_every_base_type() {
    let m = aws_mock("AKIDCUSTOM", "custom-secret").await;
    let open = open_mock().await;
    let u = m.url();
    let o = open.url();
    let config = format!(
        r#"{{"providers":{{
          "internal-llm":{{"keys":[{{"value":"k-openai"}}],"network_config":{{"base_url":"{u}/v1"}},
             "custom_provider_config":{{"base_provider_type":"openai",
               "allowed_requests":{{"chat_completion":true,"chat_completion_stream":true,"embedding":false}}}}}},
          "claude-proxy":{{"keys":[{{"value":"k-anthropic"}}],"network_config":{{"base_url":"{u}"}},
             "custom_provider_config":{{"base_provider_type":"anthropic"}}}},
          "gemini-eu":{{"keys":[{{"value":"k-gemini"}}],"network_config":{{"base_url":"{u}"}},
             "custom_provider_config":{{"base_provider_type":"gemini"}}}},
          "bedrock-eu":{{"keys":[{{"value":"","bedrock_key_config":{{"access_key":"AKIDCUSTOM","secret_key":"custom-secret","region":"eu-west-1"}}}}],
             "network_config":{{"base_url":"{u}"}},
             "custom_provider_config":{{"base_provider_type":"bedrock"}}}},
          "cohere-onprem":{{"keys":[{{"value":"k-cohere"}}],"network_config":{{"base_url":"{u}"}},
             "custom_provider_config":{{"base_provider_type":"cohere"}}}},
          "local-nokey":{{"keys":[],"network_config":{{"base_url":"{o}"}},
             "custom_provider_config":{{"base_provider_type":"openai","is_key_less":true,
               "request_path_overrides":{{"chat_completion":"/chat/completions","chat_completion_stream":"/chat/completions"}}}}}}
        }}}}"#
    );
    let gw = start(&config).await;
    for model in [
        "internal-llm/mock-model",
        "claude-proxy/claude-3-5-haiku-latest",
        "gemini-eu/gemini-2.0-flash",
        "bedrock-eu/amazon.nova-pro-v1:0",
        "cohere-onprem/command-r",
        "local-nokey/mock-model",
    ] {
        assert_all(&gw, model, None).await;
    }
    assert_eq!(open.last_request().unwrap().path, "/chat/completions");
    let by_key = m.stats().requests_by_key;
    for k in ["k-openai", "k-anthropic", "k-gemini", "k-cohere"] {
        assert_eq!(by_key[k], 2, "{k}: {by_key:?}");
    }
    // allowed_requests switched embeddings off.
    let resp = post(
        &gw,
        "/v1/embeddings",
        &json!({"model": "internal-llm/mock-model", "input": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    gw.stop().await;
}

const WEATHER_TOOL: &str = r#"[{"type":"function","function":{"name":"get_weather",
    "description":"Weather for a city","parameters":{"type":"object",
    "properties":{"location":{"type":"string"}},"required":["location"]}}}]"#;

/// A tool call through each native translation, plain and streamed: the client sees OpenAI's
/// `tool_calls` with the arguments the upstream produced.
#[tokio::test]
async fn tool_calls_through_every_native_format() {
    let m = aws_mock("AKIDTOOLS", "tools-secret").await;
    let config = format!(
        r#"{{"providers":{{
          "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{u}"}}}},
          "gemini":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{u}"}}}},
          "cohere":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{u}"}}}},
          "bedrock":{{"keys":[{{"bedrock_key_config":{{"access_key":"AKIDTOOLS","secret_key":"tools-secret"}}}}],
                      "network_config":{{"base_url":"{u}"}}}}
        }}}}"#,
        u = m.url()
    );
    let gw = start(&config).await;
    let tools: Value = serde_json::from_str(WEATHER_TOOL).unwrap();
    for model in [
        "anthropic/claude-3-5-haiku-latest",
        "gemini/gemini-2.0-flash",
        "cohere/command-r-plus",
        "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
    ] {
        let body = json!({"model": model, "max_tokens": 64, "tools": tools, "tool_choice": "auto",
            "messages": [{"role": "user", "content": "What's the weather in Paris?"}]});
        let out: Value = post(&gw, "/v1/chat/completions", &body)
            .await
            .json()
            .await
            .unwrap();
        let choice = &out["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {out}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function", "{model}: {out}");
        assert_eq!(call["function"]["name"], "get_weather", "{model}: {out}");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "Paris"}), "{model}");
        assert!(!call["id"].as_str().unwrap().is_empty(), "{model}");

        // Streamed: the call's pieces share one index and add up to the same arguments.
        let mut body = body;
        body["stream"] = json!(true);
        let events = read_sse(post(&gw, "/v1/chat/completions", &body).await).await;
        assert_eq!(events.last().unwrap().data, "[DONE]", "{model}");
        let (mut name, mut arguments, mut finish) = (String::new(), String::new(), None);
        for e in &events[..events.len() - 1] {
            let chunk: Value = serde_json::from_str(&e.data).unwrap();
            for d in chunk["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert_eq!(d["index"], 0, "{model}: {chunk}");
                name.push_str(d["function"]["name"].as_str().unwrap_or(""));
                arguments.push_str(d["function"]["arguments"].as_str().unwrap_or(""));
            }
            if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
                finish = Some(f.to_owned());
            }
        }
        assert_eq!(name, "get_weather", "{model}");
        let args: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(args, json!({"location": "Paris"}), "{model}");
        assert_eq!(finish.as_deref(), Some("tool_calls"), "{model}");
    }
    gw.stop().await;
}

/// A Bedrock exception frame before the first chunk is an attempt failure the gateway falls
/// back from; after chunks have gone out, the client gets one error event and no `[DONE]`.
#[tokio::test]
async fn bedrock_exception_frames_fall_back_or_end_the_stream() {
    let failing = MockServer::start(MockConfig {
        stream_fail_after: Some(0),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let healthy = mock().await;
    let config = format!(
        r#"{{"providers":{{
          "bedrock":{{"keys":[{{"value":"bk"}}],
                      "network_config":{{"base_url":"{}","max_retries":0}}}},
          "openai":{{"keys":[{{"value":"sk"}}],"network_config":{{"base_url":"{}"}}}}
        }}}}"#,
        failing.url(),
        healthy.url()
    );
    let gw = start(&config).await;
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "bedrock/amazon.nova-lite-v1:0", "stream": true,
                "fallbacks": ["openai/gpt-4o-mini"],
                "messages": [{"role": "user", "content": "Hello!"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "openai");
    assert_eq!(resp.headers()["x-bf-fallback-index"], "1");
    assert_eq!(read_sse(resp).await.last().unwrap().data, "[DONE]");
    assert_eq!(failing.stats().failures_injected, 1);

    failing.set_config(MockConfig {
        stream_fail_after: Some(2),
        ..failing.config()
    });
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "bedrock/amazon.nova-lite-v1:0", "stream": true,
                "messages": [{"role": "user", "content": "Hello!"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let events = read_sse(resp).await;
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    gw.stop().await;
}

#[tokio::test]
async fn a_model_name_cannot_change_the_upstream_url() {
    let m = mock().await;
    let config = format!(
        r#"{{"providers":{{
          "gemini":{{"keys":[{{"value":"k-g"}}],"network_config":{{"base_url":"{u}","retries":0}}}},
          "azure":{{"keys":[{{"value":"k-az","azure_key_config":{{"endpoint":"{u}","api_version":"2024-10-21"}}}}],
                   "network_config":{{"retries":0}}}}}}}}"#,
        u = m.url()
    );
    let gw = start(&config).await;
    for (model, encoded) in [
        (
            "gemini/x/../../admin?all=1#f",
            "x%2F..%2F..%2Fadmin%3Fall%3D1%23f",
        ),
        ("azure/../../admin?all=1", "..%2F..%2Fadmin%3Fall%3D1"),
        ("azure/..", "%2E%2E"),
    ] {
        post(&gw, "/v1/chat/completions", &ask(model)).await;
        let last = m.last_request().expect("the request reached the mock");
        assert!(last.path.contains(encoded), "{model}: {}", last.path);
        assert!(!last.path.contains("/admin"), "{model}: {}", last.path);
    }
    gw.stop().await;
}
