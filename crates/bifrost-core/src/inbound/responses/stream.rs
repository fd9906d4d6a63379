//! The unified chunk stream → the Responses API's event sequence.

use super::response::*;
use super::ResponsesEcho;
use crate::error::BifrostError;
use crate::schemas::{ChatCompletionChunk, ToolCallDelta, Usage};
use crate::wire::responses::{
    self as wire, event, IncompleteReason, ItemStatus, OutputItem, Status,
};
use serde::Serialize;
use serde_json::Value;

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
    status: Option<ItemStatus>,
}

impl StreamItem {
    fn to_wire(&self, status: ItemStatus) -> OutputItem<'_> {
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

/// The events of one call, numbered on from the last one sent.
struct Events {
    list: Vec<Event>,
    sequence: u64,
}

impl Events {
    /// The payload is serialised as it borrows from the encoder: the event's JSON is built
    /// once, nothing copied for it first.
    fn event<T: Serialize>(&mut self, name: &'static str, data: T) -> Event {
        let event = wire::StreamEvent {
            data,
            kind: name.into(),
            sequence_number: self.sequence,
        };
        self.sequence += 1;
        (name, serde_json::to_value(event).unwrap_or_default())
    }

    fn emit<T: Serialize>(&mut self, name: &'static str, data: T) {
        let event = self.event(name, data);
        self.list.push(event);
    }
}

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

    /// A new list for the events of one call; [`Self::sent`] takes it back.
    fn events(&self) -> Events {
        Events {
            list: Vec::new(),
            sequence: self.sequence,
        }
    }

    fn sent(&mut self, out: Events) -> Vec<Event> {
        self.sequence = out.sequence;
        out.list
    }

    fn response<'a>(
        &'a self,
        status: Status,
        reason: Option<IncompleteReason>,
        error: Option<wire::ResponseError<'a>>,
    ) -> wire::Response<'a> {
        let output = self
            .items
            .iter()
            .map(|item| item.to_wire(item.status.unwrap_or(ItemStatus::Incomplete)))
            .collect();
        response_object(
            &self.echo,
            self.created_at,
            status,
            reason,
            output,
            self.usage.as_ref().map(wire_usage),
            error,
        )
    }

    fn start(&mut self, created: u64, out: &mut Events) {
        if self.started {
            return;
        }
        self.started = true;
        self.created_at = if created > 0 { created } else { unix_now() };
        for name in [event::CREATED, event::IN_PROGRESS] {
            let response = self.response(Status::InProgress, None, None);
            out.emit(name, wire::ResponseEvent { response });
        }
    }

    /// The events for one upstream chunk (only its first choice is read).
    pub fn on_chunk(&mut self, chunk: &ChatCompletionChunk) -> Vec<Event> {
        let mut out = self.events();
        if !self.finished {
            self.read_chunk(chunk, &mut out);
        }
        self.sent(out)
    }

    fn read_chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut Events) {
        self.start(chunk.created, out);
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return;
        };
        let delta = &choice.delta;
        if let Some(r) = crate::inbound::reasoning_content(&delta.extra) {
            self.text_delta(ItemKind::Reasoning, r, out);
        }
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.text_delta(ItemKind::Message, text, out);
        }
        for call in delta.tool_calls.iter().flatten() {
            self.tool_delta(call, out);
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
    }

    fn open_item(&mut self, kind: ItemKind, out: &mut Events) -> usize {
        self.close_open(out);
        let index = self.items.len();
        let prefix = match kind {
            ItemKind::Reasoning => "rs",
            ItemKind::Message => "msg",
            ItemKind::FunctionCall { .. } => "fc",
        };
        self.items.push(StreamItem {
            id: self.echo.item_id(prefix, index),
            kind,
            text: String::new(),
            status: None,
        });
        self.open = Some(index);
        let item = &self.items[index];
        let id = item.id.as_str();
        let added = match &item.kind {
            ItemKind::Reasoning => reasoning_item(id, None),
            ItemKind::Message => message_item(id, ItemStatus::InProgress, Vec::new()),
            ItemKind::FunctionCall { call_id, name } => {
                function_call_item(id, call_id, name, "", ItemStatus::InProgress)
            }
        };
        out.emit(
            event::OUTPUT_ITEM_ADDED,
            wire::OutputItemEvent {
                output_index: index,
                item: added,
            },
        );
        match item.kind {
            ItemKind::Reasoning => out.emit(
                event::REASONING_SUMMARY_PART_ADDED,
                wire::SummaryPartEvent {
                    item_id: id.into(),
                    output_index: index,
                    summary_index: 0,
                    part: summary_part(""),
                },
            ),
            ItemKind::Message => out.emit(
                event::CONTENT_PART_ADDED,
                wire::ContentPartEvent {
                    item_id: id.into(),
                    output_index: index,
                    content_index: 0,
                    part: output_text_part(""),
                },
            ),
            ItemKind::FunctionCall { .. } => {}
        }
        index
    }

    /// A reasoning or text delta: appended to the open item of that kind, else to a new one.
    fn text_delta(&mut self, kind: ItemKind, delta: &str, out: &mut Events) {
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
        let item_id = item.id.as_str().into();
        if is_reasoning {
            out.emit(
                event::REASONING_SUMMARY_TEXT_DELTA,
                wire::SummaryTextDelta {
                    item_id,
                    output_index: index,
                    summary_index: 0,
                    delta: delta.into(),
                },
            );
        } else {
            out.emit(
                event::OUTPUT_TEXT_DELTA,
                wire::OutputTextDelta {
                    item_id,
                    output_index: index,
                    content_index: 0,
                    delta: delta.into(),
                    logprobs: Vec::new(),
                },
            );
        }
    }

    fn tool_delta(&mut self, call: &ToolCallDelta, out: &mut Events) {
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
        out.emit(
            event::FUNCTION_CALL_ARGUMENTS_DELTA,
            wire::FunctionCallArgumentsDelta {
                item_id: item.id.as_str().into(),
                output_index: index,
                delta: delta.into(),
            },
        );
    }

    fn close_open(&mut self, out: &mut Events) {
        let Some(index) = self.open.take() else {
            return;
        };
        let (status, _) = status_of(self.finish_reason.as_deref());
        let item = &mut self.items[index];
        let status = match item.kind {
            ItemKind::Message if status == Status::Incomplete => ItemStatus::Incomplete,
            _ => ItemStatus::Completed,
        };
        item.status = Some(status);
        let item = &self.items[index];
        let (id, text) = (item.id.as_str(), item.text.as_str());
        match &item.kind {
            ItemKind::Reasoning => {
                out.emit(
                    event::REASONING_SUMMARY_TEXT_DONE,
                    wire::SummaryTextDone {
                        item_id: id.into(),
                        output_index: index,
                        summary_index: 0,
                        text: text.into(),
                    },
                );
                out.emit(
                    event::REASONING_SUMMARY_PART_DONE,
                    wire::SummaryPartEvent {
                        item_id: id.into(),
                        output_index: index,
                        summary_index: 0,
                        part: summary_part(text),
                    },
                );
            }
            ItemKind::Message => {
                out.emit(
                    event::OUTPUT_TEXT_DONE,
                    wire::OutputTextDone {
                        item_id: id.into(),
                        output_index: index,
                        content_index: 0,
                        text: text.into(),
                        logprobs: Vec::new(),
                    },
                );
                out.emit(
                    event::CONTENT_PART_DONE,
                    wire::ContentPartEvent {
                        item_id: id.into(),
                        output_index: index,
                        content_index: 0,
                        part: output_text_part(text),
                    },
                );
            }
            ItemKind::FunctionCall { name, .. } => {
                out.emit(
                    event::FUNCTION_CALL_ARGUMENTS_DONE,
                    wire::FunctionCallArgumentsDone {
                        item_id: id.into(),
                        output_index: index,
                        name: name.into(),
                        arguments: text.into(),
                    },
                );
            }
        }
        out.emit(
            event::OUTPUT_ITEM_DONE,
            wire::OutputItemEvent {
                output_index: index,
                item: item.to_wire(status),
            },
        );
    }

    /// The closing events once upstream ended normally: the open item's done events, then
    /// `response.completed` (or `response.incomplete`). Later calls return nothing.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = self.events();
        if self.finished {
            return out.list;
        }
        self.start(0, &mut out);
        self.close_open(&mut out);
        self.finished = true;
        let (status, reason) = status_of(self.finish_reason.as_deref());
        let name = if status == Status::Incomplete {
            event::INCOMPLETE
        } else {
            event::COMPLETED
        };
        let response = self.response(status, reason, None);
        out.emit(name, wire::ResponseEvent { response });
        self.sent(out)
    }

    /// The one event that ends a stream that failed: `response.failed` with the response so far
    /// and its `error` set, or `error` when no response was announced yet. Nothing follows it.
    pub fn failed_event(&mut self, e: &BifrostError) -> Event {
        self.finished = true;
        let mut out = self.events();
        let failed = if self.started {
            let response = self.response(Status::Failed, None, Some(response_error(e)));
            out.event(event::FAILED, wire::ResponseEvent { response })
        } else {
            let error = wire::ErrorEvent {
                code: e.code.as_deref().map(Into::into),
                message: e.message.as_str().into(),
                param: e.param.as_deref().map(Into::into),
            };
            out.event(event::ERROR, error)
        };
        self.sent(out);
        failed
    }
}
