//! End-to-end tests of the Gemini (and Vertex AI) endpoints: a real server on loopback, hit
//! over HTTP with reqwest.

// Panicking on unexpected errors is the point of a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_mock::{MockConfig, MockServer};
use common::{chunks, cut_after, read_sse, read_stream, send, send_json, start, throttled};
use serde_json::{json, Value};

const KEY: &str = "AIza-test";
const MODEL: &str = "gemini-2.5-flash";
/// `streamGenerateContent` asked for SSE (`alt=sse`) rather than a JSON array.
const STREAM_SSE: &str = "streamGenerateContent?alt=sse";

fn url(server: &MockServer, action: &str) -> String {
    format!("{}/v1beta/models/{MODEL}:{action}", server.url())
}

fn gemini(server: &MockServer, action: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url(server, action))
        .header("x-goog-api-key", KEY)
        .json(body)
}

fn generate_body(text: &str) -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "earlier question"}]},
            {"role": "model", "parts": [{"text": "earlier answer"}]},
            {"role": "user", "parts": [{"text": text}]}
        ],
        "generationConfig": {"maxOutputTokens": 64}
    })
}

fn weather_body() -> Value {
    let mut body = generate_body("What is the Weather in Paris?");
    body["tools"] = json!([{"functionDeclarations": [
        {"name": "get_weather", "parameters": {"type": "object"}},
        {"name": "other"}
    ]}]);
    body
}

/// The JSON payloads of a Google SSE body (frames end with `\r\n\r\n`).
fn sse_payloads(body: &str) -> Vec<Value> {
    body.split("\r\n\r\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let data = frame.strip_prefix("data: ").expect("a data frame");
            serde_json::from_str(data).expect("frame data is JSON")
        })
        .collect()
}

fn candidate_text(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

#[tokio::test]
async fn generate_content_shape() {
    let server = start(MockConfig::default()).await;
    let response = send(gemini(
        &server,
        "generateContent",
        &generate_body("hello gemini"),
    ))
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": "Mock reply to: hello gemini"}])
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["index"], 0);
    let usage = &body["usageMetadata"];
    let (p, c) = (
        usage["promptTokenCount"].as_u64().unwrap(),
        usage["candidatesTokenCount"].as_u64().unwrap(),
    );
    // System instruction and every turn count towards the prompt.
    let prompt_chars = "be brief earlier question earlier answer hello gemini".len() - 3;
    assert_eq!(p, prompt_chars.div_ceil(4) as u64);
    assert_eq!(usage["totalTokenCount"].as_u64().unwrap(), p + c);
    assert_eq!(body["modelVersion"], MODEL);
    assert!(body["responseId"]
        .as_str()
        .unwrap()
        .starts_with("mock-gemini-"));

    let last = server.last_request().unwrap();
    assert_eq!(last.path, format!("/v1beta/models/{MODEL}:generateContent"));
    assert_eq!(last.header("x-goog-api-key"), Some(KEY));
    assert_eq!(server.stats().requests_by_key.get(KEY), Some(&1));
}

#[tokio::test]
async fn auth_by_header_query_key_or_bearer_and_google_errors() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();

    let by_query = client.post(format!(
        "{}?key=AIza-query",
        url(&server, "generateContent")
    ));
    let response = send(by_query.json(&generate_body("hi"))).await;
    assert_eq!(response.status(), 200);

    let vertex = format!(
        "{}/v1/projects/my-project/locations/us-central1/publishers/google/models/{MODEL}:generateContent",
        server.url()
    );
    let by_bearer = client.post(&vertex).bearer_auth("ya29.token");
    let response = send(by_bearer.json(&generate_body("hi"))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(candidate_text(&body), "Mock reply to: hi");

    let by_key = server.stats().requests_by_key;
    assert_eq!(by_key.get("AIza-query"), Some(&1));
    assert_eq!(by_key.get("ya29.token"), Some(&1));

    let unauthenticated = client.post(url(&server, "generateContent"));
    let response = send(unauthenticated.json(&generate_body("hi"))).await;
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], 401);
    assert_eq!(error["error"]["status"], "UNAUTHENTICATED");
    assert!(error["error"]["message"].is_string());

    // Validation and routing errors speak Google's shape too.
    let response = send(gemini(&server, "generateContent", &json!({"contents": []}))).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");

    let response = send(gemini(&server, "countTokens", &generate_body("hi"))).await;
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn stream_generate_content_sse() {
    let server = start(chunks(4)).await;
    let text = read_sse(send(gemini(&server, STREAM_SSE, &generate_body("stream me"))).await).await;
    assert!(text.ends_with("\r\n\r\n") && !text.contains("[DONE]"));
    let events = sse_payloads(&text);
    assert_eq!(events.len(), 4);
    let joined: String = events.iter().map(candidate_text).collect();
    assert_eq!(joined, "Mock reply to: stream me");
    for event in &events[..3] {
        assert!(event["candidates"][0].get("finishReason").is_none());
        assert!(event.get("usageMetadata").is_none());
        assert_eq!(event["responseId"], events[3]["responseId"]);
    }
    assert_eq!(events[3]["candidates"][0]["finishReason"], "STOP");
    assert!(
        events[3]["usageMetadata"]["candidatesTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(server.stats().streams_completed, 1);

    // Without alt=sse the same responses come as one JSON array.
    let body = send_json(gemini(
        &server,
        "streamGenerateContent",
        &generate_body("stream me"),
    ))
    .await;
    let array = body.as_array().unwrap();
    assert_eq!(array.len(), 4);
    assert_eq!(array[3]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn function_call_when_tools_are_offered() {
    let server = start(MockConfig::default()).await;
    let body = send_json(gemini(&server, "generateContent", &weather_body())).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}])
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");

    // Without tools the same question gets a plain answer.
    let mut no_tools = weather_body();
    no_tools.as_object_mut().unwrap().remove("tools");
    let body = send_json(gemini(&server, "generateContent", &no_tools)).await;
    assert_eq!(
        candidate_text(&body),
        "Mock reply to: What is the Weather in Paris?"
    );

    let (text, _) = read_stream(send(gemini(&server, STREAM_SSE, &weather_body())).await).await;
    let events = sse_payloads(&text);
    assert_eq!(events.len(), 1);
    let candidate = &events[0]["candidates"][0];
    assert_eq!(
        candidate["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert!(events[0]["usageMetadata"].is_object());
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let server = start(MockConfig::default()).await;
    let model = format!("models/{MODEL}");
    let batch = json!({"requests": [
        {"model": model, "content": {"parts": [{"text": "first"}]}},
        {"model": model, "content": {"parts": [{"text": "second"}]}},
        {"model": model, "content": {"parts": [{"text": "first"}]}, "outputDimensionality": 4}
    ]});
    let response = send(gemini(&server, "batchEmbedContents", &batch)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let vectors: Vec<Vec<f64>> = body["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_value(e["values"].clone()).unwrap())
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0].len(), 8);
    assert_eq!(vectors[2].len(), 4);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(vectors[0][..4], vectors[2][..]);
    assert!(vectors.iter().flatten().all(|v| (-1.0..=1.0).contains(v)));

    let first = json!({"content": {"parts": [{"text": "first"}]}});
    let single = send_json(gemini(&server, "embedContent", &first)).await;
    let values: Vec<f64> = serde_json::from_value(single["embedding"]["values"].clone()).unwrap();
    assert_eq!(values, vectors[0]);

    let wrong_model = json!({"requests": [
        {"model": "models/other", "content": {"parts": [{"text": "x"}]}}
    ]});
    let response = send(gemini(&server, "batchEmbedContents", &wrong_model)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn failure_knobs() {
    let server = start(throttled()).await;
    let response = send(gemini(&server, "generateContent", &generate_body("hi"))).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error,
        json!({"error": {"code": 429, "message": "mock: injected failure", "status": "RESOURCE_EXHAUSTED"}})
    );

    server.set_config(cut_after(4, 2));
    let response = send(gemini(&server, STREAM_SSE, &generate_body("cut me"))).await;
    assert_eq!(response.status(), 200);
    let (text, errored) = read_stream(response).await;
    assert!(errored, "the body ends with a transport error");
    let events = sse_payloads(&text);
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));
    let stats = server.stats();
    assert_eq!(stats.streams_completed, 0);
    assert_eq!(stats.failures_injected, 2);
}
