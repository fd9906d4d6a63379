//! `bifrost-bench`: black-box benchmarks of the gateway (run it through `bench/run.sh`).
//!
//! Method: for each scenario the same open-loop load (oha at a fixed rate with latency
//! correction) goes (a) straight at the mock provider, (b) through the gateway, and (c) through
//! nginx as a plain reverse proxy when nginx is installed; overhead = gateway − direct per
//! percentile. The mock and the load generator share CPU 0, the gateway (or nginx) has CPU 1 to
//! itself with one worker thread, so the two paths differ only by the proxy. The gateway's peak
//! RSS and CPU come from /proc, its stage timings from its own /metrics.

mod control_plane;
mod faults;
mod http;
mod load;
mod logs_api;
mod options;
mod procs;
mod report;
mod scenario;
mod slow_clients;
mod vk_pairs;

use anyhow::{Context, Result};
use std::fmt::Write as _;

use control_plane::control_plane;
use faults::faults;
use logs_api::logs_api;
use options::{parse_args, Options};
use procs::which;
use report::machine_description;
use scenario::{idle, run_scenario, scenarios};
use slow_clients::slow_clients;
use vk_pairs::vk_pairs;

const MOCK_PORT: u16 = 19090;
const GATEWAY_PORT: u16 = 18080;
const NGINX_PORT: u16 = 18081;
const REDIS_PORT: u16 = 18082;
/// The virtual key of the governance scenarios.
const BENCH_VK: &str = "sk-bf-bench";

/// A scenario run on its own: its section of the report.
type Section = fn(&Options) -> Result<String>;

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
    // Run only when named (not by `all`).
    let named: [(&str, Section); 6] = [
        // `faults`: 500 / 429 / cut / hang; a 429 without a hint cools the primary's only key,
        // so most requests go straight to the fallback. `faults-no429`: the other three, so the
        // primary stays in rotation and takes its full share of faults.
        ("faults", |o| faults(o, "500,429,reset,hang")),
        ("faults-no429", |o| faults(o, "500,reset,hang")),
        ("vk-pairs", vk_pairs),
        ("slow-clients", slow_clients),
        ("control-plane", control_plane),
        ("logs-api", logs_api),
    ];
    for (name, run) in named {
        if opts.scenarios.iter().any(|s| s == name) {
            let section = run(&opts)?;
            report.push_str(&section);
            eprintln!("{section}");
        }
    }
    println!("{report}");
    if let Some(out) = &opts.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
