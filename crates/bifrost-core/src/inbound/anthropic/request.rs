//! An Anthropic Messages request → the unified chat request, by the rules of the module doc of
//! `inbound::anthropic`: the body is read as a [`MessagesRequest`], the type the Anthropic
//! provider writes, then translated. Serde rejects wrong JSON types (with the path of the
//! field); this translation rejects what the types admit but the gateway cannot translate.

use crate::error::BifrostError;
use crate::inbound::signed_id;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, Extra, FunctionDef, ImageUrl, MessageContent, Stop,
    ThinkingBlock, Tool, ToolCall,
};
use crate::wire::anthropic::{
    self as wire, Content, ContentBlock, MessageParam, MessagesRequest, Role, Source,
    ThinkingConfig, ToolChoice,
};
use crate::wire::{error_path, missing_field};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Reads and translates a request body; `count_tokens` bodies need no `max_tokens`.
pub(super) fn parse_request(
    body: &[u8],
    require_max_tokens: bool,
) -> Result<ChatRequest, BifrostError> {
    let body = read(body)?;
    if body.model.is_empty() {
        return Err(invalid("model: must be a non-empty string"));
    }
    let max_tokens = match body.max_tokens {
        None if require_max_tokens => return Err(invalid("max_tokens: Field required")),
        Some(0) => return Err(invalid("max_tokens: must be a positive integer")),
        n => n,
    };

    let mut messages = Vec::with_capacity(body.messages.len() + 1);
    if let Some(system) = body.system {
        messages.push(system_message(system)?);
    }
    if body.messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    for (i, msg) in body.messages.into_iter().enumerate() {
        translate_message(i, msg, &mut messages)?;
    }

    let mut req = ChatRequest {
        model: body.model.into_owned(),
        messages,
        max_tokens,
        stream: body.stream,
        temperature: body.temperature,
        top_p: body.top_p,
        stop: body
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(|s| Stop::Many(s.into_iter().map(Cow::into_owned).collect())),
        user: user_id(body.metadata)?,
        ..ChatRequest::default()
    };
    if let Some(top_k) = body.top_k {
        if !top_k.is_u64() {
            return Err(invalid("top_k: must be a non-negative integer"));
        }
        req.top_k = Some(top_k);
    }
    if let Some(thinking) = body.thinking {
        req.reasoning_effort = reasoning_effort(&thinking)?.map(str::to_owned);
        req.thinking = Some(thinking);
    }
    if let Some(tools) = body.tools {
        let tools = tools.into_iter().enumerate();
        req.tools = Some(
            tools
                .map(|(i, t)| translate_tool(i, t))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(choice) = body.tool_choice {
        (req.tool_choice, req.parallel_tool_calls) = translate_tool_choice(choice);
    }
    Ok(req)
}

/// The body as a [`MessagesRequest`]; an error names the bad field, as Anthropic's do.
fn read(body: &[u8]) -> Result<MessagesRequest<'static>, BifrostError> {
    // A derived struct also reads an array (its fields in order), which is no request body.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(body) {
            Err(e) => not_json(&e),
            Ok(_) => invalid("the request body must be a JSON object"),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let req = serde_path_to_error::deserialize(&mut de).map_err(|e| bad_field(&e))?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(req)
}

/// `<path>: <message>`; serde's "missing field `x`" becomes Anthropic's `<path>.x: Field required`.
fn bad_field(e: &serde_path_to_error::Error<serde_json::Error>) -> BifrostError {
    if e.inner().is_syntax() || e.inner().is_eof() {
        return not_json(e.inner());
    }
    let (path, msg) = error_path(e);
    invalid(match (missing_field(&msg), path.is_empty()) {
        (Some(field), true) => format!("{field}: Field required"),
        (Some(field), false) => format!("{path}.{field}: Field required"),
        (None, true) => msg,
        (None, false) => format!("{path}: {msg}"),
    })
}

fn not_json(e: &serde_json::Error) -> BifrostError {
    invalid(format!("the request body is not valid JSON: {e}"))
}

/// `metadata.user_id`; Anthropic defines no other key.
fn user_id(metadata: Option<Map<String, Value>>) -> Result<Option<String>, BifrostError> {
    match metadata.and_then(|mut m| m.remove("user_id")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u)) => Ok(Some(u)),
        Some(_) => Err(invalid("metadata.user_id: must be a string")),
    }
}

/// `thinking` → `reasoning_effort`, for upstreams that take an effort rather than a budget.
/// Anthropic's minimum budget is 1024; Claude Code's "think", "think hard" and "ultrathink" ask
/// for about 4k, 10k and 32k tokens, which land on low, medium and high. `thinking` stays JSON
/// in the request (Anthropic upstreams get it as sent), so it is read as a [`ThinkingConfig`]
/// only here.
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

fn system_message(system: Content) -> Result<ChatMessage, BifrostError> {
    let blocks = match system {
        Content::Text(s) => return Ok(ChatMessage::system(s)),
        Content::Blocks(blocks) => blocks,
    };
    let parts = blocks
        .into_iter()
        .enumerate()
        .map(|(j, block)| match block {
            ContentBlock::Text(t) => Ok(text_part(t)),
            other => Err(misplaced(&format!("system[{j}]"), &other, |kind| {
                format!("only text blocks are allowed in system, got '{kind}'")
            })),
        })
        .collect::<Result<_, _>>()?;
    Ok(ChatMessage {
        role: "system".into(),
        content: Some(MessageContent::Parts(parts)),
        ..ChatMessage::default()
    })
}

fn translate_message(
    i: usize,
    msg: MessageParam,
    out: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    match (msg.role, msg.content) {
        (_, Content::Blocks(blocks)) if blocks.is_empty() => Err(invalid(format!(
            "messages[{i}].content: at least one content block is required"
        ))),
        (Role::User, Content::Text(t)) => {
            out.push(ChatMessage::user(t));
            Ok(())
        }
        (Role::User, Content::Blocks(blocks)) => user_message(i, blocks, out),
        (Role::Assistant, Content::Text(t)) => {
            out.push(ChatMessage::text("assistant", t));
            Ok(())
        }
        (Role::Assistant, Content::Blocks(blocks)) => {
            out.push(assistant_message(i, blocks)?);
            Ok(())
        }
    }
}

fn user_message(
    i: usize,
    blocks: Vec<ContentBlock>,
    out: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    let path = |j| format!("messages[{i}].content[{j}]");
    let mut tool_messages = Vec::new();
    // Media returned by tools, which OpenAI's tool messages cannot hold.
    let mut tool_media = Vec::new();
    let mut parts = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            ContentBlock::Text(t) => parts.push(text_part(t)),
            ContentBlock::Image(b) => parts.push(image_part(b, &path(j))?),
            ContentBlock::Document(d) => parts.push(document_part(d, &path(j))?),
            ContentBlock::ToolResult(r) => {
                tool_messages.push(tool_result(r, &path(j), &mut tool_media)?)
            }
            other => return Err(wrong_block(&path(j), &other, "user")),
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

fn assistant_message(i: usize, blocks: Vec<ContentBlock>) -> Result<ChatMessage, BifrostError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            ContentBlock::Text(t) => parts.push(text_part(t)),
            ContentBlock::ToolUse(u) => calls.push(tool_call(u)),
            ContentBlock::Thinking(t) => thinking.push(ThinkingBlock::Thinking {
                thinking: t.thinking.into_owned(),
                signature: t.signature.map(Cow::into_owned),
            }),
            ContentBlock::RedactedThinking(r) => thinking.push(ThinkingBlock::RedactedThinking {
                data: r.data.into_owned(),
            }),
            other => {
                let path = format!("messages[{i}].content[{j}]");
                return Err(wrong_block(&path, &other, "assistant"));
            }
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

fn tool_call(tool_use: wire::ToolUse) -> ToolCall {
    let arguments = match tool_use.input {
        Value::Null => "{}".to_owned(),
        input => input.to_string(),
    };
    let (id, signature) = signed_id::split(&tool_use.id);
    let mut call = ToolCall::function(id.to_owned(), tool_use.name.into_owned(), arguments);
    if let Some(sig) = signature {
        ToolCall::set_thought_signature(&mut call.extra, sig);
    }
    call
}

fn tool_result(
    result: wire::ToolResult,
    path: &str,
    media: &mut Vec<ContentPart>,
) -> Result<ChatMessage, BifrostError> {
    let mut texts = Vec::new();
    // The last marker of the inner blocks, which stands for the result's own when it has none.
    let mut inner_cache = None;
    match result.content {
        None => {}
        Some(Content::Text(s)) => texts.push(s.into_owned()),
        Some(Content::Blocks(inner)) => {
            for (k, block) in inner.into_iter().enumerate() {
                let path = || format!("{path}.content[{k}]");
                let part = match block {
                    ContentBlock::Text(t) => {
                        inner_cache = t.cache_control.or(inner_cache);
                        texts.push(t.text.into_owned());
                        continue;
                    }
                    ContentBlock::Image(b) => image_part(b, &path())?,
                    ContentBlock::Document(d) => document_part(d, &path())?,
                    other => return Err(wrong_block(&path(), &other, "tool_result")),
                };
                inner_cache = part.cache_control.clone().or(inner_cache);
                media.push(part);
            }
        }
    }
    let text = texts.join("\n");
    let content = match result.cache_control.or(inner_cache) {
        None => MessageContent::Text(text),
        Some(cc) => MessageContent::Parts(vec![ContentPart {
            kind: "text".into(),
            text: Some(text),
            cache_control: Some(cc),
            ..ContentPart::default()
        }]),
    };
    let (id, _) = signed_id::split(&result.tool_use_id);
    let mut msg = ChatMessage {
        role: "tool".into(),
        content: Some(content),
        tool_call_id: Some(id.to_owned()),
        ..ChatMessage::default()
    };
    if result.is_error == Some(true) {
        msg.extra.insert("is_error".into(), Value::Bool(true));
    }
    Ok(msg)
}

fn text_part(text: wire::Text) -> ContentPart {
    ContentPart {
        kind: "text".into(),
        text: Some(text.text.into_owned()),
        cache_control: text.cache_control,
        ..ContentPart::default()
    }
}

fn image_part(image: wire::Image, path: &str) -> Result<ContentPart, BifrostError> {
    let url = match image.source {
        Source::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Source::Url { url } => url.into_owned(),
        other => {
            return Err(invalid(format!(
                "{path}.source.type: image source '{}' is not supported (only base64 and url)",
                source_type(&other)
            )))
        }
    };
    Ok(ContentPart {
        kind: "image_url".into(),
        image_url: Some(ImageUrl { url, detail: None }),
        cache_control: image.cache_control,
        ..ContentPart::default()
    })
}

fn document_part(doc: wire::Document, path: &str) -> Result<ContentPart, BifrostError> {
    match doc.source {
        Source::Base64 { media_type, data } => {
            let file = json!({
                "filename": doc.title.as_deref().unwrap_or("document.pdf"),
                "file_data": format!("data:{media_type};base64,{data}"),
            });
            Ok(ContentPart {
                kind: "file".into(),
                cache_control: doc.cache_control,
                extra: Extra::from_iter([("file".to_owned(), file)]),
                ..ContentPart::default()
            })
        }
        Source::Text { data, .. } => Ok(ContentPart {
            kind: "text".into(),
            text: Some(data.into_owned()),
            cache_control: doc.cache_control,
            ..ContentPart::default()
        }),
        other => Err(invalid(format!(
            "{path}.source.type: document source '{}' is not supported by the gateway (only \
             base64 and text documents can be translated)",
            source_type(&other)
        ))),
    }
}

/// A source's `type`, for the error about it.
fn source_type<'s>(source: &'s Source) -> &'s str {
    match source {
        Source::Base64 { .. } => "base64",
        Source::Url { .. } => "url",
        Source::Text { .. } => "text",
        Source::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("<missing>"),
    }
}

fn translate_tool(i: usize, tool: wire::Tool) -> Result<Tool, BifrostError> {
    if let Some(kind) = tool.kind.as_deref().filter(|k| *k != "custom") {
        return Err(invalid(format!(
            "tools[{i}].type: Anthropic server tool '{kind}' is not supported by the gateway \
             (only client tools with an input_schema)"
        )));
    }
    if !tool.input_schema.is_object() {
        return Err(invalid(format!(
            "tools[{i}].input_schema: Field required (a JSON Schema object)"
        )));
    }
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: tool.name.into_owned(),
            description: tool.description.map(Cow::into_owned),
            parameters: Some(tool.input_schema),
            extra: Extra::new(),
        },
        cache_control: tool.cache_control,
        extra: Extra::new(),
    })
}

/// The OpenAI `tool_choice`, and `parallel_tool_calls: false` when parallel use is disabled.
fn translate_tool_choice(choice: ToolChoice) -> (Option<Value>, Option<bool>) {
    let (choice, disable_parallel) = match choice {
        ToolChoice::Auto {
            disable_parallel_tool_use,
        } => (json!("auto"), disable_parallel_tool_use),
        ToolChoice::Any {
            disable_parallel_tool_use,
        } => (json!("required"), disable_parallel_tool_use),
        ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (
            json!({"type": "function", "function": {"name": name}}),
            disable_parallel_tool_use,
        ),
        ToolChoice::None => (json!("none"), None),
    };
    (
        Some(choice),
        (disable_parallel == Some(true)).then_some(false),
    )
}

/// The type of a block where it cannot go.
fn wrong_block(path: &str, block: &ContentBlock, place: &str) -> BifrostError {
    misplaced(path, block, |kind| {
        format!("content block type '{kind}' is not supported in {place} content by the gateway")
    })
}

/// `<path>: <why(its type)>`, or that the type is missing (a block without one is read as
/// `Other`).
fn misplaced(path: &str, block: &ContentBlock, why: impl FnOnce(&str) -> String) -> BifrostError {
    let kind = match block {
        ContentBlock::Text(_) => "text",
        ContentBlock::Image(_) => "image",
        ContentBlock::Document(_) => "document",
        ContentBlock::ToolUse(_) => "tool_use",
        ContentBlock::ToolResult(_) => "tool_result",
        ContentBlock::Thinking(_) => "thinking",
        ContentBlock::RedactedThinking(_) => "redacted_thinking",
        ContentBlock::Other(v) => match v.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None => return invalid(format!("{path}.type: Field required")),
        },
    };
    invalid(format!("{path}: {}", why(kind)))
}

fn invalid(msg: impl Into<String>) -> BifrostError {
    BifrostError::invalid_request(msg)
}
