//! `[store]`: where the garden's state is kept.

use serde::Deserialize;

use super::{Problem, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
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

impl StoreConfig {
    pub fn validate(&self) -> Vec<Problem> {
        if self.url.starts_with("sqlite:") || self.url.starts_with("postgres") {
            return Vec::new();
        }
        vec![(
            vec![Seg::Key("store"), Seg::Key("url")],
            "store url must start with sqlite: or postgres://".into(),
        )]
    }
}
