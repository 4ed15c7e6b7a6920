//! radclient's input format: requests as attribute lines `Name = value`, one blank line
//! between requests, `#` comment lines. A line may carry several pairs separated by
//! commas (`User-Name = bob, NAS-Port = 1`), values may be double- or single-quoted, and
//! the operators `=`, `:=`, `+=` and `==` all mean "add this attribute".
//!
//! Names are looked up in a [`Dictionary`] (radcare's built-in tree unless the operator
//! gives another), plus the radclient-only names that never go on the wire:
//! `Packet-Type` (the request's code), `Cleartext-Password` (the password a
//! CHAP-Password is computed from) and the `Packet-Src-*` / `Packet-Dst-*` /
//! `Response-Packet-Type` family, which are accepted and ignored. `Attr-N` names an
//! attribute by number. Passwords stay plaintext here; [`super::template`] hides them
//! per request.

use crate::dict::{AttrDef, AttrType, Dictionary, Encrypt, VENDOR_NONE};
use crate::wire::Code;
use crate::wire::attr::types;

/// A request as read from the input, before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Line of the request's first attribute (1-based), for messages.
    pub line: usize,
    /// From `Packet-Type`; otherwise the command line decides.
    pub code: Option<Code>,
    pub attrs: Vec<Pair>,
}

/// One attribute of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub line: usize,
    pub name: String,
    pub role: Role,
    /// The wire value; the plaintext for the password roles.
    pub value: Vec<u8>,
}

/// What the encoder does with a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A standard attribute, copied as is (split over several if `concat`).
    Standard { typ: u8, concat: bool },
    /// A sub-attribute of a Vendor-Specific attribute in the RFC 2865 format.
    Vendor { vendor: u32, typ: u8 },
    /// User-Password: hidden with the secret and each request's authenticator.
    UserPassword,
    /// CHAP-Password: the value is the password; the CHAP response is computed.
    ChapPassword,
    /// Cleartext-Password: the password for a CHAP-Password given without one.
    Cleartext,
    /// Message-Authenticator: computed per request, placed first.
    MessageAuthenticator,
}

/// Why the input cannot be replayed, with the 1-based line it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct InputError {
    pub line: usize,
    pub why: String,
}

fn err(line: usize, why: impl Into<String>) -> InputError {
    InputError {
        line,
        why: why.into(),
    }
}

/// Parses a whole input. An input without any request is an error.
pub fn parse(text: &str, dict: &Dictionary) -> Result<Vec<Request>, InputError> {
    let mut requests = Vec::new();
    let mut current: Option<Request> = None;
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        last_line = line;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            if let Some(r) = current.take() {
                requests.push(finish(r)?);
            }
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let req = current.get_or_insert_with(|| Request {
            line,
            code: None,
            attrs: Vec::new(),
        });
        for (name, value) in split_pairs(trimmed).map_err(|why| err(line, why))? {
            add_pair(req, line, name, value, dict)?;
        }
    }
    if let Some(r) = current.take() {
        requests.push(finish(r)?);
    }
    if requests.is_empty() {
        return Err(err(last_line.max(1), "no requests in the input"));
    }
    Ok(requests)
}

/// Checks what can only be checked once a request is complete.
fn finish(r: Request) -> Result<Request, InputError> {
    let count = |role: Role| r.attrs.iter().filter(|p| p.role == role).count();
    for (role, name) in [
        (Role::UserPassword, "User-Password"),
        (Role::ChapPassword, "CHAP-Password"),
        (Role::MessageAuthenticator, "Message-Authenticator"),
    ] {
        if count(role) > 1 {
            return Err(err(r.line, format!("more than one {name} in this request")));
        }
    }
    if count(Role::UserPassword) + count(Role::ChapPassword) > 1 {
        return Err(err(
            r.line,
            "a request has either User-Password or CHAP-Password, not both",
        ));
    }
    if let Some(chap) = r.attrs.iter().find(|p| p.role == Role::ChapPassword)
        && chap.value.is_empty()
        && count(Role::Cleartext) == 0
    {
        return Err(err(
            chap.line,
            "CHAP-Password needs a password (or a Cleartext-Password)",
        ));
    }
    Ok(r)
}

fn add_pair(
    req: &mut Request,
    line: usize,
    name: &str,
    text: &str,
    dict: &Dictionary,
) -> Result<(), InputError> {
    let lower = name.to_ascii_lowercase();
    if lower == "packet-type" {
        req.code = Some(packet_type(unquote_simple(text)).map_err(|why| err(line, why))?);
        return Ok(());
    }
    if lower.starts_with("packet-src-")
        || lower.starts_with("packet-dst-")
        || lower == "response-packet-type"
    {
        return Ok(());
    }
    let pair = |role: Role, value: Vec<u8>| Pair {
        line,
        name: name.to_string(),
        role,
        value,
    };
    if lower == "cleartext-password" {
        let value = plain_text(text).map_err(|why| err(line, why))?;
        req.attrs.push(pair(Role::Cleartext, value));
        return Ok(());
    }
    if let Some(n) = lower.strip_prefix("attr-") {
        let typ: u8 = n.parse().ok().filter(|&t| t != 0).ok_or_else(|| {
            err(
                line,
                format!("{name}: only Attr-1 .. Attr-255 are supported"),
            )
        })?;
        let value = plain_text(text).map_err(|why| err(line, why))?;
        check_len(line, name, &value, false)?;
        req.attrs
            .push(pair(Role::Standard { typ, concat: false }, value));
        return Ok(());
    }
    let Some(def) = dict.attr_by_name(name) else {
        return Err(err(line, format!("unknown attribute {name:?}")));
    };
    let role = role_of(def).map_err(|why| err(line, why))?;
    let value = match role {
        Role::MessageAuthenticator => Vec::new(),
        Role::UserPassword | Role::ChapPassword => {
            plain_text(text).map_err(|why| err(line, why))?
        }
        _ => {
            // radclient lets any value be quoted; our value parser unquotes only strings.
            let text = if matches!(def.ty, AttrType::String | AttrType::Octets) {
                text
            } else {
                unquote_simple(text)
            };
            dict.parse_value(def, text)
                .map_err(|e| err(line, e.to_string()))?
        }
    };
    match role {
        Role::UserPassword if value.len() > crate::wire::crypto::MAX_PASSWORD_LEN => {
            return Err(err(line, "User-Password is longer than 128 octets"));
        }
        Role::ChapPassword if value.len() > 253 => {
            return Err(err(line, "CHAP-Password is longer than 253 octets"));
        }
        Role::Standard { concat, .. } => check_len(line, name, &value, concat)?,
        Role::Vendor { .. } => check_len(line, name, &value, false).and_then(|()| {
            if value.len() > 247 {
                Err(err(line, format!("{name} is longer than 247 octets")))
            } else {
                Ok(())
            }
        })?,
        _ => {}
    }
    req.attrs.push(pair(role, value));
    Ok(())
}

fn check_len(line: usize, name: &str, value: &[u8], concat: bool) -> Result<(), InputError> {
    if !concat && value.len() > 253 {
        return Err(err(line, format!("{name} is longer than 253 octets")));
    }
    Ok(())
}

/// How an attribute definition is encoded, or why it cannot be.
fn role_of(def: &AttrDef) -> Result<Role, String> {
    if def.vendor == VENDOR_NONE {
        let typ = match (def.oid.len(), u8::try_from(def.code)) {
            (0 | 1, Ok(t)) => t,
            _ => {
                return Err(format!(
                    "{} ({}) is an extended or nested attribute, which replay cannot encode",
                    def.name,
                    def.oid_string()
                ));
            }
        };
        return Ok(match typ {
            types::USER_PASSWORD => Role::UserPassword,
            types::CHAP_PASSWORD => Role::ChapPassword,
            types::MESSAGE_AUTHENTICATOR => Role::MessageAuthenticator,
            _ if def.encrypt != Encrypt::None => {
                return Err(format!(
                    "{} is encrypted per request (encrypt={}), which replay does not do",
                    def.name,
                    encrypt_number(def.encrypt)
                ));
            }
            _ => Role::Standard {
                typ,
                concat: def.concat,
            },
        });
    }
    if def.encrypt != Encrypt::None {
        return Err(format!(
            "{} is encrypted per request (encrypt={}), which replay does not do",
            def.name,
            encrypt_number(def.encrypt)
        ));
    }
    match (def.oid.len(), u8::try_from(def.code)) {
        (0 | 1, Ok(typ)) => Ok(Role::Vendor {
            vendor: def.vendor,
            typ,
        }),
        _ => Err(format!(
            "{} is a vendor attribute in a format replay cannot encode",
            def.name
        )),
    }
}

fn encrypt_number(e: Encrypt) -> u8 {
    match e {
        Encrypt::None => 0,
        Encrypt::UserPassword => 1,
        Encrypt::TunnelPassword => 2,
        Encrypt::AscendSecret => 3,
    }
}

fn packet_type(text: &str) -> Result<Code, String> {
    let code = match text.to_ascii_lowercase().as_str() {
        "access-request" | "1" => Code::AccessRequest,
        "accounting-request" | "4" => Code::AccountingRequest,
        "status-server" | "12" => Code::StatusServer,
        _ => {
            return Err(format!(
                "Packet-Type {text:?}: replay sends Access-Request, Accounting-Request or \
                 Status-Server"
            ));
        }
    };
    Ok(code)
}

/// A password or raw text value: quoted (with the escapes `\"`, `\\`, `\n`, `\r`, `\t`)
/// or bare, or `0x`-hex.
fn plain_text(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    if let Some(inner) = quoted_inner(t) {
        let mut out = Vec::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            let c = if c == '\\' {
                match chars.next() {
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some(other) => other,
                    None => '\\',
                }
            } else {
                c
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        return Ok(out);
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return hex::decode(h).map_err(|e| format!("bad hex value: {e}"));
    }
    Ok(t.as_bytes().to_vec())
}

fn quoted_inner(t: &str) -> Option<&str> {
    if t.len() < 2 {
        return None;
    }
    let q = t.as_bytes()[0];
    if (q == b'"' || q == b'\'') && t.as_bytes()[t.len() - 1] == q {
        Some(&t[1..t.len() - 1])
    } else {
        None
    }
}

/// Strips one pair of surrounding quotes (no escapes: for names and numbers).
fn unquote_simple(text: &str) -> &str {
    let t = text.trim();
    quoted_inner(t).unwrap_or(t)
}

/// Splits one line into `(name, value text)` pairs. Commas inside quotes do not split.
fn split_pairs(line: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(format!("expected an attribute name at {:?}", clip(rest)));
        }
        rest = rest[name_end..].trim_start();
        let op_len = ["==", ":=", "+=", "="]
            .iter()
            .find(|op| rest.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| format!("expected `=` after {name}"))?;
        rest = rest[op_len..].trim_start();
        let value_end = value_end(rest).ok_or_else(|| format!("unterminated quote in {name}"))?;
        let value = rest[..value_end].trim_end();
        out.push((name, value));
        rest = rest[value_end..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) if !r.trim().is_empty() => rest = r,
            Some(_) => return Ok(out),
            None if rest.is_empty() => return Ok(out),
            None => return Err(format!("unexpected text after {name}: {:?}", clip(rest))),
        }
    }
}

/// Where a value starting at `s[0]` ends: after its closing quote, or at a comma.
fn value_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(&q @ (b'"' | b'\'')) => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b if b == q => return Some(i + 1),
                    _ => i += 1,
                }
            }
            None
        }
        _ => Some(s.find(',').unwrap_or(s.len())),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Dictionary {
        Dictionary::builtin().unwrap()
    }

    #[test]
    fn requests_split_on_blank_lines_and_skip_comments() {
        let text = "# two subscribers\n\
                    User-Name = alice\n\
                    User-Password = \"alice pass\"\n\
                    \n   \n\
                    # the second one\n\
                    User-Name = \"bob, jr\", NAS-Port = 7\n\
                    CHAP-Password = 'bob-pass'\n\
                    Service-Type := \"Framed-User\"\n\
                    Message-Authenticator = 0x00\n";
        let r = parse(text, &dict()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].line, 2);
        assert_eq!(r[0].attrs[0].value, b"alice");
        assert_eq!(r[0].attrs[1].role, Role::UserPassword);
        assert_eq!(r[0].attrs[1].value, b"alice pass");
        assert_eq!(r[1].line, 7);
        let names: Vec<_> = r[1].attrs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "User-Name",
                "NAS-Port",
                "CHAP-Password",
                "Service-Type",
                "Message-Authenticator"
            ]
        );
        assert_eq!(r[1].attrs[0].value, b"bob, jr");
        assert_eq!(r[1].attrs[1].value, 7u32.to_be_bytes());
        assert_eq!(r[1].attrs[2].role, Role::ChapPassword);
        assert_eq!(r[1].attrs[2].value, b"bob-pass");
        assert_eq!(r[1].attrs[3].value, 2u32.to_be_bytes());
        assert_eq!(r[1].attrs[4].role, Role::MessageAuthenticator);
    }

    #[test]
    fn quoted_values_keep_escapes_and_utf8() {
        let text = "Reply-Message = \"欠费 \\\"quoted\\\" text\"\nUser-Password = \"a\\\\b\"\n";
        let r = parse(text, &dict()).unwrap();
        assert_eq!(r[0].attrs[0].value, "欠费 \"quoted\" text".as_bytes());
        assert_eq!(r[0].attrs[1].value, b"a\\b");
    }

    #[test]
    fn unknown_attribute_names_its_line() {
        let text = "User-Name = a\n\nUser-Name = b\nNo-Such-Attribute = 1\n";
        let e = parse(text, &dict()).unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(
            e.to_string(),
            "line 4: unknown attribute \"No-Such-Attribute\""
        );
    }

    #[test]
    fn bad_values_and_syntax_name_their_line() {
        let e = parse("User-Name = a\nNAS-Port = many\n", &dict()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("NAS-Port"), "{e}");
        let e = parse("User-Name a\n", &dict()).unwrap_err();
        assert_eq!(e.to_string(), "line 1: expected `=` after User-Name");
        let e = parse("User-Name = \"open\n", &dict()).unwrap_err();
        assert_eq!(e.to_string(), "line 1: unterminated quote in User-Name");
        let e = parse("\n# nothing\n\n", &dict()).unwrap_err();
        assert_eq!(e.to_string(), "line 3: no requests in the input");
        let e = parse("User-Name = a, \n", &dict());
        assert!(e.is_ok(), "a trailing comma is tolerated");
    }

    #[test]
    fn radclient_only_names() {
        let text = "Packet-Type = Status-Server\nPacket-Dst-Port = 1812\n\n\
                    User-Name = x\nCleartext-Password = pw\nCHAP-Password = \"\"\n";
        let r = parse(text, &dict()).unwrap();
        assert_eq!(r[0].code, Some(Code::StatusServer));
        assert!(r[0].attrs.is_empty());
        assert_eq!(r[1].attrs[1].role, Role::Cleartext);
        let e = parse("User-Name = x\nCHAP-Password = \"\"\n", &dict()).unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("Packet-Type = CoA-Request\n", &dict()).unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn vendor_and_numbered_attributes() {
        let r = parse(
            "Mikrotik-Rate-Limit = \"1M/2M\"\nAttr-77 = 0x0102\n",
            &dict(),
        )
        .unwrap();
        assert_eq!(
            r[0].attrs[0].role,
            Role::Vendor {
                vendor: 14988,
                typ: 8
            }
        );
        assert_eq!(r[0].attrs[0].value, b"1M/2M");
        assert_eq!(
            r[0].attrs[1].role,
            Role::Standard {
                typ: 77,
                concat: false
            }
        );
        assert_eq!(r[0].attrs[1].value, [1, 2]);
    }

    #[test]
    fn duplicate_passwords_are_refused() {
        let e = parse("User-Password = a\nCHAP-Password = b\n", &dict()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("not both"), "{e}");
    }
}
