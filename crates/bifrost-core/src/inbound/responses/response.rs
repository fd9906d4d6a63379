//! A unified chat completion → a Responses `response` object.

use super::ResponsesEcho;
use crate::error::{BifrostError, ErrorClass};
pub(super) use crate::providers::unix_now;
use crate::schemas::{ChatCompletion, Usage};
use crate::wire::responses::{
    self as wire, IncompleteDetails, IncompleteReason, ItemStatus, OutputContent, OutputItem,
    Status, SummaryPart,
};
use serde_json::Value;
use std::borrow::Cow;

/// Status and incomplete reason of a response that ended with `finish_reason`.
pub(super) fn status_of(finish_reason: Option<&str>) -> (Status, Option<IncompleteReason>) {
    match finish_reason {
        Some("length") => (Status::Incomplete, Some(IncompleteReason::MaxOutputTokens)),
        Some("content_filter") => (Status::Incomplete, Some(IncompleteReason::ContentFilter)),
        _ => (Status::Completed, None),
    }
}

pub(super) fn wire_usage(u: &Usage) -> wire::Usage {
    let detail = |details: &str, field: &str| {
        u.extra
            .get(details)
            .and_then(|d| d.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let total = if u.total_tokens == 0 {
        u.prompt_tokens + u.completion_tokens
    } else {
        u.total_tokens
    };
    // Bedrock reports cache writes under Anthropic's name; newer OpenAI usage as a detail.
    let cache_write = u
        .extra
        .get("cache_creation_input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| detail("prompt_tokens_details", "cache_write_tokens"));
    wire::Usage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: Some(wire::InputTokensDetails {
            cached_tokens: Some(detail("prompt_tokens_details", "cached_tokens")),
            cache_write_tokens: Some(cache_write),
        }),
        output_tokens: u.completion_tokens,
        output_tokens_details: Some(wire::OutputTokensDetails {
            reasoning_tokens: Some(detail("completion_tokens_details", "reasoning_tokens")),
        }),
        total_tokens: Some(total),
    }
}

pub(super) fn response_object<'a>(
    echo: &'a ResponsesEcho,
    created_at: u64,
    status: Status,
    incomplete_reason: Option<IncompleteReason>,
    output: Vec<OutputItem<'a>>,
    usage: Option<wire::Usage>,
    error: Option<wire::ResponseError<'a>>,
) -> wire::Response<'a> {
    wire::Response {
        id: echo.id.as_str().into(),
        object: wire::Object::Response,
        created_at,
        status,
        background: false,
        error,
        incomplete_details: incomplete_reason.map(|reason| IncompleteDetails { reason }),
        instructions: echo.instructions.as_deref().map(Cow::Borrowed),
        max_output_tokens: echo.max_output_tokens,
        metadata: Cow::Borrowed(&echo.metadata),
        model: echo.model.as_str().into(),
        output,
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: None,
        reasoning: echo.reasoning.as_ref().map(Cow::Borrowed),
        store: false,
        temperature: echo.temperature,
        text: Cow::Borrowed(&echo.text),
        tool_choice: Cow::Borrowed(&echo.tool_choice),
        tools: Cow::Borrowed(&echo.tools),
        top_p: echo.top_p,
        truncation: wire::Truncation::Disabled,
        usage,
        user: echo.user.as_deref().map(Cow::Borrowed),
    }
}

pub(super) fn summary_part(text: &str) -> SummaryPart<'_> {
    SummaryPart::SummaryText { text: text.into() }
}

pub(super) fn reasoning_item<'a>(
    id: impl Into<Cow<'a, str>>,
    summary: Option<&'a str>,
) -> OutputItem<'a> {
    OutputItem::Reasoning(wire::ReasoningItem {
        id: id.into(),
        summary: summary.map(summary_part).into_iter().collect(),
    })
}

pub(super) fn output_text_part<'a>(text: impl Into<Cow<'a, str>>) -> OutputContent<'a> {
    OutputContent::OutputText(wire::OutputText {
        text: text.into(),
        annotations: Vec::new(),
        logprobs: Vec::new(),
    })
}

pub(super) fn message_item<'a>(
    id: impl Into<Cow<'a, str>>,
    status: ItemStatus,
    content: Vec<OutputContent<'a>>,
) -> OutputItem<'a> {
    OutputItem::Message(wire::OutputMessage {
        id: id.into(),
        status,
        role: wire::Role::Assistant,
        content,
    })
}

pub(super) fn function_call_item<'a>(
    id: impl Into<Cow<'a, str>>,
    call_id: impl Into<Cow<'a, str>>,
    name: &'a str,
    arguments: &'a str,
    status: ItemStatus,
) -> OutputItem<'a> {
    OutputItem::FunctionCall(wire::FunctionCall {
        id: id.into(),
        call_id: call_id.into(),
        name: name.into(),
        arguments: arguments.into(),
        status: Some(status),
    })
}

/// The Responses `response` object for a chat completion.
pub fn from_chat(resp: &ChatCompletion, echo: &ResponsesEcho) -> Value {
    let choice = resp.choices.first();
    let (status, reason) = status_of(choice.and_then(|c| c.finish_reason.as_deref()));
    let mut output = Vec::new();
    if let Some(msg) = choice.map(|c| &c.message) {
        if let Some(r) = crate::inbound::reasoning_content(&msg.extra) {
            output.push(reasoning_item(echo.item_id("rs", output.len()), Some(r)));
        }
        let text = msg.text_content().unwrap_or_default();
        let refusal = msg.extra.get("refusal").and_then(Value::as_str);
        let calls = msg.tool_calls.as_deref().unwrap_or_default();
        let mut content = Vec::new();
        if !text.is_empty() || (refusal.is_none() && calls.is_empty()) {
            content.push(output_text_part(text));
        }
        if let Some(refusal) = refusal {
            content.push(OutputContent::Refusal(wire::Refusal {
                refusal: refusal.into(),
            }));
        }
        if !content.is_empty() {
            let item_status = if status == Status::Incomplete {
                ItemStatus::Incomplete
            } else {
                ItemStatus::Completed
            };
            output.push(message_item(
                echo.item_id("msg", output.len()),
                item_status,
                content,
            ));
        }
        for call in calls {
            output.push(function_call_item(
                echo.item_id("fc", output.len()),
                // The Responses item has no field for Gemini's thought signature either.
                crate::inbound::signed_id::join(&call.id, call.thought_signature()),
                &call.function.name,
                &call.function.arguments,
                ItemStatus::Completed,
            ));
        }
    }
    let created_at = if resp.created > 0 {
        resp.created
    } else {
        unix_now()
    };
    let response = response_object(
        echo,
        created_at,
        status,
        reason,
        output,
        resp.usage.as_ref().map(wire_usage),
        None,
    );
    serde_json::to_value(response).unwrap_or_default()
}

/// The Responses `error` of a failed response. The SDK knows a closed list of codes; the
/// gateway's own code stays in the HTTP error body of non-streamed requests.
pub(super) fn response_error(e: &BifrostError) -> wire::ResponseError<'_> {
    let code = match e.class {
        ErrorClass::RateLimited | ErrorClass::QueueFull => "rate_limit_exceeded",
        _ => "server_error",
    };
    wire::ResponseError {
        code: code.into(),
        message: e.message.as_str().into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream
