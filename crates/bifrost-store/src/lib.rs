//! Persistence for Bifrost-RS (§4.4, §4.8, §6.6, §6.7 of the behaviour reference).
//!
//! - [`LogStore`] keeps one row per request plus per-minute rollups that answer the dashboard's
//!   stats and histograms without scanning; [`LogWriter`] feeds it from the request path
//!   without ever blocking.
//! - [`ConfigStore`] keeps providers, their keys (encrypted at rest with a [`Cipher`]), the
//!   client config and a generic key/value table, and tells subscribers about changes — on
//!   PostgreSQL also those made by other replicas.
//!
//! Both run on SQLite (embedded, the default) or PostgreSQL through one `sqlx::AnyPool` code
//! path; SQL uses `$n` placeholders, unix-millisecond integers and JSON as TEXT so the same
//! statements run on both, and a private `Kind` switch covers the few that cannot.

mod backend;
mod config;
mod crypto;
mod error;
mod logs;
mod sql;

pub use backend::Backend;
pub use config::{ConfigStore, ImportDecision, SourceOfTruth, StoredKey, StoredProvider};
pub use crypto::Cipher;
pub use error::StoreError;
pub use logs::{
    capture, latency_bucket, latency_bucket_bounds, seed, FilterData, HistogramBucket, LogFilter,
    LogPage, LogQuery, LogRow, LogStats, LogStore, LogWriter, Order, SortBy, CONTENT_CAPTURE_LIMIT,
    LATENCY_BUCKETS, QUEUE_CONTENT_BUDGET, STREAM_CAPTURE_LIMIT,
};
