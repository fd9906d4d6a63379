//! Drop-in routes over real HTTP (the Python SDK suite in tests/sdk covers the OpenAI,
//! Anthropic and GenAI SDKs themselves): the Cohere and Bedrock native routes, caller keys,
//! what reaches an upstream through a translation, and each route's error shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_core::providers::bedrock::eventstream;
use bifrost_mock::MockServer;
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

async fn post(gw: &TestGateway, path: &str, body: Value) -> reqwest::Response {
    post_json(gw, path, &body, &[]).await
}

/// Posts `body` to `path` and checks the answer's status; its headers and JSON body.
async fn post_expect(
    gw: &TestGateway,
    path: &str,
    body: Value,
    status: u16,
) -> (reqwest::header::HeaderMap, Value) {
    let resp = post(gw, path, body).await;
    assert_eq!(resp.status(), status, "{path}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

fn config(mock: &MockServer, client: &str) -> String {
    format!(
        r#"{{"client":{{{client}}},"providers":{{
          "openai":{{"keys":[{{"value":"sk-configured"}}],"network_config":{{"base_url":"{u}"}}}},
          "cohere":{{"keys":[{{"value":"co-configured"}}],"network_config":{{"base_url":"{u}"}}}},
          "bedrock":{{"keys":[{{"bedrock_key_config":{{"access_key":"AKIDDROP","secret_key":"drop-secret",
                       "deployments":{{"claude":"anthropic.claude-3-5-haiku-20241022-v1:0"}}}}}}],
                      "network_config":{{"base_url":"{u}"}}}}
        }}}}"#,
        u = mock.url()
    )
}

async fn mock() -> MockServer {
    aws_mock("AKIDDROP", "drop-secret").await
}

/// The mock, and a gateway on it with `client` settings.
async fn started(client: &str) -> (MockServer, TestGateway) {
    let m = mock().await;
    let gw = start(&config(&m, client)).await;
    (m, gw)
}

/// OpenAI keys naming their models and an Azure deployment, at the mock.
fn models_config(m: &MockServer) -> String {
    format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"k","models":["gpt-4o","gpt-4o-mini"]}}],"network_config":{{"base_url":"{u}"}}}},
          "azure":{{"keys":[{{"value":"k","azure_key_config":{{"endpoint":"{u}","deployments":{{"gpt-4o":"prod"}}}}}}]}}
        }}}}"#,
        u = m.url()
    )
}

#[tokio::test]
async fn cohere_route_forwards_native_bodies_plain_and_streamed() {
    let (m, gw) = started("").await;
    let body = json!({"model": "command-r-plus",
                      "messages": [{"role": "user", "content": "Hello!"}]});
    let (headers, out) = post_expect(&gw, "/cohere/v2/chat", body.clone(), 200).await;
    assert_eq!(headers["x-bf-provider"], "cohere");
    assert_eq!(
        out["message"]["content"][0]["text"],
        "Mock reply to: Hello!"
    );
    assert_eq!(out["finish_reason"], "COMPLETE");
    assert_eq!(m.stats().requests_by_key["co-configured"], 1);

    let mut body = body;
    body["stream"] = json!(true);
    let resp = post(&gw, "/cohere/v2/chat", body).await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = read_sse(resp).await;
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter(|v| v["type"] == "content-delta")
        .map(|v| {
            v["delta"]["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Mock reply to: Hello!");
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_route_re_signs_converse_and_streams_event_frames() {
    let (m, gw) = started("").await;
    let body = json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
                      "inferenceConfig": {"maxTokens": 64}});
    // The client's own signature is irrelevant: the gateway signs with its credentials.
    let resp = client()
        .post(format!("{}/bedrock/model/claude/converse", gw.url))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=CLIENT/x, Signature=bogus",
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        out["output"]["message"]["content"][0]["text"],
        "Mock reply to: Hello!"
    );
    assert_eq!(out["stopReason"], "end_turn");
    // The deployment map names the upstream model id, percent-encoded in the signed path.
    assert_eq!(
        m.last_request().unwrap().path,
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );

    let resp = post(&gw, "/bedrock/model/claude/converse-stream", body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let frames: Vec<_> = eventstream::decode(resp.bytes_stream())
        .collect::<Vec<_>>()
        .await;
    let mut text = String::new();
    let mut kinds = Vec::new();
    for f in frames {
        let f = f.unwrap();
        assert_eq!(f.message_type, "event");
        let kind = f.event_type.clone().unwrap();
        if kind == "contentBlockDelta" {
            let v: Value = serde_json::from_slice(&f.payload).unwrap();
            text.push_str(v["delta"]["text"].as_str().unwrap_or(""));
        }
        kinds.push(kind);
    }
    assert_eq!(text, "Mock reply to: Hello!");
    assert_eq!(kinds.first().unwrap(), "messageStart");
    assert_eq!(kinds.last().unwrap(), "metadata");

    // Errors carry AWS's shape and error-type header.
    let (headers, err) = post_expect(&gw, "/bedrock/model/claude/invoke", json!({}), 404).await;
    assert_eq!(headers["x-amzn-errortype"], "ResourceNotFoundException");
    assert!(err["message"].as_str().unwrap().contains("converse"));
    gw.stop().await;
}

#[tokio::test]
async fn native_routes_refuse_providers_of_another_format_by_name() {
    let (m, gw) = started("").await;
    // The AWS SDK percent-encodes the model id into one path segment.
    let (headers, e) = post_expect(
        &gw,
        "/bedrock/model/openai%2Fgpt-4o-mini/converse",
        json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}]}),
        400,
    )
    .await;
    assert_eq!(headers["x-amzn-errortype"], "ValidationException");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("/bedrock forwards only to Bedrock-format providers")
            && message.contains("provider 'openai'"),
        "{e}"
    );

    let (_, e) = post_expect(
        &gw,
        "/cohere/v2/chat",
        json!({"model": "openai/gpt-4o-mini", "stream": true,
               "messages": [{"role": "user", "content": "Hello!"}]}),
        400,
    )
    .await;
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("/cohere forwards only to Cohere-format providers")
            && message.contains("provider 'openai'"),
        "{e}"
    );
    // Nothing reached the upstream.
    assert_eq!(m.stats().requests, 0);
    gw.stop().await;
}

#[tokio::test]
async fn caller_keys_are_used_only_when_allowed() {
    let m = mock().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let send = |gw_url: String, body: Value| async move {
        client()
            .post(format!("{gw_url}/openai/v1/chat/completions"))
            .bearer_auth("sk-callers-own")
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let gw = start(&config(&m, "")).await;
    assert_eq!(send(gw.url.clone(), body.clone()).await.status(), 200);
    let by_key = m.stats().requests_by_key;
    assert_eq!(by_key.get("sk-configured"), Some(&1));
    assert!(!by_key.contains_key("sk-callers-own"));
    gw.stop().await;

    m.reset_stats();
    let gw = start(&config(&m, r#""allow_direct_keys":true"#)).await;
    assert_eq!(send(gw.url.clone(), body.clone()).await.status(), 200);
    let by_key = m.stats().requests_by_key;
    assert_eq!(by_key.get("sk-callers-own"), Some(&1), "{by_key:?}");
    assert!(!by_key.contains_key("sk-configured"));
    // A virtual key (sk-bf-…) is never taken for a provider key: governance checks it (this
    // one is unknown: 401) and it never goes upstream.
    let resp = client()
        .post(format!("{}/openai/v1/chat/completions", gw.url))
        .bearer_auth("sk-bf-virtual")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(!m.stats().requests_by_key.contains_key("sk-bf-virtual"));
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_only_fields_never_reach_an_openai_upstream() {
    let (m, gw) = started("").await;
    let (_, out) = post_expect(
        &gw,
        "/anthropic/v1/messages",
        json!({"model": "openai/gpt-4o-mini", "max_tokens": 32, "top_k": 5,
               "system": [{"type": "text", "text": "Be brief.",
                           "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": "Hello!"}]}),
        200,
    )
    .await;
    assert_eq!(out["content"][0]["text"], "Mock reply to: Hello!");
    let sent = m.last_request().unwrap().body;
    assert!(sent.get("top_k").is_none(), "{sent}");
    assert!(!sent.to_string().contains("cache_control"), "{sent}");
    assert_eq!(sent["messages"][0]["role"], "system");
    gw.stop().await;
}

#[tokio::test]
async fn genai_embed_content_and_batch_are_served_by_an_openai_upstream() {
    let (m, gw) = started("").await;
    let model = "/genai/v1beta/models/openai/text-embedding-3-small";
    let (headers, one) = post_expect(
        &gw,
        &format!("{model}:embedContent"),
        json!({"content": {"parts": [{"text": "Hello world"}]}, "outputDimensionality": 8}),
        200,
    )
    .await;
    assert_eq!(headers["x-bf-provider"], "openai");
    let values = one["embedding"]["values"].as_array().unwrap();
    assert!(
        !values.is_empty() && values.iter().all(Value::is_f64),
        "{one}"
    );
    let sent = m.last_request().unwrap();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body["input"], "Hello world");
    assert_eq!(sent.body["dimensions"], 8);

    let (_, batch) = post_expect(
        &gw,
        &format!("{model}:batchEmbedContents"),
        json!({"requests": [
            {"model": "models/openai/text-embedding-3-small", "content": {"parts": [{"text": "Hello world"}]}},
            {"model": "models/openai/text-embedding-3-small", "content": {"parts": [{"text": "Bye"}]}}
        ]}),
        200,
    )
    .await;
    let embeddings = batch["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 2, "{batch}");
    // The mock's vectors depend on the text only: the first input is the single one above.
    assert_eq!(embeddings[0]["values"], one["embedding"]["values"]);
    assert_ne!(embeddings[1]["values"], one["embedding"]["values"]);
    assert_eq!(
        m.last_request().unwrap().body["input"],
        json!(["Hello world", "Bye"])
    );
    gw.stop().await;
}

#[tokio::test]
async fn genai_actions_follow_the_last_colon_of_the_path() {
    let (_m, gw) = started("").await;
    // A Bedrock-style id holds a colon of its own.
    let (_, out) = post_expect(
        &gw,
        "/genai/v1beta/models/bedrock/anthropic.claude-v2:1:countTokens",
        json!({"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}),
        200,
    )
    .await;
    assert!(out["totalTokens"].as_u64().unwrap() >= 1, "{out}");
    gw.stop().await;
}

#[tokio::test]
async fn each_drop_in_route_answers_errors_in_its_own_shape() {
    let (_m, gw) = started("").await;
    // No provider serves this model: Anthropic's shape.
    let (_, e) = post_expect(
        &gw,
        "/anthropic/v1/messages",
        json!({"model": "nowhere/x", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
        404,
    )
    .await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "not_found_error");
    // Google's shape.
    let genai = "/genai/v1beta/models/openai";
    let (_, e) = post_expect(&gw, &format!("{genai}/gpt-4o-mini:predict"), json!({}), 404).await;
    assert_eq!(e["error"]["code"], 404);
    assert_eq!(e["error"]["status"], "NOT_FOUND");
    for (action, body) in [
        ("text-embedding-3-small:embedContent", json!({})),
        ("gpt-4o-mini:generateContent", json!({"contents": []})),
    ] {
        let (_, e) = post_expect(&gw, &format!("{genai}/{action}"), body, 400).await;
        assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    }
    gw.stop().await;
}

#[tokio::test]
async fn models_can_be_listed_without_prefixes_and_by_provider() {
    let m = mock().await;
    let gw = start(&models_config(&m)).await;
    let ids = async |path: &str| data_ids(&get_json(format!("{}{path}", gw.url)).await);
    // In configuration order.
    assert_eq!(
        ids("/v1/models").await,
        ["openai/gpt-4o", "openai/gpt-4o-mini", "azure/gpt-4o"]
    );
    assert_eq!(
        ids("/openai/v1/models?unprefixed=true").await,
        ["gpt-4o", "gpt-4o-mini"]
    );
    assert_eq!(ids("/v1/models?provider=azure").await, ["azure/gpt-4o"]);
    gw.stop().await;
}

#[tokio::test]
async fn one_model_is_retrieved_by_listed_or_bare_id() {
    let m = mock().await;
    let gw = start(&models_config(&m)).await;
    // `GET path`, checked to answer `status`: its JSON.
    let get = async |path: &str, status: u16| {
        let resp = http_get(format!("{}{path}", gw.url)).await;
        assert_eq!(resp.status(), status, "{path}");
        resp.json::<Value>().await.unwrap()
    };

    let model = get("/v1/models/openai/gpt-4o", 200).await;
    assert_eq!(model["id"], "openai/gpt-4o");
    assert_eq!(model["object"], "model");
    assert_eq!(model["owned_by"], "openai");
    assert!(model["created"].is_u64(), "{model}");

    // A bare id one provider lists; the same under the OpenAI SDK's base URL.
    for prefix in ["", "/openai/v1"] {
        let model = get(&format!("{prefix}/models/gpt-4o-mini"), 200).await;
        assert_eq!(model["id"], "gpt-4o-mini");
        assert_eq!(model["owned_by"], "openai");
    }
    // Listed by two providers: /openai means OpenAI's, the generic route cannot choose.
    let model = get("/openai/v1/models/gpt-4o", 200).await;
    assert_eq!(model["owned_by"], "openai");
    let e = get("/v1/models/gpt-4o", 404).await;
    assert_eq!(e["error"]["code"], "model_not_found");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("azure/gpt-4o"),
        "{e}"
    );

    for id in ["nope", "openai/nope", "azure/gpt-4o-mini"] {
        let e = get(&format!("/v1/models/{id}"), 404).await;
        assert_eq!(e["error"]["code"], "model_not_found", "{id}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{id}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn models_of_providers_whose_keys_allow_any_model_come_from_the_upstream() {
    let (m, gw) = started("").await;
    let ids = data_ids(&get_json(format!("{}/openai/v1/models", gw.url)).await);
    // The mock's own list, asked with the configured key; Cohere's mock cannot list: skipped.
    for id in ["openai/gpt-4o-mini", "bedrock/claude"] {
        assert!(ids.iter().any(|i| i == id), "{ids:?}");
    }
    assert_eq!(m.stats().requests_by_key.get("sk-configured"), Some(&1));
    // Cached: a second listing asks no upstream.
    http_get(format!("{}/v1/models", gw.url)).await;
    assert_eq!(m.stats().requests_by_key.get("sk-configured"), Some(&1));
    gw.stop().await;
}
