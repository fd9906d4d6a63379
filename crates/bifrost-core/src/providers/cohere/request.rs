//! OpenAI chat, embeddings and rerank requests → Cohere v2 (`/v2/chat`, `/v2/embed`,
//! `/v2/rerank`) request bodies (pure).
//!
//! Chat field rules:
//! - `system` and `developer` messages become `system` messages in place (Cohere keeps them in
//!   the conversation); a plain string stays a string, text parts become text blocks.
//! - `user` content: a string, or `text` and `image_url` blocks (the URL, web or `data:`, and
//!   `detail` are sent as they came). Other part types are rejected.
//! - `assistant` with `tool_calls`: the calls become Cohere `tool_calls` (arguments stay the JSON
//!   text OpenAI sends; an empty string becomes `{}`), and the message's text becomes `tool_plan`,
//!   Cohere's slot for the text that precedes tool calls. The response translation maps
//!   `tool_plan` back to `content`, so a conversation round-trips. Without tool calls the text is
//!   the `content`. `reasoning_content` is not sent back: Cohere needs no thinking in history.
//! - `tool` messages become `{role:"tool", tool_call_id, content:[{type:"document",
//!   document:{data:<text>}}]}`: a document lets Cohere cite the tool output.
//! - `max_tokens` is `max_completion_tokens`, else `max_tokens`; `top_p` becomes `p`; `stop`
//!   becomes `stop_sequences`; `temperature`, `seed`, `frequency_penalty` and `presence_penalty`
//!   are copied (numbers are checked: a wrong type is a 400 here rather than upstream).
//! - `tools`: function tools in OpenAI's shape, which Cohere v2 accepts as is. Cohere's
//!   `strict_tools` is request-wide: it is set when any function asks for `strict: true`.
//! - `tool_choice`: `auto` → omitted (Cohere's default), `none` → `NONE`, `required` →
//!   `REQUIRED`. A named function is rejected (400): Cohere cannot force one specific tool, and
//!   downgrading to `REQUIRED` could call another.
//! - `parallel_tool_calls` is dropped: Cohere has no switch for it (the model may still call
//!   several tools at once). `strict_tools` is about schema adherence, not parallelism.
//! - `response_format`: `text` → omitted, `json_object` → `{type:"json_object"}`, `json_schema`
//!   → `{type:"json_object", json_schema:<schema>}`; anything else is rejected.
//! - `reasoning_effort` → `thinking`: `none`/`minimal` → `{type:"disabled"}`, `low`/`medium`/
//!   `high` → `{type:"enabled"}` (the model's default budget; Cohere's budget is in tokens and
//!   has no effort scale). A `thinking` object wins: Cohere's own as sent, Anthropic's with its
//!   `budget_tokens` as Cohere's `token_budget`.
//! - Rejected (400): `n > 1` (one generation per request), a non-empty `logit_bias`,
//!   `logprobs: true` and `top_logprobs` (Cohere's log probabilities have another shape, which
//!   this translation does not map back), unknown roles and content part types.
//! - Cohere-native fields in `extra` are passed through: `k` (also spelled `top_k`),
//!   `documents`, `citation_options`, `safety_mode`, `strict_tools`, `priority`.
//!   Everything else (`user`, `metadata`, `service_tier`, `store`, `modalities`, vendor
//!   extensions, …) is dropped: Cohere has no equivalent.

use crate::error::BifrostError;
use crate::schemas::{
    ChatMessage, ChatRequest, ContentPart, EmbeddingRequest, Extra, MessageContent, Tool,
};
use crate::wire::cohere::{
    CohereChatRequest, CohereContent, CohereEmbedRequest, CohereFunctionCall, CohereMessage,
    CohereRerankRequest, CohereToolCall, ContentBlock, ImageUrl, ToolContent, ToolDocument,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Cohere-native chat fields taken from `extra` unchanged (besides `k`, handled with `top_k`).
const CHAT_PASSTHROUGH: [&str; 5] = [
    "documents",
    "citation_options",
    "safety_mode",
    "strict_tools",
    "priority",
];

/// Builds the body of `POST /v2/chat` for `model`.
pub fn to_cohere(
    model: &str,
    req: &ChatRequest,
    stream: bool,
) -> Result<CohereChatRequest, BifrostError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(BifrostError::invalid_request(
            "Cohere does not support n > 1",
        ));
    }
    reject_logprobs(&req.extra)?;

    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| translate_message(i, m))
        .collect::<Result<Vec<_>, _>>()?;

    let tools = req
        .tools
        .as_ref()
        .map(|tools| tools.iter().map(translate_tool).collect::<Result<_, _>>())
        .transpose()?;
    let strict = req.tools.as_deref().unwrap_or_default().iter().any(|t| {
        t.function.extra.get("strict").and_then(Value::as_bool) == Some(true)
            || t.extra.get("strict").and_then(Value::as_bool) == Some(true)
    });

    let mut passthrough = Map::new();
    for key in CHAT_PASSTHROUGH {
        if let Some(v) = req.extra.get(key).filter(|v| !v.is_null()) {
            passthrough.insert(key.to_owned(), v.clone());
        }
    }
    // `strict_tools` is a typed field; a native value wins over the mapping.
    let strict_tools = match passthrough.remove("strict_tools") {
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            return Err(BifrostError::invalid_request(
                "'strict_tools' must be a boolean",
            ))
        }
        None => strict.then_some(true),
    };
    let thinking = match &req.thinking {
        Some(t) => Some(cohere_thinking(t)),
        None => reasoning_effort(req.reasoning_effort.as_deref())?,
    };

    Ok(CohereChatRequest {
        model: model.to_owned(),
        messages,
        stream,
        tools,
        tool_choice: req
            .tool_choice
            .as_ref()
            .map(translate_tool_choice)
            .transpose()?
            .flatten(),
        strict_tools,
        response_format: req
            .extra
            .get("response_format")
            .map(translate_response_format)
            .transpose()?
            .flatten(),
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        stop_sequences: req.stop.clone().map(|s| s.into_vec()),
        temperature: req.temperature,
        seed: integer(&req.extra, "seed")?,
        frequency_penalty: number(&req.extra, "frequency_penalty")?,
        presence_penalty: number(&req.extra, "presence_penalty")?,
        k: top_k(req)?,
        p: req.top_p,
        thinking,
        passthrough,
    })
}

fn reject_logprobs(extra: &Extra) -> Result<(), BifrostError> {
    if extra.get("logprobs").and_then(Value::as_bool) == Some(true)
        || extra.get("top_logprobs").is_some_and(|v| !v.is_null())
    {
        return Err(BifrostError::invalid_request(
            "logprobs and top_logprobs are not supported for Cohere",
        ));
    }
    match extra.get("logit_bias") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) if m.is_empty() => Ok(()),
        Some(_) => Err(BifrostError::invalid_request(
            "logit_bias is not supported for Cohere",
        )),
    }
}

fn number(extra: &Extra, key: &str) -> Result<Option<f64>, BifrostError> {
    typed(extra, key, Value::as_f64, "a number")
}

fn integer(extra: &Extra, key: &str) -> Result<Option<i64>, BifrostError> {
    typed(extra, key, Value::as_i64, "an integer")
}

/// `extra[key]` as `read` takes it: `None` when absent or null, a 400 when it is not `what`.
fn typed<T>(
    extra: &Extra,
    key: &str,
    read: fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Option<T>, BifrostError> {
    match extra.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v)
            .map(Some)
            .ok_or_else(|| BifrostError::invalid_request(format!("'{key}' must be {what}"))),
    }
}

/// Cohere's `k`, or the `top_k` spelling other providers use.
fn top_k(req: &ChatRequest) -> Result<Option<u64>, BifrostError> {
    let k = match (integer(&req.extra, "k")?, &req.top_k) {
        (Some(k), _) => Some(k),
        (None, Some(n)) => Some(
            n.as_i64()
                .ok_or_else(|| BifrostError::invalid_request("'top_k' must be an integer"))?,
        ),
        (None, None) => None,
    };
    k.map(|k| {
        u64::try_from(k).map_err(|_| BifrostError::invalid_request("'top_k' must not be negative"))
    })
    .transpose()
}

fn reasoning_effort(effort: Option<&str>) -> Result<Option<Value>, BifrostError> {
    match effort {
        None => Ok(None),
        Some("none" | "minimal") => Ok(Some(json!({"type": "disabled"}))),
        Some("low" | "medium" | "high") => Ok(Some(json!({"type": "enabled"}))),
        Some(other) => Err(BifrostError::invalid_request(format!(
            "unsupported reasoning_effort '{other}' (expected none, minimal, low, medium or high)"
        ))),
    }
}

/// A `thinking` object for Cohere: its own as sent; Anthropic's `budget_tokens` (which Cohere
/// would refuse) becomes `token_budget`, the same budget in Cohere's words.
fn cohere_thinking(thinking: &Value) -> Value {
    let mut out = thinking.clone();
    if let Some(obj) = out.as_object_mut() {
        if !obj.contains_key("token_budget") {
            if let Some(budget) = obj.remove("budget_tokens") {
                obj.insert("token_budget".into(), budget);
            }
        }
    }
    out
}

fn translate_message(i: usize, msg: &ChatMessage) -> Result<CohereMessage, BifrostError> {
    match msg.role.as_str() {
        "system" | "developer" => Ok(CohereMessage::System {
            content: content(i, msg, false)?,
        }),
        "user" => Ok(CohereMessage::User {
            content: content(i, msg, true)?,
        }),
        "assistant" => assistant_message(i, msg),
        "tool" => {
            let id = msg.tool_call_id.as_deref().ok_or_else(|| {
                BifrostError::invalid_request(format!(
                    "messages[{i}]: a tool message needs 'tool_call_id'"
                ))
            })?;
            Ok(CohereMessage::Tool {
                tool_call_id: id.to_owned(),
                content: vec![ToolContent::Document {
                    document: ToolDocument {
                        data: msg.text_content().unwrap_or_default(),
                    },
                }],
            })
        }
        other => Err(BifrostError::invalid_request(format!(
            "messages[{i}]: unsupported role '{other}' for Cohere \
             (expected system, developer, user, assistant or tool)"
        ))),
    }
}

/// A message's content; image parts only where `images` (user messages), text elsewhere.
fn content(i: usize, msg: &ChatMessage, images: bool) -> Result<CohereContent, BifrostError> {
    match &msg.content {
        None => Ok(CohereContent::Text(String::new())),
        Some(MessageContent::Text(t)) => Ok(CohereContent::Text(t.clone())),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|p| match p.kind.as_str() {
                "text" => Ok(text_block(p)),
                "image_url" if images => {
                    let image = p.image_url.as_ref().ok_or_else(|| {
                        BifrostError::invalid_request(format!(
                            "messages[{i}]: an image_url part needs 'image_url.url'"
                        ))
                    })?;
                    Ok(ContentBlock::ImageUrl {
                        image_url: ImageUrl {
                            url: image.url.clone(),
                            detail: image.detail.clone(),
                        },
                    })
                }
                other => Err(unsupported_part(i, &msg.role, other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CohereContent::Blocks),
    }
}

fn assistant_message(i: usize, msg: &ChatMessage) -> Result<CohereMessage, BifrostError> {
    let calls = msg.tool_calls.as_deref().unwrap_or_default();
    if calls.is_empty() {
        return Ok(CohereMessage::Assistant {
            content: Some(content(i, msg, false)?),
            tool_plan: None,
            tool_calls: None,
        });
    }
    if let Some(MessageContent::Parts(parts)) = &msg.content {
        if let Some(p) = parts.iter().find(|p| p.kind != "text") {
            return Err(unsupported_part(i, &msg.role, &p.kind));
        }
    }
    let tool_calls = calls
        .iter()
        .map(|call| {
            let args = call.function.arguments.trim();
            CohereToolCall {
                id: call.id.clone(),
                kind: "function".into(),
                function: CohereFunctionCall {
                    name: call.function.name.clone(),
                    arguments: Some(if args.is_empty() {
                        "{}".to_owned()
                    } else {
                        call.function.arguments.clone()
                    }),
                },
            }
        })
        .collect();
    Ok(CohereMessage::Assistant {
        content: None,
        // OpenAI clients often send `""` next to tool calls; an empty plan says nothing.
        tool_plan: msg.text_content().filter(|t| !t.is_empty()),
        tool_calls: Some(tool_calls),
    })
}

fn text_block(part: &ContentPart) -> ContentBlock {
    ContentBlock::Text {
        text: part.text.clone().unwrap_or_default(),
    }
}

fn unsupported_part(i: usize, role: &str, kind: &str) -> BifrostError {
    BifrostError::invalid_request(format!(
        "messages[{i}]: content part type '{kind}' is not supported in {role} messages for Cohere"
    ))
}

fn translate_tool(tool: &Tool) -> Result<Value, BifrostError> {
    let f = super::super::function_tool(tool, "Cohere")?;
    let mut function = Map::new();
    function.insert("name".into(), Value::String(f.name.clone()));
    if let Some(d) = &f.description {
        function.insert("description".into(), Value::String(d.clone()));
    }
    function.insert("parameters".into(), super::super::parameters(f));
    Ok(json!({"type": "function", "function": function}))
}

/// `Ok(None)` for `auto`, which is Cohere's behaviour when `tool_choice` is absent.
fn translate_tool_choice(tc: &Value) -> Result<Option<Cow<'static, str>>, BifrostError> {
    match tc {
        Value::String(s) if s == "auto" => Ok(None),
        Value::String(s) if s == "none" => Ok(Some("NONE".into())),
        Value::String(s) if s == "required" => Ok(Some("REQUIRED".into())),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            Err(BifrostError::invalid_request(
                "Cohere cannot force a specific tool: use tool_choice \"required\" \
                 (any tool) or offer only that tool",
            ))
        }
        _ => Err(BifrostError::invalid_request(format!(
            "unsupported tool_choice {tc} for Cohere (expected \"auto\", \"none\" or \"required\")"
        ))),
    }
}

/// `Ok(None)` for `text`, Cohere's default.
fn translate_response_format(rf: &Value) -> Result<Option<Value>, BifrostError> {
    if rf.is_null() {
        return Ok(None);
    }
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let schema = super::super::json_schema(rf)?;
            Ok(Some(json!({"type": "json_object", "json_schema": schema})))
        }
        _ => Err(BifrostError::invalid_request(format!(
            "unsupported response_format {rf} for Cohere \
             (expected type text, json_object or json_schema)"
        ))),
    }
}

/// Cohere's `input_type` when the client names none: OpenAI's embeddings endpoint is mostly
/// used to index documents.
pub const DEFAULT_INPUT_TYPE: &str = "search_document";

/// Builds the body of `POST /v2/embed` for `model`.
///
/// Rules: texts only (token arrays are rejected: Cohere tokenizes itself); float embeddings are
/// always requested, and a `base64` `encoding_format` is produced from them by
/// [`crate::schemas::EmbeddingResponse::encode_base64`], as OpenAI encodes them; `dimensions` becomes
/// `output_dimension`; `input_type` (default [`DEFAULT_INPUT_TYPE`]) and `truncate` may be
/// given in the request's extra fields; everything else (`user`, …) is dropped.
pub fn embed_request(
    model: &str,
    req: &EmbeddingRequest,
) -> Result<CohereEmbedRequest, BifrostError> {
    let texts = req.input.texts().ok_or_else(|| {
        BifrostError::invalid_request("Cohere embeddings take text input, not token arrays")
    })?;
    if texts.is_empty() {
        return Err(BifrostError::invalid_request(
            "'input' must hold at least one text",
        ));
    }
    match req.encoding_format.as_deref() {
        None | Some("float") | Some("base64") => {}
        Some(other) => {
            return Err(BifrostError::invalid_request(format!(
                "unsupported encoding_format '{other}' (expected float or base64)"
            )))
        }
    }
    let string_field = |key: &str| -> Result<Option<String>, BifrostError> {
        match req.extra.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(BifrostError::invalid_request(format!(
                "'{key}' must be a string"
            ))),
        }
    };
    Ok(CohereEmbedRequest {
        model: model.to_owned(),
        texts: texts.into_iter().map(str::to_owned).collect(),
        input_type: string_field("input_type")?.unwrap_or_else(|| DEFAULT_INPUT_TYPE.to_owned()),
        embedding_types: vec!["float".into()],
        output_dimension: req.dimensions,
        truncate: string_field("truncate")?,
    })
}

/// A rerank request in Bifrost's (Cohere-style) shape, `POST /v1/rerank`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RerankRequest {
    #[serde(default, skip_serializing)]
    pub provider: Option<String>,
    #[serde(skip_serializing)]
    pub model: String,
    pub query: String,
    /// Strings, or objects with a `text` field.
    pub documents: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_doc: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Builds the body of `POST /v2/rerank` for `model`. Cohere v2 ranks strings: a `{text}` object
/// is sent as its text; any other document shape is rejected.
pub fn rerank_request(
    model: &str,
    req: &RerankRequest,
) -> Result<CohereRerankRequest, BifrostError> {
    let documents = req
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => match o.get("text") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(BifrostError::invalid_request(format!(
                    "documents[{i}]: a document object needs a string 'text'"
                ))),
            },
            _ => Err(BifrostError::invalid_request(format!(
                "documents[{i}]: a document must be a string or {{\"text\": …}}"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(CohereRerankRequest {
        model: model.to_owned(),
        query: req.query.clone(),
        documents,
        top_n: req.top_n,
        max_tokens_per_doc: req.max_tokens_per_doc,
    })
}

#[cfg(test)]
mod tests;
