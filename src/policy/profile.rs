//! Walled-garden profiles: the attributes a rewritten Accept carries so that the BRAS
//! redirects the subscriber to the portal. Filter-Id is what Huawei, Cisco and Juniper
//! honour; MikroTik wants an address list, accel-ppp and others a pool. Attributes are
//! encoded once here and copied verbatim into each Accept.

use crate::config::{Config, Seg};
use crate::dict::{Dictionary, VENDOR_NONE};

/// Built-in profile names; config can override any of them by name.
pub const BUILTIN_PROFILES: &[&str] = &["filter-id", "mikrotik", "framed-pool", "huawei"];

/// The default walled-garden tag (ACL / address list / pool name on the BRAS).
const GARDEN: &str = "radcare-garden";

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// Encoded attributes (type, length, value ...), ready to append.
    pub encoded: Vec<u8>,
}

fn builtin(name: &str, portal_url: &str) -> Vec<(String, String)> {
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    match name {
        "filter-id" => vec![pair("Filter-Id", GARDEN)],
        "mikrotik" => vec![pair("Mikrotik-Address-List", GARDEN)],
        "framed-pool" => vec![pair("Framed-Pool", GARDEN)],
        "huawei" => vec![
            pair("Filter-Id", GARDEN),
            pair("Huawei-Portal-URL", portal_url),
        ],
        _ => Vec::new(),
    }
}

pub(super) fn compile(
    cfg: &Config,
    dict: &Dictionary,
    errors: &mut Vec<(Vec<Seg>, String)>,
) -> Vec<Profile> {
    let portal_url = format!("http://{}/", cfg.portal.listen);
    // (name, attributes, index in config if it came from there)
    type Source = (String, Vec<(String, String)>, Option<usize>);
    let mut sources: Vec<Source> = BUILTIN_PROFILES
        .iter()
        .map(|n| (n.to_string(), builtin(n, &portal_url), None))
        .collect();
    for (i, p) in cfg.policy.profiles.iter().enumerate() {
        let attrs = p
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect();
        match sources.iter_mut().find(|s| s.0 == p.name) {
            Some(s) => {
                s.1 = attrs;
                s.2 = Some(i);
            }
            None => sources.push((p.name.clone(), attrs, Some(i))),
        }
    }
    let mut out = Vec::new();
    for (name, attrs, cfg_index) in sources {
        let at = || match cfg_index {
            Some(i) => vec![
                Seg::Key("policy"),
                Seg::Key("profile"),
                Seg::Index(i),
                Seg::Key("attributes"),
            ],
            None => vec![Seg::Key("policy")],
        };
        let mut encoded = Vec::new();
        for (attr, value) in &attrs {
            match encode(dict, attr, value) {
                Ok(bytes) => encoded.extend_from_slice(&bytes),
                Err(why) => errors.push((at(), format!("profile `{name}`: {why}"))),
            }
        }
        out.push(Profile { name, encoded });
    }
    out
}

/// Encodes one `name = value` as a complete attribute (Vendor-Specific for vendor ones).
pub fn encode(dict: &Dictionary, name: &str, value: &str) -> Result<Vec<u8>, String> {
    let def = dict
        .attr_by_name(name)
        .ok_or_else(|| format!("unknown attribute `{name}` (not in the dictionary)"))?;
    let bytes = dict
        .parse_value(def, value)
        .map_err(|e| format!("bad value {value:?} for {name}: {e}"))?;
    let code = u8::try_from(def.code)
        .ok()
        .filter(|_| def.oid.len() == 1)
        .ok_or_else(|| format!("{name} is a nested attribute; profiles take plain ones"))?;
    if def.vendor == VENDOR_NONE {
        if bytes.len() > 253 {
            return Err(format!("value of {name} is too long"));
        }
        let mut out = vec![code, (2 + bytes.len()) as u8];
        out.extend_from_slice(&bytes);
        return Ok(out);
    }
    let format_ok = dict
        .vendor(def.vendor)
        .is_none_or(|v| v.type_len == 1 && v.len_len == 1);
    if !format_ok || bytes.len() > 247 {
        return Err(format!(
            "{name} cannot be encoded as a standard vendor attribute"
        ));
    }
    let mut out = vec![26, (8 + bytes.len()) as u8];
    out.extend_from_slice(&def.vendor.to_be_bytes());
    out.extend_from_slice(&[code, (2 + bytes.len()) as u8]);
    out.extend_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn builtin_profiles_encode() {
        let dict = Dictionary::builtin().unwrap();
        let p = Policy::compile(&Config::default(), &dict).unwrap();
        let f = &p.profiles[p.profile("filter-id").unwrap()];
        assert_eq!(f.encoded[0], 11);
        assert_eq!(&f.encoded[2..], GARDEN.as_bytes());
        let m = &p.profiles[p.profile("mikrotik").unwrap()];
        assert_eq!(&m.encoded[..8], &[26, 8 + 14, 0, 0, 0x3a, 0x8c, 19, 16]);
    }

    #[test]
    fn config_profile_with_unknown_attribute_fails() {
        let dict = Dictionary::builtin().unwrap();
        let mut cfg = Config::default();
        cfg.policy.profiles.push(crate::config::ProfileConfig {
            name: "x".into(),
            attributes: vec![crate::config::AttributeValue {
                name: "Nope".into(),
                value: "1".into(),
            }],
        });
        let e = Policy::compile(&cfg, &dict).unwrap_err();
        assert!(e[0].1.contains("unknown attribute `Nope`"), "{e:?}");
    }
}
