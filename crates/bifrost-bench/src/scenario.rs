//! The rate and saturation scenarios: their definitions, request bodies, runs and the idle check.

use anyhow::Result;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::load::{measure, Run};
use crate::options::Options;
use crate::procs::{
    seed_config, start_gateway, start_gateway_with, start_mock, start_nginx, start_redis,
};
use crate::report::{stage_table, us};
use crate::{GATEWAY_PORT, MOCK_PORT, NGINX_PORT};

#[derive(Clone)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) what: &'static str,
    pub(crate) rate: Option<u32>,
    pub(crate) connections: u32,
    pub(crate) mock_latency_ms: u64,
    pub(crate) stream: bool,
    /// OpenAI request through the gateway, Anthropic format upstream.
    pub(crate) anthropic: bool,
    /// Request logging on (the default; one row per request to SQLite in the app dir).
    pub(crate) logging: bool,
    /// Requests through the gateway carry a virtual key (limits far above the load).
    pub(crate) vk: Vk,
    /// The gateway runs on the seed's load-test config as written (see `procs::seed_config`).
    pub(crate) seed: bool,
}

/// Where a governance scenario's counters live.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vk {
    None,
    Memory,
    /// A `redis-server` on loopback, pinned with the load generator.
    Redis,
}

pub(crate) fn scenarios() -> Vec<Scenario> {
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
        seed: false,
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
        Scenario {
            seed: true,
            ..s(
                "seed-5k",
                "the seed's load test: 5,000 RPS, mock 1.5 s (≈7,500 in flight), the seed's \
                 config (buffer 15,000, pool 10,000, concurrency 10,000)",
                Some(5000),
                9000,
                1500,
            )
        },
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
            vk: Vk::Memory,
            ..s(
                "saturation-cp",
                "saturation with the control plane on: request logging and a virtual key \
                 (counters in memory)",
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

/// The request body: the same conversation whichever path it takes.
pub(crate) fn body_for(sc: &Scenario, direct: bool) -> String {
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

pub(crate) fn run_scenario(opts: &Options, sc: &Scenario, nginx: Option<&str>) -> Result<String> {
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
                Vk::Redis => Some(start_redis(opts)?),
                _ => None,
            };
            let g = if sc.seed {
                start_gateway_with(opts, &seed_config(&format!("http://127.0.0.1:{MOCK_PORT}")))?
            } else {
                start_gateway(opts, sc.logging, sc.vk)?
            };
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

/// Idle RSS and time to ready.
pub(crate) fn idle(opts: &Options) -> Result<String> {
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
