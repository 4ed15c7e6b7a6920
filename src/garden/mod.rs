//! Walled-garden subscriber state: who was let in, why, from which NAS, at which IP.
//! In memory (dashmap) for the portal's per-request lookups, updated at once by one
//! task that consumes the engine's events, and written behind to the store by another
//! (`persist`), so neither the packet path nor memory ever waits for SQL. With
//! PostgreSQL, a miss in memory falls back to the store (briefly), so any node's portal
//! finds any node's subscribers.

mod persist;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::events::EventStream;
use dashmap::DashMap;

use crate::engine::{Event, GardenAccountingEvent, GardenEntered};
pub use crate::store::GardenEntry;
use crate::store::Store;

/// Acct-Status-Type Stop (RFC 2866 section 5.1).
const ACCT_STOP: u32 = 2;

impl GardenEntry {
    fn from_entered(g: &GardenEntered, now: i64) -> Self {
        GardenEntry {
            id: g.garden_id,
            user: g.user.clone(),
            calling_station_id: g.calling_station_id.clone(),
            client: g.client.clone(),
            nas_addr: g.nas_addr.to_string(),
            nas_identifier: g.nas_identifier.clone(),
            nas_port_id: g.nas_port_id.clone(),
            cause: g.cause.clone(),
            reason: g.reason.clone(),
            method: g.method.as_str().into(),
            entered_at_ms: now,
            framed_ip: None,
            acct_session_id: None,
            acct_status: None,
            updated_at_ms: now,
        }
    }

    /// Whether the session is still online (no Stop seen).
    pub fn is_online(&self) -> bool {
        self.framed_ip.is_some() && self.acct_status != Some(ACCT_STOP)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The garden: shared by the portal (reads) and the writer task (writes).
#[derive(Debug, Clone)]
pub struct Garden {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    by_id: DashMap<u64, GardenEntry>,
    by_ip: DashMap<IpAddr, u64>,
    /// Subscriber key -> garden id of their latest entry, for accounting that lost the
    /// Class tag. Per process (the key is), so never stored.
    by_subscriber: DashMap<u64, u64>,
    store: Option<Store>,
}

impl Garden {
    pub fn new(store: Option<Store>) -> Garden {
        Garden {
            inner: Arc::new(Inner {
                by_id: DashMap::new(),
                by_ip: DashMap::new(),
                by_subscriber: DashMap::new(),
                store,
            }),
        }
    }

    /// Loads entries updated recently from the store (after a restart).
    pub async fn warm(&self, since_ms: i64) -> usize {
        let Some(store) = &self.inner.store else {
            return 0;
        };
        match store.garden_since(since_ms).await {
            Ok(rows) => {
                let n = rows.len();
                for r in rows {
                    self.put(r);
                }
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the garden from the store");
                0
            }
        }
    }

    fn put(&self, e: GardenEntry) {
        if let Some(ip) = e.framed_ip {
            if e.is_online() {
                self.inner.by_ip.insert(IpAddr::V4(ip), e.id);
            } else {
                self.inner
                    .by_ip
                    .remove_if(&IpAddr::V4(ip), |_, id| *id == e.id);
            }
        }
        self.inner.by_id.insert(e.id, e);
    }

    /// Applies one engine event to memory and returns the entry to persist.
    pub fn apply(&self, ev: &Event) -> Option<GardenEntry> {
        let now = now_ms();
        match ev {
            Event::GardenEntered(g) => {
                // The same subscriber again (garden ids are per subscriber and cause): a
                // new dial, not online until its accounting says so.
                if let Some(old) = self.inner.by_id.get(&g.garden_id).and_then(|e| e.framed_ip) {
                    self.inner
                        .by_ip
                        .remove_if(&IpAddr::V4(old), |_, id| *id == g.garden_id);
                }
                let e = GardenEntry::from_entered(g, now);
                self.put(e.clone());
                self.inner.by_subscriber.insert(g.subscriber, g.garden_id);
                Some(e)
            }
            Event::GardenAccounting(a) => self.accounting(a, now),
            Event::SubscriberAccounting(s) => {
                // Only a subscriber we let in: all others' accounting comes here too.
                let id = *self.inner.by_subscriber.get(&s.subscriber)?;
                let e = self.inner.by_id.get(&id)?;
                let a = GardenAccountingEvent {
                    garden_id: id,
                    status: s.status,
                    user: e.user.clone(),
                    framed_ip: s.framed_ip,
                    acct_session_id: s
                        .acct_session_id
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    nas_addr: s.nas_addr,
                };
                drop(e);
                self.accounting(&a, now)
            }
            _ => None,
        }
    }

    fn accounting(&self, a: &GardenAccountingEvent, now: i64) -> Option<GardenEntry> {
        let mut e = match self.inner.by_id.get(&a.garden_id) {
            Some(e) => e.clone(),
            // Not ours (another node's, or forgotten): record what accounting tells us.
            None => GardenEntry {
                id: a.garden_id,
                user: a.user.clone(),
                calling_station_id: None,
                client: String::new(),
                nas_addr: a.nas_addr.to_string(),
                nas_identifier: None,
                nas_port_id: None,
                cause: "unknown".into(),
                reason: String::new(),
                method: "other".into(),
                entered_at_ms: now,
                framed_ip: None,
                acct_session_id: None,
                acct_status: None,
                updated_at_ms: now,
            },
        };
        // A Stop of an earlier session of the same subscriber, arriving after the new
        // one started (accounting is often late), says nothing about the new one.
        let other_session = matches!(
            (&e.acct_session_id, &a.acct_session_id),
            (Some(ours), Some(theirs)) if ours != theirs
        );
        if a.status == Some(ACCT_STOP) && other_session {
            return None;
        }
        if let Some(ip) = a.framed_ip {
            if let Some(old) = e.framed_ip.filter(|old| *old != ip) {
                self.inner
                    .by_ip
                    .remove_if(&IpAddr::V4(old), |_, id| *id == e.id);
            }
            e.framed_ip = Some(ip);
        }
        if a.acct_session_id.is_some() {
            e.acct_session_id = a.acct_session_id.clone();
        }
        e.acct_status = a.status.or(e.acct_status);
        e.updated_at_ms = now;
        self.put(e.clone());
        Some(e)
    }

    /// The online garden subscriber at an address: memory first, then the store.
    pub async fn by_ip(&self, ip: IpAddr) -> Option<GardenEntry> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Some(id) = self.inner.by_ip.get(&ip).map(|r| *r) {
            // Only an entry online at this very address: an address is reused by
            // another subscriber as soon as it is free.
            return self
                .inner
                .by_id
                .get(&id)
                .filter(|e| e.is_online() && e.framed_ip.map(IpAddr::V4) == Some(ip))
                .map(|e| e.clone());
        }
        let store = self.inner.store.as_ref()?;
        // A portal page waits for this: a store that is slow or away means "not found",
        // not a page that hangs.
        match tokio::time::timeout(LOOKUP_TIMEOUT, store.garden_by_ip(ip)).await {
            Ok(Ok(Some(r))) => Some(r).filter(GardenEntry::is_online),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "garden lookup in the store failed");
                metrics::counter!("radcare_store_lookup_errors_total").increment(1);
                None
            }
            Err(_) => {
                metrics::counter!("radcare_store_lookup_timeouts_total").increment(1);
                None
            }
        }
    }

    /// Forgets entries not updated since `cutoff_ms` (they stay in the store). Every
    /// rewritten dial makes an entry, so without this a subscriber who stays in arrears
    /// would grow memory by one entry per walled-garden session, for ever.
    pub fn prune(&self, cutoff_ms: i64) -> usize {
        let before = self.inner.by_id.len();
        self.inner.by_id.retain(|_, e| e.updated_at_ms >= cutoff_ms);
        let by_id = &self.inner.by_id;
        self.inner.by_ip.retain(|_, id| by_id.contains_key(id));
        self.inner
            .by_subscriber
            .retain(|_, id| by_id.contains_key(id));
        before - self.inner.by_id.len()
    }

    pub fn by_id(&self, id: u64) -> Option<GardenEntry> {
        self.inner.by_id.get(&id).map(|e| e.clone())
    }

    /// Visits every entry in memory (the console's lists and counts), cloning none.
    pub fn for_each(&self, mut f: impl FnMut(&GardenEntry)) {
        for e in self.inner.by_id.iter() {
            f(e.value());
        }
    }

    pub fn len(&self) -> usize {
        self.inner.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.by_id.is_empty()
    }

    /// Applies an event as the writer does. Accounting for an entry not in memory (the
    /// Reject was seen by another node, or long ago) reads the store first, while it is
    /// up and briefly, rather than build a stub of it; its write then replaces only the
    /// accounting columns, whatever memory held.
    async fn apply_with_store(&self, ev: &Event, store_up: bool) -> Option<persist::Write> {
        if let (Event::GardenAccounting(a), Some(store), true) = (ev, &self.inner.store, store_up)
            && !self.inner.by_id.contains_key(&a.garden_id)
        {
            match tokio::time::timeout(LOOKUP_TIMEOUT, store.garden_by_id(a.garden_id)).await {
                Ok(Ok(Some(e))) => self.put(e),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "garden lookup in the store failed");
                    metrics::counter!("radcare_store_lookup_errors_total").increment(1);
                }
                Err(_) => metrics::counter!("radcare_store_lookup_timeouts_total").increment(1),
            }
        }
        let entry = self.apply(ev)?;
        let whole = matches!(ev, Event::GardenEntered(_));
        Some(persist::Write { entry, whole })
    }

    /// The writer task: applies events to memory in order as they arrive and queues
    /// the entries to persist for the store task. It runs until every publisher is gone
    /// (the packet paths stopped) and the stream is drained, then waits for the store
    /// task to write what is queued, so a shutdown loses nothing that was published.
    pub async fn run_writer(self, mut events: EventStream) {
        let queue = Arc::new(persist::WriteQueue::new(persist::QUEUE_ROWS));
        let store_task = self
            .inner
            .store
            .clone()
            .map(|store| tokio::spawn(persist::run(store, queue.clone())));
        let mut pruned_at = now_ms();
        while let Some(ev) = events.recv().await {
            let store_up = store_task.is_some() && queue.store_up();
            if let Some(write) = self.apply_with_store(&ev, store_up).await
                && store_task.is_some()
            {
                queue.push(write);
            }
            let now = now_ms();
            if now - pruned_at >= PRUNE_EVERY_MS {
                pruned_at = now;
                let gone = self.prune(now - MEMORY_WINDOW_MS);
                if gone > 0 {
                    tracing::debug!(entries = gone, "garden entries older than a day forgotten");
                }
            }
            metrics::gauge!("radcare_garden_entries").set(self.len() as f64);
        }
        queue.close();
        if let Some(task) = store_task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "the garden's store task failed");
        }
    }
}

/// How long an entry stays in memory after its last update: the same day that a
/// restart loads back from the store (`server::start`).
pub const MEMORY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// How often the writer looks for entries to forget.
const PRUNE_EVERY_MS: i64 = 60 * 1000;

/// How long a portal lookup waits for the store.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(300);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::AuthMethod;

    fn entered(id: u64) -> Event {
        Event::GardenEntered(GardenEntered {
            garden_id: id,
            subscriber: id << 8,
            user: "bob".into(),
            calling_station_id: None,
            client: "bras".into(),
            nas_addr: "10.0.0.1".parse().unwrap(),
            nas_identifier: None,
            nas_port_id: None,
            cause: "arrears".into(),
            reason: "欠费".into(),
            method: AuthMethod::Pap,
        })
    }

    fn acct(id: u64, status: u32, ip: [u8; 4]) -> Event {
        Event::GardenAccounting(GardenAccountingEvent {
            garden_id: id,
            status: Some(status),
            user: "bob".into(),
            framed_ip: Some(ip.into()),
            acct_session_id: Some("s1".into()),
            nas_addr: "10.0.0.1".parse().unwrap(),
        })
    }

    #[tokio::test]
    async fn accounting_teaches_the_address_and_stop_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::open(&url).await.unwrap();
        let g = Garden::new(Some(store.clone()));
        let tx = crate::events::EventBus::new(16);
        let writer = tokio::spawn(g.clone().run_writer(tx.subscribe("garden")));
        tx.publish(entered(7));
        tx.publish(acct(7, 1, [127, 0, 0, 42]));
        let ip: IpAddr = "127.0.0.42".parse().unwrap();
        // Another node (same store, empty memory) finds it once it is written.
        let other = Garden::new(Some(store.clone()));
        while other.by_ip(ip).await.is_none() {
            tokio::task::yield_now().await;
        }
        let e = g.by_ip(ip).await.unwrap();
        assert_eq!((&e.user[..], e.cause.as_str()), (&b"bob"[..], "arrears"));
        assert_eq!(e.acct_session_id.as_deref(), Some("s1"));
        assert_eq!(other.by_ip(ip).await.unwrap().id, 7);
        tx.publish(acct(7, ACCT_STOP, [127, 0, 0, 42]));
        drop(tx);
        writer.await.unwrap();
        assert!(g.by_ip(ip).await.is_none());
        assert!(other.by_ip(ip).await.is_none(), "the stop is persisted too");
    }

    /// SQLite locked by another process: memory keeps up at once, portal lookups of
    /// unknown addresses give up quickly, and the rows are written once it is free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_locked_sqlite_neither_stalls_memory_nor_loses_rows() {
        use sqlx::Connection;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::open(&url).await.unwrap();
        let g = Garden::new(Some(store.clone()));
        let bus = crate::events::EventBus::new(64);
        let writer = tokio::spawn(g.clone().run_writer(bus.subscribe("garden")));
        let mut lock = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut lock)
            .await
            .unwrap();
        bus.publish(entered(7));
        bus.publish(acct(7, 1, [127, 0, 0, 7]));
        // Give the writer time to be waiting on the store.
        tokio::time::sleep(Duration::from_millis(200)).await;
        bus.publish(entered(8));
        bus.publish(acct(8, 1, [127, 0, 0, 8]));
        let at = Instant::now();
        while g.by_ip(IpAddr::from([127, 0, 0, 8])).await.is_none() {
            assert!(
                at.elapsed() < Duration::from_secs(1),
                "memory waited for the store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let at = Instant::now();
        assert!(g.by_ip(IpAddr::from([127, 0, 0, 99])).await.is_none());
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "lookup took {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
        drop(lock);
        let at = Instant::now();
        for id in [7, 8] {
            while store
                .garden_by_id(id)
                .await
                .ok()
                .flatten()
                .and_then(|e| e.framed_ip)
                .is_none()
            {
                assert!(
                    at.elapsed() < Duration::from_secs(15),
                    "row {id} never written"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        drop(bus);
        writer.await.unwrap();
    }

    #[test]
    fn prune_forgets_old_entries_and_their_addresses_only() {
        let g = Garden::new(None);
        g.apply(&entered(1));
        g.apply(&acct(1, 1, [10, 0, 0, 1]));
        g.apply(&entered(2));
        g.apply(&acct(2, 1, [10, 0, 0, 2]));
        let old = now_ms() - MEMORY_WINDOW_MS - 1000;
        let mut e = g.by_id(1).unwrap();
        e.updated_at_ms = old;
        g.put(e);
        assert_eq!(g.prune(now_ms() - MEMORY_WINDOW_MS), 1);
        assert!(g.by_id(1).is_none());
        assert_eq!(g.len(), 1);
        assert!(g.inner.by_ip.get(&IpAddr::from([10, 0, 0, 1])).is_none());
        assert_eq!(
            g.inner.by_ip.get(&IpAddr::from([10, 0, 0, 2])).map(|r| *r),
            Some(2)
        );
    }

    /// Accounting whose Class tag the BRAS stripped finds the entry by subscriber; other
    /// subscribers' accounting leaves the garden alone.
    #[tokio::test]
    async fn accounting_without_the_class_finds_the_entry_by_subscriber() {
        use crate::engine::{SessionId, SubscriberAccounting};
        let g = Garden::new(None);
        g.apply(&entered(7));
        let acct = |subscriber, ip: [u8; 4]| {
            Event::SubscriberAccounting(SubscriberAccounting {
                subscriber,
                status: Some(1),
                framed_ip: Some(ip.into()),
                acct_session_id: Some(SessionId::new(b"s9")),
                nas_addr: "10.0.0.1".parse().unwrap(),
            })
        };
        assert!(g.apply(&acct(8 << 8, [10, 0, 0, 8])).is_none());
        assert!(g.by_ip(IpAddr::from([10, 0, 0, 8])).await.is_none());
        let e = g.apply(&acct(7 << 8, [10, 0, 0, 7])).expect("matched");
        assert_eq!((e.id, e.cause.as_str()), (7, "arrears"));
        let e = g.by_ip(IpAddr::from([10, 0, 0, 7])).await.expect("online");
        assert_eq!(e.acct_session_id.as_deref(), Some("s9"));
    }

    fn acct_session(id: u64, status: u32, ip: [u8; 4], session: &str) -> Event {
        let Event::GardenAccounting(mut a) = acct(id, status, ip) else {
            unreachable!()
        };
        a.acct_session_id = Some(session.into());
        Event::GardenAccounting(a)
    }

    /// Garden ids are per subscriber and cause, so a redial reuses the entry: the new
    /// dial takes the old address off the entry, and the old session's Stop, arriving
    /// after the new session's Start, leaves the new session online.
    #[tokio::test]
    async fn a_redial_reuses_the_entry_and_a_late_stop_of_the_old_session_is_ignored() {
        let g = Garden::new(None);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        g.apply(&entered(9));
        g.apply(&acct_session(9, 1, [10, 0, 0, 1], "old"));
        assert_eq!(g.by_ip(a).await.map(|e| e.id), Some(9));
        g.apply(&entered(9));
        assert!(
            g.by_ip(a).await.is_none(),
            "the new dial is not at the old address"
        );
        g.apply(&acct_session(9, 1, [10, 0, 0, 2], "new"));
        assert!(
            g.apply(&acct_session(9, ACCT_STOP, [10, 0, 0, 1], "old"))
                .is_none()
        );
        let e = g.by_ip(b).await.expect("still online");
        assert_eq!(e.acct_session_id.as_deref(), Some("new"));
        assert!(g.by_ip(a).await.is_none());
        g.apply(&acct_session(9, ACCT_STOP, [10, 0, 0, 2], "new"));
        assert!(g.by_ip(b).await.is_none(), "its own Stop ends it");
        assert_eq!(g.len(), 1);
    }
}
