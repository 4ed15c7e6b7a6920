//! The cause table: rules that turn an Access-Reject into a cause, first match wins.
//!
//! A rule matches on the MS-CHAP-Error `E=` code, on Reply-Message (a regular expression
//! that knows Chinese and English phrasing), or on any dictionary attribute's value.
//! The built-in table is documented in docs/causes.md; config rules go in front.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use crate::config::{Action, PolicyConfig, Seg};
use crate::dict::{Dictionary, VENDOR_NONE};
use crate::wire::Packet;
use crate::wire::attr::{types, vendors};

/// The built-in cause ids, in match order; `unknown` is the fallback.
pub const BUILTIN_CAUSES: &[&str] = &[
    "user-unknown",
    "password-expired",
    "arrears",
    "account-expired",
    "account-disabled",
    "no-dialin-permission",
    "time-restricted",
    "session-limit",
    "binding-mismatch",
    "wrong-password",
    "unknown",
];

struct Builtin {
    id: &'static str,
    action: Action,
    ms_chap_error: &'static [u32],
    reply_message: Option<&'static str>,
}

const fn rule(
    id: &'static str,
    action: Action,
    ms_chap_error: &'static [u32],
    reply_message: Option<&'static str>,
) -> Builtin {
    Builtin {
        id,
        action,
        ms_chap_error,
        reply_message,
    }
}

// Order matters: "user not found" first, before broad words such as balance, locked or
// mac that a user name echoed in the message may contain; specific reasons before the
// generic E=691 "authentication failed"; "password expired" before "expired"; arrears
// before "disabled" (欠费停机 means both). A Reject that names no cause (no text, or
// only MS-CHAP's E=691, which covers unknown users too) is ambiguous: `redial`.
const BUILTIN: &[Builtin] = &[
    rule(
        "user-unknown",
        Action::Pass,
        &[],
        Some(
            r"(?i)user\s+not\s+found|unknown\s+user|no\s+such\s+user|user\s+(does\s+not|doesn't)\s+exist|not\s+exist|invalid\s+user|用户不存在|账号不存在|帐号不存在|无此用户",
        ),
    ),
    rule(
        "password-expired",
        Action::Rewrite,
        &[648],
        Some(
            r"(?i)password\s+(has\s+)?expired|password\s+must\s+be\s+changed|密码(已)?过期|密码失效",
        ),
    ),
    rule(
        "arrears",
        Action::Rewrite,
        &[],
        Some(
            r"(?i)arrear|insufficient\s+(funds|balance)|negative\s+balance|balance|overdue|unpaid|out\s+of\s+credit|recharge|欠费|余额不足|欠款|缴费|充值",
        ),
    ),
    rule(
        "account-expired",
        Action::Rewrite,
        &[708],
        Some(
            r"(?i)(account|subscription|user|service)\s+(has\s+)?expired|expired|已过期|过期|已到期|到期",
        ),
    ),
    rule(
        "account-disabled",
        Action::Rewrite,
        &[647],
        Some(r"(?i)disabled|suspended|blocked|locked|deactivated|停用|禁用|冻结|锁定|停机|暂停"),
    ),
    rule(
        "no-dialin-permission",
        Action::Rewrite,
        &[649],
        Some(
            r"(?i)no\s+dial-?in\s+permission|dial-?in\s+(is\s+)?not\s+(allowed|permitted)|not\s+activated|未开通|无拨入权限",
        ),
    ),
    rule(
        "time-restricted",
        Action::Rewrite,
        &[646],
        Some(
            r"(?i)restricted\s+hours|time\s+restrict|outside\s+(allowed|permitted)\s+hours|not\s+allowed\s+at\s+this\s+time|时段|时间限制",
        ),
    ),
    rule(
        "session-limit",
        Action::Rewrite,
        &[],
        Some(
            r"(?i)already\s+online|session\s+limit|too\s+many\s+sessions|simultaneous|max(imum)?\s+sessions|multiple\s+logins|already\s+logged\s+in|已在线|重复登录|并发|在线数",
        ),
    ),
    rule(
        "binding-mismatch",
        Action::Rewrite,
        &[],
        Some(r"(?i)\bmac\b|binding|bound\s+to|wrong\s+(line|port|vlan)|calling-station|绑定"),
    ),
    rule(
        "wrong-password",
        Action::Rewrite,
        &[],
        Some(r"(?i)password|passwd|credentials|密码错误|密码不正确|认证失败|密码"),
    ),
    rule("wrong-password", Action::Redial, &[691], None),
    rule("unknown", Action::Redial, &[], None),
];

/// The built-in ids with the default action of their first rule, each id once, for
/// docs and the console.
pub fn builtin_causes() -> impl Iterator<Item = (&'static str, Action)> {
    BUILTIN
        .iter()
        .enumerate()
        .filter(|(i, b)| !BUILTIN[..*i].iter().any(|o| o.id == b.id))
        .map(|(_, b)| (b.id, b.action))
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct CauseRule {
    pub id: String,
    pub action: Action,
    ms_chap_error: Vec<u32>,
    /// Over bytes, so a Reply-Message is matched where it lies in the packet.
    reply_message: Option<BytesRegex>,
    attributes: Vec<AttrRule>,
}

#[derive(Debug, Clone)]
struct AttrRule {
    name: String,
    vendor: u32,
    code: u32,
    value: Regex,
}

/// Why a rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    MsChapError(u32),
    ReplyMessage { pattern: String },
    Attribute { name: String, value: String },
    NoMatch,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::MsChapError(e) => write!(f, "MS-CHAP-Error E={e}"),
            Why::ReplyMessage { pattern } => write!(f, "Reply-Message matched /{pattern}/"),
            Why::Attribute { name, value } => write!(f, "{name} = {value:?}"),
            Why::NoMatch => f.write_str("no rule matched"),
        }
    }
}

/// The outcome of classifying one Reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Index into the policy's cause table.
    pub index: usize,
    pub id: String,
    pub action: Action,
    pub why: Why,
    /// The AAA's own words (Reply-Message, else the MS-CHAP-Error text), for support.
    pub reason: String,
    /// The MS-CHAP-Error E= code if the Reject carried one.
    pub ms_chap_error: Option<u32>,
}

pub(super) fn compile(
    cfg: &PolicyConfig,
    dict: &Dictionary,
    errors: &mut Vec<(Vec<Seg>, String)>,
) -> Vec<CauseRule> {
    let mut rules = Vec::new();
    let mut builtin: Vec<CauseRule> = if cfg.replace_builtin_causes {
        Vec::new()
    } else {
        BUILTIN
            .iter()
            .map(|b| CauseRule {
                id: b.id.into(),
                action: b.action,
                ms_chap_error: b.ms_chap_error.to_vec(),
                reply_message: b
                    .reply_message
                    .map(|r| BytesRegex::new(r).expect("built-in regexes compile")),
                attributes: Vec::new(),
            })
            .collect()
    };
    for (i, c) in cfg.causes.iter().enumerate() {
        let at = |k: &'static str| {
            vec![
                Seg::Key("policy"),
                Seg::Key("cause"),
                Seg::Index(i),
                Seg::Key(k),
            ]
        };
        let has_matchers =
            !c.ms_chap_error.is_empty() || c.reply_message.is_some() || !c.attribute.is_empty();
        if !has_matchers {
            // Only an action: change the built-in rules of that id.
            let mut same = builtin.iter_mut().filter(|b| b.id == c.id).peekable();
            match (same.peek().is_some(), c.action) {
                (true, Some(a)) => same.for_each(|b| b.action = a),
                _ => errors.push((
                    at("id"),
                    format!("cause `{}` has no matcher (ms_chap_error, reply_message, attribute) and overrides no built-in cause's action", c.id),
                )),
            }
            continue;
        }
        let action = c
            .action
            .or(builtin.iter().find(|b| b.id == c.id).map(|b| b.action))
            .unwrap_or(Action::Rewrite);
        let reply_message = c
            .reply_message
            .as_deref()
            .and_then(|r| match BytesRegex::new(r) {
                Ok(re) => Some(re),
                Err(e) => {
                    errors.push((at("reply_message"), format!("bad regular expression: {e}")));
                    None
                }
            });
        let mut attributes = Vec::new();
        for a in &c.attribute {
            let Some(def) = dict.attr_by_name(&a.name) else {
                errors.push((
                    at("attribute"),
                    format!("unknown attribute `{}` (not in the dictionary)", a.name),
                ));
                continue;
            };
            match Regex::new(&a.value) {
                Ok(value) => attributes.push(AttrRule {
                    name: def.name.clone(),
                    vendor: def.vendor,
                    code: def.code,
                    value,
                }),
                Err(e) => errors.push((at("attribute"), format!("bad regular expression: {e}"))),
            }
        }
        rules.push(CauseRule {
            id: c.id.clone(),
            action,
            ms_chap_error: c.ms_chap_error.clone(),
            reply_message,
            attributes,
        });
    }
    rules.append(&mut builtin);
    if !rules.iter().any(|r| r.id == "unknown") {
        rules.push(CauseRule {
            id: "unknown".into(),
            action: Action::Rewrite,
            ms_chap_error: Vec::new(),
            reply_message: None,
            attributes: Vec::new(),
        });
    }
    rules
}

/// Parses the `E=` code out of an MS-CHAP-Error value (ident octet, then "E=691 R=0 ...").
pub fn ms_chap_error_code(value: &[u8]) -> Option<u32> {
    let text = value.get(1..)?;
    let pos = text.windows(2).position(|w| w == b"E=")?;
    let digits: &[u8] = &text[pos + 2..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// What matched, without any text: the packet path's answer, computed without
/// allocating (unless a config rule matches on a non-string attribute's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    MsChapError(u32),
    ReplyMessage,
    /// Index into the rule's attribute matchers.
    Attribute(usize),
    NoMatch,
}

/// The outcome of classifying one Reject, by index into the cause table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub index: usize,
    pub action: Action,
    pub matched: Matched,
    pub ms_chap_error: Option<u32>,
}

/// All Reply-Message attributes, concatenated (a long message may be split), borrowed
/// when there is just one and it does not echo the user name. An echoed user name
/// (`user`, as a whole word) is blanked: a subscriber called "balance88" or "mac-home"
/// must not pick the cause.
fn reply_message<'a>(
    packet: &'a Packet<&'a [u8]>,
    user: &[u8],
    buf: &'a mut [u8; 4096],
) -> &'a [u8] {
    let mut msgs = packet.attrs().filter(|a| a.typ == types::REPLY_MESSAGE);
    let Some(first) = msgs.next() else {
        return &[];
    };
    let second = msgs.next();
    if second.is_none() && find_word(first.value, user, 0).is_none() {
        return first.value;
    }
    let mut len = 0;
    for v in [Some(first.value), second.map(|a| a.value)]
        .into_iter()
        .flatten()
        .chain(msgs.map(|a| a.value))
    {
        let n = v.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&v[..n]);
        len += n;
    }
    let mut from = 0;
    while let Some(at) = find_word(&buf[..len], user, from) {
        buf[at..at + user.len()].fill(b' ');
        from = at + user.len();
    }
    &buf[..len]
}

/// Where `word` occurs in `text` at or after `from`, not inside a longer word (so the
/// user "pass" is not found in "password").
fn find_word(text: &[u8], word: &[u8], from: usize) -> Option<usize> {
    if word.is_empty() || text.len() < word.len() {
        return None;
    }
    let is_word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b >= 0x80);
    (from..=text.len() - word.len()).find(|&at| {
        &text[at..at + word.len()] == word
            && !is_word(at.checked_sub(1).and_then(|i| text.get(i)))
            && !is_word(text.get(at + word.len()))
    })
}

pub(super) fn verdict(
    rules: &[CauseRule],
    reject: &[u8],
    user: &[u8],
    dict: &Dictionary,
) -> Verdict {
    let packet = Packet::new_unchecked(reject);
    let mut buf = [0u8; 4096];
    let reply = reply_message(&packet, user, &mut buf);
    let ms_code = packet
        .find_vendor(vendors::MICROSOFT, vendors::MS_CHAP_ERROR)
        .and_then(ms_chap_error_code);
    for (index, r) in rules.iter().enumerate() {
        let matched = if let Some(e) = ms_code.filter(|e| r.ms_chap_error.contains(e)) {
            Some(Matched::MsChapError(e))
        } else if r
            .reply_message
            .as_ref()
            .is_some_and(|re| !reply.is_empty() && re.is_match(reply))
        {
            Some(Matched::ReplyMessage)
        } else {
            attribute_match(&r.attributes, &packet, dict).map(|(i, _)| Matched::Attribute(i))
        };
        let matched = match matched {
            Some(m) => m,
            None if r.is_catch_all() => Matched::NoMatch,
            None => continue,
        };
        return Verdict {
            index,
            action: r.action,
            matched,
            ms_chap_error: ms_code,
        };
    }
    // Unreachable with a compiled table (it always ends in `unknown`), but never panic.
    Verdict {
        index: rules.len().saturating_sub(1),
        action: Action::Pass,
        matched: Matched::NoMatch,
        ms_chap_error: ms_code,
    }
}

/// The AAA's own words: Reply-Message, else the MS-CHAP-Error text.
pub fn reason_text(reject: &[u8]) -> String {
    let packet = Packet::new_unchecked(reject);
    let mut buf = [0u8; 4096];
    let reply = reply_message(&packet, &[], &mut buf);
    if !reply.is_empty() {
        return String::from_utf8_lossy(reply).into_owned();
    }
    packet
        .find_vendor(vendors::MICROSOFT, vendors::MS_CHAP_ERROR)
        .and_then(|v| v.get(1..))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// The verdict with its explanation, for people: the CLI, logs, the console.
pub(super) fn classify(
    rules: &[CauseRule],
    reject: &[u8],
    user: &[u8],
    dict: &Dictionary,
) -> Classification {
    let v = verdict(rules, reject, user, dict);
    let rule = &rules[v.index.min(rules.len().saturating_sub(1))];
    let why = match v.matched {
        Matched::MsChapError(e) => Why::MsChapError(e),
        Matched::ReplyMessage => Why::ReplyMessage {
            pattern: rule
                .reply_message
                .as_ref()
                .map(|re| re.as_str().to_string())
                .unwrap_or_default(),
        },
        Matched::Attribute(_) => {
            let packet = Packet::new_unchecked(reject);
            match attribute_match(&rule.attributes, &packet, dict) {
                Some((_, why)) => why,
                None => Why::NoMatch,
            }
        }
        Matched::NoMatch => Why::NoMatch,
    };
    Classification {
        index: v.index,
        id: rule.id.clone(),
        action: v.action,
        why,
        reason: reason_text(reject),
        ms_chap_error: v.ms_chap_error,
    }
}

impl CauseRule {
    /// The fallback rule: matches everything that reaches it.
    fn is_catch_all(&self) -> bool {
        self.id == "unknown"
            && self.ms_chap_error.is_empty()
            && self.reply_message.is_none()
            && self.attributes.is_empty()
    }
}

fn attribute_match(
    rules: &[AttrRule],
    packet: &Packet<&[u8]>,
    dict: &Dictionary,
) -> Option<(usize, Why)> {
    if rules.is_empty() {
        return None;
    }
    for a in packet.attrs() {
        let check = |vendor: u32, code: u32, value: &[u8]| {
            for (i, r) in rules.iter().enumerate() {
                if r.vendor != vendor || r.code != code {
                    continue;
                }
                let text = match dict.attr(vendor, code) {
                    Some(def) => dict.format_value(def, value),
                    None => String::from_utf8_lossy(value).into_owned(),
                };
                if r.value.is_match(&text) {
                    return Some((
                        i,
                        Why::Attribute {
                            name: r.name.clone(),
                            value: text,
                        },
                    ));
                }
            }
            None
        };
        if let Some(vsa) = a.vsa() {
            for s in vsa.subs().flatten() {
                if let Some(w) = check(vsa.vendor, s.typ, s.value) {
                    return Some(w);
                }
            }
        } else if let Some(w) = check(VENDOR_NONE, u32::from(a.typ), a.value) {
            return Some(w);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AttributeMatch, CauseConfig, Config};
    use crate::policy::Policy;
    use crate::wire::{Builder, Code};

    fn reject(build: impl FnOnce(&mut Builder)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessReject, 1, &[0; 16]);
        build(&mut b);
        buf
    }

    fn policy(cfg: &Config) -> (Policy, Dictionary) {
        let dict = Dictionary::builtin().unwrap();
        (Policy::compile(cfg, &dict).unwrap(), dict)
    }

    fn id_of(msg: &str) -> String {
        let (p, d) = policy(&Config::default());
        let r = reject(|b| {
            b.attr(types::REPLY_MESSAGE, msg.as_bytes()).unwrap();
        });
        p.classify(&r, b"", &d).id
    }

    #[test]
    fn builtin_ids_are_the_reference_table() {
        let ids: Vec<_> = builtin_causes().map(|(id, _)| id).collect();
        assert_eq!(ids, BUILTIN_CAUSES);
        let (p, _) = policy(&Config::default());
        assert_eq!(p.cause_ids().collect::<Vec<_>>(), BUILTIN_CAUSES);
    }

    #[test]
    fn reply_messages_in_english_and_chinese() {
        for (msg, want) in [
            ("wrong password", "wrong-password"),
            ("Authentication failed: bad credentials", "wrong-password"),
            ("密码错误", "wrong-password"),
            ("欠费停机: account in arrears, balance -12.50", "arrears"),
            ("余额不足", "arrears"),
            ("account disabled", "account-disabled"),
            ("账号已冻结", "account-disabled"),
            ("account expired", "account-expired"),
            ("账号已过期", "account-expired"),
            ("Password has expired", "password-expired"),
            (
                "user already online, session limit reached",
                "session-limit",
            ),
            ("该账号已在线", "session-limit"),
            ("MAC address binding mismatch", "binding-mismatch"),
            ("用户绑定错误", "binding-mismatch"),
            ("user not found", "user-unknown"),
            ("用户不存在", "user-unknown"),
            ("something odd happened", "unknown"),
        ] {
            assert_eq!(id_of(msg), want, "{msg}");
        }
    }

    #[test]
    fn ms_chap_error_codes() {
        let (p, d) = policy(&Config::default());
        for (e, want, action) in [
            (691, "wrong-password", Action::Redial),
            (647, "account-disabled", Action::Rewrite),
            (648, "password-expired", Action::Rewrite),
            (649, "no-dialin-permission", Action::Rewrite),
            (646, "time-restricted", Action::Rewrite),
        ] {
            let r = reject(|b| {
                let v = format!("\x01E={e} R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Denied");
                b.vsa(311, 2, v.as_bytes()).unwrap();
            });
            let c = p.classify(&r, b"", &d);
            assert_eq!(c.id, want);
            assert_eq!(c.action, action, "E={e}");
            assert_eq!(c.why, Why::MsChapError(e));
            assert!(c.reason.contains("M=Denied"));
        }
    }

    #[test]
    fn empty_reject_is_unknown_and_ambiguous() {
        let (p, d) = policy(&Config::default());
        let c = p.classify(&reject(|_| {}), b"", &d);
        assert_eq!((c.id.as_str(), c.why), ("unknown", Why::NoMatch));
        // Stock FreeRADIUS says exactly this for an unknown user and a wrong password.
        assert_eq!(c.action, Action::Redial);
    }

    #[test]
    fn user_unknown_wins_over_broad_words() {
        for msg in [
            "unknown user mac-home",
            "User balance88 does not exist",
            "no such user: locked-out",
        ] {
            assert_eq!(id_of(msg), "user-unknown", "{msg}");
        }
    }

    #[test]
    fn an_echoed_user_name_does_not_pick_the_cause() {
        let (p, d) = policy(&Config::default());
        let r = reject(|b| {
            b.attr(types::REPLY_MESSAGE, b"Login incorrect (balance88)")
                .unwrap();
        });
        let c = p.classify(&r, b"balance88", &d);
        assert_eq!((c.id.as_str(), c.action), ("unknown", Action::Redial));
        // Without the user name the same text reads as arrears: the echo decided it.
        assert_eq!(p.classify(&r, b"", &d).id, "arrears");
        // A user name inside a longer word is not blanked: "pass" in "password".
        let r = reject(|b| {
            b.attr(types::REPLY_MESSAGE, b"wrong password").unwrap();
        });
        assert_eq!(p.classify(&r, b"pass", &d).id, "wrong-password");
    }

    #[test]
    fn config_rules_go_first_and_can_match_attributes() {
        let mut cfg = Config::default();
        cfg.policy.causes.push(CauseConfig {
            id: "arrears".into(),
            action: None,
            ms_chap_error: vec![],
            reply_message: None,
            attribute: vec![AttributeMatch {
                name: "Filter-Id".into(),
                value: "^debt-".into(),
            }],
        });
        cfg.policy.causes.push(CauseConfig {
            id: "user-unknown".into(),
            action: Some(Action::Rewrite),
            ms_chap_error: vec![],
            reply_message: None,
            attribute: vec![],
        });
        let (p, d) = policy(&cfg);
        let r = reject(|b| {
            b.attr(types::FILTER_ID, b"debt-42").unwrap();
            b.attr(types::REPLY_MESSAGE, b"wrong password").unwrap();
        });
        let c = p.classify(&r, b"", &d);
        assert_eq!(c.id, "arrears");
        assert_eq!(c.action, Action::Rewrite);
        assert!(matches!(c.why, Why::Attribute { ref name, .. } if name == "Filter-Id"));
        let r = reject(|b| {
            b.attr(types::REPLY_MESSAGE, b"no such user").unwrap();
        });
        assert_eq!(p.classify(&r, b"", &d).action, Action::Rewrite);
    }

    #[test]
    fn unknown_attribute_in_rule_is_an_error() {
        let mut cfg = Config::default();
        cfg.policy.causes.push(CauseConfig {
            id: "x".into(),
            action: None,
            ms_chap_error: vec![],
            reply_message: None,
            attribute: vec![AttributeMatch {
                name: "No-Such-Attr".into(),
                value: ".".into(),
            }],
        });
        let dict = Dictionary::builtin().unwrap();
        let e = Policy::compile(&cfg, &dict).unwrap_err();
        assert!(e[0].1.contains("unknown attribute `No-Such-Attr`"));
    }

    #[test]
    fn ms_chap_error_parse() {
        assert_eq!(ms_chap_error_code(b"\x01E=691 R=0"), Some(691));
        assert_eq!(ms_chap_error_code(b"\x01E=646"), Some(646));
        assert_eq!(ms_chap_error_code(b"\x01garbage"), None);
        assert_eq!(ms_chap_error_code(b""), None);
    }
}
