//! Providers and keys: `GET`/`POST /api/providers`, `GET`/`PUT`/`DELETE /api/providers/{p}`,
//! `GET`/`POST /api/providers/{p}/keys`, `PUT`/`DELETE /api/providers/{p}/keys/{id}`. Bodies
//! are config.json's provider and key objects; answers show secrets masked (or as the
//! `env.NAME` they reference). A change serves the next request, with no restart.

use super::{bad_request, control, json_object as object, unprocessable, ApiError};
use crate::control::{self, redacted, stored, stored_key, unmask, ControlPlane};
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use bifrost_store::StoredProvider;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/providers", get(list).post(create))
        .route(
            "/api/providers/{provider}",
            get(one).put(update).delete(remove),
        )
        .route("/api/providers/{provider}/keys", get(keys).post(add_key))
        .route(
            "/api/providers/{provider}/keys/{id}",
            put(update_key).delete(remove_key),
        )
}

/// A key object, whose `id`, `name` and `value` are strings when given (`at`: its JSON path).
fn check_key(k: &Value, at: &str) -> Result<(), ApiError> {
    let Value::Object(m) = k else {
        return Err(bad_request(at, format!("{at} must be a key object")));
    };
    for f in ["id", "name", "value"] {
        if m.get(f).is_some_and(|v| !v.is_string()) {
            let field = if at.is_empty() {
                f.to_owned()
            } else {
                format!("{at}.{f}")
            };
            return Err(bad_request(&field, format!("{field} must be a string")));
        }
    }
    Ok(())
}

/// The body of a key route: one key object.
fn key_object(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let m = object(body)?;
    check_key(&Value::Object(m.clone()), "")?;
    Ok(m)
}

/// `keys`, when given, must be an array of key objects.
fn check_keys(m: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    match m.get("keys") {
        None => Ok(()),
        Some(Value::Array(keys)) => keys
            .iter()
            .enumerate()
            .try_for_each(|(i, k)| check_key(k, &format!("keys[{i}]"))),
        Some(_) => Err(bad_request("keys", "keys must be an array of key objects")),
    }
}

fn not_found(provider: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("provider {provider:?} does not exist"),
    )
}

fn no_key(provider: &str, id: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("provider {provider:?} has no key with id {id:?}"),
    )
}

/// The served provider `name`, or a 404.
async fn existing(cp: &ControlPlane, name: &str) -> Result<StoredProvider, ApiError> {
    cp.get(name).await.ok_or_else(|| not_found(name))
}

/// Provider `name` in the list a change edits, or a 404 (it may have gone meanwhile).
fn find_mut<'a>(
    all: &'a mut [StoredProvider],
    name: &str,
) -> Result<&'a mut StoredProvider, ApiError> {
    all.iter_mut()
        .find(|x| x.name == name)
        .ok_or_else(|| not_found(name))
}

#[utoipa::path(
    get,
    path = "/api/providers",
    tag = "providers",
    responses(
        (status = 200, description = "Every provider, secrets masked", body = crate::openapi::ProviderList),
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn list(State(st): State<AppState>) -> Result<Response, ApiError> {
    let all = control(&st)?.list().await;
    let providers: Vec<_> = all.iter().map(redacted).collect();
    Ok(Json(json!({ "providers": providers })).into_response())
}

#[utoipa::path(
    get,
    path = "/api/providers/{provider}",
    tag = "providers",
    params(crate::openapi::ProviderPath),
    responses(
        (status = 200, description = "The provider, secrets masked", body = bifrost_store::StoredProvider),
        crate::openapi::NoSuchProvider,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn one(
    State(st): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Response, ApiError> {
    let p = existing(control(&st)?, &provider).await?;
    Ok(Json(redacted(&p)).into_response())
}

/// `POST /api/providers`: `{"name": "openai", "keys": [...], "network_config": {...}, …}`
/// (`provider` is accepted for `name`).
#[utoipa::path(
    post,
    path = "/api/providers",
    tag = "providers",
    request_body = crate::openapi::ProviderBody,
    responses(
        (status = 201, description = "Created; secrets masked", body = bifrost_store::StoredProvider),
        crate::openapi::BadParam,
        (status = 409, description = "The provider exists", body = crate::openapi::ErrorBody),
        crate::openapi::InvalidSetting,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    let mut m = object(body)?;
    let name = match m.remove("name").or_else(|| m.remove("provider")) {
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        Some(_) => return Err(bad_request("name", "name must be a non-empty string")),
        None => return Err(bad_request("name", "name is required")),
    };
    check_keys(&m)?;
    let p = stored(&name, &Value::Object(m), "api");
    cp.validate(&p)?;
    cp.change(&name, |all| {
        if all.iter().any(|x| x.name == name) {
            return Err(ApiError::new(
                409,
                "conflict",
                format!("provider {name:?} already exists; PUT /api/providers/{name} changes it"),
            ));
        }
        all.push(p.clone());
        Ok(())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(redacted(&p))).into_response())
}

/// `PUT /api/providers/{p}`: replaces its settings; keys are replaced when the body has
/// `keys` (masked secrets sent back keep their stored values), else kept.
#[utoipa::path(
    put,
    path = "/api/providers/{provider}",
    tag = "providers",
    params(crate::openapi::ProviderPath),
    request_body = crate::openapi::ProviderBody,
    responses(
        (status = 200, description = "Changed; secrets masked", body = bifrost_store::StoredProvider),
        crate::openapi::BadParam,
        crate::openapi::NoSuchProvider,
        crate::openapi::InvalidSetting,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn update(
    State(st): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    let mut m = object(body)?;
    // The name comes from the path; one in the body is ignored, but must be a string.
    for f in ["name", "provider"] {
        if m.remove(f).is_some_and(|v| !v.is_string()) {
            return Err(bad_request(f, format!("{f} must be a string")));
        }
    }
    m.remove("source");
    check_keys(&m)?;
    let has_keys = m.contains_key("keys");
    let mut p = stored(&name, &Value::Object(m), "api");
    let old = existing(cp, &name).await?;
    if has_keys {
        for k in &mut p.keys {
            if let Some(o) = old.keys.iter().find(|o| o.id == k.id) {
                unmask(k, o);
            }
        }
    } else {
        p.keys = old.keys.clone();
    }
    cp.validate(&p)?;
    let out = p.clone();
    cp.change(&name, |all| {
        *find_mut(all, &name)? = p;
        Ok(())
    })
    .await?;
    Ok(Json(redacted(&out)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/providers/{provider}",
    tag = "providers",
    params(crate::openapi::ProviderPath),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Deleted),
        crate::openapi::NoSuchProvider,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    cp.change(&name, |all| {
        let before = all.len();
        all.retain(|x| x.name != name);
        if all.len() == before {
            return Err(not_found(&name));
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "deleted": name })).into_response())
}

#[utoipa::path(
    get,
    path = "/api/providers/{provider}/keys",
    tag = "providers",
    params(crate::openapi::ProviderPath),
    responses(
        (status = 200, description = "The provider's keys, secrets masked", body = crate::openapi::KeyList),
        crate::openapi::NoSuchProvider,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn keys(
    State(st): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Response, ApiError> {
    let p = existing(control(&st)?, &provider).await?;
    Ok(Json(json!({ "keys": redacted(&p).keys })).into_response())
}

/// `POST /api/providers/{p}/keys`: one key object (`id` generated when absent).
#[utoipa::path(
    post,
    path = "/api/providers/{provider}/keys",
    tag = "providers",
    params(crate::openapi::ProviderPath),
    request_body = crate::openapi::KeyBody,
    responses(
        (status = 201, description = "Added; secrets masked", body = bifrost_store::StoredKey),
        crate::openapi::BadParam,
        crate::openapi::NoSuchProvider,
        (status = 409, description = "A key with this id exists", body = crate::openapi::ErrorBody),
        crate::openapi::InvalidSetting,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn add_key(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    let mut m = key_object(body)?;
    if !m.contains_key("id") {
        let id = format!("{provider}-{:08x}", fastrand::u32(..));
        m.insert("id".into(), Value::String(id));
    }
    let mut p = existing(cp, &provider).await?;
    let key = stored_key(&provider, p.keys.len(), Value::Object(m));
    if p.keys.iter().any(|k| k.id == key.id) {
        return Err(ApiError::new(
            409,
            "conflict",
            format!(
                "provider {provider:?} already has a key with id {:?}",
                key.id
            ),
        ));
    }
    p.keys.push(key.clone());
    cp.validate(&p)?;
    offered(&st, cp, &p, p.keys.len() - 1).await?;
    cp.change(&provider, |all| {
        find_mut(all, &provider)?.keys.push(key);
        Ok(())
    })
    .await?;
    let shown = redacted(&p);
    Ok((StatusCode::CREATED, Json(shown.keys.last().cloned())).into_response())
}

#[utoipa::path(
    put,
    path = "/api/providers/{provider}/keys/{id}",
    tag = "providers",
    params(crate::openapi::KeyPath),
    request_body = crate::openapi::KeyBody,
    responses(
        (status = 200, description = "Changed; secrets masked", body = bifrost_store::StoredKey),
        crate::openapi::BadParam,
        (status = 404, description = "No such provider or key", body = crate::openapi::ErrorBody),
        crate::openapi::InvalidSetting,
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn update_key(
    State(st): State<AppState>,
    Path((provider, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    let mut m = key_object(body)?;
    m.insert("id".into(), Value::String(id.clone()));
    let mut p = existing(cp, &provider).await?;
    let Some(i) = p.keys.iter().position(|k| k.id == id) else {
        return Err(no_key(&provider, &id));
    };
    let mut key = stored_key(&provider, i, Value::Object(m));
    unmask(&mut key, &p.keys[i]);
    p.keys[i] = key.clone();
    cp.validate(&p)?;
    offered(&st, cp, &p, i).await?;
    let shown = redacted(&p).keys[i].clone();
    cp.change(&provider, |all| {
        let x = find_mut(all, &provider)?;
        let k = x.keys.iter_mut().find(|k| k.id == id);
        *k.ok_or_else(|| ApiError::new(404, "not_found", "the key is gone"))? = key;
        Ok(())
    })
    .await?;
    Ok(Json(shown).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/providers/{provider}/keys/{id}",
    tag = "providers",
    params(crate::openapi::KeyPath),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::Deleted),
        (status = 404, description = "No such provider or key", body = crate::openapi::ErrorBody),
        crate::openapi::NotEnabled,
    )
)]
pub(crate) async fn remove_key(
    State(st): State<AppState>,
    Path((provider, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let cp = control(&st)?;
    cp.change(&provider, |all| {
        let x = find_mut(all, &provider)?;
        let before = x.keys.len();
        x.keys.retain(|k| k.id != id);
        if x.keys.len() == before {
            return Err(no_key(&provider, &id));
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "deleted": id })).into_response())
}

/// Refuses key `i` of `p` when it names a model the provider's upstream, asked with that key,
/// does not list (422, `models[j]`). A provider that cannot list, or does not answer within
/// 5 s, leaves the key unverified and accepted: an outage must not block key management.
async fn offered(
    st: &AppState,
    cp: &ControlPlane,
    p: &StoredProvider,
    i: usize,
) -> Result<(), ApiError> {
    let Ok((entry, _)) =
        crate::config::provider_from_json(&p.name, &control::provider_json(p), &**cp.env())
    else {
        return Ok(());
    };
    let Some(key) = entry.keys.get(i).filter(|k| !k.models.is_empty()) else {
        return Ok(());
    };
    let Some(listed) = st.engine.upstream_models(&p.name, key).await else {
        return Ok(());
    };
    match key.models.iter().position(|m| !listed.contains(m)) {
        None => Ok(()),
        Some(j) => {
            let field = format!("models[{j}]");
            Err(unprocessable(
                &field,
                format!(
                    "{field}: provider {:?} does not offer model {:?} (its upstream lists {} models)",
                    p.name,
                    key.models[j],
                    listed.len()
                ),
            ))
        }
    }
}

impl ControlPlane {
    /// Refuses unknown fields and invalid settings, naming the field.
    pub fn validate(&self, p: &StoredProvider) -> Result<(), ApiError> {
        let (_, unknown) =
            crate::config::provider_from_json(&p.name, &control::provider_json(p), &**self.env())
                .map_err(|e| unprocessable(&e.path, e.to_string()))?;
        if let Some(f) = unknown.first() {
            return Err(bad_request(f, format!("{f}: unknown field")));
        }
        Ok(())
    }
}
