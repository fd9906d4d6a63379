//! The cargo feature `mock`: with it, a `mock` provider without a base_url is served
//! in-process; without it (a production build), such a config stops startup with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

const MOCK_WITHOUT_BASE_URL: &str = r#"{"providers":{"mock":{"keys":[]}}}"#;

/// A chat for the `mock` provider.
async fn chat(gw: &common::TestGateway) -> reqwest::Response {
    let body = serde_json::json!({"model": "mock/gpt-4o-mini",
                                  "messages": [{"role": "user", "content": "Hello!"}]});
    common::post_json(gw, "/v1/chat/completions", &body, &[]).await
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn a_mock_provider_without_base_url_is_served_in_process() {
    let gw = common::start(MOCK_WITHOUT_BASE_URL).await;
    let resp = chat(&gw).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-bf-provider"], "mock");
    gw.stop().await;
}

#[cfg(not(feature = "mock"))]
#[tokio::test]
async fn a_mock_provider_without_base_url_stops_startup_when_compiled_out() {
    let message = format!("{:#}", common::load_error(MOCK_WITHOUT_BASE_URL, &[]).await);
    assert!(
        message.contains("provider 'mock'") && message.contains("compiled out"),
        "{message}"
    );
}

/// A `mock` with its own base_url is an external bifrost-mock: served with or without the
/// feature.
#[tokio::test]
async fn a_mock_provider_with_base_url_is_forwarded_to_either_way() {
    let upstream = bifrost_mock::MockServer::start(bifrost_mock::MockConfig {
        require_auth: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let config = format!(
        r#"{{"providers":{{"mock":{{"keys":[],"network_config":{{"base_url":"{}"}}}}}}}}"#,
        upstream.url()
    );
    let gw = common::start(&config).await;
    assert_eq!(chat(&gw).await.status(), 200);
    assert_eq!(upstream.stats().requests, 1);
    gw.stop().await;
}
