//! Usage counters: every limit and budget of a request's chain is checked and reserved at once
//! (all or none), then reconciled with what the call actually used.
//!
//! With Redis, one Lua script per request does the check-and-reserve with Redis `TIME` (never a
//! replica's clock), so any number of replicas share exact limits. Without it (or with Redis
//! down and `on_store_failure: open`), the same logic runs in this process's memory.

use super::FastMap;
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod types;
pub use types::{
    Check, Exceeded, Kind, Level, LimitSpec, OnFailure, Place, Refusal, Reservation, Reserved, Spec,
};

mod window;
pub use window::Window;
#[cfg(test)]
use window::{civil_from_days, days_from_civil};

mod memory;
use memory::Memory;

mod redis_store;
use redis_store::{
    evalsha, evalsha_cmd, flush_loop, redis_key, reserve_arg, Ints, RedisCounters, Settle,
    RESERVE_LUA, SETTLE_LUA,
};

/// How long a lease of `max_concurrent_requests` lives in Redis if its holder never returns it
/// (a replica that died mid-request). A request still running after this no longer counts.
const LEASE: Duration = Duration::from_secs(3600);
/// How long a request waits for Redis by default (`kv_store.redis.timeout_ms`).
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

pub struct Counters {
    memory: Memory,
    redis: Option<RedisCounters>,
    pub on_failure: OnFailure,
    /// Redis calls that failed (timeouts included).
    pub failures: Arc<AtomicU64>,
    /// Counters known to be exhausted, and until when: refused without a round trip.
    blocked: Mutex<FastMap<Arc<str>, (Instant, Exceeded)>>,
    /// Reconciliations queued for Redis and not yet sent.
    queue: Arc<Queue>,
    /// How long a request waits for Redis before `on_failure` applies.
    timeout: Duration,
}

/// How many reconciliations wait for Redis, and a wake-up when none does.
#[derive(Default)]
struct Queue {
    queued: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Queue {
    fn done(&self, n: usize) {
        if self.queued.fetch_sub(n, Ordering::SeqCst) == n {
            self.idle.notify_waiters();
        }
    }
}

type Answer = futures::future::BoxFuture<'static, redis::RedisResult<Ints>>;

/// A reserve call in flight. Dropped before its answer came, it hands the call to a task that
/// gives back what the script reserved, if it did.
struct Call<'a> {
    answer: Option<Answer>,
    checks: &'a [Check],
    member: &'a str,
    redis: &'a RedisCounters,
}

impl std::future::Future for Call<'_> {
    type Output = redis::RedisResult<Ints>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(answer) = self.answer.as_mut() else {
            return std::task::Poll::Pending;
        };
        let out = std::task::ready!(answer.as_mut().poll(cx));
        self.answer = None;
        std::task::Poll::Ready(out)
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        let Some(answer) = self.answer.take() else {
            return;
        };
        let undo: Vec<(LimitSpec, i64)> = self
            .checks
            .iter()
            .map(|c| (c.spec.clone(), c.amount))
            .collect();
        let (mut conn, settle) = (self.redis.conn.clone(), self.redis.settle.clone());
        let member = self.member.to_owned();
        let give_back = async move {
            let Ok(Ints(values)) = answer.await else {
                return;
            };
            if values.first() != Some(&1) {
                return;
            }
            let mut cmd = evalsha_cmd(&settle);
            let now = values.get(1).copied().unwrap_or(0);
            for (spec, amount) in &undo {
                let key = redis_key(spec, spec.window.bounds(now).0);
                match spec.kind {
                    Kind::Concurrency => cmd.arg(key).arg(&member).arg(-1),
                    _ => cmd.arg(key).arg(-amount).arg(spec.window.ttl_secs()),
                };
            }
            let _ =
                tokio::time::timeout(REDIS_TIMEOUT * 4, evalsha::<i64>(&mut conn, &settle, &cmd))
                    .await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(give_back)),
            // No runtime to finish on (a process shutting down): the reservation stays until
            // its window ends or its lease expires.
            Err(_) => tracing::warn!("governance: a Redis reservation could not be given back"),
        }
    }
}

impl Counters {
    pub fn memory() -> Self {
        Self {
            memory: Memory::default(),
            redis: None,
            on_failure: OnFailure::Open,
            failures: Arc::default(),
            blocked: Mutex::default(),
            queue: Arc::default(),
            timeout: REDIS_TIMEOUT,
        }
    }

    /// Counters in Redis; connects lazily (startup never waits for Redis).
    pub fn redis(
        client: redis::Client,
        on_failure: OnFailure,
        timeout: Duration,
    ) -> Result<Self, String> {
        // The request waits `timeout`; the call itself waits longer, so that a reply that
        // comes late is still seen (and its reservation given back).
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout * 20))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("kv_store.redis: {e}"))?;
        let settle = Arc::new(redis::Script::new(SETTLE_LUA));
        let (settle_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let me = Self {
            redis: Some(RedisCounters {
                conn: conn.clone(),
                reserve: Arc::new(redis::Script::new(RESERVE_LUA)),
                settle: settle.clone(),
                settle_tx,
            }),
            on_failure,
            timeout,
            ..Self::memory()
        };
        tokio::spawn(flush_loop(
            rx,
            conn,
            settle,
            me.failures.clone(),
            me.queue.clone(),
        ));
        Ok(me)
    }

    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Forgets what is known to be blocked (limits changed).
    pub fn clear_blocked(&self) {
        lock(&self.blocked).clear();
    }

    /// [`Counters::reserve`] when it needs no round trip (counters in memory, or nothing to
    /// check); `None` when Redis must answer.
    pub fn reserve_local(
        &self,
        checks: &[Check],
        member: &str,
    ) -> Option<Result<Reservation, Refusal>> {
        if checks.is_empty() {
            return Some(Ok(Reservation {
                place: Place::Memory,
                entries: Vec::new(),
                member: String::new(),
            }));
        }
        if self.redis.is_some() {
            return None;
        }
        let r = self.memory.reserve(checks, member, now_ms());
        if let Err(Refusal::Exceeded(ex)) = &r {
            self.remember(ex);
        }
        Some(r)
    }

    /// Checks every counter and reserves all of them, or none.
    pub async fn reserve(&self, checks: &[Check], member: &str) -> Result<Reservation, Refusal> {
        let redis = match self.reserve_local(checks, member) {
            Some(r) => return r,
            None => self.redis.as_ref(),
        };
        let Some(r) = redis else {
            return self.failed(checks, member, "no Redis configured".to_owned());
        };
        {
            let now = Instant::now();
            let mut blocked = lock(&self.blocked);
            for c in checks {
                if let Some((until, ex)) = blocked.get(&c.spec.base) {
                    if *until > now {
                        let mut ex = ex.clone();
                        ex.retry_after = ex.retry_after.max(until.duration_since(now));
                        return Err(Refusal::Exceeded(ex));
                    }
                    blocked.remove(&c.spec.base);
                }
            }
        }
        // One command, built once: integers written as integers, names borrowed.
        let mut cmd = evalsha_cmd(&r.reserve);
        cmd.arg(member)
            .arg(LEASE.as_millis() as u64)
            .arg(reserve_arg(checks));
        for c in checks {
            cmd.arg(&*c.spec.base);
        }
        // Polled here (no task per request); if the reply comes too late, or this request is
        // dropped meanwhile, the call moves to a task that takes back what the script reserved.
        let mut call = Call {
            answer: Some(Box::pin({
                let (mut conn, script) = (r.conn.clone(), r.reserve.clone());
                async move { evalsha::<Ints>(&mut conn, &script, &cmd).await }
            })),
            checks,
            member,
            redis: r,
        };
        let values = match tokio::time::timeout(self.timeout, &mut call).await {
            Ok(Ok(v)) => v.0,
            Ok(Err(e)) => return self.failed(checks, member, e.to_string()),
            Err(_) => return self.failed(checks, member, "timed out".to_owned()),
        };
        let int = |i: usize| values.get(i).copied().unwrap_or(0);
        if int(0) != 1 {
            let spec = usize::try_from(int(1))
                .ok()
                .and_then(|i| checks.get(i))
                .map(|c| c.spec.clone());
            let Some(spec) = spec else {
                return self.failed(checks, member, "unexpected script answer".to_owned());
            };
            let ex = Exceeded {
                retry_after: Duration::from_millis(int(2).max(0) as u64),
                used: int(3),
                spec,
            };
            self.remember(&ex);
            return Err(Refusal::Exceeded(ex));
        }
        // The windows as the script placed them, from Redis's clock.
        let now = int(1);
        let entries = checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (start, end) = match c.spec.kind {
                    Kind::Concurrency => (0, 0),
                    _ => c.spec.window.bounds(now),
                };
                Reserved {
                    spec: c.spec.clone(),
                    window_start: start,
                    amount: c.amount,
                    used: int(2 + i),
                    window_end_ms: end * 1000,
                }
            })
            .collect();
        Ok(Reservation {
            place: Place::Redis,
            entries,
            member: member.to_owned(),
        })
    }

    /// Remembers an exhausted counter. Request counts only grow until the window ends; tokens
    /// and money can come back when reservations are reconciled, so those are trusted for a
    /// moment only.
    fn remember(&self, ex: &Exceeded) {
        // Refused only because this request asked for much: others may still fit.
        if ex.used < ex.spec.limit {
            return;
        }
        let hold = match ex.spec.kind {
            Kind::Requests => ex.retry_after,
            Kind::Concurrency => Duration::ZERO,
            _ => ex.retry_after.min(Duration::from_secs(1)),
        };
        if !hold.is_zero() {
            lock(&self.blocked).insert(ex.spec.base.clone(), (Instant::now() + hold, ex.clone()));
        }
    }

    /// Whether one of `specs` is known to be exhausted (routing skips such providers).
    pub fn known_blocked(&self, specs: &[LimitSpec]) -> bool {
        let now = Instant::now();
        let b = lock(&self.blocked);
        specs
            .iter()
            .any(|s| b.get(&s.base).is_some_and(|(until, _)| *until > now))
    }

    /// Current usage of each limit (and when its window ends, Unix ms), for the API. Windows
    /// are placed by this replica's clock here (a read, not an enforcement).
    pub async fn usage(&self, specs: &[LimitSpec]) -> Result<Vec<(i64, Option<i64>)>, String> {
        let now_ms = now_ms();
        let now = now_ms.div_euclid(1000);
        let keys: Vec<(String, Option<i64>)> = specs
            .iter()
            .map(|s| match s.kind {
                Kind::Concurrency => (redis_key(s, 0), None),
                _ => {
                    let (start, end) = s.window.bounds(now);
                    (redis_key(s, start), Some(end * 1000))
                }
            })
            .collect();
        let Some(r) = &self.redis else {
            let st = lock(&self.memory.state);
            return Ok(specs
                .iter()
                .zip(keys)
                .map(|(s, (_, end))| {
                    let used = match s.kind {
                        Kind::Concurrency => st.leases.get(&*s.base).copied().unwrap_or(0),
                        _ => st.used(&s.base, s.window.bounds(now).0, now),
                    };
                    (used, end)
                })
                .collect());
        };
        let mut pipe = redis::pipe();
        for (s, (k, _)) in specs.iter().zip(&keys) {
            match s.kind {
                Kind::Concurrency => pipe.zcount(k, now_ms, "+inf"),
                _ => pipe.get(k),
            };
        }
        let mut conn = r.conn.clone();
        let values: Vec<Option<i64>> =
            tokio::time::timeout(self.timeout, pipe.query_async(&mut conn))
                .await
                .map_err(|_| "Redis timed out".to_owned())?
                .map_err(|e| format!("Redis: {e}"))?;
        Ok(values
            .into_iter()
            .zip(keys)
            .map(|(v, (_, end))| (v.unwrap_or(0), end))
            .collect())
    }

    fn failed(&self, checks: &[Check], member: &str, why: String) -> Result<Reservation, Refusal> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %why, "governance: the Redis counters failed");
        match self.on_failure {
            OnFailure::Closed => Err(Refusal::Unavailable(why)),
            OnFailure::Open => self.memory.reserve(checks, member, now_ms()),
        }
    }

    /// [`Counters::settle`] at once when the reservation is in memory (no task needed);
    /// otherwise hands it back.
    pub fn settle_local(&self, r: Reservation, deltas: &[i64]) -> Result<(), Reservation> {
        if r.place == Place::Redis && self.redis.is_some() {
            return Err(r);
        }
        if !r.entries.is_empty() {
            self.memory.settle(&r, deltas, now_ms());
        }
        Ok(())
    }

    /// Adds `deltas[i]` (actual − reserved) to each reserved counter and returns the lease. In
    /// Redis this is queued: one task sends what many requests settle in one script call.
    pub fn settle(&self, r: Reservation, deltas: &[i64]) {
        if r.entries.is_empty() {
            return;
        }
        let Err(r) = self.settle_local(r, deltas) else {
            return;
        };
        let Some(rc) = &self.redis else { return };
        let mut items = Vec::with_capacity(r.entries.len());
        for (e, d) in r
            .entries
            .iter()
            .zip(deltas.iter().chain(std::iter::repeat(&0)))
        {
            // Keys are spelled by the flush loop, once per counter and batch.
            match e.spec.kind {
                Kind::Concurrency => {
                    items.push(Settle::Lease(e.spec.base.clone(), r.member.clone()));
                }
                _ if *d != 0 => items.push(Settle::Add {
                    spec: e.spec.clone(),
                    start: e.window_start,
                    delta: *d,
                }),
                _ => {}
            }
        }
        if items.is_empty() {
            return;
        }
        self.queue.queued.fetch_add(1, Ordering::SeqCst);
        if rc.settle_tx.send(items).is_err() {
            self.queue.done(1);
        }
    }

    /// Waits until queued reconciliations reached Redis (or failed), up to `limit`.
    pub async fn wait_settled(&self, limit: Duration) {
        let wait = async {
            loop {
                let n = self.queue.idle.notified();
                if self.queue.queued.load(Ordering::SeqCst) == 0 {
                    return;
                }
                n.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
