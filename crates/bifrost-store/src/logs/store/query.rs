//! Reads of single rows and pages: `get`, `search`, the row filter and keyset cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::any::AnyRow;

use super::{LogStore, LOG_COLUMNS};
use crate::backend::Kind;
use crate::logs::{LogFilter, LogPage, LogQuery, LogRow, Order, SortBy};
use crate::sql::{
    get_f64, get_i64, get_opt_f64, get_opt_string, get_string, where_clause, Param, SqlBuf,
};
use crate::StoreError;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

impl LogStore {
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
}

pub(super) fn row_conditions(f: &LogFilter, kind: Kind, buf: &mut SqlBuf) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = encode_cursor(1_700_000_000_123, "req:abc");
        assert_eq!(
            decode_cursor(&c).ok(),
            Some((1_700_000_000_123, "req:abc".into()))
        );
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("nots")).is_err());
    }
}
