//! Gemini `GenerateContentResponse` → OpenAI chat completion (pure); `batchEmbedContents`
//! response → OpenAI embeddings response.
//!
//! Rules:
//! - Each candidate is a choice (index from the candidate, else its position). Text parts are
//!   joined into `content`; parts with `thought: true` go to `message.reasoning_content`;
//!   `functionCall` parts become `tool_calls` (a part's `thoughtSignature` kept in the call's
//!   `extra_content.google.thought_signature`) with the part's `id` when Gemini sent one, else
//!   `call_<n>` (n counts the calls of the choice), and the args as JSON text.
//! - `content` is `null` only when the choice has tool calls and no text; otherwise it is a
//!   string, possibly empty (clients tend to break on a `null` content without tool calls).
//! - `finishReason` → `finish_reason`, see [`reasons::gemini::to_openai`]; a candidate with function calls
//!   reads `tool_calls` unless the reason is `length` or `content_filter`.
//! - A prompt blocked before generation (`promptFeedback.blockReason`, no candidates) is one
//!   choice with empty content and `content_filter`.
//! - Usage, see [`UsageMetadata::to_openai`]. `id` is `responseId` (else generated), `model` is
//!   `modelVersion` (else the requested model).

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::providers::{assistant_message, embedding_data, unix_now};
use crate::schemas::{
    ChatCompletion, ChatMessage, Choice, EmbeddingResponse, EmbeddingUsage, ToolCall, Usage,
};
use crate::wire::gemini::{
    Candidate, EmbedContentResponse, GenerateContentResponse, UsageMetadata,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

impl UsageMetadata {
    /// OpenAI's usage: `prompt_tokens` = `promptTokenCount` (which already includes cached
    /// tokens) + `toolUsePromptTokenCount`; `completion_tokens` = `candidatesTokenCount` +
    /// `thoughtsTokenCount` (OpenAI counts reasoning as completion); `total_tokens` their sum.
    /// `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`
    /// are set when Gemini reported the counts.
    pub fn to_openai(self) -> Usage {
        let prompt =
            self.prompt_token_count.unwrap_or(0) + self.tool_use_prompt_token_count.unwrap_or(0);
        let completion =
            self.candidates_token_count.unwrap_or(0) + self.thoughts_token_count.unwrap_or(0);
        let mut usage = Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        };
        if let Some(cached) = self.cached_content_token_count {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                json!({ "cached_tokens": cached }),
            );
        }
        if let Some(thoughts) = self.thoughts_token_count {
            usage.extra.insert(
                "completion_tokens_details".into(),
                json!({ "reasoning_tokens": thoughts }),
            );
        }
        usage
    }
}

/// Parses and translates a 2xx response body, stamped with the current time.
pub fn from_gemini(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<ChatCompletion, BifrostError> {
    let resp: GenerateContentResponse = parse(provider, body)?;
    Ok(from_gemini_value(resp, model, unix_now()))
}

/// Parses a 2xx body, turning an embedded `{"error":{…}}` into the upstream's error.
fn parse<T: for<'de> Deserialize<'de>>(provider: &str, body: &[u8]) -> Result<T, BifrostError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    if value.get("error").is_some_and(Value::is_object) {
        return Err(embedded_error(provider, body));
    }
    serde_json::from_value(value).map_err(|e| BifrostError::bad_upstream_response(provider, e))
}

/// An error object inside a 2xx (or an SSE event) is still an error; it is the upstream's,
/// reported as a bad gateway with Google's message and code kept.
pub(crate) fn embedded_error(provider: &str, body: &[u8]) -> BifrostError {
    let mut e = BifrostError::upstream(provider, 500, body, None);
    e.status = 502;
    e
}

/// The mapping itself, with `created` given so tests are deterministic.
pub fn from_gemini_value(
    resp: GenerateContentResponse,
    model: &str,
    created: u64,
) -> ChatCompletion {
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_ref())
        .is_some();
    let mut choices: Vec<Choice> = resp
        .candidates
        .into_iter()
        .enumerate()
        .map(|(pos, c)| translate_candidate(c, u32::try_from(pos).unwrap_or(u32::MAX)))
        .collect();
    if choices.is_empty() && blocked {
        choices.push(Choice::only(
            ChatMessage::text("assistant", ""),
            "content_filter",
        ));
    }

    let id = resp.response_id.unwrap_or_else(generated_id);
    let model = resp.model_version.unwrap_or_else(|| model.to_owned());
    ChatCompletion {
        usage: resp.usage_metadata.map(UsageMetadata::to_openai),
        ..ChatCompletion::translated(id, created, model, choices)
    }
}

/// Only text (plain or thought) and function calls are read: inline data (generated images,
/// audio) has no place in OpenAI's chat shape.
fn translate_candidate(candidate: Candidate, position: u32) -> Choice {
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
    for part in parts {
        if let Some(call) = part.function_call {
            let n = tool_calls.len();
            let mut tool_call =
                ToolCall::function(call.call_id(n), call.name.clone(), call.arguments());
            if let Some(sig) = part.thought_signature {
                ToolCall::set_thought_signature(&mut tool_call.extra, sig);
            }
            tool_calls.push(tool_call);
        } else if let Some(t) = part.text {
            let target = if part.thought == Some(true) {
                &mut reasoning
            } else {
                &mut text
            };
            target.get_or_insert_with(String::new).push_str(&t);
        }
    }

    let has_tool_calls = !tool_calls.is_empty();
    let content = match text {
        Some(t) => Some(t),
        None if has_tool_calls => None,
        None => Some(String::new()),
    };
    let message = assistant_message(content, reasoning, tool_calls);
    Choice {
        index: candidate.index.unwrap_or(position),
        message,
        finish_reason: Some(
            reasons::gemini::to_openai_choice(candidate.finish_reason.as_deref(), has_tool_calls)
                .to_owned(),
        ),
        ..Choice::default()
    }
}

/// Translates a `batchEmbedContents` (or `embedContent`, accepted too) response. Gemini reports no token
/// counts for embeddings on most deployments, so `usage` is only set when `usageMetadata` came.
pub fn embed_response(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<EmbeddingResponse, BifrostError> {
    let body: EmbedContentResponse = parse(provider, body)?;
    let vectors = match (body.embeddings, body.embedding) {
        (Some(many), _) => many,
        (None, Some(one)) => vec![one],
        (None, None) => {
            return Err(BifrostError::bad_upstream_response(
                provider,
                "the embeddings response has neither 'embeddings' nor 'embedding'",
            ))
        }
    };
    let data = embedding_data(vectors.into_iter().map(|v| v.values));
    Ok(EmbeddingResponse {
        object: "list".to_owned(),
        data,
        model: model.to_owned(),
        usage: body.usage_metadata.map(|u| {
            let prompt = u.prompt_token_count.unwrap_or(0);
            EmbeddingUsage {
                prompt_tokens: prompt,
                total_tokens: prompt,
            }
        }),
        ..EmbeddingResponse::default()
    })
}

/// An id for a response that came without `responseId`: unique within the process and across
/// restarts (time-based prefix).
pub(crate) fn generated_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("gemini-{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    use crate::providers::test_fixtures::CREATED;
    const MODEL: &str = "gemini-2.5-flash";

    fn translate(body: Value) -> ChatCompletion {
        from_gemini_value(serde_json::from_value(body).unwrap(), MODEL, CREATED)
    }

    #[test]
    fn text() {
        insta::assert_json_snapshot!(translate(json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "Hello! "},
                    {"text": "How can I help you today?"}
                ]},
                "finishReason": "STOP",
                "index": 0,
                "avgLogprobs": -0.12
            }],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]},
            "modelVersion": "gemini-2.0-flash",
            "responseId": "mBxnaJ3pAdqbz7IPpZ_ZkAQ"
        })));
    }

    #[test]
    fn tool_calls() {
        insta::assert_json_snapshot!(translate(json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "I'll check both cities."},
                    {"functionCall": {"name": "get_weather", "args": {"location": "Paris", "unit": "c"}},
                     "thoughtSignature": "CiQB0e2Kb7sig"},
                    {"functionCall": {"id": "fc_7f3a", "name": "get_weather", "args": {"location": "Oslo"}}},
                    {"functionCall": {"name": "get_time"}}
                ]},
                "finishReason": "STOP"
            }],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 40, "totalTokenCount": 160},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp_tools"
        })));
    }

    #[test]
    fn thinking_with_cache_and_thought_usage() {
        insta::assert_json_snapshot!(translate(json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "**Multiplying** 27 × 453 = 10800 + 1431.", "thought": true},
                    {"text": "27 × 453 = 12,231"}
                ]},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {"promptTokenCount": 2048, "candidatesTokenCount": 12,
                              "thoughtsTokenCount": 310, "cachedContentTokenCount": 1800,
                              "totalTokenCount": 2370},
            "modelVersion": "gemini-2.5-pro",
            "responseId": "resp_think"
        })));
    }

    #[test]
    fn safety_blocks() {
        let prompt_blocked = translate(json!({
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT",
                               "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "responseId": "resp_blocked"
        }));
        let candidate_blocked = translate(json!({
            "candidates": [
                {"finishReason": "SAFETY", "index": 0,
                 "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true}]},
                {"content": {"role": "model", "parts": [{"text": "Once upon a"}]},
                 "finishReason": "MAX_TOKENS", "index": 1}
            ],
            "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12},
            "responseId": "resp_safety"
        }));
        insta::assert_json_snapshot!(json!({
            "prompt_blocked": prompt_blocked,
            "candidate_blocked_and_cut": candidate_blocked,
        }));
    }

    #[test]
    fn from_gemini_parses_bytes_and_rejects_garbage() {
        let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2}}"#;
        let c = from_gemini("gemini", MODEL, body).unwrap();
        assert_eq!(c.choices[0].message.text_content().as_deref(), Some("hi"));
        assert_eq!(c.model, MODEL);
        assert!(c.id.starts_with("gemini-") && c.created > 0);

        let e = from_gemini("gemini", MODEL, b"<html>").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);

        let e = from_gemini(
            "gemini",
            MODEL,
            br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        )
        .unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.message, "The model is overloaded.");
        assert!(!e.is_bifrost_error);
    }

    #[test]
    fn embeddings() {
        let batch = embed_response(
            "gemini",
            "text-embedding-004",
            br#"{"embeddings":[{"values":[0.25,-0.5,0.125]},{"values":[1.0,0.0,-1.0]}]}"#,
        )
        .unwrap();
        insta::assert_json_snapshot!(batch);

        let single = embed_response(
            "gemini",
            "m",
            br#"{"embedding":{"values":[0.5]},"usageMetadata":{"promptTokenCount":3}}"#,
        )
        .unwrap();
        assert_eq!(single.data.len(), 1);
        assert_eq!(single.usage.map(|u| u.prompt_tokens), Some(3));

        let e = embed_response("gemini", "m", b"{}").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        let e = embed_response(
            "gemini",
            "m",
            br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.status, 502);
    }
}
