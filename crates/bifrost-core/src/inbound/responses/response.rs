//! A unified chat completion → a Responses `response` object.

use super::ResponsesEcho;
use crate::error::{BifrostError, ErrorClass};
pub(super) use crate::providers::unix_now;
use crate::schemas::{ChatCompletion, Usage};
use serde_json::{json, Value};

/// Status and incomplete reason of a response that ended with `finish_reason`.
pub(super) fn status_of(finish_reason: Option<&str>) -> (&'static str, Option<&'static str>) {
    match finish_reason {
        Some("length") => ("incomplete", Some("max_output_tokens")),
        Some("content_filter") => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

pub(super) fn usage_json(u: &Usage) -> Value {
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
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": detail("prompt_tokens_details", "cached_tokens"),
            "cache_write_tokens": cache_write,
        },
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {
            "reasoning_tokens": detail("completion_tokens_details", "reasoning_tokens"),
        },
        "total_tokens": total,
    })
}

pub(super) fn response_object(
    echo: &ResponsesEcho,
    created_at: u64,
    status: &str,
    incomplete_reason: Option<&str>,
    output: Vec<Value>,
    usage: Option<Value>,
    error: Option<Value>,
) -> Value {
    json!({
        "id": echo.id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": error,
        "incomplete_details": incomplete_reason.map(|r| json!({"reason": r})),
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "metadata": echo.metadata,
        "model": echo.model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": echo.reasoning,
        "store": false,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": usage,
        "user": echo.user,
    })
}

pub(super) fn summary_part(text: &str) -> Value {
    json!({"type": "summary_text", "text": text})
}

pub(super) fn reasoning_item(id: &str, summary: Option<&str>) -> Value {
    let summary: Vec<Value> = summary.map(summary_part).into_iter().collect();
    json!({"type": "reasoning", "id": id, "summary": summary})
}

pub(super) fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(super) fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

pub(super) fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// The Responses `response` object for a chat completion.
pub fn from_chat(resp: &ChatCompletion, echo: &ResponsesEcho) -> Value {
    let choice = resp.choices.first();
    let (status, reason) = status_of(choice.and_then(|c| c.finish_reason.as_deref()));
    let mut output = Vec::new();
    if let Some(msg) = choice.map(|c| &c.message) {
        if let Some(r) = crate::inbound::reasoning_content(&msg.extra) {
            output.push(reasoning_item(&echo.item_id("rs", output.len()), Some(r)));
        }
        let text = msg.text_content().unwrap_or_default();
        let refusal = msg.extra.get("refusal").and_then(Value::as_str);
        let calls = msg.tool_calls.as_deref().unwrap_or_default();
        let mut content = Vec::new();
        if !text.is_empty() || (refusal.is_none() && calls.is_empty()) {
            content.push(output_text_part(&text));
        }
        if let Some(refusal) = refusal {
            content.push(json!({"type": "refusal", "refusal": refusal}));
        }
        if !content.is_empty() {
            let item_status = if status == "incomplete" {
                "incomplete"
            } else {
                "completed"
            };
            output.push(message_item(
                &echo.item_id("msg", output.len()),
                item_status,
                content,
            ));
        }
        for call in calls {
            output.push(function_call_item(
                &echo.item_id("fc", output.len()),
                // The Responses item has no field for Gemini's thought signature either.
                &crate::inbound::signed_id::join(&call.id, call.thought_signature()),
                &call.function.name,
                &call.function.arguments,
                "completed",
            ));
        }
    }
    let created_at = if resp.created > 0 {
        resp.created
    } else {
        unix_now()
    };
    response_object(
        echo,
        created_at,
        status,
        reason,
        output,
        resp.usage.as_ref().map(usage_json),
        None,
    )
}

/// The Responses `error` of a failed response. The SDK knows a closed list of codes; the
/// gateway's own code stays in the HTTP error body of non-streamed requests.
pub(super) fn response_error(e: &BifrostError) -> Value {
    let code = match e.class {
        ErrorClass::RateLimited | ErrorClass::QueueFull => "rate_limit_exceeded",
        _ => "server_error",
    };
    json!({"code": code, "message": e.message})
}

// ---------------------------------------------------------------------------------------------
// Stream
