//! Inbound formats: what the drop-in routes accept (the Anthropic Messages API, the Google
//! GenAI API, OpenAI's Responses API), translated to the unified chat request, and the unified
//! answer translated back — plain, streamed (an encoder per stream), and as errors. Pure
//! functions, so any provider can serve any SDK.

pub mod anthropic;
pub mod genai;
pub mod responses;

/// Carries Gemini's thought signature in a tool call's id for client APIs with no field for it
/// (Anthropic's `tool_use`): `<id>__thought__<signature>`. The client sends the id back
/// verbatim, and Gemini 3 refuses a function call in the history without its signature. The
/// signature is re-encoded as unpadded URL-safe base64 so the id stays within Anthropic's
/// `[A-Za-z0-9_-]` should the conversation move to Claude.
pub(crate) mod signed_id {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;

    const MARK: &str = "__thought__";

    /// `id`, with the signature appended when there is one (and it is base64, as Gemini's are).
    pub(crate) fn join(id: &str, signature: Option<&str>) -> String {
        match signature.and_then(|s| STANDARD.decode(s).ok()) {
            Some(bytes) => format!("{id}{MARK}{}", URL_SAFE_NO_PAD.encode(bytes)),
            None => id.to_owned(),
        }
    }

    /// The id as the upstream issued it, and the signature carried in it.
    pub(crate) fn split(id: &str) -> (&str, Option<String>) {
        match id.split_once(MARK) {
            Some((id, sig)) => match URL_SAFE_NO_PAD.decode(sig) {
                Ok(bytes) => (id, Some(STANDARD.encode(bytes))),
                Err(_) => (id, None),
            },
            None => (id, None),
        }
    }
}

/// The non-empty `reasoning_content` of a message or delta (where OpenAI-compatible servers
/// put reasoning), which each inbound format turns into its own thinking or reasoning item.
pub(crate) fn reasoning_content(extra: &crate::schemas::Extra) -> Option<&str> {
    extra
        .get("reasoning_content")
        .and_then(serde_json::Value::as_str)
        .filter(|r| !r.is_empty())
}
