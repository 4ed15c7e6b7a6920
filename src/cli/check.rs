//! `radcare check-config` and `radcare dict check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use radcare::dict::Dictionary;

/// Validates a config file: prints a summary and exits 0, or every error and exits 2.
pub fn check_config(file: &Path) -> ExitCode {
    match super::load_config(Some(file)) {
        Ok(l) => {
            println!(
                "{}: ok ({} clients, {} upstreams, {} causes, {} profiles)",
                file.display(),
                l.config.radius.clients.len(),
                l.config.radius.upstreams.len(),
                l.policy.causes.len(),
                l.policy.profiles.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Loads a dictionary tree (ours if no path) and prints its counts.
pub fn dict_check(path: Option<PathBuf>) -> ExitCode {
    let d = match &path {
        Some(p) => Dictionary::load(p),
        None => Dictionary::builtin(),
    };
    match d {
        Ok(d) => {
            let c = d.counts();
            println!(
                "attributes={} values={} vendors={}",
                c.attributes, c.values, c.vendors
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
