//! Usage counters: every limit and budget of a request's chain is checked and reserved at once
//! (all or none), then reconciled with what the call actually used.
//!
//! With Redis, one Lua script per request does the check-and-reserve with Redis `TIME` (never a
//! replica's clock), so any number of replicas share exact limits. Without it (or with Redis
//! down and `on_store_failure: open`), the same logic runs in this process's memory.

use super::FastMap;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Requests,
    Tokens,
    /// Micro-dollars.
    Budget,
    /// Requests in flight (a lease set, no window).
    Concurrency,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Tokens => "tokens",
            Kind::Budget => "budget",
            Kind::Concurrency => "concurrency",
        }
    }
}

/// Whose limit it is (for messages, and for routing: a provider config's own budget only
/// skips that provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    ProviderConfig,
    VirtualKey,
    Team,
    Customer,
    Model,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::ProviderConfig => "provider config",
            Level::VirtualKey => "virtual key",
            Level::Team => "team",
            Level::Customer => "customer",
            Level::Model => "model",
        }
    }
}

/// A counting window. Fixed windows are aligned to the Unix epoch (an hour starts on the
/// hour); calendar weeks start on Monday 00:00 UTC, months on the 1st.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Seconds(u64),
    Weeks(u32),
    Months(u32),
}

impl Window {
    /// The script's spelling.
    fn spec(self, kind: Kind) -> String {
        match (kind, self) {
            (Kind::Concurrency, _) => "c".to_owned(),
            (_, Window::Seconds(s)) => format!("s{s}"),
            (_, Window::Weeks(n)) => format!("w{n}"),
            (_, Window::Months(n)) => format!("M{n}"),
        }
    }

    /// A counter's lifetime in the store: two windows (a month counts as 31 days).
    fn ttl_secs(self) -> i64 {
        2 * match self {
            Window::Seconds(s) => (s as i64).max(1),
            Window::Weeks(n) => 604_800 * i64::from(n),
            Window::Months(n) => 31 * 86_400 * i64::from(n),
        }
    }

    /// `[start, end)` in Unix seconds of the window holding `now`.
    pub fn bounds(self, now: i64) -> (i64, i64) {
        match self {
            Window::Seconds(0) => (0, 0),
            Window::Seconds(s) => {
                let s = s as i64;
                let start = now - now.rem_euclid(s);
                (start, start + s)
            }
            Window::Weeks(n) => {
                // 1970-01-05 was a Monday.
                let p = 604_800 * i64::from(n);
                let start = now - (now - 345_600).rem_euclid(p);
                (start, start + p)
            }
            Window::Months(n) => {
                let n = i64::from(n);
                let (y, m, _) = civil_from_days(now.div_euclid(86_400));
                let idx = y * 12 + (m - 1);
                let s = idx - idx.rem_euclid(n);
                let e = s + n;
                let day = |i: i64| days_from_civil(i.div_euclid(12), i.rem_euclid(12) + 1, 1);
                (day(s) * 86_400, day(e) * 86_400)
            }
        }
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One limit of one entity, compiled once per snapshot; a request's checks and reservations
/// share it (a clone is one reference count).
#[derive(Debug, Clone)]
pub struct LimitSpec(Arc<Spec>);

#[derive(Debug)]
pub struct Spec {
    pub kind: Kind,
    pub level: Level,
    /// The budget's or rate limit's id (the VK's, for concurrency).
    pub id: Arc<str>,
    /// The counter's key without its window: `bf:budget:{id}`, `bf:rl:{id}:req`, …
    pub base: Arc<str>,
    pub limit: i64,
    pub window: Window,
    /// `limit` as a header value (`x-ratelimit-limit-*`), made once.
    pub limit_header: http::HeaderValue,
    /// The window as the Redis script spells it.
    pub window_arg: Box<str>,
}

impl std::ops::Deref for LimitSpec {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.0
    }
}

impl LimitSpec {
    pub fn new(kind: Kind, id: &str, limit: i64, window: Window) -> Self {
        let base = match kind {
            Kind::Budget => format!("bf:budget:{id}"),
            Kind::Requests => format!("bf:rl:{id}:req"),
            Kind::Tokens => format!("bf:rl:{id}:tok"),
            Kind::Concurrency => format!("bf:vk:{id}:conc"),
        };
        Self(Arc::new(Spec {
            kind,
            level: Level::VirtualKey,
            id: id.into(),
            base: base.into(),
            limit,
            window,
            limit_header: limit.into(),
            window_arg: window.spec(kind).into(),
        }))
    }

    pub fn at(&self, level: Level) -> Self {
        Self(Arc::new(Spec {
            level,
            id: self.id.clone(),
            base: self.base.clone(),
            limit_header: self.limit_header.clone(),
            window_arg: self.window_arg.clone(),
            ..*self.0
        }))
    }
}

/// One counter to check and reserve: a limit and the amount this request takes from it.
#[derive(Debug, Clone)]
pub struct Check {
    pub spec: LimitSpec,
    pub amount: i64,
}

/// Where a reservation was made (it is reconciled in the same place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Memory,
    Redis,
}

/// One reserved counter.
#[derive(Debug, Clone)]
pub struct Reserved {
    pub spec: LimitSpec,
    /// The window's start (Unix s; 0 for concurrency).
    pub window_start: i64,
    pub amount: i64,
    /// Usage after this reservation, and when its window ends (Unix ms; 0 for concurrency).
    pub used: i64,
    pub window_end_ms: i64,
}

/// What a request holds until it is reconciled.
#[derive(Debug)]
pub struct Reservation {
    pub place: Place,
    pub entries: Vec<Reserved>,
    /// The concurrency lease's member.
    pub member: String,
}

/// A limit that refused the request.
#[derive(Debug, Clone)]
pub struct Exceeded {
    pub spec: LimitSpec,
    pub used: i64,
    pub retry_after: Duration,
}

#[derive(Debug)]
pub enum Refusal {
    Exceeded(Exceeded),
    /// The shared store failed and `on_store_failure` is `closed`.
    Unavailable(String),
}

/// What to do when Redis fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Enforce per replica (in memory) and count the failure.
    Open,
    /// Refuse with 503.
    Closed,
}

/// How long a lease of `max_concurrent_requests` lives in Redis if its holder never returns it
/// (a replica that died mid-request). A request still running after this no longer counts.
const LEASE: Duration = Duration::from_secs(3600);
/// How long a Redis call may take before it counts as a failure.
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

struct RedisCounters {
    conn: ConnectionManager,
    reserve: Arc<redis::Script>,
    settle: Arc<redis::Script>,
    settle_tx: tokio::sync::mpsc::UnboundedSender<Vec<Settle>>,
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
        cmd.arg(checks.len())
            .arg(member)
            .arg(LEASE.as_millis() as u64);
        for c in checks {
            cmd.arg(&*c.spec.base)
                .arg(c.spec.limit)
                .arg(&*c.spec.window_arg)
                .arg(c.amount);
        }
        // The call runs on a task of its own: if the reply comes too late (or this request is
        // dropped meanwhile), the task takes back what the script reserved.
        let undo: Vec<(LimitSpec, i64)> =
            checks.iter().map(|c| (c.spec.clone(), c.amount)).collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (conn, reserve, settle) = (r.conn.clone(), r.reserve.clone(), r.settle.clone());
        let member_owned = member.to_owned();
        tokio::spawn(async move {
            let mut conn = conn;
            let answer = evalsha::<Vec<i64>>(&mut conn, &reserve, &cmd).await;
            let reserved = matches!(&answer, Ok(v) if v.first() == Some(&1));
            if let (Err(Ok(values)), true) = (tx.send(answer), reserved) {
                // Nobody took the reservation: return it.
                let mut cmd = evalsha_cmd(&settle);
                for (i, (spec, amount)) in undo.iter().enumerate() {
                    let start = values.get(2 + i * 3).copied().unwrap_or(0);
                    let key = redis_key(spec, start);
                    match spec.kind {
                        Kind::Concurrency => cmd.arg(key).arg(&member_owned).arg(-1),
                        _ => cmd.arg(key).arg(-amount).arg(spec.window.ttl_secs()),
                    };
                }
                let _ = tokio::time::timeout(
                    REDIS_TIMEOUT * 4,
                    evalsha::<i64>(&mut conn, &settle, &cmd),
                )
                .await;
            }
        });
        let values = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(v))) => v,
            Ok(Ok(Err(e))) => return self.failed(checks, member, e.to_string()),
            Ok(Err(_)) => return self.failed(checks, member, "the Redis call ended".to_owned()),
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
        let entries = checks
            .iter()
            .enumerate()
            .map(|(i, c)| Reserved {
                spec: c.spec.clone(),
                window_start: int(2 + i * 3),
                amount: c.amount,
                used: int(1 + i * 3),
                window_end_ms: int(3 + i * 3) * 1000,
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
                Kind::Concurrency => (s.base.to_string(), None),
                _ => {
                    let (start, end) = s.window.bounds(now);
                    (format!("{}:{start}", s.base), Some(end * 1000))
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
            match e.spec.kind {
                Kind::Concurrency => items.push(Settle::Lease(
                    redis_key(&e.spec, e.window_start),
                    r.member.clone(),
                )),
                _ if *d != 0 => items.push(Settle::Add(
                    redis_key(&e.spec, e.window_start),
                    *d,
                    e.spec.window.ttl_secs(),
                )),
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

/// Sends queued reconciliations, merged per counter, one script call per batch.
async fn flush_loop(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<Settle>>,
    mut conn: ConnectionManager,
    script: Arc<redis::Script>,
    failures: Arc<AtomicU64>,
    queue: Arc<Queue>,
) {
    {
        while let Some(first) = rx.recv().await {
            let mut batches = 1;
            let mut adds: HashMap<String, (i64, i64)> = HashMap::new();
            let mut leases: Vec<(String, String)> = Vec::new();
            let mut take = |items: Vec<Settle>| {
                for it in items {
                    match it {
                        Settle::Add(k, d, ttl) => {
                            let slot = adds.entry(k).or_insert((0, ttl));
                            slot.0 += d;
                        }
                        Settle::Lease(k, m) => leases.push((k, m)),
                    }
                }
            };
            take(first);
            while batches < 512 {
                match rx.try_recv() {
                    Ok(items) => {
                        take(items);
                        batches += 1;
                    }
                    Err(_) => break,
                }
            }
            let mut cmd = evalsha_cmd(&script);
            for (k, (d, ttl)) in &adds {
                if *d != 0 {
                    cmd.arg(k).arg(*d).arg(*ttl);
                }
            }
            for (k, m) in &leases {
                cmd.arg(k).arg(m).arg(-1);
            }
            let done =
                tokio::time::timeout(REDIS_TIMEOUT * 4, evalsha::<i64>(&mut conn, &script, &cmd))
                    .await;
            if !matches!(done, Ok(Ok(_))) {
                failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "governance: reconciling usage in Redis failed; the reservations stand"
                );
            }
            queue.done(batches);
        }
    }
}

/// One reconciliation for Redis: add to a counter (key, delta, ttl), or return a lease.
enum Settle {
    Add(String, i64, i64),
    Lease(String, String),
}

/// A reserved counter's key in Redis: the lease set, or the window's counter.
fn redis_key(spec: &LimitSpec, window_start: i64) -> String {
    match spec.kind {
        Kind::Concurrency => spec.base.to_string(),
        _ => format!("{}:{window_start}", spec.base),
    }
}

/// `EVALSHA <script> 0`, to which the call's arguments are added (written once, integers as
/// integers: no `ScriptInvocation` copies), sized for a request's few counters.
fn evalsha_cmd(script: &redis::Script) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(32, 512);
    cmd.arg("EVALSHA").arg(script.get_hash()).arg(0);
    cmd
}

/// Runs `cmd`; on NOSCRIPT (a Redis that restarted or was flushed) loads the script and runs it
/// again.
async fn evalsha<T: redis::FromRedisValue>(
    conn: &mut ConnectionManager,
    script: &redis::Script,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(conn).await?;
            cmd.query_async(conn).await
        }
        r => r,
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

/// The same logic as the script, in this process.
#[derive(Default)]
struct Memory {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    /// key base → its current window. A reconciliation that arrives after its window ended
    /// changes nothing (that window no longer limits anything), so one window per limit is
    /// enough, and the map is read by `&str` (no key built per request).
    counters: FastMap<Arc<str>, Slot>,
    /// key base → leases held.
    leases: FastMap<Arc<str>, i64>,
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
    fn used(&self, base: &str, start: i64, now: i64) -> i64 {
        match self.counters.get(base) {
            Some(s) if s.start == start && s.exp > now => s.used,
            _ => 0,
        }
    }
}

impl Memory {
    fn reserve(&self, checks: &[Check], member: &str, now_ms: i64) -> Result<Reservation, Refusal> {
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

    fn settle(&self, r: &Reservation, deltas: &[i64], now_ms: i64) {
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

/// Check and reserve every counter, or none. ARGV: n, lease member, lease ms, then per counter:
/// key base, limit, window spec (`s<secs>`, `w<weeks>`, `M<months>`, `c` for a lease set),
/// amount. Answers integers only (cheap to parse): `{1, used, window_start_s, window_end_s, …}`
/// (the key is `base:window_start`; 0, 0 for a lease set) or `{0, index, retry_ms, used}`.
const RESERVE_LUA: &str = r#"
-- bf_gov_reserve_v2
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mm = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mm + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end
local function bounds(kind, n, now)
  if kind == 's' then
    local s = now - (now % n)
    return s, s + n
  elseif kind == 'w' then
    local p = 604800 * n
    local s = now - ((now - 345600) % p)
    return s, s + p
  else
    local y, m = civil_from_days(math.floor(now / 86400))
    local idx = y * 12 + (m - 1)
    local s = idx - (idx % n)
    local e = s + n
    return days_from_civil(math.floor(s / 12), (s % 12) + 1, 1) * 86400,
           days_from_civil(math.floor(e / 12), (e % 12) + 1, 1) * 86400
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1])
local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local member = ARGV[2]
local lease = tonumber(ARGV[3])
local plan = {}
local out = {1}
for i = 0, n - 1 do
  local base = ARGV[4 + i * 4]
  local limit = tonumber(ARGV[5 + i * 4])
  local spec = ARGV[6 + i * 4]
  local amount = tonumber(ARGV[7 + i * 4])
  local kind = string.sub(spec, 1, 1)
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', base, '-inf', now_ms)
    local used = redis.call('ZCARD', base)
    if used + 1 > limit then return {0, i, 1000, used} end
    plan[#plan + 1] = {'c', base, 0, 0}
    out[#out + 1] = used + 1; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local ws, we = bounds(kind, tonumber(string.sub(spec, 2)), now)
    local key = base .. ':' .. ws
    local used = tonumber(redis.call('GET', key) or '0')
    if used >= limit or used + amount > limit then
      return {0, i, we * 1000 - now_ms, used}
    end
    plan[#plan + 1] = {'w', key, amount, (we - ws) * 2}
    out[#out + 1] = used + amount; out[#out + 1] = ws; out[#out + 1] = we
  end
end
for _, p in ipairs(plan) do
  if p[1] == 'c' then
    redis.call('ZADD', p[2], now_ms + lease, member)
    redis.call('PEXPIRE', p[2], lease * 2)
  elseif p[3] ~= 0 then
    redis.call('INCRBY', p[2], p[3])
    if redis.call('TTL', p[2]) < 0 then redis.call('EXPIRE', p[2], p[4]) end
  end
end
return out
"#;

/// Reconcile: ARGV triples: (key, delta, ttl) adds to a counter; (key, member, -1) returns a
/// lease.
const SETTLE_LUA: &str = r#"
-- bf_gov_settle_v2
local i = 1
while ARGV[i] do
  local key, v, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if ttl == -1 then
    redis.call('ZREM', key, v)
  else
    local delta = tonumber(v)
    if delta ~= 0 then
      redis.call('INCRBY', key, delta)
      if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ttl) end
    end
  end
  i = i + 3
end
return 1
"#;

#[cfg(test)]
mod tests;
