//! Same-format passthrough, end to end: when the client's API is the upstream's, the upstream
//! receives the client's body but for the documented edits (the model named upstream, the
//! gateway's own `provider`/`fallbacks`, a stream's usage request) — key order included — and
//! the client receives the upstream's answer with everything in it: thinking signatures,
//! `document` blocks, unknown blocks and fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::Value;

async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await.unwrap()
}

fn config(m: &MockServer) -> String {
    format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"sk-openai"}}],"network_config":{{"base_url":"{u}"}}}},
          "anthropic":{{"keys":[{{"value":"sk-ant"}}],"network_config":{{"base_url":"{u}"}}}},
          "gemini":{{"keys":[{{"value":"g-key"}}],"network_config":{{"base_url":"{u}"}}}}
        }}}}"#,
        u = m.url()
    )
}

async fn send(
    gw: &TestGateway,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    post_raw(gw, path, body.to_owned(), headers).await
}

/// The body the mock received, as JSON text in the order it arrived.
fn received(m: &MockServer) -> String {
    serde_json::to_string(&m.last_request().expect("the mock was called").body).unwrap()
}

/// `json` without insignificant whitespace, keys in the order written.
fn compact(json: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
}

const ANTHROPIC_BODY: &str = r#"{
  "model": "anthropic/claude-sonnet-4-5",
  "max_tokens": 1024,
  "zeta_future_field": {"b": 1, "a": 2},
  "thinking": {"type": "enabled", "budget_tokens": 512},
  "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
  "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
  "messages": [
    {"role": "user", "content": [
      {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}},
      {"type": "text", "text": "Summarise this."}]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "Let me read it.", "signature": "sig-from-last-turn"},
      {"type": "redacted_thinking", "data": "opaque"},
      {"type": "text", "text": "It is a PDF."}]},
    {"role": "user", "content": [
      {"type": "server_tool_future_block", "payload": {"z": 1, "y": 2}},
      {"type": "text", "text": "And then?"}]}
  ]
}"#;

#[tokio::test]
async fn anthropic_to_anthropic_keeps_every_block_header_and_key() {
    let m = mock().await;
    let gw = start(&config(&m)).await;
    let beta = "interleaved-thinking-2025-05-14,web-search-2025-03-05";
    let resp = send(
        &gw,
        "/anthropic/v1/messages",
        ANTHROPIC_BODY,
        &[("anthropic-beta", beta)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "anthropic");
    let answer: Value = resp.json().await.unwrap();

    // Upstream: the client's body with only the model named as the upstream knows it.
    let expected =
        compact(ANTHROPIC_BODY).replace("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5");
    assert_eq!(received(&m), expected);
    let r = m.last_request().unwrap();
    assert_eq!(r.header("anthropic-beta"), Some(beta));
    assert_eq!(r.header("x-api-key"), Some("sk-ant"));

    // Client: the signed thinking block and the unknown block, as the upstream sent them.
    let blocks = answer["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "thinking");
    assert!(!blocks[0]["signature"].as_str().unwrap().is_empty());
    assert!(blocks
        .iter()
        .any(|b| b["type"] == "server_tool_future_block" && b["payload"]["z"] == 1));
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);

    // Streamed: the signature delta arrives, and message_start carries the input tokens.
    let streamed = ANTHROPIC_BODY.replacen(
        "\"max_tokens\": 1024,",
        "\"max_tokens\": 1024, \"stream\": true,",
        1,
    );
    let resp = send(
        &gw,
        "/anthropic/v1/messages",
        &streamed,
        &[("anthropic-beta", beta)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let events = read_sse(resp).await;
    let start: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(start["type"], "message_start");
    assert!(start["message"]["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(events
        .iter()
        .any(|e| e.data.contains("\"signature_delta\"")));
    assert!(events
        .iter()
        .any(|e| e.data.contains("server_tool_future_block")));
    assert!(events.last().unwrap().data.contains("\"message_stop\""));
    assert_eq!(
        received(&m),
        compact(&streamed).replace("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
    );
    gw.stop().await;
}

#[tokio::test]
async fn openai_chat_to_openai_edits_only_the_gateways_fields() {
    let m = mock().await;
    let gw = start(&config(&m)).await;
    let body = r#"{"provider":"openai","model":"gpt-4o-mini","fallbacks":["anthropic/claude-sonnet-4-5"],
      "messages":[{"role":"user","content":"Hello!"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object",
        "properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}}}},
      "vendor_extension":{"z":1,"a":2},"seed":7}"#;
    let resp = send(&gw, "/v1/chat/completions", body, &[]).await;
    assert_eq!(resp.status(), 200);
    let upstream = received(&m);
    let expected = compact(
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object",
        "properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}}}},
      "vendor_extension":{"z":1,"a":2},"seed":7}"#,
    );
    assert_eq!(upstream, expected);
    // The answer is the upstream's own JSON.
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");

    // A stream asks upstream for usage (for accounting) and the client still gets none.
    let body = r#"{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
    let resp = send(&gw, "/v1/chat/completions", body, &[]).await;
    let events = read_sse(resp).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert!(events.iter().all(|e| !e.data.contains("\"usage\"")));
    assert_eq!(
        received(&m),
        compact(
            r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}],"stream_options":{"include_usage":true}}"#
        )
    );
    gw.stop().await;
}

#[tokio::test]
async fn responses_to_openai_reach_the_upstreams_responses_api() {
    let m = mock().await;
    let gw = start(&config(&m)).await;
    let body = r#"{"model":"openai/gpt-4o-mini","input":"Hello!","metadata":{"team":"a"},
      "previous_response_id":"resp_123","store":true,"include":["reasoning.encrypted_content"]}"#;
    let resp = send(
        &gw,
        "/v1/responses",
        body,
        &[("openai-beta", "responses=v1")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let r = m.last_request().unwrap();
    assert_eq!(r.path, "/v1/responses");
    assert_eq!(r.header("openai-beta"), Some("responses=v1"));
    assert_eq!(
        received(&m),
        compact(body).replace("openai/gpt-4o-mini", "gpt-4o-mini")
    );
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["metadata"]["team"], "a");
    gw.stop().await;
}

#[tokio::test]
async fn genai_to_gemini_forwards_the_body_as_sent() {
    let m = mock().await;
    let gw = start(&config(&m)).await;
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Hello!"}]},
      {"role":"model","parts":[{"text":"Hi","thoughtSignature":"c2lnbmF0dXJl"}]},
      {"role":"user","parts":[{"text":"Again"}]}],
      "generationConfig":{"temperature":0.5,"thinkingConfig":{"thinkingBudget":128}},
      "futureField":{"z":1,"a":2}}"#;
    let resp = send(
        &gw,
        "/genai/v1beta/models/gemini-2.0-flash:generateContent",
        body,
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "gemini");
    let r = m.last_request().unwrap();
    assert!(
        r.path.ends_with("/models/gemini-2.0-flash:generateContent"),
        "{}",
        r.path
    );
    assert_eq!(received(&m), compact(body));
    let answer: Value = resp.json().await.unwrap();
    assert!(answer["candidates"][0]["content"]["parts"][0]["text"].is_string());
    gw.stop().await;
}

#[tokio::test]
async fn crossing_formats_still_translates_per_attempt() {
    // Anthropic client, OpenAI upstream first (fails), Anthropic fallback: the OpenAI attempt
    // gets a translation without Anthropic-only fields; the fallback gets them all.
    let failing = start_mock(failing(503)).await;
    let m = mock().await;
    let config = format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}","retries":0}}}},
          "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}"}}}}
        }}}}"#,
        failing.url(),
        m.url()
    );
    let gw = start(&config).await;
    let body = r#"{"model":"openai/gpt-4o-mini","max_tokens":64,"top_k":5,"fallbacks":["anthropic/claude-sonnet-4-5"],
      "thinking":{"type":"enabled","budget_tokens":32},"messages":[{"role":"user","content":"Hi"}]}"#;
    let resp = send(&gw, "/anthropic/v1/messages", body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "anthropic");
    let to_openai = failing.last_request().unwrap();
    assert!(to_openai.body.get("top_k").is_none() && to_openai.body.get("thinking").is_none());
    assert_eq!(to_openai.body["messages"][0]["content"], "Hi");
    let to_anthropic = m.last_request().unwrap();
    assert_eq!(to_anthropic.body["top_k"], 5);
    assert_eq!(to_anthropic.body["thinking"]["budget_tokens"], 32);
    assert!(to_anthropic.body.get("fallbacks").is_none());
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["content"][0]["type"], "thinking",
        "the signed block reaches the client"
    );
    gw.stop().await;
}

/// Crossing formats, thinking still round-trips: an OpenAI-shaped client gets Claude's signed
/// blocks in `thinking_blocks` (plain and streamed) and sends them back on its next turn; an
/// Anthropic client's signed history reaches Claude on Bedrock as `reasoningContent`.
#[tokio::test]
async fn thinking_round_trips_across_formats() {
    let m = aws_mock("AKIDT", "t-secret").await;
    let config = format!(
        r#"{{"providers":{{
          "anthropic":{{"keys":[{{"value":"sk-ant"}}],"network_config":{{"base_url":"{u}"}}}},
          "bedrock":{{"keys":[{{"bedrock_key_config":{{"access_key":"AKIDT","secret_key":"t-secret"}}}}],
                      "network_config":{{"base_url":"{u}"}}}}
        }}}}"#,
        u = m.url()
    );
    let gw = start(&config).await;
    let first = serde_json::json!({
        "model": "anthropic/claude-sonnet-4-5", "max_tokens": 256,
        "thinking": {"type": "enabled", "budget_tokens": 128},
        "messages": [{"role": "user", "content": "What is 27 * 453?"}]});
    let resp = send(&gw, "/v1/chat/completions", &first.to_string(), &[]).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let message = &answer["choices"][0]["message"];
    let blocks = message["thinking_blocks"].clone();
    let signature = blocks[0]["signature"]
        .as_str()
        .expect("a signed block")
        .to_owned();
    assert_eq!(blocks[0]["type"], "thinking");
    assert_eq!(blocks[0]["thinking"], message["reasoning_content"]);

    // The next turn carries the blocks back; Anthropic receives them first, as issued.
    let mut next = first.clone();
    next["messages"] = serde_json::json!([
        first["messages"][0],
        {"role": "assistant", "content": message["content"], "thinking_blocks": blocks},
        {"role": "user", "content": "And doubled?"}]);
    let resp = send(&gw, "/v1/chat/completions", &next.to_string(), &[]).await;
    assert_eq!(resp.status(), 200);
    let sent = m.last_request().unwrap().body;
    assert_eq!(sent["messages"][1]["content"][0], blocks[0]);
    assert_eq!(sent["messages"][1]["content"][1]["type"], "text");

    // Streamed: the signature arrives in a delta, after the reasoning it closes.
    let mut streamed = first.clone();
    streamed["stream"] = Value::Bool(true);
    let resp = send(&gw, "/v1/chat/completions", &streamed.to_string(), &[]).await;
    let mut reasoning = String::new();
    let mut signed = None;
    for ev in read_sse(resp).await {
        let Ok(chunk) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        let delta = &chunk["choices"][0]["delta"];
        if let Some(r) = delta["reasoning_content"].as_str() {
            assert!(signed.is_none(), "reasoning after its signature");
            reasoning.push_str(r);
        }
        if let Some(s) = delta["thinking_blocks"][0]["signature"].as_str() {
            signed = Some(s.to_owned());
        }
    }
    assert_eq!(signed.as_deref(), Some(signature.as_str()));
    assert_eq!(reasoning, blocks[0]["thinking"].as_str().unwrap());

    // Anthropic client, Bedrock upstream: the signed history becomes reasoningContent.
    let body = r#"{"model":"bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0","max_tokens":64,
      "messages":[{"role":"user","content":"weather?"},
        {"role":"assistant","content":[
          {"type":"thinking","thinking":"Use the tool.","signature":"sig-1"},
          {"type":"redacted_thinking","data":"RW5j"},
          {"type":"tool_use","id":"toolu_1","name":"weather","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sun"}]}],
      "tools":[{"name":"weather","input_schema":{"type":"object"}}]}"#;
    let resp = send(&gw, "/anthropic/v1/messages", body, &[]).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = m.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][1]["content"],
        serde_json::json!([
            {"reasoningContent": {"reasoningText": {"text": "Use the tool.", "signature": "sig-1"}}},
            {"reasoningContent": {"redactedContent": "RW5j"}},
            {"toolUse": {"toolUseId": "toolu_1", "name": "weather", "input": {}}}])
    );
    gw.stop().await;
}
