//! `[planner]`: how radcare reads its download nodes' load (S5).

use std::time::Duration;

use serde::Deserialize;

use super::{Problem, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlannerConfig {
    /// How often each node's status page is read.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// Failed probes in a row that take a node down (its bookings re-planned).
    pub probe_failures: u32,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            probe_interval: Duration::from_secs(5),
            probe_failures: 2,
        }
    }
}

impl PlannerConfig {
    pub fn validate(&self) -> Vec<Problem> {
        let at = |k| vec![Seg::Key("planner"), Seg::Key(k)];
        let mut out = Vec::new();
        if self.probe_interval < Duration::from_millis(100)
            || self.probe_interval > Duration::from_secs(3600)
        {
            out.push((
                at("probe_interval"),
                "probe_interval must be between 100ms and 1h".into(),
            ));
        }
        if !(1..=100).contains(&self.probe_failures) {
            out.push((
                at("probe_failures"),
                "probe_failures must be between 1 and 100".into(),
            ));
        }
        out
    }
}
