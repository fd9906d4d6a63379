//! The unified schema: OpenAI chat completions is the lingua franca.
//!
//! Only the fields the gateway acts on (or that a translation needs) are typed; everything else
//! is kept in `extra` maps and serialized back unchanged, so unknown request fields reach
//! OpenAI-compatible upstreams as the client sent them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Extra JSON fields a struct does not model, kept for passthrough.
pub type Extra = Map<String, Value>;

/// A chat completion request in OpenAI's shape, plus the gateway's own routing fields
/// (`provider`, `fallbacks`), which are never forwarded upstream.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatRequest {
    /// The seed's spelling: a separate provider with a bare model.
    #[serde(default, skip_serializing)]
    pub provider: Option<String>,
    /// `gpt-4o-mini`, or `openai/gpt-4o-mini` when `provider` is absent.
    #[serde(skip_serializing)]
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// Decided by which engine call is made; the wire value is set per provider.
    #[serde(default, skip_serializing)]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing)]
    pub stream_options: Option<StreamOptions>,
    /// Tried in order when the primary target fails with an error another provider could fix.
    #[serde(default, skip_serializing, deserialize_with = "deserialize_fallbacks")]
    pub fallbacks: Vec<Fallback>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `"auto" | "none" | "required" | {"type":"function","function":{"name":…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// OpenAI's `none` … `high`. Gemini and Cohere map it to their own thinking settings;
    /// a translated Anthropic request sets it from `thinking`'s budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,

    // What Anthropic-format clients send (and LiteLLM-style OpenAI clients may), for the
    // providers that take it. The `/anthropic` route strips it for OpenAI-format targets.
    /// Top-k sampling, kept as the client wrote the number; each provider checks what it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<serde_json::Number>,
    /// Anthropic's `{"type":"enabled","budget_tokens":…}` (Cohere spells its own
    /// `token_budget`): passed as sent to a target of the format it was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,

    /// Everything else (`response_format`, `seed`, `logprobs`, vendor extensions, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    /// A request for `model` at `provider` with the given messages.
    pub fn new(
        provider: impl Into<String>,
        model: impl Into<String>,
        messages: Vec<ChatMessage>,
    ) -> Self {
        Self {
            provider: Some(provider.into()),
            model: model.into(),
            messages,
            ..Self::default()
        }
    }

    /// Whether the client asked for the final usage chunk of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `stop` is a single string or a list of strings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// A fallback target: `"anthropic/claude-3-5-haiku"` or `{"provider":…,"model":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    pub provider: Option<String>,
    pub model: String,
}

fn deserialize_fallbacks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fallback>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Object {
            #[serde(default)]
            provider: Option<String>,
            model: String,
        },
    }
    let raw: Option<Vec<Raw>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|r| match r {
            Raw::Text(model) => Fallback {
                provider: None,
                model,
            },
            Raw::Object { provider, model } => Fallback { provider, model },
        })
        .collect())
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// See [`ContentPart::cache_control`]: on a message, it marks its last block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message with plain text content.
    pub fn text(role: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(MessageContent::Text(text.into())),
            ..Self::default()
        }
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self::text("user", text)
    }

    pub fn system(text: impl Into<String>) -> Self {
        Self::text("system", text)
    }

    /// The text of this message: the string content, or its text parts joined.
    pub fn text_content(&self) -> Option<String> {
        match self.content.as_ref()? {
            MessageContent::Text(t) => Some(t.clone()),
            MessageContent::Parts(parts) => {
                let texts: Vec<&str> = parts.iter().filter_map(|p| p.text.as_deref()).collect();
                (!texts.is_empty()).then(|| texts.join(""))
            }
        }
    }
}

/// Where assistant messages and stream deltas carry [`ThinkingBlock`]s (LiteLLM's field name,
/// so clients written against it work unchanged).
pub const THINKING_BLOCKS: &str = "thinking_blocks";

/// A reasoning block as an Anthropic-format upstream (Anthropic, Claude on Bedrock or Vertex)
/// issued it. Those upstreams want the signed block back on the next tool turn, so an
/// assistant message keeps its blocks in `thinking_blocks` next to the readable
/// `reasoning_content`, and every translation to such an upstream sends them back.
///
/// In a stream, a `thinking` block's text arrives as `reasoning_content` deltas and its
/// signature closes it: `delta.thinking_blocks: [{"type":"thinking","thinking":"","signature":…}]`;
/// a `redacted_thinking` block arrives whole.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlock {
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

impl ThinkingBlock {
    /// The blocks under [`THINKING_BLOCKS`] in `extra` (none when absent or `null`).
    pub fn read(extra: &Extra) -> Result<Vec<ThinkingBlock>, serde_json::Error> {
        match extra.get(THINKING_BLOCKS) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Vec::<ThinkingBlock>::deserialize(v),
        }
    }

    /// Stores `blocks` under [`THINKING_BLOCKS`] in `extra`, unless there are none.
    pub fn write(extra: &mut Extra, blocks: &[ThinkingBlock]) {
        if !blocks.is_empty() {
            extra.insert(
                THINKING_BLOCKS.into(),
                serde_json::to_value(blocks).unwrap_or_default(),
            );
        }
    }

    /// A stream delta carrying this one block.
    pub fn into_delta(self) -> ChunkDelta {
        let mut delta = ChunkDelta::default();
        Self::write(&mut delta.extra, &[self]);
        delta
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One content part: `{"type":"text","text":…}`, `{"type":"image_url","image_url":{"url":…}}`,
/// or any other type, kept as it came.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl>,
    /// Anthropic's prompt-cache marker (`{"type":"ephemeral"}`), from Anthropic clients and
    /// LiteLLM-style OpenAI ones: Anthropic-format targets get it on the block, Bedrock a cache
    /// point after it, and the `/anthropic` route strips it for OpenAI-format targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
    /// See [`ContentPart::cache_control`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Tool {
    /// A function tool.
    pub fn function(function: FunctionDef) -> Self {
        Self {
            kind: function_type(),
            function,
            cache_control: None,
            extra: Extra::new(),
        }
    }
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
    /// Vendor fields, kept: Gemini's `extra_content.google.thought_signature` (see
    /// [`ToolCall::thought_signature`]) must come back with the call.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ToolCall {
    /// A function call with no vendor fields.
    pub fn function(id: String, name: String, arguments: String) -> Self {
        Self {
            id,
            kind: "function".to_owned(),
            function: FunctionCall { name, arguments },
            extra: Extra::new(),
        }
    }

    /// Gemini's signature of the reasoning behind this call, where Google's own
    /// OpenAI-compatible API puts it: `extra_content.google.thought_signature`. Gemini 3 refuses
    /// a function call in the history without it.
    pub fn thought_signature(&self) -> Option<&str> {
        Self::thought_signature_in(&self.extra)
    }

    /// [`ToolCall::thought_signature`] of a call's or a stream delta's `extra`.
    pub fn thought_signature_in(extra: &Extra) -> Option<&str> {
        extra
            .get("extra_content")?
            .get("google")?
            .get("thought_signature")?
            .as_str()
    }

    /// Sets what [`ToolCall::thought_signature`] reads (on a call or a stream delta's `extra`).
    pub fn set_thought_signature(extra: &mut Extra, signature: String) {
        extra.insert(
            "extra_content".into(),
            serde_json::json!({"google": {"thought_signature": signature}}),
        );
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    #[serde(default)]
    pub arguments: String,
}

/// A non-streaming chat completion.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChatCompletion {
    pub id: String,
    #[serde(default = "chat_completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn chat_completion_object() -> String {
    "chat.completion".to_owned()
}

impl ChatCompletion {
    /// An answer translated from another API, as OpenAI writes one; usage is set by the caller.
    pub fn translated(id: String, created: u64, model: String, choices: Vec<Choice>) -> Self {
        Self {
            id,
            object: chat_completion_object(),
            created,
            model,
            choices,
            ..Self::default()
        }
    }
}

impl Choice {
    /// The single choice of a translated answer.
    pub fn only(message: ChatMessage, finish_reason: &str) -> Self {
        Self {
            message,
            finish_reason: Some(finish_reason.to_owned()),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChatCompletionChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: ChunkDelta,
    /// Always serialized (as `null` until the end), as OpenAI does.
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChunkDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// As [`ToolCall::extra`].
    #[serde(flatten)]
    pub extra: Extra,
}

impl ToolCallDelta {
    /// The first delta of a function call: its id, name and the first arguments.
    pub fn start(index: u32, id: String, name: String, arguments: String) -> Self {
        Self {
            index,
            id: Some(id),
            kind: Some("function".to_owned()),
            function: Some(FunctionCallDelta {
                name: Some(name),
                arguments: Some(arguments),
            }),
            extra: Extra::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl Usage {
    /// OpenAI's usage from an API that counts cached prompt tokens apart (Anthropic, Bedrock):
    /// `prompt_tokens` includes cache reads and writes; reads also appear as
    /// `prompt_tokens_details.cached_tokens`, writes as `cache_creation_input_tokens`.
    pub fn with_cache(uncached_input: u64, output: u64, cache_read: u64, cache_write: u64) -> Self {
        let prompt = uncached_input + cache_read + cache_write;
        let mut usage = Usage {
            prompt_tokens: prompt,
            completion_tokens: output,
            total_tokens: prompt + output,
            ..Usage::default()
        };
        if cache_read > 0 {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                serde_json::json!({ "cached_tokens": cache_read }),
            );
        }
        if cache_write > 0 {
            usage.extra.insert(
                "cache_creation_input_tokens".into(),
                serde_json::json!(cache_write),
            );
        }
        usage
    }
}

/// The fields of a client's JSON body the gateway routes by, read without parsing the rest
/// (serde skips the other fields without building them): what a passthrough needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoutingFields {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "deserialize_fallbacks")]
    pub fallbacks: Vec<Fallback>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Read for traces and token estimates (`max_output_tokens` is the Responses API's name).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

impl RoutingFields {
    /// Reads the routing fields of a JSON object body; anything else is the client's error.
    pub fn read(body: &[u8]) -> Result<Self, crate::error::BifrostError> {
        serde_json::from_slice(body).map_err(|e| {
            crate::error::BifrostError::invalid_request(format!("invalid JSON body: {e}"))
        })
    }

    /// The output token cap, whichever API's name it has.
    pub fn output_cap(&self) -> Option<u32> {
        self.max_completion_tokens
            .or(self.max_tokens)
            .or(self.max_output_tokens)
    }

    /// The model, which the body must name.
    pub fn require_model(&self) -> Result<&str, crate::error::BifrostError> {
        self.model
            .as_deref()
            .ok_or_else(|| crate::error::BifrostError::invalid_request("'model' is required"))
    }
}

/// An embeddings request in OpenAI's shape (`POST /v1/embeddings`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EmbeddingRequest {
    #[serde(default, skip_serializing)]
    pub provider: Option<String>,
    #[serde(skip_serializing)]
    pub model: String,
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing, deserialize_with = "deserialize_fallbacks")]
    pub fallbacks: Vec<Fallback>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: one text, several texts, or token arrays.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl Default for EmbeddingInput {
    fn default() -> Self {
        Self::Texts(Vec::new())
    }
}

impl EmbeddingInput {
    /// The texts to embed; `None` for token input, which only OpenAI-style servers accept.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            Self::Text(t) => Some(vec![t.as_str()]),
            Self::Texts(v) => Some(v.iter().map(String::as_str).collect()),
            Self::Tokens(_) | Self::TokenBatches(_) => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EmbeddingResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EmbeddingUsage>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingResponse {
    /// Turns float arrays into OpenAI's `encoding_format: "base64"` form (little-endian f32
    /// bytes), for upstreams that only return floats; strings are left alone.
    pub fn encode_base64(&mut self) {
        use base64::Engine as _;
        for e in &mut self.data {
            if let Value::Array(values) = &e.embedding {
                let mut bytes = Vec::with_capacity(values.len() * 4);
                for v in values {
                    bytes.extend_from_slice(&(v.as_f64().unwrap_or(0.0) as f32).to_le_bytes());
                }
                e.embedding =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
    }
}

fn list_object() -> String {
    "list".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub index: u32,
    /// A float array, or a base64 string when `encoding_format` is `base64`.
    pub embedding: Value,
}

fn embedding_object() -> String {
    "embedding".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EmbeddingUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

/// A request the gateway forwards in OpenAI's shape without translating it (text completions,
/// audio, images, rerank): only the routing fields are read; the upstream model is set per
/// attempt.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub provider: Option<String>,
    pub model: String,
    pub body: RawBody,
    pub fallbacks: Vec<Fallback>,
}

#[derive(Debug, Clone)]
pub enum RawBody {
    /// A JSON object, without the gateway's routing fields.
    Json(Map<String, Value>),
    /// A `multipart/form-data` upload, in order (the `model` field is replaced upstream).
    Multipart(Vec<FormPart>),
    /// A body already in the provider's own wire format (the Cohere and Bedrock drop-in
    /// routes): forwarded as is, with the gateway's credentials and the upstream model.
    Native(bytes::Bytes),
}

#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: bytes::Bytes,
}

impl RawRequest {
    /// From a JSON body: `model` is required; `provider` and `fallbacks` are the gateway's.
    pub fn from_json(mut map: Map<String, Value>) -> Result<Self, String> {
        let model = match map.remove("model") {
            Some(Value::String(m)) => m,
            Some(_) => return Err("'model' must be a string".into()),
            None => return Err("'model' is required".into()),
        };
        let provider = match map.remove("provider") {
            Some(Value::String(p)) => Some(p),
            _ => None,
        };
        let fallbacks = match map.remove("fallbacks") {
            Some(v) => {
                #[derive(Deserialize)]
                struct F {
                    #[serde(default, deserialize_with = "deserialize_fallbacks")]
                    fallbacks: Vec<Fallback>,
                }
                serde_json::from_value::<F>(serde_json::json!({ "fallbacks": v }))
                    .map_err(|e| format!("fallbacks: {e}"))?
                    .fallbacks
            }
            None => Vec::new(),
        };
        Ok(Self {
            provider,
            model,
            body: RawBody::Json(map),
            fallbacks,
        })
    }

    /// Whether a JSON body asks for a stream.
    pub fn wants_stream(&self) -> bool {
        matches!(&self.body, RawBody::Json(m) if m.get("stream") == Some(&Value::Bool(true)))
    }
}

/// An upstream answer passed back as it came.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub content_type: String,
    pub body: bytes::Bytes,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Models fill a structured answer in schema order (reasoning before the answer), so a
    /// schema must reach the upstream with its keys as the client wrote them.
    #[test]
    fn json_schema_properties_keep_their_order() {
        let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,
            "schema":{"type":"object","properties":{"reasoning":{"type":"string"},
            "answer":{"type":"string"}},"required":["reasoning","answer"]}}}}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        let out = serde_json::to_string(&req).unwrap();
        assert!(
            out.contains(
                r#""properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"{"type":"json_schema","json_schema":{"name":"answer","strict":true,"#),
            "{out}"
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let body = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi", "x_msg": 1}],
            "response_format": {"type": "json_object"},
            "seed": 7,
            "vendor_knob": {"a": [1, 2]}
        });
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(out["response_format"], json!({"type": "json_object"}));
        assert_eq!(out["seed"], json!(7));
        assert_eq!(out["vendor_knob"], json!({"a": [1, 2]}));
        assert_eq!(out["messages"][0]["x_msg"], json!(1));
        // Routing fields are the gateway's, never the upstream's.
        assert!(out.get("model").is_none() && out.get("fallbacks").is_none());
    }

    #[test]
    fn fallbacks_accept_strings_and_objects() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [],
            "fallbacks": ["anthropic/claude-3-5-haiku", {"provider": "openai", "model": "gpt-4o"}]
        }))
        .unwrap();
        assert_eq!(
            req.fallbacks,
            vec![
                Fallback {
                    provider: None,
                    model: "anthropic/claude-3-5-haiku".into()
                },
                Fallback {
                    provider: Some("openai".into()),
                    model: "gpt-4o".into()
                },
            ]
        );
    }
}
