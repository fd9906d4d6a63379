//! Request bodies of the inference routes: read into one buffer sized from `Content-Length`
//! (no second copy to join the pieces), refused with 413 past the body limit before a byte is
//! read when the length says so, and held against a gateway-wide budget of bytes in flight
//! (`client.max_request_bytes_in_flight_mb`) so that many large bodies at once are refused with
//! a 503 instead of exhausting memory.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bifrost_core::{BifrostError, ErrorClass};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The bytes of request bodies the gateway holds at once. A plain counter, not a semaphore:
/// nothing ever waits for room (a body that does not fit is refused), so a release is one
/// atomic subtraction with no waiter list to lock.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            bytes,
        }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes currently reserved by bodies being read or handled.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(&self, bytes: usize) -> Option<Reservation> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.bytes)
            })
            .ok()?;
        Some(Reservation {
            used: self.used.clone(),
            bytes,
        })
    }
}

/// Bytes held in a [`BodyBudget`] until dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl Reservation {
    /// Gives back what is held beyond `bytes`.
    fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.used.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A body read whole, and its reservation in the budget (held until dropped).
pub(crate) struct ReadBody {
    pub(crate) bytes: Bytes,
    pub(crate) reservation: Option<Reservation>,
}

fn too_large(limit: usize) -> BifrostError {
    let mut e = BifrostError::invalid_request(format!(
        "request body is larger than the limit of {limit} bytes (client.max_request_body_size_mb)"
    ));
    e.status = 413;
    e.code = Some("request_too_large".to_owned());
    e
}

fn over_budget(budget: &BodyBudget) -> BifrostError {
    let mut e = BifrostError::policy(
        ErrorClass::QueueFull,
        503,
        "request_bytes_in_flight",
        format!(
            "the gateway is already holding its limit of {} MB of request bodies \
             (client.max_request_bytes_in_flight_mb); retry shortly",
            budget.bytes() / (1024 * 1024)
        ),
    );
    e.retry_after = Some(Duration::from_secs(1));
    e
}

/// Reads `body` whole. A `Content-Length` over `limit` is refused at once; otherwise the
/// declared length (or `limit`, for a body without one) is reserved in `budget` first, and
/// what a chunked body did not use is given back once it is read.
pub(crate) async fn read(
    budget: &BodyBudget,
    limit: usize,
    headers: &HeaderMap,
    body: Body,
) -> Result<ReadBody, BifrostError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut reserved = match declared {
        Some(0) => None,
        Some(n) => Some(budget.reserve(n).ok_or_else(|| over_budget(budget))?),
        None => Some(budget.reserve(limit).ok_or_else(|| over_budget(budget))?),
    };
    let mut stream = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            BifrostError::invalid_request(format!("could not read the request body: {e}"))
        })?;
        len += piece.len();
        if len > limit {
            return Err(too_large(limit));
        }
        // One piece (the usual case for small bodies) is kept as it came, without a copy.
        match (&mut first, &mut buf) {
            (None, None) => first = Some(piece),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(declared.unwrap_or(0).max(len).min(limit));
                b.extend_from_slice(f);
                b.extend_from_slice(&piece);
                first = None;
                buf = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&piece),
        }
    }
    let bytes = match (first, buf) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    };
    // A chunked body reserved the whole limit: keep only what it used.
    if declared.is_none() {
        if let Some(r) = reserved.as_mut() {
            r.shrink_to(bytes.len());
        }
    }
    Ok(ReadBody {
        bytes,
        reservation: reserved,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chunked(pieces: &[&'static [u8]]) -> Body {
        let items: Vec<Result<Bytes, std::io::Error>> =
            pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(items))
    }

    #[tokio::test]
    async fn one_piece_is_kept_as_is_and_many_are_joined_once() {
        let budget = BodyBudget::new(1 << 20);
        let piece = Bytes::from_static(b"{\"model\":\"m\"}");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, piece.len().into());
        let read1 = read(&budget, 1000, &h, Body::from(piece.clone()))
            .await
            .unwrap();
        assert_eq!(read1.bytes.as_ptr(), piece.as_ptr(), "not copied");
        assert_eq!(budget.in_use(), piece.len());
        let read2 = read(
            &budget,
            1000,
            &HeaderMap::new(),
            chunked(&[b"ab", b"cd", b"ef"]),
        )
        .await
        .unwrap();
        assert_eq!(&read2.bytes[..], b"abcdef");
        // A chunked body reserved the whole limit while it was read, and keeps what it used.
        assert_eq!(budget.in_use(), piece.len() + 6);
        drop((read1, read2));
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn over_the_limit_or_the_budget_is_refused() {
        let budget = BodyBudget::new(4096);
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, 5000.into());
        let e = read(&budget, 4000, &h, Body::empty()).await.err().unwrap();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (413, Some("request_too_large"))
        );
        // Chunked past the limit: 413 once the pieces pass it, and the reservation is freed.
        let e = read(&budget, 3, &HeaderMap::new(), chunked(&[b"ab", b"cd"]))
            .await
            .err()
            .unwrap();
        assert_eq!(e.status, 413);
        assert_eq!(budget.in_use(), 0);
        h.insert(header::CONTENT_LENGTH, 3000.into());
        let held = read(&budget, 4000, &h, Body::from(vec![b'x'; 3000]))
            .await
            .unwrap();
        let e = read(&budget, 4000, &h, Body::from(vec![b'x'; 3000]))
            .await
            .err()
            .unwrap();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (503, Some("request_bytes_in_flight"))
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
        drop(held);
        assert!(read(&budget, 4000, &h, Body::from(vec![b'x'; 3000]))
            .await
            .is_ok());
    }
}
