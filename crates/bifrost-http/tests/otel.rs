//! OpenTelemetry trace export end to end: the gateway (in-process, and the binary) sends its
//! `bifrost.request` / `bifrost.attempt` spans over OTLP/HTTP to a test collector that decodes
//! the protobuf `ExportTraceServiceRequest`s.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use bifrost_http::cli::Cli;
use bifrost_http::otel::{self, Telemetry};
use bifrost_mock::{MockConfig, MockServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BODY: &str = r#"{"provider":"openai","model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}"#;
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// One export as received: its headers, `service.name`, and spans.
#[derive(Clone, Debug)]
struct Export {
    headers: HeaderMap,
    service_name: Option<String>,
    spans: Vec<Span>,
}

/// A minimal OTLP/HTTP collector: `POST /v1/traces` with a protobuf body.
struct Collector {
    url: String,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl Collector {
    async fn start() -> Self {
        let exports: Arc<Mutex<Vec<Export>>> = Arc::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(exports.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, exports }
    }

    fn spans(&self) -> Vec<Span> {
        let exports = self.exports.lock().unwrap();
        exports.iter().flat_map(|e| e.spans.clone()).collect()
    }

    fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the spans received so far.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        common::eventually(
            Duration::from_secs(10),
            Duration::from_millis(20),
            async || {
                let spans = self.spans();
                if pred(&spans) {
                    Ok(spans)
                } else {
                    Err(format!("collector never got {what}; got {spans:#?}"))
                }
            },
        )
        .await
    }
}

async fn receive(
    State(exports): State<Arc<Mutex<Vec<Export>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut export = Export {
        headers,
        service_name: None,
        spans: Vec::new(),
    };
    for rs in req.resource_spans {
        if let Some(r) = &rs.resource {
            export.service_name = str_attr(&r.attributes, "service.name").map(str::to_owned);
        }
        for ss in rs.scope_spans {
            export.spans.extend(ss.spans);
        }
    }
    exports.lock().unwrap().push(export);
    // An empty ExportTraceServiceResponse.
    ""
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn status_code(span: &Span) -> i32 {
    span.status.as_ref().map_or(0, |s| s.code)
}

/// The one span of `kind`.
fn only<'a>(spans: &'a [Span], kind: SpanKind, what: &str) -> &'a Span {
    let of_kind: Vec<&Span> = spans.iter().filter(|s| s.kind == kind as i32).collect();
    assert_eq!(of_kind.len(), 1, "{what}: {spans:#?}");
    of_kind[0]
}

/// The `providers` section: OpenAI at the mock, without retries.
fn providers(mock: &MockServer) -> String {
    format!(
        r#""providers":{{"openai":{{"keys":[{{"value":"k"}}],
              "network_config":{{"base_url":"{}","retries":0}}}}}}"#,
        mock.url()
    )
}

fn config(mock: &MockServer, collector_url: &str, protocol: &str) -> String {
    format!(
        r#"{{{},
            "plugins":[{{"enabled":true,"name":"otel","config":{{
              "collector_url":"{collector_url}","protocol":"{protocol}",
              "service_name":"bifrost-test","headers":{{"x-collector-token":"env.COLLECTOR_TOKEN"}}}}}}]}}"#,
        providers(mock)
    )
}

async fn flush(t: Telemetry) -> Telemetry {
    tokio::task::spawn_blocking(move || {
        t.flush().unwrap();
        t
    })
    .await
    .unwrap()
}

/// The whole in-process flow; one test, since it installs the process-wide subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_in_the_callers_trace() {
    let collector = Collector::start().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = common::load(
        &config(&mock, &collector.url, "http"),
        &[("COLLECTOR_TOKEN", "t0k")],
        Cli::default(),
    )
    .await
    .unwrap();
    let otel_config = gw.otel.clone().expect("the otel plugin is on");
    assert_eq!(otel_config.endpoint, format!("{}/v1/traces", collector.url));
    let telemetry = otel::init("warn", "json", Some(&otel_config)).unwrap();
    assert!(telemetry.is_exporting());
    let gw = common::serve(gw).await;
    let chat = async |headers: &[(&str, &str)]| {
        common::post_raw(&gw, "/v1/chat/completions", BODY, headers).await
    };

    // 1. A successful request carrying a W3C traceparent.
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let resp = chat(&[("traceparent", &traceparent)]).await;
    assert_eq!(resp.status(), 200);
    let usage: serde_json::Value = resp.json().await.unwrap();
    let telemetry = flush(telemetry).await;
    let spans = collector
        .wait_for("the request and attempt spans", |s| s.len() >= 2)
        .await;

    let server = only(&spans, SpanKind::Server, "one request");
    assert_eq!(server.name, "POST /v1/chat/completions");
    assert_eq!(server.trace_id, unhex(TRACE_ID), "joins the caller's trace");
    assert_eq!(
        server.parent_span_id,
        unhex(PARENT_ID),
        "child of the caller"
    );
    assert_eq!(
        str_attr(&server.attributes, "http.route"),
        Some("/v1/chat/completions")
    );
    assert_eq!(
        int_attr(&server.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(
        str_attr(&server.attributes, "gen_ai.provider.name"),
        Some("openai")
    );
    assert!(str_attr(&server.attributes, "bifrost.request_id").is_some());
    assert_ne!(status_code(server), StatusCode::Error as i32);

    let attempt = only(&spans, SpanKind::Client, "one attempt");
    assert_eq!(attempt.name, "chat gpt-4o-mini");
    assert_eq!(attempt.trace_id, unhex(TRACE_ID));
    assert_eq!(
        attempt.parent_span_id, server.span_id,
        "child of the request"
    );
    let a = &attempt.attributes;
    assert_eq!(str_attr(a, "gen_ai.operation.name"), Some("chat"));
    assert_eq!(str_attr(a, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(str_attr(a, "gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_eq!(int_attr(a, "gen_ai.request.max_tokens"), Some(64));
    let input = int_attr(a, "gen_ai.usage.input_tokens").expect("input tokens");
    assert!(input > 0);
    assert_eq!(
        serde_json::json!(input),
        usage["usage"]["prompt_tokens"],
        "the upstream's count"
    );
    assert!(int_attr(a, "gen_ai.usage.output_tokens").is_some());
    assert_eq!(int_attr(a, "http.response.status_code"), Some(200));
    assert!(attr(a, "error.type").is_none());
    assert_ne!(status_code(attempt), StatusCode::Error as i32);

    let exports = collector.exports();
    assert_eq!(exports[0].service_name.as_deref(), Some("bifrost-test"));
    assert_eq!(exports[0].headers["x-collector-token"], "t0k");
    assert_eq!(exports[0].headers["content-type"], "application/x-protobuf");

    // 2. A failing upstream, no traceparent: a new root trace with an error attempt.
    mock.set_config(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    });
    let resp = chat(&[]).await;
    let status = resp.status().as_u16();
    assert!(status >= 500, "{status}");
    let telemetry = flush(telemetry).await;
    let spans = collector
        .wait_for("the failed request's spans", |s| s.len() >= 4)
        .await;
    let failed = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32 && attr(&s.attributes, "error.type").is_some())
        .unwrap_or_else(|| panic!("an attempt with error.type: {spans:#?}"));
    assert_eq!(status_code(failed), StatusCode::Error as i32);
    assert_eq!(
        int_attr(&failed.attributes, "http.response.status_code"),
        Some(500)
    );
    assert!(int_attr(&failed.attributes, "gen_ai.usage.input_tokens").is_none());
    let parent = spans
        .iter()
        .find(|s| s.span_id == failed.parent_span_id)
        .expect("the failed attempt's request span");
    assert_eq!(parent.kind, SpanKind::Server as i32);
    assert_ne!(parent.trace_id, unhex(TRACE_ID), "a new trace");
    assert!(parent.parent_span_id.is_empty(), "a root span");
    assert_eq!(status_code(parent), StatusCode::Error as i32);
    assert_eq!(
        int_attr(&parent.attributes, "http.response.status_code"),
        Some(i64::from(status))
    );

    gw.stop().await;
    tokio::task::spawn_blocking(move || telemetry.shutdown().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn grpc_is_a_startup_error_naming_the_json_path() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = config(&mock, "http://127.0.0.1:4317", "grpc");
    let msg = format!(
        "{:#}",
        common::load_error(&config, &[("COLLECTOR_TOKEN", "t")]).await
    );
    assert!(
        msg.contains("plugins[0].config.protocol") && msg.contains("only \"http\""),
        "{msg}"
    );

    // The binary says so on stderr and exits 1.
    let err =
        common::start_failure(common::gateway_command(&config, "0").env("COLLECTOR_TOKEN", "t"));
    assert!(
        err.contains("plugins[0].config.protocol") && err.contains("grpc"),
        "{err}"
    );
}

/// The binary, turned on by the standard variables only, sends its spans when it exits: the
/// batch delay is far longer than the test, so only the shutdown flush can deliver them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_from_otel_env_vars_and_flushes_on_exit() {
    let collector = Collector::start().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let port = common::free_port();
    let mut cmd = common::gateway_command(&format!("{{{}}}", providers(&mock)), &port.to_string());
    let mut gw = common::Running::spawn(
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
            .env("OTEL_SERVICE_NAME", "bifrost-env")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "x-env-token=e%20t")
            .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_SDK_DISABLED"),
        port,
    );
    gw.health(Duration::from_secs(10)).await;
    let resp = common::client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        collector.spans().is_empty(),
        "nothing before the exit flush"
    );

    gw.sigterm();
    let status = gw.exit_status(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));

    let spans = collector
        .wait_for("the flushed spans", |s| s.len() >= 2)
        .await;
    assert!(spans.iter().all(|s| s.trace_id == unhex(TRACE_ID)));
    assert!(spans.iter().any(|s| s.name == "chat gpt-4o-mini"));
    let exports = collector.exports();
    assert_eq!(exports[0].service_name.as_deref(), Some("bifrost-env"));
    assert_eq!(exports[0].headers["x-env-token"], "e t");
}
