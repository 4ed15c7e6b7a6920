//! Shared secrets for the operator tools, kept off the command line: a secret given as
//! an argument is visible to every user in `ps` and stays in shell history, so each
//! tool also takes it from a file (`-S FILE`, first line, as radclient does) or from
//! the environment (`RADCARE_SECRET`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

/// `--secret S`, `-S FILE` or `RADCARE_SECRET`, for tools where a secret is optional.
#[derive(Args, Debug)]
pub struct SecretOption {
    /// Shared secret. Prefer -S FILE or RADCARE_SECRET: an argument shows in `ps`.
    #[arg(long, env = "RADCARE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Read the shared secret from the first line of FILE (as radclient -S).
    #[arg(short = 'S', long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

impl SecretOption {
    /// The secret, if one was given; the file wins over the flag and the environment.
    pub fn get(&self) -> Result<Option<String>> {
        match &self.secret_file {
            Some(f) => read(f).map(Some),
            None => Ok(self.secret.clone()),
        }
    }
}

/// A secret that must be given: a last positional argument (radclient's form, kept for
/// scripts), `-S FILE` or `RADCARE_SECRET`.
#[derive(Args, Debug)]
pub struct SecretRequired {
    /// The shared secret. Prefer -S FILE or RADCARE_SECRET: an argument shows in `ps`.
    #[arg(env = "RADCARE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Read the shared secret from the first line of FILE (as radclient -S).
    #[arg(short = 'S', long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

impl SecretRequired {
    pub fn get(&self) -> Result<String> {
        match (&self.secret_file, &self.secret) {
            (Some(f), _) => read(f),
            (None, Some(s)) => Ok(s.clone()),
            (None, None) => bail!("no shared secret: give -S FILE, RADCARE_SECRET, or SECRET"),
        }
    }
}

/// The first line of a secret file, without its line ending.
fn read(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secret file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the secret file {} is empty", path.display());
    }
    Ok(line.to_string())
}
