//! A real nginx (Debian's `nginx-light`) on loopback as a download node: serves a
//! directory (with Range, as nginx does for static files), exposes `stub_status` at
//! `/nginx_status`, and writes an access log the tests read back. Stopped on drop.
//! Call [`super::require_peer`]`("nginx")` first.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{find_peer, free_tcp_port};

pub struct Nginx {
    pub addr: SocketAddr,
    root: PathBuf,
    dir: TempDir,
    child: Option<Child>,
}

/// One access-log line. Times are Unix seconds with millisecond precision.
#[derive(Debug, Clone)]
pub struct Access {
    /// When nginx read the request's first bytes.
    pub start: f64,
    /// When it logged the request (the response was sent).
    pub end: f64,
    pub status: u16,
    pub method: String,
    pub uri: String,
    pub bytes_sent: u64,
    /// The request's Range header, or `-`.
    pub range: String,
}

impl Nginx {
    /// Starts nginx serving `root` on a free loopback port. The directory must stay
    /// readable by nginx's worker (it runs as the current user, or root under root).
    pub fn start(root: &Path) -> Nginx {
        let bin = find_peer("nginx").expect("nginx installed (require_peer first)");
        let dir = tempfile::tempdir().expect("nginx dir");
        let port = free_tcp_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let d = dir.path().display();
        // Under root nginx would drop its workers to nobody, who cannot read a 0700
        // temporary directory.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format radcare '$msec $request_time $status $request_method $uri $body_bytes_sent \"$http_range\"';
    access_log {d}/access.log radcare;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen {addr};
        root {root};
        location = /nginx_status {{ stub_status; }}
    }}
}}
",
            root = root.display(),
        );
        let conf_path = dir.path().join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            addr,
            root: root.to_path_buf(),
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = nginx.child.as_mut().map(|c| c.try_wait()) {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {addr}:\n{}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Every request logged so far, oldest first (`/nginx_status` polls included).
    pub fn access_log(&self) -> Vec<Access> {
        let text = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines().filter_map(parse_access).collect()
    }

    /// Stops nginx (fast shutdown): connections drop, the port closes.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM is nginx's fast shutdown; the master reaps its workers.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn parse_access(line: &str) -> Option<Access> {
    let (head, range) = line.split_once(" \"")?;
    let mut f = head.split(' ');
    let end: f64 = f.next()?.parse().ok()?;
    let took: f64 = f.next()?.parse().ok()?;
    Some(Access {
        start: end - took,
        end,
        status: f.next()?.parse().ok()?,
        method: f.next()?.to_string(),
        uri: f.next()?.to_string(),
        bytes_sent: f.next()?.parse().ok()?,
        range: range.trim_end_matches('"').to_string(),
    })
}
