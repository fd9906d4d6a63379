//! Inbound formats: what the drop-in routes accept (the Anthropic Messages API, the Google
//! GenAI API, OpenAI's Responses API), translated to the unified chat request, and the unified
//! answer translated back — plain, streamed (an encoder per stream), and as errors. Pure
//! functions, so any provider can serve any SDK.

pub mod anthropic;
pub mod genai;
pub mod responses;
