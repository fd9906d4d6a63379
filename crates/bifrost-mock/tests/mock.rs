//! End-to-end tests: a real server on loopback, hit over HTTP with reqwest.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bifrost_mock::{Fault, MockConfig, MockServer};
use common::{
    anthropic_as, chunks, cut_after, json_of, openai_as, read_sse, read_stream, send, send_json,
    sse_events, start, throttled,
};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

const KEY: &str = "sk-test";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn openai(server: &MockServer, body: &Value) -> reqwest::RequestBuilder {
    openai_as(server, KEY).json(body)
}

fn anthropic(server: &MockServer, body: &Value) -> reqwest::RequestBuilder {
    anthropic_as(server, KEY).json(body)
}

/// A streamed chat reply's body, from a mock that sends `chunks` content chunks 50 ms apart
/// (the server is returned to keep it serving).
async fn paced_chat_stream(
    chunks: usize,
) -> (
    MockServer,
    impl Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
) {
    let server = start(MockConfig {
        chunks,
        chunk_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let response = send(openai(&server, &chat_body(true))).await;
    (server, response.bytes_stream())
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"},
        ],
    })
}

fn messages_body(stream: bool) -> Value {
    json!({
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi claude"}]}],
    })
}

fn weather_body(stream: bool) -> Value {
    json!({
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 64,
        "stream": stream,
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object"}},
            {"name": "other", "input_schema": {"type": "object"}},
        ],
        "messages": [{"role": "user", "content": "What is the Weather in Paris?"}],
    })
}

#[tokio::test]
async fn openai_non_streaming_shape() {
    let server = start(MockConfig::default()).await;
    let response = send(openai(&server, &chat_body(false))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "gpt-4o-mini");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Mock reply to: hello there");
    let usage = &body["usage"];
    let (p, c) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p >= 1 && c >= 1);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), p + c);

    // The short path is served as well.
    let short = client().post(format!("{}/chat/completions", server.url()));
    let response = send(short.bearer_auth(KEY).json(&chat_body(false))).await;
    assert_eq!(response.status(), 200);

    let stats = server.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.requests_by_key.get(KEY), Some(&2));
    let last = server.last_request().unwrap();
    assert_eq!(last.path, "/chat/completions");
    assert_eq!(last.body["model"], "gpt-4o-mini");
    assert_eq!(last.header("authorization"), Some("Bearer sk-test"));
}

#[tokio::test]
async fn anthropic_non_streaming_shape() {
    let server = start(MockConfig::default()).await;
    let response = send(anthropic(&server, &messages_body(false))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Mock reply to: hi claude"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() >= 1);
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() >= 1);
    let last = server.last_request().unwrap();
    assert_eq!(last.path, "/v1/messages");
    assert_eq!(last.header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn anthropic_validation_errors() {
    let server = start(MockConfig::default()).await;
    let mut body = messages_body(false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let response = send(anthropic(&server, &body)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));

    let unversioned = client().post(format!("{}/v1/messages", server.url()));
    let response = send(
        unversioned
            .header("x-api-key", KEY)
            .json(&messages_body(false)),
    )
    .await;
    assert_eq!(response.status(), 400, "anthropic-version is required");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let server = start(MockConfig::default()).await;
    let response = send(openai_as(&server, KEY).body("{not json")).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].is_string());
    assert_eq!(server.last_request().unwrap().body, json!("{not json"));

    let response = send(anthropic_as(&server, KEY).body("[1,")).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
}

#[tokio::test]
async fn openai_stream_sequence() {
    let server = start(chunks(3)).await;
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = send(openai(&server, &body)).await;
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let text = read_sse(response).await;
    assert!(text.ends_with("data: [DONE]\n\n"));

    let events = sse_events(&text);
    // role + 3 content + finish + usage + [DONE]
    assert_eq!(events.len(), 7, "{text}");
    assert!(events.iter().all(|(name, _)| name.is_none()));
    let chunks: Vec<Value> = events[..6].iter().map(|(_, d)| json_of(d)).collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-4o-mini");
        assert_eq!(chunk["id"], chunks[0]["id"]);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let content: String = chunks[1..4]
        .iter()
        .map(|c| {
            assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(content, "Mock reply to: hello there");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert!(chunks[5]["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(events[6].1, "[DONE]");

    let stats = server.stats();
    assert_eq!(
        (
            stats.streams_started,
            stats.streams_completed,
            stats.streams_aborted
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn openai_stream_without_usage_or_content() {
    let server = start(chunks(0)).await;
    let (text, _) = read_stream(send(openai(&server, &chat_body(true))).await).await;
    let events = sse_events(&text);
    // role, finish, [DONE]: no content deltas and no usage chunk.
    assert_eq!(events.len(), 3, "{text}");
    assert!(json_of(&events[0].1).get("usage").is_none());
    assert_eq!(json_of(&events[1].1)["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn anthropic_stream_sequence() {
    let server = start(chunks(4)).await;
    let text = read_sse(send(anthropic(&server, &messages_body(true))).await).await;
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &events {
        assert_eq!(json_of(data)["type"], name.as_deref().unwrap());
    }
    let start = json_of(&events[0].1);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert_eq!(
        json_of(&events[1].1)["content_block"],
        json!({"type": "text", "text": ""})
    );
    let content: String = events[3..7]
        .iter()
        .map(|(_, d)| {
            let delta = json_of(d)["delta"].clone();
            assert_eq!(delta["type"], "text_delta");
            delta["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(content, "Mock reply to: hi claude");
    let delta = json_of(&events[8].1);
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(server.stats().streams_completed, 1);
}

#[tokio::test]
async fn anthropic_tool_use() {
    let server = start(MockConfig::default()).await;
    let body = send_json(anthropic(&server, &weather_body(false))).await;
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["content"],
        json!([
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"location": "Paris"}},
        ])
    );

    // Without tools the same question gets a plain answer.
    let mut no_tools = weather_body(false);
    no_tools.as_object_mut().unwrap().remove("tools");
    let body = send_json(anthropic(&server, &no_tools)).await;
    assert_eq!(body["stop_reason"], "end_turn");

    let (text, _) = read_stream(send(anthropic(&server, &weather_body(true))).await).await;
    let events = sse_events(&text);
    let tool_start = events
        .iter()
        .map(|(_, d)| json_of(d))
        .find(|e| e["type"] == "content_block_start" && e["index"] == 1)
        .expect("tool_use block");
    assert_eq!(tool_start["content_block"]["type"], "tool_use");
    assert_eq!(tool_start["content_block"]["name"], "get_weather");
    let partial: String = events
        .iter()
        .map(|(_, d)| json_of(d))
        .filter(|e| e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(json_of(&partial), json!({"location": "Paris"}));
    let message_delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(
        json_of(&message_delta.1)["delta"]["stop_reason"],
        "tool_use"
    );
    assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));
}

#[tokio::test]
async fn fail_rate_one_returns_status_with_retry_after() {
    let server = start(throttled()).await;
    let response = send(openai(&server, &chat_body(false))).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["retry-after-ms"], "1500");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");

    let response = send(anthropic(&server, &messages_body(true))).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(server.stats().failures_injected, 2);
    assert_eq!(server.stats().streams_started, 0);

    // A 500 carries no retry hints.
    server.set_config(MockConfig {
        fail_rate: 1.0,
        retry_after: Some(Duration::from_secs(1)),
        ..Default::default()
    });
    let response = send(openai(&server, &chat_body(false))).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("retry-after").is_none());

    // And set_config back to no failures heals it.
    server.set_config(MockConfig::default());
    let response = send(openai(&server, &chat_body(false))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_fault_mix_cuts_connections_and_hangs() {
    let server = start(MockConfig {
        fail_rate: 1.0,
        faults: vec![Fault::Reset],
        ..Default::default()
    })
    .await;
    // The connection closes without an answer.
    let cut = openai(&server, &chat_body(false)).send().await;
    assert!(cut.is_err(), "{cut:?}");

    server.set_config(MockConfig {
        fail_rate: 1.0,
        faults: vec![Fault::Hang],
        hang: Duration::from_secs(60),
        ..Default::default()
    });
    // The clock moves only when every task waits: the hang is virtual.
    tokio::time::pause();
    let t0 = tokio::time::Instant::now();
    let response = send(openai(&server, &chat_body(false))).await;
    assert!(
        t0.elapsed() >= Duration::from_secs(60),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(response.status(), 200);
    tokio::time::resume();

    // A mix picks among its faults.
    server.set_config(MockConfig {
        fail_rate: 1.0,
        faults: vec![Fault::Status(429), Fault::Status(503)],
        ..Default::default()
    });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let response = send(openai(&server, &chat_body(false))).await;
        seen.insert(response.status().as_u16());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [429, 503]);
    assert_eq!(server.stats().failures_injected, 42);
}

#[tokio::test]
async fn fail_keys_fail_only_listed_keys() {
    let server = start(MockConfig {
        fail_keys: vec!["sk-bad".to_owned()],
        fail_status: 503,
        ..Default::default()
    })
    .await;
    let bad = send(openai_as(&server, "sk-bad").json(&chat_body(false))).await;
    assert_eq!(bad.status(), 503);
    let bad = send(anthropic_as(&server, "sk-bad").json(&messages_body(false))).await;
    assert_eq!(bad.status(), 503);
    let good = send(openai(&server, &chat_body(false))).await;
    assert_eq!(good.status(), 200);

    let stats = server.stats();
    assert_eq!(stats.failures_injected, 2);
    assert_eq!(stats.requests_by_key.get("sk-bad"), Some(&2));
    assert_eq!(stats.requests_by_key.get(KEY), Some(&1));

    server.reset_stats();
    assert_eq!(server.stats(), bifrost_mock::MockStats::default());
}

#[tokio::test]
async fn require_auth_gives_401() {
    let server = start(MockConfig::default()).await;
    let chat = || client().post(format!("{}/v1/chat/completions", server.url()));
    let response = send(chat().json(&chat_body(false))).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].is_string());

    let messages = client().post(format!("{}/v1/messages", server.url()));
    let response = send(
        messages
            .header("anthropic-version", "2023-06-01")
            .json(&messages_body(false)),
    )
    .await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "authentication_error");

    let response = send(client().get(format!("{}/v1/models", server.url()))).await;
    assert_eq!(response.status(), 401);

    server.set_config(MockConfig {
        require_auth: false,
        ..Default::default()
    });
    let response = send(chat().json(&chat_body(false))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn models_health_and_unknown_routes() {
    let server = start(MockConfig::default()).await;
    let health = send(client().get(format!("{}/health", server.url()))).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let models = client().get(format!("{}/v1/models", server.url()));
    let models = send_json(models.bearer_auth(KEY)).await;
    assert_eq!(models["object"], "list");
    let data = models["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(
        data[0],
        json!({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "mock"})
    );

    let missing = send(client().get(format!("{}/v2/nothing", server.url()))).await;
    assert_eq!(missing.status(), 404);
    // /health is not an API request.
    assert_eq!(server.stats().requests, 1);
}

#[tokio::test]
async fn response_size_is_exact() {
    let server = start(MockConfig {
        response_size: Some(1000),
        ..Default::default()
    })
    .await;
    let body = send_json(openai(&server, &chat_body(false))).await;
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.len(), 1000);
    assert!(content.starts_with("Mock reply to: hello there lorem lorem"));
}

#[tokio::test]
async fn chunk_delay_spaces_chunks() {
    let (_server, mut stream) = paced_chat_stream(5).await;
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        arrivals.push(Instant::now());
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.ends_with("data: [DONE]\n\n"));
    // Five 50 ms gaps between the role chunk and the end of the stream.
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        spread >= Duration::from_millis(200),
        "chunks arrived within {spread:?}"
    );
    assert!(
        arrivals.len() >= 5,
        "chunks were not written separately: {}",
        arrivals.len()
    );
}

#[tokio::test]
async fn latency_delays_headers() {
    let server = start(MockConfig {
        latency: Duration::from_millis(120),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let response = send(openai(&server, &chat_body(false))).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn stream_fail_after_truncates() {
    let server = start(cut_after(5, 2)).await;
    let response = send(openai(&server, &chat_body(true))).await;
    assert_eq!(response.status(), 200);
    let (text, errored) = read_stream(response).await;
    assert!(errored, "the client must see a broken stream");
    assert!(!text.contains("[DONE]"));
    let events = sse_events(&text);
    assert_eq!(events.len(), 3, "role + 2 content chunks: {text}");

    let (text, errored) = read_stream(send(anthropic(&server, &messages_body(true))).await).await;
    assert!(errored);
    assert!(!text.contains("message_stop"));
    assert_eq!(text.matches("event: content_block_delta").count(), 2);

    let stats = server.stats();
    assert_eq!(stats.streams_started, 2);
    assert_eq!(stats.streams_completed, 0);
    assert_eq!(stats.failures_injected, 2);
    assert_eq!(stats.streams_aborted, 0);
}

#[tokio::test]
async fn stalls_delay_the_stream() {
    let server = start(MockConfig {
        chunks: 4,
        stall_before_first_chunk: Some(Duration::from_millis(100)),
        stall_after_chunks: Some((2, Duration::from_millis(100))),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let (text, errored) = read_stream(send(anthropic(&server, &messages_body(true))).await).await;
    assert!(!errored);
    assert!(text.contains("event: message_stop"));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn client_drop_counts_as_aborted() {
    let (server, mut stream) = paced_chat_stream(20).await;
    let first = stream.next().await.expect("a first chunk").unwrap();
    assert!(first.starts_with(b"data: "));
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let stats = server.stats();
        if stats.streams_aborted == 1 {
            assert_eq!(stats.streams_completed, 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stream not counted as aborted: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = start(MockConfig::default()).await;
    let url = format!("{}/health", server.url());
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    server.shutdown();
    // Fresh client: no pooled connection to reuse.
    let mut refused = false;
    for _ in 0..50 {
        if client().get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "server still accepting after shutdown");
}

/// The `content` deltas of an OpenAI stream, per choice index.
fn stream_texts(body: &str) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for (_, data) in sse_events(body) {
        if data == "[DONE]" {
            continue;
        }
        for choice in json_of(&data)["choices"].as_array().unwrap() {
            let index = usize::try_from(choice["index"].as_u64().unwrap()).unwrap();
            if texts.len() <= index {
                texts.resize(index + 1, String::new());
            }
            texts[index].push_str(choice["delta"]["content"].as_str().unwrap_or(""));
        }
    }
    texts
}

fn structured_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": "think, then answer"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
            "schema": {"type": "object", "additionalProperties": false,
                       "required": ["reasoning", "answer"],
                       "properties": {
                           "reasoning": {"type": "string"},
                           "answer": {"type": "integer"},
                           "confident": {"type": "boolean"},
                           "sources": {"type": "array", "items": {"type": "string"}},
                           "detail": {"type": "object", "properties": {"score": {"type": "number"}}}
                       }}}},
    })
}

#[tokio::test]
async fn json_schema_replies_are_objects_with_the_schema_keys_in_order() {
    let server = start(MockConfig::default()).await;
    let expected =
        r#"{"reasoning":"","answer":0,"confident":false,"sources":[],"detail":{"score":0.0}}"#;
    let body = send_json(openai(&server, &structured_body(false))).await;
    assert_eq!(body["choices"][0]["message"]["content"], expected);
    // Streamed, the pieces join to the same text.
    let (text, failed) = read_stream(send(openai(&server, &structured_body(true))).await).await;
    assert!(!failed);
    assert_eq!(stream_texts(&text), [expected]);

    let mut json_object = chat_body(false);
    json_object["response_format"] = json!({"type": "json_object"});
    let body = send_json(openai(&server, &json_object)).await;
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(json_of(content).is_object(), "{content}");
}

#[tokio::test]
async fn n_choices_are_answered_plain_and_streamed() {
    let server = start(MockConfig::default()).await;
    let mut request = chat_body(false);
    request["n"] = json!(3);
    let body = send_json(openai(&server, &request)).await;
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["message"]["content"], "Mock reply to: hello there");
        assert_eq!(choice["finish_reason"], "stop");
    }

    let mut request = chat_body(true);
    request["n"] = json!(2);
    let (text, failed) = read_stream(send(openai(&server, &request)).await).await;
    assert!(!failed);
    assert_eq!(
        stream_texts(&text),
        ["Mock reply to: hello there", "Mock reply to: hello there"]
    );
    let finishes = sse_events(&text)
        .iter()
        .filter(|(_, d)| d != "[DONE]" && json_of(d)["choices"][0]["finish_reason"] == "stop")
        .count();
    assert_eq!(finishes, 2);

    request["n"] = json!(0);
    let response = send(openai(&server, &request)).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_last_requests_are_recorded_in_order_and_bounded() {
    let server = start(MockConfig::default()).await;
    let total = bifrost_mock::RECORDED_REQUESTS + 6;
    for i in 0..total {
        let mut body = chat_body(false);
        body["messages"][1]["content"] = json!(format!("request {i}"));
        assert_eq!(send(openai(&server, &body)).await.status(), 200);
    }
    send(
        client()
            .get(format!("{}/v1/models", server.url()))
            .bearer_auth(KEY),
    )
    .await;
    let recorded = server.requests();
    assert_eq!(recorded.len(), bifrost_mock::RECORDED_REQUESTS);
    // The oldest were dropped; the rest are in arrival order.
    assert_eq!(recorded[0].body["messages"][1]["content"], "request 7");
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].header("authorization"), Some("Bearer sk-test"));
    let last = recorded.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(last.path, server.last_request().unwrap().path);

    // Off (as in benchmarks), only the last request is kept.
    server.set_config(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    });
    send(openai(&server, &chat_body(false))).await;
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(server.last_request().unwrap().body["model"], "gpt-4o-mini");
}
