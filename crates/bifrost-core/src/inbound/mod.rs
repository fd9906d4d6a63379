//! Inbound formats: what the drop-in routes accept (the Anthropic Messages API, the Google
//! GenAI API, OpenAI's Responses API), translated to the unified chat request, and the unified
//! answer translated back — plain, streamed (an encoder per stream), and as errors. Pure
//! functions, so any provider can serve any SDK.

pub mod anthropic;
pub mod genai;
pub mod responses;

/// The non-empty `reasoning_content` of a message or delta (where OpenAI-compatible servers
/// put reasoning), which each inbound format turns into its own thinking or reasoning item.
pub(crate) fn reasoning_content(extra: &crate::schemas::Extra) -> Option<&str> {
    extra
        .get("reasoning_content")
        .and_then(serde_json::Value::as_str)
        .filter(|r| !r.is_empty())
}
