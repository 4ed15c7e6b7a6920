//! `[portal]`: the captive portal's listener, how it trusts proxies, and its texts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::values::ip_or_net_list;
use super::{Problem, Seg};

/// Languages the portal has built-in page texts for (BCP 47 tags as in Accept-Language).
pub const PORTAL_LANGUAGES: &[&str] = &["en", "zh-CN"];

/// The captive portal: where it listens, how it identifies subscribers, what it says.
/// Every text has a built-in default in each of [`PORTAL_LANGUAGES`]; what is written
/// here replaces the built-in text field by field (see `portal::texts`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    pub listen: SocketAddr,
    /// Absolute URL of the portal page that OS probes and every other garden request
    /// are redirected to. Default: `http://<listen>/`.
    pub public_url: Option<String>,
    /// RFC 8908 `venue-info-url`: a page about the operator, if there is one.
    pub venue_info_url: Option<String>,
    /// Language used when neither `?lang=` nor Accept-Language names one we have.
    pub default_language: String,
    /// Reverse proxies (IPs or CIDR blocks) in front of the portal. Only requests from
    /// these have their X-Forwarded-For and BRAS redirect parameters believed.
    #[serde(deserialize_with = "ip_or_net_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// Query parameters in which a BRAS redirect names the subscriber's IP address.
    pub ip_params: Vec<String>,
    /// Query parameters in which a BRAS redirect names the subscriber's MAC address.
    pub mac_params: Vec<String>,
    /// A subscriber may ask for a reconnect once per this interval.
    #[serde(with = "humantime_serde")]
    pub reconnect_interval: Duration,
    /// How many times a Disconnect-Request is sent before giving up.
    pub disconnect_tries: u32,
    /// How long to wait for the NAS's answer after each try.
    #[serde(with = "humantime_serde")]
    pub disconnect_timeout: Duration,
    pub brand: BrandConfig,
    pub support: SupportConfig,
    /// Extra links (payment site, self-service, ...) shown on the pages.
    #[serde(rename = "link")]
    pub links: Vec<LinkConfig>,
    /// Texts of a cause by language: `[portal.cause.<cause-id>.<lang>]`.
    #[serde(rename = "cause")]
    pub causes: BTreeMap<String, BTreeMap<String, CauseTextConfig>>,
    /// Where-to-type and how-to-redial help by language: `[portal.help.<lang>.*]`.
    pub help: BTreeMap<String, HelpTextConfig>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: "127.0.0.1:8080".parse().expect("literal"),
            public_url: None,
            venue_info_url: None,
            default_language: "en".into(),
            trusted_proxies: Vec::new(),
            ip_params: ["userip", "wlanuserip", "ip"].map(String::from).into(),
            mac_params: ["usermac", "wlanusermac", "mac"].map(String::from).into(),
            reconnect_interval: Duration::from_secs(30),
            disconnect_tries: 3,
            disconnect_timeout: Duration::from_secs(2),
            brand: BrandConfig::default(),
            support: SupportConfig::default(),
            links: Vec::new(),
            causes: BTreeMap::new(),
            help: BTreeMap::new(),
        }
    }
}

/// A text given once for every language, or as a table `{ en = "...", zh-CN = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a string, or a table of language = string")]
pub enum Localized {
    Same(String),
    ByLanguage(BTreeMap<String, String>),
}

impl Localized {
    /// The text for `lang`, else for `fallback`, else any.
    pub fn get(&self, lang: &str, fallback: &str) -> &str {
        match self {
            Localized::Same(s) => s,
            Localized::ByLanguage(m) => m
                .get(lang)
                .or_else(|| m.get(fallback))
                .or_else(|| m.values().next())
                .map_or("", String::as_str),
        }
    }

    fn languages(&self) -> impl Iterator<Item = &str> {
        let keys = match self {
            Localized::Same(_) => None,
            Localized::ByLanguage(m) => Some(m.keys().map(String::as_str)),
        };
        keys.into_iter().flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandConfig {
    /// The operator's name in the page header and title.
    pub name: Localized,
    /// Accent colour, `#rgb` or `#rrggbb`.
    pub colour: String,
}

impl Default for BrandConfig {
    fn default() -> Self {
        BrandConfig {
            name: Localized::ByLanguage(BTreeMap::from([
                ("en".to_string(), "Broadband help".to_string()),
                ("zh-CN".to_string(), "宽带助手".to_string()),
            ])),
            colour: "#0b63c5".into(),
        }
    }
}

/// How subscribers reach a person. Unset fields are not shown.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub url: Option<String>,
    /// Opening hours or any short note.
    pub hours: Option<Localized>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    pub label: Localized,
    pub url: String,
    /// Cause ids whose page shows the link (`none` = the page for unknown visitors);
    /// empty = every page.
    #[serde(default)]
    pub causes: Vec<String>,
}

/// Replaces built-in texts of one cause in one language, field by field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CauseTextConfig {
    /// The heading: what happened, in a few words.
    pub title: Option<String>,
    /// What happened, in plain words.
    pub summary: Option<String>,
    /// The fix, step by step.
    pub steps: Option<Vec<String>>,
}

/// Replaces built-in help texts of one language.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HelpTextConfig {
    /// Where to retype the dial-up account name and password.
    pub credentials: OsTextConfig,
    /// How to dial again after a reconnect.
    pub redial: OsTextConfig,
}

/// One text per place where a subscriber does something.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsTextConfig {
    /// On a home router that dials PPPoE.
    pub router: Option<String>,
    pub windows: Option<String>,
    pub macos: Option<String>,
    pub linux: Option<String>,
    pub ios: Option<String>,
    pub android: Option<String>,
}

/// An absolute http(s) URL that is safe to put in an attribute or a header.
fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && s.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
    })
}

fn is_colour(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|h| matches!(h.len(), 3 | 6) && h.chars().all(|c| c.is_ascii_hexdigit()))
}

impl PortalConfig {
    /// The absolute URL of the portal page.
    pub fn portal_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => format!("http://{}/", self.listen),
        }
    }

    /// Checks the portal section alone; the cause ids it names are checked against the
    /// compiled policy (`policy::Policy::compile`).
    pub fn validate(&self) -> Vec<Problem> {
        use Seg::*;
        let mut out = Vec::new();
        let at = |k: &'static str| vec![Key("portal"), Key(k)];
        let lang_ok = |l: &str| PORTAL_LANGUAGES.contains(&l);
        let langs = PORTAL_LANGUAGES.join(", ");
        if !lang_ok(&self.default_language) {
            out.push((
                at("default_language"),
                format!(
                    "unknown portal language `{}` (the portal has: {langs})",
                    self.default_language
                ),
            ));
        }
        match &self.public_url {
            Some(u) if !is_http_url(u) => out.push((
                at("public_url"),
                format!("public_url `{u}` must be an absolute http:// or https:// URL"),
            )),
            None if self.listen.ip().is_unspecified() => out.push((
                at("listen"),
                format!(
                    "the portal listens on {} (any address): set public_url to the \
                     address subscribers reach it at",
                    self.listen
                ),
            )),
            _ => {}
        }
        if let Some(u) = self.venue_info_url.as_ref().filter(|u| !is_http_url(u)) {
            out.push((
                at("venue_info_url"),
                format!("venue_info_url `{u}` must be an absolute http:// or https:// URL"),
            ));
        }
        if !(1..=10).contains(&self.disconnect_tries) {
            out.push((
                at("disconnect_tries"),
                "disconnect_tries must be between 1 and 10".into(),
            ));
        }
        if self.disconnect_timeout.is_zero() || self.disconnect_timeout > Duration::from_secs(30) {
            out.push((
                at("disconnect_timeout"),
                "disconnect_timeout must be between 1ms and 30s".into(),
            ));
        }
        if !is_colour(&self.brand.colour) {
            out.push((
                vec![Key("portal"), Key("brand"), Key("colour")],
                format!(
                    "brand colour `{}` must be #rgb or #rrggbb",
                    self.brand.colour
                ),
            ));
        }
        let mut localized = vec![(
            vec![Key("portal"), Key("brand"), Key("name")],
            &self.brand.name,
        )];
        if let Some(h) = &self.support.hours {
            localized.push((vec![Key("portal"), Key("support"), Key("hours")], h));
        }
        if let Some(u) = self.support.url.as_ref().filter(|u| !is_http_url(u)) {
            out.push((
                vec![Key("portal"), Key("support"), Key("url")],
                format!("support url `{u}` must be an absolute http:// or https:// URL"),
            ));
        }
        for (i, l) in self.links.iter().enumerate() {
            let at = |k| vec![Key("portal"), Key("link"), Index(i), Key(k)];
            if !is_http_url(&l.url) {
                out.push((
                    at("url"),
                    format!(
                        "link url `{}` must be an absolute http:// or https:// URL",
                        l.url
                    ),
                ));
            }
            localized.push((at("label"), &l.label));
        }
        for (path, text) in localized {
            for l in text.languages().filter(|l| !lang_ok(l)) {
                out.push((
                    path.clone(),
                    format!("unknown portal language `{l}` (the portal has: {langs})"),
                ));
            }
        }
        for (cause, by_lang) in &self.causes {
            for (lang, text) in by_lang {
                let at = || {
                    vec![
                        Key("portal"),
                        Key("cause"),
                        Name(cause.clone()),
                        Name(lang.clone()),
                    ]
                };
                if !lang_ok(lang) {
                    out.push((
                        at(),
                        format!("[portal.cause.{cause}.{lang}]: unknown portal language `{lang}` (the portal has: {langs})"),
                    ));
                }
                if text.steps.as_ref().is_some_and(|s| s.is_empty()) {
                    out.push((
                        [at(), vec![Key("steps")]].concat(),
                        format!("[portal.cause.{cause}.{lang}]: steps must not be empty"),
                    ));
                }
            }
        }
        for lang in self.help.keys().filter(|l| !lang_ok(l)) {
            out.push((
                vec![Key("portal"), Key("help"), Name(lang.clone())],
                format!("[portal.help.{lang}]: unknown portal language `{lang}` (the portal has: {langs})"),
            ));
        }
        out
    }
}
