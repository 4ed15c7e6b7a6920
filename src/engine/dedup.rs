//! RFC 5080 section 2.2.2 duplicate detection: a request is a duplicate when it comes
//! from the same source, on the same listener, with the same ID and the same
//! authenticator. An answered duplicate gets the cached reply byte for byte; one still
//! in flight is dropped (the upstream will answer once). A new authenticator with the
//! same ID replaces the entry: the NAS has moved on. Reply buffers are handed back to
//! the caller when they leave the cache, so they can be reused.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Listener;

pub type Key = (Listener, SocketAddr, u8);

#[derive(Debug)]
pub enum State {
    /// Forwarded; the pending slot (socket, id) answers it.
    InFlight {
        slot: usize,
    },
    Answered {
        reply: Vec<u8>,
    },
}

#[derive(Debug)]
struct Entry {
    auth: [u8; 16],
    state: State,
    /// Bumped on replacement so stale expiry records are ignored.
    generation: u64,
}

/// What the cache says about an incoming request.
#[derive(Debug)]
pub enum Lookup<'a> {
    New,
    Answered(&'a [u8]),
    InFlight,
    /// Same key, new authenticator: the old request is superseded; its slot (if still
    /// in flight) or its reply's buffer is handed back.
    Replaced {
        old_slot: Option<usize>,
        old_reply: Option<Vec<u8>>,
    },
}

#[derive(Debug, Default)]
pub struct DuplicateCache {
    /// foldhash rather than SipHash: this map is hit two or three times per request,
    /// and its keys come only from known clients' addresses.
    entries: HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// Answered entries in expiry order (the lifetime is constant, so insertion order).
    expiry: VecDeque<(Instant, Key, u64)>,
    /// The same for in-flight entries, which live longer.
    in_flight_expiry: VecDeque<(Instant, Key, u64)>,
    lifetime: Duration,
    /// How long a request may stay in flight: past it, whatever path forgot to clear it,
    /// its entry goes, so a NAS's retransmissions are never dropped for ever.
    in_flight_lifetime: Duration,
    generation: u64,
}

impl DuplicateCache {
    pub fn new(lifetime: Duration, in_flight_lifetime: Duration) -> Self {
        DuplicateCache {
            lifetime,
            in_flight_lifetime,
            ..Default::default()
        }
    }

    pub fn lookup(&mut self, key: &Key, auth: &[u8; 16]) -> Lookup<'_> {
        match self.entries.get(key) {
            None => return Lookup::New,
            Some(e) if &e.auth == auth => {
                return match &self.entries[key].state {
                    State::Answered { reply } => Lookup::Answered(reply),
                    State::InFlight { .. } => Lookup::InFlight,
                };
            }
            Some(_) => {}
        }
        match self.entries.remove(key).map(|e| e.state) {
            Some(State::InFlight { slot }) => Lookup::Replaced {
                old_slot: Some(slot),
                old_reply: None,
            },
            Some(State::Answered { reply }) => Lookup::Replaced {
                old_slot: None,
                old_reply: Some(reply),
            },
            None => Lookup::New,
        }
    }

    /// Records a request as forwarded at `now`.
    pub fn insert_in_flight(&mut self, now: Instant, key: Key, auth: [u8; 16], slot: usize) {
        self.generation += 1;
        self.entries.insert(
            key,
            Entry {
                auth,
                state: State::InFlight { slot },
                generation: self.generation,
            },
        );
        self.in_flight_expiry
            .push_back((now + self.in_flight_lifetime, key, self.generation));
    }

    /// Stores the reply for a request and starts its lifetime; returns the buffer of a
    /// reply it replaces.
    pub fn answer(
        &mut self,
        now: Instant,
        key: Key,
        auth: [u8; 16],
        reply: Vec<u8>,
    ) -> Option<Vec<u8>> {
        self.generation += 1;
        let generation = self.generation;
        let old = self.entries.insert(
            key,
            Entry {
                auth,
                state: State::Answered { reply },
                generation,
            },
        );
        self.expiry
            .push_back((now + self.lifetime, key, generation));
        match old.map(|e| e.state) {
            Some(State::Answered { reply }) => Some(reply),
            _ => None,
        }
    }

    /// Forgets an in-flight request that got no answer, so a retransmission is retried.
    pub fn forget_in_flight(&mut self, key: &Key, slot: usize) {
        if let Some(Entry {
            state: State::InFlight { slot: s },
            ..
        }) = self.entries.get(key)
            && *s == slot
        {
            self.entries.remove(key);
        }
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        let answered = self.expiry.front().map(|e| e.0);
        let in_flight = self.in_flight_expiry.front().map(|e| e.0);
        answered.into_iter().chain(in_flight).min()
    }

    /// Drops entries past their lifetime, handing their reply buffers to `free`.
    pub fn expire(&mut self, now: Instant, mut free: impl FnMut(Vec<u8>)) {
        while let Some(&(at, key, generation)) = self.in_flight_expiry.front() {
            if at > now {
                break;
            }
            self.in_flight_expiry.pop_front();
            if self.entries.get(&key).is_some_and(|e| {
                e.generation == generation && matches!(e.state, State::InFlight { .. })
            }) {
                self.entries.remove(&key);
            }
        }
        while let Some(&(at, key, generation)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.generation == generation)
                && let Some(State::Answered { reply }) = self.entries.remove(&key).map(|e| e.state)
            {
                free(reply);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        (Listener::Auth, "127.0.0.1:5000".parse().unwrap(), 7)
    }

    #[test]
    fn answered_duplicate_gets_cached_reply_until_expiry() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(Duration::from_secs(5), Duration::from_secs(30));
        assert!(matches!(c.lookup(&key(), &[1; 16]), Lookup::New));
        c.insert_in_flight(t0, key(), [1; 16], 3);
        assert!(matches!(c.lookup(&key(), &[1; 16]), Lookup::InFlight));
        assert!(c.answer(t0, key(), [1; 16], vec![9, 9]).is_none());
        assert!(matches!(c.lookup(&key(), &[1; 16]), Lookup::Answered(r) if r == [9, 9]));
        c.expire(t0 + Duration::from_secs(4), drop);
        assert_eq!(c.len(), 1);
        let mut freed = Vec::new();
        c.expire(t0 + Duration::from_secs(5), |b| freed.push(b));
        assert_eq!(c.len(), 0);
        assert_eq!(freed, vec![vec![9, 9]], "the reply buffer comes back");
    }

    #[test]
    fn new_authenticator_replaces() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(Duration::from_secs(5), Duration::from_secs(30));
        c.insert_in_flight(t0, key(), [1; 16], 3);
        assert!(matches!(
            c.lookup(&key(), &[2; 16]),
            Lookup::Replaced {
                old_slot: Some(3),
                old_reply: None
            }
        ));
        c.answer(t0, key(), [2; 16], vec![1]);
        assert!(matches!(
            c.lookup(&key(), &[4; 16]),
            Lookup::Replaced {
                old_slot: None,
                old_reply: Some(_)
            }
        ));
        // A stale expiry record of a replaced entry must not remove the new one.
        c.insert_in_flight(t0, key(), [3; 16], 4);
        c.expire(t0 + Duration::from_secs(6), drop);
        assert!(matches!(c.lookup(&key(), &[3; 16]), Lookup::InFlight));
    }

    #[test]
    fn an_in_flight_entry_nobody_cleared_expires() {
        let t0 = Instant::now();
        let mut c = DuplicateCache::new(Duration::from_secs(5), Duration::from_secs(30));
        c.insert_in_flight(t0, key(), [1; 16], 3);
        assert_eq!(c.next_expiry(), Some(t0 + Duration::from_secs(30)));
        c.expire(t0 + Duration::from_secs(29), drop);
        assert!(matches!(c.lookup(&key(), &[1; 16]), Lookup::InFlight));
        c.expire(t0 + Duration::from_secs(30), drop);
        assert!(matches!(c.lookup(&key(), &[1; 16]), Lookup::New));
        // Answered in time: the in-flight record does not remove the answer early.
        c.insert_in_flight(t0, key(), [2; 16], 3);
        c.answer(t0 + Duration::from_secs(28), key(), [2; 16], vec![1]);
        c.expire(t0 + Duration::from_secs(31), drop);
        assert!(matches!(c.lookup(&key(), &[2; 16]), Lookup::Answered(_)));
    }
}
