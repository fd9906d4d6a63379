//! Each API's `Relay`: how its stream events are classified and its usage read.

use super::*;
use crate::wire::responses::event;

/// An error reported inside a 200 stream: the upstream's failure, answered as a bad gateway
/// with its type and message as sent (as the translated streams do).
fn in_stream_error(provider: &str, body: &[u8]) -> BifrostError {
    let mut e = BifrostError::upstream(provider, 500, body, None);
    e.status = 502;
    e
}

/// The event's type: its SSE name, or the data's `type` when the upstream named none.
fn event_kind<'a>(event: &'a str, data: &'a str) -> Cow<'a, str> {
    if event != "message" {
        return Cow::Borrowed(event);
    }
    #[derive(Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Typed<'_>>(data)
        .ok()
        .and_then(|t| t.kind)
        .unwrap_or(Cow::Borrowed(event))
}

/// Anthropic Messages events: `content_block_start`/`_delta` are content, `message_stop` the
/// end; usage from `message_start` (input and cache) and `message_delta` (output, and any
/// count it repeats).
pub struct AnthropicRelay {
    name: String,
    usage: AnthropicUsage,
}

impl AnthropicRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            usage: AnthropicUsage::default(),
        }
    }

    fn merge(&mut self, u: AnthropicUsage, cell: &UsageCell) {
        self.usage.merge(u);
        cell.set(self.usage.to_openai());
    }
}

impl Relay for AnthropicRelay {
    const END_MARKER: &'static str = "message_stop";

    fn see(&mut self, event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Start {
            message: Delta,
        }
        #[derive(Deserialize)]
        struct Delta {
            usage: Option<AnthropicUsage>,
        }
        match &*event_kind(event, data) {
            "content_block_start" | "content_block_delta" => Seen::Content,
            "message_start" => {
                if let Ok(Start {
                    message: Delta { usage: Some(u) },
                }) = serde_json::from_str(data)
                {
                    self.merge(u, usage);
                }
                Seen::Other
            }
            "message_delta" => {
                if let Ok(Delta { usage: Some(u) }) = serde_json::from_str(data) {
                    self.merge(u, usage);
                }
                Seen::Other
            }
            "message_stop" => Seen::End,
            "error" => Seen::Failure(in_stream_error(&self.name, data.as_bytes())),
            _ => Seen::Other,
        }
    }
}

/// OpenAI chat chunks: a chunk with choices is content, `[DONE]` the end, a chunk holding
/// `error` a failure; usage from the usage chunk, which is dropped unless the client asked.
pub struct OpenAiChatRelay {
    name: String,
    client_wants_usage: bool,
}

impl OpenAiChatRelay {
    pub fn new(name: &str, client_wants_usage: bool) -> Self {
        Self {
            name: name.to_owned(),
            client_wants_usage,
        }
    }
}

impl Relay for OpenAiChatRelay {
    const END_MARKER: &'static str = "[DONE]";

    fn see(&mut self, _event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            choices: Option<Vec<IgnoredAny>>,
            #[serde(default)]
            usage: Option<Usage>,
            #[serde(default)]
            error: Option<IgnoredAny>,
        }
        if data.trim() == "[DONE]" {
            return Seen::End;
        }
        // What the gateway cannot read it still relays: the client may understand it.
        let Ok(chunk) = serde_json::from_str::<Probe>(data) else {
            return Seen::Other;
        };
        if chunk.error.is_some() {
            return Seen::Failure(in_stream_error(&self.name, data.as_bytes()));
        }
        let has_choices = chunk.choices.as_ref().is_some_and(|c| !c.is_empty());
        if let Some(u) = chunk.usage {
            usage.set(u);
            if !has_choices && !self.client_wants_usage {
                return Seen::Dropped;
            }
        } else if !self.client_wants_usage && data.contains("\"usage\":null") {
            // Asking for usage makes OpenAI put `"usage": null` on every chunk; a client that
            // did not ask gets the chunks it would have had.
            if let Ok(edited) = edit_object(data.as_bytes(), &[FieldEdit::Remove("usage")]) {
                if let Ok(edited) = String::from_utf8(edited) {
                    return Seen::EditedContent(edited);
                }
            }
        }
        if has_choices {
            Seen::Content
        } else {
            Seen::Other
        }
    }
}

/// OpenAI Responses events: everything after `response.created`/`.in_progress`/`.queued` is
/// content; `response.completed`/`.incomplete` end the stream (with usage), `error` and
/// `response.failed` are failures.
pub struct OpenAiResponsesRelay {
    name: String,
}

impl OpenAiResponsesRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }
}

impl Relay for OpenAiResponsesRelay {
    const END_MARKER: &'static str = event::COMPLETED;

    fn see(&mut self, name: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Done {
            response: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            usage: Option<ResponsesUsage>,
            #[serde(default)]
            error: Option<serde_json::Value>,
        }
        let done = || serde_json::from_str::<Done>(data).ok().map(|d| d.response);
        match &*event_kind(name, data) {
            event::CREATED | event::IN_PROGRESS | event::QUEUED => Seen::Other,
            event::COMPLETED | event::INCOMPLETE => {
                if let Some(u) = done().and_then(|b| b.usage) {
                    usage.set(u.to_openai());
                }
                Seen::End
            }
            event::FAILED => {
                let error = done().and_then(|b| b.error).unwrap_or_default();
                let body = serde_json::json!({ "error": error }).to_string();
                Seen::Failure(in_stream_error(&self.name, body.as_bytes()))
            }
            event::ERROR => Seen::Failure(in_stream_error(&self.name, data.as_bytes())),
            _ => Seen::Content,
        }
    }
}

/// Gemini `data:` chunks: one with candidates is content, one holding `error` a failure; usage
/// from `usageMetadata`. Gemini sends no terminal event: the stream is complete once a
/// candidate has a `finishReason`.
pub struct GeminiRelay {
    name: String,
    finished: bool,
}

impl GeminiRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            finished: false,
        }
    }
}

impl Relay for GeminiRelay {
    const END_MARKER: &'static str = "a finishReason";

    fn see(&mut self, _event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            candidates: Vec<Candidate>,
            #[serde(default)]
            usage_metadata: Option<UsageMetadata>,
            #[serde(default)]
            error: Option<IgnoredAny>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Candidate {
            #[serde(default)]
            finish_reason: Option<IgnoredAny>,
        }
        if data.trim().is_empty() {
            return Seen::Dropped;
        }
        let Ok(chunk) = serde_json::from_str::<Probe>(data) else {
            return Seen::Other;
        };
        if chunk.error.is_some() {
            return Seen::Failure(embedded_error(&self.name, data.as_bytes()));
        }
        if let Some(u) = chunk.usage_metadata {
            usage.set(u.to_openai());
        }
        if chunk.candidates.iter().any(|c| c.finish_reason.is_some()) {
            self.finished = true;
        }
        if chunk.candidates.is_empty() {
            Seen::Other
        } else {
            Seen::Content
        }
    }

    fn ended_cleanly(&self) -> bool {
        self.finished
    }
}
