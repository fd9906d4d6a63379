//! Request bodies (issue 16 #8): a gateway-wide budget of body bytes in flight, a body limit
//! enforced from `Content-Length` before reading, and logged content capped per row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const MB: usize = 1024 * 1024;

fn config(mock: &MockServer, client: &str) -> String {
    format!(
        r#"{{"client":{{{client}}},
            "providers":{{
              "openai":{{"keys":[{{"value":"sk-openai"}}],"network_config":{{"base_url":"{u}"}}}},
              "anthropic":{{"keys":[{{"value":"sk-ant"}}],"network_config":{{"base_url":"{u}"}}}}}}}}"#,
        u = mock.url()
    )
}

/// A chat body of about `size` bytes.
fn chat_body(size: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "a".repeat(size)}],
    }))
    .unwrap()
}

#[tokio::test]
async fn bodies_in_flight_are_bounded_and_big_ones_are_logged_as_a_note() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = start(&config(
        &mock,
        r#""max_request_body_size_mb":2,"max_request_bytes_in_flight_mb":3"#,
    ))
    .await;
    let addr = gw.url.trim_start_matches("http://").to_owned();

    // A client that declares 2 MB and sends only the head of it: its reservation is held.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{{\"model\":",
        2 * MB
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 1.2 MB more would pass 3 MB: refused at once, in the route's own format.
    let big = chat_body(MB + MB / 5);
    let chat = async |body: Vec<u8>, headers: &[(&str, &str)]| {
        post_raw(&gw, "/v1/chat/completions", body, headers).await
    };
    let r = chat(big.clone(), &[("x-request-id", "req-refused")]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request_bytes_in_flight", "{body}");
    let r = post_raw(
        &gw,
        "/anthropic/v1/messages",
        big.clone(),
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
    // A small body still fits beside the held one.
    assert_eq!(chat(chat_body(1000), &[]).await.status(), 200);

    // Over the body limit by its Content-Length: 413 before the body is read.
    assert_eq!(chat(chat_body(3 * MB), &[]).await.status(), 413);

    // The slow client leaves: its reservation is returned, and the big body now passes.
    drop(slow);
    let status = eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || {
            let status = chat(big.clone(), &[("x-request-id", "req-big")])
                .await
                .status();
            if status != 503 {
                Ok(status)
            } else {
                Err("the big body is still refused".to_owned())
            }
        },
    )
    .await;
    assert_eq!(status, 200);

    // Each request is one row; the big body's content is a note, not 1.2 MB of text.
    let rows = poll_logs(&gw, "limit=100", |rows| {
        rows.iter().any(|r| r["id"] == "req-big")
    })
    .await;
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(row("req-refused")["http_status"], 503);
    assert_eq!(
        row("req-big")["input"],
        json!({"truncated": true, "bytes": big.len()})
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_budget_smaller_than_one_body_stops_startup() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let e = load_error(
        &config(
            &mock,
            r#""max_request_body_size_mb":8,"max_request_bytes_in_flight_mb":4"#,
        ),
        &[],
    )
    .await;
    assert!(
        e.to_string().contains("max_request_bytes_in_flight_mb"),
        "{e}"
    );
}
