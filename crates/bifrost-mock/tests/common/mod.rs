//! What the mock's end-to-end tests share: the server on a loopback port and readers of
//! streamed bodies.
// Each test file uses part of this; panicking on unexpected errors is the point of a test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bifrost_mock::{MockConfig, MockServer};
use futures::StreamExt;
use serde_json::Value;

pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock server starts")
}

/// Streams of `chunks` content chunks.
pub fn chunks(chunks: usize) -> MockConfig {
    MockConfig {
        chunks,
        ..MockConfig::default()
    }
}

/// Streams of `chunks` content chunks, broken off after `after` of them.
pub fn cut_after(chunks: usize, after: usize) -> MockConfig {
    MockConfig {
        chunks,
        stream_fail_after: Some(after),
        ..MockConfig::default()
    }
}

/// Every request fails with 429 and a 1.5 s retry hint (`retry-after: 2`, rounded up).
pub fn throttled() -> MockConfig {
    MockConfig {
        fail_rate: 1.0,
        fail_status: 429,
        retry_after: Some(Duration::from_millis(1500)),
        ..MockConfig::default()
    }
}

/// `POST /v1/chat/completions` with `key` as the bearer token, body still to add.
pub fn openai_as(server: &MockServer, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url()))
        .bearer_auth(key)
}

/// `POST /v1/messages` with `key` as `x-api-key` and the required version header, body still
/// to add.
pub fn anthropic_as(server: &MockServer, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/v1/messages", server.url()))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
}

/// Sends a request the mock must answer (with any status).
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("the mock answers")
}

/// Sends a request and reads its JSON reply.
pub async fn send_json(request: reqwest::RequestBuilder) -> Value {
    send(request).await.json().await.expect("a JSON reply")
}

/// Reads a 200 `text/event-stream` reply, which must end cleanly.
pub async fn read_sse(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (text, errored) = read_stream(response).await;
    assert!(!errored, "the stream ends cleanly");
    text
}

/// Reads a streamed body chunk by chunk; returns the text received and whether the stream
/// ended with a transport error.
pub async fn read_stream(response: reqwest::Response) -> (String, bool) {
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => text.push_str(std::str::from_utf8(&bytes).expect("utf-8")),
            Err(_) => return (text, true),
        }
    }
    (text, false)
}

/// Splits an SSE body into `(event name, data)` pairs.
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

pub fn json_of(data: &str) -> Value {
    serde_json::from_str(data).expect("event data is JSON")
}
