//! OpenAI-compatible endpoints: chat completions and model listing.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::{encode_failure, error_response, Flavor};
use crate::gate::{bearer_token, x_api_key, Inbound};
use crate::reply::{
    completion_tokens, input_chars, last_user_text, prompt_tokens, reply_text, schema_placeholder,
    split_pieces, unix_now, wants_tool_call, Message, TOOL_ARGUMENT_PIECES,
};
use crate::state::MockState;
use crate::stream::{sse_response, Frame};

/// The parts of a chat completion request the mock looks at; everything else
/// is ignored.
#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<OaTool>,
    #[serde(default)]
    response_format: Option<ResponseFormat>,
    /// Choices to generate (OpenAI allows 1..=128).
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    json_schema: Option<JsonSchemaFormat>,
}

#[derive(Deserialize)]
struct JsonSchemaFormat {
    /// Read as a `Value` whose objects keep their key order (serde_json's `preserve_order`,
    /// on in the workspace), so the reply lists the properties in schema order.
    #[serde(default)]
    schema: Option<Value>,
}

/// The most choices OpenAI generates for one request.
const MAX_CHOICES: u32 = 128;

#[derive(Deserialize)]
struct OaTool {
    function: OaFunction,
}

#[derive(Deserialize)]
struct OaFunction {
    name: String,
}

const TOOL_CALL_ID: &str = "call_mock_1";

/// A tool-call reply (the tools are offered and the user asks about the weather): JSON, or
/// the stream of the real API's shape — role chunk, the call's header, argument pieces,
/// finish, usage, `[DONE]`.
fn tool_call_reply(
    state: &MockState,
    config: &crate::MockConfig,
    header: &StreamHeader<'_>,
    stream: bool,
    name: &str,
    prompt_tokens: u64,
) -> Response {
    let arguments = TOOL_ARGUMENT_PIECES.concat();
    let completion = completion_tokens(&arguments);
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                       "total_tokens": prompt_tokens + completion});
    if !stream {
        return Json(json!({
            "id": header.id, "object": "chat.completion", "created": header.created,
            "model": header.model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": TOOL_CALL_ID, "type": "function",
                                "function": {"name": name, "arguments": arguments}}]}}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": header.id, "object": "chat.completion.chunk", "created": header.created,
               "model": header.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut values = vec![
        (
            chunk(json!({"role": "assistant", "content": null}), Value::Null),
            false,
        ),
        (
            chunk(
                json!({"tool_calls": [{"index": 0, "id": TOOL_CALL_ID, "type": "function",
                                        "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ),
            true,
        ),
    ];
    for piece in TOOL_ARGUMENT_PIECES {
        values.push((
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                Value::Null,
            ),
            true,
        ));
    }
    values.push((chunk(json!({}), json!("tool_calls")), false));
    if header.include_usage {
        values.push((
            json!({"id": header.id, "object": "chat.completion.chunk",
                   "created": header.created, "model": header.model, "choices": [],
                   "usage": usage}),
            false,
        ));
    }
    let mut frames = Vec::with_capacity(values.len() + 1);
    for (v, content) in values {
        match Frame::data(&v, content) {
            Ok(f) => frames.push(f),
            Err(e) => return encode_failure(Flavor::OpenAi, &e),
        }
    }
    frames.push(Frame::raw(b"data: [DONE]\n\n"));
    sse_response(frames, config, state.counters().clone())
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

// Replies are typed rather than `json!` values: they serialize without
// intermediate maps (chunks are the mock's hot path) and keep the field order
// of the real API.

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent without `include_usage`; with it, `null` on every chunk but the
    /// final usage chunk, like the real API.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// What every chunk of one stream shares.
struct StreamHeader<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    include_usage: bool,
}

impl StreamHeader<'_> {
    fn frame(
        &self,
        choices: &[ChunkChoice<'_>],
        usage: Option<Usage>,
        content: bool,
    ) -> serde_json::Result<Frame> {
        let chunk = Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        Frame::data(&chunk, content)
    }

    fn delta_frame(
        &self,
        index: u32,
        delta: Delta<'_>,
        finish_reason: Option<&'static str>,
        content: bool,
    ) -> serde_json::Result<Frame> {
        let choice = ChunkChoice {
            index,
            delta,
            finish_reason,
        };
        self.frame(&[choice], None, content)
    }
}

/// role chunk, content chunks, finish chunk, optional usage chunk, `[DONE]`; with `n` choices,
/// each chunk of the single-choice stream is sent once per choice index, as OpenAI interleaves
/// them.
fn stream_frames(
    header: &StreamHeader<'_>,
    pieces: &[&str],
    usage: Usage,
    n: u32,
) -> serde_json::Result<Vec<Frame>> {
    let mut frames = Vec::with_capacity((pieces.len() + 2) * n as usize + 2);
    for index in 0..n {
        let role = Delta {
            role: Some("assistant"),
            content: Some(""),
        };
        frames.push(header.delta_frame(index, role, None, false)?);
    }
    for piece in pieces {
        for index in 0..n {
            let delta = Delta {
                role: None,
                content: Some(piece),
            };
            frames.push(header.delta_frame(index, delta, None, true)?);
        }
    }
    for index in 0..n {
        frames.push(header.delta_frame(index, Delta::default(), Some("stop"), false)?);
    }
    if header.include_usage {
        frames.push(header.frame(&[], Some(usage), false)?);
    }
    frames.push(Frame::raw(b"data: [DONE]\n\n"));
    Ok(frames)
}

/// `POST /v1/chat/completions` and `POST /chat/completions`.
pub(crate) async fn chat_completions(inbound: Inbound) -> Response {
    let (state, config, request) = match inbound.admit_json::<ChatRequest>(Flavor::OpenAi).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };

    let n = request.n.unwrap_or(1);
    if !(1..=MAX_CHOICES).contains(&n) {
        let message = format!("mock: n must be between 1 and {MAX_CHOICES}, got {n}");
        return error_response(Flavor::OpenAi, StatusCode::BAD_REQUEST, &message);
    }
    let model = request.model.as_deref().unwrap_or("mock-model");
    let user_text = last_user_text(&request.messages);
    let tool = wants_tool_call(!request.tools.is_empty(), &user_text)
        .then(|| request.tools[0].function.name.as_str());
    // Structured output is JSON text, as a real model's would be (`response_size` does not
    // apply: padding would break the JSON).
    let text = match &request.response_format {
        Some(f) if f.kind == "json_schema" => {
            let schema = f.json_schema.as_ref().and_then(|j| j.schema.as_ref());
            schema.map_or_else(|| "{}".to_owned(), |s| schema_placeholder(s).to_string())
        }
        Some(f) if f.kind == "json_object" => "{}".to_owned(),
        _ => reply_text(&user_text, config.response_size),
    };
    let prompt_tokens = prompt_tokens(input_chars(&request.messages));
    // Every choice is generated, so every choice counts (as at OpenAI).
    let completion_tokens = completion_tokens(&text) * u64::from(n);
    let usage = Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    };
    let id = format!("chatcmpl-mock-{}", state.next_id());
    let header = StreamHeader {
        id: &id,
        created: unix_now(),
        model,
        include_usage: request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    };
    let stream = request.stream.unwrap_or(false);
    if let Some(name) = tool {
        return tool_call_reply(&state, &config, &header, stream, name, prompt_tokens);
    }

    if !stream {
        let reply = ChatCompletion {
            id: &id,
            object: "chat.completion",
            created: header.created,
            model,
            choices: (0..n)
                .map(|index| Choice {
                    index,
                    message: AssistantMessage {
                        role: "assistant",
                        content: &text,
                    },
                    finish_reason: "stop",
                })
                .collect(),
            usage,
        };
        return Json(reply).into_response();
    }

    match stream_frames(&header, &split_pieces(&text, config.chunks), usage, n) {
        Ok(frames) => sse_response(frames, &config, state.counters().clone()),
        Err(err) => encode_failure(Flavor::OpenAi, &err),
    }
}

/// `GET /v1/models`. Counted and recorded like other API requests, but exempt
/// from latency and failure injection: it is metadata, not inference.
pub(crate) async fn models(
    State(state): State<MockState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let config = state.load_config();
    // Either credential style is accepted so both provider kinds can list.
    let key = bearer_token(&headers)
        .or_else(|| x_api_key(&headers))
        .map(str::to_owned);
    state.record(Method::GET, uri, headers, Bytes::new(), key.as_deref());
    if config.require_auth && key.is_none() {
        return error_response(
            Flavor::OpenAi,
            StatusCode::UNAUTHORIZED,
            "mock: missing `Authorization: Bearer <key>` header",
        );
    }
    let data: Vec<Value> = config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mock"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}
