//! Where a store lives: parsing the `config_store` / `logs_store` sections, connecting, migrating.

use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::StoreError;

/// A database a store can open.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (created with its parent directory when missing).
    Sqlite { path: PathBuf },
    /// A PostgreSQL database, shared by replicas. `url` may carry a password: never log it,
    /// use [`Backend::describe`].
    Postgres { url: String, max_connections: u32 },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The SQL dialect in use, for the few statements that differ between backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

const DEFAULT_MAX_OPEN_CONNS: u32 = 50;
/// SQLite has one writer at a time; a few connections serve concurrent readers (WAL).
const SQLITE_MAX_CONNS: u32 = 4;

/// Characters escaped in the userinfo part of a Postgres URL.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters escaped in a SQLite file path inside a `sqlite://` URL (it is percent-decoded).
const SQLITE_PATH: &AsciiSet = &CONTROLS.add(b' ').add(b'#').add(b'?').add(b'%');

impl Backend {
    /// From the original's config.json store section `{enabled, type: "sqlite"|"postgres", config}`;
    /// `None` when `enabled: false`. SQLite config `{path}` (default: `default_sqlite`); Postgres
    /// config `{host, port (string or number), user, password, db_name, ssl_mode, max_open_conns
    /// (default 50)}`. Errors name the JSON field. A password of the form `env.NAME` is resolved
    /// with `env`.
    pub fn from_section(
        section_name: &str,
        v: &Value,
        default_sqlite: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Backend>, StoreError> {
        let err = |field: &str, message: &str| StoreError::Config {
            field: if field.is_empty() {
                section_name.to_string()
            } else {
                format!("{section_name}.{field}")
            },
            message: message.to_string(),
        };
        let obj = match v {
            Value::Null => return Ok(Some(Backend::sqlite(default_sqlite))),
            Value::Object(o) => o,
            _ => return Err(err("", "must be an object")),
        };
        match obj.get("enabled") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(None),
            Some(_) => return Err(err("enabled", "must be a boolean")),
        }
        let kind = match obj.get("type") {
            None | Some(Value::Null) => "sqlite",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(err("type", "must be \"sqlite\" or \"postgres\"")),
        };
        let empty = serde_json::Map::new();
        let config = match obj.get("config") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => return Err(err("config", "must be an object")),
        };
        let string = |name: &str| -> Result<Option<String>, StoreError> {
            match config.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(err(&format!("config.{name}"), "must be a string")),
            }
        };
        match kind {
            "sqlite" => {
                let path = string("path")?
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| default_sqlite.to_path_buf());
                Ok(Some(Backend::Sqlite { path }))
            }
            "postgres" | "postgresql" => {
                let required = |name: &str| -> Result<String, StoreError> {
                    string(name)?
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| err(&format!("config.{name}"), "required for postgres"))
                };
                let host = required("host")?;
                let port = match config.get("port") {
                    None | Some(Value::Null) => 5432,
                    Some(Value::Number(n)) => n
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .ok_or_else(|| err("config.port", "must be a port number (1-65535)"))?,
                    Some(Value::String(s)) if s.is_empty() => 5432,
                    Some(Value::String(s)) => s
                        .parse::<u16>()
                        .map_err(|_| err("config.port", "must be a port number (1-65535)"))?,
                    Some(_) => return Err(err("config.port", "must be a string or a number")),
                };
                let user = required("user")?;
                let db_name = required("db_name")?;
                let password = match string("password")? {
                    Some(p) => match p.strip_prefix("env.") {
                        Some(name) => Some(env(name).ok_or_else(|| {
                            err(
                                "config.password",
                                &format!("environment variable {name} is not set"),
                            )
                        })?),
                        None => Some(p),
                    },
                    None => None,
                };
                let ssl_mode = string("ssl_mode")?.filter(|s| !s.is_empty());
                if let Some(mode) = &ssl_mode {
                    const MODES: [&str; 6] = [
                        "disable",
                        "allow",
                        "prefer",
                        "require",
                        "verify-ca",
                        "verify-full",
                    ];
                    if !MODES.contains(&mode.as_str()) {
                        return Err(err(
                            "config.ssl_mode",
                            "must be one of disable, allow, prefer, require, verify-ca, verify-full",
                        ));
                    }
                }
                let max_connections = match config.get("max_open_conns") {
                    None | Some(Value::Null) => DEFAULT_MAX_OPEN_CONNS,
                    Some(Value::Number(n)) => n
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            err("config.max_open_conns", "must be a positive integer")
                        })?,
                    Some(_) => return Err(err("config.max_open_conns", "must be a number")),
                };
                let mut url = format!("postgres://{}", utf8_percent_encode(&user, USERINFO));
                if let Some(p) = password.filter(|p| !p.is_empty()) {
                    url.push(':');
                    url.extend(utf8_percent_encode(&p, USERINFO));
                }
                let host_part = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                url.push_str(&format!(
                    "@{host_part}:{port}/{}",
                    utf8_percent_encode(&db_name, USERINFO)
                ));
                if let Some(mode) = ssl_mode {
                    url.push_str(&format!("?sslmode={mode}"));
                }
                Ok(Some(Backend::Postgres {
                    url,
                    max_connections,
                }))
            }
            _ => Err(err("type", "must be \"sqlite\" or \"postgres\"")),
        }
    }

    fn sqlite(path: &Path) -> Backend {
        Backend::Sqlite {
            path: path.to_path_buf(),
        }
    }

    /// A redacted description for startup logs (no password).
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite { path } => format!("sqlite {}", path.display()),
            Backend::Postgres {
                url,
                max_connections,
            } => format!(
                "postgres {} (max {max_connections} connections)",
                redact_url(url)
            ),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Backend::Sqlite { .. } => Kind::Sqlite,
            Backend::Postgres { .. } => Kind::Postgres,
        }
    }

    /// Opens a pool, creating a SQLite file (and its directory) when needed.
    pub(crate) async fn connect(&self) -> Result<AnyPool, StoreError> {
        self.connect_with(None).await
    }

    /// [`Backend::connect`] with at most `max` connections instead of the default.
    pub(crate) async fn connect_with(&self, max: Option<u32>) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_err = |source| StoreError::Connect {
            backend: self.describe(),
            source,
        };
        match self {
            Backend::Sqlite { path } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|source| StoreError::Io {
                            path: dir.display().to_string(),
                            source,
                        })?;
                }
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    utf8_percent_encode(&path.to_string_lossy(), SQLITE_PATH)
                );
                AnyPoolOptions::new()
                    .max_connections(max.unwrap_or(SQLITE_MAX_CONNS))
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL is sqlx's default journal mode; with it NORMAL is crash-safe.
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(connect_err)
            }
            Backend::Postgres {
                url,
                max_connections,
            } => AnyPoolOptions::new()
                .max_connections(max.unwrap_or(*max_connections).max(1))
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .map_err(connect_err),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<url>".to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{user}:***@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_string(),
    };
    // Query parameters may carry a password too (`?password=`): drop them.
    let path = tail.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

/// One schema change: the statements to run, for the backend's dialect.
pub(crate) type Migration = fn(Kind) -> Vec<String>;

/// Applies `migrations[v..]` where `v` is the recorded version of `store`, in one transaction,
/// refusing a database migrated by a newer binary.
pub(crate) async fn migrate(
    pool: &AnyPool,
    kind: Kind,
    store: &'static str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let supported = migrations.len() as i64;
    let mut tx = pool.begin().await?;
    if kind == Kind::Postgres {
        // Replicas starting together must not race each other's DDL.
        sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_advisory_xact_lock(7315012)) AS l",
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bifrost_schema_version \
         (store TEXT PRIMARY KEY, version BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let found: i64 = sqlx::query("SELECT version FROM bifrost_schema_version WHERE store = $1")
        .bind(store)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r: AnyRow| r.try_get::<i64, _>(0))
        .transpose()?
        .unwrap_or(0);
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            store,
            found,
            supported,
        });
    }
    if found == supported {
        tx.commit().await?;
        return Ok(());
    }
    for m in &migrations[found as usize..] {
        for s in m(kind) {
            sqlx::query(AssertSqlSafe(s)).execute(&mut *tx).await?;
        }
    }
    sqlx::query(
        "INSERT INTO bifrost_schema_version (store, version, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (store) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(store)
    .bind(supported)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(store, from = found, to = supported, "migrated schema");
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn absent_and_disabled_sections() {
        let d = Path::new("/app/logs.db");
        let b = Backend::from_section("logs_store", &Value::Null, d, &no_env).unwrap();
        assert_eq!(b, Some(Backend::Sqlite { path: d.into() }));
        let off = json!({"enabled": false, "type": "postgres"});
        assert_eq!(
            Backend::from_section("logs_store", &off, d, &no_env).unwrap(),
            None
        );
        let custom = json!({"enabled": true, "type": "sqlite", "config": {"path": "/x/y.db"}});
        assert_eq!(
            Backend::from_section("logs_store", &custom, d, &no_env).unwrap(),
            Some(Backend::Sqlite {
                path: "/x/y.db".into()
            })
        );
    }

    #[test]
    fn postgres_section_builds_url_and_redacts() {
        let v = json!({"enabled": true, "type": "postgres", "config": {
            "host": "db.internal", "port": "5433", "user": "bf", "password": "env.PGPASS",
            "db_name": "bifrost", "ssl_mode": "require"}});
        let env = |n: &str| (n == "PGPASS").then(|| "s3cr:t@x".to_string());
        let b = Backend::from_section("config_store", &v, Path::new("c.db"), &env)
            .unwrap()
            .unwrap();
        assert_eq!(
            b,
            Backend::Postgres {
                url: "postgres://bf:s3cr%3At%40x@db.internal:5433/bifrost?sslmode=require".into(),
                max_connections: 50
            }
        );
        let d = b.describe();
        assert!(!d.contains("s3cr"), "{d}");
        assert!(d.contains("bf:***@db.internal:5433/bifrost"), "{d}");
        assert!(!format!("{b:?}").contains("s3cr"));
    }

    #[test]
    fn errors_name_the_field() {
        let d = Path::new("c.db");
        let cases = [
            (
                json!({"type": "postgres", "config": {"port": 1}}),
                "config_store.config.host: required for postgres",
            ),
            (
                json!({"type": "postgres", "config": {"host": "h", "user": "u", "db_name": "d", "port": "x"}}),
                "config_store.config.port: ",
            ),
            (json!({"type": "mysql"}), "config_store.type: "),
            (
                json!({"type": "postgres", "config": {"host": "h", "user": "u", "db_name": "d", "password": "env.NOPE"}}),
                "config_store.config.password: environment variable NOPE is not set",
            ),
        ];
        for (v, want) in cases {
            let e = Backend::from_section("config_store", &v, d, &no_env).unwrap_err();
            assert!(e.to_string().starts_with(want), "{e} / {want}");
        }
    }
}
