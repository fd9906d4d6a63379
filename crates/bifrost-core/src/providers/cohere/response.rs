//! Cohere v2 chat, embed and rerank responses → OpenAI-shaped responses (pure).
//!
//! Chat rules:
//! - `message.content` text blocks are joined into `content`; `thinking` blocks into
//!   `message.reasoning_content`.
//! - `tool_plan` (the text Cohere writes before its tool calls) is part of `content`, before any
//!   text blocks, as the stream translation emits it; the request translation sends it back as
//!   `tool_plan`.
//! - `tool_calls` are copied (Cohere already carries arguments as JSON text).
//! - `citations` are dropped: OpenAI's shape has no place for them.
//! - `finish_reason`: `COMPLETE`/`STOP_SEQUENCE` → `stop`, `MAX_TOKENS` → `length`, `TOOL_CALL`
//!   → `tool_calls`; `ERROR` and `TIMEOUT` mean the generation failed, so they are an upstream
//!   error (502, retryable) rather than a success with partial content; unknown reasons → `stop`.
//! - Usage is `usage.tokens` (what the model saw and wrote), falling back to
//!   `usage.billed_units`; `usage.cached_tokens`, when present, becomes
//!   `prompt_tokens_details.cached_tokens`.
//! - Cohere's chat response carries no model name, so `model` is the one the request was sent
//!   with.

use super::request::RerankRequest;
use crate::error::BifrostError;
use crate::providers::reasons;
use crate::providers::{assistant_message, embedding_data, unix_now};
use crate::schemas::{ChatCompletion, Choice, EmbeddingResponse, EmbeddingUsage, ToolCall, Usage};
use crate::wire::cohere::{
    CohereChatResponse, CohereEmbedResponse, CohereRerankResponse, CohereUsage, ContentBlock,
    RerankResult, TokenCounts,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

impl CohereUsage {
    pub fn to_openai(self) -> Usage {
        let pick = |f: fn(&TokenCounts) -> Option<u64>| {
            self.tokens
                .as_ref()
                .and_then(f)
                .or_else(|| self.billed_units.as_ref().and_then(f))
                .unwrap_or(0)
        };
        let prompt = pick(|t| t.input_tokens);
        let completion = pick(|t| t.output_tokens);
        let mut usage = Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        };
        if let Some(cached) = self.cached_tokens.filter(|c| *c > 0) {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                json!({ "cached_tokens": cached }),
            );
        }
        usage
    }
}

/// The error for a generation Cohere reports as failed (finish reason `ERROR`/`TIMEOUT`).
pub(crate) fn failed_generation(
    provider: &str,
    reason: &str,
    detail: Option<&str>,
) -> BifrostError {
    let message = match detail.filter(|d| !d.is_empty()) {
        Some(d) => format!("Cohere generation failed ({reason}): {d}"),
        None => format!("Cohere generation failed ({reason})"),
    };
    let body = json!({ "message": message }).to_string();
    let mut e = BifrostError::upstream(provider, 502, body.as_bytes(), None);
    e.code = Some(format!("cohere_{}", reason.to_ascii_lowercase()));
    e
}

/// Parses a 2xx body: an object with `message` and no `id` is Cohere's error shape.
fn parse_ok<T: serde::de::DeserializeOwned>(
    provider: &str,
    body: &[u8],
    required: &str,
) -> Result<T, BifrostError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    if value.get(required).is_none() && value.get("message").is_some_and(Value::is_string) {
        let mut e = BifrostError::upstream(provider, 500, body, None);
        e.status = 502;
        return Err(e);
    }
    serde_json::from_value(value).map_err(|e| BifrostError::bad_upstream_response(provider, e))
}

/// Parses and translates a 2xx `/v2/chat` body, stamped with the current time.
pub fn from_cohere(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<ChatCompletion, BifrostError> {
    let resp: CohereChatResponse = parse_ok(provider, body, "id")?;
    from_cohere_value(provider, model, resp, unix_now())
}

/// The mapping itself, with `created` given so tests are deterministic.
pub fn from_cohere_value(
    provider: &str,
    model: &str,
    resp: CohereChatResponse,
    created: u64,
) -> Result<ChatCompletion, BifrostError> {
    let reason = resp.finish_reason.as_deref().unwrap_or("");
    let Some(finish) = reasons::cohere::to_openai(reason) else {
        return Err(failed_generation(provider, reason, None));
    };

    let mut text: Option<String> = resp.tool_plan_text();
    let mut reasoning: Option<String> = None;
    for block in resp.message.content {
        match block {
            ContentBlock::Text { text: t } => text.get_or_insert_with(String::new).push_str(&t),
            ContentBlock::Thinking { thinking } => reasoning
                .get_or_insert_with(String::new)
                .push_str(&thinking),
            ContentBlock::ImageUrl { .. } | ContentBlock::Other => {}
        }
    }
    let tool_calls: Vec<ToolCall> = resp
        .message
        .tool_calls
        .into_iter()
        .map(|c| {
            let arguments = c
                .function
                .arguments
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| "{}".to_owned());
            ToolCall::function(c.id, c.function.name, arguments)
        })
        .collect();

    let message = assistant_message(text, reasoning, tool_calls);

    let choices = vec![Choice::only(message, finish)];
    Ok(ChatCompletion {
        usage: Some(resp.usage.to_openai()),
        ..ChatCompletion::translated(resp.id, created, model.to_owned(), choices)
    })
}

impl CohereChatResponse {
    fn tool_plan_text(&self) -> Option<String> {
        self.message.tool_plan.clone().filter(|p| !p.is_empty())
    }
}

/// Parses and translates a 2xx `/v2/embed` body (float embeddings) into OpenAI's list. Usage is
/// `meta.billed_units.input_tokens`.
pub fn embed_response(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<EmbeddingResponse, BifrostError> {
    let resp: CohereEmbedResponse = parse_ok(provider, body, "embeddings")?;
    let vectors = resp.embeddings.float.ok_or_else(|| {
        BifrostError::bad_upstream_response(provider, "no float embeddings in the response")
    })?;
    let data = embedding_data(vectors);
    let tokens = resp
        .meta
        .billed_units
        .and_then(|b| b.input_tokens)
        .unwrap_or(0);
    let mut out = EmbeddingResponse {
        object: "list".to_owned(),
        data,
        model: model.to_owned(),
        usage: Some(EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
        ..EmbeddingResponse::default()
    };
    if let Some(id) = resp.id {
        out.extra.insert("id".into(), Value::String(id));
    }
    Ok(out)
}

/// Bifrost's rerank response (`POST /v1/rerank`), in Cohere's shape.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RerankResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub model: String,
    pub results: Vec<RerankResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<RerankUsage>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RerankUsage {
    pub search_units: u64,
}

/// Parses a 2xx `/v2/rerank` body. Cohere v2 no longer returns the documents; when the request
/// set `return_documents: true` they are filled in from it, as `{"text": …}`.
pub fn rerank_response(
    provider: &str,
    model: &str,
    req: &RerankRequest,
    body: &[u8],
) -> Result<RerankResponse, BifrostError> {
    let resp: CohereRerankResponse = parse_ok(provider, body, "results")?;
    let return_documents = req.extra.get("return_documents").and_then(Value::as_bool) == Some(true);
    let results = resp
        .results
        .into_iter()
        .map(|mut r| {
            if return_documents && r.document.is_none() {
                r.document = req.documents.get(r.index as usize).map(|d| match d {
                    Value::String(s) => json!({ "text": s }),
                    other => other.clone(),
                });
            }
            r
        })
        .collect();
    Ok(RerankResponse {
        id: resp.id,
        model: model.to_owned(),
        results,
        usage: resp
            .meta
            .billed_units
            .and_then(|b| b.search_units)
            .map(|search_units| RerankUsage { search_units }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    use crate::providers::test_fixtures::CREATED;
    const MODEL: &str = "command-a-03-2025";

    fn translate(body: Value) -> ChatCompletion {
        from_cohere_value(
            "cohere",
            MODEL,
            serde_json::from_value(body).unwrap(),
            CREATED,
        )
        .unwrap()
    }

    #[test]
    fn text() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Hello! "},
                    {"type": "text", "text": "How can I help you today?"}
                ],
                "citations": []
            },
            "finish_reason": "COMPLETE",
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 9},
                      "tokens": {"input_tokens": 71, "output_tokens": 9}}
        })));
    }

    #[test]
    fn tool_calls_with_tool_plan() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "2e4b5d2a-4a1b-4a5e-9c2e-0b9f1f2d3c4e",
            "message": {
                "role": "assistant",
                "tool_plan": "I will look up the weather in Madrid and Brasilia.",
                "tool_calls": [
                    {"id": "get_weather_776n8ctsgycn", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}},
                    {"id": "get_weather_3kwv6cb0k4jx", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"location\":\"Brasilia\"}"}},
                    {"id": "get_time_0", "type": "function", "function": {"name": "get_time"}}
                ]
            },
            "finish_reason": "TOOL_CALL",
            "usage": {"billed_units": {"input_tokens": 37.0, "output_tokens": 28.0},
                      "tokens": {"input_tokens": 913.0, "output_tokens": 81.0}}
        })));
    }

    #[test]
    fn max_tokens_thinking_and_billed_units_only() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "max-1",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "27 * 453 = 10800 + 1431"},
                    {"type": "text", "text": "27 × 453 = 12,2"}
                ]
            },
            "finish_reason": "MAX_TOKENS",
            "usage": {"billed_units": {"input_tokens": 12, "output_tokens": 20},
                      "cached_tokens": 8}
        })));
    }

    #[test]
    fn failed_generations_and_garbage_are_errors() {
        let body =
            br#"{"id":"x","message":{"role":"assistant","content":[{"type":"text","text":"par"}]},
            "finish_reason":"ERROR","usage":{}}"#;
        let e = from_cohere("cohere", MODEL, body).unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.code.as_deref(), Some("cohere_error"));
        assert!(e.class.is_retryable());

        let e = from_cohere("cohere", MODEL, b"<html>").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);

        let e = from_cohere("cohere", MODEL, br#"{"id":"e1","message":"oops"}"#).unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);

        let e = from_cohere("cohere", MODEL, br#"{"message":"internal error"}"#).unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.message, "internal error");
    }

    #[test]
    fn from_cohere_parses_bytes() {
        let body =
            br#"{"id":"abc","message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},
            "finish_reason":"COMPLETE","usage":{"tokens":{"input_tokens":3,"output_tokens":1}}}"#;
        let c = from_cohere("cohere", MODEL, body).unwrap();
        assert_eq!(c.choices[0].message.text_content().as_deref(), Some("hi"));
        assert_eq!(c.model, MODEL);
        assert_eq!(c.usage.as_ref().map(|u| u.total_tokens), Some(4));
        assert!(c.created > 0);
    }

    #[test]
    fn embeddings() {
        let body = json!({
            "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
            "embeddings": {"float": [[0.016296387, -0.008354187, 0.5], [0.25, -1.0, 0.0]]},
            "texts": ["hello", "goodbye"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
            "response_type": "embeddings_by_type"
        });
        let out = embed_response("cohere", "embed-v4.0", body.to_string().as_bytes()).unwrap();
        insta::assert_json_snapshot!(out);

        let mut b64 = out.clone();
        b64.encode_base64();
        // 0.25f32 = 00 00 80 3E, -1.0f32 = 00 00 80 BF, 0.0 = 00 00 00 00.
        assert_eq!(b64.data[1].embedding, json!("AACAPgAAgL8AAAAA"));

        let e = embed_response("cohere", "m", br#"{"embeddings":{"int8":[[1]]}}"#).unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
    }

    #[test]
    fn rerank() {
        let req: RerankRequest = serde_json::from_value(json!({
            "model": "rerank-v3.5", "query": "capital of France",
            "documents": ["Berlin is in Germany.", "Paris is the capital of France."],
            "return_documents": true
        }))
        .unwrap();
        let body = json!({
            "id": "r-1",
            "results": [{"index": 1, "relevance_score": 0.98}, {"index": 0, "relevance_score": 0.02}],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}
        });
        let out =
            rerank_response("cohere", "rerank-v3.5", &req, body.to_string().as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_value(out).unwrap(),
            json!({
                "id": "r-1",
                "model": "rerank-v3.5",
                "results": [
                    {"index": 1, "relevance_score": 0.98,
                     "document": {"text": "Paris is the capital of France."}},
                    {"index": 0, "relevance_score": 0.02, "document": {"text": "Berlin is in Germany."}}
                ],
                "usage": {"search_units": 1}
            })
        );
    }
}
