//! The report's pieces: the machine line, microsecond cells, the gateway's stage table.

use anyhow::Result;
use std::fmt::Write as _;

use crate::http::http_get;

pub(crate) fn machine_description() -> String {
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

pub(crate) fn us(s: f64) -> String {
    if s.is_nan() {
        "–".into()
    } else {
        format!("{:.0}", s * 1e6)
    }
}

/// The seed's stage table, read off the gateway's /metrics: mean of each stage.
pub(crate) fn stage_table(port: u16) -> Result<String> {
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
