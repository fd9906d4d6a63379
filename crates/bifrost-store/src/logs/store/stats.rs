//! Aggregates: `stats` and `histogram`, from the per-minute rollups where the filter allows, else from the rows.

use std::collections::HashMap;

use sqlx::any::AnyRow;

use super::query::row_conditions;
use super::LogStore;
use crate::logs::rollup::{
    exact_percentile, hist_percentile, latency_bucket, minute_of, FACT_COLUMNS, LATENCY_BUCKETS,
    MINUTE_MS,
};
use crate::logs::{HistogramBucket, LogFilter, LogStats};
use crate::sql::{get_f64, get_i64, get_string, where_clause, Param, SqlBuf};
use crate::StoreError;

impl LogStore {
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
mod tests {
    use super::*;

    #[test]
    fn time_split_into_whole_minutes_and_edges() {
        let m = MINUTE_MS;
        assert_eq!(
            split_time(None, None),
            (
                Some(MinuteRange {
                    from: None,
                    to: None
                }),
                vec![]
            )
        );
        assert_eq!(
            split_time(Some(10 * m), Some(20 * m - 1)),
            (
                Some(MinuteRange {
                    from: Some(10 * m),
                    to: Some(20 * m)
                }),
                vec![]
            )
        );
        assert_eq!(
            split_time(Some(10 * m + 5), Some(20 * m + 7)),
            (
                Some(MinuteRange {
                    from: Some(11 * m),
                    to: Some(20 * m)
                }),
                vec![
                    (Some(10 * m + 5), Some(11 * m - 1)),
                    (Some(20 * m), Some(20 * m + 7))
                ]
            )
        );
        assert_eq!(
            split_time(Some(10 * m + 5), Some(10 * m + 7)),
            (None, vec![(Some(10 * m + 5), Some(10 * m + 7))])
        );
    }
}
