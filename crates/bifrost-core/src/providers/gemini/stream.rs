//! Gemini `:streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk`s, as a pure state
//! machine: the provider feeds it the payload of each `data:` line (one
//! `GenerateContentResponse` each; there is no `[DONE]`) and forwards the chunks it returns.
//!
//! Per event: a first chunk with `role: assistant` (once per stream); then, per candidate and
//! part in order, a content chunk per text part, a `reasoning_content` chunk per thought part,
//! a complete tool-call delta per `functionCall` part (id, type, name and the full arguments;
//! the index counts the calls of that choice); then, for a candidate with `finishReason`, an
//! empty-delta chunk carrying the mapped `finish_reason` (`tool_calls` if the choice called a
//! function). Once every candidate seen has finished, a last chunk with empty `choices` carries
//! the usage of the latest `usageMetadata` (OpenAI's `include_usage` shape) and the stream is
//! finished; later events are ignored.

use super::response::{embedded_error, generated_id};
use crate::error::BifrostError;
use crate::providers::chunks::opening_delta;
use crate::providers::reasons;
use crate::providers::unix_now;
use crate::providers::Translator;
use crate::schemas::{ChatCompletionChunk, ChunkChoice, ChunkDelta, ToolCall, ToolCallDelta};
use crate::wire::gemini::{GenerateContentResponse, UsageMetadata};
use serde_json::Value;
use std::collections::BTreeMap;

/// Translation state of one Gemini stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    provider: String,
    created: u64,
    /// From the first event's `responseId`, else generated.
    id: Option<String>,
    model: String,
    usage: Option<UsageMetadata>,
    /// Candidate index → what this stream has seen of it.
    candidates: BTreeMap<u32, CandidateState>,
    started: bool,
    finished: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct CandidateState {
    tool_calls: u32,
    finished: bool,
}

impl StreamState {
    /// A stream for `model` at `provider` (names the provider in errors), stamped now.
    pub fn new(provider: &str, model: &str) -> Self {
        Self::with_created(provider, model, unix_now())
    }

    /// A stream whose chunks carry `created` (unix seconds).
    pub fn with_created(provider: &str, model: &str, created: u64) -> Self {
        Self {
            provider: provider.to_owned(),
            created,
            id: None,
            model: model.to_owned(),
            usage: None,
            candidates: BTreeMap::new(),
            started: false,
            finished: false,
        }
    }

    /// Translates the payload of one `data:` line.
    pub fn on_data(&mut self, data: &str) -> Result<Vec<ChatCompletionChunk>, BifrostError> {
        let data = data.trim();
        if self.finished || data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(data).map_err(|e| {
            BifrostError::bad_upstream_response(&self.provider, format!("stream event: {e}"))
        })?;
        if value.get("error").is_some_and(Value::is_object) {
            // The stream was accepted with a 200, so the failure is the upstream's, reported as
            // a bad gateway with Google's message kept.
            return Err(embedded_error(&self.provider, data.as_bytes()));
        }
        let resp: GenerateContentResponse = serde_json::from_value(value).map_err(|e| {
            BifrostError::bad_upstream_response(&self.provider, format!("stream event: {e}"))
        })?;

        if self.id.is_none() {
            self.id = Some(resp.response_id.clone().unwrap_or_else(generated_id));
        }
        if let Some(version) = &resp.model_version {
            version.clone_into(&mut self.model);
        }
        if resp.usage_metadata.is_some() {
            self.usage = resp.usage_metadata;
        }

        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(self.chunk(0, opening_delta()));
        }

        let blocked = resp
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_ref())
            .is_some();
        if resp.candidates.is_empty() && blocked {
            // The prompt was refused before generation: nothing more will come.
            let mut chunk = self.chunk(0, ChunkDelta::default());
            set_finish(&mut chunk, "content_filter");
            out.push(chunk);
            self.candidates.insert(
                0,
                CandidateState {
                    finished: true,
                    ..CandidateState::default()
                },
            );
        }

        for (pos, candidate) in resp.candidates.into_iter().enumerate() {
            let index = candidate
                .index
                .unwrap_or(u32::try_from(pos).unwrap_or(u32::MAX));
            let mut state = self.candidates.get(&index).copied().unwrap_or_default();
            if state.finished {
                continue;
            }
            let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
            for part in parts {
                if let Some(call) = part.function_call {
                    let n = state.tool_calls;
                    state.tool_calls += 1;
                    let mut delta = ToolCallDelta::start(
                        n,
                        call.call_id(n),
                        call.name.clone(),
                        call.arguments(),
                    );
                    if let Some(sig) = part.thought_signature {
                        ToolCall::set_thought_signature(&mut delta.extra, sig);
                    }
                    out.push(self.chunk(
                        index,
                        ChunkDelta {
                            tool_calls: Some(vec![delta]),
                            ..ChunkDelta::default()
                        },
                    ));
                } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    let mut delta = ChunkDelta::default();
                    if part.thought == Some(true) {
                        delta
                            .extra
                            .insert("reasoning_content".into(), Value::String(text));
                    } else {
                        delta.content = Some(text);
                    }
                    out.push(self.chunk(index, delta));
                }
            }
            if let Some(reason) = candidate.finish_reason.as_deref() {
                state.finished = true;
                let mut chunk = self.chunk(index, ChunkDelta::default());
                set_finish(
                    &mut chunk,
                    reasons::gemini::to_openai_choice(Some(reason), state.tool_calls > 0),
                );
                out.push(chunk);
            }
            self.candidates.insert(index, state);
        }

        if !self.candidates.is_empty() && self.candidates.values().all(|c| c.finished) {
            self.finished = true;
            if let Some(usage) = self.usage {
                out.push(ChatCompletionChunk {
                    choices: Vec::new(),
                    usage: Some(usage.to_openai()),
                    ..self.base()
                });
            }
        }
        Ok(out)
    }

    fn base(&self) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone().unwrap_or_default(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            ..ChatCompletionChunk::default()
        }
    }

    fn chunk(&self, index: u32, delta: ChunkDelta) -> ChatCompletionChunk {
        ChatCompletionChunk {
            choices: vec![ChunkChoice {
                index,
                delta,
                ..ChunkChoice::default()
            }],
            ..self.base()
        }
    }
}

fn set_finish(chunk: &mut ChatCompletionChunk, reason: &str) {
    if let Some(choice) = chunk.choices.first_mut() {
        choice.finish_reason = Some(reason.to_owned());
    }
}

impl Translator for StreamState {
    const END: &'static str = "a finishReason";

    /// True once every candidate has its `finishReason` (the stream is complete).
    fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::providers::test_fixtures::{feed, CREATED};

    /// A `streamGenerateContent?alt=sse` recording: text in two events, then two function calls
    /// in one event, then the finish with the final usage. Frames end with `\r\n\r\n`, as
    /// Google sends them.
    const TEXT_AND_TOOLS: &str = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"I'll check the weather\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 96,\"candidatesTokenCount\": 5,\"totalTokenCount\": 101},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"5ftpaNuSLYqUz7IP2oKc8Ak\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" in both cities.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 96,\"candidatesTokenCount\": 9,\"totalTokenCount\": 105},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"5ftpaNuSLYqUz7IP2oKc8Ak\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"location\": \"Paris\"}},\"thoughtSignature\": \"CiQB0e2Kb7s\"},{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"location\": \"Oslo\",\"unit\": \"c\"}}}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 96,\"candidatesTokenCount\": 41,\"totalTokenCount\": 137},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"5ftpaNuSLYqUz7IP2oKc8Ak\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 96,\"candidatesTokenCount\": 41,\"totalTokenCount\": 201,\"thoughtsTokenCount\": 64,\"cachedContentTokenCount\": 32},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"5ftpaNuSLYqUz7IP2oKc8Ak\"}\r\n\r\n",
    );

    /// The `data:` payloads of an SSE recording.
    fn data_lines(sse: &str) -> Vec<&str> {
        sse.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .collect()
    }

    fn translate(sse: &str) -> Vec<ChatCompletionChunk> {
        let mut state = StreamState::with_created("gemini", "gemini-2.5-flash", CREATED);
        feed(&mut state, data_lines(sse), |s, data| s.on_data(data))
    }

    #[test]
    fn text_and_two_function_calls() {
        insta::assert_json_snapshot!(translate(TEXT_AND_TOOLS));
    }

    #[test]
    fn thinking_then_text_cut_at_max_tokens() {
        let sse = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"**Planning** the multiplication.\",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"totalTokenCount\":12,\"thoughtsTokenCount\":40},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"resp_think\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"27 × 453\"}],\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":4,\"totalTokenCount\":56,\"thoughtsTokenCount\":40},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"resp_think\"}\r\n\r\n",
        );
        insta::assert_json_snapshot!(translate(sse));
    }

    #[test]
    fn blocked_prompt_finishes_with_content_filter() {
        let chunks = translate(
            "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":7,\"totalTokenCount\":7},\"responseId\":\"r1\"}\r\n\r\n",
        );
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        assert_eq!(
            chunks[1].choices[0].finish_reason.as_deref(),
            Some("content_filter")
        );
        assert!(chunks[2].choices.is_empty());
        assert_eq!(chunks[2].usage.as_ref().map(|u| u.prompt_tokens), Some(7));
    }

    #[test]
    fn two_candidates_finish_separately() {
        let mut state = StreamState::with_created("gemini", "m", CREATED);
        let first = state
            .on_data(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0},{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP","index":1}]}"#)
            .unwrap();
        assert!(!state.is_finished());
        assert_eq!(first.len(), 4);
        assert_eq!(first[2].choices[0].index, 1);
        let last = state
            .on_data(r#"{"candidates":[{"content":{"parts":[{"text":"c"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3}}"#)
            .unwrap();
        assert!(state.is_finished());
        assert_eq!(last.len(), 3);
        assert_eq!(last[2].usage.as_ref().map(|u| u.total_tokens), Some(5));
        assert!(state.on_data(r#"{"candidates":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn error_payload_is_a_bad_gateway_keeping_the_message() {
        let mut state = StreamState::new("gemini-eu", "m");
        let e = state
            .on_data(r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#)
            .unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(
            e.message,
            "The model is overloaded. Please try again later."
        );
        assert_eq!(e.provider.as_deref(), Some("gemini-eu"));
        assert!(!e.is_bifrost_error);
    }

    #[test]
    fn malformed_events_are_bad_upstream_responses() {
        let mut state = StreamState::new("gemini", "m");
        let e = state.on_data("{").unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        let e = state.on_data(r#"{"candidates":"x"}"#).unwrap_err();
        assert_eq!(e.class, ErrorClass::BadUpstreamResponse);
        assert!(state.on_data("").unwrap().is_empty());
    }
}
