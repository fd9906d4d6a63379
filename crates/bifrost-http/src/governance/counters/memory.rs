//! The counters in this process's memory (no Redis, or Redis down with `on_store_failure: open`).

use super::*;

/// The same logic as the script, in this process.
#[derive(Default)]
pub(super) struct Memory {
    pub(super) state: Mutex<MemoryState>,
}

#[derive(Default)]
pub(super) struct MemoryState {
    /// key base → its current window. A reconciliation that arrives after its window ended
    /// changes nothing (that window no longer limits anything), so one window per limit is
    /// enough, and the map is read by `&str` (no key built per request).
    counters: FastMap<Arc<str>, Slot>,
    /// key base → leases held.
    pub(super) leases: FastMap<Arc<str>, i64>,
    writes: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    /// The window's start, what it used, and when it expires (Unix s).
    start: i64,
    used: i64,
    exp: i64,
}

impl MemoryState {
    /// Applies `f` to the counter of `e`'s limit, opened at `e`'s window when it held an older
    /// or expired one (a new window starts from zero).
    fn update(&mut self, e: &Reserved, now: i64, f: impl FnOnce(&mut Slot)) {
        let fresh = Slot {
            start: e.window_start,
            used: 0,
            exp: now + e.spec.window.ttl_secs(),
        };
        let slot = match self.counters.get_mut(&*e.spec.base) {
            Some(s) => s,
            None => self.counters.entry(e.spec.base.clone()).or_insert(fresh),
        };
        if slot.start < e.window_start || slot.exp <= now {
            *slot = fresh;
        }
        f(slot);
    }

    /// What the window starting at `start` used so far.
    pub(super) fn used(&self, base: &str, start: i64, now: i64) -> i64 {
        match self.counters.get(base) {
            Some(s) if s.start == start && s.exp > now => s.used,
            _ => 0,
        }
    }
}

impl Memory {
    pub(super) fn reserve(
        &self,
        checks: &[Check],
        member: &str,
        now_ms: i64,
    ) -> Result<Reservation, Refusal> {
        let now = now_ms.div_euclid(1000);
        let mut st = lock(&self.state);
        let mut entries = Vec::with_capacity(checks.len());
        for c in checks {
            if c.spec.kind == Kind::Concurrency {
                let used = st.leases.get(&*c.spec.base).copied().unwrap_or(0);
                if used + 1 > c.spec.limit {
                    return Err(Refusal::Exceeded(Exceeded {
                        spec: c.spec.clone(),
                        used,
                        retry_after: Duration::from_secs(1),
                    }));
                }
                entries.push(Reserved {
                    spec: c.spec.clone(),
                    window_start: 0,
                    amount: 1,
                    used: used + 1,
                    window_end_ms: 0,
                });
                continue;
            }
            let (start, end) = c.spec.window.bounds(now);
            let used = st.used(&c.spec.base, start, now);
            if used >= c.spec.limit || used + c.amount > c.spec.limit {
                return Err(Refusal::Exceeded(Exceeded {
                    spec: c.spec.clone(),
                    used,
                    retry_after: Duration::from_millis((end * 1000 - now_ms).max(0) as u64),
                }));
            }
            entries.push(Reserved {
                spec: c.spec.clone(),
                window_start: start,
                amount: c.amount,
                used: used + c.amount,
                window_end_ms: end * 1000,
            });
        }
        for e in &entries {
            if e.spec.kind == Kind::Concurrency {
                *st.leases.entry(e.spec.base.clone()).or_insert(0) += 1;
            } else if e.amount != 0 {
                // A clock that stepped back keeps counting into the newest window.
                st.update(e, now, |slot| slot.used += e.amount);
            }
        }
        st.writes += 1;
        if st.writes.is_multiple_of(4096) {
            st.counters.retain(|_, s| s.exp > now);
        }
        Ok(Reservation {
            place: Place::Memory,
            entries,
            member: member.to_owned(),
        })
    }

    pub(super) fn settle(&self, r: &Reservation, deltas: &[i64], now_ms: i64) {
        let now = now_ms.div_euclid(1000);
        let mut st = lock(&self.state);
        for (e, d) in r
            .entries
            .iter()
            .zip(deltas.iter().chain(std::iter::repeat(&0)))
        {
            if e.spec.kind == Kind::Concurrency {
                if let Some(n) = st.leases.get_mut(&*e.spec.base) {
                    *n -= 1;
                    if *n <= 0 {
                        st.leases.remove(&*e.spec.base);
                    }
                }
            } else if *d != 0 {
                // Into the window the reservation was made in (a reservation of 0, as a soft
                // budget makes, may not have opened it yet); a later window owes nothing.
                st.update(e, now, |slot| {
                    if slot.start == e.window_start {
                        slot.used += d;
                    }
                });
            }
        }
    }
}
