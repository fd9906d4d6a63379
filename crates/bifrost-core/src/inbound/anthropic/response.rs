//! The unified answer → Anthropic Messages: plain (`from_chat`), streamed (`StreamEncoder`'s events) and as Anthropic errors.

use super::*;
use crate::wire::anthropic::{
    self as wire, ContentBlock, ContentBlockStart, ContentBlockStop, Delta, MessageDeltaBody,
    StreamEvent,
};
use std::borrow::Cow;

/// The Anthropic `message` for a unified completion (first choice only).
///
/// - `id`: `msg_` + the completion id without OpenAI's `chatcmpl-` prefix (kept if it already
///   starts with `msg_`).
/// - `content`: the message's `thinking_blocks` as the upstream issued them (signatures and
///   redacted blocks included), else a `thinking` block for `reasoning_content` (with an empty
///   `signature`: the upstream issued none), a `text` block for non-empty text, a `tool_use` block per tool
///   call (a Gemini thought signature rides in its id, see `inbound::signed_id`). Arguments that are not a JSON object are kept as `{"_raw_arguments": "<text>"}`, so
///   the client's tool validation reports them rather than running the tool with no input.
/// - `stop_reason`: `stop` → `end_turn`, `length` → `max_tokens`, `tool_calls` (and
///   `function_call`) → `tool_use`, `content_filter` → `refusal`; a plain stop with tool calls
///   reads as `tool_use`, because agents loop on it. A stop sequence is indistinguishable from
///   a natural stop in OpenAI's shape, so `stop_sequence` is always `null`.
/// - `usage`: `input_tokens` excludes cached tokens (Anthropic's convention), which go to
///   `cache_read_input_tokens` when the upstream reported them.
pub fn from_chat(resp: &ChatCompletion, model: &str) -> Value {
    let id = message_id(&resp.id);
    let choice = resp.choices.first();
    let mut content = Vec::new();
    let mut has_tools = false;
    if let Some(msg) = choice.map(|c| &c.message) {
        // Blocks an upstream sent are its own; a malformed list is a translation's bug, and
        // the readable reasoning is still worth showing.
        let blocks = ThinkingBlock::read(&msg.extra).unwrap_or_default();
        if !blocks.is_empty() {
            content.extend(blocks.into_iter().map(|b| match ContentBlock::from(b) {
                ContentBlock::Thinking(t) => thinking(t.thinking, t.signature.unwrap_or_default()),
                redacted => redacted,
            }));
        } else if let Some(r) = crate::inbound::reasoning_content(&msg.extra) {
            content.push(thinking(r.into(), "".into()));
        }
        if let Some(text) = msg.text_content().filter(|t| !t.is_empty()) {
            content.push(text_block(text.into()));
        }
        for (n, call) in msg.tool_calls.iter().flatten().enumerate() {
            has_tools = true;
            let call_id = if call.id.is_empty() {
                tool_use_id(&id, n)
            } else {
                call.id.clone()
            };
            content.push(ContentBlock::ToolUse(wire::ToolUse {
                id: signed_id::join(&call_id, call.thought_signature()).into(),
                name: call.function.name.as_str().into(),
                input: tool_input(&call.function.arguments),
                cache_control: None,
            }));
        }
    }
    let finish = choice.and_then(|c| c.finish_reason.as_deref());
    let message = wire::Message {
        id: id.into(),
        model: model.into(),
        content,
        stop_reason: Some(reasons::anthropic::from_openai(finish, has_tools).into()),
        usage: wire_usage(resp.usage.as_ref()),
        ..wire::Message::default()
    };
    serde_json::to_value(message).unwrap_or_default()
}

fn thinking<'a>(thinking: Cow<'a, str>, signature: Cow<'a, str>) -> ContentBlock<'a> {
    ContentBlock::Thinking(wire::Thinking {
        thinking,
        signature: Some(signature),
    })
}

fn text_block(text: Cow<'_, str>) -> ContentBlock<'_> {
    ContentBlock::Text(wire::Text {
        text,
        cache_control: None,
    })
}

fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "_raw_arguments": arguments }),
    }
}

fn wire_usage(usage: Option<&Usage>) -> wire::Usage {
    let Some(u) = usage else {
        return wire::Usage {
            input_tokens: Some(0),
            output_tokens: Some(0),
            ..wire::Usage::default()
        };
    };
    let cached = u
        .extra
        .get("prompt_tokens_details")
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64);
    wire::Usage {
        input_tokens: Some(u.prompt_tokens.saturating_sub(cached.unwrap_or(0))),
        output_tokens: Some(u.completion_tokens),
        cache_read_input_tokens: cached,
        cache_creation_input_tokens: None,
    }
}

fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        return id.to_owned();
    }
    let rest = id.strip_prefix("chatcmpl-").unwrap_or(id);
    if rest.is_empty() {
        let random: String = (0..24).map(|_| fastrand::alphanumeric()).collect();
        format!("msg_{random}")
    } else {
        format!("msg_{rest}")
    }
}

/// For upstreams that stream or return tool calls without ids.
fn tool_use_id(message_id: &str, n: usize) -> String {
    format!(
        "toolu_{}_{n}",
        message_id.strip_prefix("msg_").unwrap_or(message_id)
    )
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
    /// A tool call, by its OpenAI index.
    Tool(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolPhase {
    /// Seen, but its block has not started: another tool block is open.
    Pending,
    Open,
    Closed,
}

#[derive(Debug, Clone)]
struct ToolSlot {
    id: String,
    name: String,
    /// Arguments received while the call was pending.
    args: String,
    phase: ToolPhase,
}

/// Unified chunks → Anthropic SSE events, as a state machine per stream.
///
/// Anthropic streams one content block at a time (start, deltas, stop), while OpenAI may
/// interleave the argument deltas of parallel tool calls. So the first tool call streams live,
/// and a call that shows up while another tool block is open is held back: it goes out as its
/// own block, with the arguments received so far in one delta, at its next delta once no tool
/// block is open (text or reasoning closed it), else at `finish_reason`, in OpenAI index order. Argument
/// fragments arriving for a block already closed cannot be placed and are dropped with a
/// warning (no known upstream does that).
///
/// `message_delta` and `message_stop` go out when usage arrives after the finish reason
/// (OpenAI's last chunk), or at [`finish`](Self::finish) when the stream ends without usage.
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    model: String,
    id: String,
    started: bool,
    next_index: u64,
    /// The open content block: its Anthropic index and kind.
    open: Option<(u64, BlockKind)>,
    tools: BTreeMap<u32, ToolSlot>,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamEncoder {
    /// `model` is echoed in `message_start` as the client named it.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            id: String::new(),
            started: false,
            next_index: 0,
            open: None,
            tools: BTreeMap::new(),
            stop_reason: None,
            usage: None,
            done: false,
        }
    }

    /// The events for one unified chunk; nothing once `message_stop` went out.
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if !self.started {
            self.start(&chunk.id, chunk.usage.as_ref(), &mut out);
        }
        // Content after the finish reason (or of other choices) has no place in the message.
        if let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) {
            if self.stop_reason.is_none() {
                let delta = &choice.delta;
                if let Some(r) = crate::inbound::reasoning_content(&delta.extra) {
                    self.block_delta(BlockKind::Thinking, r, &mut out);
                }
                for block in ThinkingBlock::read(&delta.extra).unwrap_or_default() {
                    self.thinking_block(block, &mut out);
                }
                if let Some(t) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                    self.block_delta(BlockKind::Text, t, &mut out);
                }
                for call in delta.tool_calls.iter().flatten() {
                    self.tool_delta(call, &mut out);
                }
                if let Some(reason) = choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
                    self.end_content(&mut out);
                    self.stop_reason = Some(reasons::anthropic::from_openai(
                        Some(reason),
                        !self.tools.is_empty(),
                    ));
                }
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
            if self.stop_reason.is_some() {
                self.end_message(&mut out);
            }
        }
        out
    }

    /// Whatever the stream still owes the client, ending with `message_stop`; nothing when it
    /// was already sent. Call when the upstream stream ended normally.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if !self.started {
            self.start("", None, &mut out);
        }
        self.end_content(&mut out);
        if self.stop_reason.is_none() {
            self.stop_reason = Some(reasons::anthropic::from_openai(
                None,
                !self.tools.is_empty(),
            ));
        }
        self.end_message(&mut out);
        out
    }

    fn start(&mut self, chunk_id: &str, usage: Option<&Usage>, out: &mut Vec<Event>) {
        self.started = true;
        self.id = message_id(chunk_id);
        let message = wire::Message {
            id: self.id.as_str().into(),
            model: self.model.as_str().into(),
            usage: wire::Usage {
                input_tokens: wire_usage(usage).input_tokens,
                output_tokens: Some(0),
                ..wire::Usage::default()
            },
            ..wire::Message::default()
        };
        push(
            out,
            StreamEvent::MessageStart(wire::MessageStart { message }),
        );
    }

    /// Text or thinking: continues the open block of that kind, else opens one.
    fn block_delta(&mut self, kind: BlockKind, text: &str, out: &mut Vec<Event>) {
        let index = match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close(out);
                let block = match kind {
                    BlockKind::Thinking => thinking("".into(), "".into()),
                    _ => text_block("".into()),
                };
                self.open_block(kind, block, out)
            }
        };
        let delta = match kind {
            BlockKind::Thinking => Delta::ThinkingDelta {
                thinking: text.into(),
            },
            _ => Delta::TextDelta { text: text.into() },
        };
        push(out, delta_event(index, delta));
    }

    /// A signature closes the open thinking block (opening one if the upstream sent no text);
    /// a redacted block goes out whole.
    fn thinking_block(&mut self, block: ThinkingBlock, out: &mut Vec<Event>) {
        match block {
            ThinkingBlock::Thinking {
                thinking: text,
                signature,
            } => {
                if !text.is_empty() {
                    self.block_delta(BlockKind::Thinking, &text, out);
                }
                let Some(signature) = signature else { return };
                let index = match self.open {
                    Some((index, BlockKind::Thinking)) => index,
                    _ => {
                        self.close(out);
                        let block = thinking("".into(), "".into());
                        self.open_block(BlockKind::Thinking, block, out)
                    }
                };
                let delta = Delta::SignatureDelta {
                    signature: signature.into(),
                };
                push(out, delta_event(index, delta));
                self.close(out);
            }
            redacted => {
                self.close(out);
                self.open_block(BlockKind::Thinking, redacted.into(), out);
                self.close(out);
            }
        }
    }

    fn tool_delta(&mut self, call: &ToolCallDelta, out: &mut Vec<Event>) {
        let slot = self.tools.entry(call.index).or_insert_with(|| ToolSlot {
            id: String::new(),
            name: String::new(),
            args: String::new(),
            phase: ToolPhase::Pending,
        });
        if let Some(id) = call.id.as_deref().filter(|s| !s.is_empty()) {
            if slot.id.is_empty() {
                slot.id = signed_id::join(id, ToolCall::thought_signature_in(&call.extra));
            }
        }
        let function = call.function.as_ref();
        if let Some(name) = function
            .and_then(|f| f.name.as_deref())
            .filter(|s| !s.is_empty())
        {
            if slot.name.is_empty() {
                name.clone_into(&mut slot.name);
            }
        }
        let args = function
            .and_then(|f| f.arguments.as_deref())
            .unwrap_or_default();
        match slot.phase {
            ToolPhase::Open => {
                if let (Some((index, _)), false) = (self.open, args.is_empty()) {
                    let delta = Delta::InputJsonDelta {
                        partial_json: args.into(),
                    };
                    push(out, delta_event(index, delta));
                }
            }
            ToolPhase::Closed => {
                if !args.is_empty() {
                    tracing::warn!(
                        tool_index = call.index,
                        "dropping tool-call arguments that arrived after their block closed"
                    );
                }
            }
            ToolPhase::Pending => {
                slot.args.push_str(args);
                let named = !slot.name.is_empty();
                let tool_open = matches!(self.open, Some((_, BlockKind::Tool(_))));
                if named && !tool_open {
                    self.close(out);
                    self.start_tool(call.index, out);
                }
            }
        }
    }

    fn start_tool(&mut self, tool: u32, out: &mut Vec<Event>) {
        if !self.tools.contains_key(&tool) {
            return;
        }
        // The start event borrows the slot's id and name.
        let index = self.next_block(BlockKind::Tool(tool));
        let Some(slot) = self.tools.get_mut(&tool) else {
            return;
        };
        slot.phase = ToolPhase::Open;
        let args = std::mem::take(&mut slot.args);
        let id = if slot.id.is_empty() {
            Cow::Owned(tool_use_id(&self.id, tool as usize))
        } else {
            Cow::Borrowed(slot.id.as_str())
        };
        let block = ContentBlock::ToolUse(wire::ToolUse {
            id,
            name: slot.name.as_str().into(),
            input: Value::Object(Map::new()),
            cache_control: None,
        });
        push(out, block_start(index, block));
        if !args.is_empty() {
            let delta = Delta::InputJsonDelta {
                partial_json: args.into(),
            };
            push(out, delta_event(index, delta));
        }
    }

    fn open_block(
        &mut self,
        kind: BlockKind,
        block: ContentBlock<'_>,
        out: &mut Vec<Event>,
    ) -> u64 {
        let index = self.next_block(kind);
        push(out, block_start(index, block));
        index
    }

    /// Makes the next block the open one (its start event is the caller's) and returns its index.
    fn next_block(&mut self, kind: BlockKind) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((index, kind)) = self.open.take() {
            push(
                out,
                StreamEvent::ContentBlockStop(ContentBlockStop { index }),
            );
            if let BlockKind::Tool(tool) = kind {
                if let Some(slot) = self.tools.get_mut(&tool) {
                    slot.phase = ToolPhase::Closed;
                }
            }
        }
    }

    /// Closes the open block and sends every held-back tool call as its own block.
    fn end_content(&mut self, out: &mut Vec<Event>) {
        self.close(out);
        let pending: Vec<u32> = self
            .tools
            .iter()
            .filter(|(_, s)| s.phase == ToolPhase::Pending)
            .map(|(i, _)| *i)
            .collect();
        for tool in pending {
            self.start_tool(tool, out);
            self.close(out);
        }
    }

    fn end_message(&mut self, out: &mut Vec<Event>) {
        // Anthropic's message_delta always has output_tokens; input counts are optional there.
        let usage = match &self.usage {
            Some(u) => wire_usage(Some(u)),
            None => wire::Usage {
                output_tokens: Some(0),
                ..wire::Usage::default()
            },
        };
        let delta = MessageDeltaBody {
            stop_reason: Some(self.stop_reason.unwrap_or("end_turn").into()),
            stop_sequence: None,
        };
        push(
            out,
            StreamEvent::MessageDelta(wire::MessageDelta { delta, usage }),
        );
        push(out, StreamEvent::MessageStop);
        self.done = true;
    }
}

/// Appends `event` as an SSE event: its name and its JSON.
fn push(out: &mut Vec<Event>, event: StreamEvent<'_>) {
    // Serializing these types cannot fail: every map key is a string.
    let data = serde_json::to_value(&event).unwrap_or_default();
    out.push((event.name(), data));
}

fn block_start(index: u64, content_block: ContentBlock<'_>) -> StreamEvent<'_> {
    StreamEvent::ContentBlockStart(ContentBlockStart {
        index,
        content_block,
    })
}

fn delta_event(index: u64, delta: Delta<'_>) -> StreamEvent<'_> {
    StreamEvent::ContentBlockDelta(wire::ContentBlockDelta { index, delta })
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The `error` event that ends a stream that fails after its first byte.
pub fn error_event(e: &BifrostError) -> Event {
    ("error", error_body(e))
}

/// Anthropic's error body, `{"type":"error","error":{"type","message"}}`, with the type the
/// Anthropic SDKs expect for the status (they pick the exception class from the status and
/// read `.message` from the body).
pub fn error_body(e: &BifrostError) -> Value {
    let error = wire::ApiError {
        kind: error_type(e.status).into(),
        message: e.message.as_str().into(),
    };
    serde_json::to_value(StreamEvent::Error(wire::ErrorEvent { error })).unwrap_or_default()
}

/// Anthropic documents one type per status; other 4xx are `invalid_request_error` (as at
/// Anthropic), other 5xx `api_error`. 503 is the gateway's spelling of Anthropic's 529.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
