//! Cloud-hosted variants of the OpenAI and Anthropic APIs, and the token endpoints their
//! credentials are exchanged at: Azure OpenAI deployments (`api-key` or Entra bearer),
//! OpenAI embeddings, Anthropic models on Vertex (`rawPredict`), a Microsoft Entra ID
//! client-credentials endpoint and a Google OAuth JWT-bearer endpoint.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::{error_response, Flavor};
use crate::gate::{bearer_token, Inbound};
use crate::reply::prompt_tokens;
use crate::state::MockState;

/// The key every token request is counted under in `MockStats::requests_by_key`.
pub const TOKEN_REQUESTS: &str = "oauth-token-requests";

/// A deterministic 8-dimensional unit-ish vector for `text`.
pub(crate) fn embedding_of(text: &str) -> Vec<f32> {
    let mut v = [0f32; 8];
    for (i, b) in text.bytes().enumerate() {
        v[i % 8] += f32::from(b) / 255.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

#[derive(Deserialize)]
struct EmbeddingRequest {
    #[serde(default)]
    model: Option<String>,
    input: Value,
}

/// `POST /v1/embeddings` (OpenAI shape).
pub(crate) async fn embeddings(inbound: Inbound) -> Response {
    match inbound.admit_json(Flavor::OpenAi).await {
        Ok((_, _, request)) => openai_embeddings(request),
        Err(response) => response,
    }
}

fn openai_embeddings(req: EmbeddingRequest) -> Response {
    let texts: Vec<String> = match req.input {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    };
    let tokens: u64 = texts.iter().map(|t| prompt_tokens(t.chars().count())).sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embedding_of(t)}))
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": req.model.unwrap_or_else(|| "mock-embedding".into()),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
    .into_response()
}

/// Azure's checks before the OpenAI handlers: an `api-version` query and `api-key` or Entra
/// bearer auth. The key is handed on as a bearer token so the OpenAI handler counts it.
/// (A plain `Response` error: this is a handler prologue, not a hot path.)
#[allow(clippy::result_large_err)]
fn azure_gate(headers: &mut HeaderMap, query: Option<&str>) -> Result<(), Response> {
    let has_version = query
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.starts_with("api-version=") && kv.len() > "api-version=".len());
    if !has_version {
        return Err(error_response(
            Flavor::OpenAi,
            StatusCode::NOT_FOUND,
            "mock azure: missing api-version query parameter",
        ));
    }
    if let Some(key) = headers.get("api-key").cloned() {
        let mut bearer = b"Bearer ".to_vec();
        bearer.extend_from_slice(key.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&bearer) {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
    }
    Ok(())
}

/// `POST /openai/deployments/{deployment}/chat/completions?api-version=…` (`EMBEDDINGS`
/// false) and `…/embeddings?api-version=…` (`EMBEDDINGS` true).
pub(crate) async fn azure<const EMBEDDINGS: bool>(
    Path(_deployment): Path<String>,
    RawQuery(query): RawQuery,
    mut inbound: Inbound,
) -> Response {
    if let Err(r) = azure_gate(&mut inbound.headers, query.as_deref()) {
        return r;
    }
    if EMBEDDINGS {
        embeddings(inbound).await
    } else {
        crate::openai::chat_completions(inbound).await
    }
}

/// `POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict` and
/// `:streamRawPredict`: an Anthropic Messages body without `model`, with Vertex's
/// `anthropic_version`, and a bearer token.
pub(crate) async fn vertex_anthropic(
    Path((_project, _location, model_action)): Path<(String, String, String)>,
    mut inbound: Inbound,
) -> Response {
    let bad = |m: &str| error_response(Flavor::Anthropic, StatusCode::BAD_REQUEST, m);
    let Some((model, action)) = model_action.split_once(':') else {
        return bad("mock vertex: expected {model}:rawPredict");
    };
    let stream = match action {
        "rawPredict" => false,
        "streamRawPredict" => true,
        _ => return bad("mock vertex: unknown action"),
    };
    if bearer_token(&inbound.headers).is_none() {
        return error_response(
            Flavor::Anthropic,
            StatusCode::UNAUTHORIZED,
            "mock vertex: missing bearer token",
        );
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&inbound.body) else {
        return bad("mock vertex: invalid JSON body");
    };
    if map.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16") {
        return bad("anthropic_version: must be vertex-2023-10-16");
    }
    if map.contains_key("model") {
        return bad("model: Extra inputs are not permitted");
    }
    map.remove("anthropic_version");
    map.insert("model".into(), json!(model));
    map.insert("stream".into(), json!(stream));
    let version = HeaderValue::from_static("2023-06-01");
    inbound.headers.insert("anthropic-version", version);
    inbound.body = Bytes::from(Value::Object(map).to_string());
    crate::anthropic::messages(inbound).await
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The grant type a token endpoint takes, and its refusal of any other.
struct Grant {
    kind: &'static str,
    refusal: &'static str,
}

const CLIENT_CREDENTIALS: Grant = Grant {
    kind: "client_credentials",
    refusal: "mock: grant_type must be client_credentials",
};

const JWT_BEARER: Grant = Grant {
    kind: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    refusal: "mock: grant_type must be the JWT-bearer grant",
};

/// What both token endpoints do first: record the request (counted under
/// [`TOKEN_REQUESTS`]), read its form, and refuse a `grant_type` other than `grant`'s.
#[allow(clippy::result_large_err)]
fn token_form(
    inbound: Inbound,
    grant: &Grant,
) -> Result<(MockState, Vec<(String, String)>), Response> {
    let Inbound {
        state,
        uri,
        headers,
        body,
    } = inbound;
    let f = form(&body);
    state.record(Method::POST, uri, headers, body, Some(TOKEN_REQUESTS));
    if field(&f, "grant_type") != Some(grant.kind) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            grant.refusal,
        ));
    }
    Ok((state, f))
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant.
pub(crate) async fn entra_token(Path(tenant): Path<String>, inbound: Inbound) -> Response {
    let (state, f) = match token_form(inbound, &CLIENT_CREDENTIALS) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let (Some(client_id), Some(_secret), Some(scope)) = (
        field(&f, "client_id"),
        field(&f, "client_secret"),
        field(&f, "scope"),
    ) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "mock: client_id, client_secret and scope are required",
        );
    };
    if let Some(expected) = state.load_config().oauth_client_secret.as_deref() {
        if field(&f, "client_secret") != Some(expected) {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "mock: AADSTS7000215: Invalid client secret provided.",
            );
        }
    }
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "access_token": format!("entra.{tenant}.{client_id}.{}.{}", scope.len(), state.next_id()),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct GoogleClaims {
    iss: String,
    scope: String,
}

/// `POST /token`: Google's JWT-bearer grant. With `google_public_key_pem` configured, the
/// assertion's RS256 signature is verified.
pub(crate) async fn google_token(inbound: Inbound) -> Response {
    let (state, f) = match token_form(inbound, &JWT_BEARER) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let Some(assertion) = field(&f, "assertion") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "mock: assertion missing",
        );
    };
    if let Some(pem) = state.load_config().google_public_key_pem.as_deref() {
        let key = match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(k) => k,
            Err(e) => {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    &format!("mock: bad public key: {e}"),
                )
            }
        };
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.validate_aud = false;
        match jsonwebtoken::decode::<GoogleClaims>(assertion, &key, &v) {
            Ok(t) if t.claims.scope.contains("cloud-platform") && !t.claims.iss.is_empty() => {}
            Ok(_) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "mock: bad claims")
            }
            Err(e) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("mock: Invalid JWT Signature ({e})"),
                )
            }
        }
    }
    Json(json!({
        "access_token": format!("ya29.mock-{}", state.next_id()),
        "expires_in": 3599,
        "token_type": "Bearer",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Value,
    #[serde(default)]
    stream: Option<bool>,
}

/// `POST /v1/completions`: the legacy text completion, JSON or SSE.
pub(crate) async fn completions(inbound: Inbound) -> Response {
    let (state, config, req) = match inbound
        .admit_json::<CompletionRequest>(Flavor::OpenAi)
        .await
    {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let prompt = match &req.prompt {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let text = crate::reply::reply_text(&prompt, config.response_size);
    let model = req.model.unwrap_or_else(|| "mock-model".into());
    let id = format!("cmpl-mock-{}", state.next_id());
    let created = crate::reply::unix_now();
    let usage = json!({
        "prompt_tokens": prompt_tokens(prompt.chars().count()),
        "completion_tokens": crate::reply::completion_tokens(&text),
        "total_tokens": prompt_tokens(prompt.chars().count()) + crate::reply::completion_tokens(&text),
    });
    if !req.stream.unwrap_or(false) {
        return Json(json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let mut frames = Vec::new();
    let pieces = crate::reply::split_pieces(&text, config.chunks);
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.into_iter().enumerate() {
        let chunk = json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": piece, "index": 0, "logprobs": null,
                         "finish_reason": if i == last { json!("stop") } else { Value::Null }}],
        });
        match crate::stream::Frame::data(&chunk, true) {
            Ok(f) => frames.push(f),
            Err(e) => return crate::errors::encode_failure(Flavor::OpenAi, &e),
        }
    }
    frames.push(crate::stream::Frame::raw(b"data: [DONE]\n\n"));
    crate::stream::sse_response(frames, &config, state.counters().clone())
}

fn bad_request(message: &str) -> Response {
    error_response(Flavor::OpenAi, StatusCode::BAD_REQUEST, message)
}

/// The request admitted in the OpenAI shape, then its body as any JSON value (a 400 if it is
/// not JSON).
#[allow(clippy::result_large_err)]
async fn admit_value(inbound: Inbound) -> Result<Value, Response> {
    let (_, _, body) = inbound.admit(Flavor::OpenAi).await?;
    serde_json::from_slice(&body).map_err(|_| bad_request("mock: invalid JSON"))
}

/// A tiny valid WAV file (44-byte header, 8 silent samples): what `/v1/audio/speech` returns.
pub(crate) fn silent_wav() -> Vec<u8> {
    let samples = 8u32;
    let mut w = Vec::with_capacity(44 + samples as usize * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(samples * 2).to_le_bytes());
    w.resize(44 + samples as usize * 2, 0);
    w
}

/// `POST /v1/audio/speech`: `{model, input, voice}` → audio bytes.
pub(crate) async fn speech(inbound: Inbound) -> Response {
    let req = match admit_value(inbound).await {
        Ok(req) => req,
        Err(response) => return response,
    };
    if !req["input"].is_string() || !req["voice"].is_string() {
        return bad_request("mock: 'input' and 'voice' are required");
    }
    (
        [(axum::http::header::CONTENT_TYPE, "audio/wav")],
        silent_wav(),
    )
        .into_response()
}

/// `POST /v1/audio/transcriptions` (multipart: `file`, `model`, …) → `{"text": …}` naming
/// the file and its size, so a test can tell the upload arrived whole.
pub(crate) async fn transcriptions(inbound: Inbound) -> Response {
    let content_type = inbound
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match inbound.admit(Flavor::OpenAi).await {
        Ok((_, _, body)) => body,
        Err(response) => return response,
    };
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return bad_request("mock: expected multipart/form-data");
    };
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut model, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let filename = field.file_name().map(str::to_owned);
                let Ok(data) = field.bytes().await else {
                    return bad_request("mock: unreadable field");
                };
                match (name.as_str(), filename) {
                    ("model", None) => model = Some(String::from_utf8_lossy(&data).into_owned()),
                    ("file", Some(f)) => file = Some((f, data.len())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return bad_request(&format!("mock: bad multipart body: {e}")),
        }
    }
    let (Some(model), Some((filename, size))) = (model, file) else {
        return bad_request("mock: 'model' and 'file' are required");
    };
    Json(json!({
        "text": format!("Mock transcription of {filename} ({size} bytes) by {model}"),
        "usage": {"type": "duration", "seconds": 1},
    }))
    .into_response()
}

/// `POST /v1/images/generations` → one tiny base64 PNG per `n`.
pub(crate) async fn image_generations(inbound: Inbound) -> Response {
    let req = match admit_value(inbound).await {
        Ok(req) => req,
        Err(response) => return response,
    };
    let Some(prompt) = req["prompt"].as_str() else {
        return bad_request("mock: 'prompt' is required");
    };
    // A 1×1 transparent PNG.
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
    let n = req["n"].as_u64().unwrap_or(1).clamp(1, 10);
    let data: Vec<Value> = (0..n)
        .map(|_| json!({"b64_json": PNG, "revised_prompt": format!("Mock image of: {prompt}")}))
        .collect();
    Json(json!({"created": crate::reply::unix_now(), "data": data})).into_response()
}
