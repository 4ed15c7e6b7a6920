//! `radcare serve --shadow` between real peers: FreeRADIUS as the AAA, radclient as the
//! NAS. Every reply reaches the NAS unchanged in meaning (re-signed for its secret, as
//! any proxy does); the Rejects radcare would have rewritten are only counted.

mod support;

use std::time::{Duration, Instant};

use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, parse_radclient, radclient, require_peers};

const AAA_SECRET: &str = "aaa-secret";

#[test]
fn shadow_mode_passes_rejects_and_counts_would_be_rewrites() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start(AAA_SECRET);
    let upstream = Upstream {
        name: "aaa-1",
        auth: fr.auth_addr(),
        acct: fr.acct_addr(),
        secret: AAA_SECRET.into(),
    };
    let rc = Radcare::start_with_args("127.0.0.0/8", &[upstream], "", &["--shadow"]);
    let auth = |input: &str| {
        let out = radclient(&rc.auth.to_string(), "auth", NAS_SECRET, input);
        parse_radclient(&out).unwrap_or_else(|| panic!("no reply: {out:?}"))
    };

    // radclient checks the Response Authenticator with the NAS secret.
    let alice = auth("User-Name = alice\nUser-Password = alice-pass");
    assert_eq!(alice.code, "Access-Accept");
    for _ in 0..2 {
        let bob = auth("User-Name = bob\nUser-Password = not-bobs-pass");
        assert_eq!(bob.code, "Access-Reject", "no walled garden in shadow mode");
        assert_eq!(bob.get("Reply-Message").as_deref(), Some("wrong password"));
        assert!(bob.get("Class").is_none());
    }
    let carol = auth("User-Name = carol\nUser-Password = carol-pass");
    assert_eq!(carol.code, "Access-Reject");
    let nobody = auth("User-Name = nobody\nUser-Password = x");
    assert_eq!(nobody.code, "Access-Reject");

    let series = |cause: &str, action: &str| {
        format!("radcare_rejects_total{{cause=\"{cause}\",action=\"{action}\",method=\"pap\"}}")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while rc.metric(&series("wrong-password", "would_rewrite")) < 2.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rc.metric(&series("wrong-password", "would_rewrite")), 2.0);
    assert_eq!(rc.metric(&series("arrears", "would_rewrite")), 1.0);
    // Passed by the cause table: not a would-be rewrite.
    assert_eq!(rc.metric(&series("user-unknown", "pass")), 1.0);
    assert_eq!(rc.metric(&series("wrong-password", "rewrite")), 0.0);
    // No Reject was rewritten.
    let (_, body) = rc.admin_get("/metrics");
    assert!(!body.contains("action=\"rewrite\""), "{body}");
}
