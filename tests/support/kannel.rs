//! A real Kannel on loopback for the notices' tests: bearerbox, smsbox (sendsms),
//! wapbox (the Push Proxy Gateway) and `fakesmsc` as the mobile network, from a
//! generated `kannel.conf` on free ports. Stopped on drop, fakesmsc first and
//! bearerbox last. Call [`super::require_peers`]`(KANNEL_PEERS)` first.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{find_peer, free_tcp_port};

/// The programs [`Kannel::start`] runs.
pub const KANNEL_PEERS: &[&str] = &["bearerbox", "smsbox", "wapbox", FAKESMSC];

/// Debian's kannel-extras puts fakesmsc off PATH.
pub const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

pub const SENDSMS_USER: &str = "radcare";
pub const SENDSMS_PASSWORD: &str = "sendsms-secret-7";

pub struct Kannel {
    pub sendsms_url: String,
    pub ppg_url: String,
    admin_port: u16,
    smsc_port: u16,
    dir: TempDir,
    /// fakesmsc, the boxes, bearerbox: the order they stop in.
    children: Vec<(&'static str, Child)>,
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn wait_for(
    what: &str,
    deadline: Instant,
    mut ready: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "kannel: {what} did not come up:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Kannel {
    pub fn start() -> Kannel {
        Kannel::start_with_mo_url("http://127.0.0.1:9/mo?from=%p&to=%P&text=%a")
    }

    /// As [`Kannel::start`], smsbox forwarding each mobile-originated SMS to `get_url`
    /// (its `%p` the sender, `%P` the receiver, `%a` the text).
    pub fn start_with_mo_url(get_url: &str) -> Kannel {
        let dir = tempfile::Builder::new()
            .prefix("radcare-kannel-")
            .tempdir()
            .expect("temp dir for kannel");
        let [admin, smsbox, wapbox, smsc, sendsms, ppg] = [(); 6].map(|_| free_tcp_port());
        let conf = format!(
            "group = core\nadmin-port = {admin}\nadmin-password = admin-secret\n\
             smsbox-port = {smsbox}\nwapbox-port = {wapbox}\nbox-allow-ip = 127.0.0.1\n\
             wdp-interface-name = \"*\"\nlog-level = 1\n\n\
             group = smsc\nsmsc = fake\nsmsc-id = fake\nport = {smsc}\n\
             connect-allow-ip = 127.0.0.1\n\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nsendsms-port = {sendsms}\nlog-level = 1\n\n\
             group = sendsms-user\nusername = {SENDSMS_USER}\npassword = {SENDSMS_PASSWORD}\n\n\
             group = sms-service\nkeyword = default\ncatch-all = true\n\
             get-url = \"{get_url}\"\nmax-messages = 0\n\n\
             group = wapbox\nbearerbox-host = 127.0.0.1\nlog-level = 1\n\n\
             group = ppg\nppg-url = /wappush\nppg-port = {ppg}\nconcurrent-pushes = 10\n\
             trusted-pi = true\nusers = 0\nglobal-sender = 12345\n"
        );
        let conf_path = dir.path().join("kannel.conf");
        fs::write(&conf_path, conf).expect("writing kannel.conf");
        let mut k = Kannel {
            sendsms_url: format!("http://127.0.0.1:{sendsms}/cgi-bin/sendsms"),
            ppg_url: format!("http://127.0.0.1:{ppg}/wappush"),
            admin_port: admin,
            smsc_port: smsc,
            dir,
            children: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // In the foreground, from its directory: `-d` would change to / and lose the
        // relative config.
        k.spawn("bearerbox", &[conf_path.as_os_str().to_str().unwrap()]);
        // Not the fake SMSC's port: bearerbox would take a test connection for fakesmsc.
        wait_for(
            "bearerbox",
            deadline,
            || listening(admin) && listening(smsbox) && listening(wapbox),
            || k.logs(),
        );
        k.spawn("smsbox", &["kannel.conf"]);
        k.spawn("wapbox", &["kannel.conf"]);
        let port = smsc.to_string();
        k.spawn(
            FAKESMSC,
            &["-H", "127.0.0.1", "-r", &port, "-m", "0", "1 2 text unused"],
        );
        wait_for(
            "smsbox and wapbox",
            deadline,
            || listening(sendsms) && listening(ppg),
            || k.logs(),
        );
        wait_for(
            "the fake SMSC",
            deadline,
            || k.status().contains("online"),
            || k.logs(),
        );
        k
    }

    /// A mobile-originated SMS: fakesmsc sends it and stays, receiving, as before.
    /// Only one fakesmsc may be connected, so the receiving one leaves first.
    pub fn send_mo(&mut self, from: &str, to: &str, text: &str) {
        if let Some(i) = self.children.iter().position(|(b, _)| *b == FAKESMSC) {
            let (_, mut child) = self.children.remove(i);
            stop(&mut child, libc::SIGINT);
        }
        let port = self.smsc_port.to_string();
        let msg = format!("{from} {to} text {text}");
        self.spawn(FAKESMSC, &["-H", "127.0.0.1", "-r", &port, "-m", "1", &msg]);
    }

    /// Sends a mobile-originated message until `arrived` says it did (at most
    /// `within`). A fakesmsc started right after the one before may be ignored by
    /// bearerbox until it notices the first one left; sending again is safe where the
    /// receiver is idempotent (fault reports carry their own id).
    pub fn send_mo_until(
        &mut self,
        from: &str,
        to: &str,
        text: &str,
        within: Duration,
        mut arrived: impl FnMut(&Kannel) -> bool,
    ) {
        let deadline = Instant::now() + within;
        loop {
            self.send_mo(from, to, text);
            let retry_at = Instant::now() + Duration::from_secs(5);
            while Instant::now() < retry_at {
                if arrived(self) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` never arrived within {within:?}\n{}",
                self.logs()
            );
        }
    }

    fn spawn(&mut self, bin: &'static str, args: &[&str]) {
        let path = if bin.starts_with('/') {
            PathBuf::from(bin)
        } else {
            find_peer(bin).unwrap_or_else(|| panic!("{bin} is not installed"))
        };
        let name = Path::new(bin).file_name().unwrap().to_str().unwrap();
        // Appended: a fakesmsc started again keeps what the one before printed.
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(&path)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", path.display()));
        // Stopped in the reverse order of starting.
        self.children.insert(0, (bin, child));
    }

    /// bearerbox's status page: its SMSC connections among other things.
    fn status(&self) -> String {
        let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.admin_port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = write!(
            s,
            "GET /status.txt?password=admin-secret HTTP/1.0\r\nHost: localhost\r\n\r\n"
        );
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn logs(&self) -> String {
        ["bearerbox", "smsbox", "wapbox", "fakesmsc"]
            .map(|n| format!("== {n}\n{}", tail(&self.log(n), 15)))
            .join("\n")
    }

    /// The mobile-terminated messages fakesmsc got so far, as it prints them:
    /// `FROM TO text ...` or `FROM TO udh <udh> data <data>`.
    pub fn messages(&self) -> Vec<String> {
        self.log("fakesmsc")
            .lines()
            .filter_map(|l| {
                let rest = &l[l.find("Got message ")?..];
                let start = rest.find(": <")? + 3;
                Some(rest[start..].trim_end().trim_end_matches('>').to_string())
            })
            .collect()
    }

    /// Waits (at most `within`) for a message `pick` accepts.
    pub fn wait_message(&self, within: Duration, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| pick(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no such message from fakesmsc within {within:?}; got {:?}\n{}",
                self.messages(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Kannel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kannel logs:\n{}", self.logs());
        }
        for (bin, child) in &mut self.children {
            // fakesmsc leaves on SIGINT; the boxes and bearerbox on SIGTERM.
            let sig = if *bin == FAKESMSC {
                libc::SIGINT
            } else {
                libc::SIGTERM
            };
            stop(child, sig);
        }
    }
}

/// Signals a child and waits for it (at most 5 s, then kills it).
fn stop(child: &mut Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
