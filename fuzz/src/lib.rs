//! What the fuzz targets share: every outbound translation of a parsed request, every client
//! encoding of an answer, and an upstream body cut into pieces as a network would.
//! Results are ignored on purpose: a target looks for panics, overflows, hangs and runaway
//! memory, and an `Err` is a parser doing its job.

use bifrost_core::inbound::{anthropic, genai, responses};
use bifrost_core::providers::{bedrock, cohere, gemini, openai, vertex, EventStream};
use bifrost_core::{
    BifrostError, ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingRequest,
};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;

/// Sends `req` through every provider's request translation, as the engine would per attempt.
pub fn translate(req: &ChatRequest) {
    for stream in [false, true] {
        let _ = openai::wire_body("m", req, stream);
        let _ = bifrost_core::providers::anthropic::wire_body("m", req, stream);
        let _ = cohere::request::to_cohere("m", req, stream);
    }
    let _ = gemini::request::to_gemini(req);
    let _ = bedrock::request::to_converse(req);
    let mut stripped = req.clone();
    anthropic::strip_anthropic_fields(&mut stripped);
    let _ = openai::wire_body("m", &stripped, true);
}

/// Sends an embedding request through every provider's translation.
pub fn translate_embedding(req: &EmbeddingRequest) {
    let _ = serde_json::to_vec(&openai::WireEmbedding::new("m", req));
    let _ = vertex::embed_body(req);
    let _ = gemini::request::embed_request("m", req);
    let _ = cohere::request::embed_request("m", req);
}

/// The echo of a minimal Responses request, for the Responses encoders.
pub fn echo() -> responses::ResponsesEcho {
    responses::echo(br#"{"model":"m","input":"hi"}"#).expect("a valid Responses request")
}

/// Renders a completion in every client format.
pub fn encode_completion(c: &ChatCompletion) {
    let _ = anthropic::from_chat(c, "m");
    // Typed: serialising it is the step that can fail.
    let _ = serde_json::to_vec(&genai::from_chat(c, "m"));
    let _ = responses::from_chat(c, &echo());
    let _ = serde_json::to_vec(c);
}

/// Renders a chunk stream in every client format.
pub fn encode_chunks(chunks: &[ChatCompletionChunk]) {
    let mut a = anthropic::StreamEncoder::new("m");
    let mut g = genai::StreamEncoder::new("m");
    let mut r = responses::StreamEncoder::new(echo());
    for c in chunks {
        let _ = a.on_chunk(c);
        let _ = g.on_chunk(c);
        let _ = r.on_chunk(c);
        let _ = serde_json::to_vec(c);
    }
    let _ = a.finish();
    let _ = g.finish();
    let _ = r.finish();
}

/// `body` cut into pieces as the network might deliver it: each piece is at most `step` bytes
/// (1..=64), so a frame or a UTF-8 sequence may straddle two reads.
pub fn pieces(body: &[u8], step: u8) -> Vec<Result<Bytes, std::io::Error>> {
    let step = usize::from(step % 64) + 1;
    body.chunks(step)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect()
}

/// An upstream SSE body, as the HTTP layer hands it to a provider's decoder.
pub fn events(body: &[u8], step: u8) -> EventStream {
    let events = futures::stream::iter(pieces(body, step))
        .eventsource()
        .map(|r| {
            r.map_err(|e| {
                BifrostError::stream_error("fuzz", format!("broke: {e}"), "upstream_stream_error")
            })
        });
    Box::pin(events)
}

/// Drains a stream of chunks (bounded: a decoder must end when its input does).
pub fn drain<T>(s: impl futures::Stream<Item = Result<T, BifrostError>>) -> Vec<T> {
    futures::executor::block_on(async {
        let mut s = std::pin::pin!(s);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out
    })
}
