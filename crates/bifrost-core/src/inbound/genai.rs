//! STUB
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, ChatCompletionChunk, ChatRequest};
use serde_json::Value;
pub fn to_chat(_m: &str, _b: &[u8]) -> Result<ChatRequest, BifrostError> {
    Err(BifrostError::internal("stub"))
}
pub fn from_chat(_r: &ChatCompletion, _m: &str) -> Value {
    Value::Null
}
pub struct StreamEncoder;
impl StreamEncoder {
    pub fn new(_m: &str) -> Self {
        StreamEncoder
    }
    pub fn on_chunk(&mut self, _c: &ChatCompletionChunk) -> Vec<Value> {
        vec![]
    }
    pub fn finish(&mut self) -> Vec<Value> {
        vec![]
    }
}
pub fn error_body(_e: &BifrostError) -> Value {
    Value::Null
}
pub fn count_tokens(_m: &str, _b: &[u8]) -> Result<Value, BifrostError> {
    Ok(Value::Null)
}
