//! `radcare man` and `radcare completions SHELL`: the man page and shell completions,
//! generated from the clap tree so they never disagree with `--help`
//! (scripts/build-deb.sh puts them in the package).

use std::process::ExitCode;

use anyhow::{Context, Result};

pub fn man(cmd: clap::Command) -> Result<ExitCode> {
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout().lock())
        .context("writing the man page")?;
    Ok(ExitCode::SUCCESS)
}

pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell) -> Result<ExitCode> {
    clap_complete::generate(shell, &mut cmd, "radcare", &mut std::io::stdout().lock());
    Ok(ExitCode::SUCCESS)
}
