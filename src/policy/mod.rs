//! Policy: which Reject is which cause (the cause table), and what a walled-garden
//! Accept carries (profiles). Compiled once from config and the dictionary, then
//! shared read-only by the packet path.

mod cause;
mod profile;

pub use cause::{
    BUILTIN_CAUSES, CauseRule, Classification, Matched, Verdict, Why, builtin_causes, reason_text,
};
pub use profile::{BUILTIN_PROFILES, Profile};

use crate::config::{Config, Seg};
use crate::dict::Dictionary;

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub causes: Vec<CauseRule>,
    pub profiles: Vec<Profile>,
    /// Session-Timeout of walled-garden Accepts, in seconds.
    pub garden_session_timeout: u32,
}

impl Policy {
    /// Compiles the cause table and profiles, and checks that the profiles and causes
    /// other sections name exist; errors carry the config path they are about.
    pub fn compile(cfg: &Config, dict: &Dictionary) -> Result<Policy, Vec<(Vec<Seg>, String)>> {
        let mut errors = Vec::new();
        let causes = cause::compile(&cfg.policy, dict, &mut errors);
        let profiles = profile::compile(cfg, dict, &mut errors);
        check_references(cfg, &causes, &profiles, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            causes,
            profiles,
            garden_session_timeout: cfg
                .policy
                .garden_session_timeout
                .as_secs()
                .min(u32::MAX as u64) as u32,
        })
    }

    /// Classifies a Reject with its explanation (allocates; for people).
    pub fn classify(&self, reject: &[u8], dict: &Dictionary) -> Classification {
        cause::classify(&self.causes, reject, dict)
    }

    /// Classifies a Reject on the packet path: no text, no allocation.
    pub fn verdict(&self, reject: &[u8], dict: &Dictionary) -> Verdict {
        cause::verdict(&self.causes, reject, dict)
    }

    pub fn cause_id(&self, index: usize) -> &str {
        self.causes.get(index).map_or("unknown", |c| c.id.as_str())
    }

    pub fn profile(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    pub fn cause_ids(&self) -> impl Iterator<Item = &str> {
        self.causes.iter().map(|c| c.id.as_str())
    }
}

/// The profiles and causes named outside `[policy]` must be ones the policy has.
fn check_references(
    cfg: &Config,
    causes: &[CauseRule],
    profiles: &[Profile],
    errors: &mut Vec<(Vec<Seg>, String)>,
) {
    use Seg::*;
    for (i, c) in cfg.radius.clients.iter().enumerate() {
        if !profiles.iter().any(|p| p.name == c.profile) {
            errors.push((
                vec![Key("radius"), Key("client"), Index(i), Key("profile")],
                format!(
                    "client `{}`: unknown walled-garden profile `{}`",
                    c.name, c.profile
                ),
            ));
        }
    }
    let cause_known = |id: &str| causes.iter().any(|c| c.id == id);
    for (i, l) in cfg.portal.links.iter().enumerate() {
        // `none` is the page for visitors the garden does not know.
        for c in l.causes.iter().filter(|c| *c != "none" && !cause_known(c)) {
            errors.push((
                vec![Key("portal"), Key("link"), Index(i), Key("causes")],
                format!("link for unknown cause `{c}`"),
            ));
        }
    }
    for cause in cfg.portal.causes.keys().filter(|c| !cause_known(c)) {
        errors.push((
            vec![Key("portal"), Key("cause")],
            format!(
                "[portal.cause.{cause}]: no such cause (known: built-in and [[policy.cause]] ids)"
            ),
        ));
    }
}
