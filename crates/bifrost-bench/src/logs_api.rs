//! The `logs-api` scenario: `GET /api/logs` over a large seeded logs store.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use crate::load::{run_oha, status_counts};
use crate::options::Options;
use crate::procs::spawn_gateway;
use crate::{GATEWAY_PORT, MOCK_PORT};

/// The logs API over a large store: `--log-rows` synthetic rows seeded (`bifrost-store-seed`)
/// into SQLite, and into PostgreSQL when `BIFROST_BENCH_POSTGRES_URL` names a server (bench/run.sh
/// starts a throwaway one); then the gateway serves `GET /api/logs` for a first page, a
/// filtered page and a stats query, each 200 times from 4 connections.
pub(crate) fn logs_api(opts: &Options) -> Result<String> {
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
        let _g = spawn_gateway(opts, &config, &app, &[])?;
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
            let v = run_oha(["-n", "200", "-c", "4", &url])?;
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
