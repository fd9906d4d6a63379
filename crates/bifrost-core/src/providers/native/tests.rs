use super::*;
use crate::error::ErrorClass;
use eventsource_stream::Eventsource;

fn edit(body: &str, edits: &[FieldEdit<'_>]) -> String {
    String::from_utf8(edit_object(body.as_bytes(), edits).unwrap()).unwrap()
}

#[test]
fn edits_keep_order_and_the_bytes_of_untouched_values() {
    let body = r#"{ "x":1.50, "model" : "gpt-4o", "s":"caf\u00e9 \/", "n":{"b":1,"a":[1e2, 2]},
            "provider":"openai", "z":null }"#;
    let out = edit(
        body,
        &[
            FieldEdit::Set("model", r#""m2""#),
            FieldEdit::Remove("provider"),
        ],
    );
    assert_eq!(
        out,
        r#"{"x":1.50,"model":"m2","s":"caf\u00e9 \/","n":{"b":1,"a":[1e2, 2]},"z":null}"#
    );
}

#[test]
fn a_missing_field_is_appended_and_a_merge_keeps_the_other_fields() {
    let out = edit(r#"{"b":2,"a":1}"#, &[FieldEdit::Set("model", r#""m""#)]);
    assert_eq!(out, r#"{"b":2,"a":1,"model":"m"}"#);

    let out = openai_chat_body(
            br#"{"model":"openai/gpt","stream":true,"stream_options":{"z":1,"include_usage":false},"fallbacks":["a/b"],"q":"\u2028"}"#,
            "gpt",
            true,
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"model":"gpt","stream":true,"stream_options":{"z":1,"include_usage":true},"q":"\u2028"}"#
    );
    let out = openai_chat_body(br#"{"model":"a","stream":true}"#, "b", true).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"model":"b","stream":true,"stream_options":{"include_usage":true}}"#
    );
    let out = openai_chat_body(br#"{"stream_options":null}"#, "b", false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"stream_options":null,"model":"b"}"#
    );
}

#[test]
fn a_body_that_is_not_an_object_is_the_clients_error() {
    for body in ["[1]", "\"x\"", "{\"a\":", "", "{} x"] {
        let e = edit_object(body.as_bytes(), &[]).unwrap_err();
        assert_eq!(e.class, ErrorClass::InvalidRequest, "{body}");
    }
    assert_eq!(edit("{}", &[]), "{}");
}

#[test]
fn escaped_keys_are_matched_by_their_value() {
    let out = model_body(br#"{"mod\u0065l":"x","a\"b":1}"#, "y").unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"model":"y","a\"b":1}"#);
}

#[test]
fn client_headers_replace_the_gateways_and_keep_every_value() {
    let mut client = HeaderMap::new();
    client.append("anthropic-beta", "a".parse().unwrap());
    client.append("anthropic-beta", "b".parse().unwrap());
    client.insert("x-api-key", "client-key".parse().unwrap());
    let mut h = HeaderMap::new();
    h.insert("anthropic-version", "2023-06-01".parse().unwrap());
    let allowed = ["anthropic-version", "anthropic-beta"].map(HeaderName::from_static);
    copy_client_headers(&mut h, &client, &allowed);
    assert_eq!(h["anthropic-version"], "2023-06-01");
    let betas: Vec<_> = h.get_all("anthropic-beta").iter().collect();
    assert_eq!(betas, ["a", "b"]);
    assert!(h.get("x-api-key").is_none());
}

#[test]
fn usage_of_json_answers() {
    let u = anthropic_usage(
            br#"{"content":[],"usage":{"input_tokens":3,"output_tokens":5,"cache_read_input_tokens":10,"cache_creation_input_tokens":2}}"#,
        )
        .unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (15, 5));
    assert_eq!(u.extra["prompt_tokens_details"]["cached_tokens"], 10);
    let u = openai_chat_usage(
        br#"{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
    )
    .unwrap();
    assert_eq!(u.total_tokens, 3);
    let u = responses_usage(br#"{"usage":{"input_tokens":4,"output_tokens":6,"input_tokens_details":{"cached_tokens":1}}}"#)
            .unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (4, 6, 10)
    );
    let u = gemini_usage(br#"{"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"thoughtsTokenCount":4}}"#)
            .unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (2, 7));
    assert!(openai_chat_usage(b"{}").is_none());
}

#[test]
fn usage_is_read_from_the_top_level_object_only() {
    let tokens = |body: &str| openai_chat_usage(body.as_bytes()).map(|u| u.total_tokens);
    // Where OpenAI writes it, after the choices, with fields after it.
    let answer = r#"{"id":"x","choices":[{"message":{"content":"say \"usage\": {}"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"system_fingerprint":"fp"}"#;
    assert_eq!(tokens(answer), Some(3));
    // A nested `usage` after the real one: the tail from it does not parse, the body does.
    let nested_last = r#"{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"x":{"usage":{"total_tokens":99}}}"#;
    assert_eq!(tokens(nested_last), Some(2));
    // Only a nested one: none at the top level.
    assert_eq!(
        tokens(r#"{"choices":[{"usage":{"total_tokens":5}}]}"#),
        None
    );
    // Text that looks like a key inside a string is not one.
    assert_eq!(
        tokens(r#"{"content":"a,\"usage\":{\"total_tokens\":7}}"}"#),
        None
    );
    assert_eq!(tokens(r#"{"usage":null}"#), None);
    // Pretty-printed (Gemini's style), and a key with a space before its colon (whole read).
    let pretty = "{\n  \"usage\": {\"prompt_tokens\": 2, \"completion_tokens\": 2, \"total_tokens\": 4}\n}\n";
    assert_eq!(tokens(pretty), Some(4));
    let spaced = r#"{"usage" : {"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}"#;
    assert_eq!(tokens(spaced), Some(1));
    let gemini = "{\"candidates\": [],\n \"usageMetadata\": {\"promptTokenCount\": 2, \"candidatesTokenCount\": 3},\n \"modelVersion\": \"g\"}";
    assert_eq!(
        gemini_usage(gemini.as_bytes()).map(|u| u.total_tokens),
        Some(5)
    );
}

fn events(sse: &str) -> EventStream {
    let bytes = futures::stream::iter(
        sse.as_bytes()
            .chunks(23)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    Box::pin(bytes.eventsource().map(|ev| {
        ev.map_err(|e| BifrostError::stream_error("p", e.to_string(), "upstream_stream_error"))
    }))
}

async fn relayed<R: Relay>(
    sse: &str,
    relay: R,
) -> Result<(String, Option<BifrostError>, Option<Usage>), BifrostError> {
    let s = relay_sse("p", events(sse), relay, UsageCell::default()).await?;
    let items: Vec<_> = s.bytes.collect().await;
    let mut text = String::new();
    let mut err = None;
    for item in items {
        match item {
            Ok(b) => text.push_str(std::str::from_utf8(&b).unwrap()),
            Err(e) => err = Some(e),
        }
    }
    Ok((text, err, s.usage.get()))
}

const ANTHROPIC: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":2,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

#[tokio::test]
async fn anthropic_events_are_relayed_as_sent_with_usage() {
    let (text, err, usage) = relayed(ANTHROPIC, AnthropicRelay::new("p")).await.unwrap();
    assert_eq!(text, ANTHROPIC);
    assert!(err.is_none());
    let u = usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 9));
}

#[tokio::test]
async fn anthropic_error_before_content_fails_the_attempt_and_after_it_is_relayed() {
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let (start, rest) = ANTHROPIC.split_at(ANTHROPIC.find("event: content_block_start").unwrap());
    let early = format!("{start}{error}{rest}");
    let e = relayed(&early, AnthropicRelay::new("p")).await.unwrap_err();
    assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
    assert_eq!(e.error_type, "overloaded_error");

    let cut = ANTHROPIC.find("event: message_delta").unwrap();
    let late = format!("{}{error}", &ANTHROPIC[..cut]);
    let (text, err, _) = relayed(&late, AnthropicRelay::new("p")).await.unwrap();
    assert_eq!(text, late);
    assert!(err.is_none());
}

#[tokio::test]
async fn a_stream_without_its_terminal_event_is_truncated() {
    let cut = &ANTHROPIC[..ANTHROPIC.find("event: message_stop").unwrap()];
    let (text, err, _) = relayed(cut, AnthropicRelay::new("p")).await.unwrap();
    assert_eq!(text, cut);
    let e = err.unwrap();
    assert_eq!(e.code.as_deref(), Some("upstream_stream_truncated"));
    assert!(e.message.contains("message_stop"), "{}", e.message);

    let before_content = &ANTHROPIC[..ANTHROPIC.find("event: content_block_start").unwrap()];
    let e = relayed(before_content, AnthropicRelay::new("p"))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::StreamError);
}

const CHAT: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"x\":1.50}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n",
        "data: [DONE]\n\n",
    );

#[tokio::test]
async fn chat_usage_chunk_is_read_and_dropped_unless_asked_for() {
    let (text, err, usage) = relayed(CHAT, OpenAiChatRelay::new("p", true))
        .await
        .unwrap();
    assert_eq!(text, CHAT);
    assert!(err.is_none());
    assert_eq!(usage.unwrap().total_tokens, 7);

    let (text, _, usage) = relayed(CHAT, OpenAiChatRelay::new("p", false))
        .await
        .unwrap();
    assert!(
        !text.contains("usage") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert_eq!(usage.unwrap().total_tokens, 7);

    let e = relayed(
        "data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate\"}}\n\n",
        OpenAiChatRelay::new("p", false),
    )
    .await
    .unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (502, "slow down"));
    let (_, err, _) = relayed(
        &CHAT[..CHAT.find("data: [DONE]").unwrap()],
        OpenAiChatRelay::new("p", true),
    )
    .await
    .unwrap();
    assert!(err.unwrap().message.contains("[DONE]"));
}

#[tokio::test]
async fn responses_usage_comes_from_response_completed() {
    let sse = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":2,\"output_tokens\":3,\"total_tokens\":5}}}\n\n",
        );
    let (text, err, usage) = relayed(sse, OpenAiResponsesRelay::new("p")).await.unwrap();
    assert_eq!(text, sse);
    assert!(err.is_none());
    let u = usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (2, 3));

    let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n";
    let e = relayed(failed, OpenAiResponsesRelay::new("p"))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (502, "boom"));
}

#[tokio::test]
async fn gemini_ends_cleanly_only_after_a_finish_reason() {
    let sse = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\",\"thoughtSignature\":\"c2ln\"}]}}]}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":3}}\r\n\r\n",
        );
    let (text, err, usage) = relayed(sse, GeminiRelay::new("p")).await.unwrap();
    assert_eq!(text, sse.replace("\r\n", "\n"));
    assert!(err.is_none());
    assert_eq!(usage.unwrap().total_tokens, 5);

    let cut = &sse[..sse
        .find("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!")
        .unwrap()];
    let (_, err, _) = relayed(cut, GeminiRelay::new("p")).await.unwrap();
    assert!(err.unwrap().message.contains("finishReason"));

    let e = relayed(
            "data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n",
            GeminiRelay::new("p"),
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.class), (502, ErrorClass::Transient));
}
