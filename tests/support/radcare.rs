//! radcare itself as a process under test: the real binary, a config written to a
//! temp dir, ports chosen free, killed on drop (its log kept as an artifact on failure).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{artifacts_dir, free_tcp_port, free_udp_port, status_server};

pub const NAS_SECRET: &str = "testing123";

pub struct Radcare {
    pub auth: SocketAddr,
    pub acct: SocketAddr,
    /// The portal listener (subscribers).
    pub http: SocketAddr,
    /// The admin listener (operators: /metrics).
    pub admin: SocketAddr,
    /// The terminal listener (devices).
    pub terminal: SocketAddr,
    pub dir: TempDir,
    child: Child,
    args: Vec<String>,
    /// A read-only operator's console session, made on first use (`api_get`).
    session: std::sync::OnceLock<String>,
    /// An admin operator's, made on first use (`admin_cookie`).
    admin_session: std::sync::OnceLock<String>,
}

/// One `[[radius.upstream]]` entry.
pub struct Upstream {
    pub name: &'static str,
    pub auth: SocketAddr,
    pub acct: SocketAddr,
    pub secret: String,
}

impl Radcare {
    /// Starts radcare with one NAS client (`client_net`, secret `testing123`), the given
    /// upstreams, and `extra` TOML appended (more sections).
    pub fn start(client_net: &str, upstreams: &[Upstream], extra: &str) -> Radcare {
        Radcare::start_with_args(client_net, upstreams, extra, &[])
    }

    /// As [`Radcare::start`], with extra `serve` arguments (e.g. `--shadow`).
    pub fn start_with_args(
        client_net: &str,
        upstreams: &[Upstream],
        extra: &str,
        args: &[&str],
    ) -> Radcare {
        Radcare::start_full(client_net, upstreams, "", "", extra, args)
    }

    /// As [`Radcare::start`], with `lines` for the `[terminal]` table (e.g.
    /// `poll_interval = "1s"`).
    pub fn start_with_terminal_lines(client_net: &str, lines: &str) -> Radcare {
        Radcare::start_full(client_net, &[], "", lines, "", &[])
    }

    /// As [`Radcare::start`], with `radius` lines for the `[radius]` table.
    pub fn start_with_radius(client_net: &str, upstreams: &[Upstream], radius: &str) -> Radcare {
        Radcare::start_full(client_net, upstreams, radius, "", "", &[])
    }

    /// As [`Radcare::start`], its terminal listener on `terminal`: for a peer that must
    /// know radcare's address before radcare starts (smsbox's get-url).
    pub fn start_with_terminal(client_net: &str, terminal: SocketAddr, extra: &str) -> Radcare {
        Radcare::start_on(client_net, &[], "", "", extra, &[], Some(terminal), None)
    }

    /// As [`Radcare::start`], on the store at `store_url` (e.g. a shared PostgreSQL:
    /// several radcare nodes on one database) instead of its own SQLite file.
    pub fn start_with_store(client_net: &str, store_url: &str) -> Radcare {
        Radcare::start_on(client_net, &[], "", "", "", &[], None, Some(store_url))
    }

    fn start_full(
        client_net: &str,
        upstreams: &[Upstream],
        radius: &str,
        terminal_lines: &str,
        extra: &str,
        args: &[&str],
    ) -> Radcare {
        Radcare::start_on(
            client_net,
            upstreams,
            radius,
            terminal_lines,
            extra,
            args,
            None,
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn start_on(
        client_net: &str,
        upstreams: &[Upstream],
        radius: &str,
        terminal_lines: &str,
        extra: &str,
        args: &[&str],
        terminal: Option<SocketAddr>,
        store_url: Option<&str>,
    ) -> Radcare {
        let dir = tempfile::tempdir().expect("temp dir");
        let store_url = store_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("radcare.db").display()),
            str::to_string,
        );
        let auth: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let acct: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        // Three free ports, none the same.
        let mut taken: Vec<SocketAddr> = [http].into_iter().chain(terminal).collect();
        let mut another = || loop {
            let a: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
            if !taken.contains(&a) {
                taken.push(a);
                break a;
            }
        };
        let admin = another();
        let terminal = terminal.unwrap_or_else(another);
        let mut cfg = format!(
            "[radius]\nauth_listen = \"{auth}\"\nacct_listen = \"{acct}\"\n{radius}\n\n\
             [[radius.client]]\nname = \"bras-1\"\naddress = \"{client_net}\"\nsecret = \"{NAS_SECRET}\"\n\n"
        );
        for u in upstreams {
            cfg.push_str(&format!(
                "[[radius.upstream]]\nname = \"{}\"\nauth = \"{}\"\nacct = \"{}\"\nsecret = \"{}\"\nresponse_window = \"1s\"\n\n",
                u.name, u.auth, u.acct, u.secret
            ));
        }
        cfg.push_str(&format!(
            "[portal]\nlisten = \"{http}\"\n\n[admin]\nlisten = \"{admin}\"\n\n\
             [terminal]\nlisten = \"{terminal}\"\nstate_dir = \"{}\"\n{terminal_lines}\n\n[store]\nurl = \"{store_url}\"\n\n{extra}\n",
            dir.path().join("state").display(),
        ));
        let cfg_path = dir.path().join("radcare.toml");
        fs::write(&cfg_path, &cfg).expect("writing config");
        fs::File::create(dir.path().join("radcare.log")).expect("log file");
        let r = Radcare {
            auth,
            acct,
            http,
            admin,
            terminal,
            child: spawn(dir.path(), args),
            dir,
            args: args.iter().map(|a| a.to_string()).collect(),
            session: std::sync::OnceLock::new(),
            admin_session: std::sync::OnceLock::new(),
        };
        r.wait_started();
        r
    }

    fn wait_started(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !status_server(self.auth, NAS_SECRET, 1, Duration::from_millis(200)) {
            assert!(
                Instant::now() < deadline,
                "radcare did not start:\n{}",
                self.log()
            );
        }
    }

    /// Kills the server (as a crash or a power cut would).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit, at most `within`; `None` if it was still
    /// running then (it is killed).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: plain kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(r, 0, "SIGTERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("waiting for radcare") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        None
    }

    /// Starts it again, same config, same ports, same store; its log goes on.
    pub fn restart(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn(self.dir.path(), &args);
        self.wait_started();
    }

    /// Runs the operator command `radcare ARGS --config <this one's config>`;
    /// returns its stdout, asserting it succeeded.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_radcare"))
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("radcare.toml"))
            .output()
            .expect("running radcare");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "radcare {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Rewrites the config file with `edit` and sends SIGHUP.
    pub fn reload(&self, edit: impl FnOnce(String) -> String) {
        let path = self.dir.path().join("radcare.toml");
        let text = fs::read_to_string(&path).expect("reading config");
        fs::write(&path, edit(text)).expect("writing config");
        // SAFETY: plain kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(r, 0, "SIGHUP");
    }

    /// Waits until the log has `needle` (at most 5 s); whether it came.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("radcare.db")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("radcare.log")).unwrap_or_default()
    }

    /// GET a path on the portal listener; returns (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        get(self.http, path)
    }

    /// GET a path on the admin listener; returns (status, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        get(self.admin, path)
    }

    /// GET a path on the admin listener as a logged-in operator (the console and
    /// `/api/*` need one): a read-only operator is added and logged in on first use.
    pub fn api_get(&self, path: &str) -> (u16, String) {
        request(
            self.admin,
            "GET",
            path,
            &[("Cookie", self.read_only_cookie())],
            "",
        )
    }

    /// The `Cookie` header value of a read-only operator's console session.
    pub fn read_only_cookie(&self) -> &str {
        self.session
            .get_or_init(|| self.operator_session("test-operator", "read-only"))
    }

    /// The `Cookie` header value of an admin operator's console session (for the
    /// operators' API calls that change things).
    pub fn admin_cookie(&self) -> &str {
        self.admin_session
            .get_or_init(|| self.operator_session("test-admin", "admin"))
    }

    fn operator_session(&self, name: &str, role: &str) -> String {
        let file = self.dir.path().join(format!("{name}.pw"));
        fs::write(&file, "test-operator-password\n").expect("password file");
        self.cli(&[
            "operator",
            "add",
            name,
            "--role",
            role,
            "-S",
            file.to_str().expect("utf-8 path"),
        ]);
        console_login(self.admin, name, "test-operator-password")
    }

    /// A metric once it has reached `want` (counts land just after the packet they count
    /// leaves), or its value after 5 s.
    pub fn wait_metric(&self, series: &str, want: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = self.metric(series);
            if v >= want || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of one metric line (exact name with labels as rendered), or 0.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.admin_get("/metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Radcare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let dest = artifacts_dir().join(format!("radcare-{}.log", self.auth.port()));
            let _ = fs::write(&dest, self.log());
            eprintln!("radcare log tail:\n{}", tail(&self.log(), 40));
        }
    }
}

/// `radcare serve` on the config in `dir`, logging to `dir/radcare.log` (appended).
fn spawn(dir: &std::path::Path, args: &[&str]) -> Child {
    let log = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("radcare.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["serve", "--config"])
        .arg(dir.join("radcare.toml"))
        .args(args)
        .env("RUST_LOG", "radcare=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawning radcare")
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, &[], "")
}

/// One HTTP/1.1 request: its status and body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path, headers, form);
    (status, body)
}

/// One HTTP/1.1 request: its status, head and body.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(form);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read http");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_string(), body.to_string())
}

/// The value of cookie `name` set in a response head.
pub fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let pair = v.trim().split(';').next()?;
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

/// The value of the hidden form field `csrf` in a page.
pub fn csrf_field(page: &str) -> Option<String> {
    let key = "name=\"csrf\" value=\"";
    let at = page.find(key)? + key.len();
    Some(page[at..].split('"').next()?.to_string())
}

/// Logs in to the console at `addr` through its form; returns the session's
/// `Cookie` header value.
pub fn console_login(addr: SocketAddr, name: &str, password: &str) -> String {
    let (_, head, page) = exchange(addr, "GET", "/login", &[], "");
    let token = set_cookie(&head, "radcare_login").expect("the login form's cookie");
    let csrf = csrf_field(&page).expect("the login form's token");
    let (status, head, body) = exchange(
        addr,
        "POST",
        "/login",
        &[("Cookie", &format!("radcare_login={token}"))],
        &format!("csrf={csrf}&name={name}&password={password}"),
    );
    assert_eq!(status, 303, "console login: {head}\n{body}");
    let id = set_cookie(&head, "radcare_console").expect("a session cookie");
    format!("radcare_console={id}")
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
