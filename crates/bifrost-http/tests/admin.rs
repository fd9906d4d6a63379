//! Admin auth, CORS, health and pprof gating, end to end over loopback: the gateway configured
//! from a real config file, with the in-process mock provider behind the inference routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_http::health::HealthCheck;
use common::{client, load, serve, start, with_headers};
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const CHAT: &str =
    r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

fn config(auth: &str, client: &str) -> String {
    format!(r#"{{"providers":{{"mock":{{}}}},"auth_config":{auth},"client":{client}}}"#)
}

fn enabled(extra: &str) -> String {
    format!(
        r#"{{"is_enabled":true,"admin_username":"admin","admin_password":"env.ADMIN_PW"{extra}}}"#
    )
}

async fn start_env(config: &str) -> common::TestGateway {
    common::start_with(config, &[("ADMIN_PW", "hunter2")], Cli::default()).await
}

/// `GET url` with one header, if given (credentials, an origin).
async fn get(url: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
    with_headers(client().get(url), auth.as_slice())
        .send()
        .await
        .unwrap()
}

/// [`get`]'s JSON body.
async fn get_json(url: &str, auth: Option<(&str, &str)>) -> Value {
    get(url, auth).await.json().await.unwrap()
}

async fn chat(url: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
    let req = client()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(CHAT);
    with_headers(req, auth.as_slice()).send().await.unwrap()
}

async fn login(url: &str, username: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{url}/api/session/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// A 401 in the gateway's error shape with a challenge; returns the challenges.
async fn assert_401(resp: reqwest::Response) -> Vec<String> {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<String> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!challenges.is_empty());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    challenges
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test]
async fn without_auth_everything_is_open() {
    let gw = start(&config(r#"{"is_enabled":false}"#, "{}")).await;
    let body = get_json(&format!("{}/api/session/is-auth-enabled", gw.url), None).await;
    assert_eq!(body["is_auth_enabled"], false);
    let v = get_json(&format!("{}/api/version", gw.url), None).await;
    assert_eq!(v["name"], "bifrost-http");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(chat(&gw.url, None).await.status(), 200);
    assert_eq!(
        login(&gw.url, "admin", "x").await.status(),
        StatusCode::BAD_REQUEST
    );
    gw.stop().await;
}

#[tokio::test]
async fn login_tokens_cookies_and_logout() {
    let gw = start_env(&config(&enabled(""), "{}")).await;
    let url = &gw.url;

    // Open routes.
    for path in ["/health", "/health/live", "/health/ready"] {
        assert_eq!(
            get(&format!("{url}{path}"), None).await.status(),
            200,
            "{path}"
        );
    }
    let body = get_json(&format!("{url}/api/session/is-auth-enabled"), None).await;
    assert_eq!(body["is_auth_enabled"], true);
    assert_eq!(body["has_valid_token"], false);

    // Everything else needs credentials, including /api routes nobody defined yet.
    for path in [
        "/api/version",
        "/api/providers",
        "/metrics",
        "/debug/pprof/",
        "/ws",
    ] {
        let ch = assert_401(get(&format!("{url}{path}"), None).await).await;
        assert_eq!(ch, vec![r#"Bearer realm="bifrost""#], "{path}");
    }
    let ch = assert_401(chat(url, None).await).await;
    assert!(ch.iter().any(|c| c.starts_with("Basic")), "{ch:?}");
    assert_401(get(&format!("{url}/v1/models"), None).await).await;

    // Wrong credentials: the same answer whichever field is wrong.
    let mut messages = Vec::new();
    for (u, p) in [("admin", "wrong"), ("root", "hunter2"), ("", "")] {
        let resp = login(url, u, p).await;
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().get("set-cookie").is_none());
        let body: Value = resp.json().await.unwrap();
        messages.push(body["error"]["message"].clone());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    let resp = client()
        .post(format!("{url}/api/session/login"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Login.
    let resp = login(url, "admin", "hunter2").await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert!(cookie.starts_with(&format!("token={token};")), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let bearer = format!("Bearer {token}");
    let as_cookie = format!("other=1; token={token}");

    let (by_token, by_cookie) = (
        ("authorization", bearer.as_str()),
        ("cookie", as_cookie.as_str()),
    );
    for path in ["/api/version", "/metrics", "/debug/pprof/"] {
        for auth in [by_token, by_cookie] {
            let status = get(&format!("{url}{path}"), Some(auth)).await.status();
            assert_eq!(status, 200, "{path} {}", auth.0);
        }
    }
    // Unknown /api route: through auth, then not found.
    let status = get(&format!("{url}/api/nothing"), Some(by_token))
        .await
        .status();
    assert_eq!(status, 404);
    let body = get_json(
        &format!("{url}/api/session/is-auth-enabled"),
        Some(by_cookie),
    )
    .await;
    assert_eq!(body["has_valid_token"], true);

    // Inference: token, cookie or Basic with the admin credentials.
    let resp = chat(url, Some(by_token)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply to: Hello!"
    );
    assert_eq!(chat(url, Some(by_cookie)).await.status(), 200);
    for _ in 0..2 {
        // The second is served from the verified-credentials cache.
        let ok = basic("admin", "hunter2");
        assert_eq!(chat(url, Some(("authorization", &ok))).await.status(), 200);
    }
    assert_401(chat(url, Some(("authorization", &basic("admin", "nope")))).await).await;
    assert_401(chat(url, Some(("authorization", "Basic !!!"))).await).await;
    // Basic is for inference only.
    for credentials in [basic("admin", "hunter2").as_str(), "Bearer x.y.z"] {
        let auth = Some(("authorization", credentials));
        assert_401(get(&format!("{url}/api/version"), auth).await).await;
    }

    // Logout revokes the token and clears the cookie.
    let resp = client()
        .post(format!("{url}/api/session/logout"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("token=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    for auth in [by_token, by_cookie] {
        assert_401(get(&format!("{url}/api/version"), Some(auth)).await).await;
    }
    assert_401(chat(url, Some(by_token)).await).await;

    // A new login works.
    let resp = login(url, "admin", "hunter2").await;
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn tokens_from_one_replica_pass_another() {
    let cfg = config(&enabled(""), "{}");
    let a = start_env(&cfg).await;
    let b = start_env(&cfg).await;
    let body: Value = login(&a.url, "admin", "hunter2")
        .await
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", body["token"].as_str().unwrap());
    let status = get(
        &format!("{}/api/version", b.url),
        Some(("authorization", &bearer)),
    )
    .await
    .status();
    assert_eq!(status, 200);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn inference_open_metrics_open_and_whitelisted_routes() {
    let gw = start_env(&config(
        &enabled(r#","disable_auth_on_inference":true,"metrics_open":true"#),
        r#"{"whitelisted_routes":["/api/version","/api/public/*"]}"#,
    ))
    .await;
    let url = &gw.url;
    assert_eq!(chat(url, None).await.status(), 200);
    assert_eq!(get(&format!("{url}/v1/models"), None).await.status(), 200);
    assert_eq!(get(&format!("{url}/metrics"), None).await.status(), 200);
    assert_eq!(get(&format!("{url}/api/version"), None).await.status(), 200);
    // Through auth (whitelisted), then not found.
    assert_eq!(
        get(&format!("{url}/api/public/anything"), None)
            .await
            .status(),
        404
    );
    // Admin routes still need a session, however the path is spelled.
    for path in ["/api/providers", "//api/providers", "/debug/pprof/heap"] {
        assert_401(get(&format!("{url}{path}"), None).await).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_simple_requests() {
    let gw = start_env(&config(
        &enabled(""),
        r#"{"allowed_origins":["https://app.example.com"],"allowed_headers":["x-team"]}"#,
    ))
    .await;
    let url = &gw.url;
    let preflight = |origin: &'static str| {
        client()
            .request(Method::OPTIONS, format!("{url}/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization, x-bf-vk, x-team, x-other",
            )
            .send()
    };
    // Answered without credentials, although auth is on.
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:5173",
        "https://app.example.com",
    ] {
        let resp = preflight(origin).await.unwrap();
        assert_eq!(resp.status(), 204, "{origin}");
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], origin);
        assert_eq!(h["access-control-allow-credentials"], "true");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains("POST") && methods.contains("DELETE"),
            "{methods}"
        );
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for name in ["content-type", "authorization", "x-bf-vk", "x-team"] {
            assert!(allowed.contains(name), "{allowed}");
        }
        assert!(!allowed.contains("x-other"), "{allowed}");
        assert_eq!(h["access-control-max-age"], "7200");
        assert!(h["vary"].to_str().unwrap().contains("Origin"));
    }
    for origin in ["https://evil.example.com", "http://localhost.evil.com"] {
        let resp = preflight(origin).await.unwrap();
        assert_eq!(resp.status(), 403, "{origin}");
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }

    // A simple request: the 401 is readable by the page, and so is a success.
    let resp = get(
        &format!("{url}/api/version"),
        Some(("origin", "http://localhost:3000")),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let resp = get(
        &format!("{url}/health"),
        Some(("origin", "https://app.example.com")),
    )
    .await;
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    let expose = h["access-control-expose-headers"].to_str().unwrap();
    assert!(
        expose.contains("x-request-id") && expose.contains("x-bf-provider"),
        "{expose}"
    );
    let resp = get(
        &format!("{url}/health"),
        Some(("origin", "https://evil.example.com")),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    gw.stop().await;

    // "*": any origin, without credentials.
    let gw = start(&config("{}", r#"{"allowed_origins":["*"]}"#)).await;
    let resp = client()
        .request(Method::OPTIONS, format!("{}/v1/models", gw.url))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://anywhere.example"
    );
    assert!(resp
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    gw.stop().await;
}

struct Check {
    name: &'static str,
    result: Result<(), &'static str>,
    required: bool,
}

impl HealthCheck for Check {
    fn name(&self) -> &str {
        self.name
    }
    fn required(&self) -> bool {
        self.required
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.result.map_err(str::to_owned) })
    }
}

/// Never answers: stopped by the timeout.
struct Hangs;

impl HealthCheck for Hangs {
    fn name(&self) -> &str {
        "hangs"
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(futures::future::pending())
    }
}

async fn health(url: &str, path: &str) -> (u16, Value) {
    let resp = get(&format!("{url}{path}"), None).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn health_reports_components_and_fails_on_a_required_one() {
    let gw = load(&config("{}", "{}"), &[], Cli::default())
        .await
        .unwrap();
    gw.state.health.register(Arc::new(Check {
        name: "queue",
        result: Ok(()),
        required: true,
    }));
    gw.state.health.register(Arc::new(Check {
        name: "cache",
        result: Err("redis: connection refused"),
        required: false,
    }));
    let gw = serve(gw).await;
    let (status, body) = health(&gw.url, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status":"ok","components":{
            "config_store":"ok","logs_store":"ok","queue":"ok","cache":"redis: connection refused"
        }})
    );
    gw.stop().await;

    let mut gw = load(&config("{}", "{}"), &[], Cli::default())
        .await
        .unwrap();
    // The only way to change the timeout is before serving, as a store would.
    Arc::get_mut(&mut gw.state.get_mut().unwrap().health)
        .unwrap()
        .timeout = std::time::Duration::from_millis(200);
    gw.state.health.register(Arc::new(Check {
        name: "logs_store",
        result: Err("database is locked"),
        required: true,
    }));
    gw.state.health.register(Arc::new(Hangs));
    let gw = serve(gw).await;
    for path in ["/health", "/health/ready"] {
        let (status, body) = health(&gw.url, path).await;
        assert_eq!(status, 503, "{path}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["components"]["logs_store"], "database is locked");
        assert!(
            body["components"]["hangs"]
                .as_str()
                .unwrap()
                .contains("no answer within"),
            "{body}"
        );
    }
    let (status, body) = health(&gw.url, "/health/live").await;
    assert_eq!((status, body), (200, json!({"status":"ok"})));
    gw.stop().await;

    // disable_db_pings_in_health: /health skips the checks, readiness does not.
    let gw = load(
        &config("{}", r#"{"disable_db_pings_in_health":true}"#),
        &[],
        Cli::default(),
    )
    .await
    .unwrap();
    gw.state.health.register(Arc::new(Check {
        name: "logs_store",
        result: Err("down"),
        required: true,
    }));
    let gw = serve(gw).await;
    assert_eq!(
        health(&gw.url, "/health").await,
        (200, json!({"status":"ok","components":{}}))
    );
    assert_eq!(health(&gw.url, "/health/ready").await.0, 503);
    gw.stop().await;
}

#[tokio::test]
async fn pprof_is_served_only_when_enabled() {
    // Default on loopback: on.
    let loopback = Cli {
        host: "127.0.0.1".to_owned(),
        ..Cli::default()
    };
    let gw = common::start_with(&config("{}", "{}"), &[], loopback).await;
    assert_eq!(
        get(&format!("{}/debug/pprof/", gw.url), None)
            .await
            .status(),
        200
    );
    gw.stop().await;
    let gw = start(&config("{}", r#"{"enable_pprof":false}"#)).await;
    for path in ["/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile"] {
        assert_eq!(
            get(&format!("{}{path}", gw.url), None).await.status(),
            404,
            "{path}"
        );
    }
    gw.stop().await;
    // Listening beyond loopback without auth: off by default.
    let cli = Cli {
        host: "0.0.0.0".to_owned(),
        ..Cli::default()
    };
    let gw = load(&config("{}", "{}"), &[], cli.clone()).await.unwrap();
    assert!(!gw.state.settings.enable_pprof);
    let gw = load(&config(&enabled(""), "{}"), &[("ADMIN_PW", "p")], cli)
        .await
        .unwrap();
    assert!(gw.state.settings.enable_pprof, "behind admin auth");
}

#[tokio::test]
async fn startup_refuses_what_it_cannot_enforce() {
    for (json, section) in [
        (
            r#"{"governance":{"routing_rules":[{"id":"r","cel_expression":"true"}]}}"#,
            "governance.routing_rules",
        ),
        (
            r#"{"mcp":{"client_configs":[{"name":"x","connection_type":"http"}]}}"#,
            "mcp.client_configs",
        ),
        (
            r#"{"vector_store":{"enabled":true,"type":"qdrant"}}"#,
            "vector_store",
        ),
        (
            r#"{"plugins":[{"enabled":true,"name":"semantic_cache"}]}"#,
            "plugins[0]",
        ),
        (
            r#"{"auth_config":{"is_enabled":true,"admin_username":"a"}}"#,
            "auth_config.admin_password",
        ),
    ] {
        let err = load(json, &[], Cli::default()).await.err().unwrap();
        let msg = format!("{err:#}");
        assert!(msg.contains(section), "{msg}");
    }
}
