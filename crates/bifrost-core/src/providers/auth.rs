//! OAuth access tokens for providers whose keys are credentials rather than API keys:
//! Microsoft Entra ID client credentials (Azure) and Google service accounts (Vertex).
//! Each key's token is cached and refreshed shortly before it expires, single-flight.

use super::http::Upstream;
use crate::config::{EntraCredentials, Secret, TokenCache};
use crate::error::BifrostError;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sets header `name` to an API key, marked sensitive (kept out of debug output). An empty
/// key sets nothing: keyless setups (a local proxy holding the key) must not send an empty
/// header.
pub(crate) fn insert_key(h: &mut HeaderMap, name: &'static str, key: &str) {
    if key.is_empty() {
        return;
    }
    if let Ok(mut v) = HeaderValue::from_str(key) {
        v.set_sensitive(true);
        h.insert(http::header::HeaderName::from_static(name), v);
    }
}

/// Refresh this long before expiry, so no request carries a token that lapses in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The cached token, or a fresh one from `fetch`. Concurrent callers wait on the one refresh
/// in progress (the async mutex is held across the fetch on purpose: that is the single
/// flight).
pub async fn cached_token<F>(cache: &TokenCache, fetch: F) -> Result<Secret, BifrostError>
where
    F: Future<Output = Result<(Secret, Duration), BifrostError>>,
{
    let mut slot = cache.slot.lock().await;
    if let Some((token, refresh_at)) = slot.as_ref() {
        if Instant::now() < *refresh_at {
            return Ok(token.clone());
        }
    }
    let (token, lifetime) = fetch.await?;
    // Short-lived tokens are refreshed at half their life instead.
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    *slot = Some((token.clone(), Instant::now() + lifetime - margin));
    Ok(token)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "one_hour")]
    expires_in: u64,
}

fn one_hour() -> u64 {
    3600
}

/// POSTs a form to a token endpoint and reads `{access_token, expires_in}`. Failures are
/// credential errors: the key is at fault, not the request.
async fn token_request(
    upstream: &Upstream,
    url: &str,
    form: String,
    what: &str,
) -> Result<(Secret, Duration), BifrostError> {
    let uri = super::parse_url(&upstream.name, url)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let body = upstream
        .post_json(&uri, headers, form.into_bytes())
        .await
        .map_err(|mut e| {
            e.message = format!("{what} token request failed: {}", e.message);
            e
        })?;
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        BifrostError::bad_upstream_response(&upstream.name, format!("{what} token response: {e}"))
    })?;
    Ok((
        Secret::new(t.access_token),
        Duration::from_secs(t.expires_in.max(1)),
    ))
}

/// An Entra ID access token (client-credentials grant).
pub async fn entra_token(
    upstream: &Upstream,
    creds: &EntraCredentials,
) -> Result<Secret, BifrostError> {
    cached_token(&creds.token, async {
        let url = creds.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                creds.tenant_id
            )
        });
        let scope = if creds.scopes.is_empty() {
            "https://cognitiveservices.azure.com/.default".to_owned()
        } else {
            creds.scopes.join(" ")
        };
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &creds.client_id)
            .append_pair("client_secret", creds.client_secret.expose())
            .append_pair("scope", &scope)
            .finish();
        token_request(upstream, &url, form, "Entra ID").await
    })
    .await
}

/// The fields of a Google service-account JSON file that the JWT grant needs.
#[derive(Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "google_token_uri")]
    pub token_uri: String,
}

fn google_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl ServiceAccount {
    pub fn parse(json: &str) -> Result<Self, BifrostError> {
        serde_json::from_str(json).map_err(|e| {
            BifrostError::invalid_request(format!(
                "vertex auth_credentials is not a service-account JSON: {e}"
            ))
        })
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The signed RS256 assertion of the JWT-bearer grant.
pub fn google_assertion(sa: &ServiceAccount, now: SystemTime) -> Result<String, BifrostError> {
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = Claims {
        iss: &sa.client_email,
        scope: CLOUD_PLATFORM_SCOPE,
        aud: &sa.token_uri,
        iat,
        exp: iat + 3600,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = sa.private_key_id.clone();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(sa.private_key.as_bytes()).map_err(|e| {
        BifrostError::invalid_request(format!("vertex service account: unusable private_key: {e}"))
    })?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
        BifrostError::invalid_request(format!("vertex service account: signing failed: {e}"))
    })
}

/// A Google access token from a service account (JWT-bearer grant).
pub async fn google_token(
    upstream: &Upstream,
    credentials_json: &Secret,
    cache: &TokenCache,
) -> Result<Secret, BifrostError> {
    cached_token(cache, async {
        let sa = ServiceAccount::parse(credentials_json.expose())?;
        let assertion = google_assertion(&sa, SystemTime::now())?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        token_request(upstream, &sa.token_uri, form, "Google service account").await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_token_is_fetched_once_and_shared_until_it_needs_refreshing() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let fetch = |lifetime: u64| {
            let fetches = fetches.clone();
            async move {
                let n = fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok((Secret::new(format!("t{n}")), Duration::from_secs(lifetime)))
            }
        };
        // Ten concurrent callers: one fetch.
        let tokens =
            futures::future::join_all((0..10).map(|_| cached_token(&cache, fetch(3600)))).await;
        assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose() == "t0"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // A token within its refresh margin is replaced.
        *cache.slot.lock().await = Some((Secret::new("old"), Instant::now()));
        let t = cached_token(&cache, fetch(3600)).await.unwrap();
        assert_eq!(t.expose(), "t1");
    }
}
