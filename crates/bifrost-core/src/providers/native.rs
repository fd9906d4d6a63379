//! Same-format passthrough: when the client and the upstream speak the same API, the client's
//! body goes upstream with only the gateway's edits (the model, its own routing fields, the
//! usage request of a stream) and the answer comes back as the upstream sent it. Nothing the
//! gateway does not understand is lost: thinking signatures, `redacted_thinking` and `document`
//! blocks, server tools, beta headers, fields added after this was written, key order.
//!
//! The gateway still reads what it acts on while the bytes pass by: usage (for accounting) and
//! errors (for retries and fallbacks). A stream is held back only until its first content event,
//! so that an upstream error before it is an error of the attempt — retried or fallen back
//! from — rather than bytes already sent to the client.

use super::gemini::response::embedded_error;
use super::http::{ByteStream, EventStream, Upstream};
use super::CallContext;
use crate::error::BifrostError;
use crate::observe::Stage;
use crate::schemas::Usage;
use crate::wire::anthropic::Usage as AnthropicUsage;
use crate::wire::gemini::UsageMetadata;
use crate::wire::responses::Usage as ResponsesUsage;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{HeaderMap, HeaderName};
use http::Uri;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

mod edit;
pub use edit::{edit_object, json_string, model_body, openai_chat_body, FieldEdit};

mod usage;
pub use usage::{anthropic_usage, gemini_usage, openai_chat_usage, responses_usage};

mod stream;
pub use stream::{frame, relay_sse, Relay, Seen};

mod relays;
pub use relays::{AnthropicRelay, GeminiRelay, OpenAiChatRelay, OpenAiResponsesRelay};

/// A client API a drop-in route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireApi {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
}

impl WireApi {
    pub fn as_str(self) -> &'static str {
        match self {
            WireApi::OpenAiChat => "openai_chat",
            WireApi::OpenAiResponses => "openai_responses",
            WireApi::Anthropic => "anthropic_messages",
            WireApi::Gemini => "gemini_generate_content",
        }
    }
}

/// The operation named in the error of a provider that cannot forward `api`.
pub(crate) fn operation(api: WireApi) -> &'static str {
    match api {
        WireApi::OpenAiChat => "native openai_chat",
        WireApi::OpenAiResponses => "native openai_responses",
        WireApi::Anthropic => "native anthropic_messages",
        WireApi::Gemini => "native gemini_generate_content",
    }
}

/// Errs (unsupported) unless `req` is in `api`, the one API `provider` forwards.
pub(crate) fn expect_api(
    provider: &str,
    req: &NativeRequest,
    api: WireApi,
) -> Result<(), BifrostError> {
    if req.api == api {
        Ok(())
    } else {
        Err(BifrostError::unsupported(provider, operation(req.api)))
    }
}

/// A request exactly as the client sent it, in one API's wire format.
#[derive(Debug, Clone)]
pub struct NativeRequest {
    pub api: WireApi,
    /// The client's body, untouched (for Gemini the model is in the URL, not the body).
    pub body: Bytes,
    /// Client headers the upstream understands: `anthropic-beta`, `anthropic-version`,
    /// `openai-beta` (only these; never auth headers). Others are ignored if present.
    pub headers: HeaderMap,
    pub stream: bool,
    /// Whether the client asked for the usage chunk of an OpenAI chat stream
    /// (`stream_options.include_usage`); the gateway always asks upstream and drops that chunk
    /// if not.
    pub client_wants_usage: bool,
}

pub enum NativeResponse {
    /// A JSON answer, bytes as the upstream sent them, and the usage read from it.
    Json {
        body: Bytes,
        content_type: String,
        usage: Option<Usage>,
    },
    /// A stream relayed as it arrives, with usage reported when seen.
    Stream(NativeStream),
}

pub struct NativeStream {
    pub content_type: &'static str,
    /// Server-sent events, one event per item, re-framed (`event:`/`id:`/`data:` lines) but
    /// with the data as the upstream sent it. An error item (broken connection, idle timeout,
    /// truncation) is the last.
    pub bytes: ByteStream,
    /// Filled in by the relay as usage events pass by.
    pub usage: UsageCell,
}

/// The usage of a relayed stream, written by the relay as usage events pass by and read by
/// whoever accounts for the request once the stream ended (or was abandoned). A clone shares
/// the cell. The lock is held only to copy a value in or out, never across an `.await`.
#[derive(Debug, Clone, Default)]
pub struct UsageCell(Arc<Mutex<Option<Usage>>>);

impl UsageCell {
    /// The latest usage seen; `None` if the upstream has not reported any (yet).
    pub fn get(&self) -> Option<Usage> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, usage: Usage) {
        // The guarded value is replaced whole, so a panicked holder cannot leave it torn.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
    }
}

pub const SSE_CONTENT_TYPE: &str = "text/event-stream";

/// The gateway's own routing fields, which no upstream knows.
pub const GATEWAY_FIELDS: &[&str] = &["provider", "fallbacks"];

/// Copies the client's `allowed` headers (every value of each) onto `headers`, replacing what
/// the gateway set under the same name.
pub(crate) fn copy_client_headers(
    headers: &mut HeaderMap,
    client: &HeaderMap,
    allowed: &[HeaderName],
) {
    for name in allowed {
        let mut values = client.get_all(name).iter().peekable();
        if values.peek().is_none() {
            continue;
        }
        headers.remove(name);
        for v in values {
            headers.append(name.clone(), v.clone());
        }
    }
}

/// Sends an edited body and relays the answer: a stream through `relay` when given, else the
/// JSON answer with the usage `json_usage` reads from it. Records the upstream time (to the
/// first content event of a stream) as the `Http` stage.
pub(crate) async fn forward<R: Relay>(
    upstream: &Upstream,
    cx: &CallContext<'_>,
    url: &Uri,
    headers: HeaderMap,
    body: impl Into<Bytes>,
    relay: Option<R>,
    json_usage: fn(&[u8]) -> Option<Usage>,
) -> Result<NativeResponse, BifrostError> {
    let t = Instant::now();
    let out = match relay {
        Some(relay) => {
            let events = upstream.post_sse(url, headers, body).await?;
            relay_sse(&upstream.name, events, relay, UsageCell::default())
                .await
                .map(NativeResponse::Stream)
        }
        None => upstream
            .post(url, headers, body)
            .await
            .map(|(content_type, body)| NativeResponse::Json {
                content_type: content_type
                    .and_then(|v| v.to_str().ok().map(str::to_owned))
                    .unwrap_or_else(|| "application/json".to_owned()),
                usage: json_usage(&body),
                body,
            }),
    };
    cx.clock.record(Stage::Http, t.elapsed());
    out
}

/// Runs a body edit, recording it as the `Marshaling` stage.
pub(crate) fn timed<T>(cx: &CallContext<'_>, edit: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = edit();
    cx.clock.record(Stage::Marshaling, t.elapsed());
    out
}

#[cfg(test)]
mod tests;
