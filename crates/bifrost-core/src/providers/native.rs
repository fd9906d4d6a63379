//! Same-format passthrough: when the client and the upstream speak the same API, the client's
//! body goes upstream with only the gateway's edits (the model, its own routing fields, the
//! usage request of a stream) and the answer comes back as the upstream sent it. Nothing the
//! gateway does not understand is lost: thinking signatures, `redacted_thinking` and `document`
//! blocks, server tools, beta headers, fields added after this was written, key order.
//!
//! The gateway still reads what it acts on while the bytes pass by: usage (for accounting) and
//! errors (for retries and fallbacks). A stream is held back only until its first content event,
//! so that an upstream error before it is an error of the attempt — retried or fallen back
//! from — rather than bytes already sent to the client.

use super::anthropic::response::AnthropicUsage;
use super::gemini::response::{embedded_error, GeminiUsage};
use super::http::{ByteStream, EventStream, Upstream};
use super::CallContext;
use crate::error::BifrostError;
use crate::observe::Stage;
use crate::schemas::Usage;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{HeaderMap, HeaderName};
use http::Uri;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// A client API a drop-in route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireApi {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Gemini,
}

impl WireApi {
    pub fn as_str(self) -> &'static str {
        match self {
            WireApi::OpenAiChat => "openai_chat",
            WireApi::OpenAiResponses => "openai_responses",
            WireApi::Anthropic => "anthropic_messages",
            WireApi::Gemini => "gemini_generate_content",
        }
    }
}

/// The operation named in the error of a provider that cannot forward `api`.
pub(crate) fn operation(api: WireApi) -> &'static str {
    match api {
        WireApi::OpenAiChat => "native openai_chat",
        WireApi::OpenAiResponses => "native openai_responses",
        WireApi::Anthropic => "native anthropic_messages",
        WireApi::Gemini => "native gemini_generate_content",
    }
}

/// A request exactly as the client sent it, in one API's wire format.
#[derive(Debug, Clone)]
pub struct NativeRequest {
    pub api: WireApi,
    /// The client's body, untouched (for Gemini the model is in the URL, not the body).
    pub body: Bytes,
    /// Client headers the upstream understands: `anthropic-beta`, `anthropic-version`,
    /// `openai-beta` (only these; never auth headers). Others are ignored if present.
    pub headers: HeaderMap,
    pub stream: bool,
    /// Whether the client asked for the usage chunk of an OpenAI chat stream
    /// (`stream_options.include_usage`); the gateway always asks upstream and drops that chunk
    /// if not.
    pub client_wants_usage: bool,
}

pub enum NativeResponse {
    /// A JSON answer, bytes as the upstream sent them, and the usage read from it.
    Json {
        body: Bytes,
        content_type: String,
        usage: Option<Usage>,
    },
    /// A stream relayed as it arrives, with usage reported when seen.
    Stream(NativeStream),
}

pub struct NativeStream {
    pub content_type: &'static str,
    /// Server-sent events, one event per item, re-framed (`event:`/`id:`/`data:` lines) but
    /// with the data as the upstream sent it. An error item (broken connection, idle timeout,
    /// truncation) is the last.
    pub bytes: ByteStream,
    /// Filled in by the relay as usage events pass by.
    pub usage: UsageCell,
}

/// The usage of a relayed stream, written by the relay as usage events pass by and read by
/// whoever accounts for the request once the stream ended (or was abandoned). A clone shares
/// the cell. The lock is held only to copy a value in or out, never across an `.await`.
#[derive(Debug, Clone, Default)]
pub struct UsageCell(Arc<Mutex<Option<Usage>>>);

impl UsageCell {
    /// The latest usage seen; `None` if the upstream has not reported any (yet).
    pub fn get(&self) -> Option<Usage> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, usage: Usage) {
        // The guarded value is replaced whole, so a panicked holder cannot leave it torn.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
    }
}

pub const SSE_CONTENT_TYPE: &str = "text/event-stream";

/// The gateway's own routing fields, which no upstream knows.
pub const GATEWAY_FIELDS: &[&str] = &["provider", "fallbacks"];

// ---------------------------------------------------------------------------------------------
// Editing a JSON body without re-serializing it.

/// One edit of a JSON object's top-level field.
#[derive(Debug, Clone, Copy)]
pub enum FieldEdit<'a> {
    /// Replaces the field's value in place (every occurrence, should the client have sent it
    /// twice), or appends the field when absent. The value is raw JSON.
    Set(&'a str, &'a str),
    /// Drops the field.
    Remove(&'a str),
    /// Applies the edits inside the object at the field, keeping its other fields; a missing,
    /// `null` or non-object value becomes an object of the edits alone.
    Merge(&'a str, &'a [FieldEdit<'a>]),
}

impl<'a> FieldEdit<'a> {
    fn key(&self) -> &'a str {
        match *self {
            FieldEdit::Set(k, _) | FieldEdit::Remove(k) | FieldEdit::Merge(k, _) => k,
        }
    }
}

/// A key as written, borrowed unless it contained escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// An object's fields in order, each value as its raw bytes.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    fields.push((k, v));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// Applies `edits` to the top-level fields of a JSON object. Every other field keeps its
/// position and the exact bytes of its value (number spellings, escapes, nested key order);
/// only the whitespace between top-level tokens goes. A key is re-encoded only if it was
/// written with escapes. Anything but an object is the client's error.
pub fn edit_object(body: &[u8], edits: &[FieldEdit<'_>]) -> Result<Vec<u8>, BifrostError> {
    let Fields(fields) = serde_json::from_slice(body).map_err(|e| {
        BifrostError::invalid_request(format!("the request body must be a JSON object: {e}"))
    })?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let mut applied = vec![false; edits.len()];
    for (key, value) in &fields {
        let edit = edits.iter().position(|e| e.key() == key);
        let replaced = match edit.map(|i| (i, edits[i])) {
            Some((_, FieldEdit::Remove(_))) => continue,
            Some((i, FieldEdit::Set(_, raw))) => {
                applied[i] = true;
                Cow::Borrowed(raw.as_bytes())
            }
            Some((i, FieldEdit::Merge(_, inner))) => {
                applied[i] = true;
                Cow::Owned(merged(value.get(), inner)?)
            }
            None => Cow::Borrowed(value.get().as_bytes()),
        };
        push_field(&mut out, key, &replaced)?;
    }
    for (edit, done) in edits.iter().zip(applied) {
        match *edit {
            _ if done => {}
            FieldEdit::Remove(_) => {}
            FieldEdit::Set(key, raw) => push_field(&mut out, key, raw.as_bytes())?,
            FieldEdit::Merge(key, inner) => push_field(&mut out, key, &merged("null", inner)?)?,
        }
    }
    out.push(b'}');
    Ok(out)
}

fn merged(value: &str, edits: &[FieldEdit<'_>]) -> Result<Vec<u8>, BifrostError> {
    if value.trim_start().starts_with('{') {
        edit_object(value.as_bytes(), edits)
    } else {
        edit_object(b"{}", edits)
    }
}

fn push_field(out: &mut Vec<u8>, key: &str, value: &[u8]) -> Result<(), BifrostError> {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key)
        .map_err(|e| BifrostError::internal(format!("writing a JSON key failed: {e}")))?;
    out.push(b':');
    out.extend_from_slice(value);
    Ok(())
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> Result<String, BifrostError> {
    serde_json::to_string(s)
        .map_err(|e| BifrostError::internal(format!("writing a JSON string failed: {e}")))
}

/// The upstream body of an OpenAI chat request: the upstream model, no gateway fields, and for
/// a stream `stream_options.include_usage` (accounting needs the usage chunk; the relay drops
/// it again if the client did not ask for it).
pub fn openai_chat_body(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>, BifrostError> {
    let model = json_string(model)?;
    const INCLUDE_USAGE: &[FieldEdit<'_>] = &[FieldEdit::Set("include_usage", "true")];
    let mut edits = vec![FieldEdit::Set("model", &model)];
    edits.extend(GATEWAY_FIELDS.iter().map(|&f| FieldEdit::Remove(f)));
    if stream {
        edits.push(FieldEdit::Merge("stream_options", INCLUDE_USAGE));
    }
    edit_object(body, &edits)
}

/// The upstream body of an Anthropic Messages or OpenAI Responses request: the upstream model
/// and no gateway fields.
pub fn model_body(body: &[u8], model: &str) -> Result<Vec<u8>, BifrostError> {
    let model = json_string(model)?;
    let mut edits = vec![FieldEdit::Set("model", &model)];
    edits.extend(GATEWAY_FIELDS.iter().map(|&f| FieldEdit::Remove(f)));
    edit_object(body, &edits)
}

/// Copies the client's `allowed` headers (every value of each) onto `headers`, replacing what
/// the gateway set under the same name. Names are lowercase.
pub(crate) fn copy_client_headers(headers: &mut HeaderMap, client: &HeaderMap, allowed: &[&str]) {
    for name in allowed {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let mut values = client.get_all(&name).iter().peekable();
        if values.peek().is_none() {
            continue;
        }
        headers.remove(&name);
        for v in values {
            headers.append(name.clone(), v.clone());
        }
    }
}

/// Sends an edited body and relays the answer: a stream through `relay` when given, else the
/// JSON answer with the usage `json_usage` reads from it. Records the upstream time (to the
/// first content event of a stream) as the `Http` stage.
pub(crate) async fn forward<R: Relay>(
    upstream: &Upstream,
    cx: &CallContext<'_>,
    url: &Uri,
    headers: HeaderMap,
    body: impl Into<Bytes>,
    relay: Option<R>,
    json_usage: fn(&[u8]) -> Option<Usage>,
) -> Result<NativeResponse, BifrostError> {
    let t = Instant::now();
    let out = match relay {
        Some(relay) => {
            let events = upstream.post_sse(url, headers, body).await?;
            relay_sse(&upstream.name, events, relay, UsageCell::default())
                .await
                .map(NativeResponse::Stream)
        }
        None => upstream
            .post(url, headers, body)
            .await
            .map(|(content_type, body)| NativeResponse::Json {
                content_type: content_type
                    .and_then(|v| v.to_str().ok().map(str::to_owned))
                    .unwrap_or_else(|| "application/json".to_owned()),
                usage: json_usage(&body),
                body,
            }),
    };
    cx.clock.record(Stage::Http, t.elapsed());
    out
}

/// Runs a body edit, recording it as the `Marshaling` stage.
pub(crate) fn timed<T>(cx: &CallContext<'_>, edit: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = edit();
    cx.clock.record(Stage::Marshaling, t.elapsed());
    out
}

// ---------------------------------------------------------------------------------------------
// Usage of JSON answers.

/// `usage` of an Anthropic message.
pub fn anthropic_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<AnthropicUsage>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    body.usage.map(AnthropicUsage::to_openai)
}

/// `usage` of an OpenAI chat completion.
pub fn openai_chat_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<Usage>,
    }
    serde_json::from_slice::<Body>(body).ok()?.usage
}

/// OpenAI Responses' usage (`input_tokens`, `output_tokens`, their details).
#[derive(Debug, Clone, Default, Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<serde_json::Value>,
    #[serde(default)]
    output_tokens_details: Option<serde_json::Value>,
}

impl ResponsesUsage {
    fn into_openai(self) -> Usage {
        let mut usage = Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.input_tokens + self.output_tokens,
            ..Usage::default()
        };
        let detail = |d: Option<serde_json::Value>, field: &str| {
            d.and_then(|d| d.get(field).and_then(serde_json::Value::as_u64))
        };
        if let Some(cached) = detail(self.input_tokens_details, "cached_tokens") {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                serde_json::json!({ "cached_tokens": cached }),
            );
        }
        if let Some(reasoning) = detail(self.output_tokens_details, "reasoning_tokens") {
            usage.extra.insert(
                "completion_tokens_details".into(),
                serde_json::json!({ "reasoning_tokens": reasoning }),
            );
        }
        usage
    }
}

/// `usage` of an OpenAI response object.
pub fn responses_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<ResponsesUsage>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .usage
        .map(ResponsesUsage::into_openai)
}

/// `usageMetadata` of a Gemini answer.
pub fn gemini_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        usage_metadata: Option<GeminiUsage>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .usage_metadata
        .map(GeminiUsage::to_openai)
}

// ---------------------------------------------------------------------------------------------
// Relaying streams.

/// What one upstream event is to the relay.
#[derive(Debug)]
pub enum Seen {
    /// Relayed; not content (`message_start`, `ping`, `response.created`, unknown events).
    Other,
    /// Relayed; the first one commits the stream to this attempt.
    Content,
    /// Read for its usage, not relayed (an OpenAI usage chunk the client did not ask for).
    Dropped,
    /// The upstream reported a failure. Before the first content event it is the attempt's
    /// error; after it, the event is relayed as sent and is the last one.
    Failure(BifrostError),
    /// Relayed, and the last event read (`message_stop`, `[DONE]`, `response.completed`).
    End,
    /// Content, relayed with this data instead (an OpenAI chunk without the `"usage": null`
    /// the gateway's own usage request added).
    EditedContent(String),
}

/// One API's view of its stream events: classifies each and records usage as it passes.
pub trait Relay: Send + 'static {
    /// The terminal event, named in truncation errors.
    const END_MARKER: &'static str;

    /// `event` is the SSE event name (`message` when the upstream gave none).
    fn see(&mut self, event: &str, data: &str, usage: &UsageCell) -> Seen;

    /// Whether an upstream that closes now has finished its answer: for APIs without a
    /// terminal event (Gemini). Otherwise closing before [`Seen::End`] is a truncation.
    fn ended_cleanly(&self) -> bool {
        false
    }
}

/// An SSE event framed again for the client: `event:` (unless the default `message`), `id:`,
/// then the data line by line.
pub fn frame(ev: &eventsource_stream::Event) -> Bytes {
    let mut out = String::with_capacity(ev.data.len() + ev.event.len() + 16);
    if !ev.event.is_empty() && ev.event != "message" {
        out.push_str("event: ");
        out.push_str(&ev.event);
        out.push('\n');
    }
    if !ev.id.is_empty() {
        out.push_str("id: ");
        out.push_str(&ev.id);
        out.push('\n');
    }
    for line in ev.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

fn truncated(name: &str, end_marker: &str) -> BifrostError {
    BifrostError::stream_error(
        name,
        format!("the stream from '{name}' ended without {end_marker}"),
        "upstream_stream_truncated",
    )
}

/// Relays `events` through `relay`. Resolves once the first content event (or the end) came:
/// until then events are held back, and an upstream error, a broken connection or an early end
/// is this call's error, so the attempt can be retried or fall back. After that, events are
/// relayed one by one as they arrive; nothing is read after the terminal event.
pub async fn relay_sse<R: Relay>(
    name: &str,
    mut events: EventStream,
    mut relay: R,
    usage: UsageCell,
) -> Result<NativeStream, BifrostError> {
    let mut head = VecDeque::new();
    let mut done = false;
    loop {
        let ev = match events.next().await {
            None if relay.ended_cleanly() => {
                done = true;
                break;
            }
            None => return Err(truncated(name, R::END_MARKER)),
            Some(Err(e)) => return Err(e),
            Some(Ok(ev)) => ev,
        };
        match relay.see(&ev.event, &ev.data, &usage) {
            Seen::Other => head.push_back(frame(&ev)),
            Seen::Dropped => {}
            Seen::EditedContent(data) => {
                head.push_back(frame(&eventsource_stream::Event { data, ..ev }));
                break;
            }
            Seen::Failure(e) => return Err(e),
            Seen::Content => {
                head.push_back(frame(&ev));
                break;
            }
            Seen::End => {
                head.push_back(frame(&ev));
                done = true;
                break;
            }
        }
    }

    struct Pump<R> {
        events: EventStream,
        relay: R,
        usage: UsageCell,
        head: VecDeque<Bytes>,
        done: bool,
        name: Arc<str>,
    }
    let pump = Pump {
        events,
        relay,
        usage: usage.clone(),
        head,
        done,
        name: name.into(),
    };
    let bytes = futures::stream::unfold(pump, |mut p| async move {
        loop {
            if let Some(b) = p.head.pop_front() {
                return Some((Ok(b), p));
            }
            if p.done {
                return None;
            }
            let ev = match p.events.next().await {
                None => {
                    p.done = true;
                    if p.relay.ended_cleanly() {
                        return None;
                    }
                    return Some((Err(truncated(&p.name, R::END_MARKER)), p));
                }
                Some(Err(e)) => {
                    p.done = true;
                    return Some((Err(e), p));
                }
                Some(Ok(ev)) => ev,
            };
            match p.relay.see(&ev.event, &ev.data, &p.usage) {
                Seen::Dropped => continue,
                Seen::EditedContent(data) => {
                    return Some((Ok(frame(&eventsource_stream::Event { data, ..ev })), p))
                }
                Seen::Other | Seen::Content => return Some((Ok(frame(&ev)), p)),
                Seen::Failure(_) | Seen::End => {
                    p.done = true;
                    return Some((Ok(frame(&ev)), p));
                }
            }
        }
    });
    Ok(NativeStream {
        content_type: SSE_CONTENT_TYPE,
        bytes: Box::pin(bytes),
        usage,
    })
}

/// An error reported inside a 200 stream: the upstream's failure, answered as a bad gateway
/// with its type and message as sent (as the translated streams do).
fn in_stream_error(provider: &str, body: &[u8]) -> BifrostError {
    let mut e = BifrostError::upstream(provider, 500, body, None);
    e.status = 502;
    e
}

/// The event's type: its SSE name, or the data's `type` when the upstream named none.
fn event_kind<'a>(event: &'a str, data: &'a str) -> Cow<'a, str> {
    if event != "message" {
        return Cow::Borrowed(event);
    }
    #[derive(Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Typed<'_>>(data)
        .ok()
        .and_then(|t| t.kind)
        .unwrap_or(Cow::Borrowed(event))
}

/// Anthropic Messages events: `content_block_start`/`_delta` are content, `message_stop` the
/// end; usage from `message_start` (input and cache) and `message_delta` (output, and any
/// count it repeats).
pub struct AnthropicRelay {
    name: String,
    usage: AnthropicUsage,
}

impl AnthropicRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            usage: AnthropicUsage::default(),
        }
    }

    fn merge(&mut self, u: AnthropicUsage, cell: &UsageCell) {
        let cur = &mut self.usage;
        cur.input_tokens = u.input_tokens.or(cur.input_tokens);
        cur.output_tokens = u.output_tokens.or(cur.output_tokens);
        cur.cache_read_input_tokens = u.cache_read_input_tokens.or(cur.cache_read_input_tokens);
        cur.cache_creation_input_tokens = u
            .cache_creation_input_tokens
            .or(cur.cache_creation_input_tokens);
        cell.set(cur.to_openai());
    }
}

impl Relay for AnthropicRelay {
    const END_MARKER: &'static str = "message_stop";

    fn see(&mut self, event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Start {
            message: Delta,
        }
        #[derive(Deserialize)]
        struct Delta {
            usage: Option<AnthropicUsage>,
        }
        match &*event_kind(event, data) {
            "content_block_start" | "content_block_delta" => Seen::Content,
            "message_start" => {
                if let Ok(Start {
                    message: Delta { usage: Some(u) },
                }) = serde_json::from_str(data)
                {
                    self.merge(u, usage);
                }
                Seen::Other
            }
            "message_delta" => {
                if let Ok(Delta { usage: Some(u) }) = serde_json::from_str(data) {
                    self.merge(u, usage);
                }
                Seen::Other
            }
            "message_stop" => Seen::End,
            "error" => Seen::Failure(in_stream_error(&self.name, data.as_bytes())),
            _ => Seen::Other,
        }
    }
}

/// OpenAI chat chunks: a chunk with choices is content, `[DONE]` the end, a chunk holding
/// `error` a failure; usage from the usage chunk, which is dropped unless the client asked.
pub struct OpenAiChatRelay {
    name: String,
    client_wants_usage: bool,
}

impl OpenAiChatRelay {
    pub fn new(name: &str, client_wants_usage: bool) -> Self {
        Self {
            name: name.to_owned(),
            client_wants_usage,
        }
    }
}

impl Relay for OpenAiChatRelay {
    const END_MARKER: &'static str = "[DONE]";

    fn see(&mut self, _event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            choices: Option<Vec<IgnoredAny>>,
            #[serde(default)]
            usage: Option<Usage>,
            #[serde(default)]
            error: Option<IgnoredAny>,
        }
        if data.trim() == "[DONE]" {
            return Seen::End;
        }
        // What the gateway cannot read it still relays: the client may understand it.
        let Ok(chunk) = serde_json::from_str::<Probe>(data) else {
            return Seen::Other;
        };
        if chunk.error.is_some() {
            return Seen::Failure(in_stream_error(&self.name, data.as_bytes()));
        }
        let has_choices = chunk.choices.as_ref().is_some_and(|c| !c.is_empty());
        if let Some(u) = chunk.usage {
            usage.set(u);
            if !has_choices && !self.client_wants_usage {
                return Seen::Dropped;
            }
        } else if !self.client_wants_usage && data.contains("\"usage\":null") {
            // Asking for usage makes OpenAI put `"usage": null` on every chunk; a client that
            // did not ask gets the chunks it would have had.
            if let Ok(edited) = edit_object(data.as_bytes(), &[FieldEdit::Remove("usage")]) {
                if let Ok(edited) = String::from_utf8(edited) {
                    return Seen::EditedContent(edited);
                }
            }
        }
        if has_choices {
            Seen::Content
        } else {
            Seen::Other
        }
    }
}

/// OpenAI Responses events: everything after `response.created`/`.in_progress`/`.queued` is
/// content; `response.completed`/`.incomplete` end the stream (with usage), `error` and
/// `response.failed` are failures.
pub struct OpenAiResponsesRelay {
    name: String,
}

impl OpenAiResponsesRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }
}

impl Relay for OpenAiResponsesRelay {
    const END_MARKER: &'static str = "response.completed";

    fn see(&mut self, event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        struct Done {
            response: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            usage: Option<ResponsesUsage>,
            #[serde(default)]
            error: Option<serde_json::Value>,
        }
        let done = || serde_json::from_str::<Done>(data).ok().map(|d| d.response);
        match &*event_kind(event, data) {
            "response.created" | "response.in_progress" | "response.queued" => Seen::Other,
            "response.completed" | "response.incomplete" => {
                if let Some(u) = done().and_then(|b| b.usage) {
                    usage.set(u.into_openai());
                }
                Seen::End
            }
            "response.failed" => {
                let error = done().and_then(|b| b.error).unwrap_or_default();
                let body = serde_json::json!({ "error": error }).to_string();
                Seen::Failure(in_stream_error(&self.name, body.as_bytes()))
            }
            "error" => Seen::Failure(in_stream_error(&self.name, data.as_bytes())),
            _ => Seen::Content,
        }
    }
}

/// Gemini `data:` chunks: one with candidates is content, one holding `error` a failure; usage
/// from `usageMetadata`. Gemini sends no terminal event: the stream is complete once a
/// candidate has a `finishReason`.
pub struct GeminiRelay {
    name: String,
    finished: bool,
}

impl GeminiRelay {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            finished: false,
        }
    }
}

impl Relay for GeminiRelay {
    const END_MARKER: &'static str = "a finishReason";

    fn see(&mut self, _event: &str, data: &str, usage: &UsageCell) -> Seen {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            candidates: Vec<Candidate>,
            #[serde(default)]
            usage_metadata: Option<GeminiUsage>,
            #[serde(default)]
            error: Option<IgnoredAny>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Candidate {
            #[serde(default)]
            finish_reason: Option<IgnoredAny>,
        }
        if data.trim().is_empty() {
            return Seen::Dropped;
        }
        let Ok(chunk) = serde_json::from_str::<Probe>(data) else {
            return Seen::Other;
        };
        if chunk.error.is_some() {
            return Seen::Failure(embedded_error(&self.name, data.as_bytes()));
        }
        if let Some(u) = chunk.usage_metadata {
            usage.set(u.to_openai());
        }
        if chunk.candidates.iter().any(|c| c.finish_reason.is_some()) {
            self.finished = true;
        }
        if chunk.candidates.is_empty() {
            Seen::Other
        } else {
            Seen::Content
        }
    }

    fn ended_cleanly(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests;
