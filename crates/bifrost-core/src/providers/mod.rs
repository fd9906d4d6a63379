//! Providers: one trait, chosen once per attempt; translation code lives in each provider's
//! module as pure functions. A new provider adds its module and one line in [`KNOWN`].

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
mod http;
pub mod openai;

use crate::config::{ApiFormat, Key, ProviderConfig};
use crate::error::BifrostError;
use crate::observe::StageClock;
use crate::schemas::{ChatCompletion, ChatCompletionChunk, ChatRequest};
use futures::future::BoxFuture;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;

pub use http::{http_client, EventStream, HttpClient, Upstream};

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
}

/// A built-in provider: its wire format, default address and whether it needs a key.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    pub name: &'static str,
    pub format: ApiFormat,
    /// Empty when the user must give `network_config.base_url`.
    pub base_url: &'static str,
    /// Path of the chat endpoint under `base_url`.
    pub chat_path: &'static str,
    pub keyless: bool,
    /// Environment variables auto-detection reads the key from, in order.
    pub env_keys: &'static [&'static str],
}

const fn openai_compat(
    name: &'static str,
    base_url: &'static str,
    env_keys: &'static [&'static str],
) -> ProviderSpec {
    ProviderSpec {
        name,
        format: ApiFormat::OpenAi,
        base_url,
        chat_path: "/v1/chat/completions",
        keyless: false,
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
        env_keys: &[],
    }
}

/// The built-in providers.
pub const KNOWN: &[ProviderSpec] = &[
    openai_compat(
        "openai",
        "https://api.openai.com",
        &["OPENAI_API_KEY", "OPENAI_KEY"],
    ),
    ProviderSpec {
        name: "anthropic",
        format: ApiFormat::Anthropic,
        base_url: "https://api.anthropic.com",
        chat_path: "/v1/messages",
        keyless: false,
        env_keys: &["ANTHROPIC_API_KEY", "ANTHROPIC_KEY"],
    },
    openai_compat(
        "mistral",
        "https://api.mistral.ai",
        &["MISTRAL_API_KEY", "MISTRAL_KEY"],
    ),
    openai_compat("groq", "https://api.groq.com/openai", &["GROQ_API_KEY"]),
    openai_compat("cerebras", "https://api.cerebras.ai", &["CEREBRAS_API_KEY"]),
    openai_compat("xai", "https://api.x.ai", &["XAI_API_KEY"]),
    openai_compat(
        "openrouter",
        "https://openrouter.ai/api",
        &["OPENROUTER_API_KEY"],
    ),
    openai_compat(
        "fireworks",
        "https://api.fireworks.ai/inference",
        &["FIREWORKS_API_KEY"],
    ),
    openai_compat("parasail", "https://api.parasail.io", &["PARASAIL_API_KEY"]),
    ProviderSpec {
        chat_path: "/chat/completions",
        ..openai_compat(
            "perplexity",
            "https://api.perplexity.ai",
            &["PERPLEXITY_API_KEY"],
        )
    },
    openai_compat(
        "nebius",
        "https://api.tokenfactory.nebius.com",
        &["NEBIUS_API_KEY"],
    ),
    openai_compat(
        "deepseek",
        "https://api.deepseek.com",
        &["DEEPSEEK_API_KEY"],
    ),
    openai_compat(
        "together",
        "https://api.together.xyz",
        &["TOGETHER_API_KEY"],
    ),
    keyless_local("ollama"),
    keyless_local("sgl"),
    keyless_local("vllm"),
];

pub fn known(name: &str) -> Option<&'static ProviderSpec> {
    KNOWN.iter().find(|s| s.name == name)
}

/// The format, key requirement and chat URL of a configured provider.
pub fn resolve_spec(
    name: &str,
    config: &ProviderConfig,
) -> Result<(ApiFormat, bool, String), BifrostError> {
    let (format, keyless, default_base, default_path) = match (&config.custom, known(name)) {
        (Some(c), _) => (
            c.base_format,
            c.is_key_less,
            "",
            default_path_for(c.base_format),
        ),
        (None, Some(s)) => (s.format, s.keyless, s.base_url, s.chat_path),
        (None, None) => {
            return Err(BifrostError::invalid_request(format!(
                "provider '{name}' is not a built-in provider; give it a custom_provider_config"
            )))
        }
    };
    let url = match config.network.base_url.as_deref() {
        Some(base) => join_chat_url(base, format),
        None if default_base.is_empty() => {
            return Err(BifrostError::invalid_request(format!(
                "provider '{name}' needs network_config.base_url"
            )))
        }
        None => format!("{default_base}{default_path}"),
    };
    Ok((format, keyless, url))
}

fn default_path_for(format: ApiFormat) -> &'static str {
    match format {
        ApiFormat::OpenAi => "/v1/chat/completions",
        ApiFormat::Anthropic => "/v1/messages",
    }
}

/// `http://host:8000` and `http://host:8000/v1` both reach `…/v1/chat/completions`.
fn join_chat_url(base: &str, format: ApiFormat) -> String {
    let base = base.trim_end_matches('/');
    let path = default_path_for(format);
    match base.strip_suffix("/v1") {
        Some(stem) => format!("{stem}{path}"),
        None => format!("{base}{path}"),
    }
}

/// Builds the provider for `name` over a shared connection pool.
pub fn build(
    name: &str,
    config: &ProviderConfig,
    clients: Vec<http::HttpClient>,
) -> Result<(Arc<dyn Provider>, bool), BifrostError> {
    let (format, keyless, url) = resolve_spec(name, config)?;
    let url = url.parse::<::http::Uri>().map_err(|e| {
        BifrostError::invalid_request(format!("provider '{name}': bad URL {url:?}: {e}"))
    })?;
    let upstream = Upstream::new(name, url, clients, config.network.clone());
    let provider: Arc<dyn Provider> = match format {
        ApiFormat::OpenAi => Arc::new(openai::OpenAi::new(upstream)),
        ApiFormat::Anthropic => Arc::new(anthropic::Anthropic::new(upstream)),
    };
    Ok((provider, keyless))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_or_without_v1_reach_the_same_endpoint() {
        assert_eq!(
            join_chat_url("http://127.0.0.1:9/v1/", ApiFormat::OpenAi),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            join_chat_url("http://127.0.0.1:9", ApiFormat::Anthropic),
            "http://127.0.0.1:9/v1/messages"
        );
    }
}
