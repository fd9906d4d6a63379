//! Cohere v2 endpoints: chat (`/v2/chat`, plain and SSE), embed and rerank.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{encode_failure, error_response, Flavor};
use crate::gate::Inbound;
use crate::reply::{
    input_chars, last_user_text, prompt_tokens, reply_with_tool, split_pieces, wants_tool_call,
    Message, TOOL_ARGUMENT_PIECES,
};
use crate::stream::{sse_response, Frame};

const TOOL_CALL_ID: &str = "get_weather_mock_1";
/// Length of the embedding vectors when the request names no `output_dimension`.
const EMBEDDING_DIMS: usize = 8;
/// Larger dimensions are refused, so a request cannot make the mock allocate without bound.
const MAX_EMBEDDING_DIMS: usize = 4096;

// Every field is optional (missing ones take their default); what is required is checked
// by the handler, with Cohere's messages.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatRequest {
    model: Option<String>,
    stream: Option<bool>,
    messages: Vec<Message>,
    tools: Option<Vec<Tool>>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    function: Option<ToolFunction>,
}

#[derive(Deserialize)]
struct ToolFunction {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize, Clone, Copy)]
struct Counts {
    input_tokens: u64,
    output_tokens: u64,
}

/// Cohere reports both what it bills and what the model processed; the mock
/// bills everything.
#[derive(Serialize, Clone, Copy)]
struct Usage {
    billed_units: Counts,
    tokens: Counts,
}

#[derive(Serialize)]
struct ChatReply<'a> {
    id: &'a str,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
    usage: Usage,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Vec<TextBlock<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_plan: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Every event's `delta.message`, with only the fields that event carries.
#[derive(Serialize, Default)]
struct DeltaMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<DeltaContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_plan: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<ToolCall<'a>>,
}

/// `content-start` opens a typed block; `content-delta` carries the text alone.
#[derive(Serialize)]
#[serde(untagged)]
enum DeltaContent<'a> {
    Start(TextBlock<'a>),
    Piece { text: &'a str },
}

#[derive(Serialize)]
struct Delta<'a> {
    message: DeltaMessage<'a>,
}

#[derive(Serialize)]
struct EndDelta {
    finish_reason: &'static str,
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Event<'a> {
    MessageStart { id: &'a str, delta: Delta<'a> },
    ContentStart { index: u32, delta: Delta<'a> },
    ContentDelta { index: u32, delta: Delta<'a> },
    ContentEnd { index: u32 },
    ToolPlanDelta { delta: Delta<'a> },
    ToolCallStart { index: u32, delta: Delta<'a> },
    ToolCallDelta { index: u32, delta: Delta<'a> },
    ToolCallEnd { index: u32 },
    MessageEnd { delta: EndDelta },
}

impl Event<'_> {
    /// The SSE `event:` name, equal to the `type` tag.
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message-start",
            Event::ContentStart { .. } => "content-start",
            Event::ContentDelta { .. } => "content-delta",
            Event::ContentEnd { .. } => "content-end",
            Event::ToolPlanDelta { .. } => "tool-plan-delta",
            Event::ToolCallStart { .. } => "tool-call-start",
            Event::ToolCallDelta { .. } => "tool-call-delta",
            Event::ToolCallEnd { .. } => "tool-call-end",
            Event::MessageEnd { .. } => "message-end",
        }
    }

    fn frame(&self) -> serde_json::Result<Frame> {
        // Text and tool-plan deltas are the content chunks the stream knobs count.
        let content = matches!(
            self,
            Event::ContentDelta { .. } | Event::ToolPlanDelta { .. }
        );
        Frame::event(self.name(), self, content)
    }
}

fn text_block(text: &str) -> TextBlock<'_> {
    TextBlock { kind: "text", text }
}

impl<'a> ToolCall<'a> {
    /// The call as a whole: id, type, name and `arguments` (`""` in `tool-call-start`).
    fn named(name: &'a str, arguments: &'a str) -> Self {
        ToolCall {
            id: Some(TOOL_CALL_ID),
            kind: Some("function"),
            function: FunctionCall {
                name: Some(name),
                arguments,
            },
        }
    }

    /// A `tool-call-delta`: a piece of the arguments alone.
    fn piece(arguments: &'a str) -> Self {
        ToolCall {
            id: None,
            kind: None,
            function: FunctionCall {
                name: None,
                arguments,
            },
        }
    }
}

impl<'a> Delta<'a> {
    fn of(message: DeltaMessage<'a>) -> Self {
        Delta { message }
    }

    fn content(content: DeltaContent<'a>) -> Self {
        Self::of(DeltaMessage {
            content: Some(content),
            ..DeltaMessage::default()
        })
    }

    fn tool_call(call: ToolCall<'a>) -> Self {
        Self::of(DeltaMessage {
            tool_calls: Some(call),
            ..DeltaMessage::default()
        })
    }
}

/// Everything a reply is made of, shared by the streaming and plain shapes.
struct Reply<'a> {
    id: &'a str,
    /// The answer, or the tool plan when `tool` is set.
    text: &'a str,
    /// Name of the tool to call, if the reply is a tool call.
    tool: Option<&'a str>,
    usage: Usage,
}

impl Reply<'_> {
    fn finish_reason(&self) -> &'static str {
        self.tool.map_or("COMPLETE", |_| "TOOL_CALL")
    }

    /// A tool call comes with a tool plan and no content, as the real API does.
    fn message(&self) -> ChatReply<'_> {
        let arguments = r#"{"location":"Paris"}"#;
        let message = match self.tool {
            Some(name) => AssistantMessage {
                role: "assistant",
                content: None,
                tool_plan: Some(self.text),
                tool_calls: Some(vec![ToolCall::named(name, arguments)]),
            },
            None => AssistantMessage {
                role: "assistant",
                content: Some(vec![text_block(self.text)]),
                tool_plan: None,
                tool_calls: None,
            },
        };
        ChatReply {
            id: self.id,
            message,
            finish_reason: self.finish_reason(),
            usage: self.usage,
        }
    }

    /// The real API's sequences: message-start, then either content-start,
    /// content-delta per piece, content-end, or tool-plan-delta per piece,
    /// tool-call-start, tool-call-delta ×2, tool-call-end; then message-end
    /// with the finish reason and usage.
    fn stream_frames(&self, chunks: usize) -> serde_json::Result<Vec<Frame>> {
        let pieces = split_pieces(self.text, chunks);
        let mut frames = Vec::with_capacity(pieces.len() + 8);
        let delta = Delta::of(DeltaMessage {
            role: Some("assistant"),
            ..DeltaMessage::default()
        });
        frames.push(Event::MessageStart { id: self.id, delta }.frame()?);
        match self.tool {
            None => {
                let delta = Delta::content(DeltaContent::Start(text_block("")));
                frames.push(Event::ContentStart { index: 0, delta }.frame()?);
                for text in pieces {
                    let delta = Delta::content(DeltaContent::Piece { text });
                    frames.push(Event::ContentDelta { index: 0, delta }.frame()?);
                }
                frames.push(Event::ContentEnd { index: 0 }.frame()?);
            }
            Some(name) => {
                for plan in pieces {
                    let delta = Delta::of(DeltaMessage {
                        tool_plan: Some(plan),
                        ..DeltaMessage::default()
                    });
                    frames.push(Event::ToolPlanDelta { delta }.frame()?);
                }
                let delta = Delta::tool_call(ToolCall::named(name, ""));
                frames.push(Event::ToolCallStart { index: 0, delta }.frame()?);
                for arguments in TOOL_ARGUMENT_PIECES {
                    let delta = Delta::tool_call(ToolCall::piece(arguments));
                    frames.push(Event::ToolCallDelta { index: 0, delta }.frame()?);
                }
                frames.push(Event::ToolCallEnd { index: 0 }.frame()?);
            }
        }
        let end = EndDelta {
            finish_reason: self.finish_reason(),
            usage: self.usage,
        };
        frames.push(Event::MessageEnd { delta: end }.frame()?);
        Ok(frames)
    }
}

fn bad_request(message: &str) -> Response {
    error_response(Flavor::Cohere, StatusCode::BAD_REQUEST, message)
}

/// `POST /v2/chat`.
pub(crate) async fn chat(inbound: Inbound) -> Response {
    let (state, config, request) = match inbound.admit_json::<ChatRequest>(Flavor::Cohere).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    if request.model.is_none() {
        return bad_request("invalid request: model must be specified");
    }
    if request.messages.is_empty() {
        return bad_request("invalid request: messages must not be empty");
    }

    let user_text = last_user_text(&request.messages);
    let tools = request.tools.as_deref().unwrap_or_default();
    // The tool call names the first tool offered.
    let tool = wants_tool_call(!tools.is_empty(), &user_text).then(|| {
        tools
            .first()
            .and_then(|t| t.function.as_ref())
            .and_then(|f| f.name.as_deref())
            .unwrap_or("")
    });
    // With a tool call, the text is the tool plan.
    let (text, output_tokens) = reply_with_tool(tool.is_some(), &user_text, config.response_size);
    let counts = Counts {
        input_tokens: prompt_tokens(input_chars(&request.messages)),
        output_tokens,
    };
    let id = format!("cohere-mock-{}", state.next_id());
    let reply = Reply {
        id: &id,
        text: &text,
        tool,
        usage: Usage {
            billed_units: counts,
            tokens: counts,
        },
    };

    if !request.stream.unwrap_or(false) {
        return Json(reply.message()).into_response();
    }
    match reply.stream_frames(config.chunks) {
        Ok(frames) => sse_response(frames, &config, state.counters().clone()),
        Err(err) => encode_failure(Flavor::Cohere, &err),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmbedRequest {
    model: Option<String>,
    texts: Option<Vec<String>>,
    embedding_types: Option<Vec<String>>,
    output_dimension: Option<usize>,
}

#[derive(Serialize)]
struct EmbedReply<'a> {
    id: String,
    embeddings: Embeddings,
    texts: &'a [String],
    meta: Meta,
    response_type: &'static str,
}

#[derive(Serialize)]
struct Embeddings {
    float: Vec<Vec<f32>>,
}

#[derive(Serialize)]
struct Meta {
    api_version: ApiVersion,
    billed_units: BilledUnits,
}

impl Meta {
    fn billed(input_tokens: Option<u64>, search_units: Option<u64>) -> Self {
        Meta {
            api_version: ApiVersion { version: "2" },
            billed_units: BilledUnits {
                input_tokens,
                search_units,
            },
        }
    }
}

#[derive(Serialize)]
struct ApiVersion {
    version: &'static str,
}

#[derive(Serialize)]
struct BilledUnits {
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_units: Option<u64>,
}

/// A deterministic unit vector for `text`: the same text always gets the
/// same embedding, different texts (almost always) different ones.
fn embedding(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a seeds an xorshift generator.
    let mut x = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // The top 24 bits as a float in [-1, 1).
            ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|a| *a /= norm);
    }
    v
}

/// `POST /v2/embed`.
pub(crate) async fn embed(inbound: Inbound) -> Response {
    let (state, _, request) = match inbound.admit_json::<EmbedRequest>(Flavor::Cohere).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    if request.model.is_none() {
        return bad_request("invalid request: model must be specified");
    }
    let texts = match request.texts {
        Some(texts) if !texts.is_empty() => texts,
        _ => return bad_request("invalid request: texts must not be empty"),
    };
    match request.embedding_types.as_deref() {
        Some(types) if types.iter().any(|t| t == "float") => {}
        _ => return bad_request("mock: embedding_types must include \"float\""),
    }
    let dims = request.output_dimension.unwrap_or(EMBEDDING_DIMS);
    if dims == 0 || dims > MAX_EMBEDDING_DIMS {
        return bad_request("invalid request: output_dimension out of range");
    }
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let reply = EmbedReply {
        id: format!("cohere-mock-{}", state.next_id()),
        embeddings: Embeddings {
            float: texts.iter().map(|t| embedding(t, dims)).collect(),
        },
        texts: &texts,
        meta: Meta::billed(Some(prompt_tokens(chars)), None),
        response_type: "embeddings_by_type",
    };
    Json(reply).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RerankRequest {
    model: Option<String>,
    query: Option<String>,
    documents: Option<Vec<Value>>,
    top_n: Option<usize>,
}

#[derive(Serialize)]
struct RerankReply {
    id: String,
    results: Vec<RerankResult>,
    meta: Meta,
}

#[derive(Serialize)]
struct RerankResult {
    index: usize,
    relevance_score: f64,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The share of the query's distinct words that occur in `document`.
fn overlap(query: &[String], document: &str) -> f64 {
    if query.is_empty() {
        return 0.0;
    }
    let doc = words(document);
    let hits = query.iter().filter(|w| doc.contains(w)).count();
    hits as f64 / query.len() as f64
}

/// `POST /v2/rerank`.
pub(crate) async fn rerank(inbound: Inbound) -> Response {
    let (state, _, request) = match inbound.admit_json::<RerankRequest>(Flavor::Cohere).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let (Some(_), Some(query), Some(documents)) = (request.model, request.query, request.documents)
    else {
        return bad_request("invalid request: model, query and documents are required");
    };
    let mut query_words = words(&query);
    query_words.sort();
    query_words.dedup();
    let mut results = Vec::with_capacity(documents.len());
    for (index, doc) in documents.iter().enumerate() {
        let Some(text) = doc.as_str() else {
            return bad_request("invalid request: documents must be strings");
        };
        results.push(RerankResult {
            index,
            relevance_score: overlap(&query_words, text),
        });
    }
    // Stable sort: equal scores keep document order.
    results.sort_by(|a, b| b.relevance_score.total_cmp(&a.relevance_score));
    if let Some(n) = request.top_n {
        results.truncate(n);
    }
    let reply = RerankReply {
        id: format!("cohere-mock-{}", state.next_id()),
        results,
        meta: Meta::billed(None, Some(1)),
    };
    Json(reply).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 8);
        assert_eq!(a, embedding("hello", 8));
        assert_ne!(a, embedding("hellp", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert_eq!(embedding("", 3).len(), 3);
    }

    #[test]
    fn overlap_counts_query_words() {
        let q = words("capital of France");
        assert_eq!(overlap(&q, "Paris is the capital of France."), 1.0);
        assert!((overlap(&q, "Berlin, capital of Germany") - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(overlap(&q, "nothing"), 0.0);
        assert_eq!(overlap(&[], "x"), 0.0);
    }
}
