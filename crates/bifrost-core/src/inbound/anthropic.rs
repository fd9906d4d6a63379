//! The Anthropic Messages API as an inbound format (`/anthropic/v1/messages`): an Anthropic
//! request becomes the unified chat request, and the unified answer (plain, streamed, or an
//! error) goes back in Anthropic's shape, so the Anthropic SDKs and Claude Code can be served by
//! any provider. The reverse of `providers::anthropic`, over the same types
//! ([`crate::wire::anthropic`]).
//!
//! Request rules ([`to_chat`]):
//! - `model`, `stream`, `max_tokens` (required: missing is a 400, as at Anthropic), `temperature`
//!   and `top_p` are copied; `stop_sequences` → `stop`; `metadata.user_id` → `user` (other
//!   metadata keys are dropped: Anthropic defines none).
//! - `system` (a string or text blocks) → one leading `system` message: a string stays a string,
//!   blocks become text parts that keep their `cache_control`.
//! - `user`/`assistant` messages keep their shape: string content stays a string, blocks become
//!   parts. Block mapping:
//!   - `text` → a text part; `image` (base64 source → `data:` URL, url source → the URL) → an
//!     `image_url` part; `document` with a base64 source → an OpenAI `file` part (`file_data`
//!     data URL, `filename` from `title`), with a plain-text source → a text part; documents
//!     with url, file or content sources are a 400 (no OpenAI equivalent the gateway can build
//!     without fetching). `citations`, `context` and `title` (beyond the filename) are dropped.
//!   - every block's `cache_control` is kept in its part's `cache_control`, which the outbound
//!     Anthropic and Bedrock translations read again.
//!   - assistant `tool_use` → `tool_calls` (arguments = the JSON text of `input`); the block's
//!     `cache_control` is dropped. An id this gateway gave out with a Gemini thought signature
//!     in it (`<id>__thought__<signature>`, see `inbound::signed_id`) is split again:
//!     the call gets the signature back, the call and its `tool_result` the id Gemini issued.
//!   - assistant `thinking` / `redacted_thinking` → the message's `thinking_blocks`
//!     ([`ThinkingBlock`], signatures kept), which the Anthropic and Bedrock translations send
//!     back; removed for OpenAI-format targets, and never made `reasoning_content`
//!     (OpenAI-compatible servers such as DeepSeek reject it sent back).
//!   - user `tool_result` → one `tool` message per result, placed before the rest of the turn
//!     (OpenAI requires tool messages right after the assistant's calls), content = the result's
//!     text blocks joined with `\n`. `is_error: true` is kept as `is_error` in the message's
//!     `extra`; the block's `cache_control` (else that of its last inner block) is kept by making
//!     the content one text part carrying it. Images and documents inside a result cannot ride
//!     in a tool message, so they move to the user message that follows the tool messages.
//!   - any other block type (server tool blocks, `search_result`, …), and a block in the wrong
//!     role (`tool_use` from the user, `image` from the assistant), is a 400.
//! - Roles other than `user` and `assistant` are a 400, as is an empty `messages` array.
//! - `tools` (`name`, `description`, `input_schema`, `cache_control`) become
//!   function tools; Anthropic server tools (any `type` other than `custom`) are a 400.
//!   `tool_choice` `auto`/`any`/`tool`/`none` → `"auto"`/`"required"`/named function/`"none"`;
//!   `disable_parallel_tool_use: true` → `parallel_tool_calls: false`.
//! - `top_k` → `top_k`; `thinking` is kept verbatim in `thinking` (the Anthropic and Bedrock
//!   translations send it on) and, when enabled, also mapped to `reasoning_effort` for OpenAI,
//!   Gemini and Cohere upstreams: `budget_tokens` < 4096 → `low`, < 16384 → `medium`, else
//!   `high`.
//! - Every other top-level field (`service_tier`, `container`, `mcp_servers`,
//!   `context_management`, future ones) is dropped: their meaning is Anthropic's, and OpenAI
//!   upstreams answer 400 to fields they do not know. [`strip_anthropic_fields`] also removes
//!   the Anthropic-only fields this translation keeps, for routes that serve the request from an
//!   OpenAI-format upstream.
//!
//! [`count_tokens`] validates the same way (without requiring `max_tokens`) and estimates.

use crate::error::BifrostError;
use crate::inbound::signed_id;
use crate::providers::reasons;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ContentPart, Extra, FunctionDef,
    ImageUrl, MessageContent, Stop, ThinkingBlock, Tool, ToolCall, ToolCallDelta, Usage,
    THINKING_BLOCKS,
};
use crate::wire::anthropic::ThinkingConfig;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

mod response;
pub use response::{error_body, error_event, from_chat, StreamEncoder};

/// One SSE event of the Anthropic stream: its `event:` name and its `data:` JSON.
pub type Event = (&'static str, Value);

// ---------------------------------------------------------------------------------------------
// Request

/// Parses an Anthropic Messages request into the unified chat request.
pub fn to_chat(body: &[u8]) -> Result<ChatRequest, BifrostError> {
    parse_request(body, true)
}

/// Removes what this translation keeps only for Anthropic-format upstreams (the Anthropic API,
/// Claude on Vertex or Bedrock): `top_k`, `thinking`, `cache_control` on messages, content
/// parts and tools, `is_error` on tool messages and assistants' `thinking_blocks`. For routes
/// whose target speaks OpenAI's format, which rejects unknown fields. (`reasoning_effort`,
/// set from `thinking`, stays: it is OpenAI's own.)
pub fn strip_anthropic_fields(req: &mut ChatRequest) {
    req.top_k = None;
    req.thinking = None;
    for msg in &mut req.messages {
        msg.cache_control = None;
        msg.extra.remove("is_error");
        msg.extra.remove(THINKING_BLOCKS);
        if let Some(MessageContent::Parts(parts)) = &mut msg.content {
            for part in parts {
                part.cache_control = None;
            }
        }
    }
    for tool in req.tools.iter_mut().flatten() {
        tool.cache_control = None;
    }
}

fn parse_request(body: &[u8], require_max_tokens: bool) -> Result<ChatRequest, BifrostError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid("the request body must be a JSON object"));
    };

    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        None | Some(Value::Null) => return Err(invalid("model: Field required")),
        Some(_) => return Err(invalid("model: must be a non-empty string")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) if require_max_tokens => {
            return Err(invalid("max_tokens: Field required"))
        }
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid("max_tokens: must be a positive integer"))?,
        ),
    };

    let mut messages = Vec::new();
    if let Some(system) = non_null(&obj, "system") {
        messages.push(system_message(system)?);
    }
    let raw = match non_null(&obj, "messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(invalid("messages: at least one message is required")),
        Some(_) => return Err(invalid("messages: must be an array")),
        None => return Err(invalid("messages: Field required")),
    };
    for (i, msg) in raw.iter().enumerate() {
        translate_message(i, msg, &mut messages)?;
    }

    let mut req = ChatRequest {
        model,
        messages,
        max_tokens,
        stream: opt_bool(&obj, "stream")?,
        temperature: opt_f64(&obj, "temperature")?,
        top_p: opt_f64(&obj, "top_p")?,
        ..ChatRequest::default()
    };

    if let Some(v) = non_null(&obj, "stop_sequences") {
        let stops = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|s| s.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| invalid("stop_sequences: must be an array of strings"))?;
        if !stops.is_empty() {
            req.stop = Some(Stop::Many(stops));
        }
    }
    if let Some(v) = non_null(&obj, "metadata") {
        let meta = v
            .as_object()
            .ok_or_else(|| invalid("metadata: must be an object"))?;
        match meta.get("user_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) => req.user = Some(u.clone()),
            Some(_) => return Err(invalid("metadata.user_id: must be a string")),
        }
    }
    if let Some(v) = non_null(&obj, "top_k") {
        match v {
            Value::Number(n) if n.is_u64() => req.top_k = Some(n.clone()),
            _ => return Err(invalid("top_k: must be a non-negative integer")),
        }
    }
    if let Some(v) = non_null(&obj, "thinking") {
        req.reasoning_effort = reasoning_effort(v)?.map(str::to_owned);
        req.thinking = Some(v.clone());
    }
    if let Some(v) = non_null(&obj, "tools") {
        let tools = v
            .as_array()
            .ok_or_else(|| invalid("tools: must be an array"))?;
        req.tools = Some(
            tools
                .iter()
                .enumerate()
                .map(|(i, t)| translate_tool(i, t))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(v) = non_null(&obj, "tool_choice") {
        let (choice, parallel) = translate_tool_choice(v)?;
        req.tool_choice = Some(choice);
        req.parallel_tool_calls = parallel;
    }
    Ok(req)
}

/// `thinking` → `reasoning_effort`, for upstreams that take an effort rather than a budget.
/// Anthropic's minimum budget is 1024; Claude Code's "think", "think hard" and "ultrathink" ask
/// for about 4k, 10k and 32k tokens, which land on low, medium and high.
fn reasoning_effort(thinking: &Value) -> Result<Option<&'static str>, BifrostError> {
    if !thinking.is_object() {
        return Err(invalid("thinking: must be an object"));
    }
    if thinking.get("type").and_then(Value::as_str).is_none() {
        return Err(invalid("thinking.type: Field required"));
    }
    // With a string type, only `enabled` (its budget) can fail to parse.
    match ThinkingConfig::deserialize(thinking) {
        Ok(ThinkingConfig::Enabled { budget_tokens }) => Ok(Some(match budget_tokens {
            0..=4095 => "low",
            4096..=16383 => "medium",
            _ => "high",
        })),
        Ok(_) => Ok(None),
        Err(_) => Err(invalid(
            "thinking.budget_tokens: Field required (a positive integer)",
        )),
    }
}

fn system_message(system: &Value) -> Result<ChatMessage, BifrostError> {
    match system {
        Value::String(s) => Ok(ChatMessage::system(s.clone())),
        Value::Array(blocks) => {
            let parts = blocks
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    let path = format!("system[{j}]");
                    match block_type(b, &path)? {
                        "text" => text_part(b, &path),
                        other => Err(invalid(format!(
                            "{path}: only text blocks are allowed in system, got '{other}'"
                        ))),
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(ChatMessage {
                role: "system".into(),
                content: Some(MessageContent::Parts(parts)),
                ..ChatMessage::default()
            })
        }
        _ => Err(invalid(
            "system: must be a string or an array of text blocks",
        )),
    }
}

fn translate_message(
    i: usize,
    msg: &Value,
    out: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    let role = msg.get("role").and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "messages[{i}].role: Field required (user or assistant)"
        ))
    })?;
    let content = match msg.get("content") {
        Some(c @ (Value::String(_) | Value::Array(_))) => c,
        _ => {
            return Err(invalid(format!(
                "messages[{i}].content: must be a string or an array of content blocks"
            )))
        }
    };
    if content.as_array().is_some_and(Vec::is_empty) {
        return Err(invalid(format!(
            "messages[{i}].content: at least one content block is required"
        )));
    }
    match role {
        "user" => user_message(i, content, out),
        "assistant" => {
            out.push(assistant_message(i, content)?);
            Ok(())
        }
        other => Err(invalid(format!(
            "messages[{i}].role: unexpected role '{other}' (expected user or assistant; the \
             system prompt goes in the top-level 'system' field)"
        ))),
    }
}

fn user_message(i: usize, content: &Value, out: &mut Vec<ChatMessage>) -> Result<(), BifrostError> {
    let Value::Array(blocks) = content else {
        out.push(ChatMessage::user(content.as_str().unwrap_or_default()));
        return Ok(());
    };
    let mut tool_messages = Vec::new();
    // Media returned by tools, which OpenAI's tool messages cannot hold.
    let mut tool_media = Vec::new();
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match block_type(block, &path)? {
            "text" => parts.push(text_part(block, &path)?),
            "image" => parts.push(image_part(block, &path)?),
            "document" => parts.push(document_part(block, &path)?),
            "tool_result" => tool_messages.push(tool_result(block, &path, &mut tool_media)?),
            other => return Err(wrong_block(&path, other, "user")),
        }
    }
    let had_tool_results = !tool_messages.is_empty();
    out.extend(tool_messages);
    tool_media.extend(parts);
    if !tool_media.is_empty() || !had_tool_results {
        out.push(ChatMessage {
            role: "user".into(),
            content: Some(MessageContent::Parts(tool_media)),
            ..ChatMessage::default()
        });
    }
    Ok(())
}

fn assistant_message(i: usize, content: &Value) -> Result<ChatMessage, BifrostError> {
    let Value::Array(blocks) = content else {
        return Ok(ChatMessage::text(
            "assistant",
            content.as_str().unwrap_or_default(),
        ));
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match block_type(block, &path)? {
            "text" => parts.push(text_part(block, &path)?),
            "tool_use" => calls.push(tool_call(block, &path)?),
            "thinking" | "redacted_thinking" => thinking.push(
                ThinkingBlock::deserialize(block).map_err(|e| invalid(format!("{path}: {e}")))?,
            ),
            other => return Err(wrong_block(&path, other, "assistant")),
        }
    }
    let content = match (parts.is_empty(), calls.is_empty()) {
        (false, _) => Some(MessageContent::Parts(parts)),
        (true, false) => None,
        // Only thinking: an empty turn, which every upstream accepts as an assistant message.
        (true, true) => Some(MessageContent::Text(String::new())),
    };
    let mut msg = ChatMessage {
        role: "assistant".into(),
        content,
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..ChatMessage::default()
    };
    ThinkingBlock::write(&mut msg.extra, &thinking);
    Ok(msg)
}

fn tool_call(block: &Value, path: &str) -> Result<ToolCall, BifrostError> {
    let id = req_str(block, "id", path)?;
    let name = req_str(block, "name", path)?;
    let arguments = match block.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(input) => input.to_string(),
    };
    let (id, signature) = signed_id::split(id);
    let mut call = ToolCall::function(id.to_owned(), name.to_owned(), arguments);
    if let Some(sig) = signature {
        ToolCall::set_thought_signature(&mut call.extra, sig);
    }
    Ok(call)
}

fn tool_result(
    block: &Value,
    path: &str,
    media: &mut Vec<ContentPart>,
) -> Result<ChatMessage, BifrostError> {
    let (id, _) = signed_id::split(req_str(block, "tool_use_id", path)?);
    let mut texts = Vec::new();
    let mut inner_cache = None;
    match block.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => texts.push(s.clone()),
        Some(Value::Array(inner)) => {
            for (k, b) in inner.iter().enumerate() {
                let path = format!("{path}.content[{k}]");
                match block_type(b, &path)? {
                    "text" => texts.push(req_str(b, "text", &path)?.to_owned()),
                    "image" => media.push(image_part(b, &path)?),
                    "document" => media.push(document_part(b, &path)?),
                    other => return Err(wrong_block(&path, other, "tool_result")),
                }
                if let Some(cc) = non_null_field(b, "cache_control") {
                    inner_cache = Some(cc.clone());
                }
            }
        }
        Some(_) => {
            return Err(invalid(format!(
                "{path}.content: must be a string or an array of content blocks"
            )))
        }
    }
    let text = texts.join("\n");
    let cache = non_null_field(block, "cache_control")
        .cloned()
        .or(inner_cache);
    let content = match cache {
        None => MessageContent::Text(text),
        Some(cc) => MessageContent::Parts(vec![ContentPart {
            kind: "text".into(),
            text: Some(text),
            cache_control: Some(cc),
            ..ContentPart::default()
        }]),
    };
    let mut msg = ChatMessage {
        role: "tool".into(),
        content: Some(content),
        tool_call_id: Some(id.to_owned()),
        ..ChatMessage::default()
    };
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        msg.extra.insert("is_error".into(), Value::Bool(true));
    }
    Ok(msg)
}

fn text_part(block: &Value, path: &str) -> Result<ContentPart, BifrostError> {
    Ok(ContentPart {
        kind: "text".into(),
        text: Some(req_str(block, "text", path)?.to_owned()),
        cache_control: cache_control(block),
        ..ContentPart::default()
    })
}

fn image_part(block: &Value, path: &str) -> Result<ContentPart, BifrostError> {
    let source = block
        .get("source")
        .ok_or_else(|| invalid(format!("{path}.source: Field required")))?;
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = req_str(source, "media_type", &format!("{path}.source"))?;
            let data = req_str(source, "data", &format!("{path}.source"))?;
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => req_str(source, "url", &format!("{path}.source"))?.to_owned(),
        other => {
            return Err(invalid(format!(
                "{path}.source.type: image source '{}' is not supported (only base64 and url)",
                other.unwrap_or("<missing>")
            )))
        }
    };
    Ok(ContentPart {
        kind: "image_url".into(),
        text: None,
        image_url: Some(ImageUrl { url, detail: None }),
        cache_control: cache_control(block),
        extra: Extra::new(),
    })
}

fn document_part(block: &Value, path: &str) -> Result<ContentPart, BifrostError> {
    let source = block
        .get("source")
        .ok_or_else(|| invalid(format!("{path}.source: Field required")))?;
    let spath = format!("{path}.source");
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = req_str(source, "media_type", &spath)?;
            let data = req_str(source, "data", &spath)?;
            let filename = block
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("document.pdf");
            let file = json!({
                "filename": filename,
                "file_data": format!("data:{media_type};base64,{data}"),
            });
            Ok(ContentPart {
                kind: "file".into(),
                cache_control: cache_control(block),
                extra: Extra::from_iter([("file".to_owned(), file)]),
                ..ContentPart::default()
            })
        }
        Some("text") => Ok(ContentPart {
            kind: "text".into(),
            text: Some(req_str(source, "data", &spath)?.to_owned()),
            cache_control: cache_control(block),
            ..ContentPart::default()
        }),
        other => Err(invalid(format!(
            "{spath}.type: document source '{}' is not supported by the gateway (only base64 \
             and text documents can be translated)",
            other.unwrap_or("<missing>")
        ))),
    }
}

fn translate_tool(i: usize, tool: &Value) -> Result<Tool, BifrostError> {
    let path = format!("tools[{i}]");
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(other) => {
            return Err(invalid(format!(
                "{path}.type: Anthropic server tool '{other}' is not supported by the gateway \
                 (only client tools with an input_schema)"
            )))
        }
    }
    let name = req_str(tool, "name", &path)?;
    let schema = match tool.get("input_schema") {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => {
            return Err(invalid(format!(
                "{path}.input_schema: Field required (a JSON Schema object)"
            )))
        }
    };
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: name.to_owned(),
            description: tool
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: Some(schema),
            extra: Extra::new(),
        },
        cache_control: cache_control(tool),
        extra: Extra::new(),
    })
}

/// The OpenAI `tool_choice`, and `parallel_tool_calls: false` when parallel use is disabled.
fn translate_tool_choice(tc: &Value) -> Result<(Value, Option<bool>), BifrostError> {
    let kind = tc
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("tool_choice.type: Field required (auto, any, tool or none)"))?;
    let choice = match kind {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => {
            let name = req_str(tc, "name", "tool_choice")?;
            json!({"type": "function", "function": {"name": name}})
        }
        other => {
            return Err(invalid(format!(
                "tool_choice.type: unknown value '{other}' (expected auto, any, tool or none)"
            )))
        }
    };
    let parallel = (tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true))
        .then_some(false);
    Ok((choice, parallel))
}

fn cache_control(block: &Value) -> Option<Value> {
    non_null_field(block, "cache_control").cloned()
}

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, BifrostError> {
    block
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.type: Field required")))
}

fn wrong_block(path: &str, kind: &str, place: &str) -> BifrostError {
    invalid(format!(
        "{path}: content block type '{kind}' is not supported in {place} content by the gateway"
    ))
}

fn req_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, BifrostError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.{key}: Field required (a string)")))
}

fn non_null<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn non_null_field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, BifrostError> {
    non_null(obj, key)
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| invalid(format!("{key}: must be a number")))
        })
        .transpose()
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, BifrostError> {
    non_null(obj, key)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| invalid(format!("{key}: must be a boolean")))
        })
        .transpose()
}

fn invalid(msg: impl Into<String>) -> BifrostError {
    BifrostError::invalid_request(msg)
}

// ---------------------------------------------------------------------------------------------
// Token counting

/// Tokens counted for each image or document: Anthropic charges about (width × height) / 750
/// for an image, ~1,600 for a typical 1.15-megapixel one, and the gateway decodes nothing.
const MEDIA_TOKENS: u64 = 1_600;

/// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, estimated as one token per four
/// characters of system prompt, message text, tool calls and results, and tool definitions
/// (name, description, JSON schema), plus [`MEDIA_TOKENS`] per image or document; at least 1.
/// An estimate for any upstream: only Anthropic's own endpoint knows its tokenizer.
pub fn count_tokens(body: &[u8]) -> Result<Value, BifrostError> {
    let req = parse_request(body, false)?;
    Ok(json!({ "input_tokens": estimate_tokens(&req) }))
}

fn estimate_tokens(req: &ChatRequest) -> u64 {
    let mut chars = 0usize;
    let mut media = 0u64;
    let count = |s: &str| s.chars().count();
    for msg in &req.messages {
        match &msg.content {
            None => {}
            Some(MessageContent::Text(t)) => chars += count(t),
            Some(MessageContent::Parts(parts)) => {
                for p in parts {
                    match &p.text {
                        Some(t) => chars += count(t),
                        None => media += 1,
                    }
                }
            }
        }
        for call in msg.tool_calls.iter().flatten() {
            chars += count(&call.function.name) + count(&call.function.arguments);
        }
    }
    for tool in req.tools.iter().flatten() {
        let f = &tool.function;
        chars += count(&f.name) + f.description.as_deref().map_or(0, count);
        chars += f.parameters.as_ref().map_or(0, |p| count(&p.to_string()));
    }
    (chars.div_ceil(4) as u64 + media * MEDIA_TOKENS).max(1)
}

// ---------------------------------------------------------------------------------------------
// Response

#[cfg(test)]
mod tests;
