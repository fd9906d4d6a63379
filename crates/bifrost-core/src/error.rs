//! One error type for the engine, classified by where it came from and what may be done about
//! it (retry, fall back). The HTTP layer renders it in exactly one place.

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// What kind of failure this is; decides status, retry and fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The client's request is malformed or names nothing we serve (never sent upstream).
    InvalidRequest,
    /// The request names a model no configured provider serves.
    ModelNotFound,
    /// No usable API key is configured for the provider/model.
    MissingKey,
    /// The provider's queue is full and `drop_excess_requests` is on.
    QueueFull,
    /// The request waited for a provider slot past its deadline.
    QueueTimeout,
    /// The engine is shutting down and takes no new work.
    ShuttingDown,
    /// Upstream rejected the request itself (400, 409, 413, 415, 422): another provider would too.
    CallerFault,
    /// Upstream 401/403.
    Credential,
    /// Upstream 402 / quota exhausted.
    Quota,
    /// Upstream 404 (model unknown to that provider).
    ModelAccess,
    /// Upstream 429, or every key of the provider cooling down after one.
    RateLimited,
    /// Upstream refused the content (content policy / safety filter): another provider may not.
    ContentFilter,
    /// Upstream 5xx.
    Transient,
    /// Connection refused, reset, DNS or TLS failure.
    Connection,
    /// An upstream deadline passed (connect, first token, idle, total).
    Timeout,
    /// The upstream stream broke after it had started, or ended without its terminal marker.
    StreamError,
    /// The upstream answered something we could not understand.
    BadUpstreamResponse,
    /// A bug in the gateway.
    Internal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::ModelNotFound => "model_not_found",
            ErrorClass::MissingKey => "missing_api_key",
            ErrorClass::QueueFull => "queue_full",
            ErrorClass::QueueTimeout => "queue_timeout",
            ErrorClass::ShuttingDown => "shutting_down",
            ErrorClass::CallerFault => "caller_fault",
            ErrorClass::Credential => "credential",
            ErrorClass::Quota => "quota",
            ErrorClass::ModelAccess => "model_access",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ContentFilter => "content_filter",
            ErrorClass::Transient => "transient",
            ErrorClass::Connection => "connection",
            ErrorClass::Timeout => "timeout",
            ErrorClass::StreamError => "stream_error",
            ErrorClass::BadUpstreamResponse => "bad_upstream_response",
            ErrorClass::Internal => "internal",
        }
    }

    /// Worth another attempt at the same provider (after backoff).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited
                | ErrorClass::Transient
                | ErrorClass::Connection
                | ErrorClass::Timeout
                | ErrorClass::Credential
        )
    }

    /// Another provider might succeed where this one failed.
    pub fn allows_fallback(self) -> bool {
        !matches!(
            self,
            ErrorClass::InvalidRequest | ErrorClass::CallerFault | ErrorClass::Internal
        )
    }

    /// How much an error of this class tells the caller, to choose the answer when every
    /// target failed: what a provider said about the request beats what the gateway saw.
    pub fn informativeness(self) -> u8 {
        match self {
            ErrorClass::CallerFault | ErrorClass::ContentFilter | ErrorClass::InvalidRequest => 9,
            ErrorClass::Credential | ErrorClass::Quota | ErrorClass::ModelAccess => 8,
            ErrorClass::RateLimited => 7,
            ErrorClass::Transient | ErrorClass::BadUpstreamResponse | ErrorClass::StreamError => 6,
            ErrorClass::Timeout => 5,
            ErrorClass::Connection => 4,
            ErrorClass::QueueFull | ErrorClass::QueueTimeout => 3,
            ErrorClass::MissingKey | ErrorClass::ModelNotFound => 2,
            ErrorClass::ShuttingDown | ErrorClass::Internal => 1,
        }
    }
}

/// One attempt made for a request, listed in the error of a request whose attempts all failed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    pub status: u16,
    pub class: &'static str,
    pub latency_ms: u64,
}

/// The engine's error: an HTTP status, an OpenAI-style type/code/message, its class, and where
/// it came from. Boxed, so `Result<_, BifrostError>` stays one pointer wide on the hot path.
#[derive(Debug, Clone)]
pub struct BifrostError(Box<ErrorDetails>);

#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub class: ErrorClass,
    pub status: u16,
    pub message: String,
    /// OpenAI `error.type`.
    pub error_type: Cow<'static, str>,
    /// OpenAI `error.code`; the provider's own code when it sent one.
    pub code: Option<String>,
    /// OpenAI `error.param`, when known.
    pub param: Option<String>,
    /// True when the gateway produced the error, false when a provider did.
    pub is_bifrost_error: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// From the upstream's `Retry-After`, or our own advice (queue full).
    pub retry_after: Option<Duration>,
    /// Every attempt made, when more than one target or retry was tried.
    pub attempts: Vec<Attempt>,
    /// Headers the answer carries besides `Retry-After` (a plugin's `x-ratelimit-*`).
    pub headers: http::HeaderMap,
}

impl std::ops::Deref for BifrostError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for BifrostError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl BifrostError {
    fn gateway(class: ErrorClass, status: u16, error_type: &'static str, msg: String) -> Self {
        Self(Box::new(ErrorDetails {
            class,
            status,
            message: msg,
            error_type: Cow::Borrowed(error_type),
            code: Some(class.as_str().to_owned()),
            param: None,
            is_bifrost_error: true,
            provider: None,
            model: None,
            retry_after: None,
            attempts: Vec::new(),
            headers: http::HeaderMap::new(),
        }))
    }

    /// A refusal by a gateway policy (virtual keys, budgets, rate limits) with its own status
    /// and code.
    pub fn policy(class: ErrorClass, status: u16, code: &str, msg: impl Into<String>) -> Self {
        let error_type = match status {
            401 => "authentication_error",
            402 => "insufficient_quota",
            403 => "permission_error",
            429 => "rate_limit_error",
            503 => "service_unavailable",
            _ => "invalid_request_error",
        };
        Self::gateway(class, status, error_type, msg.into()).coded(code)
    }

    pub fn invalid_request(msg: impl Into<String>) -> Self {
        Self::gateway(
            ErrorClass::InvalidRequest,
            400,
            "invalid_request_error",
            msg.into(),
        )
    }

    pub fn model_not_found(msg: impl Into<String>) -> Self {
        Self::gateway(
            ErrorClass::ModelNotFound,
            404,
            "invalid_request_error",
            msg.into(),
        )
    }

    pub fn missing_key(msg: impl Into<String>) -> Self {
        Self::gateway(
            ErrorClass::MissingKey,
            401,
            "authentication_error",
            msg.into(),
        )
    }

    pub fn queue_full(provider: &str) -> Self {
        let msg = format!(
            "request dropped: the queue for provider '{provider}' is full \
             (drop_excess_requests is on); retry later"
        );
        Self::gateway(ErrorClass::QueueFull, 503, "server_error", msg)
            .at(provider)
            .retry_in(Duration::from_secs(1))
    }

    pub fn queue_timeout(provider: &str, waited: Duration) -> Self {
        let msg = format!(
            "request timed out after {} ms waiting for a free slot at provider '{provider}'",
            waited.as_millis()
        );
        Self::gateway(ErrorClass::QueueTimeout, 504, "server_error", msg).at(provider)
    }

    pub fn shutting_down() -> Self {
        let msg = "the gateway is shutting down and accepts no new requests".to_owned();
        Self::gateway(ErrorClass::ShuttingDown, 503, "server_error", msg)
            .retry_in(Duration::from_secs(1))
    }

    /// Every key that could serve the request is cooling down after a rate limit.
    pub fn all_keys_cooling(provider: &str, wait: Duration) -> Self {
        let msg = format!(
            "every API key of provider '{provider}' is cooling down after rate limits or auth \
             failures; the first is usable again in {} ms",
            wait.as_millis()
        );
        Self::gateway(ErrorClass::RateLimited, 429, "rate_limit_error", msg)
            .at(provider)
            .coded("upstream_rate_limited")
            .retry_in(wait)
    }

    /// The provider's circuit breaker is open (its upstream could not be reached too often in
    /// a row): the request skips it without calling; `wait` is when the next probe goes.
    pub fn provider_unavailable(provider: &str, wait: Duration) -> Self {
        let msg = format!(
            "provider '{provider}' is down (its last {} attempts could not reach it); it is \
             tried again in {} ms",
            crate::routing::breaker::THRESHOLD,
            wait.as_millis()
        );
        Self::gateway(ErrorClass::Transient, 503, "server_error", msg)
            .at(provider)
            .coded("provider_unavailable")
            .retry_in(wait)
    }

    pub fn connection(provider: &str, detail: impl fmt::Display) -> Self {
        let msg = format!("could not reach provider '{provider}': {detail}");
        Self::gateway(ErrorClass::Connection, 502, "server_error", msg)
            .at(provider)
            .coded("upstream_connection_error")
    }

    /// `which` names the limit that fired: `connect`, `ttft`, `idle` or `total`.
    pub fn timeout(provider: &str, which: &'static str, after: Duration) -> Self {
        let what = match which {
            "connect" => "connect timeout",
            "ttft" => "time-to-first-token timeout",
            "idle" => "stream idle timeout (no chunk)",
            _ => "request timeout",
        };
        let msg = format!(
            "provider '{provider}' did not answer in time: {what} of {} ms exceeded",
            after.as_millis()
        );
        Self::gateway(ErrorClass::Timeout, 504, "server_error", msg)
            .at(provider)
            .coded(format!("upstream_timeout_{which}"))
    }

    pub fn stream_error(provider: &str, msg: impl Into<String>, code: &'static str) -> Self {
        Self::gateway(ErrorClass::StreamError, 502, "server_error", msg.into())
            .at(provider)
            .coded(code)
    }

    pub fn bad_upstream_response(provider: &str, detail: impl fmt::Display) -> Self {
        let msg =
            format!("provider '{provider}' sent a response the gateway could not read: {detail}");
        Self::gateway(ErrorClass::BadUpstreamResponse, 502, "server_error", msg).at(provider)
    }

    /// The provider does not offer this operation (or its configuration forbids it): never
    /// forwarded; another provider may still serve it.
    pub fn unsupported(provider: &str, operation: &str) -> Self {
        let msg = format!("provider '{provider}' does not support the {operation} operation");
        Self::gateway(ErrorClass::ModelAccess, 400, "invalid_request_error", msg)
            .at(provider)
            .coded("unsupported_operation")
    }

    /// Names the provider the error is about.
    fn at(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_owned());
        self
    }

    /// Replaces the class's code with a more specific one.
    fn coded(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    fn retry_in(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Self::gateway(ErrorClass::Internal, 500, "server_error", msg.into())
    }

    /// An error status from a provider, with its body parsed tolerantly: OpenAI's
    /// `{"error":{"message","type","code"}}`, Anthropic's `{"type":"error","error":{…}}`, a bare
    /// `{"message":…}`, or plain text all yield a well-formed error carrying the message.
    pub fn upstream(
        provider: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let class = match status {
            // A redirect is not an answer a gateway can follow or pass on (no `Location` would
            // reach the client): a bad upstream response, not worth retrying.
            300..=399 => ErrorClass::BadUpstreamResponse,
            401 | 403 => ErrorClass::Credential,
            402 => ErrorClass::Quota,
            404 => ErrorClass::ModelAccess,
            429 => ErrorClass::RateLimited,
            408 => ErrorClass::Timeout,
            400..=499 => ErrorClass::CallerFault,
            _ => ErrorClass::Transient,
        };
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let err_obj = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .or(parsed.as_ref());
        let field = |name: &str| -> Option<String> {
            match err_obj?.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        let message = field("message").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("provider '{provider}' answered HTTP {status} with an empty body")
            } else {
                text.chars().take(2048).collect()
            }
        });
        // Providers quote the key they were sent ("Incorrect API key provided: sk-…"); the
        // client must never see one.
        let message = mask_keys(&message);
        let class = if class == ErrorClass::CallerFault && is_content_filter(err_obj) {
            ErrorClass::ContentFilter
        } else {
            class
        };
        let default_type = match class {
            ErrorClass::Credential => "authentication_error",
            ErrorClass::RateLimited => "rate_limit_error",
            ErrorClass::CallerFault | ErrorClass::ModelAccess => "invalid_request_error",
            _ => "api_error",
        };
        Self(Box::new(ErrorDetails {
            class,
            // 529 is Anthropic's "overloaded"; clients know 503. A redirect is a bad gateway.
            status: match status {
                529 => 503,
                300..=399 => 502,
                s => s,
            },
            message,
            error_type: field("type")
                .map(Cow::Owned)
                .unwrap_or(Cow::Borrowed(default_type)),
            code: field("code"),
            param: field("param"),
            is_bifrost_error: false,
            provider: Some(provider.to_owned()),
            model: None,
            retry_after,
            attempts: Vec::new(),
            headers: http::HeaderMap::new(),
        }))
    }

    pub fn with_model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// The OpenAI-style error body: `{"error":{"message","type","code","param"}, …}` plus the
    /// gateway fields.
    pub fn to_json(&self) -> Value {
        let mut extra = serde_json::Map::new();
        if let Some(p) = &self.provider {
            extra.insert("provider".into(), Value::String(p.clone()));
        }
        if let Some(m) = &self.model {
            extra.insert("model_requested".into(), Value::String(m.clone()));
        }
        if !self.attempts.is_empty() {
            extra.insert(
                "attempts".into(),
                serde_json::to_value(&self.attempts).unwrap_or(Value::Null),
            );
        }
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.error_type,
                "code": self.code,
                "param": self.param,
            },
            "is_bifrost_error": self.is_bifrost_error,
            "status_code": self.status,
            "extra_fields": extra,
        })
    }
}

/// Prefixes of provider key formats (OpenAI and most OpenAI-compatible ones, Anthropic, AWS
/// access keys, Google API keys, Groq, xAI, Hugging Face, Bifrost virtual keys).
const KEY_PREFIXES: &[&str] = &[
    "sk-", "sk_", "AKIA", "ASIA", "AIza", "gsk_", "xai-", "hf_", "pk-", "rk-",
];

/// `text` with every key-shaped token (a known key prefix followed by at least 12 more key
/// characters) replaced by its first 4 characters and `…`.
pub fn mask_keys(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| is_key_char(c)) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let len = from.find(|c: char| !is_key_char(c)).unwrap_or(from.len());
        let (token, after) = from.split_at(len);
        let keyish = KEY_PREFIXES
            .iter()
            .any(|p| token.starts_with(p) && token.len() >= p.len() + 12);
        if keyish {
            out.push_str(&token[..4]);
            out.push('…');
        } else {
            out.push_str(token);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Providers report refused content as a 400 with a recognisable code or type.
fn is_content_filter(err: Option<&Value>) -> bool {
    let Some(err) = err else { return false };
    ["code", "type"].iter().any(|f| {
        err.get(*f).and_then(Value::as_str).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("content_filter") || v.contains("content_policy") || v.contains("safety")
        })
    })
}

impl fmt::Display for BifrostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status,
            self.class.as_str(),
            self.message
        )
    }
}

impl std::error::Error for BifrostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_anthropic_and_text_error_bodies() {
        let e = BifrostError::upstream(
            "openai",
            400,
            br#"{"error":{"message":"bad temp","type":"invalid_request_error","code":"bad_param","param":"temperature"}}"#,
            None,
        );
        assert_eq!((e.status, e.class), (400, ErrorClass::CallerFault));
        assert_eq!(e.message, "bad temp");
        assert_eq!(e.code.as_deref(), Some("bad_param"));
        assert_eq!(e.param.as_deref(), Some("temperature"));

        let e = BifrostError::upstream(
            "anthropic",
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            None,
        );
        assert_eq!((e.status, e.class), (503, ErrorClass::Transient));
        assert_eq!(e.error_type, "overloaded_error");

        let e = BifrostError::upstream("x", 502, b"<html>bad gateway</html>", None);
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert!(e.class.is_retryable() && e.class.allows_fallback());
    }

    #[test]
    fn content_filter_refusals_may_fall_back() {
        let e = BifrostError::upstream(
            "azure",
            400,
            br#"{"error":{"message":"filtered","code":"content_filter"}}"#,
            None,
        );
        assert_eq!((e.status, e.class), (400, ErrorClass::ContentFilter));
        assert!(e.class.allows_fallback() && !e.class.is_retryable());
    }

    #[test]
    fn keys_quoted_by_providers_are_masked() {
        let e = BifrostError::upstream(
            "openai",
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnop1234. You can find your API key at https://platform.openai.com/account/api-keys."}}"#,
            None,
        );
        assert!(!e.message.contains("abcdefghijklmnop"), "{}", e.message);
        assert!(e.message.contains("sk-p…"), "{}", e.message);
        assert!(e
            .message
            .contains("https://platform.openai.com/account/api-keys"));
        let e = BifrostError::upstream(
            "x",
            403,
            b"bad key AKIAIOSFODNN7EXAMPLE or AIzaSyA1234567890abcdefgh",
            None,
        );
        assert_eq!(e.message, "bad key AKIA… or AIza…");
        // Words that only look like prefixes stay.
        assert_eq!(
            mask_keys("ask-me sk-short task_x"),
            "ask-me sk-short task_x"
        );
    }

    #[test]
    fn an_upstream_redirect_is_a_bad_gateway_without_retry() {
        let e = BifrostError::upstream("x", 302, b"", None);
        assert_eq!((e.status, e.class), (502, ErrorClass::BadUpstreamResponse));
        assert!(!e.class.is_retryable());
    }

    #[test]
    fn caller_faults_neither_retry_nor_fall_back() {
        let e = BifrostError::upstream("openai", 422, b"{}", None);
        assert!(!e.class.is_retryable());
        assert!(!e.class.allows_fallback());
    }
}
