//! The upstream HTTP call shared by every provider: timeouts, status handling, SSE framing.

use crate::config::NetworkConfig;
use crate::error::BifrostError;
use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A pooled HTTP/1.1 + HTTP/2 client (ALPN over TLS) — hyper's own, without reqwest's
/// per-request layers (URL re-parsing, redirects, proxy matching), which cost a fifth of the
/// gateway's CPU at saturation.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds one connection pool: `max_idle` idle keep-alive connections per host, TCP_NODELAY,
/// the connect timeout, TLS with the webpki roots, HTTP/2 by ALPN (or always, with
/// `enforce_http2`, for h2c upstreams).
pub fn http_client(net: &NetworkConfig, max_idle: usize) -> HttpClient {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(net.connect_timeout));
    tcp.enforce_http(false);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(max_idle);
    if net.enforce_http2 {
        b.http2_only(true);
    }
    b.build(tls)
}

const GATEWAY_USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("bifrost-rs/", env!("CARGO_PKG_VERSION")));

/// One provider's connection pool and network settings; each call names its URL.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    /// Several clients (hence connections) when the upstream may multiplex with HTTP/2, so no
    /// single connection hits the peer's concurrent-stream limit; picked round robin.
    clients: Arc<[HttpClient]>,
    next: Arc<AtomicUsize>,
    pub net: NetworkConfig,
    /// `network_config.extra_headers`, parsed once.
    extra_headers: HeaderMap,
}

/// Upstream SSE events; ends with an error if the stream stalls or breaks.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, BifrostError>> + Send + 'static>>;

/// Raw upstream body chunks (binary framings such as AWS event-stream), with the same
/// first-byte and idle deadlines as [`EventStream`].
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BifrostError>> + Send + 'static>>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `Host`, from the URI's authority (without a scheme's default port, as hyper-util writes it):
/// written here because hyper-util builds it with `format!` on every request.
fn host_header(url: &Uri) -> Option<HeaderValue> {
    let authority = url.authority()?;
    if authority.as_str().contains('@') {
        // User info is not part of `Host`; hyper-util handles that rare case.
        return None;
    }
    let default_port = match url.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    let host = match authority.port_u16() {
        Some(port) if Some(port) != default_port => authority.as_str(),
        _ => authority.host(),
    };
    HeaderValue::from_str(host).ok()
}

impl Upstream {
    pub fn new(name: &str, clients: Vec<HttpClient>, net: NetworkConfig) -> Self {
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
            clients: clients.into(),
            next: Arc::new(AtomicUsize::new(0)),
            net,
            extra_headers,
        }
    }

    /// Sends the POST; resolves with the response head. `headers` win over the defaults
    /// (a form POST sets its own content type).
    async fn send(
        &self,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, BifrostError> {
        self.send_with(Method::POST, url, headers, body).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, BifrostError> {
        let mut req = Request::new(Full::new(body.into()));
        *req.method_mut() = method;
        *req.uri_mut() = url.clone();
        let h = req.headers_mut();
        if let Some(host) = host_header(url) {
            h.insert(HOST, host);
        }
        h.insert(CONTENT_TYPE, JSON);
        h.insert(USER_AGENT, GATEWAY_USER_AGENT);
        for (k, v) in &self.extra_headers {
            h.insert(k, v.clone());
        }
        h.extend(headers);
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len().max(1);
        self.clients[i]
            .request(req)
            .await
            .map_err(|e| self.transport(&e))
    }

    /// A non-streaming call: the whole exchange (connect to last byte) within the request
    /// timeout. Returns the body of a 2xx answer.
    pub async fn post_json(
        &self,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<Bytes, BifrostError> {
        self.post(url, headers, body).await.map(|(_, b)| b)
    }

    /// The model ids the upstream lists at `url` (`GET`; an OpenAI-shaped list, `data[].id`,
    /// which Anthropic's is too).
    pub async fn model_ids(
        &self,
        url: String,
        headers: HeaderMap,
    ) -> Result<Vec<String>, BifrostError> {
        let url = super::parse_url(&self.name, &url)?;
        let (_, bytes) = self
            .exchange(Method::GET, &url, headers, Bytes::new())
            .await?;
        super::openai::model_ids(&self.name, &bytes)
    }

    /// [`Upstream::post_json`] that also returns the answer's content type (audio, say).
    pub async fn post(
        &self,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<(Option<HeaderValue>, Bytes), BifrostError> {
        self.exchange(Method::POST, url, headers, body.into()).await
    }

    /// One whole exchange, connect to last byte, within the request timeout: the content type
    /// and body of a 2xx answer.
    async fn exchange(
        &self,
        method: Method,
        url: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(Option<HeaderValue>, Bytes), BifrostError> {
        let timeout = self.net.request_timeout;
        let call = async {
            let head = self.send_with(method, url, headers, body).await?;
            let resp = self.check_status(head).await?;
            let content_type = resp.headers().get(CONTENT_TYPE).cloned();
            let body = resp.into_body().collect().await;
            let body = body.map_err(|e| self.body_error(&e))?;
            Ok((content_type, body.to_bytes()))
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
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<EventStream, BifrostError> {
        let resp = self.stream_head(url, headers, body).await?;
        let events = resp.into_body().into_data_stream().eventsource();
        Ok(self.with_deadlines(events, stream_broke))
    }

    /// A streaming call with a binary body: chunks as they arrive, under the same deadlines
    /// as [`Upstream::post_sse`].
    pub async fn post_stream(
        &self,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<ByteStream, BifrostError> {
        let resp = self.stream_head(url, headers, body).await?;
        let chunks = resp.into_body().into_data_stream();
        Ok(self.with_deadlines(chunks, stream_broke))
    }

    async fn stream_head(
        &self,
        url: &Uri,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, BifrostError> {
        let ttft = self.net.request_timeout;
        tokio::time::timeout(ttft, async {
            self.check_status(self.send(url, headers, body).await?)
                .await
        })
        .await
        .map_err(|_| BifrostError::timeout(&self.name, "ttft", ttft))?
    }

    /// The first item within the request timeout, later ones within the idle timeout; an
    /// error item ends the stream.
    fn with_deadlines<S, T, E>(
        &self,
        events: S,
        on_error: fn(&E, &str) -> BifrostError,
    ) -> Pin<Box<dyn Stream<Item = Result<T, BifrostError>> + Send + 'static>>
    where
        S: Stream<Item = Result<T, E>> + Send + Unpin + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let ttft = self.net.request_timeout;
        let name = self.name.clone();
        let idle = self.net.stream_idle_timeout;
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
                        Ok(Some(Err(e))) => Err(on_error(&e, &name)),
                    };
                    let failed = item.is_err();
                    Some((item, (events, false, failed)))
                }
            });
        Box::pin(stream)
    }

    async fn check_status(
        &self,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, BifrostError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(BifrostError::upstream(
            &self.name,
            status.as_u16(),
            &body,
            retry_after,
        ))
    }

    fn transport(&self, e: &hyper_util::client::legacy::Error) -> BifrostError {
        if e.is_connect() && has_timed_out(e) {
            BifrostError::timeout(&self.name, "connect", self.net.connect_timeout)
        } else {
            // The root cause ("Connection refused") is more useful than the wrapper text.
            BifrostError::connection(&self.name, root_cause(e))
        }
    }

    fn body_error(&self, e: &hyper::Error) -> BifrostError {
        BifrostError::stream_error(
            &self.name,
            format!(
                "reading the response of '{}' failed: {}",
                self.name,
                root_cause(e)
            ),
            "upstream_stream_error",
        )
    }
}

/// Whether an I/O timeout is somewhere in the error's chain (the connect timeout).
fn has_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Longest wait an upstream can ask for; beyond it the value means "not soon" (and the engine
/// falls back rather than waits), and it keeps `Instant + wait` from overflowing.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// `retry-after-ms`, then `Retry-After` in seconds (dates are ignored). The upstream is not
/// trusted: negative, NaN, infinite or absurd values are ignored or capped, never a panic.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str, scale: f64| -> Option<Duration> {
        let v = headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()?
            / scale;
        // `try_from_secs_f64` refuses NaN, negatives and overflow.
        (v >= 0.0)
            .then(|| Duration::try_from_secs_f64(v.min(RETRY_AFTER_CAP.as_secs_f64())).ok())?
    };
    secs("retry-after-ms", 1000.0).or_else(|| secs("retry-after", 1.0))
}

/// An upstream stream that failed mid-way (the connection broke, or its framing did).
fn stream_broke(e: &impl std::fmt::Display, name: &str) -> BifrostError {
    let msg = format!("upstream stream from '{name}' broke: {e}");
    BifrostError::stream_error(name, msg, "upstream_stream_error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_what_hyper_util_would_write() {
        let host =
            |u: &str| host_header(&u.parse().unwrap()).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            host("http://127.0.0.1:8080/v1").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host("https://api.openai.com/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(
            host("https://api.openai.com:443/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(
            host("http://example.com:443/").as_deref(),
            Some("example.com:443")
        );
        assert_eq!(host("http://[::1]:80/").as_deref(), Some("[::1]"));
        assert_eq!(host("http://u:p@example.com/"), None);
        assert_eq!(host("/relative"), None);
    }

    fn parse(name: &'static str, value: &'static str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        retry_after(&h)
    }

    #[test]
    fn hostile_retry_after_values_never_panic() {
        assert_eq!(parse("retry-after", "2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse("retry-after-ms", "1500"),
            Some(Duration::from_millis(1500))
        );
        for v in ["1e300", "99999999999999999999", "inf", "1e308"] {
            assert_eq!(parse("retry-after", v), Some(RETRY_AFTER_CAP), "{v}");
            assert_eq!(parse("retry-after-ms", v), Some(RETRY_AFTER_CAP), "{v}");
        }
        for v in ["-1", "NaN", "-inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse("retry-after", v), None, "{v}");
            assert_eq!(parse("retry-after-ms", v), None, "{v}");
        }
    }
}
