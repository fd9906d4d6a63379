//! The request-log store: one row a request, rollups for the dashboard, a background writer.
//!
//! Reads follow §6.7: keyset pagination on `(timestamp, id)`, no `COUNT(*)` of the table, and
//! `stats`/`histogram` answered from a per-minute rollup table whenever the filter only narrows
//! by time, provider, model and status.

mod rollup;
mod seed;
mod store;
mod writer;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use rollup::{latency_bucket, latency_bucket_bounds, LATENCY_BUCKETS};
pub use seed::seed;
pub use store::LogStore;
pub use writer::{LogWriter, QUEUE_CONTENT_BUDGET};

impl LogRow {
    /// Bytes of content not yet parsed (`raw_input`, `raw_output`, `raw_output_sse`): what a
    /// queued row holds beyond its fixed fields.
    pub fn raw_bytes(&self) -> usize {
        [&self.raw_input, &self.raw_output, &self.raw_output_sse]
            .into_iter()
            .flatten()
            .map(bytes::Bytes::len)
            .sum()
    }

    /// Turns `raw_input` / `raw_output` into `input` / `output` (left out when not JSON).
    pub fn settle(&mut self) {
        if let Some(b) = self.raw_input.take() {
            self.input = serde_json::from_slice(&b).ok();
        }
        if let Some(b) = self.raw_output.take() {
            self.output = serde_json::from_slice(&b).ok();
        }
        self.settle_stream();
    }

    /// Turns `raw_output_sse` into `output`. The writer stops here: a JSON body goes into its
    /// column as the text it arrived as (see `store::content_text`), never parsed into a
    /// [`serde_json::Value`] and written out again.
    pub fn settle_stream(&mut self) {
        if let Some(b) = self.raw_output_sse.take() {
            self.output = Some(sse_output(&b));
        }
    }
}

/// How much of a stream's events a row keeps for its `output`.
pub const STREAM_CAPTURE_LIMIT: usize = 256 * 1024;

/// The largest request or unary answer body a row keeps as content. A larger one is logged
/// as `{"truncated": true, "bytes": n}`: a queued row then never holds a copy of a huge body,
/// and the row is still written (a body over the queue's content budget would drop it).
pub const CONTENT_CAPTURE_LIMIT: usize = 1024 * 1024;

/// `body` as a row keeps it: its own copy (see [`LogRow::raw_input`]) when it is at most
/// [`CONTENT_CAPTURE_LIMIT`] bytes, else the note that stands in for it.
pub fn capture(body: &[u8]) -> Result<bytes::Bytes, serde_json::Value> {
    if body.len() <= CONTENT_CAPTURE_LIMIT {
        Ok(bytes::Bytes::copy_from_slice(body))
    } else {
        Err(serde_json::json!({"truncated": true, "bytes": body.len()}))
    }
}

/// The answer of a relayed stream, from its events: the final response when the API sends one
/// (Responses' `response.completed`), else the text of its deltas (OpenAI chat, Anthropic
/// messages, Responses, Gemini), with the count of events and whether the capture was cut.
fn sse_output(b: &[u8]) -> serde_json::Value {
    use serde_json::Value;
    let text = String::from_utf8_lossy(b);
    let mut content = String::new();
    let mut events = 0u64;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data.trim_start()) else {
            continue;
        };
        events += 1;
        if v["type"] == "response.completed" {
            if let Some(r) = v.get("response") {
                return r.clone();
            }
        }
        let piece = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .or_else(|| {
                (v["type"] == "content_block_delta")
                    .then(|| v.pointer("/delta/text").and_then(Value::as_str))
                    .flatten()
            })
            .or_else(|| {
                (v["type"] == "response.output_text.delta")
                    .then(|| v["delta"].as_str())
                    .flatten()
            });
        match piece {
            Some(t) => content.push_str(t),
            None => {
                let parts = v
                    .pointer("/candidates/0/content/parts")
                    .and_then(Value::as_array);
                for p in parts.into_iter().flatten() {
                    if let Some(t) = p["text"].as_str() {
                        content.push_str(t);
                    }
                }
            }
        }
    }
    serde_json::json!({
        "role": "assistant",
        "content": content,
        "stream_events": events,
        "truncated": b.len() >= STREAM_CAPTURE_LIMIT,
    })
}

/// One request as logged.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRow {
    pub id: String,
    pub parent_request_id: Option<String>,
    /// Unix milliseconds when the request arrived.
    pub timestamp: i64,
    /// Request type: "chat.completion", "embedding", "responses", "messages", ...
    pub object: String,
    /// e.g. "/v1/chat/completions".
    pub route: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub number_of_retries: i64,
    pub fallback_index: i64,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    pub virtual_key_id: Option<String>,
    pub virtual_key_name: Option<String>,
    /// "success" | "error" | "cancelled".
    pub status: String,
    pub http_status: i64,
    pub stream: bool,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost: Option<f64>,
    pub error: Option<serde_json::Value>,
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    /// The request body as received, made `input` by [`LogRow::settle`] off the request path
    /// (the writer thread), so logging content costs a request no JSON parsing.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub raw_input: Option<bytes::Bytes>,
    /// The upstream's JSON answer as received, made `output` by [`LogRow::settle`].
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub raw_output: Option<bytes::Bytes>,
    /// A relayed stream's server-sent events as they passed (at most
    /// [`STREAM_CAPTURE_LIMIT`] bytes), made `output` by [`LogRow::settle`].
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub raw_output_sse: Option<bytes::Bytes>,
    pub params: Option<serde_json::Value>,
    pub metadata: BTreeMap<String, String>,
}

/// Filters as the HTTP query string gives them (§6.7); every field is optional and they combine
/// with AND. List fields accept a JSON array or a comma-separated string. Times are unix ms,
/// both ends inclusive.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogFilter {
    #[serde(deserialize_with = "comma_list")]
    pub providers: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub models: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub status: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub objects: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub selected_key_ids: Vec<String>,
    #[serde(deserialize_with = "comma_list")]
    pub virtual_key_ids: Vec<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub min_latency: Option<f64>,
    pub max_latency: Option<f64>,
    pub min_tokens: Option<i64>,
    pub max_tokens: Option<i64>,
    pub min_cost: Option<f64>,
    pub max_cost: Option<f64>,
    /// Case-insensitive substring of the input, output or error JSON.
    pub content_search: Option<String>,
    /// `metadata.<key>=<value>`: every pair must match exactly.
    pub metadata: BTreeMap<String, String>,
}

impl LogFilter {
    /// True when the rollup table can answer aggregates for this filter exactly.
    pub(crate) fn rollup_answerable(&self) -> bool {
        self.objects.is_empty()
            && self.selected_key_ids.is_empty()
            && self.virtual_key_ids.is_empty()
            && self.min_latency.is_none()
            && self.max_latency.is_none()
            && self.min_tokens.is_none()
            && self.max_tokens.is_none()
            && self.min_cost.is_none()
            && self.max_cost.is_none()
            && self.content_search.as_deref().is_none_or(str::is_empty)
            && self.metadata.is_empty()
    }
}

fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<List>::deserialize(d)? {
        None => Vec::new(),
        Some(List::One(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(List::Many(v)) => v,
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    #[default]
    Timestamp,
    Latency,
    Tokens,
    Cost,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

/// One page request. `limit` is clamped to 1..=1000 (0 means the default, 50). With
/// `SortBy::Timestamp` a `cursor` from the previous page continues after its last row and
/// `offset` is ignored; other sorts page by `offset`.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    pub filter: LogFilter,
    pub limit: u32,
    pub cursor: Option<String>,
    pub offset: Option<u64>,
    pub sort_by: SortBy,
    pub order: Order,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPage {
    pub logs: Vec<LogRow>,
    /// Opaque; pass back as `LogQuery::cursor` (timestamp sort only).
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogStats {
    pub total_requests: u64,
    /// Percent (0–100) of requests with status "success".
    pub success_rate: f64,
    pub average_latency_ms: f64,
    pub total_tokens: i64,
    pub total_cost: f64,
}

/// One time bucket × provider × model. Provider/model are "" for rows without one.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistogramBucket {
    /// Unix ms of the bucket's start (a multiple of the bucket width).
    pub start: i64,
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub errors: u64,
    /// Exact when the rows are scanned; from log-scale latency buckets (within one bucket,
    /// ≤ 41% wide) when answered from rollups.
    pub p50_latency_ms: f64,
    pub p99_latency_ms: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost: f64,
}

/// Distinct values for the log view's dropdowns.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilterData {
    pub providers: Vec<String>,
    pub models: Vec<String>,
    pub statuses: Vec<String>,
    pub objects: Vec<String>,
    pub key_ids: Vec<String>,
    pub virtual_key_ids: Vec<String>,
}
