//! What the counters deal in: limit kinds and levels, compiled limits, reservations and refusals.

use super::*;

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
    /// `"{limit} {window}"` as the Redis script reads a counter (the request adds its amount).
    pub script_arg: Box<str>,
    /// This limit's counter in memory, once looked up (with the `Memory` that owns it).
    pub(super) slot: std::sync::OnceLock<(u64, Arc<super::memory::Slot>)>,
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
            script_arg: format!("{limit} {}", window.spec(kind)).into(),
            slot: Default::default(),
        }))
    }

    pub fn at(&self, level: Level) -> Self {
        Self(Arc::new(Spec {
            level,
            id: self.id.clone(),
            base: self.base.clone(),
            limit_header: self.limit_header.clone(),
            script_arg: self.script_arg.clone(),
            slot: Default::default(),
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
