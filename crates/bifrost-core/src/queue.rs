//! Per-provider concurrency and queue: `concurrency` permits for requests in flight upstream,
//! and at most `buffer_size` requests waiting for one. Both are FIFO tokio semaphores, so the
//! hot path takes no lock: an uncontended acquire is one atomic compare-and-swap.

use crate::config::ConcurrencyAndBufferSize;
use crate::error::BifrostError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub struct ProviderQueue {
    provider: String,
    concurrency: usize,
    in_flight: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    /// Requests waiting right now (for the queue-depth gauge).
    queued: AtomicUsize,
}

/// Counts a waiter while it exists, whichever way the wait ends.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A slot at the provider; the slot frees when this is dropped (end of the call, or of the
/// stream).
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl ProviderQueue {
    pub fn new(provider: &str, limits: ConcurrencyAndBufferSize) -> Self {
        Self {
            provider: provider.to_owned(),
            concurrency: limits.concurrency.max(1),
            in_flight: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            waiting: Arc::new(Semaphore::new(limits.buffer_size)),
            queued: AtomicUsize::new(0),
        }
    }

    /// Waits for a slot. When `buffer_size` requests already wait: with `drop_excess` fail at
    /// once (503 `queue_full`); otherwise wait for room in the queue too. Never waits past
    /// `deadline` (504 `queue_timeout`). Returns the permit and how long it waited.
    pub async fn acquire(
        &self,
        deadline: Instant,
        drop_excess: bool,
    ) -> Result<(Permit, Duration), BifrostError> {
        if let Ok(p) = self.in_flight.clone().try_acquire_owned() {
            return Ok((Permit { _permit: p }, Duration::ZERO));
        }
        let start = Instant::now();
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _queued = Queued(&self.queued);
        let timeout = || BifrostError::queue_timeout(&self.provider, start.elapsed());
        let place = match self.waiting.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) if drop_excess => return Err(BifrostError::queue_full(&self.provider)),
            // The queue is full but the caller would rather wait: wait for a place in the queue
            // or a free slot, whichever comes first.
            Err(_) => {
                let place_or_slot = async {
                    tokio::select! {
                        place = self.waiting.clone().acquire_owned() => place.map(Err),
                        slot = self.in_flight.clone().acquire_owned() => slot.map(Ok),
                    }
                };
                match tokio::time::timeout_at(deadline, place_or_slot)
                    .await
                    .map_err(|_| timeout())?
                    .map_err(|_| BifrostError::shutting_down())?
                {
                    Ok(slot) => return Ok((Permit { _permit: slot }, start.elapsed())),
                    Err(place) => place,
                }
            }
        };
        let permit = tokio::time::timeout_at(deadline, self.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| timeout())?
            .map_err(|_| BifrostError::shutting_down())?;
        drop(place);
        Ok((Permit { _permit: permit }, start.elapsed()))
    }

    /// Requests waiting for a slot right now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Requests in flight upstream right now.
    pub fn in_flight(&self) -> usize {
        self.concurrency
            .saturating_sub(self.in_flight.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    fn limits(concurrency: usize, buffer_size: usize) -> ConcurrencyAndBufferSize {
        ConcurrencyAndBufferSize {
            concurrency,
            buffer_size,
        }
    }

    #[tokio::test]
    async fn full_queue_drops_at_once_when_asked() {
        let q = ProviderQueue::new("p", limits(1, 1));
        let far = Instant::now() + Duration::from_secs(10);
        let (held, _) = q.acquire(far, true).await.unwrap();
        // One may wait…
        let waiter = tokio::spawn({
            let q = Arc::new(q);
            let q2 = q.clone();
            async move {
                let r = q2.acquire(far, true).await.map(|_| ());
                (q, r)
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let (q, r) = waiter.await.unwrap();
        assert!(r.is_ok());
        // …and with the slot and the one queue place both taken, the next is dropped.
        let _a = q.acquire(far, true).await.unwrap();
        let q = Arc::new(q);
        let q2 = q.clone();
        let _w = tokio::spawn(async move { q2.acquire(far, true).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = Instant::now();
        let e = q.acquire(far, true).await.unwrap_err();
        assert_eq!((e.class, e.status), (ErrorClass::QueueFull, 503));
        assert!(t.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn waiting_ends_at_the_deadline() {
        let q = ProviderQueue::new("p", limits(1, 0));
        let (_held, _) = q
            .acquire(Instant::now() + Duration::from_secs(1), false)
            .await
            .unwrap();
        let t = Instant::now();
        let e = q
            .acquire(Instant::now() + Duration::from_millis(100), false)
            .await
            .unwrap_err();
        assert_eq!((e.class, e.status), (ErrorClass::QueueTimeout, 504));
        assert!(t.elapsed() >= Duration::from_millis(100));
    }
}
