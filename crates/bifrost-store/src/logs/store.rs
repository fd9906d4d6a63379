//! [`LogStore`]: the `logs` table, its rollups and dimension lists.

mod dims;
mod query;
mod stats;

use std::collections::{BTreeSet, HashSet};

use sqlx::{AnyConnection, AnyPool};

use super::rollup::{Deltas, Fact, FACT_COLUMNS, LATENCY_BUCKETS};
use super::{LogFilter, LogRow};
use crate::backend::{migrate, Kind, Migration};
use crate::sql::{get_string, where_clause, Param, SqlBuf};
use crate::{Backend, StoreError};
use query::row_conditions;

/// Rows per multi-row INSERT (29 parameters each), largest first. A batch goes in chunks of
/// these sizes only, so each statement's text recurs and the connection's statement cache
/// spares SQLite parsing it again: a statement of fresh text per batch cost more to prepare
/// than to run.
const INSERT_CHUNKS: [usize; 3] = [64, 8, 1];

/// `rows` in chunks of [`INSERT_CHUNKS`] sizes.
fn insert_chunks(rows: &[LogRow]) -> impl Iterator<Item = &[LogRow]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = INSERT_CHUNKS.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

const LOG_COLUMNS: &str = "id, parent_request_id, ts, object, route, provider, model, \
     number_of_retries, fallback_index, key_id, key_name, virtual_key_id, virtual_key_name, \
     status, http_status, stream, latency_ms, ttft_ms, prompt_tokens, completion_tokens, \
     total_tokens, cached_tokens, reasoning_tokens, cost, error, input, output, params, metadata";
const LOG_COLUMN_COUNT: usize = 29;

fn migration_1(_: Kind) -> Vec<String> {
    let hist: Vec<String> = (0..LATENCY_BUCKETS)
        .map(|i| format!("b{i} BIGINT NOT NULL DEFAULT 0"))
        .collect();
    vec![
        "CREATE TABLE logs (
            id TEXT PRIMARY KEY,
            parent_request_id TEXT,
            ts BIGINT NOT NULL,
            object TEXT NOT NULL,
            route TEXT NOT NULL,
            provider TEXT,
            model TEXT,
            number_of_retries BIGINT NOT NULL DEFAULT 0,
            fallback_index BIGINT NOT NULL DEFAULT 0,
            key_id TEXT,
            key_name TEXT,
            virtual_key_id TEXT,
            virtual_key_name TEXT,
            status TEXT NOT NULL,
            http_status BIGINT NOT NULL DEFAULT 0,
            stream BIGINT NOT NULL DEFAULT 0,
            latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
            ttft_ms DOUBLE PRECISION,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            total_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens BIGINT NOT NULL DEFAULT 0,
            cost DOUBLE PRECISION,
            error TEXT,
            input TEXT,
            output TEXT,
            params TEXT,
            metadata TEXT
        )"
        .to_string(),
        "CREATE INDEX logs_ts_id ON logs (ts, id)".to_string(),
        "CREATE INDEX logs_provider_ts ON logs (provider, ts, id)".to_string(),
        "CREATE INDEX logs_model_ts ON logs (model, ts, id)".to_string(),
        "CREATE INDEX logs_status_ts ON logs (status, ts, id)".to_string(),
        "CREATE INDEX logs_object_ts ON logs (object, ts, id)".to_string(),
        "CREATE INDEX logs_key_id ON logs (key_id)".to_string(),
        "CREATE INDEX logs_virtual_key_id ON logs (virtual_key_id)".to_string(),
        format!(
            "CREATE TABLE log_rollups (
                minute BIGINT NOT NULL,
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                status TEXT NOT NULL,
                requests BIGINT NOT NULL,
                latency_sum DOUBLE PRECISION NOT NULL,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                total_tokens BIGINT NOT NULL,
                cost DOUBLE PRECISION NOT NULL,
                {},
                PRIMARY KEY (minute, provider, model, status)
            )",
            hist.join(",\n                ")
        ),
        // Distinct objects, key ids and virtual key ids for filter_data without scanning logs.
        "CREATE TABLE log_dims (kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value))"
            .to_string(),
    ]
}

const MIGRATIONS: &[Migration] = &[migration_1];

/// The request-log store. Cheap to clone (a pool inside).
#[derive(Clone)]
pub struct LogStore {
    pool: AnyPool,
    kind: Kind,
    backend: Backend,
}

/// One multi-row `INSERT` of `chunk` (ignoring ids already there), then `tail`.
fn insert_sql(kind: Kind, chunk: &[LogRow], tail: &str) -> Result<(SqlBuf, String), StoreError> {
    let mut buf = SqlBuf::positional(kind);
    buf.params.reserve(chunk.len() * LOG_COLUMN_COUNT);
    let mut sql =
        String::with_capacity(LOG_COLUMNS.len() + 100 + chunk.len() * 8 * LOG_COLUMN_COUNT);
    sql.push_str("INSERT INTO logs (");
    sql.push_str(LOG_COLUMNS);
    sql.push_str(") VALUES ");
    for (i, r) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        buf.push_tuple(&mut sql, row_params(r)?);
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql.push_str(tail);
    debug_assert_eq!(buf.params.len(), chunk.len() * LOG_COLUMN_COUNT);
    Ok((buf, sql))
}

impl LogStore {
    /// Opens (creating the SQLite file and its directory if needed) and migrates.
    pub async fn open(b: &Backend) -> Result<Self, StoreError> {
        let pool = b.connect().await?;
        migrate(&pool, b.kind(), "logs", MIGRATIONS).await?;
        Ok(LogStore {
            pool,
            kind: b.kind(),
            backend: b.clone(),
        })
    }

    /// The same store through a new pool of one connection, opened on the caller's runtime:
    /// the log writer's own thread uses it, so its database work (SQLite runs on a thread
    /// sqlx starts from the connecting thread) shares that thread's low priority, and no
    /// connection of the main pool is bound to the writer's runtime.
    pub async fn dedicated(&self) -> Result<Self, StoreError> {
        Ok(LogStore {
            pool: self.backend.connect_with(Some(1)).await?,
            kind: self.kind,
            backend: self.backend.clone(),
        })
    }

    /// PostgreSQL: refreshes the planner's statistics of `logs`, as autovacuum does some time
    /// after a bulk load (SQLite keeps no statistics unless asked, and the gateway never asks).
    pub(crate) async fn analyze(&self) -> Result<(), StoreError> {
        if self.kind == Kind::Postgres {
            sqlx::query("ANALYZE logs").execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The highest schema version this binary knows.
    pub fn schema_version() -> i64 {
        MIGRATIONS.len() as i64
    }

    /// Inserts rows in one transaction (multi-row INSERTs in chunks) and adds them to the
    /// rollups. A row whose id already exists is skipped, and not counted twice.
    pub async fn insert(&self, rows: &[LogRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Ids are random, so a conflict is rare (a batch written twice): insert without asking
        // which rows went in, and only when some did not, start again asking for each id.
        let mut tx = self.pool.begin().await?;
        let mut affected = 0;
        for chunk in insert_chunks(rows) {
            let (buf, sql) = insert_sql(self.kind, chunk, "")?;
            affected += buf.query(sql).execute(&mut *tx).await?.rows_affected();
        }
        let inserted: Option<HashSet<&str>> = if affected == rows.len() as u64 {
            None
        } else {
            tx.rollback().await?;
            tx = self.pool.begin().await?;
            let mut inserted = HashSet::with_capacity(rows.len());
            for chunk in insert_chunks(rows) {
                let (buf, sql) = insert_sql(self.kind, chunk, " RETURNING id")?;
                for row in buf.query(sql).fetch_all(&mut *tx).await? {
                    let id = get_string(&row, 0)?;
                    if let Some(r) = chunk.iter().find(|r| r.id == id) {
                        inserted.insert(r.id.as_str());
                    }
                }
            }
            Some(inserted)
        };
        let mut deltas = Deltas::default();
        let mut dims: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut inserted = inserted;
        for r in rows {
            // Only the rows this call inserted, each once.
            if inserted
                .as_mut()
                .is_some_and(|ids| !ids.remove(r.id.as_str()))
            {
                continue;
            }
            deltas.add(&fact(r));
            dims.insert(("object", &r.object));
            if let Some(k) = &r.key_id {
                dims.insert(("key_id", k));
            }
            if let Some(k) = &r.virtual_key_id {
                dims.insert(("virtual_key_id", k));
            }
        }
        deltas.apply(&mut tx, self.kind, false).await?;
        let dims: Vec<_> = dims.into_iter().collect();
        for chunk in dims.chunks(200) {
            let mut buf = SqlBuf::positional(self.kind);
            let tuples: Vec<String> = chunk
                .iter()
                .map(|(k, v)| {
                    let k = buf.p(Param::Text((*k).to_string()));
                    let v = buf.p(Param::Text((*v).to_string()));
                    format!("({k}, {v})")
                })
                .collect();
            buf.query(format!(
                "INSERT INTO log_dims (kind, value) VALUES {} ON CONFLICT (kind, value) DO NOTHING",
                tuples.join(", ")
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the rows matching `f` (one transaction) and subtracts them from the rollups.
    pub async fn delete(&self, f: &LogFilter) -> Result<u64, StoreError> {
        let mut buf = SqlBuf::default();
        let conds = row_conditions(f, self.kind, &mut buf);
        let sql = format!(
            "DELETE FROM logs{} RETURNING {FACT_COLUMNS}",
            where_clause(&conds)
        );
        let mut tx = self.pool.begin().await?;
        let n = delete_returning(&mut tx, self.kind, buf.query(sql)).await?;
        tx.commit().await?;
        if n > 0 {
            self.prune_dims().await?;
        }
        Ok(n)
    }

    /// Retention: deletes rows older than `cutoff_ms` in batches of `batch` rows, each batch its
    /// own short transaction that also subtracts the batch from the rollups.
    pub async fn delete_older_than(&self, cutoff_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = i64::from(batch.clamp(1, 50_000));
        let mut total = 0u64;
        loop {
            let mut tx = self.pool.begin().await?;
            let q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM logs WHERE id IN \
                 (SELECT id FROM logs WHERE ts < $1 ORDER BY ts LIMIT $2) RETURNING {FACT_COLUMNS}"
            )))
            .bind(cutoff_ms)
            .bind(batch);
            let n = delete_returning(&mut tx, self.kind, q).await?;
            tx.commit().await?;
            total += n;
            if (n as i64) < batch {
                break;
            }
        }
        if total > 0 {
            self.prune_dims().await?;
        }
        Ok(total)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }
}

/// Runs a `DELETE … RETURNING <FACT_COLUMNS>` and subtracts what it removed from the rollups.
async fn delete_returning(
    conn: &mut AnyConnection,
    kind: Kind,
    q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
) -> Result<u64, StoreError> {
    let rows = q.fetch_all(&mut *conn).await?;
    let mut deltas = Deltas::default();
    for row in &rows {
        deltas.add_row(row, 0)?;
    }
    deltas.apply(conn, kind, true).await?;
    Ok(rows.len() as u64)
}

fn fact(r: &LogRow) -> Fact<'_> {
    Fact {
        ts: r.timestamp,
        provider: r.provider.as_deref().unwrap_or(""),
        model: r.model.as_deref().unwrap_or(""),
        status: &r.status,
        latency_ms: r.latency_ms,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        total_tokens: r.total_tokens,
        cost: r.cost.unwrap_or(0.0),
    }
}

/// A content column: a JSON body as the text it arrived as (checked, not parsed into a value),
/// else the value it settles into. The text is kept only when its escapes are the ones
/// serde_json writes: content search matches the column's text, so a `\u00e9` or `\/` from a
/// client goes through the value and is stored as `é` or `/`, as before.
fn content_text(
    raw: &Option<bytes::Bytes>,
    settled: &Option<serde_json::Value>,
) -> Result<Option<String>, StoreError> {
    let Some(b) = raw else {
        return json_text(settled);
    };
    if !plain_escapes(b) {
        return json_text(&serde_json::from_slice(b).ok());
    }
    Ok(serde_json::from_slice::<serde::de::IgnoredAny>(b)
        .ok()
        .and_then(|_| std::str::from_utf8(b).ok())
        .map(str::to_owned))
}

/// Whether every escape in `b` is one serde_json writes the same way (`\"`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\f`).
fn plain_escapes(b: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\\', &b[at..]) {
        let next = at + i + 1;
        if !matches!(
            b.get(next),
            Some(b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f')
        ) {
            return false;
        }
        at = next + 1;
    }
    true
}

fn json_text(v: &Option<serde_json::Value>) -> Result<Option<String>, StoreError> {
    v.as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::InvalidArgument(format!("log JSON field: {e}")))
}

fn row_params(r: &LogRow) -> Result<[Param; LOG_COLUMN_COUNT], StoreError> {
    let metadata = if r.metadata.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&r.metadata)
                .map_err(|e| StoreError::InvalidArgument(format!("log metadata: {e}")))?,
        )
    };
    Ok([
        Param::Text(r.id.clone()),
        Param::OptText(r.parent_request_id.clone()),
        Param::Int(r.timestamp),
        Param::Text(r.object.clone()),
        Param::Text(r.route.clone()),
        Param::OptText(r.provider.clone()),
        Param::OptText(r.model.clone()),
        Param::Int(r.number_of_retries),
        Param::Int(r.fallback_index),
        Param::OptText(r.key_id.clone()),
        Param::OptText(r.key_name.clone()),
        Param::OptText(r.virtual_key_id.clone()),
        Param::OptText(r.virtual_key_name.clone()),
        Param::Text(r.status.clone()),
        Param::Int(r.http_status),
        Param::Int(i64::from(r.stream)),
        Param::Real(r.latency_ms),
        Param::OptReal(r.ttft_ms),
        Param::Int(r.prompt_tokens),
        Param::Int(r.completion_tokens),
        Param::Int(r.total_tokens),
        Param::Int(r.cached_tokens),
        Param::Int(r.reasoning_tokens),
        Param::OptReal(r.cost),
        Param::OptText(json_text(&r.error)?),
        Param::OptText(content_text(&r.raw_input, &r.input)?),
        Param::OptText(content_text(&r.raw_output, &r.output)?),
        Param::OptText(json_text(&r.params)?),
        Param::OptText(metadata),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_the_cached_statement_sizes() {
        let rows = vec![LogRow::default(); 1000];
        let sizes: Vec<usize> = insert_chunks(&rows).map(<[LogRow]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.iter().all(|n| INSERT_CHUNKS.contains(n)));
        // 15 × 64 + 5 × 8: the largest sizes first.
        assert_eq!(sizes.len(), 20);
        assert_eq!(insert_chunks(&rows[..3]).count(), 3);
        assert_eq!(insert_chunks(&[]).count(), 0);
    }

    #[test]
    fn only_escapes_serde_json_writes_alike_are_kept_verbatim() {
        for kept in [&br#"{"a":"x\"y\\z\n\r\t\b\f"}"#[..], b"{}", br#""\\u""#] {
            assert!(plain_escapes(kept), "{}", String::from_utf8_lossy(kept));
        }
        for parsed in [&br#"{"a":"caf\u00e9"}"#[..], br#"{"a":"a\/b"}"#, b"\\"] {
            assert!(
                !plain_escapes(parsed),
                "{}",
                String::from_utf8_lossy(parsed)
            );
        }
        let raw = |b: &'static [u8]| content_text(&Some(bytes::Bytes::from_static(b)), &None);
        assert_eq!(raw(b"{\"a\": 1}").unwrap().as_deref(), Some("{\"a\": 1}"));
        assert_eq!(
            raw(br#"{"a":"caf\u00e9"}"#).unwrap().as_deref(),
            Some(r#"{"a":"café"}"#)
        );
        assert_eq!(raw(b"{\"a\":").unwrap(), None);
    }
}
