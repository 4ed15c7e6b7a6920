//! Upgrade strategy planning (S5): download nodes with a capacity per time slot,
//! slots computed from capacity, measured use and bookings, and for each terminal's
//! check-in the nearest cluster with room, its best node and a time.
//!
//! This module is the sans-IO core: pure functions over nodes, bookings and time. The
//! store makes a booking durable and enforces the per-node-per-slot cap with a
//! conditional update, so that several radcare nodes on one PostgreSQL never
//! double-book (`store::plan`).

pub mod input;
pub mod probe;
pub mod service;
pub mod simulate;

use std::collections::HashMap;

/// A download node as the operator entered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub url: String,
    pub cluster: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Downloads a node takes in one slot.
    pub cap_per_slot: u32,
    /// Marked down by the operator or its status probe: nothing new is booked on it.
    pub up: bool,
    /// Where radcare reads the node's current load (nginx `stub_status`); none:
    /// bookings only.
    pub status_url: Option<String>,
    /// Downloads the probe last saw running on the node.
    pub measured: u32,
}

impl Node {
    /// What the node has taken in `slot`: its bookings, or in the slot running now
    /// what its probe measures if that is more (downloads the plan does not know of,
    /// or late ones from the slot before).
    fn used(&self, booked: &Booked, slot: u32, running: Option<u32>) -> u32 {
        let b = booked.get(&(self.id.clone(), slot)).copied().unwrap_or(0);
        if running == Some(slot) {
            b.max(self.measured)
        } else {
            b
        }
    }
}

/// A place on the map, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("latitude {0} is off the map (-90..=90)")]
    Latitude(String),
    #[error("longitude {0} is off the map (-180..=180)")]
    Longitude(String),
}

impl Location {
    pub fn new(latitude: f64, longitude: f64) -> Result<Location, PlanError> {
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(PlanError::Latitude(latitude.to_string()));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(PlanError::Longitude(longitude.to_string()));
        }
        Ok(Location {
            latitude,
            longitude,
        })
    }

    /// Great-circle distance in kilometres (haversine; the Earth as a sphere is
    /// close enough to rank clusters).
    pub fn km_to(&self, other: &Location) -> f64 {
        const EARTH_KM: f64 = 6371.0;
        let (la1, la2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dla = la2 - la1;
        let dlo = (other.longitude - self.longitude).to_radians();
        let a = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * EARTH_KM * a.sqrt().asin()
    }
}

/// Slot `n` of a plan covers `[start + n * length, start + (n + 1) * length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub start_ms: i64,
    pub length_ms: i64,
    pub count: u32,
}

impl Slots {
    pub fn starts_at(&self, slot: u32) -> i64 {
        self.start_ms + i64::from(slot) * self.length_ms
    }

    /// The slot running at `now_ms`, if the plan has started and not ended.
    pub fn running(&self, now_ms: i64) -> Option<u32> {
        (now_ms >= self.start_ms)
            .then(|| self.current(now_ms))
            .flatten()
    }

    /// The slot running at `now_ms`, if any (before the plan: the first).
    pub fn current(&self, now_ms: i64) -> Option<u32> {
        if now_ms < self.start_ms {
            return Some(0);
        }
        let n = (now_ms - self.start_ms) / self.length_ms;
        (n < i64::from(self.count)).then_some(n as u32)
    }
}

/// What is booked: (node id, slot) -> downloads.
pub type Booked = HashMap<(String, u32), u32>;

/// Free capacity of every node that is up, per slot from `first`, for the console and
/// `plan show`: (node, slot, free). `running` is the slot running now, where measured
/// use counts.
pub fn free_capacity(
    nodes: &[Node],
    booked: &Booked,
    slots: &Slots,
    first: u32,
    running: Option<u32>,
) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for slot in first..slots.count {
        for n in nodes.iter().filter(|n| n.up) {
            let used = n.used(booked, slot, running);
            out.push((n.id.clone(), slot, n.cap_per_slot.saturating_sub(used)));
        }
    }
    out
}

/// The candidates for one check-in, best first, at most `limit`: (node, slot).
///
/// Clusters are ranked by the distance from the terminal to their nearest node; in the
/// nearest cluster with room in any allowed slot from `first`, the earliest such slot,
/// and in it the least booked node (ties: the nearer). In the slot `running` now a
/// node's measured use counts when it exceeds its bookings. The store then takes the
/// first candidate whose conditional booking succeeds, so a race lost to another
/// radcare node moves on to the next candidate rather than over the cap. The list
/// stops at `limit`: a full one is all of the country's nodes times its slots.
#[allow(clippy::too_many_arguments)]
pub fn candidates(
    at: &Location,
    nodes: &[Node],
    booked: &Booked,
    slots: &Slots,
    allowed: &[u32],
    first: u32,
    running: Option<u32>,
    limit: usize,
) -> Vec<(String, u32)> {
    // Each node's distance once.
    let up: Vec<(&Node, f64)> = nodes
        .iter()
        .filter(|n| n.up)
        .map(|n| {
            let d = at.km_to(&Location {
                latitude: n.latitude,
                longitude: n.longitude,
            });
            (n, d)
        })
        .collect();
    let mut clusters: Vec<(&str, f64)> = Vec::new();
    for (n, d) in &up {
        match clusters.iter_mut().find(|(c, _)| *c == n.cluster) {
            Some((_, best)) => *best = best.min(*d),
            None => clusters.push((&n.cluster, *d)),
        }
    }
    clusters.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    let mut out = Vec::new();
    for (cluster, _) in clusters {
        let mut members: Vec<(&Node, f64)> = up
            .iter()
            .filter(|(n, _)| n.cluster == cluster)
            .copied()
            .collect();
        members.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        for slot in (first..slots.count).filter(|s| allowed.is_empty() || allowed.contains(s)) {
            let mut with_room: Vec<(&Node, u32)> = members
                .iter()
                .map(|(n, _)| (*n, n.used(booked, slot, running)))
                .filter(|(n, used)| *used < n.cap_per_slot)
                .collect();
            // Stable: equally booked nodes keep their distance order.
            with_room.sort_by_key(|(_, used)| *used);
            for (n, _) in with_room {
                if out.len() >= limit {
                    return out;
                }
                out.push((n.id.clone(), slot));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, cluster: &str, lat: f64, lon: f64, cap: u32) -> Node {
        Node {
            id: id.into(),
            url: format!("http://{id}"),
            cluster: cluster.into(),
            latitude: lat,
            longitude: lon,
            cap_per_slot: cap,
            up: true,
            status_url: None,
            measured: 0,
        }
    }

    fn nodes() -> Vec<Node> {
        vec![
            // Beijing cluster, two nodes; Shanghai cluster, one.
            node("bj-1", "north", 39.90, 116.40, 2),
            node("bj-2", "north", 39.95, 116.30, 2),
            node("sh-1", "east", 31.23, 121.47, 2),
        ]
    }

    fn slots() -> Slots {
        Slots {
            start_ms: 0,
            length_ms: 20_000,
            count: 3,
        }
    }

    #[test]
    fn off_the_map_is_refused() {
        assert!(Location::new(91.0, 0.0).is_err());
        assert!(Location::new(0.0, -180.5).is_err());
        assert!(Location::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let bj = Location::new(39.90, 116.40).unwrap();
        let sh = Location::new(31.23, 121.47).unwrap();
        let d = bj.km_to(&sh);
        assert!((1060.0..1080.0).contains(&d), "{d}");
    }

    #[test]
    fn the_nearest_cluster_the_earliest_slot_the_least_booked_node() {
        let tianjin = Location::new(39.13, 117.20).unwrap();
        let mut booked = Booked::new();
        let c = candidates(
            &tianjin,
            &nodes(),
            &booked,
            &slots(),
            &[],
            0,
            None,
            usize::MAX,
        );
        assert_eq!(
            c[0],
            ("bj-1".into(), 0),
            "nearest node of the nearest cluster"
        );
        assert!(c.iter().take(6).all(|(n, _)| n.starts_with("bj")), "{c:?}");
        booked.insert(("bj-1".into(), 0), 1);
        let c = candidates(
            &tianjin,
            &nodes(),
            &booked,
            &slots(),
            &[],
            0,
            None,
            usize::MAX,
        );
        assert_eq!(c[0], ("bj-2".into(), 0), "the less booked node first");
        // The north cluster full in every slot: the east one.
        for s in 0..3 {
            booked.insert(("bj-1".into(), s), 2);
            booked.insert(("bj-2".into(), s), 2);
        }
        let c = candidates(
            &tianjin,
            &nodes(),
            &booked,
            &slots(),
            &[],
            0,
            None,
            usize::MAX,
        );
        assert_eq!(c[0], ("sh-1".into(), 0));
        // Only the chosen slots, and never one already past.
        let c = candidates(
            &tianjin,
            &nodes(),
            &Booked::new(),
            &slots(),
            &[2],
            1,
            None,
            usize::MAX,
        );
        assert!(c.iter().all(|(_, s)| *s == 2), "{c:?}");
    }

    #[test]
    fn a_node_that_is_down_gets_nothing() {
        let mut ns = nodes();
        ns[0].up = false;
        let near_bj1 = Location::new(39.90, 116.40).unwrap();
        let c = candidates(
            &near_bj1,
            &ns,
            &Booked::new(),
            &slots(),
            &[],
            0,
            None,
            usize::MAX,
        );
        assert!(c.iter().all(|(n, _)| n != "bj-1"), "{c:?}");
        assert_eq!(c[0].0, "bj-2");
    }

    #[test]
    fn measured_use_counts_in_the_running_slot_only() {
        let mut ns = nodes();
        // bj-1's probe sees 2 downloads (its cap) though nothing is booked.
        ns[0].measured = 2;
        let near_bj1 = Location::new(39.90, 116.40).unwrap();
        let c = candidates(
            &near_bj1,
            &ns,
            &Booked::new(),
            &slots(),
            &[],
            0,
            Some(0),
            usize::MAX,
        );
        assert_eq!(c[0], ("bj-2".into(), 0), "{c:?}");
        assert!(c.contains(&("bj-1".into(), 1)), "{c:?}");
        // Before the plan runs, what is measured now says nothing of its slots.
        let c = candidates(
            &near_bj1,
            &ns,
            &Booked::new(),
            &slots(),
            &[],
            0,
            None,
            usize::MAX,
        );
        assert_eq!(c[0], ("bj-1".into(), 0), "{c:?}");
        let free = free_capacity(&ns, &Booked::new(), &slots(), 0, Some(0));
        assert!(free.contains(&("bj-1".into(), 0, 0)), "{free:?}");
        assert!(free.contains(&("bj-1".into(), 1, 2)), "{free:?}");
    }

    #[test]
    fn no_room_anywhere_is_no_candidate() {
        let mut booked = Booked::new();
        for n in nodes() {
            for s in 0..3 {
                booked.insert((n.id.clone(), s), n.cap_per_slot);
            }
        }
        let at = Location::new(30.0, 120.0).unwrap();
        assert!(candidates(&at, &nodes(), &booked, &slots(), &[], 0, None, usize::MAX).is_empty());
        let c = candidates(&at, &nodes(), &Booked::new(), &slots(), &[], 0, None, 4);
        assert_eq!(c.len(), 4, "no more than asked for");
    }

    #[test]
    fn slots_know_their_times() {
        let s = slots();
        assert_eq!(s.starts_at(2), 40_000);
        assert_eq!(s.current(-5), Some(0));
        assert_eq!(s.current(25_000), Some(1));
        assert_eq!(s.current(60_000), None);
        assert_eq!(s.running(-5), None);
        assert_eq!(s.running(25_000), Some(1));
        let free = free_capacity(&nodes(), &Booked::new(), &s, 1, None);
        assert_eq!(free.len(), 6);
        assert!(free.iter().all(|(_, _, f)| *f == 2));
    }
}
