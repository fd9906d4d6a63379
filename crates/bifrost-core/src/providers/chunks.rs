//! What the stream translators (Anthropic, Cohere, Bedrock) share: the fields every chunk of one
//! stream carries, the chunk builders and the event parser, so that each translator is only
//! its state machine.

use crate::error::BifrostError;
use crate::schemas::{ChatCompletionChunk, ChunkChoice, ChunkDelta, ToolCallDelta};
use serde::de::DeserializeOwned;

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

    /// An `error` event after the 200: the upstream's failure, reported as a bad gateway, its
    /// error type (`overloaded_error`, …) kept as sent.
    pub fn error_event(&self, data: &str) -> BifrostError {
        let mut e = BifrostError::upstream(&self.provider, 500, data.as_bytes(), None);
        e.status = 502;
        e
    }
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
