//! The OpenAPI 3.1 document of the management API, served at `GET /api/openapi.json`.
//!
//! Each operation is described by `#[utoipa::path]` on its handler; [`ApiDoc`] lists them.
//! Answers the handlers build with `json!` are described by the schema-only types below; the
//! rows the stores return (`LogRow`, `StoredProvider`, …) derive their schemas in
//! `bifrost-store` (feature `openapi`). `scripts/test.sh` fuzzes the served document against
//! the running gateway with schemathesis (`tests/api/`), which keeps the two in step.

// The schema types below only describe JSON; none is ever built.
#![allow(dead_code)]

use axum::response::{IntoResponse, Response};
use axum::Json;
use bifrost_store::StoredProvider;
use bifrost_store::{FilterData, HistogramBucket, LogPage, LogRow, LogStats, StoredKey};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

/// `GET /api/openapi.json`: open even with admin auth (see [`crate::auth::classify`]), as
/// it holds no secrets and clients need it before they can log in.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub(crate) async fn serve() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bifrost-RS management API",
        description = "The management API of the Bifrost-RS gateway: providers and keys, client \
settings, models, request logs, governance (virtual keys, budgets, rate limits), admin \
sessions, health and version.\n\n\
The inference routes (`/v1/chat/completions`, `/v1/embeddings`, `/anthropic/v1/messages`, \
`/genai/…`, `/bedrock/…`, …) speak the providers' own APIs and are not described here.\n\n\
**Auth.** With `auth_config.is_enabled`, every `/api/*` operation except \
`/api/session/login`, `/api/session/is-auth-enabled` and `/api/openapi.json` needs an admin \
session: `Authorization: Bearer <token>` or the `token` cookie, both from \
`POST /api/session/login`. Without it, every operation is open.\n\n\
**Errors.** Every 4xx/5xx answer is `{\"error\": {\"message\", \"type\", \"param\"}}`; a \
caller's mistake is a 4xx whose `param` names the field when there is one."
    ),
    paths(
        serve,
        crate::routes::version,
        crate::health::health,
        crate::health::live,
        crate::health::ready,
        crate::auth::login,
        crate::auth::logout,
        crate::auth::is_auth_enabled,
        crate::api::providers::list,
        crate::api::providers::create,
        crate::api::providers::one,
        crate::api::providers::update,
        crate::api::providers::remove,
        crate::api::providers::keys,
        crate::api::providers::add_key,
        crate::api::providers::update_key,
        crate::api::providers::remove_key,
        crate::api::config::show,
        crate::api::config::change,
        crate::api::config::models,
        crate::logs::api::search,
        crate::logs::api::delete,
        crate::logs::api::stats,
        crate::logs::api::histogram,
        crate::logs::api::filter_data,
        crate::logs::api::dropped,
        crate::logs::api::tail,
        crate::logs::api::one,
        crate::governance::api::budgets::list,
        crate::governance::api::budgets::create,
        crate::governance::api::budgets::one,
        crate::governance::api::budgets::update,
        crate::governance::api::budgets::remove,
        crate::governance::api::rate_limits::list,
        crate::governance::api::rate_limits::create,
        crate::governance::api::rate_limits::one,
        crate::governance::api::rate_limits::update,
        crate::governance::api::rate_limits::remove,
        crate::governance::api::customers::list,
        crate::governance::api::customers::create,
        crate::governance::api::customers::one,
        crate::governance::api::customers::update,
        crate::governance::api::customers::remove,
        crate::governance::api::teams::list,
        crate::governance::api::teams::create,
        crate::governance::api::teams::one,
        crate::governance::api::teams::update,
        crate::governance::api::teams::remove,
        crate::governance::api::virtual_keys::list,
        crate::governance::api::virtual_keys::create,
        crate::governance::api::virtual_keys::one,
        crate::governance::api::virtual_keys::update,
        crate::governance::api::virtual_keys::remove,
        crate::governance::api::model_configs::list,
        crate::governance::api::model_configs::create,
        crate::governance::api::model_configs::one,
        crate::governance::api::model_configs::update,
        crate::governance::api::model_configs::remove,
        crate::governance::api::usage_doc,
        crate::governance::api::team_usage,
        crate::governance::api::customer_usage,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, LogRow, LogPage, LogStats, HistogramBucket, FilterData,
        StoredProvider, StoredKey, SortBy, Order,
        crate::governance::model::Budget, crate::governance::model::RateLimit,
        crate::governance::model::Customer, crate::governance::model::Team,
        crate::governance::model::VirtualKey, crate::governance::model::ProviderConfig,
        crate::governance::model::ModelConfig,
    )),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
    tags(
        (name = "providers", description = "Providers and their keys; a change serves the next request"),
        (name = "config", description = "Client settings and models"),
        (name = "logs", description = "Request logs"),
        (name = "governance", description = "Virtual keys, teams, customers, budgets, rate limits and model configs"),
        (name = "session", description = "Admin sessions (`auth_config`)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "Version and this document"),
    )
)]
pub struct ApiDoc;

/// The security schemes (the admin session token as a bearer token or as the `token` cookie),
/// and their 401 on every operation that needs them.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The token of POST /api/session/login; needed only with admin auth enabled",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::COOKIE,
                "The session cookie POST /api/session/login sets; needed only with admin auth enabled",
            ))),
        );
        let unauthorized =
            error_answer("Admin auth is enabled and the request has no valid session");
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            // Operations that set their own (empty) security are open.
            for op in ops.into_iter().flatten().filter(|op| op.security.is_none()) {
                op.responses
                    .responses
                    .insert("401".to_owned(), unauthorized.clone().into());
            }
        }
    }
}

/// An [`ErrorBody`] answer described as `description`.
fn error_answer(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Error answers that many operations share: in `#[utoipa::path(responses(…))]`, the type
/// stands for its `(status = …, description = …, body = ErrorBody)` tuple, written once here.
macro_rules! error_answers {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                BTreeMap::from([($status.to_owned(), error_answer($description).into())])
            }
        }
    )*};
}

error_answers! {
    /// 400: the caller's request is wrong, and says where.
    BadParam = "400", "A bad parameter or body; `param` names it";
    /// 404 of the provider routes.
    NoSuchProvider = "404", "No such provider";
    /// 422 of a provider or key setting the gateway would not accept.
    InvalidSetting = "422", "An invalid setting; `param` is its JSON path";
    /// 503 of the provider and config routes.
    NotEnabled = "503", "The management API is not enabled";
    /// 503 of the logs routes.
    LogsOff = "503", "Request logging is off, or the logs store is unavailable";
    /// 503 of the governance usage routes.
    CountersDown = "503", "The counter store is unavailable";
}

/// Every 4xx/5xx answer.
#[derive(ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
pub(crate) struct ErrorDetail {
    message: String,
    /// Machine-readable kind: `invalid_request_error`, `not_found`, `conflict`, …
    #[schema(rename = "type")]
    kind: String,
    /// The field the error is about (a JSON path or a query parameter), when there is one.
    param: Option<String>,
}

/// The query parameters that filter logs; they combine with AND.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogFilterParams {
    /// Comma-separated provider names.
    providers: Option<String>,
    /// Comma-separated model names.
    models: Option<String>,
    /// Comma-separated statuses: `success`, `error`, `cancelled`.
    status: Option<String>,
    /// Comma-separated request types (`chat.completion`, `embedding`, …).
    objects: Option<String>,
    /// Comma-separated provider key ids.
    selected_key_ids: Option<String>,
    /// Comma-separated virtual key ids.
    virtual_key_ids: Option<String>,
    /// From this time on (inclusive): RFC 3339 or unix milliseconds.
    start_time: Option<String>,
    /// Up to this time (inclusive): RFC 3339 or unix milliseconds.
    end_time: Option<String>,
    /// Milliseconds.
    min_latency: Option<f64>,
    /// Milliseconds.
    max_latency: Option<f64>,
    min_tokens: Option<i64>,
    max_tokens: Option<i64>,
    min_cost: Option<f64>,
    max_cost: Option<f64>,
    /// Case-insensitive substring of the input, output or error.
    content_search: Option<String>,
}

/// The path of the provider routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ProviderPath {
    /// The provider's name
    provider: String,
}

/// The path of the routes of one provider key.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyPath {
    /// The provider's name
    provider: String,
    /// The key's id
    id: String,
}

/// Paging and order of `GET /api/logs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogPageParams {
    /// Rows per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip (sorts other than `timestamp`).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    offset: Option<u64>,
    /// `next_cursor` of the previous page (sort by `timestamp` only).
    cursor: Option<String>,
    sort_by: Option<SortBy>,
    order: Option<Order>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum SortBy {
    Timestamp,
    Latency,
    Tokens,
    Cost,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Order {
    Asc,
    Desc,
}

/// `GET /api/version`.
#[derive(ToSchema)]
pub(crate) struct Version {
    version: String,
    name: String,
}

/// A health answer.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// `ok`, `error` or `shutting_down`.
    status: String,
    /// Component name → `ok` or what is wrong (absent while shutting down).
    components: Option<BTreeMap<String, String>>,
}

#[derive(ToSchema)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

#[derive(ToSchema)]
pub(crate) struct LoginAnswer {
    /// The session token (a JWT): send it as `Authorization: Bearer <token>`.
    token: String,
    /// Seconds until it expires.
    expires_in: u64,
}

#[derive(ToSchema)]
pub(crate) struct Message {
    message: String,
}

#[derive(ToSchema)]
pub(crate) struct AuthState {
    is_auth_enabled: bool,
    has_valid_token: bool,
}

#[derive(ToSchema)]
pub(crate) struct ProviderList {
    /// Secrets masked (or shown as the `env.NAME` they reference).
    providers: Vec<StoredProvider>,
}

#[derive(ToSchema)]
pub(crate) struct KeyList {
    keys: Vec<StoredKey>,
}

/// A provider object as in config.json (`keys`, `network_config`, `concurrency_and_buffer_size`,
/// `custom_provider_config`, …); unknown fields are refused, naming the field.
#[derive(ToSchema)]
pub(crate) struct ProviderBody {
    /// The provider's name (`provider` is accepted too); ignored by `PUT`.
    name: Option<String>,
    /// Replaces the keys when present (masked secrets sent back keep their stored values).
    keys: Option<Vec<KeyBody>>,
    network_config: Option<BTreeMap<String, Value>>,
}

/// A key object as in config.json (`value`, `models`, `weight`, …).
#[derive(ToSchema)]
pub(crate) struct KeyBody {
    /// Generated when absent.
    id: Option<String>,
    name: Option<String>,
    /// The secret, or `env.NAME`.
    value: Option<String>,
    models: Option<Vec<String>>,
    weight: Option<f64>,
}

#[derive(ToSchema)]
pub(crate) struct Deleted {
    /// What was deleted: a provider name or key id.
    deleted: String,
}

#[derive(ToSchema)]
pub(crate) struct DeletedCount {
    /// How many logs were deleted.
    deleted: u64,
}

/// `GET /api/logs/histogram`.
#[derive(ToSchema)]
pub(crate) struct Histogram {
    bucket_ms: i64,
    start_time: i64,
    end_time: i64,
    buckets: Vec<HistogramBucket>,
}

/// The log writer's counters since start.
#[derive(ToSchema)]
pub(crate) struct Dropped {
    dropped: u64,
    written: u64,
    failed: u64,
}

/// The client settings in effect; the logging ones are null when logging is off.
#[derive(ToSchema)]
pub(crate) struct ClientSettings {
    allow_direct_keys: bool,
    max_request_body_size_mb: u64,
    prometheus_labels: Vec<String>,
    drop_excess_requests: bool,
    initial_pool_size: u64,
    enable_logging: bool,
    disable_content_logging: Option<bool>,
    logging_headers: Option<Vec<String>>,
    log_retention_days: Option<u32>,
    /// Rows the request-log queue holds (as started; a change applies at the next start).
    log_queue_size: Option<u64>,
    /// `client.allowed_origins` in effect (localhost is always allowed).
    allowed_origins: Vec<String>,
}

#[derive(ToSchema)]
pub(crate) struct ConfigAnswer {
    client: ClientSettings,
}

/// `PUT /api/config`: the settings to change (a partial client object), alone or as
/// `{"client": {…}}`. Unknown fields are refused.
#[derive(ToSchema)]
pub(crate) struct ClientPatchBody {
    allow_direct_keys: Option<bool>,
    disable_content_logging: Option<bool>,
    logging_headers: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 36_500)]
    log_retention_days: Option<u32>,
    /// Applies at the next start, as do the fields below.
    enable_logging: Option<bool>,
    #[schema(minimum = 1, maximum = 10_000_000)]
    log_queue_size: Option<u64>,
    drop_excess_requests: Option<bool>,
    #[schema(minimum = 1, maximum = 10_000_000)]
    initial_pool_size: Option<u64>,
    /// At most 1 TiB.
    #[schema(minimum = 1, maximum = 1_048_576)]
    max_request_body_size_mb: Option<u64>,
    prometheus_labels: Option<Vec<String>>,
    /// Browser origins allowed by CORS (`scheme://host[:port]` or `"*"`); applies at once.
    allowed_origins: Option<Vec<String>>,
}

#[derive(ToSchema)]
pub(crate) struct ConfigChanged {
    client: ClientSettings,
    /// The changed fields that apply only at the next start.
    restart_required: Vec<String>,
}

/// One model the gateway can route.
#[derive(ToSchema)]
pub(crate) struct Model {
    /// `provider/model`.
    id: String,
    object: String,
    created: u64,
    /// The provider.
    owned_by: String,
}

#[derive(ToSchema)]
pub(crate) struct ModelList {
    models: Vec<Model>,
}
