//! What an operator enters, checked once for the CLI and the admin API alike: a
//! download node and a deployment's plan. Bad input is refused here, before anything
//! is written.

use serde::Deserialize;

use super::{Location, Node, PlanError, Slots};
use crate::store::plan::Plan;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("node id: 1 to 64 letters, digits, `-`, `_` or `.`")]
    NodeId,
    #[error("{0}")]
    Location(#[from] PlanError),
    #[error("cap {0}: between 1 and 1000000 downloads per slot")]
    Cap(i64),
    #[error("url must be an http(s) URL")]
    Url,
    #[error("status_url must be an http URL")]
    StatusUrl,
    #[error("cluster: 1 to 64 characters")]
    Cluster,
    #[error("slot length: between 1 s and 1 day")]
    SlotLength,
    #[error("slots: between 1 and 10000")]
    SlotCount,
    #[error("the first slot starts in the past ({0} ms ago)")]
    StartInPast(i64),
    #[error("allowed slot {0}: the plan has slots 0 to {1}")]
    Allowed(i64, u32),
}

/// A download node as entered (`PUT /api/nodes/{id}`, `radcare node add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub url: String,
    pub cluster: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Downloads per slot; signed so that a negative one is refused with a reason.
    pub cap: i64,
    #[serde(default)]
    pub status_url: Option<String>,
}

impl NodeSpec {
    pub fn check(self, id: &str) -> Result<Node, InputError> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.len() > 64 || !id.chars().all(plain) {
            return Err(InputError::NodeId);
        }
        let at = Location::new(self.latitude, self.longitude)?;
        if !(1..=1_000_000).contains(&self.cap) {
            return Err(InputError::Cap(self.cap));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(InputError::Url);
        }
        if self
            .status_url
            .as_ref()
            .is_some_and(|s| !s.starts_with("http://"))
        {
            return Err(InputError::StatusUrl);
        }
        if self.cluster.is_empty() || self.cluster.len() > 64 {
            return Err(InputError::Cluster);
        }
        Ok(Node {
            id: id.into(),
            url: self.url.trim_end_matches('/').into(),
            cluster: self.cluster,
            latitude: at.latitude,
            longitude: at.longitude,
            cap_per_slot: self.cap as u32,
            up: true,
            status_url: self.status_url,
            measured: 0,
        })
    }
}

/// A deployment's plan as entered (`PUT /api/plans/{deployment}`, `radcare plan set`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// The first slot's start, Unix ms.
    pub start_ms: i64,
    pub slot_ms: i64,
    pub slots: i64,
    /// The slots the operator picked; empty: as soon as possible.
    #[serde(default)]
    pub allow: Vec<i64>,
}

/// How far in the past a plan may start: the caller's clock and ours differ a little.
const SKEW_MS: i64 = 2_000;

impl PlanSpec {
    pub fn check(self, deployment: i64, now_ms: i64) -> Result<Plan, InputError> {
        if !(1_000..=86_400_000).contains(&self.slot_ms) {
            return Err(InputError::SlotLength);
        }
        if !(1..=10_000).contains(&self.slots) {
            return Err(InputError::SlotCount);
        }
        if self.start_ms < now_ms - SKEW_MS {
            return Err(InputError::StartInPast(now_ms - self.start_ms));
        }
        let count = self.slots as u32;
        let mut allowed = Vec::with_capacity(self.allow.len());
        for &s in &self.allow {
            if !(0..i64::from(count)).contains(&s) {
                return Err(InputError::Allowed(s, count - 1));
            }
            allowed.push(s as u32);
        }
        allowed.sort_unstable();
        allowed.dedup();
        Ok(Plan {
            deployment,
            slots: Slots {
                start_ms: self.start_ms,
                length_ms: self.slot_ms,
                count,
            },
            allowed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeSpec {
        NodeSpec {
            url: "http://10.0.0.1/a/".into(),
            cluster: "north".into(),
            latitude: 39.9,
            longitude: 116.4,
            cap: 3,
            status_url: None,
        }
    }

    fn plan() -> PlanSpec {
        PlanSpec {
            start_ms: 100_000,
            slot_ms: 20_000,
            slots: 4,
            allow: vec![3, 1, 3],
        }
    }

    #[test]
    fn a_good_node_and_plan_pass() {
        let n = node().check("bj-1").unwrap();
        assert_eq!((n.url.as_str(), n.cap_per_slot), ("http://10.0.0.1/a", 3));
        let p = plan().check(7, 100_500).unwrap();
        assert_eq!(p.allowed, vec![1, 3]);
        assert_eq!(p.slots.count, 4);
    }

    #[test]
    fn bad_input_is_refused_with_its_reason() {
        let mut n = node();
        n.latitude = 91.0;
        assert!(matches!(n.check("x"), Err(InputError::Location(_))));
        let mut n = node();
        n.cap = -3;
        assert_eq!(n.check("x"), Err(InputError::Cap(-3)));
        assert_eq!(node().check("a b"), Err(InputError::NodeId));
        let mut n = node();
        n.status_url = Some("ftp://x".into());
        assert_eq!(n.check("x"), Err(InputError::StatusUrl));
        assert_eq!(
            plan().check(7, 200_000),
            Err(InputError::StartInPast(100_000))
        );
        let mut p = plan();
        p.allow = vec![4];
        assert_eq!(p.check(7, 0), Err(InputError::Allowed(4, 3)));
        let mut p = plan();
        p.slots = 0;
        assert_eq!(p.check(7, 0), Err(InputError::SlotCount));
        let mut p = plan();
        p.slot_ms = -5;
        assert_eq!(p.check(7, 0), Err(InputError::SlotLength));
    }
}
