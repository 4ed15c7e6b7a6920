//! The long-running parts of `radcare serve` and their one shutdown signal.
//!
//! A part is anything that runs until it is told to stop: the packet threads, the
//! garden writer, each HTTP listener, the demo AAA, and next the terminal services.
//! They all watch one [`Shutdown`] token: tasks await [`Shutdown::cancelled`], packet
//! threads poll [`Shutdown::is_cancelled`] between batches (one atomic load).
//! [`Parts`] starts them and, on shutdown, waits for them within a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
pub use tokio_util::sync::CancellationToken as Shutdown;

/// A long-running part: it runs until `shutdown` is cancelled, then finishes what it
/// holds (in-flight requests, buffered writes) and returns.
pub trait Part: Send + 'static {
    /// Names the part in logs and in the shutdown report.
    fn name(&self) -> &'static str;

    fn run(self, shutdown: Shutdown) -> impl Future<Output = ()> + Send + 'static;
}

/// Parts that are OS threads (the packet paths, which poll the token rather than await
/// it): stopping them is cancelling the token they were given and joining them off the
/// runtime's threads.
pub struct Threads {
    name: &'static str,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    /// `spawn` starts the threads with the token they must poll.
    pub fn spawn<F>(name: &'static str, shutdown: &Shutdown, spawn: F) -> std::io::Result<Threads>
    where
        F: FnOnce(Shutdown) -> std::io::Result<Vec<std::thread::JoinHandle<()>>>,
    {
        Ok(Threads {
            name,
            threads: spawn(shutdown.clone())?,
        })
    }
}

impl Part for Threads {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn run(self, shutdown: Shutdown) {
        shutdown.cancelled().await;
        let name = self.name;
        let joined = tokio::task::spawn_blocking(move || {
            self.threads
                .into_iter()
                .filter_map(|t| t.join().err())
                .count()
        })
        .await;
        match joined {
            Ok(0) => {}
            Ok(panicked) => tracing::error!(part = name, panicked, "threads panicked"),
            Err(e) => tracing::error!(part = name, error = %e, "cannot join threads"),
        }
    }
}

/// The running parts of one process, and the token that stops them.
pub struct Parts {
    shutdown: Shutdown,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Parts {
    pub fn new(shutdown: Shutdown) -> Parts {
        Parts {
            shutdown,
            running: Vec::new(),
        }
    }

    /// Starts a part on the runtime.
    pub fn start<P: Part>(&mut self, part: P) {
        let name = part.name();
        tracing::debug!(part = name, "starting");
        let handle = tokio::spawn(part.run(self.shutdown.clone()));
        self.running.push((name, handle));
    }

    /// Starts a task that is not a type of its own (it still gets the token).
    pub fn start_task<F, Fut>(&mut self, name: &'static str, run: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(run(self.shutdown.clone()));
        self.running.push((name, handle));
    }

    /// Cancels the token and waits for every part, in the order they were started, at
    /// most `deadline` in all. Returns the parts still running at the deadline.
    pub async fn stop(self, deadline: Duration) -> Vec<&'static str> {
        self.shutdown.cancel();
        let until = tokio::time::Instant::now() + deadline;
        let mut late = Vec::new();
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(until, &mut handle).await {
                Ok(Ok(())) => tracing::debug!(part = name, "stopped"),
                Ok(Err(e)) => tracing::error!(part = name, error = %e, "part ended abnormally"),
                Err(_) => {
                    handle.abort();
                    late.push(name);
                }
            }
        }
        if !late.is_empty() {
            tracing::warn!(parts = ?late, "shutdown deadline passed; these parts were stopped unfinished");
        }
        late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);

    impl Part for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn run(self, shutdown: Shutdown) {
            shutdown.cancelled().await;
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn tasks_and_threads_stop_on_one_signal() {
        let token = Shutdown::new();
        let mut parts = Parts::new(token.clone());
        let done = Arc::new(AtomicUsize::new(0));
        parts.start(Counting(done.clone()));
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let threads = Threads::spawn("poller", &token, |stop| {
            let t = std::thread::spawn(move || {
                while !stop.is_cancelled() {
                    p.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            Ok(vec![t])
        })
        .unwrap();
        parts.start(threads);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(polls.load(Ordering::Relaxed) > 0);
        let late = parts.stop(Duration::from_secs(5)).await;
        assert!(late.is_empty());
        assert_eq!(done.load(Ordering::SeqCst), 1);
        let after = polls.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(polls.load(Ordering::Relaxed), after, "the thread stopped");
    }

    #[tokio::test]
    async fn a_part_that_ignores_the_signal_is_reported_at_the_deadline() {
        let mut parts = Parts::new(Shutdown::new());
        parts.start_task("stubborn", |_| std::future::pending());
        let late = parts.stop(Duration::from_millis(50)).await;
        assert_eq!(late, ["stubborn"]);
    }
}
