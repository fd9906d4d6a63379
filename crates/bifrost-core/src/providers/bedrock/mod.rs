//! AWS Bedrock Converse and ConverseStream: requests and responses are translated by the pure
//! functions of [`request`], [`response`] and [`stream`], to and from the types of
//! [`crate::wire::bedrock`]; requests are signed with SigV4 ([`sign`]) or carry a Bedrock API
//! key; streams arrive in AWS event-stream framing ([`eventstream`]) and are translated frame
//! by frame.

pub mod eventstream;
pub mod request;
pub mod response;
pub mod sign;
pub mod stream;

use super::http::{ByteStream, Upstream};
use super::pipeline::{
    self, Call, ChatCodec, Chunks, RawCodec, RawTargetFuture, Target, TargetFuture,
};
use super::{openai, parse_url, CallContext, ChunkStream, Provider};
use crate::config::{BedrockKeyConfig, CloudKeyConfig, RequestType};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, RawBody};
use crate::wire::bedrock::ConverseRequest;
use futures::Stream;
use http::header::HeaderMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

pub const DEFAULT_REGION: &str = "us-east-1";

pub struct Bedrock {
    upstream: Upstream,
    /// `network_config.base_url`; empty means `https://bedrock-runtime.{region}.amazonaws.com`.
    base: String,
}

impl Bedrock {
    pub fn new(upstream: Upstream, base: String) -> Self {
        Self { upstream, base }
    }

    fn key_config<'a>(cx: &CallContext<'a>) -> Option<&'a BedrockKeyConfig> {
        match &cx.key.cloud {
            Some(CloudKeyConfig::Bedrock(c)) => Some(c),
            _ => None,
        }
    }

    fn region<'a>(cx: &CallContext<'a>) -> String {
        Self::key_config(cx)
            .map(|c| c.region.clone())
            .filter(|r| !r.is_empty())
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned())
    }

    /// The URL and signed headers of one call.
    fn prepare(
        &self,
        cx: &CallContext<'_>,
        action: &str,
        body: &[u8],
    ) -> Result<Target, BifrostError> {
        let region = Self::region(cx);
        let base = if self.base.is_empty() {
            format!("https://bedrock-runtime.{region}.amazonaws.com")
        } else {
            self.base.clone()
        };
        let path = sign::model_path(cx.key.deployment(cx.model), action);
        let url = parse_url(&self.upstream.name, &format!("{base}{path}"))?;
        // A Bedrock API key is a bearer token; otherwise sign with the key's (or the
        // environment's) AWS credentials.
        let cfg = Self::key_config(cx);
        let api_key = cx.key.value.expose();
        let has_access_key = cfg.is_some_and(|c| !c.access_key.is_empty());
        if !api_key.is_empty() && !has_access_key {
            return Ok(Target::new(url, openai::bearer(api_key)));
        }
        let creds = match cfg.filter(|c| !c.access_key.is_empty()) {
            Some(c) => sign::AwsCredentials {
                access_key: c.access_key.clone(),
                secret_key: c.secret_key.expose().to_owned(),
                session_token: c.session_token.as_ref().map(|t| t.expose().to_owned()),
            },
            None => env_credentials().ok_or_else(|| {
                BifrostError::missing_key(format!(
                    "provider '{}' has no AWS credentials: set bedrock_key_config.access_key \
                     and secret_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a Bedrock \
                     API key as the key's value",
                    self.upstream.name
                ))
            })?,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        sign::sign(
            "POST",
            &url,
            &mut headers,
            body,
            &creds,
            &region,
            "bedrock",
            SystemTime::now(),
        )?;
        Ok(Target::new(url, headers))
    }
}

/// The standard AWS environment variables.
fn env_credentials() -> Option<sign::AwsCredentials> {
    let access_key = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
    let secret_key = std::env::var("AWS_SECRET_ACCESS_KEY").ok()?;
    if access_key.is_empty() || secret_key.is_empty() {
        return None;
    }
    Some(sign::AwsCredentials {
        access_key,
        secret_key,
        session_token: std::env::var("AWS_SESSION_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    })
}

type Frames = Pin<Box<dyn Stream<Item = Result<eventstream::Frame, BifrostError>> + Send>>;

/// Translates event-stream frames into chunks as each arrives; an exception frame becomes a
/// typed upstream error (before the first chunk, the engine still retries or falls back).
pub fn chunk_stream(name: &str, model: &str, frames: Frames) -> ChunkStream {
    let provider: Arc<str> = name.into();
    let state = stream::StreamState::new(name, model);
    super::translate_stream(
        name,
        frames,
        state,
        move |state, frame: eventstream::Frame| {
            if frame.message_type == "event" {
                state.on_event(frame.event_type.as_deref().unwrap_or(""), &frame.payload)
            } else {
                let kind = frame
                    .exception_type
                    .as_deref()
                    .or(frame.event_type.as_deref())
                    .unwrap_or("exception");
                Err(stream::exception_error(&provider, kind, &frame.payload))
            }
        },
    )
}

/// The URL is built with the signature, after the body.
impl ChatCodec for Bedrock {
    type Wire<'r> = ConverseRequest;
    type Address = ();
    type Framing = Chunks;

    fn request(c: Call<'_>) -> Result<ConverseRequest, BifrostError> {
        request::to_converse(c.req)
    }

    fn target<'r>(&'r self, c: Call<'r>, _: (), body: &[u8]) -> impl TargetFuture + use<'r> {
        let action = if c.stream {
            "converse-stream"
        } else {
            "converse"
        };
        std::future::ready(self.prepare(&c.cx, action, body))
    }

    fn response(&self, c: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        response::from_converse(&self.upstream.name, c.cx.model, bytes)
    }

    fn chunks(&self, c: Call<'_>, bytes: ByteStream) -> ChunkStream {
        let frames: Frames = Box::pin(eventstream::decode(bytes));
        chunk_stream(&self.upstream.name, c.cx.model, frames)
    }
}

/// `/bedrock/model/{id}/converse` and `…/converse-stream`: a Converse body forwarded as is,
/// re-signed; the answer (JSON, or event-stream bytes) relayed as it comes.
impl RawCodec for Bedrock {
    fn raw_target<'r>(
        &'r self,
        cx: CallContext<'r>,
        op: RequestType,
        raw: &'r RawBody,
    ) -> impl RawTargetFuture + use<'r> {
        let action = match op {
            RequestType::ChatCompletion => Some("converse"),
            RequestType::ChatCompletionStream => Some("converse-stream"),
            _ => None,
        };
        std::future::ready(match (action, raw) {
            (Some(action), RawBody::Native(bytes)) => self
                .prepare(&cx, action, bytes)
                .map(|target| (target, bytes.to_vec())),
            _ => Err(BifrostError::unsupported(&self.upstream.name, op.as_str())),
        })
    }
}

impl Provider for Bedrock {
    pipeline::translated_chat!();
    pipeline::forwarded_raw!();
}
