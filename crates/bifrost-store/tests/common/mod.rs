//! Test databases: a temp SQLite file always, a fresh PostgreSQL database per test when
//! BIFROST_TEST_POSTGRES_URL is set (required when BIFROST_REQUIRE_POSTGRES=1).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bifrost_store::Backend;
use sqlx::{AnyPool, AssertSqlSafe};

pub struct TestDb {
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        TestDb {
            backend: Backend::Sqlite {
                path: dir.path().join("nested/dir/store.db"),
            },
            _dir: Some(dir),
        }
    }

    /// A fresh database on the test server, or None (skipped) when none is configured.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(admin) = std::env::var("BIFROST_TEST_POSTGRES_URL") else {
            if std::env::var("BIFROST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("BIFROST_REQUIRE_POSTGRES=1 but BIFROST_TEST_POSTGRES_URL is not set");
            }
            eprintln!("skipping {test} on PostgreSQL: BIFROST_TEST_POSTGRES_URL is not set");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "bifrost_test_{}_{:08x}",
            test.to_lowercase(),
            fastrand::u32(..)
        );
        let pool = AnyPool::connect(&admin).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let (server, _) = base.rsplit_once('/').unwrap();
        Some(TestDb {
            backend: Backend::Postgres {
                url: format!("{server}/{name}{query}"),
                max_connections: 8,
            },
            _dir: None,
        })
    }

    /// A plain pool on the same database, for reading columns behind the store's back.
    pub async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self.backend {
            Backend::Sqlite { path } => format!("sqlite://{}", path.display()),
            Backend::Postgres { url, .. } => url.clone(),
        };
        AnyPool::connect(&url).await.unwrap()
    }
}

/// Opens a store with `open` (creating its schema), marks `store`'s schema as version 7, newer
/// than this binary's `supported`, and checks that opening it again is refused, naming both.
pub async fn assert_newer_schema_refused<T, E: std::fmt::Debug + std::fmt::Display>(
    db: &TestDb,
    store: &str,
    supported: i64,
    open: impl AsyncFn() -> Result<T, E>,
) {
    drop(open().await.unwrap());
    let raw = db.raw().await;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE bifrost_schema_version SET version = 7 WHERE store = '{store}'"
    )))
    .execute(&raw)
    .await
    .unwrap();
    let err = open().await.err().expect("must refuse");
    assert_eq!(
        err.to_string(),
        format!(
            "{store} schema version 7 is newer than this binary supports ({supported}); upgrade bifrost-http or point it at another database"
        )
    );
}

/// Runs each listed `async fn name(db: &TestDb)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::common::TestDb::sqlite();
                    super::$name(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDb::postgres(stringify!($name)).await {
                        super::$name(&db).await;
                    }
                }
            }
        )*
    };
}
