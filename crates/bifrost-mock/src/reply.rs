//! Request parsing shared by both APIs and the deterministic reply rules.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

/// Message content: a plain string or an array of typed blocks/parts. Any
/// other shape is accepted and treated as text-less, so the mock stays
/// lenient about content it does not need to understand.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Blocks(Vec<Block>),
    // Never read: the variant only exists to accept (and skip) other shapes.
    #[allow(dead_code)]
    Other(IgnoredAny),
}

/// A content block; only text-bearing ones matter (`{"type":"text","text":…}`).
/// Blocks without a string `text` (images, tool results, …) contribute nothing.
#[derive(Deserialize)]
pub(crate) struct Block {
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// The text of the content: the string itself or the text parts joined by
    /// a single space.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(s) => Cow::Borrowed(s),
            Content::Blocks(blocks) => {
                let parts: Vec<&str> = blocks.iter().filter_map(|b| b.text.as_deref()).collect();
                Cow::Owned(parts.join(" "))
            }
            Content::Other(_) => Cow::Borrowed(""),
        }
    }

    /// Number of text characters (for the prompt token estimate).
    pub(crate) fn char_count(&self) -> usize {
        match self {
            Content::Text(s) => s.chars().count(),
            Content::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| b.text.as_deref())
                .map(|t| t.chars().count())
                .sum(),
            Content::Other(_) => 0,
        }
    }
}

/// A chat message of either API (the fields both have in common).
#[derive(Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub(crate) role: Option<String>,
    #[serde(default)]
    pub(crate) content: Option<Content>,
}

/// Text of the last `user` message, or "" when there is none.
pub(crate) fn last_user_text(messages: &[Message]) -> Cow<'_, str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role.as_deref() == Some("user"))
        .and_then(|m| m.content.as_ref())
        .map_or(Cow::Borrowed(""), Content::text)
}

/// Total text characters of all messages.
pub(crate) fn input_chars(messages: &[Message]) -> usize {
    messages
        .iter()
        .filter_map(|m| m.content.as_ref())
        .map(Content::char_count)
        .sum()
}

/// Prompt tokens: ceil(chars / 4), at least 1.
pub(crate) fn prompt_tokens(chars: usize) -> u64 {
    (chars.div_ceil(4) as u64).max(1)
}

/// Completion tokens: ceil(chars / 4). Used for streams too, so streamed and
/// non-streamed answers to the same request report the same usage.
pub(crate) fn completion_tokens(text: &str) -> u64 {
    text.chars().count().div_ceil(4) as u64
}

/// The reply text: `Mock reply to: <user text>`, padded with `lorem ` words or
/// trimmed to exactly `size` bytes when requested.
pub(crate) fn reply_text(user_text: &str, size: Option<usize>) -> String {
    let mut text = format!("Mock reply to: {user_text}");
    if let Some(size) = size {
        fit_to_size(&mut text, size);
    }
    text
}

fn fit_to_size(text: &mut String, size: usize) {
    if text.len() > size {
        // Cut on a char boundary, then pad the (at most 3) missing bytes below.
        let mut cut = size;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if text.len() < size {
        if !text.is_empty() && !text.ends_with(' ') {
            text.push(' ');
        }
        text.reserve(size - text.len());
        while text.len() < size {
            text.push_str("lorem ");
        }
        // Only ASCII was appended, so any cut point is a char boundary.
        text.truncate(size);
    }
}

/// Splits `text` into at most `chunks` pieces of roughly equal character
/// counts. Fewer pieces are returned when the text has fewer characters.
pub(crate) fn split_pieces(text: &str, chunks: usize) -> Vec<&str> {
    let len = text.chars().count();
    let pieces = chunks.min(len);
    if pieces == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(pieces);
    let mut start = 0;
    let mut next_piece = 1;
    // Piece i ends after floor((i + 1) * len / pieces) characters.
    let mut boundary = len / pieces;
    for (count, (byte, _)) in text.char_indices().enumerate() {
        if count == boundary {
            out.push(&text[start..byte]);
            start = byte;
            next_piece += 1;
            boundary = next_piece * len / pieces;
        }
    }
    out.push(&text[start..]);
    out
}

/// A value that satisfies `schema` the way a model's structured output would: an object has
/// every `properties` key, in the schema's order, each with a placeholder of its type (`""`
/// for strings, `0` for numbers, `false`, `[]`, `null`); `const` and the first `enum` value are
/// used as given; `anyOf`/`oneOf` take their first branch. Unresolvable parts (`$ref`, or
/// nesting deeper than 32) are `null`.
pub(crate) fn schema_placeholder(schema: &serde_json::Value) -> serde_json::Value {
    placeholder_at(schema, 0)
}

fn placeholder_at(schema: &serde_json::Value, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    if depth > 32 {
        return Value::Null;
    }
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(|e| e.get(0)) {
            return placeholder_at(first, depth + 1);
        }
    }
    // `"type": ["string", "null"]`: the first non-null type.
    let kind = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ => None,
    };
    let kind = kind.or_else(|| schema.get("properties").map(|_| "object"));
    match kind {
        Some("object") => {
            let mut object = serde_json::Map::new();
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property) in properties {
                    object.insert(name.clone(), placeholder_at(property, depth + 1));
                }
            }
            Value::Object(object)
        }
        Some("string") => Value::from(""),
        Some("integer") => Value::from(0),
        Some("number") => Value::from(0.0),
        Some("boolean") => Value::Bool(false),
        Some("array") => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// Whether the reply should be a tool call: tools are offered and the last
/// user text mentions the weather.
pub(crate) fn wants_tool_call(has_tools: bool, user_text: &str) -> bool {
    has_tools && user_text.to_ascii_lowercase().contains("weather")
}

/// Text of the reply that precedes a tool call (Cohere's tool plan).
const TOOL_PREAMBLE: &str = "Let me check.";
/// The arguments of every mock tool call, streamed in these two pieces.
pub(crate) const TOOL_ARGUMENT_PIECES: [&str; 2] = [r#"{"location":"#, r#""Paris"}"#];

/// The reply text and its output tokens, for APIs whose tool call comes after a text: the
/// preamble plus the arguments' tokens with a tool call, else the echo reply.
pub(crate) fn reply_with_tool(
    tool_call: bool,
    user_text: &str,
    size: Option<usize>,
) -> (String, u64) {
    if tool_call {
        let tokens =
            completion_tokens(TOOL_PREAMBLE) + completion_tokens(&TOOL_ARGUMENT_PIECES.concat());
        (TOOL_PREAMBLE.to_owned(), tokens)
    } else {
        let text = reply_text(user_text, size);
        let tokens = completion_tokens(&text);
        (text, tokens)
    }
}

/// Current Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_is_even_and_lossless() {
        let text = "abcdefghij";
        let pieces = split_pieces(text, 3);
        assert_eq!(pieces, vec!["abc", "def", "ghij"]);
        assert_eq!(split_pieces(text, 10).len(), 10);
        assert_eq!(split_pieces(text, 50).len(), 10);
        assert!(split_pieces(text, 0).is_empty());
        assert_eq!(split_pieces(text, 1), vec![text]);
        assert!(split_pieces("", 3).is_empty());
        let unicode = "héllo wörld ✓✓";
        assert_eq!(split_pieces(unicode, 4).concat(), unicode);
    }

    #[test]
    fn response_size_is_exact() {
        for size in [0, 1, 5, 16, 17, 40, 1000] {
            assert_eq!(reply_text("hi", Some(size)).len(), size, "size {size}");
        }
        assert_eq!(reply_text("hi", Some(25)), "Mock reply to: hi lorem l");
        // Trimming through a multi-byte char still hits the exact size.
        assert_eq!(reply_text("✓✓✓", Some(17)).len(), 17);
    }

    #[test]
    fn content_text_joins_parts() {
        let c: Content = serde_json::from_str(
            r#"[{"type":"text","text":"a"},{"type":"image_url","image_url":{}},{"type":"text","text":"b"}]"#,
        )
        .unwrap();
        assert_eq!(c.text(), "a b");
        assert_eq!(c.char_count(), 2);
        let c: Content = serde_json::from_str("42").unwrap();
        assert_eq!(c.text(), "");
    }

    #[test]
    fn schema_placeholders_follow_the_schema() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "reasoning": {"type": "string"},
            "answer": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "unit": {"type": ["string", "null"], "enum": ["C", "F"]},
            "kind": {"const": "fixed"},
            "nested": {"properties": {"z": {"type": "string"}, "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}},
            "nothing": {"type": "null"},
            "linked": {"$ref": "#/$defs/x"}
        }});
        assert_eq!(
            schema_placeholder(&schema).to_string(),
            r#"{"reasoning":"","answer":0,"score":0.0,"ok":false,"tags":[],"unit":"C","kind":"fixed","nested":{"z":"","a":0},"nothing":null,"linked":null}"#
        );
    }

    #[test]
    fn token_rules() {
        assert_eq!(prompt_tokens(0), 1);
        assert_eq!(prompt_tokens(9), 3);
        assert_eq!(completion_tokens("abcde"), 2);
        assert!(wants_tool_call(true, "What's the WEATHER?"));
        assert!(!wants_tool_call(false, "weather"));
    }
}
