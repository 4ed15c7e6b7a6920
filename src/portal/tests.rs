//! Router tests in memory: requests go through `oneshot` with the peer address set as
//! `ConnectInfo`, exactly what `into_make_service_with_connect_info` inserts.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use tokio::net::UdpSocket;
use tower::ServiceExt;

use super::*;
use crate::config::{ClientConfig, Secret, Tristate};
use crate::engine::{AuthMethod, Event, GardenAccountingEvent, GardenEntered};
use crate::wire::attr::types;
use crate::wire::{Builder, Code, Packet, crypto};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 \
    (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

const BOB_IP: [u8; 4] = [100, 64, 0, 7];
const BOB_ID: u64 = 0x7a11_0001;
const BOB_REASON: &str = "欠费停机 (balance -12.50)";
const STRANGER: [u8; 4] = [100, 64, 0, 99];
const PORTAL_URL: &str = "http://portal.isp.example/";

fn client(coa_port: u16) -> ClientConfig {
    ClientConfig {
        name: "bras-1".into(),
        address: "127.0.0.0/8".parse().unwrap(),
        secret: Secret("nas-secret".into()),
        require_message_authenticator: Tristate::Auto,
        limit_proxy_state: Tristate::Auto,
        profile: "filter-id".into(),
        coa_port,
    }
}

fn config(coa_port: u16) -> Config {
    let mut cfg = Config::default();
    cfg.radius.clients.push(client(coa_port));
    cfg.portal.public_url = Some(PORTAL_URL.into());
    cfg.portal.trusted_proxies = vec!["10.9.0.0/16".parse().unwrap()];
    cfg.portal.support.phone = Some("+86 400-000-0000".into());
    cfg.portal.disconnect_timeout = Duration::from_millis(200);
    cfg
}

/// Puts a subscriber into the garden the way the engine does: entered, then its
/// accounting Start teaches the address.
fn admit(garden: &Garden, id: u64, user: &str, cause: &str, reason: &str, ip: [u8; 4]) {
    garden.apply(&Event::GardenEntered(GardenEntered {
        garden_id: id,
        subscriber: 0,
        user: user.into(),
        calling_station_id: Some("00-11-22-33-44-55".into()),
        client: "bras-1".into(),
        nas_addr: "127.0.0.1".parse().unwrap(),
        nas_identifier: Some("bras-1".into()),
        nas_port_id: None,
        cause: cause.into(),
        reason: reason.into(),
        method: AuthMethod::Pap,
    }));
    garden.apply(&Event::GardenAccounting(GardenAccountingEvent {
        garden_id: id,
        status: Some(1),
        user: user.into(),
        framed_ip: Some(Ipv4Addr::from(ip)),
        acct_session_id: Some(format!("sess-{id}")),
        nas_addr: "127.0.0.1".parse().unwrap(),
    }));
}

fn portal_with(cfg: Config) -> (Router, Garden) {
    let garden = Garden::new(None);
    admit(&garden, BOB_ID, "bob@isp", "arrears", BOB_REASON, BOB_IP);
    let router = router(PortalState::new(garden.clone(), Arc::new(cfg)));
    (router, garden)
}

fn portal() -> Router {
    portal_with(config(3799)).0
}

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

async fn send(router: &Router, peer: [u8; 4], mut req: Request<Body>) -> Got {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Got {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(router: &Router, peer: [u8; 4], uri: &str, headers: &[(&str, &str)]) -> Got {
    let mut b = Request::builder().uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(router, peer, b.body(Body::empty()).unwrap()).await
}

async fn post_reconnect(router: &Router, peer: [u8; 4], form: &str, ua: &str) -> Got {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/reconnect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", ua)
        .body(Body::from(form.to_string()))
        .unwrap();
    send(router, peer, req).await
}

/// Asserts a page shows nothing of bob's account.
fn assert_reveals_nothing_of_bob(g: &Got) {
    for secret in [
        "bob@isp",
        BOB_REASON,
        "欠费停机",
        &BOB_ID.to_string(),
        "sess-",
    ] {
        assert!(!g.body.contains(secret), "leaked {secret:?}:\n{}", g.body);
    }
    assert_ne!(g.header("x-radcare-cause"), "arrears");
}

#[tokio::test]
async fn identifies_the_subscriber_by_source_address() {
    let r = portal();
    let g = get(&r, BOB_IP, "/", &[("user-agent", IPHONE)]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.header("content-type").starts_with("text/html"));
    assert_eq!(g.header("x-radcare-cause"), "arrears");
    assert_eq!(g.header("cache-control"), "no-store");
    assert!(g.body.contains(r#"data-cause="arrears""#), "{}", g.body);
    assert!(g.body.contains(r#"data-device="phone""#));
    assert!(g.body.contains("Your account is out of credit"));
    assert!(g.body.contains("Pay the bill or top up"));
    assert!(g.body.contains("bob@isp"));
    assert!(g.body.contains(BOB_REASON));
    assert!(
        g.body
            .contains(r#"<form method="post" action="/reconnect">"#)
    );
    assert!(g.body.contains(&format!(r#"name="g" value="{BOB_ID}""#)));
    assert!(
        g.body.contains("href=\"tel:+86 400-000-0000\""),
        "phones get a call link"
    );
    assert!(!g.body.contains("<script"), "no JavaScript");
    assert!(!g.body.contains("stylesheet"), "no external CSS");
}

#[tokio::test]
async fn spoofed_redirect_parameters_reveal_nothing() {
    let r = portal();
    let spoof = format!(
        "/?userip={}&usermac=00:11:22:33:44:55&wlanuserip={0}&ip={0}",
        Ipv4Addr::from(BOB_IP)
    );
    let g = get(&r, STRANGER, &spoof, &[("user-agent", IPHONE)]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.contains(r#"data-cause="none""#));
    assert_reveals_nothing_of_bob(&g);
    // Nor in any other answer: text, probes, API, reconnect.
    let g = get(&r, STRANGER, &spoof, &[("user-agent", "curl/8.5.0")]).await;
    assert_reveals_nothing_of_bob(&g);
    assert_eq!(g.header("x-radcare-cause"), "none");
    let g = get(&r, STRANGER, &format!("/generate_204{}", &spoof[1..]), &[]).await;
    assert_eq!(g.status, StatusCode::NO_CONTENT);
    let g = get(&r, STRANGER, &format!("/api/captive{}", &spoof[1..]), &[]).await;
    assert!(g.body.contains(r#""captive":false"#), "{}", g.body);
    let g = post_reconnect(&r, STRANGER, &format!("g={BOB_ID}"), IPHONE).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
    assert_reveals_nothing_of_bob(&g);
    // X-Forwarded-For from an untrusted peer is ignored too.
    let g = get(&r, STRANGER, "/", &[("x-forwarded-for", "100.64.0.7")]).await;
    assert_reveals_nothing_of_bob(&g);
}

#[tokio::test]
async fn another_garden_subscriber_sees_only_their_own_page() {
    let (r, garden) = portal_with(config(3799));
    admit(
        &garden,
        42,
        "eve",
        "wrong-password",
        "bad password",
        STRANGER,
    );
    let g = get(
        &r,
        STRANGER,
        "/?userip=100.64.0.7",
        &[("user-agent", IPHONE)],
    )
    .await;
    assert_eq!(g.header("x-radcare-cause"), "wrong-password");
    assert!(g.body.contains("eve"));
    assert!(!g.body.contains("bob@isp") && !g.body.contains(BOB_REASON));
}

#[tokio::test]
async fn trusted_proxy_forwarded_for_identifies() {
    let r = portal();
    let proxy = [10, 9, 0, 1];
    let g = get(
        &r,
        proxy,
        "/",
        &[
            ("x-forwarded-for", "203.0.113.5, 100.64.0.7"),
            ("user-agent", WINDOWS),
        ],
    )
    .await;
    assert_eq!(g.header("x-radcare-cause"), "arrears");
    assert!(g.body.contains("bob@isp"));
    // A trusted proxy may name the subscriber in the BRAS parameters instead.
    let g = get(
        &r,
        proxy,
        "/?wlanuserip=100.64.0.7",
        &[("user-agent", WINDOWS)],
    )
    .await;
    assert!(g.body.contains("bob@isp"));
    // ... but a MAC it vouches for must match the session's Calling-Station-Id.
    let g = get(
        &r,
        proxy,
        "/?userip=100.64.0.7&usermac=66:66:66:66:66:66",
        &[("user-agent", WINDOWS)],
    )
    .await;
    assert_reveals_nothing_of_bob(&g);
    let g = get(
        &r,
        proxy,
        "/?userip=100.64.0.7&usermac=0011.2233.4455",
        &[("user-agent", WINDOWS)],
    )
    .await;
    assert!(g.body.contains("bob@isp"));
    // The proxy itself, with nothing forwarded, is nobody in particular.
    let g = get(&r, proxy, "/", &[("user-agent", WINDOWS)]).await;
    assert_reveals_nothing_of_bob(&g);
}

/// (path, status and body that mean "online" for a visitor outside the garden).
const PROBES: &[(&str, u16, &str)] = &[
    (
        "/hotspot-detect.html",
        200,
        "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>\n",
    ),
    (
        "/library/test/success.html",
        200,
        "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>\n",
    ),
    ("/generate_204", 204, ""),
    ("/gen_204", 204, ""),
    ("/connecttest.txt", 200, "Microsoft Connect Test"),
    ("/ncsi.txt", 200, "Microsoft NCSI"),
    ("/success.txt", 200, "success\n"),
    ("/canonical.html", 200, FIREFOX_CANONICAL),
];

#[tokio::test]
async fn probes_redirect_garden_subscribers_and_say_online_to_others() {
    let r = portal();
    let mut paths: Vec<&str> = PROBES.iter().map(|p| p.0).collect();
    paths.push("/redirect");
    for path in paths {
        let g = get(&r, BOB_IP, path, &[("host", "captive.apple.com")]).await;
        assert_eq!(g.status, StatusCode::FOUND, "{path}");
        assert_eq!(g.header("location"), PORTAL_URL, "{path}");
        assert_eq!(g.header("cache-control"), "no-store");
    }
    for (path, status, body) in PROBES {
        let g = get(
            &r,
            STRANGER,
            path,
            &[("user-agent", "CaptiveNetworkSupport wispr")],
        )
        .await;
        assert_eq!(g.status.as_u16(), *status, "{path}");
        assert_eq!(g.body, *body, "{path}");
        assert!(g.header("location").is_empty());
    }
    // Windows opens /redirect in a browser: outside the garden it explains.
    let g = get(&r, STRANGER, "/redirect", &[("user-agent", WINDOWS)]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.contains(r#"data-cause="none""#));
}

#[tokio::test]
async fn captive_api_follows_rfc_8908() {
    let mut cfg = config(3799);
    cfg.portal.venue_info_url = Some("https://isp.example/about".into());
    let (r, _) = portal_with(cfg);
    let g = get(
        &r,
        BOB_IP,
        "/api/captive",
        &[("accept", "application/captive+json")],
    )
    .await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.header("content-type"), "application/captive+json");
    assert!(g.header("cache-control").contains("private"));
    let doc: serde_json::Value = serde_json::from_str(&g.body).unwrap();
    assert_eq!(doc["captive"], true);
    assert_eq!(doc["user-portal-url"], PORTAL_URL);
    assert_eq!(doc["venue-info-url"], "https://isp.example/about");
    assert_eq!(doc["can-extend-session"], false);
    let g = get(&r, STRANGER, "/api/captive", &[]).await;
    let doc: serde_json::Value = serde_json::from_str(&g.body).unwrap();
    assert_eq!(doc["captive"], false);
    assert!(doc.get("venue-info-url").is_some());
}

#[tokio::test]
async fn everything_else_a_garden_subscriber_asks_for_goes_to_the_portal() {
    let r = portal();
    for (uri, host) in [
        ("/some/page.html?x=1", "www.example.com"),
        ("/", "www.example.com"),
        ("/favicon-not.png", "portal.isp.example"),
    ] {
        let g = get(&r, BOB_IP, uri, &[("host", host)]).await;
        assert_eq!(g.status, StatusCode::FOUND, "{uri} on {host}");
        assert_eq!(g.header("location"), PORTAL_URL);
        assert_eq!(g.header("x-radcare-cause"), "arrears");
        assert!(
            g.body.contains(PORTAL_URL),
            "text for programs that do not follow"
        );
    }
    let post = Request::builder()
        .method(Method::POST)
        .uri("/api/upload")
        .header("host", "cloud.example.com")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&r, BOB_IP, post).await.status, StatusCode::FOUND);
    // The portal's own host (with any port) serves the page.
    let g = get(&r, BOB_IP, "/", &[("host", "portal.isp.example:8080")]).await;
    assert_eq!(g.status, StatusCode::OK);
    // Outside the garden, unknown URLs are just missing.
    let g = get(&r, STRANGER, "/some/page.html", &[("user-agent", WINDOWS)]).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
    assert!(g.body.contains(r#"data-cause="none""#));
    let g = get(&r, STRANGER, "/healthz", &[]).await;
    assert_eq!((g.status, g.body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn language_from_query_accept_language_and_default() {
    let r = portal();
    let page = |lang: &'static [(&'static str, &'static str)], uri: &'static str| {
        let r = r.clone();
        async move {
            let mut h = vec![("user-agent", IPHONE)];
            h.extend_from_slice(lang);
            get(&r, BOB_IP, uri, &h).await.body
        }
    };
    let zh = page(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")], "/").await;
    assert!(zh.contains(r#"<html lang="zh-CN""#));
    assert!(zh.contains("您的宽带账户已欠费"));
    assert!(zh.contains("已处理好，重新连接"));
    assert!(zh.contains(r#"href="/?lang=en""#), "a way back to English");
    let en = page(&[("accept-language", "zh-CN,zh;q=0.9")], "/?lang=en").await;
    assert!(en.contains(r#"<html lang="en""#));
    assert!(en.contains("Your account is out of credit"));
    let by_q = page(&[("accept-language", "en;q=0.3, zh-TW;q=0.9")], "/").await;
    assert!(by_q.contains(r#"lang="zh-CN""#));
    let fallback = page(&[("accept-language", "fr-FR, de;q=0.5")], "/").await;
    assert!(fallback.contains(r#"<html lang="en""#));
    let none = page(&[], "/").await;
    assert!(none.contains(r#"<html lang="en""#));

    let mut cfg = config(3799);
    cfg.portal.default_language = "zh-CN".into();
    let (r2, _) = portal_with(cfg);
    let g = get(&r2, BOB_IP, "/", &[("user-agent", IPHONE)]).await;
    assert!(g.body.contains(r#"<html lang="zh-CN""#));
}

#[tokio::test]
async fn programs_get_plain_text_with_the_cause_header() {
    let r = portal();
    let g = get(&r, BOB_IP, "/", &[("user-agent", "curl/8.5.0")]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(g.header("x-radcare-cause"), "arrears");
    assert!(!g.body.contains('<'), "{}", g.body);
    assert!(g.body.contains("Your account is out of credit"));
    assert!(g.body.contains("1. Pay the bill"));
    assert!(g.body.contains(BOB_REASON));
    assert!(g.body.contains(&format!("POST {PORTAL_URL}reconnect")));
    // No User-Agent at all (router firmware): text too.
    let g = get(&r, BOB_IP, "/", &[]).await;
    assert!(g.header("content-type").starts_with("text/plain"));
    let g = get(&r, STRANGER, "/", &[("user-agent", "Wget/1.21")]).await;
    assert_eq!(g.header("x-radcare-cause"), "none");
    assert!(g.body.contains("Why can't I get online?"));
}

#[tokio::test]
async fn account_details_are_escaped() {
    let (r, garden) = portal_with(config(3799));
    admit(
        &garden,
        7,
        "<script>alert(1)</script>",
        "unknown",
        "\"><script>alert(2)</script><img src=x onerror=alert(3)>",
        STRANGER,
    );
    let g = get(&r, STRANGER, "/", &[("user-agent", WINDOWS)]).await;
    assert!(!g.body.contains("<script"), "{}", g.body);
    assert!(!g.body.contains("<img"));
    // askama writes numeric character references.
    assert!(g.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(g.body.contains("&#60;img src=x onerror=alert(3)&#62;"));
    assert!(g.body.contains(r#"data-cause="unknown""#));
}

#[tokio::test]
async fn layout_and_steps_follow_the_device() {
    let (r, garden) = portal_with(config(3799));
    admit(&garden, 9, "carol", "wrong-password", "E=691", STRANGER);
    let tablet = get(&r, BOB_IP, "/", &[("user-agent", IPAD)]).await;
    assert!(tablet.body.contains(r#"data-device="tablet""#));
    let win = get(&r, STRANGER, "/", &[("user-agent", WINDOWS)]).await;
    assert!(win.body.contains(r#"data-device="desktop""#));
    assert!(win.body.contains(r#"data-os="windows""#));
    assert!(win.body.contains("If this computer dials by itself"));
    assert!(win.body.contains("Dial-up"), "Windows' own steps");
    assert!(
        !win.body.contains("Call support"),
        "no call button on a desktop"
    );
    assert!(win.body.contains(r#"<dd><a href="tel:+86 400-000-0000">"#));
    let phone = get(&r, STRANGER, "/", &[("user-agent", ANDROID)]).await;
    assert!(phone.body.contains(r#"data-device="phone""#));
    assert!(
        phone
            .body
            .contains("An Android phone or tablet on Wi-Fi does not dial")
    );
    assert!(!phone.body.contains("If this computer dials by itself"));
    // Arrears needs no retyping: no credentials help.
    let bob = get(&r, BOB_IP, "/", &[("user-agent", WINDOWS)]).await;
    assert!(!bob.body.contains("Where to retype"));
}

#[tokio::test]
async fn operator_texts_and_branding_apply() {
    let mut cfg = config(3799);
    let text = r##"
[portal]
public_url = "http://portal.isp.example/"
[portal.brand]
name = { en = "Example Broadband", zh-CN = "示例宽带" }
colour = "#c2410c"
[portal.support]
email = "help@isp.example"
hours = "8:00-22:00"
[[portal.link]]
label = { en = "Pay online", zh-CN = "在线缴费" }
url = "https://pay.isp.example/"
causes = ["arrears"]
[portal.cause.arrears.en]
title = "Time to top up"
steps = ["Pay at pay.isp.example", "Come back here"]
"##;
    let parsed = Config::parse("t.toml", text).unwrap();
    cfg.portal.brand = parsed.portal.brand;
    cfg.portal.support = parsed.portal.support;
    cfg.portal.links = parsed.portal.links;
    cfg.portal.causes = parsed.portal.causes;
    let (r, _) = portal_with(cfg);
    let g = get(&r, BOB_IP, "/", &[("user-agent", WINDOWS)]).await;
    assert!(g.body.contains("Example Broadband"));
    assert!(g.body.contains("--brand:#c2410c"));
    assert!(g.body.contains("Time to top up"));
    assert!(g.body.contains("Pay at pay.isp.example"));
    assert!(!g.body.contains("Pay the bill or top up"));
    assert!(
        g.body
            .contains("Your broadband account has an unpaid balance"),
        "kept"
    );
    assert!(
        g.body
            .contains(r#"href="https://pay.isp.example/">Pay online"#)
    );
    assert!(g.body.contains("help@isp.example") && g.body.contains("8:00-22:00"));
    let zh = get(&r, BOB_IP, "/?lang=zh-CN", &[("user-agent", WINDOWS)]).await;
    assert!(zh.body.contains("示例宽带") && zh.body.contains("在线缴费"));
    assert!(
        zh.body.contains("您的宽带账户已欠费"),
        "zh-CN keeps the built-in text"
    );
}

/// A NAS that answers every Disconnect-Request it can verify, and counts them.
async fn test_nas(nak: Option<u32>) -> (u16, Arc<AtomicU32>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let seen = Arc::new(AtomicU32::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let req = &buf[..n];
            assert!(crypto::verify_hashed_request(req, b"nas-secret"));
            count.fetch_add(1, Ordering::SeqCst);
            let req = Packet::new_unchecked(req);
            let mut out = Vec::new();
            let code = if nak.is_some() {
                Code::DisconnectNak
            } else {
                Code::DisconnectAck
            };
            let mut b = Builder::new(&mut out, code, req.identifier(), &[0; 16]);
            b.message_authenticator().unwrap();
            if let Some(c) = nak {
                b.attr_u32(types::ERROR_CAUSE, c).unwrap();
            }
            crypto::sign_response(b.as_bytes_mut(), req.authenticator(), b"nas-secret");
            sock.send_to(&out, from).await.unwrap();
        }
    });
    (port, seen)
}

#[tokio::test]
async fn reconnect_disconnects_once_then_asks_to_wait() {
    let (port, seen) = test_nas(None).await;
    let (r, _) = portal_with(config(port));
    let g = post_reconnect(&r, BOB_IP, &format!("g={BOB_ID}&lang=en"), IPHONE).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert!(g.body.contains("Reconnecting"));
    assert!(
        g.body.contains("Turn Wi-Fi off and on again"),
        "phone redial steps"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let again = post_reconnect(&r, BOB_IP, &format!("g={BOB_ID}"), IPHONE).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(again.body.contains("Please wait"));
    assert!(again.header("retry-after").parse::<u64>().unwrap() <= 30);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "no second Disconnect-Request"
    );
    // In Chinese, and as text for a program.
    let (r, _) = portal_with(config(port));
    let zh = post_reconnect(&r, BOB_IP, "lang=zh-CN", "curl/8").await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.header("content-type").starts_with("text/plain"));
    assert!(zh.body.contains("正在重新连接"), "{}", zh.body);
}

/// A user name in GBK ("张三") reaches the NAS in the Disconnect-Request octet for
/// octet, as the NAS knows the session by it.
#[tokio::test]
async fn a_gbk_user_name_reaches_the_disconnect_request_unaltered() {
    const GBK: &[u8] = &[0xd5, 0xc5, 0xc8, 0xfd];
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (r, garden) = portal_with(config(sock.local_addr().unwrap().port()));
    let ip = [10, 1, 2, 3];
    garden.apply(&Event::GardenEntered(GardenEntered {
        garden_id: 55,
        subscriber: 0,
        user: GBK.to_vec(),
        calling_station_id: None,
        client: "bras-1".into(),
        nas_addr: "127.0.0.1".parse().unwrap(),
        nas_identifier: None,
        nas_port_id: None,
        cause: "arrears".into(),
        reason: String::new(),
        method: AuthMethod::Pap,
    }));
    garden.apply(&Event::GardenAccounting(GardenAccountingEvent {
        garden_id: 55,
        status: Some(1),
        user: GBK.to_vec(),
        framed_ip: Some(Ipv4Addr::from(ip)),
        acct_session_id: Some("sess-55".into()),
        nas_addr: "127.0.0.1".parse().unwrap(),
    }));
    let nas = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        let req = Packet::new_unchecked(&buf[..n]);
        req.find(types::USER_NAME).map(|a| a.value.to_vec())
    });
    let _ = post_reconnect(&r, ip, "g=55", WINDOWS).await;
    assert_eq!(nas.await.unwrap().as_deref(), Some(GBK));
}

#[tokio::test]
async fn reconnect_reports_nak_already_gone_and_silence() {
    let (port, _) = test_nas(Some(404)).await;
    let (r, _) = portal_with(config(port));
    let g = post_reconnect(&r, BOB_IP, "", WINDOWS).await;
    assert_eq!(g.status, StatusCode::BAD_GATEWAY);
    assert!(
        g.body.contains("Error-Cause 404 (Invalid Request)"),
        "{}",
        g.body
    );

    let (port, _) = test_nas(Some(503)).await;
    let (r, _) = portal_with(config(port));
    let g = post_reconnect(&r, BOB_IP, "", WINDOWS).await;
    assert_eq!(g.status, StatusCode::OK, "already gone is fine");
    assert!(g.body.contains("Reconnecting"));
    assert!(
        g.body.contains("Settings \u{2192} Network &#38; internet"),
        "Windows redial"
    );

    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (r, _) = portal_with(config(silent.local_addr().unwrap().port()));
    let g = post_reconnect(&r, BOB_IP, "", WINDOWS).await;
    assert_eq!(g.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(g.body.contains("No answer from the network"));
}

#[tokio::test]
async fn reconnect_from_a_stale_page_or_an_unknown_nas_is_refused() {
    let (r, garden) = portal_with(config(9));
    let g = post_reconnect(&r, BOB_IP, "g=12345", WINDOWS).await;
    assert_eq!(g.status, StatusCode::CONFLICT);
    // A session whose NAS has no [[radius.client]]: nothing is sent anywhere.
    garden.apply(&Event::GardenEntered(GardenEntered {
        garden_id: 77,
        subscriber: 0,
        user: "zed".into(),
        calling_station_id: None,
        client: "gone".into(),
        nas_addr: "192.0.2.1".parse().unwrap(),
        nas_identifier: None,
        nas_port_id: None,
        cause: "arrears".into(),
        reason: String::new(),
        method: AuthMethod::Pap,
    }));
    garden.apply(&Event::GardenAccounting(GardenAccountingEvent {
        garden_id: 77,
        status: Some(1),
        user: "zed".into(),
        framed_ip: Some(Ipv4Addr::from(STRANGER)),
        acct_session_id: None,
        nas_addr: "192.0.2.1".parse().unwrap(),
    }));
    let g = post_reconnect(&r, STRANGER, "", WINDOWS).await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(g.body.contains("Reconnect is not available"));
    // GET /reconnect (a reload) goes back to the page.
    let g = get(&r, BOB_IP, "/reconnect", &[]).await;
    assert_eq!(g.status, StatusCode::FOUND);
}

#[test]
fn negotiation() {
    assert_eq!(negotiate(Some("zh"), Some("en"), Lang::En), Lang::ZhCn);
    assert_eq!(negotiate(Some("xx"), Some("zh-CN"), Lang::En), Lang::ZhCn);
    assert_eq!(
        negotiate(None, Some("en-US,en;q=0.9"), Lang::ZhCn),
        Lang::En
    );
    assert_eq!(
        negotiate(None, Some("zh;q=0, en;q=0.1"), Lang::ZhCn),
        Lang::En
    );
    assert_eq!(negotiate(None, Some("*"), Lang::ZhCn), Lang::ZhCn);
    assert_eq!(negotiate(None, Some("en;q=abc"), Lang::ZhCn), Lang::ZhCn);
}

#[test]
fn hosts() {
    assert_eq!(
        url_host("http://Portal.Example:8080/x"),
        Some("portal.example".into())
    );
    assert_eq!(
        url_host("http://[2001:db8::1]/"),
        Some("2001:db8::1".into())
    );
    assert_eq!(strip_port("[::1]:80"), "::1");
    assert_eq!(strip_port("example.com"), "example.com");
}

#[test]
fn limiter_allows_one_per_interval() {
    let l = ReconnectLimiter::new(Duration::from_secs(30));
    let t0 = Instant::now();
    assert_eq!(l.try_start(1, t0), Ok(()));
    assert_eq!(
        l.try_start(1, t0 + Duration::from_secs(10)),
        Err(Duration::from_secs(20))
    );
    assert_eq!(l.try_start(2, t0), Ok(()), "per subscriber");
    assert_eq!(l.try_start(1, t0 + Duration::from_secs(30)), Ok(()));
}

#[test]
fn portal_config_is_validated() {
    let bad = r##"
[portal]
listen = "0.0.0.0:80"
default_language = "fr"
public_url = "javascript:alert(1)"
[portal.brand]
colour = "red;}body{display:none"
[[portal.link]]
label = { en = "x", de = "y" }
url = "ftp://x"
causes = ["nope"]
[portal.cause.nope.en]
title = "x"
[portal.cause.arrears.xx]
steps = []
"##;
    // Through the whole load: which causes exist is checked with the compiled policy.
    let parsed = Config::read("p.toml", bad).unwrap();
    let e = crate::server::load(parsed, "p.toml", bad)
        .err()
        .expect("refused")
        .to_string();
    for needle in [
        "unknown portal language `fr`",
        "public_url `javascript:alert(1)` must be an absolute http",
        "brand colour",
        "link url `ftp://x`",
        "link for unknown cause `nope`",
        "unknown portal language `de`",
        "[portal.cause.nope]: no such cause",
        "[portal.cause.arrears.xx]: unknown portal language `xx`",
        "steps must not be empty",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    let e = Config::parse("p.toml", "[portal]\nlisten = \"0.0.0.0:80\"\n").unwrap_err();
    assert!(e.to_string().contains("set public_url"), "{e}");
    let ok = Config::parse(
        "p.toml",
        "[portal]\nlisten = \"0.0.0.0:80\"\npublic_url = \"http://10.0.0.1/\"\n",
    );
    assert!(ok.is_ok());
    assert_eq!(ok.unwrap().portal.portal_url(), "http://10.0.0.1/");
    assert_eq!(
        Config::embedded().portal.portal_url(),
        "http://127.0.0.1:8080/"
    );
}

#[test]
fn documented_portal_keys_parse() {
    // Uncomment every example key of the [portal] part of the example config.
    let example = crate::config::DEFAULT_CONFIG;
    let start = example.find("[portal]").unwrap();
    let end = example.find("[store]").unwrap();
    let key = regex::Regex::new(r"^# (\[|[a-z_]+ = )").unwrap();
    let portal: String = example[start..end]
        .lines()
        .map(|l| if key.is_match(l) { &l[2..] } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{}{portal}\n{}", &example[..start], &example[end..]);
    let cfg = Config::parse("example.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let p = &cfg.portal;
    assert_eq!(p.public_url.as_deref(), Some("http://portal.isp.example/"));
    assert_eq!(p.trusted_proxies.len(), 1);
    assert_eq!(p.brand.name.get("zh-CN", "en"), "示例宽带");
    assert_eq!(p.links[0].causes, ["arrears", "account-expired"]);
    assert_eq!(
        p.causes["arrears"]["zh-CN"].steps.as_ref().unwrap().len(),
        2
    );
    assert!(p.help["en"].credentials.router.is_some());
    let t = texts::Texts::new(p, &[]);
    assert_eq!(t.get(Lang::ZhCn).redial.router, "重启光猫和路由器。");
    assert_eq!(
        t.get(Lang::ZhCn).cause("arrears").summary,
        "您的账户余额不足，服务已暂停。"
    );
}

#[tokio::test]
async fn requests_are_counted_by_page_with_fixed_labels() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // The test runtime has one thread: the thread-local recorder sees every handler.
    let _guard = metrics::set_default_local_recorder(&recorder);
    let r = portal();
    get(&r, BOB_IP, "/", &[("user-agent", IPHONE)]).await;
    get(&r, BOB_IP, "/generate_204", &[]).await;
    get(&r, STRANGER, "/generate_204", &[]).await;
    get(
        &r,
        STRANGER,
        "/?userip=100.64.0.7",
        &[("user-agent", IPHONE)],
    )
    .await;
    post_reconnect(&r, STRANGER, "", IPHONE).await;
    let text = handle.render();
    for line in [
        r#"radcare_portal_requests_total{page="cause"} 1"#,
        r#"radcare_portal_requests_total{page="probe_redirect"} 1"#,
        r#"radcare_portal_requests_total{page="probe_online"} 1"#,
        r#"radcare_portal_requests_total{page="generic"} 1"#,
        r#"radcare_portal_requests_total{page="reconnect"} 1"#,
        r#"radcare_portal_reconnects_total{outcome="not_in_garden"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(
        !text.contains("100.64") && !text.contains("bob"),
        "no addresses or users"
    );
}

#[test]
fn garden_entries_expire_with_their_session_timeout() {
    let garden = Garden::new(None);
    admit(&garden, 1, "old", "arrears", "", BOB_IP);
    let e = garden.by_id(1).unwrap();
    let timeout = Duration::from_secs(300);
    let at = e.entered_at_ms;
    assert!(still_in_garden(&e, timeout, at));
    assert!(
        still_in_garden(&e, timeout, at + 359_000),
        "within timeout + slack"
    );
    assert!(
        !still_in_garden(&e, timeout, at + 361_000),
        "the NAS has ended it by now"
    );
}
