//! An existing hawkBit client as a real process: Debian's SWUpdate in suricatta mode
//! against a real `radcare serve`. It polls, downloads a signed `.swu` (built here with
//! openssl and cpio, as SWUpdate's documentation builds one), installs its file into a
//! temporary directory and reports "installed, testing pending"; started again after the
//! "reboot" with `-c 2` (no bootloader state here), it confirms success. radcare shows
//! the action finished with success.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::radcare::Radcare;

/// Runs a peer program in `dir`, panicking with its stderr if it fails.
fn run(dir: &Path, program: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a signed SWUpdate image that installs `payload` as the file `target`.
fn build_swu(dir: &Path, payload: &[u8], target: &Path) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    std::fs::write(dir.join("rootfs.img"), payload).unwrap();
    let sha256 = hex::encode(Sha256::digest(payload));
    let description = format!(
        "software =\n{{\n\tversion = \"3.0.0\";\n\thardware-compatibility: [ \"1.0\" ];\n\
         \tfiles: (\n\t\t{{\n\t\t\tfilename = \"rootfs.img\";\n\t\t\tpath = \"{}\";\n\
         \t\t\tsha256 = \"{sha256}\";\n\t\t}}\n\t);\n}}\n",
        target.display()
    );
    std::fs::write(dir.join("sw-description"), description).unwrap();
    // Debian's SWUpdate only installs CMS-signed images.
    run(
        dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/O=radcare test/CN=vendor",
            "-keyout",
            "vendor.key",
            "-out",
            "vendor.pem",
        ],
        None,
    );
    run(
        dir,
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "sw-description",
            "-out",
            "sw-description.sig",
            "-signer",
            "vendor.pem",
            "-inkey",
            "vendor.key",
            "-outform",
            "DER",
            "-nosmimecap",
            "-binary",
        ],
        None,
    );
    // sw-description first, its signature next, then the images.
    run(
        dir,
        "cpio",
        &["-o", "-H", "crc", "-F", "rootfs-3.0.0.swu"],
        Some("sw-description\nsw-description.sig\nrootfs.img\n"),
    );
    dir.join("rootfs-3.0.0.swu")
}

/// A device's SWUpdate daemon: suricatta polling radcare; `confirm` is the update state
/// it reports on start (`-c`), as after a reboot.
fn suricatta(
    rc: &Radcare,
    token: &str,
    vendor_cert: &Path,
    device_dir: &Path,
    confirm: Option<&str>,
) -> Daemon {
    let mut suricatta = format!(
        "-t DEFAULT -u http://{} -i rpi-7 -k {token} -r 2 -w 1",
        rc.terminal
    );
    if let Some(state) = confirm {
        suricatta.push_str(&format!(" -c {state}"));
    }
    Command::new("swupdate")
        .args(["-v", "-H", "rpi4:1.0", "-k"])
        .arg(vendor_cert)
        .args(["-u", &suricatta])
        // Its control sockets and scratch files: this device's own, not /tmp's.
        .env("TMPDIR", device_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(device_dir.join("swupdate.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(device_dir.join("swupdate.err")).unwrap(),
        ))
        .spawn()
        .map(Daemon)
        .expect("swupdate")
}

/// Polls `deployment show` until `done` holds, for at most `within`.
fn wait_shown(
    rc: &Radcare,
    deployment: &str,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let shown = rc.cli(&["deployment", "show", deployment]);
        if done(&shown) || Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running SWUpdate, killed when dropped (also when an assertion fails first).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn swupdate_suricatta_updates_through_radcare() {
    if !support::require_peers(&["swupdate", "openssl", "cpio"]) {
        return;
    }
    let rc = Radcare::start_with_terminal_lines("127.0.0.0/8", "poll_interval = \"1s\"");
    let out = rc.cli(&["device", "add", "rpi-7", "--model", "rpi4"]);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token="))
        .unwrap()
        .to_string();

    let root = tempfile::tempdir().unwrap();
    let (build, device, install) = (
        root.path().join("build"),
        root.path().join("device"),
        root.path().join("device").join("rootfs"),
    );
    for d in [&build, &device, &install] {
        std::fs::create_dir_all(d).unwrap();
    }
    let image: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let installed = install.join("rootfs.img");
    let swu = build_swu(&build, &image, &installed);
    let vendor = build.join("vendor.pem");
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "rootfs",
        "--version",
        "3.0.0",
        "--model",
        "rpi4",
        swu.to_str().unwrap(),
    ]);
    let out = rc.cli(&["deploy", "rootfs", "3.0.0", "--device", "rpi-7"]);
    let deployment = out
        .lines()
        .find_map(|l| l.strip_prefix("deployment="))
        .unwrap()
        .to_string();

    // First boot: poll, download, install, "testing pending".
    let daemon = suricatta(&rc, &token, &vendor, &device, None);
    let shown = wait_shown(&rc, &deployment, Duration::from_secs(60), |s| {
        s.contains("All Chunks Installed")
    });
    // The daemon's log, its last lines (to see where it stopped).
    let log = || {
        let log = std::fs::read_to_string(device.join("swupdate.log")).unwrap_or_default()
            + &std::fs::read_to_string(device.join("swupdate.err")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert!(shown.contains("All Chunks Installed"), "{shown}\n{}", log());
    assert!(!shown.contains("state=success"), "{shown}");
    assert_eq!(std::fs::read(&installed).unwrap(), image, "{}", log());
    drop(daemon);

    // After the reboot: the new image works, SWUpdate confirms it.
    let daemon = suricatta(&rc, &token, &vendor, &device, Some("2"));
    let shown = wait_shown(&rc, &deployment, Duration::from_secs(60), |s| {
        s.contains("state=success")
    });
    drop(daemon);
    assert!(shown.contains("counts success=1"), "{shown}\n{}", log());
    assert!(shown.contains("device=rpi-7\tstate=success"), "{shown}");
}
