//! The OpenAI Responses API (`POST /v1/responses`): the request, the `response` object with its
//! output items and usage, and the stream events. `inbound::responses` (the gateway as the
//! server a Responses client talks to) reads the request and writes the answer and the events
//! with them; the OpenAI passthrough (`providers::native`) reads its upstream's usage with
//! [`Usage`] and tells its stream events apart by their names ([`event`]).
//!
//! The answer's and the events' strings are `Cow`s: what the gateway writes borrows from its
//! own values, what it reads is owned (the request, only ever read, owns its strings). Fields
//! are declared in the order they are written. Items of a type this was not
//! written for are kept whole as JSON; fields it does not know are ignored on reading.

use crate::schemas;
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use std::borrow::Cow;

/// What does not read as a `T` reads as absent: an odd detail must not cost the counts that
/// did read. A list is never a count or a detail (serde would read it as a struct's fields).
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Array(_) => Ok(None),
        v => Ok(serde_json::from_value(v).ok()),
    }
}

/// What does not read as a `T` reads as its default: for what the gateway never reads in an
/// item a client sends back (its id, annotations, …), so that an odd one costs nothing.
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

/// A function call's arguments: absent or `null` is empty, any other JSON value its JSON text.
fn json_text<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s.into(),
        Value::Null => Cow::Borrowed(""),
        other => other.to_string().into(),
    })
}

mod request;
pub use request::*;

// ---------------------------------------------------------------------------------------------
// Response

/// The `response` object: the answer, and what the stream's `response.*` events carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<'a> {
    /// `resp_…`.
    pub id: Cow<'a, str>,
    /// Not read: always `response`.
    #[serde(skip_deserializing)]
    pub object: Object,
    /// Unix seconds.
    pub created_at: u64,
    pub status: Status,
    #[serde(default)]
    pub background: bool,
    /// Set when the status is `failed`; `null` otherwise.
    #[serde(default)]
    pub error: Option<ResponseError<'a>>,
    /// Set when the status is `incomplete`; `null` otherwise.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub instructions: Option<Cow<'a, str>>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// The request's, as sent (`{}` when none).
    #[serde(default)]
    pub metadata: Cow<'a, Value>,
    pub model: Cow<'a, str>,
    pub output: Vec<OutputItem<'a>>,
    #[serde(default)]
    pub parallel_tool_calls: bool,
    #[serde(default)]
    pub previous_response_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub reasoning: Option<Cow<'a, Reasoning>>,
    #[serde(default)]
    pub store: bool,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub text: Cow<'a, TextConfig>,
    /// The request's, as sent.
    #[serde(default)]
    pub tool_choice: Cow<'a, Value>,
    /// The request's, as sent.
    #[serde(default)]
    pub tools: Cow<'a, [Value]>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub truncation: Truncation,
    /// Written as `null` until known (a stream's last event carries it).
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub user: Option<Cow<'a, str>>,
}

/// The `object` of a [`Response`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Object {
    #[default]
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    InProgress,
    Cancelled,
    Queued,
    /// Cut short: see `incomplete_details`.
    Incomplete,
}

/// A failed response's `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseError<'a> {
    /// `server_error`, `rate_limit_exceeded`, … (the SDK knows a closed list).
    pub code: Cow<'a, str>,
    pub message: Cow<'a, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    pub reason: IncompleteReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    MaxOutputTokens,
    ContentFilter,
}

/// How an input longer than the model's context is handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    Auto,
    /// The request fails.
    #[default]
    Disabled,
}

/// One entry of a response's `output`. A client sends these back as input items of its next
/// request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem<'a> {
    Message(OutputMessage<'a>),
    FunctionCall(FunctionCall<'a>),
    Reasoning(ReasoningItem<'a>),
    /// Built-in tool calls and types added after this was written, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// The assistant's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMessage<'a> {
    /// `msg_…`.
    #[serde(default)]
    pub id: Cow<'a, str>,
    pub status: ItemStatus,
    pub role: Role,
    pub content: Vec<OutputContent<'a>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    /// The default: an output message's role.
    #[default]
    Assistant,
    System,
    Developer,
}

/// The error names the roles there are (a chat client may send `tool`).
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            "system" => Ok(Self::System),
            "developer" => Ok(Self::Developer),
            other => Err(de::Error::custom(format_args!(
                "must be user, assistant, system or developer, not '{other}'"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    InProgress,
    Completed,
    Incomplete,
}

/// One part of an output message's `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent<'a> {
    OutputText(OutputText<'a>),
    Refusal(Refusal<'a>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputText<'a> {
    pub text: Cow<'a, str>,
    /// Citations (`url_citation`, `file_citation`, …), as sent.
    #[serde(default, deserialize_with = "or_default")]
    pub annotations: Vec<Value>,
    /// Token logprobs when the request included them, as sent.
    #[serde(default, deserialize_with = "or_default")]
    pub logprobs: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal<'a> {
    pub refusal: Cow<'a, str>,
}

/// A call of a function tool; the client answers it with a `function_call_output` item of the
/// same `call_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall<'a> {
    /// The item's id (`fc_…`); a client's input item may leave it out.
    #[serde(default, deserialize_with = "or_default")]
    pub id: Cow<'a, str>,
    pub call_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// JSON text.
    #[serde(default, deserialize_with = "json_text")]
    pub arguments: Cow<'a, str>,
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
}

/// The model's reasoning, as summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningItem<'a> {
    /// `rs_…`.
    #[serde(default)]
    pub id: Cow<'a, str>,
    #[serde(default)]
    pub summary: Vec<SummaryPart<'a>>,
}

/// One part of a reasoning item's `summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SummaryPart<'a> {
    SummaryText { text: Cow<'a, str> },
}

/// Token counts. `input_tokens` includes the cached ones, `output_tokens` the reasoning ones.
///
/// Reading is lenient, as the passthrough needs: a detail, a count in it or the total of an
/// odd type reads as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<InputTokensDetails>,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Not OpenAI's: the gateway reports the cache writes of upstreams that count them.
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default, deserialize_with = "lenient")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// OpenAI chat's usage: the same counts under chat's names, the details that were sent
    /// among them. The total is the sum, whatever the upstream reported.
    pub fn to_openai(self) -> schemas::Usage {
        let mut usage = schemas::Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.input_tokens + self.output_tokens,
            ..schemas::Usage::default()
        };
        if let Some(cached) = self.input_tokens_details.and_then(|d| d.cached_tokens) {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                json!({ "cached_tokens": cached }),
            );
        }
        if let Some(reasoning) = self.output_tokens_details.and_then(|d| d.reasoning_tokens) {
            usage.extra.insert(
                "completion_tokens_details".into(),
                json!({ "reasoning_tokens": reasoning }),
            );
        }
        usage
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// The names of the stream events: each event's `type`, and the SSE `event:` it is sent under.
pub mod event {
    /// The first event, with the response so far; `response.in_progress` follows it.
    pub const CREATED: &str = "response.created";
    pub const IN_PROGRESS: &str = "response.in_progress";
    /// A background response waiting to start.
    pub const QUEUED: &str = "response.queued";
    /// The clean ends, with the whole response and its usage.
    pub const COMPLETED: &str = "response.completed";
    pub const INCOMPLETE: &str = "response.incomplete";
    /// A failure after the response was announced, with the response so far and its `error`.
    pub const FAILED: &str = "response.failed";
    pub const OUTPUT_ITEM_ADDED: &str = "response.output_item.added";
    pub const OUTPUT_ITEM_DONE: &str = "response.output_item.done";
    pub const CONTENT_PART_ADDED: &str = "response.content_part.added";
    pub const CONTENT_PART_DONE: &str = "response.content_part.done";
    pub const OUTPUT_TEXT_DELTA: &str = "response.output_text.delta";
    pub const OUTPUT_TEXT_DONE: &str = "response.output_text.done";
    pub const REASONING_SUMMARY_PART_ADDED: &str = "response.reasoning_summary_part.added";
    pub const REASONING_SUMMARY_PART_DONE: &str = "response.reasoning_summary_part.done";
    pub const REASONING_SUMMARY_TEXT_DELTA: &str = "response.reasoning_summary_text.delta";
    pub const REASONING_SUMMARY_TEXT_DONE: &str = "response.reasoning_summary_text.done";
    pub const FUNCTION_CALL_ARGUMENTS_DELTA: &str = "response.function_call_arguments.delta";
    pub const FUNCTION_CALL_ARGUMENTS_DONE: &str = "response.function_call_arguments.done";
    /// A failure before any response was announced.
    pub const ERROR: &str = "error";
}

/// One stream event: its payload's fields, then `type` (its name, see [`event`]) and
/// `sequence_number` (from 0, one more per event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent<'a, T> {
    #[serde(flatten)]
    pub data: T,
    #[serde(rename = "type")]
    pub kind: Cow<'a, str>,
    pub sequence_number: u64,
}

/// `response.created`, `.in_progress`, `.queued`, `.completed`, `.incomplete` and `.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent<'a> {
    pub response: Response<'a>,
}

/// `response.output_item.added` (the item as it starts) and `.done` (as it ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputItemEvent<'a> {
    pub output_index: usize,
    pub item: OutputItem<'a>,
}

/// `response.content_part.added` (empty) and `.done` (whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPartEvent<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub content_index: usize,
    pub part: OutputContent<'a>,
}

/// `response.output_text.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputTextDelta<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub content_index: usize,
    pub delta: Cow<'a, str>,
    #[serde(default)]
    pub logprobs: Vec<Value>,
}

/// `response.output_text.done`: the part's whole text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputTextDone<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub content_index: usize,
    pub text: Cow<'a, str>,
    #[serde(default)]
    pub logprobs: Vec<Value>,
}

/// `response.reasoning_summary_part.added` (empty) and `.done` (whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPartEvent<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub summary_index: usize,
    pub part: SummaryPart<'a>,
}

/// `response.reasoning_summary_text.delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryTextDelta<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub summary_index: usize,
    pub delta: Cow<'a, str>,
}

/// `response.reasoning_summary_text.done`: the part's whole text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryTextDone<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub summary_index: usize,
    pub text: Cow<'a, str>,
}

/// `response.function_call_arguments.delta`: a fragment of the arguments' JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallArgumentsDelta<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub delta: Cow<'a, str>,
}

/// `response.function_call_arguments.done`: the whole arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallArgumentsDone<'a> {
    pub item_id: Cow<'a, str>,
    pub output_index: usize,
    pub name: Cow<'a, str>,
    pub arguments: Cow<'a, str>,
}

/// `error`: the stream failed before a response was announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent<'a> {
    #[serde(default)]
    pub code: Option<Cow<'a, str>>,
    pub message: Cow<'a, str>,
    #[serde(default)]
    pub param: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an upstream writes reads in and writes out the same, key order too.
    #[test]
    fn a_response_round_trips() {
        let response = json!({
            "id": "resp_1", "object": "response", "created_at": 1750000000,
            "status": "incomplete", "background": false, "error": null,
            "incomplete_details": {"reason": "max_output_tokens"},
            "instructions": "Be brief.", "max_output_tokens": 64, "metadata": {"k": "v"},
            "model": "gpt-4o",
            "output": [
                {"type": "reasoning", "id": "rs_1",
                 "summary": [{"type": "summary_text", "text": "Think."}]},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "id": "msg_1", "status": "incomplete", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Once", "annotations": [],
                              "logprobs": []},
                             {"type": "refusal", "refusal": "No."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f",
                 "arguments": "{}", "status": "completed"}
            ],
            "parallel_tool_calls": true, "previous_response_id": null,
            "reasoning": {"effort": "low", "summary": null}, "store": false,
            "temperature": 0.5, "text": {"format": {"type": "text"}, "verbosity": "low"},
            "tool_choice": "auto", "tools": [{"type": "function", "name": "f"}], "top_p": null,
            "truncation": "disabled",
            "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 2},
                      "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 1},
                      "total_tokens": 13},
            "user": null
        });
        let typed: Response = serde_json::from_value(response.clone()).unwrap();
        assert!(matches!(typed.output[1], OutputItem::Other(_)));
        assert_eq!(serde_json::to_string(&typed).unwrap(), response.to_string());
    }

    #[test]
    fn events_write_type_and_sequence_number_last() {
        let event = StreamEvent {
            data: FunctionCallArgumentsDelta {
                item_id: "fc_1".into(),
                output_index: 1,
                delta: "{".into(),
            },
            kind: event::FUNCTION_CALL_ARGUMENTS_DELTA.into(),
            sequence_number: 7,
        };
        let json = r#"{"item_id":"fc_1","output_index":1,"delta":"{","type":"response.function_call_arguments.delta","sequence_number":7}"#;
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
        assert_eq!(serde_json::from_str::<StreamEvent<_>>(json).unwrap(), event);
    }

    #[test]
    fn odd_usage_details_read_as_absent() {
        let usage: Usage = serde_json::from_value(json!({
            "input_tokens": 4, "input_tokens_details": [1, 2], "output_tokens": 6,
            "output_tokens_details": {"reasoning_tokens": 1.5}, "total_tokens": null
        }))
        .unwrap();
        assert_eq!(
            usage,
            Usage {
                input_tokens: 4,
                output_tokens: 6,
                output_tokens_details: Some(OutputTokensDetails::default()),
                ..Usage::default()
            }
        );
        let chat = usage.to_openai();
        assert_eq!(chat.total_tokens, 10);
        assert!(chat.extra.is_empty());
    }
}
