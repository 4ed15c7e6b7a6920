//! Policy: which Reject is which cause (the cause table), and what a walled-garden
//! Accept carries (profiles). Compiled once from config and the dictionary, then
//! shared read-only by the packet path.

mod cause;
mod profile;
mod redial;

pub use cause::{
    BUILTIN_CAUSES, CauseRule, Classification, Matched, Verdict, Why, builtin_causes, reason_text,
};
pub use profile::{BUILTIN_PROFILES, Profile};
pub use redial::Redials;

use crate::config::{Action, Config, RedialConfig, Seg};
use crate::dict::Dictionary;

/// What to do with one Reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    Yes,
    No,
    /// Ambiguous, and the subscriber is not redialling (yet): pass it.
    AwaitingRedial,
}

impl Verdict {
    /// Whether this Reject becomes a walled-garden Accept, given whether its
    /// authentication method allows one. `redial` counts the Reject against the
    /// subscriber (`subscriber`: a keyed hash of User-Name, Calling-Station-Id and NAS)
    /// and says yes once they redial.
    pub fn rewrite(
        &self,
        method_allows: bool,
        redials: &mut Redials,
        now: std::time::Instant,
        subscriber: u64,
    ) -> Rewrite {
        match (self.action, method_allows) {
            (_, false) | (Action::Pass, _) => Rewrite::No,
            (Action::Rewrite, true) => Rewrite::Yes,
            (Action::Redial, true) if redials.reject(now, subscriber) => Rewrite::Yes,
            (Action::Redial, true) => Rewrite::AwaitingRedial,
        }
    }
}

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub causes: Vec<CauseRule>,
    pub profiles: Vec<Profile>,
    /// Session-Timeout of walled-garden Accepts, in seconds.
    pub garden_session_timeout: u32,
    /// When an ambiguous Reject's subscriber counts as redialling.
    pub redial: RedialConfig,
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
            redial: cfg.policy.redial.clone(),
        })
    }

    /// Classifies a Reject with its explanation (allocates; for people).
    /// `user` is the request's User-Name (empty if unknown): where the Reply-Message
    /// echoes it, it is not read as a cause.
    pub fn classify(&self, reject: &[u8], user: &[u8], dict: &Dictionary) -> Classification {
        cause::classify(&self.causes, reject, user, dict)
    }

    /// Classifies a Reject on the packet path: no text, no allocation.
    pub fn verdict(&self, reject: &[u8], user: &[u8], dict: &Dictionary) -> Verdict {
        cause::verdict(&self.causes, reject, user, dict)
    }

    pub fn cause_id(&self, index: usize) -> &str {
        self.causes.get(index).map_or("unknown", |c| c.id.as_str())
    }

    pub fn profile(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    /// Each cause id once, in table order (a cause may have several rules).
    pub fn cause_ids(&self) -> impl Iterator<Item = &str> {
        self.causes
            .iter()
            .enumerate()
            .filter(|(i, c)| !self.causes[..*i].iter().any(|o| o.id == c.id))
            .map(|(_, c)| c.id.as_str())
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
    let known = match cfg.policy.replace_builtin_causes {
        false => "built-in and [[policy.cause]] ids",
        true => "[[policy.cause]] ids, as replace_builtin_causes is set",
    };
    for cause in cfg.portal.causes.keys().filter(|c| !cause_known(c)) {
        errors.push((
            vec![Key("portal"), Key("cause"), Name(cause.clone())],
            format!("[portal.cause.{cause}]: no such cause (known: {known})"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::locate_errors;

    fn compile_errors(text: &str) -> String {
        let cfg = Config::parse("r.toml", text).unwrap_or_else(|e| panic!("{e}"));
        let dict = Dictionary::builtin().unwrap();
        let problems = Policy::compile(&cfg, &dict).expect_err("refused");
        locate_errors("r.toml", text, problems).to_string()
    }

    #[test]
    fn references_are_checked_and_located() {
        let text = r#"radius.client = [
  { name = "a", address = "10.0.0.0/8", secret = "x", profile = "nope" },
]
[[portal.link]]
label = "Pay"
url = "https://pay.example/"
causes = ["arrears", "no-such"]

[portal.cause.gone.en]
title = "x"
"#;
        assert_eq!(
            compile_errors(text),
            "r.toml:2:55: client `a`: unknown walled-garden profile `nope`\n\
             r.toml:7:1: link for unknown cause `no-such`\n\
             r.toml:9:15: [portal.cause.gone]: no such cause (known: built-in and [[policy.cause]] ids)"
        );
    }

    #[test]
    fn replaced_builtin_causes_are_no_longer_known() {
        let text = r#"[policy]
replace_builtin_causes = true
[[policy.cause]]
id = "arrears"
reply_message = "(?i)credit"
[portal.cause.wrong-password.en]
title = "x"
[portal.cause.arrears.en]
title = "y"
"#;
        let e = compile_errors(text);
        assert_eq!(
            e,
            "r.toml:6:15: [portal.cause.wrong-password]: no such cause \
             (known: [[policy.cause]] ids, as replace_builtin_causes is set)"
        );
    }
}
