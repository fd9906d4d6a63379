//! OpenAI chat request → Anthropic Messages request (pure).
//!
//! Field rules:
//! - `system` and `developer` messages, wherever they appear, become the top-level `system`: one
//!   string (joined with a blank line) when every one is plain text, else an array of text
//!   blocks that keep each part's `cache_control`.
//! - A message's own `cache_control` (LiteLLM's shape) marks its last block that can carry one;
//!   string content becomes one text block so it can.
//! - `tool` messages become `tool_result` blocks of a `user` message; consecutive ones, and a
//!   user message right after them, share one `user` message because Anthropic requires the
//!   roles to alternate.
//! - `max_tokens` is `max_completion_tokens`, else `max_tokens`, else [`DEFAULT_MAX_TOKENS`]:
//!   Anthropic rejects requests without it.
//! - `temperature` and `top_p` are copied, `stop` becomes `stop_sequences`, `user` becomes
//!   `metadata.user_id`, `tools`/`tool_choice`/`parallel_tool_calls` are translated.
//! - `n > 1` is rejected: Anthropic returns one completion per request.
//! - An assistant's `thinking_blocks` (see [`ThinkingBlock`]) go first in its content, signatures
//!   and redacted blocks as issued; `reasoning_content` alone is not sent (it has no signature).
//! - An OpenAI `file` part with inline data becomes a `document` block (base64, or a text
//!   source for `text/plain`; the file name is the title); a file id is rejected.
//! - Of the unmodelled fields in `extra`, only the Anthropic-native `top_k`, `thinking` and
//!   `metadata` are passed through. Every other one (`response_format`, `seed`, `logprobs`,
//!   `top_logprobs`, `frequency_penalty`, `presence_penalty`, `logit_bias`, vendor extensions, …)
//!   is dropped, since Anthropic answers 400 to fields it does not know and has no equivalent
//!   for these.

use crate::error::BifrostError;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, MessageContent, Stop, ThinkingBlock, Tool,
};
use crate::wire::anthropic::{
    self as wire, Content, ContentBlock, MessageParam, MessagesRequest, Role, Source, ToolChoice,
};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Sent when the client gave no limit; Anthropic requires one and every current model allows it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The body of `POST /v1/messages` for `model`, as JSON (which Vertex edits).
pub fn to_anthropic(req: &ChatRequest, model: &str, stream: bool) -> Result<Value, BifrostError> {
    serde_json::to_value(messages_request(req, model, stream)?)
        .map_err(|e| BifrostError::internal(format!("serializing the request failed: {e}")))
}

/// Builds the body of `POST /v1/messages` for `model`.
pub fn messages_request<'r>(
    req: &'r ChatRequest,
    model: &'r str,
    stream: bool,
) -> Result<MessagesRequest<'r>, BifrostError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(BifrostError::invalid_request(
            "Anthropic does not support n > 1",
        ));
    }

    let (system, messages) = translate_messages(&req.messages)?;
    let tools = req
        .tools
        .as_ref()
        .map(|t| t.iter().map(translate_tool).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let mut tool_choice = req
        .tool_choice
        .as_ref()
        .map(translate_tool_choice)
        .transpose()?;
    if req.parallel_tool_calls == Some(false) {
        // Without tools there is nothing to parallelise, and Anthropic rejects a tool_choice
        // sent without tools; "none" does not accept the flag either.
        let has_tools = tools.as_ref().is_some_and(|t| !t.is_empty());
        if tool_choice.is_none() && has_tools {
            tool_choice = Some(ToolChoice::Auto {
                disable_parallel_tool_use: None,
            });
        }
        if let Some(tc) = &mut tool_choice {
            tc.disable_parallel_tool_use();
        }
    }

    Ok(MessagesRequest {
        model: model.into(),
        system,
        messages,
        max_tokens: Some(
            req.max_completion_tokens
                .or(req.max_tokens)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        ),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_ref().map(|stop| match stop {
            Stop::One(s) => vec![s.into()],
            Stop::Many(v) => v.iter().map(Cow::from).collect(),
        }),
        stream: stream.then_some(true),
        tools,
        tool_choice,
        top_k: req.top_k.clone(),
        thinking: req.thinking.clone(),
        metadata: metadata(req)?,
    })
}

/// `extra.metadata` merged with `user` as `user_id`; an explicit `metadata.user_id` wins because
/// it is the Anthropic-native spelling, so the client meant it for this provider.
fn metadata(req: &ChatRequest) -> Result<Option<Map<String, Value>>, BifrostError> {
    let mut metadata = match req.extra.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(BifrostError::invalid_request(
                "'metadata' must be an object",
            ))
        }
    };
    if let Some(user) = &req.user {
        metadata
            .entry("user_id")
            .or_insert_with(|| Value::String(user.clone()));
    }
    Ok((!metadata.is_empty()).then_some(metadata))
}

/// One piece of the top-level system prompt, before deciding between string and blocks.
enum SystemPiece<'r> {
    Plain(&'r str),
    Block(ContentBlock<'r>),
}

/// Splits the conversation into the system prompt and Anthropic's alternating messages.
fn translate_messages(
    messages: &[ChatMessage],
) -> Result<(Option<Content<'_>>, Vec<MessageParam<'_>>), BifrostError> {
    let mut system: Vec<SystemPiece> = Vec::new();
    let mut out: Vec<MessageParam> = Vec::new();
    // True while the last message in `out` is a user message made of tool results, which the
    // next tool result or user turn must join.
    let mut open_tool_results = false;

    for (i, msg) in messages.iter().enumerate() {
        match msg.role.as_str() {
            "system" | "developer" => {
                match &msg.content {
                    None => {}
                    Some(MessageContent::Text(t)) if msg.cache_control.is_none() => {
                        system.push(SystemPiece::Plain(t))
                    }
                    Some(MessageContent::Text(t)) => {
                        system.push(SystemPiece::Block(ContentBlock::Text(wire::Text {
                            text: t.into(),
                            cache_control: msg.cache_control.clone(),
                        })))
                    }
                    Some(MessageContent::Parts(parts)) => {
                        for part in parts {
                            if part.kind != "text" {
                                return Err(unsupported_part(i, &msg.role, &part.kind));
                            }
                            system.push(SystemPiece::Block(text_block(part)));
                        }
                        if let Some(SystemPiece::Block(last)) = system.last_mut() {
                            mark(last, msg.cache_control.as_ref());
                        }
                    }
                }
                // A system message does not end a tool-result turn in Anthropic's view: it is
                // moved out of the conversation.
            }
            "user" => {
                let content = marked(user_content(i, msg)?, msg.cache_control.as_ref());
                match last_blocks(&mut out).filter(|_| open_tool_results) {
                    Some(blocks) => match content {
                        // An empty text block would be rejected; the turn exists already.
                        Content::Text(s) if s.is_empty() => {}
                        Content::Text(s) => blocks.push(text(s)),
                        Content::Blocks(parts) => blocks.extend(parts),
                    },
                    None => out.push(MessageParam {
                        role: Role::User,
                        content,
                    }),
                }
                open_tool_results = false;
            }
            "assistant" => {
                out.push(MessageParam {
                    role: Role::Assistant,
                    content: marked(assistant_content(i, msg)?, msg.cache_control.as_ref()),
                });
                open_tool_results = false;
            }
            "tool" => {
                let id = msg.tool_call_id.as_deref().ok_or_else(|| {
                    BifrostError::invalid_request(format!(
                        "messages[{i}]: a tool message needs 'tool_call_id'"
                    ))
                })?;
                // A cache breakpoint on the result (on the message, or on its last part that
                // has one) and an error flag survive the trip, as on every other block.
                let mut cache_control = msg.cache_control.as_ref();
                if let Some(MessageContent::Parts(parts)) = &msg.content {
                    if let Some(cc) = parts.iter().rev().find_map(|p| p.cache_control.as_ref()) {
                        cache_control = Some(cc);
                    }
                }
                let block = ContentBlock::ToolResult(wire::ToolResult {
                    tool_use_id: id.into(),
                    content: Some(Content::Text(msg.text_content().unwrap_or_default().into())),
                    cache_control: cache_control.cloned(),
                    is_error: (msg.extra.get("is_error") == Some(&Value::Bool(true)))
                        .then_some(true),
                });
                match last_blocks(&mut out).filter(|_| open_tool_results) {
                    Some(blocks) => blocks.push(block),
                    None => out.push(MessageParam {
                        role: Role::User,
                        content: Content::Blocks(vec![block]),
                    }),
                }
                open_tool_results = true;
            }
            other => {
                return Err(BifrostError::invalid_request(format!(
                    "messages[{i}]: unsupported role '{other}' for Anthropic \
                     (expected system, developer, user, assistant or tool)"
                )))
            }
        }
    }

    let system = if system.is_empty() {
        None
    } else if system.iter().all(|p| matches!(p, SystemPiece::Plain(_))) {
        let texts: Vec<&str> = system
            .into_iter()
            .filter_map(|p| match p {
                SystemPiece::Plain(t) => Some(t),
                SystemPiece::Block(_) => None,
            })
            .collect();
        Some(Content::Text(texts.join("\n\n").into()))
    } else {
        let blocks = system
            .into_iter()
            .map(|p| match p {
                SystemPiece::Plain(t) => text(t.into()),
                SystemPiece::Block(b) => b,
            })
            .collect();
        Some(Content::Blocks(blocks))
    };
    Ok((system, out))
}

/// A message-level `cache_control` (LiteLLM's shape) marks the message's last block, where
/// Anthropic reads breakpoints; a plain string becomes one text block to carry it. A marker the
/// block has of its own wins.
fn marked<'r>(content: Content<'r>, cache_control: Option<&Value>) -> Content<'r> {
    let Some(cc) = cache_control else {
        return content;
    };
    let mut blocks = match content {
        // Anthropic refuses an empty text block; an empty turn has nothing to cache.
        Content::Text(t) if t.is_empty() => return Content::Text(t),
        Content::Text(t) => vec![text(t)],
        Content::Blocks(blocks) => blocks,
    };
    if let Some(last) = blocks.last_mut() {
        mark(last, Some(cc));
    }
    Content::Blocks(blocks)
}

/// Puts `cache_control` on a block that can carry one and has none (thinking blocks cannot).
fn mark(block: &mut ContentBlock<'_>, cache_control: Option<&Value>) {
    let slot = match block {
        ContentBlock::Text(b) => &mut b.cache_control,
        ContentBlock::Image(b) => &mut b.cache_control,
        ContentBlock::Document(b) => &mut b.cache_control,
        ContentBlock::ToolUse(b) => &mut b.cache_control,
        ContentBlock::ToolResult(b) => &mut b.cache_control,
        ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) | ContentBlock::Other(_) => {
            return
        }
    };
    if slot.is_none() {
        *slot = cache_control.cloned();
    }
}

/// The content blocks of the last message, which tool results always create as blocks.
fn last_blocks<'o, 'r>(out: &'o mut [MessageParam<'r>]) -> Option<&'o mut Vec<ContentBlock<'r>>> {
    match &mut out.last_mut()?.content {
        Content::Blocks(blocks) => Some(blocks),
        Content::Text(_) => None,
    }
}

fn user_content(i: usize, msg: &ChatMessage) -> Result<Content<'_>, BifrostError> {
    match &msg.content {
        // Anthropic has no content-less user turn; an empty string is the closest and lets the
        // upstream report it if it objects.
        None => Ok(Content::Text("".into())),
        Some(MessageContent::Text(t)) => Ok(Content::Text(t.into())),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|p| match p.kind.as_str() {
                "text" => Ok(text_block(p)),
                "image_url" => image_block(i, p),
                "file" => document_block(i, p),
                other => Err(unsupported_part(i, &msg.role, other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Content::Blocks),
    }
}

fn assistant_content(i: usize, msg: &ChatMessage) -> Result<Content<'_>, BifrostError> {
    let tool_calls = msg.tool_calls.as_deref().unwrap_or_default();
    let thinking = thinking_blocks(i, msg)?;
    let plain = tool_calls.is_empty() && thinking.is_empty();
    let mut blocks = match &msg.content {
        Some(MessageContent::Text(t)) if plain => return Ok(Content::Text(t.into())),
        None if plain => return Ok(Content::Text("".into())),
        None => Vec::new(),
        // Anthropic rejects empty text blocks, and OpenAI clients often send `""` next to
        // tool calls.
        Some(MessageContent::Text(t)) if t.is_empty() => Vec::new(),
        Some(MessageContent::Text(t)) => vec![text(t.into())],
        Some(MessageContent::Parts(parts)) => {
            let mut blocks = Vec::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(unsupported_part(i, &msg.role, &p.kind));
                }
                if p.text.as_deref().is_some_and(|t| !t.is_empty()) {
                    blocks.push(text_block(p));
                }
            }
            blocks
        }
    };
    // Anthropic wants the signed reasoning first, as it issued it.
    blocks.splice(0..0, thinking);
    for call in tool_calls {
        blocks.push(ContentBlock::ToolUse(wire::ToolUse {
            id: call.id.as_str().into(),
            name: call.function.name.as_str().into(),
            input: super::super::tool_call_input(i, call)?,
            cache_control: None,
        }));
    }
    Ok(Content::Blocks(blocks))
}

/// The message's `thinking_blocks` as Anthropic blocks.
fn thinking_blocks(
    i: usize,
    msg: &ChatMessage,
) -> Result<Vec<ContentBlock<'static>>, BifrostError> {
    let blocks = ThinkingBlock::read(&msg.extra).map_err(|e| {
        BifrostError::invalid_request(format!("messages[{i}].thinking_blocks: {e}"))
    })?;
    Ok(blocks.into_iter().map(ContentBlock::from).collect())
}

fn text(text: Cow<'_, str>) -> ContentBlock<'_> {
    ContentBlock::Text(wire::Text {
        text,
        cache_control: None,
    })
}

fn text_block(part: &ContentPart) -> ContentBlock<'_> {
    ContentBlock::Text(wire::Text {
        text: part.text.as_deref().unwrap_or_default().into(),
        cache_control: cache_control(part),
    })
}

fn image_block(i: usize, part: &ContentPart) -> Result<ContentBlock<'_>, BifrostError> {
    let url = super::super::image_url(i, part)?;
    let source = if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = rest
            .split_once(";base64,")
            .filter(|(m, _)| !m.is_empty())
            .ok_or_else(|| {
                BifrostError::invalid_request(format!(
                    "messages[{i}]: a data URL image must look like data:<media type>;base64,<data>"
                ))
            })?;
        Source::Base64 {
            media_type: media_type.into(),
            data: data.into(),
        }
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Source::Url { url: url.into() }
    } else {
        return Err(BifrostError::invalid_request(format!(
            "messages[{i}]: image URLs must be http(s) or base64 data URLs"
        )));
    };
    Ok(ContentBlock::Image(wire::Image {
        source,
        cache_control: cache_control(part),
    }))
}

/// An OpenAI `file` part (a base64 data URL) → a `document` block: PDFs as base64, plain text
/// as a text source; the file name becomes the title.
fn document_block(i: usize, part: &ContentPart) -> Result<ContentBlock<'_>, BifrostError> {
    use base64::Engine as _;
    let (media_type, data, name) = super::super::file_data(i, part, "Anthropic")?;
    let source = if media_type == "text/plain" {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| {
                BifrostError::invalid_request(format!(
                    "messages[{i}]: 'file.file_data' is not valid base64: {e}"
                ))
            })?;
        Source::Text {
            media_type: "text/plain".into(),
            data: String::from_utf8_lossy(&bytes).into_owned().into(),
        }
    } else {
        Source::Base64 {
            media_type: media_type.into(),
            data: data.into(),
        }
    };
    Ok(ContentBlock::Document(wire::Document {
        source,
        title: name.map(Cow::from),
        cache_control: cache_control(part),
    }))
}

/// Prompt caching is opted into per block; losing the marker silently would cost the client.
fn cache_control(part: &ContentPart) -> Option<Value> {
    part.cache_control.clone()
}

fn unsupported_part(i: usize, role: &str, kind: &str) -> BifrostError {
    BifrostError::invalid_request(format!(
        "messages[{i}]: content part type '{kind}' is not supported in {role} messages for Anthropic"
    ))
}

fn translate_tool(tool: &Tool) -> Result<wire::Tool<'_>, BifrostError> {
    let f = super::super::function_tool(tool, "Anthropic")?;
    Ok(wire::Tool {
        kind: None,
        name: f.name.as_str().into(),
        description: f.description.as_deref().map(Cow::from),
        input_schema: super::super::parameters(f),
        cache_control: tool.cache_control.clone(),
    })
}

fn translate_tool_choice(tc: &Value) -> Result<ToolChoice<'_>, BifrostError> {
    match tc {
        Value::String(s) => match s.as_str() {
            "auto" => {
                return Ok(ToolChoice::Auto {
                    disable_parallel_tool_use: None,
                })
            }
            "none" => return Ok(ToolChoice::None),
            "required" => {
                return Ok(ToolChoice::Any {
                    disable_parallel_tool_use: None,
                })
            }
            _ => {}
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            if let Some(name) = super::super::named_function(o) {
                return Ok(ToolChoice::Tool {
                    name: name.into(),
                    disable_parallel_tool_use: None,
                });
            }
        }
        _ => {}
    }
    Err(BifrostError::invalid_request(format!(
        "unsupported tool_choice {tc} for Anthropic (expected \"auto\", \"none\", \"required\" \
         or {{\"type\":\"function\",\"function\":{{\"name\":…}}}})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_fixtures::{
        audio_part, chat_request as request, claude_options, common_rejections,
        decoding_rejections, error_summary, field, lookup_tools, minimal_body, openai_options,
        parts_body, rejections, time_result, weather_and_time_calls, with_fields, with_tool_choice,
    };
    use serde_json::json;

    fn translate(body: Value) -> Value {
        to_anthropic(&request(body), "claude-sonnet-4-20250514", false).unwrap()
    }

    #[test]
    fn tool_results_keep_cache_control_and_the_error_flag() {
        let req = request(json!({
            "model": "claude", "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{}"}},
                    {"id": "t2", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "is_error": true, "content": "boom"},
                {"role": "tool", "tool_call_id": "t2", "content": [
                    {"type": "text", "text": "18C", "cache_control": {"type": "ephemeral"}}]}
            ]
        }));
        let out = to_anthropic(&req, "claude", false).unwrap();
        let results = &out["messages"][2]["content"];
        assert_eq!(
            results[0],
            json!({"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": true})
        );
        assert_eq!(
            results[1],
            json!({"type": "tool_result", "tool_use_id": "t2", "content": "18C",
                   "cache_control": {"type": "ephemeral"}})
        );
    }

    #[test]
    fn full_conversation_with_images_tools_and_cache_control() {
        let conversation = json!({
            "model": "anthropic/claude-sonnet-4",
            "messages": [
                {"role": "system", "content": [
                    {"type": "text", "text": "You are a travel assistant.",
                     "cache_control": {"type": "ephemeral"}}
                ]},
                {"role": "developer", "content": "Answer in metric units."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Where was this taken, and what is the weather there?",
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/eiffel.jpg", "detail": "high"},
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}
                ]},
                {"role": "assistant", "content": "Paris, France. Let me check the weather.",
                 "tool_calls": weather_and_time_calls("toolu_01", "toolu_02")},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "18°C, light rain"},
                time_result("toolu_02"),
                {"role": "user", "content": "Should I bring an umbrella?"},
                {"role": "assistant", "content": "Yes, light rain is expected."},
                {"role": "user", "content": "Thanks!"}
            ]
        });
        let body = with_fields(conversation, claude_options());
        let body = with_fields(body, json!({"metadata": {"user_id": "native-id"}}));
        let out = translate(with_fields(
            body,
            openai_options(json!({"type": "json_object"}), true),
        ));
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn a_message_level_cache_control_marks_the_last_block() {
        let eph = json!({"type": "ephemeral"});
        let ttl = json!({"type": "ephemeral", "ttl": "1h"});
        let out = translate(json!({
            "model": "claude",
            "messages": [
                {"role": "system", "content": "sys", "cache_control": eph},
                {"role": "user", "content": "long document", "cache_control": eph},
                {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}], "cache_control": eph},
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
                {"role": "user", "content": [
                    {"type": "text", "text": "a"},
                    {"type": "text", "text": "b", "cache_control": ttl}], "cache_control": eph},
                {"role": "user", "content": "", "cache_control": eph}
            ]
        }));
        assert_eq!(
            out["system"],
            json!([{"type": "text", "text": "sys", "cache_control": eph}])
        );
        assert_eq!(
            out["messages"][0]["content"],
            json!([{"type": "text", "text": "long document", "cache_control": eph}])
        );
        // The tool call is the assistant turn's last block.
        let assistant = &out["messages"][1]["content"];
        assert_eq!(assistant[0], json!({"type": "text", "text": "ok"}));
        assert_eq!(assistant[1]["cache_control"], eph);
        // The part's own marker wins; the earlier part stays unmarked.
        let turn = &out["messages"][2]["content"];
        assert_eq!(turn[1], json!({"type": "text", "text": "a"}));
        assert_eq!(
            turn[2],
            json!({"type": "text", "text": "b", "cache_control": ttl})
        );
        assert_eq!(out["messages"].as_array().unwrap().len(), 4);
        assert_eq!(out["messages"][3]["content"], "");
    }

    #[test]
    fn plain_system_messages_join_into_one_string() {
        let req = request(json!({
            "model": "claude-3-5-haiku",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": "Never use emoji."},
                {"role": "user", "content": "Hi"}
            ],
            "max_tokens": 256,
            "stop": ["END", "STOP"],
            "user": "u-42",
            "stream": true
        }));
        let out = to_anthropic(&req, "claude-3-5-haiku-20241022", true).unwrap();
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn defaults_and_non_streaming_omit_stream() {
        let out = translate(json!({
            "model": "claude",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": true
        }));
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-20250514",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": DEFAULT_MAX_TOKENS
            })
        );
    }

    #[test]
    fn tool_choice_variants() {
        let lookup = json!({"type": "function", "function": {"name": "lookup"}});
        let cases = [
            ("auto", json!("auto"), None),
            ("none", json!("none"), None),
            ("required", json!("required"), None),
            ("function", lookup.clone(), None),
            ("auto_no_parallel", json!("auto"), Some(false)),
            ("function_no_parallel", lookup, Some(false)),
            ("none_no_parallel", json!("none"), Some(false)),
            ("absent_no_parallel", Value::Null, Some(false)),
            ("absent_parallel_true", Value::Null, Some(true)),
        ];
        let mut out = Map::new();
        for (name, choice, parallel) in cases {
            let mut body = with_tool_choice(minimal_body(json!({"tools": lookup_tools()})), choice);
            if let Some(p) = parallel {
                body["parallel_tool_calls"] = json!(p);
            }
            out.insert(name.into(), field(&translate(body), "tool_choice"));
        }
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn parallel_tool_calls_false_without_tools_adds_no_tool_choice() {
        let out = translate(minimal_body(json!({"parallel_tool_calls": false})));
        assert!(out.get("tool_choice").is_none());
    }

    #[test]
    fn rejected_requests() {
        let cases = common_rejections()
            .into_iter()
            .chain(decoding_rejections())
            .chain([
                ("n_2", minimal_body(json!({"n": 2}))),
                ("unsupported_part_type", parts_body("user", audio_part())),
            ]);
        let out = rejections(
            cases,
            |body| to_anthropic(&request(body), "m", false),
            error_summary,
        );
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn file_parts_become_documents_and_a_document_round_trips() {
        // An Anthropic client's PDF, through the unified shape, back to Anthropic: the same
        // block (cache marker and title included).
        let doc = json!({"type": "document", "title": "contract.pdf",
                         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
                         "cache_control": {"type": "ephemeral"}});
        let inbound = json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [doc.clone(), {"type": "text", "text": "Summarise."}]}]});
        let chat = crate::inbound::anthropic::to_chat(inbound.to_string().as_bytes()).unwrap();
        let out = to_anthropic(&chat, "m", false).unwrap();
        assert_eq!(out["messages"][0]["content"][0], doc);

        // An OpenAI client's text file becomes a text document.
        let req = request(parts_body(
            "user",
            json!([{"type": "file", "file": {
                "filename": "notes.txt", "file_data": "data:text/plain;base64,aGVsbG8="}}]),
        ));
        let out = to_anthropic(&req, "m", false).unwrap();
        assert_eq!(
            out["messages"][0]["content"][0],
            json!({"type": "document", "title": "notes.txt",
                   "source": {"type": "text", "media_type": "text/plain", "data": "hello"}})
        );
        // A file id cannot cross.
        let req = request(parts_body(
            "user",
            json!([{"type": "file", "file": {"file_id": "file-1"}}]),
        ));
        let e = to_anthropic(&req, "m", false).unwrap_err();
        assert!(e.message.contains("file ids"), "{}", e.message);
    }
}
