//! One listener per audience: subscribers reach the portal and nothing of the
//! operators'; operators reach /metrics on the admin listener, and its APIs once
//! logged in.

mod support;

use support::radcare::Radcare;

#[test]
fn metrics_are_on_the_admin_listener_only() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let (status, body) = rc.admin_get("/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("radcare_"), "{body}");
    assert_eq!(rc.http_get("/metrics").0, 404);
    assert_eq!(rc.http_get("/api/dial-attempts").0, 404);

    // Each face still answers its own audience.
    assert_eq!(rc.http_get("/healthz").0, 200);
    assert_eq!(rc.admin_get("/healthz").0, 200);
    let (status, page) = rc.http_get("/");
    assert_eq!(status, 200);
    assert!(!page.contains("radcare_"), "{page}");
    // The APIs need an operator's login; without [pppoe] there is no dial view, and
    // the admin listener says why.
    assert_eq!(rc.admin_get("/api/dial-attempts").0, 401);
    let (status, why) = rc.api_get("/api/dial-attempts");
    assert_eq!(status, 404);
    assert!(why.contains("[pppoe]"), "{why}");
}
