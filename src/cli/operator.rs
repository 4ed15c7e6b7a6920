//! `radcare operator`: who may log in to the console. Passwords are read from stdin
//! (first line) or `-S FILE`, never from the command line, where `ps` would show them.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use radcare::console::auth::{Role, hash_password};
use radcare::store::Store;
use radcare::store::console::Operator;

use super::ota::runtime;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; the password is the first line of stdin or of -S FILE.
    Add {
        name: String,
        /// `admin` (may act: disconnect, resolve) or `read-only` (may look).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of FILE instead of stdin.
        #[arg(short = 'S', long = "password-file", value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the operators and their roles.
    List,
    /// Remove an operator and end their sessions.
    Remove { name: String },
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

fn read_password(file: Option<&PathBuf>) -> Result<String> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the password file {}", f.display()))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from stdin")?;
            line
        }
    };
    Ok(text.lines().next().unwrap_or("").to_string())
}

pub fn operator(config: Option<PathBuf>, cmd: OperatorCommand) -> Result<ExitCode> {
    // Checked before the store is touched: bad input writes nothing.
    let add = match &cmd {
        OperatorCommand::Add {
            name,
            role,
            password_file,
        } => {
            if !valid_name(name) {
                return Ok(usage(
                    "an operator name is 1-64 of letters, digits and - _ . @",
                ));
            }
            let Some(role) = Role::parse(role) else {
                return Ok(usage("--role is admin or read-only"));
            };
            let password = read_password(password_file.as_ref())?;
            match hash_password(&password) {
                Ok(h) => Some((name.clone(), role, h)),
                Err(e) => return Ok(usage(&e.to_string())),
            }
        }
        _ => None,
    };
    let loaded = match super::load_config(config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(async {
        let store = Store::open(&loaded.config.store.url)
            .await
            .context("cannot open the store")?;
        match cmd {
            OperatorCommand::Add { .. } => {
                let (name, role, password_hash) = add.expect("checked above");
                let added = store
                    .console_add_operator(&Operator {
                        name: name.clone(),
                        password_hash,
                        role: role.as_str().into(),
                        created_at_ms: radcare::garden::now_ms(),
                    })
                    .await?;
                if !added {
                    return Ok(usage(&format!("operator {name} exists")));
                }
                println!("operator {name} added ({})", role.as_str());
            }
            OperatorCommand::List => {
                for o in store.console_operators().await? {
                    println!("{}\t{}", o.name, o.role);
                }
            }
            OperatorCommand::Remove { name } => {
                if !store.console_remove_operator(&name).await? {
                    return Ok(usage(&format!("no operator {name}")));
                }
                println!("operator {name} removed");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
