//! Cohere v2 chat SSE events → OpenAI `chat.completion.chunk`s, as a pure state machine: the
//! provider feeds it one event at a time and forwards whatever chunks it returns.
//!
//! - `message-start` → the first chunk, with role `assistant` and empty content.
//! - `content-delta` text → `content`; thinking → `reasoning_content`. `tool-plan-delta` →
//!   `content`, as the response translation does with `tool_plan`.
//! - `tool-call-start` → a tool-call delta with id, type and name; `tool-call-delta` → its
//!   arguments. Each Cohere `index` keeps the OpenAI index it was given at its start (0, 1, 2…
//!   in order of appearance), so interleaved calls never mix.
//! - `message-end` → a chunk with `finish_reason`, then a final chunk with no choices and the
//!   usage; the stream is then finished. A finish reason of `ERROR`/`TIMEOUT`, or an `error` in
//!   the event, is an upstream error instead.
//! - `content-start` (its text, if any, is emitted), `content-end`, `tool-call-end`,
//!   `citation-start`/`citation-end`, `debug` and unknown events produce nothing.

use super::response::failed_generation;
use crate::error::BifrostError;
use crate::providers::chunks::{event_kind, ChunkHead, ToolIndex};
use crate::providers::reasons;
use crate::providers::Translator;
use crate::schemas::{ChatCompletionChunk, ChunkDelta, ToolCallDelta};
use crate::wire::cohere::{
    ContentMessage, Envelope, MessageEnd, MessageStart, ToolCallMessage, ToolPlanMessage,
};

/// Translation state of one Cohere stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    head: ChunkHead,
    /// Cohere tool-call index → OpenAI tool-call index.
    tools: ToolIndex,
    finished: bool,
}

impl StreamState {
    /// A stream for `model` (Cohere's events do not name it) at `provider`, stamped now.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            head: ChunkHead::now(provider, model),
            tools: ToolIndex::default(),
            finished: false,
        }
    }

    /// Fixes `created` (unix seconds), for deterministic tests.
    pub fn with_created(mut self, created: u64) -> Self {
        self.head.created = created;
        self
    }

    /// Translates one SSE event (`event:` name, possibly empty, and `data:` payload).
    pub fn on_event(
        &mut self,
        event: &str,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, BifrostError> {
        if self.finished {
            return Ok(Vec::new());
        }
        let kind = event_kind(event, data);

        match kind.as_str() {
            "message-start" => {
                let start: MessageStart = self.head.parse(&kind, data)?;
                if let Some(id) = start.id {
                    self.head.id = id;
                }
                Ok(vec![self.head.opening()])
            }
            "content-start" | "content-delta" => {
                let ev: Envelope<ContentMessage> = self.head.parse(&kind, data)?;
                let piece = ev.delta.message.content;
                let mut out = Vec::new();
                if let Some(thinking) = piece.thinking.filter(|t| !t.is_empty()) {
                    out.push(self.head.reasoning(thinking));
                }
                if let Some(text) = piece.text.filter(|t| !t.is_empty()) {
                    out.push(self.head.content(text));
                }
                Ok(out)
            }
            "tool-plan-delta" => {
                let ev: Envelope<ToolPlanMessage> = self.head.parse(&kind, data)?;
                let plan = ev.delta.message.tool_plan;
                Ok(if plan.is_empty() {
                    Vec::new()
                } else {
                    vec![self.head.content(plan)]
                })
            }
            "tool-call-start" => {
                let ev: Envelope<ToolCallMessage> = self.head.parse(&kind, data)?;
                let cohere_index = ev.index.unwrap_or(u64::from(self.tools.next()));
                let index = self.tools.start(cohere_index);
                let call = ev.delta.message.tool_calls;
                Ok(vec![self.head.tool_delta(ToolCallDelta::start(
                    index,
                    call.id.unwrap_or_default(),
                    call.function.name.unwrap_or_default(),
                    call.function.arguments.unwrap_or_default(),
                ))])
            }
            "tool-call-delta" => {
                let ev: Envelope<ToolCallMessage> = self.head.parse(&kind, data)?;
                let index = ev.index.and_then(|i| self.tools.get(i)).ok_or_else(|| {
                    BifrostError::bad_upstream_response(
                        &self.head.provider,
                        format!(
                            "tool-call-delta for index {:?} without a tool-call-start",
                            ev.index
                        ),
                    )
                })?;
                let arguments = ev.delta.message.tool_calls.function.arguments;
                Ok(match arguments.filter(|a| !a.is_empty()) {
                    Some(arguments) => vec![self.head.arguments(index, arguments)],
                    None => Vec::new(),
                })
            }
            "message-end" => {
                let end: MessageEnd = self.head.parse(&kind, data)?;
                let reason = end.delta.finish_reason.unwrap_or_default();
                let finish = match (reasons::cohere::to_openai(&reason), end.delta.error) {
                    (Some(f), None) => f,
                    (_, error) => {
                        self.finished = true;
                        let reason = if reason.is_empty() { "ERROR" } else { &reason };
                        return Err(failed_generation(
                            &self.head.provider,
                            reason,
                            error.as_deref(),
                        ));
                    }
                };
                self.finished = true;
                let mut chunk = self.head.chunk(ChunkDelta::default());
                if let Some(choice) = chunk.choices.first_mut() {
                    choice.finish_reason = Some(finish.to_owned());
                }
                Ok(vec![
                    chunk,
                    ChatCompletionChunk {
                        choices: Vec::new(),
                        usage: Some(end.delta.usage.to_openai()),
                        ..self.head.base()
                    },
                ])
            }
            "error" => {
                // Not a documented Cohere event, but an error a proxy or a future API version
                // may send after the 200: the upstream's failure, reported as a bad gateway.
                self.finished = true;
                Err(self.head.error_event(data))
            }
            // content-end, tool-call-end, citation-start/end, debug, and later additions.
            _ => Ok(Vec::new()),
        }
    }
}

impl Translator for StreamState {
    const END: &'static str = "message-end";

    /// True once `message-end` arrived: the stream is complete.
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

    pub(crate) const TOOLS_STREAM: &str =
        include_str!("../../../tests/fixtures/cohere/stream_tool_calls.sse");
    pub(crate) const TEXT_STREAM: &str =
        include_str!("../../../tests/fixtures/cohere/stream_text.sse");

    fn state() -> StreamState {
        StreamState::new("cohere", "command-a-03-2025").with_created(CREATED)
    }

    fn translate(sse: &str) -> Vec<ChatCompletionChunk> {
        let mut state = state();
        feed(&mut state, events(sse), |s, (event, data)| {
            s.on_event(&event, &data)
        })
    }

    #[test]
    fn tool_plan_and_two_tool_calls() {
        insta::assert_json_snapshot!(translate(TOOLS_STREAM));
    }

    #[test]
    fn text_with_citations_and_usage() {
        insta::assert_json_snapshot!(translate(TEXT_STREAM));
    }

    /// What `bifrost-mock` streams for a tool call, so the mock and this translation agree.
    #[test]
    fn the_mock_stream_reassembles() {
        let chunks = translate(include_str!(
            "../../../tests/fixtures/cohere/mock_tool_call.sse"
        ));
        let mut content = String::new();
        let mut arguments = String::new();
        for c in &chunks {
            if let Some(choice) = c.choices.first() {
                content.push_str(choice.delta.content.as_deref().unwrap_or_default());
                for call in choice.delta.tool_calls.iter().flatten() {
                    assert_eq!(call.index, 0);
                    let f = call.function.as_ref();
                    arguments.push_str(f.and_then(|f| f.arguments.as_deref()).unwrap_or_default());
                }
            }
        }
        assert_eq!(content, "Let me check.");
        assert_eq!(arguments, r#"{"location":"Paris"}"#);
        let finish = chunks
            .iter()
            .rev()
            .find_map(|c| c.choices.first()?.finish_reason.clone());
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        let usage = chunks.last().and_then(|c| c.usage.as_ref()).unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (5, 9));
    }

    #[test]
    fn events_without_names_use_the_data_type() {
        let unnamed: String = events(TOOLS_STREAM)
            .into_iter()
            .map(|(_, data)| format!("data: {data}\n\n"))
            .collect();
        assert_eq!(translate(&unnamed), translate(TOOLS_STREAM));
    }

    #[test]
    fn tool_calls_keep_their_index_when_interleaved() {
        let mut state = state();
        let start = |i: u64, id: &str| {
            format!(
                r#"{{"type":"tool-call-start","index":{i},"delta":{{"message":{{"tool_calls":{{"id":"{id}","type":"function","function":{{"name":"f","arguments":""}}}}}}}}}}"#
            )
        };
        let delta = |i: u64, args: &str| {
            format!(
                r#"{{"type":"tool-call-delta","index":{i},"delta":{{"message":{{"tool_calls":{{"function":{{"arguments":"{args}"}}}}}}}}}}"#
            )
        };
        // Cohere indexes count content blocks too: 1 and 3 here, 0 and 1 for OpenAI.
        let mut seen = Vec::new();
        for data in [start(1, "a"), start(3, "b"), delta(3, "B"), delta(1, "A")] {
            for c in state.on_event("", &data).unwrap() {
                let call = &c.choices[0].delta.tool_calls.as_ref().unwrap()[0];
                let args = call.function.as_ref().and_then(|f| f.arguments.clone());
                seen.push((call.index, call.id.clone(), args.unwrap_or_default()));
            }
        }
        assert_eq!(
            seen,
            vec![
                (0, Some("a".to_owned()), String::new()),
                (1, Some("b".to_owned()), String::new()),
                (1, None, "B".to_owned()),
                (0, None, "A".to_owned()),
            ]
        );
    }

    #[test]
    fn failed_generation_is_an_error() {
        let mut state = state();
        let e = state
            .on_event(
                "message-end",
                r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"model overloaded","usage":{}}}"#,
            )
            .unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert!(e.message.contains("model overloaded"), "{}", e.message);
        assert!(state.is_finished());

        let mut state = StreamState::new("cohere", "m");
        let e = state
            .on_event(
                "message-end",
                r#"{"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}"#,
            )
            .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("cohere_timeout"));
    }

    #[test]
    fn malformed_events_are_bad_upstream_responses_and_unknown_ones_ignored() {
        let mut state = state();
        let e = state.on_event("message-start", "{").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        let e = state
            .on_event(
                "tool-call-delta",
                r#"{"type":"tool-call-delta","index":7,"delta":{"message":{"tool_calls":{"function":{"arguments":"{"}}}}}"#,
            )
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        assert!(state.on_event("debug", "{}").unwrap().is_empty());
        assert!(state
            .on_event("future-event", "not json")
            .unwrap()
            .is_empty());
        let e = state
            .on_event("error", r#"{"message":"stream broke"}"#)
            .unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (502, "stream broke"));
    }
}
