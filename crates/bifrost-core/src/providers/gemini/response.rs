//! STUB
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, EmbeddingResponse};
pub fn from_gemini(_p: &str, _m: &str, _b: &[u8]) -> Result<ChatCompletion, BifrostError> {
    Err(BifrostError::internal("stub"))
}
pub fn embed_response(_p: &str, _m: &str, _b: &[u8]) -> Result<EmbeddingResponse, BifrostError> {
    Err(BifrostError::internal("stub"))
}
