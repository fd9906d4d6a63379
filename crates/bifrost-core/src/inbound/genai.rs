//! The Google GenAI drop-in (`/genai/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent`, `:countTokens`, `:embedContent`, `:batchEmbedContents`): a
//! `GenerateContentRequest` → the unified chat request, and the unified answer →
//! `GenerateContentResponse`s, plain, streamed and as errors, so the google-genai SDKs can be
//! served by any provider; embedding requests likewise, see [`to_embedding`]. Pure functions; the body is camelCase
//! JSON, as the SDKs and Google's REST docs send it. Unknown fields are ignored.
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

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, ContentPart, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, FunctionCall, FunctionDef, ImageUrl, MessageContent, Stop,
    Tool, ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The fields of a `GenerateContentRequest` the translation reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentBody {
    #[serde(default)]
    contents: Option<Vec<Content>>,
    #[serde(default)]
    system_instruction: Option<Content>,
    #[serde(default)]
    tools: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    tool_config: Option<ToolConfig>,
    #[serde(default)]
    generation_config: Option<GenerationConfig>,
}

#[derive(Debug, Default, Deserialize)]
struct Content {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    parts: Option<Vec<Part>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    inline_data: Option<Blob>,
    #[serde(default)]
    file_data: Option<FileData>,
    #[serde(default)]
    function_call: Option<GenaiFunctionCall>,
    #[serde(default)]
    function_response: Option<GenaiFunctionResponse>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    data: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileData {
    #[serde(default)]
    mime_type: Option<String>,
    file_uri: String,
}

#[derive(Debug, Default, Deserialize)]
struct GenaiFunctionCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct GenaiFunctionResponse {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    response: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    parameters_json_schema: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    #[serde(default)]
    function_calling_config: Option<FunctionCallingConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<f64>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    candidate_count: Option<u32>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    presence_penalty: Option<f64>,
    #[serde(default)]
    frequency_penalty: Option<f64>,
    #[serde(default)]
    response_mime_type: Option<String>,
    #[serde(default)]
    response_schema: Option<Value>,
    #[serde(default)]
    response_json_schema: Option<Value>,
    #[serde(default)]
    response_modalities: Option<Vec<String>>,
    #[serde(default)]
    response_logprobs: Option<bool>,
    #[serde(default)]
    thinking_config: Option<ThinkingConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    #[serde(default)]
    thinking_budget: Option<i64>,
    #[serde(default)]
    thinking_level: Option<String>,
}

/// Translates a `generateContent` body for `model` (from the URL) into a chat request.
pub fn to_chat(model: &str, body: &[u8]) -> Result<ChatRequest, BifrostError> {
    let body: GenerateContentBody = serde_json::from_slice(body).map_err(bad_body)?;
    translate(model, body)
}

fn bad_body(e: serde_json::Error) -> BifrostError {
    BifrostError::invalid_request(format!("invalid GenerateContentRequest body: {e}"))
}

fn translate(model: &str, body: GenerateContentBody) -> Result<ChatRequest, BifrostError> {
    let mut messages = Vec::new();
    if let Some(system) = &body.system_instruction {
        if let Some(text) = system_text(system)? {
            messages.push(ChatMessage::system(text));
        }
    }
    let contents = body.contents.unwrap_or_default();
    if contents.is_empty() {
        return Err(BifrostError::invalid_request(
            "'contents' must hold at least one turn",
        ));
    }
    translate_contents(&contents, &mut messages)?;

    let mut tools = translate_tools(body.tools.as_deref().unwrap_or_default())?;
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
    for (j, part) in system
        .parts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
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
    Call(&'a GenaiFunctionCall),
    Response(&'a GenaiFunctionResponse),
}

/// Part fields that only annotate the data beside them.
const ANNOTATIONS: &[&str] = &[
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
    "mediaResolution",
];

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
        let parts = content.parts.as_deref().unwrap_or_default();
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

fn model_turn(
    i: usize,
    parts: &[Part],
    calls: &mut Vec<CallRecord>,
) -> Result<Option<ChatMessage>, BifrostError> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        if part.thought == Some(true) {
            continue;
        }
        let kind = classify(part).map_err(|keys| {
            unsupported_part(i, j, &format!("unsupported part ({keys}) in a model turn"))
        })?;
        match kind {
            None => {}
            Some(PartKind::Text(t)) => text.push_str(t),
            Some(PartKind::Call(call)) => {
                let id = match &call.id {
                    Some(id) if !id.is_empty() => id.clone(),
                    _ => format!("call_{}", calls.len()),
                };
                let arguments = match &call.args {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(args) => args.to_string(),
                };
                calls.push(CallRecord {
                    id: id.clone(),
                    name: call.name.clone(),
                    answered: false,
                });
                tool_calls.push(ToolCall {
                    id,
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: call.name.clone(),
                        arguments,
                    },
                });
            }
            Some(PartKind::Inline(_) | PartKind::File(_)) => {
                return Err(unsupported_part(
                    i,
                    j,
                    "a model turn may hold only text and function calls (assistant messages \
                     carry no media)",
                ))
            }
            Some(PartKind::Response(_)) => {
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
    for (j, part) in parts.iter().enumerate() {
        if part.thought == Some(true) {
            continue;
        }
        let kind = classify(part).map_err(|keys| {
            unsupported_part(i, j, &format!("unsupported part ({keys}) in a user turn"))
        })?;
        match kind {
            None => {}
            Some(PartKind::Text("")) => {}
            Some(PartKind::Text(t)) => content.push(ContentPart {
                kind: "text".to_owned(),
                text: Some(t.to_owned()),
                ..ContentPart::default()
            }),
            Some(PartKind::Inline(blob)) => content.push(inline_part(i, j, blob)?),
            Some(PartKind::File(file)) => content.push(file_part(i, j, file)?),
            Some(PartKind::Response(resp)) => {
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
            Some(PartKind::Call(_)) => {
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
    resp: &GenaiFunctionResponse,
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

fn translate_tools(tools: &[Map<String, Value>]) -> Result<Vec<Tool>, BifrostError> {
    let mut out = Vec::new();
    for (t, tool) in tools.iter().enumerate() {
        for (key, value) in tool {
            if value.is_null() {
                continue;
            }
            if key != "functionDeclarations" {
                return Err(BifrostError::invalid_request(format!(
                    "tools[{t}]: the '{key}' tool is not supported through /genai; only \
                     functionDeclarations can be served by every provider"
                )));
            }
            let decls: Vec<FunctionDeclaration> =
                serde_json::from_value(value.clone()).map_err(|e| {
                    BifrostError::invalid_request(format!("tools[{t}].functionDeclarations: {e}"))
                })?;
            out.extend(decls.into_iter().map(|d| {
                Tool {
                    kind: "function".to_owned(),
                    function: FunctionDef {
                        name: d.name,
                        description: d.description,
                        parameters: d
                            .parameters_json_schema
                            .or(d.parameters)
                            .filter(|p| !p.is_null())
                            .map(|p| openai_schema(&p)),
                        extra: Map::new(),
                    },
                    extra: Map::new(),
                }
            }));
        }
    }
    Ok(out)
}

/// Gemini's OpenAPI-style `Schema` → JSON Schema: `type` names are lowercased (`OBJECT` →
/// `object`, so OpenAI-style upstreams accept them), and `nullable: true` becomes a `"null"`
/// alternative in `type` (and in `enum`, if any). Only schema positions are visited (`properties`, `items`, `anyOf`, …),
/// never `enum`, `default` or `example` values. Other keywords pass unchanged.
pub fn openai_schema(schema: &Value) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let each_value = |v: &Value| match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, s)| (k.clone(), openai_schema(s)))
                .collect(),
        ),
        other => other.clone(),
    };
    let each_item = |v: &Value| match v {
        Value::Array(a) => Value::Array(a.iter().map(openai_schema).collect()),
        other => other.clone(),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let value = match key.as_str() {
            "type" => lowercase_type(value),
            "properties" | "$defs" | "definitions" | "patternProperties" => each_value(value),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => each_item(value),
            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" => {
                openai_schema(value)
            }
            "nullable" => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
                // An `enum` must admit the null too, or the widened type means nothing.
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
            }
            // Without a single type there is nothing to widen; keep the annotation.
            _ => {
                out.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
    Value::Object(out)
}

fn lowercase_type(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Array(a) => Value::Array(a.iter().map(lowercase_type).collect()),
        other => other.clone(),
    }
}

/// `Ok(None)`: no `tool_choice` to send. May narrow `tools` to `allowedFunctionNames`.
fn tool_choice(
    config: &FunctionCallingConfig,
    tools: &mut Vec<Tool>,
) -> Result<Option<Value>, BifrostError> {
    let mode = config
        .mode
        .as_deref()
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    let names = config.allowed_function_names.as_deref().unwrap_or_default();
    if let Some(missing) = names
        .iter()
        .find(|n| !tools.iter().any(|t| &t.function.name == *n))
    {
        return Err(BifrostError::invalid_request(format!(
            "toolConfig.functionCallingConfig.allowedFunctionNames names '{missing}', which is \
             not among the functionDeclarations"
        )));
    }
    let choice = match mode.as_str() {
        "AUTO" | "MODE_UNSPECIFIED" | "VALIDATED" => "auto",
        "NONE" => "none",
        "ANY" => "required",
        other => {
            return Err(BifrostError::invalid_request(format!(
                "unsupported functionCallingConfig mode '{other}' (expected AUTO, ANY, NONE or \
                 VALIDATED)"
            )))
        }
    };
    if tools.is_empty() {
        return match choice {
            "required" => Err(BifrostError::invalid_request(
                "functionCallingConfig mode ANY needs at least one functionDeclaration",
            )),
            _ => Ok(None),
        };
    }
    match (choice, names) {
        ("required", [only]) => Ok(Some(
            json!({"type": "function", "function": {"name": only}}),
        )),
        ("none", _) | (_, []) => Ok(Some(Value::String(choice.to_owned()))),
        (_, names) => {
            tools.retain(|t| names.contains(&t.function.name));
            Ok(Some(Value::String(choice.to_owned())))
        }
    }
}

fn apply_generation_config(
    config: &GenerationConfig,
    req: &mut ChatRequest,
) -> Result<(), BifrostError> {
    if let Some(modality) = config
        .response_modalities
        .iter()
        .flatten()
        .find(|m| !m.eq_ignore_ascii_case("text"))
    {
        return Err(BifrostError::invalid_request(format!(
            "responseModalities '{modality}' is not supported through /genai (TEXT only)"
        )));
    }
    if config.response_logprobs == Some(true) {
        return Err(BifrostError::invalid_request(
            "responseLogprobs is not supported through /genai",
        ));
    }
    req.temperature = config.temperature;
    req.top_p = config.top_p;
    req.max_tokens = config.max_output_tokens;
    req.stop = config.stop_sequences.clone().map(Stop::Many);
    req.n = config.candidate_count;
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            req.extra.insert(key.to_owned(), v);
        }
    };
    put("top_k", config.top_k.map(number));
    put("seed", config.seed.map(Value::from));
    put("presence_penalty", config.presence_penalty.map(number));
    put("frequency_penalty", config.frequency_penalty.map(number));
    put("response_format", response_format(config)?);
    if let Some(thinking) = &config.thinking_config {
        put(
            "reasoning_effort",
            reasoning_effort(thinking)?.map(Value::from),
        );
    }
    Ok(())
}

/// Integral floats print as integers (`topK: 40` stays `40`, not `40.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

fn response_format(config: &GenerationConfig) -> Result<Option<Value>, BifrostError> {
    let schema = config
        .response_json_schema
        .clone()
        .or_else(|| config.response_schema.as_ref().map(openai_schema))
        .filter(|s| !s.is_null());
    let mime = config
        .response_mime_type
        .as_deref()
        .map(str::to_ascii_lowercase);
    match mime.as_deref() {
        Some("application/json") => Ok(Some(match schema {
            Some(schema) => json!({
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema}
            }),
            None => json!({"type": "json_object"}),
        })),
        None | Some("text/plain") if schema.is_some() => Err(BifrostError::invalid_request(
            "a response schema needs responseMimeType 'application/json'",
        )),
        None | Some("text/plain") => Ok(None),
        Some(other) => Err(BifrostError::invalid_request(format!(
            "responseMimeType '{other}' is not supported through /genai (text/plain or \
             application/json)"
        ))),
    }
}

/// `thinkingConfig` → `reasoning_effort`. `thinkingLevel` (`MINIMAL`, `LOW`, `MEDIUM`, `HIGH`,
/// any case) is the effort of that name. Otherwise `thinkingBudget`: 0 → `none`; up to 1024 →
/// `low`; up to 8192 → `medium`; above → `high` (the inverse of the budgets the outbound Gemini
/// translation sends); -1 (dynamic) or no budget → nothing, the upstream's default.
fn reasoning_effort(config: &ThinkingConfig) -> Result<Option<&'static str>, BifrostError> {
    if let Some(level) = &config.thinking_level {
        return match level.to_ascii_lowercase().as_str() {
            "minimal" => Ok(Some("minimal")),
            "low" => Ok(Some("low")),
            "medium" => Ok(Some("medium")),
            "high" => Ok(Some("high")),
            "thinking_level_unspecified" => Ok(None),
            _ => Err(BifrostError::invalid_request(format!(
                "unsupported thinkingLevel '{level}' (expected MINIMAL, LOW, MEDIUM or HIGH)"
            ))),
        };
    }
    Ok(match config.thinking_budget {
        None => None,
        Some(b) if b < 0 => None,
        Some(0) => Some("none"),
        Some(1..=1024) => Some("low"),
        Some(1025..=8192) => Some("medium"),
        Some(_) => Some("high"),
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
    Ok(json!({ "totalTokens": total.max(1) }))
}

/// The fields of an `EmbedContentRequest` the translation reads; `taskType` and `title` are
/// dropped (OpenAI-style embedding APIs have neither).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedContentBody {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    output_dimensionality: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct BatchEmbedBody {
    #[serde(default)]
    requests: Vec<EmbedContentBody>,
}

/// Translates an `embedContent` body for `model` (from the URL) into an embeddings request of
/// one input: the content's text parts joined with `\n` (Google embeds one content as one
/// vector). `outputDimensionality` → `dimensions`. A content without text, or with any other
/// part kind (Google's multimodal embeddings), is a 400.
pub fn to_embedding(model: &str, body: &[u8]) -> Result<EmbeddingRequest, BifrostError> {
    let body: EmbedContentBody = serde_json::from_slice(body).map_err(bad_embed_body)?;
    let text = embed_text(body.content.as_ref(), "content")?;
    Ok(EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Text(text),
        dimensions: body.output_dimensionality,
        ..EmbeddingRequest::default()
    })
}

/// Translates a `batchEmbedContents` body (`{"requests":[EmbedContentRequest…]}`) into one
/// embeddings request whose inputs are the requests' contents, in order (see
/// [`to_embedding`]). As at Google, each request's `model` (`models/…`, or absent) must be the
/// URL's; their `outputDimensionality` must agree, since one upstream call serves them all.
pub fn to_batch_embedding(model: &str, body: &[u8]) -> Result<EmbeddingRequest, BifrostError> {
    let body: BatchEmbedBody = serde_json::from_slice(body).map_err(bad_embed_body)?;
    if body.requests.is_empty() {
        return Err(BifrostError::invalid_request(
            "batchEmbedContents needs at least one request",
        ));
    }
    let mut texts = Vec::with_capacity(body.requests.len());
    let dimensions = body.requests[0].output_dimensionality;
    for (i, r) in body.requests.iter().enumerate() {
        if let Some(m) = r.model.as_deref() {
            let m = m.strip_prefix("models/").unwrap_or(m);
            if m != model {
                return Err(BifrostError::invalid_request(format!(
                    "requests[{i}].model is '{m}', but the batch is for '{model}'"
                )));
            }
        }
        if r.output_dimensionality != dimensions {
            return Err(BifrostError::invalid_request(format!(
                "requests[{i}].outputDimensionality differs from requests[0]'s; one batch \
                 has one size"
            )));
        }
        texts.push(embed_text(
            r.content.as_ref(),
            &format!("requests[{i}].content"),
        )?);
    }
    Ok(EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Texts(texts),
        dimensions,
        ..EmbeddingRequest::default()
    })
}

fn bad_embed_body(e: serde_json::Error) -> BifrostError {
    BifrostError::invalid_request(format!("invalid embedding request body: {e}"))
}

/// The text of one content to embed; `at` names it in errors.
fn embed_text(content: Option<&Content>, at: &str) -> Result<String, BifrostError> {
    let parts = content.and_then(|c| c.parts.as_deref()).unwrap_or_default();
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match &part.text {
            Some(t) => texts.push(t.as_str()),
            None => {
                return Err(BifrostError::invalid_request(format!(
                    "{at}.parts[{j}]: only text can be embedded here"
                )))
            }
        }
    }
    if texts.is_empty() {
        return Err(BifrostError::invalid_request(format!(
            "{at} has no text to embed"
        )));
    }
    Ok(texts.join("\n"))
}

/// An embeddings answer of one input → an `EmbedContentResponse`:
/// `{"embedding":{"values":[…]}}`.
pub fn from_embedding(resp: &EmbeddingResponse) -> Value {
    let values = embeddings_in_order(resp).next().unwrap_or(Value::Null);
    json!({ "embedding": { "values": values } })
}

/// An embeddings answer → a `BatchEmbedContentsResponse`: `{"embeddings":[{"values":[…]}…]}`,
/// in input order.
pub fn from_batch_embedding(resp: &EmbeddingResponse) -> Value {
    let embeddings: Vec<Value> = embeddings_in_order(resp)
        .map(|values| json!({ "values": values }))
        .collect();
    json!({ "embeddings": embeddings })
}

/// The vectors by their `index` (upstreams may answer out of order).
fn embeddings_in_order(resp: &EmbeddingResponse) -> impl Iterator<Item = Value> + '_ {
    let mut data: Vec<_> = resp.data.iter().collect();
    data.sort_by_key(|e| e.index);
    data.into_iter().map(|e| e.embedding.clone())
}

/// A chat completion → a `GenerateContentResponse`: one candidate per choice, whose parts are
/// the reasoning (`{"text", "thought": true}`), the text (or the refusal, when there is no
/// text), then a `functionCall` per tool call (`id`, `name`, `args` = the arguments parsed; see
/// [`call_args`]). `finishReason`, see [`reasons::gemini::from_openai`]; `usageMetadata`, see
/// [`usage_metadata`]; `modelVersion` is `model`, `responseId` the completion's id.
pub fn from_chat(resp: &ChatCompletion, model: &str) -> Value {
    let candidates: Vec<Value> = resp
        .choices
        .iter()
        .map(|choice| {
            let msg = &choice.message;
            let mut parts = Vec::new();
            if let Some(r) = reasoning(&msg.extra) {
                parts.push(json!({"text": r, "thought": true}));
            }
            let text = msg
                .text_content()
                .filter(|t| !t.is_empty())
                .or_else(|| str_field(&msg.extra, "refusal"));
            if let Some(text) = text {
                parts.push(json!({ "text": text }));
            }
            for call in msg.tool_calls.iter().flatten() {
                parts.push(function_call_part(
                    &call.id,
                    &call.function.name,
                    &call.function.arguments,
                ));
            }
            candidate(parts, choice.finish_reason.as_deref(), choice.index)
        })
        .collect();
    let mut out = json!({
        "candidates": candidates,
        "modelVersion": model,
        "responseId": resp.id,
    });
    if let Some(usage) = &resp.usage {
        out["usageMetadata"] = usage_metadata(usage);
    }
    out
}

fn reasoning(extra: &Map<String, Value>) -> Option<String> {
    str_field(extra, "reasoning_content")
}

/// A non-empty string field of an `extra` map.
fn str_field(extra: &Map<String, Value>, key: &str) -> Option<String> {
    extra
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn candidate(parts: Vec<Value>, finish: Option<&str>, index: u32) -> Value {
    let mut c = json!({
        "content": {"role": "model", "parts": parts},
        "index": index,
    });
    if let Some(reason) = finish {
        c["finishReason"] = Value::from(reasons::gemini::from_openai(reason));
    }
    c
}

fn function_call_part(id: &str, name: &str, arguments: &str) -> Value {
    let mut call = json!({ "name": name, "args": call_args(arguments) });
    if !id.is_empty() {
        call["id"] = Value::from(id);
    }
    json!({ "functionCall": call })
}

/// Gemini's `args` is an object: the arguments parsed when they are one, `{}` when empty, and
/// otherwise (invalid JSON, a non-object) `{"arguments": <the text>}` so nothing is lost.
pub fn call_args(arguments: &str) -> Value {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "arguments": arguments }),
    }
}

/// OpenAI usage → `usageMetadata`: `promptTokenCount` = `prompt_tokens`; Gemini counts thoughts
/// apart, so `candidatesTokenCount` = `completion_tokens` − `reasoning_tokens` and
/// `thoughtsTokenCount` = `completion_tokens_details.reasoning_tokens` (when non-zero);
/// `cachedContentTokenCount` = `prompt_tokens_details.cached_tokens` (when non-zero);
/// `totalTokenCount` = `total_tokens` (else prompt + completion).
pub fn usage_metadata(usage: &Usage) -> Value {
    let detail = |outer: &str, inner: &str| {
        usage
            .extra
            .get(outer)
            .and_then(|d| d.get(inner))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
    };
    let thoughts = detail("completion_tokens_details", "reasoning_tokens");
    let cached = detail("prompt_tokens_details", "cached_tokens");
    let total = if usage.total_tokens > 0 {
        usage.total_tokens
    } else {
        usage.prompt_tokens + usage.completion_tokens
    };
    let mut out = json!({
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": usage.completion_tokens.saturating_sub(thoughts.unwrap_or(0)),
        "totalTokenCount": total,
    });
    if let Some(c) = cached {
        out["cachedContentTokenCount"] = Value::from(c);
    }
    if let Some(t) = thoughts {
        out["thoughtsTokenCount"] = Value::from(t);
    }
    out
}

/// The Google error body for `e`: `{"error":{"code","message","status"}}`, the status named
/// from the HTTP status (the google-genai SDKs raise `ClientError`/`ServerError` from the HTTP
/// status and read this body). Also the payload of the one `data:` line that reports an error
/// after a stream has started.
pub fn error_body(e: &BifrostError) -> Value {
    json!({
        "error": {
            "code": e.status,
            "message": e.message,
            "status": google_status(e.status),
        }
    })
}

fn google_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        402 | 429 => "RESOURCE_EXHAUSTED",
        408 | 504 => "DEADLINE_EXCEEDED",
        502 | 503 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

/// Unified chat chunks → the `GenerateContentResponse`s of `:streamGenerateContent?alt=sse`,
/// one `data:` line each.
///
/// - Text and reasoning deltas become `text` / `{text, thought: true}` parts at once; nothing is
///   buffered but tool calls and the last response.
/// - Tool-call fragments are assembled per choice and index; a call is emitted as one
///   `functionCall` part (with its id, else `call_<n>` counting the calls of the stream) when
///   the next index of that choice starts, or when the choice finishes.
/// - The choice's `finish_reason` gives its candidate a `finishReason`; that closing response
///   (with the calls completed by the finish) is held until the usage chunk, whose counts it then
///   carries as `usageMetadata` — the shape of Gemini's own last event. Usage that comes on the
///   finishing chunk itself is merged at once; with no usage, [`StreamEncoder::finish`] sends it.
/// - Role-only and empty chunks produce nothing.
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    model: String,
    response_id: String,
    /// (choice index, tool-call index) → the call being assembled.
    pending: BTreeMap<(u32, u32), PendingCall>,
    calls_emitted: u32,
    /// The finishing candidates, waiting for usage.
    held: Vec<Value>,
    usage: Option<Value>,
    finished: bool,
}

#[derive(Debug, Clone, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

impl StreamEncoder {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            response_id: String::new(),
            pending: BTreeMap::new(),
            calls_emitted: 0,
            held: Vec::new(),
            usage: None,
            finished: false,
        }
    }

    /// The responses to send for one chunk, in order.
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Value> {
        if self.response_id.is_empty() {
            self.response_id.clone_from(&chunk.id);
        }
        let mut now = Vec::new();
        for choice in &chunk.choices {
            let c = choice.index;
            let delta = &choice.delta;
            let mut parts = Vec::new();
            if let Some(r) = reasoning(&delta.extra) {
                parts.push(json!({"text": r, "thought": true}));
            }
            if let Some(t) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                parts.push(json!({ "text": t }));
            }
            for d in delta.tool_calls.iter().flatten() {
                if !self.pending.contains_key(&(c, d.index)) {
                    // A new call starts: the earlier ones of this choice are complete.
                    parts.extend(self.take_calls(|(pc, pi)| pc == c && pi < d.index));
                }
                let call = self.pending.entry((c, d.index)).or_default();
                if let Some(id) = d.id.as_deref().filter(|id| !id.is_empty()) {
                    id.clone_into(&mut call.id);
                }
                if let Some(f) = &d.function {
                    if let Some(name) = &f.name {
                        call.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        call.arguments.push_str(args);
                    }
                }
            }
            if !parts.is_empty() {
                now.push(candidate(parts, None, c));
            }
            if let Some(reason) = &choice.finish_reason {
                let calls = self.take_calls(|(pc, _)| pc == c);
                self.held.push(candidate(calls, Some(reason), c));
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage_metadata(usage));
        }
        let mut out = Vec::new();
        if !now.is_empty() {
            out.push(self.response(now, None));
        }
        // Usage before any finish waits for the closing response.
        if self.usage.is_some() && !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let usage = self.usage.take();
            out.push(self.response(held, usage));
        }
        out
    }

    /// Flushes what is pending: calls never completed by a finish (a truncated stream), then
    /// the closing response (or the usage alone). Later calls return nothing.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        let choices: Vec<u32> = self.pending.keys().map(|(c, _)| *c).collect();
        let mut unfinished = Vec::new();
        for c in choices {
            let calls = self.take_calls(|(pc, _)| pc == c);
            if !calls.is_empty() {
                unfinished.push(candidate(calls, None, c));
            }
        }
        if !unfinished.is_empty() {
            out.push(self.response(unfinished, None));
        }
        let usage = self.usage.take();
        if !self.held.is_empty() || usage.is_some() {
            let held = std::mem::take(&mut self.held);
            out.push(self.response(held, usage));
        }
        out
    }

    /// Removes the pending calls `which` selects, as `functionCall` parts in index order.
    fn take_calls(&mut self, which: impl Fn((u32, u32)) -> bool) -> Vec<Value> {
        let keys: Vec<(u32, u32)> = self.pending.keys().copied().filter(|k| which(*k)).collect();
        let mut parts = Vec::new();
        for key in keys {
            if let Some(call) = self.pending.remove(&key) {
                let id = if call.id.is_empty() {
                    format!("call_{}", self.calls_emitted)
                } else {
                    call.id
                };
                self.calls_emitted += 1;
                parts.push(function_call_part(&id, &call.name, &call.arguments));
            }
        }
        parts
    }

    fn response(&self, candidates: Vec<Value>, usage: Option<Value>) -> Value {
        let mut out = json!({
            "candidates": candidates,
            "modelVersion": self.model,
            "responseId": self.response_id,
        });
        if let Some(u) = usage {
            out["usageMetadata"] = u;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::gemini::request::to_gemini;

    fn chat(model: &str, body: Value) -> Value {
        let req = to_chat(model, body.to_string().as_bytes()).unwrap();
        json!({ "model": req.model, "request": req })
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    fn weather_declarations() -> Value {
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Current weather for a city",
             "parameters": {"type": "OBJECT", "properties": {
                 "city": {"type": "STRING", "description": "City name"},
                 "unit": {"type": "STRING", "enum": ["C", "F"], "nullable": true}
             }, "required": ["city"]}},
            {"name": "get_time",
             "parameters": {"type": "OBJECT", "properties": {"tz": {"type": "STRING"}}}},
            {"name": "book_table",
             "parametersJsonSchema": {"type": "object", "properties": {
                 "people": {"type": "integer"}
             }, "required": ["people"], "additionalProperties": false}}
        ]}])
    }

    #[test]
    fn request_translation() {
        let cases = json!({
            "system_instruction_and_multi_turn": chat("gemini-2.5-flash", json!({
                "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
                "contents": [
                    user("Hi"),
                    {"role": "model", "parts": [
                        {"text": "I should greet back.", "thought": true},
                        {"text": "Bonjour", "thoughtSignature": "c2lnbmF0dXJl"},
                        {"text": " !"}
                    ]},
                    {"parts": [{"text": "How are you?"}, {"text": "Briefly."}]}
                ],
                "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                "cachedContent": "cachedContents/abc",
                "labels": {"team": "a"}
            })),
            "inline_image_file_uri_audio_pdf": chat("openai/gpt-4o", json!({
                "contents": [{"role": "user", "parts": [
                    {"text": "What is in these?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
                    {"fileData": {"fileUri": "https://example.com/dog"}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
                ]}]
            })),
            "function_call_and_response_round_trip": chat("anthropic/claude-sonnet-4", json!({
                "contents": [
                    user("Weather in Paris and Rome, and the time in Paris?"),
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                        {"functionCall": {"id": "t-1", "name": "get_time", "args": {"tz": "Europe/Paris"}}},
                        {"functionCall": {"name": "get_time"}}
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 24}}},
                        {"functionResponse": {"id": "t-1", "name": "get_time", "response": {"time": "14:05"}}},
                        {"functionResponse": {"name": "get_time"}},
                        {"text": "Summarise, please."}
                    ]},
                    {"role": "model", "parts": [{"text": "Paris 18°, Rome 24°, 14:05."}]}
                ],
                "tools": weather_declarations()
            })),
            "uppercase_schema_types_lowercased": chat("m", json!({
                "contents": [user("hi")],
                "tools": [{"functionDeclarations": [{"name": "lookup", "parameters": {
                    "type": "OBJECT",
                    "properties": {
                        "type": {"type": "STRING", "enum": ["OBJECT", "ARRAY"], "default": "OBJECT"},
                        "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                        "filter": {"anyOf": [{"type": "INTEGER"}, {"type": "NUMBER", "nullable": true}]},
                        "nested": {"type": "OBJECT", "nullable": false, "properties": {
                            "flag": {"type": "BOOLEAN", "example": {"type": "KEEP"}}
                        }}
                    },
                    "propertyOrdering": ["type", "tags"],
                    "required": ["type"]
                }}]}]
            })),
            "generation_config": chat("gpt-4o-mini", json!({
                "contents": [user("Tell me a story")],
                "generationConfig": {
                    "temperature": 0.7, "topP": 0.95, "topK": 40, "maxOutputTokens": 256,
                    "stopSequences": ["THE END"], "candidateCount": 2, "seed": 7,
                    "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                    "responseMimeType": "text/plain", "responseModalities": ["TEXT"],
                    "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true},
                    "speechConfig": {"voiceConfig": {}}
                }
            })),
            "json_schema": chat("m", json!({
                "contents": [user("A recipe")],
                "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {
                    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]
                }}
            })),
            "response_schema_openapi": chat("m", json!({
                "contents": [user("A recipe")],
                "generationConfig": {"responseMimeType": "application/json", "responseSchema": {
                    "type": "ARRAY", "items": {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}}
                }, "thinkingConfig": {"thinkingLevel": "HIGH"}}
            })),
            "json_object": chat("m", json!({
                "contents": [user("JSON please")],
                "generationConfig": {"responseMimeType": "application/json",
                                     "thinkingConfig": {"thinkingBudget": 0}}
            })),
        });
        insta::assert_json_snapshot!(cases);
    }

    #[test]
    fn function_calling_modes() {
        let mode = |config: Value| {
            let req = to_chat(
                "m",
                json!({
                    "contents": [user("hi")],
                    "tools": weather_declarations(),
                    "toolConfig": {"functionCallingConfig": config}
                })
                .to_string()
                .as_bytes(),
            )
            .unwrap();
            let names: Vec<String> = req
                .tools
                .iter()
                .flatten()
                .map(|t| t.function.name.clone())
                .collect();
            json!({ "tool_choice": req.tool_choice, "tools": names })
        };
        let no_tools = to_chat(
            "m",
            json!({"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        insta::assert_json_snapshot!(json!({
            "AUTO": mode(json!({"mode": "AUTO"})),
            "ANY": mode(json!({"mode": "ANY"})),
            "ANY_one_name": mode(json!({"mode": "ANY", "allowedFunctionNames": ["get_time"]})),
            "ANY_two_names": mode(json!({"mode": "ANY", "allowedFunctionNames": ["get_time", "book_table"]})),
            "NONE": mode(json!({"mode": "NONE"})),
            "VALIDATED": mode(json!({"mode": "VALIDATED"})),
            "unspecified": mode(json!({})),
            "AUTO_without_tools": no_tools.tool_choice,
        }));
    }

    #[test]
    fn rejected_requests() {
        let reject = |body: Value| {
            let e = to_chat("m", body.to_string().as_bytes()).unwrap_err();
            json!({ "status": e.status, "message": e.message })
        };
        let cases = json!({
            "google_search_tool": reject(json!({"contents": [user("news?")], "tools": [{"googleSearch": {}}]})),
            "code_execution_tool": reject(json!({"contents": [user("run")], "tools": [{"codeExecution": {}}]})),
            "video_inline_data": reject(json!({"contents": [{"role": "user", "parts": [
                {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}]}]})),
            "pdf_by_uri": reject(json!({"contents": [{"role": "user", "parts": [
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x", "mimeType": "application/pdf"}}]}]})),
            "executable_code_part": reject(json!({"contents": [{"role": "model", "parts": [
                {"executableCode": {"language": "PYTHON", "code": "print(1)"}}]}]})),
            "image_in_model_turn": reject(json!({"contents": [user("draw"), {"role": "model", "parts": [
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]})),
            "orphan_function_response": reject(json!({"contents": [{"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {}}}]}]})),
            "unknown_role": reject(json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]})),
            "empty_contents": reject(json!({"contents": []})),
            "empty_user_turn": reject(json!({"contents": [{"role": "user", "parts": []}]})),
            "any_without_tools": reject(json!({"contents": [user("hi")],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})),
            "undeclared_allowed_name": reject(json!({"contents": [user("hi")], "tools": weather_declarations(),
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["nope"]}}})),
            "image_modality": reject(json!({"contents": [user("hi")],
                "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}})),
            "enum_mime_type": reject(json!({"contents": [user("hi")],
                "generationConfig": {"responseMimeType": "text/x.enum"}})),
            "schema_without_json_mime": reject(json!({"contents": [user("hi")],
                "generationConfig": {"responseSchema": {"type": "STRING"}}})),
            "logprobs": reject(json!({"contents": [user("hi")],
                "generationConfig": {"responseLogprobs": true}})),
            "non_text_system_instruction": reject(json!({"contents": [user("hi")],
                "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA"}}]}})),
            "not_json": json!({"status": to_chat("m", b"{").unwrap_err().status}),
        });
        insta::assert_json_snapshot!(cases);
    }

    /// The outbound translation of what `to_chat` produced gives the original Gemini body back.
    #[test]
    fn round_trips_through_the_outbound_gemini_translation() {
        let original = json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "Weather in Paris?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
                ]},
                {"role": "model", "parts": [
                    {"text": "Checking."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}
                ]},
                {"role": "model", "parts": [{"text": "18 degrees."}]},
                {"role": "user", "parts": [{"text": "Thanks"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [{"functionDeclarations": [{
                "name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}
            }]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {
                "temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 100,
                "stopSequences": ["END"], "candidateCount": 1, "seed": 3,
                "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
            }
        });
        let req = to_chat("gemini-2.5-flash", original.to_string().as_bytes()).unwrap();
        let back = serde_json::to_value(to_gemini(&req).unwrap()).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn embedding_translation() {
        let one = |body: Value| {
            let req = to_embedding("openai/text-embedding-3-small", body.to_string().as_bytes());
            req.map_or_else(
                |e| json!({ "status": e.status, "message": e.message }),
                |r| json!({ "model": r.model, "request": r }),
            )
        };
        let batch = |body: Value| {
            let req = to_batch_embedding("text-embedding-004", body.to_string().as_bytes());
            req.map_or_else(
                |e| json!({ "status": e.status, "message": e.message }),
                |r| json!({ "model": r.model, "request": r }),
            )
        };
        let content = |texts: &[&str]| {
            let parts: Vec<Value> = texts.iter().map(|t| json!({ "text": t })).collect();
            json!({ "parts": parts })
        };
        insta::assert_json_snapshot!(json!({
            "one_text": one(json!({"content": content(&["Hello world"])})),
            "parts_joined_and_dimensions": one(json!({
                "model": "models/openai/text-embedding-3-small",
                "content": content(&["Title", "Body"]),
                "taskType": "RETRIEVAL_DOCUMENT", "title": "Doc", "outputDimensionality": 256})),
            "batch": batch(json!({"requests": [
                {"model": "models/text-embedding-004", "content": content(&["a"]), "outputDimensionality": 64},
                {"content": content(&["b", "c"]), "outputDimensionality": 64}]})),
            "rejected": {
                "no_content": one(json!({})),
                "image_part": one(json!({"content": {"parts": [
                    {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}})),
                "empty_batch": batch(json!({"requests": []})),
                "other_model_in_batch": batch(json!({"requests": [
                    {"model": "models/gemini-embedding-001", "content": content(&["a"])}]})),
                "mixed_dimensions": batch(json!({"requests": [
                    {"content": content(&["a"]), "outputDimensionality": 64},
                    {"content": content(&["b"])}]})),
                "not_json": json!({"status": to_embedding("m", b"[").unwrap_err().status}),
            },
        }));
    }

    #[test]
    fn embedding_response_translation() {
        // Out of order on purpose: the answer follows `index`.
        let resp: EmbeddingResponse = serde_json::from_value(json!({
            "object": "list", "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.5, -0.25]},
                {"object": "embedding", "index": 0, "embedding": [0.125, 1.0]}
            ],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}
        }))
        .unwrap();
        insta::assert_json_snapshot!(json!({
            "embedContent": from_embedding(&resp),
            "batchEmbedContents": from_batch_embedding(&resp),
        }));
    }

    fn completion(body: Value) -> ChatCompletion {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn response_translation() {
        let text = completion(json!({
            "id": "chatcmpl-1", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                      "prompt_tokens_details": {"cached_tokens": 0}}
        }));
        let tool_calls = completion(json!({
            "id": "chatcmpl-2",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                {"id": "call_c", "type": "function", "function": {"name": "broken", "arguments": "{\"a\":"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 15, "total_tokens": 35}
        }));
        let reasoning = completion(json!({
            "id": "chatcmpl-3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "42",
                "reasoning_content": "The question is about life."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                      "prompt_tokens_details": {"cached_tokens": 64},
                      "completion_tokens_details": {"reasoning_tokens": 40}}
        }));
        let max_tokens_and_filter = completion(json!({
            "id": "chatcmpl-4",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Once upon a"}, "finish_reason": "length"},
                {"index": 1, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
                 "finish_reason": "content_filter"}
            ]
        }));
        insta::assert_json_snapshot!(json!({
            "text": from_chat(&text, "gpt-4o-mini"),
            "tool_calls": from_chat(&tool_calls, "gpt-4o-mini"),
            "reasoning": from_chat(&reasoning, "o4-mini"),
            "max_tokens_and_content_filter": from_chat(&max_tokens_and_filter, "gpt-4o-mini"),
        }));
    }

    /// A recorded OpenAI stream: role chunk, text deltas, two tool calls with split arguments,
    /// `finish_reason: tool_calls`, then the usage chunk.
    fn recorded_chunks() -> Vec<ChatCompletionChunk> {
        [
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"reasoning_content":"Two cities."},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"content":"Let me "},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"content":"check."},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_p","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_r","type":"function","function":{"name":"get_weather","arguments":"{\"ci"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"ty\":\"Rome\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"chatcmpl-9","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":25,"total_tokens":55,"completion_tokens_details":{"reasoning_tokens":5}}}"#,
        ]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
    }

    #[test]
    fn stream_translation() {
        let mut enc = StreamEncoder::new("gpt-4o");
        let per_chunk: Vec<Vec<Value>> =
            recorded_chunks().iter().map(|c| enc.on_chunk(c)).collect();
        let finish = enc.finish();
        assert!(
            finish.is_empty(),
            "everything was sent with the usage chunk"
        );
        insta::assert_json_snapshot!(per_chunk);
    }

    #[test]
    fn finish_flushes_once() {
        let mut chunks = recorded_chunks();
        chunks.pop(); // no usage chunk
        chunks.pop(); // no finish either: the stream was cut mid-call
        let mut enc = StreamEncoder::new("gpt-4o");
        let sent: Vec<Value> = chunks.iter().flat_map(|c| enc.on_chunk(c)).collect();
        let first = enc.finish();
        assert_eq!(enc.finish(), Vec::<Value>::new());
        // The call completed by the next index went out at once; the cut one only at finish.
        let calls = |vals: &[Value]| -> Vec<Value> {
            vals.iter()
                .flat_map(|v| v["candidates"].as_array().cloned().unwrap_or_default())
                .flat_map(|c| {
                    c["content"]["parts"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|p| p.get("functionCall").cloned())
                .collect()
        };
        assert_eq!(
            calls(&sent),
            vec![json!({"id": "call_p", "name": "get_weather", "args": {"city": "Paris"}})]
        );
        assert_eq!(
            calls(&first),
            vec![json!({"id": "call_r", "name": "get_weather", "args": {"city": "Rome"}})]
        );
        assert!(first.iter().all(|r| r.get("usageMetadata").is_none()));

        // A finish without usage is held, then sent by finish(), once.
        let mut enc = StreamEncoder::new("m");
        let finish: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]
        }))
        .unwrap();
        let sent = enc.on_chunk(&finish);
        assert_eq!(sent.len(), 1, "the text goes out at once");
        assert_eq!(
            sent[0]["candidates"][0]["content"]["parts"],
            json!([{"text": "Hi"}])
        );
        let closing = enc.finish();
        assert_eq!(closing.len(), 1);
        assert_eq!(closing[0]["candidates"][0]["finishReason"], json!("STOP"));
        assert!(enc.finish().is_empty());
    }

    #[test]
    fn usage_on_the_finish_chunk_is_merged() {
        let mut enc = StreamEncoder::new("m");
        let chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "x",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .unwrap();
        let out = enc.on_chunk(&chunk);
        assert_eq!(
            out,
            vec![json!({
                "candidates": [{"content": {"role": "model", "parts": []}, "index": 0, "finishReason": "MAX_TOKENS"}],
                "modelVersion": "m",
                "responseId": "x",
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}
            })]
        );
        assert!(enc.finish().is_empty());
    }

    #[test]
    fn errors_carry_google_status_names() {
        let status = |e: BifrostError| error_body(&e)["error"]["status"].clone();
        assert_eq!(
            error_body(&BifrostError::invalid_request("bad")),
            json!({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
        );
        assert_eq!(
            status(BifrostError::missing_key("k")),
            json!("UNAUTHENTICATED")
        );
        assert_eq!(
            status(BifrostError::model_not_found("m")),
            json!("NOT_FOUND")
        );
        assert_eq!(
            status(BifrostError::upstream("p", 403, b"{}", None)),
            json!("PERMISSION_DENIED")
        );
        assert_eq!(
            status(BifrostError::upstream("p", 429, b"{}", None)),
            json!("RESOURCE_EXHAUSTED")
        );
        assert_eq!(status(BifrostError::internal("x")), json!("INTERNAL"));
        assert_eq!(status(BifrostError::queue_full("p")), json!("UNAVAILABLE"));
        assert_eq!(
            status(BifrostError::timeout(
                "p",
                "total",
                std::time::Duration::from_secs(1)
            )),
            json!("DEADLINE_EXCEEDED")
        );
    }

    #[test]
    fn counts_tokens_by_estimate() {
        // 16 characters → 4 tokens.
        let plain = json!({"contents": [user("0123456789abcdef")]});
        assert_eq!(
            count_tokens("m", plain.to_string().as_bytes()).unwrap(),
            json!({"totalTokens": 4})
        );
        // The SDK may wrap the request; an image adds 258; one character still counts as 1.
        let wrapped = json!({"generateContentRequest": {"model": "models/m", "contents": [
            {"role": "user", "parts": [{"text": "a"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}]}
        ]}});
        assert_eq!(
            count_tokens("m", wrapped.to_string().as_bytes()).unwrap(),
            json!({"totalTokens": 259})
        );
        assert_eq!(
            count_tokens("m", json!({"contents": [user("")]}).to_string().as_bytes())
                .unwrap_err()
                .status,
            400
        );
    }
}
