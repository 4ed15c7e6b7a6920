//! What a reload may apply while running. Only what is known to be applied live is
//! excluded from the comparison; everything else, including any section added later,
//! needs a restart.

use super::{Config, RadiusConfig};

/// The sections of `new` that differ from `old` in what only a restart applies: all but
/// the RADIUS client list, the policy, the dictionary and `[portal]` but its listener.
/// Empty when the reload can be applied.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    // Exhaustive on purpose: a new field does not compile until it is decided here.
    let Config {
        dictionary: _,
        radius,
        policy: _,
        portal,
        store,
        demo,
        admin,
        terminal,
        bridge,
        pppoe,
        relay,
        planner,
    } = new;
    let mut out = Vec::new();
    if radius_needs_restart(&old.radius, radius) {
        out.push("[radius] listeners, workers, sockets or upstreams");
    }
    // The rest of [portal] (texts, brand, links, identification) is applied live.
    if portal.listen != old.portal.listen {
        out.push("[portal] listen");
    }
    if *store != old.store {
        out.push("[store]");
    }
    if *demo != old.demo {
        out.push("[demo]");
    }
    // The bridge's threads hold the config they started with.
    if *bridge != old.bridge || old.bridge.is_some() {
        out.push("[bridge] (bridge mode is not reloaded)");
    }
    if *pppoe != old.pppoe {
        out.push("[pppoe]");
    }
    if *relay != old.relay {
        out.push("[relay]");
    }
    if *admin != old.admin {
        out.push("[admin]");
    }
    if *terminal != old.terminal {
        out.push("[terminal]");
    }
    // The probe keeps the interval it started with.
    if *planner != old.planner {
        out.push("[planner]");
    }
    out
}

fn radius_needs_restart(old: &RadiusConfig, new: &RadiusConfig) -> bool {
    let RadiusConfig {
        auth_listen,
        acct_listen,
        upstream_bind,
        upstream_sockets,
        workers,
        duplicate_lifetime,
        garden_accounting,
        clients: _,
        upstreams,
    } = new;
    (
        auth_listen,
        acct_listen,
        upstream_bind,
        upstream_sockets,
        workers,
        duplicate_lifetime,
        garden_accounting,
        upstreams,
    ) != (
        &old.auth_listen,
        &old.acct_listen,
        &old.upstream_bind,
        &old.upstream_sockets,
        &old.workers,
        &old.duplicate_lifetime,
        &old.garden_accounting,
        &old.upstreams,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientConfig, Secret};

    #[test]
    fn same_config_needs_nothing() {
        let c = Config::embedded();
        assert!(needs_restart(&c, &c.clone()).is_empty());
    }

    #[test]
    fn portal_listen_needs_restart() {
        let old = Config::embedded();
        let mut new = old.clone();
        new.portal.listen = "127.0.0.1:8081".parse().unwrap();
        assert_eq!(needs_restart(&old, &new), ["[portal] listen"]);
    }

    #[test]
    fn clients_and_policy_are_applied_live() {
        let old = Config::embedded();
        let mut new = old.clone();
        new.radius.clients.push(ClientConfig {
            name: "bras-2".into(),
            ..old.radius.clients[0].clone()
        });
        new.radius.clients[0].secret = Secret("changed".into());
        new.policy.garden_session_timeout *= 2;
        new.portal.default_language = "zh".into();
        new.dictionary = Some("/usr/share/freeradius/dictionary".into());
        assert!(needs_restart(&old, &new).is_empty());
    }

    #[test]
    fn upstream_secret_needs_restart() {
        let old = Config::embedded();
        let mut new = old.clone();
        new.radius.upstreams[0].secret = Secret("changed".into());
        assert_eq!(
            needs_restart(&old, &new),
            ["[radius] listeners, workers, sockets or upstreams"]
        );
    }

    #[test]
    fn admin_and_demo_secret_need_restart() {
        let old = Config::embedded();
        let mut new = old.clone();
        new.admin.listen = "127.0.0.1:9999".parse().unwrap();
        new.demo.secret = Secret("changed".into());
        assert_eq!(needs_restart(&old, &new), ["[demo]", "[admin]"]);
    }

    #[test]
    fn bridge_mode_is_never_reloaded() {
        let mut old = Config::embedded();
        old.bridge = Some(crate::config::BridgeConfig {
            nas_side: "eth1".into(),
            aaa_side: "eth2".into(),
        });
        assert_eq!(
            needs_restart(&old, &old.clone()),
            ["[bridge] (bridge mode is not reloaded)"]
        );
    }
}
