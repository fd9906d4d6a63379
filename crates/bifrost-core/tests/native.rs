//! Same-format passthrough against the mock provider (and, where the exact bytes on the wire
//! matter, a one-shot loopback server that records them): what goes upstream is the client's
//! body with only the documented edits, and what comes back reaches the client intact.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bifrost_core::observe::StageClock;
use bifrost_core::providers::{
    self, CallContext, NativeRequest, NativeResponse, NativeStream, Provider, WireApi,
};
use bifrost_core::schemas::Usage;
use bifrost_core::{ApiFormat, CustomProviderConfig, ErrorClass, Key, NetworkConfig};
use bifrost_core::{BifrostError, ProviderConfig};
use bifrost_mock::{MockConfig, MockServer};
use bytes::Bytes;
use futures::StreamExt;
use http::HeaderMap;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "sk-gateway";

fn provider(name: &str, base_url: &str, custom: Option<ApiFormat>) -> Arc<dyn Provider> {
    let config = ProviderConfig {
        network: NetworkConfig {
            base_url: Some(base_url.to_owned()),
            ..NetworkConfig::default()
        },
        custom: custom.map(CustomProviderConfig::new),
        ..ProviderConfig::default()
    };
    let client = providers::http_client(&config.network, 4);
    providers::build(name, &config, vec![client])
        .unwrap()
        .provider
}

fn request(api: WireApi, body: &Value, stream: bool) -> NativeRequest {
    NativeRequest {
        api,
        body: Bytes::from(serde_json::to_vec(body).unwrap()),
        headers: HeaderMap::new(),
        stream,
        client_wants_usage: false,
    }
}

async fn call(
    p: &dyn Provider,
    model: &str,
    req: &NativeRequest,
) -> Result<NativeResponse, BifrostError> {
    let key = Key::new(KEY);
    let clock = StageClock::default();
    let cx = CallContext {
        model,
        key: &key,
        clock: &clock,
    };
    p.passthrough(cx, req).await
}

fn json_answer(resp: NativeResponse) -> (Value, Option<Usage>) {
    match resp {
        NativeResponse::Json { body, usage, .. } => (serde_json::from_slice(&body).unwrap(), usage),
        NativeResponse::Stream(_) => panic!("expected a JSON answer"),
    }
}

/// The whole relayed stream as text, any error item, and the usage seen.
async fn drain(resp: NativeResponse) -> (String, Option<BifrostError>, Option<Usage>) {
    let NativeResponse::Stream(NativeStream {
        content_type,
        bytes,
        usage,
    }) = resp
    else {
        panic!("expected a stream");
    };
    assert_eq!(content_type, "text/event-stream");
    let mut text = String::new();
    let mut err = None;
    for item in bytes.collect::<Vec<_>>().await {
        match item {
            Ok(b) => text.push_str(std::str::from_utf8(&b).unwrap()),
            Err(e) => err = Some(e),
        }
    }
    (text, err, usage.get())
}

/// The `data:` payloads of an SSE text, parsed.
fn data(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn without(mut v: Value, fields: &[&str]) -> Value {
    for f in fields {
        v.as_object_mut().unwrap().remove(*f);
    }
    v
}

fn with(mut v: Value, field: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(field.to_owned(), value);
    v
}

fn anthropic_body(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "stream": stream,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u1"},
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        "messages": [
            {"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a memo"}, "citations": {"enabled": true}},
                {"type": "future_block", "payload": {"b": 1, "a": [1.5]}},
                {"type": "text", "text": "summarize"}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "EqQBprev"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Sure."}
            ]},
            {"role": "user", "content": [
                {"type": "future_block", "payload": {"b": 1, "a": [1.5]}},
                {"type": "text", "text": "again"}
            ]}
        ],
        "fallbacks": ["openai/gpt-4o"]
    })
}

#[tokio::test]
async fn anthropic_json_keeps_the_clients_blocks_headers_and_the_answers_signatures() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let p = provider("anthropic", &server.url(), None);
    assert_eq!(p.native_api("any"), Some(WireApi::Anthropic));
    let mut req = request(WireApi::Anthropic, &anthropic_body(false), false);
    req.headers.append(
        "anthropic-beta",
        "interleaved-thinking-2025-05-14".parse().unwrap(),
    );
    req.headers
        .append("anthropic-beta", "files-api-2025-04-14".parse().unwrap());
    req.headers
        .insert("anthropic-version", "2023-06-01".parse().unwrap());

    let (answer, usage) = json_answer(call(&*p, "claude-upstream", &req).await.unwrap());

    let seen = server.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    let expected = with(
        without(anthropic_body(false), &["fallbacks"]),
        "model",
        json!("claude-upstream"),
    );
    assert_eq!(seen.body, expected);
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let betas: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(n, _)| n == "anthropic-beta")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        betas,
        ["interleaved-thinking-2025-05-14", "files-api-2025-04-14"]
    );

    let content = answer["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking");
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(
        content[1],
        json!({"type": "future_block", "payload": {"b": 1, "a": [1.5]}})
    );
    let usage = usage.unwrap();
    assert_eq!(
        usage.prompt_tokens,
        answer["usage"]["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        usage.completion_tokens,
        answer["usage"]["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn anthropic_stream_relays_signature_deltas_and_reads_usage() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let p = provider("anthropic", &server.url(), None);
    let req = request(WireApi::Anthropic, &anthropic_body(true), true);

    let (text, err, usage) = drain(call(&*p, "claude-upstream", &req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        server.last_request().unwrap().header("anthropic-version"),
        Some("2023-06-01"),
        "the gateway's version when the client sent none"
    );
    let events = data(&text);
    assert!(events.iter().any(|e| e["delta"]
        == json!({"type": "signature_delta", "signature": "EqQBCkgIARABGAIiQG1vY2stc2lnbmF0dXJl"})));
    assert!(events
        .iter()
        .any(|e| e["content_block"]
            == json!({"type": "future_block", "payload": {"b": 1, "a": [1.5]}})));
    assert!(text.starts_with("event: message_start\n"));
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    let usage = usage.unwrap();
    assert_eq!(
        usage.completion_tokens,
        delta["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert!(usage.prompt_tokens > 0);
}

#[tokio::test]
async fn anthropic_stream_cut_before_content_is_an_error_of_the_attempt() {
    let server = MockServer::start(MockConfig {
        stream_fail_after: Some(0),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let p = provider("anthropic", &server.url(), None);
    let req = request(WireApi::Anthropic, &anthropic_body(true), true);
    let e = call(&*p, "claude", &req).await.err().unwrap();
    assert!(
        matches!(e.class, ErrorClass::StreamError),
        "{:?} {}",
        e.class,
        e.message
    );
}

#[tokio::test]
async fn openai_chat_stream_asks_for_usage_and_drops_the_chunk_unless_the_client_did() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let p = provider("openai", &server.url(), None);
    assert!(p.speaks_natively(WireApi::OpenAiChat, "gpt"));
    let body = json!({
        "model": "openai/gpt-4o-mini", "stream": true,
        "messages": [{"role": "user", "content": "hello"}],
        "logit_bias": {"50256": -100}, "x_vendor": {"k": 1.50},
        "provider": "openai", "fallbacks": ["anthropic/claude"]
    });
    let req = request(WireApi::OpenAiChat, &body, true);

    let (text, err, usage) = drain(call(&*p, "gpt-4o-mini", &req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let seen = server.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-gateway"));
    let expected = with(
        with(
            without(body.clone(), &["provider", "fallbacks"]),
            "model",
            json!("gpt-4o-mini"),
        ),
        "stream_options",
        json!({"include_usage": true}),
    );
    assert_eq!(seen.body, expected);
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(data(&text)
        .iter()
        .all(|c| c.get("usage").is_none_or(Value::is_null)));
    assert!(usage.unwrap().total_tokens > 0);

    let mut asked = request(WireApi::OpenAiChat, &body, true);
    asked.client_wants_usage = true;
    let (text, _, _) = drain(call(&*p, "gpt-4o-mini", &asked).await.unwrap()).await;
    assert!(data(&text)
        .iter()
        .any(|c| c["usage"]["total_tokens"].as_u64() > Some(0)));
}

#[tokio::test]
async fn openai_chat_json_is_relayed_with_its_usage() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let p = provider("openai", &server.url(), None);
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let req = request(WireApi::OpenAiChat, &body, false);
    let (answer, usage) = json_answer(call(&*p, "gpt-4o-mini", &req).await.unwrap());
    assert_eq!(server.last_request().unwrap().body, body);
    assert_eq!(
        usage.unwrap().total_tokens,
        answer["usage"]["total_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn gemini_body_goes_unchanged_to_the_models_url() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let p = provider("gemini", &server.url(), None);
    assert_eq!(p.native_api("gemini-2.0-flash"), Some(WireApi::Gemini));
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true}},
        "futureField": [1.50]
    });
    let req = request(WireApi::Gemini, &body, false);
    let (answer, usage) = json_answer(call(&*p, "gemini-2.0-flash", &req).await.unwrap());
    let seen = server.last_request().unwrap();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert_eq!(seen.body, body);
    assert_eq!(
        usage.unwrap().prompt_tokens,
        answer["usageMetadata"]["promptTokenCount"]
            .as_u64()
            .unwrap()
    );

    let req = request(WireApi::Gemini, &body, true);
    let (text, err, usage) = drain(call(&*p, "gemini-2.0-flash", &req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        server.last_request().unwrap().path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    );
    let chunks = data(&text);
    assert!(chunks.len() > 1);
    assert!(chunks
        .iter()
        .any(|c| c["candidates"][0]["finishReason"] == "STOP"));
    assert!(usage.unwrap().total_tokens > 0);
}

#[tokio::test]
async fn an_upstream_429_is_a_rate_limit_error_for_every_api() {
    let server = MockServer::start(MockConfig {
        fail_rate: 1.0,
        fail_status: 429,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let gemini = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let cases = [
        ("anthropic", WireApi::Anthropic, anthropic_body(false)),
        ("openai", WireApi::OpenAiChat, chat),
        ("gemini", WireApi::Gemini, gemini),
    ];
    for (name, api, body) in cases {
        let p = provider(name, &server.url(), None);
        for stream in [false, true] {
            let e = call(&*p, "m", &request(api, &body, stream))
                .await
                .err()
                .unwrap();
            assert_eq!(e.class, ErrorClass::RateLimited, "{name} stream={stream}");
            assert_eq!(e.status, 429);
        }
    }
}

/// Serves one request on a loopback port with `answer` (a whole HTTP/1.1 response) and hands
/// back the request's path and body bytes.
async fn one_shot(answer: String) -> (String, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the client hung up");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len: usize = head
            .to_lowercase()
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        sock.write_all(answer.as_bytes()).await.unwrap();
        sock.shutdown().await.unwrap();
        let path = head.split_whitespace().nth(1).unwrap().to_owned();
        (path, buf[head_end..head_end + len].to_vec())
    });
    (url, task)
}

fn http_answer(content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One provider's exact-bytes check: the client's body, what must go upstream, where, and a
/// canned answer.
struct Case {
    name: &'static str,
    custom: Option<ApiFormat>,
    api: WireApi,
    sent: &'static str,
    expected: &'static str,
    path: &'static str,
    answer: &'static str,
}

#[tokio::test]
async fn the_upstream_gets_the_clients_bytes_except_the_edits() {
    let anthropic_answer = r#"{"id":"m","type":"message","content":[{"type":"redacted_thinking","data":"x"}],"usage":{"input_tokens":1,"output_tokens":2}}"#;
    let chat_answer = r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let responses_answer = r#"{"id":"r","object":"response","output":[],"usage":{"input_tokens":4,"output_tokens":5,"total_tokens":9}}"#;
    let cases = [
        Case {
            name: "anthropic",
            custom: None,
            api: WireApi::Anthropic,
            sent: r#"{"z":{"b":1,"a":"\u00e9"},"model":"claude","x":1.50,"provider":"anthropic","max_tokens":5,"messages":[]}"#,
            expected: r#"{"z":{"b":1,"a":"\u00e9"},"model":"up","x":1.50,"max_tokens":5,"messages":[]}"#,
            path: "/v1/messages",
            answer: anthropic_answer,
        },
        Case {
            name: "openai",
            custom: None,
            api: WireApi::OpenAiChat,
            sent: r#"{"messages":[{"role":"user","content":"hi"}],"x":1.50,"model":"gpt","fallbacks":[]}"#,
            expected: r#"{"messages":[{"role":"user","content":"hi"}],"x":1.50,"model":"up"}"#,
            path: "/v1/chat/completions",
            answer: chat_answer,
        },
        Case {
            name: "my-proxy",
            custom: Some(ApiFormat::OpenAi),
            api: WireApi::OpenAiResponses,
            sent: r#"{"input":[{"type":"message","role":"user","content":"hi"}],"reasoning":{"effort":"high"},"model":"gpt","e":1e3}"#,
            expected: r#"{"input":[{"type":"message","role":"user","content":"hi"}],"reasoning":{"effort":"high"},"model":"up","e":1e3}"#,
            path: "/v1/responses",
            answer: responses_answer,
        },
        Case {
            name: "gemini",
            custom: None,
            api: WireApi::Gemini,
            sent: r#"{"contents":[{"parts":[{"text":"h\u00e9"}]}],"x":1.50}"#,
            expected: r#"{"contents":[{"parts":[{"text":"h\u00e9"}]}],"x":1.50}"#,
            path: "/v1beta/models/up%2Fv2:generateContent",
            answer: r#"{"candidates":[],"usageMetadata":{"promptTokenCount":7}}"#,
        },
    ];
    for Case {
        name,
        custom,
        api,
        sent,
        expected,
        path,
        answer,
    } in cases
    {
        let (url, seen) = one_shot(http_answer("application/json", answer)).await;
        let p = provider(name, &url, custom);
        let req = NativeRequest {
            api,
            body: Bytes::from_static(sent.as_bytes()),
            headers: HeaderMap::new(),
            stream: false,
            client_wants_usage: false,
        };
        let model = if api == WireApi::Gemini {
            "up/v2"
        } else {
            "up"
        };
        let resp = call(&*p, model, &req).await.unwrap();
        let (seen_path, seen_body) = seen.await.unwrap();
        assert_eq!(seen_path, path, "{name}");
        assert_eq!(std::str::from_utf8(&seen_body).unwrap(), expected, "{name}");
        let NativeResponse::Json { body, usage, .. } = resp else {
            panic!("{name}: expected JSON");
        };
        assert_eq!(
            body,
            answer.as_bytes(),
            "{name}: the answer is relayed as sent"
        );
        assert!(usage.unwrap().total_tokens > 0, "{name}");
    }
}

#[tokio::test]
async fn responses_stream_reads_usage_from_response_completed() {
    let sse = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n",
        "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"think\"}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4,\"total_tokens\":7}}}\n\n",
    );
    let (url, seen) = one_shot(http_answer("text/event-stream", sse)).await;
    let p = provider("openai", &url, None);
    assert!(p.speaks_natively(WireApi::OpenAiResponses, "gpt"));
    let req = NativeRequest {
        api: WireApi::OpenAiResponses,
        body: Bytes::from_static(br#"{"model":"gpt","input":"hi","stream":true}"#),
        headers: HeaderMap::new(),
        stream: true,
        client_wants_usage: false,
    };
    let (text, err, usage) = drain(call(&*p, "gpt-5", &req).await.unwrap()).await;
    let (path, body) = seen.await.unwrap();
    assert_eq!(path, "/v1/responses");
    assert_eq!(body, br#"{"model":"gpt-5","input":"hi","stream":true}"#);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text, sse);
    let u = usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (3, 4));
}

#[tokio::test]
async fn only_openai_and_custom_openai_providers_speak_responses() {
    let groq = provider("groq", "http://127.0.0.1:9", None);
    assert!(groq.speaks_natively(WireApi::OpenAiChat, "m"));
    assert!(!groq.speaks_natively(WireApi::OpenAiResponses, "m"));
    assert!(!groq.speaks_natively(WireApi::Anthropic, "m"));
    let req = request(WireApi::OpenAiResponses, &json!({"model": "m"}), false);
    let e = call(&*groq, "m", &req).await.err().unwrap();
    assert_eq!(e.code.as_deref(), Some("unsupported_operation"));

    let azure = provider("azure", "https://x.openai.azure.com", None);
    assert_eq!(azure.native_api("m"), None);
}
