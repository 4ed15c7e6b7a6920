//! `radcare serve` (and `radcare bridge`): the middlebox, until SIGTERM or Ctrl-C;
//! SIGHUP reloads what can be reloaded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use radcare::server::{self, Options};

#[derive(Args)]
pub struct ServeArgs {
    /// Config file (TOML); without it, the embedded defaults (loopback, SQLite).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also start a built-in demo AAA with sample subscribers.
    #[arg(long)]
    pub demo: bool,
    /// Shadow mode: proxy every packet unchanged, but classify each Reject and count
    /// what would have been rewritten (radcare_rejects_total{action="would_rewrite"}).
    #[arg(long)]
    pub shadow: bool,
    /// Write the process id here once serving (removed at exit), for `radcare reload`.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
}

/// `radcare bridge --config FILE`: serve, with a config that must have `[bridge]`.
pub fn bridge(config: PathBuf) -> Result<ExitCode> {
    match super::load_config(Some(&config)) {
        Ok(l) if l.config.bridge.is_some() => serve(ServeArgs {
            config: Some(config),
            demo: false,
            shadow: false,
            pid_file: None,
        }),
        Ok(_) => {
            eprintln!(
                "{}: no [bridge] section (nas_side, aaa_side)",
                config.display()
            );
            Ok(ExitCode::from(2))
        }
        Err(code) => Ok(code),
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let loaded = match super::load_config(args.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let metrics =
            radcare::telemetry::install().context("cannot install the metrics recorder")?;
        let opts = Options {
            demo: args.demo,
            shadow: args.shadow,
            metrics: Some(metrics),
        };
        // Signals are taken before anything serves: a SIGHUP or SIGTERM that comes as
        // soon as the ports answer must not meet the default action (exit).
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        let stop = stop_signal()?;
        tokio::pin!(stop);
        let mut running = match server::start(loaded, opts).await {
            Ok(r) => r,
            Err(e) => bail!("{e}"),
        };
        // systemd's Type=notify: ready once every socket is bound and every part runs.
        // Without NOTIFY_SOCKET (not under systemd) this does nothing.
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!(error = %e, "cannot tell systemd we are ready");
        }
        if let Some(path) = &args.pid_file {
            std::fs::write(path, format!("{}\n", std::process::id()))
                .with_context(|| format!("cannot write the pid file {}", path.display()))?;
        }
        if let Some(d) = running.demo_addr {
            eprintln!(
                "demo AAA on {d}; try: radtest carol carol-pass {} 0 testing123",
                running.auth_addr
            );
        }
        if let Some(login) = &running.demo_login {
            eprintln!(
                "console: http://{}/ (log in as {} with password {})",
                running.admin_addr, login.name, login.password
            );
        }
        loop {
            #[cfg(unix)]
            let hangup = hup.recv();
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = &mut stop => break,
                _ = hangup => reload(&mut running, args.config.as_deref()),
            }
        }
        tracing::info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        running.shutdown(Duration::from_secs(5)).await;
        if let Some(path) = &args.pid_file {
            let _ = std::fs::remove_file(path);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `radcare reload`: SIGHUP to the server whose pid file this is. The server logs
/// whether the reload was applied (or why not).
pub fn reload_running(pid_file: &Path) -> Result<ExitCode> {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "{}: {e} (is radcare serving with --pid-file?)",
                pid_file.display()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let Some(pid) = text.trim().parse::<libc::pid_t>().ok().filter(|p| *p > 0) else {
        eprintln!(
            "{}: not a process id: {:?}",
            pid_file.display(),
            text.trim()
        );
        return Ok(ExitCode::from(2));
    };
    // SAFETY: kill(2) with a positive pid and a signal number; no memory is shared.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!("cannot signal radcare (pid {pid}): {e}");
        return Ok(ExitCode::FAILURE);
    }
    println!("sent SIGHUP to radcare (pid {pid}); its log says what was reloaded");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP: reads the config file again; applies its RADIUS clients and policy, or says
/// why not (errors with file:line, or the sections that need a restart) and keeps
/// running as before.
fn reload(running: &mut server::Running, config: Option<&Path>) {
    let Some(path) = config else {
        tracing::warn!("SIGHUP: running on the embedded configuration; nothing to reload");
        return;
    };
    match server::load_file(Some(path)) {
        Err(e) => {
            for line in e.to_string().lines() {
                tracing::error!(config = %path.display(), "reload refused: {line}");
            }
        }
        Ok(loaded) => match running.reload(loaded) {
            Ok(()) => {
                tracing::info!(config = %path.display(), "reloaded: RADIUS clients and policy, the dictionary, the portal")
            }
            Err(sections) => tracing::error!(
                config = %path.display(),
                needs_restart = %sections.join(", "),
                "reload refused: these changes need a restart; nothing was applied"
            ),
        },
    }
}

/// SIGTERM or Ctrl-C, both registered now, awaited later.
pub(super) fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    Ok(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
}
