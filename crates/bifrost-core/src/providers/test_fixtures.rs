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

/// A user `input_audio` part (a WAV).
pub(crate) fn audio_part() -> Value {
    json!([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])
}

/// Content parts of one image, at `url`.
pub(crate) fn image_parts(url: &str) -> Value {
    json!([{"type": "image_url", "image_url": {"url": url}}])
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

/// Requests every translator must reject: each provider's `rejected_requests` runs these
/// with its own.
pub(crate) fn common_rejections() -> Vec<(&'static str, Value)> {
    vec![
        (
            "unknown_role",
            json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}),
        ),
        (
            "tool_message_without_id",
            json!({"model": "m", "messages": [{"role": "tool", "content": "42"}]}),
        ),
        (
            "tool_choice_unknown_string",
            minimal_body(json!({"tools": lookup_tools(), "tool_choice": "any"})),
        ),
        (
            "tool_choice_function_without_name",
            minimal_body(json!({"tool_choice": {"type": "function"}})),
        ),
        (
            "tool_type_not_function",
            minimal_body(json!({"tools": [{"type": "web_search", "function": {"name": "x"}}]})),
        ),
        (
            "video_part",
            parts_body(
                "user",
                json!([{"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}]),
            ),
        ),
        (
            "image_in_system",
            parts_body("system", image_parts("https://example.com/a.png")),
        ),
    ]
}

/// Requests the translators that parse call arguments and decode data-URL images reject
/// (all but Cohere's, which passes both on as text).
pub(crate) fn decoding_rejections() -> Vec<(&'static str, Value)> {
    let call_arguments = |arguments: &str| {
        json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": arguments}}]}
        ]})
    };
    vec![
        ("tool_args_invalid_json", call_arguments("{\"a\": 1")),
        ("tool_args_not_an_object", call_arguments("[1, 2]")),
        (
            "image_data_url_not_base64",
            parts_body("user", image_parts("data:image/png,rawbytes")),
        ),
    ]
}

/// OpenAI options whose values Cohere's and Gemini's translators check.
pub(crate) fn option_rejections() -> Vec<(&'static str, Value)> {
    vec![
        (
            "logit_bias",
            minimal_body(json!({"logit_bias": {"50256": -100}})),
        ),
        ("logprobs", minimal_body(json!({"logprobs": true}))),
        (
            "response_format_unknown",
            minimal_body(json!({"response_format": {"type": "xml"}})),
        ),
        (
            "json_schema_without_schema",
            minimal_body(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
            ),
        ),
        (
            "reasoning_effort_unknown",
            minimal_body(json!({"reasoning_effort": "extreme"})),
        ),
        ("seed_not_integer", minimal_body(json!({"seed": "42"}))),
    ]
}

/// Embedding requests every embeddings translator rejects: token ids, batches of them, nothing.
pub(crate) fn rejected_embeddings() -> Vec<Value> {
    [json!([1, 2, 3]), json!([[1, 2], [3]]), json!([])]
        .into_iter()
        .map(|input| json!({"model": "m", "input": input}))
        .collect()
}

/// Checks that `translate` rejects each of `bodies` as an invalid request (400).
pub(crate) fn assert_all_rejected<T>(
    bodies: impl IntoIterator<Item = Value>,
    translate: impl Fn(&Value) -> Result<T, BifrostError>,
) {
    for body in bodies {
        let Err(e) = translate(&body) else {
            panic!("{body} was accepted");
        };
        assert_eq!(
            (e.status, e.class),
            (400, ErrorClass::InvalidRequest),
            "{body}"
        );
    }
}

/// Feeds each of `items` to `state` with `on`, checking that none comes once the stream is
/// finished and that it does finish; the chunks, in order.
pub(crate) fn feed<S: super::chunks::Translator, I>(
    state: &mut S,
    items: impl IntoIterator<Item = I>,
    mut on: impl FnMut(&mut S, I) -> Result<Vec<ChatCompletionChunk>, BifrostError>,
) -> Vec<ChatCompletionChunk> {
    let mut chunks = Vec::new();
    for item in items {
        assert!(!state.is_finished(), "event after {}", S::END);
        chunks.extend(on(state, item).unwrap());
    }
    assert!(state.is_finished());
    chunks
}
