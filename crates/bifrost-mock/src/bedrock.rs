//! AWS Bedrock Converse endpoints: `POST /model/{modelId}/converse` (JSON) and
//! `POST /model/{modelId}/converse-stream` (AWS event-stream frames). Authentication is SigV4
//! (verified when `MockConfig::aws_credentials` is set, see [`crate::sigv4`]) or a Bedrock API
//! key as a bearer token.

use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message as FrameMessage};
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::{error_response, Flavor};
use crate::gate::Inbound;
use crate::reply::{
    input_chars, last_user_text, prompt_tokens, reply_with_tool, split_pieces, wants_tool_call,
    Content, Message, TOOL_ARGUMENT_PIECES,
};
use crate::stream::{eventstream_response, Frame};

const TOOL_USE_ID: &str = "tooluse_mock_1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    tool_config: Option<ToolConfig>,
}

#[derive(Deserialize)]
struct ToolConfig {
    #[serde(default)]
    tools: Vec<ToolEntry>,
}

/// A `toolSpec`, or a `cachePoint` entry (no spec).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolEntry {
    #[serde(default)]
    tool_spec: Option<ToolSpec>,
}

#[derive(Deserialize)]
struct ToolSpec {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
}

struct Reply<'a> {
    text: &'a str,
    tool: Option<&'a str>,
    usage: Usage,
}

impl Reply<'_> {
    fn stop_reason(&self) -> &'static str {
        self.tool.map_or("end_turn", |_| "tool_use")
    }

    fn body(&self) -> Value {
        let mut content = vec![json!({ "text": self.text })];
        if let Some(name) = self.tool {
            content.push(json!({"toolUse": {
                "toolUseId": TOOL_USE_ID, "name": name, "input": {"location": "Paris"}
            }}));
        }
        json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": self.stop_reason(),
            "usage": self.usage,
            "metrics": {"latencyMs": 1},
        })
    }

    /// ConverseStream's sequence: messageStart; per block, (contentBlockStart for tool use,)
    /// deltas, contentBlockStop; messageStop; metadata.
    fn stream_frames(&self, chunks: usize) -> Result<Vec<Frame>, String> {
        let block_stop = |index: u32| {
            let stop = json!({ "contentBlockIndex": index });
            event("contentBlockStop", &stop, false)
        };
        let mut frames = Vec::new();
        frames.push(event("messageStart", &json!({"role": "assistant"}), false)?);
        for text in split_pieces(self.text, chunks) {
            let delta = json!({"contentBlockIndex": 0, "delta": {"text": text}});
            frames.push(event("contentBlockDelta", &delta, true)?);
        }
        frames.push(block_stop(0)?);
        if let Some(name) = self.tool {
            let start = json!({"contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": TOOL_USE_ID, "name": name}}});
            frames.push(event("contentBlockStart", &start, false)?);
            for input in TOOL_ARGUMENT_PIECES {
                let delta = json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": input}}});
                frames.push(event("contentBlockDelta", &delta, true)?);
            }
            frames.push(block_stop(1)?);
        }
        frames.push(event(
            "messageStop",
            &json!({"stopReason": self.stop_reason()}),
            false,
        )?);
        let metadata = json!({"usage": self.usage, "metrics": {"latencyMs": 1}});
        frames.push(event("metadata", &metadata, false)?);
        Ok(frames)
    }
}

/// One event-stream message with Bedrock's three headers.
pub(crate) fn encode_frame(
    message_type: &'static str,
    type_header: (&'static str, &str),
    payload: &Value,
) -> Result<Bytes, String> {
    let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let message = FrameMessage::new_from_parts(
        vec![
            Header::new(
                type_header.0,
                FrameValue::String(type_header.1.to_owned().into()),
            ),
            Header::new(
                ":content-type",
                FrameValue::String("application/json".into()),
            ),
            Header::new(":message-type", FrameValue::String(message_type.into())),
        ],
        payload,
    );
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(Bytes::from(out))
}

fn event(kind: &str, payload: &Value, content: bool) -> Result<Frame, String> {
    encode_frame("event", (":event-type", kind), payload).map(|b| Frame::encoded(b, content))
}

/// What `stream_fail_after` ends a stream with: the exception a model failure mid-stream
/// produces.
fn failure_frame() -> Result<Bytes, String> {
    encode_frame(
        "exception",
        (":exception-type", "modelStreamErrorException"),
        &json!({
            "message": "mock: injected stream failure",
            "originalStatusCode": 500,
            "originalMessage": "mock: injected stream failure",
        }),
    )
}

/// Bedrock's own checks that catch a malformed translation: roles alternate starting with
/// `user`, and every content is a block array.
fn validate(request: &ConverseRequest, raw: &Value) -> Result<(), String> {
    if request.messages.is_empty() {
        return Err("A conversation must start with a user message.".into());
    }
    let messages = raw
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut expected = "user";
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != expected {
            return Err(format!(
                "A conversation must alternate between user and assistant roles \
                 (messages.{i}.role is '{role}', expected '{expected}')."
            ));
        }
        if m.get("content").and_then(Value::as_array).is_none() {
            return Err(format!("messages.{i}.content must be an array of blocks."));
        }
        expected = if role == "user" { "assistant" } else { "user" };
    }
    Ok(())
}

/// `POST /model/{modelId}/converse` (`STREAM` false) and `/converse-stream` (`STREAM` true).
pub(crate) async fn converse<const STREAM: bool>(
    Path(_model): Path<String>,
    inbound: Inbound,
) -> Response {
    // Read whole first: `validate` looks at what the typed request drops.
    let (state, config, raw) = match inbound.admit_json::<Value>(Flavor::Bedrock).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let bad_request =
        |message: &str| error_response(Flavor::Bedrock, StatusCode::BAD_REQUEST, message);
    let request: ConverseRequest = match serde_json::from_value(raw.clone()) {
        Ok(request) => request,
        Err(err) => return bad_request(&format!("mock: invalid request body: {err}")),
    };
    if let Err(message) = validate(&request, &raw) {
        return bad_request(&message);
    }

    let user_text = last_user_text(&request.messages);
    let tools: Vec<&str> = request
        .tool_config
        .iter()
        .flat_map(|c| &c.tools)
        .filter_map(|t| t.tool_spec.as_ref())
        .map(|s| s.name.as_deref().unwrap_or(""))
        .collect();
    // The tool call names the first tool offered.
    let tool = wants_tool_call(!tools.is_empty(), &user_text).then(|| tools[0]);
    let (text, output_tokens) = reply_with_tool(tool.is_some(), &user_text, config.response_size);
    let system_chars = request.system.as_ref().map_or(0, Content::char_count);
    let input_tokens = prompt_tokens(input_chars(&request.messages) + system_chars);
    let reply = Reply {
        text: &text,
        tool,
        usage: Usage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
        },
    };
    let request_id = format!("mock-{}", state.next_id());

    let mut response = if STREAM {
        match reply.stream_frames(config.chunks).and_then(|frames| {
            failure_frame()
                .map(|fail| eventstream_response(frames, &config, state.counters().clone(), fail))
        }) {
            Ok(response) => response,
            Err(err) => {
                tracing::error!("bifrost-mock: cannot encode event stream: {err}");
                return error_response(
                    Flavor::Bedrock,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "mock: cannot encode reply",
                );
            }
        }
    } else {
        Json(reply.body()).into_response()
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}
