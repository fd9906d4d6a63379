//! Backoff between retries of one target.

use std::time::Duration;

/// Longest `Retry-After` the engine will sleep for; beyond it the request moves on (fallback).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Delay before retry `n` (1-based): `min(initial × 2^(n−1), max)` × U[0.8, 1.2), capped at
/// `max` — the original's formula, so tuned configs behave the same.
pub fn backoff(n: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let base = exp.min(max);
    base.mul_f64(0.8 + fastrand::f64() * 0.4).min(max)
}

/// The wait before the next attempt: the upstream's `Retry-After` when it gave one (and it is
/// not absurd), else the backoff.
pub fn delay(n: u32, retry_after: Option<Duration>, initial: Duration, max: Duration) -> Duration {
    match retry_after {
        Some(ra) if ra <= MAX_RETRY_AFTER => ra,
        _ => backoff(n, initial, max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let (i, m) = (Duration::from_millis(500), Duration::from_millis(5000));
        for _ in 0..200 {
            let b1 = backoff(1, i, m).as_millis();
            let b3 = backoff(3, i, m).as_millis();
            let b9 = backoff(9, i, m).as_millis();
            assert!((400..600).contains(&b1), "{b1}");
            assert!((1600..2400).contains(&b3), "{b3}");
            assert!((4000..=5000).contains(&b9), "{b9}");
        }
    }
}
