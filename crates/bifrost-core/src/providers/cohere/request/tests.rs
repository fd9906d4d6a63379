use super::*;
use crate::error::ErrorClass;
use crate::providers::test_fixtures::{
    assert_all_rejected, audio_part, chat_request as request, common_rejections, error_summary,
    field, lookup_tools, minimal_body, option_rejections, parts_body, rejected_embeddings,
    rejections, time_result, time_tool, weather_and_time_calls, weather_tool, with_tool_choice,
};

fn translate(body: Value) -> Value {
    serde_json::to_value(to_cohere("command-a-03-2025", &request(body), false).unwrap()).unwrap()
}

#[test]
fn full_conversation_with_images_tools_and_results() {
    let mut strict_weather = weather_tool();
    strict_weather["function"]["strict"] = json!(true);
    let out = translate(json!({
        "model": "cohere/command-a",
        "messages": [
            {"role": "system", "content": "You are a travel assistant."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in metric units."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Where was this taken, and what is the weather there?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/eiffel.jpg", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}
            ]},
            {"role": "assistant", "content": "Paris, France. Let me check the weather.",
             "tool_calls": weather_and_time_calls("get_weather_1", "get_time_2")},
            {"role": "tool", "tool_call_id": "get_weather_1", "content": "{\"temp\":18,\"sky\":\"light rain\"}"},
            time_result("get_time_2"),
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "get_weather_3", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Lyon\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "get_weather_3", "content": "sunny"},
            {"role": "assistant", "content": "Light rain in Paris; take an umbrella.",
             "reasoning_content": "not sent back"},
            {"role": "user", "content": "Thanks!"}
        ],
        "max_completion_tokens": 1024,
        "max_tokens": 99,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stop": "\n\nUser:",
        "seed": 42,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "user": "user-1234",
        "tools": [strict_weather, time_tool()],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "reasoning_effort": "high",
        "safety_mode": "CONTEXTUAL",
        "logprobs": false,
        "logit_bias": {},
        "metadata": {"trace": "x"},
        "fallbacks": ["openai/gpt-4o"]
    }));
    insta::assert_json_snapshot!(out);
}

#[test]
fn minimal_streaming_request() {
    let req = request(json!({
        "model": "command-r",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": true
    }));
    let out = serde_json::to_value(to_cohere("command-r-08-2024", &req, true).unwrap()).unwrap();
    assert_eq!(
        out,
        json!({
            "model": "command-r-08-2024",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": true
        })
    );
}

#[test]
fn tool_choice_variants() {
    let mut out = Map::new();
    for (name, choice) in [
        ("auto", json!("auto")),
        ("none", json!("none")),
        ("required", json!("required")),
        ("absent", Value::Null),
    ] {
        let body = with_tool_choice(minimal_body(json!({"tools": lookup_tools()})), choice);
        out.insert(name.into(), field(&translate(body), "tool_choice"));
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn response_formats_and_reasoning() {
    let mut out = Map::new();
    let cases = [
        ("text", json!({"response_format": {"type": "text"}})),
        (
            "json_object",
            json!({"response_format": {"type": "json_object"}}),
        ),
        (
            "json_schema",
            json!({"response_format": {"type": "json_schema", "json_schema": {
                "name": "person", "strict": true,
                "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                           "required": ["name"]}
            }}}),
        ),
        ("effort_none", json!({"reasoning_effort": "none"})),
        ("effort_low", json!({"reasoning_effort": "low"})),
        (
            "native_thinking_wins",
            json!({"reasoning_effort": "high",
                       "thinking": {"type": "enabled", "token_budget": 2048}}),
        ),
        (
            "anthropic_thinking_budget",
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ),
        (
            "native_k_and_strict",
            json!({"k": 5, "strict_tools": false}),
        ),
    ];
    for (name, fields) in cases {
        let mut translated = translate(minimal_body(fields));
        let obj = translated.as_object_mut().unwrap();
        for k in ["model", "messages", "stream"] {
            obj.remove(k);
        }
        out.insert(name.into(), translated);
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn rejected_requests() {
    let cases = common_rejections()
        .into_iter()
        .chain(option_rejections())
        .chain([
            ("n_2", minimal_body(json!({"n": 2}))),
            (
                "named_tool_choice",
                minimal_body(json!({"tools": lookup_tools(),
                       "tool_choice": {"type": "function", "function": {"name": "lookup"}}})),
            ),
            ("top_logprobs", minimal_body(json!({"top_logprobs": 3}))),
            ("unsupported_part_type", parts_body("user", audio_part())),
        ]);
    let out = rejections(
        cases,
        |body| to_cohere("m", &request(body), false),
        error_summary,
    );
    insta::assert_json_snapshot!(out);
}

fn embedding(body: Value) -> EmbeddingRequest {
    serde_json::from_value(body).unwrap()
}

#[test]
fn embed_requests() {
    let mut out = Map::new();
    let cases = [
        (
            "one_text",
            json!({"model": "cohere/embed-v4.0", "input": "hello"}),
        ),
        (
            "texts_dimensions_and_input_type",
            json!({"model": "embed-v4.0", "input": ["a", "b"], "dimensions": 256,
                       "encoding_format": "base64", "input_type": "search_query",
                       "truncate": "END", "user": "u-1"}),
        ),
    ];
    for (name, body) in cases {
        let req = embedding(body);
        out.insert(
            name.into(),
            serde_json::to_value(embed_request("embed-v4.0", &req).unwrap()).unwrap(),
        );
    }
    insta::assert_json_snapshot!(out);
}

#[test]
fn embed_rejections() {
    let mut bodies = rejected_embeddings();
    bodies.extend([
        json!({"model": "m", "input": "x", "encoding_format": "int8"}),
        json!({"model": "m", "input": "x", "input_type": 3}),
    ]);
    assert_all_rejected(bodies, |body| embed_request("m", &embedding(body.clone())));
}

#[test]
fn rerank_requests() {
    let req: RerankRequest = serde_json::from_value(json!({
        "model": "cohere/rerank-v3.5",
        "query": "capital of France",
        "documents": ["Paris is the capital of France.", {"text": "Berlin is in Germany."}],
        "top_n": 1
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(rerank_request("rerank-v3.5", &req).unwrap()).unwrap(),
        json!({
            "model": "rerank-v3.5",
            "query": "capital of France",
            "documents": ["Paris is the capital of France.", "Berlin is in Germany."],
            "top_n": 1
        })
    );
    let bad: RerankRequest = serde_json::from_value(json!({
        "model": "m", "query": "q", "documents": [{"title": "no text"}]
    }))
    .unwrap();
    let e = rerank_request("m", &bad).unwrap_err();
    assert_eq!(e.class, ErrorClass::InvalidRequest);
}
