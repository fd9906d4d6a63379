//! Amazon Bedrock's Converse API (`POST /model/{modelId}/converse` and `/converse-stream`):
//! the request, the answer and the payloads of the stream's events, written and read by
//! `providers::bedrock`. The `/bedrock` drop-in forwards its clients' bodies and the answers
//! byte for byte (only re-signed), so it reads none of them.
//!
//! Converse writes camelCase and leaves absent fields out. Its unions (a content block, a tool,
//! a tool choice) are objects with exactly one key, which names the kind. Blocks of a kind this
//! was not written for are kept whole as JSON; fields it does not know are ignored on reading.
//! Fields are declared in the order they are written.

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

// Converse names the two roles as Anthropic does: `user`, and `assistant` (an answer's).
pub use super::anthropic::Role;

// ---------------------------------------------------------------------------------------------
// Request

/// The body of `POST /model/{modelId}/converse` (and `/converse-stream`, which takes the same).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<ConverseMessage>,
    /// Text blocks, each possibly followed by a cache point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<ContentBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Parameters the model takes natively (`top_k`, `thinking`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub additional_model_request_fields: Map<String, Value>,
    /// Converse-native fields passed through as the client spelled them (on reading, every
    /// other top-level field).
    #[serde(flatten)]
    pub native: Map<String, Value>,
}

/// One turn of the conversation, and the message of an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConverseMessage {
    /// `user` or `assistant`.
    #[serde(default)]
    pub role: Role,
    /// Content blocks: `{"text":…}`, `{"image":…}`, `{"toolUse":…}`, `{"toolResult":…}`,
    /// `{"cachePoint":…}`, ….
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// One block of a message's `content` (and of `system`, which takes text and cache points).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(Image),
    Document(Document),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
    ReasoningContent(ReasoningContent),
    CachePoint(CachePoint),
    /// `guardContent`, `citationsContent`, `video` and kinds added after this was written, as
    /// sent.
    #[serde(untagged)]
    Other(Value),
}

/// Unlike an untagged fallback, a block of a known kind that does not parse is an error, not
/// an `Other`.
impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn parse<T: DeserializeOwned, E: de::Error>(v: Value) -> Result<T, E> {
            serde_json::from_value(v).map_err(E::custom)
        }
        let block = Map::<String, Value>::deserialize(d)?;
        if block.len() != 1 {
            return Ok(Self::Other(Value::Object(block)));
        }
        let (kind, inner) = block.into_iter().next().unwrap_or_default();
        Ok(match kind.as_str() {
            "text" => Self::Text(parse(inner)?),
            "image" => Self::Image(parse(inner)?),
            "document" => Self::Document(parse(inner)?),
            "toolUse" => Self::ToolUse(parse(inner)?),
            "toolResult" => Self::ToolResult(parse(inner)?),
            "reasoningContent" => Self::ReasoningContent(parse(inner)?),
            "cachePoint" => Self::CachePoint(parse(inner)?),
            _ => Self::Other(Value::Object(Map::from_iter([(kind, inner)]))),
        })
    }
}

/// An image: Converse takes its bytes (or an S3 location), never an http(s) link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// `pdf`, `txt`, `csv`, `html`, `md`, `doc`, `docx`, `xls` or `xlsx`.
    pub format: String,
    /// Letters, digits, spaces, hyphens, parentheses and brackets only.
    pub name: String,
    pub source: Source,
}

/// Where an image's or a document's data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Base64.
    Bytes(String),
    /// `s3Location`, a document's `text` or `content`, and kinds added later, as sent.
    #[serde(untagged)]
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    /// A JSON object.
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    pub tool_use_id: String,
    /// Never empty: Converse refuses a result without content.
    #[serde(default)]
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One block of a tool result's `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    /// A JSON object.
    Json(Value),
    Text(String),
    Image(Image),
    Document(Document),
    /// `video` and kinds added later, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// `reasoningText` is readable reasoning with its signature; `redactedContent` is encrypted
/// (base64). Both become `thinking_blocks`, so the client can send them back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_text: Option<ReasoningText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasoningText {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A prompt-cache checkpoint: what comes before it (in `system`, `messages` or `tools`) is
/// cached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePoint {
    #[serde(rename = "type")]
    pub kind: CachePointType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CachePointType {
    #[default]
    Default,
}

impl From<CachePoint> for ContentBlock {
    fn from(point: CachePoint) -> Self {
        Self::CachePoint(point)
    }
}

impl From<CachePoint> for Tool {
    fn from(point: CachePoint) -> Self {
        Self::CachePoint(point)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// `{"toolSpec":…}` entries, each possibly followed by a `{"cachePoint":…}` entry.
    pub tools: Vec<Tool>,
    /// Absent means auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// One entry of `toolConfig.tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpec),
    CachePoint(CachePoint),
    /// `systemTool` and kinds added later, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// A client tool: its name, description and JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: InputSchema,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InputSchema {
    Json(Value),
}

/// How the model may use the tools. Converse has no "none": a request whose model must not
/// call tools leaves them out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto {},
    /// Some tool must be called.
    Any {},
    Tool {
        name: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Answer

/// The parts of a Converse response the translation reads (not `metrics`, `trace` or
/// `additionalModelResponseFields`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: Output,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: ConverseUsage,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub message: ConverseMessage,
}

/// Converse token counts; `inputTokens` excludes the cache reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConverseUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Stream: the JSON payloads of the event-stream frames, named by their `:event-type` header.
// `messageStart` and `contentBlockStop` carry nothing the gateway reads.

/// `contentBlockStart`: only a tool-use block announces itself; text and reasoning start with
/// their first delta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    pub content_block_index: u64,
    pub start: ContentBlockStart,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContentBlockStart {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseStart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

/// `contentBlockDelta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    #[serde(default)]
    pub content_block_index: u64,
    pub delta: ContentBlockDelta,
}

/// Exactly one field is set; `reasoningContent` carries text, a `signature` (closing the
/// reasoning block) or `redactedContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContentBlockDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseDelta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<ReasoningDelta>,
}

/// A fragment of the tool call's input, as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolUseDelta {
    pub input: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReasoningDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

/// `messageStop`: the answer is complete; `metadata` (usage) follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageStopEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// `metadata`, the last event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataEvent {
    pub usage: ConverseUsage,
}

/// The tests compare what the gateway builds with the JSON it is written as.
#[cfg(test)]
impl PartialEq<Value> for ContentBlock {
    fn eq(&self, other: &Value) -> bool {
        serde_json::to_value(self).is_ok_and(|v| v == *other)
    }
}

#[cfg(test)]
impl From<CachePoint> for Value {
    fn from(point: CachePoint) -> Self {
        serde_json::to_value(ContentBlock::CachePoint(point)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a client or an upstream writes reads in and writes out the same, key order too.
    #[test]
    fn requests_and_responses_round_trip() {
        let request = json!({
            "messages": [
                {"role": "user", "content": [
                    {"text": "Where is this?"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                    {"document": {"format": "pdf", "name": "report",
                                  "source": {"s3Location": {"uri": "s3://b/report.pdf"}}}},
                    {"cachePoint": {"type": "default"}},
                    {"guardContent": {"text": {"text": "check me"}}}
                ]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "c2ln"}}},
                    {"reasoningContent": {"redactedContent": "RW5j"}},
                    {"toolUse": {"toolUseId": "t1", "name": "locate", "input": {"q": "a"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [
                        {"json": {"city": "Paris"}}, {"text": "sunny"},
                        {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}
                    ], "status": "success"}}
                ]}
            ],
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9,
                                "stopSequences": ["END"]},
            "toolConfig": {
                "tools": [
                    {"toolSpec": {"name": "locate", "description": "Find",
                                  "inputSchema": {"json": {"type": "object"}}}},
                    {"cachePoint": {"type": "default"}}
                ],
                "toolChoice": {"tool": {"name": "locate"}}
            },
            "additionalModelRequestFields": {"top_k": 40},
            "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
        });
        let typed: ConverseRequest = serde_json::from_value(request.clone()).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), request.to_string());
        assert!(matches!(
            typed.messages[0].content[4],
            ContentBlock::Other(_)
        ));

        for choice in [json!({"auto": {}}), json!({"any": {}})] {
            let typed: ToolChoice = serde_json::from_value(choice.clone()).unwrap();
            assert_eq!(serde_json::to_value(typed).unwrap(), choice);
        }

        let response = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Paris."},
                {"citationsContent": {"citations": []}}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11,
                      "cacheReadInputTokens": 0}
        });
        let typed: ConverseResponse = serde_json::from_value(response.clone()).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), response.to_string());
    }

    #[test]
    fn known_blocks_must_parse() {
        let e =
            serde_json::from_value::<ContentBlock>(json!({"toolUse": {"name": "f"}})).unwrap_err();
        assert!(e.to_string().contains("missing field `toolUseId`"), "{e}");
        assert!(serde_json::from_value::<ContentBlock>(json!("text")).is_err());
        // Two keys are no block this knows.
        let odd = json!({"text": "a", "image": {}});
        assert_eq!(
            serde_json::from_value::<ContentBlock>(odd.clone()).unwrap(),
            ContentBlock::Other(odd)
        );
    }

    #[test]
    fn stream_payloads_round_trip() {
        let events = [
            r#"{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}"#,
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"c2ln"}}}"#,
            r#"{"stopReason":"tool_use"}"#,
            r#"{"usage":{"inputTokens":3,"outputTokens":2}}"#,
        ];
        fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> String {
            serde_json::to_string(&serde_json::from_str::<T>(json).unwrap()).unwrap()
        }
        assert_eq!(round_trip::<ContentBlockStartEvent>(events[0]), events[0]);
        assert_eq!(round_trip::<ContentBlockDeltaEvent>(events[1]), events[1]);
        assert_eq!(round_trip::<MessageStopEvent>(events[2]), events[2]);
        assert_eq!(round_trip::<MetadataEvent>(events[3]), events[3]);
    }
}
