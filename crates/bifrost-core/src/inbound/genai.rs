//! The Google GenAI drop-in (`/genai/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent`, `:countTokens`, `:embedContent`, `:batchEmbedContents`): a
//! `GenerateContentRequest` → the unified chat request, and the unified answer →
//! `GenerateContentResponse`s, plain, streamed and as errors, so the google-genai SDKs can be
//! served by any provider; embedding requests likewise, see [`to_embedding`]. Pure functions; the body is camelCase
//! JSON, as the SDKs and Google's REST docs send it, read into and written from the types of
//! [`crate::wire::gemini`], which the Gemini provider uses too. Unknown fields are ignored.
//!
//! Request rules ([`to_chat`]):
//! - The model is the one in the URL, verbatim (it may carry a `provider/` prefix).
//! - `systemInstruction`: its text parts joined with `\n` → one leading `system` message; any
//!   other part is a 400.
//! - `contents[]`: role `user` (or absent, or the legacy `function`/`tool`) → a `user` message,
//!   `model` → an `assistant` message; any other role is a 400, as are empty `contents`.
//!   - `text` → text (a user turn of one text part is a plain string, else a list of parts; a
//!     model turn's texts are joined).
//!   - `inlineData` → `image/*`: an `image_url` data URL; `audio/wav`, `audio/mp3`/`audio/mpeg`:
//!     an `input_audio` part; `application/pdf`: a `file` part with a `file_data` data URL (named
//!     `document.pdf`). Other MIME types (video, text, …) are a 400: not every provider reads
//!     them, and dropping them would change the question.
//!   - `fileData` → an `image_url` with the `fileUri` when the MIME type is absent or `image/*`,
//!     else a 400. The URI is passed as is: a Gemini Files API URI only means something to Gemini.
//!   - `functionCall` (model turns) → an assistant `tool_calls` entry: the part's `id`, else
//!     `call_<n>` (n counts the calls of the request, from 0); `args` as JSON text (`{}` if none).
//!     A call without a name is a 400.
//!   - `functionResponse` (user turns) → a `tool` message whose content is the JSON text of
//!     `response` (`{}` if none). Its `tool_call_id` is the part's `id` when a call has that id;
//!     else the earliest not yet answered call of that `name`, else the latest call of that
//!     name; no such call is a 400 (every OpenAI-style upstream would refuse the orphan). A user
//!     turn's tool messages come before a user message holding its other parts, since OpenAI
//!     wants tool results right after the calls.
//!   - `thought: true` parts are dropped (thought summaries are the model's own, other providers
//!     take no reasoning in the history, and `thoughtSignature` means nothing to them);
//!     `thoughtSignature`, `videoMetadata`, `partMetadata` and `mediaResolution` are ignored.
//!   - Rejected (400): images or files in model turns, `functionCall` in user turns,
//!     `functionResponse` in model turns, `executableCode`/`codeExecutionResult` and any other
//!     part kind. A model turn left with nothing (only thoughts) is dropped; a user turn without
//!     parts is a 400.
//! - `tools[].functionDeclarations[]` → function tools (`name`, `description`, and
//!   `parametersJsonSchema`, else `parameters`, as the JSON Schema). Gemini's OpenAPI schema is
//!   made JSON Schema, see [`openai_schema`]. Any other tool (`googleSearch`,
//!   `googleSearchRetrieval`, `codeExecution`, `urlContext`, `retrieval`, `fileSearch`,
//!   `computerUse`, `googleMaps`, …) is a 400: only Gemini runs them. A declaration's
//!   `response`/`behavior` are dropped.
//! - `toolConfig.functionCallingConfig` → `tool_choice`: `AUTO` (and `MODE_UNSPECIFIED`) →
//!   `auto`; `VALIDATED` → `auto` (OpenAI has no "text or schema-checked call" mode); `NONE` →
//!   `none`; `ANY` → `required`, or the named function when `allowedFunctionNames` holds exactly
//!   one name. Other `allowedFunctionNames` lists (with `ANY`, `AUTO` or `VALIDATED`) keep only
//!   the listed tools, which is how an OpenAI request restricts the choice. A name not declared,
//!   or `ANY` without declarations, is a 400. `AUTO`/`NONE` without tools are dropped (OpenAI
//!   refuses a `tool_choice` without tools). `retrievalConfig` is dropped.
//! - `generationConfig`: `temperature`, `topP` → `top_p`, `topK` → `top_k`, `maxOutputTokens` →
//!   `max_tokens`, `stopSequences` → `stop`, `candidateCount` → `n`, `seed`, `presencePenalty`,
//!   `frequencyPenalty`. `responseMimeType`: `application/json` → `response_format`
//!   `json_schema` (named `response`) with `responseJsonSchema`, else `responseSchema` made JSON
//!   Schema, else `json_object`; `text/plain` or absent → nothing (a schema without the JSON
//!   MIME type is a 400, as at Gemini); other types (`text/x.enum`) are a 400.
//!   `thinkingConfig` → `reasoning_effort`, see [`reasoning_effort`]; `includeThoughts` is
//!   dropped (reasoning comes back when the upstream sends it). `responseModalities` other than
//!   `TEXT` and `responseLogprobs: true` are a 400 (the answer could not carry them). Every
//!   other field (`speechConfig`, `mediaResolution`, `logprobs` alone, …) is dropped.
//! - Dropped: `safetySettings` (OpenAI-style upstreams have no per-request safety thresholds and
//!   would refuse the field), `cachedContent` (a Gemini cache name means nothing elsewhere),
//!   `labels`.
//!
//! [`reasoning_effort`]: generation::reasoning_effort

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ContentPart, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, FunctionDef, ImageUrl, MessageContent, Stop, Tool,
    ToolCall, Usage,
};
use crate::wire::gemini::{
    self as wire, Blob, Candidate, Content, CountTokensResponse, FileData, FunctionCall,
    FunctionCallingConfig, FunctionResponse, GenerateContentRequest, GenerateContentResponse,
    GenerationConfig, Part, ThinkingConfig, UsageMetadata,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

mod response;
pub use response::{call_args, error_body, from_chat, usage_metadata, StreamEncoder};

mod embed;
pub use embed::{from_batch_embedding, from_embedding, to_batch_embedding, to_embedding};

mod tools;
pub use tools::openai_schema;
use tools::{tool_choice, translate_tools};

mod generation;
use generation::apply_generation_config;

/// Translates a `generateContent` body for `model` (from the URL) into a chat request.
pub fn to_chat(model: &str, body: &[u8]) -> Result<ChatRequest, BifrostError> {
    let body: GenerateContentRequest = serde_json::from_slice(body).map_err(bad_body)?;
    translate(model, body)
}

fn bad_body(e: serde_json::Error) -> BifrostError {
    BifrostError::invalid_request(format!("invalid GenerateContentRequest body: {e}"))
}

fn translate(model: &str, body: GenerateContentRequest) -> Result<ChatRequest, BifrostError> {
    let mut messages = Vec::new();
    if let Some(system) = &body.system_instruction {
        if let Some(text) = system_text(system)? {
            messages.push(ChatMessage::system(text));
        }
    }
    if body.contents.is_empty() {
        return Err(BifrostError::invalid_request(
            "'contents' must hold at least one turn",
        ));
    }
    translate_contents(&body.contents, &mut messages)?;

    let mut tools = translate_tools(&body.tools)?;
    let tool_choice = match body.tool_config.and_then(|c| c.function_calling_config) {
        Some(config) => tool_choice(&config, &mut tools)?,
        None => None,
    };

    let mut req = ChatRequest {
        model: model.to_owned(),
        messages,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        ..ChatRequest::default()
    };
    if let Some(config) = body.generation_config {
        apply_generation_config(&config, &mut req)?;
    }
    Ok(req)
}

fn system_text(system: &Content) -> Result<Option<String>, BifrostError> {
    let mut texts = Vec::new();
    for (j, part) in system.parts.iter().enumerate() {
        match classify(part) {
            Ok(Some(PartKind::Text(t))) => texts.push(t),
            Ok(None) => {}
            _ => {
                return Err(BifrostError::invalid_request(format!(
                    "systemInstruction.parts[{j}]: only text parts are supported in the system \
                     instruction"
                )))
            }
        }
    }
    Ok((!texts.is_empty()).then(|| texts.join("\n")))
}

/// What one part holds.
enum PartKind<'a> {
    Text(&'a str),
    Inline(&'a Blob),
    File(&'a FileData),
    Call(&'a FunctionCall),
    Response(&'a FunctionResponse),
}

/// Part fields that only annotate the data beside them (besides `thought` and
/// `thoughtSignature`, which [`Part`] reads itself).
const ANNOTATIONS: &[&str] = &["videoMetadata", "partMetadata", "mediaResolution"];

/// `Ok(None)`: a part with nothing to translate. `Err` names the unsupported keys.
fn classify(part: &Part) -> Result<Option<PartKind<'_>>, String> {
    if let Some(t) = &part.text {
        return Ok(Some(PartKind::Text(t)));
    }
    if let Some(b) = &part.inline_data {
        return Ok(Some(PartKind::Inline(b)));
    }
    if let Some(f) = &part.file_data {
        return Ok(Some(PartKind::File(f)));
    }
    if let Some(c) = &part.function_call {
        return Ok(Some(PartKind::Call(c)));
    }
    if let Some(r) = &part.function_response {
        return Ok(Some(PartKind::Response(r)));
    }
    let unknown: Vec<&str> = part
        .extra
        .iter()
        .filter(|(k, v)| !v.is_null() && !ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, _)| k.as_str())
        .collect();
    if unknown.is_empty() {
        Ok(None)
    } else {
        Err(unknown.join(", "))
    }
}

/// A function call seen in the history, to pair with its response.
struct CallRecord {
    id: String,
    name: String,
    answered: bool,
}

fn translate_contents(
    contents: &[Content],
    messages: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    let mut calls: Vec<CallRecord> = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let parts = content.parts.as_slice();
        match content.role.as_deref().unwrap_or("user") {
            "model" => {
                if let Some(msg) = model_turn(i, parts, &mut calls)? {
                    messages.push(msg);
                }
            }
            "user" | "function" | "tool" => user_turn(i, parts, &mut calls, messages)?,
            other => {
                return Err(BifrostError::invalid_request(format!(
                    "contents[{i}]: unsupported role '{other}' (expected user or model)"
                )))
            }
        }
    }
    Ok(())
}

fn unsupported_part(i: usize, j: usize, what: &str) -> BifrostError {
    BifrostError::invalid_request(format!("contents[{i}].parts[{j}]: {what}"))
}

/// The parts of turn `i` the translation reads, classified with their index; thoughts are
/// skipped, and a part of an unknown kind is an error naming the `role`'s turn.
fn turn_parts<'p>(
    i: usize,
    parts: &'p [Part],
    role: &'static str,
) -> impl Iterator<Item = Result<(usize, PartKind<'p>), BifrostError>> {
    let read = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.thought != Some(true));
    read.filter_map(move |(j, part)| match classify(part) {
        Ok(kind) => kind.map(|k| Ok((j, k))),
        Err(keys) => Some(Err(unsupported_part(
            i,
            j,
            &format!("unsupported part ({keys}) in a {role} turn"),
        ))),
    })
}

fn model_turn(
    i: usize,
    parts: &[Part],
    calls: &mut Vec<CallRecord>,
) -> Result<Option<ChatMessage>, BifrostError> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for item in turn_parts(i, parts, "model") {
        let (j, kind) = item?;
        match kind {
            PartKind::Text(t) => text.push_str(t),
            PartKind::Call(call) if call.name.is_empty() => {
                return Err(unsupported_part(i, j, "a functionCall needs a name"))
            }
            PartKind::Call(call) => {
                let id = call.call_id(calls.len());
                calls.push(CallRecord {
                    id: id.clone(),
                    name: call.name.clone(),
                    answered: false,
                });
                tool_calls.push(ToolCall::function(id, call.name.clone(), call.arguments()));
            }
            PartKind::Inline(_) | PartKind::File(_) => {
                return Err(unsupported_part(
                    i,
                    j,
                    "a model turn may hold only text and function calls (assistant messages \
                     carry no media)",
                ))
            }
            PartKind::Response(_) => {
                return Err(unsupported_part(
                    i,
                    j,
                    "a functionResponse belongs in a user turn",
                ))
            }
        }
    }
    if text.is_empty() && tool_calls.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChatMessage {
        role: "assistant".to_owned(),
        content: (!text.is_empty()).then_some(MessageContent::Text(text)),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        ..ChatMessage::default()
    }))
}

fn user_turn(
    i: usize,
    parts: &[Part],
    calls: &mut [CallRecord],
    messages: &mut Vec<ChatMessage>,
) -> Result<(), BifrostError> {
    let mut content: Vec<ContentPart> = Vec::new();
    let mut results: Vec<ChatMessage> = Vec::new();
    for item in turn_parts(i, parts, "user") {
        let (j, kind) = item?;
        match kind {
            PartKind::Text("") => {}
            PartKind::Text(t) => content.push(ContentPart {
                kind: "text".to_owned(),
                text: Some(t.to_owned()),
                ..ContentPart::default()
            }),
            PartKind::Inline(blob) => content.push(inline_part(i, j, blob)?),
            PartKind::File(file) => content.push(file_part(i, j, file)?),
            PartKind::Response(resp) => {
                let id = answer(i, j, resp, calls)?;
                let response = match &resp.response {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(v) => v.to_string(),
                };
                results.push(ChatMessage {
                    role: "tool".to_owned(),
                    content: Some(MessageContent::Text(response)),
                    tool_call_id: Some(id),
                    ..ChatMessage::default()
                });
            }
            PartKind::Call(_) => {
                return Err(unsupported_part(
                    i,
                    j,
                    "a functionCall belongs in a model turn",
                ))
            }
        }
    }
    if content.is_empty() && results.is_empty() {
        return Err(BifrostError::invalid_request(format!(
            "contents[{i}]: a user turn needs at least one non-empty part"
        )));
    }
    messages.extend(results);
    if !content.is_empty() {
        let content = match content.as_slice() {
            [only] if only.kind == "text" => {
                MessageContent::Text(only.text.clone().unwrap_or_default())
            }
            _ => MessageContent::Parts(content),
        };
        messages.push(ChatMessage {
            role: "user".to_owned(),
            content: Some(content),
            ..ChatMessage::default()
        });
    }
    Ok(())
}

/// The id of the call a function response answers; marks that call answered.
fn answer(
    i: usize,
    j: usize,
    resp: &FunctionResponse,
    calls: &mut [CallRecord],
) -> Result<String, BifrostError> {
    let by_id = resp
        .id
        .as_deref()
        .filter(|id| !id.is_empty())
        .and_then(|id| calls.iter().position(|c| c.id == id));
    let pos = by_id
        .or_else(|| {
            calls
                .iter()
                .position(|c| c.name == resp.name && !c.answered)
        })
        .or_else(|| calls.iter().rposition(|c| c.name == resp.name))
        .ok_or_else(|| {
            unsupported_part(
                i,
                j,
                &format!(
                    "functionResponse '{}' answers no earlier functionCall of that name",
                    resp.name
                ),
            )
        })?;
    calls[pos].answered = true;
    Ok(calls[pos].id.clone())
}

fn inline_part(i: usize, j: usize, blob: &Blob) -> Result<ContentPart, BifrostError> {
    let mime = blob.mime_type.trim().to_ascii_lowercase();
    let data_url = || format!("data:{mime};base64,{}", blob.data);
    if mime.starts_with("image/") {
        return Ok(ContentPart {
            kind: "image_url".to_owned(),
            image_url: Some(ImageUrl {
                url: data_url(),
                detail: None,
            }),
            ..ContentPart::default()
        });
    }
    let mut extra = Map::new();
    let kind = match mime.as_str() {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/mp3" | "audio/mpeg" => {
            let format = if mime.contains("wav") { "wav" } else { "mp3" };
            extra.insert(
                "input_audio".into(),
                json!({ "data": blob.data, "format": format }),
            );
            "input_audio"
        }
        "application/pdf" => {
            extra.insert(
                "file".into(),
                json!({ "filename": "document.pdf", "file_data": data_url() }),
            );
            "file"
        }
        _ => {
            return Err(unsupported_part(
                i,
                j,
                &format!(
                    "inlineData of type '{}' is not supported through /genai (images, WAV/MP3 \
                     audio and PDF only)",
                    blob.mime_type
                ),
            ))
        }
    };
    Ok(ContentPart {
        kind: kind.to_owned(),
        extra,
        ..ContentPart::default()
    })
}

fn file_part(i: usize, j: usize, file: &FileData) -> Result<ContentPart, BifrostError> {
    match file.mime_type.as_deref() {
        None => {}
        Some(m) if m.to_ascii_lowercase().starts_with("image/") => {}
        Some(other) => {
            return Err(unsupported_part(
                i,
                j,
                &format!(
                    "fileData of type '{other}' is not supported through /genai (images only)"
                ),
            ))
        }
    }
    Ok(ContentPart {
        kind: "image_url".to_owned(),
        image_url: Some(ImageUrl {
            url: file.file_uri.clone(),
            detail: None,
        }),
        ..ContentPart::default()
    })
}

/// Estimates the prompt size of a `countTokens` body (`{"contents":…}` or
/// `{"generateContentRequest":{…}}`) as `{"totalTokens": n}`, without asking any provider: the
/// request is translated as for `generateContent` (so it is validated the same way), then
/// n = ⌈characters / 4⌉ over the message texts, tool call names and arguments, tool results and
/// tool declarations (name, description, schema JSON), plus 258 per image, audio or PDF part
/// (Gemini's count for one image), and at least 1.
pub fn count_tokens(model: &str, body: &[u8]) -> Result<Value, BifrostError> {
    let mut value: Value = serde_json::from_slice(body).map_err(bad_body)?;
    let inner = match value.get_mut("generateContentRequest") {
        Some(v @ Value::Object(_)) => v.take(),
        _ => value,
    };
    let req = translate(model, serde_json::from_value(inner).map_err(bad_body)?)?;
    const MEDIA_TOKENS: u64 = 258;
    let mut chars = 0usize;
    let mut media = 0u64;
    for msg in &req.messages {
        match &msg.content {
            None => {}
            Some(MessageContent::Text(t)) => chars += t.chars().count(),
            Some(MessageContent::Parts(parts)) => {
                for p in parts {
                    match &p.text {
                        Some(t) => chars += t.chars().count(),
                        None => media += 1,
                    }
                }
            }
        }
        for call in msg.tool_calls.iter().flatten() {
            chars += call.function.name.chars().count() + call.function.arguments.chars().count();
        }
    }
    for tool in req.tools.iter().flatten() {
        let f = &tool.function;
        chars += f.name.chars().count();
        chars += f.description.as_deref().map_or(0, |d| d.chars().count());
        chars += f
            .parameters
            .as_ref()
            .map_or(0, |p| p.to_string().chars().count());
    }
    let total = (chars as u64).div_ceil(4) + media * MEDIA_TOKENS;
    let answer = CountTokensResponse {
        total_tokens: total.max(1),
    };
    Ok(serde_json::to_value(answer).unwrap_or_default())
}

#[cfg(test)]
mod tests;
