//! Request logs end to end: every inference request, whatever became of it, is one row in the
//! logs store, readable through `/api/logs` and its companions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn config(mock: &MockServer, client: &str) -> String {
    format!(
        r#"{{"client":{{"logging_headers":["x-team"]{client}}},
            "providers":{{
              "openai":{{"keys":[{{"id":"k-oa","name":"main","value":"sk-openai","weight":1.0}}],
                        "network_config":{{"base_url":"{u}","retries":0}}}},
              "anthropic":{{"keys":[{{"id":"k-an","name":"ant","value":"sk-ant"}}],
                        "network_config":{{"base_url":"{u}","retries":0}}}}}}}}"#,
        u = mock.url()
    )
}

async fn get(gw: &TestGateway, path: &str) -> (u16, Value) {
    status_json(http_get(format!("{}{path}", gw.url)).await).await
}

/// Polls `/api/logs?…` until it holds `n` rows.
async fn logs_until(gw: &TestGateway, query: &str, n: usize) -> Vec<Value> {
    let query = format!("limit=1000&{query}");
    let logs = poll_logs(gw, &query, |logs| logs.len() >= n).await;
    assert_eq!(logs.len(), n, "{logs:#?}");
    logs
}

/// The text a client was streamed: the string at `pointer` in each event's data, joined.
async fn sse_text(r: reqwest::Response, pointer: &str) -> String {
    sse_json(&r.text().await.unwrap())
        .filter_map(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// A one-message chat request for OpenAI.
fn ask(content: &str) -> Value {
    json!({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":content}]})
}

async fn chat(gw: &TestGateway, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    post_json(gw, "/v1/chat/completions", &body, headers).await
}

#[tokio::test]
async fn every_route_and_outcome_is_one_row_with_its_fields() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start(&config(&mock, "")).await;
    let t0 = Instant::now();
    let served = async |path: &str, body: Value, id: &str| {
        let r = post_json(&gw, path, &body, &[("x-request-id", id)]).await;
        assert_eq!(r.status(), 200, "{id}");
        r
    };

    // A unary chat, with log metadata from a listed header and an x-bf-lh-* header.
    let r = chat(
        &gw,
        ask("Hello!"),
        &[
            ("x-team", "search"),
            ("x-bf-lh-ticket", "T-1"),
            ("x-request-id", "req-unary"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let row = &logs_until(&gw, "", 1).await[0];
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(row["id"], "req-unary");
    assert_eq!(row["object"], "chat.completion");
    assert_eq!(row["route"], "/v1/chat/completions");
    assert_eq!(row["provider"], "openai");
    assert_eq!(row["model"], "gpt-4o-mini");
    assert_eq!(row["key_id"], "k-oa");
    assert_eq!(row["key_name"], "main");
    assert_eq!(row["status"], "success");
    assert_eq!(row["http_status"], 200);
    assert_eq!(row["stream"], false);
    assert!(row["prompt_tokens"].as_i64().unwrap() > 0, "{row}");
    assert_eq!(
        row["total_tokens"].as_i64().unwrap(),
        row["prompt_tokens"].as_i64().unwrap() + row["completion_tokens"].as_i64().unwrap()
    );
    assert!(row["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(row["input"]["messages"][0]["content"], "Hello!");
    assert_eq!(
        row["output"]["choices"][0]["message"]["content"],
        "Mock reply to: Hello!"
    );
    assert_eq!(
        row["metadata"],
        json!({"x-team": "search", "ticket": "T-1"})
    );

    // A stream: time to first token and the usage of its last chunk.
    let r = served(
        "/v1/chat/completions",
        json!({"model":"openai/gpt-4o-mini","stream":true,
               "stream_options":{"include_usage":true},
               "messages":[{"role":"user","content":"Stream please"}]}),
        "req-stream",
    )
    .await;
    // The text the client was streamed, which the row must hold as its output.
    let streamed = sse_text(r, "/choices/0/delta/content").await;
    assert!(!streamed.is_empty());
    // A stream across formats (unified chunks): OpenAI model, Anthropic route.
    let r = served(
        "/anthropic/v1/messages",
        json!({"model":"openai/gpt-4o-mini","max_tokens":32,"stream":true,
               "messages":[{"role":"user","content":"Hi"}]}),
        "req-anthropic-stream",
    )
    .await;
    let crossed = sse_text(r, "/delta/text").await;
    assert!(!crossed.is_empty());
    // Same-format drop-in (passthrough) on the Anthropic route.
    served(
        "/anthropic/v1/messages",
        json!({"model":"claude-3-5-haiku","max_tokens":32,
               "messages":[{"role":"user","content":"Hi"}]}),
        "req-anthropic",
    )
    .await;
    // Errors: an unknown provider, and a body that is not JSON.
    let r = chat(
        &gw,
        json!({"model":"nowhere/m","messages":[{"role":"user","content":"x"}]}),
        &[("x-request-id", "req-bad-provider")],
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = post_raw(
        &gw,
        "/v1/chat/completions",
        "{not json",
        &[("x-request-id", "req-bad-json")],
    )
    .await;
    assert_eq!(r.status(), 400);

    let rows = logs_until(&gw, "", 6).await;
    let by_id = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    let s = by_id("req-stream");
    assert_eq!(
        (s["status"].as_str(), s["stream"].as_bool()),
        (Some("success"), Some(true))
    );
    let ttft = s["ttft_ms"].as_f64().unwrap();
    assert!(
        ttft > 0.0 && ttft <= s["latency_ms"].as_f64().unwrap(),
        "{s}"
    );
    assert!(s["completion_tokens"].as_i64().unwrap() > 0, "{s}");
    assert_eq!(s["output"]["content"], streamed.as_str(), "{s}");
    assert_eq!(s["output"]["truncated"], false, "{s}");
    let x = by_id("req-anthropic-stream");
    assert_eq!(x["output"]["content"], crossed.as_str(), "{x}");
    assert!(x["output"]["finish_reason"].is_string(), "{x}");
    let a = by_id("req-anthropic");
    assert_eq!(
        (a["object"].as_str(), a["provider"].as_str()),
        (Some("messages"), Some("anthropic"))
    );
    assert_eq!(a["status"], "success");
    assert!(a["prompt_tokens"].as_i64().unwrap() > 0, "{a}");
    assert_eq!(a["output"]["type"], "message", "{a}");
    let e = by_id("req-bad-provider");
    assert_eq!(
        (e["status"].as_str(), e["http_status"].as_i64()),
        (Some("error"), Some(404))
    );
    assert!(
        e["error"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nowhere"),
        "{e}"
    );
    let j = by_id("req-bad-json");
    assert_eq!(
        (j["status"].as_str(), j["http_status"].as_i64()),
        (Some("error"), Some(400))
    );
    assert!(j["input"].is_null());

    // One log by id, and filters.
    let (status, one) = get(&gw, "/api/logs/req-unary").await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], "req-unary");
    assert_eq!(get(&gw, "/api/logs/nope").await.0, 404);
    assert_eq!(logs_until(&gw, "status=error", 2).await.len(), 2);
    assert_eq!(logs_until(&gw, "providers=anthropic", 1).await.len(), 1);
    assert_eq!(logs_until(&gw, "metadata.ticket=T-1", 1).await.len(), 1);
    assert_eq!(
        logs_until(&gw, "content_search=stream%20PLEASE", 1)
            .await
            .len(),
        1
    );

    // Stats, histogram and the dropdowns agree with the rows.
    let (_, stats) = get(&gw, "/api/logs/stats").await;
    assert_eq!(stats["total_requests"], 6, "{stats}");
    assert!(
        (stats["success_rate"].as_f64().unwrap() - 400.0 / 6.0).abs() < 1e-9,
        "{stats}"
    );
    let (_, hist) = get(&gw, "/api/logs/histogram").await;
    let total: u64 = hist["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6, "{hist}");
    let (_, fd) = get(&gw, "/api/logs/filterdata").await;
    assert_eq!(fd["providers"], json!(["anthropic", "openai"]), "{fd}");
    let (_, dropped) = get(&gw, "/api/logs/dropped").await;
    assert_eq!(dropped["dropped"], 0);

    // Bad parameters name themselves.
    for (q, param) in [
        ("limit=0", "limit"),
        ("sort_by=size", "sort_by"),
        ("start_time=yesterday", "start_time"),
        ("bogus=1", "bogus"),
    ] {
        let (status, body) = get(&gw, &format!("/api/logs?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["param"], param, "{q}: {body}");
    }
    // Extreme numbers are a 400 or an empty answer, never an overflow (schemathesis found
    // `bucket=9223372036854775806` closing the connection).
    let (status, body) = get(&gw, "/api/logs/histogram?bucket=9223372036854775806").await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("bucket")),
        "{body}"
    );
    for q in [
        "start_time=-9223372036854775808&end_time=9223372036854775807",
        "start_time=9223372036854775807",
        "end_time=-9223372036854775808",
    ] {
        let (status, body) = get(&gw, &format!("/api/logs/histogram?{q}")).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(
            get(&gw, &format!("/api/logs/stats?{q}")).await.0,
            200,
            "{q}"
        );
        assert_eq!(get(&gw, &format!("/api/logs?{q}")).await.0, 200, "{q}");
    }

    // Deleting by filter.
    let delete = async |path: &str| {
        client()
            .delete(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap()
    };
    let r = delete("/api/logs?status=error").await;
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], 2);
    assert_eq!(logs_until(&gw, "", 4).await.len(), 4);
    let r = delete("/api/logs").await;
    assert_eq!(r.status(), 400, "an empty filter needs all=true");
    gw.stop().await;
}

#[tokio::test]
async fn concurrent_requests_give_exactly_one_row_each_or_a_counted_drop() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for (queue, n) in [("", 300usize), (r#","log_queue_size":1"#, 300)] {
        let dir = app_dir();
        let cli = bifrost_http::cli::Cli {
            app_dir: Some(dir.clone()),
            ..Default::default()
        };
        let gw = start_with(&config(&mock, queue), &[], cli).await;
        // With the one-row queue, the database is locked meanwhile (as a stalled disk would
        // leave it): the writer waits, the queue stays full, and further rows must be dropped.
        let mut lock = None;
        if !queue.is_empty() {
            use sqlx::Connection as _;
            let url = format!("sqlite://{}", dir.join("logs.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            lock = Some(conn);
        }
        let body = ask("x");
        let sends = (0..n).map(|i| {
            let (gw, body) = (&gw, &body);
            async move {
                let id = format!("r{i}");
                let r = chat(gw, body.clone(), &[("x-request-id", &id)]).await;
                assert_eq!(r.status(), 200);
            }
        });
        futures::future::join_all(sends).await;
        if let Some(mut conn) = lock.take() {
            sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        }
        let (rows, dropped) = eventually(
            Duration::from_secs(10),
            Duration::from_millis(50),
            async || {
                let (_, d) = get(&gw, "/api/logs/dropped").await;
                let (_, s) = get(&gw, "/api/logs/stats").await;
                let rows = s["total_requests"].as_u64().unwrap();
                let dropped = d["dropped"].as_u64().unwrap();
                if rows + dropped == n as u64 {
                    Ok((rows, dropped))
                } else {
                    Err(format!("{rows} + {dropped} != {n}"))
                }
            },
        )
        .await;
        if queue.is_empty() {
            assert_eq!(dropped, 0);
        } else {
            assert!(dropped > 0, "a one-row queue behind a locked database");
        }
        let metrics = metrics_text(&gw.url).await;
        for (outcome, n) in [("dropped", dropped), ("written", rows)] {
            let line = format!("bifrost_log_rows_total{{outcome=\"{outcome}\"}} {n}");
            assert!(metrics.contains(&line), "{line} not in /metrics");
        }
        gw.stop().await;
    }
}

#[tokio::test]
async fn content_logging_off_keeps_everything_but_content() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start(&config(&mock, r#","disable_content_logging":true"#)).await;
    let r = chat(&gw, ask("secret plans"), &[]).await;
    assert_eq!(r.status(), 200);
    let row = &logs_until(&gw, "", 1).await[0];
    assert!(row["input"].is_null() && row["output"].is_null(), "{row}");
    assert!(row["total_tokens"].as_i64().unwrap() > 0);
    assert!(!row.to_string().contains("secret plans"));
    gw.stop().await;
}

#[tokio::test]
async fn the_live_tail_streams_new_rows() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start(&config(&mock, "")).await;
    let tail = http_get(format!("{}/api/logs/stream?providers=openai", gw.url)).await;
    assert_eq!(tail.status(), 200);
    let mut body = tail.bytes_stream();
    let r = chat(&gw, ask("tail me"), &[("x-request-id", "req-tail")]).await;
    assert_eq!(r.status(), 200);
    use futures::StreamExt;
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("req-tail") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{seen}");
    assert!(seen.contains("event: log"));
    gw.stop().await;
}

/// Sum over every series of metric `name` whose line holds every label.
async fn metric(gw: &TestGateway, name: &str, labels: &[&str]) -> f64 {
    metric_sum(&metrics_text(&gw.url).await, name, labels)
}

/// Issue 16 #10: a stream that breaks after its first chunk, a client that leaves a unary
/// request and one that leaves a stream are each logged and counted once, with their true
/// outcome — not as successes, and not missing.
#[tokio::test]
async fn broken_streams_and_clients_that_leave_are_logged_and_counted_as_such() {
    let mock = MockServer::start(MockConfig {
        chunks: 8,
        chunk_delay: Duration::from_millis(20),
        stream_fail_after: Some(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = start_with(&config(&mock, ""), &[], bifrost_http::cli::Cli::default()).await;
    let stream = json!({"model":"openai/gpt-4o-mini","stream":true,
        "messages":[{"role":"user","content":"hello there friend"}]});

    // 1. Broken after two chunks: the client saw 200 and some text, then an error event.
    let r = chat(&gw, stream.clone(), &[("x-request-id", "req-broken")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("\"error\""));
    let rows = logs_until(&gw, "", 1).await;
    assert_eq!(rows[0]["id"], "req-broken");
    assert_eq!(rows[0]["status"], "error", "{}", rows[0]);
    let succ = "bifrost_success_requests_total";
    let errs = "bifrost_error_requests_total";
    assert_eq!(metric(&gw, succ, &[]).await, 0.0);
    assert_eq!(
        metric(&gw, errs, &["error_class=\"stream_error\""]).await,
        1.0
    );

    // 2. A unary request the client gives up on while the upstream thinks.
    mock.set_config(MockConfig {
        latency: Duration::from_secs(3),
        ..MockConfig::default()
    });
    let unary = json!({"model":"openai/gpt-4o-mini",
        "messages":[{"role":"user","content":"hello"}]});
    let gone = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-request-id", "req-left-unary")
        .timeout(Duration::from_millis(300))
        .json(&unary)
        .send()
        .await;
    assert!(gone.unwrap_err().is_timeout());

    // 3. A stream the client drops after its first chunk while the upstream stalls.
    mock.set_config(MockConfig {
        chunks: 6,
        stall_after_chunks: Some((1, Duration::from_secs(3))),
        ..MockConfig::default()
    });
    let mut r = chat(&gw, stream, &[("x-request-id", "req-left-stream")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.chunk().await.unwrap().is_some());
    drop(r);

    let rows = logs_until(&gw, "status=cancelled", 2).await;
    let mut seen: Vec<(&str, bool, i64)> = rows
        .iter()
        .map(|r| {
            let stream = r["stream"].as_bool().unwrap_or(false);
            (
                r["id"].as_str().unwrap(),
                stream,
                r["http_status"].as_i64().unwrap(),
            )
        })
        .collect();
    seen.sort_unstable();
    // The stream's client had its 200 already; the unary one never got an answer.
    assert_eq!(
        seen,
        [
            ("req-left-stream", true, 200),
            ("req-left-unary", false, 499)
        ],
        "{rows:?}"
    );
    // Each once: three rows in all, and the metrics agree.
    assert_eq!(logs_until(&gw, "", 3).await.len(), 3);
    assert_eq!(metric(&gw, succ, &[]).await, 0.0);
    assert_eq!(metric(&gw, errs, &[]).await, 1.0);
    assert_eq!(
        metric(
            &gw,
            "bifrost_cancelled_streams_total",
            &["provider=\"openai\""]
        )
        .await,
        1.0
    );
    let http = "http_requests_total";
    let chat_route = "endpoint=\"/v1/chat/completions\"";
    assert_eq!(metric(&gw, http, &[chat_route]).await, 3.0);
    assert_eq!(
        metric(&gw, http, &[chat_route, "status=\"499\""]).await,
        1.0
    );
    gw.stop().await;
}
