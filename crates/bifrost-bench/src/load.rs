//! Load generation with oha and the figures read from its JSON output.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::ffi::OsStr;
use std::process::Command;

use crate::options::Options;
use crate::procs::proc_stats;
use crate::scenario::{Scenario, Vk};
use crate::{BENCH_VK, GATEWAY_PORT};

/// One oha run's figures.
#[derive(Debug, Default, Clone)]
pub(crate) struct Run {
    pub(crate) rps: f64,
    pub(crate) success: f64,
    pub(crate) non_2xx: u64,
    /// p50, p90, p99, p99.9 in seconds (first byte for streams, else whole response).
    pub(crate) pct: [f64; 4],
    /// Whole-response percentiles for streams.
    pub(crate) total_pct: [f64; 4],
    pub(crate) peak_rss_kb: u64,
    pub(crate) cpu_cores: f64,
}

pub(crate) fn oha(url: &str, body: &str, sc: &Scenario, seconds: u64, vk: bool) -> Result<Value> {
    let mut args = vec![
        "-w".to_owned(),
        "-z".into(),
        format!("{seconds}s"),
        "-c".into(),
        sc.connections.to_string(),
    ];
    args.extend(post_json(body).map(String::from));
    if let Some(rate) = sc.rate {
        args.extend(["-q".into(), rate.to_string(), "--latency-correction".into()]);
    }
    if vk {
        args.extend(["-H".into(), format!("x-bf-vk: {BENCH_VK}")]);
    }
    // Straight to the mock's Anthropic endpoint, the client must speak Anthropic's headers.
    if url.ends_with("/v1/messages") {
        args.extend(
            [
                "-H",
                "anthropic-version: 2023-06-01",
                "-H",
                "x-api-key: sk-bench",
            ]
            .map(String::from),
        );
    }
    args.push(url.into());
    run_oha(args)
}

/// oha's options to POST `body` as JSON.
pub(crate) fn post_json(body: &str) -> [&str; 6] {
    [
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        body,
    ]
}

/// Runs oha with `args` on CPU 0 (beside the mock, away from the gateway) and returns its JSON
/// report.
pub(crate) fn run_oha(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Value> {
    let out = Command::new("taskset")
        .args(["-c", "0", "oha", "--no-tui", "--output-format", "json"])
        .args(args)
        .output()
        .context("running oha (bench/run.sh installs it)")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("parsing oha's JSON output")
}

pub(crate) fn figures(v: &Value, stream: bool, seconds: u64) -> Run {
    let pct = |key: &str| -> [f64; 4] {
        let p = &v[key];
        let g = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        [g("p50"), g("p90"), g("p99"), g("p99.9")]
    };
    // oha's own rate divides by the time including the wait for the last answers (1 s with a
    // slow mock); the offered rate is what the measured window saw.
    let (ok, non_2xx) = status_counts(v);
    let answered = ok + non_2xx;
    Run {
        rps: answered as f64 / seconds as f64,
        success: v["summary"]["successRate"].as_f64().unwrap_or(0.0),
        non_2xx,
        pct: if stream {
            pct("firstBytePercentiles")
        } else {
            pct("latencyPercentiles")
        },
        total_pct: pct("latencyPercentiles"),
        ..Run::default()
    }
}

/// Warm-up, then a measured run; the proxy's CPU and peak RSS are sampled from /proc.
pub(crate) fn measure(
    opts: &Options,
    url: &str,
    body: &str,
    sc: &Scenario,
    pid: Option<u32>,
) -> Result<Run> {
    // Only the gateway knows virtual keys.
    let vk = sc.vk != Vk::None && url.contains(&format!(":{GATEWAY_PORT}/"));
    oha(url, body, sc, opts.warmup, vk)?;
    let before = pid.map(proc_stats);
    let v = oha(url, body, sc, opts.duration, vk)?;
    let mut run = figures(&v, sc.stream, opts.duration);
    if let (Some(pid), Some((cpu0, _))) = (pid, before) {
        let (cpu1, hwm) = proc_stats(pid);
        run.cpu_cores = (cpu1 - cpu0) / opts.duration as f64;
        run.peak_rss_kb = hwm;
    }
    Ok(run)
}

/// oha's count of answers by status class: (2xx, other).
pub(crate) fn status_counts(v: &Value) -> (u64, u64) {
    let mut ok = 0;
    let mut other = 0;
    if let Some(c) = v["statusCodeDistribution"].as_object() {
        for (k, n) in c {
            let n = n.as_u64().unwrap_or(0);
            if k.starts_with('2') {
                ok += n;
            } else {
                other += n;
            }
        }
    }
    (ok, other)
}
