//! Node load, read from each download node's status page (nginx `stub_status`): the
//! downloads running now feed the running slot's room, and a node whose probe keeps
//! failing is marked down and its future bookings re-planned.
//!
//! [`Tracker`] decides from the probes' outcomes without IO; [`Probe`] is the part that
//! fetches the pages and applies its verdicts to the store.

use std::collections::HashMap;
use std::time::Duration;

use hyper::Method;

use super::service::{CheckIn, replan_node};
use crate::io::http_client::{self, Call};
use crate::part::{Part, Shutdown};
use crate::store::Store;

/// The downloads a `stub_status` page says are running: its "Active connections",
/// less the probe's own connection. `None`: not a `stub_status` page.
pub fn active_downloads(page: &str) -> Option<u32> {
    let line = page
        .lines()
        .find_map(|l| l.trim().strip_prefix("Active connections:"))?;
    let active: u32 = line.trim().parse().ok()?;
    Some(active.saturating_sub(1))
}

/// What to do after one probe of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Record the measured downloads.
    Measured(u32),
    /// Failed, not yet often enough in a row to act on.
    Failing(u32),
    /// Failed `failures` times in a row: mark it down and re-plan.
    Down,
}

/// Consecutive failures per node.
#[derive(Debug, Default)]
pub struct Tracker {
    failures: HashMap<String, u32>,
    limit: u32,
}

impl Tracker {
    /// A node is taken down after `limit` failed probes in a row (at least one).
    pub fn new(limit: u32) -> Tracker {
        Tracker {
            failures: HashMap::new(),
            limit: limit.max(1),
        }
    }

    /// `page`: the status page's text, or `None` when the probe failed.
    #[must_use]
    pub fn observe(&mut self, node: &str, page: Option<&str>) -> Verdict {
        if let Some(n) = page.and_then(active_downloads) {
            self.failures.remove(node);
            return Verdict::Measured(n);
        }
        let count = self.failures.entry(node.to_string()).or_default();
        *count += 1;
        if *count >= self.limit {
            self.failures.remove(node);
            Verdict::Down
        } else {
            Verdict::Failing(*count)
        }
    }
}

/// Longest wait for a status page: a node slower than this to say how busy it is
/// counts as failing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_PAGE: usize = 4096;

/// The part that probes every node that is up and has a status URL.
pub struct Probe {
    pub store: Store,
    pub every: Duration,
    pub failures: u32,
}

impl Part for Probe {
    fn name(&self) -> &'static str {
        "planner-probe"
    }

    async fn run(self, shutdown: Shutdown) {
        let mut tracker = Tracker::new(self.failures);
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            if shutdown
                .run_until_cancelled(self.round(&mut tracker))
                .await
                .is_none()
            {
                break;
            }
        }
    }
}

impl Probe {
    async fn round(&self, tracker: &mut Tracker) {
        let nodes = match self.store.plan_nodes().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "planner probe: cannot read the nodes");
                return;
            }
        };
        // All at once: a node that hangs does not hold the others' probes back.
        let mut probes = tokio::task::JoinSet::new();
        for n in nodes.iter().filter(|n| n.up) {
            if let Some(url) = n.status_url.clone() {
                let id = n.id.clone();
                probes.spawn(async move { (id, fetch(&url).await) });
            }
        }
        let mut pages = HashMap::new();
        while let Some(done) = probes.join_next().await {
            if let Ok((id, page)) = done {
                pages.insert(id, page);
            }
        }
        for n in nodes.iter().filter(|n| n.up && n.status_url.is_some()) {
            let page = pages.remove(&n.id).flatten();
            match tracker.observe(&n.id, page.as_deref()) {
                Verdict::Measured(m) => {
                    count("ok");
                    if m != n.measured
                        && let Err(e) = self.store.plan_set_measured(&n.id, m).await
                    {
                        tracing::warn!(node = n.id, error = %e, "planner probe: not recorded");
                    }
                }
                Verdict::Failing(times) => {
                    count("failed");
                    tracing::warn!(node = n.id, times, "planner probe: status page failed");
                }
                Verdict::Down => {
                    count("failed");
                    self.take_down(&n.id).await;
                }
            }
        }
    }

    async fn take_down(&self, node: &str) {
        match replan_node(&self.store, node, crate::ota::now_ms()).await {
            Ok(moves) => {
                let later = moves
                    .iter()
                    .filter(|(_, got)| matches!(got, CheckIn::AskAgainAt(_)))
                    .count();
                tracing::warn!(
                    node,
                    moved = moves.len() - later,
                    unbooked = later,
                    "planner probe: node down, its bookings re-planned"
                );
                metrics::counter!("radcare_planner_nodes_down_total").increment(1);
            }
            Err(e) => tracing::error!(node, error = %e, "planner probe: re-plan failed"),
        }
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("radcare_planner_probes_total", "outcome" => outcome).increment(1);
}

/// The status page's text if it answered 200 in time.
async fn fetch(url: &str) -> Option<String> {
    let call = Call {
        method: Method::GET,
        url,
        headers: &[],
        body: None,
        timeout: PROBE_TIMEOUT,
    };
    match tokio::time::timeout(PROBE_TIMEOUT * 2, http_client::call(call, MAX_PAGE)).await {
        Ok(Ok((200, body))) => String::from_utf8(body).ok(),
        Ok(Ok((status, _))) => {
            tracing::debug!(url, status, "planner probe: status page refused");
            None
        }
        Ok(Err(e)) => {
            tracing::debug!(url, error = %e, "planner probe: no status page");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx 1.22's `stub_status`, as Debian ships it.
    const PAGE: &str = "Active connections: 4 \nserver accepts handled requests\n \
                        118 118 260 \nReading: 0 Writing: 3 Waiting: 1 \n";

    #[test]
    fn stub_status_without_the_probe_itself() {
        assert_eq!(active_downloads(PAGE), Some(3));
        assert_eq!(active_downloads("Active connections: 1\n"), Some(0));
        assert_eq!(active_downloads("<html>not found</html>"), None);
        assert_eq!(active_downloads("Active connections: lots\n"), None);
    }

    #[test]
    fn a_node_goes_down_after_failures_in_a_row_only() {
        let mut t = Tracker::new(2);
        assert_eq!(t.observe("a", None), Verdict::Failing(1));
        assert_eq!(t.observe("a", Some(PAGE)), Verdict::Measured(3));
        assert_eq!(t.observe("a", None), Verdict::Failing(1), "count restarted");
        assert_eq!(t.observe("b", Some("garbage")), Verdict::Failing(1));
        assert_eq!(t.observe("a", None), Verdict::Down);
        assert_eq!(t.observe("a", None), Verdict::Failing(1), "then anew");
    }
}
