//! Health endpoints and the readiness hook that stores plug into.
//!
//! - `GET /health/live`: the process answers; nothing else is checked.
//! - `GET /health/ready`: not shutting down and every required [`HealthCheck`] passes.
//! - `GET /health`: as ready, with each component's state (`client.disable_db_pings_in_health`
//!   skips the checks here, not in `/health/ready`).
//!
//! Answers are `{"status": "ok"|"error"|"shutting_down", "components": {name: "ok"|message}}`,
//! 503 unless ok. Checks run concurrently, each bounded by [`Readiness::timeout`].
//!
//! A store registers its check once it exists:
//!
//! ```ignore
//! gateway.state.health.register(Arc::new(MyStoreCheck { pool }));
//! ```

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One component the gateway depends on (a config or log store, a KV store, …).
pub trait HealthCheck: Send + Sync {
    /// The key under `components`.
    fn name(&self) -> &str;
    /// Whether a failure makes the gateway unhealthy (503); otherwise it is only reported.
    fn required(&self) -> bool {
        true
    }
    /// `Ok` when healthy, else what is wrong.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The registered checks.
pub struct Readiness {
    checks: RwLock<Vec<Arc<dyn HealthCheck>>>,
    /// Bound on each check (the original pings its stores with 10 s).
    pub timeout: Duration,
    /// `client.disable_db_pings_in_health`.
    pub skip_in_health: bool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("checks", &self.names())
            .field("timeout", &self.timeout)
            .field("skip_in_health", &self.skip_in_health)
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            checks: RwLock::default(),
            timeout: Duration::from_secs(10),
            skip_in_health: false,
        }
    }
}

/// The outcome of running the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// No required check failed.
    pub ok: bool,
    /// Name → `"ok"` or the error.
    pub components: Map<String, Value>,
}

impl Readiness {
    /// Adds a check; it runs from the next health request on.
    pub fn register(&self, check: Arc<dyn HealthCheck>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.push(check);
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.checks
            .read()
            .map(|c| c.iter().map(|c| c.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Runs every check concurrently, each within [`Self::timeout`].
    pub async fn run(&self) -> Report {
        // Cloned out: no lock is held across the awaits.
        let checks: Vec<Arc<dyn HealthCheck>> =
            self.checks.read().map(|c| c.clone()).unwrap_or_default();
        let timeout = self.timeout;
        let results = futures::future::join_all(checks.iter().map(|c| async move {
            match tokio::time::timeout(timeout, c.check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        }))
        .await;
        let mut report = Report {
            ok: true,
            components: Map::new(),
        };
        for (c, r) in checks.iter().zip(results) {
            let state = match r {
                Ok(()) => "ok".to_owned(),
                Err(e) => {
                    report.ok &= !c.required();
                    e
                }
            };
            report
                .components
                .insert(c.name().to_owned(), Value::String(state));
        }
        report
    }
}

/// `/health`, `/health/live`, `/health/ready`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The process answers", body = crate::openapi::Health),
    )
)]
pub(crate) async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready", body = crate::openapi::Health),
        (status = 503, description = "Shutting down or a required component failed", body = crate::openapi::Health),
    )
)]
pub(crate) async fn ready(State(st): State<AppState>) -> Response {
    answer(&st, false).await
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Healthy, with each component's state", body = crate::openapi::Health),
        (status = 503, description = "Shutting down or a required component failed", body = crate::openapi::Health),
    )
)]
pub(crate) async fn health(State(st): State<AppState>) -> Response {
    answer(&st, st.health.skip_in_health).await
}

async fn answer(st: &AppState, skip_checks: bool) -> Response {
    // Draining: load balancers should stop sending new work here.
    if st.engine.is_closing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting_down"})),
        )
            .into_response();
    }
    let report = if skip_checks {
        Report {
            ok: true,
            components: Map::new(),
        }
    } else {
        st.health.run().await
    };
    let (status, word) = if report.ok {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "error")
    };
    (
        status,
        Json(json!({"status": word, "components": report.components})),
    )
        .into_response()
}

/// A store ping: the config store (required: without it changes cannot be saved) or the
/// logs store (reported only: requests are still served, their rows counted as dropped).
pub enum StoreCheck {
    Config(bifrost_store::ConfigStore),
    Logs(bifrost_store::LogStore),
}

impl StoreCheck {
    pub fn config(s: bifrost_store::ConfigStore) -> Self {
        Self::Config(s)
    }

    pub fn logs(s: bifrost_store::LogStore) -> Self {
        Self::Logs(s)
    }
}

impl HealthCheck for StoreCheck {
    fn name(&self) -> &str {
        match self {
            Self::Config(_) => "config_store",
            Self::Logs(_) => "logs_store",
        }
    }

    fn required(&self) -> bool {
        matches!(self, Self::Config(_))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self {
                Self::Config(s) => s.ping().await,
                Self::Logs(s) => s.ping().await,
            }
            .map_err(|e| e.to_string())
        })
    }
}
