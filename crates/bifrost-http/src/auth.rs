//! Admin auth (`auth_config`): one middleware, [`require_admin`], over the whole router, that
//! decides by path, so routes added later under `/api/*` are covered without touching it.
//!
//! With `auth_config.is_enabled`:
//!
//! | Paths | Access |
//! |---|---|
//! | `/health`, `/health/*`, the UI's static files (`/`, `/ui/*`), `POST /api/session/login`, `GET /api/session/is-auth-enabled`, `GET /api/openapi.json` | always open |
//! | `client.whitelisted_routes` (exact, or a prefix with a trailing `*`) | always open |
//! | every other `/api/*`, `/ws`, `/debug/pprof/*` | admin session: `Authorization: Bearer <token>` or the `token` cookie |
//! | `/metrics` | as `/api/*`, unless `auth_config.metrics_open` (RS addition, for scrapers) |
//! | everything else (the inference routes) | an admin session or HTTP Basic with the admin credentials, unless `disable_auth_on_inference` |
//!
//! CORS preflights are answered before this layer (see [`crate::cors`]), as browsers send them
//! without credentials. Without `is_enabled` everything is open.
//!
//! Sessions are HS256 JWTs that expire after [`SESSION_TTL`]. The signing key is derived from
//! the configured credentials with argon2 and a fixed salt: replicas sharing a config accept
//! each other's tokens, changing the password invalidates every session, and a leaked token
//! does not allow a fast offline guess of the password. Logout revokes a token in this
//! process's memory only. The password itself is kept only as an argon2id hash.

use crate::config::AuthConfig;
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bifrost_core::BifrostError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a session token is valid.
pub const SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The cookie holding the session token (HttpOnly, SameSite=Lax).
pub const COOKIE: &str = "token";
/// Salt of the token-key derivation: fixed, so every replica derives the same key.
const KEY_SALT: &[u8] = b"bifrost-rs admin session key v1";
/// Successful HTTP Basic credentials remembered (as keyed digests), so inference requests do
/// not pay for an argon2 verification each.
const BASIC_CACHE: usize = 64;
/// Concurrent argon2 verifications: each costs ~19 MiB and tens of milliseconds, so a flood of
/// bad logins queues here instead of exhausting memory and the blocking pool.
const VERIFY_PERMITS: usize = 2;

/// What a path needs, when auth is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    /// An admin session.
    Admin,
    /// `/metrics`: admin unless `metrics_open`.
    Metrics,
    /// An admin session or Basic credentials, unless `disable_auth_on_inference`.
    Inference,
}

/// Which rule of the table in the module doc applies to `path`.
pub fn classify(path: &str) -> Access {
    if path == "/health"
        || path.starts_with("/health/")
        || path == "/api/session/login"
        || path == "/api/session/is-auth-enabled"
        // The API's description: no secrets in it, and clients read it before logging in.
        || path == "/api/openapi.json"
    {
        return Access::Open;
    }
    // Decided on a canonical form (no repeated slashes, lowercase), so a spelling the router
    // might treat as the same route is never taken for an inference path.
    let mut canon = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && canon.ends_with('/')) {
            canon.push(c.to_ascii_lowercase());
        }
    }
    let under = |prefix: &str| canon == prefix || canon.starts_with(&format!("{prefix}/"));
    // The UI's static shell holds no data; its login page is how a session is obtained.
    if crate::ui::is_ui_path(&canon) {
        Access::Open
    } else if under("/api") || under("/ws") || under("/debug/pprof") {
        Access::Admin
    } else if under("/metrics") {
        Access::Metrics
    } else {
        Access::Inference
    }
}

/// `client.whitelisted_routes` matching: exact, or a prefix when the pattern ends in `*`.
fn whitelisted(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == p,
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// The admin credentials, as kept in memory: no plaintext.
struct Credentials {
    username: String,
    /// argon2id PHC string of [`credential_material`].
    hash: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys the digests in `basic_ok`.
    cache_key: ring::hmac::Key,
    basic_ok: Mutex<HashSet<Vec<u8>>>,
}

/// Admin auth state, shared by every request.
pub struct AdminAuth {
    creds: Option<Credentials>,
    disable_on_inference: bool,
    metrics_open: bool,
    whitelist: Vec<String>,
    /// Logged-out token ids → their expiry (pruned as they expire).
    revoked: Mutex<HashMap<String, u64>>,
    verify_permits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("enabled", &self.is_enabled())
            .field("disable_on_inference", &self.disable_on_inference)
            .field("metrics_open", &self.metrics_open)
            .field("whitelist", &self.whitelist)
            .finish_non_exhaustive()
    }
}

/// Username and password, length-prefixed so no two pairs give the same bytes.
fn credential_material(username: &str, password: &str) -> Vec<u8> {
    let mut m = format!("{}:", username.len()).into_bytes();
    m.extend_from_slice(username.as_bytes());
    m.extend_from_slice(password.as_bytes());
    m
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "the system random number generator failed".to_owned())?;
    Ok(b)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AdminAuth {
    /// Everything open.
    pub fn disabled() -> Self {
        Self {
            creds: None,
            disable_on_inference: false,
            metrics_open: false,
            whitelist: Vec::new(),
            revoked: Mutex::default(),
            verify_permits: tokio::sync::Semaphore::new(VERIFY_PERMITS),
        }
    }

    /// Hashes the password and derives the token key: CPU-bound (two argon2 runs, tens of
    /// milliseconds); call it off the async runtime.
    pub fn new(cfg: &AuthConfig, whitelist: Vec<String>) -> Result<Self, String> {
        let mut auth = Self::disabled();
        auth.whitelist = whitelist;
        auth.disable_on_inference = cfg.disable_auth_on_inference;
        auth.metrics_open = cfg.metrics_open;
        if !cfg.enabled {
            return Ok(auth);
        }
        let material = credential_material(&cfg.username, cfg.password.expose());
        let argon = Argon2::default();
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| format!("making a password salt: {e}"))?;
        let hash = argon
            .hash_password(&material, &salt)
            .map_err(|e| format!("hashing the admin password: {e}"))?
            .to_string();
        let mut key = [0u8; 32];
        argon
            .hash_password_into(&material, KEY_SALT, &mut key)
            .map_err(|e| format!("deriving the session key: {e}"))?;
        auth.creds = Some(Credentials {
            username: cfg.username.clone(),
            hash,
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            cache_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &random_bytes::<32>()?),
            basic_ok: Mutex::default(),
        });
        Ok(auth)
    }

    pub fn is_enabled(&self) -> bool {
        self.creds.is_some()
    }

    /// Whether `path` needs credentials, and which kinds pass.
    fn needs(&self, path: &str) -> Option<Access> {
        self.creds.as_ref()?;
        if whitelisted(&self.whitelist, path) {
            return None;
        }
        match classify(path) {
            Access::Open => None,
            Access::Metrics if self.metrics_open => None,
            Access::Inference if self.disable_on_inference => None,
            a => Some(a),
        }
    }

    /// Checks a username and password with one argon2 verification over both (so the time
    /// taken says nothing about which was wrong), off the async runtime.
    async fn verify(self: &Arc<Self>, username: &str, password: &str) -> bool {
        let Some(creds) = &self.creds else {
            return false;
        };
        let Ok(_permit) = self.verify_permits.acquire().await else {
            return false;
        };
        let material = credential_material(username, password);
        let hash = creds.hash.clone();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|h| Argon2::default().verify_password(&material, &h).is_ok())
        })
        .await
        .unwrap_or(false)
    }

    /// A new session token and its lifetime in seconds.
    fn issue(&self) -> Result<(String, u64), String> {
        let creds = self.creds.as_ref().ok_or("admin auth is not enabled")?;
        let iat = now();
        let ttl = SESSION_TTL.as_secs();
        let claims = Claims {
            sub: creds.username.clone(),
            iat,
            exp: iat + ttl,
            jti: random_bytes::<16>()?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &creds.encoding)
            .map_err(|e| format!("signing the session token: {e}"))?;
        Ok((token, ttl))
    }

    /// The claims of a valid, unexpired, unrevoked token.
    fn validate(&self, token: &str) -> Option<Claims> {
        let creds = self.creds.as_ref()?;
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &creds.decoding, &v)
            .ok()?
            .claims;
        if claims.sub != creds.username {
            return None;
        }
        let revoked = self.revoked.lock().ok()?;
        (!revoked.contains_key(&claims.jti)).then_some(claims)
    }

    fn revoke(&self, claims: &Claims) {
        if let Ok(mut revoked) = self.revoked.lock() {
            let t = now();
            revoked.retain(|_, exp| *exp + 60 > t);
            revoked.insert(claims.jti.clone(), claims.exp);
        }
    }

    /// The first valid session among the bearer token and the cookie.
    fn session(&self, headers: &HeaderMap) -> Option<Claims> {
        bearer(headers)
            .into_iter()
            .chain(cookie(headers))
            .find_map(|t| self.validate(t))
    }

    /// HTTP Basic with the admin credentials; a success is remembered by a keyed digest.
    async fn basic(self: &Arc<Self>, headers: &HeaderMap) -> bool {
        let Some(creds) = &self.creds else {
            return false;
        };
        let Some(encoded) = authorization(headers).and_then(|v| scheme(v, "basic")) else {
            return false;
        };
        let digest = ring::hmac::sign(&creds.cache_key, encoded.as_bytes())
            .as_ref()
            .to_vec();
        if creds.basic_ok.lock().is_ok_and(|ok| ok.contains(&digest)) {
            return true;
        }
        let Some((user, pass)) = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        else {
            return false;
        };
        if !self.verify(&user, &pass).await {
            return false;
        }
        if let Ok(mut ok) = creds.basic_ok.lock() {
            if ok.len() >= BASIC_CACHE {
                ok.clear();
            }
            ok.insert(digest);
        }
        true
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The credentials after `scheme ` (case-insensitive).
fn scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|r| !r.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).and_then(|v| scheme(v, "bearer"))
}

/// The `token` cookie.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

/// The middleware: lets a request through when its path is open or it carries what the path
/// needs; else 401 with `WWW-Authenticate`.
pub async fn require_admin(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let auth = &st.auth;
    let Some(access) = auth.needs(req.uri().path()) else {
        return next.run(req).await;
    };
    if auth.session(req.headers()).is_some() {
        if access == Access::Inference {
            // The admin token is not a provider key: it must not be taken for a direct key.
            req.headers_mut().remove(header::AUTHORIZATION);
        }
        return next.run(req).await;
    }
    // A known, active virtual key stands in for admin credentials on inference routes.
    if access == Access::Inference && st.governance.accepts(req.headers()) {
        return next.run(req).await;
    }
    if access == Access::Inference && auth.basic(req.headers()).await {
        req.headers_mut().remove(header::AUTHORIZATION);
        return next.run(req).await;
    }
    let has_credentials = authorization(req.headers()).is_some() || cookie(req.headers()).is_some();
    let message = if access == Access::Inference && st.governance.knows_inactive(req.headers()) {
        "this virtual key is inactive"
    } else if has_credentials {
        "invalid or expired credentials"
    } else {
        "authentication required: log in with POST /api/session/login and send the token as \
         \"Authorization: Bearer <token>\""
    };
    let mut resp = unauthorized(message);
    let h = resp.headers_mut();
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"bifrost\""),
    );
    if access == Access::Inference {
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"bifrost\", charset=\"UTF-8\""),
        );
    }
    resp
}

fn unauthorized(message: &str) -> Response {
    let mut e = BifrostError::invalid_request(message);
    e.status = 401;
    e.error_type = "authentication_error".into();
    e.code = Some("unauthorized".to_owned());
    crate::routes::error_response(&e)
}

fn bad_request(message: &str) -> Response {
    crate::routes::error_response(&BifrostError::invalid_request(message))
}

/// `/api/session/*`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/session/login", post(login))
        .route("/api/session/logout", post(logout))
        .route("/api/session/is-auth-enabled", get(is_auth_enabled))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /api/session/login` `{username, password}` → `{"token", "expires_in"}` and the
/// `token` cookie; wrong credentials → 401 without saying which was wrong.
#[utoipa::path(
    post,
    path = "/api/session/login",
    tag = "session",
    security(()),
    request_body = crate::openapi::LoginRequest,
    responses(
        (status = 200, description = "Logged in; also sets the `token` cookie", body = crate::openapi::LoginAnswer),
        (status = 400, description = "Auth is not enabled, or a malformed body", body = crate::openapi::ErrorBody),
        (status = 401, description = "Wrong username or password", body = crate::openapi::ErrorBody),
        (status = 500, description = "The token could not be issued", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn login(State(st): State<AppState>, body: Bytes) -> Response {
    if !st.auth.is_enabled() {
        return bad_request("admin auth is not enabled (auth_config.is_enabled)");
    }
    let Ok(l) = serde_json::from_slice::<Login>(&body) else {
        return bad_request("expected a JSON body {\"username\": …, \"password\": …}");
    };
    if !st.auth.verify(&l.username, &l.password).await {
        tracing::warn!("admin login failed");
        return unauthorized("invalid username or password");
    }
    let (token, ttl) = match st.auth.issue() {
        Ok(t) => t,
        Err(e) => return crate::routes::error_response(&BifrostError::internal(e)),
    };
    let cookie = format!("{COOKIE}={token}; Path=/; Max-Age={ttl}; HttpOnly; SameSite=Lax");
    let mut resp = Json(json!({ "token": token, "expires_in": ttl })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /api/session/logout`: revokes the presented token and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/session/logout",
    tag = "session",
    responses(
        (status = 200, description = "Logged out; the token is revoked and the cookie cleared", body = crate::openapi::Message),
    )
)]
pub(crate) async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(claims) = st.auth.session(&headers) {
        st.auth.revoke(&claims);
    }
    let mut resp = (StatusCode::OK, Json(json!({ "message": "logged out" }))).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    resp
}

/// `GET /api/session/is-auth-enabled` → `{"is_auth_enabled", "has_valid_token"}`.
#[utoipa::path(
    get,
    path = "/api/session/is-auth-enabled",
    tag = "session",
    security(()),
    responses(
        (status = 200, description = "Whether admin auth is on and the request's token is valid", body = crate::openapi::AuthState),
    )
)]
pub(crate) async fn is_auth_enabled(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let enabled = st.auth.is_enabled();
    Json(json!({
        "is_auth_enabled": enabled,
        "has_valid_token": enabled && st.auth.session(&headers).is_some(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bifrost_core::Secret;

    #[test]
    fn paths_are_classified() {
        for p in [
            "/health",
            "/health/live",
            "/api/session/login",
            "/api/session/is-auth-enabled",
            "/api/openapi.json",
        ] {
            assert_eq!(classify(p), Access::Open, "{p}");
        }
        for p in [
            "/api/version",
            "/api/session/logout",
            "/api/config",
            "/api",
            "//api/config",
            "/API/config",
            "/ws",
            "/debug/pprof/heap",
            "/debug/pprof",
        ] {
            assert_eq!(classify(p), Access::Admin, "{p}");
        }
        assert_eq!(classify("/metrics"), Access::Metrics);
        for p in [
            "/v1/chat/completions",
            "/openai/v1/models",
            "/healthz",
            "/apix",
        ] {
            assert_eq!(classify(p), Access::Inference, "{p}");
        }
        let w = vec!["/v1/models".to_owned(), "/api/public/*".to_owned()];
        assert!(whitelisted(&w, "/v1/models") && !whitelisted(&w, "/v1/models/x"));
        assert!(whitelisted(&w, "/api/public/a/b") && !whitelisted(&w, "/api/publicx"));
    }

    #[test]
    fn tokens_verify_across_instances_and_revoke() {
        let cfg = AuthConfig {
            enabled: true,
            username: "admin".into(),
            password: Secret::new("pass word"),
            ..AuthConfig::default()
        };
        let a = AdminAuth::new(&cfg, Vec::new()).unwrap();
        let b = AdminAuth::new(&cfg, Vec::new()).unwrap();
        let (token, _) = a.issue().unwrap();
        assert!(b.validate(&token).is_some(), "another replica accepts it");
        let other = AdminAuth::new(
            &AuthConfig {
                password: Secret::new("pass word 2"),
                ..cfg.clone()
            },
            Vec::new(),
        )
        .unwrap();
        assert!(other.validate(&token).is_none(), "a new password ends it");
        let claims = a.validate(&token).unwrap();
        a.revoke(&claims);
        assert!(a.validate(&token).is_none());
        assert!(a.validate("not.a.token").is_none());
        // No plaintext kept (a space never occurs in a PHC hash string; a short password could
        // occur in its base64 by chance).
        let c = a.creds.as_ref().unwrap();
        assert!(c.hash.starts_with("$argon2id$") && !c.hash.contains("pass word"));
    }

    #[test]
    fn cookies_and_schemes_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; token=abc; b=2"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  xyz"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        assert_eq!(bearer(&h), Some("xyz"));
        assert_eq!(scheme("Basic", "basic"), None);
    }
}
