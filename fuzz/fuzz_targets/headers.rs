//! Header values a client or an upstream controls: `Retry-After` / `retry-after-ms` from an
//! upstream, `x-bf-*` routing headers from a client. Input: `name: value` lines.
#![no_main]
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let _ = bifrost_core::providers::retry_after(&headers);
    let _ = bifrost_http::fuzzing::routing_headers(&headers);
});
