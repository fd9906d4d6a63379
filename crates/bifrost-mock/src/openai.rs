//! OpenAI-compatible endpoints: chat completions and model listing.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{error_response, Flavor};
use crate::gate::{admit, bearer_token, x_api_key};
use crate::reply::{
    completion_tokens, input_chars, last_user_text, prompt_tokens, reply_text, split_pieces,
    unix_now, Message,
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
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// `POST /v1/chat/completions` and `POST /chat/completions`.
pub(crate) async fn chat_completions(
    State(state): State<MockState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = match admit(&state, Flavor::OpenAi, uri, headers, &body).await {
        Ok(config) => config,
        Err(response) => return response,
    };
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            let message = format!("mock: invalid request body: {err}");
            return error_response(Flavor::OpenAi, StatusCode::BAD_REQUEST, &message);
        }
    };

    let model = request.model.unwrap_or_else(|| "mock-model".to_owned());
    let text = reply_text(&last_user_text(&request.messages), config.response_size);
    let prompt = prompt_tokens(input_chars(&request.messages));
    let completion = completion_tokens(&text);
    let usage = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    });
    let id = format!("chatcmpl-mock-{}", state.next_id());
    let created = unix_now();

    if !request.stream.unwrap_or(false) {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": usage,
        });
        return Json(body).into_response();
    }

    let include_usage = request
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let chunk = |choices: Value, usage: Option<&Value>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        });
        // Like the real API: with include_usage every chunk carries a
        // `usage` field, null except on the final usage chunk.
        if include_usage {
            chunk["usage"] = usage.cloned().unwrap_or(Value::Null);
        }
        chunk
    };
    let choice = |delta: Value, finish_reason: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish_reason}]);

    let pieces = split_pieces(&text, config.chunks);
    let mut frames = Vec::with_capacity(pieces.len() + 4);
    let first = choice(json!({"role": "assistant", "content": ""}), Value::Null);
    frames.push(Frame::data(&chunk(first, None), false));
    for piece in pieces {
        let delta = choice(json!({"content": piece}), Value::Null);
        frames.push(Frame::data(&chunk(delta, None), true));
    }
    let last = choice(json!({}), json!("stop"));
    frames.push(Frame::data(&chunk(last, None), false));
    if include_usage {
        frames.push(Frame::data(&chunk(json!([]), Some(&usage)), false));
    }
    frames.push(Frame::raw(b"data: [DONE]\n\n"));
    sse_response(frames, &config, state.counters().clone())
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
    state.record(uri, headers, Bytes::new(), key.as_deref());
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
