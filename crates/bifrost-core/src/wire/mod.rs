//! The wire types of each API format, one module per format: the types both the inbound
//! translators (the gateway as the server a client SDK talks to) and the providers (the
//! gateway as the client of an upstream) read and write, so that each format is described once.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod responses;
