//! STUB
use crate::error::BifrostError;
use crate::schemas::ChatRequest;
pub fn to_converse(_req: &ChatRequest) -> Result<serde_json::Value, BifrostError> {
    Err(BifrostError::internal("stub"))
}
