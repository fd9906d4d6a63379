//! SigV4 verification for the Bedrock routes, the way AWS checks a request: parse the
//! `Authorization` header, rebuild the canonical request from exactly the signed headers, the
//! path as received and the body, sign it with `aws-sigv4` at the request's `x-amz-date` with
//! the known secret, and compare signatures. The signer settings are the ones the AWS SDK uses
//! for bedrock-runtime (the crate's defaults: the received, percent-encoded path is encoded once
//! more for the canonical URI), except that no header is excluded: the client's list of signed
//! headers is taken as it is.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use crate::errors::bedrock_error;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, PartialEq)]
pub(crate) struct Authorization<'a> {
    pub(crate) access_key: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) signed_headers: Vec<&'a str>,
    pub(crate) signature: &'a str,
}

/// Whether the request carries a SigV4 `Authorization` header (well-formed or not).
pub(crate) fn is_sigv4(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(ALGORITHM))
}

/// Parses a SigV4 `Authorization` value; `None` if any part is missing.
pub(crate) fn parse(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=')? {
            ("Credential", v) => credential = Some(v),
            ("SignedHeaders", v) => signed = Some(v),
            ("Signature", v) => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let auth = Authorization {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (scope.next()? == "aws4_request" && scope.next().is_none() && !auth.access_key.is_empty())
        .then_some(auth)
}

fn invalid_signature(message: &str) -> Response {
    bedrock_error(StatusCode::FORBIDDEN, "InvalidSignatureException", message)
}

/// Checks the request's SigV4 signature; `known` is `(access key id, secret)`, or `None` to
/// check only that the header is well formed. Returns the rejection, if any.
pub(crate) fn verify(
    known: Option<&(String, String)>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    check(known, uri, headers, body).err()
}

// `Result` for `?`-style early returns; the large error never travels further than `verify`.
#[allow(clippy::result_large_err)]
fn check(
    known: Option<&(String, String)>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Response> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(auth) = parse(value) else {
        return Err(bedrock_error(
            StatusCode::FORBIDDEN,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' \
             parameters, and a credential scope of the form <key>/<date>/<region>/<service>/aws4_request.",
        ));
    };
    let Some((known_access, secret)) = known else {
        return Ok(());
    };
    if auth.access_key != known_access {
        return Err(bedrock_error(
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if auth.service != "bedrock" {
        return Err(invalid_signature(
            "Credential should be scoped to correct service: 'bedrock'.",
        ));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(time) = parse_amz_date(amz_date) else {
        return Err(invalid_signature(
            "Missing or malformed X-Amz-Date header (expected YYYYMMDD'T'HHMMSS'Z').",
        ));
    };
    if !amz_date.starts_with(auth.date) {
        return Err(invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        ));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(invalid_signature("'Host' must be a signed header."));
    }

    // The signer adds x-amz-date (from `time`) and the session token (from the credentials).
    let mut pairs = Vec::new();
    let mut session_token = None;
    for name in &auth.signed_headers {
        let values = headers.get_all(*name);
        if values.iter().next().is_none() {
            return Err(invalid_signature(&format!(
                "Signed header '{name}' is missing from the request."
            )));
        }
        for v in values {
            let Ok(v) = v.to_str() else {
                return Err(invalid_signature(&format!(
                    "Signed header '{name}' is not ASCII."
                )));
            };
            match *name {
                "x-amz-date" => {}
                "x-amz-security-token" => session_token = Some(v.to_owned()),
                _ => pairs.push((*name, v)),
            }
        }
    }
    let expected = match signature(
        uri,
        pairs,
        body,
        (known_access, secret, session_token),
        auth.region,
        time,
    ) {
        Ok(s) => s,
        Err(message) => return Err(invalid_signature(&message)),
    };
    if expected != auth.signature {
        return Err(invalid_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ));
    }
    Ok(())
}

fn signature(
    uri: &Uri,
    headers: Vec<(&str, &str)>,
    body: &[u8],
    (access, secret, token): (&String, &String, Option<String>),
    region: &str,
    time: SystemTime,
) -> Result<String, String> {
    let identity: Identity =
        Credentials::new(access.clone(), secret.clone(), token, None, "bifrost-mock").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let request = SignableRequest::new(
        "POST",
        path.to_owned(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let output = sign(request, &params).map_err(|e| e.to_string())?;
    Ok(output.signature().to_owned())
}

/// `20150830T123600Z` → that instant.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authorization_header() {
        let auth = parse(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature=abc123",
        )
        .unwrap();
        assert_eq!(
            auth,
            Authorization {
                access_key: "AKID",
                date: "20150830",
                region: "us-east-1",
                service: "bedrock",
                signed_headers: vec!["content-type", "host", "x-amz-date"],
                signature: "abc123",
            }
        );
        assert!(
            parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock, Signature=x")
                .is_none()
        );
        assert!(parse("Bearer abc").is_none());
    }

    #[test]
    fn parses_amz_dates() {
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(
            parse_amz_date("19700101T000000Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(
            parse_amz_date("20240229T235959Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        for bad in [
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150830T123600",
            "",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
