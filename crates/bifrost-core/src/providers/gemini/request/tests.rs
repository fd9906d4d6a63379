use super::*;
use crate::providers::test_fixtures::{
    assert_all_rejected, chat_request as request, common_rejections, decoding_rejections,
    error_summary, field, minimal_body, option_rejections, rejected_embeddings, rejections,
    time_result, time_tool, weather_and_time_calls, weather_tool, with_tool_choice,
};
use serde_json::Map;

fn translate(body: Value) -> Value {
    serde_json::to_value(to_gemini(&request(body)).unwrap()).unwrap()
}

fn weather_tools() -> Value {
    json!([
        weather_tool(),
        time_tool(),
        {"type": "function", "function": {
            "name": "book_table", "strict": true,
            "parameters": {"type": "object", "properties": {
                "people": {"type": "integer"}
            }, "required": ["people"], "additionalProperties": false}
        }}
    ])
}

#[test]
fn full_conversation() {
    let out = translate(json!({
        "model": "gemini/gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You are a travel assistant."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in metric units."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Where was this taken, and what is the weather there?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/eiffel.JPG?size=large", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}
            ]},
            {"role": "assistant", "content": "Paris, France. Let me check.",
             "tool_calls": weather_and_time_calls("call_0", "call_1")},
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"temperature\": 18, \"sky\": \"light rain\"}"},
            time_result("call_1"),
            {"role": "user", "content": "Should I bring an umbrella?"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": [{"type": "text", "text": "Yes, light rain is expected."}]},
            {"role": "user", "content": "Thanks!"}
        ],
        "max_completion_tokens": 1024,
        "max_tokens": 99,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "n": 2,
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "stop": ["END"],
        "user": "user-1234",
        "tools": weather_tools(),
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "reasoning_effort": "medium",
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
                       "required": ["answer"], "additionalProperties": false}
        }},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "logprobs": false,
        "top_logprobs": 3,
        "store": true,
        "stream": true,
        "stream_options": {"include_usage": true},
        "fallbacks": ["openai/gpt-4o"]
    }));
    insta::assert_json_snapshot!(out);
}

#[test]
fn minimal_request_has_no_optional_sections() {
    let out = translate(json!({
        "model": "gemini-2.0-flash",
        "messages": [{"role": "user", "content": "Hi"}]
    }));
    assert_eq!(
        out,
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
    );
}

#[test]
fn tool_choice_variants() {
    let cases = [
        ("auto", json!("auto")),
        ("none", json!("none")),
        ("required", json!("required")),
        (
            "function",
            json!({"type": "function", "function": {"name": "get_time"}}),
        ),
        ("absent", Value::Null),
    ];
    let mut out = Map::new();
    for (name, choice) in cases {
        let body = minimal_body(json!({"tools": weather_tools(), "parallel_tool_calls": false}));
        let translated = translate(with_tool_choice(body, choice));
        out.insert(name.into(), field(&translated, "toolConfig"));
    }
    // Without tools there is nothing to choose from.
    for choice in ["auto", "none"] {
        let t = translate(minimal_body(json!({"tool_choice": choice})));
        assert!(t.get("toolConfig").is_none(), "{choice}");
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn response_formats_and_reasoning_efforts() {
    let mut out = Map::new();
    for (name, format) in [
        ("text", json!({"type": "text"})),
        ("json_object", json!({"type": "json_object"})),
        (
            "json_schema",
            json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}),
        ),
    ] {
        let t = translate(minimal_body(json!({"response_format": format})));
        out.insert(
            format!("response_format {name}"),
            field(&t, "generationConfig"),
        );
    }
    for model in ["gemini-2.5-pro", "google/gemini-3-pro-preview"] {
        for effort in ["none", "minimal", "low", "medium", "high"] {
            let t = translate(json!({
                "model": model, "messages": [{"role": "user", "content": "x"}],
                "reasoning_effort": effort
            }));
            out.insert(
                format!("{model} {effort}"),
                t["generationConfig"]["thinkingConfig"].clone(),
            );
        }
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn rejected_requests() {
    let cases = common_rejections()
        .into_iter()
        .chain(decoding_rejections())
        .chain(option_rejections())
        .chain([
            (
                "empty_user_message",
                json!({"model": "m", "messages": [{"role": "user", "content": ""}]}),
            ),
            (
                "tool_choice_required_without_tools",
                minimal_body(json!({"tool_choice": "required"})),
            ),
            (
                "tool_choice_undeclared_function",
                minimal_body(json!({"tools": weather_tools(),
                       "tool_choice": {"type": "function", "function": {"name": "nope"}}})),
            ),
            (
                "tool_result_for_unknown_call",
                json!({"model": "m", "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "call_9", "content": "42"}
                ]}),
            ),
        ]);
    let out = rejections(cases, |body| to_gemini(&request(body)), error_summary);
    insta::assert_json_snapshot!(out);
}

#[test]
fn tool_result_falls_back_to_the_message_name_and_audio_and_files_are_inline() {
    let out = translate(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
            ]},
            {"role": "tool", "tool_call_id": "elsewhere", "name": "lookup", "content": "[1,2]"}
        ]
    }));
    assert_eq!(
        out["contents"],
        json!([
            {"role": "user", "parts": [
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "lookup", "response": {"content": "[1,2]"}}}
            ]}
        ])
    );
}

#[test]
fn embeddings() {
    let req: EmbeddingRequest = serde_json::from_value(json!({
        "model": "gemini/text-embedding-004",
        "input": ["first text", "second text"],
        "dimensions": 256,
        "encoding_format": "base64",
        "user": "u-1"
    }))
    .unwrap();
    let out = serde_json::to_value(embed_request("text-embedding-004", &req).unwrap()).unwrap();
    insta::assert_json_snapshot!(out);

    let single: EmbeddingRequest =
        serde_json::from_value(json!({"model": "m", "input": "one"})).unwrap();
    let out = serde_json::to_value(embed_request("models/m", &single).unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"requests": [{"model": "models/m", "content": {"parts": [{"text": "one"}]}}]})
    );

    assert_all_rejected(rejected_embeddings(), |body| {
        embed_request("m", &serde_json::from_value(body.clone()).unwrap())
    });
}

/// Gemini's answer → OpenAI shape → the next request: the call's thought signature goes back
/// beside its `functionCall`, as Gemini 3 requires; a call without one stays a plain part.
#[test]
fn thought_signatures_round_trip_on_function_calls() {
    let answer = crate::providers::gemini::response::from_gemini(
        "gemini",
        "gemini-3-pro",
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
             "thoughtSignature": "CiQB0e2K"},
            {"functionCall": {"name": "get_time", "args": {}}}]},
            "finishReason": "STOP"}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let message = serde_json::to_value(&answer.choices[0].message).unwrap();
    assert_eq!(
        message["tool_calls"][0]["extra_content"],
        json!({"google": {"thought_signature": "CiQB0e2K"}})
    );
    let out = translate(json!({"model": "gemini-3-pro", "messages": [
        {"role": "user", "content": "Weather and time in Paris?"},
        message,
        {"role": "tool", "tool_call_id": "call_0", "name": "get_weather", "content": "sun"},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_time", "content": "noon"}
    ]}));
    assert_eq!(
        out["contents"][1]["parts"],
        json!([
            {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
             "thoughtSignature": "CiQB0e2K"},
            {"functionCall": {"name": "get_time", "args": {}}}
        ])
    );
}
