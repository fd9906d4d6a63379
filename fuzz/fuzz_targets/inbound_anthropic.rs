//! Anthropic Messages client bodies (`/anthropic/v1/messages`, `count_tokens`), then every
//! outbound translation.
#![no_main]
use bifrost_core::inbound::anthropic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = anthropic::to_chat(data) {
        bifrost_fuzz::translate(&req);
    }
    let _ = anthropic::count_tokens(data);
});
