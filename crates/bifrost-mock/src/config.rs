//! Behaviour knobs of the mock provider.

use std::time::Duration;

/// How the mock behaves. Every field is public so tests can use struct
/// update syntax: `MockConfig { fail_rate: 1.0, ..Default::default() }`.
///
/// A config can be swapped at runtime with [`crate::MockServer::set_config`];
/// each request reads the config once when it arrives, so an in-flight stream
/// keeps the knobs it started with.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Delay before the response headers are sent.
    pub latency: Duration,
    /// Uniform random extra delay in `0..=jitter`, added to `latency`.
    pub jitter: Duration,
    /// Delay before each content chunk of a stream.
    pub chunk_delay: Duration,
    /// Number of content pieces a streamed reply is split into.
    pub chunks: usize,
    /// Fraction (0..=1) of inference requests answered with `fail_status`.
    pub fail_rate: f64,
    /// Status used for injected failures (`fail_rate`, `fail_keys`).
    pub fail_status: u16,
    /// Sent as `Retry-After` (whole seconds, rounded up) and `retry-after-ms`
    /// on injected failures whose status is 429, 503 or 529.
    pub retry_after: Option<Duration>,
    /// Requests authenticated with one of these API keys always fail with
    /// `fail_status` (key rotation tests).
    pub fail_keys: Vec<String>,
    /// In streams, end the body with an error (truncated stream, no terminal
    /// event) once this many content chunks were sent. If the reply has fewer
    /// content chunks the stream completes normally.
    pub stream_fail_after: Option<usize>,
    /// Sleep this long before the first stream event (headers are already sent).
    pub stall_before_first_chunk: Option<Duration>,
    /// Sleep `.1` once `.0` content chunks were sent.
    pub stall_after_chunks: Option<(usize, Duration)>,
    /// Pad (with `lorem ` words) or trim the reply text to exactly this many bytes.
    pub response_size: Option<usize>,
    /// Reject requests without credentials (401).
    pub require_auth: bool,
    /// AWS `(access key id, secret access key)` the Bedrock routes verify SigV4 signatures
    /// against (403 `InvalidSignatureException` on a mismatch). `None` accepts any well-formed
    /// `AWS4-HMAC-SHA256` authorization without checking the signature.
    pub aws_credentials: Option<(String, String)>,
    /// Model ids listed by `GET /v1/models`.
    pub models: Vec<String>,
    /// When set, the Entra token endpoint accepts only this client secret.
    pub oauth_client_secret: Option<String>,
    /// When set, the Google token endpoint verifies assertions with this RSA public key (PEM).
    pub google_public_key_pem: Option<String>,
    /// Keep the last [`crate::RECORDED_REQUESTS`] requests for [`crate::MockServer::requests`];
    /// off, only the last one is kept (for `last_request`), which is all a benchmark pays for.
    pub record_requests: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 5,
            fail_rate: 0.0,
            fail_status: 500,
            retry_after: None,
            fail_keys: Vec::new(),
            stream_fail_after: None,
            stall_before_first_chunk: None,
            stall_after_chunks: None,
            response_size: None,
            require_auth: true,
            aws_credentials: None,
            models: [
                "gpt-4o-mini",
                "gpt-4o",
                "claude-3-5-haiku-latest",
                "mock-model",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            oauth_client_secret: None,
            google_public_key_pem: None,
            record_requests: true,
        }
    }
}

impl MockConfig {
    /// The delay to apply before answering one request (latency + jitter).
    pub(crate) fn response_delay(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let max = u64::try_from(self.jitter.as_nanos()).unwrap_or(u64::MAX);
        self.latency + Duration::from_nanos(fastrand::u64(0..=max))
    }

    /// Whether this request should get an injected failure.
    pub(crate) fn should_fail(&self, api_key: Option<&str>) -> bool {
        if let Some(key) = api_key {
            if self.fail_keys.iter().any(|k| k == key) {
                return true;
            }
        }
        // Skip the RNG entirely in the common no-failure configuration.
        self.fail_rate > 0.0 && fastrand::f64() < self.fail_rate
    }
}
