//! The counters in this process's memory (no Redis, or Redis down with `on_store_failure: open`).

use super::*;
use std::sync::atomic::AtomicI64;

/// The same logic as the script, in this process.
pub(super) struct Memory {
    pub(super) state: Mutex<MemoryState>,
    /// Which `Memory` a compiled limit's kept slot belongs to (unique for the process, unlike
    /// an address, which a later `Memory` may reuse).
    id: u64,
}

impl Default for Memory {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            state: Mutex::default(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
pub(super) struct MemoryState {
    /// key base → its current window. A reconciliation that arrives after its window ended
    /// changes nothing (that window no longer limits anything), so one window per limit is
    /// enough. A compiled limit keeps its slot after the first lookup (`Spec::slot`): a request
    /// hashes no key.
    counters: FastMap<Arc<str>, Arc<Slot>>,
    /// key base → leases held.
    pub(super) leases: FastMap<Arc<str>, i64>,
    writes: u64,
}

/// One limit's current window: its start, what it used, and when it expires (Unix s). Read and
/// written only under [`Memory::state`]'s lock, which makes a request's counters all or none;
/// the fields are atomics only so that a compiled limit can hold its slot.
#[derive(Default, Debug)]
pub(super) struct Slot {
    start: AtomicI64,
    used: AtomicI64,
    exp: AtomicI64,
}

impl Slot {
    fn get(&self) -> (i64, i64, i64) {
        let r = |a: &AtomicI64| a.load(Ordering::Relaxed);
        (r(&self.start), r(&self.used), r(&self.exp))
    }

    /// What the window starting at `start` used so far.
    fn used(&self, start: i64, now: i64) -> i64 {
        match self.get() {
            (s, used, exp) if s == start && exp > now => used,
            _ => 0,
        }
    }
}

/// A limit's slot: the one its compiled limit keeps, or one found by its key.
enum SlotRef<'a> {
    Kept(&'a Slot),
    Found(Arc<Slot>),
}

impl std::ops::Deref for SlotRef<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        match self {
            SlotRef::Kept(s) => s,
            SlotRef::Found(s) => s,
        }
    }
}

impl MemoryState {
    /// The slot of `spec`'s limit: the one it keeps, or found (made) by its key and kept.
    fn slot<'s>(&mut self, spec: &'s Spec, memory: u64) -> SlotRef<'s> {
        if let Some((owner, slot)) = spec.slot.get() {
            if *owner == memory {
                return SlotRef::Kept(slot);
            }
        }
        let slot = self.counters.entry(spec.base.clone()).or_default().clone();
        // Kept for next time, unless this limit keeps a slot of another `Memory` already (one
        // per process in the gateway; several in tests).
        let _ = spec.slot.set((memory, slot.clone()));
        SlotRef::Found(slot)
    }

    /// Sets the counter of `e`'s limit to `f(window start, used)`, opened at `e`'s window when
    /// it held an older or expired one (a new window starts from zero).
    fn update(&mut self, e: &Reserved, now: i64, memory: u64, f: impl FnOnce(i64, i64) -> i64) {
        let slot = self.slot(&e.spec, memory);
        let (mut start, mut used, exp) = slot.get();
        if start < e.window_start || exp <= now {
            (start, used) = (e.window_start, 0);
            slot.start.store(start, Ordering::Relaxed);
            let exp = now + e.spec.window.ttl_secs();
            slot.exp.store(exp, Ordering::Relaxed);
        }
        slot.used.store(f(start, used), Ordering::Relaxed);
    }

    /// What the window starting at `start` used so far.
    pub(super) fn used(&self, base: &str, start: i64, now: i64) -> i64 {
        self.counters.get(base).map_or(0, |s| s.used(start, now))
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
        let me = self.id;
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
            let used = st.slot(&c.spec, me).used(start, now);
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
                st.update(e, now, me, |_, used| used + e.amount);
            }
        }
        st.writes += 1;
        if st.writes.is_multiple_of(4096) {
            // A slot a compiled limit keeps stays (it is that limit's counter).
            st.counters
                .retain(|_, s| Arc::strong_count(s) > 1 || s.exp.load(Ordering::Relaxed) > now);
        }
        Ok(Reservation {
            place: Place::Memory,
            entries,
            member: member.to_owned(),
        })
    }

    pub(super) fn settle(&self, r: &Reservation, deltas: &[i64], now_ms: i64) {
        let now = now_ms.div_euclid(1000);
        let me = self.id;
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
                st.update(e, now, me, |start, used| {
                    if start == e.window_start {
                        used + d
                    } else {
                        used
                    }
                });
            }
        }
    }
}
