//! [`LogStore`]: the `logs` table, its rollups and dimension lists.

use std::collections::{BTreeSet, HashMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool};

use super::rollup::{
    exact_percentile, hist_percentile, latency_bucket, minute_of, Deltas, Fact, FACT_COLUMNS,
    LATENCY_BUCKETS, MINUTE_MS,
};
use super::{
    FilterData, HistogramBucket, LogFilter, LogPage, LogQuery, LogRow, LogStats, Order, SortBy,
};
use crate::backend::{migrate, Kind, Migration};
use crate::sql::{
    get_f64, get_i64, get_opt_f64, get_opt_string, get_string, where_clause, Param, SqlBuf,
};
use crate::{Backend, StoreError};

/// Rows per multi-row INSERT (29 parameters each, well under SQLite's and Postgres' limits).
const INSERT_CHUNK: usize = 500;
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

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

/// Which `logs` column a `log_dims` kind lists.
const DIMS: [(&str, &str); 3] = [
    ("object", "object"),
    ("key_id", "key_id"),
    ("virtual_key_id", "virtual_key_id"),
];

/// One multi-row `INSERT` of `chunk` (ignoring ids already there), then `tail`.
fn insert_sql(kind: Kind, chunk: &[LogRow], tail: &str) -> Result<(SqlBuf, String), StoreError> {
    let mut buf = SqlBuf::positional(kind);
    let mut tuples = Vec::with_capacity(chunk.len());
    for r in chunk {
        let ph: Vec<String> = row_params(r)?.into_iter().map(|p| buf.p(p)).collect();
        debug_assert_eq!(ph.len(), LOG_COLUMN_COUNT);
        tuples.push(format!("({})", ph.join(", ")));
    }
    let sql = format!(
        "INSERT INTO logs ({LOG_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING{tail}",
        tuples.join(", ")
    );
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
        for chunk in rows.chunks(INSERT_CHUNK) {
            let (buf, sql) = insert_sql(self.kind, chunk, "")?;
            affected += buf.query(sql).execute(&mut *tx).await?.rows_affected();
        }
        let inserted: Option<HashSet<&str>> = if affected == rows.len() as u64 {
            None
        } else {
            tx.rollback().await?;
            tx = self.pool.begin().await?;
            let mut inserted = HashSet::with_capacity(rows.len());
            for chunk in rows.chunks(INSERT_CHUNK) {
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

    pub async fn get(&self, id: &str) -> Result<Option<LogRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM logs WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode_row).transpose()
    }

    /// One page of rows. Never counts the table: `has_more` comes from fetching one extra row.
    pub async fn search(&self, q: &LogQuery) -> Result<LogPage, StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            l => l.min(MAX_LIMIT),
        };
        let mut buf = SqlBuf::default();
        let mut conds = row_conditions(&q.filter, self.kind, &mut buf);
        let dir = match q.order {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        let mut offset = q.offset.unwrap_or(0);
        let order_by = match q.sort_by {
            SortBy::Timestamp => {
                if let Some(c) = &q.cursor {
                    let (ts, id) = decode_cursor(c)?;
                    let op = if q.order == Order::Asc { ">" } else { "<" };
                    let ts = buf.p(Param::Int(ts));
                    let id = buf.p(Param::Text(id));
                    conds.push(format!("(ts, id) {op} ({ts}, {id})"));
                    offset = 0;
                }
                format!("ts {dir}, id {dir}")
            }
            SortBy::Latency => format!("latency_ms {dir}, id {dir}"),
            SortBy::Tokens => format!("total_tokens {dir}, id {dir}"),
            SortBy::Cost => format!("cost {dir} NULLS LAST, id {dir}"),
        };
        let lim = buf.p(Param::Int(i64::from(limit) + 1));
        let mut sql = format!(
            "SELECT {LOG_COLUMNS} FROM logs{} ORDER BY {order_by} LIMIT {lim}",
            where_clause(&conds)
        );
        if offset > 0 {
            let off = buf.p(Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" OFFSET {off}"));
        }
        let rows = buf.query(sql).fetch_all(&self.pool).await?;
        let mut logs = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
        let has_more = logs.len() > limit as usize;
        logs.truncate(limit as usize);
        let next_cursor = match (has_more, q.sort_by, logs.last()) {
            (true, SortBy::Timestamp, Some(last)) => Some(encode_cursor(last.timestamp, &last.id)),
            _ => None,
        };
        Ok(LogPage {
            logs,
            next_cursor,
            has_more,
        })
    }

    /// Totals over the rows matching `f`: from rollups for whole minutes when the filter allows
    /// it (rows of the partial minutes at either end are scanned), otherwise from the rows.
    pub async fn stats(&self, f: &LogFilter) -> Result<LogStats, StoreError> {
        let mut acc = StatsAcc::default();
        if f.rollup_answerable() {
            let (full, edges) = split_time(f.start_time, f.end_time);
            if let Some(range) = full {
                let mut buf = SqlBuf::default();
                let conds = rollup_conditions(f, range, &mut buf);
                let sql = format!(
                    "SELECT CAST(SUM(requests) AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'success' THEN requests ELSE 0 END) AS BIGINT), \
                     SUM(latency_sum), CAST(SUM(total_tokens) AS BIGINT), SUM(cost) \
                     FROM log_rollups{}",
                    where_clause(&conds)
                );
                acc.add_row(&buf.query(sql).fetch_one(&self.pool).await?)?;
            }
            for (start, end) in edges {
                let edge = LogFilter {
                    start_time: start,
                    end_time: end,
                    ..f.clone()
                };
                acc.add_row(&self.row_stats(&edge).await?)?;
            }
        } else {
            acc.add_row(&self.row_stats(f).await?)?;
        }
        Ok(acc.finish())
    }

    async fn row_stats(&self, f: &LogFilter) -> Result<AnyRow, StoreError> {
        let mut buf = SqlBuf::default();
        let conds = row_conditions(f, self.kind, &mut buf);
        let sql = format!(
            "SELECT COUNT(*), CAST(SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS BIGINT), \
             SUM(latency_ms), CAST(SUM(total_tokens) AS BIGINT), SUM(cost) FROM logs{}",
            where_clause(&conds)
        );
        Ok(buf.query(sql).fetch_one(&self.pool).await?)
    }

    /// A time series in buckets of `bucket_ms` per provider × model, ordered by start, provider,
    /// model. Answered from rollups when the filter allows it and `bucket_ms` is a whole number
    /// of minutes (percentiles then come from latency buckets), otherwise from the rows.
    pub async fn histogram(
        &self,
        f: &LogFilter,
        bucket_ms: i64,
    ) -> Result<Vec<HistogramBucket>, StoreError> {
        if bucket_ms <= 0 {
            return Err(StoreError::InvalidArgument(
                "histogram bucket width must be positive".into(),
            ));
        }
        let mut acc: HashMap<(i64, String, String), HistAcc> = HashMap::new();
        let bucket_of = |ts: i64| ts.div_euclid(bucket_ms) * bucket_ms;
        let from_rollups = f.rollup_answerable() && bucket_ms % MINUTE_MS == 0;
        let scans = if from_rollups {
            let (full, edges) = split_time(f.start_time, f.end_time);
            if let Some(range) = full {
                let mut buf = SqlBuf::default();
                let conds = rollup_conditions(f, range, &mut buf);
                let b = buf.p(Param::Int(bucket_ms));
                let hist: Vec<String> = (0..LATENCY_BUCKETS)
                    .map(|i| format!("CAST(SUM(b{i}) AS BIGINT)"))
                    .collect();
                let sql = format!(
                    "SELECT (minute / {b}) * {b}, provider, model, status, \
                     CAST(SUM(requests) AS BIGINT), CAST(SUM(prompt_tokens) AS BIGINT), \
                     CAST(SUM(completion_tokens) AS BIGINT), CAST(SUM(total_tokens) AS BIGINT), \
                     SUM(cost), {} FROM log_rollups{} GROUP BY 1, 2, 3, 4",
                    hist.join(", "),
                    where_clause(&conds)
                );
                for row in buf.query(sql).fetch_all(&self.pool).await? {
                    let key = (
                        get_i64(&row, 0)?,
                        get_string(&row, 1)?,
                        get_string(&row, 2)?,
                    );
                    let status = get_string(&row, 3)?;
                    let a = acc.entry(key).or_insert_with(HistAcc::buckets);
                    let requests = get_i64(&row, 4)?;
                    a.requests += requests;
                    if status == "error" {
                        a.errors += requests;
                    }
                    a.prompt_tokens += get_i64(&row, 5)?;
                    a.completion_tokens += get_i64(&row, 6)?;
                    a.total_tokens += get_i64(&row, 7)?;
                    a.cost += get_f64(&row, 8)?;
                    if let Latencies::Buckets(h) = &mut a.latencies {
                        for (i, c) in h.iter_mut().enumerate() {
                            *c += get_i64(&row, 9 + i)?;
                        }
                    }
                }
            }
            edges
                .into_iter()
                .map(|(start_time, end_time)| LogFilter {
                    start_time,
                    end_time,
                    ..f.clone()
                })
                .collect()
        } else {
            vec![f.clone()]
        };
        for scan in scans {
            let mut buf = SqlBuf::default();
            let conds = row_conditions(&scan, self.kind, &mut buf);
            let sql = format!("SELECT {FACT_COLUMNS} FROM logs{}", where_clause(&conds));
            for row in buf.query(sql).fetch_all(&self.pool).await? {
                let provider = get_string(&row, 1)?;
                let model = get_string(&row, 2)?;
                let status = get_string(&row, 3)?;
                let key = (bucket_of(get_i64(&row, 0)?), provider, model);
                let a = acc.entry(key).or_insert_with(|| {
                    if from_rollups {
                        HistAcc::buckets()
                    } else {
                        HistAcc::exact()
                    }
                });
                a.requests += 1;
                if status == "error" {
                    a.errors += 1;
                }
                let latency = get_f64(&row, 4)?;
                match &mut a.latencies {
                    Latencies::Buckets(h) => h[latency_bucket(latency)] += 1,
                    Latencies::Exact(v) => v.push(latency),
                }
                a.prompt_tokens += get_i64(&row, 5)?;
                a.completion_tokens += get_i64(&row, 6)?;
                a.total_tokens += get_i64(&row, 7)?;
                a.cost += get_f64(&row, 8)?;
            }
        }
        let mut out: Vec<HistogramBucket> = acc
            .into_iter()
            .filter(|(_, a)| a.requests > 0)
            .map(|((start, provider, model), a)| a.finish(start, provider, model))
            .collect();
        out.sort_by(|a, b| (a.start, &a.provider, &a.model).cmp(&(b.start, &b.provider, &b.model)));
        Ok(out)
    }

    /// Distinct values for the dropdowns: providers, models and statuses from the rollups,
    /// objects and key ids from the dimension table.
    pub async fn filter_data(&self) -> Result<FilterData, StoreError> {
        let mut fd = FilterData::default();
        for (col, out) in [
            ("provider", &mut fd.providers),
            ("model", &mut fd.models),
            ("status", &mut fd.statuses),
        ] {
            let sql =
                format!("SELECT DISTINCT {col} FROM log_rollups WHERE {col} <> '' ORDER BY {col}");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await?
            {
                out.push(get_string(&row, 0)?);
            }
        }
        let rows = sqlx::query("SELECT kind, value FROM log_dims ORDER BY kind, value")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let value = get_string(&row, 1)?;
            match get_string(&row, 0)?.as_str() {
                "object" => fd.objects.push(value),
                "key_id" => fd.key_ids.push(value),
                "virtual_key_id" => fd.virtual_key_ids.push(value),
                _ => {}
            }
        }
        Ok(fd)
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

    /// Drops dimension values no row uses any more (each check is an index lookup).
    async fn prune_dims(&self) -> Result<(), StoreError> {
        for (kind, col) in DIMS {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM log_dims WHERE kind = $1 AND NOT EXISTS \
                 (SELECT 1 FROM logs WHERE logs.{col} = log_dims.value)"
            )))
            .bind(kind)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
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

/// The time range answered from rollups: minutes in `[from, to)` (either end open).
#[derive(Clone, Copy, Debug, PartialEq)]
struct MinuteRange {
    from: Option<i64>,
    to: Option<i64>,
}

/// An inclusive `[start, end]` time range of rows to scan.
type Edge = (Option<i64>, Option<i64>);

/// Splits an inclusive `[start, end]` into whole minutes (for rollups) and the partial minutes
/// at either end (to scan).
fn split_time(start: Option<i64>, end: Option<i64>) -> (Option<MinuteRange>, Vec<Edge>) {
    let from = start.map(|s| {
        let m = minute_of(s);
        if m == s {
            s
        } else {
            m.saturating_add(MINUTE_MS)
        }
    });
    let to = end.map(|e| minute_of(e.saturating_add(1)));
    if let (Some(a), Some(b)) = (from, to) {
        if a >= b {
            return (None, vec![(start, end)]);
        }
    }
    let mut edges = Vec::new();
    if let (Some(s), Some(a)) = (start, from) {
        if s < a {
            edges.push((Some(s), Some(a - 1)));
        }
    }
    if let (Some(e), Some(b)) = (end, to) {
        if b <= e {
            edges.push((Some(b), Some(e)));
        }
    }
    (Some(MinuteRange { from, to }), edges)
}

fn rollup_conditions(f: &LogFilter, r: MinuteRange, buf: &mut SqlBuf) -> Vec<String> {
    let mut c = Vec::new();
    if !f.providers.is_empty() {
        c.push(buf.in_list("provider", &f.providers));
    }
    if !f.models.is_empty() {
        c.push(buf.in_list("model", &f.models));
    }
    if !f.status.is_empty() {
        c.push(buf.in_list("status", &f.status));
    }
    if let Some(from) = r.from {
        c.push(format!("minute >= {}", buf.p(Param::Int(from))));
    }
    if let Some(to) = r.to {
        c.push(format!("minute < {}", buf.p(Param::Int(to))));
    }
    c
}

fn row_conditions(f: &LogFilter, kind: Kind, buf: &mut SqlBuf) -> Vec<String> {
    let mut c = Vec::new();
    for (col, values) in [
        ("provider", &f.providers),
        ("model", &f.models),
        ("status", &f.status),
        ("object", &f.objects),
        ("key_id", &f.selected_key_ids),
        ("virtual_key_id", &f.virtual_key_ids),
    ] {
        if !values.is_empty() {
            c.push(buf.in_list(col, values));
        }
    }
    let mut cmp = |col: &str, op: &str, p: Option<Param>| {
        if let Some(p) = p {
            let ph = buf.p(p);
            c.push(format!("{col} {op} {ph}"));
        }
    };
    cmp("ts", ">=", f.start_time.map(Param::Int));
    cmp("ts", "<=", f.end_time.map(Param::Int));
    cmp("latency_ms", ">=", f.min_latency.map(Param::Real));
    cmp("latency_ms", "<=", f.max_latency.map(Param::Real));
    cmp("total_tokens", ">=", f.min_tokens.map(Param::Int));
    cmp("total_tokens", "<=", f.max_tokens.map(Param::Int));
    cmp("cost", ">=", f.min_cost.map(Param::Real));
    cmp("cost", "<=", f.max_cost.map(Param::Real));
    if let Some(term) = f.content_search.as_deref().filter(|t| !t.is_empty()) {
        let escaped = term
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = buf.p(Param::Text(format!("%{escaped}%")));
        c.push(format!(
            "(lower(input) LIKE lower({p}) ESCAPE '\\' OR lower(output) LIKE lower({p}) ESCAPE '\\' \
             OR lower(error) LIKE lower({p}) ESCAPE '\\')"
        ));
    }
    for (k, v) in &f.metadata {
        let value = buf.p(Param::Text(v.clone()));
        match kind {
            Kind::Sqlite => {
                let path = buf.p(Param::Text(format!(
                    "$.\"{}\"",
                    k.replace('\\', "\\\\").replace('"', "\\\"")
                )));
                c.push(format!("json_extract(metadata, {path}) = {value}"));
            }
            Kind::Postgres => {
                let key = buf.p(Param::Text(k.clone()));
                c.push(format!("(CAST(metadata AS jsonb) ->> {key}) = {value}"));
            }
        }
    }
    c
}

fn json_text(v: &Option<serde_json::Value>) -> Result<Option<String>, StoreError> {
    v.as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::InvalidArgument(format!("log JSON field: {e}")))
}

fn row_params(r: &LogRow) -> Result<Vec<Param>, StoreError> {
    let metadata = if r.metadata.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&r.metadata)
                .map_err(|e| StoreError::InvalidArgument(format!("log metadata: {e}")))?,
        )
    };
    Ok(vec![
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
        Param::OptText(json_text(&r.input)?),
        Param::OptText(json_text(&r.output)?),
        Param::OptText(json_text(&r.params)?),
        Param::OptText(metadata),
    ])
}

fn decode_row(row: &AnyRow) -> Result<LogRow, StoreError> {
    let id = get_string(row, 0)?;
    let json = |col: usize, name: &str| -> Result<Option<serde_json::Value>, StoreError> {
        get_opt_string(row, col)?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::corrupt(format!("log {id} {name}"), e))
    };
    let metadata = match get_opt_string(row, 28)? {
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| StoreError::corrupt(format!("log {id} metadata"), e))?,
        None => Default::default(),
    };
    Ok(LogRow {
        parent_request_id: get_opt_string(row, 1)?,
        timestamp: get_i64(row, 2)?,
        object: get_string(row, 3)?,
        route: get_string(row, 4)?,
        provider: get_opt_string(row, 5)?,
        model: get_opt_string(row, 6)?,
        number_of_retries: get_i64(row, 7)?,
        fallback_index: get_i64(row, 8)?,
        key_id: get_opt_string(row, 9)?,
        key_name: get_opt_string(row, 10)?,
        virtual_key_id: get_opt_string(row, 11)?,
        virtual_key_name: get_opt_string(row, 12)?,
        status: get_string(row, 13)?,
        http_status: get_i64(row, 14)?,
        stream: get_i64(row, 15)? != 0,
        latency_ms: get_f64(row, 16)?,
        ttft_ms: get_opt_f64(row, 17)?,
        prompt_tokens: get_i64(row, 18)?,
        completion_tokens: get_i64(row, 19)?,
        total_tokens: get_i64(row, 20)?,
        cached_tokens: get_i64(row, 21)?,
        reasoning_tokens: get_i64(row, 22)?,
        cost: get_opt_f64(row, 23)?,
        error: json(24, "error")?,
        input: json(25, "input")?,
        output: json(26, "output")?,
        raw_input: None,
        raw_output: None,
        raw_output_sse: None,
        params: json(27, "params")?,
        metadata,
        id,
    })
}

fn encode_cursor(ts: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ts}:{id}"))
}

fn decode_cursor(c: &str) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::InvalidArgument("malformed cursor".into());
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (ts, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((ts.parse().map_err(|_| bad())?, id.to_string()))
}

#[derive(Default)]
struct StatsAcc {
    total: i64,
    success: i64,
    latency_sum: f64,
    tokens: i64,
    cost: f64,
}

impl StatsAcc {
    /// Adds a `(count, successes, latency sum, tokens, cost)` row.
    fn add_row(&mut self, row: &AnyRow) -> Result<(), StoreError> {
        self.total += get_i64(row, 0)?;
        self.success += get_i64(row, 1)?;
        self.latency_sum += get_f64(row, 2)?;
        self.tokens += get_i64(row, 3)?;
        self.cost += get_f64(row, 4)?;
        Ok(())
    }

    fn finish(self) -> LogStats {
        let total = self.total.max(0);
        let (success_rate, average_latency_ms) = if total > 0 {
            (
                self.success as f64 * 100.0 / total as f64,
                self.latency_sum / total as f64,
            )
        } else {
            (0.0, 0.0)
        };
        LogStats {
            total_requests: total as u64,
            success_rate,
            average_latency_ms,
            total_tokens: self.tokens,
            total_cost: self.cost,
        }
    }
}

enum Latencies {
    Buckets(Box<[i64; LATENCY_BUCKETS]>),
    Exact(Vec<f64>),
}

struct HistAcc {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    cost: f64,
    latencies: Latencies,
}

impl HistAcc {
    fn new(latencies: Latencies) -> Self {
        HistAcc {
            requests: 0,
            errors: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
            cost: 0.0,
            latencies,
        }
    }

    fn buckets() -> Self {
        Self::new(Latencies::Buckets(Box::new([0; LATENCY_BUCKETS])))
    }

    fn exact() -> Self {
        Self::new(Latencies::Exact(Vec::new()))
    }

    fn finish(self, start: i64, provider: String, model: String) -> HistogramBucket {
        let (p50, p99) = match self.latencies {
            Latencies::Buckets(h) => (hist_percentile(&h, 0.5), hist_percentile(&h, 0.99)),
            Latencies::Exact(mut v) => {
                v.sort_by(f64::total_cmp);
                (exact_percentile(&v, 0.5), exact_percentile(&v, 0.99))
            }
        };
        HistogramBucket {
            start,
            provider,
            model,
            requests: self.requests.max(0) as u64,
            errors: self.errors.max(0) as u64,
            p50_latency_ms: p50,
            p99_latency_ms: p99,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            cost: self.cost,
        }
    }
}

#[cfg(test)]
mod tests;
