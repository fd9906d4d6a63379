//! Bifrost-RS engine: one OpenAI-shaped API over many LLM providers, with weighted key
//! selection, per-provider concurrency and queueing, retries and fallbacks.
//!
//! Embeddable: no HTTP server dependency. The path of a request, phase by phase, is written
//! down on [`engine`]; plugins hook into it through [`plugin`]. The counterpart of the
//! original's Go usage:
//!
//! ```no_run
//! use bifrost_core::{Bifrost, BifrostConfig, ChatMessage, ChatRequest, Key, ProviderConfig, StaticAccount};
//! # async fn run() -> Result<(), bifrost_core::BifrostError> {
//! let account = StaticAccount::new().with_provider(
//!     "openai",
//!     ProviderConfig::default(),
//!     vec![Key::new("sk-…").with_models(&["gpt-4o-mini"])],
//! );
//! let client = Bifrost::init(BifrostConfig::new(account))?;
//! let reply = client
//!     .chat_completion(ChatRequest::new("openai", "gpt-4o-mini", vec![ChatMessage::user("Hello!")]))
//!     .await?;
//! println!("{:?}", reply.body.choices[0].message.content);
//! client.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod engine;
pub mod error;
pub mod inbound;
pub mod observe;
pub mod plugin;
pub mod providers;
pub mod queue;
pub mod retry;
pub mod routing;
pub mod schemas;
pub mod wire;

pub use config::{
    Account, ApiFormat, AzureKeyConfig, BedrockKeyConfig, BifrostConfig, CloudKeyConfig,
    ConcurrencyAndBufferSize, CustomProviderConfig, EntraCredentials, Key, KeyHealthConfig,
    NetworkConfig, ProviderConfig, ProviderInstance, RequestType, Secret, StaticAccount,
    VertexKeyConfig,
};
pub use engine::context::{BifrostResponse, RequestContext, RequestOptions, ResponseMeta};
pub use engine::streams::{ChatStream, RawStream};
pub use engine::{Bifrost, NativeAnswer, NativeChat, ProviderChange};
pub use error::{Attempt, BifrostError, ErrorClass};
pub use observe::{StageClock, StageTimes};
pub use plugin::{
    AttemptEvent, ChunkAction, Event, HookKind, HttpRequest, Outcome, Pipeline, Plugin, PreHook,
    Request, Response, ShortCircuit,
};
pub use routing::aliases::{AliasTarget, ModelAlias};
pub use schemas::{
    ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, ModelInfo, RawBody, RawRequest, RawResponse,
};
