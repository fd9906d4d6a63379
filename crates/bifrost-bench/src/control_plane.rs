//! The `control-plane` scenario: request-log accounting and key changes under load.

use anyhow::Result;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::http::{http, http_get};
use crate::load::{post_json, run_oha, status_counts};
use crate::options::Options;
use crate::procs::{start_gateway, start_mock};
use crate::scenario::Vk;
use crate::GATEWAY_PORT;

/// The control plane under load: (1) 10,000 requests at 2,000 RPS, then the logs store's row
/// count plus the counted drops must be exactly 10,000; (2) 30 s at 1,000 RPS while a key is
/// added and removed over the management API every 250 ms: no request may fail.
pub(crate) fn control_plane(opts: &Options) -> Result<String> {
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
        let mut args = vec!["-c", "64"];
        args.extend(extra);
        args.extend(post_json(body));
        args.push(&chat);
        run_oha(args)
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
