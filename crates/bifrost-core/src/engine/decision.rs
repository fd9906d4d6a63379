//! What to do after a failed attempt: a pure function of the failure, how many retries the
//! target already had and the provider's settings, so the whole policy is one table (tested
//! below) rather than branches spread over the request path.

use crate::config::{KeyHealthConfig, NetworkConfig};
use crate::error::ErrorClass;
use crate::retry::MAX_RETRY_AFTER;
use std::time::Duration;

/// A failed attempt, as far as the policy cares.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub class: ErrorClass,
    /// The HTTP status (401 and 403 are both credential failures, but only a 401 says the
    /// key itself is bad).
    pub status: u16,
    /// The upstream's `Retry-After` (or our own advice).
    pub retry_after: Option<Duration>,
    /// The gateway produced the error (no upstream answer to blame a key for).
    pub by_gateway: bool,
}

/// The settings and state the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    /// Retries this target has had so far.
    pub retries_done: u32,
    pub max_retries: u32,
    /// The attempt used a configured key (not a direct or keyless one).
    pub used_key: bool,
    /// The caller pinned that key.
    pub pinned: bool,
    /// Another healthy key could serve the model, once the failed one is excluded.
    pub other_key: bool,
    pub rate_limit_cooldown: Duration,
    pub auth_failure_cooldown: Duration,
}

impl Situation {
    pub fn new(net: &NetworkConfig, health: &KeyHealthConfig) -> Self {
        Self {
            retries_done: 0,
            max_retries: net.max_retries,
            used_key: false,
            pinned: false,
            other_key: false,
            rate_limit_cooldown: health.rate_limit_cooldown,
            auth_failure_cooldown: health.auth_failure_cooldown,
        }
    }
}

/// How long to wait before the retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Another key is tried at once.
    None,
    /// The upstream said when.
    RetryAfter(Duration),
    /// Exponential backoff for retry number `n` (1-based), jittered by the caller.
    Backoff(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the same target again.
    Retry(Wait),
    /// This target is done; `fallback` says whether the next target may be tried.
    GiveUp { fallback: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Take the key out of rotation for this long (it was the key's fault).
    pub cool_key: Option<Duration>,
    /// Rule the key out for the rest of this request.
    pub exclude_key: bool,
    pub next: Next,
}

/// The policy (README "Reliability"): a key's fault (429, 401, 402) cools that key for
/// everyone and retries at once on another key; a 403 only rules the key out for this request
/// (providers answer 403 for reasons of the request, such as a model the organisation may not
/// use, and one tenant must not lock every key for everyone); retryable classes retry with
/// backoff (or the upstream's `Retry-After`, when it is at most [`MAX_RETRY_AFTER`]) up to
/// `max_retries`; a longer `Retry-After` or a key fault with no other key left ends the target;
/// whether the next target is tried depends only on the class.
pub fn decide(f: Failure, s: Situation) -> Decision {
    // (is the key's fault, how long to cool it for everyone)
    let (key_fault, cool) = match f.class {
        ErrorClass::RateLimited => (true, Some(f.retry_after.unwrap_or(s.rate_limit_cooldown))),
        ErrorClass::Credential if f.status == 403 => (true, None),
        ErrorClass::Credential | ErrorClass::Quota => (true, Some(s.auth_failure_cooldown)),
        _ => (false, None),
    };
    let key_fault = key_fault && s.used_key;
    let cool_key = cool.filter(|_| key_fault && !f.by_gateway);
    let give_up = Decision {
        cool_key,
        exclude_key: key_fault,
        next: Next::GiveUp {
            fallback: f.class.allows_fallback(),
        },
    };
    let retry_after_too_long = f.retry_after.is_some_and(|d| d > MAX_RETRY_AFTER);
    if !f.class.is_retryable() || s.retries_done >= s.max_retries || retry_after_too_long {
        return give_up;
    }
    if key_fault {
        // Only another key can help; none left means the provider's answer stands.
        if s.pinned || !s.other_key {
            return give_up;
        }
        return Decision {
            next: Next::Retry(Wait::None),
            ..give_up
        };
    }
    let wait = match f.retry_after {
        Some(d) => Wait::RetryAfter(d),
        None => Wait::Backoff(s.retries_done + 1),
    };
    Decision {
        next: Next::Retry(wait),
        ..give_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    const S: Duration = Duration::from_secs(1);

    fn situation(retries_done: u32, other_key: bool) -> Situation {
        Situation {
            retries_done,
            max_retries: 2,
            used_key: true,
            pinned: false,
            other_key,
            rate_limit_cooldown: 10 * S,
            auth_failure_cooldown: 300 * S,
        }
    }

    fn failure(class: ErrorClass, retry_after: Option<Duration>) -> Failure {
        let status = match class {
            RateLimited => 429,
            Credential => 401,
            Quota => 402,
            CallerFault => 422,
            _ => 500,
        };
        Failure {
            status,
            class,
            retry_after,
            by_gateway: false,
        }
    }

    /// (class, Retry-After, retries done, another key, → cooldown, next)
    type Row = (
        ErrorClass,
        Option<Duration>,
        u32,
        bool,
        Option<Duration>,
        Next,
    );

    #[test]
    fn the_policy_table() {
        let give_up = |fallback| Next::GiveUp { fallback };
        let table: &[Row] = &[
            // Transient failures back off and retry, then give up and fall back.
            (
                Transient,
                None,
                0,
                true,
                None,
                Next::Retry(Wait::Backoff(1)),
            ),
            (
                Transient,
                None,
                1,
                true,
                None,
                Next::Retry(Wait::Backoff(2)),
            ),
            (Transient, None, 2, true, None, give_up(true)),
            (
                Connection,
                None,
                0,
                false,
                None,
                Next::Retry(Wait::Backoff(1)),
            ),
            (Timeout, None, 0, false, None, Next::Retry(Wait::Backoff(1))),
            // The upstream's Retry-After is honoured up to 30 s; beyond, fall back instead.
            (
                Transient,
                Some(2 * S),
                0,
                false,
                None,
                Next::Retry(Wait::RetryAfter(2 * S)),
            ),
            (Transient, Some(31 * S), 0, false, None, give_up(true)),
            // 429: the key cools (until Retry-After, else the default) and another key is
            // tried at once; with no other key the 429 stands.
            (
                RateLimited,
                None,
                0,
                true,
                Some(10 * S),
                Next::Retry(Wait::None),
            ),
            (
                RateLimited,
                Some(3 * S),
                0,
                true,
                Some(3 * S),
                Next::Retry(Wait::None),
            ),
            (RateLimited, None, 0, false, Some(10 * S), give_up(true)),
            // 401/403/402: the key is disabled for the auth cooldown.
            (
                Credential,
                None,
                0,
                true,
                Some(300 * S),
                Next::Retry(Wait::None),
            ),
            (Quota, None, 0, true, Some(300 * S), give_up(true)),
            // Caller faults never retry nor fall back; other failures may fall back.
            (CallerFault, None, 0, true, None, give_up(false)),
            (InvalidRequest, None, 0, true, None, give_up(false)),
            (ContentFilter, None, 0, true, None, give_up(true)),
            (ModelAccess, None, 0, true, None, give_up(true)),
            (QueueFull, None, 0, true, None, give_up(true)),
            (StreamError, None, 0, true, None, give_up(true)),
            (Internal, None, 0, true, None, give_up(false)),
        ];
        for &(class, ra, done, other, cool, next) in table {
            let d = decide(failure(class, ra), situation(done, other));
            assert_eq!(
                (d.cool_key, d.next),
                (cool, next),
                "{class:?} {ra:?} {done} {other}"
            );
        }
    }

    #[test]
    fn a_403_rotates_the_key_for_this_request_only() {
        let f = Failure {
            status: 403,
            ..failure(Credential, None)
        };
        let d = decide(f, situation(0, true));
        assert_eq!((d.cool_key, d.exclude_key), (None, true));
        assert_eq!(d.next, Next::Retry(Wait::None));
        let d = decide(f, situation(0, false));
        assert_eq!(d.next, Next::GiveUp { fallback: true });
    }

    #[test]
    fn a_pinned_key_is_never_swapped() {
        let s = Situation {
            pinned: true,
            ..situation(0, true)
        };
        let d = decide(failure(RateLimited, None), s);
        assert_eq!(d.next, Next::GiveUp { fallback: true });
        assert_eq!(d.cool_key, Some(10 * S));
    }

    #[test]
    fn gateway_errors_and_unkeyed_attempts_cool_no_key() {
        // Every key already cooling: the gateway's own 429 blames no key.
        let f = Failure {
            by_gateway: true,
            ..failure(RateLimited, Some(S))
        };
        let d = decide(f, situation(0, true));
        assert_eq!((d.cool_key, d.exclude_key), (None, true));
        // A direct (caller's) key is never cooled.
        let s = Situation {
            used_key: false,
            ..situation(0, false)
        };
        let d = decide(failure(RateLimited, None), s);
        assert_eq!(d.cool_key, None);
        assert_eq!(d.next, Next::Retry(Wait::Backoff(1)));
    }
}
