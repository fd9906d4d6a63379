//! OpenAI Responses API (`POST /v1/responses`) ⇄ the unified chat request, so every provider
//! serves Responses clients. Pure functions plus one stream encoder.
//!
//! Request ([`parse`], or [`to_chat`] and [`echo`] separately):
//! - `model`, and the gateway's own `provider`/`fallbacks`, as on the chat route.
//! - `instructions` becomes a leading `system` message.
//! - `input`: a string is one `user` message. A list holds items: messages (`type: "message"`
//!   or no type) with role `user`/`system`/`developer`/`assistant` and string or part-list
//!   content (`input_text`/`output_text` → text, `input_image` with `image_url` → `image_url`,
//!   `input_file` with `file_data` → `file`, `input_audio` kept; assistant content is joined
//!   into one string and a `refusal` part becomes the message's `refusal`);
//!   `function_call` items become `tool_calls` of an assistant message (merged into the
//!   assistant message right before them, so consecutive calls share one message);
//!   `function_call_output` items become `tool` messages. `reasoning` items are dropped: a
//!   summary cannot be handed back to another provider's model.
//! - Rejected with 400 (never sent upstream): `previous_response_id`, `conversation`,
//!   `prompt`, `item_reference` items and `background: true` — the gateway keeps no
//!   conversation state or stored prompts; `file_id` images and files, and `file_url` files —
//!   it has no file store; built-in tools (`web_search`, `file_search`, `computer_use`, `mcp`,
//!   `custom`, …), tool choices naming them, and input items of built-in tool calls — only
//!   function tools translate to chat.
//! - `tools` (flat `{type:"function", name, description, parameters, strict}`) become chat
//!   tools; `tool_choice` `"auto"|"none"|"required"`, `{type:"function", name}` and
//!   `{type:"allowed_tools", …}` become their chat forms; `parallel_tool_calls`, `temperature`,
//!   `top_p` and `user` are copied; `max_output_tokens` becomes `max_completion_tokens`.
//! - `text.format` `json_schema`/`json_object` becomes `response_format`, `text.verbosity`
//!   becomes `verbosity`; `reasoning.effort` becomes `reasoning_effort` (`reasoning.summary`
//!   is dropped: providers return whatever reasoning they produce).
//! - `stream: true` streams and always asks for the usage chunk, which `response.completed`
//!   needs.
//! - Dropped: `metadata` (only echoed back), `store` (nothing is stored), `include` (no
//!   encrypted reasoning, no logprobs), `truncation` (the gateway never truncates; an over-long
//!   input fails upstream), `stream_options`, `max_tool_calls` (it limits built-in tools,
//!   which are rejected), `top_logprobs` (logprobs are not translated back), `background:
//!   false`. Any other field is kept in the chat request's `extra`, as on the chat route.
//!
//! Response ([`from_chat`], [`StreamEncoder`]): a `response` object whose `output` holds a
//! `reasoning` item (from `reasoning_content`, as one summary text), a `message` item (text,
//! refusal) and one `function_call` item per tool call, in that order; only the first choice is
//! read. `finish_reason` `length` → status `incomplete` with reason `max_output_tokens`,
//! `content_filter` → `incomplete` with reason `content_filter`, anything else → `completed`.
//! The request's settings are echoed back from [`ResponsesEcho`], `model` as the client named
//! it. Ids are `resp_…`, `msg_…`, `rs_…`, `fc_…` built from one random suffix per response.

mod request;
mod response;
mod stream;

use crate::error::BifrostError;
use crate::schemas::{ChatMessage, ChatRequest, Extra, StreamOptions};
use crate::wire::responses as wire;
pub use response::from_chat;
use serde_json::{json, Map, Value};
pub use stream::StreamEncoder;

/// The request fields a Responses answer echoes back, kept from the request body.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesEcho {
    /// `resp_…`; its suffix also names the output items.
    pub id: String,
    /// As the client named it (`openai/gpt-4o`, an alias, …).
    pub model: String,
    pub instructions: Option<String>,
    /// As sent, in the Responses shape.
    pub tools: Vec<Value>,
    /// As sent; `"auto"` when absent.
    pub tool_choice: Value,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<u32>,
    /// `true` when absent, as OpenAI reports it.
    pub parallel_tool_calls: bool,
    /// `{"format": …}` (plus `verbosity` when sent); format `{"type":"text"}` when absent.
    pub text: wire::TextConfig,
    /// `{"effort", "summary"}` when sent.
    pub reasoning: Option<wire::Reasoning>,
    /// As sent; `{}` when absent.
    pub metadata: Value,
    pub user: Option<String>,
}

impl ResponsesEcho {
    /// An echo of a bare request for `model`, with a fresh id.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            id: new_response_id(),
            model: model.into(),
            instructions: None,
            tools: Vec::new(),
            tool_choice: Value::String("auto".into()),
            temperature: None,
            top_p: None,
            max_output_tokens: None,
            parallel_tool_calls: true,
            text: wire::TextConfig::default(),
            reasoning: None,
            metadata: Value::Object(Map::new()),
            user: None,
        }
    }

    /// The suffix shared by every id of this response.
    fn suffix(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }

    fn item_id(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}{output_index:02}", self.suffix())
    }
}

fn new_response_id() -> String {
    let mut id = String::from("resp_");
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(32));
    id
}

/// Fields that need state the gateway does not keep.
const STATEFUL: [(&str, &str); 3] = [
    ("previous_response_id", "previous_response_id is not supported: the gateway keeps no conversation state; send the whole conversation in `input`"),
    ("conversation", "conversation is not supported: the gateway keeps no conversation state; send the whole conversation in `input`"),
    ("prompt", "prompt (a stored prompt template) is not supported: the gateway keeps no stored prompts; send `instructions` and `input`"),
];

/// Fields with no chat equivalent that are safe to ignore (see the module doc).
const DROPPED: [&str; 6] = [
    "store",
    "include",
    "truncation",
    "stream_options",
    "max_tool_calls",
    "top_logprobs",
];

/// Translates a Responses request body to the unified chat request and the fields its answer
/// echoes back.
pub fn parse(body: &[u8]) -> Result<(ChatRequest, ResponsesEcho), BifrostError> {
    let mut req = request::read(body)?;
    // The gateway's own routing fields arrive among the unknown ones; taken out in place, so
    // that the rest keep their order.
    let provider = req.extra.shift_remove("provider");
    let fallbacks = req.extra.shift_remove("fallbacks");

    for (field, message) in STATEFUL {
        if req.extra.remove(field).is_some_and(|v| !v.is_null()) {
            return Err(BifrostError::invalid_request(message));
        }
    }
    if req.background == Some(true) {
        return Err(BifrostError::invalid_request(
            "background is not supported: the gateway keeps no stored responses to poll; \
             stream, or send a plain request",
        ));
    }
    for field in DROPPED {
        req.extra.remove(field);
    }

    let echo = ResponsesEcho {
        model: req.model.clone(),
        instructions: req.instructions.clone(),
        tools: req.tools.clone().unwrap_or_default(),
        tool_choice: req
            .tool_choice
            .clone()
            .unwrap_or_else(|| Value::String("auto".into())),
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.max_output_tokens,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        text: echo_text(req.text.as_ref()),
        // A non-string effort is refused below.
        reasoning: req
            .reasoning
            .as_ref()
            .filter(|r| !r.is_null())
            .map(|r| wire::Reasoning {
                effort: r.get("effort").and_then(Value::as_str).map(str::to_owned),
                summary: r.get("summary").filter(|s| !s.is_null()).cloned(),
            }),
        metadata: req
            .metadata
            .clone()
            .filter(|m| !m.is_null())
            .unwrap_or_else(|| Value::Object(Map::new())),
        user: req.user.clone(),
        ..ResponsesEcho::new(req.model.clone())
    };

    // Reuse the chat route's parsing of the gateway's routing fields.
    let routing = json!({
        "model": req.model,
        "messages": [],
        "provider": provider,
        "fallbacks": fallbacks,
    });
    let mut chat: ChatRequest = serde_json::from_value(routing)
        .map_err(|e| BifrostError::invalid_request(format!("invalid Responses request: {e}")))?;

    if let Some(instructions) = req.instructions.filter(|s| !s.is_empty()) {
        chat.messages.push(ChatMessage::system(instructions));
    }
    match req.input {
        None => {}
        Some(wire::Input::Text(text)) => chat.messages.push(ChatMessage::user(text)),
        Some(wire::Input::Items(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                request::push_input_item(i, item, &mut chat.messages)?;
            }
        }
    }
    if chat.messages.is_empty() {
        return Err(BifrostError::invalid_request(
            "input is required: give a string or a list of input items",
        ));
    }

    if let Some(tools) = req.tools.filter(|t| !t.is_empty()) {
        chat.tools = Some(
            tools
                .iter()
                .enumerate()
                .map(|(i, t)| request::chat_tool(i, t))
                .collect::<Result<_, _>>()?,
        );
    }
    chat.tool_choice = req
        .tool_choice
        .as_ref()
        .map(request::chat_tool_choice)
        .transpose()?;
    chat.parallel_tool_calls = req.parallel_tool_calls;
    chat.max_completion_tokens = req.max_output_tokens;
    chat.temperature = req.temperature;
    chat.top_p = req.top_p;
    chat.user = req.user;

    chat.extra = req.extra;
    if let Some(text) = req.text.as_ref().filter(|t| !t.is_null()) {
        if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
            if let Some(rf) = response_format(format)? {
                chat.extra.insert("response_format".into(), rf);
            }
        }
        if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
            chat.extra.insert("verbosity".into(), v.clone());
        }
    }
    if let Some(effort) = req
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .filter(|e| !e.is_null())
    {
        let effort = effort
            .as_str()
            .ok_or_else(|| BifrostError::invalid_request("reasoning.effort: must be a string"))?;
        chat.reasoning_effort = Some(effort.to_owned());
    }

    if req.stream == Some(true) {
        chat.stream = Some(true);
        chat.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            extra: Extra::new(),
        });
    }
    Ok((chat, echo))
}

/// The unified chat request of a Responses request body.
pub fn to_chat(body: &[u8]) -> Result<ChatRequest, BifrostError> {
    parse(body).map(|(chat, _)| chat)
}

/// What the answer to a Responses request body echoes back.
pub fn echo(body: &[u8]) -> Result<ResponsesEcho, BifrostError> {
    parse(body).map(|(_, echo)| echo)
}

fn echo_text(text: Option<&Value>) -> wire::TextConfig {
    let field = |key| {
        text.and_then(|t| t.get(key))
            .filter(|v| !v.is_null())
            .cloned()
    };
    wire::TextConfig {
        format: field("format").unwrap_or_else(|| wire::TextConfig::default().format),
        verbosity: field("verbosity"),
    }
}

/// `text.format` → chat `response_format`; `None` for plain text.
fn response_format(format: &Value) -> Result<Option<Value>, BifrostError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            schema.insert(
                "name".into(),
                format
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| "response".into()),
            );
            for key in ["schema", "strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.into(), v.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(BifrostError::invalid_request(
            "text.format.type must be text, json_object or json_schema",
        )),
    }
}

#[cfg(test)]
mod tests;
