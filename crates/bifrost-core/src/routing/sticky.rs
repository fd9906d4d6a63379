//! Sticky sessions: requests carrying the same session id keep using the same key (so a
//! provider-side prompt cache keeps hitting), until the TTL passes or the key cools down.
//!
//! Only requests with a session id touch this table, so the lock is off the common path. The
//! ids come from clients, so everything about an entry is bounded: the id's length, the TTL,
//! and the number of entries (the oldest deadline goes first when the table is full).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Entries beyond this trigger a sweep of expired ones.
const SWEEP_AT: usize = 4096;
/// At most this many sessions are remembered per provider.
pub const MAX_ENTRIES: usize = 10_000;
/// Longer session ids are not remembered (the request is served, just not sticky).
pub const MAX_SESSION_ID_LEN: usize = 256;
/// The longest a session keeps its key, whatever the client asks.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default)]
pub struct StickyTable {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<(String, String), (usize, Instant)>,
    /// The size at which expired entries are swept next: doubling after a sweep that left
    /// many live ones, so a full table of live sessions does not sweep on every insert.
    sweep_at: usize,
}

impl StickyTable {
    /// The key index stored for `(session, model)`, if it has not expired.
    pub fn get(&self, session: &str, model: &str) -> Option<usize> {
        let entries = self.entries.lock().ok()?;
        let (i, until) = entries.map.get(&(session.to_owned(), model.to_owned()))?;
        (*until > Instant::now()).then_some(*i)
    }

    pub fn put(&self, session: &str, model: &str, key: usize, ttl: Duration) {
        if session.len() > MAX_SESSION_ID_LEN {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        let Entries { map, sweep_at } = &mut *entries;
        if map.len() >= (*sweep_at).max(SWEEP_AT) {
            map.retain(|_, (_, until)| *until > now);
            *sweep_at = (map.len() * 2).min(MAX_ENTRIES);
        }
        if map.len() >= MAX_ENTRIES {
            // Still full of live sessions: the one closest to expiry makes room.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            (session.to_owned(), model.to_owned()),
            (key, now + ttl.min(MAX_TTL)),
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire() {
        let t = StickyTable::default();
        t.put("s", "m", 3, Duration::from_millis(30));
        assert_eq!(t.get("s", "m"), Some(3));
        assert_eq!(t.get("s", "other"), None);
        tokio::time::advance(Duration::from_millis(40)).await;
        assert_eq!(t.get("s", "m"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn client_chosen_ids_and_ttls_are_bounded() {
        let t = StickyTable::default();
        // A TTL that would overflow `Instant + ttl` is capped (this panicked, poisoning the
        // table, before).
        t.put("s", "m", 1, Duration::from_secs(u64::MAX));
        assert_eq!(t.get("s", "m"), Some(1));
        tokio::time::advance(MAX_TTL).await;
        assert_eq!(t.get("s", "m"), None);
        // Over-long ids are not remembered.
        let long = "x".repeat(MAX_SESSION_ID_LEN + 1);
        t.put(&long, "m", 1, Duration::from_secs(60));
        assert_eq!(t.get(&long, "m"), None);
        // The table never grows past its cap.
        for i in 0..MAX_ENTRIES + 50 {
            t.put(&format!("s{i}"), "m", 0, Duration::from_secs(60 + i as u64));
        }
        assert!(t.len() <= MAX_ENTRIES, "{}", t.len());
        assert_eq!(t.get(&format!("s{}", MAX_ENTRIES + 49), "m"), Some(0));
    }
}
