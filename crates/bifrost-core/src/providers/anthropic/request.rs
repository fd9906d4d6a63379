//! OpenAI chat request → Anthropic Messages request (pure).
//!
//! Field rules:
//! - `system` and `developer` messages, wherever they appear, become the top-level `system`: one
//!   string (joined with a blank line) when every one is plain text, else an array of text
//!   blocks that keep each part's `cache_control`.
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
    ChatMessage, ChatRequest, ContentPart, Extra, MessageContent, ThinkingBlock, Tool,
};
use serde_json::{json, Map, Value};

/// Sent when the client gave no limit; Anthropic requires one and every current model allows it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Builds the body of `POST /v1/messages` for `model`.
pub fn to_anthropic(req: &ChatRequest, model: &str, stream: bool) -> Result<Value, BifrostError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(BifrostError::invalid_request(
            "Anthropic does not support n > 1",
        ));
    }

    let (system, messages) = translate_messages(&req.messages)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.to_owned()));
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(messages));
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max_tokens));
    if let Some(t) = req.temperature {
        out.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if let Some(stop) = &req.stop {
        out.insert("stop_sequences".into(), json!(stop.clone().into_vec()));
    }
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }

    let has_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    if let Some(tools) = &req.tools {
        let tools = tools.iter().map(translate_tool).collect::<Result<_, _>>()?;
        out.insert("tools".into(), Value::Array(tools));
    }
    let mut tool_choice = req
        .tool_choice
        .as_ref()
        .map(translate_tool_choice)
        .transpose()?;
    if req.parallel_tool_calls == Some(false) {
        // Without tools there is nothing to parallelise, and Anthropic rejects a tool_choice
        // sent without tools; "none" does not accept the flag either.
        if tool_choice.is_none() && has_tools {
            tool_choice = Some(json!({"type": "auto"}));
        }
        if let Some(Value::Object(tc)) = &mut tool_choice {
            if tc.get("type").and_then(Value::as_str) != Some("none") {
                tc.insert("disable_parallel_tool_use".into(), Value::Bool(true));
            }
        }
    }
    if let Some(tc) = tool_choice {
        out.insert("tool_choice".into(), tc);
    }

    for key in ["top_k", "thinking"] {
        if let Some(v) = req.extra.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(metadata) = metadata(req)? {
        out.insert("metadata".into(), metadata);
    }

    Ok(Value::Object(out))
}

/// `extra.metadata` merged with `user` as `user_id`; an explicit `metadata.user_id` wins because
/// it is the Anthropic-native spelling, so the client meant it for this provider.
fn metadata(req: &ChatRequest) -> Result<Option<Value>, BifrostError> {
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
    Ok((!metadata.is_empty()).then_some(Value::Object(metadata)))
}

/// One piece of the top-level system prompt, before deciding between string and blocks.
enum SystemPiece {
    Plain(String),
    Block(Value),
}

/// Splits the conversation into the system prompt and Anthropic's alternating messages.
fn translate_messages(
    messages: &[ChatMessage],
) -> Result<(Option<Value>, Vec<Value>), BifrostError> {
    let mut system: Vec<SystemPiece> = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    // True while the last message in `out` is a user message made of tool results, which the
    // next tool result or user turn must join.
    let mut open_tool_results = false;

    for (i, msg) in messages.iter().enumerate() {
        match msg.role.as_str() {
            "system" | "developer" => {
                match &msg.content {
                    None => {}
                    Some(MessageContent::Text(t)) => system.push(SystemPiece::Plain(t.clone())),
                    Some(MessageContent::Parts(parts)) => {
                        for part in parts {
                            if part.kind != "text" {
                                return Err(unsupported_part(i, &msg.role, &part.kind));
                            }
                            system.push(SystemPiece::Block(text_block(part)));
                        }
                    }
                }
                // A system message does not end a tool-result turn in Anthropic's view: it is
                // moved out of the conversation.
            }
            "user" => {
                let content = user_content(i, msg)?;
                match last_blocks(&mut out).filter(|_| open_tool_results) {
                    Some(blocks) => match content {
                        // An empty text block would be rejected; the turn exists already.
                        Value::String(s) if s.is_empty() => {}
                        Value::String(s) => blocks.push(json!({"type": "text", "text": s})),
                        Value::Array(parts) => blocks.extend(parts),
                        other => blocks.push(other),
                    },
                    None => out.push(json!({"role": "user", "content": content})),
                }
                open_tool_results = false;
            }
            "assistant" => {
                out.push(json!({"role": "assistant", "content": assistant_content(i, msg)?}));
                open_tool_results = false;
            }
            "tool" => {
                let id = msg.tool_call_id.as_deref().ok_or_else(|| {
                    BifrostError::invalid_request(format!(
                        "messages[{i}]: a tool message needs 'tool_call_id'"
                    ))
                })?;
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": id,
                    "content": msg.text_content().unwrap_or_default(),
                });
                // A cache breakpoint on the result (on the message, or on its last part that
                // has one) and an error flag survive the trip, as on every other block.
                copy_cache_control(&msg.extra, &mut block);
                if let Some(MessageContent::Parts(parts)) = &msg.content {
                    if let Some(p) = parts
                        .iter()
                        .rev()
                        .find(|p| p.extra.contains_key("cache_control"))
                    {
                        copy_cache_control(&p.extra, &mut block);
                    }
                }
                if msg.extra.get("is_error") == Some(&Value::Bool(true)) {
                    block["is_error"] = Value::Bool(true);
                }
                match last_blocks(&mut out).filter(|_| open_tool_results) {
                    Some(blocks) => blocks.push(block),
                    None => out.push(json!({"role": "user", "content": [block]})),
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
        let texts: Vec<String> = system
            .into_iter()
            .filter_map(|p| match p {
                SystemPiece::Plain(t) => Some(t),
                SystemPiece::Block(_) => None,
            })
            .collect();
        Some(Value::String(texts.join("\n\n")))
    } else {
        let blocks = system
            .into_iter()
            .map(|p| match p {
                SystemPiece::Plain(t) => json!({"type": "text", "text": t}),
                SystemPiece::Block(b) => b,
            })
            .collect();
        Some(Value::Array(blocks))
    };
    Ok((system, out))
}

/// The content array of the last message, which tool results always create as an array.
fn last_blocks(out: &mut [Value]) -> Option<&mut Vec<Value>> {
    out.last_mut()?.get_mut("content")?.as_array_mut()
}

fn user_content(i: usize, msg: &ChatMessage) -> Result<Value, BifrostError> {
    match &msg.content {
        // Anthropic has no content-less user turn; an empty string is the closest and lets the
        // upstream report it if it objects.
        None => Ok(Value::String(String::new())),
        Some(MessageContent::Text(t)) => Ok(Value::String(t.clone())),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|p| match p.kind.as_str() {
                "text" => Ok(text_block(p)),
                "image_url" => image_block(i, p),
                "file" => document_block(i, p),
                other => Err(unsupported_part(i, &msg.role, other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

fn assistant_content(i: usize, msg: &ChatMessage) -> Result<Value, BifrostError> {
    let tool_calls = msg.tool_calls.as_deref().unwrap_or_default();
    let thinking = thinking_blocks(i, msg)?;
    let plain = tool_calls.is_empty() && thinking.is_empty();
    let mut blocks = match &msg.content {
        Some(MessageContent::Text(t)) if plain => return Ok(Value::String(t.clone())),
        None if plain => return Ok(Value::String(String::new())),
        None => Vec::new(),
        // Anthropic rejects empty text blocks, and OpenAI clients often send `""` next to
        // tool calls.
        Some(MessageContent::Text(t)) if t.is_empty() => Vec::new(),
        Some(MessageContent::Text(t)) => vec![json!({"type": "text", "text": t})],
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
        let input = super::super::tool_call_input(i, call)?;
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.function.name,
            "input": input,
        }));
    }
    Ok(Value::Array(blocks))
}

/// The message's `thinking_blocks` as Anthropic blocks.
fn thinking_blocks(i: usize, msg: &ChatMessage) -> Result<Vec<Value>, BifrostError> {
    let blocks = ThinkingBlock::read(&msg.extra).map_err(|e| {
        BifrostError::invalid_request(format!("messages[{i}].thinking_blocks: {e}"))
    })?;
    Ok(blocks
        .into_iter()
        .map(|b| serde_json::to_value(b).unwrap_or_default())
        .collect())
}

fn text_block(part: &ContentPart) -> Value {
    let mut block = json!({"type": "text", "text": part.text.clone().unwrap_or_default()});
    copy_cache_control(&part.extra, &mut block);
    block
}

fn image_block(i: usize, part: &ContentPart) -> Result<Value, BifrostError> {
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
        json!({"type": "base64", "media_type": media_type, "data": data})
    } else if url.starts_with("https://") || url.starts_with("http://") {
        json!({"type": "url", "url": url})
    } else {
        return Err(BifrostError::invalid_request(format!(
            "messages[{i}]: image URLs must be http(s) or base64 data URLs"
        )));
    };
    let mut block = json!({"type": "image", "source": source});
    copy_cache_control(&part.extra, &mut block);
    Ok(block)
}

/// An OpenAI `file` part (a base64 data URL) → a `document` block: PDFs as base64, plain text
/// as a text source; the file name becomes the title.
fn document_block(i: usize, part: &ContentPart) -> Result<Value, BifrostError> {
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
        json!({"type": "text", "media_type": "text/plain",
               "data": String::from_utf8_lossy(&bytes)})
    } else {
        json!({"type": "base64", "media_type": media_type, "data": data})
    };
    let mut block = json!({"type": "document", "source": source});
    if let (Some(name), Some(obj)) = (name, block.as_object_mut()) {
        obj.insert("title".into(), Value::String(name.to_owned()));
    }
    copy_cache_control(&part.extra, &mut block);
    Ok(block)
}

/// Prompt caching is opted into per block; losing the marker silently would cost the client.
fn copy_cache_control(extra: &Extra, block: &mut Value) {
    if let (Some(cc), Some(obj)) = (extra.get("cache_control"), block.as_object_mut()) {
        obj.insert("cache_control".into(), cc.clone());
    }
}

fn unsupported_part(i: usize, role: &str, kind: &str) -> BifrostError {
    BifrostError::invalid_request(format!(
        "messages[{i}]: content part type '{kind}' is not supported in {role} messages for Anthropic"
    ))
}

fn translate_tool(tool: &Tool) -> Result<Value, BifrostError> {
    let f = super::super::function_tool(tool, "Anthropic")?;
    let out = super::super::function_declaration(f, false, "input_schema", |schema| schema);
    let mut out = Value::Object(out);
    copy_cache_control(&tool.extra, &mut out);
    Ok(out)
}

fn translate_tool_choice(tc: &Value) -> Result<Value, BifrostError> {
    match tc {
        Value::String(s) => match s.as_str() {
            "auto" => return Ok(json!({"type": "auto"})),
            "none" => return Ok(json!({"type": "none"})),
            "required" => return Ok(json!({"type": "any"})),
            _ => {}
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            if let Some(name) = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                return Ok(json!({"type": "tool", "name": name}));
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
        audio_part, call_arguments_body, chat_request as request, claude_options, error_summary,
        field, lookup_tools, minimal_body, openai_options, parts_body, raw_data_url_image_part,
        rejections, time_result, tool_message_without_id_body, unknown_role_body,
        weather_and_time_calls, with_fields, with_tool_choice,
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
        let cases = [
            ("n_2", minimal_body(json!({"n": 2}))),
            ("unknown_role", unknown_role_body()),
            (
                "tool_choice_unknown_string",
                minimal_body(json!({"tool_choice": "any"})),
            ),
            (
                "tool_choice_function_without_name",
                minimal_body(json!({"tool_choice": {"type": "function"}})),
            ),
            ("tool_args_invalid_json", call_arguments_body("{\"a\": 1")),
            ("tool_args_not_an_object", call_arguments_body("[1, 2]")),
            ("unsupported_part_type", parts_body("user", audio_part())),
            (
                "image_data_url_not_base64",
                parts_body("user", raw_data_url_image_part()),
            ),
            ("tool_message_without_id", tool_message_without_id_body()),
        ];
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
