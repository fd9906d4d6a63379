//! AWS event-stream framing (`application/vnd.amazon.eventstream`), the body of ConverseStream.
//!
//! The binary framing (prelude, headers, both CRC32s) is decoded by `aws-smithy-eventstream`'s
//! `MessageFrameDecoder`; this module only buffers the body as it arrives, hands complete frames
//! on as they are decoded (nothing waits for the end of the body), and turns the three headers
//! the gateway acts on into plain fields.

use crate::error::BifrostError;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::fmt::Display;

/// A frame whose end has not arrived after this many bytes is refused: the event-stream format
/// caps a message at 16 MiB, so a longer one means a corrupt length prefix, and waiting for it
/// would only grow the buffer.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024 + 64 * 1024;

/// One decoded event-stream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `:message-type`: `event`, `exception` or `error` (empty if the header is missing).
    pub message_type: String,
    /// `:event-type` of an `event` frame (`messageStart`, `contentBlockDelta`, …).
    pub event_type: Option<String>,
    /// `:exception-type` of an `exception` frame (`throttlingException`, …); for the rarer
    /// `error` frames, their `:error-code`.
    pub exception_type: Option<String>,
    /// The JSON payload, as sent.
    pub payload: Bytes,
}

impl Frame {
    fn from_message(message: &Message) -> Self {
        let header = |name: &str| {
            message.headers().iter().find_map(|h| {
                if h.name().as_str() != name {
                    return None;
                }
                match h.value() {
                    HeaderValue::String(s) => Some(s.as_str().to_owned()),
                    _ => None,
                }
            })
        };
        let message_type = header(":message-type").unwrap_or_default();
        let exception_type = if message_type == "error" {
            header(":error-code")
        } else {
            header(":exception-type")
        };
        Frame {
            event_type: header(":event-type"),
            exception_type,
            message_type,
            payload: message.payload().clone(),
        }
    }
}

/// Decodes a ConverseStream body into frames; errors name the provider `bedrock` (see
/// [`decode_for`] for another name).
pub fn decode<S, E>(body: S) -> impl Stream<Item = Result<Frame, BifrostError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Display,
{
    decode_for("bedrock", body)
}

/// Decoder state between polls.
struct Decoder<S> {
    body: std::pin::Pin<Box<S>>,
    buf: BytesMut,
    frames: MessageFrameDecoder,
    /// Bytes of a frame that has begun but not been completed yet (the decoder keeps the
    /// prelude it read, so `buf` alone cannot tell).
    partial: usize,
    provider: String,
    done: bool,
}

impl<S> Decoder<S> {
    /// Ends the stream with an error saying what went wrong with it.
    fn fail(&mut self, what: std::fmt::Arguments<'_>, code: &'static str) -> BifrostError {
        self.done = true;
        let msg = format!("the event stream from '{}' {what}", self.provider);
        BifrostError::stream_error(&self.provider, msg, code)
    }
}

/// [`decode`], with errors attributed to `provider`.
pub fn decode_for<S, E>(
    provider: &str,
    body: S,
) -> impl Stream<Item = Result<Frame, BifrostError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Display,
{
    let state = Decoder {
        body: Box::pin(body),
        buf: BytesMut::new(),
        frames: MessageFrameDecoder::new(),
        partial: 0,
        provider: provider.to_owned(),
        done: false,
    };
    futures::stream::unfold(state, |mut d| async move {
        if d.done {
            return None;
        }
        loop {
            match d.frames.decode_frame(&mut d.buf) {
                Ok(DecodedFrame::Complete(message)) => {
                    d.partial = d.buf.len();
                    return Some((Ok(Frame::from_message(&message)), d));
                }
                Ok(DecodedFrame::Incomplete) => {}
                Err(e) => {
                    let e = d.fail(format_args!("is corrupt: {e}"), "upstream_stream_corrupt");
                    return Some((Err(e), d));
                }
            }
            if d.partial > MAX_FRAME_BYTES {
                let what = format_args!("has a frame longer than {MAX_FRAME_BYTES} bytes");
                let e = d.fail(what, "upstream_stream_corrupt");
                return Some((Err(e), d));
            }
            match d.body.next().await {
                Some(Ok(chunk)) => {
                    d.partial += chunk.len();
                    d.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => {
                    let e = d.fail(format_args!("broke: {e}"), "upstream_stream_error");
                    return Some((Err(e), d));
                }
                None => {
                    if d.partial == 0 {
                        return None;
                    }
                    let partial = d.partial;
                    let what = format_args!("ended inside a frame ({partial} bytes of it arrived)");
                    let e = d.fail(what, "upstream_stream_truncated");
                    return Some((Err(e), d));
                }
            }
        }
    })
}

/// Encodes one frame with the headers Bedrock sends (`:message-type`, the event or exception
/// type, `:content-type`); for tests, and for a drop-in route that forwards frames.
pub fn encode(
    message_type: &str,
    type_header: Option<(&str, &str)>,
    payload: &[u8],
) -> Result<Bytes, BifrostError> {
    use aws_smithy_types::event_stream::Header;
    let mut headers = vec![Header::new(
        ":message-type",
        HeaderValue::String(message_type.to_owned().into()),
    )];
    if let Some((name, value)) = type_header {
        headers.push(Header::new(
            name.to_owned(),
            HeaderValue::String(value.to_owned().into()),
        ));
    }
    headers.push(Header::new(
        ":content-type",
        HeaderValue::String("application/json".into()),
    ));
    let message = Message::new_from_parts(headers, Bytes::copy_from_slice(payload));
    let mut out = Vec::with_capacity(payload.len() + 96);
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .map_err(|e| BifrostError::internal(format!("encoding an event-stream frame: {e}")))?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    fn event(kind: &str, payload: &str) -> Bytes {
        encode("event", Some((":event-type", kind)), payload.as_bytes()).unwrap()
    }

    fn body() -> (Vec<u8>, Vec<Frame>) {
        let parts = [
            ("messageStart", r#"{"role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hé"}}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ];
        let mut bytes = Vec::new();
        let mut frames = Vec::new();
        for (kind, payload) in parts {
            bytes.extend_from_slice(&event(kind, payload));
            frames.push(Frame {
                message_type: "event".into(),
                event_type: Some(kind.into()),
                exception_type: None,
                payload: Bytes::copy_from_slice(payload.as_bytes()),
            });
        }
        let exc = encode(
            "exception",
            Some((":exception-type", "throttlingException")),
            br#"{"message":"slow down"}"#,
        )
        .unwrap();
        bytes.extend_from_slice(&exc);
        frames.push(Frame {
            message_type: "exception".into(),
            event_type: None,
            exception_type: Some("throttlingException".into()),
            payload: Bytes::from_static(br#"{"message":"slow down"}"#),
        });
        (bytes, frames)
    }

    async fn run(chunks: Vec<Vec<u8>>) -> Vec<Result<Frame, BifrostError>> {
        let body = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        );
        decode(body).collect().await
    }

    #[tokio::test]
    async fn frames_split_at_every_byte_boundary_decode_the_same() {
        let (bytes, expected) = body();
        for cut in 0..=bytes.len() {
            let chunks = vec![bytes[..cut].to_vec(), bytes[cut..].to_vec()];
            let got: Vec<Frame> = run(chunks).await.into_iter().map(|f| f.unwrap()).collect();
            assert_eq!(got, expected, "cut at {cut}");
        }
        let one_by_one = bytes.iter().map(|b| vec![*b]).collect();
        let got: Vec<Frame> = run(one_by_one)
            .await
            .into_iter()
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_corrupt_crc_is_a_stream_error() {
        let (mut bytes, _) = body();
        // Flip one payload byte of the first frame: its message CRC no longer matches.
        let first = event("messageStart", r#"{"role":"assistant"}"#).len();
        bytes[first - 6] ^= 0x20;
        let got = run(vec![bytes]).await;
        assert_eq!(got.len(), 1);
        let e = got[0].as_ref().unwrap_err();
        assert_eq!(e.class, ErrorClass::StreamError);
        assert_eq!(e.code.as_deref(), Some("upstream_stream_corrupt"));

        // A corrupt prelude CRC too.
        let (mut bytes, _) = body();
        bytes[9] ^= 0x01;
        let got = run(vec![bytes]).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }

    #[tokio::test]
    async fn a_body_ending_inside_a_frame_is_truncated() {
        let (bytes, expected) = body();
        for cut in [bytes.len() - 1, bytes.len() - 30, 5] {
            let got = run(vec![bytes[..cut].to_vec()]).await;
            let (last, rest) = got.split_last().unwrap();
            assert!(rest.iter().all(Result::is_ok));
            assert!(rest.len() < expected.len());
            let e = last.as_ref().unwrap_err();
            assert_eq!(
                e.code.as_deref(),
                Some("upstream_stream_truncated"),
                "{cut}"
            );
        }
        assert!(run(vec![]).await.is_empty());
    }

    #[tokio::test]
    async fn a_read_error_ends_the_stream() {
        let (bytes, _) = body();
        let first = event("messageStart", r#"{"role":"assistant"}"#).len();
        let chunks = vec![
            Ok(Bytes::copy_from_slice(&bytes[..first])),
            Err("connection reset"),
            Ok(Bytes::copy_from_slice(&bytes[first..])),
        ];
        let got: Vec<_> = decode_for("my-bedrock", futures::stream::iter(chunks))
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].as_ref().unwrap().event_type.as_deref(),
            Some("messageStart")
        );
        let e = got[1].as_ref().unwrap_err();
        assert_eq!(e.code.as_deref(), Some("upstream_stream_error"));
        assert_eq!(e.provider.as_deref(), Some("my-bedrock"));
        assert!(e.message.contains("connection reset"));
    }

    #[tokio::test]
    async fn an_absurd_length_prefix_is_refused_without_buffering_forever() {
        // A prelude claiming a 4 GiB frame, followed by a lot of data.
        let mut chunks = vec![vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]];
        chunks.extend((0..20).map(|_| vec![0u8; 1024 * 1024]));
        let got = run(chunks).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().unwrap_err().code.as_deref(),
            Some("upstream_stream_corrupt")
        );
    }
}
