//! A private PostgreSQL server for a test: initdb into a temp dir, postgres on a free
//! loopback port with trust auth, stopped on drop. As root it runs as Debian's
//! `postgres` user (initdb refuses to run as root). [`Postgres::start_tls`] serves TLS
//! only, with a self-signed certificate for `localhost`.

use std::ffi::OsString;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{find_peer, free_tcp_port};

pub struct Postgres {
    pub url: String,
    pub port: u16,
    /// The server's certificate (its own root) when started with TLS.
    pub cert: Option<PathBuf>,
    dir: TempDir,
    child: Child,
    as_postgres: bool,
    bin: PathBuf,
    args: Vec<OsString>,
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

/// Writes a self-signed certificate for `localhost` and its key (mode 0600) into `dir`
/// as `NAME.crt` and `NAME.key`. The name is a SAN and the certificate no CA, as
/// rustls's verifier insists; it is then its own root.
pub fn self_signed_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key)
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// The server with `ssl=on` and only `hostssl` lines in pg_hba.conf, so a client
    /// without TLS is refused.
    pub fn start_tls() -> Postgres {
        Postgres::start_with(true)
    }

    fn start_with(tls: bool) -> Postgres {
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
        fs::File::create(dir.path().join("pg.log")).unwrap();
        let mut owned = vec![dir.path().join("pg.log")];
        let mut ssl_args = Vec::new();
        let cert = tls.then(|| {
            let (cert, key) = self_signed_cert(dir.path(), "server");
            fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            ssl_args = vec![
                "-c".to_string(),
                "ssl=on".to_string(),
                "-c".to_string(),
                format!("ssl_cert_file={}", cert.display()),
                "-c".to_string(),
                format!("ssl_key_file={}", key.display()),
            ];
            owned.extend([cert.clone(), key]);
            cert
        });
        if as_postgres {
            // The server refuses a key it does not own.
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .args(&owned)
                .status();
        }
        let mut args: Vec<OsString> = vec!["-D".into(), data.into()];
        for a in ["-p", &port.to_string(), "-k"] {
            args.push(a.into());
        }
        args.push(dir.path().into());
        for a in ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"] {
            args.push(a.into());
        }
        args.extend(ssl_args.into_iter().map(OsString::from));
        let child = spawn(as_postgres, &postgres, &args, dir.path());
        let mut pg = Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            cert,
            dir,
            child,
            as_postgres,
            bin: postgres,
            args,
        };
        pg.wait_ready();
        pg
    }

    /// Stops the server (fast shutdown: clients are disconnected), keeping its data.
    pub fn stop(&mut self) {
        let pg_ctl = find_peer("pg_ctl").expect("pg_ctl");
        let status = command(self.as_postgres, &pg_ctl)
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running pg_ctl");
        assert!(status.success(), "pg_ctl stop failed");
        let _ = self.child.wait();
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&mut self) {
        self.child = spawn(self.as_postgres, &self.bin, &self.args, self.dir.path());
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Accepting TCP is not yet accepting queries; give startup a moment.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Runs the server in the foreground of a child process, its log appended to pg.log.
fn spawn(as_postgres: bool, bin: &PathBuf, args: &[OsString], dir: &Path) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pg.log"))
        .unwrap();
    command(as_postgres, bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting postgres")
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
