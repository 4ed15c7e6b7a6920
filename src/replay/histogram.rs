//! A fixed log-linear latency histogram: exact below 128 ns, then 64 buckets per power
//! of two (under 1.6 % relative error) up to 2^40 ns (about 18 minutes). Recording is
//! an index computation and an increment; the buckets are one array allocated once.

const EXACT: u64 = 128;
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Highest power of two covered; larger values land in the last bucket.
const MAX_POW: u32 = 40;
const BUCKETS: usize = EXACT as usize + (MAX_POW as usize - 7 + 1) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let pow = 63 - v.leading_zeros();
    if pow > MAX_POW {
        return BUCKETS - 1;
    }
    let sub = ((v >> (pow - SUB_BITS)) as usize) & (SUB - 1);
    EXACT as usize + (pow as usize - 7) * SUB + sub
}

/// The largest value that lands in bucket `i` (a percentile reads as an upper bound).
fn upper(i: usize) -> u64 {
    if i < EXACT as usize {
        return i as u64;
    }
    let j = i - EXACT as usize;
    let pow = (j / SUB) as u32 + 7;
    let sub = (j % SUB) as u64;
    let width = 1u64 << (pow - SUB_BITS);
    (1u64 << pow) + (sub + 1) * width - 1
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }

    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0), or 0 when nothing was recorded.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let check = |v: u64| {
            let i = index(v);
            assert!(upper(i) >= v, "{v} above its bucket's upper bound");
            if v >= EXACT {
                let err = (upper(i) - v) as f64 / v as f64;
                assert!(err < 1.0 / 64.0, "{v}: relative error {err}");
            }
            i
        };
        let mut prev = check(0);
        for v in 1..5000u64 {
            let i = check(v);
            assert!(i == prev || i == prev + 1, "gap at {v}");
            prev = i;
        }
        for p in 1..=40 {
            check((1u64 << p) - 1);
            check(1u64 << p);
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let within = |got: u64, want: u64| {
            let err = (got as f64 - want as f64).abs() / want as f64;
            assert!(err < 0.02, "got {got}, want about {want}");
        };
        within(h.quantile(0.5), 500_000);
        within(h.quantile(0.99), 990_000);
        within(h.quantile(0.999), 999_000);
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.count(), 1000);
        let mut g = Histogram::new();
        g.record(5);
        g.merge(&h);
        assert_eq!(g.count(), 1001);
        assert_eq!(g.quantile(0.0), 5);
    }
}
