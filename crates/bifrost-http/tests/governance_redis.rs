//! Governance with its counters in a real Redis: limits exact across replicas (three
//! `bifrost-http` processes on one Redis), and what happens when Redis goes away and comes back.
//!
//! Each test starts its own `redis-server` (Debian's `redis-server`, which `scripts/test.sh`
//! installs) on a free loopback port, without persistence, and kills it at the end. Without the
//! binary the tests fail when `BIFROST_REQUIRE_REDIS` is set, and are skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Redis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    /// A throwaway server on `port` (a free one when `None`), or `None` when Redis is not
    /// installed and not required.
    fn start(port: Option<u16>) -> Option<Redis> {
        let port = port.unwrap_or_else(free_port);
        let dir = app_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir", dir.to_str().unwrap()])
            // DEBUG SLEEP stalls the server in one test.
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if std::env::var_os("BIFROST_REQUIRE_REDIS").is_none() => {
                eprintln!("skipped: redis-server cannot start ({e}); scripts/test.sh installs it");
                return None;
            }
            Err(e) => panic!("redis-server: {e}"),
        };
        let r = Redis { child, port, dir };
        let t = Instant::now();
        while !r.ping() {
            assert!(t.elapsed() < Duration::from_secs(10), "redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(r)
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The gateway binary on `config`, once it answers.
async fn replica(config: &str) -> Running {
    clear_of_hour_edge().await;
    let port = free_port();
    let mut cmd = gateway_command(config, &port.to_string());
    let r = Running::spawn(cmd.args(["-log-level", "warn"]), port);
    r.health(Duration::from_secs(20)).await;
    r
}

/// The request every client sends: max 10 output tokens.
const BODY: &str = r#"{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hello!"}]}"#;

fn config(mock: &MockServer, redis: &Redis, governance: &str) -> String {
    config_with_timeout(mock, redis, governance, 500)
}

/// `timeout_ms`: how long a request waits for Redis (a loaded test machine needs more than the
/// default for 1,000 requests at once).
fn config_with_timeout(mock: &MockServer, redis: &Redis, governance: &str, t: u64) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"sk-x","weight":1.0}}],
              "network_config":{{"base_url":"{u}","retries":0}},
              "concurrency_and_buffer_size":{{"concurrency":2000,"buffer_size":4000}},
              "pricing_overrides":[{{"model_pattern":"gpt-4o-mini","input_cost_per_token":0,
                                     "output_cost_per_token":0.001}}]}}}},
            "client":{{"enable_logging":false}},
            "kv_store":{{"type":"redis","redis":{{"addr":"127.0.0.1:{p}","timeout_ms":{t}}}}},
            "governance":{governance}}}"#,
        u = mock.url(),
        p = redis.port,
    )
}

/// Sends `n` requests at once with `vk`, spread over `urls`; counts answers by status.
async fn burst(urls: &[String], vk: &str, n: usize) -> std::collections::BTreeMap<u16, usize> {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(2000)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let c = c.clone();
            let url = format!("{}/v1/chat/completions", urls[i % urls.len()]);
            let vk = vk.to_owned();
            tokio::spawn(async move {
                c.post(url)
                    .header("x-bf-vk", vk)
                    .header("content-type", "application/json")
                    .body(BODY)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_one_redis_allow_exactly_the_limit() {
    let Some(redis) = Redis::start(None) else {
        return;
    };
    // Every answer takes a second: all 1,000 reservations are made before any is reconciled.
    let mock = MockServer::start(MockConfig {
        latency: Duration::from_secs(1),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    // Tokens reserved per request: ~4 bytes a token of the body, plus max_tokens.
    let per_request = BODY.len() / 4 + 10;
    let gov = format!(
        r#"{{"budgets":[{{"id":"dollar","max_limit":1.0,"reset_duration":"1h"}}],
            "rate_limits":[{{"id":"hundred","request_max_limit":100,"request_reset_duration":"1h"}},
                           {{"id":"tokens","token_max_limit":{t},"token_reset_duration":"1h"}}],
            "virtual_keys":[{{"id":"req","value":"sk-bf-requests","rate_limit_id":"hundred"}},
                            {{"id":"usd","value":"sk-bf-budget","budget_id":"dollar"}},
                            {{"id":"tok","value":"sk-bf-tokens","rate_limit_id":"tokens"}}]}}"#,
        t = 100 * per_request
    );
    // Exactness is the point here: no request may fall back to per-replica counters because the
    // machine is slow, so each waits up to 10 s for Redis.
    let cfg = config_with_timeout(&mock, &redis, &gov, 10_000);
    let replicas = futures::future::join_all((0..3).map(|_| replica(&cfg))).await;
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();

    let counts = burst(&urls, "sk-bf-requests", 1000).await;
    assert_eq!(
        counts,
        [(200, 100), (429, 900)].into_iter().collect(),
        "requests"
    );
    // $0.001 per output token × max_tokens 10: each request reserves exactly $0.01 of $1.00.
    let counts = burst(&urls, "sk-bf-budget", 1000).await;
    assert_eq!(
        counts,
        [(200, 100), (402, 900)].into_iter().collect(),
        "budget"
    );
    let counts = burst(&urls, "sk-bf-tokens", 1000).await;
    assert_eq!(
        counts,
        [(200, 100), (429, 900)].into_iter().collect(),
        "tokens"
    );

    // Reconciled in Redis: the token limit now holds what the 100 answers actually used.
    let one = json_answer(
        client()
            .post(format!("{}/v1/chat/completions", urls[0]))
            .header("content-type", "application/json")
            .body(BODY),
    )
    .await;
    let actual = 100 * one["usage"]["total_tokens"].as_i64().unwrap();
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || {
            let u = usage(&urls[1], "tok").await;
            if u["limits"][0]["used"].as_i64() == Some(actual) {
                Ok(())
            } else {
                Err(format!("{u} vs {actual}"))
            }
        },
    )
    .await;

    // Every replica reports the same usage, from Redis.
    for url in &urls {
        let u = usage(url, "req").await;
        assert_eq!(u["shared"], true);
        assert_eq!(u["limits"][0]["used"], 100, "{u}");
    }
}

/// The script answers its clock only, and the gateway places each window again from it: for
/// calendar windows (a team's two weeks, a key's month) both must name the same counter. The
/// usage read back under the gateway's keys holds every request's cost (the reservation and the
/// reconciliation landed in one counter), and every counter the script created expires.
#[tokio::test]
async fn calendar_windows_in_redis_are_the_counters_the_gateway_reads_and_they_expire() {
    let Some(redis) = Redis::start(None) else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gov = r#"{"budgets":[{"id":"month","max_limit":100.0,"reset_duration":"1M","calendar_aligned":true},
                             {"id":"fortnight","max_limit":100.0,"reset_duration":"2w","calendar_aligned":true}],
        "rate_limits":[{"id":"rl","request_max_limit":1000,"request_reset_duration":"1h",
                        "token_max_limit":1000000,"token_reset_duration":"1h"}],
        "teams":[{"id":"t","name":"t","budget_id":"fortnight"}],
        "virtual_keys":[{"id":"cal","value":"sk-bf-calendar","budget_id":"month","rate_limit_id":"rl","team_id":"t"}]}"#;
    let gw = replica(&config(&mock, &redis, gov)).await;
    let mut cost = 0.0;
    for left in ["999", "998", "997"] {
        let (s, h, b) = chat(&gw.url, "sk-bf-calendar", "/v1/chat/completions", body()).await;
        assert_eq!(s, 200, "{b}");
        cost += h["x-bf-cost"].to_str().unwrap().parse::<f64>().unwrap();
        assert_eq!(h["x-ratelimit-remaining-requests"], left, "{h:?}");
    }
    assert!(cost > 0.0);
    let near = |v: &Value| (v.as_f64().unwrap() - cost).abs() < 1e-6;
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || {
            let u = usage(&gw.url, "cal").await;
            let limits = u["limits"].as_array().cloned().unwrap_or_default();
            let budgets: Vec<&Value> = limits.iter().filter(|l| l["kind"] == "budget").collect();
            let requests = limits.iter().find(|l| l["kind"] == "requests");
            if budgets.len() == 2
                && budgets.iter().all(|b| near(&b["used"]))
                && requests.is_some_and(|r| r["used"] == 3)
            {
                Ok(())
            } else {
                Err(format!("{u} vs ${cost}"))
            }
        },
    )
    .await;
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("bf:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{k} has no expiry ({ttl})");
    }
}

/// Key `id`'s usage report, from the gateway at `url`.
async fn usage(url: &str, id: &str) -> Value {
    get_json(format!("{url}/api/governance/virtual-keys/{id}/usage")).await
}

async fn chat(url: &str, vk: &str, path: &str, body: Value) -> (u16, http::HeaderMap, Value) {
    let req = client()
        .post(format!("{url}{path}"))
        .header("x-bf-vk", vk)
        .json(&body);
    exchange(req).await
}

fn body() -> Value {
    serde_json::from_str(BODY).unwrap()
}

/// The status of [`BODY`] sent to `/v1/chat/completions` with `vk`.
async fn status(url: &str, vk: &str) -> u16 {
    chat(url, vk, "/v1/chat/completions", body()).await.0
}

/// Sends until the limit of 5 is reached again (Redis back, counting from zero): `true` when
/// exactly 5 pass and the 6th is refused.
async fn enforced(url: &str, vk: &str) -> bool {
    for _ in 0..5 {
        if status(url, vk).await != 200 {
            return false;
        }
    }
    status(url, vk).await == 429
}

#[tokio::test]
async fn redis_going_away_fails_closed_or_open_as_configured_and_enforcement_resumes() {
    let Some(redis) = Redis::start(None) else {
        return;
    };
    let port = redis.port;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gov = |mode: &str| {
        format!(
            r#"{{"on_store_failure":"{mode}",
                "rate_limits":[{{"id":"a","request_max_limit":5,"request_reset_duration":"1h"}},
                               {{"id":"b","request_max_limit":5,"request_reset_duration":"1h"}},
                               {{"id":"c","request_max_limit":5,"request_reset_duration":"1h"}}],
                "virtual_keys":[{{"id":"a","value":"sk-bf-a","rate_limit_id":"a"}},
                                {{"id":"b","value":"sk-bf-b","rate_limit_id":"b"}},
                                {{"id":"c","value":"sk-bf-c","rate_limit_id":"c"}}]}}"#
        )
    };
    let closed = start_counting(&config(&mock, &redis, &gov("closed"))).await;
    let open = start_counting(&config(&mock, &redis, &gov("open"))).await;
    // Both enforce through Redis: a limit used up on one gateway is used up on the other.
    for _ in 0..5 {
        assert_eq!(status(&closed.url, "sk-bf-a").await, 200);
    }
    assert_eq!(status(&open.url, "sk-bf-a").await, 429);

    drop(redis);
    // Closed: 503 in each route's own shape.
    let (s, _, b) = chat(&closed.url, "sk-bf-c", "/v1/chat/completions", body()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("governance_unavailable")),
        "{b}"
    );
    let (s, _, b) = chat(
        &closed.url,
        "sk-bf-c",
        "/anthropic/v1/messages",
        json!({"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}),
    )
    .await;
    assert_eq!((s, b["type"].as_str()), (503, Some("error")), "{b}");
    // Open: requests pass (limited per replica) and the failure is counted.
    let (s, _, b) = chat(&open.url, "sk-bf-b", "/v1/chat/completions", body()).await;
    assert_eq!(s, 200, "{b}");
    let metrics = metrics_text(&open.url).await;
    let failures: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bifrost_governance_store_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 1.0, "{metrics}");

    // Redis returns (empty): both enforce again, without a restart.
    let redis = Redis::start(Some(port)).unwrap();
    // Keys whose limits nothing has refused yet (a refusal is remembered locally until its
    // window ends).
    for (gw, vk) in [(&closed, "sk-bf-c"), (&open, "sk-bf-b")] {
        let resumed = async || {
            // Clear what the previous attempt counted, then try a full window's worth.
            let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
            s.write_all(b"FLUSHALL\r\n").unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            enforced(&gw.url, vk).await
        };
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(200),
            "enforcement did not resume",
            resumed,
        )
        .await;
    }
    closed.stop().await;
    open.stop().await;
}

#[tokio::test]
async fn a_late_redis_reply_gives_its_reservation_back_and_one_big_request_blocks_no_one() {
    let Some(redis) = Redis::start(None) else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gov = r#"{"on_store_failure":"closed",
        "rate_limits":[{"id":"rl","request_max_limit":100,"request_reset_duration":"1h",
                        "token_max_limit":5000,"token_reset_duration":"1h"}],
        "virtual_keys":[{"id":"k","value":"sk-bf-k","rate_limit_id":"rl"}]}"#;
    let gw = start_counting(&config(&mock, &redis, gov)).await;
    let used = async |kind: &str| {
        let u = usage(&gw.url, "k").await;
        limit_used(&u, kind).as_i64().unwrap()
    };
    // Too big for the token limit: refused, and the limit stays open for normal requests.
    let mut big = body();
    big["max_tokens"] = json!(100_000);
    let (s, _, b) = chat(&gw.url, "sk-bf-k", "/v1/chat/completions", big).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded")),
        "{b}"
    );
    assert_eq!(status(&gw.url, "sk-bf-k").await, 200);
    assert_eq!(used("requests").await, 1);

    // Redis stalls past the gateway's timeout: the request gets 503, and when the script runs
    // late its reservation is given back.
    let port = redis.port;
    let stall = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"DEBUG SLEEP 1.5\r\n").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+OK\r\n");
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _, b) = chat(&gw.url, "sk-bf-k", "/v1/chat/completions", body()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("governance_unavailable")),
        "{b}"
    );
    stall.join().unwrap();
    // The script runs when Redis wakes; its reservation is then given back.
    wait_until(
        Duration::from_secs(5),
        Duration::from_millis(50),
        "the late reservation was never given back",
        async || used("requests").await == 1,
    )
    .await;
    assert_eq!(status(&gw.url, "sk-bf-k").await, 200);
    assert_eq!(used("requests").await, 2);
    gw.stop().await;
}
