//! The unified answer → `GenerateContentResponse`s: plain, streamed (`StreamEncoder`) and as Google errors.

use super::*;

/// A chat completion → a `GenerateContentResponse`: one candidate per choice, whose parts are
/// the reasoning (`{"text", "thought": true}`), the text (or the refusal, when there is no
/// text), then a `functionCall` per tool call (`id`, `name`, `args` = the arguments parsed; see
/// [`call_args`]). `finishReason`, see [`reasons::gemini::from_openai`]; `usageMetadata`, see
/// [`usage_metadata`]; `modelVersion` is `model`, `responseId` the completion's id.
pub fn from_chat(resp: &ChatCompletion, model: &str) -> GenerateContentResponse {
    let candidates = resp
        .choices
        .iter()
        .map(|choice| {
            let msg = &choice.message;
            let mut parts = Vec::new();
            if let Some(r) = reasoning(&msg.extra) {
                parts.push(Part::thought(r));
            }
            let text = msg
                .text_content()
                .filter(|t| !t.is_empty())
                .or_else(|| str_field(&msg.extra, "refusal"));
            if let Some(text) = text {
                parts.push(Part::text(text));
            }
            for call in msg.tool_calls.iter().flatten() {
                parts.push(function_call_part(
                    &call.id,
                    &call.function.name,
                    &call.function.arguments,
                ));
            }
            candidate(parts, choice.finish_reason.as_deref(), choice.index)
        })
        .collect();
    response(
        candidates,
        model,
        &resp.id,
        resp.usage.as_ref().map(usage_metadata),
    )
}

fn response(
    candidates: Vec<Candidate>,
    model: &str,
    id: &str,
    usage_metadata: Option<UsageMetadata>,
) -> GenerateContentResponse {
    GenerateContentResponse {
        candidates,
        model_version: Some(model.to_owned()),
        response_id: Some(id.to_owned()),
        usage_metadata,
        ..GenerateContentResponse::default()
    }
}

fn reasoning(extra: &Map<String, Value>) -> Option<String> {
    str_field(extra, "reasoning_content")
}

/// A non-empty string field of an `extra` map.
fn str_field(extra: &Map<String, Value>, key: &str) -> Option<String> {
    extra
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn candidate(parts: Vec<Part>, finish: Option<&str>, index: u32) -> Candidate {
    Candidate {
        content: Some(Content {
            role: Some("model".to_owned()),
            parts,
        }),
        index: Some(index),
        finish_reason: finish.map(|reason| reasons::gemini::from_openai(reason).to_owned()),
    }
}

fn function_call_part(id: &str, name: &str, arguments: &str) -> Part {
    Part::from(FunctionCall {
        name: name.to_owned(),
        args: Some(call_args(arguments)),
        id: (!id.is_empty()).then(|| id.to_owned()),
    })
}

/// Gemini's `args` is an object: the arguments parsed when they are one, `{}` when empty, and
/// otherwise (invalid JSON, a non-object) `{"arguments": <the text>}` so nothing is lost.
pub fn call_args(arguments: &str) -> Value {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "arguments": arguments }),
    }
}

/// OpenAI usage → `usageMetadata`: `promptTokenCount` = `prompt_tokens`; Gemini counts thoughts
/// apart, so `candidatesTokenCount` = `completion_tokens` − `reasoning_tokens` and
/// `thoughtsTokenCount` = `completion_tokens_details.reasoning_tokens` (when non-zero);
/// `cachedContentTokenCount` = `prompt_tokens_details.cached_tokens` (when non-zero);
/// `totalTokenCount` = `total_tokens` (else prompt + completion).
pub fn usage_metadata(usage: &Usage) -> UsageMetadata {
    let detail = |outer: &str, inner: &str| {
        usage
            .extra
            .get(outer)
            .and_then(|d| d.get(inner))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
    };
    let thoughts = detail("completion_tokens_details", "reasoning_tokens");
    let cached = detail("prompt_tokens_details", "cached_tokens");
    let total = if usage.total_tokens > 0 {
        usage.total_tokens
    } else {
        usage.prompt_tokens + usage.completion_tokens
    };
    UsageMetadata {
        prompt_token_count: Some(usage.prompt_tokens),
        candidates_token_count: Some(
            usage
                .completion_tokens
                .saturating_sub(thoughts.unwrap_or(0)),
        ),
        total_token_count: Some(total),
        cached_content_token_count: cached,
        thoughts_token_count: thoughts,
        ..UsageMetadata::default()
    }
}

/// The Google error body for `e`: `{"error":{"code","message","status"}}`, the status named
/// from the HTTP status (the google-genai SDKs raise `ClientError`/`ServerError` from the HTTP
/// status and read this body). Also the payload of the one `data:` line that reports an error
/// after a stream has started.
pub fn error_body(e: &BifrostError) -> Value {
    let body = wire::ErrorResponse {
        error: wire::Status {
            code: e.status,
            message: e.message.clone(),
            status: google_status(e.status).to_owned(),
        },
    };
    serde_json::to_value(body).unwrap_or_default()
}

fn google_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        402 | 429 => "RESOURCE_EXHAUSTED",
        408 | 504 => "DEADLINE_EXCEEDED",
        502 | 503 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

/// Unified chat chunks → the `GenerateContentResponse`s of `:streamGenerateContent?alt=sse`,
/// one `data:` line each.
///
/// - Text and reasoning deltas become `text` / `{text, thought: true}` parts at once; nothing is
///   buffered but tool calls and the last response.
/// - Tool-call fragments are assembled per choice and index; a call is emitted as one
///   `functionCall` part (with its id, else `call_<n>` counting the calls of the stream) when
///   the next index of that choice starts, or when the choice finishes.
/// - The choice's `finish_reason` gives its candidate a `finishReason`; that closing response
///   (with the calls completed by the finish) is held until the usage chunk, whose counts it then
///   carries as `usageMetadata` — the shape of Gemini's own last event. Usage that comes on the
///   finishing chunk itself is merged at once; with no usage, [`StreamEncoder::finish`] sends it.
/// - Role-only and empty chunks produce nothing.
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    model: String,
    response_id: String,
    /// (choice index, tool-call index) → the call being assembled.
    pending: BTreeMap<(u32, u32), PendingCall>,
    calls_emitted: u32,
    /// The finishing candidates, waiting for usage.
    held: Vec<Candidate>,
    usage: Option<UsageMetadata>,
    finished: bool,
}

#[derive(Debug, Clone, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

impl StreamEncoder {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            response_id: String::new(),
            pending: BTreeMap::new(),
            calls_emitted: 0,
            held: Vec::new(),
            usage: None,
            finished: false,
        }
    }

    /// The responses to send for one chunk, in order.
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Value> {
        if self.response_id.is_empty() {
            self.response_id.clone_from(&chunk.id);
        }
        let mut now = Vec::new();
        for choice in &chunk.choices {
            let c = choice.index;
            let delta = &choice.delta;
            let mut parts = Vec::new();
            if let Some(r) = reasoning(&delta.extra) {
                parts.push(Part::thought(r));
            }
            if let Some(t) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                parts.push(Part::text(t));
            }
            for d in delta.tool_calls.iter().flatten() {
                if !self.pending.contains_key(&(c, d.index)) {
                    // A new call starts: the earlier ones of this choice are complete.
                    parts.extend(self.take_calls(|(pc, pi)| pc == c && pi < d.index));
                }
                let call = self.pending.entry((c, d.index)).or_default();
                if let Some(id) = d.id.as_deref().filter(|id| !id.is_empty()) {
                    id.clone_into(&mut call.id);
                }
                if let Some(f) = &d.function {
                    if let Some(name) = &f.name {
                        call.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        call.arguments.push_str(args);
                    }
                }
            }
            if !parts.is_empty() {
                now.push(candidate(parts, None, c));
            }
            if let Some(reason) = &choice.finish_reason {
                let calls = self.take_calls(|(pc, _)| pc == c);
                self.held.push(candidate(calls, Some(reason), c));
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage_metadata(usage));
        }
        let mut out = Vec::new();
        if !now.is_empty() {
            out.push(self.response(now, None));
        }
        // Usage before any finish waits for the closing response.
        if self.usage.is_some() && !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let usage = self.usage.take();
            out.push(self.response(held, usage));
        }
        out
    }

    /// Flushes what is pending: calls never completed by a finish (a truncated stream), then
    /// the closing response (or the usage alone). Later calls return nothing.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        let choices: Vec<u32> = self.pending.keys().map(|(c, _)| *c).collect();
        let mut unfinished = Vec::new();
        for c in choices {
            let calls = self.take_calls(|(pc, _)| pc == c);
            if !calls.is_empty() {
                unfinished.push(candidate(calls, None, c));
            }
        }
        if !unfinished.is_empty() {
            out.push(self.response(unfinished, None));
        }
        let usage = self.usage.take();
        if !self.held.is_empty() || usage.is_some() {
            let held = std::mem::take(&mut self.held);
            out.push(self.response(held, usage));
        }
        out
    }

    /// Removes the pending calls `which` selects, as `functionCall` parts in index order.
    fn take_calls(&mut self, which: impl Fn((u32, u32)) -> bool) -> Vec<Part> {
        let keys: Vec<(u32, u32)> = self.pending.keys().copied().filter(|k| which(*k)).collect();
        let mut parts = Vec::new();
        for key in keys {
            if let Some(call) = self.pending.remove(&key) {
                let id = if call.id.is_empty() {
                    format!("call_{}", self.calls_emitted)
                } else {
                    call.id
                };
                self.calls_emitted += 1;
                parts.push(function_call_part(&id, &call.name, &call.arguments));
            }
        }
        parts
    }

    fn response(&self, candidates: Vec<Candidate>, usage: Option<UsageMetadata>) -> Value {
        let out = response(candidates, &self.model, &self.response_id, usage);
        serde_json::to_value(out).unwrap_or_default()
    }
}
