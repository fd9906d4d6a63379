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
    /// Status used for injected failures (`fail_rate`, `fail_keys`) when `faults` is empty.
    pub fail_status: u16,
    /// What an injected failure (`fail_rate`) is, one picked at random per failure; empty means
    /// `fail_status`. `fail_keys` always answer `fail_status`.
    pub faults: Vec<Fault>,
    /// How long a [`Fault::Hang`] holds the request before answering normally.
    pub hang: Duration,
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
            faults: Vec::new(),
            hang: Duration::from_secs(10),
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

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An error answer with this status (with `retry_after` hints on 429/503/529).
    Status(u16),
    /// The connection is closed without an answer (hyper drops it when the body fails before
    /// the head was written).
    Reset,
    /// Nothing for [`MockConfig::hang`], then a normal answer (a client's timeout fires first).
    Hang,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reset" => Ok(Self::Reset),
            "hang" => Ok(Self::Hang),
            _ => match s.parse::<u16>() {
                Ok(status) if (100..=999).contains(&status) => Ok(Self::Status(status)),
                _ => Err(format!(
                    "a fault is an HTTP status, `reset` or `hang`, got {s:?}"
                )),
            },
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

    /// The failure this request gets, if any.
    pub(crate) fn fault(&self, api_key: Option<&str>) -> Option<Fault> {
        if let Some(key) = api_key {
            if self.fail_keys.iter().any(|k| k == key) {
                return Some(Fault::Status(self.fail_status));
            }
        }
        // Skip the RNG entirely in the common no-failure configuration.
        if !(self.fail_rate > 0.0 && fastrand::f64() < self.fail_rate) {
            return None;
        }
        Some(if self.faults.is_empty() {
            Fault::Status(self.fail_status)
        } else {
            self.faults[fastrand::usize(..self.faults.len())]
        })
    }
}
