//! The configuration: one typed tree read from TOML, validated as a whole before any
//! socket is bound. Every error names the file, line and column it is about, so an
//! operator fixes a bad config without guessing; all errors are reported at once.
//!
//! Each section is a module that checks itself. What needs the dictionary or the
//! compiled policy (attribute names, regexes, which profiles and causes exist) is
//! checked by `policy::Policy::compile`, located the same way ([`locate_errors`]).

mod admin;
mod bridge;
mod demo;
mod locate;
mod planner;
mod policy;
mod portal;
mod radius;
mod relay;
pub mod reload;
mod store;
mod terminal;
mod values;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use admin::AdminConfig;
pub use bridge::{BridgeConfig, PppoeConfig};
pub use demo::DemoConfig;
pub use locate::locate_errors;
pub use planner::PlannerConfig;
pub use policy::{
    Action, AttributeMatch, AttributeValue, CauseConfig, PolicyConfig, ProfileConfig, RedialConfig,
};
pub use portal::{
    BrandConfig, CauseTextConfig, HelpTextConfig, LinkConfig, Localized, OsTextConfig,
    PORTAL_LANGUAGES, PortalConfig, SupportConfig,
};
pub use radius::{ClientConfig, GardenAccounting, RadiusConfig, Tristate, UpstreamConfig};
pub use relay::{RelayConfig, RelayRole};
pub use store::StoreConfig;
pub use terminal::{FaultsConfig, NoticesConfig, PhoneChannel, TerminalConfig};
pub use values::Secret;

/// The configuration used when `serve` gets no `--config`: loopback ports, SQLite.
pub const DEFAULT_CONFIG: &str = include_str!("../../docs/radcare.example.toml");

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A FreeRADIUS-format dictionary tree to use instead of the built-in one.
    pub dictionary: Option<PathBuf>,
    pub radius: RadiusConfig,
    pub policy: PolicyConfig,
    pub portal: PortalConfig,
    pub store: StoreConfig,
    /// Built-in demo AAA (for `serve --demo`); off unless asked for.
    pub demo: DemoConfig,
    /// The operators' listener.
    pub admin: AdminConfig,
    /// The devices' listener and the software deployment service.
    pub terminal: TerminalConfig,
    /// Layer-2 bridge mode: absent unless configured.
    pub bridge: Option<BridgeConfig>,
    /// PPPoE redial observation: absent unless configured.
    pub pppoe: Option<PppoeConfig>,
    /// One end of the resumable relay: absent unless configured.
    pub relay: Option<RelayConfig>,
    /// Upgrade planning: reading the download nodes' load.
    pub planner: PlannerConfig,
}

/// One problem found in a config file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every error found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A key path into the document, for locating semantic errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    /// A key the operator chose: a cause id, a language.
    Name(String),
    Index(usize),
}

/// A problem found by a check: where (as a key path) and what.
pub type Problem = (Vec<Seg>, String);

impl Config {
    /// Parses and validates a config file's text. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let cfg = Config::read(file, text)?;
        let problems = cfg.validate();
        if problems.is_empty() {
            return Ok(cfg);
        }
        Err(locate_errors(file, text, problems))
    }

    /// Parses a config file's text, checking syntax and types only: for a caller that
    /// runs [`Config::validate`] together with later checks, to report all at once.
    pub fn read(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| locate::line_col(text, s.start));
            ConfigErrors(vec![ConfigError {
                file: file.into(),
                line,
                column,
                message: e.message().to_string(),
            }])
        })
    }

    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse(&file, &text)
    }

    /// The embedded defaults.
    pub fn embedded() -> Config {
        Config::parse("<embedded>", DEFAULT_CONFIG).expect("the embedded config is valid")
    }

    /// Checks what serde cannot and the config alone can: ranges, empty secrets,
    /// clashes between sections.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = self.radius.validate();
        out.extend(self.policy.validate());
        out.extend(self.portal.validate());
        out.extend(self.store.validate());
        out.extend(self.planner.validate());
        out.extend(self.admin.validate(&self.portal));
        out.extend(self.terminal.validate(&self.portal, &self.admin));
        if let Some(b) = &self.bridge {
            out.extend(b.validate());
        }
        if let Some(r) = &self.relay {
            out.extend(r.validate());
        }
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
coa_port = 3799
[store]
url = "mysql://x"
"#;
        let e = Config::parse("c.toml", text).unwrap_err();
        let s = e.to_string();
        assert_eq!(e.0.len(), 2, "{s}");
        assert!(
            s.contains("c.toml:14:1: client `b`: secret must not be empty"),
            "{s}"
        );
        assert!(
            s.contains("c.toml:17:1: store url must start with sqlite:"),
            "{s}"
        );
    }

    #[test]
    fn dotted_keys_are_located() {
        let text = "# top\nradius.workers = 0\n[store]\nurl = \"sqlite://x\"\n";
        let e = Config::parse("d.toml", text).unwrap_err().to_string();
        assert_eq!(e, "d.toml:2:8: workers must be between 1 and 64");
        let text = "[radius]\nclient = [\n  { name = \"a\", address = \"10.0.0.0/8\", secret = \"\" },\n]\n";
        let e = Config::parse("d.toml", text).unwrap_err().to_string();
        assert_eq!(e, "d.toml:3:41: client `a`: secret must not be empty");
        let text =
            "\nradius.client = [{ name = \"a\", address = \"10.0.0.0/8\", secret = \"\" }]\n";
        let e = Config::parse("d.toml", text).unwrap_err().to_string();
        assert_eq!(e, "d.toml:2:56: client `a`: secret must not be empty");
    }

    #[test]
    fn operator_chosen_keys_are_located() {
        let text = "[store]\nurl = \"sqlite://x\"\n[portal.cause.arrears.xx]\nsteps = []\n";
        let e = Config::parse("p.toml", text).unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert!(
            lines[0].starts_with("p.toml:3:1: [portal.cause.arrears.xx]: unknown portal language"),
            "{e}"
        );
        assert_eq!(
            lines[1],
            "p.toml:4:1: [portal.cause.arrears.xx]: steps must not be empty"
        );
    }

    #[test]
    fn a_default_is_located_at_its_table() {
        // acct_listen is not written: the error points at the [radius] header.
        let text = "[store]\nurl = \"sqlite://x\"\n\n[radius]\nauth_listen = \"127.0.0.1:1813\"\n";
        let e = Config::parse("t.toml", text).unwrap_err().to_string();
        assert_eq!(e, "t.toml:4:1: acct_listen must differ from auth_listen");
    }

    #[test]
    fn admin_must_not_share_the_portal_listener() {
        let text = "[portal]\nlisten = \"127.0.0.1:8080\"\n[admin]\nlisten = \"127.0.0.1:8080\"\n";
        let e = Config::parse("a.toml", text).unwrap_err().to_string();
        assert!(
            e.starts_with("a.toml:4:1: admin listen must differ from portal listen"),
            "{e}"
        );
        assert_eq!(
            Config::embedded().admin.listen,
            "127.0.0.1:9812".parse().unwrap()
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
