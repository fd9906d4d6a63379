//! STUB
use crate::error::BifrostError;
use crate::schemas::ChatCompletion;
pub fn from_converse(_p: &str, _m: &str, _b: &[u8]) -> Result<ChatCompletion, BifrostError> {
    Err(BifrostError::internal("stub"))
}
