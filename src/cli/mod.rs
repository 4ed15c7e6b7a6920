//! The handlers of `radcare`'s subcommands; the clap tree is in `main.rs`.

pub mod agent;
pub mod check;
pub mod decode;
pub mod faults;
pub mod fetch;
pub mod generate;
pub mod operator;
pub mod ota;
pub mod pcap;
pub mod plan;
pub mod plan_simulate;
pub mod progress;
pub mod relay;
pub mod replay;
pub mod secret;
pub mod serve;

use std::path::Path;
use std::process::ExitCode;

use radcare::server::{self, Loaded};

/// Loads a config file (or the embedded default), or prints every error with its
/// file:line:column and gives the exit status 2 to return.
pub fn load_config(path: Option<&Path>) -> Result<Loaded, ExitCode> {
    server::load_file(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}
