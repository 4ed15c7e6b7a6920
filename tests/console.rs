//! The operators' console with real peers: radclient dials through radcare to
//! FreeRADIUS and lands in the walled garden, `serve --demo` fills the other parts
//! (terminals running the upgrade agent, releases, a planned deployment, fault reports),
//! operators are added with the CLI, and the console is driven over HTTP as a browser
//! would (cookies, forms) and, for the screenshots, by headless Chromium over the
//! DevTools protocol with the operator's session cookie.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use radcare::wire::attr::types;
use radcare::wire::{Builder, Code, Packet, crypto};
use serde_json::{Value, json};
use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, parse_radclient, radclient, require_peers};

/// The NAS the test dials from; its Dynamic Authorization Server is the test's socket.
const NAS_IP: &str = "127.0.0.77";

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn cookies(&self) -> Vec<(String, String)> {
        self.head
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("set-cookie").then(|| {
                    let pair = v.trim().split(';').next().unwrap_or("");
                    let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (n.to_string(), v.to_string())
                })
            })
            .collect()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The value of the first hidden field `name` in the page.
    fn field(&self, name: &str) -> String {
        field_in(&self.body, name).unwrap_or_else(|| panic!("no {name} field in\n{}", self.body))
    }
}

fn field_in(html: &str, name: &str) -> Option<String> {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key)? + key.len();
    Some(html[at..].split('"').next()?.to_string())
}

/// One request on its own connection; `cookie` is `name=value; ...`, `form` urlencoded.
fn request(addr: SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
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
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str, cookie: &str) -> Reply {
    request(addr, "GET", path, cookie, "")
}

fn post(addr: SocketAddr, path: &str, cookie: &str, form: &str) -> Reply {
    request(addr, "POST", path, cookie, form)
}

/// Percent-encodes a form value.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in through the form as a browser does; returns the reply of the POST.
fn try_login(addr: SocketAddr, name: &str, password: &str) -> Reply {
    let form = get(addr, "/login", "");
    assert_eq!(form.status, 200);
    let (n, v) = form
        .cookies()
        .into_iter()
        .find(|(n, _)| n == "radcare_login")
        .expect("the login form's csrf cookie");
    let csrf = form.field("csrf");
    assert_eq!(csrf, v, "double-submitted token");
    post(
        addr,
        "/login",
        &format!("{n}={v}"),
        &format!("csrf={csrf}&name={}&password={}", enc(name), enc(password)),
    )
}

/// A logged-in operator: the session cookie and the session's CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn login(addr: SocketAddr, name: &str, password: &str) -> Session {
    let r = try_login(addr, name, password);
    assert_eq!(r.status, 303, "{}{}", r.head, r.body);
    assert_eq!(r.header("location").as_deref(), Some("/"));
    let set = r
        .head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: radcare_console=")
        })
        .expect("a session cookie")
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let (_, id) = r
        .cookies()
        .into_iter()
        .find(|(n, _)| n == "radcare_console")
        .unwrap();
    let cookie = format!("radcare_console={id}");
    let home = get(addr, "/", &cookie);
    assert_eq!(home.status, 200, "{}", home.body);
    Session {
        csrf: home.field("csrf"),
        cookie,
    }
}

/// `radcare operator add NAME --role ROLE` with the password on stdin.
fn add_operator(rc: &Radcare, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["operator", "add", name, "--role", role, "--config"])
        .arg(rc.dir.path().join("radcare.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radcare operator add");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// radcare with FreeRADIUS behind it and the demo story, operators `ann` (admin, from
/// stdin) and `rob` (read-only, from a file), and dave dialled in from `NAS_IP`.
fn start() -> (FreeRadius, Radcare) {
    let fr = FreeRadius::start("aaa-secret");
    let up = Upstream {
        name: "aaa-1",
        auth: fr.auth_addr(),
        acct: fr.acct_addr(),
        secret: "aaa-secret".into(),
    };
    // The demo AAA is not the upstream here; it only needs ports of its own.
    let demo = format!(
        "[demo]\nlisten = \"127.0.0.1:{}\"\nsecret = \"demo-secret\"\n",
        support::free_udp_port_pair().0
    );
    let rc = Radcare::start_with_args("127.0.0.0/8", &[up], &demo, &["--demo"]);
    let out = add_operator(&rc, "ann", "admin", "ann-password-1");
    assert!(out.status.success(), "{out:?}");
    let file = rc.dir.path().join("rob.pw");
    std::fs::write(&file, "rob-password-1\n").unwrap();
    rc.cli(&[
        "operator",
        "add",
        "rob",
        "--role",
        "read-only",
        "-S",
        file.to_str().unwrap(),
    ]);
    let list = rc.cli(&["operator", "list"]);
    assert!(
        list.contains("ann\tadmin") && list.contains("rob\tread-only"),
        "{list}"
    );
    assert!(!list.contains("password"), "{list}");

    let out = radclient(
        &rc.auth.to_string(),
        "auth",
        NAS_SECRET,
        &format!(
            "User-Name = dave\nUser-Password = dave-pass\nNAS-IP-Address = {NAS_IP}\n\
             Calling-Station-Id = \"02-aa-bb-cc-dd-ee\"\nMessage-Authenticator = 0x00"
        ),
    );
    let accept = parse_radclient(&out).expect("garden accept");
    assert_eq!(accept.code, "Access-Accept");
    let class = accept.get("Class").unwrap();
    let out = radclient(
        &rc.acct.to_string(),
        "acct",
        NAS_SECRET,
        &format!(
            "User-Name = dave\nAcct-Status-Type = Start\nAcct-Session-Id = \"console-1\"\n\
             Framed-IP-Address = 10.9.8.7\nNAS-IP-Address = {NAS_IP}\nClass = {class}"
        ),
    );
    assert_eq!(parse_radclient(&out).unwrap().code, "Accounting-Response");
    (fr, rc)
}

/// Files an anonymous fault report on the terminal listener.
fn report(rc: &Radcare, id: &str, code: &str) -> Value {
    let body = json!({
        "id": id, "imsi": "262010000000077", "imei": "350000000000077",
        "faults": [{ "code": code, "item": "fw.bin", "from": "http://cdn1.example/fw.bin" }]
    });
    let r = support::http::http(
        rc.terminal,
        "POST",
        "/DEFAULT/faults",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    r.json()
}

/// The garden row of the session from `NAS_IP`: its id.
fn garden_id(addr: SocketAddr, s: &Session) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = get(addr, &format!("/garden?q={NAS_IP}"), &s.cookie);
        if let Some(row) = page.body.split("<tr>").skip(1).find(|r| r.contains(NAS_IP)) {
            assert!(row.contains("dave") && row.contains("10.9.8.7"), "{row}");
            return field_in(row, "id").expect("a disconnect form");
        }
        assert!(
            Instant::now() < deadline,
            "dave not in the garden:\n{}",
            page.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const PAGES: [&str; 6] = ["/", "/garden", "/redial", "/ota", "/faults", "/audit"];

#[test]
fn logins_roles_csrf_and_the_audited_actions() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let (_fr, rc) = start();
    let addr = rc.admin;

    // Nothing without a login: pages send to the form, APIs and forms are refused.
    for page in PAGES.iter().chain(&["/ota?deployment=1", "/garden?q=dave"]) {
        let r = get(addr, page, "");
        assert_eq!(r.status, 303, "{page}");
        assert_eq!(r.header("location").as_deref(), Some("/login"), "{page}");
    }
    for api in ["/api/dial-attempts", "/api/plans/1"] {
        assert_eq!(get(addr, api, "").status, 401, "{api}");
    }
    for action in ["/garden/disconnect", "/faults/resolve", "/logout"] {
        assert_eq!(post(addr, action, "", "id=1").status, 401, "{action}");
    }
    // A made-up session is no session.
    let forged = format!("radcare_console={}", "ab".repeat(32));
    assert_eq!(get(addr, "/", &forged).status, 303);
    // Prometheus and probes need none.
    assert_eq!(get(addr, "/healthz", "").status, 200);
    assert!(get(addr, "/metrics", "").body.contains("radcare_"));

    // Bad CLI input is refused with exit 2 and writes nothing.
    let bad_role = add_operator(&rc, "eve", "root", "eve-password-1");
    assert_eq!(bad_role.status.code(), Some(2), "{bad_role:?}");
    let short = add_operator(&rc, "eve", "admin", "short");
    assert_eq!(short.status.code(), Some(2), "{short:?}");
    let taken = add_operator(&rc, "ann", "admin", "another-password");
    assert_eq!(taken.status.code(), Some(2), "{taken:?}");
    assert!(!rc.cli(&["operator", "list"]).contains("eve"));

    // Wrong passwords and a login form without its token are refused.
    assert_eq!(try_login(addr, "ann", "wrong-password").status, 401);
    assert_eq!(try_login(addr, "nobody", "ann-password-1").status, 401);
    let form = get(addr, "/login", "");
    let csrf = form.field("csrf");
    let tokenless = post(
        addr,
        "/login",
        "",
        &format!("csrf={csrf}&name=ann&password=ann-password-1"),
    );
    assert_eq!(tokenless.status, 403, "the token without its cookie");
    assert!(
        !rc.log().contains("wrong-password"),
        "a password was logged"
    );

    let ann = login(addr, "ann", "ann-password-1");
    let rob = login(addr, "rob", "rob-password-1");
    for page in PAGES {
        let r = get(addr, page, &rob.cookie);
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.contains("rob · read-only"), "{page}");
    }
    assert_eq!(
        get(addr, "/api/dial-attempts", &ann.cookie).status,
        404,
        "no [pppoe]"
    );

    // The NAS's Dynamic Authorization Server.
    let das = UdpSocket::bind(format!("{NAS_IP}:3799")).expect("binding the NAS's DAS port");
    das.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let id = garden_id(addr, &ann);
    let disconnect = format!("csrf={}&id={id}", rob.csrf);

    // Read-only: refused, nothing sent, nothing audited.
    let r = post(addr, "/garden/disconnect", &rob.cookie, &disconnect);
    assert_eq!(r.status, 403, "{}", r.body);
    let mut buf = [0u8; 4096];
    assert!(
        das.recv_from(&mut buf).is_err(),
        "a read-only operator's disconnect was sent"
    );

    // Forms without the session's token: refused, whoever sends them.
    for form in [
        format!("id={id}"),
        format!("csrf={}&id={id}", rob.csrf),
        format!("csrf=&id={id}"),
    ] {
        let r = post(addr, "/garden/disconnect", &ann.cookie, &form);
        assert_eq!(r.status, 403, "{form}: {}", r.body);
    }
    assert!(
        das.recv_from(&mut buf).is_err(),
        "a forged disconnect was sent"
    );

    // The admin's disconnect reaches the NAS; its ACK is shown and audited.
    let ann_post = std::thread::spawn({
        let (cookie, form) = (ann.cookie.clone(), format!("csrf={}&id={id}", ann.csrf));
        move || post(addr, "/garden/disconnect", &cookie, &form)
    });
    das.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (n, from) = das.recv_from(&mut buf).expect("a Disconnect-Request");
    let req = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(req.code(), Code::DisconnectRequest);
    assert!(crypto::verify_hashed_request(
        &buf[..n],
        NAS_SECRET.as_bytes()
    ));
    assert_eq!(req.find(types::USER_NAME).unwrap().value, b"dave");
    let request_auth: [u8; 16] = *req.authenticator();
    let mut ack = Vec::new();
    let _ = Builder::new(&mut ack, Code::DisconnectAck, req.identifier(), &[0; 16]);
    crypto::sign_response(&mut ack, &request_auth, NAS_SECRET.as_bytes());
    das.send_to(&ack, from).unwrap();
    let r = ann_post.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Disconnect of dave: acked"), "{}", r.body);

    // A queued fault, resolved from the console by the admin only.
    let filed = report(&rc, "console-r1", "7002");
    assert_eq!(filed["faults"][0]["state"], "queued");
    let resolve = |s: &Session, csrf: &str| {
        post(
            addr,
            "/faults/resolve",
            &s.cookie,
            &format!(
                "csrf={csrf}&code=7002&kind=text&value={}",
                enc("Restart the modem")
            ),
        )
    };
    assert_eq!(resolve(&rob, &rob.csrf).status, 403);
    assert_eq!(resolve(&ann, "").status, 403);
    assert!(
        rc.cli(&["faults", "queue"]).contains("code=7002"),
        "nothing resolved yet"
    );
    let r = resolve(&ann, &ann.csrf);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Code 7002: kb "), "{}", r.body);
    assert!(r.body.contains("1 fixed"), "{}", r.body);
    assert!(!rc.cli(&["faults", "queue"]).contains("code=7002"));
    assert!(rc.cli(&["faults", "kb"]).contains("Restart the modem"));

    // The audit trail: who did what, and what was refused never happened.
    let audit = get(addr, "/audit", &rob.cookie).body;
    let rows: Vec<&str> = audit.split("<tr>").skip(2).collect();
    let has = |who: &str, what: &str, outcome: &str| {
        rows.iter()
            .any(|r| r.contains(&format!("<td>{who}</td><td>{what}</td>")) && r.contains(outcome))
    };
    assert!(has("ann", "login", "ok"), "{audit}");
    assert!(has("ann", "login", "failed"), "{audit}");
    assert!(has("nobody", "login", "failed"), "{audit}");
    assert!(has("rob", "login", "ok"), "{audit}");
    assert!(has("ann", "disconnect", "acked"), "{audit}");
    assert!(has("ann", "resolve", "1 fixed"), "{audit}");
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("<td>rob</td><td>disconnect")),
        "{audit}"
    );
    assert!(
        !rows.iter().any(|r| r.contains("<td>rob</td><td>resolve")),
        "{audit}"
    );

    // Logging out ends the session for good; a removed operator's sessions end too.
    let r = post(addr, "/logout", &rob.cookie, &format!("csrf={}", rob.csrf));
    assert_eq!(r.status, 303);
    assert_eq!(get(addr, "/", &rob.cookie).status, 303);
    rc.cli(&["operator", "remove", "ann"]);
    assert_eq!(get(addr, "/", &ann.cookie).status, 303);
    assert!(
        get(addr, "/audit", &login(addr, "rob", "rob-password-1").cookie)
            .body
            .contains("<td>rob</td><td>logout</td>")
    );
}

// ---- Chromium over the DevTools protocol (--remote-debugging-pipe) ----

/// Headless Chromium driven over its DevTools pipe (fd 3 in, fd 4 out, messages
/// separated by NUL).
struct Browser {
    child: std::process::Child,
    to: std::fs::File,
    from: std::io::BufReader<std::fs::File>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut to_chrome = [0; 2];
        let mut from_chrome = [0; 2];
        // SAFETY: plain pipe(2) into arrays of two fds.
        unsafe {
            assert_eq!(libc::pipe(to_chrome.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(from_chrome.as_mut_ptr()), 0);
        }
        let (child_in, child_out) = (to_chrome[0], from_chrome[1]);
        let mut cmd = Command::new(support::find_peer("chromium").expect("chromium"));
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            "--lang=en-US",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec only dup2(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(child_in, 3) < 0 || libc::dup2(child_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium");
        // SAFETY: the fds are ours; the child's ends are closed here after the fork.
        let (to, from) = unsafe {
            libc::close(child_in);
            libc::close(child_out);
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(to_chrome[1]),
                std::fs::File::from_raw_fd(from_chrome[0]),
            )
        };
        Browser {
            child,
            to,
            from: std::io::BufReader::new(from),
            next_id: 0,
            _profile: profile,
        }
    }

    /// The next message from Chromium.
    fn read(&mut self) -> Value {
        use std::io::BufRead;
        let mut buf = Vec::new();
        self.from
            .read_until(0, &mut buf)
            .expect("reading the devtools pipe");
        assert!(buf.pop() == Some(0), "chromium closed its devtools pipe");
        serde_json::from_slice(&buf).unwrap()
    }

    /// Sends a command and returns its result, skipping events; `session` for a page.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.to.write_all(msg.to_string().as_bytes()).unwrap();
        self.to.write_all(&[0]).unwrap();
        loop {
            let m = self.read();
            if m["id"] == json!(id) {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
        }
    }

    /// Waits for an event of the page's session.
    fn wait_event(&mut self, session: &str, method: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let m = self.read();
            if m["method"] == json!(method) && m["sessionId"] == json!(session) {
                return;
            }
        }
        panic!("no {method} within 30 s");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Opens `url` in a fresh tab with the session cookie, and saves a full-page PNG.
fn screenshot(b: &mut Browser, admin: SocketAddr, cookie: &str, url: &str, path: &Path) -> String {
    let target = b.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    let session = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(session.as_str());
    let (name, value) = cookie.split_once('=').unwrap();
    b.call(s, "Network.enable", json!({}));
    b.call(
        s,
        "Network.setCookie",
        json!({ "name": name, "value": value, "url": format!("http://{admin}/"), "httpOnly": true, "sameSite": "Strict" }),
    );
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
    );
    b.call(s, "Page.enable", json!({}));
    b.call(s, "Page.navigate", json!({ "url": url }));
    b.wait_event(&session, "Page.loadEventFired");
    let html = b.call(
        s,
        "Runtime.evaluate",
        json!({ "expression": "document.documentElement.outerHTML", "returnByValue": true }),
    )["result"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shot = b.call(
        s,
        "Page.captureScreenshot",
        json!({ "format": "png", "captureBeyondViewport": true }),
    );
    let png = base64_decode(shot["data"].as_str().unwrap());
    std::fs::write(path, &png).unwrap();
    b.call(
        None,
        "Target.closeTarget",
        json!({ "targetId": target["targetId"] }),
    );
    html
}

#[test]
fn chromium_screenshots_every_console_page_with_the_runs_data() {
    if !require_peers(&["freeradius", "radclient", "chromium"]) {
        return;
    }
    let (_fr, rc) = start();
    let addr = rc.admin;
    report(&rc, "shot-r1", "7003");
    report(&rc, "shot-r2", "7004");
    assert_eq!(try_login(addr, "mallory", "guessing-1").status, 401);
    let ann = login(addr, "ann", "ann-password-1");
    // An action for the audit page and the knowledge base.
    let r = post(
        addr,
        "/faults/resolve",
        &ann.cookie,
        &format!(
            "csrf={}&code=7004&kind=retry&value={}",
            ann.csrf,
            enc("http://cdn2.example/fw.bin")
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The demo's second, planned release comes ten seconds after start; the sampler
    // keeps a point every ten seconds.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !get(addr, "/ota", &ann.cookie)
        .body
        .contains("Bookings per node and slot")
    {
        assert!(
            Instant::now() < deadline,
            "no plan from the demo:\n{}",
            rc.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let artifacts = support::artifacts_dir();
    let mut browser = Browser::start();
    let expect: [(&str, &str, &[&str]); 6] = [
        (
            "/",
            "overview",
            &["Rejects by cause", "aaa-1", "bras-1", "<svg"],
        ),
        ("/garden", "garden", &["dave", "10.9.8.7", "Disconnect"]),
        ("/redial", "redial", &["Users by garden sessions", "bob"]),
        (
            "/ota",
            "ota",
            &["demo-firmware", "demo-node-berlin", "demo-cpe-1"],
        ),
        (
            "/faults",
            "faults",
            &["7003", "Resolve", "retry http://cdn2.example/fw.bin"],
        ),
        (
            "/audit",
            "audit",
            &["mallory", "resolve", "fault code 7004"],
        ),
    ];
    for (path, name, wants) in expect {
        let file = artifacts.join(format!("console-{name}.png"));
        let _ = std::fs::remove_file(&file);
        let html = screenshot(
            &mut browser,
            addr,
            &ann.cookie,
            &format!("http://{addr}{path}"),
            &file,
        );
        for w in wants {
            assert!(html.contains(w), "{path} shows {w}:\n{html}");
        }
        assert!(html.contains("ann · admin"), "{path} is logged in");
        let png = std::fs::read(&file).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is a PNG",
            file.display()
        );
        assert!(
            png.len() > 20_000,
            "{} is more than a blank page: {} octets",
            file.display(),
            png.len()
        );
    }
    // The login page, logged out.
    let file = artifacts.join("console-login.png");
    let html = screenshot(
        &mut browser,
        addr,
        "radcare_console=none",
        &format!("http://{addr}/garden"),
        &file,
    );
    assert!(html.contains("Operators only"), "{html}");
    assert!(std::fs::read(&file).unwrap().starts_with(b"\x89PNG"));
}
