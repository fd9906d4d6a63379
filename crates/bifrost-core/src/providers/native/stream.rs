//! Relaying streams: the `Relay` trait, SSE re-framing and the relay loop.

use super::*;

/// What one upstream event is to the relay.
#[derive(Debug)]
pub enum Seen {
    /// Relayed; not content (`message_start`, `ping`, `response.created`, unknown events).
    Other,
    /// Relayed; the first one commits the stream to this attempt.
    Content,
    /// Read for its usage, not relayed (an OpenAI usage chunk the client did not ask for).
    Dropped,
    /// The upstream reported a failure. Before the first content event it is the attempt's
    /// error; after it, the event is relayed as sent and is the last one.
    Failure(BifrostError),
    /// Relayed, and the last event read (`message_stop`, `[DONE]`, `response.completed`).
    End,
    /// Content, relayed with this data instead (an OpenAI chunk without the `"usage": null`
    /// the gateway's own usage request added).
    EditedContent(String),
}

/// One API's view of its stream events: classifies each and records usage as it passes.
pub trait Relay: Send + 'static {
    /// The terminal event, named in truncation errors.
    const END_MARKER: &'static str;

    /// `event` is the SSE event name (`message` when the upstream gave none).
    fn see(&mut self, event: &str, data: &str, usage: &UsageCell) -> Seen;

    /// Whether an upstream that closes now has finished its answer: for APIs without a
    /// terminal event (Gemini). Otherwise closing before [`Seen::End`] is a truncation.
    fn ended_cleanly(&self) -> bool {
        false
    }
}

/// An SSE event framed again for the client: `event:` (unless the default `message`), `id:`,
/// then the data line by line.
pub fn frame(ev: &eventsource_stream::Event) -> Bytes {
    let mut out = String::with_capacity(ev.data.len() + ev.event.len() + 16);
    if !ev.event.is_empty() && ev.event != "message" {
        out.push_str("event: ");
        out.push_str(&ev.event);
        out.push('\n');
    }
    if !ev.id.is_empty() {
        out.push_str("id: ");
        out.push_str(&ev.id);
        out.push('\n');
    }
    for line in ev.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

fn truncated(name: &str, end_marker: &str) -> BifrostError {
    BifrostError::stream_error(
        name,
        format!("the stream from '{name}' ended without {end_marker}"),
        "upstream_stream_truncated",
    )
}

/// Relays `events` through `relay`. Resolves once the first content event (or the end) came:
/// until then events are held back, and an upstream error, a broken connection or an early end
/// is this call's error, so the attempt can be retried or fall back. After that, events are
/// relayed one by one as they arrive; nothing is read after the terminal event.
pub async fn relay_sse<R: Relay>(
    name: &str,
    mut events: EventStream,
    mut relay: R,
    usage: UsageCell,
) -> Result<NativeStream, BifrostError> {
    let mut head = VecDeque::new();
    let mut done = false;
    loop {
        let ev = match events.next().await {
            None if relay.ended_cleanly() => {
                done = true;
                break;
            }
            None => return Err(truncated(name, R::END_MARKER)),
            Some(Err(e)) => return Err(e),
            Some(Ok(ev)) => ev,
        };
        match relay.see(&ev.event, &ev.data, &usage) {
            Seen::Other => head.push_back(frame(&ev)),
            Seen::Dropped => {}
            Seen::EditedContent(data) => {
                head.push_back(frame(&eventsource_stream::Event { data, ..ev }));
                break;
            }
            Seen::Failure(e) => return Err(e),
            Seen::Content => {
                head.push_back(frame(&ev));
                break;
            }
            Seen::End => {
                head.push_back(frame(&ev));
                done = true;
                break;
            }
        }
    }

    struct Pump<R> {
        events: EventStream,
        relay: R,
        usage: UsageCell,
        head: VecDeque<Bytes>,
        done: bool,
        name: Arc<str>,
    }
    let pump = Pump {
        events,
        relay,
        usage: usage.clone(),
        head,
        done,
        name: name.into(),
    };
    let bytes = futures::stream::unfold(pump, |mut p| async move {
        loop {
            if let Some(b) = p.head.pop_front() {
                return Some((Ok(b), p));
            }
            if p.done {
                return None;
            }
            let ev = match p.events.next().await {
                None => {
                    p.done = true;
                    if p.relay.ended_cleanly() {
                        return None;
                    }
                    return Some((Err(truncated(&p.name, R::END_MARKER)), p));
                }
                Some(Err(e)) => {
                    p.done = true;
                    return Some((Err(e), p));
                }
                Some(Ok(ev)) => ev,
            };
            match p.relay.see(&ev.event, &ev.data, &p.usage) {
                Seen::Dropped => continue,
                Seen::EditedContent(data) => {
                    return Some((Ok(frame(&eventsource_stream::Event { data, ..ev })), p))
                }
                Seen::Other | Seen::Content => return Some((Ok(frame(&ev)), p)),
                Seen::Failure(_) | Seen::End => {
                    p.done = true;
                    return Some((Ok(frame(&ev)), p));
                }
            }
        }
    });
    Ok(NativeStream {
        content_type: SSE_CONTENT_TYPE,
        bytes: Box::pin(bytes),
        usage,
    })
}
