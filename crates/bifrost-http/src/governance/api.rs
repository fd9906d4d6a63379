//! `/api/governance/*`: create, read, change and delete virtual keys, teams, customers,
//! budgets, rate limits and model configs, and read a key's usage against its limits.
//!
//! Every write is validated as a whole (references included) before it is stored, so a
//! change that would leave a dangling reference is refused with the field named. A new
//! virtual key's value is generated here and returned once; only its hash is kept.

use super::counters::{Kind, LimitSpec};
use super::model::{
    hash_value, Budget, Customer, Entities, ModelConfig, RateLimit, Team, VirtualKey, VK_PREFIX,
};
use super::{store, Governance};
use crate::api::{bad_request, json_object as object, ApiError};
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// One kind of entity, as the API and the store see it.
trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The store's key prefix.
    const KIND: &'static str;
    /// The path segment and the config section's list.
    const PLURAL: &'static str;
    fn list(e: &Entities) -> &Vec<Self>;
    fn list_mut(e: &mut Entities) -> &mut Vec<Self>;
    fn id(&self) -> &str;
}

macro_rules! entity {
    ($t:ty, $kind:literal, $plural:literal, $field:ident) => {
        impl Entity for $t {
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            fn list(e: &Entities) -> &Vec<Self> {
                &e.$field
            }
            fn list_mut(e: &mut Entities) -> &mut Vec<Self> {
                &mut e.$field
            }
            fn id(&self) -> &str {
                &self.id
            }
        }
    };
}

entity!(Budget, "budget", "budgets", budgets);
entity!(RateLimit, "rate_limit", "rate-limits", rate_limits);
entity!(Customer, "customer", "customers", customers);
entity!(Team, "team", "teams", teams);
entity!(VirtualKey, "virtual_key", "virtual-keys", virtual_keys);
entity!(ModelConfig, "model_config", "model-configs", model_configs);

pub fn router() -> Router<AppState> {
    macro_rules! crud {
        ($r:expr, $m:ident, $plural:literal) => {
            $r.route(
                concat!("/api/governance/", $plural),
                get($m::list).post($m::create),
            )
            .route(
                concat!("/api/governance/", $plural, "/{id}"),
                get($m::one).put($m::update).delete($m::remove),
            )
        };
    }
    let r = Router::new();
    let r = crud!(r, budgets, "budgets");
    let r = crud!(r, rate_limits, "rate-limits");
    let r = crud!(r, customers, "customers");
    let r = crud!(r, teams, "teams");
    let r = crud!(r, virtual_keys, "virtual-keys");
    let r = crud!(r, model_configs, "model-configs");
    r.route("/api/governance/virtual-keys/{id}/usage", get(usage_doc))
        .route("/api/governance/teams/{id}/usage", get(team_usage))
        .route("/api/governance/customers/{id}/usage", get(customer_usage))
}

fn parse<E: Entity>(m: serde_json::Map<String, Value>) -> Result<E, ApiError> {
    serde_path_to_error::deserialize(Value::Object(m)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        bad_request(&field, e.inner().to_string())
    })
}

fn not_found<E: Entity>(id: &str) -> ApiError {
    ApiError::new(
        404,
        "not_found",
        format!("no {} {id:?}", E::KIND.replace('_', " ")),
    )
}

/// Applies `change` to a copy of the entities, validates the result, stores what changed and
/// puts it in force.
async fn commit<E: Entity>(
    gov: &Governance,
    change: impl FnOnce(&mut Entities) -> Result<Option<E>, ApiError>,
    id: &str,
) -> Result<(), ApiError> {
    let _one_writer = gov.write_lock.lock().await;
    let mut next = (**gov.entities.load()).clone();
    let stored = change(&mut next)?;
    next.validate().map_err(|e| {
        // The index in a list means little to an API caller: name the entity's field.
        let field = e.field.split_once('.').map_or(e.field.as_str(), |(_, f)| f);
        let mut err = bad_request(field, e.message.clone());
        if e.message.starts_with("no ")
            && !e.field.starts_with(E::PLURAL.replace('-', "_").as_str())
        {
            // Something else still refers to what this change removes.
            err = ApiError::new(409, "conflict", format!("{}: {}", e.field, e.message));
        }
        err
    })?;
    if let Some(s) = &gov.store {
        match &stored {
            Some(e) => {
                let v = serde_json::to_value(e)
                    .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
                store::put(s, E::KIND, id, &v).await
            }
            None => store::delete(s, E::KIND, id).await.map(|_| ()),
        }
        .map_err(|e| ApiError::new(503, "store_unavailable", e))?;
    }
    gov.install(next)
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    Ok(())
}

async fn list<E: Entity>(State(st): State<AppState>) -> Response {
    let e = st.governance.entities.load();
    Json(json!({ E::PLURAL.replace('-', "_"): E::list(&e) })).into_response()
}

async fn one<E: Entity>(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = st.governance.entities.load();
    let found = E::list(&e)
        .iter()
        .find(|x| x.id() == id)
        .ok_or_else(|| not_found::<E>(&id))?;
    Ok(Json(found).into_response())
}

/// A new virtual key's value: `sk-bf-` and 40 random alphanumerics (≈238 bits).
fn new_value() -> String {
    let mut bytes = [0u8; 40];
    #[allow(clippy::expect_used)] // the OS RNG failing is not recoverable
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source works");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{VK_PREFIX}{tail}")
}

async fn create<E: Entity>(
    State(st): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let mut m = object(body)?;
    let mut value = None;
    if E::KIND == "virtual_key" {
        if m.contains_key("value") || m.contains_key("value_hash") {
            return Err(bad_request(
                "value",
                "a virtual key's value is generated by the gateway",
            ));
        }
        let v = new_value();
        m.insert("value_hash".into(), hash_value(&v).into());
        value = Some(v);
    }
    if !m.contains_key("id") {
        m.insert(
            "id".into(),
            format!("{}-{:016x}", E::KIND.replace('_', "-"), fastrand::u64(..)).into(),
        );
    }
    let e: E = parse(m)?;
    let id = e.id().to_owned();
    let created = e.clone();
    commit::<E>(
        &st.governance,
        |all| {
            if E::list(all).iter().any(|x| x.id() == id) {
                return Err(ApiError::new(
                    409,
                    "conflict",
                    format!("{} {id:?} exists", E::KIND.replace('_', " ")),
                ));
            }
            E::list_mut(all).push(e.clone());
            Ok(Some(e))
        },
        &id,
    )
    .await?;
    let mut out = serde_json::to_value(&created).unwrap_or(Value::Null);
    if let (Some(v), Value::Object(o)) = (value, &mut out) {
        // Shown once: only the hash is kept.
        o.insert("value".into(), v.into());
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn update<E: Entity>(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let mut m = object(body)?;
    match m.get("id") {
        None => {
            m.insert("id".into(), id.clone().into());
        }
        Some(Value::String(s)) if *s == id => {}
        Some(_) => return Err(bad_request("id", "the id cannot change")),
    }
    if E::KIND == "virtual_key" {
        if m.contains_key("value") || m.contains_key("value_hash") {
            return Err(bad_request(
                "value",
                "a virtual key's value cannot change; create a new key",
            ));
        }
        let e = st.governance.entities.load();
        let hash = e
            .virtual_keys
            .iter()
            .find(|k| k.id == id)
            .and_then(|k| k.value_hash.clone())
            .ok_or_else(|| not_found::<E>(&id))?;
        m.insert("value_hash".into(), hash.into());
    }
    let e: E = parse(m)?;
    let updated = e.clone();
    commit::<E>(
        &st.governance,
        |all| {
            let slot = E::list_mut(all)
                .iter_mut()
                .find(|x| x.id() == id)
                .ok_or_else(|| not_found::<E>(&id))?;
            *slot = e.clone();
            Ok(Some(e))
        },
        &id,
    )
    .await?;
    Ok(Json(updated).into_response())
}

async fn remove<E: Entity>(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    commit::<E>(
        &st.governance,
        |all| {
            let list = E::list_mut(all);
            let before = list.len();
            list.retain(|x| x.id() != id);
            if list.len() == before {
                return Err(not_found::<E>(&id));
            }
            Ok(None)
        },
        &id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/governance/virtual-keys/{id}/usage`: each limit of the key's chain in its current
/// window: limit, used, remaining, reset.
async fn usage(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let gov = &st.governance;
    let snap = gov.snapshot.load();
    let vk = snap
        .by_hash
        .values()
        .find(|v| v.id == id)
        .cloned()
        .ok_or_else(|| not_found::<VirtualKey>(&id))?;
    let mut specs: Vec<(Option<&str>, &LimitSpec)> = vk.limits.iter().map(|l| (None, l)).collect();
    for pc in &vk.provider_configs {
        specs.extend(pc.limits.iter().map(|l| (Some(pc.provider.as_str()), l)));
    }
    let limits = usage_of(gov, &specs).await?;
    Ok(Json(json!({
        "virtual_key_id": vk.id,
        "name": vk.name,
        "is_active": vk.active,
        "shared": gov.counters.is_shared(),
        "limits": limits,
    }))
    .into_response())
}

/// `GET /api/governance/{teams|customers}/{id}/usage`: the entity's own limits.
async fn usage_of_entity<E: Entity>(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let gov = &st.governance;
    let snap = gov.snapshot.load();
    let own = match E::KIND {
        "team" => snap.teams.get(&id),
        _ => snap.customers.get(&id),
    }
    .ok_or_else(|| not_found::<E>(&id))?;
    let specs: Vec<(Option<&str>, &LimitSpec)> = own.iter().map(|l| (None, l)).collect();
    let limits = usage_of(gov, &specs).await?;
    Ok(Json(json!({
        "id": id,
        "shared": gov.counters.is_shared(),
        "limits": limits,
    }))
    .into_response())
}

/// Each limit's current window: limit, used, remaining, reset (money in USD).
async fn usage_of(
    gov: &Governance,
    specs: &[(Option<&str>, &LimitSpec)],
) -> Result<Vec<Value>, ApiError> {
    let only: Vec<LimitSpec> = specs.iter().map(|(_, s)| (*s).clone()).collect();
    let used = gov
        .counters
        .usage(&only)
        .await
        .map_err(|e| ApiError::new(503, "store_unavailable", e))?;
    Ok(specs
        .iter()
        .zip(used)
        .map(|((provider, s), (used, reset))| {
            let money = |v: i64| {
                if s.kind == Kind::Budget {
                    json!(v as f64 / 1e6)
                } else {
                    json!(v)
                }
            };
            json!({
                "kind": s.kind.as_str(),
                "level": s.level.as_str(),
                "id": &*s.id,
                "provider": provider,
                "limit": money(s.limit),
                "used": money(used),
                "remaining": money((s.limit - used).max(0)),
                "resets_at": reset,
            })
        })
        .collect())
}

/// The OpenAPI description of each entity's operations (the handlers above are generic; these
/// documented, concrete wrappers are what the router serves).
macro_rules! documented {
    ($module:ident, $t:ty, $created:tt, $list:tt, $one:tt, $what:tt) => {
        pub(crate) mod $module {
            use super::*;

            #[utoipa::path(get, path = $list, tag = "governance",
                responses(
                    (status = 200, description = concat!("Every ", $what), body = Object),
                ))]
            pub(crate) async fn list(st: State<AppState>) -> Response {
                super::list::<$t>(st).await
            }

            #[utoipa::path(post, path = $list, tag = "governance", request_body = $t,
                responses(
                    (status = 201, description = concat!("The new ", $what), body = $created),
                    (status = 400, description = "A bad field; `param` names it", body = crate::openapi::ErrorBody),
                    (status = 409, description = "The id exists", body = crate::openapi::ErrorBody),
                    (status = 503, description = "The config store is unavailable", body = crate::openapi::ErrorBody),
                ))]
            pub(crate) async fn create(
                st: State<AppState>,
                body: Result<Json<Value>, JsonRejection>,
            ) -> Result<Response, ApiError> {
                super::create::<$t>(st, body).await
            }

            #[utoipa::path(get, path = $one, tag = "governance",
                params(("id" = String, Path, description = "Its id")),
                responses(
                    (status = 200, description = concat!("The ", $what), body = $t),
                    (status = 404, description = "No such id", body = crate::openapi::ErrorBody),
                ))]
            pub(crate) async fn one(st: State<AppState>, id: Path<String>) -> Result<Response, ApiError> {
                super::one::<$t>(st, id).await
            }

            #[utoipa::path(put, path = $one, tag = "governance", request_body = $t,
                params(("id" = String, Path, description = "Its id")),
                responses(
                    (status = 200, description = concat!("The ", $what, " as changed"), body = $t),
                    (status = 400, description = "A bad field; `param` names it", body = crate::openapi::ErrorBody),
                    (status = 404, description = "No such id", body = crate::openapi::ErrorBody),
                    (status = 409, description = "A reference would dangle", body = crate::openapi::ErrorBody),
                    (status = 503, description = "The config store is unavailable", body = crate::openapi::ErrorBody),
                ))]
            pub(crate) async fn update(
                st: State<AppState>,
                id: Path<String>,
                body: Result<Json<Value>, JsonRejection>,
            ) -> Result<Response, ApiError> {
                super::update::<$t>(st, id, body).await
            }

            #[utoipa::path(delete, path = $one, tag = "governance",
                params(("id" = String, Path, description = "Its id")),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 404, description = "No such id", body = crate::openapi::ErrorBody),
                    (status = 409, description = "Something still refers to it", body = crate::openapi::ErrorBody),
                    (status = 503, description = "The config store is unavailable", body = crate::openapi::ErrorBody),
                ))]
            pub(crate) async fn remove(st: State<AppState>, id: Path<String>) -> Result<Response, ApiError> {
                super::remove::<$t>(st, id).await
            }
        }
    };
}

documented!(
    budgets,
    Budget,
    Budget,
    "/api/governance/budgets",
    "/api/governance/budgets/{id}",
    "budget"
);
documented!(
    rate_limits,
    RateLimit,
    RateLimit,
    "/api/governance/rate-limits",
    "/api/governance/rate-limits/{id}",
    "rate limit"
);
documented!(
    customers,
    Customer,
    Customer,
    "/api/governance/customers",
    "/api/governance/customers/{id}",
    "customer"
);
documented!(
    teams,
    Team,
    Team,
    "/api/governance/teams",
    "/api/governance/teams/{id}",
    "team"
);
documented!(
    virtual_keys,
    VirtualKey,
    // With its value, shown this once.
    Object,
    "/api/governance/virtual-keys",
    "/api/governance/virtual-keys/{id}",
    "virtual key"
);
documented!(
    model_configs,
    ModelConfig,
    ModelConfig,
    "/api/governance/model-configs",
    "/api/governance/model-configs/{id}",
    "model config"
);

/// `GET /api/governance/teams/{id}/usage`.
#[utoipa::path(get, path = "/api/governance/teams/{id}/usage", tag = "governance",
    params(("id" = String, Path, description = "The team's id")),
    responses(
        (status = 200, description = "The team's own limits in their current windows", body = Object),
        (status = 404, description = "No such team", body = crate::openapi::ErrorBody),
        crate::openapi::CountersDown,
    ))]
pub(crate) async fn team_usage(
    st: State<AppState>,
    id: Path<String>,
) -> Result<Response, ApiError> {
    usage_of_entity::<Team>(st, id).await
}

/// `GET /api/governance/customers/{id}/usage`.
#[utoipa::path(get, path = "/api/governance/customers/{id}/usage", tag = "governance",
    params(("id" = String, Path, description = "The customer's id")),
    responses(
        (status = 200, description = "The customer's own limits in their current windows", body = Object),
        (status = 404, description = "No such customer", body = crate::openapi::ErrorBody),
        crate::openapi::CountersDown,
    ))]
pub(crate) async fn customer_usage(
    st: State<AppState>,
    id: Path<String>,
) -> Result<Response, ApiError> {
    usage_of_entity::<Customer>(st, id).await
}

/// `GET /api/governance/virtual-keys/{id}/usage`.
#[utoipa::path(get, path = "/api/governance/virtual-keys/{id}/usage", tag = "governance",
    params(("id" = String, Path, description = "The virtual key's id")),
    responses(
        (status = 200, description = "Each limit of the key's chain in its current window", body = Object),
        (status = 404, description = "No such virtual key", body = crate::openapi::ErrorBody),
        crate::openapi::CountersDown,
    ))]
pub(crate) async fn usage_doc(st: State<AppState>, id: Path<String>) -> Result<Response, ApiError> {
    usage(st, id).await
}
