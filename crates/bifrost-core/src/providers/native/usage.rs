//! Usage of JSON answers: each API's usage object read from an answer's bytes.
//!
//! Every one of these APIs writes its usage object after the content, so it is read from where
//! its key last stands ([`top_level_tail`]) rather than by skipping the whole answer again;
//! the whole body is read only when that fails.

use super::*;
use serde::de::DeserializeOwned;

/// `usage` of an Anthropic message.
pub fn anthropic_usage(body: &[u8]) -> Option<Usage> {
    usage_field::<AnthropicUsage>(body).map(AnthropicUsage::to_openai)
}

/// `usage` of an OpenAI chat completion.
pub fn openai_chat_usage(body: &[u8]) -> Option<Usage> {
    usage_field::<Usage>(body)
}

/// `usage` of an OpenAI response object.
pub fn responses_usage(body: &[u8]) -> Option<Usage> {
    usage_field::<ResponsesUsage>(body).map(ResponsesUsage::to_openai)
}

/// The top-level `usage` object of an answer, in its API's own shape.
fn usage_field<U: DeserializeOwned>(body: &[u8]) -> Option<U> {
    #[derive(Deserialize)]
    #[serde(bound = "U: DeserializeOwned")]
    struct Body<U> {
        usage: Option<U>,
    }
    read::<Body<U>>(body, b"\"usage\":")?.usage
}

/// `usageMetadata` of a Gemini answer.
pub fn gemini_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        usage_metadata: Option<UsageMetadata>,
    }
    read::<Body>(body, b"\"usageMetadata\":")?
        .usage_metadata
        .map(UsageMetadata::to_openai)
}

/// `T`, a struct of one top-level field, from the tail that starts at `key`, else from the
/// whole body.
fn read<T: DeserializeOwned>(body: &[u8], key: &[u8]) -> Option<T> {
    top_level_tail(body, key)
        .and_then(|tail| serde_json::from_slice(&tail).ok())
        .or_else(|| serde_json::from_slice(body).ok())
}

/// `{` and the body from the last `key` (`"name":`) on: the rest of the top-level object when
/// that key is one of its own. A key of a nested object leaves closing brackets over, so the
/// tail does not parse and the caller reads the whole body. In valid JSON, a quote right after
/// `,` or `{` opens a key, never ends a string, so a match so preceded is a real key.
fn top_level_tail(body: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let at = memchr::memmem::rfind(body, key)?;
    let before = body[..at].iter().rev().find(|b| !b.is_ascii_whitespace())?;
    if !matches!(before, b',' | b'{') {
        return None;
    }
    let mut tail = Vec::with_capacity(body.len() - at + 1);
    tail.push(b'{');
    tail.extend_from_slice(&body[at..]);
    Some(tail)
}
