//! OpenAI chat request → Gemini `generateContent` request (pure); OpenAI embeddings request →
//! `batchEmbedContents` request.
//!
//! The model is not part of the body: it is in the URL (`models/{model}:generateContent`).
//!
//! Field rules:
//! - `system` and `developer` messages, wherever they appear, become `systemInstruction`, one
//!   text part per message (or per text part); non-text parts there are rejected.
//! - `user` → a `user` turn, `assistant` → a `model` turn. Image parts become `inlineData` (data
//!   URLs) or `fileData` (http(s) URLs, with a MIME type guessed from the file extension when it
//!   is a common image type); `input_audio` becomes `inlineData` (`audio/<format>`); a `file`
//!   part with a `file_data` data URL becomes `inlineData`. Empty text parts are skipped (Gemini
//!   rejects them); a user turn left without parts is rejected, an assistant turn left without
//!   parts (no text, no tool calls) is dropped.
//! - Assistant `tool_calls` become `functionCall {name, args}` parts after the turn's text; the
//!   arguments must be a JSON object (empty means `{}`), anything else is a 400. Call ids are
//!   not sent: ids an OpenAI client holds are usually the gateway's own (`call_<n>`). A call's
//!   `extra_content.google.thought_signature` (how the response translation hands it out, as
//!   Google's OpenAI-compatible API does) goes back as the part's `thoughtSignature`.
//! - `tool` messages become `functionResponse {name, response}` parts of one `user` turn per run
//!   of consecutive tool messages. The name is the one of the earlier assistant tool call with
//!   that `tool_call_id` (else the message's `name`, else 400). `response` is the content parsed
//!   as JSON when it is an object, else `{"content": <text>}`.
//! - `tools` → `tools[0].functionDeclarations` (only `type: function`; others are a 400).
//!   `parameters` carries the schema as given when it stays inside Gemini's OpenAPI `Schema`
//!   subset; a schema that uses other JSON Schema keywords (`additionalProperties`, `$ref`,
//!   `oneOf`, …, common with OpenAI strict mode) is sent as `parametersJsonSchema` instead, which
//!   Gemini accepts as full JSON Schema, rather than being rewritten. `strict` is dropped.
//! - `tool_choice` → `toolConfig.functionCallingConfig`: `auto`→`AUTO`, `none`→`NONE`,
//!   `required`→`ANY`, a named function → `ANY` + `allowedFunctionNames`. `ANY` is never
//!   downgraded. Without tools, `auto`/`none` are dropped (nothing to choose from) while
//!   `required` or a named function are a 400, as is a named function that is not declared.
//! - `generationConfig`: `temperature`, `top_p`→`topP`, `max_completion_tokens` (else
//!   `max_tokens`)→`maxOutputTokens`, `stop`→`stopSequences`, `n`→`candidateCount`, `seed`,
//!   `presence_penalty`, `frequency_penalty`, `top_k`→`topK`; `response_format`:
//!   `text` → nothing, `json_object` → `responseMimeType: application/json`, `json_schema` → the
//!   same plus `responseJsonSchema` (the schema as given); any other type is a 400.
//! - `reasoning_effort` → `thinkingConfig`, see [`thinking_config`].
//! - Gemini-native passthrough: `safety_settings`/`safetySettings` → `safetySettings`,
//!   `cached_content`/`cachedContent` → `cachedContent`.
//! - Rejected (400) because Gemini cannot honour them and a silent drop would change the answer
//!   the client asked for: a non-empty `logit_bias`, `logprobs: true` (the response translation
//!   does not carry log probabilities back).
//! - Dropped: `user` (Gemini has no end-user field), `parallel_tool_calls` (no switch; Gemini
//!   decides), `top_logprobs` without `logprobs`, `stream`/`stream_options` (the URL decides),
//!   and every other unmodelled field (`store`, `metadata`, `service_tier`, vendor extensions…).

use crate::error::BifrostError;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, EmbeddingRequest, MessageContent, Tool, ToolCall,
};
use crate::wire::gemini::{
    BatchEmbedContentsRequest, Blob, Content, EmbedContentRequest, FileData, FunctionCall,
    FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest,
    GenerationConfig, Part, ThinkingConfig, Tool as GeminiTool, ToolConfig,
};
use serde_json::{json, Number, Value};
use std::collections::HashMap;

/// Translates a chat request into a `generateContent` body.
pub fn to_gemini(req: &ChatRequest) -> Result<GenerateContentRequest, BifrostError> {
    reject_unsupported(req)?;
    let (system_instruction, contents) = translate_messages(&req.messages)?;

    let tools = match &req.tools {
        Some(tools) if !tools.is_empty() => vec![GeminiTool {
            function_declarations: tools.iter().map(translate_tool).collect::<Result<_, _>>()?,
            ..GeminiTool::default()
        }],
        _ => Vec::new(),
    };
    let tool_config = req
        .tool_choice
        .as_ref()
        .map(|tc| translate_tool_choice(tc, req.tools.as_deref().unwrap_or_default()))
        .transpose()?
        .flatten();

    let generation_config = generation_config(req)?;
    let native = |snake: &str, camel: &str| {
        req.extra
            .get(camel)
            .or_else(|| req.extra.get(snake))
            .filter(|v| !v.is_null())
            .cloned()
    };

    Ok(GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default())
            .then_some(generation_config),
        safety_settings: native("safety_settings", "safetySettings"),
        cached_content: native("cached_content", "cachedContent"),
    })
}

fn reject_unsupported(req: &ChatRequest) -> Result<(), BifrostError> {
    let logit_bias_set = match req.extra.get("logit_bias") {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    };
    if logit_bias_set {
        return Err(BifrostError::invalid_request(
            "'logit_bias' is not supported by Gemini",
        ));
    }
    if req.extra.get("logprobs") == Some(&Value::Bool(true)) {
        return Err(BifrostError::invalid_request(
            "'logprobs' is not supported for Gemini through this gateway",
        ));
    }
    Ok(())
}

fn generation_config(req: &ChatRequest) -> Result<GenerationConfig, BifrostError> {
    let number = |key: &str| -> Result<Option<Number>, BifrostError> {
        match req.extra.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.clone())),
            Some(other) => Err(BifrostError::invalid_request(format!(
                "'{key}' must be a number, got {other}"
            ))),
        }
    };
    let mut config = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k.clone(),
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        stop_sequences: req.stop.clone().map(|s| s.into_vec()),
        candidate_count: req.n,
        seed: number("seed")?,
        presence_penalty: number("presence_penalty")?,
        frequency_penalty: number("frequency_penalty")?,
        ..GenerationConfig::default()
    };
    if let Some(format) = req.extra.get("response_format").filter(|v| !v.is_null()) {
        response_format(format, &mut config)?;
    }
    if let Some(effort) = &req.reasoning_effort {
        config.thinking_config = Some(thinking_config(&req.model, effort)?);
    }
    Ok(config)
}

fn response_format(format: &Value, config: &mut GenerationConfig) -> Result<(), BifrostError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => config.response_mime_type = Some("application/json".to_owned()),
        Some("json_schema") => {
            let schema = super::super::json_schema(format)?;
            config.response_mime_type = Some("application/json".to_owned());
            config.response_json_schema = Some(schema.clone());
        }
        _ => {
            return Err(BifrostError::invalid_request(format!(
                "unsupported response_format {format} for Gemini \
                 (expected type text, json_object or json_schema)"
            )))
        }
    }
    Ok(())
}

/// `reasoning_effort` → `thinkingConfig`.
///
/// Gemini 3 models (the model name, after any `provider/` or `models/` prefix, starts with
/// `gemini-3`) take a `thinkingLevel`: `minimal`, `low`, `medium` and `high` are passed as
/// given; `none` becomes `minimal`, since thinking cannot be switched off there (models without
/// `minimal` answer 400 themselves). Every other model takes a `thinkingBudget`, with the
/// budgets of Google's own OpenAI compatibility layer: `none` → 0 (thinking off), `minimal` and
/// `low` → 1024, `medium` → 8192, `high` → 24576. Unless the effort is `none`, `includeThoughts`
/// is set so thought summaries come back as `reasoning_content`. Other values are a 400.
pub fn thinking_config(model: &str, effort: &str) -> Result<ThinkingConfig, BifrostError> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    let include_thoughts = (effort != "none").then_some(true);
    let unknown = || {
        BifrostError::invalid_request(format!(
            "unsupported reasoning_effort '{effort}' for Gemini \
             (expected none, minimal, low, medium or high)"
        ))
    };
    if bare.starts_with("gemini-3") {
        let level = match effort {
            "none" | "minimal" => "minimal",
            "low" => "low",
            "medium" => "medium",
            "high" => "high",
            _ => return Err(unknown()),
        };
        return Ok(ThinkingConfig {
            thinking_level: Some(level.to_owned()),
            include_thoughts,
            ..ThinkingConfig::default()
        });
    }
    let budget = match effort {
        "none" => 0,
        "minimal" | "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        _ => return Err(unknown()),
    };
    Ok(ThinkingConfig {
        thinking_budget: Some(budget),
        include_thoughts,
        ..ThinkingConfig::default()
    })
}

/// Splits the conversation into the system instruction and Gemini's turns.
fn translate_messages(
    messages: &[ChatMessage],
) -> Result<(Option<Content>, Vec<Content>), BifrostError> {
    let mut system: Vec<Part> = Vec::new();
    let mut out: Vec<Content> = Vec::new();
    // Tool call id → function name, from the assistant turns seen so far.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    // True while the last turn in `out` holds function responses the next tool message joins.
    let mut open_tool_results = false;

    for (i, msg) in messages.iter().enumerate() {
        let mut tool_turn = false;
        match msg.role.as_str() {
            "system" | "developer" => system.extend(content_parts(msg, |p| {
                Err(unsupported_part(i, &msg.role, &p.kind))
            })?),
            "user" => {
                let parts = user_parts(i, msg)?;
                if parts.is_empty() {
                    return Err(BifrostError::invalid_request(format!(
                        "messages[{i}]: a user message needs non-empty content for Gemini"
                    )));
                }
                out.push(turn("user", parts));
            }
            "assistant" => {
                let parts = assistant_parts(i, msg)?;
                for call in msg.tool_calls.as_deref().unwrap_or_default() {
                    call_names.insert(&call.id, &call.function.name);
                }
                if !parts.is_empty() {
                    out.push(turn("model", parts));
                }
            }
            "tool" => {
                let id = msg.tool_call_id.as_deref().ok_or_else(|| {
                    BifrostError::invalid_request(format!(
                        "messages[{i}]: a tool message needs 'tool_call_id'"
                    ))
                })?;
                let name = call_names
                    .get(id)
                    .copied()
                    .or(msg.name.as_deref())
                    .ok_or_else(|| {
                        BifrostError::invalid_request(format!(
                            "messages[{i}]: no earlier assistant tool call has id '{id}'; \
                             Gemini needs the function name of each tool result"
                        ))
                    })?;
                let part = Part::from(FunctionResponse {
                    name: name.to_owned(),
                    response: Some(function_response(msg)),
                    id: None,
                });
                match out.last_mut().filter(|_| open_tool_results) {
                    Some(last) => last.parts.push(part),
                    None => out.push(turn("user", vec![part])),
                }
                tool_turn = true;
            }
            other => {
                return Err(BifrostError::invalid_request(format!(
                    "messages[{i}]: unsupported role '{other}' for Gemini \
                     (expected system, developer, user, assistant or tool)"
                )))
            }
        }
        // A system message is moved out of the conversation, so it does not end a run of tool
        // results.
        if !matches!(msg.role.as_str(), "system" | "developer") {
            open_tool_results = tool_turn;
        }
    }

    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((system, out))
}

fn turn(role: &str, parts: Vec<Part>) -> Content {
    Content {
        role: Some(role.to_owned()),
        parts,
    }
}

/// Gemini rejects empty text parts.
fn push_text(parts: &mut Vec<Part>, text: &str) {
    if !text.is_empty() {
        parts.push(Part::text(text));
    }
}

/// The message's text, plus what `other` makes of each part that is not text (`None`: nothing).
fn content_parts(
    msg: &ChatMessage,
    mut other: impl FnMut(&ContentPart) -> Result<Option<Part>, BifrostError>,
) -> Result<Vec<Part>, BifrostError> {
    let mut out = Vec::new();
    match &msg.content {
        None => {}
        Some(MessageContent::Text(t)) => push_text(&mut out, t),
        Some(MessageContent::Parts(parts)) => {
            for p in parts {
                match p.kind.as_str() {
                    "text" => push_text(&mut out, p.text.as_deref().unwrap_or_default()),
                    _ => out.extend(other(p)?),
                }
            }
        }
    }
    Ok(out)
}

fn user_parts(i: usize, msg: &ChatMessage) -> Result<Vec<Part>, BifrostError> {
    content_parts(msg, |p| match p.kind.as_str() {
        "image_url" => image_part(i, p).map(Some),
        "input_audio" => audio_part(i, p).map(Some),
        "file" => file_part(i, p).map(Some),
        other => Err(unsupported_part(i, &msg.role, other)),
    })
}

fn assistant_parts(i: usize, msg: &ChatMessage) -> Result<Vec<Part>, BifrostError> {
    let mut out = content_parts(msg, |p| match p.kind.as_str() {
        // OpenAI's refusal part is text the model said.
        "refusal" => {
            let refusal = p.extra.get("refusal").and_then(Value::as_str);
            Ok(refusal.filter(|r| !r.is_empty()).map(Part::text))
        }
        other => Err(unsupported_part(i, &msg.role, other)),
    })?;
    for call in msg.tool_calls.as_deref().unwrap_or_default() {
        out.push(Part {
            thought_signature: call.thought_signature().map(str::to_owned),
            ..Part::from(FunctionCall {
                name: call.function.name.clone(),
                args: Some(call_args(i, call)?),
                id: None,
            })
        });
    }
    Ok(out)
}

fn call_args(i: usize, call: &ToolCall) -> Result<Value, BifrostError> {
    super::super::tool_call_input(i, call)
}

/// A JSON object result is passed as is; anything else is wrapped, since Gemini's `response`
/// must be an object.
fn function_response(msg: &ChatMessage) -> Value {
    let text = msg.text_content().unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "content": text }),
    }
}

fn image_part(i: usize, part: &ContentPart) -> Result<Part, BifrostError> {
    let url = super::super::image_url(i, part)?;
    if url.starts_with("data:") {
        data_url_part(i, url)
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Part::from(FileData {
            mime_type: mime_from_extension(url).map(str::to_owned),
            file_uri: url.to_owned(),
        }))
    } else {
        Err(BifrostError::invalid_request(format!(
            "messages[{i}]: image URLs must be http(s) or base64 data URLs"
        )))
    }
}

fn data_url_part(i: usize, url: &str) -> Result<Part, BifrostError> {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .filter(|(m, _)| !m.is_empty())
        .map(|(mime, data)| {
            Part::from(Blob {
                mime_type: mime.to_owned(),
                data: data.to_owned(),
            })
        })
        .ok_or_else(|| {
            BifrostError::invalid_request(format!(
                "messages[{i}]: a data URL must look like data:<media type>;base64,<data>"
            ))
        })
}

/// Gemini wants a MIME type with `fileData`; for URLs it is only guessable from the path.
fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

fn audio_part(i: usize, part: &ContentPart) -> Result<Part, BifrostError> {
    let audio = part.extra.get("input_audio");
    let field = |name: &str| audio.and_then(|a| a.get(name)).and_then(Value::as_str);
    match (field("data"), field("format")) {
        (Some(data), Some(format)) => Ok(Part::from(Blob {
            mime_type: format!("audio/{format}"),
            data: data.to_owned(),
        })),
        _ => Err(BifrostError::invalid_request(format!(
            "messages[{i}]: an input_audio part needs 'input_audio.data' and 'input_audio.format'"
        ))),
    }
}

fn file_part(i: usize, part: &ContentPart) -> Result<Part, BifrostError> {
    match part
        .extra
        .get("file")
        .and_then(|f| f.get("file_data"))
        .and_then(Value::as_str)
    {
        Some(url) => data_url_part(i, url),
        None => Err(BifrostError::invalid_request(format!(
            "messages[{i}]: a file part needs 'file.file_data' (a base64 data URL) for Gemini; \
             OpenAI file ids mean nothing there"
        ))),
    }
}

fn unsupported_part(i: usize, role: &str, kind: &str) -> BifrostError {
    BifrostError::invalid_request(format!(
        "messages[{i}]: content part type '{kind}' is not supported in {role} messages for Gemini"
    ))
}

fn translate_tool(tool: &Tool) -> Result<FunctionDeclaration, BifrostError> {
    let f = super::super::function_tool(tool, "Gemini")?;
    let (parameters, parameters_json_schema) = match &f.parameters {
        None | Some(Value::Null) => (None, None),
        Some(schema) if fits_gemini_schema(schema) => (Some(schema.clone()), None),
        Some(schema) => (None, Some(schema.clone())),
    };
    Ok(FunctionDeclaration {
        name: f.name.clone(),
        description: f.description.clone(),
        parameters,
        parameters_json_schema,
    })
}

/// Whether `schema` only uses keywords of Gemini's OpenAPI-subset `Schema` object, which
/// rejects unknown fields.
fn fits_gemini_schema(schema: &Value) -> bool {
    const KEYWORDS: &[&str] = &[
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    ];
    let Some(obj) = schema.as_object() else {
        return false;
    };
    obj.iter().all(|(key, value)| {
        KEYWORDS.contains(&key.as_str())
            && match key.as_str() {
                // `type` is one name there, never a list.
                "type" => value.is_string(),
                "properties" => value
                    .as_object()
                    .is_some_and(|props| props.values().all(fits_gemini_schema)),
                "items" => fits_gemini_schema(value),
                "anyOf" => value
                    .as_array()
                    .is_some_and(|alts| alts.iter().all(fits_gemini_schema)),
                _ => true,
            }
    })
}

/// `Ok(None)`: nothing to send (no tools and a choice that needs none).
fn translate_tool_choice(tc: &Value, tools: &[Tool]) -> Result<Option<ToolConfig>, BifrostError> {
    let config = |mode: &str, names: Option<Vec<String>>| {
        Some(ToolConfig {
            function_calling_config: Some(FunctionCallingConfig {
                mode: Some(mode.to_owned()),
                allowed_function_names: names,
            }),
        })
    };
    let no_tools = tools.is_empty();
    match tc {
        Value::String(s) => match s.as_str() {
            "auto" if no_tools => return Ok(None),
            "none" if no_tools => return Ok(None),
            "auto" => return Ok(config("AUTO", None)),
            "none" => return Ok(config("NONE", None)),
            "required" if no_tools => {
                return Err(BifrostError::invalid_request(
                    "tool_choice 'required' needs at least one tool",
                ))
            }
            "required" => return Ok(config("ANY", None)),
            _ => {}
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            if let Some(name) = super::super::named_function(o) {
                if !tools.iter().any(|t| t.function.name == name) {
                    return Err(BifrostError::invalid_request(format!(
                        "tool_choice names function '{name}', which is not among the tools"
                    )));
                }
                return Ok(config("ANY", Some(vec![name.to_owned()])));
            }
        }
        _ => {}
    }
    Err(BifrostError::invalid_request(format!(
        "unsupported tool_choice {tc} for Gemini (expected \"auto\", \"none\", \"required\" \
         or {{\"type\":\"function\",\"function\":{{\"name\":…}}}})"
    )))
}

/// Translates an embeddings request into a `batchEmbedContents` body for `model` (the upstream
/// model name, with or without the `models/` prefix). `encoding_format` is not sent: Gemini
/// returns floats, which the OpenAI SDKs accept whatever they asked for; `dimensions` becomes
/// `outputDimensionality`; `user` is dropped. Token-array input is a 400 (Gemini embeds text).
pub fn embed_request(
    model: &str,
    req: &EmbeddingRequest,
) -> Result<BatchEmbedContentsRequest, BifrostError> {
    let texts = req.input.texts().ok_or_else(|| {
        BifrostError::invalid_request("Gemini embeddings accept text input only, not token arrays")
    })?;
    if texts.is_empty() {
        return Err(BifrostError::invalid_request(
            "'input' must contain at least one text",
        ));
    }
    let model = if model.starts_with("models/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    };
    let requests = texts
        .into_iter()
        .map(|text| EmbedContentRequest {
            model: Some(model.clone()),
            content: Some(Content {
                role: None,
                parts: vec![Part::text(text)],
            }),
            output_dimensionality: req.dimensions,
        })
        .collect();
    Ok(BatchEmbedContentsRequest { requests })
}

#[cfg(test)]
mod tests;
