//! Is this subscriber redialling? For Rejects that do not say why (action `redial`):
//! a router with a stale password or an account in arrears dials again and again with
//! the same User-Name from the same line; a scan tries each name once. Only the first
//! is let into the walled garden, once it has been rejected `rejects` times within
//! `window` (`[policy.redial]`).
//!
//! Sans-IO: time is passed in. Memory is bounded: at most `remember` subscribers, the
//! oldest forgotten first (and counted), with no allocation after construction.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::RedialConfig;

#[derive(Debug, Clone, Copy)]
struct Seen {
    first: Instant,
    rejects: u32,
}

#[derive(Debug)]
pub struct Redials {
    rejects: u32,
    window: Duration,
    remember: usize,
    /// Keyed hashes of (User-Name, Calling-Station-Id, NAS): already random.
    seen: HashMap<u64, Seen, foldhash::fast::RandomState>,
    /// Subscribers in the order their window started; an entry whose window restarted
    /// since is stale and skipped.
    order: VecDeque<(Instant, u64)>,
    forgotten: u64,
}

impl Redials {
    pub fn new(cfg: &RedialConfig) -> Redials {
        let remember = cfg.remember.max(1);
        Redials {
            rejects: cfg.rejects.max(1),
            window: cfg.window,
            remember,
            // Twice the entries kept: a table at most half full rehashes its tombstones
            // in place rather than growing.
            seen: HashMap::with_capacity_and_hasher(2 * remember, Default::default()),
            order: VecDeque::with_capacity(2 * remember),
            forgotten: 0,
        }
    }

    /// Counts a Reject of subscriber `key` at `now`; whether they are redialling (this
    /// is at least the `rejects`-th within the window).
    pub fn reject(&mut self, now: Instant, key: u64) -> bool {
        if let Some(s) = self.seen.get_mut(&key) {
            if now.saturating_duration_since(s.first) <= self.window {
                s.rejects = s.rejects.saturating_add(1);
                return s.rejects >= self.rejects;
            }
            *s = Seen {
                first: now,
                rejects: 1,
            };
        } else {
            self.make_room(now);
            self.seen.insert(
                key,
                Seen {
                    first: now,
                    rejects: 1,
                },
            );
        }
        if self.order.len() == self.order.capacity() {
            // Only stale entries can make it this long: drop them.
            let seen = &self.seen;
            self.order
                .retain(|(at, k)| seen.get(k).is_some_and(|s| s.first == *at));
        }
        self.order.push_back((now, key));
        self.rejects <= 1
    }

    /// Forgets subscribers whose window has passed, and the oldest one if still full.
    fn make_room(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            let live = self.seen.get(&key).is_some_and(|s| s.first == at);
            let expired = now.saturating_duration_since(at) > self.window;
            if live && !expired && self.seen.len() < self.remember {
                break;
            }
            self.order.pop_front();
            if live {
                self.seen.remove(&key);
                if !expired {
                    self.forgotten += 1;
                }
            }
        }
    }

    /// Subscribers remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Subscribers forgotten before their window ended, to stay within `remember`.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redials(rejects: u32, remember: usize) -> Redials {
        Redials::new(&RedialConfig {
            rejects,
            window: Duration::from_secs(60),
            remember,
        })
    }

    #[test]
    fn the_third_reject_within_the_window_is_a_redial() {
        let mut r = redials(3, 16);
        let t = Instant::now();
        assert!(!r.reject(t, 1));
        assert!(!r.reject(t + Duration::from_secs(10), 1));
        assert!(
            !r.reject(t + Duration::from_secs(10), 2),
            "another subscriber"
        );
        assert!(r.reject(t + Duration::from_secs(20), 1));
        assert!(r.reject(t + Duration::from_secs(30), 1));
        // After the window, counting starts again.
        assert!(!r.reject(t + Duration::from_secs(200), 1));
    }

    #[test]
    fn one_reject_is_enough_when_configured_so() {
        let mut r = redials(1, 4);
        assert!(r.reject(Instant::now(), 9));
    }

    #[test]
    fn a_flood_of_names_stays_within_memory_and_is_counted() {
        let mut r = redials(2, 1000);
        let t = Instant::now();
        let (cap_seen, cap_order) = (r.seen.capacity(), r.order.capacity());
        for key in 0..1_000_000u64 {
            assert!(!r.reject(t, key), "each name once: never a redial");
        }
        assert_eq!(r.len(), 1000);
        assert_eq!(r.forgotten(), 999_000);
        // Tombstones lower the reported capacity; growth would raise it.
        assert!(r.seen.capacity() <= cap_seen, "no growth");
        assert_eq!(r.order.capacity(), cap_order, "no growth");
        // The newest are remembered: a real redial among the flood is still seen.
        assert!(r.reject(t, 999_999));
    }

    #[test]
    fn restarted_windows_do_not_grow_the_order_queue() {
        let mut r = Redials::new(&RedialConfig {
            rejects: 5,
            window: Duration::from_millis(1),
            remember: 8,
        });
        let t = Instant::now();
        let cap = r.order.capacity();
        for i in 0..10_000u64 {
            r.reject(t + Duration::from_millis(2 * i), i % 4);
        }
        assert_eq!(r.order.capacity(), cap);
        assert!(r.len() <= 8);
    }
}
