//! STUB
use crate::error::BifrostError;
use crate::schemas::{ChatRequest, EmbeddingRequest};
pub fn to_cohere(
    _m: &str,
    _req: &ChatRequest,
    _s: bool,
) -> Result<serde_json::Value, BifrostError> {
    Err(BifrostError::internal("stub"))
}
pub fn embed_request(_m: &str, _req: &EmbeddingRequest) -> Result<serde_json::Value, BifrostError> {
    Err(BifrostError::internal("stub"))
}
