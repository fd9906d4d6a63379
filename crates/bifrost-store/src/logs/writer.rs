//! [`LogWriter`]: the request path hands rows over without waiting; a thread of its own, at
//! the lowest CPU priority, writes batches. Requests come first: when the machine is saturated
//! the writer gets only idle CPU, its queue fills, and rows are dropped and counted — the
//! requests are not slowed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{LogRow, LogStore};

/// Content bytes ([`LogRow::raw_bytes`]) the queue may hold at once. Past it a row is dropped
/// and counted, as when the queue is full: the queue is bounded in rows, and this bounds it in
/// memory too when rows carry long prompts or streams.
pub const QUEUE_CONTENT_BUDGET: usize = 64 * 1024 * 1024;

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
    /// Resolves when the writer thread has drained its queue and ended.
    done: Mutex<Option<oneshot::Receiver<()>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    /// Content bytes of the rows in the queue.
    queued_bytes: AtomicUsize,
}

impl LogWriter {
    /// A bounded queue of `capacity` rows; a thread writes batches of up to `batch` rows every
    /// `flush_every` (or sooner when a batch is full), through its own connection to `store`
    /// (the shared pool when that connection cannot be opened).
    pub fn spawn(store: LogStore, capacity: usize, batch: usize, flush_every: Duration) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let task_counters = counters.clone();
        let job = move || {
            lower_priority();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(error) => {
                    tracing::error!(%error, "the log writer could not start; rows are dropped");
                    return;
                }
            };
            rt.block_on(async move {
                let store = match store.dedicated().await {
                    Ok(own) => own,
                    Err(error) => {
                        tracing::warn!(%error, "log writer: using the shared pool");
                        store
                    }
                };
                run(store, rx, stop_rx, batch.max(1), flush_every, task_counters).await;
            });
            let _ = done_tx.send(());
        };
        if let Err(error) = std::thread::Builder::new()
            .name("bifrost-log-writer".into())
            .spawn(job)
        {
            tracing::error!(%error, "the log writer thread could not start; rows are dropped");
        }
        LogWriter {
            inner: Arc::new(Inner {
                tx,
                tail,
                stop,
                done: Mutex::new(Some(done)),
                counters,
            }),
        }
    }

    /// Enqueues a row; when the queue is full (or the writer closed) the row is dropped and
    /// counted. Never awaits.
    pub fn log(&self, row: LogRow) {
        let row = if self.inner.tail.receiver_count() > 0 {
            let mut row = row;
            row.settle();
            let shared = Arc::new(row);
            let _ = self.inner.tail.send(shared.clone());
            Arc::unwrap_or_clone(shared)
        } else {
            row
        };
        let c = &self.inner.counters;
        let weight = row.raw_bytes();
        if c.queued_bytes.fetch_add(weight, Ordering::Relaxed) + weight > QUEUE_CONTENT_BUDGET
            || self.inner.tx.try_send(row).is_err()
        {
            c.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a row offered now would be queued. When the queue is full and no live tail
    /// is open, the answer is no and the row counts as dropped here, so a saturated gateway
    /// spends nothing on rows it would drop: the caller then does not build the row (nor
    /// call [`LogWriter::log`] for it).
    pub fn admit(&self) -> bool {
        if self.inner.tx.capacity() > 0 || self.inner.tail.receiver_count() > 0 {
            return true;
        }
        self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        false
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

    /// How many rows the queue holds (`client.log_queue_size` at start).
    pub fn queue_capacity(&self) -> usize {
        self.inner.tx.max_capacity()
    }

    /// Live tail: every row as it is enqueued.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRow>> {
        self.inner.tail.subscribe()
    }

    /// Writes what is queued and stops the writer (called at shutdown); bounded by
    /// `deadline`, after which unwritten rows are abandoned.
    pub async fn close(&self, deadline: Duration) {
        let _ = self.inner.stop.send(true);
        let done = match self.inner.done.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(done) = done else { return };
        if tokio::time::timeout(deadline, done).await.is_err() {
            tracing::warn!(?deadline, "log writer did not finish before its deadline");
        }
    }
}

/// Puts the calling thread, and the threads it starts (SQLite's), under SCHED_IDLE: the writer
/// runs only on CPU the requests leave idle. Under nice 19 alone it still took its share of a
/// saturated core, and evicted the requests' caches with it. Nice 19 where SCHED_IDLE is
/// refused; best effort (a failure leaves the default). Linux only: elsewhere these calls
/// would name the whole process.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
            Ok(()) => return,
            Err(error) => tracing::debug!(?error, "log writer: SCHED_IDLE refused"),
        }
        if let Err(error) = rustix::process::setpriority_process(None, 19) {
            tracing::debug!(%error, "log writer priority unchanged");
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
    let weight: usize = buf.iter().map(LogRow::raw_bytes).sum();
    counters.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
    buf.iter_mut().for_each(LogRow::settle_stream);
    match store.insert(buf).await {
        Ok(()) => counters.written.fetch_add(n, Ordering::Relaxed),
        Err(error) => {
            tracing::warn!(%error, rows = n, "writing request logs failed; batch dropped");
            counters.failed.fetch_add(n, Ordering::Relaxed)
        }
    };
    buf.clear();
}
