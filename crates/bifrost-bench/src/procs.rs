//! The processes under test (mock, gateway, nginx, Redis): spawning, readiness, /proc stats.

use anyhow::{bail, Context, Result};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::http_get;
use crate::options::Options;
use crate::scenario::Vk;
use crate::{BENCH_VK, GATEWAY_PORT, MOCK_PORT, NGINX_PORT, REDIS_PORT};

pub(crate) fn which(bin: &str) -> Option<String> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then_some(path)
}

/// A child process killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

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

pub(crate) fn spawn(cpu: u32, bin: &str, args: &[String], env: &[(&str, &str)]) -> Result<Proc> {
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

/// Waits until something accepts connections on `port`.
pub(crate) fn wait_listening(port: u16) -> Result<()> {
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

pub(crate) fn wait_ready(port: u16, path: &str) -> Result<Duration> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if matches!(http_get(port, path), Ok((s, _)) if s < 500 && s > 0) {
            return Ok(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("nothing answered on port {port}")
}

pub(crate) fn start_mock(opts: &Options, latency_ms: u64) -> Result<Proc> {
    start_mock_on(
        opts,
        MOCK_PORT,
        &["-latency-ms".into(), latency_ms.to_string()],
    )
}

/// A mock on CPU 0 (beside the load generator), without auth, listening on `port` with the
/// given `flags`; returned once it answers.
pub(crate) fn start_mock_on(opts: &Options, port: u16, flags: &[String]) -> Result<Proc> {
    let bin = opts.bin_dir.join("bifrost-mock");
    let mut args = vec!["-port".into(), port.to_string(), "-no-auth".into()];
    args.extend_from_slice(flags);
    let p = spawn(0, &bin.to_string_lossy(), &args, &[])?;
    wait_ready(port, "/health")?;
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

/// The seed's load-test setup as its table gives it (buffer 15,000, pool 10,000) with the
/// provider concurrency of issue 15's run (10,000) and nothing else: no connection cap, so a
/// limit the user did not set shows up here.
pub(crate) fn seed_config(upstream: &str) -> String {
    format!(
        r#"{{"providers":{{"openai":{{"keys":[{{"value":"sk-bench"}}],
            "concurrency_and_buffer_size":{{"concurrency":10000,"buffer_size":15000}},
            "network_config":{{"base_url":"{upstream}"}}}}}},
          "initial_pool_size":10000}}"#
    )
}

pub(crate) fn start_gateway(opts: &Options, logging: bool, vk: Vk) -> Result<Proc> {
    start_gateway_with(
        opts,
        &gateway_config(&format!("http://127.0.0.1:{MOCK_PORT}"), logging, vk),
    )
}

/// The gateway on CPU 1 with one worker, on `config_json`, in a fresh app dir (empty config and
/// logs databases for every run).
pub(crate) fn start_gateway_with(opts: &Options, config_json: &str) -> Result<Proc> {
    let dir = std::env::temp_dir().join("bifrost-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.json");
    std::fs::write(&config, config_json)?;
    spawn_gateway(opts, &config, &dir, &[("TOKIO_WORKER_THREADS", "1")])
}

/// The gateway on CPU 1 at `warn` on [`GATEWAY_PORT`], once `/health` answers.
pub(crate) fn spawn_gateway(
    opts: &Options,
    config: &std::path::Path,
    app_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Result<Proc> {
    let p = spawn(
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
            app_dir.to_string_lossy().into_owned(),
        ],
        env,
    )?;
    wait_ready(GATEWAY_PORT, "/health")?;
    Ok(p)
}

/// A throwaway Redis (no persistence) pinned to `--redis-cpu` (by default with the load
/// generator), for the counters of the governance scenarios.
pub(crate) fn start_redis(opts: &Options) -> Result<Proc> {
    let dir = std::env::temp_dir().join("bifrost-bench-redis");
    std::fs::create_dir_all(&dir)?;
    let p = spawn(
        opts.redis_cpu,
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

pub(crate) fn start_nginx(nginx: &str) -> Result<(Proc, PathBuf)> {
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
pub(crate) fn proc_stats(pid: u32) -> (f64, u64) {
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

/// Current resident set of a process, in kB.
pub(crate) fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
