//! The per-minute rollup table: `(minute, provider, model, status)` → counts, sums and a
//! log-scale latency histogram, kept in step with `logs` inside the same transactions.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::sql::{get_f64, get_i64, get_string, Param, SqlBuf};
use crate::StoreError;

/// Number of latency buckets (columns `b0` … `b39`).
pub const LATENCY_BUCKETS: usize = 40;
pub(crate) const MINUTE_MS: i64 = 60_000;

/// The latency bucket of `ms`: bucket 0 is `[0, 1)` ms, bucket `i ≥ 1` is
/// `[2^((i-1)/2), 2^(i/2))` ms (each √2 wide), the last one is open-ended (≥ 2^19 ms ≈ 8.7 min).
pub fn latency_bucket(ms: f64) -> usize {
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    let i = (2.0 * ms.log2()).floor() as i64 + 1;
    // Guard against log2 rounding at the exact bucket edges.
    let mut i = i.clamp(1, LATENCY_BUCKETS as i64 - 1) as usize;
    if i < LATENCY_BUCKETS - 1 && ms >= latency_bucket_bounds(i).1 {
        i += 1;
    } else if i > 1 && ms < latency_bucket_bounds(i).0 {
        i -= 1;
    }
    i
}

/// `[lower, upper)` of bucket `i` in ms; the last bucket's upper bound is infinite.
pub fn latency_bucket_bounds(i: usize) -> (f64, f64) {
    let edge = |k: usize| 2f64.powf(k as f64 / 2.0);
    match i {
        0 => (0.0, 1.0),
        i if i >= LATENCY_BUCKETS - 1 => (edge(LATENCY_BUCKETS - 2), f64::INFINITY),
        i => (edge(i - 1), edge(i)),
    }
}

/// The `p`-quantile (0 < p ≤ 1) estimated from bucket counts: the bucket holding the
/// nearest-rank element, interpolated linearly by rank within it.
pub(crate) fn hist_percentile(h: &[i64; LATENCY_BUCKETS], p: f64) -> f64 {
    let n: i64 = h.iter().map(|c| (*c).max(0)).sum();
    if n == 0 {
        return 0.0;
    }
    let rank = ((p * n as f64).ceil() as i64).clamp(1, n);
    let mut cum = 0;
    for (i, c) in h.iter().enumerate() {
        let c = (*c).max(0);
        if c > 0 && cum + c >= rank {
            let (lo, hi) = latency_bucket_bounds(i);
            if hi.is_infinite() {
                return lo;
            }
            return lo + (hi - lo) * ((rank - cum) as f64 / c as f64);
        }
        cum += c;
    }
    0.0
}

/// Nearest-rank percentile of exact values.
pub(crate) fn exact_percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

pub(crate) fn minute_of(ts: i64) -> i64 {
    ts.div_euclid(MINUTE_MS) * MINUTE_MS
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RollupKey {
    pub minute: i64,
    pub provider: String,
    pub model: String,
    pub status: String,
}

/// What one row contributes to its rollup (negated when rows are deleted).
#[derive(Clone, Debug)]
pub(crate) struct Delta {
    pub requests: i64,
    pub latency_sum: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost: f64,
    pub hist: [i64; LATENCY_BUCKETS],
}

impl Default for Delta {
    fn default() -> Self {
        Delta {
            requests: 0,
            latency_sum: 0.0,
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
            cost: 0.0,
            hist: [0; LATENCY_BUCKETS],
        }
    }
}

/// The fields of a row that rollups need.
pub(crate) struct Fact<'a> {
    pub ts: i64,
    pub provider: &'a str,
    pub model: &'a str,
    pub status: &'a str,
    pub latency_ms: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub cost: f64,
}

impl Delta {
    pub fn add(&mut self, f: &Fact<'_>) {
        self.requests += 1;
        self.latency_sum += f.latency_ms;
        self.prompt_tokens += f.prompt_tokens;
        self.completion_tokens += f.completion_tokens;
        self.total_tokens += f.total_tokens;
        self.cost += f.cost;
        self.hist[latency_bucket(f.latency_ms)] += 1;
    }

    fn negated(&self) -> Delta {
        let mut hist = self.hist;
        hist.iter_mut().for_each(|c| *c = -*c);
        Delta {
            requests: -self.requests,
            latency_sum: -self.latency_sum,
            prompt_tokens: -self.prompt_tokens,
            completion_tokens: -self.completion_tokens,
            total_tokens: -self.total_tokens,
            cost: -self.cost,
            hist,
        }
    }
}

#[derive(Default)]
pub(crate) struct Deltas(pub HashMap<RollupKey, Delta>);

impl Deltas {
    pub fn add(&mut self, f: &Fact<'_>) {
        let key = RollupKey {
            minute: minute_of(f.ts),
            provider: f.provider.to_string(),
            model: f.model.to_string(),
            status: f.status.to_string(),
        };
        self.0.entry(key).or_default().add(f);
    }

    /// Adds a row from a query selecting [`FACT_COLUMNS`] starting at column `at`.
    pub fn add_row(&mut self, row: &AnyRow, at: usize) -> Result<(), StoreError> {
        let provider = get_string(row, at + 1)?;
        let model = get_string(row, at + 2)?;
        let status = get_string(row, at + 3)?;
        self.add(&Fact {
            ts: get_i64(row, at)?,
            provider: &provider,
            model: &model,
            status: &status,
            latency_ms: get_f64(row, at + 4)?,
            prompt_tokens: get_i64(row, at + 5)?,
            completion_tokens: get_i64(row, at + 6)?,
            total_tokens: get_i64(row, at + 7)?,
            cost: get_f64(row, at + 8)?,
        });
        Ok(())
    }

    /// Adds these deltas to the rollup table (or subtracts them, `negate`), removing rollup
    /// rows that reach zero requests.
    pub async fn apply(
        &self,
        conn: &mut AnyConnection,
        kind: crate::backend::Kind,
        negate: bool,
    ) -> Result<(), StoreError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut entries: Vec<(&RollupKey, &Delta)> = self.0.iter().collect();
        // A stable order keeps concurrent writers from deadlocking on Postgres row locks.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let hist_cols: Vec<String> = (0..LATENCY_BUCKETS).map(|i| format!("b{i}")).collect();
        let mut set = vec![
            "requests = log_rollups.requests + excluded.requests".to_string(),
            "latency_sum = log_rollups.latency_sum + excluded.latency_sum".to_string(),
            "prompt_tokens = log_rollups.prompt_tokens + excluded.prompt_tokens".to_string(),
            "completion_tokens = log_rollups.completion_tokens + excluded.completion_tokens"
                .to_string(),
            "total_tokens = log_rollups.total_tokens + excluded.total_tokens".to_string(),
            "cost = log_rollups.cost + excluded.cost".to_string(),
        ];
        set.extend(
            hist_cols
                .iter()
                .map(|c| format!("{c} = log_rollups.{c} + excluded.{c}")),
        );
        let head = format!(
            "INSERT INTO log_rollups (minute, provider, model, status, requests, latency_sum, \
             prompt_tokens, completion_tokens, total_tokens, cost, {}) VALUES ",
            hist_cols.join(", ")
        );
        let tail = format!(
            " ON CONFLICT (minute, provider, model, status) DO UPDATE SET {}",
            set.join(", ")
        );
        for chunk in entries.chunks(100) {
            let mut buf = SqlBuf::positional(kind);
            let mut tuples = Vec::with_capacity(chunk.len());
            for (k, d) in chunk {
                let neg;
                let d = if negate {
                    neg = d.negated();
                    &neg
                } else {
                    *d
                };
                let mut ph = vec![
                    buf.p(Param::Int(k.minute)),
                    buf.p(Param::Text(k.provider.clone())),
                    buf.p(Param::Text(k.model.clone())),
                    buf.p(Param::Text(k.status.clone())),
                    buf.p(Param::Int(d.requests)),
                    buf.p(Param::Real(d.latency_sum)),
                    buf.p(Param::Int(d.prompt_tokens)),
                    buf.p(Param::Int(d.completion_tokens)),
                    buf.p(Param::Int(d.total_tokens)),
                    buf.p(Param::Real(d.cost)),
                ];
                ph.extend(d.hist.iter().map(|c| buf.p(Param::Int(*c))));
                tuples.push(format!("({})", ph.join(", ")));
            }
            buf.query(format!("{head}{}{tail}", tuples.join(", ")))
                .execute(&mut *conn)
                .await?;
        }
        if negate {
            let lo = entries.iter().map(|e| e.0.minute).min().unwrap_or(0);
            let hi = entries.iter().map(|e| e.0.minute).max().unwrap_or(0);
            sqlx::query(
                "DELETE FROM log_rollups WHERE minute >= $1 AND minute <= $2 AND requests <= 0",
            )
            .bind(lo)
            .bind(hi)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The columns [`Deltas::add_row`] reads, in order.
pub(crate) const FACT_COLUMNS: &str = "ts, provider, model, status, latency_ms, prompt_tokens, \
     completion_tokens, total_tokens, cost";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_line_and_contain_their_values() {
        let mut prev = 0;
        for k in 0..200_000 {
            let ms = k as f64 * 0.37;
            let b = latency_bucket(ms);
            assert!(b >= prev, "monotonic at {ms}");
            prev = b;
            let (lo, hi) = latency_bucket_bounds(b);
            assert!(lo <= ms && ms < hi, "{ms} not in bucket {b} [{lo}, {hi})");
        }
        for i in 1..LATENCY_BUCKETS - 1 {
            let (lo, _) = latency_bucket_bounds(i);
            assert_eq!(latency_bucket(lo), i, "lower edge of {i}");
        }
        assert_eq!(latency_bucket(1e9), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(-3.0), 0);
    }

    #[test]
    fn percentile_from_buckets_lands_in_the_exact_values_bucket() {
        let values: Vec<f64> = (1..=1000).map(|i| (i * i) as f64 / 97.0).collect();
        let mut h = [0i64; LATENCY_BUCKETS];
        for v in &values {
            h[latency_bucket(*v)] += 1;
        }
        for p in [0.5, 0.9, 0.99, 1.0] {
            let exact = exact_percentile(&values, p);
            let approx = hist_percentile(&h, p);
            let (lo, hi) = latency_bucket_bounds(latency_bucket(exact));
            assert!(lo <= approx && approx <= hi, "p{p}: {approx} vs {exact}");
        }
    }
}
