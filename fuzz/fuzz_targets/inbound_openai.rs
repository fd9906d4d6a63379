//! OpenAI-format client bodies (`/v1/chat/completions`, `/v1/embeddings`, the raw routes) and
//! the same-format passthrough edits, then every outbound translation.
#![no_main]
use bifrost_core::providers::native;
use bifrost_core::{ChatRequest, EmbeddingRequest, RawRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<ChatRequest>(data) {
        bifrost_fuzz::translate(&req);
    }
    if let Ok(req) = serde_json::from_slice::<EmbeddingRequest>(data) {
        bifrost_fuzz::translate_embedding(&req);
    }
    if let Ok(map) = serde_json::from_slice(data) {
        let _ = RawRequest::from_json(map);
    }
    let _ = native::openai_chat_body(data, "provider/m", true);
    let _ = native::model_body(data, "m");
});
