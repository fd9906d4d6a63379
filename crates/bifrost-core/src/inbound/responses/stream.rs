//! The unified chunk stream → the Responses API's event sequence.

use super::response::*;
use super::ResponsesEcho;
use crate::error::BifrostError;
use crate::schemas::{ChatCompletionChunk, ToolCallDelta, Usage};
use serde_json::{json, Value};

#[derive(Debug)]
pub(super) enum ItemKind {
    Reasoning,
    Message,
    FunctionCall { call_id: String, name: String },
}

#[derive(Debug)]
pub(super) struct StreamItem {
    id: String,
    kind: ItemKind,
    /// Summary text, message text or arguments.
    text: String,
    /// Set when the item's done events were sent.
    status: Option<&'static str>,
}

impl StreamItem {
    fn to_json(&self, status: &str) -> Value {
        match &self.kind {
            ItemKind::Reasoning => reasoning_item(&self.id, Some(&self.text)),
            ItemKind::Message => message_item(&self.id, status, vec![output_text_part(&self.text)]),
            ItemKind::FunctionCall { call_id, name } => {
                function_call_item(&self.id, call_id, name, &self.text, status)
            }
        }
    }
}

/// Translates a chat chunk stream into the Responses event stream, event by event:
/// `response.created`, `response.in_progress`, then per output item `response.output_item.added`,
/// its part and delta events and its done events (items follow each other: one starts when the
/// previous one is done), and finally `response.completed` (or `response.incomplete`) with the
/// whole response. Every event carries the next `sequence_number`, from 0.
///
/// Reasoning deltas become a `reasoning` item with one summary part
/// (`response.reasoning_summary_part.added`, `response.reasoning_summary_text.delta`…).
/// Streamed refusals are dropped. Upstreams send each tool call's deltas together; should one
/// interleave, a late argument delta is still sent (and lands in the final response) after its
/// item's done event.
#[derive(Debug)]
pub struct StreamEncoder {
    echo: ResponsesEcho,
    sequence: u64,
    created_at: u64,
    started: bool,
    finished: bool,
    items: Vec<StreamItem>,
    /// The item receiving deltas.
    open: Option<usize>,
    /// Chat tool-call index → output index.
    tool_items: Vec<(u32, usize)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

pub type Event = (&'static str, Value);

impl StreamEncoder {
    pub fn new(echo: ResponsesEcho) -> Self {
        Self {
            echo,
            sequence: 0,
            created_at: 0,
            started: false,
            finished: false,
            items: Vec::new(),
            open: None,
            tool_items: Vec::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<Event>, name: &'static str, mut data: Value) {
        if let Value::Object(map) = &mut data {
            map.insert("type".into(), Value::String(name.into()));
            map.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        out.push((name, data));
    }

    fn response(&self, status: &str, reason: Option<&str>, error: Option<Value>) -> Value {
        let output = self
            .items
            .iter()
            .map(|item| item.to_json(item.status.unwrap_or("incomplete")))
            .collect();
        response_object(
            &self.echo,
            self.created_at,
            status,
            reason,
            output,
            self.usage.as_ref().map(usage_json),
            error,
        )
    }

    fn start(&mut self, created: u64, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        self.created_at = if created > 0 { created } else { unix_now() };
        let response = self.response("in_progress", None, None);
        self.emit(out, "response.created", json!({"response": response}));
        let response = self.response("in_progress", None, None);
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    /// The events for one upstream chunk (only its first choice is read).
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Event> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.start(chunk.created, &mut out);
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return out;
        };
        let delta = &choice.delta;
        if let Some(r) = crate::inbound::reasoning_content(&delta.extra) {
            self.text_delta(ItemKind::Reasoning, r, &mut out);
        }
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.text_delta(ItemKind::Message, text, &mut out);
        }
        for call in delta.tool_calls.iter().flatten() {
            self.tool_delta(call, &mut out);
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        out
    }

    fn open_item(&mut self, kind: ItemKind, out: &mut Vec<Event>) -> usize {
        self.close_open(out);
        let index = self.items.len();
        let prefix = match kind {
            ItemKind::Reasoning => "rs",
            ItemKind::Message => "msg",
            ItemKind::FunctionCall { .. } => "fc",
        };
        let id = self.echo.item_id(prefix, index);
        let added = match &kind {
            ItemKind::Reasoning => reasoning_item(&id, None),
            ItemKind::Message => message_item(&id, "in_progress", Vec::new()),
            ItemKind::FunctionCall { call_id, name } => {
                function_call_item(&id, call_id, name, "", "in_progress")
            }
        };
        self.items.push(StreamItem {
            id: id.clone(),
            kind,
            text: String::new(),
            status: None,
        });
        self.open = Some(index);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        match self.items[index].kind {
            ItemKind::Reasoning => self.emit(
                out,
                "response.reasoning_summary_part.added",
                json!({
                    "item_id": id, "output_index": index, "summary_index": 0,
                    "part": summary_part(""),
                }),
            ),
            ItemKind::Message => self.emit(
                out,
                "response.content_part.added",
                json!({
                    "item_id": id, "output_index": index, "content_index": 0,
                    "part": output_text_part(""),
                }),
            ),
            ItemKind::FunctionCall { .. } => {}
        }
        index
    }

    /// A reasoning or text delta: appended to the open item of that kind, else to a new one.
    fn text_delta(&mut self, kind: ItemKind, delta: &str, out: &mut Vec<Event>) {
        let is_reasoning = matches!(kind, ItemKind::Reasoning);
        let reusable = |item: &StreamItem| match item.kind {
            ItemKind::Reasoning => is_reasoning,
            ItemKind::Message => !is_reasoning,
            ItemKind::FunctionCall { .. } => false,
        };
        let index = match self.open {
            Some(i) if reusable(&self.items[i]) => i,
            _ => self.open_item(kind, out),
        };
        let item = &mut self.items[index];
        item.text.push_str(delta);
        let id = item.id.clone();
        if is_reasoning {
            self.emit(
                out,
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": delta}),
            );
        } else {
            self.emit(
                out,
                "response.output_text.delta",
                json!({
                    "item_id": id, "output_index": index, "content_index": 0,
                    "delta": delta, "logprobs": [],
                }),
            );
        }
    }

    fn tool_delta(&mut self, call: &ToolCallDelta, out: &mut Vec<Event>) {
        let function = call.function.as_ref();
        let index = match self.tool_items.iter().find(|(i, _)| *i == call.index) {
            Some(&(_, index)) => {
                if let (ItemKind::FunctionCall { name, .. }, Some(more)) = (
                    &mut self.items[index].kind,
                    function.and_then(|f| f.name.as_deref()),
                ) {
                    if name.is_empty() {
                        more.clone_into(name);
                    }
                }
                index
            }
            None => {
                let call_id = call.id.clone().unwrap_or_else(|| {
                    let mut id = String::from("call_");
                    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(24));
                    id
                });
                let call_id = crate::inbound::signed_id::join(
                    &call_id,
                    crate::schemas::ToolCall::thought_signature_in(&call.extra),
                );
                let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
                let index = self.open_item(ItemKind::FunctionCall { call_id, name }, out);
                self.tool_items.push((call.index, index));
                index
            }
        };
        let Some(delta) = function
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        let item = &mut self.items[index];
        item.text.push_str(delta);
        let id = item.id.clone();
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": index, "delta": delta}),
        );
    }

    fn close_open(&mut self, out: &mut Vec<Event>) {
        let Some(index) = self.open.take() else {
            return;
        };
        let (status, _) = status_of(self.finish_reason.as_deref());
        let item = &self.items[index];
        let id = item.id.clone();
        let text = item.text.clone();
        let status = match item.kind {
            ItemKind::Message if status == "incomplete" => "incomplete",
            _ => "completed",
        };
        match &item.kind {
            ItemKind::Reasoning => {
                self.emit(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
                );
                self.emit(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({
                        "item_id": id, "output_index": index, "summary_index": 0,
                        "part": summary_part(&text),
                    }),
                );
            }
            ItemKind::Message => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0,
                        "text": text, "logprobs": [],
                    }),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0,
                        "part": output_text_part(&text),
                    }),
                );
            }
            ItemKind::FunctionCall { name, .. } => {
                let name = name.clone();
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": name, "arguments": text}),
                );
            }
        }
        self.items[index].status = Some(status);
        let item = self.items[index].to_json(status);
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }

    /// The closing events once upstream ended normally: the open item's done events, then
    /// `response.completed` (or `response.incomplete`). Later calls return nothing.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.start(0, &mut out);
        self.close_open(&mut out);
        self.finished = true;
        let (status, reason) = status_of(self.finish_reason.as_deref());
        let response = self.response(status, reason, None);
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(&mut out, name, json!({"response": response}));
        out
    }

    /// The one event that ends a stream that failed: `response.failed` with the response so far
    /// and its `error` set, or `error` when no response was announced yet. Nothing follows it.
    pub fn failed_event(&mut self, e: &BifrostError) -> Event {
        let mut out = Vec::new();
        self.finished = true;
        if self.started {
            let response = self.response("failed", None, Some(response_error(e)));
            self.emit(&mut out, "response.failed", json!({"response": response}));
        } else {
            self.emit(
                &mut out,
                "error",
                json!({"code": e.code, "message": e.message, "param": e.param}),
            );
        }
        out.pop()
            .unwrap_or_else(|| ("error", json!({"type": "error", "message": e.message})))
    }
}
