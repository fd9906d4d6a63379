//! Cohere's v2 API (`/v2/chat`, its SSE events, `/v2/embed`, `/v2/rerank`) as it is written
//! on the wire. `providers::cohere` builds its requests and reads its upstream's answers with
//! these types; the `/cohere` drop-in reads what it routes by from its clients' bodies with
//! [`ChatHead`].
//!
//! Reading is lenient, since upstreams vary: absent fields take their default, unknown fields
//! are ignored. Field order is the order the gateway writes keys in.

use crate::schemas::Extra;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

// ---------------------------------------------------------------------------------------------
// Chat request

/// The body of `POST /v2/chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereChatRequest {
    pub model: String,
    pub messages: Vec<CohereMessage>,
    /// Always sent: Cohere answers with SSE only when it is `true`.
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// `NONE` or `REQUIRED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Cohere-native fields without a typed slot here (`documents`, `citation_options`,
    /// `safety_mode`, `priority`), as the client sent them.
    #[serde(flatten)]
    pub passthrough: Extra,
}

/// One message of a Cohere v2 conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum CohereMessage {
    System {
        content: CohereContent,
    },
    User {
        content: CohereContent,
    },
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<CohereContent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<CohereToolCall>>,
    },
    Tool {
        tool_call_id: String,
        content: Vec<ToolContent>,
    },
}

/// Message content: a string or content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CohereContent {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

/// A block of a message's content: text and images in requests, text and thinking in answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ImageUrl {
        #[serde(default)]
        image_url: ImageUrl,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    /// Kinds this was not written for: read, never written.
    #[serde(other, skip_serializing)]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call, in an assistant message of the history or in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereToolCall {
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: Cow<'static, str>,
    #[serde(default)]
    pub function: CohereFunctionCall,
}

fn function_kind() -> Cow<'static, str> {
    Cow::Borrowed("function")
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereFunctionCall {
    #[serde(default)]
    pub name: String,
    /// JSON text, as in OpenAI; answers may leave it out for a call without arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// A block of a tool message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolContent {
    Document { document: ToolDocument },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDocument {
    /// Cohere wants a string here (JSON text is fine); objects are rejected.
    pub data: String,
}

// ---------------------------------------------------------------------------------------------
// Chat answer and usage

/// The parts of a `/v2/chat` answer the gateway reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereChatResponse {
    pub id: String,
    pub message: CohereResponseMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: CohereUsage,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereResponseMessage {
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CohereToolCall>,
}

/// Cohere's usage block. Counts are documented as numbers and typed as floats by Cohere's own
/// SDK, so both `12` and `12.0` are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_units: Option<TokenCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCounts>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_tokens: Option<u64>,
}

/// The counts of `usage.tokens` (what the model saw and wrote), and of `billed_units` in a
/// chat's `usage` and in the `meta` of an embed or rerank answer (rerank bills search units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCounts {
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub search_units: Option<u64>,
}

/// A token count sent as an integer or a float (or `null`).
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v: Option<f64> = Option::deserialize(d)?;
    // Counts are small non-negative integers; the cast saturates on anything else.
    Ok(v.map(|f| f.max(0.0).round() as u64))
}

// ---------------------------------------------------------------------------------------------
// Chat stream events
//
// The reader knows each event's kind from its SSE name (or its `type`) and parses the payload
// of that kind; fields are optional because deltas carry only what changed.

/// `message-start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `{"delta":{"message":{…}}}`, the envelope of every content-bearing event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<M> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub delta: DeltaOf<M>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaOf<M> {
    pub message: M,
}

/// The message of `content-start` and `content-delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentMessage {
    #[serde(default)]
    pub content: ContentPiece,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPiece {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
}

/// The message of `tool-plan-delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolPlanMessage {
    #[serde(default)]
    pub tool_plan: String,
}

/// The message of `tool-call-start` (the call's id and name) and `tool-call-delta` (a piece of
/// its arguments).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallMessage {
    pub tool_calls: ToolCallPiece,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallPiece {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub function: FunctionPiece,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionPiece {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// `message-end`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageEnd {
    #[serde(default)]
    pub delta: MessageEndDelta,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageEndDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Why the generation failed, with finish reason `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub usage: CohereUsage,
}

// ---------------------------------------------------------------------------------------------
// Embed and rerank

/// The body of `POST /v2/embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereEmbedRequest {
    pub model: String,
    pub texts: Vec<String>,
    pub input_type: String,
    pub embedding_types: Vec<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<String>,
}

/// The parts of a `/v2/embed` answer the gateway reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereEmbedResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub embeddings: EmbeddingsByType,
    #[serde(default)]
    pub meta: Meta,
}

/// One list of vectors per requested embedding type; only floats are requested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsByType {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_units: Option<TokenCounts>,
}

/// The body of `POST /v2/rerank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereRerankRequest {
    pub model: String,
    pub query: String,
    pub documents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_doc: Option<u32>,
}

/// The parts of a `/v2/rerank` answer the gateway reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereRerankResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub results: Vec<RerankResult>,
    #[serde(default)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RerankResult {
    pub index: u32,
    pub relevance_score: f64,
    /// The ranked document's text, when the request asked for `return_documents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// What the `/cohere` drop-in reads of its clients' bodies

/// The two fields of a client's `/v2/chat` body the `/cohere` drop-in acts on before it
/// forwards the body unchanged: the model to route by and whether to stream. The other fields
/// are skipped without being built; `model` borrows from the body unless it has escapes.
///
/// It answers as the whole object parsed and then asked for the two would: a `model` that is
/// not a string counts as absent, a `stream` other than `true` as `false`, a repeated key's
/// last value counts, and a body that is not an object is refused in the same words.
/// Skipped values are only checked for syntax; the Cohere provider parses the whole body
/// before sending it on, and refuses there what a whole parse here would have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatHead<'a> {
    pub model: Option<Cow<'a, str>>,
    pub stream: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for ChatHead<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeadVisitor(PhantomData))
    }
}

struct HeadVisitor<'a>(PhantomData<ChatHead<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for HeadVisitor<'a> {
    type Value = ChatHead<'a>;

    // serde_json's `Map` expects the same, so the error for a non-object body reads as before.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Key {
            Model,
            Stream,
            #[serde(other)]
            Other,
        }
        let mut head = ChatHead::default();
        while let Some(key) = map.next_key()? {
            match key {
                Key::Model => {
                    head.model = match map.next_value()? {
                        Loose::Str(s) => Some(s),
                        _ => None,
                    }
                }
                Key::Stream => head.stream = matches!(map.next_value()?, Loose::Bool(true)),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
}

/// A value of which [`ChatHead`] keeps a string or a boolean; any other is read past.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Bool(bool),
    Other(IgnoredAny),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the gateway writes, or an upstream answers, reads in and writes out the same, key
    /// order too.
    #[test]
    fn requests_answers_and_events_round_trip() {
        fn round_trip<T: Serialize + serde::de::DeserializeOwned>(v: Value) {
            let typed: T = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_string(&typed).unwrap(), v.to_string());
        }
        round_trip::<CohereChatRequest>(json!({
            "model": "command-a-03-2025",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Where is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "high"}}
                ]},
                {"role": "assistant", "tool_plan": "I will look.", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "locate", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1",
                 "content": [{"type": "document", "document": {"data": "Paris"}}]},
                {"role": "assistant", "content": "Paris."}
            ],
            "stream": true,
            "tools": [{"type": "function", "function": {"name": "locate", "parameters": {}}}],
            "tool_choice": "REQUIRED",
            "strict_tools": true,
            "max_tokens": 100,
            "k": 5,
            "thinking": {"type": "enabled"},
            "safety_mode": "CONTEXTUAL"
        }));
        round_trip::<CohereChatResponse>(json!({
            "id": "r1",
            "message": {
                "content": [{"type": "thinking", "thinking": "Hm."}, {"type": "text", "text": "Hi"}],
                "tool_plan": "Looking.",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}]
            },
            "finish_reason": "TOOL_CALL",
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 9},
                      "tokens": {"input_tokens": 71, "output_tokens": 9}, "cached_tokens": 8}
        }));
        round_trip::<Envelope<ToolCallMessage>>(json!({
            "index": 1,
            "delta": {"message": {"tool_calls": {"id": "c1", "function": {"name": "f", "arguments": ""}}}}
        }));
        round_trip::<Envelope<ContentMessage>>(
            json!({"delta": {"message": {"content": {"text": "It is "}}}}),
        );
        round_trip::<MessageEnd>(
            json!({"delta": {"finish_reason": "ERROR", "error": "overloaded",
                                                   "usage": {"tokens": {"output_tokens": 3}}}}),
        );
        round_trip::<CohereEmbedRequest>(json!({
            "model": "embed-v4.0", "texts": ["a"], "input_type": "search_document",
            "embedding_types": ["float"], "output_dimension": 256
        }));
        round_trip::<CohereEmbedResponse>(json!({
            "id": "e1", "embeddings": {"float": [[0.5, -1.0]]},
            "meta": {"billed_units": {"input_tokens": 2}}
        }));
        round_trip::<CohereRerankResponse>(json!({
            "id": "r1", "results": [{"index": 1, "relevance_score": 0.98}],
            "meta": {"billed_units": {"search_units": 1}}
        }));
    }

    #[test]
    fn answers_read_leniently() {
        let resp: CohereChatResponse = serde_json::from_value(json!({
            "id": "r1",
            "message": {"role": "assistant", "citations": [],
                        "content": [{"type": "future_block", "x": 1}],
                        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": null}}]},
            "usage": {"tokens": {"input_tokens": 12.0, "output_tokens": null}}
        }))
        .unwrap();
        assert_eq!(resp.message.content, vec![ContentBlock::Other]);
        let call = &resp.message.tool_calls[0];
        assert_eq!(
            (call.kind.as_ref(), call.function.arguments.as_deref()),
            ("function", None)
        );
        let tokens = resp.usage.tokens.unwrap();
        assert_eq!(
            (tokens.input_tokens, tokens.output_tokens),
            (Some(12), None)
        );
    }

    #[test]
    fn the_chat_head_reads_model_and_stream_only() {
        fn head(body: &str) -> serde_json::Result<ChatHead<'_>> {
            serde_json::from_str(body)
        }
        let body = r#"{"messages":[{"role":"user","content":"hi"}],"model":"command-r","stream":true,"k":1.5}"#;
        let read = head(body).unwrap();
        assert!(matches!(read.model, Some(Cow::Borrowed("command-r"))));
        assert!(read.stream);

        // Escapes are unescaped; the last of a repeated key counts.
        let read = head(r#"{"model":"a","model":"c\u00f6","stream":true,"stream":false}"#).unwrap();
        assert_eq!((read.model.as_deref(), read.stream), (Some("cö"), false));

        // Only a string is a model, only `true` streams.
        for body in [
            r#"{"stream":"true"}"#,
            r#"{"model":7,"stream":1}"#,
            r#"{"model":null,"stream":null}"#,
            r#"{"model":{"name":"m"},"stream":[true]}"#,
        ] {
            assert_eq!(head(body).unwrap(), ChatHead::default(), "{body}");
        }

        // Refused in the words a whole `Map` is.
        for body in [
            "[1]",
            "\"x\"",
            "{",
            r#"{"model":"m"} x"#,
            r#"{"messages":[}"#,
        ] {
            let whole = serde_json::from_str::<serde_json::Map<String, Value>>(body).unwrap_err();
            assert_eq!(
                head(body).unwrap_err().to_string(),
                whole.to_string(),
                "{body}"
            );
        }
    }
}
