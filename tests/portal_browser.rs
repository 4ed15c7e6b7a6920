//! The portal as a person sees it: the real router on a loopback port, Debian's
//! headless Chromium as the subscriber's browser (it connects from 127.0.0.1, the
//! garden subscriber's framed IP here), once with an iPhone's User-Agent and once with
//! a desktop's. The dumped DOM is checked; the screenshots are saved to the artifacts
//! dir for a human (or a reviewer) to look at.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use radcare::config::{ClientConfig, Config, Secret, Tristate};
use radcare::engine::{AuthMethod, Event, GardenAccountingEvent, GardenEntered};
use radcare::garden::Garden;
use radcare::portal::{PortalState, router};
use radcare::wire::attr::types;
use radcare::wire::{Builder, Code, Packet, crypto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// Starts the portal on 127.0.0.1:0 with one arrears subscriber at `subscriber_ip`
/// (127.0.0.1 is the browser), whose NAS answers Disconnect-Requests on `coa_port`.
async fn start_portal(subscriber_ip: Ipv4Addr, coa_port: u16) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = Config::default();
    cfg.portal.listen = addr;
    cfg.portal.public_url = Some(format!("http://{addr}/"));
    cfg.portal.support.phone = Some("400-000-0000".into());
    cfg.portal.support.email = Some("help@isp.example".into());
    cfg.radius.clients.push(ClientConfig {
        name: "bras-1".into(),
        address: "127.0.0.0/8".parse().unwrap(),
        secret: Secret("testing123".into()),
        require_message_authenticator: Tristate::Auto,
        limit_proxy_state: Tristate::Auto,
        profile: "filter-id".into(),
        coa_port,
    });
    let garden = Garden::new(None);
    garden.apply(&Event::GardenEntered(GardenEntered {
        garden_id: 4242,
        subscriber: 0,
        user: "carol@isp".into(),
        calling_station_id: Some("00:11:22:33:44:55".into()),
        client: "bras-1".into(),
        nas_addr: "127.0.0.1".parse().unwrap(),
        nas_identifier: None,
        nas_port_id: None,
        cause: "arrears".into(),
        reason: "Account in arrears (balance -35.00)".into(),
        method: AuthMethod::Pap,
    }));
    garden.apply(&Event::GardenAccounting(GardenAccountingEvent {
        garden_id: 4242,
        status: Some(1),
        user: "carol@isp".into(),
        framed_ip: Some(subscriber_ip),
        acct_session_id: Some("s-4242".into()),
        nas_addr: "127.0.0.1".parse().unwrap(),
    }));
    let app = router(PortalState::new(garden, Arc::new(cfg)));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// Runs headless Chromium once (a fresh profile each time) and returns its stdout.
async fn chromium(ua: &str, action: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let bin = support::find_peer("chromium").expect("chromium");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--lang=en-US",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--user-agent={ua}"))
    .args(action)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("chromium finished within 90 s")
        .expect("chromium ran");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn dump_dom(ua: &str, url: &str) -> String {
    chromium(ua, &["--dump-dom".into()], url).await
}

async fn screenshot(ua: &str, url: &str, size: (u32, u32), path: &Path) {
    let _ = std::fs::remove_file(path);
    chromium(
        ua,
        &[
            format!("--screenshot={}", path.display()),
            format!("--window-size={},{}", size.0, size.1),
        ],
        url,
    )
    .await;
    let png = std::fs::read(path).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "{} is a PNG", path.display());
    assert!(
        png.len() > 10_000,
        "{} is more than a blank page",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_arrears_page_on_a_phone_and_a_desktop() {
    if !support::require_peer("chromium") {
        return;
    }
    let addr = start_portal(Ipv4Addr::LOCALHOST, 3799).await;
    let url = format!("http://{addr}/");
    let artifacts = support::artifacts_dir();

    let phone = dump_dom(IPHONE, &url).await;
    assert!(phone.contains(r#"data-device="phone""#), "{phone}");
    assert!(phone.contains(r#"data-cause="arrears""#));
    assert!(phone.contains("Your account is out of credit"));
    assert!(phone.contains("Pay the bill or top up"));
    assert!(phone.contains("I've fixed it, reconnect me"));
    assert!(phone.contains("Account in arrears (balance -35.00)"));
    screenshot(
        IPHONE,
        &url,
        (390, 844),
        &artifacts.join("portal-phone.png"),
    )
    .await;

    let desktop = dump_dom(DESKTOP, &url).await;
    assert!(desktop.contains(r#"data-device="desktop""#), "{desktop}");
    assert!(desktop.contains(r#"data-cause="arrears""#));
    assert!(desktop.contains("Your account is out of credit"));
    assert!(desktop.contains("Pay the bill or top up"));
    screenshot(
        DESKTOP,
        &url,
        (1280, 800),
        &artifacts.join("portal-desktop.png"),
    )
    .await;

    // The Chinese page, on the phone.
    let zh_url = format!("{url}?lang=zh-CN");
    let zh = dump_dom(IPHONE, &zh_url).await;
    assert!(zh.contains(r#"lang="zh-CN""#));
    assert!(zh.contains("您的宽带账户已欠费"));
    assert!(zh.contains("通过网上营业厅、手机客户端或营业厅缴费充值"));
    screenshot(
        IPHONE,
        &zh_url,
        (390, 844),
        &artifacts.join("portal-phone-zh.png"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_generic_page_to_someone_not_in_the_garden() {
    if !support::require_peer("chromium") {
        return;
    }
    // The subscriber is elsewhere; the browser at 127.0.0.1 is nobody we know.
    let addr = start_portal(Ipv4Addr::new(127, 0, 0, 9), 3799).await;
    let url = format!("http://{addr}/?userip=127.0.0.9");
    let dom = dump_dom(DESKTOP, &url).await;
    assert!(dom.contains(r#"data-cause="none""#), "{dom}");
    assert!(dom.contains(r#"data-device="desktop""#));
    assert!(dom.contains("Why can't I get online?"));
    assert!(dom.contains("678, 815, 651"));
    assert!(!dom.contains("carol") && !dom.contains("arrears (balance"));
    let png = support::artifacts_dir().join("portal-generic-desktop.png");
    screenshot(DESKTOP, &url, (1280, 800), &png).await;
}

/// A NAS that acknowledges every Disconnect-Request signed with our secret.
async fn acking_nas() -> u16 {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let req = &buf[..n];
            if !crypto::verify_hashed_request(req, b"testing123") {
                continue;
            }
            let req = Packet::new_unchecked(req);
            let mut out = Vec::new();
            let mut b = Builder::new(&mut out, Code::DisconnectAck, req.identifier(), &[0; 16]);
            b.message_authenticator().unwrap();
            b.attr_u32(types::ERROR_CAUSE, 201).unwrap();
            crypto::sign_response(b.as_bytes_mut(), req.authenticator(), b"testing123");
            sock.send_to(&out, from).await.unwrap();
        }
    });
    port
}

/// POSTs the reconnect form as the page's button does, over plain HTTP/1.1.
async fn press_reconnect(addr: SocketAddr, ua: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let form = "g=4242&lang=en";
    let req = format!(
        "POST /reconnect HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {ua}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_reconnect_result() {
    if !support::require_peer("chromium") {
        return;
    }
    let nas = acking_nas().await;
    let addr = start_portal(Ipv4Addr::LOCALHOST, nas).await;
    let (head, body) = press_reconnect(addr, IPHONE).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("Reconnecting"), "{body}");
    // A second press within the interval is refused politely.
    let (head, body) = press_reconnect(addr, IPHONE).await;
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(body.contains("Please wait"));
    // The result page is self-contained: shown from a file, it looks the same.
    let dir = tempfile::tempdir().unwrap();
    let (_, body) = {
        let fresh = start_portal(Ipv4Addr::LOCALHOST, nas).await;
        press_reconnect(fresh, IPHONE).await
    };
    let page = dir.path().join("result.html");
    std::fs::write(&page, &body).unwrap();
    let png = support::artifacts_dir().join("portal-reconnected-phone.png");
    screenshot(
        IPHONE,
        &format!("file://{}", page.display()),
        (390, 844),
        &png,
    )
    .await;
}
