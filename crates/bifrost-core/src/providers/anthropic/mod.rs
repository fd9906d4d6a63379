//! Anthropic Messages API (`/v1/messages`): requests and responses are translated to and from
//! OpenAI's shape by the pure functions of [`request`], [`response`] and [`stream`], over the
//! types of [`crate::wire::anthropic`].

// `BifrostError` is the engine-wide error every provider returns (the `Provider` trait fixes
// it); boxing it only inside this module would change nothing for callers.

pub mod request;
pub mod response;
pub mod stream;

use super::http::{EventStream, Upstream};
use super::native::{self, AnthropicRelay, NativeRequest, NativeResponse, WireApi};
use super::pipeline::{self, serialize, Call, ChatCodec, Sse, Target, TargetFuture};
use super::{CallContext, ChunkStream, Provider};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, ChatRequest};
use crate::wire::anthropic::MessagesRequest;
use futures::future::BoxFuture;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The API version this translation is written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    upstream: Upstream,
    url: http::Uri,
}

impl Anthropic {
    pub fn new(upstream: Upstream, url: http::Uri) -> Self {
        Self { upstream, url }
    }
}

/// Serializes the upstream body.
pub fn wire_body(model: &str, req: &ChatRequest, stream: bool) -> Result<Vec<u8>, BifrostError> {
    serialize(&request::messages_request(req, model, stream)?)
}

/// The client headers a forwarded request keeps: its API version and beta opt-ins.
static CLIENT_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("anthropic-version"),
    HeaderName::from_static("anthropic-beta"),
];

/// The headers of a forwarded request: the gateway's credentials, and the client's API
/// version (else ours) and beta opt-ins.
pub(crate) fn native_headers(cx: &CallContext<'_>, client: &HeaderMap) -> HeaderMap {
    let mut h = headers(cx);
    native::copy_client_headers(&mut h, client, &CLIENT_HEADERS);
    h
}

pub(crate) fn headers(cx: &CallContext<'_>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(ANTHROPIC_VERSION),
    );
    super::auth::insert_key(&mut h, "x-api-key", cx.key.value.expose());
    h
}

/// Translates upstream events into chunks as they arrive; `message_stop` ends the stream.
pub fn chunk_stream(name: &str, events: EventStream) -> ChunkStream {
    let state = stream::StreamState::default().with_provider(name);
    super::translate_stream(name, events, state, |s, ev: eventsource_stream::Event| {
        s.on_event(&ev.event, &ev.data)
    })
}

impl ChatCodec for Anthropic {
    type Wire<'r> = MessagesRequest<'r>;
    type Address = ();
    type Framing = Sse;

    fn request(c: Call<'_>) -> Result<MessagesRequest<'_>, BifrostError> {
        request::messages_request(c.req, c.cx.model, c.stream)
    }

    fn target<'r>(&'r self, c: Call<'r>, _: (), _: &[u8]) -> impl TargetFuture + use<'r> {
        Target::new(self.url.clone(), headers(&c.cx)).ready()
    }

    fn response(&self, _: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        response::from_anthropic(&self.upstream.name, bytes)
    }

    fn chunks(&self, _: Call<'_>, events: EventStream) -> ChunkStream {
        chunk_stream(&self.upstream.name, events)
    }
}

impl Provider for Anthropic {
    pipeline::translated_chat!();

    fn list_models<'a>(
        &'a self,
        cx: CallContext<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, BifrostError>> {
        let url = self.url.to_string().replace("/messages", "/models");
        Box::pin(self.upstream.model_ids(url, headers(&cx)))
    }

    fn native_api(&self, _model: &str) -> Option<WireApi> {
        Some(WireApi::Anthropic)
    }

    fn passthrough<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a NativeRequest,
    ) -> BoxFuture<'a, Result<NativeResponse, BifrostError>> {
        Box::pin(async move {
            native::expect_api(&self.upstream.name, req, WireApi::Anthropic)?;
            let body = native::timed(&cx, || native::model_body(&req.body, cx.model))?;
            let relay = req.stream.then(|| AnthropicRelay::new(&self.upstream.name));
            native::forward(
                &self.upstream,
                &cx,
                &self.url,
                native_headers(&cx, &req.headers),
                body,
                relay,
                native::anthropic_usage,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Key;
    use crate::error::ErrorClass;
    use crate::schemas::ChatCompletionChunk;
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    use serde_json::{json, Value};

    /// Events as `Upstream::post_sse` yields them, parsed by the same SSE parser.
    fn event_stream(sse: &str) -> EventStream {
        let bytes = futures::stream::iter(
            sse.as_bytes()
                .chunks(37) // arbitrary network-ish fragmentation
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        Box::pin(bytes.eventsource().map(|ev| {
            ev.map_err(|e| {
                BifrostError::stream_error("anthropic", e.to_string(), "upstream_stream_error")
            })
        }))
    }

    async fn collect(sse: &str) -> Vec<Result<ChatCompletionChunk, BifrostError>> {
        chunk_stream("anthropic", event_stream(sse)).collect().await
    }

    #[tokio::test]
    async fn streams_the_same_chunks_as_the_state_machine() {
        let sse = stream::tests::TEXT_AND_TOOLS;
        let mut expected = Vec::new();
        let mut state = stream::StreamState::new(0);
        for block in sse.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let (event, data) = block.split_once('\n').unwrap();
            let event = event.strip_prefix("event: ").unwrap();
            let data = data.strip_prefix("data: ").unwrap();
            expected.extend(state.on_event(event, data).unwrap());
        }

        let got: Vec<ChatCompletionChunk> = collect(sse)
            .await
            .into_iter()
            .map(|c| {
                let mut c = c.unwrap();
                c.created = 0;
                c
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 12);
    }

    #[tokio::test]
    async fn nothing_after_message_stop_is_read() {
        let sse = format!(
            "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":\"late\"}}}}\n\n",
            stream::tests::TEXT_AND_TOOLS
        );
        let items = collect(&sse).await;
        assert!(items.iter().all(Result::is_ok));
        assert!(items.last().unwrap().as_ref().unwrap().choices.is_empty());
    }

    #[tokio::test]
    async fn a_stream_without_message_stop_is_truncated() {
        let cut = stream::tests::TEXT_AND_TOOLS
            .split("event: message_delta")
            .next()
            .unwrap();
        let items = collect(cut).await;
        let (last, rest) = items.split_last().unwrap();
        assert!(rest.iter().all(Result::is_ok));
        let e = last.as_ref().unwrap_err();
        assert_eq!(e.class, ErrorClass::StreamError);
        assert_eq!(e.code.as_deref(), Some("upstream_stream_truncated"));
        assert!(
            e.message.contains("ended without message_stop"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn an_error_event_ends_the_stream_with_an_error() {
        let sse = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: error\n",
            "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            "event: content_block_start\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"never\"}}\n\n",
        );
        let items = collect(sse).await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        let e = items[1].as_ref().unwrap_err();
        assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
        assert_eq!(e.error_type, "overloaded_error");
    }

    #[test]
    fn headers_carry_version_and_a_sensitive_key_only_when_set() {
        let key = Key::new("sk-ant-test");
        let clock = crate::observe::StageClock::default();
        let h = headers(&CallContext {
            model: "claude",
            key: &key,
            clock: &clock,
        });
        assert_eq!(h["anthropic-version"], "2023-06-01");
        assert_eq!(h["x-api-key"], "sk-ant-test");
        assert!(h["x-api-key"].is_sensitive());

        let empty = Key::new("");
        let h = headers(&CallContext {
            model: "claude",
            key: &empty,
            clock: &clock,
        });
        assert!(h.get("x-api-key").is_none());
        assert!(h.get("authorization").is_none());
    }

    #[test]
    fn wire_body_is_the_translated_request() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "anthropic/claude-3-5-haiku", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 10
        }))
        .unwrap();
        let body: Value =
            serde_json::from_slice(&wire_body("claude-3-5-haiku-20241022", &req, true).unwrap())
                .unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-haiku-20241022",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 10,
                "stream": true
            })
        );
    }
}
