//! What the stream translators (Anthropic, Cohere, Bedrock, Gemini) share: the pump that feeds
//! a translator its upstream's items as they arrive, the fields every chunk of one stream
//! carries, the chunk builders and the event parser, so that each translator is only its state
//! machine.

use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletionChunk, ChunkChoice, ChunkDelta, FunctionCallDelta, ToolCallDelta,
};
use futures::Stream;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

/// The identity of one translated stream: the provider (named in errors) and the id, time and
/// model every chunk repeats.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkHead {
    pub provider: String,
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl ChunkHead {
    /// The head of a stream of `model` answered by `provider`, stamped now; the id comes later.
    pub fn now(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            id: String::new(),
            created: super::unix_now(),
            model: model.to_owned(),
        }
    }

    /// Parses one event's payload; `kind` names the event in the error.
    pub fn parse<T: DeserializeOwned>(
        &self,
        kind: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<T, BifrostError> {
        serde_json::from_slice(payload.as_ref()).map_err(|e| {
            BifrostError::bad_upstream_response(&self.provider, format!("{kind} event: {e}"))
        })
    }

    /// A chunk with no choices (the usage chunk starts from it).
    pub fn base(&self) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            ..ChatCompletionChunk::default()
        }
    }

    /// A chunk of the single choice.
    pub fn chunk(&self, delta: ChunkDelta) -> ChatCompletionChunk {
        ChatCompletionChunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                ..ChunkChoice::default()
            }],
            ..self.base()
        }
    }

    pub fn content(&self, text: String) -> ChatCompletionChunk {
        self.chunk(ChunkDelta {
            content: Some(text),
            ..ChunkDelta::default()
        })
    }

    pub fn tool_delta(&self, call: ToolCallDelta) -> ChatCompletionChunk {
        self.chunk(ChunkDelta {
            tool_calls: Some(vec![call]),
            ..ChunkDelta::default()
        })
    }

    /// Reasoning text, as `reasoning_content` (OpenAI-compatible servers' field).
    pub fn reasoning(&self, text: String) -> ChatCompletionChunk {
        let mut delta = ChunkDelta::default();
        delta
            .extra
            .insert("reasoning_content".into(), serde_json::Value::String(text));
        self.chunk(delta)
    }

    /// The first chunk of a stream: the assistant role, with empty content as OpenAI sends.
    pub fn opening(&self) -> ChatCompletionChunk {
        self.chunk(opening_delta())
    }

    /// More arguments of tool call `index`.
    pub fn arguments(&self, index: u32, arguments: String) -> ChatCompletionChunk {
        self.tool_delta(ToolCallDelta {
            index,
            function: Some(FunctionCallDelta {
                name: None,
                arguments: Some(arguments),
            }),
            ..ToolCallDelta::default()
        })
    }

    /// An `error` event after the 200: the upstream's failure, reported as a bad gateway, its
    /// error type (`overloaded_error`, …) kept as sent.
    pub fn error_event(&self, data: &str) -> BifrostError {
        let mut e = BifrostError::upstream(&self.provider, 500, data.as_bytes(), None);
        e.status = 502;
        e
    }
}

/// The delta of a stream's first chunk: the assistant role and empty content.
pub(crate) fn opening_delta() -> ChunkDelta {
    ChunkDelta {
        role: Some("assistant".to_owned()),
        content: Some(String::new()),
        ..ChunkDelta::default()
    }
}

/// An event's kind: its `event:` name, or, where a proxy dropped the `event:` lines (leaving
/// none or the default `message`), the `type` the data repeats it as (Anthropic, Cohere).
pub(crate) fn event_kind(event: &str, data: &str) -> String {
    if event.is_empty() || event == "message" {
        serde_json::from_str::<serde_json::Value>(data)
            .ok()
            .and_then(|v| {
                v.get("type")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    } else {
        event.to_owned()
    }
}

/// Upstream content-block (or tool) index → OpenAI tool-call index, so a block's deltas keep
/// its tool call's index even when several tool calls interleave.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolIndex {
    by_block: HashMap<u64, u32>,
    next: u32,
}

impl ToolIndex {
    /// The index the next tool call will get.
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Numbers the tool call starting at `block`.
    pub fn start(&mut self, block: u64) -> u32 {
        let index = self.next;
        self.next += 1;
        self.by_block.insert(block, index);
        index
    }

    /// The tool call started at `block`, if one did.
    pub fn get(&self, block: u64) -> Option<u32> {
        self.by_block.get(&block).copied()
    }
}

/// A stream translator's state machine, as [`translate_stream`] drives it.
pub(crate) trait Translator: Send + 'static {
    /// What completes a stream; an end before it is a truncation naming it.
    const END: &'static str;

    /// True once the end arrived: the stream is complete and nothing more is read.
    fn is_finished(&self) -> bool;
}

/// Translates an upstream stream item by item as each arrives: `step` turns one item (an SSE
/// event, an event-stream frame) into zero or more chunks. Once the state is finished, nothing
/// more is read — the upstream connection goes with the stream. An error item ends the stream.
pub(crate) fn translate_stream<T, St, F>(
    name: &str,
    items: Pin<Box<dyn Stream<Item = Result<T, BifrostError>> + Send>>,
    state: St,
    step: F,
) -> super::ChunkStream
where
    T: Send + 'static,
    St: Translator,
    F: FnMut(&mut St, T) -> Result<Vec<ChatCompletionChunk>, BifrostError> + Send + 'static,
{
    struct Pump<T, St, F> {
        items: Pin<Box<dyn Stream<Item = Result<T, BifrostError>> + Send>>,
        state: St,
        step: F,
        pending: std::collections::VecDeque<ChatCompletionChunk>,
        failed: bool,
        name: Arc<str>,
    }
    let pump = Pump {
        items,
        state,
        step,
        pending: std::collections::VecDeque::new(),
        failed: false,
        name: name.into(),
    };
    Box::pin(futures::stream::unfold(pump, move |mut p| async move {
        use futures::StreamExt;
        loop {
            if let Some(chunk) = p.pending.pop_front() {
                return Some((Ok(chunk), p));
            }
            if p.failed || p.state.is_finished() {
                return None;
            }
            let err = match p.items.next().await {
                None => BifrostError::stream_error(
                    &p.name,
                    format!("the stream from '{}' ended without {}", p.name, St::END),
                    "upstream_stream_truncated",
                ),
                Some(Err(e)) => e,
                Some(Ok(item)) => match (p.step)(&mut p.state, item) {
                    Ok(chunks) => {
                        p.pending.extend(chunks);
                        continue;
                    }
                    Err(e) => e,
                },
            };
            p.failed = true;
            return Some((Err(err), p));
        }
    }))
}

/// [`translate_stream`] over SSE events, skipping events without data (keep-alives).
pub(crate) fn translate_sse<St: Translator>(
    name: &str,
    events: super::EventStream,
    state: St,
    step: fn(&mut St, &eventsource_stream::Event) -> Result<Vec<ChatCompletionChunk>, BifrostError>,
) -> super::ChunkStream {
    translate_stream(
        name,
        events,
        state,
        move |s, ev: eventsource_stream::Event| {
            if ev.data.trim().is_empty() {
                Ok(Vec::new())
            } else {
                step(s, &ev)
            }
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    /// `(event, data)` pairs of an SSE recording (one `data:` line per event, as Anthropic and
    /// Cohere send).
    pub(crate) fn events(sse: &str) -> Vec<(String, String)> {
        sse.split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                (event, data)
            })
            .collect()
    }
}
