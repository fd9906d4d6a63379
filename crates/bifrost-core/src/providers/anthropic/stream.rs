//! Anthropic Messages SSE events → OpenAI `chat.completion.chunk`s, as a pure state machine:
//! the provider feeds it one event at a time and forwards whatever chunks it returns.

use crate::error::BifrostError;
use crate::providers::chunks::{event_kind, ChunkHead, ToolIndex};
use crate::providers::reasons;
use crate::providers::unix_now;
use crate::providers::Translator;
use crate::schemas::{ChatCompletionChunk, ChunkDelta, ThinkingBlock, ToolCallDelta};
use crate::wire::anthropic::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, Delta, MessageDelta, MessageStart, Usage,
};

/// Translation state of one Anthropic stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    head: ChunkHead,
    usage: Usage,
    tools: ToolIndex,
    finished: bool,
}

impl Default for StreamState {
    fn default() -> Self {
        Self::new(unix_now())
    }
}

impl StreamState {
    /// A stream whose chunks carry `created` (unix seconds).
    pub fn new(created: u64) -> Self {
        Self {
            head: ChunkHead {
                provider: "anthropic".to_owned(),
                created,
                ..ChunkHead::default()
            },
            usage: Usage::default(),
            tools: ToolIndex::default(),
            finished: false,
        }
    }

    /// Names the provider in errors (a custom provider may speak Anthropic's format).
    pub fn with_provider(mut self, provider: &str) -> Self {
        provider.clone_into(&mut self.head.provider);
        self
    }

    /// Translates one SSE event (`event:` name and `data:` payload).
    pub fn on_event(
        &mut self,
        event: &str,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, BifrostError> {
        if self.finished {
            // Nothing may follow message_stop; whatever does is not part of this message.
            return Ok(Vec::new());
        }
        let kind = event_kind(event, data);

        match kind.as_str() {
            "message_start" => {
                let start: MessageStart = self.head.parse(&kind, data)?;
                self.head.id = start.message.id.into_owned();
                self.head.model = start.message.model.into_owned();
                self.usage = start.message.usage;
                Ok(vec![self.head.opening()])
            }
            "content_block_start" => {
                let start: ContentBlockStart = self.head.parse(&kind, data)?;
                match start.content_block {
                    ContentBlock::Text(t) if !t.text.is_empty() => {
                        Ok(vec![self.head.content(t.text.into_owned())])
                    }
                    ContentBlock::ToolUse(t) => {
                        let index = self.tools.start(start.index);
                        Ok(vec![self.head.tool_delta(ToolCallDelta::start(
                            index,
                            t.id.into_owned(),
                            t.name.into_owned(),
                            String::new(),
                        ))])
                    }
                    // Arrives whole, never as deltas.
                    ContentBlock::RedactedThinking(r) => Ok(vec![self.head.chunk(
                        ThinkingBlock::RedactedThinking {
                            data: r.data.into_owned(),
                        }
                        .into_delta(),
                    )]),
                    // `thinking`, server tool blocks: their content (if any) arrives as deltas or
                    // has no OpenAI equivalent.
                    _ => Ok(Vec::new()),
                }
            }
            "content_block_delta" => {
                let delta: ContentBlockDelta = self.head.parse(&kind, data)?;
                match delta.delta {
                    Delta::TextDelta { text } => Ok(vec![self.head.content(text.into_owned())]),
                    Delta::InputJsonDelta { partial_json } => {
                        let index = self.tools.get(delta.index).ok_or_else(|| {
                            BifrostError::bad_upstream_response(
                                &self.head.provider,
                                format!(
                                    "input_json_delta for content block {} which is not a tool_use block",
                                    delta.index
                                ),
                            )
                        })?;
                        Ok(vec![self.head.arguments(index, partial_json.into_owned())])
                    }
                    Delta::ThinkingDelta { thinking } => {
                        Ok(vec![self.head.reasoning(thinking.into_owned())])
                    }
                    Delta::SignatureDelta { signature } => {
                        let block = ThinkingBlock::Thinking {
                            thinking: String::new(),
                            signature: Some(signature.into_owned()),
                        };
                        Ok(vec![self.head.chunk(block.into_delta())])
                    }
                    Delta::Other => Ok(Vec::new()),
                }
            }
            "message_delta" => {
                let md: MessageDelta = self.head.parse(&kind, data)?;
                self.usage.merge(md.usage);
                Ok(match md.delta.stop_reason {
                    Some(reason) => {
                        let mut chunk = self.head.chunk(ChunkDelta::default());
                        if let Some(choice) = chunk.choices.first_mut() {
                            choice.finish_reason =
                                Some(reasons::anthropic::to_openai(&reason).to_owned());
                        }
                        vec![chunk]
                    }
                    None => Vec::new(),
                })
            }
            "message_stop" => {
                self.finished = true;
                Ok(vec![ChatCompletionChunk {
                    choices: Vec::new(),
                    usage: Some(self.usage.to_openai()),
                    ..self.head.base()
                }])
            }
            "error" => {
                // The stream was accepted with a 200, so the failure is the upstream's.
                Err(self.head.error_event(data))
            }
            // `ping`, `content_block_stop` and events added after this was written.
            _ => Ok(Vec::new()),
        }
    }
}

impl Translator for StreamState {
    const END: &'static str = "message_stop";

    /// True once `message_stop` arrived: the stream is complete.
    fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::providers::chunks::tests::events;
    use crate::providers::test_fixtures::{feed, CREATED};

    pub(crate) const TEXT_AND_TOOLS: &str =
        include_str!("../../../tests/fixtures/anthropic/stream_text_and_tools.sse");

    fn translate(sse: &str) -> Vec<ChatCompletionChunk> {
        let mut state = StreamState::new(CREATED);
        feed(&mut state, events(sse), |s, (event, data)| {
            s.on_event(&event, &data)
        })
    }

    #[test]
    fn text_and_interleaved_tool_calls() {
        insta::assert_json_snapshot!(translate(TEXT_AND_TOOLS));
    }

    #[test]
    fn thinking_then_text() {
        let sse = include_str!("../../../tests/fixtures/anthropic/stream_thinking_then_text.sse");
        insta::assert_json_snapshot!(translate(sse));
    }

    #[test]
    fn error_event_is_a_bad_gateway_keeping_the_upstream_type() {
        let mut state = StreamState::new(CREATED).with_provider("claude-proxy");
        let e = state
            .on_event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.error_type, "overloaded_error");
        assert_eq!(e.message, "Overloaded");
        assert_eq!(e.provider.as_deref(), Some("claude-proxy"));
        assert!(!e.is_bifrost_error);
    }

    #[test]
    fn unnamed_events_fall_back_to_the_data_type_and_unknown_ones_are_ignored() {
        let mut state = StreamState::new(CREATED);
        let start = state
            .on_event(
                "message",
                r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3}}}"#,
            )
            .unwrap();
        assert_eq!(start.len(), 1);
        assert_eq!(start[0].id, "msg_1");
        assert!(state.on_event("ping", "").unwrap().is_empty());
        assert!(state
            .on_event("future_event", "not json")
            .unwrap()
            .is_empty());
        let stop = state.on_event("", r#"{"type":"message_stop"}"#).unwrap();
        assert!(stop[0].choices.is_empty());
        assert_eq!(stop[0].usage.as_ref().map(|u| u.total_tokens), Some(3));
        assert!(state.is_finished());
    }

    #[test]
    fn malformed_known_events_are_bad_upstream_responses() {
        let mut state = StreamState::new(CREATED);
        let e = state.on_event("message_start", "{").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        let e = state
            .on_event(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            )
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
    }
}
