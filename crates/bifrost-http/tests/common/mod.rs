//! Test harness: the gateway in-process on a free loopback port, configured from a real
//! config file, talking to mock providers over real HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bifrost_http::cli::Cli;
use bifrost_http::Gateway;
use bifrost_mock::{MockConfig, MockServer};
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{IntoUrl, Method, RequestBuilder, Response};
use serde_json::Value;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct TestGateway {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `config` to a temporary file.
pub fn config_file(config: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "bifrost-test-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, config).unwrap();
    path
}

/// A new empty app directory (where the config and logs databases live).
pub fn app_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bifrost-test-app-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub async fn load(config: &str, env: &[(&str, &str)], cli: Cli) -> anyhow::Result<Gateway> {
    // Each gateway has its own stores, unless the test shares one on purpose.
    let cli = Cli {
        config: Some(config_file(config)),
        app_dir: cli.app_dir.clone().or_else(|| Some(app_dir())),
        ..cli
    };
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Gateway::load(&cli, &lookup).await
}

pub async fn start_with(config: &str, env: &[(&str, &str)], cli: Cli) -> TestGateway {
    let gw = load(config, env, cli).await.expect("gateway config loads");
    serve(gw).await
}

/// Waits out the last seconds of an hour. Counting windows are aligned to the epoch, so a test
/// that counts requests against an hourly limit must not straddle 00 minutes (a few seconds of
/// requests; rare, but CI once ran across a window edge).
pub async fn clear_of_hour_edge() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = 3_600_000 - now % 3_600_000;
    if left < 30_000 {
        tokio::time::sleep(std::time::Duration::from_millis(left + 500)).await;
    }
}

/// [`start`] for a test that counts against hourly limits.
pub async fn start_counting(config: &str) -> TestGateway {
    clear_of_hour_edge().await;
    start(config).await
}

pub async fn start(config: &str) -> TestGateway {
    start_with(config, &[], Cli::default()).await
}

pub async fn serve(gw: Gateway) -> TestGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gw.serve(listener, async move {
        let _ = rx.await;
    }));
    TestGateway {
        url,
        stop: Some(tx),
        task: Some(task),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Why `config` (with `env`) does not load.
pub async fn load_error(config: &str, env: &[(&str, &str)]) -> anyhow::Error {
    load(config, env, Cli::default())
        .await
        .err()
        .expect("the config is refused")
}

/// A mock provider with `config`.
pub async fn start_mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.unwrap()
}

/// A mock provider that checks SigV4 signatures made with these AWS credentials.
pub async fn aws_mock(access_key: &str, secret_key: &str) -> MockServer {
    start_mock(MockConfig {
        aws_credentials: Some((access_key.into(), secret_key.into())),
        ..MockConfig::default()
    })
    .await
}

/// A mock config that answers every inference request with `status`.
pub fn failing(status: u16) -> MockConfig {
    MockConfig {
        fail_rate: 1.0,
        fail_status: status,
        ..MockConfig::default()
    }
}

/// `req` with each of `headers` added.
pub fn with_headers(mut req: RequestBuilder, headers: &[(&str, &str)]) -> RequestBuilder {
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req
}

/// `GET url`, sent.
pub async fn http_get(url: impl IntoUrl) -> Response {
    client().get(url).send().await.unwrap()
}

/// Sends `req`; the answer's body as JSON.
pub async fn json_answer(req: RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// `GET url`'s body as JSON.
pub async fn get_json(url: impl IntoUrl) -> Value {
    json_answer(client().get(url)).await
}

/// `GET url`, checked to answer 200 with a content type that starts with `content_type`.
pub async fn get_ok(url: impl IntoUrl, content_type: &str) -> Response {
    let resp = http_get(url).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with(content_type));
    resp
}

/// `POST {gw}{path}` with a JSON body and the headers given.
pub async fn post_json(
    gw: &TestGateway,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Response {
    let req = client().post(format!("{}{path}", gw.url)).json(body);
    with_headers(req, headers).send().await.unwrap()
}

/// `POST {gw}{path}` with `body` as it is (labelled JSON: it may well not be) and the headers
/// given.
pub async fn post_raw(
    gw: &TestGateway,
    path: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> Response {
    let req = client()
        .post(format!("{}{path}", gw.url))
        .header("content-type", "application/json")
        .body(body);
    with_headers(req, headers).send().await.unwrap()
}

/// A response's status and JSON body (`Null` when it has none).
pub async fn status_json(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Sends `req`: the answer's status, headers and JSON body (`Null` when it has none).
pub async fn exchange(req: RequestBuilder) -> (u16, HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let headers = r.headers().clone();
    let (status, body) = status_json(r).await;
    (status, headers, body)
}

/// `method path` on the gateway with an optional JSON body: the status and JSON answer.
pub async fn call(
    gw: &TestGateway,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}{path}", gw.url));
    if let Some(b) = body {
        req = req.json(&b);
    }
    status_json(req.send().await.unwrap()).await
}

/// Retries `attempt` every `every` until it succeeds; once `limit` has passed, fails the test
/// with its last error. For what the gateway does in the background: log rows, counters, other
/// replicas, a process starting or stopping.
pub async fn eventually<T>(
    limit: Duration,
    every: Duration,
    mut attempt: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let t = Instant::now();
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(why) => assert!(t.elapsed() < limit, "{why}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// [`eventually`] for a condition: fails with `what` if it never holds.
pub async fn wait_until(
    limit: Duration,
    every: Duration,
    what: &str,
    mut done: impl AsyncFnMut() -> bool,
) {
    eventually(limit, every, async || {
        if done().await {
            Ok(())
        } else {
            Err(what.to_owned())
        }
    })
    .await
}

/// The `used` of a governance usage report's limit of `kind`.
pub fn limit_used<'a>(usage: &'a Value, kind: &str) -> &'a Value {
    &usage["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == kind)
        .unwrap()["used"]
}

/// Polls `GET /api/logs?{query}` until `done` holds for its rows (they are written in batches,
/// twice a second), for at most 10 s.
pub async fn poll_logs(
    gw: &TestGateway,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let url = format!("{}/api/logs?{query}", gw.url);
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || {
            let (status, page) = status_json(http_get(&url).await).await;
            assert_eq!(status, 200, "{page}");
            let rows = page["logs"].as_array().unwrap().clone();
            if done(&rows) {
                Ok(rows)
            } else {
                Err(format!("{query}: {page:#}"))
            }
        },
    )
    .await
}

/// `GET {url}/metrics` as text.
pub async fn metrics_text(url: &str) -> String {
    http_get(format!("{url}/metrics"))
        .await
        .text()
        .await
        .unwrap()
}

/// The lines of every series of metric `name` that holds every label.
pub fn series<'a>(
    text: &'a str,
    name: &'a str,
    labels: &'a [&'a str],
) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter(move |l| {
        l.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            && labels.iter().all(|want| l.contains(want))
    })
}

/// Sum over every series of metric `name` that holds every label.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    series(text, name, labels)
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The JSON of each `data:` line of an SSE body, skipping what does not parse.
pub fn sse_json(text: &str) -> impl Iterator<Item = Value> + '_ {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
}

/// One SSE event as received, with its arrival time.
#[derive(Debug)]
pub struct Received {
    pub data: String,
    pub at: Instant,
}

/// Reads an SSE body to its end, timestamping each `data:` event as it arrives.
pub async fn read_sse(resp: reqwest::Response) -> Vec<Received> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Some(piece) = tokio::time::timeout(Duration::from_secs(20), body.next())
        .await
        .expect("stream stalled")
    {
        let Ok(piece) = piece else { break };
        buf.push_str(std::str::from_utf8(&piece).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(d) = line.strip_prefix("data: ") {
                    out.push(Received {
                        data: d.to_owned(),
                        at: Instant::now(),
                    });
                }
            }
        }
    }
    out
}

/// A provider entry pointing at a mock.
pub fn provider_json(base_url: &str, extra: &str) -> String {
    format!(
        r#"{{"keys":[{{"value":"sk-test","weight":1.0}}],
            "network_config":{{"base_url":"{base_url}","retry_backoff_initial":5,"retry_backoff_max":20{extra}}}}}"#
    )
}

/// The ids `GET /v1/models` lists, after checking its list shape.
pub async fn model_ids(gw: &TestGateway) -> Vec<String> {
    let models = get_json(format!("{}/v1/models", gw.url)).await;
    assert_eq!(models["object"], "list");
    data_ids(&models)
}

/// The `id` of each entry of a list answer's `data`.
pub fn data_ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The gateway binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_bifrost-http");

/// The binary on `config` (written to a file), in a fresh app dir, given `-port port`.
pub fn gateway_command(config: &str, port: &str) -> Command {
    let path = config_file(config);
    let mut cmd = Command::new(BIN);
    cmd.env("XDG_CONFIG_HOME", app_dir())
        .args(["-config", path.to_str().unwrap(), "-port", port]);
    cmd
}

/// Runs `cmd`, which must fail at start (exit status 1); what it wrote to stderr.
pub fn start_failure(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A gateway binary a test spawned; killed when dropped.
pub struct Running {
    pub child: Child,
    pub url: String,
}

impl Running {
    /// Spawns `cmd`, which listens on `port`, with its output discarded.
    pub fn spawn(cmd: &mut Command, port: u16) -> Running {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Running {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The first answer of `/health`, within `limit`.
    pub async fn health(&self, limit: Duration) -> Response {
        let url = format!("{}/health", self.url);
        eventually(limit, Duration::from_millis(20), async || {
            reqwest::get(&url)
                .await
                .map_err(|e| format!("gateway did not start: {e}"))
        })
        .await
    }

    pub fn sigterm(&self) {
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let child = &mut self.child;
        eventually(limit, Duration::from_millis(20), async || {
            child
                .try_wait()
                .unwrap()
                .ok_or_else(|| "did not exit after SIGTERM".to_owned())
        })
        .await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
