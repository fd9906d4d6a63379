//! HTTP routes. Errors are rendered in exactly one place, [`error_response`].

pub(crate) mod chat;
pub(crate) use chat::Answered;
mod native;
pub(crate) mod request;
mod respond;
mod sse;

use crate::AppState;
use axum::body::HttpBody;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bifrost_core::BifrostError;
use serde_json::json;
use std::time::Instant;

/// The OpenAI-shaped API, served at `/v1/…` (and without `/v1`), and again under `/openai`
/// for the OpenAI SDK's `base_url`.
fn openai_api() -> Router<AppState> {
    let mut r = Router::new();
    for prefix in ["/v1", ""] {
        r = r
            .route(
                &format!("{prefix}/chat/completions"),
                post(chat::chat_completions),
            )
            .route(&format!("{prefix}/embeddings"), post(chat::embeddings))
            .route(&format!("{prefix}/completions"), post(chat::completions))
            .route(&format!("{prefix}/responses"), post(chat::responses))
            .route(&format!("{prefix}/audio/speech"), post(chat::speech))
            .route(
                &format!("{prefix}/audio/transcriptions"),
                post(chat::transcriptions),
            )
            .route(
                &format!("{prefix}/images/generations"),
                post(chat::image_generations),
            )
            .route(&format!("{prefix}/rerank"), post(chat::rerank))
            .route(&format!("{prefix}/models"), get(models))
            // `{*…}`: listed ids are `provider/model`, so they hold a slash.
            .route(&format!("{prefix}/models/{{*id}}"), get(model));
    }
    r
}

/// The whole HTTP surface. A request passes, outermost first: CORS ([`crate::cors`], which
/// answers preflights) → admin auth ([`crate::auth::require_admin`], by path) → routing →
/// metrics ([`track`]) → body limit → the handler (inference handlers then go through the
/// engine). `/debug/pprof/*` is only routed with `enable_pprof`, and outside the metrics.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_request_body_bytes;
    let anthropic = Router::new()
        .route("/v1/messages", post(chat::anthropic_messages))
        .route(
            "/v1/messages/count_tokens",
            post(chat::anthropic_count_tokens),
        )
        .layer(Extension(chat::DefaultProvider("anthropic")));
    let mut app = Router::new()
        .merge(openai_api())
        .nest(
            "/openai",
            openai_api().layer(Extension(chat::DefaultProvider("openai"))),
        )
        .nest("/anthropic", anthropic)
        // `{*…}`: a `provider/model` id puts a slash in the path.
        .route("/genai/v1beta/models/{*model_action}", post(chat::genai))
        .route("/genai/v1/models/{*model_action}", post(chat::genai))
        .route("/cohere/v2/chat", post(chat::cohere_chat))
        .route(
            "/bedrock/model/{model_id}/{action}",
            post(chat::bedrock_converse),
        )
        .merge(crate::logs::api::router())
        .merge(crate::api::providers::router())
        .merge(crate::api::config::router())
        .merge(crate::governance::api::router())
        .merge(crate::health::router())
        .merge(crate::auth::router())
        .merge(crate::ui::router())
        .route("/api/version", get(version))
        .route("/api/openapi.json", get(crate::openapi::serve))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(limit));
    // Profiles take seconds by design: kept out of the request metrics.
    if state.settings.enable_pprof {
        app = app.merge(crate::pprof::router());
    }
    // Outermost first: CORS (answers preflights without credentials), then admin auth, which
    // decides by path and so also covers routes added here later.
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        crate::auth::require_admin,
    ))
    .layer(middleware::from_fn_with_state(
        state.cors.clone(),
        crate::cors::cors,
    ))
    .with_state(state)
}

/// Request headers a client may send: more headers, or more bytes of them, get a 431 with an
/// error body. (Hyper itself refuses only far larger heads — see `server.rs` — and with an
/// empty 431.) Checked by the accept loop before the router, as hyper would.
pub const MAX_REQUEST_HEADERS: usize = 100;
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

/// The 431 for a head over the limits; `None` when it is within them.
pub(crate) fn header_limits(headers: &HeaderMap) -> Option<Response> {
    let too_many = headers.len() > MAX_REQUEST_HEADERS;
    if !too_many
        && headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
            <= MAX_REQUEST_HEADER_BYTES
    {
        return None;
    }
    let what = if too_many {
        format!("more than {MAX_REQUEST_HEADERS} request headers")
    } else {
        format!(
            "more than {} KiB of request headers",
            MAX_REQUEST_HEADER_BYTES / 1024
        )
    };
    Some(error_response(&BifrostError::policy(
        bifrost_core::ErrorClass::InvalidRequest,
        431,
        "request_header_fields_too_large",
        format!("the request has {what}"),
    )))
}

/// `GET /api/version`.
#[utoipa::path(
    get,
    path = "/api/version",
    tag = "meta",
    responses(
        (status = 200, description = "The gateway's version", body = crate::openapi::Version),
    )
)]
pub(crate) async fn version() -> Response {
    Json(json!({"version": env!("CARGO_PKG_VERSION"), "name": "bifrost-http"})).into_response()
}

/// The custom metric label values of a request, computed once by [`track`].
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricLabels(pub Vec<String>);

/// The route template a request matched (`other` for none), for metric labels.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint(pub String);

/// Counts and times every HTTP exchange by route template, method and status.
async fn track(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let request_size = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let labels = st.metrics.label_values(|name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    req.extensions_mut().insert(MetricLabels(labels.clone()));
    req.extensions_mut().insert(Endpoint(endpoint.clone()));
    let mut exchange = Exchange {
        metrics: &st.metrics,
        endpoint: &endpoint,
        method: method.as_str(),
        start,
        request_size,
        labels: &labels,
        answered: false,
    };
    let resp = next.run(req).await;
    exchange.answered = true;
    st.metrics.http(
        &endpoint,
        method.as_str(),
        resp.status().as_u16(),
        start.elapsed(),
        request_size,
        resp.body().size_hint().exact(),
        &labels,
    );
    resp
}

/// An exchange [`track`] has not seen answered. When the client leaves first, hyper drops the
/// handler's future, and this counts the exchange as 499 (nginx's "client closed request").
struct Exchange<'a> {
    metrics: &'a crate::metrics::Metrics,
    endpoint: &'a str,
    method: &'a str,
    start: Instant,
    request_size: Option<u64>,
    labels: &'a [String],
    answered: bool,
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.metrics.http(
                self.endpoint,
                self.method,
                499,
                self.start.elapsed(),
                self.request_size,
                None,
                self.labels,
            );
        }
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    if let Some(l) = &st.logs {
        st.metrics
            .log_rows(l.writer.written(), l.writer.dropped(), l.writer.failed());
    }
    st.governance.sync_metrics();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        st.metrics.render(&st.engine),
    )
        .into_response()
}

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's `x-request-id`, or a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// 32 random hex digits, written without a formatter (this runs on every request).
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = fastrand::u128(..);
    let mut id = [0u8; 32];
    for (i, d) in id.iter_mut().enumerate() {
        *d = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The OpenAI-style error response for `e`: its status, `Retry-After` when known, and the JSON
/// body `{"error":{"message","type","code","param"}, …}`.
pub(crate) fn error_response(e: &BifrostError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = (status, Json(e.to_json())).into_response();
    error_headers(&mut resp, e);
    resp
}

/// `Retry-After` (whole seconds, at least 1) and the headers a plugin put on the error.
fn error_headers(resp: &mut Response, e: &BifrostError) {
    if let Some(ra) = e.retry_after {
        let secs = ra.as_secs() + u64::from(ra.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    for (name, value) in &e.headers {
        resp.headers_mut().insert(name, value.clone());
    }
}

#[derive(serde::Deserialize)]
struct ModelsQuery {
    /// List ids without their `provider/` prefix (as the OpenAI SDK's users expect).
    #[serde(default)]
    unprefixed: bool,
    /// Only this provider's models.
    provider: Option<String>,
}

async fn models(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ModelsQuery>,
) -> Response {
    let mut data = st.engine.list_models().await;
    if let Some(p) = &q.provider {
        data.retain(|m| &m.owned_by == p);
    }
    if q.unprefixed {
        let providers = st.engine.providers();
        for m in &mut data {
            if let Some((p, rest)) = m.id.split_once('/') {
                if providers.iter().any(|c| c == p) {
                    m.id = rest.to_owned();
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        data.retain(|m| seen.insert(m.id.clone()));
    }
    Json(json!({ "object": "list", "data": data })).into_response()
}

/// `GET /v1/models/{id}`: the model object `/v1/models` lists under `id`. A bare id (no
/// `provider/` prefix) names the one provider that lists it; when several do, the drop-in
/// route's own provider (`/openai` → `openai`) wins, else the id is ambiguous and not found,
/// as a guess could describe a model the client will not be routed to.
async fn model(
    State(st): State<AppState>,
    default: Option<Extension<chat::DefaultProvider>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let data = st.engine.list_models().await;
    if let Some(m) = data.iter().find(|m| m.id == id) {
        return Json(m).into_response();
    }
    let providers = st.engine.providers();
    let bare: Vec<_> = data
        .iter()
        .filter(|m| {
            m.id.split_once('/')
                .is_some_and(|(p, rest)| rest == id && providers.iter().any(|c| c == p))
        })
        .collect();
    let preferred = default.and_then(|Extension(chat::DefaultProvider(d))| {
        bare.iter().find(|m| m.owned_by == d).copied()
    });
    let found = match (preferred, bare.as_slice()) {
        (Some(m), _) => Some(m),
        (None, [m]) => Some(*m),
        _ => None,
    };
    if let Some(m) = found {
        // Answered under the id asked for, as OpenAI's retrieve does.
        let mut m = m.clone();
        m.id = id;
        return Json(m).into_response();
    }
    let message = if bare.len() > 1 {
        let ids: Vec<&str> = bare.iter().map(|m| m.id.as_str()).collect();
        format!(
            "the model '{id}' is ambiguous: name one of {}",
            ids.join(", ")
        )
    } else {
        format!("the model '{id}' does not exist or is not served here")
    };
    let mut e = BifrostError::model_not_found(message);
    e.code = Some("model_not_found".to_owned());
    error_response(&e)
}

/// `e` in the error shape of the client's SDK, with its status and `Retry-After`.
pub(crate) fn error_in_shape(shape: chat::ErrorShape, e: &BifrostError) -> Response {
    let body = match shape {
        chat::ErrorShape::OpenAi => return error_response(e),
        chat::ErrorShape::Anthropic => bifrost_core::inbound::anthropic::error_body(e),
        chat::ErrorShape::Google => bifrost_core::inbound::genai::error_body(e),
        chat::ErrorShape::Cohere | chat::ErrorShape::Aws => json!({ "message": e.message }),
    };
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = (status, Json(body)).into_response();
    error_headers(&mut resp, e);
    if shape == chat::ErrorShape::Aws {
        // The AWS SDKs read the error type from this header.
        let kind = match e.status {
            400 | 413 | 422 => "ValidationException",
            401 | 403 => "AccessDeniedException",
            404 => "ResourceNotFoundException",
            429 => "ThrottlingException",
            503 => "ServiceUnavailableException",
            _ => "InternalServerException",
        };
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    resp
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let mut e = BifrostError::invalid_request(format!("no route for {}", uri.path()));
    e.status = 404;
    e.code = Some("not_found".to_owned());
    error_response(&e)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let mut e =
        BifrostError::invalid_request(format!("method {method} is not allowed on {}", uri.path()));
    e.status = 405;
    e.code = Some("method_not_allowed".to_owned());
    error_response(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_kept_or_made_of_32_hex_digits() {
        let made = request_id(&HeaderMap::new());
        let made = made.to_str().unwrap();
        assert_eq!(made.len(), 32);
        assert!(made
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(made, request_id(&HeaderMap::new()).to_str().unwrap());
        let mut h = HeaderMap::new();
        h.insert(&X_REQUEST_ID, HeaderValue::from_static("req-1"));
        assert_eq!(request_id(&h), "req-1");
    }
}
