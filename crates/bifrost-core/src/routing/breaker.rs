//! A provider's circuit breaker. After [`THRESHOLD`] attempts in a row find the upstream down
//! (it cannot be reached, or it does not answer in time), over at least [`MIN_STREAK`] (so that
//! a busy provider with a few failures among thousands of answers a second is not taken for a
//! dead one), the provider is *open*: requests
//! skip it at once (to their fallback, else a 503 with `Retry-After`) instead of each paying
//! its attempts and backoff against a dead upstream. While open, one request every
//! [`PROBE_EVERY`] goes through as a probe; its success closes the breaker, its failure keeps
//! it open. Any answer from the upstream resets the count. An upstream that answers, even
//! with a 5xx, is up: retries and fallbacks handle its errors, and keys have their own
//! cooldowns for 429s.
//!
//! Lock-free: the closed path costs one atomic load per attempt.

use crate::error::ErrorClass;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Consecutive upstream failures that open the breaker.
pub const THRESHOLD: u32 = 5;
/// How long the failures in a row must have lasted.
pub const MIN_STREAK: Duration = Duration::from_secs(1);
/// How often an open breaker lets one request through as a probe.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: go ahead.
    Pass,
    /// Open, and this attempt is the probe.
    Probe,
    /// Open: skip the provider; the next probe is due in this long.
    Refuse(Duration),
}

#[derive(Debug)]
pub struct Breaker {
    /// Time zero of the millisecond counters below.
    base: Instant,
    failures: AtomicU32,
    /// When the current run of failures began, in ms since `base`.
    streak_start_ms: AtomicU64,
    open: AtomicBool,
    /// When the next probe may go, in ms since `base`.
    next_probe_ms: AtomicU64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            failures: AtomicU32::new(0),
            streak_start_ms: AtomicU64::new(0),
            open: AtomicBool::new(false),
            next_probe_ms: AtomicU64::new(0),
        }
    }
}

impl Breaker {
    /// Failures of this class say the upstream is down, whatever the request.
    pub fn counts(class: ErrorClass) -> bool {
        matches!(class, ErrorClass::Connection | ErrorClass::Timeout)
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn admit(&self) -> Admit {
        if !self.is_open() {
            return Admit::Pass;
        }
        let now = self.now_ms();
        let due = self.next_probe_ms.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_probe_ms
                .compare_exchange(
                    due,
                    now + millis(PROBE_EVERY),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Admit::Probe;
        }
        Admit::Refuse(Duration::from_millis(
            self.next_probe_ms
                .load(Ordering::Relaxed)
                .saturating_sub(now)
                .max(1),
        ))
    }

    /// An answer (any answer that is not the upstream failing) closes the breaker.
    /// Whether this closed it.
    pub fn success(&self) -> bool {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        self.is_open() && self.open.swap(false, Ordering::AcqRel)
    }

    /// An upstream failure of a class that [`counts`](Self::counts). Whether this opened it.
    pub fn failure(&self) -> bool {
        let now = self.now_ms();
        let before = self.failures.fetch_add(1, Ordering::AcqRel);
        if before == 0 {
            self.streak_start_ms.store(now, Ordering::Relaxed);
        }
        let lasted = now.saturating_sub(self.streak_start_ms.load(Ordering::Relaxed));
        if before.saturating_add(1) < THRESHOLD || self.is_open() || lasted < millis(MIN_STREAK) {
            return false;
        }
        self.next_probe_ms
            .store(now + millis(PROBE_EVERY), Ordering::Relaxed);
        !self.open.swap(true, Ordering::AcqRel)
    }

    fn now_ms(&self) -> u64 {
        millis(self.base.elapsed())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_probes_once_a_second_and_closes_on_success() {
        let b = Breaker::default();
        for _ in 0..THRESHOLD - 1 {
            assert!(!b.failure());
        }
        assert_eq!(b.admit(), Admit::Pass);
        // A success in between starts the count again.
        assert!(!b.success());
        for _ in 0..THRESHOLD - 1 {
            assert!(!b.failure());
        }
        // Failures in a row, but all within a moment: a busy provider's bad luck, not a dead one.
        for _ in 0..20 {
            assert!(!b.failure());
        }
        tokio::time::advance(MIN_STREAK).await;
        assert!(b.failure(), "a run of failures lasting MIN_STREAK opens it");
        assert!(!b.failure(), "opened once");
        assert_eq!(b.admit(), Admit::Refuse(PROBE_EVERY));

        tokio::time::advance(PROBE_EVERY).await;
        assert_eq!(b.admit(), Admit::Probe);
        assert_eq!(b.admit(), Admit::Refuse(PROBE_EVERY), "one probe at a time");
        // The probe failed: still open, the next probe a second later.
        assert!(!b.failure());
        tokio::time::advance(PROBE_EVERY / 2).await;
        assert_eq!(b.admit(), Admit::Refuse(PROBE_EVERY / 2));
        tokio::time::advance(PROBE_EVERY / 2).await;
        assert_eq!(b.admit(), Admit::Probe);
        assert!(b.success(), "the probe's success closes it");
        assert_eq!(b.admit(), Admit::Pass);
        assert!(!b.failure(), "counting starts from zero again");
    }

    #[test]
    fn only_the_upstream_being_down_counts() {
        for class in [ErrorClass::Connection, ErrorClass::Timeout] {
            assert!(Breaker::counts(class), "{class:?}");
        }
        for class in [
            ErrorClass::Transient,
            ErrorClass::RateLimited,
            ErrorClass::CallerFault,
            ErrorClass::Credential,
            ErrorClass::ModelAccess,
            ErrorClass::ContentFilter,
            ErrorClass::StreamError,
            ErrorClass::QueueFull,
        ] {
            assert!(!Breaker::counts(class), "{class:?}");
        }
    }
}
