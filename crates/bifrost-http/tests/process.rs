//! The `bifrost-http` binary as a user runs it: the seed's command line and config file,
//! `--help`, bad flags, and a draining shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::MockConfig;
use common::{gateway_command, Running, BIN};
use std::process::Command;
use std::time::{Duration, Instant};

/// The seed's "High-Performance Server Configuration", exactly as printed.
const SEED_CONFIG: &str = include_str!("fixtures/seed-config.json");

const SEED_BODY: &str = r#"{"provider":"openai","model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

/// Starts the binary with the seed's flags (on a free port) and waits until `/health` answers.
async fn start_seed_command(config: &str) -> Running {
    let port = common::free_port();
    let mut cmd = gateway_command(config, &port.to_string());
    cmd.args(["-pool-size", "25000", "-drop-excess-requests=false"])
        .args(["-prometheus-labels", "team-id,service-id"])
        .env("OPENAI_API_KEY", "sk-anything");
    let running = Running::spawn(&mut cmd, port);
    let health = running.health(Duration::from_secs(10)).await;
    assert_eq!(health.status(), 200);
    running
}

#[tokio::test]
async fn seed_command_and_config_start_and_serve_health() {
    let gw = start_seed_command(SEED_CONFIG).await;
    let body = common::get_json(format!("{}/health", gw.url)).await;
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let mock = common::start_mock(MockConfig {
        latency: Duration::from_millis(800),
        ..MockConfig::default()
    })
    .await;
    let config = SEED_CONFIG.replace(
        r#""timeout": 60000,"#,
        &format!(r#""timeout": 60000, "base_url": "{}","#, mock.url()),
    );
    let mut gw = start_seed_command(&config).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let in_flight = tokio::spawn(reqwest::Client::new().post(&url).body(SEED_BODY).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.sigterm();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // While it drains, new clients are refused at once rather than left waiting in the
    // listen queue until the process exits (the old request is still in flight here).
    let t = Instant::now();
    let refused = reqwest::Client::new()
        .get(format!("{}/health", gw.url))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new connection was taken while draining"
    );
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "refused only after {:?}",
        t.elapsed()
    );
    assert!(!in_flight.is_finished());

    // The request accepted before the signal is answered in full.
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply to: Hello!"
    );

    let status = gw.exit_status(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    // Nothing listens any more.
    assert!(reqwest::get(format!("{}/health", gw.url)).await.is_err());
}

#[test]
fn help_lists_flags_and_bad_flags_exit_2() {
    let out = Command::new(BIN).arg("-h").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let usage = String::from_utf8_lossy(&out.stderr);
    for flag in [
        "-config",
        "-port",
        "-host",
        "-pool-size",
        "-drop-excess-requests",
        "-prometheus-labels",
        "-app-dir",
        "-log-level",
        "-log-style",
    ] {
        assert!(usage.contains(flag), "{flag} missing from usage:\n{usage}");
    }
    let out = Command::new(BIN).arg("-no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-no-such-flag"));
}

#[test]
fn a_bad_config_fails_at_start_naming_the_path() {
    let err = common::start_failure(gateway_command(SEED_CONFIG, "0").env_remove("OPENAI_API_KEY"));
    assert!(
        err.contains("providers.openai.keys[0].value") && err.contains("OPENAI_API_KEY"),
        "{err}"
    );
}
