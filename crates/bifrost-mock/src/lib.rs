//! `bifrost-mock`: a fast mock LLM provider for tests and benchmarks.
//!
//! Serves the OpenAI chat completions API (`/v1/chat/completions`,
//! `/chat/completions`, `/v1/models`), the Anthropic Messages API
//! (`/v1/messages`), Cohere's v2 API (`/v2/chat`, `/v2/embed`, `/v2/rerank`),
//! the Google Gemini API (`/v1beta/models/{model}:{action}` and its Vertex AI
//! path), AWS Bedrock Converse (`/model/{id}/converse`, `-stream`, SigV4-verified),
//! Azure OpenAI deployments and the token endpoints of Entra ID and
//! Google, streaming and not, with knobs for latency, chunk pacing, failure
//! injection and stream truncation (see [`MockConfig`]).
//!
//! It is built never to be the bottleneck of a benchmark: every delay is an
//! async sleep, replies are cheap to build, and the only locks on the request
//! path guard a push onto a bounded list (recorded requests) and a per-key counter.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use bifrost_mock::{MockConfig, MockServer};
//! let server = MockServer::start(MockConfig { chunks: 3, ..Default::default() }).await?;
//! println!("point the provider at {}", server.url());
//! # Ok(()) }
//! ```

mod anthropic;
mod bedrock;
mod cloud;
mod cohere;
mod config;
mod errors;
mod gate;
mod gemini;
mod openai;
mod reply;
mod responses;
mod sigv4;
mod state;
mod stream;

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use cloud::TOKEN_REQUESTS;
pub use config::{Fault, MockConfig};
pub use state::{MockState, MockStats, RecordedRequest, RECORDED_REQUESTS};

/// Request bodies up to this size are accepted (axum's 2 MiB default is too
/// small for large-prompt benchmarks).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The mock's axum router, for embedding it into another server.
pub fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/responses", post(responses::responses))
        .route("/v2/chat", post(cohere::chat))
        .route("/v2/embed", post(cohere::embed))
        .route("/v2/rerank", post(cohere::rerank))
        .route("/v1beta/models/{model_action}", post(gemini::gemini))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model_action}",
            post(gemini::vertex),
        )
        .route("/model/{model_id}/converse", post(bedrock::converse::<false>))
        .route(
            "/model/{model_id}/converse-stream",
            post(bedrock::converse::<true>),
        )
        .route("/v1/models", get(openai::models))
        .route("/v1/embeddings", post(cloud::embeddings))
        .route("/v1/completions", post(cloud::completions))
        .route("/v1/audio/speech", post(cloud::speech))
        .route("/v1/audio/transcriptions", post(cloud::transcriptions))
        .route("/v1/images/generations", post(cloud::image_generations))
        .route("/v1/rerank", post(cohere::rerank))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(cloud::azure::<false>),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(cloud::azure::<true>),
        )
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model_action}",
            post(cloud::vertex_anthropic),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(cloud::entra_token))
        .route("/token", post(cloud::google_token))
        .route("/health", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> Response {
    errors::error_response(
        errors::Flavor::OpenAi,
        StatusCode::NOT_FOUND,
        "mock: unknown route",
    )
}

/// A running mock server. Serving stops when it is dropped or [`shut down`].
///
/// [`shut down`]: MockServer::shutdown
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    state: MockState,
    // Dropping the sender resolves the server's shutdown future.
    _shutdown: oneshot::Sender<()>,
}

impl MockServer {
    /// Binds 127.0.0.1 on an ephemeral port and serves in a background task.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::start_on(listener, config).await
    }

    /// Serves on an already-bound listener in a background task.
    pub async fn start_on(
        listener: TcpListener,
        config: MockConfig,
    ) -> std::io::Result<MockServer> {
        let addr = listener.local_addr()?;
        let state = MockState::new(config);
        let app = router(state.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        // Streams are many small writes; Nagle would hold them back.
        let counters = state.counters().clone();
        let listener = listener.tap_io(move |tcp| {
            state::Counters::incr(&counters.connections);
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!("bifrost-mock: set_nodelay failed: {err}");
            }
        });
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Resolves on an explicit send or when the sender is dropped.
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::warn!("bifrost-mock: server error: {err}");
            }
        });
        Ok(MockServer {
            addr,
            state,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Handle on the shared state (config, stats, recordings).
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// Copy of the current config, e.g. to tweak one knob and `set_config` it.
    pub fn config(&self) -> MockConfig {
        self.state.config()
    }

    /// Takes effect for requests that arrive afterwards.
    pub fn set_config(&self, config: MockConfig) {
        self.state.set_config(config);
    }

    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.last_request()
    }

    /// The last [`RECORDED_REQUESTS`] requests, oldest first (see
    /// [`MockConfig::record_requests`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Zeroes all counters (the recorded requests are kept).
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// Stops accepting connections; idle connections are closed and requests
    /// in flight are allowed to finish.
    pub fn shutdown(self) {
        drop(self);
    }
}
