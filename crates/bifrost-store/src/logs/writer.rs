//! [`LogWriter`]: the request path hands rows over without waiting; a task writes batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{LogRow, LogStore};

/// Live-tail subscribers that fall this far behind miss rows (they see `Lagged`).
const TAIL_CAPACITY: usize = 1024;

/// Background batch writer: never blocks the caller. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<LogRow>,
    tail: broadcast::Sender<Arc<LogRow>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

impl LogWriter {
    /// A bounded queue of `capacity` rows; a task writes batches of up to `batch` rows every
    /// `flush_every` (or sooner when a batch is full). Must be called inside a Tokio runtime.
    pub fn spawn(store: LogStore, capacity: usize, batch: usize, flush_every: Duration) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            store,
            rx,
            stop_rx,
            batch.max(1),
            flush_every,
            counters.clone(),
        ));
        LogWriter {
            inner: Arc::new(Inner {
                tx,
                tail,
                stop,
                task: Mutex::new(Some(task)),
                counters,
            }),
        }
    }

    /// Enqueues a row; when the queue is full (or the writer closed) the row is dropped and
    /// counted. Never awaits.
    pub fn log(&self, row: LogRow) {
        let row = if self.inner.tail.receiver_count() > 0 {
            let shared = Arc::new(row);
            let _ = self.inner.tail.send(shared.clone());
            Arc::unwrap_or_clone(shared)
        } else {
            row
        };
        if self.inner.tx.try_send(row).is_err() {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rows dropped because the queue was full or the writer closed.
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Rows written to the store.
    pub fn written(&self) -> u64 {
        self.inner.counters.written.load(Ordering::Relaxed)
    }

    /// Rows lost because the store refused their batch (each failure is also logged).
    pub fn failed(&self) -> u64 {
        self.inner.counters.failed.load(Ordering::Relaxed)
    }

    /// Live tail: every row as it is enqueued.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRow>> {
        self.inner.tail.subscribe()
    }

    /// Writes what is queued and stops the task (called at shutdown); bounded by `deadline`,
    /// after which the task is aborted and unwritten rows are lost.
    pub async fn close(&self, deadline: Duration) {
        let _ = self.inner.stop.send(true);
        let task = match self.inner.task.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(mut task) = task else { return };
        if tokio::time::timeout(deadline, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(?deadline, "log writer did not finish before its deadline");
        }
    }
}

async fn run(
    store: LogStore,
    mut rx: mpsc::Receiver<LogRow>,
    mut stop: watch::Receiver<bool>,
    batch: usize,
    flush_every: Duration,
    counters: Arc<Counters>,
) {
    let mut buf = Vec::with_capacity(batch);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            n = rx.recv_many(&mut buf, batch) => if n == 0 { break },
            _ = stop.changed() => stopping = true,
        }
        let deadline = Instant::now() + flush_every;
        while !stopping && buf.len() < batch {
            let want = batch - buf.len();
            tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.recv_many(&mut buf, want)) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
                _ = stop.changed() => stopping = true,
            }
        }
        write(&store, &mut buf, &counters).await;
    }
    // Shutdown: refuse new rows, then drain what is queued.
    rx.close();
    loop {
        if rx.recv_many(&mut buf, batch).await == 0 {
            break;
        }
        write(&store, &mut buf, &counters).await;
    }
}

async fn write(store: &LogStore, buf: &mut Vec<LogRow>, counters: &Counters) {
    if buf.is_empty() {
        return;
    }
    let n = buf.len() as u64;
    match store.insert(buf).await {
        Ok(()) => counters.written.fetch_add(n, Ordering::Relaxed),
        Err(error) => {
            tracing::warn!(%error, rows = n, "writing request logs failed; batch dropped");
            counters.failed.fetch_add(n, Ordering::Relaxed)
        }
    };
    buf.clear();
}
