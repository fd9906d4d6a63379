//! What the mock's end-to-end tests share: the server on a loopback port and readers of
//! streamed bodies.
// Each test file uses part of this; panicking on unexpected errors is the point of a test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bifrost_mock::{MockConfig, MockServer};
use futures::StreamExt;
use serde_json::Value;

pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock server starts")
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
