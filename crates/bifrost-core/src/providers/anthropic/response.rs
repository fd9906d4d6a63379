//! Anthropic Messages response → OpenAI chat completion (pure).

use crate::error::BifrostError;
use crate::providers::reasons;
use crate::providers::{unix_now, ClaudeMessage};
use crate::schemas::{ChatCompletion, Choice};
use crate::wire::anthropic::{ContentBlock, Message};
use serde_json::Value;

/// Parses and translates a 2xx response body, stamped with the current time.
pub fn from_anthropic(provider: &str, body: &[u8]) -> Result<ChatCompletion, BifrostError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    // An error object inside a 2xx is still an error; it is the upstream's, not ours.
    if value.get("type").and_then(Value::as_str) == Some("error") {
        let mut e = BifrostError::upstream(provider, 500, body, None);
        e.status = 502;
        return Err(e);
    }
    // `Message` lets `message_start` leave these out; an answer must have them.
    if let Value::Object(map) = &value {
        if let Some(field) = ["id", "content"].iter().find(|f| !map.contains_key(**f)) {
            return Err(BifrostError::bad_upstream_response(
                provider,
                format!("missing field `{field}`"),
            ));
        }
    }
    let resp: Message = serde_json::from_value(value)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    Ok(from_anthropic_value(resp, unix_now()))
}

/// The mapping itself, with `created` given so tests are deterministic.
pub fn from_anthropic_value(resp: Message<'_>, created: u64) -> ChatCompletion {
    let mut gathered = ClaudeMessage::default();
    for block in resp.content {
        match block {
            ContentBlock::Text(t) => gathered.text(&t.text),
            ContentBlock::Thinking(t) => {
                gathered.thinking(t.thinking.into_owned(), t.signature.map(|s| s.into_owned()))
            }
            ContentBlock::RedactedThinking(r) => gathered.redacted_thinking(r.data.into_owned()),
            ContentBlock::ToolUse(t) => {
                gathered.tool_use(t.id.into_owned(), t.name.into_owned(), &t.input)
            }
            // Server tool blocks and whatever Anthropic adds later: OpenAI's shape has no place
            // for them.
            _ => {}
        }
    }
    let message = gathered.finish();

    // A finished, non-streamed message always has a reason in OpenAI's shape.
    let finish = reasons::anthropic::to_openai(resp.stop_reason.as_deref().unwrap_or(""));
    let choices = vec![Choice::only(message, finish)];
    ChatCompletion {
        usage: Some(resp.usage.to_openai()),
        ..ChatCompletion::translated(resp.id.into(), created, resp.model.into(), choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use serde_json::json;

    use crate::providers::test_fixtures::CREATED;

    fn translate(body: Value) -> ChatCompletion {
        from_anthropic_value(serde_json::from_value(body).unwrap(), CREATED)
    }

    #[test]
    fn text() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [
                {"type": "text", "text": "Hello! "},
                {"type": "text", "text": "How can I help you today?"}
            ],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 10}
        })));
    }

    #[test]
    fn tool_use_and_text() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "msg_01Aq9w938a90dw8q",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [
                {"type": "text", "text": "I'll check the weather in both cities."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                 "name": "get_weather", "input": {"location": "San Francisco, CA", "unit": "celsius"}},
                {"type": "tool_use", "id": "toolu_01B19q90qw90lq917835lq9",
                 "name": "get_time", "input": {}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 384, "output_tokens": 92}
        })));
    }

    #[test]
    fn thinking() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "msg_01Thk",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-7-sonnet-20250219",
            "content": [
                {"type": "thinking", "thinking": "27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431.",
                 "signature": "EuYBCkQYAiJAgCs1le6/Pol5Z4/JMomVOouGrWdhYNsH3ukzUECbB6iWrSQtsQuRHJID6lWV"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
                {"type": "text", "text": "27 × 453 = 12,231"}
            ],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 48, "output_tokens": 310}
        })));
    }

    #[test]
    fn cache_usage() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "msg_01Cache",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [{"type": "text", "text": "The contract's term is 24 months."}],
            "stop_reason": "stop_sequence",
            "stop_sequence": "\n\nHuman:",
            "usage": {"input_tokens": 21, "cache_creation_input_tokens": 188,
                      "cache_read_input_tokens": 1800, "output_tokens": 12}
        })));
    }

    #[test]
    fn max_tokens_stop_and_no_text() {
        insta::assert_json_snapshot!(translate(json!({
            "id": "msg_01Max",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [],
            "stop_reason": "max_tokens",
            "stop_sequence": null,
            "usage": {"input_tokens": 9, "cache_read_input_tokens": null, "output_tokens": 1}
        })));
    }

    #[test]
    fn from_anthropic_parses_bytes_and_rejects_garbage() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",
            "content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn",
            "usage":{"input_tokens":1,"output_tokens":1}}"#;
        let c = from_anthropic("anthropic", body).unwrap();
        assert_eq!(c.choices[0].message.text_content().as_deref(), Some("hi"));
        assert!(c.created > 0);

        let e = from_anthropic("anthropic", b"<html>").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        // A 200 without `content` is no completion, not an empty one.
        let e = from_anthropic(
            "anthropic",
            br#"{"id":"msg_1","type":"message","role":"assistant","stop_reason":"end_turn"}"#,
        )
        .unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);

        let e = from_anthropic(
            "anthropic",
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.error_type, "overloaded_error");
    }
}
