//! `config.json` as the operator (or the management API's callers, through the same parser)
//! writes it, with `env.*` references resolved to a value or to nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = bifrost_http::config::parse(text, &|_| None);
    let _ = bifrost_http::config::parse(text, &|name| Some(format!("value-of-{name}")));
});
