use super::stream::Event;
use super::*;
use crate::error::ErrorClass;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, ChunkDelta, FunctionCallDelta,
    ToolCall, ToolCallDelta,
};
use insta::assert_json_snapshot;

const SUFFIX_ID: &str = "resp_test";

/// The translated request with the fields `ChatRequest` does not serialize.
fn chat_json(body: Value) -> Value {
    let chat = to_chat(body.to_string().as_bytes()).unwrap();
    json!({
        "model": chat.model,
        "provider": chat.provider,
        "fallbacks": chat.fallbacks,
        "stream": chat.stream,
        "stream_options": chat.stream_options,
        "body": chat,
    })
}

fn rejection(body: Value) -> Value {
    let e = to_chat(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.class, ErrorClass::InvalidRequest);
    Value::String(e.message.clone())
}

fn test_echo(body: Value) -> ResponsesEcho {
    let mut echo = echo(body.to_string().as_bytes()).unwrap();
    echo.id = SUFFIX_ID.into();
    echo
}

#[test]
fn string_input_with_instructions_and_settings() {
    assert_json_snapshot!(chat_json(json!({
        "model": "anthropic/claude-sonnet-4",
        "instructions": "Answer briefly.",
        "input": "What is the capital of France?",
        "max_output_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "user-1",
        "metadata": {"trace": "abc"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "truncation": "auto",
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "text"}, "verbosity": "low"},
        "service_tier": "auto",
        "fallbacks": ["openai/gpt-4o-mini"],
    })));
}

#[test]
fn item_list_with_images_and_files() {
    assert_json_snapshot!(chat_json(json!({
        "model": "gpt-4o",
        "input": [
            {"role": "developer", "content": "Describe images in one sentence."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            ]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "content": [
                {"type": "output_text", "text": "A cat and a PDF.", "annotations": []},
            ]},
            {"role": "user", "content": "Thanks"},
        ],
    })));
}

#[test]
fn function_call_round_trip() {
    assert_json_snapshot!(chat_json(json!({
        "model": "gpt-4o",
        "input": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Two calls."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "18C sunny"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "21C"}]},
            {"type": "function_call", "call_id": "call_c", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_c", "output": "12:00"},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather for a city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
             "strict": true},
            {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": false,
    })));
}

#[test]
fn text_formats() {
    let formats = [
        json!({"type": "json_schema", "name": "city", "strict": true, "description": "A city",
                   "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
        json!({"type": "json_object"}),
        json!({"type": "text"}),
    ];
    let translated: Vec<Value> = formats
        .into_iter()
        .map(|format| {
            let chat = to_chat(
                json!({"model": "m", "input": "x", "text": {"format": format}})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            chat.extra
                .get("response_format")
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect();
    assert_json_snapshot!(translated);
}

#[test]
fn tool_choice_variants() {
    let choices = [
        json!("auto"),
        json!("none"),
        json!("required"),
        json!({"type": "function", "name": "get_weather"}),
        json!({"type": "allowed_tools", "mode": "required",
                   "tools": [{"type": "function", "name": "get_weather"}]}),
    ];
    let translated: Vec<Value> = choices
        .into_iter()
        .map(|choice| {
            let chat = to_chat(
                json!({"model": "m", "input": "x", "tool_choice": choice})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            chat.tool_choice.unwrap()
        })
        .collect();
    assert_json_snapshot!(translated);
}

#[test]
fn rejected_requests() {
    let base = |extra: Value| {
        let mut body = json!({"model": "gpt-4o", "input": "hi"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let rejected: Map<String, Value> = [
        (
            "previous_response_id",
            base(json!({"previous_response_id": "resp_1"})),
        ),
        ("conversation", base(json!({"conversation": "conv_1"}))),
        ("prompt", base(json!({"prompt": {"id": "pmpt_1"}}))),
        ("background", base(json!({"background": true}))),
        (
            "web_search_tool",
            base(json!({"tools": [{"type": "web_search_preview"}]})),
        ),
        (
            "file_search_tool",
            base(json!({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]})),
        ),
        (
            "built_in_tool_choice",
            base(json!({"tool_choice": {"type": "web_search_preview"}})),
        ),
        (
            "file_id_image",
            base(json!({"input": [{"role": "user", "content": [
                {"type": "input_image", "file_id": "file-1"}]}]})),
        ),
        (
            "file_id_file",
            base(json!({"input": [{"role": "user", "content": [
                {"type": "input_file", "file_id": "file-1"}]}]})),
        ),
        (
            "item_reference",
            base(json!({"input": [{"type": "item_reference", "id": "msg_1"}]})),
        ),
        (
            "computer_call_output",
            base(json!({"input": [{"type": "computer_call_output", "call_id": "c"}]})),
        ),
        (
            "bad_role",
            base(json!({"input": [{"role": "tool", "content": "x"}]})),
        ),
        ("no_input", json!({"model": "gpt-4o"})),
        ("no_model", json!({"input": "hi"})),
        (
            "bad_format",
            base(json!({"text": {"format": {"type": "xml"}}})),
        ),
    ]
    .into_iter()
    .map(|(name, body)| (name.to_owned(), rejection(body)))
    .collect();
    assert_json_snapshot!(rejected);
}

#[test]
fn null_stateful_fields_are_accepted() {
    let chat = to_chat(
        br#"{"model":"m","input":"x","previous_response_id":null,"background":false,"store":true}"#,
    )
    .unwrap();
    assert!(chat.extra.is_empty());
}

#[test]
fn echo_of_a_full_request() {
    let echo = test_echo(json!({
        "model": "openai/gpt-4o",
        "instructions": "Be kind.",
        "input": "hi",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "f"},
        "temperature": 0.5,
        "top_p": 1.0,
        "max_output_tokens": 100,
        "parallel_tool_calls": false,
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "high"},
        "metadata": {"k": "v"},
        "user": "u",
    }));
    let resp = ChatCompletion {
        id: "chatcmpl-1".into(),
        created: 1_750_000_000,
        choices: vec![Choice {
            message: ChatMessage::text("assistant", "{}"),
            finish_reason: Some("stop".into()),
            ..Choice::default()
        }],
        ..ChatCompletion::default()
    };
    assert_json_snapshot!(from_chat(&resp, &echo));
}

fn completion(message: ChatMessage, finish: &str, usage: Option<Value>) -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-1".into(),
        object: "chat.completion".into(),
        created: 1_750_000_000,
        model: "gpt-4o-2024-08-06".into(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish.into()),
            extra: Extra::new(),
        }],
        usage: usage.map(|u| serde_json::from_value(u).unwrap()),
        extra: Extra::new(),
    }
}

fn bare_echo() -> ResponsesEcho {
    test_echo(json!({"model": "gpt-4o", "input": "hi"}))
}

#[test]
fn response_text_with_usage() {
    let resp = completion(
        ChatMessage::text("assistant", "Paris."),
        "stop",
        Some(json!({
            "prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 8},
            "cache_creation_input_tokens": 4,
            "completion_tokens_details": {"reasoning_tokens": 2},
        })),
    );
    assert_json_snapshot!(from_chat(&resp, &bare_echo()));
}

fn weather_calls() -> Vec<ToolCall> {
    ["Paris", "Rome"]
        .iter()
        .enumerate()
        .map(|(i, city)| {
            ToolCall::function(
                format!("call_{i}"),
                "get_weather".into(),
                format!("{{\"city\":\"{city}\"}}"),
            )
        })
        .collect()
}

#[test]
fn response_tool_calls() {
    let message = ChatMessage {
        role: "assistant".into(),
        tool_calls: Some(weather_calls()),
        ..ChatMessage::default()
    };
    let resp = completion(
        message,
        "tool_calls",
        Some(json!({"prompt_tokens": 30, "completion_tokens": 12})),
    );
    assert_json_snapshot!(from_chat(&resp, &bare_echo())["output"]);
}

#[test]
fn response_reasoning_then_text() {
    let mut message = ChatMessage::text("assistant", "42.");
    message
        .extra
        .insert("reasoning_content".into(), "Six times seven.".into());
    let resp = completion(message, "stop", None);
    assert_json_snapshot!(from_chat(&resp, &bare_echo())["output"]);
}

#[test]
fn response_cut_at_length_is_incomplete() {
    let resp = completion(
        ChatMessage::text("assistant", "Once upon a"),
        "length",
        None,
    );
    let out = from_chat(&resp, &bare_echo());
    assert_json_snapshot!(json!({
        "status": out["status"],
        "incomplete_details": out["incomplete_details"],
        "output": out["output"],
    }));
}

// --- stream -------------------------------------------------------------------------------

fn chunk(delta: ChunkDelta, finish: Option<&str>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "chatcmpl-1".into(),
        created: 1_750_000_000,
        model: "gpt-4o".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_owned),
            extra: Extra::new(),
        }],
        ..ChatCompletionChunk::default()
    }
}

fn text(t: &str) -> ChatCompletionChunk {
    chunk(
        ChunkDelta {
            content: Some(t.into()),
            ..ChunkDelta::default()
        },
        None,
    )
}

fn reasoning(t: &str) -> ChatCompletionChunk {
    let mut delta = ChunkDelta::default();
    delta.extra.insert("reasoning_content".into(), t.into());
    chunk(delta, None)
}

fn tool(index: u32, id_name: Option<(&str, &str)>, args: &str) -> ChatCompletionChunk {
    chunk(
        ChunkDelta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                id: id_name.map(|(id, _)| id.to_owned()),
                kind: id_name.map(|_| "function".to_owned()),
                function: Some(FunctionCallDelta {
                    name: id_name.map(|(_, name)| name.to_owned()),
                    arguments: Some(args.into()),
                }),
                ..ToolCallDelta::default()
            }]),
            ..ChunkDelta::default()
        },
        None,
    )
}

fn finish(reason: &str) -> ChatCompletionChunk {
    chunk(ChunkDelta::default(), Some(reason))
}

fn usage_chunk() -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "chatcmpl-1".into(),
        created: 1_750_000_000,
        usage: Some(
            serde_json::from_value(json!({
                "prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60,
                "prompt_tokens_details": {"cached_tokens": 0},
            }))
            .unwrap(),
        ),
        ..ChatCompletionChunk::default()
    }
}

fn role_chunk() -> ChatCompletionChunk {
    chunk(
        ChunkDelta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..ChunkDelta::default()
        },
        None,
    )
}

/// Runs the chunks through an encoder, checks the sequence numbers and the idempotent
/// finish, and returns every event.
fn encode(chunks: &[ChatCompletionChunk]) -> Vec<Value> {
    let mut enc = StreamEncoder::new(bare_echo());
    let mut events: Vec<Event> = chunks.iter().flat_map(|c| enc.on_chunk(c)).collect();
    events.extend(enc.finish());
    assert!(enc.finish().is_empty());
    assert!(enc.on_chunk(&text("late")).is_empty());
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], json!(n));
        assert_eq!(data["type"], json!(name));
    }
    events
        .into_iter()
        .map(|(name, data)| json!({"event": name, "data": data}))
        .collect()
}

#[test]
fn stream_text_then_two_split_tool_calls() {
    let events = encode(&[
        role_chunk(),
        text("Checking "),
        text("both."),
        tool(0, Some(("call_0", "get_weather")), ""),
        tool(0, None, "{\"ci"),
        tool(0, None, "ty\":\"Paris\"}"),
        tool(1, Some(("call_1", "get_weather")), "{\"city\":"),
        tool(1, None, "\"Rome\"}"),
        finish("tool_calls"),
        usage_chunk(),
    ]);

    // The streamed response equals the one of the same completion unstreamed.
    let mut message = ChatMessage::text("assistant", "Checking both.");
    message.tool_calls = Some(weather_calls());
    let resp = completion(
        message,
        "tool_calls",
        Some(json!({"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60})),
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "response.completed");
    assert_eq!(last["data"]["response"], from_chat(&resp, &bare_echo()));

    assert_json_snapshot!(events);
}

#[test]
fn stream_reasoning_then_text_cut_at_length() {
    let events = encode(&[
        role_chunk(),
        reasoning("Think "),
        reasoning("hard."),
        text("Once upon"),
        text(" a"),
        finish("length"),
    ]);
    assert_json_snapshot!(events);
}

#[test]
fn stream_failure_after_text() {
    let mut enc = StreamEncoder::new(bare_echo());
    let mut events = enc.on_chunk(&role_chunk());
    events.extend(enc.on_chunk(&text("Hel")));
    let e = BifrostError::stream_error(
        "openai",
        "upstream closed the stream",
        "upstream_stream_truncated",
    );
    let (name, data) = enc.failed_event(&e);
    assert_eq!(name, "response.failed");
    assert_eq!(data["sequence_number"], json!(events.len()));
    assert!(enc.finish().is_empty());
    assert_json_snapshot!(data);
}

#[test]
fn stream_failure_before_any_event() {
    let mut enc = StreamEncoder::new(bare_echo());
    let e = BifrostError::all_keys_cooling("openai", std::time::Duration::from_secs(2));
    let (name, data) = enc.failed_event(&e);
    assert_eq!(name, "error");
    assert_json_snapshot!(data);
}

#[test]
fn empty_stream_still_completes() {
    let mut enc = StreamEncoder::new(bare_echo());
    let names: Vec<&str> = enc.finish().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
}

/// Gemini 3 through `/v1/responses`: the function-call item has no field for the call's thought
/// signature, so it rides in `call_id`, and the next request gives it back to the call.
#[test]
fn a_gemini_thought_signature_rides_in_the_call_id() {
    let sig = "CiQB0e2K+/8=";
    let mut call = ToolCall::function("call_0".into(), "weather".into(), "{}".into());
    ToolCall::set_thought_signature(&mut call.extra, sig.into());
    let message = ChatMessage {
        role: "assistant".into(),
        tool_calls: Some(vec![call]),
        ..ChatMessage::default()
    };
    let out = from_chat(&completion(message, "tool_calls", None), &bare_echo());
    let call_id = out["output"][0]["call_id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_0__thought__"), "{call_id}");
    let req = to_chat(
        json!({"model": "gemini-3-pro", "input": [
            {"type": "message", "role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": call_id, "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": "sun"}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let call = &req.messages[1].tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        (call.id.as_str(), call.thought_signature()),
        ("call_0", Some(sig))
    );
    assert_eq!(req.messages[2].tool_call_id.as_deref(), Some("call_0"));
}

/// A field of the wrong JSON type is named by its path.
#[test]
fn malformed_fields_are_named_by_path() {
    let cases = [
        (
            json!({"input": [{"role": "user", "content": [
                {"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": 1}]}]}),
            "input[0].content[1].image_url: invalid type: integer `1`, expected a string",
        ),
        (
            json!({"input": [{"type": "function_call_output", "call_id": "c",
                              "output": [{"type": "input_text"}]}]}),
            "input[0].output[0].text is required",
        ),
        (json!({"input": ["hi"]}), "input[0] must be an object"),
        (
            json!({"input": "x", "tools": [{"type": "function", "name": "f", "strict": "yes"}]}),
            "tools[0].strict: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"input": "x", "tool_choice": {"type": "allowed_tools",
                                                 "tools": [{"type": "function"}]}}),
            "tool_choice.tools[0].name is required",
        ),
    ];
    for (mut body, message) in cases {
        body["model"] = json!("m");
        assert_eq!(rejection(body), json!(message));
    }
}
