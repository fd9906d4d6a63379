//! STUB until the translation lands.
use crate::error::BifrostError;
use crate::schemas::{ChatRequest, EmbeddingRequest};
pub type GenerateContentRequest = serde_json::Value;
pub fn to_gemini(_req: &ChatRequest) -> Result<GenerateContentRequest, BifrostError> {
    Err(BifrostError::internal("stub"))
}
pub fn embed_request(_m: &str, _req: &EmbeddingRequest) -> Result<serde_json::Value, BifrostError> {
    Err(BifrostError::internal("stub"))
}
