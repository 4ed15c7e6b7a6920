//! The bridge on real wires: three network namespaces joined by veth pairs,
//! `bras` -- [box: radcare bridge] -- `aaa`. FreeRADIUS runs in `aaa`, radclient in
//! `bras` addresses FreeRADIUS's IP directly, and radcare in `box` bridges the two veths.
//! Needs root (namespaces, AF_PACKET); in CI it runs as root.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use radcare::io::packet_socket::PacketSocket;
use support::{free_tcp_port, freeradius_fixture_dir, parse_radclient, require_peers};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// The namespaces and processes of one test; everything is removed on drop.
struct Lab {
    ns: [String; 3],
    /// The bras-side and aaa-side veth ends (in `bras` and `aaa`).
    devs: [String; 2],
    /// radcare's portal port, inside `box`.
    http: u16,
    /// radcare's admin port (metrics, APIs), inside `box`.
    admin: u16,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            for f in ["radcare.log", "freeradius.log"] {
                let text = fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!(
                    "--- {f} (last lines)\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

const SECRET: &str = "testing123";

fn freeradius_dir(dir: &Path) -> std::path::PathBuf {
    let fr = dir.join("freeradius");
    fs::create_dir_all(&fr).unwrap();
    for entry in fs::read_dir(freeradius_fixture_dir()).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_file() || entry.file_name() == "listen-v6.conf" {
            continue;
        }
        let mut text = fs::read_to_string(entry.path()).unwrap();
        text = text
            .replace("@AUTH_PORT@", "1812")
            .replace("@ACCT_PORT@", "1813")
            .replace("@SECRET@", SECRET)
            .replace("ipaddr = 127.0.0.1", "ipaddr = *");
        if entry.file_name() == "clients.conf" {
            text.push_str(&format!(
                "\nclient lab {{\n\tipaddr = 10.0.0.0/8\n\tsecret = \"{SECRET}\"\n\tshortname = lab\n\trequire_message_authenticator = no\n}}\n"
            ));
        }
        fs::write(fr.join(entry.file_name()), text).unwrap();
    }
    fr
}

/// Unique per test, also when tests share a process: names of namespaces and veths.
fn lab_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // The whole pid (at most 7 digits on Linux), so that concurrent runs never share a
    // name; interface names stay within 15 characters.
    std::process::id() * 10 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10
}

fn setup() -> Option<Lab> {
    if !is_root() {
        assert!(!support::in_ci(), "the bridge test needs root in CI");
        eprintln!("note: skipping the bridge test: needs root");
        return None;
    }
    if !require_peers(&["ip", "ethtool", "freeradius", "radclient", "ping", "nc"]) {
        return None;
    }
    let id = lab_id();
    let ns = [
        format!("rcb{id}-bras"),
        format!("rcb{id}-box"),
        format!("rcb{id}-aaa"),
    ];
    let (vb0, va0) = (format!("b{id}a"), format!("a{id}a"));
    let (vb1, va1) = (format!("b{id}b"), format!("a{id}b"));
    let mut lab = Lab {
        ns: ns.clone(),
        devs: [vb0.clone(), va0.clone()],
        http: free_tcp_port(),
        // Inside its own namespace: any port but the portal's.
        admin: 9812,
        children: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    let [bras, boxns, aaa] = [&ns[0], &ns[1], &ns[2]];
    for n in &ns {
        run(&["ip", "netns", "add", n]);
        run(&["ip", "-n", n, "link", "set", "lo", "up"]);
    }
    run(&[
        "ip", "link", "add", &vb0, "netns", bras, "type", "veth", "peer", "name", &vb1, "netns",
        boxns,
    ]);
    run(&[
        "ip", "link", "add", &va0, "netns", aaa, "type", "veth", "peer", "name", &va1, "netns",
        boxns,
    ]);
    for (n, dev, addr) in [(bras, &vb0, "10.77.0.1/24"), (aaa, &va0, "10.77.0.2/24")] {
        run(&["ip", "-n", n, "addr", "add", addr, "dev", dev]);
        // Default offloads: the veth leaves checksums to "hardware" and sends TCP
        // super-frames (TSO), which the bridge must finish and have segmented.
        run(&["ip", "-n", n, "link", "set", dev, "up"]);
        let features =
            String::from_utf8(run(&["ip", "netns", "exec", n, "ethtool", "-k", dev]).stdout)
                .unwrap();
        assert!(features.contains("tx-checksumming: on"), "{features}");
    }
    for dev in [&vb1, &va1] {
        run(&["ip", "-n", boxns, "link", "set", dev, "up"]);
    }

    let fr = freeradius_dir(lab.dir.path());
    let log = fs::File::create(lab.dir.path().join("freeradius.log")).unwrap();
    let freeradius = support::find_peer("freeradius").unwrap();
    lab.children.push(
        in_ns(
            aaa,
            &[
                freeradius.to_str().unwrap(),
                "-f",
                "-l",
                "stdout",
                "-d",
                fr.to_str().unwrap(),
            ],
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap(),
    );

    let (http, admin) = (lab.http, lab.admin);
    let cfg = format!(
        "[radius]\nauth_listen = \"127.0.0.1:1812\"\nacct_listen = \"127.0.0.1:1813\"\n\n\
         [[radius.client]]\nname = \"bras\"\naddress = \"10.0.0.0/8\"\nsecret = \"{SECRET}\"\n\n\
         [[radius.upstream]]\nname = \"aaa\"\nauth = \"10.77.0.2:1812\"\nacct = \"10.77.0.2:1813\"\nsecret = \"{SECRET}\"\n\n\
         [[radius.upstream]]\nname = \"aaa-vlan\"\nauth = \"10.78.0.2:1812\"\nsecret = \"{SECRET}\"\n\n\
         [portal]\nlisten = \"127.0.0.1:{http}\"\n\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\n[terminal]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\n[store]\nurl = \"sqlite://{}\"\n\n\
         [bridge]\nnas_side = \"{vb1}\"\naaa_side = \"{va1}\"\n\n\
         [pppoe]\ninterface = \"{vb1}\"\n",
        lab.dir.path().join("state").display(),
        lab.dir.path().join("radcare.db").display()
    );
    let cfg_path = lab.dir.path().join("radcare.toml");
    fs::write(&cfg_path, cfg).unwrap();
    let log = fs::File::create(lab.dir.path().join("radcare.log")).unwrap();
    lab.children.push(
        in_ns(
            boxns,
            &[
                env!("CARGO_BIN_EXE_radcare"),
                "bridge",
                "--config",
                cfg_path.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap(),
    );
    // The bridge is up when the two sides can reach each other through it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !in_ns(bras, &["ping", "-c", "1", "-W", "1", "10.77.0.2"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "no path through the bridge");
    }
    // And FreeRADIUS answers (Status-Server through the bridge).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = radclient(
            bras,
            "10.77.0.2:1812",
            "status",
            "Message-Authenticator = 0x00",
        );
        if parse_radclient(&out).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FreeRADIUS never answered through the bridge"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(lab)
}

fn radclient(ns: &str, server: &str, kind: &str, input: &str) -> Output {
    let bin = support::find_peer("radclient").unwrap();
    let mut child = in_ns(
        ns,
        &[
            bin.to_str().unwrap(),
            "-x",
            "-r",
            "2",
            "-t",
            "3",
            "-d",
            freeradius_fixture_dir().to_str().unwrap(),
            server,
            kind,
            SECRET,
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{input}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn check_dials(lab: &Lab, server: &str) {
    let bras = &lab.ns[0];
    let bob = radclient(
        bras,
        server,
        "auth",
        "User-Name = bob\nUser-Password = wrong\nMessage-Authenticator = 0x00",
    );
    let r = parse_radclient(&bob).unwrap_or_else(|| {
        panic!(
            "no verified reply for bob via {server}: {}",
            String::from_utf8_lossy(&bob.stdout)
        )
    });
    assert_eq!(r.code, "Access-Accept", "bob via {server}");
    assert_eq!(r.get("Filter-Id").as_deref(), Some("radcare-garden"));
    let alice = radclient(
        bras,
        server,
        "auth",
        "User-Name = alice\nUser-Password = alice-pass\nMessage-Authenticator = 0x00",
    );
    let r = parse_radclient(&alice).expect("alice's reply");
    assert_eq!(r.code, "Access-Accept");
    assert_eq!(
        r.get("Reply-Message").as_deref(),
        Some("welcome alice"),
        "the AAA's Accept, untouched"
    );
    assert!(r.get("Filter-Id").is_none());
    let carol = radclient(
        bras,
        server,
        "auth",
        "User-Name = mallory\nUser-Password = x\nMessage-Authenticator = 0x00",
    );
    assert_eq!(
        parse_radclient(&carol).expect("reply").code,
        "Access-Reject",
        "unknown users stay rejected"
    );
}

#[test]
fn bridge_rewrites_rejects_and_passes_everything_else() {
    let Some(lab) = setup() else { return };
    let (bras, aaa) = (&lab.ns[0], &lab.ns[2]);
    check_dials(&lab, "10.77.0.2:1812");
    // Ping and a TCP transfer pass unchanged.
    assert!(
        in_ns(
            bras,
            &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.77.0.2"]
        )
        .output()
        .unwrap()
        .status
        .success()
    );
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = lab.dir.path().join("sent.bin");
    let got = lab.dir.path().join("got.bin");
    fs::write(&sent, &data).unwrap();
    let listener = in_ns(
        aaa,
        &[
            "sh",
            "-c",
            &format!("timeout 20 nc -l -p 9009 > {}", got.display()),
        ],
    )
    .spawn()
    .unwrap();
    // The listener may take a moment to be ready: retry the connection, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent_ok = in_ns(
            bras,
            &[
                "sh",
                "-c",
                &format!(
                    "timeout 20 nc -q 1 -w 5 10.77.0.2 9009 < {}",
                    sent.display()
                ),
            ],
        )
        .status()
        .unwrap()
        .success();
        if sent_ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nc could not send across the bridge"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = listener.wait_with_output().unwrap();
    assert!(out.status.success() || fs::metadata(&got).is_ok());
    assert_eq!(
        fs::read(&got).unwrap(),
        data,
        "TCP payload crossed the bridge unchanged"
    );
}

/// radcare's packet socket on `ifname` inside namespace `ns` (opened from a thread that
/// entered the namespace; the socket stays bound to it).
fn packet_socket_in(ns: &str, ifname: &str) -> PacketSocket {
    use std::os::fd::AsRawFd;
    let (ns, ifname) = (ns.to_string(), ifname.to_string());
    std::thread::spawn(move || {
        let f = fs::File::open(format!("/var/run/netns/{ns}")).expect("netns handle");
        // SAFETY: setns(2) on this thread with a namespace fd we hold open.
        assert_eq!(
            unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns"
        );
        PacketSocket::open(&ifname, Duration::from_millis(200)).expect("packet socket")
    })
    .join()
    .unwrap()
}

fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let out = run(&["ip", "-n", ns, "link", "show", "dev", dev]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("mac");
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

/// Ethernet with the given tags (TPID, VID) + IPv4 + UDP + payload, checksums filled.
fn tagged_frame(
    dst: [u8; 6],
    src: [u8; 6],
    tags: &[(u16, u16)],
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    payload: &[u8],
) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let l3 = f.len();
    let udp_len = 8 + payload.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&from.0);
    f.extend_from_slice(&to.0);
    f.extend_from_slice(&from.1.to_be_bytes());
    f.extend_from_slice(&to.1.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    radcare::wire::ip::fix_ipv4_checksum(&mut f[l3..]);
    let at = radcare::wire::ip::udp_in_ip(&f[l3..]).unwrap();
    radcare::wire::ip::fix_udp_checksum(&mut f[l3..], &at);
    f
}

/// Waits for a frame on `sock` whose UDP ports are (src, dst).
fn receive(sock: &PacketSocket, ports: (u16, u16)) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut f = Vec::new();
    while Instant::now() < deadline {
        if sock.recv(&mut f).unwrap().is_none() {
            continue;
        }
        let Ok(eth) = radcare::wire::ether::EtherFrame::parse(&f) else {
            continue;
        };
        if eth.ethertype != 0x0800 {
            continue;
        }
        if let Ok(at) = radcare::wire::ip::udp_in_ip(&f[eth.payload_offset..])
            && (at.src_port, at.dst_port) == ports
        {
            return f;
        }
    }
    panic!("no frame with ports {ports:?}");
}

#[test]
fn bridge_rewrites_in_vlan_and_qinq_frames() {
    use radcare::wire::attr::types;
    use radcare::wire::{Builder, Code, Packet, crypto};
    let Some(lab) = setup() else { return };
    let (bras, aaa) = (&lab.ns[0], &lab.ns[2]);
    let (vb0, va0) = (lab.devs[0].clone(), lab.devs[1].clone());
    // Where the kernel has 802.1Q, the full variant: VLAN 100 interfaces at both ends,
    // radclient dialling FreeRADIUS across the bridge over them.
    let vlan_ok = [(bras, &vb0, "10.78.0.1/24"), (aaa, &va0, "10.78.0.2/24")]
        .iter()
        .all(|(ns, dev, addr)| {
            let vlan = format!("{dev}.100");
            let made = Command::new("ip")
                .args([
                    "-n", ns, "link", "add", "link", dev, "name", &vlan, "type", "vlan", "id",
                    "100",
                ])
                .output()
                .is_ok_and(|o| o.status.success());
            made && {
                run(&["ip", "-n", ns, "addr", "add", addr, "dev", &vlan]);
                run(&["ip", "-n", ns, "link", "set", &vlan, "up"]);
                true
            }
        });
    if vlan_ok {
        check_dials(&lab, "10.78.0.2:1812");
    } else {
        eprintln!(
            "note: no 802.1Q in this kernel; VLAN and QinQ are tested with injected frames only"
        );
    }
    // Tagged frames injected and captured with packet sockets: VLAN 100 and QinQ.
    let (bras_mac, aaa_mac) = (mac_of(bras, &vb0), mac_of(aaa, &va0));
    let (bras_sock, aaa_sock) = (packet_socket_in(bras, &vb0), packet_socket_in(aaa, &va0));
    let nas = ([10, 78, 0, 1], 40000u16);
    let server = ([10, 78, 0, 2], 1812u16);
    for (n, tags) in [
        (1u8, vec![(0x8100u16, 100u16)]),
        (2, vec![(0x88a8, 10), (0x8100, 20)]),
    ] {
        let auth = [n; 16];
        let mut req = Vec::new();
        let mut b = Builder::new(&mut req, Code::AccessRequest, n, &auth);
        b.message_authenticator().unwrap();
        b.attr(types::USER_NAME, b"bob").unwrap();
        let mut h = [0u8; crypto::MAX_PASSWORD_LEN];
        let len = crypto::hide_password(b"wrong", SECRET.as_bytes(), &auth, &mut h).unwrap();
        b.attr(types::USER_PASSWORD, &h[..len]).unwrap();
        crypto::sign_access_request(&mut req, SECRET.as_bytes());
        let frame = tagged_frame(aaa_mac, bras_mac, &tags, nas, server, &req);
        bras_sock.send(&frame).unwrap();
        let seen = receive(&aaa_sock, (40000, 1812));
        assert_eq!(
            seen, frame,
            "the tagged request crosses the bridge unchanged"
        );

        let mut rej = Vec::new();
        let mut b = Builder::new(&mut rej, Code::AccessReject, n, &[0; 16]);
        b.attr(types::REPLY_MESSAGE, "欠费 arrears".as_bytes())
            .unwrap();
        crypto::sign_response(&mut rej, &auth, SECRET.as_bytes());
        let frame = tagged_frame(bras_mac, aaa_mac, &tags, server, nas, &rej);
        aaa_sock.send(&frame).unwrap();
        let got = receive(&bras_sock, (1812, 40000));
        let eth = radcare::wire::ether::EtherFrame::parse(&got).unwrap();
        let vids: Vec<u16> = tags.iter().map(|t| t.1).collect();
        assert_eq!(
            eth.vlans.iter().flatten().copied().collect::<Vec<_>>(),
            vids,
            "tags kept"
        );
        let l3 = &got[eth.payload_offset..];
        let at = radcare::wire::ip::udp_in_ip(l3).unwrap();
        assert!(radcare::wire::ip::udp_checksum_ok(l3, &at), "UDP checksum");
        let mut hdr = l3[..20].to_vec();
        radcare::wire::ip::fix_ipv4_checksum(&mut hdr);
        assert_eq!(hdr, l3[..20], "IPv4 checksum");
        let radius = &l3[at.payload_offset..at.payload_offset + at.payload_len];
        let p = Packet::new_checked(radius).unwrap();
        assert_eq!(p.code(), Code::AccessAccept);
        assert!(crypto::verify_response(radius, &auth, SECRET.as_bytes()));
        assert_eq!(p.find(types::FILTER_ID).unwrap().value, b"radcare-garden");
    }
}

/// An HTTP GET inside a namespace (to radcare's listener there), via nc.
fn http_get_in(ns: &str, port: u16, path: &str) -> String {
    http_in(ns, port, &format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n"))
}

/// Sends one raw HTTP request to 127.0.0.1:`port` inside `ns`; the whole response.
/// nc's input stays open a moment after the request: a half-closed connection would
/// end a request that takes a while (a login's password hash) before its answer.
fn http_in(ns: &str, port: u16, request: &str) -> String {
    let script = format!("{{ printf '%s' \"$1\"; sleep 1; }} | nc -q 1 127.0.0.1 {port}");
    let out = in_ns(ns, &["sh", "-c", &script, "sh", request])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds a read-only operator and logs it in to the console inside `ns` (the admin
/// APIs need a login); returns the `Cookie` header value.
fn console_cookie_in(ns: &str, port: u16, cfg: &Path) -> String {
    let pw = cfg.with_file_name("operator.pw");
    fs::write(&pw, "bridge-operator-pw\n").unwrap();
    let out = in_ns(
        ns,
        &[
            env!("CARGO_BIN_EXE_radcare"),
            "operator",
            "add",
            "probe",
            "--role",
            "read-only",
            "-S",
            pw.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "operator add: {out:?}");
    let form = http_get_in(ns, port, "/login");
    let token = support::radcare::set_cookie(&form, "radcare_login").expect("login cookie");
    let csrf = support::radcare::csrf_field(&form).expect("login token");
    let body = format!("csrf={csrf}&name=probe&password=bridge-operator-pw");
    let resp = http_in(
        ns,
        port,
        &format!(
            "POST /login HTTP/1.0\r\nHost: x\r\nCookie: radcare_login={token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let id = support::radcare::set_cookie(&resp, "radcare_console")
        .unwrap_or_else(|| panic!("no session cookie: {resp}"));
    format!("radcare_console={id}")
}

#[test]
fn pppoe_redials_are_counted_per_subscriber() {
    let Some(lab) = setup() else { return };
    let (bras, boxns) = (&lab.ns[0], &lab.ns[1]);
    let sock = packet_socket_in(bras, &lab.devs[0]);
    let padi = |src: [u8; 6]| {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x88, 0x63, 0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0]);
        f
    };
    let storming = [0x02, 0xaa, 0, 0, 0, 1];
    let calm = [0x02, 0xbb, 0, 0, 0, 2];
    // The observer runs before the admin listener serves: once that answers, frames
    // sent are seen (on a loaded machine the start can take seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http_get_in(boxns, lab.admin, "/healthz").contains("ok") {
        assert!(
            Instant::now() < deadline,
            "the admin listener never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..5 {
        sock.send(&padi(storming)).unwrap();
    }
    sock.send(&padi(calm)).unwrap();
    // The view is exported once a second.
    let cookie = console_cookie_in(boxns, lab.admin, &lab.dir.path().join("radcare.toml"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let resp = http_in(
            boxns,
            lab.admin,
            &format!("GET /api/dial-attempts HTTP/1.0\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"),
        );
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["totals"]["padi"] == 6 {
            break v;
        }
        assert!(Instant::now() < deadline, "no PPPoE counts: {resp}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(body["top"][0]["mac"], "02:aa:00:00:00:01");
    assert_eq!(body["top"][0]["attempts"], 5);
    assert_eq!(body["top"][1]["attempts"], 1);
    // Metrics are exported once a second, a moment after the live view.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let m = http_get_in(boxns, lab.admin, "/metrics");
        if m.contains("radcare_pppoe_padi_total 6") || Instant::now() >= deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.contains("radcare_pppoe_padi_total 6"), "{metrics}");
    assert!(!metrics.contains("02:aa"), "no addresses in metric labels");
}
