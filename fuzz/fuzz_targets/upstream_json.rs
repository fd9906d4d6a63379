//! Unary upstream answers in every provider's JSON shape (chat, embeddings, rerank, model
//! lists, usage), then every client encoding of what parsed. The first byte picks the shape.
#![no_main]
use bifrost_core::providers::{anthropic, bedrock, cohere, gemini, native, openai};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let chat = match which % 12 {
        0 => openai::parse_completion("p", body).ok(),
        1 => anthropic::response::from_anthropic("p", body).ok(),
        2 => gemini::response::from_gemini("p", "m", body).ok(),
        3 => cohere::response::from_cohere("p", "m", body).ok(),
        4 => bedrock::response::from_converse("p", "m", body).ok(),
        5 => {
            let _ = openai::parse_embedding("p", body);
            let _ = gemini::response::embed_response("p", "m", body);
            let _ = cohere::response::embed_response("p", "m", body);
            None
        }
        6 => {
            let req = serde_json::from_str(
                r#"{"model":"m","query":"q","documents":["a","b",{"text":"c"}]}"#,
            )
            .expect("a valid rerank request");
            let _ = cohere::response::rerank_response("p", "m", &req, body);
            None
        }
        7 => {
            let _ = openai::model_ids("p", body);
            None
        }
        8 => {
            let _ = native::anthropic_usage(body);
            let _ = native::openai_chat_usage(body);
            let _ = native::responses_usage(body);
            let _ = native::gemini_usage(body);
            None
        }
        9 => {
            if let Ok(text) = std::str::from_utf8(body) {
                if let Ok(Some(chunk)) = openai::parse_chunk("p", text) {
                    bifrost_fuzz::encode_chunks(&[chunk]);
                }
            }
            None
        }
        10 => {
            let _ = bedrock::stream::exception_error("p", "throttlingException", body);
            None
        }
        _ => {
            let _ = openai::raw_response(None, bytes::Bytes::copy_from_slice(body));
            None
        }
    };
    if let Some(c) = chat {
        bifrost_fuzz::encode_completion(&c);
    }
});
