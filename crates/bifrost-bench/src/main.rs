//! `bifrost-bench`: black-box benchmarks of the gateway (run it through `bench/run.sh`).
//!
//! Method: for each scenario the same open-loop load (oha at a fixed rate with latency
//! correction) goes (a) straight at the mock provider, (b) through the gateway, and (c) through
//! nginx as a plain reverse proxy when nginx is installed; overhead = gateway − direct per
//! percentile. The mock and the load generator share CPU 0, the gateway (or nginx) has CPU 1 to
//! itself with one worker thread, so the two paths differ only by the proxy. The gateway's peak
//! RSS and CPU come from /proc, its stage timings from its own /metrics.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MOCK_PORT: u16 = 19090;
const GATEWAY_PORT: u16 = 18080;
const NGINX_PORT: u16 = 18081;
const REDIS_PORT: u16 = 18082;
/// The virtual key of the governance scenarios.
const BENCH_VK: &str = "sk-bf-bench";

struct Options {
    bin_dir: PathBuf,
    duration: u64,
    warmup: u64,
    scenarios: Vec<String>,
    out: Option<PathBuf>,
    /// Another OpenAI-compatible gateway to measure instead of ours (its own upstream config
    /// must point at the mock on MOCK_PORT).
    target_url: Option<String>,
    /// Rows the `logs-api` scenario seeds into each logs store.
    log_rows: u64,
}

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    what: &'static str,
    rate: Option<u32>,
    connections: u32,
    mock_latency_ms: u64,
    stream: bool,
    /// OpenAI request through the gateway, Anthropic format upstream.
    anthropic: bool,
    /// Request logging on (the default; one row per request to SQLite in the app dir).
    logging: bool,
    /// Requests through the gateway carry a virtual key (limits far above the load).
    vk: Vk,
}

/// Where a governance scenario's counters live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Vk {
    None,
    Memory,
    /// A `redis-server` on loopback, pinned with the load generator.
    Redis,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, what, rate, connections, mock_latency_ms| Scenario {
        name,
        what,
        rate,
        connections,
        mock_latency_ms,
        stream: false,
        anthropic: false,
        logging: true,
        vk: Vk::None,
    };
    vec![
        s("rate-1k", "1,000 RPS, mock 0 ms", Some(1000), 64, 0),
        s("rate-5k", "5,000 RPS, mock 0 ms", Some(5000), 128, 0),
        s(
            "slow-5k",
            "5,000 RPS, mock 1 s (≈5,000 in flight)",
            Some(5000),
            7000,
            1000,
        ),
        s(
            "saturation",
            "max throughput, 64 connections, mock 0 ms",
            None,
            64,
            0,
        ),
        Scenario {
            logging: false,
            ..s(
                "saturation-nolog",
                "max throughput, 64 connections, mock 0 ms, request logging off",
                None,
                64,
                0,
            )
        },
        Scenario {
            logging: false,
            vk: Vk::Memory,
            ..s(
                "saturation-vk",
                "saturation-nolog with a virtual key, counters in memory",
                None,
                64,
                0,
            )
        },
        Scenario {
            logging: false,
            vk: Vk::Redis,
            ..s(
                "saturation-vk-redis",
                "saturation-nolog with a virtual key, counters in Redis on loopback",
                None,
                64,
                0,
            )
        },
        Scenario {
            vk: Vk::Redis,
            ..s(
                "rate-1k-vk-redis",
                "rate-1k with a virtual key, counters in Redis on loopback",
                Some(1000),
                64,
                0,
            )
        },
        Scenario {
            stream: true,
            ..s(
                "stream-1k",
                "streaming, 1,000 RPS, mock 0 ms, 5 chunks",
                Some(1000),
                64,
                0,
            )
        },
        Scenario {
            anthropic: true,
            ..s(
                "anthropic-1k",
                "OpenAI request → Anthropic upstream, 1,000 RPS",
                Some(1000),
                64,
                0,
            )
        },
    ]
}

/// One oha run's figures.
#[derive(Debug, Default, Clone)]
struct Run {
    rps: f64,
    success: f64,
    non_2xx: u64,
    /// p50, p90, p99, p99.9 in seconds (first byte for streams, else whole response).
    pct: [f64; 4],
    /// Whole-response percentiles for streams.
    total_pct: [f64; 4],
    peak_rss_kb: u64,
    cpu_cores: f64,
}

fn main() -> Result<()> {
    let opts = parse_args()?;
    let mut report = String::new();
    writeln!(report, "{}", machine_description())?;
    let nginx = which("nginx");
    let run_all = opts.scenarios.iter().any(|s| s == "all");
    for sc in scenarios() {
        if !run_all && !opts.scenarios.iter().any(|s| s == sc.name) {
            continue;
        }
        eprintln!("== {} ({})", sc.name, sc.what);
        let section = run_scenario(&opts, &sc, nginx.as_deref())
            .with_context(|| format!("scenario {}", sc.name))?;
        report.push_str(&section);
        eprintln!("{section}");
    }
    if run_all || opts.scenarios.iter().any(|s| s == "idle") {
        let idle = idle(&opts)?;
        report.push_str(&idle);
        eprintln!("{idle}");
    }
    // `faults`: 500 / 429 / cut / hang; a 429 without a hint cools the primary's only key, so
    // most requests go straight to the fallback. `faults-no429`: the other three, so the
    // primary stays in rotation and takes its full share of faults.
    for (name, mix) in [
        ("faults", "500,429,reset,hang"),
        ("faults-no429", "500,reset,hang"),
    ] {
        if opts.scenarios.iter().any(|s| s == name) {
            let section = faults(&opts, mix)?;
            report.push_str(&section);
            eprintln!("{section}");
        }
    }
    if opts.scenarios.iter().any(|s| s == "vk-pairs") {
        let section = vk_pairs(&opts)?;
        report.push_str(&section);
        eprintln!("{section}");
    }
    if opts.scenarios.iter().any(|s| s == "slow-clients") {
        let section = slow_clients(&opts)?;
        report.push_str(&section);
        eprintln!("{section}");
    }
    if opts.scenarios.iter().any(|s| s == "control-plane") {
        let section = control_plane(&opts)?;
        report.push_str(&section);
        eprintln!("{section}");
    }
    if opts.scenarios.iter().any(|s| s == "logs-api") {
        let section = logs_api(&opts)?;
        report.push_str(&section);
        eprintln!("{section}");
    }
    println!("{report}");
    if let Some(out) = &opts.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        bin_dir: PathBuf::from("target/release"),
        duration: 30,
        warmup: 5,
        scenarios: vec!["all".into()],
        out: None,
        target_url: None,
        log_rows: 1_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().context(format!("{a} needs a value"));
        match a.as_str() {
            "--bin-dir" => o.bin_dir = PathBuf::from(val()?),
            "--duration" => o.duration = val()?.parse()?,
            "--warmup" => o.warmup = val()?.parse()?,
            "--scenarios" => o.scenarios = val()?.split(',').map(str::to_owned).collect(),
            "--out" => o.out = Some(PathBuf::from(val()?)),
            "--target-url" => o.target_url = Some(val()?),
            "--log-rows" => o.log_rows = val()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "bifrost-bench [--duration S] [--warmup S] [--scenarios all|{}|idle|vk-pairs|faults|faults-no429|slow-clients|control-plane|logs-api,…] \
                     [--out FILE] [--target-url URL] [--bin-dir DIR] [--log-rows N]",
                    scenarios()
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join("|")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

fn which(bin: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then_some(path)
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, {mem}, Linux {}. Load generator (oha) and mock on CPU 0; \
         gateway / nginx on CPU 1 with one worker.\n",
        kernel.trim()
    )
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM first: nginx's master stops its workers then (a SIGKILLed master leaves them
    /// running, still holding the port); SIGKILL after 3 s.
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cpu: u32, bin: &str, args: &[String], env: &[(&str, &str)]) -> Result<Proc> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(cpu.to_string()).arg(bin).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    Ok(Proc(child))
}

fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    http(port, "GET", path, None)
}

/// One HTTP/1.0 exchange with a local server: (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    match body {
        Some(b) => write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{b}",
            b.len()
        )?,
        None => write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?,
    }
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Waits until something accepts connections on `port`.
fn wait_listening(port: u16) -> Result<()> {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn wait_ready(port: u16, path: &str) -> Result<Duration> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if matches!(http_get(port, path), Ok((s, _)) if s < 500 && s > 0) {
            return Ok(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("nothing answered on port {port}")
}

fn start_mock(opts: &Options, latency_ms: u64) -> Result<Proc> {
    let bin = opts.bin_dir.join("bifrost-mock");
    let p = spawn(
        0,
        &bin.to_string_lossy(),
        &[
            "-port".into(),
            MOCK_PORT.to_string(),
            "-latency-ms".into(),
            latency_ms.to_string(),
            "-no-auth".into(),
        ],
        &[],
    )?;
    wait_ready(MOCK_PORT, "/health")?;
    Ok(p)
}

fn gateway_config(upstream: &str, logging: bool, vk: Vk) -> String {
    // One key with a budget and request and token limits, none of them reached by the load.
    let governance = match vk {
        Vk::None => String::new(),
        _ => format!(
            r#""governance":{{"budgets":[{{"id":"b","max_limit":1000000000,"reset_duration":"1h"}}],
              "rate_limits":[{{"id":"r","request_max_limit":1000000000,"request_reset_duration":"1h",
                               "token_max_limit":1000000000000,"token_reset_duration":"1h"}}],
              "virtual_keys":[{{"id":"vk","value":"{BENCH_VK}","budget_id":"b","rate_limit_id":"r"}}]}},"#
        ),
    };
    let kv = match vk {
        Vk::Redis => {
            format!(r#""kv_store":{{"type":"redis","redis":{{"addr":"127.0.0.1:{REDIS_PORT}"}}}},"#)
        }
        _ => String::new(),
    };
    format!(
        r#"{{{governance}{kv}"client":{{"enable_logging":{logging}}},"providers":{{
          "openai":{{"keys":[{{"value":"sk-bench"}}],
            "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":10000}},
            "network_config":{{"base_url":"{upstream}","timeout":30000,"max_conns_per_host":10000}}}},
          "anthropic":{{"keys":[{{"value":"sk-bench"}}],
            "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":10000}},
            "network_config":{{"base_url":"{upstream}","timeout":30000,"max_conns_per_host":10000}}}}}},
          "initial_pool_size":10000}}"#
    )
}

fn start_gateway(opts: &Options, logging: bool, vk: Vk) -> Result<Proc> {
    start_gateway_with(
        opts,
        &gateway_config(&format!("http://127.0.0.1:{MOCK_PORT}"), logging, vk),
    )
}

/// The gateway on CPU 1 with one worker, on `config_json`, in a fresh app dir (empty config and
/// logs databases for every run).
fn start_gateway_with(opts: &Options, config_json: &str) -> Result<Proc> {
    let dir = std::env::temp_dir().join("bifrost-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.json");
    std::fs::write(&config, config_json)?;
    let bin = opts.bin_dir.join("bifrost-http");
    let p = spawn(
        1,
        &bin.to_string_lossy(),
        &[
            "-config".into(),
            config.to_string_lossy().into_owned(),
            "-port".into(),
            GATEWAY_PORT.to_string(),
            "-log-level".into(),
            "warn".into(),
            "-app-dir".into(),
            dir.to_string_lossy().into_owned(),
        ],
        &[("TOKIO_WORKER_THREADS", "1")],
    )?;
    wait_ready(GATEWAY_PORT, "/health")?;
    Ok(p)
}

/// `vk-pairs`: saturation without a key, with a key (counters in memory) and with a key
/// (counters in Redis), in alternating slices (`--warmup`, then `--duration` measured) for
/// several rounds, each starting with the next variant. This machine's throughput drifts by 10–20% between scenarios minutes apart,
/// more than a key costs; slices seconds apart compare like with like.
fn vk_pairs(opts: &Options) -> Result<String> {
    const ROUNDS: usize = 5;
    let base = scenarios()
        .into_iter()
        .find(|s| s.name == "saturation-nolog")
        .context("the saturation-nolog scenario")?;
    let _mock = start_mock(opts, 0)?;
    let _redis = start_redis()?;
    let url = format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions");
    let body = body_for(&base, false);
    let variants = [Vk::None, Vk::Memory, Vk::Redis];
    let mut rps: [Vec<f64>; 3] = Default::default();
    let mut failed = 0u64;
    for round in 0..ROUNDS {
        // Each round starts with another variant: a drift within a round does not always
        // favour the same one.
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let vk = variants[i];
            let sc = Scenario { vk, ..base.clone() };
            let _gateway = start_gateway(opts, false, vk)?;
            let run = measure(opts, &url, &body, &sc, None)?;
            failed += run.non_2xx;
            rps[i].push(run.rps);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = |i: usize| -> Vec<f64> { rps[i].iter().zip(&rps[0]).map(|(a, b)| a / b).collect() };
    let mut out = String::new();
    writeln!(
        out,
        "\n### vk-pairs — saturation (64 connections, mock 0 ms, logging off) without a key, with a key \
         in memory and with a key in Redis, {ROUNDS} rounds of alternating slices\n"
    )?;
    writeln!(
        out,
        "| round | no key (RPS) | key, memory | key, Redis | memory / no key | Redis / no key |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for (r, ((none, memory), redis)) in rps[0].iter().zip(&rps[1]).zip(&rps[2]).enumerate() {
        writeln!(
            out,
            "| {} | {none:.0} | {memory:.0} | {redis:.0} | {:.1}% | {:.1}% |",
            r + 1,
            100.0 * memory / none,
            100.0 * redis / none
        )?;
    }
    writeln!(
        out,
        "\nMedian of the rounds' ratios: key in memory {:.1}% of no key, key in Redis {:.1}%; \
         non-2xx answers: {failed}.",
        100.0 * median(ratio(1)),
        100.0 * median(ratio(2))
    )?;
    Ok(out)
}

/// A throwaway Redis (no persistence) pinned with the load generator, for the counters of the
/// governance scenarios.
fn start_redis() -> Result<Proc> {
    let dir = std::env::temp_dir().join("bifrost-bench-redis");
    std::fs::create_dir_all(&dir)?;
    let p = spawn(
        0,
        "redis-server",
        &[
            "--port".into(),
            REDIS_PORT.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.to_string_lossy().into_owned(),
        ],
        &[],
    )?;
    let t = std::time::Instant::now();
    while TcpStream::connect(("127.0.0.1", REDIS_PORT)).is_err() {
        if t.elapsed() > Duration::from_secs(10) {
            bail!("redis-server did not start on port {REDIS_PORT}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(p)
}

fn start_nginx(nginx: &str) -> Result<(Proc, PathBuf)> {
    let dir = std::env::temp_dir().join("bifrost-bench-nginx");
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;\n\
             events {{ worker_connections 20000; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};\n\
               upstream mock {{ server 127.0.0.1:{MOCK_PORT}; keepalive 1024; }}\n\
               server {{ listen 127.0.0.1:{NGINX_PORT}; keepalive_requests 1000000;\n\
                 location / {{ proxy_pass http://mock; proxy_http_version 1.1;\n\
                   proxy_set_header Connection \"\"; proxy_buffering off; }} }} }}\n",
            d = dir.display()
        ),
    )?;
    let p = spawn(
        1,
        nginx,
        &["-c".into(), conf.to_string_lossy().into_owned()],
        &[],
    )?;
    wait_ready(NGINX_PORT, "/health")?;
    Ok((p, dir))
}

/// CPU time (s) and peak RSS (kB) of a process and its children (nginx's workers), from /proc.
fn proc_stats(pid: u32) -> (f64, u64) {
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()
                })
                == Some(pid)
        });
    std::iter::once(pid)
        .chain(children)
        .map(one_proc_stats)
        .fold((0.0, 0), |(c, r), (c1, r1)| (c + c1, r + r1))
}

/// One process's CPU time (user + system, s) and peak RSS (kB).
fn one_proc_stats(pid: u32) -> (f64, u64) {
    let ticks = 100.0; // USER_HZ on Linux.
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0);
    let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    (cpu, hwm)
}

fn oha(url: &str, body: &str, sc: &Scenario, seconds: u64, vk: bool) -> Result<Value> {
    // Straight to the mock's Anthropic endpoint, the client must speak Anthropic's headers.
    let anthropic_direct = url.ends_with("/v1/messages");
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        "0",
        "oha",
        "--no-tui",
        "--output-format",
        "json",
        "-w",
    ])
    .args([
        "-z",
        &format!("{seconds}s"),
        "-c",
        &sc.connections.to_string(),
    ])
    .args([
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        body,
    ]);
    if let Some(rate) = sc.rate {
        cmd.args(["-q", &rate.to_string(), "--latency-correction"]);
    }
    if vk {
        cmd.args(["-H", &format!("x-bf-vk: {BENCH_VK}")]);
    }
    if anthropic_direct {
        cmd.args([
            "-H",
            "anthropic-version: 2023-06-01",
            "-H",
            "x-api-key: sk-bench",
        ]);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("running oha (bench/run.sh installs it)")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("parsing oha's JSON output")
}

fn figures(v: &Value, stream: bool, seconds: u64) -> Run {
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
fn measure(opts: &Options, url: &str, body: &str, sc: &Scenario, pid: Option<u32>) -> Result<Run> {
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

/// The request body: the same conversation whichever path it takes.
fn body_for(sc: &Scenario, direct: bool) -> String {
    let model = match (sc.anthropic, direct) {
        (true, true) => "claude-3-5-haiku-latest",
        (true, false) => "anthropic/claude-3-5-haiku-latest",
        (false, true) => "gpt-4o-mini",
        (false, false) => "openai/gpt-4o-mini",
    };
    let max_tokens = if sc.anthropic {
        r#","max_tokens":64"#
    } else {
        ""
    };
    let stream = if sc.stream { r#","stream":true"# } else { "" };
    format!(
        r#"{{"model":"{model}"{max_tokens}{stream},"messages":[{{"role":"user","content":"Hello!"}}]}}"#
    )
}

fn path_for(sc: &Scenario, direct: bool) -> &'static str {
    if sc.anthropic && direct {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    }
}

fn us(s: f64) -> String {
    if s.is_nan() {
        "–".into()
    } else {
        format!("{:.0}", s * 1e6)
    }
}

fn run_scenario(opts: &Options, sc: &Scenario, nginx: Option<&str>) -> Result<String> {
    let _mock = start_mock(opts, sc.mock_latency_ms)?;
    let direct_url = format!("http://127.0.0.1:{MOCK_PORT}{}", path_for(sc, true));
    let direct = measure(opts, &direct_url, &body_for(sc, true), sc, None)?;

    let (gw, stages) = match &opts.target_url {
        Some(url) => (
            measure(
                opts,
                &format!("{url}/v1/chat/completions"),
                &body_for(sc, false),
                sc,
                None,
            )?,
            String::new(),
        ),
        None => {
            let _redis = match sc.vk {
                Vk::Redis => Some(start_redis()?),
                _ => None,
            };
            let g = start_gateway(opts, sc.logging, sc.vk)?;
            let run = measure(
                opts,
                &format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions"),
                &body_for(sc, false),
                sc,
                Some(g.0.id()),
            )?;
            let stages = stage_table(GATEWAY_PORT).unwrap_or_default();
            (run, stages)
        }
    };
    let nginx_run = match (nginx, sc.anthropic) {
        (Some(bin), false) => {
            let (p, _dir) = start_nginx(bin)?;
            Some(measure(
                opts,
                &format!("http://127.0.0.1:{NGINX_PORT}{}", path_for(sc, true)),
                &body_for(sc, true),
                sc,
                Some(p.0.id()),
            )?)
        }
        _ => None,
    };

    let mut out = String::new();
    let measure_of = if sc.stream {
        "time to first byte"
    } else {
        "latency"
    };
    writeln!(out, "\n### {} — {}\n", sc.name, sc.what)?;
    writeln!(
        out,
        "| path | achieved RPS | success | non-2xx | {measure_of} p50 / p90 / p99 / p99.9 (µs) | overhead p50 / p90 / p99 / p99.9 (µs) | proxy CPU (cores) | proxy peak RSS |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    let row = |out: &mut String, name: &str, r: &Run, base: Option<&Run>| -> std::fmt::Result {
        let lat = r.pct.iter().map(|p| us(*p)).collect::<Vec<_>>().join(" / ");
        let over = base.map_or("–".into(), |b| {
            r.pct
                .iter()
                .zip(b.pct.iter())
                .map(|(a, b)| us(a - b))
                .collect::<Vec<_>>()
                .join(" / ")
        });
        let rss = if r.peak_rss_kb > 0 {
            format!("{:.1} MB", r.peak_rss_kb as f64 / 1024.0)
        } else {
            "–".into()
        };
        let cpu = if base.is_some() {
            format!("{:.2}", r.cpu_cores)
        } else {
            "–".into()
        };
        writeln!(
            out,
            "| {name} | {:.0} | {:.2}% | {} | {lat} | {over} | {cpu} | {rss} |",
            r.rps,
            r.success * 100.0,
            r.non_2xx
        )
    };
    row(&mut out, "direct → mock", &direct, None)?;
    let gw_name = if opts.target_url.is_some() {
        "target gateway"
    } else {
        "bifrost-http"
    };
    row(&mut out, gw_name, &gw, Some(&direct))?;
    if let Some(n) = &nginx_run {
        row(&mut out, "nginx (floor)", n, Some(&direct))?;
    }
    if sc.rate.is_none() {
        writeln!(
            out,
            "\nSaturation: gateway {:.0} RPS = {:.0}% of direct {:.0} RPS{}.",
            gw.rps,
            100.0 * gw.rps / direct.rps.max(1.0),
            direct.rps,
            nginx_run.as_ref().map_or(String::new(), |n| format!(
                "; nginx {:.0} RPS = {:.0}%",
                n.rps,
                100.0 * n.rps / direct.rps.max(1.0)
            ))
        )?;
    }
    if sc.stream {
        let total = |r: &Run| {
            r.total_pct
                .iter()
                .map(|p| us(*p))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        writeln!(
            out,
            "\nWhole stream p50 / p90 / p99 / p99.9 (µs): direct {}; gateway {}.",
            total(&direct),
            total(&gw)
        )?;
    }
    if let (Some(n), true) = (&nginx_run, sc.rate.is_some()) {
        let ratio = (gw.pct[0] - direct.pct[0]) / (n.pct[0] - direct.pct[0]);
        if ratio.is_finite() && ratio > 0.0 {
            writeln!(
                out,
                "\nGateway overhead p50 / nginx overhead p50 = {ratio:.1}×."
            )?;
        }
    }
    if let Some(rate) = sc.rate {
        let ok = gw.rps >= 0.995 * f64::from(rate) && gw.non_2xx == 0 && gw.success >= 1.0;
        if !ok {
            writeln!(
                out,
                "\n**Invalid run**: below 99.5% of the target rate or non-2xx answers."
            )?;
        }
    }
    out.push_str(&stages);
    Ok(out)
}

/// The seed's stage table, read off the gateway's /metrics: mean of each stage.
fn stage_table(port: u16) -> Result<String> {
    let (_, text) = http_get(port, "/metrics")?;
    let mut sums: Vec<(String, f64, f64)> = Vec::new();
    for line in text.lines() {
        for (suffix, is_sum) in [("_sum{", true), ("_count{", false)] {
            let prefix = format!("bifrost_stage_duration_seconds{suffix}");
            if let Some(rest) = line.strip_prefix(&prefix) {
                let stage = rest
                    .split("stage=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or("")
                    .to_owned();
                let v: f64 = line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                match sums.iter_mut().find(|(s, _, _)| *s == stage) {
                    Some(e) if is_sum => e.1 += v,
                    Some(e) => e.2 += v,
                    None if is_sum => sums.push((stage, v, 0.0)),
                    None => sums.push((stage, 0.0, v)),
                }
            }
        }
    }
    let overhead = |suffix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("bifrost_gateway_overhead_seconds_{suffix}")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let mut out = String::from("\nGateway stage means from its /metrics (µs): ");
    let order = [
        "queue_wait",
        "key_selection",
        "message_formatting",
        "json_marshaling",
        "http_request",
        "response_parsing",
    ];
    let cells: Vec<String> = order
        .iter()
        .filter_map(|s| {
            let (_, sum, n) = sums.iter().find(|(n, _, _)| n == s)?;
            Some(format!("{s} {:.2}", sum / n.max(1.0) * 1e6))
        })
        .collect();
    out.push_str(&cells.join(", "));
    let (s, n) = (overhead("sum"), overhead("count"));
    if n > 0.0 {
        write!(out, "; in-process overhead mean {:.1}", s / n * 1e6)?;
    }
    out.push_str(".\n");
    Ok(out)
}

/// Idle RSS and time to ready.
fn idle(opts: &Options) -> Result<String> {
    let _mock = start_mock(opts, 0)?;
    let t = Instant::now();
    let g = start_gateway(opts, true, Vk::None)?;
    let ready = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", g.0.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    Ok(format!(
        "\n### idle\n\nReady to serve {:.0} ms after start (process spawn to first /health 200); idle RSS {:.1} MB.\n",
        ready.as_secs_f64() * 1000.0,
        rss as f64 / 1024.0
    ))
}

/// The logs API over a large store: `--log-rows` synthetic rows seeded (`bifrost-store-seed`)
/// into SQLite, and into PostgreSQL when `BIFROST_BENCH_POSTGRES_URL` names a server (bench/run.sh
/// starts a throwaway one); then the gateway serves `GET /api/logs` for a first page, a
/// filtered page and a stats query, each 200 times from 4 connections.
/// oha's count of answers by status class: (2xx, other).
fn status_counts(v: &Value) -> (u64, u64) {
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

/// The control plane under load: (1) 10,000 requests at 2,000 RPS, then the logs store's row
/// count plus the counted drops must be exactly 10,000; (2) 30 s at 1,000 RPS while a key is
/// added and removed over the management API every 250 ms: no request may fail.
fn control_plane(opts: &Options) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### control-plane — request logs and key changes under load\n"
    )?;
    let _mock = start_mock(opts, 0)?;
    let _gw = start_gateway(opts, true, Vk::None)?;
    let body = r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;
    let chat = format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions");
    let load = |extra: &[&str]| -> Result<Value> {
        let o = Command::new("taskset")
            .args([
                "-c",
                "0",
                "oha",
                "--no-tui",
                "--output-format",
                "json",
                "-c",
                "64",
            ])
            .args(extra)
            .args([
                "-m",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                body,
                &chat,
            ])
            .output()
            .context("running oha")?;
        serde_json::from_slice(&o.stdout).context("oha's JSON")
    };

    let v = load(&["-n", "10000", "-q", "2000"])?;
    let (ok, failed) = status_counts(&v);
    // Rows are written in batches within about a second; wait until the count settles.
    let count = || -> Result<(u64, u64)> {
        let (_, stats) = http_get(GATEWAY_PORT, "/api/logs/stats")?;
        let (_, dropped) = http_get(GATEWAY_PORT, "/api/logs/dropped")?;
        let rows = serde_json::from_str::<Value>(&stats)?["total_requests"]
            .as_u64()
            .unwrap_or(0);
        let dropped = serde_json::from_str::<Value>(&dropped)?["dropped"]
            .as_u64()
            .unwrap_or(0);
        Ok((rows, dropped))
    };
    let t = Instant::now();
    let mut seen = count()?;
    while seen.0 + seen.1 < ok + failed && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        seen = count()?;
    }
    writeln!(
        out,
        "| check | requests | 2xx | other | rows | dropped | rows + dropped = requests |\n|---|---|---|---|---|---|---|"
    )?;
    writeln!(
        out,
        "| 10,000 at 2,000 RPS | {} | {ok} | {failed} | {} | {} | {} |",
        ok + failed,
        seen.0,
        seen.1,
        if seen.0 + seen.1 == ok + failed && ok + failed == 10_000 {
            "yes"
        } else {
            "**NO**"
        }
    )?;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let changer = {
        let stop = stop.clone();
        std::thread::spawn(move || -> (u64, u64) {
            let (mut changes, mut refused) = (0, 0);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let add = format!(r#"{{"id":"bench-{n}","value":"sk-bench-{n}"}}"#);
                let added = http(
                    GATEWAY_PORT,
                    "POST",
                    "/api/providers/openai/keys",
                    Some(&add),
                );
                let removed = http(
                    GATEWAY_PORT,
                    "DELETE",
                    &format!("/api/providers/openai/keys/bench-{n}"),
                    None,
                );
                for r in [added, removed] {
                    match r {
                        Ok((s, _)) if s < 300 => changes += 1,
                        _ => refused += 1,
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            (changes, refused)
        })
    };
    let v = load(&["-z", "30s", "-q", "1000"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (changes, refused) = changer.join().unwrap_or((0, u64::MAX));
    let (ok, failed) = status_counts(&v?);
    writeln!(
        out,
        "\n| check | requests | 2xx | other | key changes applied | key changes refused |\n|---|---|---|---|---|---|"
    )?;
    writeln!(
        out,
        "| 30 s at 1,000 RPS, a key added and removed every 250 ms | {} | {ok} | {failed} | {changes} | {refused} |",
        ok + failed
    )?;
    Ok(out)
}

fn logs_api(opts: &Options) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### logs-api — `GET /api/logs` with {} rows\n",
        opts.log_rows
    )?;
    writeln!(
        out,
        "| backend | query | p50 (ms) | p95 (ms) | p99 (ms) | non-2xx |\n|---|---|---|---|---|---|"
    )?;
    let dir = std::env::temp_dir().join("bifrost-bench-logs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut backends = vec![("sqlite", dir.join("logs.db").to_string_lossy().into_owned())];
    if let Ok(url) = std::env::var("BIFROST_BENCH_POSTGRES_URL") {
        backends.push(("postgres", url));
    }
    // Rows are one every 50 ms from here (the seeder's default start).
    let start_ms: i64 = 1_767_225_600_000;
    let span_ms = opts.log_rows as i64 * 50;
    for (name, target) in backends {
        let t = Instant::now();
        let seeded = Command::new(opts.bin_dir.join("bifrost-store-seed"))
            .args([&target, &opts.log_rows.to_string(), &start_ms.to_string()])
            .output()
            .context("running bifrost-store-seed")?;
        if !seeded.status.success() {
            bail!(
                "seeding {name}: {}",
                String::from_utf8_lossy(&seeded.stderr)
            );
        }
        eprintln!(
            "seeded {} rows into {name} in {:.0?}",
            opts.log_rows,
            t.elapsed()
        );
        let logs_store = if name == "sqlite" {
            format!(r#"{{"type":"sqlite","config":{{"path":"{target}"}}}}"#)
        } else {
            postgres_section(&target)?
        };
        let config = dir.join(format!("config-{name}.json"));
        std::fs::write(
            &config,
            format!(
                r#"{{"logs_store":{logs_store},"providers":{{"openai":{{"keys":[{{"value":"sk-bench"}}],
                   "network_config":{{"base_url":"http://127.0.0.1:{MOCK_PORT}"}}}}}}}}"#
            ),
        )?;
        let app = dir.join(format!("app-{name}"));
        let _g = spawn(
            1,
            &opts.bin_dir.join("bifrost-http").to_string_lossy(),
            &[
                "-config".into(),
                config.to_string_lossy().into_owned(),
                "-port".into(),
                GATEWAY_PORT.to_string(),
                "-log-level".into(),
                "warn".into(),
                "-app-dir".into(),
                app.to_string_lossy().into_owned(),
            ],
            &[],
        )?;
        wait_ready(GATEWAY_PORT, "/health")?;
        let mid = start_ms + span_ms / 2;
        let queries = [
            ("first page (limit 50)", "/api/logs?limit=50".to_owned()),
            (
                "filter: provider + status + 2 h",
                format!(
                    "/api/logs?providers=openai&status=success&start_time={}&end_time={}",
                    mid,
                    mid + 7_200_000
                ),
            ),
            (
                "stats over half the range",
                format!(
                    "/api/logs/stats?start_time={mid}&end_time={}",
                    start_ms + span_ms
                ),
            ),
        ];
        for (what, path) in queries {
            let url = format!("http://127.0.0.1:{GATEWAY_PORT}{path}");
            let o = Command::new("taskset")
                .args(["-c", "0", "oha", "--no-tui", "--output-format", "json"])
                .args(["-n", "200", "-c", "4", &url])
                .output()
                .context("running oha")?;
            let v: Value = serde_json::from_slice(&o.stdout).context("oha's JSON")?;
            let p = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN) * 1000.0;
            let (_, non_2xx) = status_counts(&v);
            writeln!(
                out,
                "| {name} | {what} | {:.1} | {:.1} | {:.1} | {non_2xx} |",
                p("p50"),
                p("p95"),
                p("p99")
            )?;
        }
    }
    Ok(out)
}

/// A `logs_store` section for a `postgres://user@host:port/db` URL.
fn postgres_section(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .context("BIFROST_BENCH_POSTGRES_URL must be postgres://user@host:port/db")?;
    let (user, rest) = rest.split_once('@').context("no user@ in the URL")?;
    let (hostport, db) = rest.split_once('/').context("no /db in the URL")?;
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    Ok(format!(
        r#"{{"type":"postgres","config":{{"host":"{host}","port":"{port}","user":"{user}","password":"","db_name":"{db}","ssl_mode":"disable"}}}}"#
    ))
}

/// The port of the second (faulty) mock in the `faults` scenario.
const FAULTY_MOCK_PORT: u16 = 19091;

/// Current resident set of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

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
fn faults(opts: &Options, mix: &str) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### faults — 5,000 RPS, 30% upstream faults on the primary ({}), fallback to a healthy provider, {} s\n",
        mix.replace(',', " / "),
        opts.duration
    )?;
    let _healthy = start_mock(opts, 0)?;
    let bin = opts.bin_dir.join("bifrost-mock");
    let _faulty = spawn(
        0,
        &bin.to_string_lossy(),
        &[
            "-port".into(),
            FAULTY_MOCK_PORT.to_string(),
            "-fail-rate".into(),
            "0.3".into(),
            "-faults".into(),
            mix.into(),
            "-hang-ms".into(),
            "2000".into(),
            "-no-auth".into(),
        ],
        &[],
    )?;
    wait_ready(FAULTY_MOCK_PORT, "/health")?;
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

/// 10,000 idle connections and 2,000 slowloris ones (a request head, then a header line a
/// second on each) to `port`.
struct Hostile {
    idle: Vec<TcpStream>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    trickle: std::thread::JoinHandle<Vec<Option<TcpStream>>>,
}

impl Hostile {
    fn open(port: u16) -> Result<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut idle = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            idle.push(TcpStream::connect(("127.0.0.1", port))?);
        }
        let mut slow = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")?;
            slow.push(s);
        }
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let trickle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut live: Vec<Option<TcpStream>> = slow.into_iter().map(Some).collect();
                // A line a second on each, spread over the second in 100 batches, as 2,000
                // independent clients would be (not one synchronised burst).
                let batch = live.len().div_ceil(100).max(1);
                while !stop.load(Ordering::Relaxed) {
                    for part in live.chunks_mut(batch) {
                        for s in part {
                            if let Some(sock) = s {
                                if sock.write_all(b"x-slow: 1\r\n").is_err() {
                                    *s = None;
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                live
            })
        };
        Ok(Self {
            idle,
            stop,
            trickle,
        })
    }

    /// Stops the trickle: the idle sockets, and the slowloris ones (`None` once a write failed).
    fn finish(self) -> (Vec<TcpStream>, Vec<Option<TcpStream>>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let live = self.trickle.join().unwrap_or_default();
        (self.idle, live)
    }
}

/// Slow clients (issue 16): rate-1k's p99 through the gateway alone, then again while 10,000
/// idle connections and 2,000 slowloris connections (a request head trickled a header line a
/// second) are held open; the p99 must stay within 2×. Also reports how many of the hostile
/// connections the gateway had closed by the end (its header-read timeout is 30 s).
fn slow_clients(opts: &Options) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### slow-clients — rate-1k beside 10,000 idle and 2,000 slowloris connections\n"
    )?;
    // 12,000 sockets for this process, and room for the gateway (which inherits the limit and
    // caps its connections at about half of it): 65,536 where we may raise the hard limit
    // (root), else the hard limit as it is.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, 65_536, hard.max(65_536)).is_err() {
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard)?;
    }
    let (fds, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    writeln!(
        out,
        "Open-file limit of the bench and the gateway: {fds}.\n"
    )?;
    // The hostile sockets' work (connects, the trickle) stays on the load generator's CPU, off
    // the gateway's.
    let pin = |cpus: &str| {
        Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
    };
    pin("0")?;
    let _mock = start_mock(opts, 0)?;
    let _gw = start_gateway(opts, true, Vk::None)?;
    let sc = scenarios()
        .into_iter()
        .find(|s| s.name == "rate-1k")
        .context("rate-1k")?;
    let url = format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions");
    let body = body_for(&sc, false);
    let alone = measure(opts, &url, &body, &sc, None)?;

    // Control: the same hostile clients against a listener that only accepts (python, on the
    // load generator's CPU): what they cost the machine's other side, without the gateway.
    const CONTROL_PORT: u16 = 18081;
    let holder = spawn(
        0,
        "python3",
        &[
            "-c".into(),
            format!(
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                 s.bind(('127.0.0.1',{CONTROL_PORT}))\ns.listen(4096)\nheld=[]\n\
                 while True:\n    held.append(s.accept()[0])\n"
            ),
        ],
        &[],
    )?;
    wait_listening(CONTROL_PORT)?;
    let control = Hostile::open(CONTROL_PORT)?;
    let beside_control = measure(opts, &url, &body, &sc, None)?;
    drop(control.finish());
    drop(holder);

    let hostile = Hostile::open(GATEWAY_PORT)?;
    let opened = Instant::now();
    let beside = measure(opts, &url, &body, &sc, None)?;
    // Past the header-read timeout: count the idle sockets the gateway closed (read gives EOF).
    while opened.elapsed() < Duration::from_secs(35) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (idle, live) = hostile.finish();
    // Closed by the gateway: answered 503 at the connection cap, or closed silently after the
    // timeout; still open otherwise.
    let (mut idle_refused, mut idle_closed) = (0, 0);
    for s in &idle {
        s.set_read_timeout(Some(Duration::from_millis(1)))?;
        let mut b = [0u8; 256];
        match (&*s).read(&mut b) {
            Ok(n) if b[..n].starts_with(b"HTTP/1.1 503") => idle_refused += 1,
            Ok(_) => idle_closed += 1,
            Err(_) => {}
        }
    }
    // A socket the gateway closed fails its next write and is dropped from the trickle.
    let slow_closed = live.iter().filter(|s| s.is_none()).count();
    // oha's success rate counts any answer; a 503 at the connection cap is a failure here.
    writeln!(
        out,
        "| run | RPS | 2xx | non-2xx | p50 / p99 / p99.9 (µs) |\n|---|---|---|---|---|"
    )?;
    for (name, r) in [
        ("alone", &alone),
        (
            "beside 12,000 hostile connections to a listener that only accepts (control)",
            &beside_control,
        ),
        ("beside 12,000 hostile connections to the gateway", &beside),
    ] {
        let answered = r.rps * opts.duration as f64;
        writeln!(
            out,
            "| {name} | {:.0} | {:.2}% | {} | {} / {} / {} |",
            r.rps,
            r.success * (answered - r.non_2xx as f64) / answered.max(1.0) * 100.0,
            r.non_2xx,
            us(r.pct[0]),
            us(r.pct[2]),
            us(r.pct[3])
        )?;
    }
    let _ = pin("0-1023");
    let ratio = beside.pct[2] / alone.pct[2];
    writeln!(
        out,
        "\np99 beside / alone: {ratio:.2}× ({}); beside / control: {:.2}×. After 35 s, of 10,000 idle connections {idle_refused} had been refused at the connection cap (503) and {idle_closed} closed (by the timeout, or to free a slot for a newer connection); {slow_closed} of 2,000 slowloris connections were closed.",
        if ratio <= 2.0 { "within 2×" } else { "**over 2×**" },
        beside.pct[2] / beside_control.pct[2],
    )?;
    Ok(out)
}
