use super::*;
use crate::error::ErrorClass;
use crate::providers::anthropic::request::to_anthropic;
use crate::providers::test_fixtures::with_fields;

fn chat(body: Value) -> ChatRequest {
    to_chat(body.to_string().as_bytes()).unwrap()
}

/// The request as the engine sees it: `model` and `stream` are not serialized by
/// `ChatRequest` itself.
fn view(req: &ChatRequest) -> Value {
    json!({"model": req.model, "stream": req.stream, "request": req})
}

#[test]
fn request_system_blocks_and_cache_control() {
    let req = chat(json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Project rules: use Rust 2021."}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Summarise the repo.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ]}
        ],
        "stream": true,
        "temperature": 0.2,
        "top_p": 0.95,
        "top_k": 40,
        "stop_sequences": ["</answer>"],
        "metadata": {"user_id": "user_abc"},
        "service_tier": "auto",
        "container": "container_1",
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}],
        "context_management": {"edits": []}
    }));
    for dropped in [
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "metadata",
    ] {
        assert!(!req.extra.contains_key(dropped), "{dropped}");
    }
    insta::assert_json_snapshot!(view(&req));
}

#[test]
fn request_string_system_and_plain_turns() {
    let req = chat(json!({
        "model": "openai/gpt-4o-mini",
        "max_tokens": 64,
        "system": "Be terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"}
        ]
    }));
    insta::assert_json_snapshot!(view(&req));
}

#[test]
fn request_multi_turn_with_images() {
    let req = chat(json!({
        "model": "claude-3-5-haiku-20241022",
        "max_tokens": 512,
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="},
                 "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "What is in this image?"}
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": "A red square."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "And this one?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ]}
        ]
    }));
    insta::assert_json_snapshot!(view(&req));
}

#[test]
fn request_tool_use_and_tool_result() {
    let req = chat(json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 2048,
        "tools": [
            {"name": "get_weather", "description": "Current weather",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"type": "custom", "name": "screenshot", "input_schema": {"type": "object", "properties": {}},
             "cache_control": {"type": "ephemeral"}}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": "Weather in Paris and a screenshot, please."},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two tools.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "screenshot", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, rain"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": true,
                 "content": [
                    {"type": "text", "text": "partial capture"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                    {"type": "text", "text": "display 2 failed", "cache_control": {"type": "ephemeral"}}
                 ]},
                {"type": "text", "text": "Thanks, what now?"}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_03", "name": "get_weather", "input": {"city": "Lyon"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_03",
                 "content": [{"type": "text", "text": "21°C"}], "cache_control": {"type": "ephemeral"}}
            ]}
        ]
    }));
    insta::assert_json_snapshot!(view(&req));
}

#[test]
fn request_every_tool_choice() {
    let cases = [
        ("auto", json!({"type": "auto"})),
        ("any", json!({"type": "any"})),
        ("none", json!({"type": "none"})),
        ("tool", json!({"type": "tool", "name": "lookup"})),
        (
            "auto_no_parallel",
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            "any_no_parallel",
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            "tool_parallel_allowed",
            json!({"type": "tool", "name": "lookup", "disable_parallel_tool_use": false}),
        ),
    ];
    let mut out = Map::new();
    for (name, choice) in cases {
        let req = chat(json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "tool_choice": choice
        }));
        out.insert(
            name.into(),
            json!({"tool_choice": req.tool_choice, "parallel_tool_calls": req.parallel_tool_calls}),
        );
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn request_thinking() {
    let mut out = Map::new();
    for (name, thinking) in [
        (
            "enabled_1024",
            json!({"type": "enabled", "budget_tokens": 1024}),
        ),
        (
            "enabled_10000",
            json!({"type": "enabled", "budget_tokens": 10000}),
        ),
        (
            "enabled_31999",
            json!({"type": "enabled", "budget_tokens": 31999}),
        ),
        ("disabled", json!({"type": "disabled"})),
    ] {
        let req = chat(json!({
            "model": "m", "max_tokens": 40000, "thinking": thinking,
            "messages": [
                {"role": "user", "content": "27 * 453?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "27*453 = 12231", "signature": "EuYB"},
                    {"type": "redacted_thinking", "data": "EmwK"}
                ]},
                {"role": "user", "content": "Again?"}
            ]
        }));
        out.insert(name.into(), serde_json::to_value(&req).unwrap());
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn request_documents() {
    let req = chat(json!({
        "model": "gemini/gemini-2.5-flash",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [
            {"type": "document", "title": "contract.pdf",
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
             "cache_control": {"type": "ephemeral"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Clause 1: ..."},
             "citations": {"enabled": true}},
            {"type": "text", "text": "Compare them."}
        ]}]
    }));
    insta::assert_json_snapshot!(view(&req));
}

#[test]
fn rejected_requests() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases = [
        ("not_json", json!("{not json")),
        (
            "missing_max_tokens",
            json!({"model": "m", "messages": user}),
        ),
        ("missing_model", json!({"max_tokens": 5, "messages": user})),
        (
            "empty_messages",
            json!({"model": "m", "max_tokens": 5, "messages": []}),
        ),
        (
            "system_role_in_messages",
            json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "system", "content": "x"}]}),
        ),
        (
            "tool_role",
            json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "tool", "content": "x"}]}),
        ),
        (
            "content_null",
            json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "user", "content": null}]}),
        ),
        (
            "document_url",
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]}]}),
        ),
        (
            "image_file_source",
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "file_01"}}]}]}),
        ),
        (
            "tool_use_from_user",
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}),
        ),
        (
            "server_tool_use_block",
            json!({"model": "m", "max_tokens": 5, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]}]}),
        ),
        (
            "server_tool",
            json!({"model": "m", "max_tokens": 5, "messages": user,
                "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}),
        ),
        (
            "tool_without_schema",
            json!({"model": "m", "max_tokens": 5, "messages": user,
                "tools": [{"name": "f"}]}),
        ),
        (
            "tool_choice_unknown",
            json!({"model": "m", "max_tokens": 5, "messages": user,
                "tool_choice": {"type": "required"}}),
        ),
        (
            "tool_choice_tool_without_name",
            json!({"model": "m", "max_tokens": 5, "messages": user,
                "tool_choice": {"type": "tool"}}),
        ),
        (
            "thinking_without_budget",
            json!({"model": "m", "max_tokens": 5, "messages": user,
                "thinking": {"type": "enabled"}}),
        ),
        (
            "max_tokens_zero",
            json!({"model": "m", "max_tokens": 0, "messages": user}),
        ),
    ];
    let mut out = Map::new();
    for (name, body) in cases {
        let bytes = match &body {
            Value::String(raw) => raw.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let e = to_chat(&bytes).unwrap_err();
        assert_eq!(
            (e.status, e.class),
            (400, ErrorClass::InvalidRequest),
            "{name}"
        );
        out.insert(
            name.into(),
            json!({"message": e.message, "body": error_body(&e)}),
        );
    }
    insta::assert_json_snapshot!(out);
}

/// Anthropic → unified → Anthropic gives back the request, `cache_control` included.
#[test]
fn round_trip_through_the_outbound_translation() {
    let original = json!({
        "model": "claude-sonnet-4-20250514",
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be careful."}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                 "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "The file first.", "signature": "EuYBCkQYAiJA"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
                {"type": "text", "text": "Reading the file."},
                {"type": "tool_use", "id": "toolu_01", "name": "read", "input": {"path": "src/main.rs"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "fn main() {}"},
                {"type": "text", "text": "Go on.", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": "Thanks"}
        ],
        "max_tokens": 8192,
        "temperature": 1.0,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "stream": true,
        "metadata": {"user_id": "u-1"},
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "tools": [
            {"name": "read", "description": "Read a file",
             "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}}
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    });
    let req = chat(original.clone());
    let back = to_anthropic(&req, &req.model, req.stream == Some(true)).unwrap();
    assert_eq!(back, original);
}

#[test]
fn strip_removes_anthropic_only_fields() {
    let mut req = chat(json!({
        "model": "m", "max_tokens": 5, "top_k": 3,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": true, "content": "boom"}]}
        ]
    }));
    strip_anthropic_fields(&mut req);
    let text = serde_json::to_string(&req).unwrap();
    for gone in ["cache_control", "top_k", "\"thinking\"", "is_error"] {
        assert!(!text.contains(gone), "{gone} in {text}");
    }
    assert_eq!(req.reasoning_effort.as_deref(), Some("low"));
}

#[test]
fn count_tokens_estimates_without_max_tokens() {
    let body = json!({
        "model": "claude-sonnet-4-20250514",
        "system": "abcd".repeat(10),
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "efgh".repeat(5)},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
        ]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}]
    });
    // 40 + 20 characters of text, 1 + 17 of tool definition, one image.
    assert_eq!(
        count_tokens(body.to_string().as_bytes()).unwrap(),
        json!({"input_tokens": 78_u64.div_ceil(4) + MEDIA_TOKENS})
    );
    let minimal = json!({"model": "m", "messages": [{"role": "user", "content": ""}]});
    assert_eq!(
        count_tokens(minimal.to_string().as_bytes()).unwrap(),
        json!({"input_tokens": 1})
    );
    let bad = json!({"model": "m", "messages": [{"role": "system", "content": "x"}]});
    assert_eq!(
        count_tokens(bad.to_string().as_bytes()).unwrap_err().status,
        400
    );
}

// -----------------------------------------------------------------------------------------
// Responses

fn completion(body: Value) -> ChatCompletion {
    serde_json::from_value(body).unwrap()
}

/// A completion `id` of one choice, the assistant's `message` ending for `finish_reason`,
/// with `usage` unless it is null.
fn answer(id: &str, finish_reason: &str, message: Value, usage: Value) -> ChatCompletion {
    let message = with_fields(json!({"role": "assistant"}), message);
    let mut body = json!({"id": id, "choices": [
        {"index": 0, "finish_reason": finish_reason, "message": message}]});
    if !usage.is_null() {
        body["usage"] = usage;
    }
    completion(body)
}

#[test]
fn response_text() {
    let resp = completion(json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    }));
    insta::assert_json_snapshot!(from_chat(&resp, "openai/gpt-4o"));
}

/// Each case's snapshot is named after it.
#[test]
fn responses() {
    let cases = [
        (
            "response_tool_use_and_text",
            answer(
                "chatcmpl-tools",
                "tool_calls",
                json!({"content": "Let me check both.", "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_def", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                    {"id": "", "type": "function", "function": {"name": "broken", "arguments": "{\"city\": \"Par"}}
                ]}),
                json!({"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}),
            ),
            "claude-sonnet-4",
        ),
        (
            "response_reasoning",
            answer(
                "msg_already_anthropic",
                "stop",
                json!({"content": "12,231", "reasoning_content": "27 * 453 = 10800 + 1431."}),
                json!({"prompt_tokens": 48, "completion_tokens": 310, "total_tokens": 358}),
            ),
            "deepseek/deepseek-reasoner",
        ),
        (
            "response_max_tokens_without_usage",
            answer(
                "chatcmpl-len",
                "length",
                json!({"content": "The answer is"}),
                Value::Null,
            ),
            "m",
        ),
        (
            "response_usage_with_cached_tokens",
            answer(
                "chatcmpl-cache",
                "stop",
                json!({"content": "24 months."}),
                json!({"prompt_tokens": 2009, "completion_tokens": 12, "total_tokens": 2021,
                       "prompt_tokens_details": {"cached_tokens": 1800, "audio_tokens": 0}}),
            ),
            "m",
        ),
    ];
    for (name, resp, model) in cases {
        insta::assert_json_snapshot!(name, from_chat(&resp, model));
    }
}

// -----------------------------------------------------------------------------------------
// Streams

/// A chat completion stream as OpenAI sends it (`data:` payloads): role chunk, text, two
/// parallel tool calls whose argument deltas interleave, the finish reason, the usage chunk.
const OPENAI_TEXT_AND_TOOLS: &[&str] = &[
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Checking "},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"both cities."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_paris","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_lyon","type":"function","function":{"name":"get_weather","arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"ty\": \"Lyon\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
    r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":45,"total_tokens":165,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
];

fn chunks(data: &[&str]) -> Vec<ChatCompletionChunk> {
    data.iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// [`chunks`] written as JSON values.
fn value_chunks(data: &[Value]) -> Vec<ChatCompletionChunk> {
    let text: Vec<String> = data.iter().map(Value::to_string).collect();
    chunks(&text.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Feeds every chunk, then `finish()`, and checks the event grammar Anthropic clients rely
/// on: `message_start` first, blocks opened in index order and never two at once, deltas
/// only to the open block of the matching type, `message_delta` then `message_stop` last.
fn encode(model: &str, chunks: &[ChatCompletionChunk]) -> Vec<Value> {
    let mut enc = StreamEncoder::new(model);
    let mut events: Vec<Event> = chunks.iter().flat_map(|c| enc.on_chunk(c)).collect();
    events.extend(enc.finish());
    assert!(enc.finish().is_empty(), "finish() twice");
    check_grammar(&events);
    events
        .into_iter()
        .map(|(name, data)| json!({"event": name, "data": data}))
        .collect()
}

fn check_grammar(events: &[Event]) {
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    let mut open: Option<(u64, String)> = None;
    let mut next = 0;
    for (name, data) in events {
        assert_eq!(data["type"], *name);
        match *name {
            "content_block_start" => {
                assert!(open.is_none(), "two open blocks");
                assert_eq!(data["index"], next);
                let kind = data["content_block"]["type"].as_str().unwrap().to_owned();
                open = Some((next, kind));
                next += 1;
            }
            "content_block_delta" => {
                let (index, kind) = open.clone().expect("delta without open block");
                assert_eq!(data["index"], index);
                let expected: &[&str] = match kind.as_str() {
                    "text" => &["text_delta"],
                    "thinking" => &["thinking_delta", "signature_delta"],
                    _ => &["input_json_delta"],
                };
                let got = data["delta"]["type"].as_str().unwrap_or_default();
                assert!(expected.contains(&got), "{got} in a {kind} block");
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("stop without open block");
                assert_eq!(data["index"], index);
            }
            "message_delta" => assert!(open.is_none(), "message_delta with an open block"),
            _ => {}
        }
    }
}

#[test]
fn stream_text_and_interleaved_tool_calls() {
    let events = encode("gpt-4o", &chunks(OPENAI_TEXT_AND_TOOLS));
    // Each tool's arguments, put back together, are the whole JSON the model sent.
    let mut args: BTreeMap<u64, String> = BTreeMap::new();
    for e in &events {
        if let Some(p) = e["data"]["delta"]["partial_json"].as_str() {
            args.entry(e["data"]["index"].as_u64().unwrap())
                .or_default()
                .push_str(p);
        }
    }
    assert_eq!(args[&1], r#"{"city": "Paris"}"#);
    assert_eq!(args[&2], r#"{"city": "Lyon"}"#);
    insta::assert_json_snapshot!(events);
}

#[test]
fn stream_reasoning_then_text() {
    let data = [
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"reasoning_content": "27 * 453 = 10800"}, "finish_reason": null}]}),
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"reasoning_content": " + 1431."}, "finish_reason": null}]}),
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"content": "12,231"}, "finish_reason": null}]}),
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 48, "completion_tokens": 310, "total_tokens": 358}}),
    ];
    insta::assert_json_snapshot!(encode("deepseek-reasoner", &value_chunks(&data)));
}

#[test]
fn stream_text_then_tool_and_truncated_without_usage() {
    // A provider that sends whole tool calls, no usage, and ends without a finish reason.
    let data = [
        json!({"id": "chatcmpl-g", "choices": [{"index": 0, "delta": {"content": "Sure."}}]}),
        json!({"id": "chatcmpl-g", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "ls", "arguments": "{}"}},
            {"index": 1, "function": {"name": "pwd", "arguments": "{}"}}
        ]}}]}),
    ];
    insta::assert_json_snapshot!(encode("gemini-2.5-flash", &value_chunks(&data)));
}

#[test]
fn held_back_tool_starts_once_text_closed_the_open_tool() {
    let tool = |index: u32, id: Option<&str>, args: &str| {
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": id, "function": {"name": id.map(|_| "f"), "arguments": args}}
        ]}}]})
    };
    let data = [
        tool(0, Some("call_a"), "{\"a\":"),
        tool(1, Some("call_b"), "{\"b\":"),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "odd text"}}]}),
        tool(0, None, "1}"),
        tool(1, None, "2}"),
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let events = encode("m", &value_chunks(&data));
    let blocks: Vec<Value> = events
        .iter()
        .filter(|e| e["event"] == "content_block_start")
        .map(|e| e["data"]["content_block"]["type"].clone())
        .collect();
    assert_eq!(
        blocks,
        [json!("tool_use"), json!("text"), json!("tool_use")]
    );
    let partial: Vec<&str> = events
        .iter()
        .filter_map(|e| e["data"]["delta"]["partial_json"].as_str())
        .collect();
    // Tool 0's late "1}" has no open block to go to; tool 1 gets all of its arguments.
    assert_eq!(partial, ["{\"a\":", "{\"b\":2}"]);
}

#[test]
fn finish_is_idempotent_and_nothing_follows_message_stop() {
    let all = chunks(OPENAI_TEXT_AND_TOOLS);
    let mut enc = StreamEncoder::new("m");
    let events: Vec<Event> = all.iter().flat_map(|c| enc.on_chunk(c)).collect();
    // The usage chunk already ended the message.
    assert_eq!(events.last().map(|e| e.0), Some("message_stop"));
    assert!(enc.finish().is_empty());
    assert!(enc.on_chunk(&all[1]).is_empty());

    // A stream that produced nothing still gets a well-formed, empty message, once.
    let mut enc = StreamEncoder::new("m");
    let events = enc.finish();
    check_grammar(&events);
    assert_eq!(events.len(), 3);
    assert!(enc.finish().is_empty());
}

#[test]
fn errors_map_status_to_anthropic_types() {
    let mut out = Map::new();
    for status in [
        400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504, 529,
    ] {
        let mut e = BifrostError::internal(format!("status {status}"));
        e.status = status;
        out.insert(status.to_string(), error_body(&e)["error"]["type"].clone());
    }
    insta::assert_json_snapshot!(out);

    let e = BifrostError::stream_error(
        "openai",
        "upstream closed mid-stream",
        "upstream_stream_truncated",
    );
    assert_eq!(
        error_event(&e),
        (
            "error",
            json!({"type": "error", "error": {"type": "api_error", "message": "upstream closed mid-stream"}})
        )
    );
}

/// Signed blocks an upstream issued reach the Anthropic client as issued, plain and streamed:
/// without the signature the client cannot continue a tool turn with thinking on.
#[test]
fn thinking_blocks_keep_their_signatures() {
    let resp = answer(
        "msg_1",
        "tool_calls",
        json!({
            "content": null,
            "reasoning_content": "Check the weather.",
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Check the weather.", "signature": "EuYB"},
                {"type": "redacted_thinking", "data": "EmwK"}],
            "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "weather", "arguments": "{}"}}]}),
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}),
    );
    let msg = from_chat(&resp, "claude-sonnet-4");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "thinking", "thinking": "Check the weather.", "signature": "EuYB"},
            {"type": "redacted_thinking", "data": "EmwK"},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}
        ])
    );

    let data = [
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"reasoning_content": "Check "}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"reasoning_content": "the weather."}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"thinking_blocks": [
            {"type": "thinking", "thinking": "", "signature": "EuYB"}]}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"thinking_blocks": [
            {"type": "redacted_thinking", "data": "EmwK"}]}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"reasoning_content": "Then answer."}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"thinking_blocks": [
            {"type": "thinking", "thinking": "", "signature": "EqQB"}]}, "finish_reason": null}]}),
        json!({"id": "s1", "choices": [{"index": 0, "delta": {"content": "Sunny."}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}),
    ];
    let events = encode("claude-sonnet-4", &value_chunks(&data));
    // The blocks as an Anthropic client's accumulator rebuilds them.
    let mut blocks: Vec<Value> = Vec::new();
    for e in &events {
        let d = &e["data"];
        match e["event"].as_str().unwrap() {
            "content_block_start" => blocks.push(d["content_block"].clone()),
            "content_block_delta" => {
                let b = blocks.last_mut().unwrap();
                match d["delta"]["type"].as_str().unwrap() {
                    "thinking_delta" => {
                        let t = format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap(),
                            d["delta"]["thinking"].as_str().unwrap()
                        );
                        b["thinking"] = json!(t);
                    }
                    "signature_delta" => b["signature"] = d["delta"]["signature"].clone(),
                    "text_delta" => {
                        let t = format!(
                            "{}{}",
                            b["text"].as_str().unwrap(),
                            d["delta"]["text"].as_str().unwrap()
                        );
                        b["text"] = json!(t);
                    }
                    other => panic!("{other}"),
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        blocks,
        [
            json!({"type": "thinking", "thinking": "Check the weather.", "signature": "EuYB"}),
            json!({"type": "redacted_thinking", "data": "EmwK"}),
            json!({"type": "thinking", "thinking": "Then answer.", "signature": "EqQB"}),
            json!({"type": "text", "text": "Sunny."}),
        ]
    );
}

/// Anthropic history with thinking → unified → Converse: Claude on Bedrock gets its signed
/// reasoning back, ahead of the turn's text and tool use.
#[test]
fn thinking_history_reaches_bedrock_signed() {
    let req = chat(json!({
        "model": "claude", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "EuYB"},
                {"type": "redacted_thinking", "data": "RW5j"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sun"}]}
        ]
    }));
    let converse =
        serde_json::to_value(crate::providers::bedrock::request::to_converse(&req).unwrap())
            .unwrap();
    assert_eq!(
        converse["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "Use the tool.", "signature": "EuYB"}}},
            {"reasoningContent": {"redactedContent": "RW5j"}},
            {"toolUse": {"toolUseId": "toolu_1", "name": "weather", "input": {}}}
        ])
    );
    // OpenAI-format targets get neither (they reject unknown message fields).
    let mut stripped = req.clone();
    strip_anthropic_fields(&mut stripped);
    assert!(stripped
        .messages
        .iter()
        .all(|m| !m.extra.contains_key("thinking_blocks")));
}

/// Gemini 3 through `/anthropic`: `tool_use` has no field for the call's thought signature, so it
/// rides in the id the client sends back; the next request gives Gemini the signature again and
/// every other upstream the id as Gemini issued it.
#[test]
fn a_gemini_thought_signature_rides_in_the_tool_use_id() {
    let sig = "CiQB0e2K+/8=";
    let resp = completion(json!({
        "id": "r1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_0", "type": "function",
                            "function": {"name": "weather", "arguments": "{}"},
                            "extra_content": {"google": {"thought_signature": sig}}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    }));
    let id = from_chat(&resp, "gemini-3-pro")["content"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("call_0__thought__"), "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id} is not a valid Anthropic tool_use id"
    );
    // Streamed, the block carries the same id.
    let data = [
        json!({"id": "r1", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_0", "type": "function",
         "function": {"name": "weather", "arguments": "{}"},
         "extra_content": {"google": {"thought_signature": sig}}}]}, "finish_reason": "tool_calls"}]}),
    ];
    let events = encode("gemini-3-pro", &value_chunks(&data));
    assert!(events
        .iter()
        .any(|e| e["data"]["content_block"]["id"] == id.as_str()));

    let req = chat(json!({
        "model": "gemini-3-pro", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "sun"}]}
        ]
    }));
    let call = &req.messages[1].tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id, "call_0");
    assert_eq!(call.thought_signature(), Some(sig));
    assert_eq!(req.messages[2].tool_call_id.as_deref(), Some("call_0"));
    let gemini =
        serde_json::to_value(crate::providers::gemini::request::to_gemini(&req).unwrap()).unwrap();
    assert_eq!(
        gemini["contents"][1]["parts"][0],
        json!({"functionCall": {"name": "weather", "args": {}}, "thoughtSignature": sig})
    );
}

/// A body that does not parse is a 400 naming the bad field, inside blocks too.
#[test]
fn errors_name_the_path_of_the_bad_field() {
    let user = |content: Value| json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]});
    let image = |source: Value| json!({"type": "image", "source": source});
    let cases = [
        (
            json!(["m", [{"role": "user", "content": "x"}], 5]),
            "the request body must be a JSON object",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"content": "x"}]}),
            "messages[0].role: Field required",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "stream": "yes", "messages": []}),
            "stream: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "tool_choice": {"type": "tool", "name": 5},
                   "messages": []}),
            "tool_choice.name: invalid type: integer `5`, expected a string",
        ),
        (
            user(json!([{"type": "text", "text": "a"},
                        image(json!({"type": "base64", "media_type": "image/png"}))])),
            "messages[0].content[1].source.data: Field required",
        ),
        (
            user(json!([image(json!({"type": "url", "url": 5}))])),
            "messages[0].content[0].source.url: invalid type: integer `5`, expected a string",
        ),
        (
            user(
                json!([{"type": "tool_result", "tool_use_id": "t", "content": [
                {"type": "text", "text": "ok"}, image(json!({"type": "base64", "data": "AA=="}))]}]),
            ),
            "messages[0].content[0].content[1].source.media_type: Field required",
        ),
        (
            user(json!([{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}])),
            "messages[0].content[0].is_error: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t"}]}]}),
            "messages[0].content[0].name: Field required",
        ),
    ];
    for (body, expected) in cases {
        let e = to_chat(body.to_string().as_bytes()).unwrap_err();
        assert_eq!((e.status, e.class), (400, ErrorClass::InvalidRequest));
        assert_eq!(e.message, expected, "{body}");
    }
    let trailing = format!("{} x", user(json!("hi")));
    let e = to_chat(trailing.as_bytes()).unwrap_err();
    assert!(
        e.message
            .starts_with("the request body is not valid JSON: trailing characters"),
        "{}",
        e.message
    );
}
