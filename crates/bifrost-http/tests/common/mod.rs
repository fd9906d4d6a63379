//! Test harness: the gateway in-process on a free loopback port, configured from a real
//! config file, talking to mock providers over real HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bifrost_http::cli::Cli;
use bifrost_http::Gateway;
use futures::StreamExt;
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
    let models: serde_json::Value = client()
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}
