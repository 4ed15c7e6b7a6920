//! A checked packet (as an upstream Reject would arrive) -> `Policy::classify`, against
//! the built-in cause table plus site rules that match on attributes, so the attribute
//! decoders and regexes are on the path too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use radcare::config::Config;
use radcare::dict::Dictionary;
use radcare::policy::Policy;
use radcare::wire::Packet;

const CONFIG: &str = r#"
[[policy.cause]]
id = "arrears"
action = "rewrite"
reply_message = "(?i)prepaid credit exhausted"
attribute = [{ name = "Huawei-Error-Reason", value = "^(1[0-9]|balance)$" }]

[[policy.cause]]
id = "site-attrs"
action = "pass"
ms_chap_error = [646, 647]
attribute = [
  { name = "Filter-Id", value = "(?i)blocked" },
  { name = "Framed-IP-Address", value = "^10\\." },
  { name = "Tunnel-Type", value = "^:1 " },
  { name = "Tunnel-Password", value = "^:2 " },
  { name = "Class", value = "^0x00" },
  { name = "Event-Timestamp", value = "^2026-" },
  { name = "Service-Type", value = "Login" },
]
"#;

fn setup() -> &'static (Policy, Dictionary) {
    static SETUP: OnceLock<(Policy, Dictionary)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let cfg = Config::parse("classify.toml", CONFIG).expect("fuzz config is valid");
        let dict = Dictionary::builtin().expect("builtin dictionary loads");
        let policy = Policy::compile(&cfg, &dict).expect("fuzz policy compiles");
        (policy, dict)
    })
}

fuzz_target!(|data: &[u8]| {
    if Packet::new_checked(data).is_err() {
        return;
    }
    let (policy, dict) = setup();
    let c = policy.classify(data, dict);
    assert!(c.index < policy.causes.len(), "{c:?}");
    assert_eq!(policy.causes[c.index].id, c.id);
});
