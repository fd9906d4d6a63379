//! Writing answers: JSON bodies, the gateway's response headers, and OpenAI-style SSE.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bifrost_core::{BifrostError, ResponseMeta};
use futures::StreamExt;

pub(super) fn json_response<T: serde::Serialize>(body: &T) -> Result<Response, BifrostError> {
    let json = serde_json::to_vec(body)
        .map_err(|e| BifrostError::internal(format!("serializing the response failed: {e}")))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response())
}

/// Who answered, and how many attempts it took.
static X_BF_PROVIDER: HeaderName = HeaderName::from_static("x-bf-provider");
static X_BF_MODEL: HeaderName = HeaderName::from_static("x-bf-model");
static X_BF_KEY_ID: HeaderName = HeaderName::from_static("x-bf-key-id");
static X_BF_FALLBACK_INDEX: HeaderName = HeaderName::from_static("x-bf-fallback-index");
static X_BF_RETRIES: HeaderName = HeaderName::from_static("x-bf-retries");

/// Who answered, and the headers plugins added (moved out of `meta`, not copied).
pub(super) fn add_meta(h: &mut HeaderMap, meta: &mut ResponseMeta) {
    // Room for the five `x-bf-*` below and the request id, `vary` and `content-length` that
    // join the map before it is written: the map is sized once and never grows (growing the
    // route's one-header map reallocated and rehashed it on every request).
    const LATER: usize = 8;
    let route = std::mem::take(h);
    let plugins = std::mem::take(&mut meta.headers);
    let need = route.len() + plugins.len() + LATER;
    if plugins.capacity() >= need {
        // The plugins' map (sized by them) becomes the response's; the route's few headers
        // (content type) move into it: each header is hashed once.
        *h = plugins;
        prepend(h, route);
    } else {
        *h = HeaderMap::with_capacity(need);
        append(h, route);
        append(h, plugins);
    }
    let mut put = |name: &HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name.clone(), v);
        }
    };
    put(&X_BF_PROVIDER, &meta.provider);
    put(&X_BF_MODEL, &meta.model);
    if let Some(k) = &meta.key_id {
        put(&X_BF_KEY_ID, k);
    }
    h.insert(X_BF_FALLBACK_INDEX.clone(), meta.fallback_index.into());
    // Retries of a target after a failure (what `bifrost_request_retries_total` counts);
    // moving on to a fallback is not a retry (`x-bf-fallback-index` says that).
    h.insert(X_BF_RETRIES.clone(), meta.retries.into());
}

/// Appends every value of `from` to `h` (a name comes with the first of its values only).
fn append(h: &mut HeaderMap, from: HeaderMap) {
    let mut last: Option<HeaderName> = None;
    for (name, value) in from {
        if let Some(name) = name {
            last = Some(name);
        }
        if let Some(name) = &last {
            h.append(name.clone(), value);
        }
    }
}

/// Puts `first`'s values in front of `h`'s values of the same names.
fn prepend(h: &mut HeaderMap, first: HeaderMap) {
    // A map yields each name once, with all of its values after it.
    let mut group: Option<(HeaderName, Vec<HeaderValue>)> = None;
    for (name, value) in first {
        match (name, &mut group) {
            (None, Some((_, values))) => values.push(value),
            (Some(name), _) => {
                if let Some((n, values)) = group.take() {
                    put_first(h, n, values);
                }
                group = Some((name, vec![value]));
            }
            (None, None) => {}
        }
    }
    if let Some((n, values)) = group {
        put_first(h, n, values);
    }
}

fn put_first(h: &mut HeaderMap, name: HeaderName, values: Vec<HeaderValue>) {
    use http::header::Entry;
    // Usually the plugins did not set this name: one lookup.
    let name = match h.entry(name) {
        Entry::Vacant(v) => {
            let mut values = values.into_iter();
            if let Some(first) = values.next() {
                let mut e = v.insert_entry(first);
                for rest in values {
                    e.append(rest);
                }
            }
            return;
        }
        Entry::Occupied(o) => o.key().clone(),
    };
    let later: Vec<HeaderValue> = h.get_all(&name).iter().cloned().collect();
    h.remove(&name);
    for v in values.into_iter().chain(later) {
        h.append(name.clone(), v);
    }
}

/// Each chunk is written as `data: <json>\n\n` the moment it arrives; a clean end adds
/// `data: [DONE]`, a failure one error event and no `[DONE]`.
pub(super) fn sse_response(stream: bifrost_core::ChatStream) -> Response {
    // State: (chunks, finished).
    let events = futures::stream::unfold((stream, false), |(mut stream, finished)| async move {
        if finished {
            return None;
        }
        let (bytes, finished) = match stream.next().await {
            Some(Ok(chunk)) => match serde_json::to_vec(&chunk) {
                Ok(json) => (frame(&json), false),
                Err(e) => (
                    error_frame(&BifrostError::internal(format!(
                        "serializing a chunk failed: {e}"
                    ))),
                    true,
                ),
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "stream failed after it started");
                (error_frame(&e), true)
            }
            None => (Bytes::from_static(b"data: [DONE]\n\n"), true),
        };
        Some((Ok::<_, std::convert::Infallible>(bytes), (stream, finished)))
    });
    super::sse::event_stream(Body::from_stream(events))
}

pub(super) fn frame(json: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(json.len() + 8);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(json);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

pub(super) fn error_frame(e: &BifrostError) -> Bytes {
    frame(e.to_json().to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(headers: &[(&'static str, &'static str)]) -> ResponseMeta {
        let mut m = ResponseMeta {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            key_id: None,
            fallback_index: 0,
            attempts: 1,
            retries: 0,
            queue_wait: Default::default(),
            upstream_time: Default::default(),
            backoff_time: Default::default(),
            headers: HeaderMap::new(),
        };
        for (n, v) in headers {
            m.headers.append(*n, HeaderValue::from_static(v));
        }
        m
    }

    fn values(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn plugin_headers_follow_the_routes_whichever_map_is_kept() {
        // More plugin headers than route headers (the plugins' map is kept), then fewer.
        for plugins in [
            &[("x-a", "p1"), ("x-b", "b"), ("x-a", "p2"), ("x-c", "c")][..],
            &[("x-a", "p1")][..],
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.append("x-a", HeaderValue::from_static("route1"));
            h.append("x-a", HeaderValue::from_static("route2"));
            let mut m = meta(plugins);
            add_meta(&mut h, &mut m);
            let mut want = vec!["route1".to_owned(), "route2".to_owned(), "p1".to_owned()];
            if plugins.len() > 1 {
                want.push("p2".to_owned());
                assert_eq!(values(&h, "x-b"), ["b"]);
                assert_eq!(values(&h, "x-c"), ["c"]);
            }
            assert_eq!(values(&h, "x-a"), want);
            assert_eq!(values(&h, "content-type"), ["application/json"]);
            assert_eq!(values(&h, "x-bf-provider"), ["openai"]);
            assert_eq!(values(&h, "x-bf-fallback-index"), ["0"]);
            assert!(m.headers.is_empty());
        }
    }
}
