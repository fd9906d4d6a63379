//! STUB
use crate::error::BifrostError;
use crate::schemas::ChatCompletionChunk;
pub struct StreamState;
impl StreamState {
    pub fn new(_p: &str, _m: &str) -> Self {
        StreamState
    }
    pub fn on_event(
        &mut self,
        _e: &str,
        _d: &str,
    ) -> Result<Vec<ChatCompletionChunk>, BifrostError> {
        Ok(vec![])
    }
    pub fn is_finished(&self) -> bool {
        true
    }
}
