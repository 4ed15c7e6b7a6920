//! Progress for long jobs (`replay`, `pcap` on a large file): a bar on stderr when it is
//! a terminal, nothing at all when it is not (a pipe, a file, journald), so scripted
//! output stays clean.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use radcare::replay::Progress;

/// A bar over `len` units, or a hidden one when stderr is not a terminal.
fn bar(len: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Reading a capture of `len` bytes.
pub fn bytes(len: u64) -> ProgressBar {
    bar(
        len,
        "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    )
}

/// Shows a running load's counts against its end (`count` requests, or `duration`)
/// until `done` is set; run it on a thread of its own beside the load.
pub fn replay(progress: &Progress, done: &AtomicBool, count: Option<u64>, duration: Duration) {
    let by_count = count.is_some();
    let len = count.unwrap_or(duration.as_millis() as u64);
    let bar = bar(len, "{elapsed_precise} [{bar:40}] {percent}% {msg}");
    if bar.is_hidden() {
        return;
    }
    let start = std::time::Instant::now();
    while !done.load(Ordering::Relaxed) {
        let sent = progress.sent.load(Ordering::Relaxed);
        let received = progress.received.load(Ordering::Relaxed);
        bar.set_position(if by_count {
            sent
        } else {
            start.elapsed().as_millis() as u64
        });
        bar.set_message(format!("sent {sent}, received {received}"));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}
