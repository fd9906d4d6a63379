//! The logs API (behaviour reference §6.7): `GET /api/logs` with filters and keyset paging,
//! one log, stats, histograms, the dropdowns' values, dropped rows, deletion by filter, and a
//! live tail as server-sent events.

use crate::api::{bad_request, store_error, ApiError};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bifrost_store::{LogFilter, LogQuery, LogRow, LogStore, Order, SortBy};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(search).delete(delete))
        .route("/api/logs/stats", get(stats))
        .route("/api/logs/histogram", get(histogram))
        .route("/api/logs/filterdata", get(filter_data))
        .route("/api/logs/dropped", get(dropped))
        .route("/api/logs/stream", get(tail))
        .route("/api/logs/{id}", get(one))
}

type Params = Query<Vec<(String, String)>>;

fn store(st: &AppState) -> Result<&LogStore, ApiError> {
    st.log_store.as_ref().ok_or_else(|| {
        ApiError::new(
            503,
            "logs_disabled",
            "request logging is off (client.enable_logging or logs_store.enabled is false)",
        )
    })
}

/// The request-log writer (what `dropped` and `tail` read), or a 503 when logging is off.
fn logs(st: &AppState) -> Result<&crate::logs::RequestLogs, ApiError> {
    st.logs
        .as_ref()
        .ok_or_else(|| ApiError::new(503, "logs_disabled", "request logging is off"))
}

/// Filters from the query string: list fields comma-separated (or repeated), times RFC 3339
/// or unix milliseconds, `metadata.<key>=<value>` pairs.
fn filter(params: &[(String, String)], known: &[&str]) -> Result<LogFilter, ApiError> {
    const LISTS: [&str; 6] = [
        "providers",
        "models",
        "status",
        "objects",
        "selected_key_ids",
        "virtual_key_ids",
    ];
    // Only the list fields may repeat: two values of another would be a guess.
    for (i, (k, _)) in params.iter().enumerate() {
        if !LISTS.contains(&k.as_str()) && params[..i].iter().any(|(p, _)| p == k) {
            return Err(bad_request(k, format!("{k} is given more than once")));
        }
    }
    let mut map = Map::new();
    let mut metadata = BTreeMap::new();
    for (k, v) in params {
        if let Some(m) = k.strip_prefix("metadata.") {
            metadata.insert(m.to_owned(), v.clone());
            continue;
        }
        let value = match k.as_str() {
            l if LISTS.contains(&l) => {
                let mut items = match map.remove(l) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                items.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned())),
                );
                Value::Array(items)
            }
            "start_time" | "end_time" => Value::from(time_ms(k, v)?),
            "min_latency" | "max_latency" | "min_cost" | "max_cost" => {
                Value::from(v.parse::<f64>().map_err(|_| must_be(k, "a number", v))?)
            }
            "min_tokens" | "max_tokens" => {
                Value::from(v.parse::<i64>().map_err(|_| must_be(k, "an integer", v))?)
            }
            "content_search" => Value::String(v.clone()),
            other if known.contains(&other) => continue,
            other => {
                return Err(bad_request(
                    other,
                    format!("unknown query parameter {other:?}"),
                ))
            }
        };
        map.insert(k.clone(), value);
    }
    let mut f: LogFilter = serde_json::from_value(Value::Object(map))
        .map_err(|e| bad_request("", format!("invalid filter: {e}")))?;
    f.metadata = metadata;
    Ok(f)
}

fn time_ms(field: &str, v: &str) -> Result<i64, ApiError> {
    // Clamped to years ±9999 (no row lies outside) so range arithmetic cannot overflow.
    const LIMIT: i64 = 253_402_300_799_999;
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms.clamp(-LIMIT, LIMIT));
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| must_be(field, "an RFC 3339 time or unix milliseconds", v))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// 400: query parameter `field` is `got`, where it takes `what`.
fn must_be(field: &str, what: &str, got: &str) -> ApiError {
    bad_request(field, format!("{field} must be {what}, got {got:?}"))
}

/// Parameter `name` as one of the named `choices`; `default` when it is absent.
fn one_of<T: Copy>(
    params: &[(String, String)],
    name: &str,
    default: T,
    choices: &[(&str, T)],
    what: &str,
) -> Result<T, ApiError> {
    let Some(v) = param(params, name) else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(c, _)| *c == v)
        .map(|&(_, t)| t)
        .ok_or_else(|| must_be(name, what, v))
}

#[utoipa::path(
    get,
    path = "/api/logs",
    tag = "logs",
    description = "Logs matching the filters, newest first by default. `metadata.<key>=<value>` parameters match logged metadata exactly (every pair must match).",
    params(crate::openapi::LogFilterParams, crate::openapi::LogPageParams),
    responses(
        (status = 200, description = "A page of logs", body = bifrost_store::LogPage),
        crate::openapi::BadParam,
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn search(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let store = store(&st)?;
    let f = filter(&params, &["limit", "offset", "cursor", "sort_by", "order"])?;
    let limit = match param(&params, "limit") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| must_be("limit", "1..=1000", v))?,
        None => 50,
    };
    let offset = match param(&params, "offset") {
        // SQL offsets are signed 64-bit.
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|&n| i64::try_from(n).is_ok())
                .ok_or_else(|| must_be("offset", "an integer in 0..=2^63-1", v))?,
        ),
        None => None,
    };
    let sort_by = one_of(
        &params,
        "sort_by",
        SortBy::Timestamp,
        &[
            ("timestamp", SortBy::Timestamp),
            ("latency", SortBy::Latency),
            ("tokens", SortBy::Tokens),
            ("cost", SortBy::Cost),
        ],
        "timestamp, latency, tokens or cost",
    )?;
    let order = one_of(
        &params,
        "order",
        Order::Desc,
        &[("desc", Order::Desc), ("asc", Order::Asc)],
        "asc or desc",
    )?;
    let q = LogQuery {
        filter: f,
        limit,
        cursor: param(&params, "cursor").map(str::to_owned),
        offset,
        sort_by,
        order,
    };
    let page = store.search(&q).await.map_err(store_error)?;
    Ok(Json(page).into_response())
}

#[utoipa::path(
    get,
    path = "/api/logs/{id}",
    tag = "logs",
    params(("id" = String, Path, description = "The log's id")),
    responses(
        (status = 200, description = "The log", body = bifrost_store::LogRow),
        (status = 404, description = "No such log", body = crate::openapi::ErrorBody),
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match store(&st)?.get(&id).await.map_err(store_error)? {
        Some(row) => Ok(Json(row).into_response()),
        None => Err(ApiError::new(
            404,
            "not_found",
            format!("no log with id {id:?}"),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/api/logs/stats",
    tag = "logs",
    description = "Totals over the logs matching the filters (`metadata.<key>=<value>` as in `GET /api/logs`).",
    params(crate::openapi::LogFilterParams),
    responses(
        (status = 200, description = "Totals over the matching logs", body = bifrost_store::LogStats),
        crate::openapi::BadParam,
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn stats(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let f = filter(&params, &[])?;
    let s = store(&st)?.stats(&f).await.map_err(store_error)?;
    Ok(Json(s).into_response())
}

/// `bucket` (seconds) sets the width; without it, about 60 buckets over the range (whole
/// minutes, so rollups can answer), one hour back from now when no range is given.
#[utoipa::path(
    get,
    path = "/api/logs/histogram",
    tag = "logs",
    description = "Time buckets of the matching logs (`metadata.<key>=<value>` as in `GET /api/logs`); the last hour when no range is given.",
    params(crate::openapi::LogFilterParams, ("bucket" = Option<i64>, Query, minimum = 1, description = "Bucket width in seconds (default: about 60 buckets over the range)")),
    responses(
        (status = 200, description = "Buckets by time, provider and model", body = crate::openapi::Histogram),
        crate::openapi::BadParam,
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn histogram(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let mut f = filter(&params, &["bucket"])?;
    let now = crate::logs::now_ms();
    let end = f.end_time.unwrap_or(now);
    let start = f.start_time.unwrap_or(end.saturating_sub(3_600_000));
    f.start_time = Some(start);
    f.end_time = Some(end);
    let bucket_ms = match param(&params, "bucket") {
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(|s| (s > 0).then_some(s)?.checked_mul(1000))
            .ok_or_else(|| must_be("bucket", "a positive number of seconds", v))?,
        None => ((end.saturating_sub(start) / 60).max(60_000) / 60_000) * 60_000,
    };
    let buckets = store(&st)?
        .histogram(&f, bucket_ms)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "bucket_ms": bucket_ms,
        "start_time": start,
        "end_time": end,
        "buckets": buckets,
    }))
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/logs/filterdata",
    tag = "logs",
    responses(
        (status = 200, description = "Distinct values of the filter fields", body = bifrost_store::FilterData),
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn filter_data(State(st): State<AppState>) -> Result<Response, ApiError> {
    let d = store(&st)?.filter_data().await.map_err(store_error)?;
    Ok(Json(d).into_response())
}

#[utoipa::path(
    get,
    path = "/api/logs/dropped",
    tag = "logs",
    responses(
        (status = 200, description = "The log writer's counters", body = crate::openapi::Dropped),
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn dropped(State(st): State<AppState>) -> Result<Response, ApiError> {
    let logs = logs(&st)?;
    Ok(Json(json!({
        "dropped": logs.writer.dropped(),
        "written": logs.writer.written(),
        "failed": logs.writer.failed(),
    }))
    .into_response())
}

/// Deletes the logs a filter selects; an empty filter must say `all=true`.
#[utoipa::path(
    delete,
    path = "/api/logs",
    tag = "logs",
    description = "Deletes the logs the filters select (`metadata.<key>=<value>` as in `GET /api/logs`); with no filter, `all=true` is required.",
    params(crate::openapi::LogFilterParams, ("all" = Option<bool>, Query, description = "Required (true) to delete every log")),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::DeletedCount),
        crate::openapi::BadParam,
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn delete(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let f = filter(&params, &["all"])?;
    if let Some(v) = param(&params, "all").filter(|v| !matches!(*v, "true" | "false")) {
        return Err(must_be("all", "true or false", v));
    }
    let everything = params.iter().all(|(k, _)| k == "all");
    if everything && param(&params, "all") != Some("true") {
        return Err(bad_request(
            "all",
            "deleting every log needs all=true (or give a filter)",
        ));
    }
    let deleted = store(&st)?.delete(&f).await.map_err(store_error)?;
    Ok(Json(json!({ "deleted": deleted })).into_response())
}

/// Live tail: every new log row (matching `providers`, `models`, `status` when given) as an
/// SSE `log` event, as it is enqueued for writing.
#[utoipa::path(
    get,
    path = "/api/logs/stream",
    tag = "logs",
    description = "Live tail: every new log row matching `providers`, `models` and `status` as an SSE `log` event.",
    params(crate::openapi::LogFilterParams),
    responses(
        (status = 200, description = "Server-sent events `log`, each a LogRow as JSON; never ends", body = String, content_type = "text/event-stream"),
        crate::openapi::BadParam,
        crate::openapi::LogsOff,
    )
)]
pub(crate) async fn tail(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let logs = logs(&st)?;
    let f = Arc::new(filter(&params, &[])?);
    let rx = logs.writer.subscribe();
    let mut closing = logs.closing.subscribe();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    let stream = tokio_stream_from(rx)
        .take_until(closed)
        .filter_map(move |row| {
            let f = f.clone();
            async move {
                (matches(&f, &row))
                    .then(|| serde_json::to_string(&*row).ok())
                    .flatten()
                    .map(|data| Ok::<_, Infallible>(SseEvent::default().event("log").data(data)))
            }
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The rows of a broadcast receiver; a receiver that fell behind skips what it missed.
fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<Arc<LogRow>>,
) -> impl futures::Stream<Item = Arc<LogRow>> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(row) => return Some((row, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

fn matches(f: &LogFilter, row: &LogRow) -> bool {
    let has = |list: &[String], v: Option<&str>| {
        list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
    };
    has(&f.providers, row.provider.as_deref())
        && has(&f.models, row.model.as_deref())
        && has(&f.status, Some(&row.status))
}
