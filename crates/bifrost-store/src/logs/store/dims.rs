//! The dimension lists behind the filter dropdowns: `filter_data` and pruning `log_dims`.

use super::LogStore;
use crate::logs::FilterData;
use crate::sql::get_string;
use crate::StoreError;

/// Which `logs` column a `log_dims` kind lists.
const DIMS: [(&str, &str); 3] = [
    ("object", "object"),
    ("key_id", "key_id"),
    ("virtual_key_id", "virtual_key_id"),
];

impl LogStore {
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

    /// Drops dimension values no row uses any more (each check is an index lookup).
    pub(super) async fn prune_dims(&self) -> Result<(), StoreError> {
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
}
