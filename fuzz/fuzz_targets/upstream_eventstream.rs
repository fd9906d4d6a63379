//! Bedrock ConverseStream bodies (AWS event-stream binary frames), cut into pieces as the
//! network might deliver them, then every client encoding of the chunks. Byte 0 is the piece
//! size.
#![no_main]
use bifrost_core::providers::bedrock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let frames =
        bedrock::eventstream::decode(futures::stream::iter(bifrost_fuzz::pieces(body, step)));
    let chunks = bifrost_fuzz::drain(bedrock::chunk_stream("p", "m", Box::pin(frames)));
    bifrost_fuzz::encode_chunks(&chunks);
});
