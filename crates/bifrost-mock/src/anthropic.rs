//! Anthropic Messages API endpoint.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{error_response, Flavor};
use crate::gate::admit;
use crate::reply::{
    completion_tokens, input_chars, last_user_text, prompt_tokens, reply_text, split_pieces,
    wants_tool_call, Content, Message,
};
use crate::state::MockState;
use crate::stream::{sse_response, Frame};

/// Text of the reply that precedes a tool call.
const TOOL_PREAMBLE: &str = "Let me check.";
/// The tool input, streamed in these two `input_json_delta` pieces.
const TOOL_INPUT_PIECES: [&str; 2] = [r#"{"location":"#, r#""Paris"}"#];

#[derive(Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    tools: Option<Vec<Tool>>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /v1/messages`.
pub(crate) async fn messages(
    State(state): State<MockState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = match admit(&state, Flavor::Anthropic, uri, headers, &body).await {
        Ok(config) => config,
        Err(response) => return response,
    };
    let bad_request =
        |message: &str| error_response(Flavor::Anthropic, StatusCode::BAD_REQUEST, message);
    let request: MessagesRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return bad_request(&format!("mock: invalid request body: {err}")),
    };
    if request.max_tokens.is_none() {
        return bad_request("max_tokens: Field required");
    }

    let model = request.model.unwrap_or_else(|| "mock-model".to_owned());
    let user_text = last_user_text(&request.messages);
    let tools = request.tools.unwrap_or_default();
    // The tool call names the first tool offered.
    let tool_name = wants_tool_call(!tools.is_empty(), &user_text).then(|| {
        tools
            .into_iter()
            .next()
            .and_then(|t| t.name)
            .unwrap_or_default()
    });

    let text = match tool_name {
        Some(_) => TOOL_PREAMBLE.to_owned(),
        None => reply_text(&user_text, config.response_size),
    };
    let system_chars = request.system.as_ref().map_or(0, Content::char_count);
    let input_tokens = prompt_tokens(input_chars(&request.messages) + system_chars);
    let output_tokens = completion_tokens(&text)
        + if tool_name.is_some() {
            completion_tokens(&TOOL_INPUT_PIECES.concat())
        } else {
            0
        };
    let stop_reason = if tool_name.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    let id = format!("msg_mock_{}", state.next_id());

    if !request.stream.unwrap_or(false) {
        let mut content = vec![json!({"type": "text", "text": text})];
        if let Some(name) = &tool_name {
            content.push(json!({
                "type": "tool_use",
                "id": "toolu_mock_1",
                "name": name,
                "input": {"location": "Paris"},
            }));
        }
        let body = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        });
        return Json(body).into_response();
    }

    let pieces = split_pieces(&text, config.chunks);
    let mut frames = Vec::with_capacity(pieces.len() + 12);
    let message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
        // The real API reports a placeholder output count here.
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    });
    let event = |name: &str, data: Value| Frame::event(name, &data, false);
    let content_event = |data: Value| Frame::event("content_block_delta", &data, true);

    frames.push(event(
        "message_start",
        json!({"type": "message_start", "message": message}),
    ));
    frames.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    frames.push(event("ping", json!({"type": "ping"})));
    for piece in pieces {
        frames.push(content_event(json!({
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        })));
    }
    frames.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    if let Some(name) = &tool_name {
        frames.push(event(
            "content_block_start",
            json!({
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": {}},
            }),
        ));
        for piece in TOOL_INPUT_PIECES {
            frames.push(content_event(json!({
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            })));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ));
    }
    frames.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens},
        }),
    ));
    frames.push(event("message_stop", json!({"type": "message_stop"})));
    sse_response(frames, &config, state.counters().clone())
}
