//! `radcare plan simulate`: a country's worth of terminals and download nodes, planned
//! in memory and through the store, beside the two rollouts operators use today
//! ("everyone at once", fixed groups that know nothing of the nodes).
//!
//! [`Board`] is the in-memory planner at scale: the same choice as [`super::candidates`]
//! (nearest cluster with room, its earliest slot with room, its least booked node,
//! ties the nearer), with nodes as unit vectors (the nearest is the largest dot
//! product, no trigonometry per node) and, per cluster, the first slot that still has
//! room (bookings only grow, so it only moves forward).

use super::{Booked, Location, Node};

/// splitmix64: a seeded, repeatable map.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (a sum of uniforms), mean 0, deviation `sd`.
    pub fn normal(&mut self, sd: f64) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * sd * 3f64.sqrt()
    }
}

/// The map: a box the size of eastern China.
const LAT: (f64, f64) = (22.0, 46.0);
const LON: (f64, f64) = (98.0, 124.0);

/// Nodes in clusters around cities, terminals mostly around the cities (of very
/// different sizes) and a fifth spread over the country.
pub struct Country {
    pub nodes: Vec<Node>,
    pub terminals: Vec<Location>,
}

pub fn country(seed: u64, terminals: usize, nodes: usize, clusters: usize, cap: u32) -> Country {
    let mut rng = Rng::new(seed);
    let clusters = clusters.max(1);
    let mut cities = Vec::with_capacity(clusters);
    let mut weights = Vec::with_capacity(clusters);
    for _ in 0..clusters {
        cities.push((
            LAT.0 + rng.unit() * (LAT.1 - LAT.0),
            LON.0 + rng.unit() * (LON.1 - LON.0),
        ));
        // A few big cities, many small ones.
        weights.push(rng.unit().powi(3) + 0.02);
    }
    let total: f64 = weights.iter().sum();
    let clamp = |v: f64, r: (f64, f64)| v.clamp(r.0, r.1);
    let mut out_nodes = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let c = i % clusters;
        out_nodes.push(Node {
            id: format!("n{i:04}"),
            url: format!("http://node-{i}.example"),
            cluster: format!("c{c:02}"),
            latitude: clamp(cities[c].0 + rng.normal(0.2), LAT),
            longitude: clamp(cities[c].1 + rng.normal(0.2), LON),
            cap_per_slot: cap,
            up: true,
            status_url: None,
            measured: 0,
        });
    }
    let mut out_terminals = Vec::with_capacity(terminals);
    for _ in 0..terminals {
        let (lat, lon) = if rng.unit() < 0.2 {
            (
                LAT.0 + rng.unit() * (LAT.1 - LAT.0),
                LON.0 + rng.unit() * (LON.1 - LON.0),
            )
        } else {
            let mut pick = rng.unit() * total;
            let mut c = 0;
            while c + 1 < clusters && pick >= weights[c] {
                pick -= weights[c];
                c += 1;
            }
            (cities[c].0 + rng.normal(0.8), cities[c].1 + rng.normal(0.8))
        };
        out_terminals.push(Location {
            latitude: clamp(lat, LAT),
            longitude: clamp(lon, LON),
        });
    }
    Country {
        nodes: out_nodes,
        terminals: out_terminals,
    }
}

fn unit_vector(at: &Location) -> [f64; 3] {
    let (la, lo) = (at.latitude.to_radians(), at.longitude.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Kilometres from a dot product of unit vectors.
fn km(dot: f64) -> f64 {
    6371.0 * dot.clamp(-1.0, 1.0).acos()
}

/// The in-memory planner: nodes that are up, bookings per node and slot.
pub struct Board {
    xyz: Vec<[f64; 3]>,
    cluster_of: Vec<usize>,
    members: Vec<Vec<usize>>,
    caps: Vec<u32>,
    slots: u32,
    booked: Vec<u32>,
    first_open: Vec<u32>,
    best: Vec<f64>,
}

impl Board {
    /// Clusters are numbered in the order of `nodes`' first appearance; `booked` as
    /// the store has it.
    pub fn new(nodes: &[Node], slots: u32, booked: &Booked) -> Board {
        let up: Vec<&Node> = nodes.iter().filter(|n| n.up).collect();
        let mut names: Vec<&str> = Vec::new();
        let mut cluster_of = Vec::with_capacity(up.len());
        for n in &up {
            let c = match names.iter().position(|c| *c == n.cluster) {
                Some(c) => c,
                None => {
                    names.push(&n.cluster);
                    names.len() - 1
                }
            };
            cluster_of.push(c);
        }
        let mut members = vec![Vec::new(); names.len()];
        for (i, c) in cluster_of.iter().enumerate() {
            members[*c].push(i);
        }
        let mut b = Board {
            xyz: up
                .iter()
                .map(|n| {
                    unit_vector(&Location {
                        latitude: n.latitude,
                        longitude: n.longitude,
                    })
                })
                .collect(),
            cluster_of,
            caps: up.iter().map(|n| n.cap_per_slot).collect(),
            slots,
            booked: vec![0; up.len() * slots as usize],
            first_open: vec![0; names.len()],
            best: vec![0.0; names.len()],
            members,
        };
        for (i, n) in up.iter().enumerate() {
            for s in 0..slots {
                if let Some(k) = booked.get(&(n.id.clone(), s)) {
                    b.booked[i * slots as usize + s as usize] = *k;
                }
            }
        }
        for c in 0..b.members.len() {
            b.advance(c);
        }
        b
    }

    fn full(&self, c: usize, slot: u32) -> bool {
        self.members[c]
            .iter()
            .all(|&n| self.booked[n * self.slots as usize + slot as usize] >= self.caps[n])
    }

    fn advance(&mut self, c: usize) {
        while self.first_open[c] < self.slots && self.full(c, self.first_open[c]) {
            self.first_open[c] += 1;
        }
    }

    /// Books one terminal: (node index among the nodes that are up, slot), or `None`
    /// when no cluster has room left.
    pub fn book(&mut self, at: &Location) -> Option<(usize, u32)> {
        let p = unit_vector(at);
        self.best.fill(-2.0);
        for (i, n) in self.xyz.iter().enumerate() {
            let d = dot(&p, n);
            let c = self.cluster_of[i];
            if d > self.best[c] {
                self.best[c] = d;
            }
        }
        loop {
            // The nearest cluster with room left (ties: the first).
            let mut pick = None;
            for c in 0..self.best.len() {
                if self.first_open[c] < self.slots
                    && pick.is_none_or(|p: usize| self.best[c] > self.best[p])
                {
                    pick = Some(c);
                }
            }
            let c = pick?;
            let slot = self.first_open[c];
            let row = |n: usize| n * self.slots as usize + slot as usize;
            let mut chosen: Option<(usize, u32, f64)> = None;
            for &n in &self.members[c] {
                let used = self.booked[row(n)];
                if used >= self.caps[n] {
                    continue;
                }
                let d = dot(&p, &self.xyz[n]);
                if chosen.is_none_or(|(_, u, bd)| used < u || (used == u && d > bd)) {
                    chosen = Some((n, used, d));
                }
            }
            match chosen {
                Some((n, _, _)) => {
                    self.booked[row(n)] += 1;
                    self.advance(c);
                    return Some((n, slot));
                }
                // Not reached: `first_open` is a slot with room.
                None => self.best[c] = -3.0,
            }
        }
    }

    /// Gives a booking back (its store write lost a race).
    pub fn unbook(&mut self, node: usize, slot: u32) {
        let i = node * self.slots as usize + slot as usize;
        self.booked[i] = self.booked[i].saturating_sub(1);
        let c = self.cluster_of[node];
        self.first_open[c] = self.first_open[c].min(slot);
    }

    pub fn booked(&self, node: usize, slot: u32) -> u32 {
        self.booked[node * self.slots as usize + slot as usize]
    }

    pub fn nodes(&self) -> usize {
        self.xyz.len()
    }
}

/// How a rollout loads the nodes and how far terminals are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Most downloads running on one node at once.
    pub peak: u32,
    /// (node, slot) cells over the cap, and the downloads over it in all.
    pub cells_over: u64,
    pub downloads_over: u64,
    /// Terminals served by a node of their nearest cluster.
    pub in_nearest_cluster: f64,
    /// Km to the cluster got (its nearest node) beyond the nearest cluster: mean, p99.
    pub extra_km_mean: f64,
    pub extra_km_p99: f64,
    /// Terminals left without a slot.
    pub unplaced: usize,
}

/// Per terminal: its nearest node, and per cluster the nearest member's dot.
fn nearest(board: &Board, at: &Location) -> (usize, Vec<f64>) {
    let p = unit_vector(at);
    let mut best = vec![-2.0; board.members.len()];
    let mut node = 0;
    let mut node_d = -2.0;
    for (i, n) in board.xyz.iter().enumerate() {
        let d = dot(&p, n);
        let c = board.cluster_of[i];
        if d > best[c] {
            best[c] = d;
        }
        if d > node_d {
            (node, node_d) = (i, d);
        }
    }
    (node, best)
}

/// Scores an assignment: per terminal `(node, slot)` or `None`, all of a slot's
/// downloads running together (each starts at its slot and ends within it).
pub fn outcome(board: &Board, terminals: &[Location], got: &[Option<(usize, u32)>]) -> Outcome {
    let slots = board.slots as usize;
    let mut load = vec![0u32; board.nodes() * slots];
    let mut extra = Vec::with_capacity(terminals.len());
    let mut nearest_cluster = 0usize;
    let mut unplaced = 0;
    for (at, g) in terminals.iter().zip(got) {
        let Some((node, slot)) = *g else {
            unplaced += 1;
            continue;
        };
        load[node * slots + slot as usize] += 1;
        let (_, best) = nearest(board, at);
        let c = board.cluster_of[node];
        let optimum = best.iter().copied().fold(-2.0, f64::max);
        if best[c] >= optimum {
            nearest_cluster += 1;
        }
        extra.push((km(best[c]) - km(optimum)).max(0.0));
    }
    let mut cells_over = 0;
    let mut downloads_over = 0;
    for (i, &l) in load.iter().enumerate() {
        let cap = board.caps[i / slots];
        if l > cap {
            cells_over += 1;
            downloads_over += u64::from(l - cap);
        }
    }
    extra.sort_by(f64::total_cmp);
    let placed = extra.len().max(1);
    Outcome {
        peak: load.iter().copied().max().unwrap_or(0),
        cells_over,
        downloads_over,
        in_nearest_cluster: nearest_cluster as f64 / placed as f64,
        extra_km_mean: extra.iter().sum::<f64>() / placed as f64,
        extra_km_p99: extra.get(extra.len() * 99 / 100).copied().unwrap_or(0.0),
        unplaced,
    }
}

/// "Everyone at once": every terminal from its nearest node, all in the first slot.
pub fn everyone_at_once(board: &Board, terminals: &[Location]) -> Vec<Option<(usize, u32)>> {
    terminals
        .iter()
        .map(|at| Some((nearest(board, at).0, 0)))
        .collect()
}

/// Fixed rollout groups: terminal `i` in group `i mod slots`, one group per slot, each
/// from its nearest node, whatever the node already has.
pub fn fixed_groups(board: &Board, terminals: &[Location]) -> Vec<Option<(usize, u32)>> {
    terminals
        .iter()
        .enumerate()
        .map(|(i, at)| Some((nearest(board, at).0, (i % board.slots as usize) as u32)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Slots, candidates};
    use super::*;

    #[test]
    fn the_board_chooses_as_the_service_core_does() {
        let c = country(7, 600, 12, 4, 2);
        let slots = Slots {
            start_ms: 0,
            length_ms: 1000,
            count: 8,
        };
        let mut board = Board::new(&c.nodes, slots.count, &Booked::new());
        let mut booked = Booked::new();
        for at in &c.terminals {
            let want = candidates(at, &c.nodes, &booked, &slots, &[], 0, None, 1)
                .first()
                .cloned();
            let got = board.book(at).map(|(n, s)| (c.nodes[n].id.clone(), s));
            assert_eq!(got, want, "{at:?}");
            if let Some(k) = got {
                *booked.entry(k).or_default() += 1;
            }
        }
        // 12 nodes x 2 x 8 slots = 192 places for 600: the rest is unplaced.
        assert_eq!(booked.values().sum::<u32>(), 192);
    }

    #[test]
    fn the_plan_stays_within_caps_where_the_baselines_do_not() {
        let c = country(1, 20_000, 40, 5, 4);
        let mut board = Board::new(&c.nodes, 96, &Booked::new());
        let got: Vec<_> = c.terminals.iter().map(|t| board.book(t)).collect();
        let planned = outcome(&board, &c.terminals, &got);
        assert_eq!((planned.cells_over, planned.unplaced), (0, 4_640));
        assert!(planned.peak <= 4);
        let at_once = outcome(
            &board,
            &c.terminals,
            &everyone_at_once(&board, &c.terminals),
        );
        assert!(
            at_once.peak > 100 && at_once.extra_km_mean == 0.0,
            "{at_once:?}"
        );
        let groups = outcome(&board, &c.terminals, &fixed_groups(&board, &c.terminals));
        assert!(groups.downloads_over > 0, "{groups:?}");
    }
}
