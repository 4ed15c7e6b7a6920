//! Notices of a deployment through real processes: `radcare serve` and its operator
//! commands, and Kannel (bearerbox, smsbox, wapbox) with fakesmsc as the mobile
//! network. One deployment, four devices: one holding its IP push request, one offline
//! that is told when it comes back (once), one told by SMS, one by WAP Push.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::kannel::{KANNEL_PEERS, Kannel, SENDSMS_PASSWORD, SENDSMS_USER};
use support::radcare::Radcare;

fn token(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("token="))
        .expect("a token")
        .to_string()
}

/// GET on the terminal listener with the device's token; status and JSON body.
fn get(addr: SocketAddr, path: &str, token: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: TargetToken {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const NOTICES: &str = "/DEFAULT/controller/v1";

#[test]
fn a_deployment_is_told_by_ip_push_sms_and_wap_push() {
    if !support::require_peers(KANNEL_PEERS) {
        return;
    }
    let kannel = Kannel::start();
    let extra = format!(
        "[terminal.notices]\nphone_channel = \"sms\"\nsendsms_url = \"{}\"\n\
         username = \"{SENDSMS_USER}\"\npassword = \"{SENDSMS_PASSWORD}\"\nfrom = \"4000\"\n\
         ppg_url = \"{}\"\nhold = \"2s\"\n",
        kannel.sendsms_url, kannel.ppg_url
    );
    let rc = Radcare::start("127.0.0.0/8", &[], &extra);
    let t = rc.terminal;
    let add = |id: &str, more: &[&str]| {
        let mut args = vec!["device", "add", id, "--model", "hg8245"];
        args.extend_from_slice(more);
        token(&rc.cli(&args))
    };
    let ip = add("cpe-ip", &[]);
    let offline = add("cpe-off", &[]);
    add("cpe-sms", &["--phone", "+491510000002"]);
    add(
        "cpe-wap",
        &["--phone", "+491510000003", "--tag", "notice-wap"],
    );
    let file = rc.dir.path().join("fw.bin");
    std::fs::write(&file, b"firmware").unwrap();
    let file = file.to_str().unwrap();
    let publish = ["release", "publish", "--name", "fw", "--version", "2.1.0"];
    rc.cli(&[&publish[..], &["--model", "hg8245", file]].concat());

    // The connected device: its agent asks again after each (empty) answer.
    let held = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = get(t, &format!("{NOTICES}/cpe-ip/radcare/notices?after=0"), &ip);
            assert_eq!(status, 200, "{body}");
            if !body["notices"].as_array().unwrap().is_empty() {
                return (Instant::now(), body);
            }
            assert!(Instant::now() < deadline, "no notice by IP push");
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let deployed = Instant::now();
    rc.cli(&["deploy", "fw", "2.1.0", "--model", "hg8245"]);

    let (told, body) = held.join().unwrap();
    assert!(
        told - deployed < Duration::from_secs(5),
        "told within a poll round"
    );
    let n = &body["notices"][0];
    assert_eq!(
        (n["name"].as_str(), n["version"].as_str()),
        (Some("fw"), Some("2.1.0"))
    );
    let href = format!("http://{t}/DEFAULT/controller/v1/cpe-ip");
    assert_eq!(n["href"].as_str(), Some(href.as_str()));
    assert_eq!(n["server"].as_str(), Some(format!("http://{t}").as_str()));
    let stamp = n["timestamp"].as_u64().unwrap();
    assert!(stamp.abs_diff(now) < 10, "{stamp} vs {now}");
    assert_eq!(body["after"], n["seq"]);

    // SMS: the text with the server, the software's location, name, version, time.
    let sms = kannel.wait_message(Duration::from_secs(15), |m| m.contains("+491510000002"));
    let want = format!(
        "4000 +491510000002 text RADCARE OTA fw 2.1.0 http://{t}/DEFAULT/controller/v1/cpe-sms "
    );
    assert!(sms.starts_with(&want), "{sms}");
    let stamp: u64 = sms.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(stamp.abs_diff(now) < 10);

    // WAP Push: a binary SMS to the WAP Push port (2948 = 0x0B84) carrying the SI.
    let push = kannel.wait_message(Duration::from_secs(15), |m| m.contains("+491510000003"));
    assert!(push.contains(" udh %06%05%04%0B%84"), "{push}");
    assert!(
        push.contains("%2FDEFAULT%2Fcontroller%2Fv1%2Fcpe-wap"),
        "{push}"
    );
    assert!(push.contains("RADCARE+OTA+fw+2.1.0"), "{push}");
    assert_eq!(
        kannel.messages().len(),
        2,
        "one message each: {:?}",
        kannel.messages()
    );

    // The offline device is told when it comes back, once.
    let path = format!("{NOTICES}/cpe-off/radcare/notices");
    let (status, body) = get(t, &path, &offline);
    assert_eq!(status, 200);
    let list = body["notices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert!(list[0]["href"].as_str().unwrap().ends_with("/cpe-off"));
    let (_, again) = get(t, &path, &offline);
    assert!(
        again["notices"].as_array().unwrap().is_empty(),
        "once: {again}"
    );
    // A device without a token hears nothing.
    let (status, _) = get(t, &path, "wrong");
    assert_eq!(status, 401);

    // Nothing is told twice: the SMS and the push went out once.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(kannel.messages().len(), 2, "{:?}", kannel.messages());
}
