//! Stage timings of one upstream attempt (the seed's stage table), recorded by providers and
//! reported to plugins with each attempt ([`crate::plugin::AttemptEvent`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The seed's stage table, measured per upstream attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub key_selection: Duration,
    /// Translating the request into the provider's shape.
    pub message_formatting: Duration,
    /// Serializing the upstream body.
    pub json_marshaling: Duration,
    /// Sending the request and receiving the response (the first chunk, for streams).
    pub http_request: Duration,
    /// Decoding and translating the response.
    pub response_parsing: Duration,
}

/// Filled in by a provider during one call (atomics, so a `&StageClock` can cross awaits).
#[derive(Debug, Default)]
pub struct StageClock {
    formatting_ns: AtomicU64,
    marshaling_ns: AtomicU64,
    http_ns: AtomicU64,
    parsing_ns: AtomicU64,
}

/// Which provider-side stage a measurement belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Formatting,
    Marshaling,
    Http,
    Parsing,
}

impl StageClock {
    pub fn record(&self, stage: Stage, d: Duration) {
        let slot = match stage {
            Stage::Formatting => &self.formatting_ns,
            Stage::Marshaling => &self.marshaling_ns,
            Stage::Http => &self.http_ns,
            Stage::Parsing => &self.parsing_ns,
        };
        slot.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn times(&self, key_selection: Duration) -> StageTimes {
        let get = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        StageTimes {
            key_selection,
            message_formatting: get(&self.formatting_ns),
            json_marshaling: get(&self.marshaling_ns),
            http_request: get(&self.http_ns),
            response_parsing: get(&self.parsing_ns),
        }
    }
}
