//! The Bedrock Converse routes over real HTTP: SigV4 verification, bearer API keys, the JSON
//! and event-stream replies, and the failure knobs.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::HeaderValue;
use bifrost_mock::{MockConfig, MockServer};
use bytes::Buf;
use common::{chunks, cut_after, start};
use serde_json::{json, Value};

const ACCESS: &str = "AKIDMOCKEXAMPLE";
const SECRET: &str = "mock/secret+KEY/EXAMPLE";
const MODEL_PATH: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0";

/// `config`, verifying SigV4 signatures against the test credentials.
fn verifying_with(config: MockConfig) -> MockConfig {
    MockConfig {
        aws_credentials: Some((ACCESS.into(), SECRET.into())),
        ..config
    }
}

fn verifying() -> MockConfig {
    verifying_with(MockConfig::default())
}

fn converse_body(text: &str, tools: bool) -> Vec<u8> {
    let mut body = json!({
        "messages": [{"role": "user", "content": [{"text": text}, {"cachePoint": {"type": "default"}}]}],
        "system": [{"text": "be brief"}],
        "inferenceConfig": {"maxTokens": 64}
    });
    if tools {
        body["toolConfig"] = json!({"tools": [
            {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}},
            {"cachePoint": {"type": "default"}}
        ]});
    }
    serde_json::to_vec(&body).unwrap()
}

/// Headers of a request signed as the AWS SDK signs bedrock-runtime calls.
fn sigv4_headers(
    url: &str,
    body: &[u8],
    access: &str,
    secret: &str,
    token: Option<&str>,
    service: &str,
) -> Vec<(String, String)> {
    let identity: Identity =
        Credentials::new(access, secret, token.map(str::to_owned), None, "test").into();
    let content_type = ("content-type", "application/json");
    let settings = SigningSettings::default();
    let mut headers = signature(url, body, &identity, service, settings, &[content_type]);
    headers.push(("content-type".into(), "application/json".into()));
    headers
}

/// The headers a SigV4 signature of `body` for `url` adds, `signed` being the request's
/// headers it covers.
fn signature(
    url: &str,
    body: &[u8],
    identity: &Identity,
    service: &str,
    settings: SigningSettings,
    signed: &[(&str, &str)],
) -> Vec<(String, String)> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        signed.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

async fn post(url: &str, headers: &[(String, String)], body: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// A SigV4-signed POST of `body` (sent as `sent`, to test tampering).
async fn signed(
    server: &MockServer,
    action: &str,
    body: &[u8],
    sent: Vec<u8>,
) -> reqwest::Response {
    let url = format!("{}{MODEL_PATH}/{action}", server.url());
    let headers = sigv4_headers(&url, body, ACCESS, SECRET, None, "bedrock");
    post(&url, &headers, sent).await
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap();
    (status, kind, body["message"].as_str().unwrap().to_owned())
}

/// The frames of the signed `converse-stream` reply to `body`.
async fn stream_frames(server: &MockServer, body: &[u8]) -> Vec<(String, String, Value)> {
    let response = signed(server, "converse-stream", body, body.to_vec()).await;
    frames(&response.bytes().await.unwrap())
}

/// The event or exception type of each frame.
fn kinds(frames: &[(String, String, Value)]) -> Vec<&str> {
    frames.iter().map(|(_, k, _)| k.as_str()).collect()
}

/// `(message type, event or exception type, payload)` of every frame of a body.
fn frames(mut body: &[u8]) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    while body.has_remaining() {
        let message = read_message_from(&mut body).unwrap();
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .map(|h| match h.value() {
                    HeaderValue::String(s) => s.as_str().to_owned(),
                    other => panic!("{name} is {other:?}"),
                })
        };
        let kind = header(":event-type")
            .or_else(|| header(":exception-type"))
            .unwrap();
        assert_eq!(header(":content-type").as_deref(), Some("application/json"));
        let payload = serde_json::from_slice(message.payload()).unwrap();
        out.push((header(":message-type").unwrap(), kind, payload));
    }
    out
}

#[tokio::test]
async fn a_correctly_signed_request_passes() {
    let server = start(verifying()).await;
    let body = converse_body("hello bedrock", false);
    let response = signed(&server, "converse", &body, body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        reply["output"]["message"],
        json!({"role": "assistant", "content": [{"text": "Mock reply to: hello bedrock"}]})
    );
    assert_eq!(reply["stopReason"], "end_turn");
    let usage = &reply["usage"];
    assert_eq!(
        usage["totalTokens"].as_u64(),
        Some(usage["inputTokens"].as_u64().unwrap() + usage["outputTokens"].as_u64().unwrap())
    );
    assert_eq!(server.stats().requests_by_key.get(ACCESS), Some(&1));
    let recorded = server.last_request().unwrap();
    assert_eq!(recorded.path, format!("{MODEL_PATH}/converse"));
}

#[tokio::test]
async fn temporary_credentials_sign_the_session_token() {
    let server = start(verifying()).await;
    let url = format!("{}{MODEL_PATH}/converse", server.url());
    let body = converse_body("hi", false);
    let headers = sigv4_headers(
        &url,
        &body,
        ACCESS,
        SECRET,
        Some("FQoGZXIvYXdzE"),
        "bedrock",
    );
    assert!(headers.iter().any(|(n, _)| n == "x-amz-security-token"));
    assert_eq!(post(&url, &headers, body).await.status(), 200);
}

#[tokio::test]
async fn a_tampered_body_fails_with_403() {
    let server = start(verifying()).await;
    let body = converse_body("hello bedrock", false);
    let tampered = converse_body("hello bedrocK", false);
    let (status, kind, message) =
        error_of(signed(&server, "converse", &body, tampered).await).await;
    assert_eq!((status, kind.as_str()), (403, "InvalidSignatureException"));
    assert!(
        message.starts_with("The request signature we calculated does not match"),
        "{message}"
    );
}

#[tokio::test]
async fn wrong_secret_unknown_key_and_wrong_service_fail() {
    let server = start(verifying()).await;
    let url = format!("{}{MODEL_PATH}/converse", server.url());
    let body = converse_body("hi", false);

    let headers = sigv4_headers(&url, &body, ACCESS, "not-the-secret", None, "bedrock");
    let (status, kind, _) = error_of(post(&url, &headers, body.clone()).await).await;
    assert_eq!((status, kind.as_str()), (403, "InvalidSignatureException"));

    let headers = sigv4_headers(&url, &body, "AKIDOTHER", SECRET, None, "bedrock");
    let (status, kind, _) = error_of(post(&url, &headers, body.clone()).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "UnrecognizedClientException")
    );

    let headers = sigv4_headers(&url, &body, ACCESS, SECRET, None, "execute-api");
    let (status, kind, message) = error_of(post(&url, &headers, body.clone()).await).await;
    assert_eq!((status, kind.as_str()), (403, "InvalidSignatureException"));
    assert!(message.contains("'bedrock'"), "{message}");

    // The singly encoded path (a signer that forgot Bedrock's double encoding) is refused.
    let identity: Identity = Credentials::new(ACCESS, SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    let headers = signature(&url, &body, &identity, "bedrock", settings, &[]);
    let (status, _, _) = error_of(post(&url, &headers, body).await).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn without_known_credentials_any_well_formed_signature_passes() {
    let server = start(MockConfig::default()).await;
    let url = format!("{}{MODEL_PATH}/converse", server.url());
    let body = converse_body("hi", false);
    let headers = sigv4_headers(&url, &body, "AKIDANY", "any-secret", None, "bedrock");
    assert_eq!(post(&url, &headers, body.clone()).await.status(), 200);
    assert_eq!(server.stats().requests_by_key.get("AKIDANY"), Some(&1));

    let malformed = vec![(
        "authorization".to_owned(),
        "AWS4-HMAC-SHA256 Credential=AKIDANY, Signature=00".to_owned(),
    )];
    let (status, kind, _) = error_of(post(&url, &malformed, body).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "IncompleteSignatureException")
    );
}

#[tokio::test]
async fn bearer_api_keys_and_missing_auth() {
    let server = start(verifying()).await;
    let url = format!("{}{MODEL_PATH}/converse", server.url());
    let body = converse_body("hi", false);
    let bearer = vec![(
        "authorization".to_owned(),
        "Bearer ABSKbedrockkey".to_owned(),
    )];
    assert_eq!(post(&url, &bearer, body.clone()).await.status(), 200);
    assert_eq!(
        server.stats().requests_by_key.get("ABSKbedrockkey"),
        Some(&1)
    );

    let (status, kind, message) = error_of(post(&url, &[], body.clone()).await).await;
    assert_eq!(
        (status, kind.as_str(), message.as_str()),
        (
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token"
        )
    );

    let open = start(MockConfig {
        require_auth: false,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}{MODEL_PATH}/converse", open.url());
    assert_eq!(post(&url, &[], body).await.status(), 200);
}

#[tokio::test]
async fn stream_sequence_is_event_stream_frames() {
    let server = start(verifying_with(chunks(3))).await;
    let body = converse_body("stream me", false);
    let response = signed(&server, "converse-stream", &body, body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let bytes = response.bytes().await.unwrap();
    let frames = frames(&bytes);
    assert_eq!(
        kinds(&frames),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(frames.iter().all(|(m, _, _)| m == "event"));
    let text: String = frames
        .iter()
        .filter_map(|(_, _, p)| p["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Mock reply to: stream me");
    assert_eq!(frames[5].2, json!({"stopReason": "end_turn"}));
    assert!(frames[6].2["usage"]["outputTokens"].as_u64().unwrap() > 0);
    assert_eq!(server.stats().streams_completed, 1);
}

#[tokio::test]
async fn tool_use_when_tools_are_offered_and_the_weather_is_asked() {
    let server = start(verifying()).await;
    let body = converse_body("What is the weather in Paris?", true);
    let reply: Value = signed(&server, "converse", &body, body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["stopReason"], "tool_use");
    assert_eq!(
        reply["output"]["message"]["content"][1],
        json!({"toolUse": {"toolUseId": "tooluse_mock_1", "name": "get_weather",
                           "input": {"location": "Paris"}}})
    );

    let frames = stream_frames(&server, &body).await;
    let start = frames
        .iter()
        .find(|(_, k, _)| k == "contentBlockStart")
        .unwrap();
    assert_eq!(
        start.2,
        json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_mock_1", "name": "get_weather"}}})
    );
    let input: String = frames
        .iter()
        .filter_map(|(_, _, p)| p["delta"]["toolUse"]["input"].as_str())
        .collect();
    assert_eq!(input, r#"{"location":"Paris"}"#);
    assert_eq!(frames[frames.len() - 2].2["stopReason"], "tool_use");
}

#[tokio::test]
async fn stream_fail_after_ends_with_an_exception_frame() {
    let server = start(verifying_with(cut_after(4, 2))).await;
    let frames = stream_frames(&server, &converse_body("break me", false)).await;
    assert_eq!(
        kinds(&frames),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "modelStreamErrorException"
        ]
    );
    let (message_type, _, payload) = frames.last().unwrap();
    assert_eq!(message_type, "exception");
    assert_eq!(payload["message"], "mock: injected stream failure");
    assert_eq!(server.stats().failures_injected, 1);
}

#[tokio::test]
async fn injected_failures_and_validation_use_the_bedrock_error_shape() {
    let server = start(verifying_with(MockConfig {
        fail_rate: 1.0,
        fail_status: 429,
        retry_after: Some(Duration::from_secs(2)),
        ..MockConfig::default()
    }))
    .await;
    let body = converse_body("hi", false);
    let response = signed(&server, "converse", &body, body.clone()).await;
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, kind, _) = error_of(response).await;
    assert_eq!((status, kind.as_str()), (429, "ThrottlingException"));

    let server = start(verifying()).await;
    let bad = serde_json::to_vec(&json!({"messages": [
        {"role": "user", "content": [{"text": "a"}]},
        {"role": "user", "content": [{"text": "b"}]}
    ]}))
    .unwrap();
    let (status, kind, message) =
        error_of(signed(&server, "converse", &bad, bad.clone()).await).await;
    assert_eq!((status, kind.as_str()), (400, "ValidationException"));
    assert!(message.contains("alternate"), "{message}");

    let string_content =
        serde_json::to_vec(&json!({"messages": [{"role": "user", "content": "a"}]})).unwrap();
    let response = signed(&server, "converse", &string_content, string_content.clone()).await;
    assert_eq!(response.status(), 400);
}
