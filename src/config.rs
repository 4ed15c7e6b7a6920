//! The configuration: one typed tree read from TOML, validated as a whole before any
//! socket is bound. Every error names the file, line and column it is about, so an
//! operator fixes a bad config without guessing; all errors are reported at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// The configuration used when `serve` gets no `--config`: loopback ports, SQLite.
pub const DEFAULT_CONFIG: &str = include_str!("../docs/radcare.example.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A FreeRADIUS-format dictionary tree to use instead of the built-in one.
    pub dictionary: Option<PathBuf>,
    pub radius: RadiusConfig,
    pub policy: PolicyConfig,
    pub portal: PortalConfig,
    pub store: StoreConfig,
    /// The operators' listener.
    pub admin: AdminConfig,
    /// Built-in demo AAA (for `serve --demo`); off unless asked for.
    pub demo: DemoConfig,
    /// Layer-2 bridge mode: absent unless configured.
    pub bridge: Option<BridgeConfig>,
    /// PPPoE redial observation: absent unless configured.
    pub pppoe: Option<PppoeConfig>,
}

/// Where to watch subscribers dial.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppoeConfig {
    /// A subscriber-side interface or a mirror port carrying the PPPoE traffic.
    pub interface: String,
}

/// The two interfaces of the bump in the wire.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Interface towards the BRAS / NAS.
    pub nas_side: String,
    /// Interface towards the AAA servers.
    pub aaa_side: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadiusConfig {
    pub auth_listen: SocketAddr,
    pub acct_listen: SocketAddr,
    /// Local address the upstream sockets bind to (port 0 = any).
    pub upstream_bind: IpAddr,
    /// How many upstream sockets to spread request IDs over (256 IDs each).
    pub upstream_sockets: usize,
    /// Packet threads, each with its own listening sockets (SO_REUSEPORT: the kernel
    /// keeps each NAS source address and port on one of them) and its own upstream
    /// sockets.
    pub workers: usize,
    /// How long a reply stays in the RFC 5080 duplicate cache.
    #[serde(with = "humantime_serde")]
    pub duplicate_lifetime: Duration,
    /// Accounting for walled-garden sessions: answered by radcare (`answer`) or also
    /// forwarded to the AAA (`forward`).
    pub garden_accounting: GardenAccounting,
    #[serde(rename = "client")]
    pub clients: Vec<ClientConfig>,
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamConfig>,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            auth_listen: "127.0.0.1:1812".parse().expect("literal"),
            acct_listen: "127.0.0.1:1813".parse().expect("literal"),
            upstream_bind: "0.0.0.0".parse().expect("literal"),
            upstream_sockets: 4,
            workers: 1,
            duplicate_lifetime: Duration::from_secs(10),
            garden_accounting: GardenAccounting::Answer,
            clients: Vec::new(),
            upstreams: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GardenAccounting {
    Answer,
    Forward,
}

/// `auto` learns from the peer's first packet, as FreeRADIUS 3.2.5+ does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    #[default]
    Auto,
    Yes,
    No,
}

/// A NAS / BRAS allowed to send us requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub name: String,
    /// An IP address or a CIDR block.
    #[serde(deserialize_with = "ip_or_net")]
    pub address: IpNet,
    pub secret: Secret,
    #[serde(default)]
    pub require_message_authenticator: Tristate,
    #[serde(default)]
    pub limit_proxy_state: Tristate,
    /// The walled-garden profile whose attributes go into a rewritten Accept.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// UDP port of the NAS's RFC 5176 Dynamic Authorization Server.
    #[serde(default = "default_coa_port")]
    pub coa_port: u16,
}

fn default_profile() -> String {
    "filter-id".into()
}

fn default_coa_port() -> u16 {
    3799
}

/// An AAA server; several are tried in order (failover).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    pub auth: SocketAddr,
    pub acct: Option<SocketAddr>,
    pub secret: Secret,
    /// Whether replies must carry a Message-Authenticator (Debian's FreeRADIUS 3.2.1
    /// sends none in Accept/Reject): `auto` requires it once the server has sent one.
    #[serde(default)]
    pub require_message_authenticator: Tristate,
    /// How long to wait for an answer before trying the next upstream.
    #[serde(default = "default_response_window", with = "humantime_serde")]
    pub response_window: Duration,
    /// Consecutive unanswered requests after which the upstream is considered dead.
    #[serde(default = "default_dead_after")]
    pub dead_after: u32,
    /// How often a dead upstream is probed with Status-Server (RFC 5997).
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
}

fn default_response_window() -> Duration {
    Duration::from_secs(2)
}
fn default_dead_after() -> u32 {
    3
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

/// A shared secret. Its `Debug` never shows the value, so it cannot reach a log.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn ip_or_net<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    let s = String::deserialize(d)?;
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        serde::de::Error::custom(format!("`{s}` is neither an IP address nor a CIDR block"))
    })
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    /// Attributes added to the walled-garden Accept, by dictionary name.
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    pub name: String,
    pub value: String,
}

/// Languages the portal has built-in page texts for (BCP 47 tags as in Accept-Language).
pub const PORTAL_LANGUAGES: &[&str] = &["en", "zh-CN"];

/// The captive portal: where it listens, how it identifies subscribers, what it says.
/// Every text has a built-in default in each of [`PORTAL_LANGUAGES`]; what is written
/// here replaces the built-in text field by field (see `portal::texts`).
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub url: Option<String>,
    /// Opening hours or any short note.
    pub hours: Option<Localized>,
}

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HelpTextConfig {
    /// Where to retype the dial-up account name and password.
    pub credentials: OsTextConfig,
    /// How to dial again after a reconnect.
    pub redial: OsTextConfig,
}

/// One text per place where a subscriber does something.
#[derive(Debug, Clone, Default, Deserialize)]
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

fn ip_or_net_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is neither an IP address nor a CIDR block"
                    ))
                })
        })
        .collect()
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

    /// Checks the portal section; `causes` are the cause ids the policy knows.
    fn validate(&self, causes: &[&str]) -> Vec<(Vec<Seg>, String)> {
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
            for c in l
                .causes
                .iter()
                .filter(|c| *c != "none" && !causes.contains(&c.as_str()))
            {
                out.push((at("causes"), format!("link for unknown cause `{c}`")));
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
            if !causes.contains(&cause.as_str()) {
                out.push((
                    vec![Key("portal")],
                    format!("[portal.cause.{cause}]: no such cause (known: built-in and [[policy.cause]] ids)"),
                ));
            }
            for (lang, text) in by_lang {
                if !lang_ok(lang) {
                    out.push((
                        vec![Key("portal")],
                        format!("[portal.cause.{cause}.{lang}]: unknown portal language `{lang}` (the portal has: {langs})"),
                    ));
                }
                if text.steps.as_ref().is_some_and(|s| s.is_empty()) {
                    out.push((
                        vec![Key("portal")],
                        format!("[portal.cause.{cause}.{lang}]: steps must not be empty"),
                    ));
                }
            }
        }
        for lang in self.help.keys().filter(|l| !lang_ok(l)) {
            out.push((
                vec![Key("portal")],
                format!("[portal.help.{lang}]: unknown portal language `{lang}` (the portal has: {langs})"),
            ));
        }
        out
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://FILE` (one node) or `postgres://...` (several nodes sharing state).
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://radcare.db".into(),
        }
    }
}

/// The operators' listener: /metrics, the APIs, later the console. Loopback by
/// default; never reachable by subscribers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9812".parse().expect("literal"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Where the demo AAA listens (auth; accounting is the next port).
    pub listen: SocketAddr,
    pub secret: Secret,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            listen: "127.0.0.1:11812".parse().expect("literal"),
            secret: Secret("aaa-secret".into()),
        }
    }
}

/// One problem found in a config file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every error found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A key path into the document, for locating semantic errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

/// Finds where a key path is written in the TOML text: the `[table]` or the n-th
/// `[[array]]` header, then the key inside that section. Good enough for the layouts we
/// document; an error we cannot place is reported at its section or at 1:1, never lost.
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let (tables, index, key) = match path {
        [t @ .., Seg::Index(i), Seg::Key(k)] => (t, Some(*i), Some(*k)),
        [t @ .., Seg::Key(k)] => (t, None, Some(*k)),
        _ => (path, None, None),
    };
    let names: Vec<&str> = tables
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(*k),
            Seg::Index(_) => None,
        })
        .collect();
    let header = match index {
        Some(_) => format!("[[{}]]", names.join(".")),
        None => format!("[{}]", names.join(".")),
    };
    let mut offset = 0;
    let mut section_start = None;
    let mut seen = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if section_start.is_some() {
                break;
            }
            if trimmed.replace([' ', '\t'], "").starts_with(&header) {
                if index.is_none_or(|i| i == seen) {
                    section_start = Some(offset);
                }
                seen += 1;
            }
        } else if let (Some(_), Some(k)) = (section_start, key) {
            let bare = trimmed.split('=').next().unwrap_or("").trim();
            if bare == k {
                return Some(offset + (line.len() - line.trim_start().len()));
            }
        }
        offset += line.len();
    }
    section_start
}

impl Config {
    /// Parses and validates a config file's text. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigErrors(vec![ConfigError {
                file: file.into(),
                line,
                column,
                message: e.message().to_string(),
            }])
        })?;
        let problems = cfg.validate();
        if problems.is_empty() {
            return Ok(cfg);
        }
        Err(locate_errors(file, text, problems))
    }
}

/// Turns problems found by path into errors with file, line and column.
pub fn locate_errors(file: &str, text: &str, problems: Vec<(Vec<Seg>, String)>) -> ConfigErrors {
    {
        let mut errors: Vec<ConfigError> = problems
            .into_iter()
            .map(|(path, message)| {
                let (line, column) = locate(text, &path).map_or((1, 1), |o| line_col(text, o));
                ConfigError {
                    file: file.into(),
                    line,
                    column,
                    message,
                }
            })
            .collect();
        errors.sort_by_key(|e| (e.line, e.column));
        ConfigErrors(errors)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse(&path.display().to_string(), &text)
    }

    /// The embedded defaults.
    pub fn embedded() -> Config {
        Config::parse("<embedded>", DEFAULT_CONFIG).expect("the embedded config is valid")
    }

    /// Checks what serde cannot: references between sections, empty secrets, clashes.
    /// Dictionary-dependent checks (attribute names, regexes) are done when the policy
    /// is compiled, see `policy::Policy::compile`.
    pub fn validate(&self) -> Vec<(Vec<Seg>, String)> {
        use Seg::*;
        let mut out = Vec::new();
        let r = &self.radius;
        if r.auth_listen == r.acct_listen {
            out.push((
                vec![Key("radius"), Key("acct_listen")],
                "acct_listen must differ from auth_listen".into(),
            ));
        }
        if !(1..=64).contains(&r.workers) {
            out.push((
                vec![Key("radius"), Key("workers")],
                "workers must be between 1 and 64".into(),
            ));
        }
        if !(1..=64).contains(&r.upstream_sockets) {
            out.push((
                vec![Key("radius"), Key("upstream_sockets")],
                "upstream_sockets must be between 1 and 64".into(),
            ));
        }
        for (i, c) in r.clients.iter().enumerate() {
            let at = |k| vec![Key("radius"), Key("client"), Index(i), Key(k)];
            if c.secret.0.is_empty() {
                out.push((
                    at("secret"),
                    format!("client `{}`: secret must not be empty", c.name),
                ));
            }
            if c.name.is_empty() {
                out.push((at("name"), "client name must not be empty".into()));
            }
            let known = crate::policy::BUILTIN_PROFILES.contains(&c.profile.as_str())
                || self.policy.profiles.iter().any(|p| p.name == c.profile);
            if !known {
                out.push((
                    at("profile"),
                    format!(
                        "client `{}`: unknown walled-garden profile `{}`",
                        c.name, c.profile
                    ),
                ));
            }
            if r.clients[..i].iter().any(|o| o.name == c.name) {
                out.push((at("name"), format!("duplicate client name `{}`", c.name)));
            }
        }
        for (i, u) in r.upstreams.iter().enumerate() {
            let at = |k| vec![Key("radius"), Key("upstream"), Index(i), Key(k)];
            if u.secret.0.is_empty() {
                out.push((
                    at("secret"),
                    format!("upstream `{}`: secret must not be empty", u.name),
                ));
            }
            if u.response_window.is_zero() {
                out.push((
                    at("response_window"),
                    "response_window must be positive".into(),
                ));
            }
            if r.upstreams[..i].iter().any(|o| o.name == u.name) {
                out.push((at("name"), format!("duplicate upstream name `{}`", u.name)));
            }
        }
        for (i, c) in self.policy.causes.iter().enumerate() {
            let at = |k| vec![Key("policy"), Key("cause"), Index(i), Key(k)];
            if !c
                .id
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                || c.id.is_empty()
            {
                out.push((
                    at("id"),
                    format!("cause id `{}`: use lowercase letters, digits and `-`", c.id),
                ));
            }
            if let Some(re) = &c.reply_message
                && let Err(e) = regex::Regex::new(re)
            {
                out.push((at("reply_message"), format!("bad regular expression: {e}")));
            }
            for a in &c.attribute {
                if let Err(e) = regex::Regex::new(&a.value) {
                    out.push((
                        at("attribute"),
                        format!("bad regular expression for {}: {e}", a.name),
                    ));
                }
            }
        }
        if let Some(b) = &self.bridge
            && (b.nas_side.is_empty() || b.aaa_side.is_empty() || b.nas_side == b.aaa_side)
        {
            out.push((
                vec![Key("bridge"), Key("nas_side")],
                "bridge needs two different interfaces, nas_side and aaa_side".into(),
            ));
        }
        if self.policy.garden_session_timeout.is_zero() {
            out.push((
                vec![Key("policy"), Key("garden_session_timeout")],
                "garden_session_timeout must be positive".into(),
            ));
        }
        if !(self.store.url.starts_with("sqlite:") || self.store.url.starts_with("postgres")) {
            out.push((
                vec![Key("store"), Key("url")],
                "store url must start with sqlite: or postgres://".into(),
            ));
        }
        let mut causes: Vec<&str> = crate::policy::BUILTIN_CAUSES.to_vec();
        causes.extend(self.policy.causes.iter().map(|c| c.id.as_str()));
        out.extend(self.portal.validate(&causes));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let c = Config::embedded();
        assert_eq!(c.radius.auth_listen.port(), 1812);
        assert!(!c.radius.clients.is_empty());
        assert!(c.store.url.starts_with("sqlite:"));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = Config::parse("x.toml", "[radius]\nauth_listen = 12\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!((e.0[0].line, e.0[0].column), (2, 15), "{e}");
        assert!(e.to_string().starts_with("x.toml:2:15: "), "{e}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = Config::parse("x.toml", "[radius]\nauth_lisen = \"1.2.3.4:1\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `auth_lisen`"), "{e}");
        assert!(e.to_string().starts_with("x.toml:2:"), "{e}");
    }

    #[test]
    fn semantic_errors_all_reported_with_lines() {
        let text = r#"
[radius]
auth_listen = "127.0.0.1:1812"
acct_listen = "127.0.0.1:1813"

[[radius.client]]
name = "a"
address = "10.0.0.0/8"
secret = "x"

[[radius.client]]
name = "b"
address = "10.1.0.1"
secret = ""
profile = "nope"
"#;
        let e = Config::parse("c.toml", text).unwrap_err();
        let s = e.to_string();
        assert_eq!(e.0.len(), 2, "{s}");
        assert!(
            s.contains("c.toml:14:1: client `b`: secret must not be empty"),
            "{s}"
        );
        assert!(
            s.contains("c.toml:15:1: client `b`: unknown walled-garden profile `nope`"),
            "{s}"
        );
    }

    #[test]
    fn workers_out_of_range_names_its_line() {
        let text = "[radius]\nworkers = 0\n";
        let e = Config::parse("w.toml", text).unwrap_err().to_string();
        assert!(
            e.contains("w.toml:2:1") && e.contains("workers must be between 1 and 64"),
            "{e}"
        );
        assert_eq!(
            Config::parse("w.toml", "[radius]\nworkers = 4\n")
                .unwrap()
                .radius
                .workers,
            4
        );
    }

    #[test]
    fn bad_address_is_explained() {
        let text = "[[radius.client]]\nname = \"a\"\naddress = \"10.0.0.0/33\"\nsecret = \"x\"\n";
        let e = Config::parse("c.toml", text).unwrap_err().to_string();
        assert!(e.contains("neither an IP address nor a CIDR block"), "{e}");
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let c = Config::embedded();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(&c.radius.clients[0].secret.0));
    }
}
