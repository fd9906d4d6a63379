//! The connection pools a provider is built over.

use crate::config::ProviderConfig;
use crate::providers;

/// HTTP/2 peers commonly allow 100 concurrent streams per connection; beyond that a single
/// connection queues requests silently, so plan one connection per this many slots.
const H2_STREAMS_PER_CONNECTION: usize = 100;
const MAX_CLIENT_SHARDS: usize = 64;

/// The provider's connection pools. `initial_pool_size` is the number of idle keep-alive
/// connections kept per upstream host: Rust needs no object pools to spare a garbage
/// collector, but a warm connection spares a TCP (and TLS) handshake on the next burst, which
/// is the memory-for-speed trade the seed's knob describes.
pub(crate) fn http_clients(pcfg: &ProviderConfig, pool_size: usize) -> Vec<providers::HttpClient> {
    let net = &pcfg.network;
    let may_multiplex = net.enforce_http2
        || net
            .base_url
            .as_deref()
            .is_none_or(|u| u.starts_with("https://"));
    // `ProviderState::build` refuses a connection cap below `concurrency`.
    let slots = pcfg.concurrency.concurrency.max(1);
    let shards = if may_multiplex {
        slots
            .div_ceil(H2_STREAMS_PER_CONNECTION)
            .clamp(1, MAX_CLIENT_SHARDS)
    } else {
        1
    };
    (0..shards)
        .map(|_| providers::http_client(net, pool_size.div_ceil(shards)))
        .collect()
}
