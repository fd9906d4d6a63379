//! The prologue every inference request goes through: accounting, recording,
//! latency, authentication and failure injection.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;

use crate::config::{Fault, MockConfig};
use crate::errors::{bedrock_error, error_response, injected_failure, json_body, Flavor};
use crate::sigv4;
use crate::state::{Counters, MockState};

/// Token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Value of a non-empty `x-api-key` header.
pub(crate) fn x_api_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("x-api-key")?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// Value of a non-empty `x-goog-api-key` header.
pub(crate) fn x_goog_api_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("x-goog-api-key")?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// Value of a non-empty `key=` query parameter (Google's API-key-in-URL form). Keys are
/// URL-safe, so no percent-decoding is done.
pub(crate) fn key_query(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.strip_prefix("key="))
        .find(|v| !v.is_empty())
}

/// Runs the shared prologue and returns the config the request must be served
/// with, or the response that ends it (401/403, 400, injected failure).
async fn admit(
    state: &MockState,
    flavor: Flavor,
    uri: Uri,
    headers: HeaderMap,
    body: &Bytes,
) -> Result<Arc<MockConfig>, Response> {
    let sigv4 = flavor == Flavor::Bedrock && sigv4::is_sigv4(&headers);
    let key = match flavor {
        Flavor::OpenAi | Flavor::Cohere => bearer_token(&headers),
        // Anthropic also accepts bearer tokens (OAuth); x-api-key wins.
        Flavor::Anthropic => x_api_key(&headers).or_else(|| bearer_token(&headers)),
        // Gemini API: header, else `?key=`; Vertex AI: an OAuth bearer token.
        Flavor::Gemini => x_goog_api_key(&headers)
            .or_else(|| key_query(&uri))
            .or_else(|| bearer_token(&headers)),
        // SigV4 (keyed by access key id) or a Bedrock API key as a bearer token.
        Flavor::Bedrock if sigv4 => headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(sigv4::parse)
            .map(|auth| auth.access_key),
        Flavor::Bedrock => bearer_token(&headers),
    }
    .map(str::to_owned);
    let missing_version = flavor == Flavor::Anthropic && !headers.contains_key("anthropic-version");

    // One config snapshot per request, so a concurrent `set_config` never
    // mixes knobs within one response.
    let config = state.load_config();
    // Verified before the headers move into the recording; answered after the delay.
    let signature_check = sigv4
        .then(|| sigv4::verify(config.aws_credentials.as_ref(), &uri, &headers, body))
        .flatten();
    // Every inference route is a POST route.
    state.record(Method::POST, uri, headers, body.clone(), key.as_deref());

    let delay = config.response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    if let Some(response) = signature_check {
        return Err(response);
    }
    if config.require_auth && key.is_none() {
        let message = match flavor {
            Flavor::OpenAi | Flavor::Cohere => "mock: missing `Authorization: Bearer <key>` header",
            Flavor::Anthropic => "mock: missing `x-api-key` header",
            Flavor::Gemini => {
                "mock: missing `x-goog-api-key` header, `key` query parameter or bearer token"
            }
            // What AWS answers a request with neither a signature nor an API key.
            Flavor::Bedrock => {
                return Err(bedrock_error(
                    StatusCode::FORBIDDEN,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ))
            }
        };
        return Err(error_response(flavor, StatusCode::UNAUTHORIZED, message));
    }
    if missing_version {
        return Err(error_response(
            flavor,
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        ));
    }
    if let Some(fault) = config.fault(key.as_deref()) {
        Counters::incr(&state.counters().failures_injected);
        match fault {
            Fault::Status(status) => {
                return Err(injected_failure(flavor, status, config.retry_after))
            }
            Fault::Reset => return Err(reset()),
            Fault::Hang => tokio::time::sleep(config.hang).await,
        }
    }
    Ok(config)
}

/// A request as the handlers take it: the state and what [`admit`] reads (extracted as the
/// `State`, `Uri`, `HeaderMap` and `Bytes` extractors would).
pub(crate) struct Inbound {
    pub(crate) state: MockState,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl FromRequest<MockState> for Inbound {
    type Rejection = BytesRejection;

    async fn from_request(req: Request, state: &MockState) -> Result<Self, Self::Rejection> {
        let (uri, headers) = (req.uri().clone(), req.headers().clone());
        let body = Bytes::from_request(req, state).await?;
        Ok(Self {
            state: state.clone(),
            uri,
            headers,
            body,
        })
    }
}

/// What a handler serves an admitted request with: the state, the config and the request.
pub(crate) type Admitted<T> = (MockState, Arc<MockConfig>, T);

// The `Response` errors are returned at once by the handlers, never carried around.
#[allow(clippy::result_large_err)]
impl Inbound {
    /// Runs [`admit`]; the request is its raw body.
    pub(crate) async fn admit(self, flavor: Flavor) -> Result<Admitted<Bytes>, Response> {
        let config = admit(&self.state, flavor, self.uri, self.headers, &self.body).await?;
        Ok((self.state, config, self.body))
    }

    /// Runs [`admit`], then parses the body as `T` (a 400 in `flavor`'s shape if it is not).
    pub(crate) async fn admit_json<T: serde::de::DeserializeOwned>(
        self,
        flavor: Flavor,
    ) -> Result<Admitted<T>, Response> {
        let (state, config, body) = self.admit(flavor).await?;
        let request = json_body(flavor, &body)?;
        Ok((state, config, request))
    }
}

/// A body that fails before its first byte: hyper closes the connection before writing the
/// head, and the client sees the connection end without an answer (a crashed upstream).
fn reset() -> Response {
    let cut = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "mock: injected reset",
        ))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(cut))
        .unwrap_or_default()
}
