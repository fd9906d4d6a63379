//! Runtime configuration of the engine: what an [`Account`] yields, already validated.
//! (Parsing config.json, with its spellings and JSON paths, belongs to the server crate.)

use crate::error::BifrostError;
use crate::plugin::Plugin;
use crate::providers::Provider;
use crate::routing::aliases::ModelAlias;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A secret string whose `Debug`/`Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One API key of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Stable identifier (config `id`, else generated from the provider and position).
    pub id: String,
    /// Human name, used in logs and attempt lists (never the value).
    pub name: String,
    pub value: Secret,
    /// Models this key may serve; empty means all.
    pub models: Vec<String>,
    /// Relative weight for weighted random selection; 0 means "only if all are 0".
    pub weight: f64,
    pub enabled: bool,
    /// Model → upstream deployment (Azure deployment, Bedrock inference profile, Vertex
    /// endpoint). When non-empty, the key serves only the mapped models.
    pub deployments: HashMap<String, String>,
    /// Where the credentials of Azure, Bedrock and Vertex keys live.
    pub cloud: Option<CloudKeyConfig>,
}

/// Provider-specific credentials and addressing of one key.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudKeyConfig {
    Azure(AzureKeyConfig),
    Bedrock(BedrockKeyConfig),
    Vertex(VertexKeyConfig),
}

/// The original's default Azure OpenAI API version.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

#[derive(Debug, Clone, PartialEq)]
pub struct AzureKeyConfig {
    /// `https://<resource>.openai.azure.com`.
    pub endpoint: String,
    pub api_version: String,
    /// Microsoft Entra ID client credentials, used instead of the `api-key` value.
    pub entra: Option<EntraCredentials>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntraCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    /// The token endpoint; defaults to Microsoft's for the tenant (overridable for sovereign
    /// clouds and tests).
    pub token_url: Option<String>,
    /// Shared by every clone of the key, so all requests reuse one token.
    pub token: Arc<TokenCache>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BedrockKeyConfig {
    pub access_key: String,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
    /// Default `us-east-1`.
    pub region: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VertexKeyConfig {
    pub project_id: String,
    /// `us-central1`, or `global`.
    pub region: String,
    /// The service-account JSON.
    pub auth_credentials: Secret,
    pub token: Arc<TokenCache>,
}

/// A cached OAuth access token, refreshed single-flight shortly before it expires.
#[derive(Debug, Default)]
pub struct TokenCache {
    pub(crate) slot: tokio::sync::Mutex<Option<(Secret, std::time::Instant)>>,
}

/// A cache is not configuration: two keys with the same credentials are equal whatever tokens
/// they hold.
impl PartialEq for TokenCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Key {
    /// A key allowing every model, weight 1.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            value: Secret::new(value),
            models: Vec::new(),
            weight: 1.0,
            enabled: true,
            deployments: HashMap::new(),
            cloud: None,
        }
    }

    pub fn with_models(mut self, models: &[&str]) -> Self {
        self.models = models.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    pub fn with_weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    pub fn with_cloud(mut self, cloud: CloudKeyConfig) -> Self {
        self.cloud = Some(cloud);
        self
    }

    pub fn allows(&self, model: &str) -> bool {
        self.enabled
            && (self.models.is_empty() || self.models.iter().any(|m| m == model))
            && (self.deployments.is_empty() || self.deployments.contains_key(model))
    }

    /// The upstream name of `model` for this key: its deployment if mapped.
    pub fn deployment<'a>(&'a self, model: &'a str) -> &'a str {
        self.deployments.get(model).map_or(model, String::as_str)
    }
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    /// OpenAI chat completions (`/v1/chat/completions`), Bearer auth.
    OpenAi,
    /// Anthropic Messages (`/v1/messages`), `x-api-key` auth.
    Anthropic,
    /// Google Gemini API (`/v1beta/models/{m}:generateContent`), `x-goog-api-key` auth.
    Gemini,
    /// AWS Bedrock Converse (`/model/{id}/converse`), SigV4 or API-key auth.
    Bedrock,
    /// Cohere v2 (`/v2/chat`), Bearer auth.
    Cohere,
    /// Azure OpenAI: OpenAI bodies at per-key deployment URLs, `api-key` or Entra auth.
    Azure,
    /// Vertex AI: Gemini and Anthropic models with a service-account token.
    Vertex,
}

impl ApiFormat {
    /// The `base_provider_type` spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "openai" => Self::OpenAi,
            "anthropic" => Self::Anthropic,
            "gemini" => Self::Gemini,
            "bedrock" => Self::Bedrock,
            "cohere" => Self::Cohere,
            _ => return None,
        })
    }
}

/// The operations a provider can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestType {
    ChatCompletion,
    ChatCompletionStream,
    Embedding,
    /// Legacy `/v1/completions`.
    TextCompletion,
    TextCompletionStream,
    /// Text to speech (`/v1/audio/speech`).
    Speech,
    /// Speech to text (`/v1/audio/transcriptions`, multipart).
    Transcription,
    ImageGeneration,
    Rerank,
}

impl RequestType {
    pub const ALL: [RequestType; 9] = [
        Self::ChatCompletion,
        Self::ChatCompletionStream,
        Self::Embedding,
        Self::TextCompletion,
        Self::TextCompletionStream,
        Self::Speech,
        Self::Transcription,
        Self::ImageGeneration,
        Self::Rerank,
    ];

    /// The config spelling (`allowed_requests`, `request_path_overrides`) and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletion => "chat_completion",
            Self::ChatCompletionStream => "chat_completion_stream",
            Self::Embedding => "embedding",
            Self::TextCompletion => "text_completion",
            Self::TextCompletionStream => "text_completion_stream",
            Self::Speech => "speech",
            Self::Transcription => "transcription",
            Self::ImageGeneration => "image_generation",
            Self::Rerank => "rerank",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The OpenAI path of the operation, relative to `/v1/`.
    pub fn openai_path(self) -> &'static str {
        match self {
            Self::ChatCompletion | Self::ChatCompletionStream => "chat/completions",
            Self::Embedding => "embeddings",
            Self::TextCompletion | Self::TextCompletionStream => "completions",
            Self::Speech => "audio/speech",
            Self::Transcription => "audio/transcriptions",
            Self::ImageGeneration => "images/generations",
            Self::Rerank => "rerank",
        }
    }
}

/// Timeouts, retries and upstream address of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Overrides the provider's default base URL (required for keyless local servers).
    pub base_url: Option<String>,
    /// Sent on every upstream request.
    pub extra_headers: Vec<(String, String)>,
    /// Whole-request timeout for non-streaming calls; time to first token for streams.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest gap between two stream chunks.
    pub stream_idle_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub retry_backoff_initial: Duration,
    pub retry_backoff_max: Duration,
    /// Upstream connections per host at most; `None`: as many as the provider's
    /// `concurrency`. A smaller value than `concurrency` is refused at init rather than
    /// silently capping the requests in flight the user configured.
    pub max_conns_per_host: Option<usize>,
    /// Speak HTTP/2 without TLS negotiation (h2c prior knowledge) to the upstream.
    pub enforce_http2: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            extra_headers: Vec::new(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            stream_idle_timeout: Duration::from_secs(60),
            // Better than the original's 0: transient upstream failures are common.
            max_retries: 2,
            retry_backoff_initial: Duration::from_millis(500),
            retry_backoff_max: Duration::from_millis(5000),
            max_conns_per_host: None,
            enforce_http2: false,
        }
    }
}

/// `concurrency` requests in flight to a provider at once, `buffer_size` more waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyAndBufferSize {
    pub concurrency: usize,
    pub buffer_size: usize,
}

impl Default for ConcurrencyAndBufferSize {
    fn default() -> Self {
        Self {
            concurrency: 1000,
            buffer_size: 5000,
        }
    }
}

/// Makes a provider of any name speak a known format (any OpenAI-compatible server, say).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomProviderConfig {
    pub base_format: ApiFormat,
    pub is_key_less: bool,
    /// Request types this provider may serve; `None` means all its format supports.
    pub allowed_requests: Option<Vec<RequestType>>,
    /// Paths (under `base_url`) replacing the format's default per request type.
    pub request_path_overrides: HashMap<RequestType, String>,
}

impl CustomProviderConfig {
    pub fn new(base_format: ApiFormat) -> Self {
        Self {
            base_format,
            is_key_less: false,
            allowed_requests: None,
            request_path_overrides: HashMap::new(),
        }
    }
}

/// How long a key stays out of rotation after it failed in a way that is the key's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHealthConfig {
    /// After a 429 without `Retry-After`.
    pub rate_limit_cooldown: Duration,
    /// After a 401/403 (credentials) or 402 (quota).
    pub auth_failure_cooldown: Duration,
}

impl Default for KeyHealthConfig {
    fn default() -> Self {
        Self {
            rate_limit_cooldown: Duration::from_secs(10),
            auth_failure_cooldown: Duration::from_secs(300),
        }
    }
}

/// Compared on a reconfiguration: an unchanged provider keeps its connection pool and queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderConfig {
    pub network: NetworkConfig,
    pub concurrency: ConcurrencyAndBufferSize,
    pub key_health: KeyHealthConfig,
    pub custom: Option<CustomProviderConfig>,
}

/// Where the engine gets its providers, keys and provider settings from — the counterpart of
/// the original's `schemas.Account`.
pub trait Account: Send + Sync {
    /// Names of the configured providers (`openai`, `anthropic`, a custom name, …).
    fn configured_providers(&self) -> Vec<String>;
    fn keys_for_provider(&self, provider: &str) -> Result<Vec<Key>, BifrostError>;
    fn config_for_provider(&self, provider: &str) -> Result<ProviderConfig, BifrostError>;
}

/// An [`Account`] held in memory: what config.json and most embedders need.
#[derive(Debug, Clone, Default)]
pub struct StaticAccount {
    providers: Vec<(String, ProviderConfig, Vec<Key>)>,
}

impl StaticAccount {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a provider with its settings and keys.
    pub fn with_provider(
        mut self,
        name: impl Into<String>,
        config: ProviderConfig,
        keys: Vec<Key>,
    ) -> Self {
        let name = name.into();
        self.providers.retain(|(n, _, _)| *n != name);
        self.providers.push((name, config, keys));
        self
    }

    fn find(&self, provider: &str) -> Result<&(String, ProviderConfig, Vec<Key>), BifrostError> {
        self.providers
            .iter()
            .find(|(n, _, _)| n == provider)
            .ok_or_else(|| {
                BifrostError::invalid_request(format!("provider '{provider}' is not configured"))
            })
    }
}

impl Account for StaticAccount {
    fn configured_providers(&self) -> Vec<String> {
        self.providers.iter().map(|(n, _, _)| n.clone()).collect()
    }

    fn keys_for_provider(&self, provider: &str) -> Result<Vec<Key>, BifrostError> {
        Ok(self.find(provider)?.2.clone())
    }

    fn config_for_provider(&self, provider: &str) -> Result<ProviderConfig, BifrostError> {
        Ok(self.find(provider)?.1.clone())
    }
}

/// Everything [`crate::Bifrost::init`] needs.
#[derive(Clone)]
pub struct BifrostConfig {
    pub account: Arc<dyn Account>,
    /// The seed's `initial_pool_size`: how many idle keep-alive connections each provider keeps
    /// to its upstream, ready for the next burst (see `http_client` in lib.rs for why this is
    /// the pool that matters in Rust).
    pub initial_pool_size: usize,
    /// When a provider's queue is full: fail at once (true) or wait until the deadline (false).
    pub drop_excess_requests: bool,
    /// How long [`crate::Bifrost::shutdown`] waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Public model names mapped to weighted targets and fallbacks.
    pub aliases: HashMap<String, ModelAlias>,
    /// The plugin pipeline, in order: hooks around every attempt and the engine's events
    /// (metrics and traces are plugins too). See [`crate::plugin`].
    pub plugins: Vec<Arc<dyn Plugin>>,
    /// Provider instances that replace the built-in adapter of the provider of that name (its
    /// keys and settings still come from the account): scripted providers in tests, or an
    /// embedder's own adapter.
    pub provider_instances: HashMap<String, ProviderInstance>,
}

/// A provider built outside the engine's registry.
#[derive(Clone)]
pub struct ProviderInstance {
    pub provider: Arc<dyn Provider>,
    /// Whether the provider may be called without a key (when no configured key fits).
    pub keyless: bool,
    /// What it may be asked for.
    pub supported: Vec<RequestType>,
    /// The wire format it speaks (decides which drop-in fields survive).
    pub format: ApiFormat,
}

impl ProviderInstance {
    /// A keyless OpenAI-format provider offering every operation.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self {
            provider,
            keyless: true,
            supported: RequestType::ALL.to_vec(),
            format: ApiFormat::OpenAi,
        }
    }
}

impl BifrostConfig {
    pub fn new(account: impl Account + 'static) -> Self {
        Self {
            account: Arc::new(account),
            initial_pool_size: 5000,
            drop_excess_requests: false,
            shutdown_timeout: Duration::from_secs(30),
            aliases: HashMap::new(),
            plugins: Vec::new(),
            provider_instances: HashMap::new(),
        }
    }

    /// Appends a plugin to the pipeline.
    pub fn with_plugin(mut self, plugin: Arc<dyn Plugin>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Serves provider `name` with `instance` instead of the built-in adapter.
    pub fn with_provider_instance(
        mut self,
        name: impl Into<String>,
        instance: ProviderInstance,
    ) -> Self {
        self.provider_instances.insert(name.into(), instance);
        self
    }
}

impl fmt::Debug for BifrostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BifrostConfig")
            .field("providers", &self.account.configured_providers())
            .field("initial_pool_size", &self.initial_pool_size)
            .field("drop_excess_requests", &self.drop_excess_requests)
            .finish()
    }
}
