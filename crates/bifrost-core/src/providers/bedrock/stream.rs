//! ConverseStream events → OpenAI `chat.completion.chunk`s, as a pure state machine: the
//! provider decodes frames ([`super::eventstream`]), feeds each event's type and JSON payload
//! to [`StreamState::on_event`] and forwards whatever chunks it returns. Exception frames go to
//! [`exception_error`].
//!
//! The stream is complete after `metadata` (usage), which Bedrock sends after `messageStop`;
//! [`StreamState::is_finished`] turns true then, and [`StreamState::message_stopped`] tells a
//! stream cut between the two apart from one cut earlier.

use super::response::completion_id;
use crate::error::BifrostError;
use crate::providers::chunks::{ChunkHead, ToolIndex};
use crate::providers::reasons;
use crate::providers::Translator;
use crate::schemas::{ChatCompletionChunk, ChunkDelta, ThinkingBlock, ToolCallDelta};
use crate::wire::bedrock::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent,
};
use std::borrow::Cow;
// Only the tests (through `use super::*`) still map by hand.
#[cfg(test)]
use std::collections::HashMap;

/// Translation state of one ConverseStream.
#[derive(Debug, Clone)]
pub struct StreamState {
    head: ChunkHead,
    /// `contentBlockIndex` → OpenAI tool-call index, so each tool call keeps its own index.
    tools: ToolIndex,
    stopped: bool,
    finished: bool,
}

impl StreamState {
    /// A stream of `model` answered by `provider`, with a fresh id and the current time.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            head: ChunkHead {
                id: completion_id(),
                ..ChunkHead::now(provider, model)
            },
            tools: ToolIndex::default(),
            stopped: false,
            finished: false,
        }
    }

    /// Sets the chunk id (e.g. from `x-amzn-requestid`) and `created` (unix seconds).
    pub fn with_id(mut self, id: &str, created: u64) -> Self {
        id.clone_into(&mut self.head.id);
        self.head.created = created;
        self
    }

    /// True once `messageStop` arrived: the answer is complete, only usage may be missing.
    pub fn message_stopped(&self) -> bool {
        self.stopped
    }

    /// Translates one event (`:event-type` header and JSON payload).
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<ChatCompletionChunk>, BifrostError> {
        if self.finished {
            return Ok(Vec::new());
        }
        match event_type {
            "messageStart" => Ok(vec![self.head.opening()]),
            "contentBlockStart" => {
                let start: ContentBlockStartEvent = self.head.parse(event_type, payload)?;
                let Some(tool) = start.start.tool_use else {
                    return Ok(Vec::new());
                };
                let index = self.tools.start(start.content_block_index);
                Ok(vec![self.head.tool_delta(ToolCallDelta::start(
                    index,
                    tool.tool_use_id,
                    tool.name,
                    String::new(),
                ))])
            }
            "contentBlockDelta" => {
                let delta: ContentBlockDeltaEvent = self.head.parse(event_type, payload)?;
                let d = delta.delta;
                if let Some(text) = d.text {
                    return Ok(vec![self.head.chunk(ChunkDelta {
                        content: Some(text),
                        ..ChunkDelta::default()
                    })]);
                }
                if let Some(tool) = d.tool_use {
                    let index = self
                        .tools
                        .get(delta.content_block_index)
                        .ok_or_else(|| {
                            BifrostError::bad_upstream_response(
                                &self.head.provider,
                                format!(
                                    "toolUse delta for content block {} which did not start as a toolUse block",
                                    delta.content_block_index
                                ),
                            )
                        })?;
                    return Ok(vec![self.head.arguments(index, tool.input)]);
                }
                let Some(r) = d.reasoning_content else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                if let Some(text) = r.text {
                    out.push(self.head.reasoning(text));
                }
                if let Some(signature) = r.signature {
                    let block = ThinkingBlock::Thinking {
                        thinking: String::new(),
                        signature: Some(signature),
                    };
                    out.push(self.head.chunk(block.into_delta()));
                }
                if let Some(data) = r.redacted_content {
                    let block = ThinkingBlock::RedactedThinking { data };
                    out.push(self.head.chunk(block.into_delta()));
                }
                Ok(out)
            }
            "messageStop" => {
                let stop: MessageStopEvent = self.head.parse(event_type, payload)?;
                self.stopped = true;
                let mut chunk = self.head.chunk(ChunkDelta::default());
                if let Some(choice) = chunk.choices.first_mut() {
                    choice.finish_reason = Some(
                        reasons::bedrock::to_openai(stop.stop_reason.as_deref().unwrap_or(""))
                            .to_owned(),
                    );
                }
                Ok(vec![chunk])
            }
            "metadata" => {
                let meta: MetadataEvent = self.head.parse(event_type, payload)?;
                self.finished = true;
                Ok(vec![ChatCompletionChunk {
                    choices: Vec::new(),
                    usage: Some(meta.usage.to_openai()),
                    ..self.head.base()
                }])
            }
            // `contentBlockStop` and events added after this was written.
            _ => Ok(Vec::new()),
        }
    }
}

/// The error an exception frame inside a 200 stream stands for. It is classified as the same
/// exception would be as an HTTP error, so a throttled or failed stream is retried or falls
/// back like a failed request (before the first byte reached the client):
/// `throttlingException`, `serviceQuotaExceededException` → 429 (rate limited);
/// `modelNotReadyException` → 429; `internalServerException` → 500,
/// `serviceUnavailableException` → 503, `modelStreamErrorException` and unknown types → 502
/// (transient); `modelTimeoutException` → 408 (timeout); `validationException` → 400 (caller
/// fault); `accessDeniedException` → 403; `resourceNotFoundException` → 404. The error type is
/// the exception type, the message the payload's `message`.
pub fn exception_error(provider: &str, exception_type: &str, payload: &[u8]) -> BifrostError {
    let status = match exception_type {
        "throttlingException" | "serviceQuotaExceededException" | "modelNotReadyException" => 429,
        "validationException" => 400,
        "accessDeniedException" => 403,
        "resourceNotFoundException" => 404,
        "modelTimeoutException" => 408,
        "internalServerException" => 500,
        "serviceUnavailableException" => 503,
        _ => 502,
    };
    let mut e = BifrostError::upstream(provider, status, payload, None);
    if !exception_type.is_empty() {
        e.error_type = Cow::Owned(exception_type.to_owned());
    }
    e
}

impl Translator for StreamState {
    const END: &'static str = "metadata";

    /// True once `metadata` arrived: the stream is complete.
    fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    use crate::providers::test_fixtures::CREATED;

    /// A ConverseStream with reasoning, text and two tool calls whose deltas interleave.
    const EVENTS: &[(&str, &str)] = &[
        ("messageStart", r#"{"p":"abcdefgh","role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Two cities, "}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"two calls."}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"EqQBCgIYAhIM"}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"text":"Checking "}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"text":"both."}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":1}"#),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"tooluse_A","name":"get_weather"}}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"tooluse_B","name":"get_weather"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":3,"delta":{"toolUse":{"input":"{\"city\":"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"city\":\"Paris\"}"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":3,"delta":{"toolUse":{"input":"\"Rome\"}"}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":2}"#),
        ("contentBlockStop", r#"{"contentBlockIndex":3}"#),
        ("messageStop", r#"{"stopReason":"tool_use"}"#),
        (
            "metadata",
            r#"{"usage":{"inputTokens":90,"outputTokens":41,"totalTokens":1331,"cacheReadInputTokens":1200},"metrics":{"latencyMs":812}}"#,
        ),
    ];

    fn translate(events: &[(&str, &str)]) -> (StreamState, Vec<ChatCompletionChunk>) {
        let mut state = StreamState::new("bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0")
            .with_id("chatcmpl-stream", CREATED);
        let mut chunks = Vec::new();
        for (event, payload) in events {
            assert!(!state.is_finished(), "event after metadata");
            chunks.extend(state.on_event(event, payload.as_bytes()).unwrap());
        }
        (state, chunks)
    }

    #[test]
    fn reasoning_text_and_interleaved_tool_calls() {
        let (state, chunks) = translate(EVENTS);
        assert!(state.is_finished() && state.message_stopped());
        insta::assert_json_snapshot!(chunks);
    }

    #[test]
    fn tool_calls_keep_distinct_indices() {
        let (_, chunks) = translate(EVENTS);
        let mut args: HashMap<u32, String> = HashMap::new();
        for c in &chunks {
            for choice in &c.choices {
                for call in choice.delta.tool_calls.iter().flatten() {
                    let a = call.function.as_ref().and_then(|f| f.arguments.clone());
                    args.entry(call.index)
                        .or_default()
                        .push_str(&a.unwrap_or_default());
                }
            }
        }
        assert_eq!(args[&0], r#"{"city":"Paris"}"#);
        assert_eq!(args[&1], r#"{"city":"Rome"}"#);
    }

    #[test]
    fn text_only_stream_ending_at_max_tokens() {
        let (state, chunks) = translate(&[
            ("messageStart", r#"{"role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            ("messageStop", r#"{"stopReason":"max_tokens"}"#),
        ]);
        assert!(state.message_stopped() && !state.is_finished());
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hello"));
        assert_eq!(
            chunks[2].choices[0].finish_reason.as_deref(),
            Some("length")
        );
    }

    #[test]
    fn nothing_after_metadata_and_unknown_events_are_ignored() {
        let mut state = StreamState::new("bedrock", "m");
        assert!(state
            .on_event("somethingNew", b"not json")
            .unwrap()
            .is_empty());
        let last = state
            .on_event(
                "metadata",
                br#"{"usage":{"inputTokens":3,"outputTokens":2}}"#,
            )
            .unwrap();
        assert!(last[0].choices.is_empty());
        assert_eq!(last[0].usage.as_ref().map(|u| u.total_tokens), Some(5));
        assert!(state.is_finished());
        assert!(state
            .on_event("contentBlockDelta", br#"{"delta":{"text":"late"}}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_known_events_are_bad_upstream_responses() {
        let mut state = StreamState::new("my-bedrock", "m");
        let e = state.on_event("contentBlockDelta", b"{").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        assert_eq!(e.provider.as_deref(), Some("my-bedrock"));
        let e = state
            .on_event(
                "contentBlockDelta",
                br#"{"contentBlockIndex":7,"delta":{"toolUse":{"input":"{"}}}"#,
            )
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
    }

    #[test]
    fn exceptions_are_classified_like_http_errors() {
        let cases = [
            ("throttlingException", 429, ErrorClass::RateLimited),
            ("serviceUnavailableException", 503, ErrorClass::Transient),
            ("internalServerException", 500, ErrorClass::Transient),
            ("modelStreamErrorException", 502, ErrorClass::Transient),
            ("modelTimeoutException", 408, ErrorClass::Timeout),
            ("validationException", 400, ErrorClass::CallerFault),
            ("accessDeniedException", 403, ErrorClass::Credential),
            ("somethingNewException", 502, ErrorClass::Transient),
        ];
        for (kind, status, class) in cases {
            let e = exception_error(
                "bedrock",
                kind,
                br#"{"message":"Too many requests, please wait before trying again."}"#,
            );
            assert_eq!((e.status, e.class), (status, class), "{kind}");
            assert_eq!(e.error_type, kind);
            assert_eq!(
                e.message,
                "Too many requests, please wait before trying again."
            );
            assert!(!e.is_bifrost_error);
        }
        let e = exception_error("bedrock", "throttlingException", b"");
        assert!(e.class.is_retryable() && e.class.allows_fallback());
        assert!(e.message.contains("empty body"), "{}", e.message);
    }
}
