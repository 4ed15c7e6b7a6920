//! The command line as an operator uses it.

mod support;

use std::process::Command;

fn radcare(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn counts(line: &str) -> (usize, usize, usize) {
    let get = |k: &str| -> usize {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    (get("attributes="), get("values="), get("vendors="))
}

/// The authenticator of a packet given in hex, in hex: what `--request-authenticator`
/// takes.
fn authenticator_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
        .collect();
    let packet = ::radcare::wire::Packet::new_checked(&bytes[..]).unwrap();
    packet
        .authenticator()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn dict_check_ours_and_debians() {
    let (code, out, _) = radcare(&["dict", "check"]);
    assert_eq!(code, 0);
    let (a, v, n) = counts(out.trim());
    assert!(a > 500 && v > 200 && n >= 8, "{out}");
    if !support::require_peer("freeradius") {
        return;
    }
    let (code, out, err) = radcare(&["dict", "check", "/usr/share/freeradius/dictionary"]);
    assert_eq!(code, 0, "{err}");
    let (a, _, n) = counts(out.trim());
    assert!(a > 5000 && n > 100, "thousands of attributes: {out}");
}

#[test]
fn dict_check_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dictionary");
    std::fs::write(
        &f,
        "ATTRIBUTE Good 1 string\nATTRIBUTE Broken notanumber string\n",
    )
    .unwrap();
    let (code, _, err) = radcare(&["dict", "check", f.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("dictionary:2:"), "{err}");
}

#[test]
fn decode_prints_names_and_verdicts() {
    let hex =
        std::fs::read_to_string(support::packets_fixture_dir().join("pap-request.hex")).unwrap();
    let (code, out, _) = radcare(&["decode", "--secret", "testing123", hex.trim()]);
    assert_eq!(code, 0);
    assert!(out.contains("code=Access-Request"), "{out}");
    assert!(out.contains("message-authenticator=valid"), "{out}");
    assert!(out.contains("User-Name = alice"), "{out}");
    assert!(
        !out.contains("alice-pass"),
        "a password is never printed: {out}"
    );
    let req =
        std::fs::read_to_string(support::packets_fixture_dir().join("reject-request.hex")).unwrap();
    let rej = std::fs::read_to_string(support::packets_fixture_dir().join("reject.hex")).unwrap();
    let ra = &authenticator_hex(&req);
    let (_, out, _) = radcare(&[
        "decode",
        "--secret",
        "testing123",
        "--request-authenticator",
        ra,
        rej.trim(),
    ]);
    assert!(out.contains("authenticator=valid"), "{out}");
    assert!(out.contains("Reply-Message = wrong password"), "{out}");
    let (_, out, _) = radcare(&[
        "decode",
        "--secret",
        "nope",
        "--request-authenticator",
        ra,
        rej.trim(),
    ]);
    assert!(out.contains("authenticator=invalid"), "{out}");
}

#[test]
fn classify_prints_the_cause_and_why() {
    let rej =
        std::fs::read_to_string(support::packets_fixture_dir().join("arrears-reject.hex")).unwrap();
    let req = std::fs::read_to_string(support::packets_fixture_dir().join("arrears-request.hex"))
        .unwrap();
    let (code, out, _) = radcare(&[
        "classify",
        "--secret",
        "testing123",
        "--request-authenticator",
        &authenticator_hex(&req),
        rej.trim(),
    ]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("cause=arrears"));
    assert!(out.contains("why=Reply-Message matched"), "{out}");
    assert!(out.contains("authenticator=valid"), "{out}");
    let rej = std::fs::read_to_string(support::packets_fixture_dir().join("mschapv2-reject.hex"))
        .unwrap();
    let (_, out, _) = radcare(&["classify", rej.trim()]);
    assert!(out.starts_with("cause=wrong-password\n"), "{out}");
    assert!(out.contains("why=MS-CHAP-Error E=691"), "{out}");
}

#[test]
fn check_config_reports_every_error_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[radius]\nauth_listen = \"127.0.0.1:1812\"\n\n[[radius.client]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"\"\nprofile = \"nope\"\n",
    )
    .unwrap();
    let (code, _, err) = radcare(&["check-config", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    let name = f.display().to_string();
    assert!(
        err.contains(&format!("{name}:7:1: client `a`: secret must not be empty")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{name}:8:1: client `a`: unknown walled-garden profile `nope`"
        )),
        "{err}"
    );
    std::fs::write(&f, "[radius]\nauth_listen = 5\n").unwrap();
    let (code, _, err) = radcare(&["check-config", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{name}:2:15:")), "{err}");
    let example = support::repo_root().join("docs/radcare.example.toml");
    let (code, out, err) = radcare(&["check-config", example.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok"));
}

#[test]
fn serve_refuses_bad_config_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[policy]\nnonsense = 1\n").unwrap();
    let (code, _, err) = radcare(&["serve", "--config", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `nonsense`"), "{err}");
}

/// A secret can stay off the command line: from a file (-S, first line, as radclient)
/// or from RADCARE_SECRET; each verifies exactly as `--secret` does.
#[test]
fn secrets_come_from_a_file_or_the_environment() {
    let dir = support::packets_fixture_dir();
    let req = std::fs::read_to_string(dir.join("reject-request.hex")).unwrap();
    let rej = std::fs::read_to_string(dir.join("reject.hex")).unwrap();
    let ra = &authenticator_hex(&req);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("secret");
    std::fs::write(&file, "testing123\n").unwrap();
    let verdict = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_radcare"));
        c.arg("decode").args(args);
        c.args(["--request-authenticator", ra, rej.trim()]);
        match env {
            Some(v) => c.env("RADCARE_SECRET", v),
            None => c.env_remove("RADCARE_SECRET"),
        };
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("authenticator="))
            .unwrap_or("")
            .to_string()
    };
    let file = file.to_str().unwrap();
    assert_eq!(verdict(&["-S", file], None), "authenticator=valid");
    assert_eq!(verdict(&[], Some("testing123")), "authenticator=valid");
    assert_eq!(verdict(&[], Some("wrong")), "authenticator=invalid");
    // The file wins over the environment.
    assert_eq!(verdict(&["-S", file], Some("wrong")), "authenticator=valid");

    let (code, _, err) = radcare(&["decode", "-S", "/nonexistent/secret", rej.trim()]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot read the secret file"), "{err}");
    // The secret's value never shows in the help.
    let out = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["decode", "--help"])
        .env("RADCARE_SECRET", "do-not-show")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("do-not-show"));
}

#[test]
fn decode_says_a_short_message_authenticator_is_malformed() {
    let hex = format!(
        "01010025{}0105626f62500c{}",
        "00".repeat(16),
        "00".repeat(10)
    );
    let (code, out, err) = radcare(&["decode", &hex]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("message-authenticator=malformed"), "{out}");
}

#[test]
fn version_says_the_git_commit() {
    let (code, out, _) = radcare(&["--version"]);
    assert_eq!(code, 0);
    let line = out.trim();
    let commit = line
        .strip_prefix(&format!("radcare {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(commit, head),
        None => assert_eq!(commit, "unknown"),
    }
}

/// Starts radcare with `--log-format FORMAT`, makes it log a refused reload of a config
/// with a new secret in it, stops it; returns its log (stderr, not a terminal).
fn serve_log(format: &str) -> String {
    let mut rc = support::radcare::Radcare::start_with_args(
        "127.0.0.1/32",
        &[],
        "",
        &["--log-format", format],
    );
    rc.reload(|cfg| {
        cfg.replace(support::radcare::NAS_SECRET, "n3ver-logged-secret") + "\n[nonsense]\nx = 1\n"
    });
    assert!(rc.wait_log("reload refused"), "{}", rc.log());
    let status = rc
        .terminate(std::time::Duration::from_secs(8))
        .expect("exits");
    assert!(status.success());
    let log = rc.log();
    for secret in [support::radcare::NAS_SECRET, "n3ver-logged-secret"] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
    assert!(
        !log.contains('\x1b'),
        "colour codes in a log that is not a terminal"
    );
    log
}

#[test]
fn json_logs_are_one_object_per_line_and_say_version_and_commit() {
    let log = serve_log("json");
    let mut serving = None;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["message"] == "radcare is serving" {
            serving = Some(v);
        }
    }
    let serving = serving.expect("the serving line");
    assert_eq!(serving["version"], env!("CARGO_PKG_VERSION"));
    assert!(serving["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(log.contains("\"message\":\"radius proxy stopped\""));
}

#[test]
fn text_logs_have_no_colour_when_piped_and_say_version_and_commit() {
    let log = serve_log("text");
    let serving = log
        .lines()
        .find(|l| l.contains("radcare is serving"))
        .expect("the serving line");
    assert!(
        serving.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && serving.contains(" commit=\""),
        "{serving}"
    );
}
