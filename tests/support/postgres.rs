//! A private PostgreSQL server for a test: initdb into a temp dir, postgres on a free
//! loopback port with trust auth, stopped on drop. As root it runs as Debian's
//! `postgres` user (initdb refuses to run as root).

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{find_peer, free_tcp_port};

pub struct Postgres {
    pub url: String,
    dir: TempDir,
    child: Child,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn command(as_postgres: bool, bin: &PathBuf) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let initdb = find_peer("initdb").expect("initdb (Debian's postgresql package)");
        let postgres = find_peer("postgres").expect("postgres server binary");
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("radcare-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if as_postgres {
            // The server user must own its directory.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres failed");
        }
        let out = command(as_postgres, &initdb)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_tcp_port();
        let log = fs::File::create(dir.path().join("pg.log")).unwrap();
        if as_postgres {
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path().join("pg.log"))
                .status();
        }
        let child = command(as_postgres, &postgres)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        let pg = Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            child,
            as_postgres,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                fs::read_to_string(pg.dir.path().join("pg.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Accepting TCP is not yet accepting queries; give startup a moment.
        std::thread::sleep(Duration::from_millis(300));
        pg
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pg_ctl) = find_peer("pg_ctl") {
            let _ = command(self.as_postgres, &pg_ctl)
                .args(["stop", "-m", "immediate", "-D"])
                .arg(self.dir.path().join("data"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
