//! The `vk-pairs` scenario: saturation without and with a virtual key, in alternating slices.

use anyhow::{Context, Result};
use std::fmt::Write as _;

use crate::load::measure;
use crate::options::Options;
use crate::procs::{start_gateway, start_mock, start_redis};
use crate::scenario::{body_for, scenarios, Scenario, Vk};
use crate::GATEWAY_PORT;

/// `vk-pairs`: saturation without a key, with a key (counters in memory), with a key (counters
/// in Redis), and with the control plane on (request logging and a key in memory: issue 15's
/// "stay there with the control plane on"), in alternating slices (`--warmup`, then
/// `--duration` measured) for several rounds, each starting with the next variant. This
/// machine's throughput drifts by 10–20% between scenarios minutes apart, more than a key
/// costs; slices seconds apart compare like with like.
pub(crate) fn vk_pairs(opts: &Options) -> Result<String> {
    const ROUNDS: usize = 5;
    let base = scenarios()
        .into_iter()
        .find(|s| s.name == "saturation-nolog")
        .context("the saturation-nolog scenario")?;
    let _mock = start_mock(opts, 0)?;
    let _redis = start_redis(opts)?;
    let url = format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions");
    let body = body_for(&base, false);
    // (request logging, key): the first is the plain figure the others are divided by.
    let variants = [
        (false, Vk::None),
        (false, Vk::Memory),
        (false, Vk::Redis),
        (true, Vk::Memory),
    ];
    let mut rps: [Vec<f64>; 4] = Default::default();
    let mut failed = 0u64;
    for round in 0..ROUNDS {
        // Each round starts with another variant: a drift within a round does not always
        // favour the same one.
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let (logging, vk) = variants[i];
            let sc = Scenario {
                vk,
                logging,
                ..base.clone()
            };
            let _gateway = start_gateway(opts, logging, vk)?;
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
        "\n### vk-pairs — saturation (64 connections, mock 0 ms) without a key, with a key in \
         memory, with a key in Redis (logging off) and with the control plane on (logging and a \
         key in memory), {ROUNDS} rounds of alternating slices\n"
    )?;
    writeln!(
        out,
        "| round | no key (RPS) | key, memory | key, Redis | logs + key | memory / no key | \
         Redis / no key | logs + key / no key |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for (r, none) in rps[0].iter().enumerate() {
        let [memory, redis, cp] = [1, 2, 3].map(|i| rps[i][r]);
        writeln!(
            out,
            "| {} | {none:.0} | {memory:.0} | {redis:.0} | {cp:.0} | {:.1}% | {:.1}% | {:.1}% |",
            r + 1,
            100.0 * memory / none,
            100.0 * redis / none,
            100.0 * cp / none
        )?;
    }
    writeln!(
        out,
        "\nMedian of the rounds' ratios: key in memory {:.1}% of no key, key in Redis {:.1}%, \
         control plane on {:.1}%; non-2xx answers: {failed}.",
        100.0 * median(ratio(1)),
        100.0 * median(ratio(2)),
        100.0 * median(ratio(3))
    )?;
    Ok(out)
}
