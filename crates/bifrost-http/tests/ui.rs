//! The web UI's server side over loopback: the embedded shell and its assets (open with admin
//! auth on, revalidated by ETag, no data in them), the config changes the UI makes applying at
//! once, and what a deactivated key is told. The pages themselves are tested in a real browser
//! (tests/ui/e2e.test.mjs, run by scripts/test.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use common::{client, json_answer};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const AUTH: &str = r#"{"providers":{"mock":{}},"auth_config":{"is_enabled":true,"admin_username":"admin","admin_password":"env.ADMIN_PW"}}"#;

async fn start_auth() -> common::TestGateway {
    common::start_with(AUTH, &[("ADMIN_PW", "hunter2")], Cli::default()).await
}

async fn token(url: &str) -> String {
    let r = json_answer(
        client()
            .post(format!("{url}/api/session/login"))
            .json(&json!({"username": "admin", "password": "hunter2"})),
    )
    .await;
    r["token"].as_str().unwrap().to_owned()
}

async fn get(url: String, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
    let mut r = client().get(url);
    for (k, v) in headers {
        r = r.header(k, *v);
    }
    r.send().await.unwrap()
}

async fn put_config(url: &str, client_settings: Value) -> reqwest::Response {
    client()
        .put(format!("{url}/api/config"))
        .json(&json!({ "client": client_settings }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_shell_and_its_assets_are_served_without_a_session_and_revalidated() {
    let gw = start_auth().await;
    let url = &gw.url;
    let index = get(format!("{url}/"), &[]).await;
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(
        index.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let csp = index.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(index.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let etag = index.headers()[header::ETAG].clone();
    let html = index.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/ui/js/app.js">"#));

    // Every file the page loads is there, with its type.
    for (path, mime) in [
        ("/ui/js/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        (
            "/ui/vendor/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
        ),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        let r = get(format!("{url}{path}"), &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], mime, "{path}");
    }
    // The vendored library ships with its licence.
    let lic = get(format!("{url}/ui/vendor/uPlot.LICENSE"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(lic.contains("MIT License"));

    // Compressed for clients that accept it; the same bytes once inflated.
    let js = format!("{url}/ui/vendor/uPlot.iife.min.js");
    let plain = get(js.clone(), &[]).await.bytes().await.unwrap();
    let gz = get(js, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    let packed = gz.bytes().await.unwrap();
    assert!(
        packed.len() * 2 < plain.len(),
        "{} → {}",
        plain.len(),
        packed.len()
    );
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, plain);

    // Unchanged: 304 without a body.
    let again = get(
        format!("{url}/"),
        &[(header::IF_NONE_MATCH, etag.to_str().unwrap())],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    // Unknown assets are 404, and the shell being open opens nothing else.
    let missing = get(format!("{url}/ui/../api/providers"), &[]).await;
    assert_ne!(missing.status(), StatusCode::OK);
    let missing = get(format!("{url}/ui/nope.js"), &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for path in ["/api/providers", "/api/logs", "/api/config"] {
        let r = get(format!("{url}{path}"), &[]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn cors_origins_set_from_the_config_page_apply_at_once_and_are_checked() {
    let gw = common::start(r#"{"providers":{"mock":{}},"client":{"log_queue_size":1234}}"#).await;
    let url = &gw.url;
    let preflight = || async {
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("{url}/v1/chat/completions"),
            )
            .header(header::ORIGIN, "https://app.example.com")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(preflight().await, StatusCode::FORBIDDEN);

    let bad = put_config(
        url,
        json!({"allowed_origins": ["https://app.example.com/path"]}),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["error"]["param"], "client.allowed_origins[0]");

    let ok: Value = put_config(
        url,
        json!({"allowed_origins": ["https://App.Example.com/"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ok["restart_required"], json!([]));
    assert_eq!(
        ok["client"]["allowed_origins"],
        json!(["https://app.example.com"])
    );
    assert_eq!(preflight().await, StatusCode::NO_CONTENT);
    let shown: Value = get(format!("{url}/api/config"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["client"]["allowed_origins"],
        json!(["https://app.example.com"])
    );
    // The page shows every setting as in force, the queue size too.
    assert_eq!(shown["client"]["log_queue_size"], 1234);
    gw.stop().await;
}

#[tokio::test]
async fn a_deactivated_key_is_told_so_rather_than_asked_to_log_in() {
    let gw = start_auth().await;
    let url = &gw.url;
    let bearer = format!("Bearer {}", token(url).await);
    let created = json_answer(
        client()
            .post(format!("{url}/api/governance/virtual-keys"))
            .header(header::AUTHORIZATION, &bearer)
            .json(&json!({"name": "k", "is_active": false})),
    )
    .await;
    let value = created["value"].as_str().unwrap();
    let chat = |key: String| async move {
        client()
            .post(format!("{url}/v1/chat/completions"))
            .header("x-bf-vk", key)
            .json(&json!({"model": "mock/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    };
    let r = chat(value.to_owned()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "this virtual key is inactive");
    // An unknown key learns nothing about keys: the usual login message.
    let r = chat("sk-bf-unknown".to_owned()).await;
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("authentication required"));
    gw.stop().await;
}
