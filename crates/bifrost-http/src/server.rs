//! The accept loop: hyper with a header-read timeout (which also closes idle keep-alive
//! connections), a cap on open client connections derived from the open-file limit, and a
//! graceful stop that closes the listener at once and lets open connections finish.
//!
//! `axum::serve` sets no timer, so a client that sends half a request head, or a connection
//! that never sends anything, was held forever; and with the common soft limit of 1,024 open
//! files, 1,100 idle sockets locked every client out.

use axum::Router;
use futures::future::Either;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

/// How long a client may take to send a request head, and how long a keep-alive connection may
/// sit idle between requests (hyper times both with one timer).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Open files kept for everything but client connections: the stores, the log file, the
/// runtime. The rest is split evenly between client connections and upstream connections (each
/// request in flight holds one of each).
const FD_RESERVE: u64 = 64;

/// Connection limits of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub header_read_timeout: Duration,
    /// Client connections open at once; one more takes the slot of the oldest connection that
    /// has sent nothing yet, or is answered 503 and closed.
    pub max_connections: usize,
}

impl ServerOptions {
    /// From the process's soft open-file limit (call [`raise_fd_limit`] first).
    pub fn from_fd_limit() -> Self {
        let soft = rlimit::Resource::NOFILE
            .get()
            .map_or(1024, |(soft, _)| soft);
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: connections_for(soft),
        }
    }
}

/// Client connections that `soft` open files allow.
pub fn connections_for(soft: u64) -> usize {
    let usable = soft.saturating_sub(FD_RESERVE) / 2;
    usize::try_from(usable.max(1)).unwrap_or(usize::MAX)
}

/// Raises the soft open-file limit to the hard limit; returns (before, after).
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    let (before, _) = rlimit::Resource::NOFILE.get()?;
    let after = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok((before, after))
}

/// Serves `app` on `listener` until `stop` resolves; then closes the listener and returns a
/// future that resolves when every open connection has finished (after in-flight responses:
/// hyper's graceful shutdown ends keep-alive connections once their current exchange is done).
///
/// At the cap a new connection takes the slot of the oldest connection that has not sent a
/// byte yet (it has asked nothing, so closing it loses nothing); with none, it gets a 503.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServerOptions,
    stop: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Slots {
        permits: Arc::new(Semaphore::new(opts.max_connections)),
        silent: Mutex::new(VecDeque::new()),
        cap: opts.max_connections,
    });
    let (refused, evicted) = (AtomicU64::new(0), AtomicU64::new(0));
    // Dropped when the loop ends: connections still waiting for their first byte close then
    // instead of holding shutdown for the header timeout.
    let (closing, open) = tokio::sync::watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors (EMFILE/ENFILE), or a connection reset before it
                    // was accepted: wait a moment rather than spin, and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let permit = match slots.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if slots.evict_oldest_silent() => {
                let n = evicted.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    tracing::warn!(
                        max_connections = opts.max_connections,
                        evicted = n + 1,
                        "too many client connections: closing the oldest that sent nothing yet \
                         (raise the open-file limit, `ulimit -n`, to allow more)"
                    );
                }
                None
            }
            Err(_) => {
                let n = refused.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    tracing::warn!(
                        max_connections = opts.max_connections,
                        refused = n + 1,
                        "too many client connections: answering 503 (raise the open-file \
                         limit, `ulimit -n`, to allow more)"
                    );
                }
                tokio::spawn(refuse(stream));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = TowerToHyperService::new(app.clone());
        // Heads over the gateway's header limits are answered before the router, with a body.
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            match crate::routes::header_limits(req.headers()) {
                Some(refused) => Either::Left(std::future::ready(Ok(refused))),
                None => Either::Right(router.call(req)),
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(opts.header_read_timeout)
            // Room above the gateway's own limits (`routes::MAX_REQUEST_HEADERS`), which answer
            // with an error body; past these hyper answers a bare 431.
            .max_headers(4 * crate::routes::MAX_REQUEST_HEADERS);
        // HTTP/2 (prior knowledge): pings find dead peers.
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(opts.header_read_timeout))
            .enable_connect_protocol();
        let watcher = graceful.watcher();
        let first_byte = opts.header_read_timeout;
        let mut open = open.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let permit = match permit {
                Some(permit) => permit,
                // The evicted connection's task lets its slot go as soon as it runs.
                None => match tokio::time::timeout(
                    Duration::from_secs(1),
                    slots.permits.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => return refuse(stream).await,
                },
            };
            // hyper's header timer starts with a request head; the auto builder first waits,
            // untimed, for the bytes that tell HTTP/1 from HTTP/2. A connection that sends
            // nothing at all is closed after the same timeout, at shutdown, or when a new
            // connection needs its slot.
            let (evict, mut evicted) = oneshot::channel();
            slots.wait_silent(evict);
            let mut one = [0u8; 1];
            let spoke = tokio::select! {
                peeked = tokio::time::timeout(first_byte, stream.peek(&mut one)) => {
                    matches!(peeked, Ok(Ok(1)))
                }
                _ = open.changed() => false,
                _ = &mut evicted => false,
            };
            drop(evicted);
            if !spoke {
                drop(permit);
                return;
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    drop(closing);
    graceful.shutdown()
}

/// Client connection slots, and the connections holding one without having sent a byte.
struct Slots {
    permits: Arc<Semaphore>,
    /// Oldest first; an entry whose receiver is gone has spoken or closed (dropped lazily).
    silent: Mutex<VecDeque<oneshot::Sender<()>>>,
    cap: usize,
}

impl Slots {
    fn wait_silent(&self, evict: oneshot::Sender<()>) {
        let mut silent = self.silent.lock().unwrap_or_else(PoisonError::into_inner);
        // At most `cap` entries are live (each holds a slot): compacting at twice that keeps
        // the queue bounded at O(1) amortised per connection.
        if silent.len() >= self.cap.saturating_mul(2).max(16) {
            silent.retain(|s| !s.is_closed());
        }
        silent.push_back(evict);
    }

    /// Tells the oldest silent connection to close; whether there was one.
    fn evict_oldest_silent(&self) -> bool {
        let mut silent = self.silent.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(oldest) = silent.pop_front() {
            if oldest.send(()).is_ok() {
                return true;
            }
        }
        false
    }
}

/// Over the connection cap: a 503 the client can read, then close.
async fn refuse(mut stream: tokio::net::TcpStream) {
    const BODY: &str = r#"{"error":{"message":"the gateway has too many open connections; retry shortly","type":"server_error","code":"too_many_connections"}}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_upstream_sockets() {
        assert_eq!(connections_for(1024), 480);
        assert_eq!(connections_for(1_048_576), 524_256);
        assert_eq!(connections_for(10), 1);
    }
}
