//! Bedrock Converse response → OpenAI chat completion (pure).
//!
//! Converse responses carry no id (the request id is the `x-amzn-requestid` header) and no
//! model, so the completion gets a generated `chatcmpl-…` id and the model the caller names.

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::providers::{unix_now, ClaudeMessage};
use crate::schemas::{ChatCompletion, Choice, Usage};
use crate::wire::bedrock::{ContentBlock, ConverseResponse, ConverseUsage};

impl ConverseUsage {
    /// OpenAI's usage: `prompt_tokens` includes cached tokens (read and written), so both are
    /// added back; reads also appear as `prompt_tokens_details.cached_tokens`, writes as
    /// `cache_creation_input_tokens` (Anthropic's name for them). The total is
    /// prompt + completion, which equals Bedrock's `totalTokens`.
    pub fn to_openai(self) -> Usage {
        Usage::with_cache(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_write_input_tokens.unwrap_or(0),
        )
    }
}

/// Parses and translates a 2xx Converse body, with a fresh id and the current time.
pub fn from_converse(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<ChatCompletion, BifrostError> {
    let resp: ConverseResponse = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    Ok(from_converse_value(
        resp,
        &completion_id(),
        model,
        unix_now(),
    ))
}

/// The mapping itself, with id and `created` given so tests are deterministic.
pub fn from_converse_value(
    resp: ConverseResponse,
    id: &str,
    model: &str,
    created: u64,
) -> ChatCompletion {
    let mut gathered = ClaudeMessage::default();
    for block in resp.output.message.content {
        match block {
            ContentBlock::Text(t) => gathered.text(&t),
            ContentBlock::ReasoningContent(r) => {
                if let Some(t) = r.reasoning_text {
                    gathered.thinking(t.text, t.signature);
                }
                if let Some(data) = r.redacted_content {
                    gathered.redacted_thinking(data);
                }
            }
            ContentBlock::ToolUse(tu) => gathered.tool_use(tu.tool_use_id, tu.name, &tu.input),
            // Citations, guard content and kinds added later are not part of the answer.
            _ => {}
        }
    }
    let message = gathered.finish();

    let finish = reasons::bedrock::to_openai(resp.stop_reason.as_deref().unwrap_or(""));
    let choices = vec![Choice::only(message, finish)];
    ChatCompletion {
        usage: Some(resp.usage.to_openai()),
        ..ChatCompletion::translated(id.to_owned(), created, model.to_owned(), choices)
    }
}

/// `chatcmpl-` and 24 random alphanumerics, as OpenAI ids look.
pub(crate) fn completion_id() -> String {
    let mut id = String::with_capacity(33);
    id.push_str("chatcmpl-");
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(24));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use serde_json::{json, Value};

    use crate::providers::test_fixtures::CREATED;
    const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

    fn translate(body: Value) -> ChatCompletion {
        from_converse_value(
            serde_json::from_value(body).unwrap(),
            "chatcmpl-test",
            MODEL,
            CREATED,
        )
    }

    #[test]
    fn text() {
        insta::assert_json_snapshot!(translate(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Hello! "}, {"text": "How can I help you today?"}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 12, "outputTokens": 10, "totalTokens": 22},
            "metrics": {"latencyMs": 412}
        })));
    }

    #[test]
    fn tool_use_and_text() {
        insta::assert_json_snapshot!(translate(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "I'll check the weather in both cities."},
                {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather",
                             "input": {"location": "San Francisco, CA", "unit": "celsius"}}},
                {"toolUse": {"toolUseId": "tooluse_Tl0hMNV8Qm2k3P6uGU0Yxw", "name": "get_time",
                             "input": {}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 384, "outputTokens": 92, "totalTokens": 476},
            "metrics": {"latencyMs": 1780}
        })));
    }

    #[test]
    fn reasoning_and_cache_usage() {
        insta::assert_json_snapshot!(translate(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {
                    "text": "27 * 453 = 10800 + 1431.", "signature": "EqQBCgIYAhIM1gbcDa9G"}}},
                {"reasoningContent": {"redactedContent": "RW5jcnlwdGVk"}},
                {"text": "27 × 453 = 12,231"}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 21, "outputTokens": 310, "totalTokens": 2319,
                      "cacheReadInputTokens": 1800, "cacheWriteInputTokens": 188},
            "metrics": {"latencyMs": 3021}
        })));
    }

    #[test]
    fn guardrail_stop_without_content() {
        insta::assert_json_snapshot!(translate(json!({
            "output": {"message": {"role": "assistant", "content": []}},
            "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 9, "outputTokens": 0, "totalTokens": 9}
        })));
    }

    #[test]
    fn from_converse_parses_bytes_and_rejects_garbage() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},
            "stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}"#;
        let c = from_converse("bedrock", MODEL, body).unwrap();
        assert_eq!(c.choices[0].message.text_content().as_deref(), Some("hi"));
        assert_eq!(c.model, MODEL);
        assert!(c.created > 0);
        assert!(
            c.id.starts_with("chatcmpl-") && c.id.len() == 33,
            "{}",
            c.id
        );
        assert_ne!(c.id, from_converse("bedrock", MODEL, body).unwrap().id);

        let e = from_converse("bedrock", MODEL, b"<html>").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        let e = from_converse("bedrock", MODEL, br#"{"message":"no output"}"#).unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
    }
}
