//! `/metrics` after real traffic: the seed's names and queries, counts, custom labels,
//! cardinality caps, stage timings, overhead, and `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_mock::{MockConfig, MockServer};
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

const BODY: &str = r#"{"provider":"openai","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

async fn scrape(gw: &TestGateway) -> String {
    get_ok(format!("{}/metrics", gw.url), "text/plain; version=0.0.4")
        .await
        .text()
        .await
        .unwrap()
}

/// The value of the one series whose line starts with `name{` and contains every label.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = series(text, name, labels);
    let line = found.next()?;
    assert!(
        found.next().is_none(),
        "several series match {name} {labels:?}"
    );
    line.rsplit(' ').next()?.parse().ok()
}

async fn gateway(mock: &MockServer, labels: &[&str]) -> TestGateway {
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[
            {{"id":"good","name":"good","value":"sk-good","models":["gpt-4o-mini"]}},
            {{"id":"bad","name":"bad","value":"sk-bad","models":["gpt-4o-mini"]}}],
            "network_config":{{"base_url":"{}","retries":0}}}}}}}}"#,
        mock.url()
    );
    let cli = Cli {
        prometheus_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        ..Cli::default()
    };
    start_with(&config, &[], cli).await
}

/// [`gateway`] on a mock that answers the key `bad` with `status`.
async fn bad_key_gateway(status: u16, labels: &[&str]) -> (MockServer, TestGateway) {
    let mock = start_mock(MockConfig {
        fail_keys: vec!["sk-bad".into()],
        fail_status: status,
        ..MockConfig::default()
    })
    .await;
    let gw = gateway(&mock, labels).await;
    (mock, gw)
}

/// Of the values `{prefix}0` to `{prefix}1000` sent for `label`, the first 1000 have series and
/// the 1001st and one more (too long) were counted as "other".
fn assert_capped(text: &str, label: &str, prefix: &str) {
    assert!(text.contains(&format!(r#"{label}="{prefix}999""#)));
    assert!(!text.contains(&format!(r#"{label}="{prefix}1000""#)));
    let other = format!(r#"{label}="other""#);
    assert_eq!(
        metric_sum(text, "bifrost_upstream_requests_total", &[&other]),
        2.0
    );
}

async fn send(gw: &TestGateway, body: &str, headers: &[(&str, &str)]) -> u16 {
    let req = client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .body(body.to_owned());
    let resp = with_headers(req, headers).send().await.unwrap();
    let status = resp.status().as_u16();
    resp.bytes().await.unwrap();
    status
}

#[tokio::test]
async fn counts_labels_and_the_seeds_queries() {
    let (_mock, gw) = bad_key_gateway(500, &["team-id", "service-id"]).await;
    // 10 requests: 7 pinned to the good key, 3 to the failing one.
    for i in 0..10 {
        let key = if i < 7 { "good" } else { "bad" };
        let team = if i % 2 == 0 { "backend" } else { "frontend" };
        send(
            &gw,
            BODY,
            &[("x-bf-api-key", key), ("x-bf-prom-team-id", team)],
        )
        .await;
    }
    let text = scrape(&gw).await;

    let m = r#"model="gpt-4o-mini""#;
    assert_eq!(
        metric_sum(&text, "bifrost_upstream_requests_total", &[m]),
        10.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "bifrost_upstream_requests_total",
            &[m, r#"status="success""#]
        ),
        7.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "bifrost_upstream_requests_total",
            &[m, r#"status="error""#, r#"status_code="500""#]
        ),
        3.0
    );
    assert_eq!(
        metric_sum(&text, "bifrost_success_requests_total", &[m]),
        7.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "bifrost_error_requests_total",
            &[m, r#"error_class="transient""#]
        ),
        3.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "bifrost_upstream_latency_seconds_count",
            &[r#"provider="openai""#]
        ),
        10.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "http_requests_total",
            &[r#"endpoint="/v1/chat/completions""#, r#"method="POST""#]
        ),
        10.0
    );
    assert_eq!(
        metric_sum(
            &text,
            "http_requests_total",
            &[r#"endpoint="/v1/chat/completions""#, r#"status="500""#]
        ),
        3.0
    );
    // The seed's custom-label query finds its series; absent labels are empty.
    assert!(text.contains(r#"team_id="backend""#));
    assert!(text.contains(r#"service_id="""#));
    assert_eq!(
        metric_sum(
            &text,
            "bifrost_upstream_requests_total",
            &[r#"team_id="backend""#]
        ),
        5.0
    );
    // Tokens, queue wait (the seed greps for queue_wait_time), stages and overhead.
    assert!(metric_sum(&text, "bifrost_input_tokens_total", &[m]) > 0.0);
    assert!(metric_sum(&text, "bifrost_output_tokens_total", &[m]) > 0.0);
    assert_eq!(
        metric_sum(&text, "bifrost_queue_wait_time_seconds_count", &[]),
        10.0
    );
    for stage in [
        "queue_wait",
        "key_selection",
        "message_formatting",
        "json_marshaling",
        "http_request",
        "response_parsing",
    ] {
        let label = format!(r#"stage="{stage}""#);
        assert_eq!(
            metric_sum(&text, "bifrost_stage_duration_seconds_count", &[&label]),
            10.0,
            "{stage}"
        );
    }
    assert!(text.contains("bifrost_queue_depth{provider=\"openai\"} 0"));
    assert!(text.contains("bifrost_active_requests{provider=\"openai\"} 0"));
    assert!(text.contains(r#"bifrost_provider_key_healthy{key_name="good",provider="openai"} 1"#));
    assert!(text.contains("process_resident_memory_bytes"));
    assert!(text.contains("bifrost_build_info{version="));

    // Overhead: above zero, below the end-to-end time.
    let over_sum = value(&text, "bifrost_gateway_overhead_seconds_sum", &[]).unwrap();
    let over_n = value(&text, "bifrost_gateway_overhead_seconds_count", &[]).unwrap();
    let e2e_sum = metric_sum(
        &text,
        "http_request_duration_seconds_sum",
        &[r#"endpoint="/v1/chat/completions""#, r#"status="200""#],
    );
    assert_eq!(over_n, 7.0);
    assert!(
        over_sum > 0.0 && over_sum < e2e_sum,
        "{over_sum} vs {e2e_sum}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn retries_fallbacks_drops_and_cooldowns_are_counted() {
    let (_mock, gw) = bad_key_gateway(429, &[]).await;
    // Pinned to the 429ing key: a cooldown; unpinned afterwards: the good key answers.
    send(&gw, BODY, &[("x-bf-api-key", "bad")]).await;
    send(&gw, BODY, &[]).await;
    let text = scrape(&gw).await;
    assert_eq!(
        value(
            &text,
            "bifrost_key_rotation_events_total",
            &[r#"key_name="bad""#, r#"reason="rate_limited""#]
        ),
        Some(1.0)
    );
    assert!(text.contains(r#"bifrost_provider_key_healthy{key_name="bad",provider="openai"} 0"#));
    gw.stop().await;

    // A provider whose upstream 500s, with a retry and a fallback.
    let bad = MockServer::start(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    let config = format!(
        r#"{{"providers":{{
          "openai":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}","retries":1,"retry_backoff_initial":1,"retry_backoff_max":2}}}},
          "anthropic":{{"keys":[{{"value":"k"}}],"network_config":{{"base_url":"{}"}}}}}}}}"#,
        bad.url(),
        good.url()
    );
    let gw = start(&config).await;
    let status = send(
        &gw,
        r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"fallbacks":["anthropic/claude-3-5-haiku-latest"]}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let text = scrape(&gw).await;
    for (name, labels) in [
        (
            "bifrost_request_retries_total",
            [r#"provider="openai""#, r#"error_class="transient""#],
        ),
        (
            "bifrost_fallbacks_total",
            [r#"from_provider="openai""#, r#"to_provider="anthropic""#],
        ),
    ] {
        assert_eq!(value(&text, name, &labels), Some(1.0), "{name}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn custom_label_values_are_capped() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = gateway(&mock, &["team-id"]).await;
    let long = "x".repeat(200);
    send(&gw, BODY, &[("x-bf-prom-team_id", &long)]).await;
    for i in 0..=bifrost_http::metrics::MAX_LABEL_VALUES {
        let v = format!("team-{i}");
        send(&gw, BODY, &[("x-bf-prom-team-id", &v)]).await;
    }
    let text = scrape(&gw).await;
    assert!(!text.contains(&long));
    // The first 1000 distinct values are kept, the 1001st and the long one become "other".
    assert_capped(&text, "team_id", "team-");
    assert_eq!(
        value(
            &text,
            "bifrost_metric_label_overflow_total",
            &[r#"label="team_id""#]
        ),
        Some(2.0)
    );
    gw.stop().await;
}

#[tokio::test]
async fn client_chosen_model_names_cannot_grow_the_series_without_bound() {
    // A key that allows every model: the model label is whatever the client sends.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"sk-any"}}],
            "network_config":{{"base_url":"{}","retries":0}}}}}}}}"#,
        mock.url()
    );
    let gw = start(&config).await;
    let long = format!("openai/{}", "m".repeat(10_000));
    assert_eq!(
        send(
            &gw,
            &format!(r#"{{"model":"{long}","messages":[{{"role":"user","content":"hi"}}]}}"#),
            &[]
        )
        .await,
        200
    );
    for i in 0..=bifrost_http::metrics::MAX_LABEL_VALUES {
        let body =
            format!(r#"{{"model":"openai/m-{i}","messages":[{{"role":"user","content":"hi"}}]}}"#);
        send(&gw, &body, &[]).await;
    }
    let text = scrape(&gw).await;
    assert!(
        !text.contains(&"m".repeat(200)),
        "the long name is not a label"
    );
    assert_capped(&text, "model", "m-");
    // Counted each time a value is folded (the attempt and its token counts).
    let folded = value(
        &text,
        "bifrost_metric_label_overflow_total",
        &[r#"label="model""#],
    );
    assert!(folded.is_some_and(|v| v >= 2.0), "{folded:?}");
    gw.stop().await;
}

#[tokio::test]
async fn streams_count_tokens_and_the_exposition_passes_promtool() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = gateway(&mock, &["team-id"]).await;
    let stream = r#"{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello there!"}]}"#;
    assert_eq!(
        send(&gw, stream, &[("x-bf-prom-team-id", "backend")]).await,
        200
    );
    send(&gw, BODY, &[]).await;
    send(&gw, "{bad json", &[]).await;
    let text = scrape(&gw).await;
    let s = r#"method="chat_completion_stream""#;
    assert_eq!(
        metric_sum(&text, "bifrost_upstream_requests_total", &[s]),
        1.0
    );
    assert!(metric_sum(&text, "bifrost_output_tokens_total", &[s]) > 0.0);
    assert_eq!(
        value(
            &text,
            "bifrost_gateway_overhead_seconds_count",
            &[r#"stream="true""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_sum(&text, "http_requests_total", &[r#"status="400""#]),
        1.0
    );

    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (Debian package `prometheus`; scripts/test.sh installs it)");
    let mut child = promtool;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;
}
