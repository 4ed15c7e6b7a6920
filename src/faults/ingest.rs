//! Group commit for fault reports: the reports that arrive while a transaction commits
//! are filed together in the next one, so a burst costs one commit (one log flush)
//! per batch rather than per report. Each request is still answered only after the
//! transaction holding its report committed.
//!
//! [`Gather`] decides, without IO, when a batch is ready; [`Ingest`] is the task that
//! takes the reports, files them with `Store::faults_file_group` and answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::store::faults::{Filed, Judge, NewReport};
use crate::store::{Store, StoreError};

/// When a batch is ready: full, or its first report has waited `max_wait`. With no
/// wait, a batch is what queued up while the previous one was committing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gather {
    pub max_batch: usize,
    pub max_wait: Duration,
    /// Batches filed at once, each in its transaction: while one waits for its commit,
    /// the next is written (PostgreSQL's connections work in parallel; SQLite's one
    /// connection takes them in turn).
    pub writers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// File the batch now.
    Commit,
    /// Wait for more reports until then.
    WaitUntil(Instant),
}

impl Gather {
    /// What to do with `have` reports queued, the first of them taken at `first`.
    pub fn step(&self, have: usize, first: Instant, now: Instant) -> Step {
        let until = first + self.max_wait;
        if have >= self.max_batch || now >= until {
            Step::Commit
        } else {
            Step::WaitUntil(until)
        }
    }
}

struct Job {
    report: NewReport,
    new_account: i64,
    done: oneshot::Sender<Result<Filed, StoreError>>,
}

/// The handle requests file their reports through; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the filing task (on the current tokio runtime); it ends when the last
    /// handle is dropped.
    pub fn start(store: Store, judge: Judge, gather: Gather) -> Ingest {
        // Room for a few batches: past that, requests wait for their turn.
        let (tx, rx) = mpsc::channel(gather.max_batch.saturating_mul(4).max(16));
        // The writers take turns gathering: a batch is whole before the next begins.
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..gather.writers.max(1) {
            tokio::spawn(write(store.clone(), judge, gather, rx.clone()));
        }
        Ingest { jobs: tx }
    }

    /// Files a report; returns once the transaction holding it committed.
    pub async fn file(&self, report: NewReport, new_account: i64) -> Result<Filed, StoreError> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            report,
            new_account,
            done,
        };
        let gone = || StoreError::Sql(sqlx::Error::Protocol("the filing task stopped".into()));
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The next batch: at least one report (none: every handle is gone), then as many as
/// [`Gather`] lets in.
async fn next_batch(rx: &mut mpsc::Receiver<Job>, gather: Gather) -> Vec<Job> {
    let Some(first) = rx.recv().await else {
        return Vec::new();
    };
    let started = Instant::now();
    let mut batch = vec![first];
    loop {
        while batch.len() < gather.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match gather.step(batch.len(), started, Instant::now()) {
            Step::Commit => return batch,
            Step::WaitUntil(until) => {
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => batch.push(job),
                        None => return batch,
                    },
                    () = tokio::time::sleep_until(until.into()) => return batch,
                }
            }
        }
    }
}

async fn write(
    store: Store,
    judge: Judge,
    gather: Gather,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        let batch = next_batch(&mut *rx.lock().await, gather).await;
        if batch.is_empty() {
            return;
        }
        metrics::histogram!("radcare_fault_commit_batch").record(batch.len() as f64);
        let reports: Vec<(&NewReport, i64)> =
            batch.iter().map(|j| (&j.report, j.new_account)).collect();
        match store.faults_file_group(&reports, judge).await {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.done.send(result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, reports = batch.len(), "fault reports not filed");
                for job in batch {
                    let _ = job
                        .done
                        .send(Err(StoreError::Sql(sqlx::Error::Protocol(format!(
                            "the batch was not committed: {e}"
                        )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_ready_when_full_or_when_its_first_report_waited_enough() {
        let t = Instant::now();
        let g = Gather {
            max_batch: 4,
            max_wait: Duration::from_millis(2),
            writers: 1,
        };
        assert_eq!(
            g.step(1, t, t),
            Step::WaitUntil(t + Duration::from_millis(2))
        );
        assert_eq!(g.step(4, t, t), Step::Commit, "full");
        assert_eq!(g.step(2, t, t + Duration::from_millis(2)), Step::Commit);
        let no_wait = Gather {
            max_wait: Duration::ZERO,
            ..g
        };
        assert_eq!(no_wait.step(1, t, t), Step::Commit, "what queued up");
    }
}
