//! Anthropic Messages API endpoint.
//!
//! With `"thinking": {"type": "enabled", …}` the reply starts with a `thinking` block carrying
//! a `signature` (streamed as `thinking_delta`s and a `signature_delta`), followed by every
//! block of the last user message whose type the mock does not know, sent back as it came —
//! so tests can check that a gateway relays signatures and unknown blocks intact.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::{encode_failure, error_response, Flavor};
use crate::gate::Inbound;
use crate::reply::{
    completion_tokens, input_chars, last_user_text, prompt_tokens, reply_with_tool, split_pieces,
    wants_tool_call, Content, Message, TOOL_ARGUMENT_PIECES,
};
use crate::stream::{sse_response, Frame};

const TOOL_USE_ID: &str = "toolu_mock_1";
/// The signature of every mock thinking block (opaque to clients, like the real one).
pub(crate) const THINKING_SIGNATURE: &str = "EqQBCkgIARABGAIiQG1vY2stc2lnbmF0dXJl";
/// Request block types the mock understands; others are echoed when thinking is on.
const KNOWN_BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
];

#[derive(Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    thinking: Option<ThinkingConfig>,
}

#[derive(Deserialize)]
struct ThinkingConfig {
    #[serde(rename = "type", default)]
    kind: String,
}

/// The messages again, with their content blocks kept whole (read only when thinking is on).
#[derive(Deserialize)]
struct RawMessages {
    #[serde(default)]
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Value>,
}

/// The blocks of the last user message whose type the mock does not know.
fn unknown_blocks(body: &[u8]) -> Vec<Value> {
    let Ok(raw) = serde_json::from_slice::<RawMessages>(body) else {
        return Vec::new();
    };
    let Some(Value::Array(blocks)) = raw
        .messages
        .into_iter()
        .rev()
        .find(|m| m.role.as_deref() == Some("user"))
        .and_then(|m| m.content)
    else {
        return Vec::new();
    };
    blocks
        .into_iter()
        .filter(|b| {
            b.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| !KNOWN_BLOCKS.contains(&t))
        })
        .collect()
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: Option<String>,
}

// Typed replies: no intermediate maps on the per-chunk path, and the field
// order of the real API (`type` first in every event).

#[derive(Serialize)]
struct MessageReply<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<ContentBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: Usage,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'static str,
        name: &'a str,
        input: Value,
    },
    /// A block echoed as the request had it.
    #[serde(untagged)]
    Echo(&'a Value),
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum BlockDelta<'a> {
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopInfo {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageReply<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: ContentBlock<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopInfo,
        usage: OutputUsage,
    },
    MessageStop,
}

impl Event<'_> {
    /// The SSE `event:` name, equal to the `type` tag.
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }

    fn frame(&self) -> serde_json::Result<Frame> {
        // Deltas are the content chunks the stream knobs count.
        let content = matches!(self, Event::ContentBlockDelta { .. });
        Frame::event(self.name(), self, content)
    }
}

/// Everything a reply is made of, shared by the streaming and plain shapes.
struct Reply<'a> {
    id: &'a str,
    model: &'a str,
    text: &'a str,
    /// Name of the tool to call, if the reply is a tool call.
    tool: Option<&'a str>,
    /// The thinking text, when the request enabled thinking.
    thinking: Option<&'a str>,
    /// Request blocks sent back after the thinking block.
    echoed: &'a [Value],
    usage: Usage,
}

impl Reply<'_> {
    fn stop_reason(&self) -> &'static str {
        self.tool.map_or("end_turn", |_| "tool_use")
    }

    fn message(&self) -> MessageReply<'_> {
        let mut content = Vec::with_capacity(self.echoed.len() + 3);
        if let Some(thinking) = self.thinking {
            content.push(ContentBlock::Thinking {
                thinking,
                signature: THINKING_SIGNATURE,
            });
        }
        content.extend(self.echoed.iter().map(ContentBlock::Echo));
        content.push(ContentBlock::Text { text: self.text });
        if let Some(name) = self.tool {
            content.push(ContentBlock::ToolUse {
                id: TOOL_USE_ID,
                name,
                input: json!({"location": "Paris"}),
            });
        }
        MessageReply {
            id: self.id,
            kind: "message",
            role: "assistant",
            model: self.model,
            content,
            stop_reason: Some(self.stop_reason()),
            stop_sequence: None,
            usage: self.usage,
        }
    }

    /// The real API's event sequence: message_start, (block start, deltas,
    /// block stop) per content block with a ping after the first block start,
    /// message_delta, message_stop.
    fn stream_frames(&self, chunks: usize) -> serde_json::Result<Vec<Frame>> {
        let pieces = split_pieces(self.text, chunks);
        let mut frames = Vec::with_capacity(pieces.len() + 12);
        let start = MessageReply {
            content: Vec::new(),
            stop_reason: None,
            // The real API reports a placeholder output count here.
            usage: Usage {
                output_tokens: 1,
                ..self.usage
            },
            ..self.message()
        };
        frames.push(Event::MessageStart { message: start }.frame()?);
        let mut index = 0;
        if let Some(thinking) = self.thinking {
            let block = ContentBlock::Thinking {
                thinking: "",
                signature: "",
            };
            frames.push(
                Event::ContentBlockStart {
                    index,
                    content_block: block,
                }
                .frame()?,
            );
            for thinking in split_pieces(thinking, 2) {
                let delta = BlockDelta::Thinking { thinking };
                frames.push(Event::ContentBlockDelta { index, delta }.frame()?);
            }
            let delta = BlockDelta::Signature {
                signature: THINKING_SIGNATURE,
            };
            frames.push(Event::ContentBlockDelta { index, delta }.frame()?);
            frames.push(Event::ContentBlockStop { index }.frame()?);
            index += 1;
        }
        // Echoed blocks come whole in their start event, as server tool results do.
        for block in self.echoed {
            frames.push(
                Event::ContentBlockStart {
                    index,
                    content_block: ContentBlock::Echo(block),
                }
                .frame()?,
            );
            frames.push(Event::ContentBlockStop { index }.frame()?);
            index += 1;
        }
        let text_block = ContentBlock::Text { text: "" };
        frames.push(
            Event::ContentBlockStart {
                index,
                content_block: text_block,
            }
            .frame()?,
        );
        frames.push(Event::Ping.frame()?);
        for text in pieces {
            let delta = BlockDelta::Text { text };
            frames.push(Event::ContentBlockDelta { index, delta }.frame()?);
        }
        frames.push(Event::ContentBlockStop { index }.frame()?);
        index += 1;
        if let Some(name) = self.tool {
            let tool_block = ContentBlock::ToolUse {
                id: TOOL_USE_ID,
                name,
                input: json!({}),
            };
            frames.push(
                Event::ContentBlockStart {
                    index,
                    content_block: tool_block,
                }
                .frame()?,
            );
            for partial_json in TOOL_ARGUMENT_PIECES {
                let delta = BlockDelta::InputJson { partial_json };
                frames.push(Event::ContentBlockDelta { index, delta }.frame()?);
            }
            frames.push(Event::ContentBlockStop { index }.frame()?);
        }
        let delta = StopInfo {
            stop_reason: self.stop_reason(),
            stop_sequence: None,
        };
        let usage = OutputUsage {
            output_tokens: self.usage.output_tokens,
        };
        frames.push(Event::MessageDelta { delta, usage }.frame()?);
        frames.push(Event::MessageStop.frame()?);
        Ok(frames)
    }
}

/// `POST /v1/messages`.
pub(crate) async fn messages(inbound: Inbound) -> Response {
    // For `unknown_blocks`, which reads what the typed request drops.
    let body = inbound.body.clone();
    let (state, config, request) = match inbound
        .admit_json::<MessagesRequest>(Flavor::Anthropic)
        .await
    {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let bad_request =
        |message: &str| error_response(Flavor::Anthropic, StatusCode::BAD_REQUEST, message);
    if request.max_tokens.is_none() {
        return bad_request("max_tokens: Field required");
    }
    // As the real API: only these two roles take turns.
    if let Some(i) = request
        .messages
        .iter()
        .position(|m| !matches!(m.role.as_deref(), Some("user" | "assistant")))
    {
        return bad_request(&format!(
            "messages.{i}.role: Input should be 'user' or 'assistant'"
        ));
    }

    let user_text = last_user_text(&request.messages);
    let tools = request.tools.as_deref().unwrap_or_default();
    // The tool call names the first tool offered.
    let tool = wants_tool_call(!tools.is_empty(), &user_text)
        .then(|| tools.first().and_then(|t| t.name.as_deref()).unwrap_or(""));
    let (text, text_tokens) = reply_with_tool(tool.is_some(), &user_text, config.response_size);
    let system_chars = request.system.as_ref().map_or(0, Content::char_count);
    let thinking_on = request
        .thinking
        .as_ref()
        .is_some_and(|t| t.kind == "enabled");
    let (thinking, echoed) = if thinking_on {
        (
            Some(format!("Mock thinking about: {user_text}")),
            unknown_blocks(&body),
        )
    } else {
        (None, Vec::new())
    };
    let thinking_tokens = thinking.as_deref().map_or(0, completion_tokens);
    let id = format!("msg_mock_{}", state.next_id());
    let reply = Reply {
        id: &id,
        model: request.model.as_deref().unwrap_or("mock-model"),
        text: &text,
        tool,
        thinking: thinking.as_deref(),
        echoed: &echoed,
        usage: Usage {
            input_tokens: prompt_tokens(input_chars(&request.messages) + system_chars),
            output_tokens: text_tokens + thinking_tokens,
        },
    };

    if !request.stream.unwrap_or(false) {
        return Json(reply.message()).into_response();
    }
    match reply.stream_frames(config.chunks) {
        Ok(frames) => sse_response(frames, &config, state.counters().clone()),
        Err(err) => encode_failure(Flavor::Anthropic, &err),
    }
}
