//! Command-line options.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

use crate::scenario::scenarios;

pub(crate) struct Options {
    pub(crate) bin_dir: PathBuf,
    pub(crate) duration: u64,
    pub(crate) warmup: u64,
    pub(crate) scenarios: Vec<String>,
    pub(crate) out: Option<PathBuf>,
    /// Another OpenAI-compatible gateway to measure instead of ours (its own upstream config
    /// must point at the mock on MOCK_PORT).
    pub(crate) target_url: Option<String>,
    /// Rows the `logs-api` scenario seeds into each logs store.
    pub(crate) log_rows: u64,
    /// The CPU Redis is pinned to: 0 (with the load generator and the mock, the default) or 1
    /// (with the gateway, which is idle while it waits for Redis's answer).
    pub(crate) redis_cpu: u32,
}

pub(crate) fn parse_args() -> Result<Options> {
    let mut o = Options {
        bin_dir: PathBuf::from("target/release"),
        duration: 30,
        warmup: 5,
        scenarios: vec!["all".into()],
        out: None,
        target_url: None,
        log_rows: 1_000_000,
        redis_cpu: 0,
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
            "--redis-cpu" => o.redis_cpu = val()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "bifrost-bench [--duration S] [--warmup S] [--scenarios all|{}|idle|vk-pairs|faults|faults-no429|slow-clients|control-plane|logs-api,…] \
                     [--out FILE] [--target-url URL] [--bin-dir DIR] [--log-rows N] [--redis-cpu 0|1]",
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
