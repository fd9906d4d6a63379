//! Fixtures the translators' tests share: the tools, tool calls and request bodies the
//! OpenAI-shaped conversations are made of, and helpers for the table-driven checks.

use crate::error::{BifrostError, ErrorClass};
use crate::schemas::{ChatCompletionChunk, ChatRequest};
use serde_json::{json, Map, Value};

/// The `created` timestamp the response and stream translators' tests stamp.
pub(crate) const CREATED: u64 = 1_750_000_000;

/// A unified chat request from its OpenAI-shaped JSON.
pub(crate) fn chat_request(body: Value) -> ChatRequest {
    serde_json::from_value(body).unwrap()
}

/// `{"type": "ephemeral"}` on `value` (an object): a prompt-cache checkpoint.
pub(crate) fn cached(mut value: Value) -> Value {
    value["cache_control"] = json!({"type": "ephemeral"});
    value
}

/// The `get_weather` tool: a described function with a JSON-schema for its parameters.
pub(crate) fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]}
        }, "required": ["location"]}
    }})
}

/// The `get_time` tool: a bare function, no description nor parameters.
pub(crate) fn time_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_time"}})
}

/// `[lookup]`: the one bare tool the tool-choice checks choose among.
pub(crate) fn lookup_tools() -> Value {
    json!([{"type": "function", "function": {"name": "lookup"}}])
}

/// An assistant turn's two parallel calls: `get_weather` for Paris, `get_time` without
/// arguments, under the given ids.
pub(crate) fn weather_and_time_calls(weather_id: &str, time_id: &str) -> Value {
    json!([
        {"id": weather_id, "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\",\"unit\":\"c\"}"}},
        {"id": time_id, "type": "function",
         "function": {"name": "get_time", "arguments": ""}}
    ])
}

/// The `get_time` call's result, as a text part.
pub(crate) fn time_result(tool_call_id: &str) -> Value {
    json!({"role": "tool", "tool_call_id": tool_call_id,
           "content": [{"type": "text", "text": "14:05 CEST"}]})
}

/// `[{"role": "user", "content": "x"}]`: the smallest conversation.
pub(crate) fn user_x() -> Value {
    json!([{"role": "user", "content": "x"}])
}

/// `body` with each of `fields` set, in order.
pub(crate) fn with_fields(mut body: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Model `m`, one `x` from the user, and `fields` on top.
pub(crate) fn minimal_body(fields: Value) -> Value {
    with_fields(json!({"model": "m", "messages": user_x()}), fields)
}

/// OpenAI's own knobs (the given `response_format` and `logprobs`, a seed, penalties, a logit
/// bias) and a fallback, as the full conversations sent to Claude end.
pub(crate) fn openai_options(response_format: Value, logprobs: bool) -> Value {
    json!({
        "response_format": response_format,
        "seed": 42,
        "logprobs": logprobs,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "fallbacks": ["openai/gpt-4o"]
    })
}

/// The sampling, tool and thinking options of the full conversations sent to Claude
/// (Anthropic's API and Bedrock's Converse).
pub(crate) fn claude_options() -> Value {
    json!({
        "max_completion_tokens": 1024,
        "max_tokens": 99,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": "\n\nHuman:",
        "user": "user-1234",
        "tools": [weather_tool(), cached(time_tool())],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "top_k": 40,
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    })
}

/// Model `m`, one message of `role` with the content parts `parts`.
pub(crate) fn parts_body(role: &str, parts: Value) -> Value {
    json!({"model": "m", "messages": [{"role": role, "content": parts}]})
}

/// A user turn, then an assistant call of `f` whose `arguments` are the given text.
pub(crate) fn call_arguments_body(arguments: &str) -> Value {
    json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": arguments}}]}
    ]})
}

/// A message of role `function`, which no translator takes.
pub(crate) fn unknown_role_body() -> Value {
    json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]})
}

/// A tool result that names no call.
pub(crate) fn tool_message_without_id_body() -> Value {
    json!({"model": "m", "messages": [{"role": "tool", "content": "42"}]})
}

/// A user `input_audio` part (a WAV).
pub(crate) fn audio_part() -> Value {
    json!([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])
}

/// An image part whose data URL is not base64.
pub(crate) fn raw_data_url_image_part() -> Value {
    json!([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])
}

/// `body` with `tool_choice` set, unless `choice` is null.
pub(crate) fn with_tool_choice(mut body: Value, choice: Value) -> Value {
    if !choice.is_null() {
        body["tool_choice"] = choice;
    }
    body
}

/// `value[key]`, or null where it is absent.
pub(crate) fn field(value: &Value, key: &str) -> Value {
    value.get(key).cloned().unwrap_or(Value::Null)
}

/// `{"status", "type", "message"}` of an error.
pub(crate) fn error_summary(e: &BifrostError) -> Value {
    json!({"status": e.status, "type": e.error_type, "message": e.message})
}

/// Runs each case through `translate`, which must reject it as an invalid request, and
/// collects `describe` of each error under the case's name.
pub(crate) fn rejections<T>(
    cases: impl IntoIterator<Item = (&'static str, Value)>,
    translate: impl Fn(Value) -> Result<T, BifrostError>,
    describe: impl Fn(&BifrostError) -> Value,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, body) in cases {
        let Err(e) = translate(body) else {
            panic!("{name} was accepted");
        };
        assert_eq!(e.class, ErrorClass::InvalidRequest, "{name}");
        out.insert(name.into(), describe(&e));
    }
    out
}

/// Feeds each of `items` to `state` with `on`, checking that none comes once the stream is
/// finished (`end` names what finishes it) and that it does finish; the chunks, in order.
pub(crate) fn feed<S, I>(
    state: &mut S,
    items: impl IntoIterator<Item = I>,
    is_finished: impl Fn(&S) -> bool,
    mut on: impl FnMut(&mut S, I) -> Result<Vec<ChatCompletionChunk>, BifrostError>,
    end: &str,
) -> Vec<ChatCompletionChunk> {
    let mut chunks = Vec::new();
    for item in items {
        assert!(!is_finished(state), "event after {end}");
        chunks.extend(on(state, item).unwrap());
    }
    assert!(is_finished(state));
    chunks
}
