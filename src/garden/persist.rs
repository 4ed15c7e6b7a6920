//! Writing the garden behind to the store, apart from memory: the writer task hands rows
//! to a bounded queue (the latest row per garden id) and one task here commits them,
//! retrying with backoff while the store is away, so that a locked SQLite or a
//! PostgreSQL gone neither stalls the garden nor loses what was queued.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::GardenEntry;
use crate::store::Store;

/// Most rows waiting for the store: a day's worth of a busy BRAS's garden traffic, a
/// few megabytes. Beyond it new garden ids are dropped (and counted).
pub(super) const QUEUE_ROWS: usize = 64 * 1024;

/// How long the writer gathers rows before committing them together, since a commit
/// (and the hand-off to SQLite's thread) costs far more than a row.
const WRITE_WINDOW: Duration = Duration::from_millis(50);

/// Most garden entries written in one transaction.
const WRITE_BATCH: usize = 4096;

/// A write taking longer than this is abandoned and retried: a PostgreSQL that stopped
/// answering without closing the connection would otherwise hold it for ever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Backoff between failed writes.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// After the queue is closed (shutdown), how long a store that is away is waited for.
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// A row to write: a whole entry (as entered), or accounting's update of one, which
/// replaces only the accounting columns of a row another node may have written.
#[derive(Debug)]
pub(super) struct Write {
    pub entry: GardenEntry,
    pub whole: bool,
}

/// The rows waiting for the store, the latest per garden id.
#[derive(Debug)]
pub(super) struct WriteQueue {
    state: Mutex<Queued>,
    wake: Notify,
    capacity: usize,
    /// Whether the last write succeeded, so the writer skips reads of a store away.
    up: AtomicBool,
}

#[derive(Debug, Default)]
struct Queued {
    rows: HashMap<u64, Write>,
    closed: bool,
}

impl WriteQueue {
    pub(super) fn new(capacity: usize) -> WriteQueue {
        WriteQueue {
            state: Mutex::new(Queued::default()),
            wake: Notify::new(),
            capacity,
            up: AtomicBool::new(true),
        }
    }

    /// Queues a row, replacing a waiting one of the same id; a new id finding the queue
    /// full is dropped and counted.
    pub(super) fn push(&self, row: Write) {
        let mut q = self.state.lock().expect("queue lock");
        Self::insert(&mut q, row, self.capacity, true);
        metrics::gauge!("radcare_store_pending_rows").set(q.rows.len() as f64);
        drop(q);
        self.wake.notify_one();
    }

    fn insert(q: &mut Queued, row: Write, capacity: usize, newer: bool) {
        let full = q.rows.len() >= capacity;
        match q.rows.entry(row.entry.id) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                // The later entry wins; it is whole if either was, since memory's
                // entry only grows from the one that was entered.
                let o = o.get_mut();
                o.whole |= row.whole;
                if newer {
                    o.entry = row.entry;
                }
            }
            std::collections::hash_map::Entry::Vacant(_) if full => {
                metrics::counter!("radcare_store_rows_dropped_total").increment(1);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(row);
            }
        }
    }

    /// Puts back rows whose write failed, unless a newer row of the same id came since.
    fn requeue(&self, rows: Vec<Write>) {
        let mut q = self.state.lock().expect("queue lock");
        for row in rows {
            Self::insert(&mut q, row, self.capacity, false);
        }
        metrics::gauge!("radcare_store_pending_rows").set(q.rows.len() as f64);
    }

    /// Up to `max` rows, and whether the queue is closed.
    fn take(&self, max: usize) -> (Vec<Write>, bool) {
        let mut q = self.state.lock().expect("queue lock");
        let batch: Vec<Write> = if q.rows.len() <= max {
            q.rows.drain().map(|(_, r)| r).collect()
        } else {
            let ids: Vec<u64> = q.rows.keys().take(max).copied().collect();
            ids.iter().filter_map(|id| q.rows.remove(id)).collect()
        };
        metrics::gauge!("radcare_store_pending_rows").set(q.rows.len() as f64);
        (batch, q.closed)
    }

    /// No more rows: the store task writes what is queued and ends.
    pub(super) fn close(&self) {
        self.state.lock().expect("queue lock").closed = true;
        self.wake.notify_one();
    }

    pub(super) fn store_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn len(&self) -> usize {
        self.state.lock().expect("queue lock").rows.len()
    }
}

/// Writes whole rows, then accounting's updates.
async fn write(store: &Store, batch: &[Write]) -> Result<(), crate::store::StoreError> {
    let (whole, accounting): (Vec<&Write>, Vec<&Write>) = batch.iter().partition(|w| w.whole);
    let rows = |ws: Vec<&Write>| ws.into_iter().map(|w| w.entry.clone()).collect::<Vec<_>>();
    if !whole.is_empty() {
        store.upsert_gardens(&rows(whole)).await?;
    }
    if !accounting.is_empty() {
        store.upsert_garden_accounting(&rows(accounting)).await?;
    }
    Ok(())
}

/// The store task: commits queued rows in batches, retrying with backoff, until the
/// queue is closed and written (or the store stayed away `DRAIN_FOR` after closing).
pub(super) async fn run(store: Store, queue: std::sync::Arc<WriteQueue>) {
    let up = metrics::gauge!("radcare_store_up");
    let retries = metrics::counter!("radcare_store_write_retries_total");
    // Registered now, so that the series exist (at 0) for alerts before any failure.
    let errors = metrics::counter!("radcare_store_errors_total");
    let dropped = metrics::counter!("radcare_store_rows_dropped_total");
    up.set(1.0);
    let mut backoff = BACKOFF_MIN;
    let mut closed_at = None;
    loop {
        let (batch, closed) = queue.take(WRITE_BATCH);
        if batch.is_empty() {
            if closed {
                return;
            }
            queue.wake.notified().await;
            // Sleep through the window without listening, so that a burst wakes this
            // task once rather than once per subscriber.
            tokio::time::sleep(WRITE_WINDOW).await;
            continue;
        }
        let result = tokio::time::timeout(WRITE_TIMEOUT, write(&store, &batch)).await;
        let error = match result {
            Ok(Ok(())) => {
                if !queue.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("the store is back; garden entries are written again");
                }
                up.set(1.0);
                backoff = BACKOFF_MIN;
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {WRITE_TIMEOUT:?}"),
        };
        errors.increment(1);
        up.set(0.0);
        // Said once per outage, not per batch: the gauge and counters tell the rest.
        if queue.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(%error, pending = batch.len() + queue.len(), "cannot write garden entries; retrying");
        }
        if closed {
            let since = *closed_at.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= DRAIN_FOR {
                let lost = batch.len() + queue.len();
                dropped.increment(lost as u64);
                tracing::warn!(
                    entries = lost,
                    "shutting down with the store away; garden entries not written"
                );
                return;
            }
        }
        retries.increment(1);
        queue.requeue(batch);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
