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

mod response;
mod stream;

use crate::error::BifrostError;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, Extra, FunctionCall, FunctionDef, ImageUrl,
    MessageContent, StreamOptions, Tool, ToolCall,
};
pub use response::from_chat;
use serde::Deserialize;
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
    pub text: Value,
    /// `{"effort", "summary"}` when sent.
    pub reasoning: Option<Value>,
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
            text: json!({"format": {"type": "text"}}),
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

/// The typed part of a Responses request body; everything else stays in `extra`.
#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    model: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    provider: Option<Value>,
    #[serde(default)]
    fallbacks: Option<Value>,
    #[serde(flatten)]
    extra: Extra,
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
    let mut req: ResponsesRequest = serde_json::from_slice(body)
        .map_err(|e| BifrostError::invalid_request(format!("invalid Responses request: {e}")))?;

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
        reasoning: req.reasoning.as_ref().filter(|r| !r.is_null()).map(|r| {
            json!({
                "effort": r.get("effort").cloned().unwrap_or(Value::Null),
                "summary": r.get("summary").cloned().unwrap_or(Value::Null),
            })
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
        "provider": req.provider,
        "fallbacks": req.fallbacks,
    });
    let mut chat: ChatRequest = serde_json::from_value(routing)
        .map_err(|e| BifrostError::invalid_request(format!("invalid Responses request: {e}")))?;

    if let Some(instructions) = req.instructions.filter(|s| !s.is_empty()) {
        chat.messages.push(ChatMessage::system(instructions));
    }
    match req.input {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => chat.messages.push(ChatMessage::user(text)),
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                push_input_item(i, item, &mut chat.messages)?;
            }
        }
        Some(_) => {
            return Err(BifrostError::invalid_request(
                "input must be a string or a list of input items",
            ))
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
                .map(|(i, t)| chat_tool(i, t))
                .collect::<Result<_, _>>()?,
        );
    }
    chat.tool_choice = req.tool_choice.as_ref().map(chat_tool_choice).transpose()?;
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
        chat.extra.insert("reasoning_effort".into(), effort.clone());
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

fn echo_text(text: Option<&Value>) -> Value {
    let mut out = Map::new();
    let format = text
        .and_then(|t| t.get("format"))
        .filter(|f| !f.is_null())
        .cloned()
        .unwrap_or_else(|| json!({"type": "text"}));
    out.insert("format".into(), format);
    if let Some(v) = text
        .and_then(|t| t.get("verbosity"))
        .filter(|v| !v.is_null())
    {
        out.insert("verbosity".into(), v.clone());
    }
    Value::Object(out)
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn required_str(obj: &Map<String, Value>, key: &str, at: &str) -> Result<String, BifrostError> {
    str_field(obj, key)
        .map(str::to_owned)
        .ok_or_else(|| BifrostError::invalid_request(format!("{at}.{key} must be a string")))
}

fn push_input_item(i: usize, item: Value, out: &mut Vec<ChatMessage>) -> Result<(), BifrostError> {
    let at = format!("input[{i}]");
    let Value::Object(item) = item else {
        return Err(BifrostError::invalid_request(format!(
            "{at} must be an object"
        )));
    };
    match str_field(&item, "type").unwrap_or("message") {
        "message" => {
            let msg = input_message(&at, &item)?;
            out.push(msg);
        }
        "function_call" => {
            let arguments = match item.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            };
            let call = ToolCall {
                id: required_str(&item, "call_id", &at)?,
                kind: "function".into(),
                function: FunctionCall {
                    name: required_str(&item, "name", &at)?,
                    arguments,
                },
            };
            match out.last_mut() {
                Some(last) if last.role == "assistant" => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => out.push(ChatMessage {
                    role: "assistant".into(),
                    tool_calls: Some(vec![call]),
                    ..ChatMessage::default()
                }),
            }
        }
        "function_call_output" => {
            let content = match item.get("output") {
                Some(Value::String(s)) => MessageContent::Text(s.clone()),
                Some(Value::Array(parts)) => {
                    MessageContent::Parts(input_parts(&format!("{at}.output"), parts)?)
                }
                None | Some(Value::Null) => MessageContent::Text(String::new()),
                Some(other) => MessageContent::Text(other.to_string()),
            };
            out.push(ChatMessage {
                role: "tool".into(),
                content: Some(content),
                tool_call_id: Some(required_str(&item, "call_id", &at)?),
                ..ChatMessage::default()
            });
        }
        "reasoning" => {}
        "item_reference" => {
            return Err(BifrostError::invalid_request(format!(
                "{at}: item_reference is not supported: the gateway keeps no stored items; \
                 send the item itself"
            )))
        }
        other => {
            return Err(BifrostError::invalid_request(format!(
                "{at}: input items of type '{other}' are not supported: only messages, \
                 function_call, function_call_output and reasoning items translate to chat"
            )))
        }
    }
    Ok(())
}

fn input_message(at: &str, item: &Map<String, Value>) -> Result<ChatMessage, BifrostError> {
    let role = required_str(item, "role", at)?;
    if !matches!(role.as_str(), "user" | "assistant" | "system" | "developer") {
        return Err(BifrostError::invalid_request(format!(
            "{at}.role must be user, assistant, system or developer, not '{role}'"
        )));
    }
    let mut msg = ChatMessage {
        role,
        ..ChatMessage::default()
    };
    match item.get("content") {
        Some(Value::String(s)) => msg.content = Some(MessageContent::Text(s.clone())),
        Some(Value::Array(parts)) if msg.role == "assistant" => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                match kind {
                    "output_text" | "input_text" | "text" => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    "refusal" => {
                        let refusal = part.get("refusal").cloned().unwrap_or(Value::Null);
                        msg.extra.insert("refusal".into(), refusal);
                    }
                    other => {
                        return Err(BifrostError::invalid_request(format!(
                            "{at}.content[{j}]: assistant content of type '{other}' is not \
                             supported: use output_text or refusal"
                        )))
                    }
                }
            }
            if !text.is_empty() {
                msg.content = Some(MessageContent::Text(text));
            }
        }
        Some(Value::Array(parts)) => {
            msg.content = Some(MessageContent::Parts(input_parts(
                &format!("{at}.content"),
                parts,
            )?));
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(BifrostError::invalid_request(format!(
                "{at}.content must be a string or a list of content parts"
            )))
        }
    }
    Ok(msg)
}

fn input_parts(at: &str, parts: &[Value]) -> Result<Vec<ContentPart>, BifrostError> {
    parts
        .iter()
        .enumerate()
        .map(|(j, part)| input_part(&format!("{at}[{j}]"), part))
        .collect()
}

fn input_part(at: &str, part: &Value) -> Result<ContentPart, BifrostError> {
    let Value::Object(part) = part else {
        return Err(BifrostError::invalid_request(format!(
            "{at} must be an object"
        )));
    };
    let kind = str_field(part, "type").unwrap_or("");
    let mut out = ContentPart::default();
    match kind {
        "input_text" | "output_text" | "text" => {
            out.kind = "text".into();
            out.text = Some(required_str(part, "text", at)?);
        }
        "input_image" => {
            if part.get("file_id").is_some_and(|v| !v.is_null()) {
                return Err(BifrostError::invalid_request(format!(
                    "{at}: input_image with file_id is not supported: the gateway has no file \
                     store; send image_url (an https: or data: URL)"
                )));
            }
            let url = str_field(part, "image_url").ok_or_else(|| {
                BifrostError::invalid_request(format!("{at}: input_image needs an image_url"))
            })?;
            out.kind = "image_url".into();
            out.image_url = Some(ImageUrl {
                url: url.to_owned(),
                detail: str_field(part, "detail").map(str::to_owned),
            });
        }
        "input_file" => {
            if part.get("file_id").is_some_and(|v| !v.is_null())
                || part.get("file_url").is_some_and(|v| !v.is_null())
            {
                return Err(BifrostError::invalid_request(format!(
                    "{at}: input_file with file_id or file_url is not supported: the gateway has \
                     no file store; send file_data (a base64 data: URL) and filename"
                )));
            }
            let mut file = Map::new();
            file.insert(
                "file_data".into(),
                Value::String(required_str(part, "file_data", at)?),
            );
            if let Some(name) = str_field(part, "filename") {
                file.insert("filename".into(), Value::String(name.to_owned()));
            }
            out.kind = "file".into();
            out.extra.insert("file".into(), Value::Object(file));
        }
        "input_audio" => {
            out.kind = "input_audio".into();
            let audio = part.get("input_audio").cloned().ok_or_else(|| {
                BifrostError::invalid_request(format!("{at}: input_audio needs input_audio"))
            })?;
            out.extra.insert("input_audio".into(), audio);
        }
        other => {
            return Err(BifrostError::invalid_request(format!(
                "{at}: content parts of type '{other}' are not supported: use input_text, \
                 input_image, input_file or input_audio"
            )))
        }
    }
    Ok(out)
}

fn chat_tool(i: usize, tool: &Value) -> Result<Tool, BifrostError> {
    let at = format!("tools[{i}]");
    let Value::Object(tool) = tool else {
        return Err(BifrostError::invalid_request(format!(
            "{at} must be an object"
        )));
    };
    let kind = str_field(tool, "type").unwrap_or("function");
    if kind != "function" {
        return Err(BifrostError::invalid_request(format!(
            "{at}: the built-in tool '{kind}' is not supported: the gateway translates Responses \
             to chat for every provider, and only function tools exist there"
        )));
    }
    // Chat's nested shape, sent here by mistake, is accepted as well.
    let def = match tool.get("function") {
        Some(Value::Object(nested)) => nested,
        _ => tool,
    };
    let mut extra = Extra::new();
    if let Some(strict) = def.get("strict").filter(|s| !s.is_null()) {
        extra.insert("strict".into(), strict.clone());
    }
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: required_str(def, "name", &at)?,
            description: str_field(def, "description").map(str::to_owned),
            parameters: def.get("parameters").filter(|p| !p.is_null()).cloned(),
            extra,
        },
        extra: Extra::new(),
    })
}

fn function_choice(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name}})
}

fn chat_tool_choice(choice: &Value) -> Result<Value, BifrostError> {
    let bad = |what: &str| {
        BifrostError::invalid_request(format!(
            "tool_choice {what} is not supported: use \"auto\", \"none\", \"required\", \
             {{\"type\":\"function\",\"name\":…}} or {{\"type\":\"allowed_tools\",…}}"
        ))
    };
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::String(s) => Err(bad(&format!("'{s}'"))),
        Value::Object(obj) => match str_field(obj, "type") {
            Some("function") => {
                let name =
                    str_field(obj, "name").ok_or_else(|| bad("of type function without a name"))?;
                Ok(function_choice(name))
            }
            Some("allowed_tools") => {
                let tools = obj
                    .get("tools")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("allowed_tools without tools"))?
                    .iter()
                    .map(
                        |t| match (t.get("type").and_then(Value::as_str), t.get("name")) {
                            (Some("function"), Some(Value::String(name))) => {
                                Ok(function_choice(name))
                            }
                            _ => Err(bad("allowed_tools naming a non-function tool")),
                        },
                    )
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json!({
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": obj.get("mode").cloned().unwrap_or_else(|| "auto".into()),
                        "tools": tools,
                    }
                }))
            }
            Some(other) => Err(bad(&format!("of type '{other}' (a built-in tool)"))),
            None => Err(bad("without a type")),
        },
        _ => Err(bad("of this shape")),
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

// ---------------------------------------------------------------------------------------------
// Response

#[cfg(test)]
mod tests {
    use super::stream::Event;
    use super::*;
    use crate::error::ErrorClass;
    use crate::schemas::{
        ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, ChunkDelta, FunctionCallDelta,
        ToolCallDelta,
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
            .map(|(i, city)| ToolCall {
                id: format!("call_{i}"),
                kind: "function".into(),
                function: FunctionCall {
                    name: "get_weather".into(),
                    arguments: format!("{{\"city\":\"{city}\"}}"),
                },
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
}
