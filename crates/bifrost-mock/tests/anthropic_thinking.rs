//! The Anthropic mock's extended-thinking replies: signed thinking blocks, echoed unknown
//! blocks, `document` blocks accepted.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::{anthropic_as, json_of, send, sse_events, start};
use serde_json::{json, Value};

fn body(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "stream": stream,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a memo"}},
            {"type": "future_block", "payload": {"b": 1, "a": [1.5]}},
            {"type": "text", "text": "summarize"}
        ]}]
    })
}

async fn post(server: &MockServer, body: &Value) -> reqwest::Response {
    send(anthropic_as(server, "sk-test").json(body)).await
}

#[tokio::test]
async fn thinking_reply_is_signed_and_echoes_unknown_blocks() {
    let server = start(MockConfig::default()).await;
    let resp = post(&server, &body(false)).await;
    assert_eq!(resp.status(), 200);
    let reply: Value = resp.json().await.unwrap();
    let content = reply["content"].as_array().unwrap();
    assert_eq!(content.len(), 3, "{reply}");
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(content[0]["thinking"], "Mock thinking about: summarize");
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(
        content[1],
        json!({"type": "future_block", "payload": {"b": 1, "a": [1.5]}})
    );
    assert_eq!(content[2]["text"], "Mock reply to: summarize");

    // Without thinking the reply is as before.
    let mut plain = body(false);
    plain.as_object_mut().unwrap().remove("thinking");
    let reply: Value = post(&server, &plain).await.json().await.unwrap();
    assert_eq!(reply["content"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn thinking_streams_thinking_and_signature_deltas() {
    let server = start(MockConfig::default()).await;
    let text = post(&server, &body(true)).await.text().await.unwrap();
    let events: Vec<Value> = sse_events(&text).iter().map(|(_, d)| json_of(d)).collect();
    let starts: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(starts, [(0, "thinking"), (1, "future_block"), (2, "text")]);
    let delta_types: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "content_block_delta" && e["index"] == 0)
        .map(|e| e["delta"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        delta_types,
        ["thinking_delta", "thinking_delta", "signature_delta"]
    );
    assert_eq!(events.last().unwrap()["type"], "message_stop");
}
