//! The Anthropic Messages API as an inbound format (`/anthropic/v1/messages`): an Anthropic
//! request becomes the unified chat request, and the unified answer (plain, streamed, or an
//! error) goes back in Anthropic's shape, so the Anthropic SDKs and Claude Code can be served by
//! any provider. The reverse of `providers::anthropic`.
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
//!   - every block's `cache_control` is kept in its part's `extra`, which the outbound Anthropic
//!     and Bedrock translations read again.
//!   - assistant `tool_use` → `tool_calls` (arguments = the JSON text of `input`); the block's
//!     `cache_control` is dropped (`ToolCall` has no extra map).
//!   - assistant `thinking` / `redacted_thinking` → dropped: no upstream accepts reasoning back
//!     without the signature it issued, and OpenAI-compatible servers (DeepSeek) reject a
//!     `reasoning_content` sent back to them.
//!   - user `tool_result` → one `tool` message per result, placed before the rest of the turn
//!     (OpenAI requires tool messages right after the assistant's calls), content = the result's
//!     text blocks joined with `\n`. `is_error: true` is kept as `is_error` in the message's
//!     `extra`; the block's `cache_control` (else that of its last inner block) is kept by making
//!     the content one text part carrying it. Images and documents inside a result cannot ride
//!     in a tool message, so they move to the user message that follows the tool messages.
//!   - any other block type (server tool blocks, `search_result`, …), and a block in the wrong
//!     role (`tool_use` from the user, `image` from the assistant), is a 400.
//! - Roles other than `user` and `assistant` are a 400, as is an empty `messages` array.
//! - `tools` (`name`, `description`, `input_schema`, `cache_control` → the tool's `extra`) become
//!   function tools; Anthropic server tools (any `type` other than `custom`) are a 400.
//!   `tool_choice` `auto`/`any`/`tool`/`none` → `"auto"`/`"required"`/named function/`"none"`;
//!   `disable_parallel_tool_use: true` → `parallel_tool_calls: false`.
//! - `top_k` → `extra.top_k`; `thinking` is kept verbatim in `extra.thinking` (the Anthropic and
//!   Bedrock translations send it on) and, when enabled, also mapped to `extra.reasoning_effort`
//!   for OpenAI and Gemini upstreams: `budget_tokens` < 4096 → `low`, < 16384 → `medium`, else
//!   `high`.
//! - Every other top-level field (`service_tier`, `container`, `mcp_servers`,
//!   `context_management`, future ones) is dropped: their meaning is Anthropic's, and OpenAI
//!   upstreams answer 400 to fields they do not know. [`strip_anthropic_fields`] also removes
//!   the Anthropic-only fields this translation keeps, for routes that serve the request from an
//!   OpenAI-format upstream.
//!
//! [`count_tokens`] validates the same way (without requiring `max_tokens`) and estimates.

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ContentPart, Extra,
    FunctionCall, FunctionDef, ImageUrl, MessageContent, Stop, Tool, ToolCall, ToolCallDelta,
    Usage,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One SSE event of the Anthropic stream: its `event:` name and its `data:` JSON.
pub type Event = (&'static str, Value);

// ---------------------------------------------------------------------------------------------
// Request

/// Parses an Anthropic Messages request into the unified chat request.
pub fn to_chat(body: &[u8]) -> Result<ChatRequest, BifrostError> {
    parse_request(body, true)
}

/// Removes what this translation keeps only for Anthropic-format upstreams (the Anthropic API,
/// Claude on Vertex or Bedrock): `extra.top_k`, `extra.thinking`, `cache_control` on content
/// parts and tools, and `is_error` on tool messages. For routes whose target speaks OpenAI's
/// format, which rejects unknown fields. (Gemini reads `top_k` itself and ignores the rest.)
pub fn strip_anthropic_fields(req: &mut ChatRequest) {
    req.extra.remove("top_k");
    req.extra.remove("thinking");
    for msg in &mut req.messages {
        msg.extra.remove("is_error");
        if let Some(MessageContent::Parts(parts)) = &mut msg.content {
            for part in parts {
                part.extra.remove("cache_control");
            }
        }
    }
    for tool in req.tools.iter_mut().flatten() {
        tool.extra.remove("cache_control");
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
        if v.as_u64().is_none() {
            return Err(invalid("top_k: must be a non-negative integer"));
        }
        req.extra.insert("top_k".into(), v.clone());
    }
    if let Some(v) = non_null(&obj, "thinking") {
        if let Some(effort) = reasoning_effort(v)? {
            req.extra
                .insert("reasoning_effort".into(), Value::String(effort.into()));
        }
        req.extra.insert("thinking".into(), v.clone());
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
    let obj = thinking
        .as_object()
        .ok_or_else(|| invalid("thinking: must be an object"))?;
    match obj.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = obj
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    invalid("thinking.budget_tokens: Field required (a positive integer)")
                })?;
            Ok(Some(match budget {
                0..=4095 => "low",
                4096..=16383 => "medium",
                _ => "high",
            }))
        }
        Some(_) => Ok(None),
        None => Err(invalid("thinking.type: Field required")),
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
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match block_type(block, &path)? {
            "text" => parts.push(text_part(block, &path)?),
            "tool_use" => calls.push(tool_call(block, &path)?),
            "thinking" | "redacted_thinking" => {}
            other => return Err(wrong_block(&path, other, "assistant")),
        }
    }
    let content = match (parts.is_empty(), calls.is_empty()) {
        (false, _) => Some(MessageContent::Parts(parts)),
        (true, false) => None,
        // Only thinking: an empty turn, which every upstream accepts as an assistant message.
        (true, true) => Some(MessageContent::Text(String::new())),
    };
    Ok(ChatMessage {
        role: "assistant".into(),
        content,
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..ChatMessage::default()
    })
}

fn tool_call(block: &Value, path: &str) -> Result<ToolCall, BifrostError> {
    let id = req_str(block, "id", path)?;
    let name = req_str(block, "name", path)?;
    let arguments = match block.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(input) => input.to_string(),
    };
    Ok(ToolCall {
        id: id.to_owned(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.to_owned(),
            arguments,
        },
    })
}

fn tool_result(
    block: &Value,
    path: &str,
    media: &mut Vec<ContentPart>,
) -> Result<ChatMessage, BifrostError> {
    let id = req_str(block, "tool_use_id", path)?;
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
            image_url: None,
            extra: Extra::from_iter([("cache_control".to_owned(), cc)]),
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
        image_url: None,
        extra: cache_extra(block),
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
        extra: cache_extra(block),
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
            let mut extra = cache_extra(block);
            extra.insert(
                "file".into(),
                json!({
                    "filename": filename,
                    "file_data": format!("data:{media_type};base64,{data}"),
                }),
            );
            Ok(ContentPart {
                kind: "file".into(),
                text: None,
                image_url: None,
                extra,
            })
        }
        Some("text") => Ok(ContentPart {
            kind: "text".into(),
            text: Some(req_str(source, "data", &spath)?.to_owned()),
            image_url: None,
            extra: cache_extra(block),
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
        extra: cache_extra(tool),
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

fn cache_extra(block: &Value) -> Extra {
    let mut extra = Extra::new();
    if let Some(cc) = non_null_field(block, "cache_control") {
        extra.insert("cache_control".into(), cc.clone());
    }
    extra
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

/// The Anthropic `message` for a unified completion (first choice only).
///
/// - `id`: `msg_` + the completion id without OpenAI's `chatcmpl-` prefix (kept if it already
///   starts with `msg_`).
/// - `content`: a `thinking` block for `reasoning_content` (with an empty `signature`: the
///   upstream issued none), a `text` block for non-empty text, a `tool_use` block per tool
///   call. Arguments that are not a JSON object are kept as `{"_raw_arguments": "<text>"}`, so
///   the client's tool validation reports them rather than running the tool with no input.
/// - `stop_reason`: `stop` → `end_turn`, `length` → `max_tokens`, `tool_calls` (and
///   `function_call`) → `tool_use`, `content_filter` → `refusal`; a plain stop with tool calls
///   reads as `tool_use`, because agents loop on it. A stop sequence is indistinguishable from
///   a natural stop in OpenAI's shape, so `stop_sequence` is always `null`.
/// - `usage`: `input_tokens` excludes cached tokens (Anthropic's convention), which go to
///   `cache_read_input_tokens` when the upstream reported them.
pub fn from_chat(resp: &ChatCompletion, model: &str) -> Value {
    let id = message_id(&resp.id);
    let choice = resp.choices.first();
    let mut content = Vec::new();
    let mut has_tools = false;
    if let Some(msg) = choice.map(|c| &c.message) {
        if let Some(r) = msg
            .extra
            .get("reasoning_content")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
        if let Some(text) = msg.text_content().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": text}));
        }
        for (n, call) in msg.tool_calls.iter().flatten().enumerate() {
            has_tools = true;
            let call_id = if call.id.is_empty() {
                tool_use_id(&id, n)
            } else {
                call.id.clone()
            };
            content.push(json!({
                "type": "tool_use",
                "id": call_id,
                "name": call.function.name,
                "input": tool_input(&call.function.arguments),
            }));
        }
    }
    let finish = choice.and_then(|c| c.finish_reason.as_deref());
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reasons::anthropic::from_openai(finish, has_tools),
        "stop_sequence": null,
        "usage": usage_json(resp.usage.as_ref()),
    })
}

fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "_raw_arguments": arguments }),
    }
}

fn usage_json(usage: Option<&Usage>) -> Value {
    let Some(u) = usage else {
        return json!({"input_tokens": 0, "output_tokens": 0});
    };
    let cached = u
        .extra
        .get("prompt_tokens_details")
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64);
    let mut out = Map::new();
    out.insert(
        "input_tokens".into(),
        json!(u.prompt_tokens.saturating_sub(cached.unwrap_or(0))),
    );
    out.insert("output_tokens".into(), json!(u.completion_tokens));
    if let Some(c) = cached {
        out.insert("cache_read_input_tokens".into(), json!(c));
    }
    Value::Object(out)
}

fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        return id.to_owned();
    }
    let rest = id.strip_prefix("chatcmpl-").unwrap_or(id);
    if rest.is_empty() {
        let random: String = (0..24).map(|_| fastrand::alphanumeric()).collect();
        format!("msg_{random}")
    } else {
        format!("msg_{rest}")
    }
}

/// For upstreams that stream or return tool calls without ids.
fn tool_use_id(message_id: &str, n: usize) -> String {
    format!(
        "toolu_{}_{n}",
        message_id.strip_prefix("msg_").unwrap_or(message_id)
    )
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
    /// A tool call, by its OpenAI index.
    Tool(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolPhase {
    /// Seen, but its block has not started: another tool block is open.
    Pending,
    Open,
    Closed,
}

#[derive(Debug, Clone)]
struct ToolSlot {
    id: String,
    name: String,
    /// Arguments received while the call was pending.
    args: String,
    phase: ToolPhase,
}

/// Unified chunks → Anthropic SSE events, as a state machine per stream.
///
/// Anthropic streams one content block at a time (start, deltas, stop), while OpenAI may
/// interleave the argument deltas of parallel tool calls. So the first tool call streams live,
/// and a call that shows up while another tool block is open is held back: it goes out as its
/// own block, with the arguments received so far in one delta, at its next delta once no tool
/// block is open (text or reasoning closed it), else at `finish_reason`, in OpenAI index order. Argument
/// fragments arriving for a block already closed cannot be placed and are dropped with a
/// warning (no known upstream does that).
///
/// `message_delta` and `message_stop` go out when usage arrives after the finish reason
/// (OpenAI's last chunk), or at [`finish`](Self::finish) when the stream ends without usage.
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    model: String,
    id: String,
    started: bool,
    next_index: u32,
    /// The open content block: its Anthropic index and kind.
    open: Option<(u32, BlockKind)>,
    tools: BTreeMap<u32, ToolSlot>,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamEncoder {
    /// `model` is echoed in `message_start` as the client named it.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            id: String::new(),
            started: false,
            next_index: 0,
            open: None,
            tools: BTreeMap::new(),
            stop_reason: None,
            usage: None,
            done: false,
        }
    }

    /// The events for one unified chunk; nothing once `message_stop` went out.
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if !self.started {
            self.start(&chunk.id, chunk.usage.as_ref(), &mut out);
        }
        // Content after the finish reason (or of other choices) has no place in the message.
        if let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) {
            if self.stop_reason.is_none() {
                let delta = &choice.delta;
                if let Some(r) = delta
                    .extra
                    .get("reasoning_content")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                {
                    self.block_delta(BlockKind::Thinking, "thinking", r, &mut out);
                }
                if let Some(t) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                    self.block_delta(BlockKind::Text, "text", t, &mut out);
                }
                for call in delta.tool_calls.iter().flatten() {
                    self.tool_delta(call, &mut out);
                }
                if let Some(reason) = choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
                    self.end_content(&mut out);
                    self.stop_reason = Some(reasons::anthropic::from_openai(
                        Some(reason),
                        !self.tools.is_empty(),
                    ));
                }
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
            if self.stop_reason.is_some() {
                self.end_message(&mut out);
            }
        }
        out
    }

    /// Whatever the stream still owes the client, ending with `message_stop`; nothing when it
    /// was already sent. Call when the upstream stream ended normally.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if !self.started {
            self.start("", None, &mut out);
        }
        self.end_content(&mut out);
        if self.stop_reason.is_none() {
            self.stop_reason = Some(reasons::anthropic::from_openai(
                None,
                !self.tools.is_empty(),
            ));
        }
        self.end_message(&mut out);
        out
    }

    fn start(&mut self, chunk_id: &str, usage: Option<&Usage>, out: &mut Vec<Event>) {
        self.started = true;
        self.id = message_id(chunk_id);
        let input = usage.map_or(0, |u| {
            usage_json(Some(u))
                .get("input_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        });
        out.push((
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": input, "output_tokens": 0},
                },
            }),
        ));
    }

    /// Text or thinking: continues the open block of that kind, else opens one.
    fn block_delta(&mut self, kind: BlockKind, field: &str, text: &str, out: &mut Vec<Event>) {
        let index = match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close(out);
                let block = match kind {
                    BlockKind::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    _ => json!({"type": "text", "text": ""}),
                };
                self.open_block(kind, block, out)
            }
        };
        let mut delta = Map::new();
        delta.insert("type".into(), Value::String(format!("{field}_delta")));
        delta.insert(field.into(), Value::String(text.to_owned()));
        out.push(delta_event(index, Value::Object(delta)));
    }

    fn tool_delta(&mut self, call: &ToolCallDelta, out: &mut Vec<Event>) {
        let slot = self.tools.entry(call.index).or_insert_with(|| ToolSlot {
            id: String::new(),
            name: String::new(),
            args: String::new(),
            phase: ToolPhase::Pending,
        });
        if let Some(id) = call.id.as_deref().filter(|s| !s.is_empty()) {
            if slot.id.is_empty() {
                id.clone_into(&mut slot.id);
            }
        }
        let function = call.function.as_ref();
        if let Some(name) = function
            .and_then(|f| f.name.as_deref())
            .filter(|s| !s.is_empty())
        {
            if slot.name.is_empty() {
                name.clone_into(&mut slot.name);
            }
        }
        let args = function
            .and_then(|f| f.arguments.as_deref())
            .unwrap_or_default();
        match slot.phase {
            ToolPhase::Open => {
                if let (Some((index, _)), false) = (self.open, args.is_empty()) {
                    out.push(delta_event(
                        index,
                        json!({"type": "input_json_delta", "partial_json": args}),
                    ));
                }
            }
            ToolPhase::Closed => {
                if !args.is_empty() {
                    tracing::warn!(
                        tool_index = call.index,
                        "dropping tool-call arguments that arrived after their block closed"
                    );
                }
            }
            ToolPhase::Pending => {
                slot.args.push_str(args);
                let named = !slot.name.is_empty();
                let tool_open = matches!(self.open, Some((_, BlockKind::Tool(_))));
                if named && !tool_open {
                    self.close(out);
                    self.start_tool(call.index, out);
                }
            }
        }
    }

    fn start_tool(&mut self, tool: u32, out: &mut Vec<Event>) {
        let fallback_id = tool_use_id(&self.id, tool as usize);
        let Some(slot) = self.tools.get_mut(&tool) else {
            return;
        };
        slot.phase = ToolPhase::Open;
        let id = if slot.id.is_empty() {
            fallback_id
        } else {
            slot.id.clone()
        };
        let block = json!({"type": "tool_use", "id": id, "name": slot.name, "input": {}});
        let args = std::mem::take(&mut slot.args);
        let index = self.open_block(BlockKind::Tool(tool), block, out);
        if !args.is_empty() {
            out.push(delta_event(
                index,
                json!({"type": "input_json_delta", "partial_json": args}),
            ));
        }
    }

    fn open_block(&mut self, kind: BlockKind, block: Value, out: &mut Vec<Event>) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        out.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, kind)) = self.open.take() {
            out.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            if let BlockKind::Tool(tool) = kind {
                if let Some(slot) = self.tools.get_mut(&tool) {
                    slot.phase = ToolPhase::Closed;
                }
            }
        }
    }

    /// Closes the open block and sends every held-back tool call as its own block.
    fn end_content(&mut self, out: &mut Vec<Event>) {
        self.close(out);
        let pending: Vec<u32> = self
            .tools
            .iter()
            .filter(|(_, s)| s.phase == ToolPhase::Pending)
            .map(|(i, _)| *i)
            .collect();
        for tool in pending {
            self.start_tool(tool, out);
            self.close(out);
        }
    }

    fn end_message(&mut self, out: &mut Vec<Event>) {
        // Anthropic's message_delta always has output_tokens; input counts are optional there.
        let usage = match &self.usage {
            Some(u) => usage_json(Some(u)),
            None => json!({"output_tokens": 0}),
        };
        out.push((
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": usage,
            }),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
        self.done = true;
    }
}

fn delta_event(index: u32, delta: Value) -> Event {
    (
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The `error` event that ends a stream that fails after its first byte.
pub fn error_event(e: &BifrostError) -> Event {
    ("error", error_body(e))
}

/// Anthropic's error body, `{"type":"error","error":{"type","message"}}`, with the type the
/// Anthropic SDKs expect for the status (they pick the exception class from the status and
/// read `.message` from the body).
pub fn error_body(e: &BifrostError) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(e.status), "message": e.message},
    })
}

/// Anthropic documents one type per status; other 4xx are `invalid_request_error` (as at
/// Anthropic), other 5xx `api_error`. 503 is the gateway's spelling of Anthropic's 529.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::providers::anthropic::request::to_anthropic;

    fn chat(body: Value) -> ChatRequest {
        to_chat(body.to_string().as_bytes()).unwrap()
    }

    /// The request as the engine sees it: `model` and `stream` are not serialized by
    /// `ChatRequest` itself.
    fn view(req: &ChatRequest) -> Value {
        json!({"model": req.model, "stream": req.stream, "request": req})
    }

    #[test]
    fn request_system_blocks_and_cache_control() {
        let req = chat(json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 1024,
            "system": [
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Project rules: use Rust 2021."}
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Summarise the repo.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                ]}
            ],
            "stream": true,
            "temperature": 0.2,
            "top_p": 0.95,
            "top_k": 40,
            "stop_sequences": ["</answer>"],
            "metadata": {"user_id": "user_abc"},
            "service_tier": "auto",
            "container": "container_1",
            "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}],
            "context_management": {"edits": []}
        }));
        for dropped in [
            "service_tier",
            "container",
            "mcp_servers",
            "context_management",
            "metadata",
        ] {
            assert!(!req.extra.contains_key(dropped), "{dropped}");
        }
        insta::assert_json_snapshot!(view(&req));
    }

    #[test]
    fn request_string_system_and_plain_turns() {
        let req = chat(json!({
            "model": "openai/gpt-4o-mini",
            "max_tokens": 64,
            "system": "Be terse.",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Bye"}
            ]
        }));
        insta::assert_json_snapshot!(view(&req));
    }

    #[test]
    fn request_multi_turn_with_images() {
        let req = chat(json!({
            "model": "claude-3-5-haiku-20241022",
            "max_tokens": 512,
            "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="},
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "What is in this image?"}
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "A red square."}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "And this one?"},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]}
            ]
        }));
        insta::assert_json_snapshot!(view(&req));
    }

    #[test]
    fn request_tool_use_and_tool_result() {
        let req = chat(json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 2048,
            "tools": [
                {"name": "get_weather", "description": "Current weather",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                {"type": "custom", "name": "screenshot", "input_schema": {"type": "object", "properties": {}},
                 "cache_control": {"type": "ephemeral"}}
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Weather in Paris and a screenshot, please."},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Two tools.", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "screenshot", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, rain"},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": true,
                     "content": [
                        {"type": "text", "text": "partial capture"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                        {"type": "text", "text": "display 2 failed", "cache_control": {"type": "ephemeral"}}
                     ]},
                    {"type": "text", "text": "Thanks, what now?"}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_03", "name": "get_weather", "input": {"city": "Lyon"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_03",
                     "content": [{"type": "text", "text": "21°C"}], "cache_control": {"type": "ephemeral"}}
                ]}
            ]
        }));
        insta::assert_json_snapshot!(view(&req));
    }

    #[test]
    fn request_every_tool_choice() {
        let cases = [
            ("auto", json!({"type": "auto"})),
            ("any", json!({"type": "any"})),
            ("none", json!({"type": "none"})),
            ("tool", json!({"type": "tool", "name": "lookup"})),
            (
                "auto_no_parallel",
                json!({"type": "auto", "disable_parallel_tool_use": true}),
            ),
            (
                "any_no_parallel",
                json!({"type": "any", "disable_parallel_tool_use": true}),
            ),
            (
                "tool_parallel_allowed",
                json!({"type": "tool", "name": "lookup", "disable_parallel_tool_use": false}),
            ),
        ];
        let mut out = Map::new();
        for (name, choice) in cases {
            let req = chat(json!({
                "model": "m", "max_tokens": 10,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
                "tool_choice": choice
            }));
            out.insert(
                name.into(),
                json!({"tool_choice": req.tool_choice, "parallel_tool_calls": req.parallel_tool_calls}),
            );
        }
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn request_thinking() {
        let mut out = Map::new();
        for (name, thinking) in [
            (
                "enabled_1024",
                json!({"type": "enabled", "budget_tokens": 1024}),
            ),
            (
                "enabled_10000",
                json!({"type": "enabled", "budget_tokens": 10000}),
            ),
            (
                "enabled_31999",
                json!({"type": "enabled", "budget_tokens": 31999}),
            ),
            ("disabled", json!({"type": "disabled"})),
        ] {
            let req = chat(json!({
                "model": "m", "max_tokens": 40000, "thinking": thinking,
                "messages": [
                    {"role": "user", "content": "27 * 453?"},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "27*453 = 12231", "signature": "EuYB"},
                        {"type": "redacted_thinking", "data": "EmwK"}
                    ]},
                    {"role": "user", "content": "Again?"}
                ]
            }));
            out.insert(name.into(), serde_json::to_value(&req).unwrap());
        }
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn request_documents() {
        let req = chat(json!({
            "model": "gemini/gemini-2.5-flash",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": [
                {"type": "document", "title": "contract.pdf",
                 "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
                 "cache_control": {"type": "ephemeral"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Clause 1: ..."},
                 "citations": {"enabled": true}},
                {"type": "text", "text": "Compare them."}
            ]}]
        }));
        insta::assert_json_snapshot!(view(&req));
    }

    #[test]
    fn rejected_requests() {
        let user = json!([{"role": "user", "content": "x"}]);
        let cases = [
            ("not_json", json!("{not json")),
            (
                "missing_max_tokens",
                json!({"model": "m", "messages": user}),
            ),
            ("missing_model", json!({"max_tokens": 5, "messages": user})),
            (
                "empty_messages",
                json!({"model": "m", "max_tokens": 5, "messages": []}),
            ),
            (
                "system_role_in_messages",
                json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "system", "content": "x"}]}),
            ),
            (
                "tool_role",
                json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "tool", "content": "x"}]}),
            ),
            (
                "content_null",
                json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "user", "content": null}]}),
            ),
            (
                "document_url",
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}]}]}),
            ),
            (
                "image_file_source",
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "file_01"}}]}]}),
            ),
            (
                "tool_use_from_user",
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}),
            ),
            (
                "server_tool_use_block",
                json!({"model": "m", "max_tokens": 5, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]}]}),
            ),
            (
                "server_tool",
                json!({"model": "m", "max_tokens": 5, "messages": user,
                "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}),
            ),
            (
                "tool_without_schema",
                json!({"model": "m", "max_tokens": 5, "messages": user,
                "tools": [{"name": "f"}]}),
            ),
            (
                "tool_choice_unknown",
                json!({"model": "m", "max_tokens": 5, "messages": user,
                "tool_choice": {"type": "required"}}),
            ),
            (
                "tool_choice_tool_without_name",
                json!({"model": "m", "max_tokens": 5, "messages": user,
                "tool_choice": {"type": "tool"}}),
            ),
            (
                "thinking_without_budget",
                json!({"model": "m", "max_tokens": 5, "messages": user,
                "thinking": {"type": "enabled"}}),
            ),
            (
                "max_tokens_zero",
                json!({"model": "m", "max_tokens": 0, "messages": user}),
            ),
        ];
        let mut out = Map::new();
        for (name, body) in cases {
            let bytes = match &body {
                Value::String(raw) => raw.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            let e = to_chat(&bytes).unwrap_err();
            assert_eq!(
                (e.status, e.class),
                (400, ErrorClass::InvalidRequest),
                "{name}"
            );
            out.insert(
                name.into(),
                json!({"message": e.message, "body": error_body(&e)}),
            );
        }
        insta::assert_json_snapshot!(out);
    }

    /// Anthropic → unified → Anthropic gives back the request, `cache_control` included.
    #[test]
    fn round_trip_through_the_outbound_translation() {
        let original = json!({
            "model": "claude-sonnet-4-20250514",
            "system": [
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be careful."}
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Reading the file."},
                    {"type": "tool_use", "id": "toolu_01", "name": "read", "input": {"path": "src/main.rs"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "fn main() {}"},
                    {"type": "text", "text": "Go on.", "cache_control": {"type": "ephemeral"}}
                ]},
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "Thanks"}
            ],
            "max_tokens": 8192,
            "temperature": 1.0,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END"],
            "stream": true,
            "metadata": {"user_id": "u-1"},
            "thinking": {"type": "enabled", "budget_tokens": 4000},
            "tools": [
                {"name": "read", "description": "Read a file",
                 "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
                 "cache_control": {"type": "ephemeral"}}
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
        });
        let req = chat(original.clone());
        let back = to_anthropic(&req, &req.model, req.stream == Some(true)).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn strip_removes_anthropic_only_fields() {
        let mut req = chat(json!({
            "model": "m", "max_tokens": 5, "top_k": 3,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": true, "content": "boom"}]}
            ]
        }));
        strip_anthropic_fields(&mut req);
        let text = serde_json::to_string(&req).unwrap();
        for gone in ["cache_control", "top_k", "\"thinking\"", "is_error"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(req.extra.get("reasoning_effort"), Some(&json!("low")));
    }

    #[test]
    fn count_tokens_estimates_without_max_tokens() {
        let body = json!({
            "model": "claude-sonnet-4-20250514",
            "system": "abcd".repeat(10),
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "efgh".repeat(5)},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
            ]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]
        });
        // 40 + 20 characters of text, 1 + 17 of tool definition, one image.
        assert_eq!(
            count_tokens(body.to_string().as_bytes()).unwrap(),
            json!({"input_tokens": 78_u64.div_ceil(4) + MEDIA_TOKENS})
        );
        let minimal = json!({"model": "m", "messages": [{"role": "user", "content": ""}]});
        assert_eq!(
            count_tokens(minimal.to_string().as_bytes()).unwrap(),
            json!({"input_tokens": 1})
        );
        let bad = json!({"model": "m", "messages": [{"role": "system", "content": "x"}]});
        assert_eq!(
            count_tokens(bad.to_string().as_bytes()).unwrap_err().status,
            400
        );
    }

    // -----------------------------------------------------------------------------------------
    // Responses

    fn completion(body: Value) -> ChatCompletion {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn response_text() {
        let resp = completion(json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
        }));
        insta::assert_json_snapshot!(from_chat(&resp, "openai/gpt-4o"));
    }

    #[test]
    fn response_tool_use_and_text() {
        let resp = completion(json!({
            "id": "chatcmpl-tools",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me check both.",
                "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_def", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                    {"id": "", "type": "function", "function": {"name": "broken", "arguments": "{\"city\": \"Par"}}
                ]}}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}
        }));
        insta::assert_json_snapshot!(from_chat(&resp, "claude-sonnet-4"));
    }

    #[test]
    fn response_reasoning() {
        let resp = completion(json!({
            "id": "msg_already_anthropic",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "12,231",
                "reasoning_content": "27 * 453 = 10800 + 1431."}}],
            "usage": {"prompt_tokens": 48, "completion_tokens": 310, "total_tokens": 358}
        }));
        insta::assert_json_snapshot!(from_chat(&resp, "deepseek/deepseek-reasoner"));
    }

    #[test]
    fn response_max_tokens_without_usage() {
        let resp = completion(json!({
            "id": "chatcmpl-len",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "The answer is"}}]
        }));
        insta::assert_json_snapshot!(from_chat(&resp, "m"));
    }

    #[test]
    fn response_usage_with_cached_tokens() {
        let resp = completion(json!({
            "id": "chatcmpl-cache",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "24 months."}}],
            "usage": {"prompt_tokens": 2009, "completion_tokens": 12, "total_tokens": 2021,
                      "prompt_tokens_details": {"cached_tokens": 1800, "audio_tokens": 0}}
        }));
        insta::assert_json_snapshot!(from_chat(&resp, "m"));
    }

    // -----------------------------------------------------------------------------------------
    // Streams

    /// A chat completion stream as OpenAI sends it (`data:` payloads): role chunk, text, two
    /// parallel tool calls whose argument deltas interleave, the finish reason, the usage chunk.
    const OPENAI_TEXT_AND_TOOLS: &[&str] = &[
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Checking "},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"both cities."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_paris","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_lyon","type":"function","function":{"name":"get_weather","arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"ty\": \"Lyon\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
        r#"{"id":"chatcmpl-Bx1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":45,"total_tokens":165,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    ];

    fn chunks(data: &[&str]) -> Vec<ChatCompletionChunk> {
        data.iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    /// Feeds every chunk, then `finish()`, and checks the event grammar Anthropic clients rely
    /// on: `message_start` first, blocks opened in index order and never two at once, deltas
    /// only to the open block of the matching type, `message_delta` then `message_stop` last.
    fn encode(model: &str, chunks: &[ChatCompletionChunk]) -> Vec<Value> {
        let mut enc = StreamEncoder::new(model);
        let mut events: Vec<Event> = chunks.iter().flat_map(|c| enc.on_chunk(c)).collect();
        events.extend(enc.finish());
        assert!(enc.finish().is_empty(), "finish() twice");
        check_grammar(&events);
        events
            .into_iter()
            .map(|(name, data)| json!({"event": name, "data": data}))
            .collect()
    }

    fn check_grammar(events: &[Event]) {
        let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
        let mut open: Option<(u64, String)> = None;
        let mut next = 0;
        for (name, data) in events {
            assert_eq!(data["type"], *name);
            match *name {
                "content_block_start" => {
                    assert!(open.is_none(), "two open blocks");
                    assert_eq!(data["index"], next);
                    let kind = data["content_block"]["type"].as_str().unwrap().to_owned();
                    open = Some((next, kind));
                    next += 1;
                }
                "content_block_delta" => {
                    let (index, kind) = open.clone().expect("delta without open block");
                    assert_eq!(data["index"], index);
                    let expected = match kind.as_str() {
                        "text" => "text_delta",
                        "thinking" => "thinking_delta",
                        _ => "input_json_delta",
                    };
                    assert_eq!(data["delta"]["type"], expected);
                }
                "content_block_stop" => {
                    let (index, _) = open.take().expect("stop without open block");
                    assert_eq!(data["index"], index);
                }
                "message_delta" => assert!(open.is_none(), "message_delta with an open block"),
                _ => {}
            }
        }
    }

    #[test]
    fn stream_text_and_interleaved_tool_calls() {
        let events = encode("gpt-4o", &chunks(OPENAI_TEXT_AND_TOOLS));
        // Each tool's arguments, put back together, are the whole JSON the model sent.
        let mut args: BTreeMap<u64, String> = BTreeMap::new();
        for e in &events {
            if let Some(p) = e["data"]["delta"]["partial_json"].as_str() {
                args.entry(e["data"]["index"].as_u64().unwrap())
                    .or_default()
                    .push_str(p);
            }
        }
        assert_eq!(args[&1], r#"{"city": "Paris"}"#);
        assert_eq!(args[&2], r#"{"city": "Lyon"}"#);
        insta::assert_json_snapshot!(events);
    }

    #[test]
    fn stream_reasoning_then_text() {
        let data: Vec<String> = [
            json!({"id": "r1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            json!({"id": "r1", "choices": [{"index": 0, "delta": {"reasoning_content": "27 * 453 = 10800"}, "finish_reason": null}]}),
            json!({"id": "r1", "choices": [{"index": 0, "delta": {"reasoning_content": " + 1431."}, "finish_reason": null}]}),
            json!({"id": "r1", "choices": [{"index": 0, "delta": {"content": "12,231"}, "finish_reason": null}]}),
            json!({"id": "r1", "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 48, "completion_tokens": 310, "total_tokens": 358}}),
        ]
        .iter()
        .map(Value::to_string)
        .collect();
        let refs: Vec<&str> = data.iter().map(String::as_str).collect();
        insta::assert_json_snapshot!(encode("deepseek-reasoner", &chunks(&refs)));
    }

    #[test]
    fn stream_text_then_tool_and_truncated_without_usage() {
        // A provider that sends whole tool calls, no usage, and ends without a finish reason.
        let data: Vec<String> = [
            json!({"id": "chatcmpl-g", "choices": [{"index": 0, "delta": {"content": "Sure."}}]}),
            json!({"id": "chatcmpl-g", "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "function": {"name": "ls", "arguments": "{}"}},
                {"index": 1, "function": {"name": "pwd", "arguments": "{}"}}
            ]}}]}),
        ]
        .iter()
        .map(Value::to_string)
        .collect();
        let refs: Vec<&str> = data.iter().map(String::as_str).collect();
        insta::assert_json_snapshot!(encode("gemini-2.5-flash", &chunks(&refs)));
    }

    #[test]
    fn held_back_tool_starts_once_text_closed_the_open_tool() {
        let tool = |index: u32, id: Option<&str>, args: &str| {
            json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": index, "id": id, "function": {"name": id.map(|_| "f"), "arguments": args}}
            ]}}]})
        };
        let data: Vec<String> = [
            tool(0, Some("call_a"), "{\"a\":"),
            tool(1, Some("call_b"), "{\"b\":"),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "odd text"}}]}),
            tool(0, None, "1}"),
            tool(1, None, "2}"),
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]
        .iter()
        .map(Value::to_string)
        .collect();
        let refs: Vec<&str> = data.iter().map(String::as_str).collect();
        let events = encode("m", &chunks(&refs));
        let blocks: Vec<Value> = events
            .iter()
            .filter(|e| e["event"] == "content_block_start")
            .map(|e| e["data"]["content_block"]["type"].clone())
            .collect();
        assert_eq!(
            blocks,
            [json!("tool_use"), json!("text"), json!("tool_use")]
        );
        let partial: Vec<&str> = events
            .iter()
            .filter_map(|e| e["data"]["delta"]["partial_json"].as_str())
            .collect();
        // Tool 0's late "1}" has no open block to go to; tool 1 gets all of its arguments.
        assert_eq!(partial, ["{\"a\":", "{\"b\":2}"]);
    }

    #[test]
    fn finish_is_idempotent_and_nothing_follows_message_stop() {
        let all = chunks(OPENAI_TEXT_AND_TOOLS);
        let mut enc = StreamEncoder::new("m");
        let events: Vec<Event> = all.iter().flat_map(|c| enc.on_chunk(c)).collect();
        // The usage chunk already ended the message.
        assert_eq!(events.last().map(|e| e.0), Some("message_stop"));
        assert!(enc.finish().is_empty());
        assert!(enc.on_chunk(&all[1]).is_empty());

        // A stream that produced nothing still gets a well-formed, empty message, once.
        let mut enc = StreamEncoder::new("m");
        let events = enc.finish();
        check_grammar(&events);
        assert_eq!(events.len(), 3);
        assert!(enc.finish().is_empty());
    }

    #[test]
    fn errors_map_status_to_anthropic_types() {
        let mut out = Map::new();
        for status in [
            400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504, 529,
        ] {
            let mut e = BifrostError::internal(format!("status {status}"));
            e.status = status;
            out.insert(status.to_string(), error_body(&e)["error"]["type"].clone());
        }
        insta::assert_json_snapshot!(out);

        let e = BifrostError::stream_error(
            "openai",
            "upstream closed mid-stream",
            "upstream_stream_truncated",
        );
        assert_eq!(
            error_event(&e),
            (
                "error",
                json!({"type": "error", "error": {"type": "api_error", "message": "upstream closed mid-stream"}})
            )
        );
    }
}
