//! Fault reports (S2) through real processes: `radcare serve` and its `faults`
//! commands; for SMS, Kannel (bearerbox, smsbox) with fakesmsc as the mobile network.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::kannel::{KANNEL_PEERS, Kannel, SENDSMS_PASSWORD, SENDSMS_USER};
use support::radcare::Radcare;

/// One request on the terminal listener; status and JSON body (null if none).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let auth = token.map(|t| format!("TargetToken {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let r = support::http::http(addr, method, path, &headers, body.as_bytes());
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn report(rc: &Radcare, body: &Value) -> (u16, Value) {
    call(
        rc.terminal,
        "POST",
        "/DEFAULT/faults",
        None,
        &body.to_string(),
    )
}

fn anon(id: &str, imsi: &str, imei: &str, codes: &[&str]) -> Value {
    let faults: Vec<Value> = codes
        .iter()
        .map(|c| json!({ "code": c, "item": "fw.bin", "from": "http://cdn1.example/fw.bin" }))
        .collect();
    json!({ "id": id, "imsi": imsi, "imei": imei, "faults": faults })
}

const IMSI_A: &str = "262010000000001";
const IMSI_B: &str = "262010000000002";

#[test]
fn accounts_known_and_unknown_faults_the_queue_and_the_success_rate() {
    let extra = "[terminal.faults]\nper_identity_per_minute = 8\nmax_faults = 4\n\
                 threshold = 0.6\nmin_given = 2\n";
    let rc = Radcare::start("127.0.0.0/8", &[], extra);

    // A known code: its fix in the answer; the account made on the first report.
    let mut first = anon("a1", IMSI_A, "350000000000011", &["9018"]);
    first["faults"][0]["at"] = json!(1_700_000_000);
    first["faults"][0]["detail"] = json!("sha256 mismatch");
    first["faults"][0]["skipped"] = json!(["cfg.xml"]);
    let (status, a1) = report(&rc, &first);
    assert_eq!(status, 200, "{a1}");
    let account = a1["account"].as_i64().unwrap();
    assert_eq!(a1["faults"][0]["state"], "fixed");
    assert_eq!(
        a1["faults"][0]["fix"],
        json!({ "kind": "retry", "url": null })
    );

    // The same IMSI with a new IMEI: the same account. Another SIM and handset: another.
    let (_, a2) = report(&rc, &anon("a2", IMSI_A, "350000000000012", &["01"]));
    assert_eq!(a2["account"].as_i64(), Some(account));
    assert_eq!(a2["faults"][0]["fix"]["kind"], "text");
    let (_, b1) = report(&rc, &anon("b1", IMSI_B, "350000000000021", &["9015"]));
    let other = b1["account"].as_i64().unwrap();
    assert_ne!(other, account);

    // Sent again: the answer as before, nothing changed.
    let (status, again) = report(&rc, &first);
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["faults"], a1["faults"]);
    let history = rc.cli(&["faults", "account", &account.to_string()]);
    assert_eq!(history.matches("\nreport ").count(), 2, "{history}");
    assert!(
        history.contains("identity imei=350000000000012"),
        "{history}"
    );
    assert!(
        history.contains("identity imsi=262010000000001"),
        "{history}"
    );

    // An unknown code waits for a person; resolved, the fix reaches the terminal when
    // it asks, and a second terminal reporting it gets it at once.
    let (_, a3) = report(&rc, &anon("a3", IMSI_A, "350000000000011", &["7001"]));
    assert_eq!(a3["faults"][0]["state"], "queued");
    assert!(a3["faults"][0].get("fix").is_none());
    let queue = rc.cli(&["faults", "queue"]);
    assert!(
        queue.contains("report=a3") && queue.contains("code=7001"),
        "{queue}"
    );
    let out = rc.cli(&[
        "faults",
        "resolve",
        "7001",
        "--retry-url",
        "http://cdn2.example/fw.bin",
    ]);
    assert!(out.contains("fixed=1"), "{out}");
    assert!(rc.cli(&["faults", "queue"]).trim().is_empty());
    let path = format!("/DEFAULT/faults/fixes?imsi={IMSI_A}");
    let (status, fixes) = call(rc.terminal, "GET", &path, None, "");
    assert_eq!(status, 200);
    assert_eq!(fixes["fixes"][0]["report"], "a3");
    assert_eq!(
        fixes["fixes"][0]["fix"]["url"],
        "http://cdn2.example/fw.bin"
    );
    let (_, fixes) = call(rc.terminal, "GET", &path, None, "");
    assert_eq!(fixes["fixes"], json!([]), "once");
    let (_, b2) = report(&rc, &anon("b2", IMSI_B, "350000000000021", &["7001"]));
    assert_eq!(b2["faults"][0]["fix"]["url"], "http://cdn2.example/fw.bin");

    // An authenticated device reports through the device API.
    let out = rc.cli(&["device", "add", "cpe-1", "--model", "hg8245"]);
    let token = out.lines().find_map(|l| l.strip_prefix("token=")).unwrap();
    let dev = json!({ "id": "d1", "faults": [{ "code": "9019", "item": "fw.bin" }] });
    let path = "/DEFAULT/controller/v1/cpe-1/radcare/faults";
    let (status, d1) = call(rc.terminal, "POST", path, Some(token), &dev.to_string());
    assert_eq!(status, 200, "{d1}");
    assert_eq!(d1["faults"][0]["fix"]["kind"], "text");
    let (status, _) = call(rc.terminal, "POST", path, Some("wrong"), &dev.to_string());
    assert_eq!(status, 401);

    // A deploy fix is carried out: resolving the device's unknown fault deploys the
    // release to it, and the device hears of the fix when it asks.
    let dev = json!({ "id": "d2", "faults": [{ "code": "7100" }] });
    let (_, d2) = call(rc.terminal, "POST", path, Some(token), &dev.to_string());
    assert_eq!(d2["faults"][0]["state"], "queued");
    let file = rc.dir.path().join("fw.bin");
    std::fs::write(&file, b"firmware").unwrap();
    let publish = ["release", "publish", "--name", "fw", "--version", "2.1.0"];
    let model = ["--model", "hg8245", file.to_str().unwrap()];
    rc.cli(&[&publish[..], &model[..]].concat());
    let out = rc.cli(&["faults", "resolve", "7100", "--deploy", "fw", "2.1.0"]);
    assert!(out.contains("fixed=1"), "{out}");
    let deployments = rc.cli(&["deployment", "list"]);
    assert!(deployments.contains("fw 2.1.0"), "{deployments}");
    let fixes_path = "/DEFAULT/controller/v1/cpe-1/radcare/fixes";
    let (status, fixes) = call(rc.terminal, "GET", fixes_path, Some(token), "");
    assert_eq!(status, 200);
    assert_eq!(
        fixes["fixes"][0]["fix"],
        json!({ "kind": "deploy", "name": "fw", "version": "2.1.0" })
    );

    // The fix for 7001 did not work for A (the fault is back): it worked once in two,
    // under 0.6: the entry is suspended and the fault queued with the evidence.
    let (_, a4) = report(&rc, &anon("a4", IMSI_A, "350000000000011", &["7001"]));
    assert_eq!(a4["faults"][0]["state"], "queued", "{a4}");
    let kb = rc.cli(&["faults", "kb"]);
    let entry = kb.lines().find(|l| l.contains("code=7001")).unwrap();
    assert!(
        entry.contains("state=suspended")
            && entry.contains("given=2")
            && entry.contains("failed=1")
            && entry.contains("success=50%"),
        "{entry}"
    );
    let queue = rc.cli(&["faults", "queue"]);
    assert!(
        queue.contains("report=a4") && queue.contains("worked 1 of 2"),
        "{queue}"
    );
    assert!(
        kb.contains("code=9018") && kb.contains("origin=default"),
        "{kb}"
    );

    // Bad input: refused whole, nothing written (the id stays free).
    let (status, _) = call(rc.terminal, "POST", "/DEFAULT/faults", None, "{\"id\": ");
    assert_eq!(status, 400);
    let (status, why) = report(
        &rc,
        &anon("x1", "262010000000003", "350000000000031", &["01", "9x18"]),
    );
    assert_eq!(status, 400);
    assert!(why["error"].as_str().unwrap().contains("9x18"), "{why}");
    let (status, _) = report(
        &rc,
        &anon("x1", "262010000000003", "350000000000031", &["01"; 5]),
    );
    assert_eq!(status, 413);
    let no_sim = json!({ "id": "x1", "faults": [{ "code": "01" }] });
    assert_eq!(report(&rc, &no_sim).0, 400);
    let (status, ok) = report(
        &rc,
        &anon("x1", "262010000000003", "350000000000031", &["01"]),
    );
    assert_eq!((status, &ok["duplicate"]), (200, &json!(false)), "{ok}");

    // A flood from one IMSI: 429 once its minute's reports are spent.
    let flood = "262010000000004";
    for i in 0..8 {
        let (status, _) = report(
            &rc,
            &anon(&format!("f{i}"), flood, "350000000000041", &["01"]),
        );
        assert_eq!(status, 200);
    }
    let (status, why) = report(&rc, &anon("f8", flood, "350000000000041", &["01"]));
    assert_eq!(status, 429, "{why}");
}

#[test]
fn an_sms_report_lands_in_its_account_and_its_fix_goes_back_by_sms() {
    if !support::require_peers(KANNEL_PEERS) {
        return;
    }
    let secret = "smsbox-to-radcare-secret";
    let terminal: SocketAddr = format!("127.0.0.1:{}", support::free_tcp_port())
        .parse()
        .unwrap();
    let mut kannel = Kannel::start_with_mo_url(&format!(
        "http://{terminal}/DEFAULT/faults/sms?secret={secret}&from=%p&text=%a"
    ));
    let extra = format!(
        "[terminal.notices]\nsendsms_url = \"{}\"\nusername = \"{SENDSMS_USER}\"\n\
         password = \"{SENDSMS_PASSWORD}\"\nfrom = \"4000\"\n\n\
         [terminal.faults]\nsms_secret = \"{secret}\"\n",
        kannel.sendsms_url
    );
    let rc = Radcare::start_with_terminal("127.0.0.0/8", terminal, &extra);

    // smsbox is the only one that knows the secret.
    let forged = "/DEFAULT/faults/sms?secret=guess&from=%2B4915&text=FAULT+x+01";
    assert_eq!(call(rc.terminal, "GET", forged, None, "").0, 401);

    // The terminal reported over HTTP once: its account.
    let imsi = "262010000000009";
    let (_, first) = report(&rc, &anon("h1", imsi, "350000000000091", &["02"]));
    let account = first["account"].as_i64().unwrap();

    let text = format!("FAULT s1 IMSI={imsi} 9018:fw.bin 01:cfg.xml");
    kannel.send_mo_until(
        "+491510000009",
        "4000",
        &text,
        Duration::from_secs(30),
        |k| k.messages().iter().any(|m| m.contains("FIX s1 9018")),
    );
    let retry = kannel.wait_message(Duration::from_secs(1), |m| m.contains("FIX s1 9018"));
    assert!(
        retry.starts_with("4000 +491510000009 text FIX s1 9018 RETRY"),
        "{retry}"
    );
    let user = kannel.wait_message(Duration::from_secs(10), |m| m.contains("FIX s1 01"));
    assert!(user.contains("TEXT Cannot reach the server"), "{user}");

    let history = rc.cli(&["faults", "account", &account.to_string()]);
    assert!(history.contains("report s1\tchannel=sms"), "{history}");
    assert!(
        history.contains("identity phone=+491510000009"),
        "{history}"
    );

    // Sent again (the terminal did not know it arrived): no second fix.
    let sent = kannel.messages().len();
    let series = "radcare_fault_reports_total{channel=\"sms\",outcome=\"duplicate\"}";
    kannel.send_mo_until(
        "+491510000009",
        "4000",
        &text,
        Duration::from_secs(30),
        |_| rc.metric(series) >= 1.0,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(kannel.messages().len(), sent, "{:?}", kannel.messages());

    // An unknown fault by SMS waits for a person; the operator's fix goes out by SMS.
    kannel.send_mo_until(
        "+491510000009",
        "4000",
        "FAULT s2 IMSI=262010000000009 7002",
        Duration::from_secs(30),
        |_| rc.cli(&["faults", "queue"]).contains("report=s2"),
    );
    rc.cli(&["faults", "resolve", "7002", "--text", "Call 0800 123"]);
    let fix = kannel.wait_message(Duration::from_secs(15), |m| m.contains("FIX s2"));
    assert!(fix.ends_with("FIX s2 7002 TEXT Call 0800 123"), "{fix}");
}
