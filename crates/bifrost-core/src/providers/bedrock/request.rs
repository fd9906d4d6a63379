//! OpenAI chat request → Bedrock Converse request (pure). The model id travels in the URL
//! (`/model/{modelId}/converse`, see [`super::sign::model_path`]), never in the body.
//!
//! Field rules:
//! - `system` and `developer` messages, wherever they appear, become `system[]` text blocks.
//! - `user`/`assistant` messages become `messages[]` with `content[]` blocks: `text`; `image`
//!   from base64 `data:` URLs (png, jpeg, gif, webp); assistant `tool_calls` → `toolUse`
//!   (arguments must be a JSON object). Converse needs image bytes, so http(s) image URLs are
//!   rejected (400) rather than fetched by the gateway.
//! - `tool` messages become `toolResult` blocks of a user turn: content that parses as a JSON
//!   object is sent as `{json}`, anything else as `{text}`; a `status` field on the message
//!   (`success`/`error`) is passed on.
//! - Bedrock requires alternating roles, so consecutive messages of one role (tool results and
//!   the user text after them included) are merged into one turn. Empty text is skipped, and a
//!   message left without content adds nothing (Bedrock rejects blank text blocks).
//! - Prompt caching: a content part or a message carrying `cache_control` is followed by a
//!   `{"cachePoint":{"type":"default"}}` block (for a message, after its last block); a tool
//!   carrying it is followed by a cachePoint entry in `toolConfig.tools`.
//! - An assistant's `thinking_blocks` (see [`ThinkingBlock`]) go first in its turn as
//!   `reasoningContent` blocks (`reasoningText {text, signature}`, `redactedContent`): Claude
//!   wants its signed reasoning back on a tool turn. `reasoning_content` alone is dropped, since
//!   Converse only accepts reasoning with the signature it issued.
//! - `inferenceConfig`: `maxTokens` (`max_completion_tokens`, else `max_tokens`),
//!   `temperature`, `topP`, `stopSequences` (from `stop`).
//! - `tools` → `toolConfig.tools[].toolSpec {name, description, inputSchema.json}`.
//!   `tool_choice` `auto` → `{auto:{}}`, `required` → `{any:{}}`, a named function →
//!   `{tool:{name}}` (never weakened); without `tool_choice` none is sent (Converse defaults
//!   to auto, and some models accept no toolChoice at all). Converse has no "none": for `none` the tools are left
//!   out entirely, unless the conversation already holds toolUse/toolResult blocks, which
//!   Converse refuses without a `toolConfig` — then the tools are sent without a toolChoice
//!   (the model decides). `required` or a named tool without any tool is a 400.
//!   `parallel_tool_calls` has no Converse equivalent and is dropped.
//! - Rejected (400): `n > 1`; `logprobs: true` or `top_logprobs > 0`; `response_format` other
//!   than `text` (Converse has no JSON mode: force a tool instead).
//! - Dropped, OpenAI-only with no Converse equivalent: `user`, `seed`, `frequency_penalty`,
//!   `presence_penalty`, `logit_bias`, `store`, `metadata`, `service_tier`, `prediction`,
//!   `modalities`, `reasoning_effort`, `logprobs: false`, `top_logprobs: 0`.
//! - Bedrock-native top-level fields, spelled as in Converse, pass through unchanged:
//!   `guardrailConfig`, `performanceConfig`, `requestMetadata`, `promptVariables`,
//!   `additionalModelResponseFieldPaths`; an explicit `additionalModelRequestFields` object is
//!   merged into the generated one.
//! - `top_k`, `thinking` and every other field in `extra` (`reasoning_config`, …) go to
//!   `additionalModelRequestFields`, which the model receives as native parameters.

use crate::error::BifrostError;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, Extra, MessageContent, ThinkingBlock, Tool,
};
use crate::wire::bedrock::{
    self as wire, CachePoint, ContentBlock, ConverseMessage, ConverseRequest, Document, Image,
    InferenceConfig, InputSchema, ReasoningContent, ReasoningText, Role, Source, ToolChoice,
    ToolConfig, ToolResult, ToolResultContent, ToolSpec, ToolUse,
};
// Only the tests (through `use super::*`) still write blocks as JSON.
#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value};

/// Converse-native top-level fields a client may send for Bedrock.
const NATIVE_FIELDS: [&str; 5] = [
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "promptVariables",
    "additionalModelResponseFieldPaths",
];

/// OpenAI-only fields with no Converse equivalent; see the module doc.
const DROPPED_FIELDS: [&str; 9] = [
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "store",
    "metadata",
    "service_tier",
    "prediction",
    "modalities",
];

/// A cache checkpoint, where it goes: a content or system block, or a tools entry.
fn cache_point<B: From<CachePoint>>() -> B {
    CachePoint::default().into()
}

/// How many cache checkpoints the request sets, across `system`, `messages` and tools.
/// Bedrock accepts a limited number per request (4 for Anthropic models) and answers a
/// ValidationException beyond it; the translation keeps every one the client asked for.
pub fn cache_points(req: &ConverseRequest) -> usize {
    let is_point = |b: &&ContentBlock| matches!(b, ContentBlock::CachePoint(_));
    let tools = req.tool_config.as_ref().map_or(0, |t| {
        t.tools
            .iter()
            .filter(|t| matches!(t, wire::Tool::CachePoint(_)))
            .count()
    });
    req.system.iter().filter(is_point).count()
        + req
            .messages
            .iter()
            .map(|m| m.content.iter().filter(is_point).count())
            .sum::<usize>()
        + tools
}

/// Builds the Converse body for `req`.
pub fn to_converse(req: &ChatRequest) -> Result<ConverseRequest, BifrostError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(BifrostError::invalid_request(
            "Bedrock does not support n > 1",
        ));
    }
    check_unsupported(&req.extra)?;

    let (system, messages) = translate_messages(&req.messages)?;
    let has_tool_blocks = messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
    });

    let inference = InferenceConfig {
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.clone().map(|s| s.into_vec()),
    };
    let inference_config = (inference != InferenceConfig::default()).then_some(inference);

    let tool_config = tool_config(req, has_tool_blocks)?;

    // Claude on Bedrock takes Anthropic's own sampling and thinking fields here.
    let mut additional = Map::new();
    if let Some(k) = &req.top_k {
        additional.insert("top_k".to_owned(), Value::Number(k.clone()));
    }
    if let Some(thinking) = &req.thinking {
        additional.insert("thinking".to_owned(), thinking.clone());
    }
    let mut native = Map::new();
    for (key, value) in &req.extra {
        let key = key.as_str();
        if key == "additionalModelRequestFields" {
            continue;
        }
        if NATIVE_FIELDS.contains(&key) {
            native.insert(key.to_owned(), value.clone());
        } else if !DROPPED_FIELDS.contains(&key)
            && !matches!(key, "response_format" | "logprobs" | "top_logprobs")
        {
            additional.insert(key.to_owned(), value.clone());
        }
    }
    match req.extra.get("additionalModelRequestFields") {
        None | Some(Value::Null) => {}
        Some(Value::Object(fields)) => {
            additional.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(_) => {
            return Err(BifrostError::invalid_request(
                "'additionalModelRequestFields' must be an object",
            ))
        }
    }

    Ok(ConverseRequest {
        messages,
        system,
        inference_config,
        tool_config,
        additional_model_request_fields: additional,
        native,
    })
}

/// The OpenAI features Converse cannot honour, where ignoring them would change the answer.
fn check_unsupported(extra: &Extra) -> Result<(), BifrostError> {
    if extra.get("logprobs").and_then(Value::as_bool) == Some(true)
        || extra
            .get("top_logprobs")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 0)
    {
        return Err(BifrostError::invalid_request(
            "Bedrock Converse does not return logprobs",
        ));
    }
    match extra.get("response_format") {
        None | Some(Value::Null) => Ok(()),
        Some(rf) if rf.get("type").and_then(Value::as_str) == Some("text") => Ok(()),
        Some(rf) => Err(BifrostError::invalid_request(format!(
            "response_format {} is not supported for Bedrock Converse, which has no JSON mode; \
             define a tool with the schema and force it with tool_choice instead",
            rf.get("type").unwrap_or(rf)
        ))),
    }
}

fn tool_config(
    req: &ChatRequest,
    has_tool_blocks: bool,
) -> Result<Option<ToolConfig>, BifrostError> {
    let tools = req.tools.as_deref().unwrap_or_default();
    let choice = req
        .tool_choice
        .as_ref()
        .map(translate_tool_choice)
        .transpose()?;
    if tools.is_empty() {
        return match choice {
            Some(Choice::Required | Choice::Named(_)) => Err(BifrostError::invalid_request(
                "tool_choice requires at least one tool in 'tools'",
            )),
            _ => Ok(None),
        };
    }
    let tool_choice = match choice {
        // Auto is Converse's default; leaving it out also suits models that take no toolChoice.
        None => None,
        Some(Choice::Auto) => Some(ToolChoice::Auto {}),
        Some(Choice::Required) => Some(ToolChoice::Any {}),
        Some(Choice::Named(name)) => Some(ToolChoice::Tool { name }),
        Some(Choice::None) if has_tool_blocks => None,
        Some(Choice::None) => return Ok(None),
    };
    let mut specs = Vec::with_capacity(tools.len());
    for tool in tools {
        specs.push(tool_spec(tool)?);
        if tool.cache_control.is_some() {
            specs.push(cache_point());
        }
    }
    Ok(Some(ToolConfig {
        tools: specs,
        tool_choice,
    }))
}

enum Choice {
    Auto,
    None,
    Required,
    Named(String),
}

fn translate_tool_choice(tc: &Value) -> Result<Choice, BifrostError> {
    match tc {
        Value::String(s) => match s.as_str() {
            "auto" => return Ok(Choice::Auto),
            "none" => return Ok(Choice::None),
            "required" => return Ok(Choice::Required),
            _ => {}
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            if let Some(name) = super::super::named_function(o) {
                return Ok(Choice::Named(name.to_owned()));
            }
        }
        _ => {}
    }
    Err(BifrostError::invalid_request(format!(
        "unsupported tool_choice {tc} for Bedrock (expected \"auto\", \"none\", \"required\" \
         or {{\"type\":\"function\",\"function\":{{\"name\":…}}}})"
    )))
}

/// `toolSpec {name, description (unless empty), inputSchema.json}`.
fn tool_spec(tool: &Tool) -> Result<wire::Tool, BifrostError> {
    let f = super::super::function_tool(tool, "Bedrock")?;
    Ok(wire::Tool::ToolSpec(ToolSpec {
        name: f.name.clone(),
        description: f.description.clone().filter(|d| !d.is_empty()),
        input_schema: InputSchema::Json(super::super::parameters(f)),
    }))
}

/// Splits the conversation into `system[]` and alternating `messages[]`.
fn translate_messages(
    messages: &[ChatMessage],
) -> Result<(Vec<ContentBlock>, Vec<ConverseMessage>), BifrostError> {
    let mut system = Vec::new();
    let mut out: Vec<ConverseMessage> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let (role, mut blocks) = match msg.role.as_str() {
            "system" | "developer" => {
                system.extend(system_blocks(i, msg)?);
                if message_cached(msg) {
                    system.push(cache_point());
                }
                continue;
            }
            "user" => (Role::User, user_blocks(i, msg)?),
            "assistant" => (Role::Assistant, assistant_blocks(i, msg)?),
            "tool" => (Role::User, vec![tool_result(i, msg)?]),
            other => {
                return Err(BifrostError::invalid_request(format!(
                    "messages[{i}]: unsupported role '{other}' for Bedrock \
                     (expected system, developer, user, assistant or tool)"
                )))
            }
        };
        if blocks.is_empty() {
            continue;
        }
        if message_cached(msg) {
            blocks.push(cache_point());
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(ConverseMessage {
                role,
                content: blocks,
            }),
        }
    }
    Ok((system, out))
}

fn message_cached(msg: &ChatMessage) -> bool {
    msg.cache_control.is_some()
}

fn part_cached(part: &ContentPart) -> bool {
    part.cache_control.is_some()
}

/// A text block, or nothing for empty text.
fn text(t: &str) -> Option<ContentBlock> {
    (!t.is_empty()).then(|| ContentBlock::Text(t.to_owned()))
}

/// The blocks of a message's content: text content as one text block, each part from `block`
/// (which refuses a kind the role cannot carry), a part marked with `cache_control` followed by
/// a cache point.
fn content_blocks(
    msg: &ChatMessage,
    block: impl Fn(&ContentPart) -> Result<Option<ContentBlock>, BifrostError>,
) -> Result<Vec<ContentBlock>, BifrostError> {
    let mut out = Vec::new();
    match &msg.content {
        None => {}
        Some(MessageContent::Text(t)) => out.extend(text(t)),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                out.extend(block(part)?);
                if part_cached(part) {
                    out.push(cache_point());
                }
            }
        }
    }
    Ok(out)
}

fn system_blocks(i: usize, msg: &ChatMessage) -> Result<Vec<ContentBlock>, BifrostError> {
    content_blocks(msg, |part| match part.kind.as_str() {
        "text" => Ok(text(part.text.as_deref().unwrap_or_default())),
        other => Err(unsupported_part(i, &msg.role, other)),
    })
}

fn user_blocks(i: usize, msg: &ChatMessage) -> Result<Vec<ContentBlock>, BifrostError> {
    content_blocks(msg, |part| match part.kind.as_str() {
        "text" => Ok(text(part.text.as_deref().unwrap_or_default())),
        "image_url" => image_block(i, part).map(ContentBlock::Image).map(Some),
        "file" => document_block(i, part)
            .map(ContentBlock::Document)
            .map(Some),
        other => Err(unsupported_part(i, &msg.role, other)),
    })
}

fn assistant_blocks(i: usize, msg: &ChatMessage) -> Result<Vec<ContentBlock>, BifrostError> {
    let thinking = ThinkingBlock::read(&msg.extra).map_err(|e| {
        BifrostError::invalid_request(format!("messages[{i}].thinking_blocks: {e}"))
    })?;
    let mut out: Vec<ContentBlock> = thinking
        .into_iter()
        .map(|b| {
            ContentBlock::ReasoningContent(match b {
                ThinkingBlock::Thinking {
                    thinking,
                    signature,
                } => ReasoningContent {
                    reasoning_text: Some(ReasoningText {
                        text: thinking,
                        signature,
                    }),
                    ..ReasoningContent::default()
                },
                ThinkingBlock::RedactedThinking { data } => ReasoningContent {
                    redacted_content: Some(data),
                    ..ReasoningContent::default()
                },
            })
        })
        .collect();
    out.extend(content_blocks(msg, |part| match part.kind.as_str() {
        "text" => Ok(text(part.text.as_deref().unwrap_or_default())),
        // A refusal is text the model said.
        "refusal" => Ok(part
            .extra
            .get("refusal")
            .and_then(Value::as_str)
            .and_then(text)),
        other => Err(unsupported_part(i, &msg.role, other)),
    })?);
    for call in msg.tool_calls.as_deref().unwrap_or_default() {
        let input = super::super::tool_call_input(i, call)?;
        out.push(ContentBlock::ToolUse(ToolUse {
            tool_use_id: call.id.clone(),
            name: call.function.name.clone(),
            input,
        }));
    }
    Ok(out)
}

fn tool_result(i: usize, msg: &ChatMessage) -> Result<ContentBlock, BifrostError> {
    let id = msg.tool_call_id.as_deref().ok_or_else(|| {
        BifrostError::invalid_request(format!(
            "messages[{i}]: a tool message needs 'tool_call_id'"
        ))
    })?;
    let mut content = Vec::new();
    match &msg.content {
        None => {}
        Some(MessageContent::Text(t)) => content.push(result_text(t)),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                match part.kind.as_str() {
                    "text" => content.push(result_text(part.text.as_deref().unwrap_or_default())),
                    "image_url" => content.push(ToolResultContent::Image(image_block(i, part)?)),
                    other => return Err(unsupported_part(i, &msg.role, other)),
                }
            }
        }
    }
    if content.is_empty() {
        // Converse needs some content; an empty result is still a result.
        content.push(ToolResultContent::Text(String::new()));
    }
    let status = match msg.extra.get("status").and_then(Value::as_str) {
        Some(status @ ("success" | "error")) => Some(status.to_owned()),
        _ => None,
    };
    Ok(ContentBlock::ToolResult(ToolResult {
        tool_use_id: id.to_owned(),
        content,
        status,
    }))
}

/// A JSON object result keeps its structure (`{json}`); anything else is text.
fn result_text(t: &str) -> ToolResultContent {
    match serde_json::from_str::<Value>(t) {
        Ok(v @ Value::Object(_)) => ToolResultContent::Json(v),
        _ => ToolResultContent::Text(t.to_owned()),
    }
}

fn image_block(i: usize, part: &ContentPart) -> Result<Image, BifrostError> {
    let url = super::super::image_url(i, part)?;
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(BifrostError::invalid_request(format!(
            "messages[{i}]: Bedrock needs image bytes: send images as base64 data URLs \
             (data:image/png;base64,…), not links"
        )));
    };
    let (media_type, data) = rest.split_once(";base64,").ok_or_else(|| {
        BifrostError::invalid_request(format!(
            "messages[{i}]: a data URL image must look like data:<media type>;base64,<data>"
        ))
    })?;
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(BifrostError::invalid_request(format!(
                "messages[{i}]: image type '{other}' is not supported by Bedrock \
                 (png, jpeg, gif or webp)"
            )))
        }
    };
    Ok(Image {
        format: format.to_owned(),
        source: Source::Bytes(data.to_owned()),
    })
}

/// An OpenAI `file` part (a base64 data URL) → a Converse `document` block. Converse names the
/// format (`pdf`, `txt`, …) and needs a name of letters, digits, spaces, hyphens, parentheses
/// and brackets.
fn document_block(i: usize, part: &ContentPart) -> Result<Document, BifrostError> {
    let (media_type, data, name) = super::super::file_data(i, part, "Bedrock")?;
    let format = match media_type {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/html" => "html",
        "text/markdown" => "md",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        other => {
            return Err(BifrostError::invalid_request(format!(
                "messages[{i}]: Bedrock takes no documents of type '{other}'"
            )))
        }
    };
    let stem = name.map_or("document", |n| n.rsplit_once('.').map_or(n, |(s, _)| s));
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -()[]".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    Ok(Document {
        format: format.to_owned(),
        name,
        source: Source::Bytes(data.to_owned()),
    })
}

fn unsupported_part(i: usize, role: &str, kind: &str) -> BifrostError {
    BifrostError::invalid_request(format!(
        "messages[{i}]: content part type '{kind}' is not supported in {role} messages for Bedrock"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_fixtures::{
        audio_part, chat_request as request, claude_options, common_rejections,
        decoding_rejections, field, image_parts, lookup_tools, minimal_body, openai_options,
        parts_body, rejections, time_result, weather_and_time_calls, with_fields, with_tool_choice,
    };

    #[test]
    fn file_parts_become_converse_documents() {
        let out = translate(parts_body(
            "user",
            json!([{"type": "file", "file": {
                "filename": "Q3 report (final).pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "text", "text": "Summarise."}]),
        ));
        assert_eq!(
            out["messages"][0]["content"][0],
            json!({"document": {"format": "pdf", "name": "Q3 report (final)",
                                "source": {"bytes": "JVBERi0="}}})
        );
    }

    fn translate(body: Value) -> Value {
        serde_json::to_value(to_converse(&request(body)).unwrap()).unwrap()
    }

    #[test]
    fn full_conversation_with_images_tools_and_cache_points() {
        let mut time_result = time_result("tooluse_02");
        time_result["status"] = json!("success");
        let conversation = json!({
            "model": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
            "messages": [
                {"role": "system", "content": [
                    {"type": "text", "text": "You are a travel assistant.",
                     "cache_control": {"type": "ephemeral"}}
                ]},
                {"role": "developer", "content": "Answer in metric units."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Where was this taken, and what is the weather there?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}
                ]},
                {"role": "assistant", "content": "Paris, France. Let me check the weather.",
                 "reasoning_content": "The Eiffel tower is in Paris.",
                 "tool_calls": weather_and_time_calls("tooluse_01", "tooluse_02")},
                {"role": "tool", "tool_call_id": "tooluse_01", "content": "{\"temp_c\": 18, \"sky\": \"light rain\"}"},
                time_result,
                {"role": "user", "content": "Should I bring an umbrella?", "cache_control": {"type": "ephemeral"}},
                {"role": "assistant", "content": "Yes, light rain is expected."},
                {"role": "user", "content": "Thanks!"},
                {"role": "user", "content": "One more thing: is the Louvre open today?"}
            ]
        });
        let body = with_fields(conversation, claude_options());
        let body = with_fields(
            body,
            json!({
                "additionalModelRequestFields": {"anthropic_beta": ["token-efficient-tools-2025-02-19"]},
                "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
            }),
        );
        let out = translate(with_fields(
            body,
            openai_options(json!({"type": "text"}), false),
        ));
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn minimal_request_has_no_optional_sections() {
        let out = translate(json!({
            "model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": true
        }));
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
        );
    }

    #[test]
    fn cache_points_count_every_checkpoint() {
        let req = to_converse(&request(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": [
                    {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "b"}
                ], "cache_control": {"type": "ephemeral"}},
                {"role": "assistant", "content": "c"},
                {"role": "user", "content": "d", "cache_control": null}
            ],
            "tools": [{"type": "function", "function": {"name": "t"},
                       "cache_control": {"type": "ephemeral"}}]
        })))
        .unwrap();
        assert_eq!(cache_points(&req), 4);
        assert_eq!(req.system, vec![json!({"text": "sys"}), cache_point()]);
        assert_eq!(
            req.messages[0].content,
            vec![
                json!({"text": "a"}),
                cache_point(),
                json!({"text": "b"}),
                cache_point()
            ]
        );
        // `cache_control: null` is no checkpoint.
        assert_eq!(req.messages[2].content, vec![json!({"text": "d"})]);

        let plain = to_converse(&request(minimal_body(json!({})))).unwrap();
        assert_eq!(cache_points(&plain), 0);
    }

    #[test]
    fn tool_choice_variants() {
        let history = json!([
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                "function": {"name": "lookup", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "42"}
        ]);
        let cases = [
            ("absent", Value::Null, false),
            ("auto", json!("auto"), false),
            ("required", json!("required"), false),
            (
                "function",
                json!({"type": "function", "function": {"name": "lookup"}}),
                false,
            ),
            ("none", json!("none"), false),
            ("none_with_tool_history", json!("none"), true),
        ];
        let mut out = Map::new();
        for (name, choice, with_history) in cases {
            let mut body = minimal_body(json!({"tools": lookup_tools()}));
            if with_history {
                body["messages"] = history.clone();
            }
            let translated = translate(with_tool_choice(body, choice));
            out.insert(name.into(), field(&translated, "toolConfig"));
        }
        insta::assert_json_snapshot!(out);
    }

    #[test]
    fn tool_choice_auto_or_none_without_tools_adds_nothing() {
        for choice in ["auto", "none"] {
            let out = translate(minimal_body(json!({"tool_choice": choice, "tools": []})));
            assert!(out.get("toolConfig").is_none(), "{choice}");
        }
    }

    #[test]
    fn empty_messages_and_text_add_nothing() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": ""},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": null},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "again"}]},
                {"role": "tool", "tool_call_id": "t9", "content": ""}
            ]
        }));
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [
                {"text": "Hi"}, {"text": "again"},
                {"toolResult": {"toolUseId": "t9", "content": [{"text": ""}]}}
            ]}]})
        );
    }

    #[test]
    fn rejected_requests() {
        let cases = common_rejections()
            .into_iter()
            .chain(decoding_rejections())
            .chain([
                ("n_2", minimal_body(json!({"n": 2}))),
                ("logprobs", minimal_body(json!({"logprobs": true}))),
                ("top_logprobs", minimal_body(json!({"top_logprobs": 3}))),
                (
                    "response_format_json_schema",
                    minimal_body(json!({"response_format": {"type": "json_schema",
                        "json_schema": {"name": "x", "schema": {"type": "object"}}}})),
                ),
                (
                    "response_format_json_object",
                    minimal_body(json!({"response_format": {"type": "json_object"}})),
                ),
                (
                    "additional_fields_not_an_object",
                    minimal_body(json!({"additionalModelRequestFields": [1]})),
                ),
                (
                    "tool_choice_required_without_tools",
                    minimal_body(json!({"tool_choice": "required"})),
                ),
                (
                    "image_http_url",
                    parts_body("user", image_parts("https://example.com/cat.png")),
                ),
                (
                    "image_unsupported_type",
                    parts_body("user", image_parts("data:image/bmp;base64,Qk0=")),
                ),
                ("unsupported_part_type", parts_body("user", audio_part())),
            ]);
        let out = rejections(
            cases,
            |body| to_converse(&request(body)),
            |e| {
                assert_eq!(e.status, 400, "{}", e.message);
                Value::String(e.message.clone())
            },
        );
        insta::assert_json_snapshot!(out);
    }
}
