//! `bifrost-store-seed <sqlite-path | postgres-url> <rows> [start_ms]`: fills a log store with
//! synthetic rows for benchmarks.

use std::time::Instant;

use bifrost_store::{seed, Backend, LogStore};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bifrost-store-seed <sqlite-path | postgres://…> <rows> [start_ms]";
    let target = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let n: u64 = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let start_ms: i64 = match args.next() {
        Some(s) => s.parse()?,
        None => 1_767_225_600_000, // 2026-01-01T00:00:00Z
    };
    let backend = if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        Backend::Postgres {
            url: target,
            max_connections: 4,
        }
    } else {
        Backend::Sqlite {
            path: target.into(),
        }
    };
    let store = LogStore::open(&backend).await?;
    let t = Instant::now();
    seed(&store, n, start_ms).await?;
    println!(
        "seeded {n} rows into {} in {:.1?}",
        backend.describe(),
        t.elapsed()
    );
    Ok(())
}
