//! Client settings: `GET /api/config` (what is in effect) and `PUT /api/config` (a partial
//! `client` object). Logging and direct-key settings apply at once; the others are stored and
//! apply at the next start, which the answer says (`restart_required`).

use super::{bad_request, control, store_error, ApiError};
use crate::config::FileConfig;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/config", get(show).put(change))
        .route("/api/models", get(models))
}

/// Bound on `log_queue_size` and `initial_pool_size` by `PUT /api/config`.
pub const MAX_QUEUE: u64 = 10_000_000;
/// Bound on `log_retention_days` by `PUT /api/config` (a century).
pub const MAX_RETENTION_DAYS: u64 = 36_500;
/// Bound on `max_request_body_size_mb` by `PUT /api/config` (1 TiB).
pub const MAX_BODY_MB: u64 = 1 << 20;

/// The settings `PUT /api/config` changes; every field optional, unknown ones refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_direct_keys: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_content_logging: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<u32>,
    // Applied at the next start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_logging: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_queue_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_excess_requests: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_pool_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_request_body_size_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
}

impl ClientPatch {
    /// Fields with a value that only a restart applies.
    fn restart_fields(&self) -> Vec<&'static str> {
        [
            ("enable_logging", self.enable_logging.is_some()),
            ("log_queue_size", self.log_queue_size.is_some()),
            ("drop_excess_requests", self.drop_excess_requests.is_some()),
            ("initial_pool_size", self.initial_pool_size.is_some()),
            (
                "max_request_body_size_mb",
                self.max_request_body_size_mb.is_some(),
            ),
            ("prometheus_labels", self.prometheus_labels.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }

    fn check(&self) -> Result<(), ApiError> {
        for (field, zero) in [
            ("log_retention_days", self.log_retention_days == Some(0)),
            ("log_queue_size", self.log_queue_size == Some(0)),
            ("initial_pool_size", self.initial_pool_size == Some(0)),
            (
                "max_request_body_size_mb",
                self.max_request_body_size_mb == Some(0),
            ),
        ] {
            if zero {
                return Err(bad_request(field, format!("{field} must be at least 1")));
            }
        }
        // Upper bounds: larger values, taken at the next start, would exhaust memory (pool,
        // queue) or overflow the byte count.
        for (field, value, max) in [
            (
                "log_retention_days",
                self.log_retention_days.map(u64::from),
                MAX_RETENTION_DAYS,
            ),
            (
                "log_queue_size",
                self.log_queue_size.map(|v| v as u64),
                MAX_QUEUE,
            ),
            (
                "initial_pool_size",
                self.initial_pool_size.map(|v| v as u64),
                MAX_QUEUE,
            ),
            (
                "max_request_body_size_mb",
                self.max_request_body_size_mb,
                MAX_BODY_MB,
            ),
        ] {
            if value.is_some_and(|v| v > max) {
                return Err(bad_request(field, format!("{field} must be at most {max}")));
            }
        }
        Ok(())
    }

    /// `other`'s fields over these.
    fn merged(mut self, other: &ClientPatch) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f.clone_from(&other.$f); } )* };
        }
        take!(
            allow_direct_keys,
            disable_content_logging,
            logging_headers,
            log_retention_days,
            enable_logging,
            log_queue_size,
            drop_excess_requests,
            initial_pool_size,
            max_request_body_size_mb,
            prometheus_labels,
            allowed_origins
        );
        self
    }

    /// Startup: the stored settings over the file's.
    pub fn apply_to(&self, file: &mut FileConfig) {
        if let Some(v) = self.allow_direct_keys {
            file.allow_direct_keys = v;
        }
        if let Some(v) = self.disable_content_logging {
            file.stores.disable_content_logging = v;
        }
        if let Some(v) = &self.logging_headers {
            file.stores.logging_headers = normalised(v);
        }
        if let Some(v) = self.log_retention_days {
            file.stores.log_retention_days = v;
        }
        if let Some(v) = self.enable_logging {
            file.stores.enable_logging = v;
        }
        if let Some(v) = self.log_queue_size {
            file.stores.log_queue_size = v;
        }
        if self.drop_excess_requests.is_some() {
            file.drop_excess_requests = self.drop_excess_requests;
        }
        if self.initial_pool_size.is_some() {
            file.initial_pool_size = self.initial_pool_size;
        }
        if let Some(mb) = self.max_request_body_size_mb {
            file.max_request_body_bytes =
                Some(usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX));
        }
        if let Some(v) = &self.prometheus_labels {
            file.prometheus_labels.clone_from(v);
        }
        // Checked when it was stored; a value that no longer parses keeps the file's.
        if let Some(c) = self
            .allowed_origins
            .as_ref()
            .and_then(|v| crate::config::cors_config(v.clone(), Vec::new()).ok())
        {
            file.cors.allowed_origins = c.allowed_origins;
        }
    }
}

fn normalised(headers: &[String]) -> Vec<String> {
    headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect()
}

/// What is in effect now.
fn effective(st: &AppState) -> Value {
    let logs = st.logs.as_ref().map(|l| l.settings.load_full());
    json!({
        "allow_direct_keys": st.settings.allow_direct_keys.load(Ordering::Relaxed),
        "max_request_body_size_mb": st.settings.max_request_body_bytes / (1024 * 1024),
        "prometheus_labels": st.settings.prometheus_labels,
        "drop_excess_requests": st.engine.drop_excess_requests(),
        "initial_pool_size": st.engine.initial_pool_size(),
        "enable_logging": st.logs.is_some(),
        "disable_content_logging": logs.as_ref().map(|l| !l.content),
        "logging_headers": logs.as_ref().map(|l| l.headers.clone()),
        "log_retention_days": st.logs.as_ref().map(|l| l.retention_days.load(Ordering::Relaxed)),
        "log_queue_size": st.logs.as_ref().map(|l| l.writer.queue_capacity()),
        "allowed_origins": st.cors.load().origins(),
    })
}

#[utoipa::path(
    get,
    path = "/api/config",
    tag = "config",
    responses(
        (status = 200, description = "The client settings in effect", body = crate::openapi::ConfigAnswer),
    )
)]
pub(crate) async fn show(State(st): State<AppState>) -> Response {
    Json(json!({ "client": effective(&st) })).into_response()
}

/// `PUT /api/config`: `{"client": {…}}` (or the client object itself).
#[utoipa::path(
    put,
    path = "/api/config",
    tag = "config",
    request_body = crate::openapi::ClientPatchBody,
    responses(
        (status = 200, description = "Changed; the settings now in effect", body = crate::openapi::ConfigChanged),
        crate::openapi::BadParam,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn change(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|rej| bad_request("", rej.body_text()))?;
    let client = match body {
        Value::Object(mut m) if m.len() == 1 && m.contains_key("client") => {
            m.remove("client").unwrap_or_default()
        }
        v @ Value::Object(_) => v,
        _ => return Err(bad_request("", "the body must be a JSON object")),
    };
    let patch: ClientPatch = serde_path_to_error::deserialize(client).map_err(|e| {
        let field = format!("client.{}", e.path());
        bad_request(&field, format!("{field}: {}", e.inner()))
    })?;
    patch.check()?;
    let origins = match &patch.allowed_origins {
        Some(v) => Some(
            crate::config::cors_config(v.clone(), Vec::new())
                .map_err(|e| bad_request(&e.path, e.to_string()))?
                .allowed_origins,
        ),
        None => None,
    };
    let cp = control(&st)?;
    if let Some(store) = cp.store() {
        let stored: ClientPatch = match store.client_config().await.map_err(store_error)? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => ClientPatch::default(),
        };
        let merged = stored.merged(&patch);
        let v = serde_json::to_value(&merged)
            .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
        store.put_client_config(&v).await.map_err(store_error)?;
    }
    // What applies at once.
    if let Some(o) = origins {
        let next = st.cors.load().with_origins(o);
        st.cors.store(std::sync::Arc::new(next));
    }
    if let Some(v) = patch.allow_direct_keys {
        st.settings.allow_direct_keys.store(v, Ordering::Relaxed);
    }
    if let Some(logs) = &st.logs {
        if let Some(days) = patch.log_retention_days {
            logs.retention_days.store(days, Ordering::Relaxed);
        }
        if patch.disable_content_logging.is_some() || patch.logging_headers.is_some() {
            let mut next = (*logs.settings.load_full()).clone();
            if let Some(off) = patch.disable_content_logging {
                next.content = !off;
            }
            if let Some(h) = &patch.logging_headers {
                next.headers = normalised(h);
            }
            logs.settings.store(std::sync::Arc::new(next));
        }
    }
    Ok(Json(json!({
        "client": effective(&st),
        "restart_required": patch.restart_fields(),
    }))
    .into_response())
}

/// Every model the gateway can route, as `/v1/models` lists them.
#[utoipa::path(
    get,
    path = "/api/models",
    tag = "config",
    responses(
        (status = 200, description = "Every model the gateway can route", body = crate::openapi::ModelList),
    )
)]
pub(crate) async fn models(State(st): State<AppState>) -> Response {
    Json(json!({ "models": st.engine.list_models().await })).into_response()
}
