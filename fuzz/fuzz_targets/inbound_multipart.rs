//! `multipart/form-data` bodies of `/v1/audio/transcriptions`. The first line of the input is
//! the boundary, the rest the body.
#![no_main]
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (boundary, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"x"[..], data),
    };
    let mut ct = b"multipart/form-data; boundary=".to_vec();
    ct.extend_from_slice(boundary);
    let Ok(value) = HeaderValue::from_bytes(&ct) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, value);
    let body = bytes::Bytes::copy_from_slice(body);
    let _ = futures::executor::block_on(bifrost_http::fuzzing::multipart(&headers, body));
});
