//! The Anthropic Messages API (`/v1/messages`): the request, the answer and the stream events,
//! written and read by `providers::anthropic` (the gateway as Anthropic's client) and by
//! `inbound::anthropic` (the gateway as the server an Anthropic SDK talks to).
//!
//! Strings are `Cow`s: what the gateway writes borrows from its own values, what it reads is
//! owned. Fields are declared in the order they are written. Blocks of a type this was not
//! written for are kept whole as JSON; fields it does not know are ignored on reading. Read
//! through `serde_path_to_error`, an error names the bad field, also inside blocks (see
//! `wire::error_path`).

use super::{field_error, parse_buffered};
use crate::schemas::{self, ThinkingBlock};
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Request

/// The body of `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest<'a> {
    /// Empty where the model is in the URL instead (Vertex), and then not written.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub model: Cow<'a, str>,
    /// A string, or text blocks (which may carry `cache_control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content<'a>>,
    pub messages: Vec<MessageParam<'a>>,
    /// Required by `/v1/messages` (the gateway always writes it); `count_tokens` takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    /// Kept as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<Number>,
    /// A [`ThinkingConfig`], kept as the client sent it (with any field added later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// `user_id`, and whatever else the client put there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    /// The default: an answer's role.
    #[default]
    Assistant,
}

/// The usual mistake, a `system` or `tool` turn, is told where the system prompt goes.
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            other => Err(de::Error::custom(format_args!(
                "unexpected role '{other}' (expected user or assistant; the system prompt goes in \
                 the top-level 'system' field)"
            ))),
        }
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageParam<'a> {
    pub role: Role,
    pub content: Content<'a>,
}

/// A turn's content, the system prompt or a tool result: a string or blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<ContentBlock<'a>>),
}

/// Unlike an untagged enum, which would only say that nothing matched, this reports the error
/// of the block that does not parse, at its path.
impl<'de> Deserialize<'de> for Content<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl ContentVisitor {
    /// For any other JSON type, `null` included.
    fn wrong_type<E: de::Error>() -> Result<Content<'static>, E> {
        Err(E::custom("must be a string or an array of content blocks"))
    }
}

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content<'static>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of content blocks")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Content::Text(s.to_owned().into()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Content::Text(s.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Content::Blocks)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Self::wrong_type()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Self::wrong_type()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Self::wrong_type()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Self::wrong_type()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Self::wrong_type()
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Self::wrong_type()
    }
}

/// One block of a message's `content`. Answers hold text, thinking, redacted_thinking,
/// tool_use and server-tool blocks; requests also image, document and tool_result blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock<'a> {
    Text(Text<'a>),
    Image(Image<'a>),
    Document(Document<'a>),
    ToolUse(ToolUse<'a>),
    ToolResult(ToolResult<'a>),
    Thinking(Thinking<'a>),
    RedactedThinking(RedactedThinking<'a>),
    /// Server tool blocks, `search_result` and types added after this was written, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// Unlike an untagged fallback, a block of a known type that does not parse is an error, not
/// an `Other`.
impl<'de> Deserialize<'de> for ContentBlock<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let block = match v.get("type").and_then(Value::as_str) {
            Some("text") => Self::Text(parse_buffered(v)?),
            Some("image") => Self::Image(parse_buffered(v)?),
            Some("document") => Self::Document(parse_buffered(v)?),
            Some("tool_use") => Self::ToolUse(parse_buffered(v)?),
            Some("tool_result") => Self::ToolResult(parse_buffered(v)?),
            Some("thinking") => Self::Thinking(parse_buffered(v)?),
            Some("redacted_thinking") => Self::RedactedThinking(parse_buffered(v)?),
            _ => Self::Other(v),
        };
        Ok(block)
    }
}

/// A `text` block (also of the system prompt).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text<'a> {
    #[serde(default)]
    pub text: Cow<'a, str>,
    /// Prompt caching is opted into per block; losing the marker silently would cost the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image<'a> {
    pub source: Source<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document<'a> {
    pub source: Source<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// Where an image's or a document's data is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: Cow<'a, str>,
    },
    /// A plain-text document.
    Text {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    /// File ids, content sources and types added later, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// As for blocks, a source of a known type that does not parse is an error, not an `Other`.
impl<'de> Deserialize<'de> for Source<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Base64 {
            media_type: String,
            data: String,
        }
        #[derive(Deserialize)]
        struct Url {
            url: String,
        }
        /// Read without its `media_type` (always `text/plain`), as the gateway always has.
        #[derive(Deserialize)]
        struct PlainText {
            #[serde(default)]
            media_type: String,
            data: String,
        }
        let v = Value::deserialize(d)?;
        let source = match v.get("type").and_then(Value::as_str) {
            Some("base64") => {
                let Base64 { media_type, data } = parse_buffered(v)?;
                Self::Base64 {
                    media_type: media_type.into(),
                    data: data.into(),
                }
            }
            Some("url") => {
                let Url { url } = parse_buffered(v)?;
                Self::Url { url: url.into() }
            }
            Some("text") => {
                let PlainText { media_type, data } = parse_buffered(v)?;
                Self::Text {
                    media_type: media_type.into(),
                    data: data.into(),
                }
            }
            _ => Self::Other(v),
        };
        Ok(source)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse<'a> {
    pub id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    #[serde(default)]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult<'a> {
    pub tool_use_id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// Readable reasoning; the signature lets Anthropic check the block when it is sent back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thinking<'a> {
    #[serde(default)]
    pub thinking: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
}

/// Reasoning flagged by the safety systems, encrypted; sent back as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinking<'a> {
    pub data: Cow<'a, str>,
}

/// The unified shape's reasoning blocks are Anthropic's, as issued.
impl From<ThinkingBlock> for ContentBlock<'_> {
    fn from(block: ThinkingBlock) -> Self {
        match block {
            ThinkingBlock::Thinking {
                thinking,
                signature,
            } => Self::Thinking(Thinking {
                thinking: thinking.into(),
                signature: signature.map(Cow::Owned),
            }),
            ThinkingBlock::RedactedThinking { data } => {
                Self::RedactedThinking(RedactedThinking { data: data.into() })
            }
        }
    }
}

/// A client tool: its name, description and JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool<'a> {
    /// `custom` or absent; a server tool's own type (`web_search_20250305`, …) when a client
    /// asks for one.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// `null` when absent on reading: server tools have none, and their reader says so.
    #[serde(default)]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// How the model may use the tools; `none` takes no `disable_parallel_tool_use`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice<'a> {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// Some tool must be called.
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

/// Read as one flat object rather than buffered as a tagged enum would be, so that an error
/// names its field.
impl<'de> Deserialize<'de> for ToolChoice<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "ToolChoice")]
        struct Flat {
            #[serde(rename = "type")]
            kind: Option<String>,
            name: Option<String>,
            disable_parallel_tool_use: Option<bool>,
        }
        let Flat {
            kind,
            name,
            disable_parallel_tool_use,
        } = Flat::deserialize(d)?;
        match kind.as_deref() {
            Some("auto") => Ok(Self::Auto {
                disable_parallel_tool_use,
            }),
            Some("any") => Ok(Self::Any {
                disable_parallel_tool_use,
            }),
            Some("tool") => match name {
                Some(name) => Ok(Self::Tool {
                    name: name.into(),
                    disable_parallel_tool_use,
                }),
                None => Err(field_error("name", "Field required (a string)")),
            },
            Some("none") => Ok(Self::None),
            Some(other) => Err(field_error(
                "type",
                format_args!("unknown value '{other}' (expected auto, any, tool or none)"),
            )),
            None => Err(field_error(
                "type",
                "Field required (auto, any, tool or none)",
            )),
        }
    }
}

impl ToolChoice<'_> {
    /// At most one tool call per answer (a no-op for `none`).
    pub fn disable_parallel_tool_use(&mut self) {
        match self {
            Self::Auto {
                disable_parallel_tool_use,
            }
            | Self::Any {
                disable_parallel_tool_use,
            }
            | Self::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use = Some(true),
            Self::None => {}
        }
    }
}

/// `thinking`: extended thinking with a token budget, or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingConfig {
    Enabled {
        budget_tokens: u64,
    },
    Disabled,
    /// Types added after this was written: read, never written.
    #[serde(other, skip_serializing)]
    Other,
}

// ---------------------------------------------------------------------------------------------
// Answer

/// An answer, and the message that `message_start` opens a stream with.
///
/// Everything may be missing on reading because `message_start` leaves out what it does not
/// know yet; a whole answer must have `id` and `content` (an empty one is `[]`), which its
/// reader checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message<'a> {
    #[serde(default)]
    pub id: Cow<'a, str>,
    /// Not read: always `message`.
    #[serde(rename = "type", skip_deserializing)]
    pub kind: MessageType,
    /// Not read: always `assistant`.
    #[serde(skip_deserializing)]
    pub role: Role,
    #[serde(default)]
    pub model: Cow<'a, str>,
    #[serde(default)]
    pub content: Vec<ContentBlock<'a>>,
    /// Written as `null` until known.
    #[serde(default)]
    pub stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stop_sequence: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: Usage,
}

/// The `type` of a [`Message`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Message,
}

/// Token counts. The cache fields are absent or `null` when caching was not used; in
/// `message_delta` only the counts that changed may be present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
}

impl Usage {
    /// OpenAI's usage. Anthropic's `input_tokens` excludes cached tokens, OpenAI's
    /// `prompt_tokens` includes them, so both cache counts are added back.
    pub fn to_openai(self) -> schemas::Usage {
        schemas::Usage::with_cache(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
        )
    }

    /// Takes the counts of a later report (`message_delta`'s). They are cumulative; input
    /// counts appear there only when they changed (server tools), so the earlier ones stay
    /// otherwise.
    pub fn merge(&mut self, later: Usage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// One event of a streamed answer: its SSE `event:` name is its `type` ([`Self::name`]).
///
/// A reader that knows the event's name parses the payload struct itself, which is cheaper
/// than going through the tagged enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent<'a> {
    MessageStart(MessageStart<'a>),
    ContentBlockStart(ContentBlockStart<'a>),
    ContentBlockDelta(ContentBlockDelta<'a>),
    ContentBlockStop(ContentBlockStop),
    MessageDelta(MessageDelta<'a>),
    /// The end: nothing may follow it.
    MessageStop,
    Ping,
    /// A failure after the stream started.
    Error(ErrorEvent<'a>),
}

impl StreamEvent<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart(_) => "message_start",
            Self::ContentBlockStart(_) => "content_block_start",
            Self::ContentBlockDelta(_) => "content_block_delta",
            Self::ContentBlockStop(_) => "content_block_stop",
            Self::MessageDelta(_) => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error(_) => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStart<'a> {
    pub message: Message<'a>,
}

/// Opens block `index`; blocks stream one at a time, in index order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockStart<'a> {
    pub index: u64,
    pub content_block: ContentBlock<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockDelta<'a> {
    pub index: u64,
    pub delta: Delta<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta<'a> {
    TextDelta {
        text: Cow<'a, str>,
    },
    /// A fragment of a tool call's input, as JSON text.
    InputJsonDelta {
        partial_json: Cow<'a, str>,
    },
    ThinkingDelta {
        thinking: Cow<'a, str>,
    },
    /// Closes a thinking block; the client needs it to send the block back.
    SignatureDelta {
        signature: Cow<'a, str>,
    },
    /// Kinds added after this was written: read, never written.
    #[serde(other, skip_serializing)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentBlockStop {
    pub index: u64,
}

/// The stop reason, and the usage so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDelta<'a> {
    #[serde(default)]
    pub delta: MessageDeltaBody<'a>,
    #[serde(default)]
    pub usage: Usage,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody<'a> {
    #[serde(default)]
    pub stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stop_sequence: Option<Cow<'a, str>>,
}

/// The `error` event; with `"type": "error"` also the body of an error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent<'a> {
    pub error: ApiError<'a>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError<'a> {
    /// `overloaded_error`, `invalid_request_error`, …
    #[serde(rename = "type")]
    pub kind: Cow<'a, str>,
    pub message: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_blocks_pass_through_and_known_ones_must_parse() {
        let server = json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                            "input": {"query": "rust"}});
        let block: ContentBlock = serde_json::from_value(server.clone()).unwrap();
        assert_eq!(block, ContentBlock::Other(server.clone()));
        assert_eq!(serde_json::to_value(&block).unwrap(), server);

        let e = serde_json::from_str::<ContentBlock>(r#"{"type": "tool_use", "name": "f"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("missing field `id`"), "{e}");
    }

    #[test]
    fn events_are_named_by_their_type_and_read_back() {
        let text = ContentBlock::Text(Text {
            text: "hi".into(),
            cache_control: None,
        });
        let events = [
            StreamEvent::MessageStart(MessageStart {
                message: Message::default(),
            }),
            StreamEvent::ContentBlockStart(ContentBlockStart {
                index: 0,
                content_block: text,
            }),
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                index: 0,
                delta: Delta::TextDelta { text: "!".into() },
            }),
            StreamEvent::ContentBlockStop(ContentBlockStop { index: 0 }),
            StreamEvent::MessageDelta(MessageDelta::default()),
            StreamEvent::MessageStop,
            StreamEvent::Ping,
            StreamEvent::Error(ErrorEvent {
                error: ApiError {
                    kind: "overloaded_error".into(),
                    message: "Overloaded".into(),
                },
            }),
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], event.name());
            assert_eq!(serde_json::from_value::<StreamEvent>(json).unwrap(), event);
        }
    }
}
