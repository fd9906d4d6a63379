//! Dynamic SQL with `$n` placeholders (accepted by SQLite and Postgres alike) and lenient
//! readers for the `Any` driver.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Row};

use crate::StoreError;

/// A value bound to a placeholder.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Int(i64),
    Real(f64),
    Text(String),
    OptText(Option<String>),
    OptReal(Option<f64>),
}

/// SQL text plus its parameters, in placeholder order.
#[derive(Default)]
pub(crate) struct SqlBuf {
    pub params: Vec<Param>,
    /// Anonymous `?` placeholders, each used once and in order. SQLite looks a numbered
    /// placeholder's name up with a linear scan when binding (so a statement with n of them
    /// binds in O(n²): 85% of a bulk insert's time); `?` binds by position.
    anonymous: bool,
}

impl SqlBuf {
    /// For statements whose placeholders appear exactly once each, in the order they are
    /// added (bulk inserts): anonymous on SQLite, numbered on PostgreSQL.
    pub fn positional(kind: crate::backend::Kind) -> Self {
        Self {
            params: Vec::new(),
            anonymous: kind == crate::backend::Kind::Sqlite,
        }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn p(&mut self, p: Param) -> String {
        self.params.push(p);
        if self.anonymous {
            "?".to_owned()
        } else {
            format!("${}", self.params.len())
        }
    }

    /// Adds `params` and appends their placeholders to `sql` as one tuple, `(…, …)`: a row of
    /// a multi-row insert, without a string per placeholder.
    pub fn push_tuple(&mut self, sql: &mut String, params: impl IntoIterator<Item = Param>) {
        use std::fmt::Write as _;
        sql.push('(');
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            self.params.push(p);
            if self.anonymous {
                sql.push('?');
            } else {
                let _ = write!(sql, "${}", self.params.len());
            }
        }
        sql.push(')');
    }

    /// `col IN ($a, $b, …)` for a non-empty list.
    pub fn in_list(&mut self, col: &str, values: &[String]) -> String {
        let ph: Vec<String> = values
            .iter()
            .map(|v| self.p(Param::Text(v.clone())))
            .collect();
        format!("{col} IN ({})", ph.join(", "))
    }

    pub fn query(self, sql: String) -> Query<'static, Any, AnyArguments> {
        bind(sqlx::query(AssertSqlSafe(sql)), self.params)
    }
}

pub(crate) fn bind(
    mut q: Query<'static, Any, AnyArguments>,
    params: Vec<Param>,
) -> Query<'static, Any, AnyArguments> {
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Real(v) => q.bind(v),
            Param::Text(v) => q.bind(v),
            Param::OptText(v) => q.bind(v),
            Param::OptReal(v) => q.bind(v),
        };
    }
    q
}

/// `WHERE a AND b` or "".
pub(crate) fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

pub(crate) fn get_i64(row: &AnyRow, col: usize) -> Result<i64, StoreError> {
    Ok(get_opt_i64(row, col)?.unwrap_or(0))
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: usize) -> Result<Option<i64>, StoreError> {
    match row.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<f64>, _>(col)?.map(|f| f as i64)),
    }
}

/// Reads a float column that SQLite may hand back as an integer (e.g. `SUM` of whole numbers).
pub(crate) fn get_opt_f64(row: &AnyRow, col: usize) -> Result<Option<f64>, StoreError> {
    match row.try_get::<Option<f64>, _>(col) {
        Ok(v) => Ok(v),
        Err(_) => Ok(row.try_get::<Option<i64>, _>(col)?.map(|i| i as f64)),
    }
}

pub(crate) fn get_f64(row: &AnyRow, col: usize) -> Result<f64, StoreError> {
    Ok(get_opt_f64(row, col)?.unwrap_or(0.0))
}

pub(crate) fn get_string(row: &AnyRow, col: usize) -> Result<String, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?.unwrap_or_default())
}

pub(crate) fn get_opt_string(row: &AnyRow, col: usize) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}
