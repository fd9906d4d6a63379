use super::*;
use crate::providers::gemini::request::to_gemini;

fn chat(model: &str, body: Value) -> Value {
    let req = to_chat(model, body.to_string().as_bytes()).unwrap();
    json!({ "model": req.model, "request": req })
}

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

fn weather_declarations() -> Value {
    json!([{"functionDeclarations": [
        {"name": "get_weather", "description": "Current weather for a city",
         "parameters": {"type": "OBJECT", "properties": {
             "city": {"type": "STRING", "description": "City name"},
             "unit": {"type": "STRING", "enum": ["C", "F"], "nullable": true}
         }, "required": ["city"]}},
        {"name": "get_time",
         "parameters": {"type": "OBJECT", "properties": {"tz": {"type": "STRING"}}}},
        {"name": "book_table",
         "parametersJsonSchema": {"type": "object", "properties": {
             "people": {"type": "integer"}
         }, "required": ["people"], "additionalProperties": false}}
    ]}])
}

#[test]
fn request_translation() {
    let cases = json!({
        "system_instruction_and_multi_turn": chat("gemini-2.5-flash", json!({
            "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
            "contents": [
                user("Hi"),
                {"role": "model", "parts": [
                    {"text": "I should greet back.", "thought": true},
                    {"text": "Bonjour", "thoughtSignature": "c2lnbmF0dXJl"},
                    {"text": " !"}
                ]},
                {"parts": [{"text": "How are you?"}, {"text": "Briefly."}]}
            ],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "cachedContent": "cachedContents/abc",
            "labels": {"team": "a"}
        })),
        "inline_image_file_uri_audio_pdf": chat("openai/gpt-4o", json!({
            "contents": [{"role": "user", "parts": [
                {"text": "What is in these?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
                {"fileData": {"fileUri": "https://example.com/dog"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
            ]}]
        })),
        "function_call_and_response_round_trip": chat("anthropic/claude-sonnet-4", json!({
            "contents": [
                user("Weather in Paris and Rome, and the time in Paris?"),
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                    {"functionCall": {"id": "t-1", "name": "get_time", "args": {"tz": "Europe/Paris"}}},
                    {"functionCall": {"name": "get_time"}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 24}}},
                    {"functionResponse": {"id": "t-1", "name": "get_time", "response": {"time": "14:05"}}},
                    {"functionResponse": {"name": "get_time"}},
                    {"text": "Summarise, please."}
                ]},
                {"role": "model", "parts": [{"text": "Paris 18°, Rome 24°, 14:05."}]}
            ],
            "tools": weather_declarations()
        })),
        "uppercase_schema_types_lowercased": chat("m", json!({
            "contents": [user("hi")],
            "tools": [{"functionDeclarations": [{"name": "lookup", "parameters": {
                "type": "OBJECT",
                "properties": {
                    "type": {"type": "STRING", "enum": ["OBJECT", "ARRAY"], "default": "OBJECT"},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                    "filter": {"anyOf": [{"type": "INTEGER"}, {"type": "NUMBER", "nullable": true}]},
                    "nested": {"type": "OBJECT", "nullable": false, "properties": {
                        "flag": {"type": "BOOLEAN", "example": {"type": "KEEP"}}
                    }}
                },
                "propertyOrdering": ["type", "tags"],
                "required": ["type"]
            }}]}]
        })),
        "generation_config": chat("gpt-4o-mini", json!({
            "contents": [user("Tell me a story")],
            "generationConfig": {
                "temperature": 0.7, "topP": 0.95, "topK": 40, "maxOutputTokens": 256,
                "stopSequences": ["THE END"], "candidateCount": 2, "seed": 7,
                "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                "responseMimeType": "text/plain", "responseModalities": ["TEXT"],
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true},
                "speechConfig": {"voiceConfig": {}}
            }
        })),
        "json_schema": chat("m", json!({
            "contents": [user("A recipe")],
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {
                "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]
            }}
        })),
        "response_schema_openapi": chat("m", json!({
            "contents": [user("A recipe")],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": {
                "type": "ARRAY", "items": {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}}
            }, "thinkingConfig": {"thinkingLevel": "HIGH"}}
        })),
        "json_object": chat("m", json!({
            "contents": [user("JSON please")],
            "generationConfig": {"responseMimeType": "application/json",
                                 "thinkingConfig": {"thinkingBudget": 0}}
        })),
    });
    insta::assert_json_snapshot!(cases);
}

#[test]
fn function_calling_modes() {
    let mode = |config: Value| {
        let req = to_chat(
            "m",
            json!({
                "contents": [user("hi")],
                "tools": weather_declarations(),
                "toolConfig": {"functionCallingConfig": config}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let names: Vec<String> = req
            .tools
            .iter()
            .flatten()
            .map(|t| t.function.name.clone())
            .collect();
        json!({ "tool_choice": req.tool_choice, "tools": names })
    };
    let no_tools = to_chat(
            "m",
            json!({"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    insta::assert_json_snapshot!(json!({
        "AUTO": mode(json!({"mode": "AUTO"})),
        "ANY": mode(json!({"mode": "ANY"})),
        "ANY_one_name": mode(json!({"mode": "ANY", "allowedFunctionNames": ["get_time"]})),
        "ANY_two_names": mode(json!({"mode": "ANY", "allowedFunctionNames": ["get_time", "book_table"]})),
        "NONE": mode(json!({"mode": "NONE"})),
        "VALIDATED": mode(json!({"mode": "VALIDATED"})),
        "unspecified": mode(json!({})),
        "AUTO_without_tools": no_tools.tool_choice,
    }));
}

#[test]
fn rejected_requests() {
    let reject = |body: Value| {
        let e = to_chat("m", body.to_string().as_bytes()).unwrap_err();
        json!({ "status": e.status, "message": e.message })
    };
    let cases = json!({
        "google_search_tool": reject(json!({"contents": [user("news?")], "tools": [{"googleSearch": {}}]})),
        "code_execution_tool": reject(json!({"contents": [user("run")], "tools": [{"codeExecution": {}}]})),
        "video_inline_data": reject(json!({"contents": [{"role": "user", "parts": [
            {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}]}]})),
        "pdf_by_uri": reject(json!({"contents": [{"role": "user", "parts": [
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/x", "mimeType": "application/pdf"}}]}]})),
        "executable_code_part": reject(json!({"contents": [{"role": "model", "parts": [
            {"executableCode": {"language": "PYTHON", "code": "print(1)"}}]}]})),
        "image_in_model_turn": reject(json!({"contents": [user("draw"), {"role": "model", "parts": [
            {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]})),
        "orphan_function_response": reject(json!({"contents": [{"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {}}}]}]})),
        "unknown_role": reject(json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]})),
        "empty_contents": reject(json!({"contents": []})),
        "empty_user_turn": reject(json!({"contents": [{"role": "user", "parts": []}]})),
        "any_without_tools": reject(json!({"contents": [user("hi")],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})),
        "undeclared_allowed_name": reject(json!({"contents": [user("hi")], "tools": weather_declarations(),
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["nope"]}}})),
        "image_modality": reject(json!({"contents": [user("hi")],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}})),
        "enum_mime_type": reject(json!({"contents": [user("hi")],
            "generationConfig": {"responseMimeType": "text/x.enum"}})),
        "schema_without_json_mime": reject(json!({"contents": [user("hi")],
            "generationConfig": {"responseSchema": {"type": "STRING"}}})),
        "logprobs": reject(json!({"contents": [user("hi")],
            "generationConfig": {"responseLogprobs": true}})),
        "non_text_system_instruction": reject(json!({"contents": [user("hi")],
            "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA"}}]}})),
        "not_json": json!({"status": to_chat("m", b"{").unwrap_err().status}),
    });
    insta::assert_json_snapshot!(cases);
}

/// The outbound translation of what `to_chat` produced gives the original Gemini body back.
#[test]
fn round_trips_through_the_outbound_gemini_translation() {
    let original = json!({
        "contents": [
            {"role": "user", "parts": [
                {"text": "Weather in Paris?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}
            ]},
            {"role": "model", "parts": [{"text": "18 degrees."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]}
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{
            "name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}
        }]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {
            "temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 100,
            "stopSequences": ["END"], "candidateCount": 1, "seed": 3,
            "presencePenalty": 0.5, "frequencyPenalty": 0.25,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
        }
    });
    let req = to_chat("gemini-2.5-flash", original.to_string().as_bytes()).unwrap();
    let back = serde_json::to_value(to_gemini(&req).unwrap()).unwrap();
    assert_eq!(back, original);
}

#[test]
fn embedding_translation() {
    let one = |body: Value| {
        let req = to_embedding("openai/text-embedding-3-small", body.to_string().as_bytes());
        req.map_or_else(
            |e| json!({ "status": e.status, "message": e.message }),
            |r| json!({ "model": r.model, "request": r }),
        )
    };
    let batch = |body: Value| {
        let req = to_batch_embedding("text-embedding-004", body.to_string().as_bytes());
        req.map_or_else(
            |e| json!({ "status": e.status, "message": e.message }),
            |r| json!({ "model": r.model, "request": r }),
        )
    };
    let content = |texts: &[&str]| {
        let parts: Vec<Value> = texts.iter().map(|t| json!({ "text": t })).collect();
        json!({ "parts": parts })
    };
    insta::assert_json_snapshot!(json!({
        "one_text": one(json!({"content": content(&["Hello world"])})),
        "parts_joined_and_dimensions": one(json!({
            "model": "models/openai/text-embedding-3-small",
            "content": content(&["Title", "Body"]),
            "taskType": "RETRIEVAL_DOCUMENT", "title": "Doc", "outputDimensionality": 256})),
        "batch": batch(json!({"requests": [
            {"model": "models/text-embedding-004", "content": content(&["a"]), "outputDimensionality": 64},
            {"content": content(&["b", "c"]), "outputDimensionality": 64}]})),
        "rejected": {
            "no_content": one(json!({})),
            "image_part": one(json!({"content": {"parts": [
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}})),
            "empty_batch": batch(json!({"requests": []})),
            "other_model_in_batch": batch(json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": content(&["a"])}]})),
            "mixed_dimensions": batch(json!({"requests": [
                {"content": content(&["a"]), "outputDimensionality": 64},
                {"content": content(&["b"])}]})),
            "not_json": json!({"status": to_embedding("m", b"[").unwrap_err().status}),
        },
    }));
}

#[test]
fn embedding_response_translation() {
    // Out of order on purpose: the answer follows `index`.
    let resp: EmbeddingResponse = serde_json::from_value(json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 0, "embedding": [0.125, 1.0]}
        ],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}
    }))
    .unwrap();
    insta::assert_json_snapshot!(json!({
        "embedContent": from_embedding(&resp),
        "batchEmbedContents": from_batch_embedding(&resp),
    }));
}

fn completion(body: Value) -> ChatCompletion {
    serde_json::from_value(body).unwrap()
}

#[test]
fn response_translation() {
    let text = completion(json!({
        "id": "chatcmpl-1", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                  "prompt_tokens_details": {"cached_tokens": 0}}
    }));
    let tool_calls = completion(json!({
        "id": "chatcmpl-2",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            {"id": "call_c", "type": "function", "function": {"name": "broken", "arguments": "{\"a\":"}}
        ]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 15, "total_tokens": 35}
    }));
    let reasoning = completion(json!({
        "id": "chatcmpl-3",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "42",
            "reasoning_content": "The question is about life."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                  "prompt_tokens_details": {"cached_tokens": 64},
                  "completion_tokens_details": {"reasoning_tokens": 40}}
    }));
    let max_tokens_and_filter = completion(json!({
        "id": "chatcmpl-4",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Once upon a"}, "finish_reason": "length"},
            {"index": 1, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
             "finish_reason": "content_filter"}
        ]
    }));
    insta::assert_json_snapshot!(json!({
        "text": from_chat(&text, "gpt-4o-mini"),
        "tool_calls": from_chat(&tool_calls, "gpt-4o-mini"),
        "reasoning": from_chat(&reasoning, "o4-mini"),
        "max_tokens_and_content_filter": from_chat(&max_tokens_and_filter, "gpt-4o-mini"),
    }));
}

/// A recorded OpenAI stream: role chunk, text deltas, two tool calls with split arguments,
/// `finish_reason: tool_calls`, then the usage chunk.
fn recorded_chunks() -> Vec<ChatCompletionChunk> {
    [
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"reasoning_content":"Two cities."},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"content":"Let me "},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"content":"check."},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_p","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_r","type":"function","function":{"name":"get_weather","arguments":"{\"ci"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"ty\":\"Rome\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-9","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"chatcmpl-9","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":25,"total_tokens":55,"completion_tokens_details":{"reasoning_tokens":5}}}"#,
        ]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn stream_translation() {
    let mut enc = StreamEncoder::new("gpt-4o");
    let per_chunk: Vec<Vec<Value>> = recorded_chunks().iter().map(|c| enc.on_chunk(c)).collect();
    let finish = enc.finish();
    assert!(
        finish.is_empty(),
        "everything was sent with the usage chunk"
    );
    insta::assert_json_snapshot!(per_chunk);
}

#[test]
fn finish_flushes_once() {
    let mut chunks = recorded_chunks();
    chunks.pop(); // no usage chunk
    chunks.pop(); // no finish either: the stream was cut mid-call
    let mut enc = StreamEncoder::new("gpt-4o");
    let sent: Vec<Value> = chunks.iter().flat_map(|c| enc.on_chunk(c)).collect();
    let first = enc.finish();
    assert_eq!(enc.finish(), Vec::<Value>::new());
    // The call completed by the next index went out at once; the cut one only at finish.
    let calls = |vals: &[Value]| -> Vec<Value> {
        vals.iter()
            .flat_map(|v| v["candidates"].as_array().cloned().unwrap_or_default())
            .flat_map(|c| {
                c["content"]["parts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.get("functionCall").cloned())
            .collect()
    };
    assert_eq!(
        calls(&sent),
        vec![json!({"id": "call_p", "name": "get_weather", "args": {"city": "Paris"}})]
    );
    assert_eq!(
        calls(&first),
        vec![json!({"id": "call_r", "name": "get_weather", "args": {"city": "Rome"}})]
    );
    assert!(first.iter().all(|r| r.get("usageMetadata").is_none()));

    // A finish without usage is held, then sent by finish(), once.
    let mut enc = StreamEncoder::new("m");
    let finish: ChatCompletionChunk = serde_json::from_value(json!({
        "id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]
    }))
    .unwrap();
    let sent = enc.on_chunk(&finish);
    assert_eq!(sent.len(), 1, "the text goes out at once");
    assert_eq!(
        sent[0]["candidates"][0]["content"]["parts"],
        json!([{"text": "Hi"}])
    );
    let closing = enc.finish();
    assert_eq!(closing.len(), 1);
    assert_eq!(closing[0]["candidates"][0]["finishReason"], json!("STOP"));
    assert!(enc.finish().is_empty());
}

#[test]
fn usage_on_the_finish_chunk_is_merged() {
    let mut enc = StreamEncoder::new("m");
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({
        "id": "x",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    }))
    .unwrap();
    let out = enc.on_chunk(&chunk);
    assert_eq!(
        out,
        vec![json!({
            "candidates": [{"content": {"role": "model", "parts": []}, "index": 0, "finishReason": "MAX_TOKENS"}],
            "modelVersion": "m",
            "responseId": "x",
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}
        })]
    );
    assert!(enc.finish().is_empty());
}

#[test]
fn errors_carry_google_status_names() {
    let status = |e: BifrostError| error_body(&e)["error"]["status"].clone();
    assert_eq!(
        error_body(&BifrostError::invalid_request("bad")),
        json!({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
    );
    assert_eq!(
        status(BifrostError::missing_key("k")),
        json!("UNAUTHENTICATED")
    );
    assert_eq!(
        status(BifrostError::model_not_found("m")),
        json!("NOT_FOUND")
    );
    assert_eq!(
        status(BifrostError::upstream("p", 403, b"{}", None)),
        json!("PERMISSION_DENIED")
    );
    assert_eq!(
        status(BifrostError::upstream("p", 429, b"{}", None)),
        json!("RESOURCE_EXHAUSTED")
    );
    assert_eq!(status(BifrostError::internal("x")), json!("INTERNAL"));
    assert_eq!(status(BifrostError::queue_full("p")), json!("UNAVAILABLE"));
    assert_eq!(
        status(BifrostError::timeout(
            "p",
            "total",
            std::time::Duration::from_secs(1)
        )),
        json!("DEADLINE_EXCEEDED")
    );
}

#[test]
fn counts_tokens_by_estimate() {
    // 16 characters → 4 tokens.
    let plain = json!({"contents": [user("0123456789abcdef")]});
    assert_eq!(
        count_tokens("m", plain.to_string().as_bytes()).unwrap(),
        json!({"totalTokens": 4})
    );
    // The SDK may wrap the request; an image adds 258; one character still counts as 1.
    let wrapped = json!({"generateContentRequest": {"model": "models/m", "contents": [
        {"role": "user", "parts": [{"text": "a"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}]}
    ]}});
    assert_eq!(
        count_tokens("m", wrapped.to_string().as_bytes()).unwrap(),
        json!({"totalTokens": 259})
    );
    assert_eq!(
        count_tokens("m", json!({"contents": [user("")]}).to_string().as_bytes())
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn unnamed_calls_and_fractional_seeds_are_refused() {
    let reject = |body: Value| to_chat("m", body.to_string().as_bytes()).unwrap_err();
    let e = reject(json!({"contents": [user("hi"), {"role": "model", "parts": [
        {"functionCall": {"args": {}}}]}]}));
    assert_eq!(e.status, 400);
    assert_eq!(
        e.message,
        "contents[1].parts[0]: a functionCall needs a name"
    );
    let e = reject(json!({"contents": [user("hi")], "generationConfig": {"seed": 1.5}}));
    assert_eq!(
        (e.status, e.message.as_str()),
        (400, "generationConfig.seed must be an integer, got 1.5")
    );
}
