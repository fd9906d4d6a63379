//! The Anthropic Messages API as an inbound format (`/anthropic/v1/messages`): an Anthropic
//! request becomes the unified chat request, and the unified answer (plain, streamed, or an
//! error) goes back in Anthropic's shape, so the Anthropic SDKs and Claude Code can be served by
//! any provider. The reverse of `providers::anthropic`, over the same types
//! ([`crate::wire::anthropic`]).
//!
//! Request rules ([`to_chat`]):
//! - The body is read as [`crate::wire::anthropic::MessagesRequest`]; one that does not parse
//!   is a 400 whose message names the bad field by its path
//!   (`messages[0].content[1].source.data: Field required`).
//! - `model`, `stream`, `max_tokens` (required: missing is a 400, as at Anthropic), `temperature`
//!   and `top_p` are copied; `stop_sequences` → `stop`; `metadata.user_id` → `user` (other
//!   metadata keys are dropped: Anthropic defines none).
//! - `system` (a string or text blocks) → one leading `system` message: a string stays a string,
//!   blocks become text parts that keep their `cache_control`.
//! - `user`/`assistant` messages keep their shape: string content stays a string, blocks become
//!   parts. Block mapping:
//!   - `text` → a text part; `image` (base64 source → `data:` URL, url source → the URL) → an
//!     `image_url` part; `document` with a base64 source → an OpenAI `file` part (`file_data`
//!     data URL, `filename` from `title`), with a plain-text source → a text part; documents
//!     with url, file or content sources are a 400 (no OpenAI equivalent the gateway can build
//!     without fetching). `citations`, `context` and `title` (beyond the filename) are dropped.
//!   - every block's `cache_control` is kept in its part's `cache_control`, which the outbound
//!     Anthropic and Bedrock translations read again.
//!   - assistant `tool_use` → `tool_calls` (arguments = the JSON text of `input`); the block's
//!     `cache_control` is dropped. An id this gateway gave out with a Gemini thought signature
//!     in it (`<id>__thought__<signature>`, see `inbound::signed_id`) is split again:
//!     the call gets the signature back, the call and its `tool_result` the id Gemini issued.
//!   - assistant `thinking` / `redacted_thinking` → the message's `thinking_blocks`
//!     ([`ThinkingBlock`], signatures kept), which the Anthropic and Bedrock translations send
//!     back; removed for OpenAI-format targets, and never made `reasoning_content`
//!     (OpenAI-compatible servers such as DeepSeek reject it sent back).
//!   - user `tool_result` → one `tool` message per result, placed before the rest of the turn
//!     (OpenAI requires tool messages right after the assistant's calls), content = the result's
//!     text blocks joined with `\n`. `is_error: true` is kept as `is_error` in the message's
//!     `extra`; the block's `cache_control` (else that of its last inner block) is kept by making
//!     the content one text part carrying it. Images and documents inside a result cannot ride
//!     in a tool message, so they move to the user message that follows the tool messages.
//!   - any other block type (server tool blocks, `search_result`, …), and a block in the wrong
//!     role (`tool_use` from the user, `image` from the assistant), is a 400.
//! - Roles other than `user` and `assistant` are a 400, as is an empty `messages` array.
//! - `tools` (`name`, `description`, `input_schema`, `cache_control`) become
//!   function tools; Anthropic server tools (any `type` other than `custom`) are a 400.
//!   `tool_choice` `auto`/`any`/`tool`/`none` → `"auto"`/`"required"`/named function/`"none"`;
//!   `disable_parallel_tool_use: true` → `parallel_tool_calls: false`.
//! - `top_k` → `top_k`; `thinking` is kept verbatim in `thinking` (the Anthropic and Bedrock
//!   translations send it on) and, when enabled, also mapped to `reasoning_effort` for OpenAI,
//!   Gemini and Cohere upstreams: `budget_tokens` < 4096 → `low`, < 16384 → `medium`, else
//!   `high`.
//! - Every other top-level field (`service_tier`, `container`, `mcp_servers`,
//!   `context_management`, future ones) is dropped: their meaning is Anthropic's, and OpenAI
//!   upstreams answer 400 to fields they do not know. [`strip_anthropic_fields`] also removes
//!   the Anthropic-only fields this translation keeps, for routes that serve the request from an
//!   OpenAI-format upstream.
//!
//! [`count_tokens`] validates the same way (without requiring `max_tokens`) and estimates.

use crate::error::BifrostError;
use crate::inbound::signed_id;
use crate::providers::reasons;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, MessageContent, ThinkingBlock, ToolCall,
    ToolCallDelta, Usage, THINKING_BLOCKS,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

mod request;
use request::parse_request;

mod response;
pub use response::{error_body, error_event, from_chat, StreamEncoder};

/// One SSE event of the Anthropic stream: its `event:` name and its `data:` JSON.
pub type Event = (&'static str, Value);

// ---------------------------------------------------------------------------------------------
// Request

/// Parses an Anthropic Messages request into the unified chat request.
pub fn to_chat(body: &[u8]) -> Result<ChatRequest, BifrostError> {
    parse_request(body, true)
}

/// Removes what this translation keeps only for Anthropic-format upstreams (the Anthropic API,
/// Claude on Vertex or Bedrock): `top_k`, `thinking`, `cache_control` on messages, content
/// parts and tools, `is_error` on tool messages and assistants' `thinking_blocks`. For routes
/// whose target speaks OpenAI's format, which rejects unknown fields. (`reasoning_effort`,
/// set from `thinking`, stays: it is OpenAI's own.)
pub fn strip_anthropic_fields(req: &mut ChatRequest) {
    req.top_k = None;
    req.thinking = None;
    for msg in &mut req.messages {
        msg.cache_control = None;
        msg.extra.remove("is_error");
        msg.extra.remove(THINKING_BLOCKS);
        if let Some(MessageContent::Parts(parts)) = &mut msg.content {
            for part in parts {
                part.cache_control = None;
            }
        }
    }
    for tool in req.tools.iter_mut().flatten() {
        tool.cache_control = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Token counting

/// Tokens counted for each image or document: Anthropic charges about (width × height) / 750
/// for an image, ~1,600 for a typical 1.15-megapixel one, and the gateway decodes nothing.
const MEDIA_TOKENS: u64 = 1_600;

/// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, estimated as one token per four
/// characters of system prompt, message text, tool calls and results, and tool definitions
/// (name, description, JSON schema), plus [`MEDIA_TOKENS`] per image or document; at least 1.
/// An estimate for any upstream: only Anthropic's own endpoint knows its tokenizer.
pub fn count_tokens(body: &[u8]) -> Result<Value, BifrostError> {
    let req = parse_request(body, false)?;
    Ok(json!({ "input_tokens": estimate_tokens(&req) }))
}

fn estimate_tokens(req: &ChatRequest) -> u64 {
    let mut chars = 0usize;
    let mut media = 0u64;
    let count = |s: &str| s.chars().count();
    for msg in &req.messages {
        match &msg.content {
            None => {}
            Some(MessageContent::Text(t)) => chars += count(t),
            Some(MessageContent::Parts(parts)) => {
                for p in parts {
                    match &p.text {
                        Some(t) => chars += count(t),
                        None => media += 1,
                    }
                }
            }
        }
        for call in msg.tool_calls.iter().flatten() {
            chars += count(&call.function.name) + count(&call.function.arguments);
        }
    }
    for tool in req.tools.iter().flatten() {
        let f = &tool.function;
        chars += count(&f.name) + f.description.as_deref().map_or(0, count);
        chars += f.parameters.as_ref().map_or(0, |p| count(&p.to_string()));
    }
    (chars.div_ceil(4) as u64 + media * MEDIA_TOKENS).max(1)
}

// ---------------------------------------------------------------------------------------------
// Response

#[cfg(test)]
mod tests;
