//! CORS for browser clients (the dashboard, browser SDKs): `client.allowed_origins` plus the
//! always-allowed localhost origins, and `client.allowed_headers`.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here,
//! before admin auth (browsers send it without credentials): 204 with the allowed origin
//! echoed, methods, headers and `Max-Age`, or 403 without CORS headers for an origin that is
//! not allowed. Other requests from an allowed origin get `Access-Control-Allow-Origin` and
//! `Access-Control-Expose-Headers` (the gateway's `x-bf-*` headers and `x-request-id`).
//! `Access-Control-Allow-Credentials: true` is sent for origins allowed by name (or localhost),
//! never for an origin allowed only through `"*"`.

use crate::config::CorsConfig;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD";
/// How long a browser may cache a preflight answer (Chromium caps it at 2 hours).
const MAX_AGE: &str = "7200";
/// Request headers always allowed: the gateway's own, and those the OpenAI, Anthropic and
/// GenAI SDKs send from a browser.
const ALLOWED: &[&str] = &[
    "accept",
    "accept-language",
    "content-language",
    "content-type",
    "authorization",
    "x-request-id",
    "x-api-key",
    "x-goog-api-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "openai-organization",
    "openai-project",
    "openai-beta",
];
/// Prefixes of request headers always allowed.
const ALLOWED_PREFIXES: &[&str] = &["x-bf-", "x-stainless-"];
/// Response headers a browser script may read.
const EXPOSE: &str = "x-request-id, x-bf-provider, x-bf-model, x-bf-key-id, \
                      x-bf-fallback-index, x-bf-retries, retry-after";

/// The policy in effect; `PUT /api/config` swaps it (`allowed_origins` apply at once).
pub type SharedCors = Arc<arc_swap::ArcSwap<Cors>>;

/// The CORS policy.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
    headers: Vec<String>,
}

/// How an origin is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// By name or as localhost: credentials allowed.
    Named,
    /// Only through `"*"`.
    Any,
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, with any port.
fn is_localhost(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => rest,
    };
    let (host, port) = match host.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    matches!(host, "localhost" | "127.0.0.1") && port.is_none_or(|p| is_port(&format!(":{p}")))
}

/// `:` and 1–5 digits.
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

impl Cors {
    pub fn new(cfg: &CorsConfig) -> Self {
        Self {
            any: cfg.allowed_origins.iter().any(|o| o == "*"),
            origins: cfg
                .allowed_origins
                .iter()
                .filter(|o| *o != "*")
                .cloned()
                .collect(),
            headers: cfg.allowed_headers.clone(),
        }
    }

    /// The same policy with other (already validated, lowercased) origins.
    pub fn with_origins(&self, origins: Vec<String>) -> Self {
        Self::new(&CorsConfig {
            allowed_origins: origins,
            allowed_headers: self.headers.clone(),
        })
    }

    /// The configured origins, `"*"` included when set.
    pub fn origins(&self) -> Vec<String> {
        let mut out = self.origins.clone();
        if self.any {
            out.push("*".to_owned());
        }
        out
    }

    fn allows(&self, origin: &str) -> Option<Allowed> {
        let lower = origin.to_ascii_lowercase();
        if is_localhost(&lower) || self.origins.contains(&lower) {
            Some(Allowed::Named)
        } else if self.any {
            Some(Allowed::Any)
        } else {
            None
        }
    }

    fn allows_header(&self, name: &str) -> bool {
        ALLOWED.contains(&name)
            || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
            || self.headers.iter().any(|h| match h.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => h == name,
            })
    }

    /// `Access-Control-Allow-Headers`: the fixed list, `client.allowed_headers` named in full,
    /// and every requested header that a rule allows.
    fn allow_headers(&self, requested: Option<&str>) -> String {
        let mut out: Vec<String> = ["authorization", "content-type", "x-api-key", "x-request-id"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for h in self.headers.iter().filter(|h| !h.ends_with('*')) {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
        for h in requested.unwrap_or("").split(',') {
            let h = h.trim().to_ascii_lowercase();
            if !h.is_empty() && self.allows_header(&h) && !out.contains(&h) {
                out.push(h);
            }
        }
        out.join(", ")
    }
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The middleware; see the module doc.
pub async fn cors(State(cors): State<SharedCors>, req: Request, next: Next) -> Response {
    let cors = cors.load();
    let headers = req.headers();
    let Some(origin) = text(headers, header::ORIGIN).map(str::to_owned) else {
        // The answer differs with an `Origin`: caches must not reuse this one for those.
        let mut resp = next.run(req).await;
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
        return resp;
    };
    let allowed = cors.allows(&origin);
    let preflight = req.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let method_ok = text(headers, header::ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| ALLOW_METHODS.split(", ").any(|a| a == m));
        let mut resp = match allowed.filter(|_| method_ok) {
            Some(how) => {
                let requested = text(headers, header::ACCESS_CONTROL_REQUEST_HEADERS);
                let mut resp = StatusCode::NO_CONTENT.into_response();
                let h = resp.headers_mut();
                put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
                if how == Allowed::Named {
                    put(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
                }
                put(h, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
                put(
                    h,
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    &cors.allow_headers(requested),
                );
                put(h, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
                resp
            }
            None => StatusCode::FORBIDDEN.into_response(),
        };
        resp.headers_mut().append(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        return resp;
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(how) = allowed {
        put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
        if how == Allowed::Named {
            put(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        } else {
            h.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        }
        put(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE);
    }
    resp
}

fn put(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_origins() {
        for o in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:5173",
            "http://[::1]",
        ] {
            assert!(is_localhost(o), "{o}");
        }
        for o in [
            "http://localhost.evil.com",
            "http://localhost:3000.evil.com",
            "http://127.0.0.1.nip.io",
            "ftp://localhost",
            "http://[::1]x",
            "http://evil.com",
            "null",
        ] {
            assert!(!is_localhost(o), "{o}");
        }
    }

    #[test]
    fn origins_and_headers() {
        let c = Cors::new(&CorsConfig {
            allowed_origins: vec!["https://app.example.com".into()],
            allowed_headers: vec!["x-team".into(), "x-tenant-*".into()],
        });
        assert_eq!(c.allows("https://app.example.com"), Some(Allowed::Named));
        assert_eq!(c.allows("https://APP.example.com"), Some(Allowed::Named));
        assert_eq!(c.allows("https://other.example.com"), None);
        let any = Cors::new(&CorsConfig {
            allowed_origins: vec!["*".into()],
            ..CorsConfig::default()
        });
        assert_eq!(any.allows("https://x.y"), Some(Allowed::Any));
        assert_eq!(any.allows("http://localhost:1"), Some(Allowed::Named));
        let h = c.allow_headers(Some("Content-Type, X-BF-VK, x-tenant-id, x-evil"));
        assert_eq!(
            h,
            "authorization, content-type, x-api-key, x-request-id, x-team, x-bf-vk, x-tenant-id"
        );
    }
}
