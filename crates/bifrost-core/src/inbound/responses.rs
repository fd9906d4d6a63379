//! STUB
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, ChatCompletionChunk, ChatRequest};
use serde_json::Value;
pub struct ResponsesEcho;
pub fn parse(_b: &[u8]) -> Result<(ChatRequest, ResponsesEcho), BifrostError> {
    Err(BifrostError::internal("stub"))
}
pub fn from_chat(_r: &ChatCompletion, _e: &ResponsesEcho) -> Value {
    Value::Null
}
pub struct StreamEncoder;
impl StreamEncoder {
    pub fn new(_e: ResponsesEcho) -> Self {
        StreamEncoder
    }
    pub fn on_chunk(&mut self, _c: &ChatCompletionChunk) -> Vec<(&'static str, Value)> {
        vec![]
    }
    pub fn finish(&mut self) -> Vec<(&'static str, Value)> {
        vec![]
    }
    pub fn failed_event(&mut self, _e: &BifrostError) -> (&'static str, Value) {
        ("response.failed", Value::Null)
    }
}
