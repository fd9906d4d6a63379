//! Sticky sessions: requests carrying the same session id keep using the same key (so a
//! provider-side prompt cache keeps hitting), until the TTL passes or the key cools down.
//!
//! Only requests with a session id touch this table, so the lock is off the common path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Entries beyond this trigger a sweep of expired ones, bounding memory.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Default)]
pub struct StickyTable {
    entries: Mutex<HashMap<(String, String), (usize, Instant)>>,
}

impl StickyTable {
    /// The key index stored for `(session, model)`, if it has not expired.
    pub fn get(&self, session: &str, model: &str) -> Option<usize> {
        let map = self.entries.lock().ok()?;
        let (i, until) = map.get(&(session.to_owned(), model.to_owned()))?;
        (*until > Instant::now()).then_some(*i)
    }

    pub fn put(&self, session: &str, model: &str, key: usize, ttl: Duration) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert((session.to_owned(), model.to_owned()), (key, now + ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let t = StickyTable::default();
        t.put("s", "m", 3, Duration::from_millis(30));
        assert_eq!(t.get("s", "m"), Some(3));
        assert_eq!(t.get("s", "other"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(t.get("s", "m"), None);
    }
}
