//! GenAI client bodies (`/genai/v1beta/models/{model}:{action}`): generateContent,
//! countTokens, embedContent and batchEmbedContents, then every outbound translation.
#![no_main]
use bifrost_core::inbound::genai;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = genai::to_chat("gemini-2.0-flash", data) {
        bifrost_fuzz::translate(&req);
    }
    let _ = genai::count_tokens("gemini-2.0-flash", data);
    if let Ok(req) = genai::to_embedding("text-embedding-004", data) {
        bifrost_fuzz::translate_embedding(&req);
    }
    if let Ok(req) = genai::to_batch_embedding("text-embedding-004", data) {
        bifrost_fuzz::translate_embedding(&req);
    }
});
