//! The `faults` scenarios: upstream faults on the primary provider with a fallback.

use anyhow::Result;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::http::http_get;
use crate::load::{figures, oha, status_counts};
use crate::options::Options;
use crate::procs::{rss_kb, start_gateway_with, start_mock, start_mock_on};
use crate::report::us;
use crate::scenario::{Scenario, Vk};
use crate::{GATEWAY_PORT, MOCK_PORT};

/// The port of the second (faulty) mock in the `faults` scenario.
const FAULTY_MOCK_PORT: u16 = 19091;

/// Sum of the `http_requests_total` series of one route in the gateway's /metrics.
fn http_requests(route: &str) -> Result<u64> {
    let (_, text) = http_get(GATEWAY_PORT, "/metrics")?;
    let sum: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("http_requests_total{") && l.contains(&format!("endpoint=\"{route}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(sum as u64)
}

/// Faults with a fallback (issue 16): 5,000 RPS for `--duration` seconds (60 in the issue)
/// while the primary provider's mock fails 30% of requests with one of `mix`, in equal shares
/// (a status, `reset`: the connection closed without an answer, `hang`: 2 s, past the provider's
/// 1 s timeout), and the request names a fallback on a healthy one. Every request must succeed; the client's count, the gateway's
/// `http_requests_total` and the request logs (rows + counted drops) must agree; the RSS at the
/// end must be within 10% of the RSS at the 10th second.
pub(crate) fn faults(opts: &Options, mix: &str) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### faults — 5,000 RPS, 30% upstream faults on the primary ({}), fallback to a healthy provider, {} s\n",
        mix.replace(',', " / "),
        opts.duration
    )?;
    let _healthy = start_mock(opts, 0)?;
    let _faulty = start_mock_on(
        opts,
        FAULTY_MOCK_PORT,
        &[
            "-fail-rate".into(),
            "0.3".into(),
            "-faults".into(),
            mix.into(),
            "-hang-ms".into(),
            "2000".into(),
        ],
    )?;
    // The primary fails over to the fallback at once (no retries): the fallback is the policy
    // under test, and a retry's backoff would only add latency.
    let gw = start_gateway_with(
        opts,
        &format!(
            r#"{{"client":{{"enable_logging":true}},"providers":{{
              "openai":{{"keys":[{{"value":"sk-bench"}}],
                "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":10000}},
                "network_config":{{"base_url":"http://127.0.0.1:{FAULTY_MOCK_PORT}","max_retries":0,"max_conns_per_host":10000,"default_request_timeout_in_seconds":1}}}},
              "anthropic":{{"keys":[{{"value":"sk-bench"}}],
                "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":10000}},
                "network_config":{{"base_url":"http://127.0.0.1:{MOCK_PORT}","max_conns_per_host":10000}}}}}},
              "initial_pool_size":1000}}"#
        ),
    )?;
    let pid = gw.0.id();
    let route = "/v1/chat/completions";
    let before = http_requests(route)?;
    let sampler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        rss_kb(pid)
    });
    let body = r#"{"model":"openai/gpt-4o-mini","fallbacks":["anthropic/claude-3-5-haiku-latest"],"messages":[{"role":"user","content":"Hello!"}]}"#;
    let sc = Scenario {
        name: "faults",
        what: "",
        rate: Some(5000),
        // A hang holds its connection for the 1 s timeout: ≈500 of them at once at 5k RPS.
        connections: 2000,
        mock_latency_ms: 0,
        stream: false,
        anthropic: false,
        logging: true,
        vk: Vk::None,
        seed: false,
    };
    let v = oha(
        &format!("http://127.0.0.1:{GATEWAY_PORT}{route}"),
        body,
        &sc,
        opts.duration,
        false,
    )?;
    let rss_end = rss_kb(pid);
    let rss_10s = sampler.join().unwrap_or(0);
    let run = figures(&v, false, opts.duration);
    let (ok, failed) = status_counts(&v);
    let sent = ok + failed;
    let counted = http_requests(route)? - before;
    let logged = || -> Result<u64> {
        let (_, stats) = http_get(GATEWAY_PORT, "/api/logs/stats")?;
        let (_, dropped) = http_get(GATEWAY_PORT, "/api/logs/dropped")?;
        Ok(serde_json::from_str::<Value>(&stats)?["total_requests"]
            .as_u64()
            .unwrap_or(0)
            + serde_json::from_str::<Value>(&dropped)?["dropped"]
                .as_u64()
                .unwrap_or(0))
    };
    let t = Instant::now();
    let mut rows = logged()?;
    while rows < sent && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        rows = logged()?;
    }
    let (_, m) = http_get(GATEWAY_PORT, "/metrics")?;
    let fallbacks: f64 = m
        .lines()
        .filter(|l| l.starts_with("bifrost_fallbacks_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    writeln!(
        out,
        "| requests | success | non-2xx | fallbacks | counted (`http_requests_total`) | logged (rows + drops) | p50 / p99 (µs) | RSS at 10 s → end |\n|---|---|---|---|---|---|---|---|"
    )?;
    let growth = rss_end as f64 / rss_10s.max(1) as f64 - 1.0;
    writeln!(
        out,
        "| {sent} | {:.2}% | {failed} | {fallbacks:.0} | {counted}{} | {rows}{} | {} / {} | {:.1} → {:.1} MB ({:+.1}%{}) |",
        run.success * 100.0,
        if counted == sent { "" } else { " **≠**" },
        if rows == sent { "" } else { " **≠**" },
        us(run.pct[0]),
        us(run.pct[2]),
        rss_10s as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        growth * 100.0,
        if growth.abs() <= 0.10 { "" } else { " **over 10%**" },
    )?;
    Ok(out)
}
