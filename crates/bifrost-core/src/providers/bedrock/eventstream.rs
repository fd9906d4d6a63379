//! STUB
use crate::error::BifrostError;
use futures::Stream;
pub struct Frame {
    pub message_type: String,
    pub event_type: Option<String>,
    pub exception_type: Option<String>,
    pub payload: bytes::Bytes,
}
pub fn decode<S, E>(_body: S) -> impl Stream<Item = Result<Frame, BifrostError>> + Send
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    futures::stream::empty()
}
