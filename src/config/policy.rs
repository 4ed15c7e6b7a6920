//! `[policy]`: cause rules and walled-garden profiles as written. Their regular
//! expressions and attribute names are checked where they are compiled, against the
//! dictionary (`policy::Policy::compile`).

use std::time::Duration;

use serde::Deserialize;

use super::{Problem, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Replace the built-in cause table instead of adding rules in front of it.
    pub replace_builtin_causes: bool,
    /// Extra or overriding cause rules, tried before the built-in ones, in order.
    #[serde(rename = "cause")]
    pub causes: Vec<CauseConfig>,
    /// Extra walled-garden profiles (or overrides of the built-in ones by name).
    #[serde(rename = "profile")]
    pub profiles: Vec<ProfileConfig>,
    /// Session-Timeout of a walled-garden Accept: short, so that a fixed account gets
    /// through on the next dial.
    #[serde(with = "humantime_serde")]
    pub garden_session_timeout: Duration,
    /// When an ambiguous Reject (action `redial`) counts as a subscriber's router
    /// redialling rather than a one-off try.
    pub redial: RedialConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            replace_builtin_causes: false,
            causes: Vec::new(),
            profiles: Vec::new(),
            garden_session_timeout: Duration::from_secs(300),
            redial: RedialConfig::default(),
        }
    }
}

/// `[policy.redial]`: a Reject that does not say why (stock FreeRADIUS sends the same
/// bare Reject for an unknown user and a wrong password) is rewritten only once the
/// same User-Name, Calling-Station-Id and NAS were rejected `rejects` times within
/// `window`: a router redialling with stored credentials, not a scan of names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedialConfig {
    pub rejects: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Subscribers remembered per packet thread; beyond it the oldest are forgotten
    /// (and counted), so a flood of names cannot grow memory.
    pub remember: usize,
}

impl Default for RedialConfig {
    fn default() -> Self {
        RedialConfig {
            rejects: 3,
            window: Duration::from_secs(600),
            remember: 65536,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Turn the Reject into a walled-garden Accept.
    Rewrite,
    /// Pass the Reject to the NAS unchanged in meaning.
    Pass,
    /// Rewrite only a subscriber who keeps redialling (`[policy.redial]`), pass
    /// otherwise: for Rejects that do not say whether the user exists.
    Redial,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseConfig {
    pub id: String,
    pub action: Option<Action>,
    /// MS-CHAP-Error `E=` codes.
    #[serde(default)]
    pub ms_chap_error: Vec<u32>,
    /// A regular expression over Reply-Message.
    pub reply_message: Option<String>,
    /// Any dictionary attribute whose value (as text) matches a regular expression.
    #[serde(default)]
    pub attribute: Vec<AttributeMatch>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    /// Attributes added to the walled-garden Accept, by dictionary name.
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    pub name: String,
    pub value: String,
}

/// Longest cause id: it is a metrics label, a portal key, and part of the Class tag.
pub const MAX_CAUSE_ID: usize = 64;

impl PolicyConfig {
    pub fn validate(&self) -> Vec<Problem> {
        use Seg::*;
        let mut out = Vec::new();
        for (i, c) in self.causes.iter().enumerate() {
            // Ids name portal texts and metrics labels: keep them plain.
            let plain =
                c.id.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
            if c.id.is_empty() || !plain {
                out.push((
                    vec![Key("policy"), Key("cause"), Index(i), Key("id")],
                    format!("cause id `{}`: use lowercase letters, digits and `-`", c.id),
                ));
            }
            // It travels in the Class tag of a garden Accept, within one attribute.
            if c.id.len() > MAX_CAUSE_ID {
                out.push((
                    vec![Key("policy"), Key("cause"), Index(i), Key("id")],
                    format!("cause id `{}`: at most {MAX_CAUSE_ID} characters", c.id),
                ));
            }
        }
        let r = &self.redial;
        if r.rejects == 0 {
            out.push((
                vec![Key("policy"), Key("redial"), Key("rejects")],
                "redial.rejects must be at least 1".into(),
            ));
        }
        if r.window.is_zero() {
            out.push((
                vec![Key("policy"), Key("redial"), Key("window")],
                "redial.window must be positive".into(),
            ));
        }
        if !(1..=16_777_216).contains(&r.remember) {
            out.push((
                vec![Key("policy"), Key("redial"), Key("remember")],
                "redial.remember must be between 1 and 16777216".into(),
            ));
        }
        if self.garden_session_timeout.is_zero() {
            out.push((
                vec![Key("policy"), Key("garden_session_timeout")],
                "garden_session_timeout must be positive".into(),
            ));
        }
        out
    }
}
