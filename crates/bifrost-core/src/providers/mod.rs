//! Providers: one trait, chosen once per attempt; translation code lives in each provider's
//! module as pure functions. A new provider adds its module and one line in [`KNOWN`].

pub mod anthropic;
pub mod auth;
pub mod azure;
pub mod bedrock;
mod chunks;
pub(crate) use chunks::{translate_sse, translate_stream, Translator};
pub mod cohere;
pub mod gemini;
mod http;
pub mod multipart;
pub mod native;
pub mod openai;
mod pipeline;
pub mod reasons;
#[cfg(test)]
pub(crate) mod test_fixtures;
pub mod vertex;

use crate::config::{ApiFormat, Key, ProviderConfig, RequestType};
use crate::error::BifrostError;
use crate::observe::StageClock;
use crate::schemas::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingRequest, EmbeddingResponse, RawBody,
    RawResponse,
};
use futures::future::BoxFuture;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;

pub use http::{http_client, retry_after, ByteStream, EventStream, HttpClient, Upstream};
pub use native::{NativeRequest, NativeResponse, NativeStream, UsageCell, WireApi};

/// Chunks of one upstream stream, already translated to OpenAI's chunk shape.
pub type ChunkStream =
    Pin<Box<dyn Stream<Item = Result<ChatCompletionChunk, BifrostError>> + Send + 'static>>;

/// What one attempt needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The model as the upstream knows it (no `provider/` prefix).
    pub model: &'a str,
    pub key: &'a Key,
    /// Where the provider records its stage timings.
    pub clock: &'a StageClock,
}

pub trait Provider: Send + Sync {
    /// The configured name (`openai`, `anthropic`, a custom name).
    fn name(&self) -> &str;

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>>;

    /// Resolves once the upstream has accepted the stream (2xx headers); errors after that
    /// arrive as items of the stream.
    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>>;

    fn embed<'a>(
        &'a self,
        _cx: CallContext<'a>,
        _req: &'a EmbeddingRequest,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, BifrostError>> {
        unsupported(self.name(), "embedding")
    }

    /// An OpenAI-shaped operation forwarded without translation (text completions, audio,
    /// images, rerank); `cx.model` replaces the body's model.
    fn raw<'a>(
        &'a self,
        _cx: CallContext<'a>,
        op: RequestType,
        _body: &'a RawBody,
    ) -> BoxFuture<'a, Result<RawResponse, BifrostError>> {
        unsupported(self.name(), op.as_str())
    }

    /// The upstream's model ids (its `/v1/models`), for listings of providers whose keys allow
    /// every model.
    fn list_models<'a>(
        &'a self,
        _cx: CallContext<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, BifrostError>> {
        unsupported(self.name(), "list_models")
    }

    /// A streamed [`Provider::raw`] (text completions): the upstream's SSE bytes as they come.
    fn raw_stream<'a>(
        &'a self,
        _cx: CallContext<'a>,
        op: RequestType,
        _body: &'a RawBody,
    ) -> BoxFuture<'a, Result<ByteStream, BifrostError>> {
        unsupported(self.name(), op.as_str())
    }

    /// The client API this provider speaks natively for `model` (requests in it are
    /// forwarded, not translated). A provider speaking several answers its main one here and
    /// the rest in [`Provider::speaks_natively`].
    fn native_api(&self, _model: &str) -> Option<WireApi> {
        None
    }

    /// Whether a request in `api` for `model` may go to [`Provider::passthrough`]: what the
    /// engine asks before choosing passthrough over translation (OpenAI speaks both chat and
    /// Responses).
    fn speaks_natively(&self, api: WireApi, model: &str) -> bool {
        self.native_api(model) == Some(api)
    }

    /// Forwards a native request with only the gateway's edits. Errors (non-2xx, an error
    /// event before the first content event of a stream) are classified like the translated
    /// path's, so retries and fallbacks work; errors after the first content event are relayed
    /// in the stream as the upstream sent them.
    fn passthrough<'a>(
        &'a self,
        _cx: CallContext<'a>,
        req: &'a NativeRequest,
    ) -> BoxFuture<'a, Result<NativeResponse, BifrostError>> {
        unsupported(self.name(), native::operation(req.api))
    }
}

use RequestType::{
    ChatCompletion as Chat, ChatCompletionStream as ChatStream, Embedding, ImageGeneration, Rerank,
    Speech, TextCompletion as Text, TextCompletionStream as TextStream, Transcription,
};

/// Everything the OpenAI adapter can forward.
const OPENAI_ALL: &[RequestType] = &[
    Chat,
    ChatStream,
    Embedding,
    Text,
    TextStream,
    Speech,
    Transcription,
    ImageGeneration,
    Rerank,
];

/// What each wire format's adapter implements.
pub const fn format_requests(format: ApiFormat) -> &'static [RequestType] {
    match format {
        ApiFormat::OpenAi => OPENAI_ALL,
        ApiFormat::Azure => &[
            Chat,
            ChatStream,
            Embedding,
            Text,
            TextStream,
            Speech,
            Transcription,
            ImageGeneration,
        ],
        ApiFormat::Gemini | ApiFormat::Vertex => &[Chat, ChatStream, Embedding],
        ApiFormat::Cohere => &[Chat, ChatStream, Embedding, Rerank],
        ApiFormat::Anthropic | ApiFormat::Bedrock => &[Chat, ChatStream],
    }
}

/// The assistant message of a translated completion; `reasoning` goes in
/// `reasoning_content`, where OpenAI-compatible servers put it.
pub(crate) fn assistant_message(
    text: Option<String>,
    reasoning: Option<String>,
    tool_calls: Vec<crate::schemas::ToolCall>,
) -> crate::schemas::ChatMessage {
    use crate::schemas::{ChatMessage, MessageContent};
    use serde_json::Value;
    let mut message = ChatMessage {
        role: "assistant".to_owned(),
        content: text.map(MessageContent::Text),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        ..ChatMessage::default()
    };
    if let Some(r) = reasoning {
        message
            .extra
            .insert("reasoning_content".into(), Value::String(r));
    }
    message
}

/// The assistant message of an Anthropic-format answer (Anthropic, Bedrock Claude), gathered
/// block by block: text, thinking (as `reasoning_content` and as signed blocks a later turn
/// can send back) and tool calls.
#[derive(Default)]
pub(crate) struct ClaudeMessage {
    text: Option<String>,
    reasoning: Option<String>,
    thinking_blocks: Vec<crate::schemas::ThinkingBlock>,
    tool_calls: Vec<crate::schemas::ToolCall>,
}

impl ClaudeMessage {
    pub fn text(&mut self, text: &str) {
        self.text.get_or_insert_with(String::new).push_str(text);
    }

    pub fn thinking(&mut self, thinking: String, signature: Option<String>) {
        self.reasoning
            .get_or_insert_with(String::new)
            .push_str(&thinking);
        let block = crate::schemas::ThinkingBlock::Thinking {
            thinking,
            signature,
        };
        self.thinking_blocks.push(block);
    }

    pub fn redacted_thinking(&mut self, data: String) {
        let block = crate::schemas::ThinkingBlock::RedactedThinking { data };
        self.thinking_blocks.push(block);
    }

    /// OpenAI carries arguments as JSON text; a missing input is an empty object, not `null`.
    pub fn tool_use(&mut self, id: String, name: String, input: &serde_json::Value) {
        let arguments = match input {
            serde_json::Value::Null => "{}".to_owned(),
            v => v.to_string(),
        };
        let call = crate::schemas::ToolCall::function(id, name, arguments);
        self.tool_calls.push(call);
    }

    pub fn finish(self) -> crate::schemas::ChatMessage {
        let mut message = assistant_message(self.text, self.reasoning, self.tool_calls);
        crate::schemas::ThinkingBlock::write(&mut message.extra, &self.thinking_blocks);
        message
    }
}

/// The `data` of an embeddings response: one entry per vector, in order.
pub(crate) fn embedding_data<V: serde::Serialize>(
    vectors: impl IntoIterator<Item = V>,
) -> Vec<crate::schemas::Embedding> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| crate::schemas::Embedding {
            object: "embedding".to_owned(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding: serde_json::json!(v),
        })
        .collect()
}

/// The current Unix time in seconds, as `created` fields carry it (0 before the epoch).
pub(crate) fn unix_now() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The function of an OpenAI tool; other tool types have no equivalent in the native APIs.
pub(crate) fn function_tool<'t>(
    tool: &'t crate::schemas::Tool,
    provider: &str,
) -> Result<&'t crate::schemas::FunctionDef, BifrostError> {
    if tool.kind != "function" {
        return Err(BifrostError::invalid_request(format!(
            "tool type '{}' is not supported for {provider} (only 'function')",
            tool.kind
        )));
    }
    Ok(&tool.function)
}

/// A function's parameters as the native APIs take them (Anthropic, Bedrock, Cohere). These
/// APIs require a schema, so a function without one gets an empty object schema.
pub(crate) fn parameters(f: &crate::schemas::FunctionDef) -> serde_json::Value {
    f.parameters
        .clone()
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}))
}

/// The function a `tool_choice` object (`{"type":"function","function":{"name":…}}`) names.
pub(crate) fn named_function(choice: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    choice
        .get("function")
        .and_then(|f| f.get("name"))
        .and_then(serde_json::Value::as_str)
}

/// The schema of a `response_format` of type `json_schema`, which must be an object.
pub(crate) fn json_schema(format: &serde_json::Value) -> Result<&serde_json::Value, BifrostError> {
    format
        .get("json_schema")
        .and_then(|s| s.get("schema"))
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            BifrostError::invalid_request(
                "response_format json_schema needs 'json_schema.schema' (an object)",
            )
        })
}

/// An OpenAI `file` content part's inline data: `(media type, base64 data, file name)`.
/// Only `file.file_data` (a base64 data URL) can cross to another API; an OpenAI file id
/// means nothing elsewhere. `provider` names the target in the error.
pub(crate) fn file_data<'p>(
    i: usize,
    part: &'p crate::schemas::ContentPart,
    provider: &str,
) -> Result<(&'p str, &'p str, Option<&'p str>), BifrostError> {
    let file = part.extra.get("file");
    let url = file
        .and_then(|f| f.get("file_data"))
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            BifrostError::invalid_request(format!(
                "messages[{i}]: a file part needs 'file.file_data' (a base64 data URL) for                  {provider}; OpenAI file ids mean nothing there"
            ))
        })?;
    let (media_type, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .filter(|(m, _)| !m.is_empty())
        .ok_or_else(|| {
            BifrostError::invalid_request(format!(
                "messages[{i}]: 'file.file_data' must look like data:<media type>;base64,<data>"
            ))
        })?;
    let name = file
        .and_then(|f| f.get("filename"))
        .and_then(serde_json::Value::as_str);
    Ok((media_type, data, name))
}

/// An OpenAI `image_url` content part's URL; `i` is the message index, for the message.
pub(crate) fn image_url(
    i: usize,
    part: &crate::schemas::ContentPart,
) -> Result<&str, BifrostError> {
    part.image_url
        .as_ref()
        .map(|u| u.url.as_str())
        .ok_or_else(|| {
            BifrostError::invalid_request(format!(
                "messages[{i}]: an image_url part needs 'image_url.url'"
            ))
        })
}

/// A tool call's arguments as the JSON object the native APIs take (`{}` when empty);
/// anything else is the client's error. `i` is the message index, for the message.
pub(crate) fn tool_call_input(
    i: usize,
    call: &crate::schemas::ToolCall,
) -> Result<serde_json::Value, BifrostError> {
    let args = call.function.arguments.trim();
    if args.is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<serde_json::Value>(args) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(BifrostError::invalid_request(format!(
            "messages[{i}]: the arguments of tool call '{}' must be a JSON object",
            call.id
        ))),
        Err(e) => Err(BifrostError::invalid_request(format!(
            "messages[{i}]: the arguments of tool call '{}' are not valid JSON: {e}",
            call.id
        ))),
    }
}

/// A built-in provider: its wire format, default address and whether it needs a key.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    pub name: &'static str,
    pub format: ApiFormat,
    /// Empty when the address comes from elsewhere: `network_config.base_url` for local
    /// servers, the key's sub-config for Azure, Bedrock and Vertex.
    pub base_url: &'static str,
    /// Path of the chat endpoint under `base_url` (OpenAI-compatible servers).
    pub chat_path: &'static str,
    pub keyless: bool,
    /// The operations this provider offers (a subset of its format's).
    pub requests: &'static [RequestType],
    /// Environment variables auto-detection reads the key from, in order.
    pub env_keys: &'static [&'static str],
}

const CHAT_ONLY: &[RequestType] = &[Chat, ChatStream];
const CHAT_AND_EMBED: &[RequestType] = &[Chat, ChatStream, Embedding];
const CHAT_AND_TEXT: &[RequestType] = &[Chat, ChatStream, Text, TextStream];
/// Local OpenAI-compatible servers (Ollama, SGLang, vLLM).
const LOCAL: &[RequestType] = &[Chat, ChatStream, Embedding, Text, TextStream];

const fn openai_compat(
    name: &'static str,
    base_url: &'static str,
    requests: &'static [RequestType],
    env_keys: &'static [&'static str],
) -> ProviderSpec {
    ProviderSpec {
        name,
        format: ApiFormat::OpenAi,
        base_url,
        chat_path: "/v1/chat/completions",
        keyless: false,
        requests,
        env_keys,
    }
}

const fn keyless_local(name: &'static str) -> ProviderSpec {
    ProviderSpec {
        name,
        format: ApiFormat::OpenAi,
        base_url: "",
        chat_path: "/v1/chat/completions",
        keyless: true,
        requests: LOCAL,
        env_keys: &[],
    }
}

const fn native(
    name: &'static str,
    format: ApiFormat,
    base_url: &'static str,
    env_keys: &'static [&'static str],
) -> ProviderSpec {
    ProviderSpec {
        name,
        format,
        base_url,
        chat_path: "",
        keyless: false,
        requests: format_requests(format),
        env_keys,
    }
}

/// The built-in providers.
pub const KNOWN: &[ProviderSpec] = &[
    openai_compat(
        "openai",
        "https://api.openai.com",
        OPENAI_ALL,
        &["OPENAI_API_KEY", "OPENAI_KEY"],
    ),
    native(
        "anthropic",
        ApiFormat::Anthropic,
        "https://api.anthropic.com",
        &["ANTHROPIC_API_KEY", "ANTHROPIC_KEY"],
    ),
    native("azure", ApiFormat::Azure, "", &[]),
    native("bedrock", ApiFormat::Bedrock, "", &[]),
    native("vertex", ApiFormat::Vertex, "", &[]),
    native(
        "gemini",
        ApiFormat::Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
    native(
        "cohere",
        ApiFormat::Cohere,
        "https://api.cohere.ai",
        &["COHERE_API_KEY", "CO_API_KEY"],
    ),
    openai_compat(
        "mistral",
        "https://api.mistral.ai",
        &[Chat, ChatStream, Embedding, Transcription],
        &["MISTRAL_API_KEY", "MISTRAL_KEY"],
    ),
    openai_compat(
        "groq",
        "https://api.groq.com/openai",
        &[Chat, ChatStream, Speech, Transcription],
        &["GROQ_API_KEY"],
    ),
    openai_compat(
        "cerebras",
        "https://api.cerebras.ai",
        CHAT_AND_TEXT,
        &["CEREBRAS_API_KEY"],
    ),
    openai_compat(
        "xai",
        "https://api.x.ai",
        &[Chat, ChatStream, Text, TextStream, ImageGeneration],
        &["XAI_API_KEY"],
    ),
    openai_compat(
        "openrouter",
        "https://openrouter.ai/api",
        CHAT_AND_TEXT,
        &["OPENROUTER_API_KEY"],
    ),
    openai_compat(
        "fireworks",
        "https://api.fireworks.ai/inference",
        CHAT_AND_EMBED,
        &["FIREWORKS_API_KEY"],
    ),
    openai_compat(
        "parasail",
        "https://api.parasail.io",
        CHAT_ONLY,
        &["PARASAIL_API_KEY"],
    ),
    // Perplexity serves chat at the root, without `/v1`.
    ProviderSpec {
        chat_path: "/chat/completions",
        ..openai_compat(
            "perplexity",
            "https://api.perplexity.ai",
            CHAT_ONLY,
            &["PERPLEXITY_API_KEY"],
        )
    },
    openai_compat(
        "nebius",
        "https://api.tokenfactory.nebius.com",
        &[
            Chat,
            ChatStream,
            Embedding,
            Text,
            TextStream,
            ImageGeneration,
        ],
        &["NEBIUS_API_KEY"],
    ),
    openai_compat(
        "deepseek",
        "https://api.deepseek.com",
        CHAT_ONLY,
        &["DEEPSEEK_API_KEY"],
    ),
    openai_compat(
        "together",
        "https://api.together.xyz",
        CHAT_AND_EMBED,
        &["TOGETHER_API_KEY"],
    ),
    openai_compat(
        "huggingface",
        "https://router.huggingface.co",
        CHAT_ONLY,
        &["HF_TOKEN", "HUGGINGFACE_API_KEY"],
    ),
    keyless_local("ollama"),
    keyless_local("sgl"),
    ProviderSpec {
        requests: &[
            Chat,
            ChatStream,
            Embedding,
            Text,
            TextStream,
            Transcription,
            Rerank,
        ],
        ..keyless_local("vllm")
    },
];

pub fn known(name: &str) -> Option<&'static ProviderSpec> {
    KNOWN.iter().find(|s| s.name == name)
}

/// A built provider and what the engine needs to know about it.
pub struct Built {
    pub provider: Arc<dyn Provider>,
    pub keyless: bool,
    pub format: ApiFormat,
    pub supported: Vec<RequestType>,
}

/// Where a configured provider's requests go.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub format: ApiFormat,
    pub keyless: bool,
    /// Base URL without a trailing slash; empty when the key decides (Azure, Bedrock, Vertex).
    pub base: String,
    /// Chat path under `base` for OpenAI-compatible servers.
    pub chat_path: String,
    pub supported: Vec<RequestType>,
}

/// The format, key requirement, address and operations of a configured provider.
pub fn resolve_spec(name: &str, config: &ProviderConfig) -> Result<Resolved, BifrostError> {
    let (format, keyless, default_base, chat_path, requests) = match (&config.custom, known(name)) {
        (Some(c), _) => {
            let all = format_requests(c.base_format);
            let supported = match &c.allowed_requests {
                Some(allowed) => all
                    .iter()
                    .copied()
                    .filter(|t| allowed.contains(t))
                    .collect(),
                None => all.to_vec(),
            };
            (
                c.base_format,
                c.is_key_less,
                "",
                "/v1/chat/completions",
                supported,
            )
        }
        (None, Some(s)) => (
            s.format,
            s.keyless,
            s.base_url,
            s.chat_path,
            s.requests.to_vec(),
        ),
        (None, None) => {
            return Err(BifrostError::invalid_request(format!(
                "provider '{name}' is not a built-in provider; give it a custom_provider_config"
            )))
        }
    };
    let keyed_by_cloud = matches!(
        format,
        ApiFormat::Azure | ApiFormat::Bedrock | ApiFormat::Vertex
    );
    let base = match config.network.base_url.as_deref() {
        Some(base) => normalize_base(base, format),
        None if default_base.is_empty() && !keyed_by_cloud => {
            return Err(BifrostError::invalid_request(format!(
                "provider '{name}' needs network_config.base_url"
            )))
        }
        None => default_base.to_owned(),
    };
    Ok(Resolved {
        format,
        keyless,
        base,
        chat_path: chat_path.to_owned(),
        supported: requests,
    })
}

/// Trims a user's base URL to what each adapter appends paths to: `http://host:8000` and
/// `http://host:8000/v1` both reach `…/v1/chat/completions`; a Gemini base gets `/v1beta`
/// unless it names a version.
fn normalize_base(base: &str, format: ApiFormat) -> String {
    let base = base.trim_end_matches('/');
    match format {
        ApiFormat::Gemini => {
            if base.ends_with("/v1beta") || base.ends_with("/v1") {
                base.to_owned()
            } else {
                format!("{base}/v1beta")
            }
        }
        ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Cohere => {
            base.strip_suffix("/v1").unwrap_or(base).to_owned()
        }
        ApiFormat::Azure | ApiFormat::Bedrock | ApiFormat::Vertex => base.to_owned(),
    }
}

/// A name a client chose (a model, a deployment) as one URL path segment: everything but
/// unreserved characters (and `@`, which Vertex model versions use) is percent-encoded, so it
/// can neither leave its segment (`/`, `.`/`..`) nor add a query or fragment (`?`, `#`).
pub(crate) fn path_segment(name: &str) -> std::borrow::Cow<'_, str> {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'@');
    if name == "." || name == ".." {
        return name.replace('.', "%2E").into();
    }
    utf8_percent_encode(name, SEGMENT).into()
}

/// The answer to an operation a provider does not offer.
fn unsupported<'a, T: Send + 'a>(
    provider: &str,
    op: &str,
) -> BoxFuture<'a, Result<T, BifrostError>> {
    Box::pin(std::future::ready(Err(BifrostError::unsupported(
        provider, op,
    ))))
}

/// Parses a URL built from configuration.
pub(crate) fn parse_url(provider: &str, url: &str) -> Result<::http::Uri, BifrostError> {
    url.parse::<::http::Uri>().map_err(|e| {
        BifrostError::invalid_request(format!("provider '{provider}': bad URL {url:?}: {e}"))
    })
}

/// A custom provider's configured path for `request` (may contain `{model}`).
pub(crate) fn path_override(config: &ProviderConfig, request: RequestType) -> Option<String> {
    config
        .custom
        .as_ref()?
        .request_path_overrides
        .get(&request)
        .cloned()
}

/// Builds the provider for `name` over a shared connection pool.
pub fn build(
    name: &str,
    config: &ProviderConfig,
    clients: Vec<http::HttpClient>,
) -> Result<Built, BifrostError> {
    let r = resolve_spec(name, config)?;
    let upstream = Upstream::new(name, clients, config.network.clone());
    let over = |t: RequestType| path_override(config, t);
    let provider: Arc<dyn Provider> = match r.format {
        ApiFormat::OpenAi => {
            let chat = over(Chat).unwrap_or_else(|| r.chat_path.clone());
            let embed = over(Embedding)
                .unwrap_or_else(|| r.chat_path.replace("chat/completions", "embeddings"));
            let mut op_urls = std::collections::HashMap::new();
            for op in [
                Text,
                TextStream,
                Speech,
                Transcription,
                ImageGeneration,
                Rerank,
            ] {
                let path = over(op)
                    .unwrap_or_else(|| r.chat_path.replace("chat/completions", op.openai_path()));
                op_urls.insert(op, parse_url(name, &format!("{}{path}", r.base))?);
            }
            let provider = openai::OpenAi::new(
                upstream,
                parse_url(name, &format!("{}{chat}", r.base))?,
                parse_url(name, &format!("{}{embed}", r.base))?,
                op_urls,
            );
            // OpenAI's own API and custom OpenAI-format providers (often OpenAI behind a
            // proxy) serve the Responses API; the other compatible servers mostly do not.
            if name == "openai" || config.custom.is_some() {
                let path = r.chat_path.replace("chat/completions", "responses");
                Arc::new(
                    provider.with_responses_url(parse_url(name, &format!("{}{path}", r.base))?),
                )
            } else {
                Arc::new(provider)
            }
        }
        ApiFormat::Anthropic => {
            let path = over(Chat).unwrap_or_else(|| "/v1/messages".into());
            Arc::new(anthropic::Anthropic::new(
                upstream,
                parse_url(name, &format!("{}{path}", r.base))?,
            ))
        }
        ApiFormat::Azure => Arc::new(azure::Azure::new(upstream, r.base.clone())),
        ApiFormat::Vertex => Arc::new(vertex::Vertex::new(upstream, r.base.clone())),
        ApiFormat::Gemini => Arc::new(gemini::Gemini::new(upstream, r.base.clone(), config)),
        ApiFormat::Cohere => Arc::new(cohere::Cohere::new(upstream, &r.base, config)?),
        ApiFormat::Bedrock => Arc::new(bedrock::Bedrock::new(upstream, r.base.clone())),
    };
    Ok(Built {
        provider,
        keyless: r.keyless,
        format: r.format,
        supported: r.supported,
    })
}

/// The README's provider table, generated from [`KNOWN`] so that it cannot drift (a test
/// compares the two).
pub fn capability_table() -> String {
    let mut out = String::from(
        "| Provider | Wire format | Default base URL | Auth | Chat | Stream | Embeddings | Text | Speech | Transcription | Images | Rerank |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in KNOWN {
        let (format, auth) = match s.format {
            ApiFormat::OpenAi if s.keyless => ("OpenAI", "none (keyless)"),
            ApiFormat::OpenAi => ("OpenAI", "`Authorization: Bearer`"),
            ApiFormat::Anthropic => ("Anthropic Messages", "`x-api-key`"),
            ApiFormat::Azure => ("OpenAI at Azure deployments", "`api-key` or Entra ID token"),
            ApiFormat::Bedrock => ("Bedrock Converse", "SigV4 or Bedrock API key"),
            ApiFormat::Vertex => (
                "Gemini / Anthropic on Vertex",
                "service-account OAuth token",
            ),
            ApiFormat::Gemini => ("Gemini generateContent", "`x-goog-api-key`"),
            ApiFormat::Cohere => ("Cohere v2", "`Authorization: Bearer`"),
        };
        let base = match (s.base_url, s.format) {
            ("", ApiFormat::Azure) => "the key's `endpoint`".to_owned(),
            ("", ApiFormat::Bedrock) => "`https://bedrock-runtime.{region}.amazonaws.com`".into(),
            ("", ApiFormat::Vertex) => "`https://{region}-aiplatform.googleapis.com`".into(),
            ("", _) => "`network_config.base_url` (required)".into(),
            (url, _) => format!("`{url}`"),
        };
        let mark = |t: RequestType| {
            if s.requests.contains(&t) {
                "✅"
            } else {
                "—"
            }
        };
        out.push_str(&format!(
            "| `{}` | {format} | {base} | {auth} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            mark(Chat),
            mark(ChatStream),
            mark(Embedding),
            mark(Text),
            mark(Speech),
            mark(Transcription),
            mark(ImageGeneration),
            mark(Rerank),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_or_without_a_version_reach_the_same_endpoint() {
        assert_eq!(
            normalize_base("http://127.0.0.1:9/v1/", ApiFormat::OpenAi),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            normalize_base("http://127.0.0.1:9", ApiFormat::Anthropic),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            normalize_base("http://127.0.0.1:9/", ApiFormat::Gemini),
            "http://127.0.0.1:9/v1beta"
        );
        assert_eq!(
            normalize_base("https://x/v1beta", ApiFormat::Gemini),
            "https://x/v1beta"
        );
    }
}
