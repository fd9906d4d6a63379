//! AWS Signature Version 4 for Bedrock requests, computed by `aws-sigv4`.
//!
//! The settings are the crate's defaults, which are the ones the AWS SDK uses for
//! `bedrock-runtime` (only S3 departs from them): the canonical URI is the path *as sent*,
//! percent-encoded once more (`%3A` → `%253A`), and normalized. So a request must be signed with
//! exactly the encoded path it is sent with, which [`model_path`] produces.

use crate::error::BifrostError;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use http::HeaderMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;
use std::time::SystemTime;

/// The SigV4 service name of the Bedrock runtime API.
pub const SERVICE: &str = "bedrock";

/// Headers the signature adds; stale copies are removed before signing again.
const SIGNING_HEADERS: [&str; 3] = ["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];

/// Characters left as they are in a path segment: RFC 3986 unreserved. Everything else (notably
/// `:` and `/` of model ids and ARNs) is escaped, as the AWS SDK escapes an `httpLabel`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Static AWS credentials; `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `/model/<model id, percent-encoded as one segment>/<action>`, e.g.
/// `/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse`.
pub fn model_path(model_id: &str, action: &str) -> String {
    format!("/model/{}/{action}", utf8_percent_encode(model_id, SEGMENT))
}

/// Signs a request in place: adds `authorization`, `x-amz-date` and, with temporary
/// credentials, `x-amz-security-token`. Every header already in `headers` is signed (except the
/// few the AWS SDKs never sign: `user-agent`, `authorization`, `x-amzn-trace-id`,
/// `transfer-encoding`), so nothing may change them afterwards; `host` is taken from `headers`
/// or else from `uri`'s authority, which then must match the `Host` the client sends (hyper
/// sends the authority without a default port, as the signer assumes). `uri` is the URI as it
/// is sent: its path already percent-encoded, see [`model_path`].
#[allow(clippy::too_many_arguments)] // The brief's signature: every argument is needed once.
pub fn sign(
    method: &str,
    uri: &http::Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), BifrostError> {
    headers.remove(AUTHORIZATION);
    for name in SIGNING_HEADERS {
        headers.remove(name);
    }
    // The signer would panic without a host to sign.
    if !headers.contains_key(HOST) && uri.host().is_none() {
        return Err(BifrostError::internal(format!(
            "SigV4 signing needs an absolute URI or a host header, got '{uri}'"
        )));
    }
    let mut pairs = Vec::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        let value = value.to_str().map_err(|_| {
            BifrostError::internal(format!(
                "header '{name}' is not visible ASCII and cannot be signed"
            ))
        })?;
        pairs.push((name.as_str(), value));
    }

    let identity: Identity = Credentials::new(
        creds.access_key.clone(),
        creds.secret_key.clone(),
        creds.session_token.clone(),
        None,
        "bifrost",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| BifrostError::internal(format!("SigV4 parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(
        method,
        uri.to_string(),
        pairs.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| BifrostError::internal(format!("SigV4 request: {e}")))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| BifrostError::internal(format!("SigV4 signing failed: {e}")))?
        .into_parts();

    for (name, value) in instructions.headers() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| BifrostError::internal(format!("SigV4 header name: {e}")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|e| BifrostError::internal(format!("SigV4 header value: {e}")))?;
        value.set_sensitive(name == AUTHORIZATION || name.as_str() == "x-amz-security-token");
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The access key pair of AWS's published SigV4 test suite.
    fn example_creds(session_token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: session_token.map(str::to_owned),
        }
    }

    /// 2015-08-30T12:36:00Z, the time of the AWS test suite.
    fn suite_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn model_ids_and_arns_are_one_encoded_segment() {
        assert_eq!(
            model_path("anthropic.claude-3-5-haiku-20241022-v1:0", "converse"),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(
            model_path(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
                "converse-stream"
            ),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse-stream"
        );
        assert_eq!(model_path("a b+c~d", "x"), "/model/a%20b%2Bc~d/x");
    }

    /// `get-vanilla` from the AWS SigV4 test suite: the published signature for a bare GET.
    #[test]
    fn known_answer_from_the_aws_test_suite() {
        let mut headers = HeaderMap::new();
        let uri: http::Uri = "https://example.amazonaws.com/".parse().unwrap();
        sign(
            "GET",
            &uri,
            &mut headers,
            b"",
            &example_creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(headers["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert!(headers["authorization"].is_sensitive());
    }

    /// A Bedrock request: the canonical URI double-encodes the already encoded model id, as the
    /// AWS SDK does for bedrock-runtime. Checked against a signature computed independently
    /// from the SigV4 specification.
    #[test]
    fn bedrock_paths_are_signed_as_sent_and_encoded_once_more() {
        let path = model_path("us.anthropic.claude-3-5-haiku-20241022-v1:0", "converse");
        let uri: http::Uri = format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}")
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        sign(
            "POST",
            &uri,
            &mut headers,
            body,
            &example_creds(Some("session-token")),
            "us-east-1",
            SERVICE,
            suite_time(),
        )
        .unwrap();
        let auth = headers["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ));
        // Computed with Python's hmac/hashlib from the canonical request
        //   POST
        //   /model/us.anthropic.claude-3-5-haiku-20241022-v1%253A0/converse
        //   (no query; headers content-type, host, x-amz-date, x-amz-security-token; body hash)
        assert_eq!(
            signature_of(auth),
            "e536f2c4a4be1878d5dce04bb738a0b0baa8f0740a55b770e760e17f77281615"
        );
        assert_eq!(headers["x-amz-security-token"], "session-token");
        assert!(headers["x-amz-security-token"].is_sensitive());
        // The canonical URI `/model/us.anthropic.claude-3-5-haiku-20241022-v1%253A0/converse`:
        // signing the singly encoded path instead must give another signature.
        let mut single = SigningSettings::default();
        single.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        assert_ne!(
            signature_with(&uri, &headers, body, single),
            signature_of(auth)
        );
        assert_eq!(
            signature_with(&uri, &headers, body, SigningSettings::default()),
            signature_of(auth)
        );
    }

    fn signature_of(auth: &str) -> String {
        auth.rsplit("Signature=").next().unwrap().to_owned()
    }

    /// Verifies as a server would: same headers minus the ones the signer adds.
    fn signature_with(
        uri: &http::Uri,
        signed: &HeaderMap,
        body: &[u8],
        settings: SigningSettings,
    ) -> String {
        let identity: Identity = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(SERVICE)
            .time(suite_time())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers = signed
            .iter()
            .filter(|(n, _)| !SIGNING_HEADERS.contains(&n.as_str()) && *n != AUTHORIZATION)
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()));
        let req = SignableRequest::new("POST", uri.to_string(), headers, SignableBody::Bytes(body))
            .unwrap();
        aws_sigv4::http_request::sign(req, &params)
            .unwrap()
            .signature()
            .to_owned()
    }

    #[test]
    fn re_signing_replaces_the_previous_signature() {
        let uri: http::Uri = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse"
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-security-token", HeaderValue::from_static("stale"));
        headers.insert("authorization", HeaderValue::from_static("Bearer client"));
        let creds = example_creds(None);
        sign(
            "POST",
            &uri,
            &mut headers,
            b"{}",
            &creds,
            "eu-west-1",
            SERVICE,
            suite_time(),
        )
        .unwrap();
        assert!(headers.get("x-amz-security-token").is_none());
        let auth = headers["authorization"].to_str().unwrap();
        assert!(auth.contains("/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date,"));
    }

    #[test]
    fn a_relative_uri_without_host_is_an_error_not_a_panic() {
        let uri: http::Uri = "/model/m/converse".parse().unwrap();
        let sign_post = |headers: &mut HeaderMap| {
            sign(
                "POST",
                &uri,
                headers,
                b"",
                &example_creds(None),
                "us-east-1",
                SERVICE,
                suite_time(),
            )
        };
        let mut headers = HeaderMap::new();
        let e = sign_post(&mut headers).unwrap_err();
        assert_eq!(e.status, 500);
        headers.insert(HOST, HeaderValue::from_static("localhost:9000"));
        sign_post(&mut headers).unwrap();
    }

    /// What `sign` produces passes the mock's verification (same crate, AWS's settings), and
    /// a body changed after signing does not.
    #[tokio::test]
    async fn the_mock_verifies_what_sign_produces() {
        use http_body_util::Full;
        let creds = example_creds(Some("FQoGZXIvYXdzE"));
        let server = bifrost_mock::MockServer::start(bifrost_mock::MockConfig {
            aws_credentials: Some((creds.access_key.clone(), creds.secret_key.clone())),
            ..bifrost_mock::MockConfig::default()
        })
        .await
        .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<bytes::Bytes>>();
        let path = model_path(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "converse",
        );
        let uri: http::Uri = format!("{}{path}", server.url()).parse().unwrap();
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        for (sent, status) in [(&body[..], 200), (&b"{\"messages\":[]}"[..], 403)] {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            sign(
                "POST",
                &uri,
                &mut headers,
                body,
                &creds,
                "us-east-1",
                SERVICE,
                SystemTime::now(),
            )
            .unwrap();
            let mut request = http::Request::post(uri.clone())
                .body(Full::new(bytes::Bytes::copy_from_slice(sent)))
                .unwrap();
            *request.headers_mut() = headers;
            let response = client.request(request).await.unwrap();
            assert_eq!(response.status(), status);
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = format!("{:?}", example_creds(Some("FQoGZXIvYXdzE")));
        assert!(s.contains("AKIDEXAMPLE") && !s.contains("wJalr") && !s.contains("FQoG"));
    }
}
