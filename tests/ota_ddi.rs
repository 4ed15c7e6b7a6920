//! Software deployment through the device API (hawkBit DDI) of a real `radcare serve`,
//! driven by the operator commands of a real `radcare`: devices, a signed release, a
//! deployment in two rollout groups with an error threshold, downloads with Range,
//! feedback, and bad input refused without writing anything.

mod support;

use std::process::Command;

use serde_json::json;
use sha2::Digest;
use support::http::http;
use support::radcare::Radcare;

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

const BASE: &str = "/DEFAULT/controller/v1";

fn auth(token: &str) -> String {
    format!("TargetToken {token}")
}

#[test]
fn a_release_rolls_out_in_groups_and_pauses_on_failures() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let t = rc.terminal;
    let mut tokens = Vec::new();
    for id in ["cpe-1", "cpe-2", "cpe-3"] {
        let out = rc.cli(&["device", "add", id, "--model", "hg8245"]);
        tokens.push(value(&out, "token").to_string());
    }
    // An artifact bigger than one read, with every byte value.
    let image: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = rc.dir.path().join("firmware.bin");
    std::fs::write(&file, &image).unwrap();
    let out = rc.cli(&[
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        "2.1.0",
        "--model",
        "hg8245",
        file.to_str().unwrap(),
    ]);
    assert!(out.contains(&format!(
        "sha256={}",
        hex::encode(sha2::Sha256::digest(&image))
    )));
    // Not newer: refused without --force.
    let refused = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args([
            "release",
            "publish",
            "--name",
            "fw",
            "--version",
            "2.0.9",
            "--model",
            "hg8245",
        ])
        .arg(&file)
        .arg("--config")
        .arg(rc.dir.path().join("radcare.toml"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not newer"));
    let public_key = rc.cli(&["keys", "show"]).trim().to_string();

    let out = rc.cli(&[
        "deploy",
        "fw",
        "2.1.0",
        "--model",
        "hg8245",
        "--groups",
        "2",
        "--error-threshold",
        "1",
    ]);
    let deployment = value(&out, "deployment").to_string();
    assert_eq!(value(&out, "devices"), "3");

    // No token, a wrong one, or an unknown device: 401.
    assert_eq!(
        http(t, "GET", &format!("{BASE}/cpe-1"), &[], b"").status,
        401
    );
    let wrong = auth(&tokens[1]);
    assert_eq!(
        http(
            t,
            "GET",
            &format!("{BASE}/cpe-1"),
            &[("Authorization", &wrong)],
            b""
        )
        .status,
        401
    );
    assert_eq!(
        http(
            t,
            "GET",
            &format!("{BASE}/nobody"),
            &[("Authorization", &wrong)],
            b""
        )
        .status,
        401
    );

    // Refused requests wrote nothing: no device made, no visit recorded.
    let listed = rc.cli(&["device", "list"]);
    assert!(!listed.contains("nobody"), "{listed}");
    assert_eq!(
        listed.matches("last_seen_ms=-").count(),
        3,
        "a refused request is not a visit: {listed}"
    );

    // Group 1 (cpe-1, cpe-2) is offered the deployment; group 2 (cpe-3) not yet.
    let poll = |i: usize| {
        let a = auth(&tokens[i]);
        let r = http(
            t,
            "GET",
            &format!("{BASE}/cpe-{}", i + 1),
            &[("Authorization", &a)],
            b"",
        );
        assert_eq!(r.status, 200);
        r.json()
    };
    let p1 = poll(0);
    assert_eq!(p1["config"]["polling"]["sleep"], "00:05:00");
    assert!(p1["_links"]["configData"]["href"].is_string(), "{p1}");
    assert!(
        poll(2)["_links"]["deploymentBase"].is_null(),
        "group 2 waits"
    );

    // configData: the device says who it is.
    let a1 = auth(&tokens[0]);
    let cfg = json!({"mode": "merge", "data": {"hw": "hg8245", "fw": "2.0.0"}, "status": {"execution": "closed", "result": {"finished": "success"}}});
    let r = http(
        t,
        "PUT",
        &format!("{BASE}/cpe-1/configData"),
        &[("Authorization", &a1)],
        cfg.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert!(poll(0)["_links"]["configData"].is_null(), "asked once");

    let href = poll(0)["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &href[href.find(BASE).unwrap()..];
    let d = http(t, "GET", path, &[("Authorization", &a1)], b"").json();
    let chunk = &d["deployment"]["chunks"][0];
    assert_eq!(
        (chunk["name"].as_str(), chunk["version"].as_str()),
        (Some("fw"), Some("2.1.0"))
    );
    assert_eq!(d["deployment"]["update"], "forced");
    let art = &chunk["artifacts"][0];
    assert_eq!(art["size"], 200_000);
    assert_eq!(
        art["hashes"]["sha256"],
        hex::encode(sha2::Sha256::digest(&image))
    );
    // The manifest is signed by the key `radcare keys show` prints.
    let manifest = d["radcare"]["manifest"].as_str().unwrap();
    let signature = d["radcare"]["signature"].as_str().unwrap();
    assert!(radcare::ota::keys::verify(
        &public_key,
        manifest.as_bytes(),
        signature
    ));
    assert!(!radcare::ota::keys::verify(
        &public_key,
        manifest.replace("2.1.0", "2.1.1").as_bytes(),
        signature
    ));

    // Download: whole, then resumed from an offset, then a range past the end.
    let link = art["_links"]["download-http"]["href"].as_str().unwrap();
    let link = &link[link.find(BASE).unwrap()..];
    let whole = http(t, "GET", link, &[("Authorization", &a1)], b"");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, image);
    let etag = whole.header("etag").expect("an ETag");
    let part = http(
        t,
        "GET",
        link,
        &[("Authorization", &a1), ("Range", "bytes=123456-")],
        b"",
    );
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range").as_deref(),
        Some("bytes 123456-199999/200000")
    );
    assert_eq!(part.body, &image[123_456..]);
    assert_eq!(
        http(
            t,
            "GET",
            link,
            &[("Authorization", &a1), ("Range", "bytes=300000-")],
            b""
        )
        .status,
        416
    );
    assert_eq!(
        http(
            t,
            "GET",
            link,
            &[("Authorization", &a1), ("If-None-Match", &etag)],
            b""
        )
        .status,
        304
    );
    assert_eq!(
        http(t, "GET", link, &[], b"").status,
        401,
        "downloads need the token too"
    );

    // Bad input: a clear 4xx, nothing written.
    let fb_path = format!("{}/feedback", path.split('?').next().unwrap());
    assert_eq!(
        http(t, "POST", &fb_path, &[("Authorization", &a1)], b"{not json").status,
        400
    );
    // configData that is not JSON, or lacks `data`: 400, and the device is still
    // asked for it (nothing stored).
    let a2 = auth(&tokens[1]);
    for bad in [&b"{\"data\": "[..], br#"{"mode": "merge"}"#] {
        let r = http(
            t,
            "PUT",
            &format!("{BASE}/cpe-2/configData"),
            &[("Authorization", &a2)],
            bad,
        );
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
    let p2 = poll(1);
    assert!(
        p2["_links"]["configData"]["href"].is_string(),
        "nothing stored: {p2}"
    );
    let big = vec![b'x'; 100_000];
    assert_eq!(
        http(t, "POST", &fb_path, &[("Authorization", &a1)], &big).status,
        413
    );
    let sneaky = format!(
        "{BASE}/cpe-1/artifacts/{}/..%2F..%2Fradcare.toml",
        "a".repeat(64)
    );
    assert!((400..500).contains(&http(t, "GET", &sneaky, &[("Authorization", &a1)], b"").status));
    let sneaky = format!("{BASE}/cpe-1/artifacts/..%2F..%2Fradcare.db/x");
    assert_eq!(
        http(t, "GET", &sneaky, &[("Authorization", &a1)], b"").status,
        400
    );
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains("counts scheduled=3"), "{shown}");

    // cpe-1 installs; cpe-2 fails with a corrupt file (TR-069 9018): past the
    // threshold, the rollout pauses and cpe-3 is never offered it.
    let ok = json!({"id": "1", "status": {"execution": "closed", "result": {"finished": "success"}, "details": ["installed"]}, "radcare": {"install": "fresh"}});
    assert_eq!(
        http(
            t,
            "POST",
            &fb_path,
            &[("Authorization", &a1)],
            ok.to_string().as_bytes()
        )
        .status,
        200
    );
    assert_eq!(
        http(
            t,
            "POST",
            &fb_path,
            &[("Authorization", &a1)],
            ok.to_string().as_bytes()
        )
        .status,
        410,
        "closed"
    );
    let href2 = poll(1)["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let path2 = href2[href2.find(BASE).unwrap()..]
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let bad = json!({"id": "2", "status": {"execution": "closed", "result": {"finished": "failure"}, "code": 9018, "details": ["sha256 mismatch"]}});
    assert_eq!(
        http(
            t,
            "POST",
            &format!("{path2}/feedback"),
            &[("Authorization", &a2)],
            bad.to_string().as_bytes()
        )
        .status,
        200
    );
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains("state=paused"), "{shown}");
    assert!(
        shown.contains("counts failure=1 scheduled=1 success=1"),
        "{shown}"
    );
    assert!(
        shown.contains("device=cpe-1\tstate=success\tinstall=fresh"),
        "{shown}"
    );
    assert!(
        shown.contains("device=cpe-2\tstate=failure\tinstall=-\tcode=9018\tdetail=sha256 mismatch"),
        "{shown}"
    );
    assert!(
        poll(2)["_links"]["deploymentBase"].is_null(),
        "paused: group 2 not offered"
    );
    rc.cli(&["deployment", "resume", &deployment]);
    assert!(
        poll(2)["_links"]["deploymentBase"]["href"].is_string(),
        "resumed"
    );

    // The active check: a device on 2.0.0 learns of 2.1.0, with the signed manifest.
    let a3 = auth(&tokens[2]);
    let check = http(
        t,
        "POST",
        &format!("{BASE}/cpe-3/radcare/check"),
        &[("Authorization", &a3)],
        br#"{"installed": {"fw": "2.0.0"}}"#,
    );
    assert_eq!(check.status, 200);
    let c = check.json();
    assert_eq!(c["newer"][0]["version"], "2.1.0");
    assert!(radcare::ota::keys::verify(
        &public_key,
        c["newer"][0]["manifest"].as_str().unwrap().as_bytes(),
        c["newer"][0]["signature"].as_str().unwrap()
    ));
    let none = http(
        t,
        "POST",
        &format!("{BASE}/cpe-3/radcare/check"),
        &[("Authorization", &a3)],
        br#"{"installed": {"fw": "2.1.0"}}"#,
    )
    .json();
    assert_eq!(none["newer"], json!([]));
}
