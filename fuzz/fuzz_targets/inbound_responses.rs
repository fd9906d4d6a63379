//! OpenAI Responses client bodies (`/v1/responses`), then every outbound translation.
#![no_main]
use bifrost_core::inbound::responses;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((req, _echo)) = responses::parse(data) {
        bifrost_fuzz::translate(&req);
    }
});
