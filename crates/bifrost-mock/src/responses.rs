//! OpenAI Responses API endpoint (`POST /v1/responses`): a response object, or the event
//! sequence of a streamed one (`response.created` … `response.completed`), so a gateway's
//! Responses passthrough can be tested. `input` is a string or a list of items; unknown
//! request fields are ignored, and `metadata` is echoed as the real API does.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{encode_failure, Flavor};
use crate::gate::Inbound;
use crate::reply::{
    completion_tokens, prompt_tokens, reply_text, split_pieces, unix_now, wants_tool_call,
};
use crate::stream::{sse_response, Frame};

#[derive(Deserialize)]
struct ResponsesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    tools: Vec<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: Option<String>,
}

/// The arguments of the mock's function call (the chat endpoint's tool call, as one string).
const TOOL_ARGUMENTS: &str = r#"{"location":"Paris"}"#;

/// The text of the last user input: the string itself, or the text parts of the last user
/// message item.
fn last_user_text(input: &Value) -> String {
    match input {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
            .map(|i| match i.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// `POST /v1/responses`.
pub(crate) async fn responses(inbound: Inbound) -> Response {
    let (state, config, request) =
        match inbound.admit_json::<ResponsesRequest>(Flavor::OpenAi).await {
            Ok(admitted) => admitted,
            Err(response) => return response,
        };
    let user_text = last_user_text(&request.input);
    let text = reply_text(&user_text, config.response_size);
    let model = request.model.as_deref().unwrap_or("mock-model");
    let id = format!("resp_mock_{}", state.next_id());
    let input_tokens = prompt_tokens(request.input.to_string().chars().count());
    let output_tokens = completion_tokens(&text);
    let message = |text: &str, status: &str| {
        json!({
            "id": format!("msg_{id}"), "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        })
    };
    let response = |status: &str, output: Vec<Value>, usage: Value| {
        json!({
            "id": id, "object": "response", "created_at": unix_now(), "status": status,
            "model": model, "output": output, "usage": usage,
            "metadata": request.metadata.clone().unwrap_or_else(|| json!({})),
        })
    };
    let usage = json!({
        "input_tokens": input_tokens, "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens
    });
    // Asked about the weather with tools offered, the reply calls the first tool.
    let tool = wants_tool_call(!request.tools.is_empty(), &user_text)
        .then(|| request.tools[0].name.clone().unwrap_or_default());
    let call = tool.as_ref().map(|name| {
        json!({
            "id": format!("fc_{id}"), "type": "function_call", "status": "completed",
            "call_id": "call_mock_1", "name": name, "arguments": TOOL_ARGUMENTS
        })
    });
    let mut output = vec![message(&text, "completed")];
    output.extend(call.clone());
    let done = response("completed", output, usage);
    if !request.stream.unwrap_or(false) {
        return Json(done).into_response();
    }
    let mut seq = 0u64;
    let mut event = |name: &str, mut data: Value, content: bool| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        Frame::event(name, &data, content)
    };
    let frames = (|| {
        let mut frames = vec![
            event(
                "response.created",
                json!({"response": response("in_progress", vec![], Value::Null)}),
                false,
            )?,
            event(
                "response.output_item.added",
                json!({"output_index": 0, "item": message("", "in_progress")}),
                false,
            )?,
        ];
        for delta in split_pieces(&text, config.chunks) {
            frames.push(event(
                "response.output_text.delta",
                json!({"output_index": 0, "content_index": 0, "delta": delta}),
                true,
            )?);
        }
        frames.push(event(
            "response.output_text.done",
            json!({"output_index": 0, "content_index": 0, "text": text}),
            false,
        )?);
        frames.push(event(
            "response.output_item.done",
            json!({"output_index": 0, "item": message(&text, "completed")}),
            false,
        )?);
        frames.push(event(
            "response.completed",
            json!({"response": done}),
            false,
        )?);
        Ok::<_, serde_json::Error>(frames)
    })();
    match frames {
        Ok(frames) => sse_response(frames, &config, state.counters().clone()),
        Err(err) => encode_failure(Flavor::OpenAi, &err),
    }
}
