//! Upstream SSE streams of every provider, cut into pieces as the network might deliver them:
//! the translating decoders (then every client encoding of the chunks) and the same-format
//! relays. Byte 0 picks the provider, byte 1 the piece size.
#![no_main]
use bifrost_core::providers::native::{
    self, AnthropicRelay, GeminiRelay, OpenAiChatRelay, OpenAiResponsesRelay,
};
use bifrost_core::providers::{anthropic, cohere, gemini, openai};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, step, body @ ..] = data else {
        return;
    };
    let events = || bifrost_fuzz::events(body, *step);
    let chunks = match which % 8 {
        0 => bifrost_fuzz::drain(openai::chunk_stream("p", events())),
        1 => bifrost_fuzz::drain(anthropic::chunk_stream("p", events())),
        2 => bifrost_fuzz::drain(gemini::chunk_stream("p", "m", events())),
        3 => bifrost_fuzz::drain(cohere::chunk_stream("p", "m", events())),
        r => {
            let usage = native::UsageCell::default();
            let relayed = futures::executor::block_on(async {
                match r {
                    4 => native::relay_sse("p", events(), AnthropicRelay::new("p"), usage).await,
                    5 => {
                        let relay = OpenAiChatRelay::new("p", step % 2 == 0);
                        native::relay_sse("p", events(), relay, usage).await
                    }
                    6 => {
                        let relay = OpenAiResponsesRelay::new("p");
                        native::relay_sse("p", events(), relay, usage).await
                    }
                    _ => native::relay_sse("p", events(), GeminiRelay::new("p"), usage).await,
                }
            });
            if let Ok(s) = relayed {
                let _ = bifrost_fuzz::drain(s.bytes);
                let _ = s.usage.get();
            }
            return;
        }
    };
    bifrost_fuzz::encode_chunks(&chunks);
});
