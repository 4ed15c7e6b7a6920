//! Records the git commit the binary is built from (`RADCARE_COMMIT`), for
//! `radcare --version`, the "serving" log line and `radcare_build_info`. Outside a git
//! checkout (a source tarball, a crate) it says "unknown"; `RADCARE_COMMIT` set in the
//! environment (a packager's) wins.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=RADCARE_COMMIT");
    let commit = std::env::var("RADCARE_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Rebuilt when HEAD moves: HEAD itself (a checkout) and the branch it points at (a
    // commit). In a worktree HEAD is in its own git dir, the branch in the common one.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &head_ref])
    {
        // A branch only in packed-refs has no file of its own.
        let path = if std::path::Path::new(&path).exists() {
            Some(path)
        } else {
            git(&["rev-parse", "--git-path", "packed-refs"])
        };
        if let Some(path) = path {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=RADCARE_COMMIT={commit}");
}
