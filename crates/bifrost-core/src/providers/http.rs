//! The upstream HTTP call shared by every provider: timeouts, status handling, SSE framing.

use crate::config::NetworkConfig;
use crate::error::BifrostError;
use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One provider's endpoint and connection pool.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    /// Parsed once: parsing a URL string per request was a tenth of the gateway's CPU.
    pub url: reqwest::Url,
    /// Several clients (hence connections) when the upstream may multiplex with HTTP/2, so no
    /// single connection hits the peer's concurrent-stream limit; picked round robin.
    clients: Arc<[reqwest::Client]>,
    next: Arc<AtomicUsize>,
    pub net: NetworkConfig,
    /// `network_config.extra_headers`, parsed once.
    extra_headers: HeaderMap,
}

/// Upstream SSE events; ends with an error if the stream stalls or breaks.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, BifrostError>> + Send + 'static>>;

impl Upstream {
    pub fn new(
        name: &str,
        url: reqwest::Url,
        clients: Vec<reqwest::Client>,
        net: NetworkConfig,
    ) -> Self {
        let mut extra_headers = HeaderMap::new();
        for (k, v) in &net.extra_headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                extra_headers.insert(k, v);
            }
        }
        Self {
            name: name.to_owned(),
            url,
            clients: clients.into(),
            next: Arc::new(AtomicUsize::new(0)),
            net,
            extra_headers,
        }
    }

    fn request(&self, headers: HeaderMap, body: Vec<u8>) -> reqwest::RequestBuilder {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len().max(1);
        self.clients[i]
            .post(self.url.clone())
            .headers(self.extra_headers.clone())
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
    }

    /// A non-streaming call: the whole exchange (connect to last byte) within the request
    /// timeout. Returns the body of a 2xx answer.
    pub async fn post_json(
        &self,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Bytes, BifrostError> {
        let timeout = self.net.request_timeout;
        let call = async {
            let resp = self
                .request(headers, body)
                .send()
                .await
                .map_err(|e| self.transport(e))?;
            let resp = self.check_status(resp).await?;
            resp.bytes().await.map_err(|e| self.transport(e))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| BifrostError::timeout(&self.name, "total", timeout))?
    }

    /// A streaming call: resolves when 2xx headers arrive (within the request timeout); the
    /// first event must then come within the request timeout too, later ones within the idle
    /// timeout.
    pub async fn post_sse(
        &self,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<EventStream, BifrostError> {
        let ttft = self.net.request_timeout;
        let resp = tokio::time::timeout(ttft, async {
            let resp = self
                .request(headers, body)
                .send()
                .await
                .map_err(|e| self.transport(e))?;
            self.check_status(resp).await
        })
        .await
        .map_err(|_| BifrostError::timeout(&self.name, "ttft", ttft))??;

        let name = self.name.clone();
        let idle = self.net.stream_idle_timeout;
        let events = resp.bytes_stream().eventsource();
        // State: (events, first event pending, stream finished).
        let stream =
            futures::stream::unfold((events, true, false), move |(mut events, first, done)| {
                let name = name.clone();
                async move {
                    if done {
                        return None;
                    }
                    let (limit, which) = if first {
                        (ttft, "ttft")
                    } else {
                        (idle, "idle")
                    };
                    let item = match tokio::time::timeout(limit, events.next()).await {
                        Err(_) => Err(BifrostError::timeout(&name, which, limit)),
                        Ok(None) => return None,
                        Ok(Some(Ok(ev))) => Ok(ev),
                        Ok(Some(Err(e))) => Err(BifrostError::stream_error(
                            &name,
                            format!("upstream stream from '{name}' broke: {e}"),
                            "upstream_stream_error",
                        )),
                    };
                    let failed = item.is_err();
                    Some((item, (events, false, failed)))
                }
            });
        Ok(Box::pin(stream))
    }

    async fn check_status(
        &self,
        resp: reqwest::Response,
    ) -> Result<reqwest::Response, BifrostError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let body = resp.bytes().await.unwrap_or_default();
        Err(BifrostError::upstream(
            &self.name,
            status.as_u16(),
            &body,
            retry_after,
        ))
    }

    fn transport(&self, e: reqwest::Error) -> BifrostError {
        if e.is_timeout() && e.is_connect() {
            BifrostError::timeout(&self.name, "connect", self.net.connect_timeout)
        } else if e.is_timeout() {
            BifrostError::timeout(&self.name, "total", self.net.request_timeout)
        } else if e.is_connect() {
            // The root cause ("Connection refused") is more useful than reqwest's wrapper text.
            BifrostError::connection(&self.name, root_cause(&e))
        } else if e.is_decode() || e.is_body() {
            BifrostError::stream_error(
                &self.name,
                format!(
                    "reading the response of '{}' failed: {}",
                    self.name,
                    root_cause(&e)
                ),
                "upstream_stream_error",
            )
        } else {
            BifrostError::connection(&self.name, root_cause(&e))
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `retry-after-ms`, then `Retry-After` in seconds (dates are ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let num = |name: &str| -> Option<f64> {
        headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()
    };
    if let Some(ms) = num("retry-after-ms").filter(|v| *v >= 0.0) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    num("retry-after")
        .filter(|v| *v >= 0.0)
        .map(Duration::from_secs_f64)
}
