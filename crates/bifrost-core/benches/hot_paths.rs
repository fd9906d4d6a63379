//! Micro-benchmarks of the per-request hot functions (key selection: the seed quotes 10–16 ns):
//! `cargo bench -p bifrost-core --bench hot_paths`.

use bifrost_core::providers::{anthropic, openai};
use bifrost_core::routing::keys::KeySet;
use bifrost_core::{ChatRequest, Key};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// The seed's request body, as clients send it.
const SEED_BODY: &[u8] =
    br#"{"provider":"openai","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

/// A realistic ~1.4 KB chat request with a system prompt, history and a tool.
fn chat_body() -> Vec<u8> {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(12);
    serde_json::json!({
        "model": "openai/gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": filler},
            {"role": "assistant", "content": "Sure, here is a summary."},
            {"role": "user", "content": "And what is the weather in Paris?"}
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]
    })
    .to_string()
    .into_bytes()
}

const OPENAI_RESPONSE: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;
const ANTHROPIC_RESPONSE: &[u8] = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":9}}"#;
const OPENAI_CHUNK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#;
const ANTHROPIC_DELTA: &str =
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#;

fn key_selection(c: &mut Criterion) {
    let keys: Vec<Key> = (1..=8)
        .map(|i| Key::new(format!("sk-{i}")).with_weight(i as f64))
        .collect();
    let set = KeySet::new(keys);
    c.bench_function("key_selection/8_weighted_keys", |b| {
        b.iter(|| set.select(black_box("gpt-4o-mini"), &[]))
    });
    let restricted: Vec<Key> = (1..=8)
        .map(|i| {
            Key::new(format!("sk-{i}")).with_weight(1.0).with_models(&[
                "gpt-4o",
                "gpt-4o-mini",
                "o1",
            ])
        })
        .collect();
    let set = KeySet::new(restricted);
    c.bench_function("key_selection/8_keys_with_model_lists", |b| {
        b.iter(|| set.select(black_box("o1"), &[]))
    });
}

fn requests(c: &mut Criterion) {
    let body = chat_body();
    c.bench_function("request/parse_seed_body", |b| {
        b.iter(|| serde_json::from_slice::<ChatRequest>(black_box(SEED_BODY)))
    });
    c.bench_function("request/parse_1.4kb", |b| {
        b.iter(|| serde_json::from_slice::<ChatRequest>(black_box(&body)))
    });
    let Ok(req) = serde_json::from_slice::<ChatRequest>(&body) else {
        return;
    };
    c.bench_function("request/openai_wire_body_1.4kb", |b| {
        b.iter(|| openai::wire_body(black_box("gpt-4o-mini"), &req, false))
    });
    c.bench_function("request/anthropic_wire_body_1.4kb", |b| {
        b.iter(|| anthropic::wire_body(black_box("claude-3-5-haiku-latest"), &req, false))
    });
}

fn responses(c: &mut Criterion) {
    c.bench_function("response/openai_parse", |b| {
        b.iter(|| {
            serde_json::from_slice::<bifrost_core::ChatCompletion>(black_box(OPENAI_RESPONSE))
        })
    });
    c.bench_function("response/anthropic_translate", |b| {
        b.iter(|| anthropic::response::from_anthropic("anthropic", black_box(ANTHROPIC_RESPONSE)))
    });
    c.bench_function("stream/openai_chunk_parse", |b| {
        b.iter(|| openai::parse_chunk("openai", black_box(OPENAI_CHUNK)))
    });
    let mut state = anthropic::stream::StreamState::new(1);
    let start = r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":9,"output_tokens":1}}}"#;
    let _ = state.on_event("message_start", start);
    c.bench_function("stream/anthropic_delta_translate", |b| {
        b.iter(|| state.on_event("content_block_delta", black_box(ANTHROPIC_DELTA)))
    });
}

criterion_group!(benches, key_selection, requests, responses);
criterion_main!(benches);
