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
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            replace_builtin_causes: false,
            causes: Vec::new(),
            profiles: Vec::new(),
            garden_session_timeout: Duration::from_secs(300),
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
