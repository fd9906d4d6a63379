//! Cohere v2 endpoints end to end: a real server on loopback, hit over HTTP with reqwest.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::{chunks, cut_after, read_sse, read_stream, send, send_json, start, throttled};
use serde_json::{json, Value};

const KEY: &str = "co-test";

fn post(server: &MockServer, path: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(KEY)
        .json(body)
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "command-a-03-2025",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi cohere"}]},
        ],
    })
}

fn weather_body(stream: bool) -> Value {
    json!({
        "model": "command-a-03-2025",
        "stream": stream,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
        ],
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    })
}

/// `(event name, data)` pairs of an SSE body; Cohere names every event.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    common::sse_events(body)
        .into_iter()
        .map(|(event, data)| (event.unwrap_or_default(), common::json_of(&data)))
        .collect()
}

#[tokio::test]
async fn chat_non_streaming_shape() {
    let server = start(MockConfig::default()).await;
    let response = send(post(&server, "/v2/chat", &chat_body(false))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("cohere-mock-"));
    assert_eq!(body["finish_reason"], "COMPLETE");
    assert_eq!(
        body["message"],
        json!({"role": "assistant", "content": [{"type": "text", "text": "Mock reply to: hi cohere"}]})
    );
    let usage = &body["usage"];
    assert_eq!(usage["billed_units"], usage["tokens"]);
    assert!(usage["tokens"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(usage["tokens"]["output_tokens"], 6);
    let recorded = server.last_request().unwrap();
    assert_eq!(recorded.path, "/v2/chat");
    assert_eq!(recorded.header("authorization"), Some("Bearer co-test"));
}

#[tokio::test]
async fn chat_stream_sequence() {
    let server = start(chunks(4)).await;
    let text = read_sse(send(post(&server, "/v2/chat", &chat_body(true))).await).await;
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end",
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }
    assert!(events[0].1["id"]
        .as_str()
        .unwrap()
        .starts_with("cohere-mock-"));
    assert_eq!(events[0].1["delta"]["message"]["role"], "assistant");
    assert_eq!(
        events[1].1["delta"]["message"]["content"],
        json!({"type": "text", "text": ""})
    );
    let content: String = events[2..6]
        .iter()
        .map(|(_, d)| {
            assert_eq!(d["index"], 0);
            d["delta"]["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(content, "Mock reply to: hi cohere");
    let end = &events[7].1["delta"];
    assert_eq!(end["finish_reason"], "COMPLETE");
    assert_eq!(end["usage"]["tokens"]["output_tokens"], 6);
    assert_eq!(server.stats().streams_completed, 1);
}

#[tokio::test]
async fn chat_tool_call() {
    let server = start(MockConfig::default()).await;
    let body = send_json(post(&server, "/v2/chat", &weather_body(false))).await;
    assert_eq!(body["finish_reason"], "TOOL_CALL");
    assert_eq!(
        body["message"],
        json!({
            "role": "assistant",
            "tool_plan": "Let me check.",
            "tool_calls": [{"id": "get_weather_mock_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]
        })
    );

    let mut no_tools = weather_body(false);
    no_tools.as_object_mut().unwrap().remove("tools");
    let body = send_json(post(&server, "/v2/chat", &no_tools)).await;
    assert_eq!(body["finish_reason"], "COMPLETE");

    let (text, _) = read_stream(send(post(&server, "/v2/chat", &weather_body(true))).await).await;
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message-start"));
    assert!(!names.contains(&"content-start"));
    let plan: String = events
        .iter()
        .filter(|(n, _)| n == "tool-plan-delta")
        .map(|(_, d)| {
            d["delta"]["message"]["tool_plan"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(plan, "Let me check.");
    let start = events
        .iter()
        .find(|(n, _)| n == "tool-call-start")
        .map(|(_, d)| d)
        .unwrap();
    assert_eq!(start["index"], 0);
    assert_eq!(
        start["delta"]["message"]["tool_calls"],
        json!({"id": "get_weather_mock_1", "type": "function",
               "function": {"name": "get_weather", "arguments": ""}})
    );
    let arguments: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "tool-call-delta")
        .map(|(_, d)| {
            d["delta"]["message"]["tool_calls"]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(arguments.len(), 2);
    let arguments: Value = serde_json::from_str(&arguments.concat()).unwrap();
    assert_eq!(arguments, json!({"location": "Paris"}));
    assert_eq!(&names[names.len() - 2..], ["tool-call-end", "message-end"]);
    assert_eq!(
        events.last().unwrap().1["delta"]["finish_reason"],
        "TOOL_CALL"
    );
}

#[tokio::test]
async fn errors_have_cohere_shape() {
    let server = start(MockConfig::default()).await;
    let unauthenticated = reqwest::Client::new().post(format!("{}/v2/chat", server.url()));
    let response = send(unauthenticated.json(&chat_body(false))).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert!(error["id"].as_str().unwrap().len() == 32);
    assert!(error["message"].as_str().unwrap().contains("Bearer"));
    assert_eq!(error.as_object().unwrap().len(), 2);

    let response = send(post(&server, "/v2/chat", &json!({"messages": []}))).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["message"].as_str().unwrap().contains("model"));

    server.set_config(throttled());
    for path in ["/v2/chat", "/v2/embed", "/v2/rerank"] {
        let response = send(post(&server, path, &chat_body(true))).await;
        assert_eq!(response.status(), 429, "{path}");
        assert_eq!(response.headers()["retry-after"], "2");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["message"], "mock: injected failure");
    }
    assert_eq!(server.stats().failures_injected, 3);
    assert_eq!(server.stats().streams_started, 0);
}

#[tokio::test]
async fn stream_fail_after_truncates() {
    let server = start(cut_after(5, 2)).await;
    let response = send(post(&server, "/v2/chat", &chat_body(true))).await;
    assert_eq!(response.status(), 200);
    let (text, errored) = read_stream(response).await;
    assert!(errored, "the client must see a broken stream");
    assert!(!text.contains("message-end"));
    assert_eq!(text.matches("event: content-delta").count(), 2);
    let stats = server.stats();
    assert_eq!((stats.streams_started, stats.streams_completed), (1, 0));
    assert_eq!(stats.failures_injected, 1);
}

#[tokio::test]
async fn embed_is_deterministic() {
    let server = start(MockConfig::default()).await;
    let body = json!({
        "model": "embed-v4.0", "texts": ["hello", "goodbye", "hello"],
        "input_type": "search_document", "embedding_types": ["float"]
    });
    let response = send(post(&server, "/v2/embed", &body)).await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["response_type"], "embeddings_by_type");
    assert_eq!(reply["texts"], json!(["hello", "goodbye", "hello"]));
    let vectors = reply["embeddings"]["float"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.as_array().unwrap().len() == 8));
    assert_eq!(vectors[0], vectors[2]);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(reply["meta"]["billed_units"]["input_tokens"], 5);

    let again = send_json(post(&server, "/v2/embed", &body)).await;
    assert_eq!(again["embeddings"], reply["embeddings"]);

    let mut dims = body.clone();
    dims["output_dimension"] = json!(256);
    let reply = send_json(post(&server, "/v2/embed", &dims)).await;
    assert_eq!(
        reply["embeddings"]["float"][0].as_array().unwrap().len(),
        256
    );

    for bad in [
        json!({"model": "embed-v4.0", "texts": [], "embedding_types": ["float"]}),
        json!({"model": "embed-v4.0", "texts": ["x"]}),
        json!({"texts": ["x"], "embedding_types": ["float"]}),
    ] {
        let response = send(post(&server, "/v2/embed", &bad)).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn rerank_scores_by_word_overlap() {
    let server = start(MockConfig::default()).await;
    let body = json!({
        "model": "rerank-v3.5",
        "query": "What is the capital of France?",
        "documents": [
            "Berlin is the capital of Germany.",
            "Paris is the capital of France.",
            "Bananas are yellow.",
        ],
    });
    let reply = send_json(post(&server, "/v2/rerank", &body)).await;
    let results = reply["results"].as_array().unwrap();
    let order: Vec<u64> = results
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 0, 2]);
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["relevance_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores[0] > scores[1] && scores[2] == 0.0);
    assert_eq!(reply["meta"]["billed_units"]["search_units"], 1);

    let mut top = body.clone();
    top["top_n"] = json!(1);
    let reply = send_json(post(&server, "/v2/rerank", &top)).await;
    assert_eq!(reply["results"].as_array().unwrap().len(), 1);
    assert_eq!(reply["results"][0]["index"], 1);

    let response = send(post(
        &server,
        "/v2/rerank",
        &json!({"model": "m", "query": "q"}),
    ))
    .await;
    assert_eq!(response.status(), 400);
}
