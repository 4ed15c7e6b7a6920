//! Attribute values as text: rendering wire bytes by the attribute's type
//! ([`format_value`]) and the inverse ([`parse_value`]). The text forms are
//! documented on [`Dictionary::format_value`] and
//! [`Dictionary::parse_value`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::parse::parse_u64;
use super::{AttrDef, AttrType, Dictionary, Encrypt};

/// Text that cannot be turned into a value of the attribute's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {text:?} for {attr} ({ty}): {reason}")]
pub struct ValueError {
    pub attr: String,
    pub ty: AttrType,
    /// The offending text (cut to a reasonable length).
    pub text: String,
    pub reason: String,
}

/// Largest RFC 2868 tag.
const MAX_TAG: u8 = 0x1f;

pub(super) fn format_value(dict: &Dictionary, attr: &AttrDef, v: &[u8]) -> String {
    if attr.encrypt != Encrypt::None {
        return match v.split_first() {
            Some((&tag, rest)) if attr.has_tag && tag <= MAX_TAG => {
                format!("{}{}", tag_prefix(tag), hex_str(rest))
            }
            _ => hex_str(v),
        };
    }
    if attr.has_tag {
        if attr.ty == AttrType::Integer {
            // RFC 2868 tagged integers: tag octet + 24-bit value.
            if let [tag @ 0..=MAX_TAG, a, b, c] = *v {
                let n = u32::from_be_bytes([0, a, b, c]);
                return format!(
                    "{}{}",
                    tag_prefix(tag),
                    number_or_name(dict, attr, n.into())
                );
            }
            return hex_str(v);
        }
        // Tagged strings: a first octet of 0..31 is the tag, anything
        // larger is already the value (RFC 2868 section 3.1).
        if let Some((&tag @ 0..=MAX_TAG, rest)) = v.split_first() {
            return format!(
                "{}{}",
                tag_prefix(tag),
                format_plain(dict, attr, rest, true)
            );
        }
    }
    format_plain(dict, attr, v, attr.has_tag)
}

fn tag_prefix(tag: u8) -> String {
    if tag == 0 {
        String::new()
    } else {
        format!(":{tag} ")
    }
}

fn number_or_name(dict: &Dictionary, attr: &AttrDef, n: u64) -> String {
    match dict.value_name(attr, n) {
        Some(name) => name.to_string(),
        None => n.to_string(),
    }
}

/// Renders by type, without tag handling.
fn format_plain(dict: &Dictionary, attr: &AttrDef, v: &[u8], tagged: bool) -> String {
    match attr.ty {
        AttrType::String => format_string(v, tagged),
        AttrType::Ipaddr => match <[u8; 4]>::try_from(v) {
            Ok(a) => Ipv4Addr::from(a).to_string(),
            Err(_) => hex_str(v),
        },
        AttrType::Ipv6addr => match <[u8; 16]>::try_from(v) {
            Ok(a) => Ipv6Addr::from(a).to_string(),
            Err(_) => hex_str(v),
        },
        AttrType::ComboIp => match v.len() {
            4 | 16 => format_plain_as(
                dict,
                attr,
                v,
                if v.len() == 4 {
                    AttrType::Ipaddr
                } else {
                    AttrType::Ipv6addr
                },
            ),
            _ => hex_str(v),
        },
        AttrType::Ipv6prefix => format_ipv6prefix(v).unwrap_or_else(|| hex_str(v)),
        AttrType::Ipv4prefix => match *v {
            [_, len @ 0..=32, a, b, c, d] => format!("{}/{len}", Ipv4Addr::new(a, b, c, d)),
            _ => hex_str(v),
        },
        AttrType::Ifid => match *v {
            [a, b, c, d, e, f, g, h] => format!(
                "{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}",
                a, b, c, d, e, f, g, h
            ),
            _ => hex_str(v),
        },
        AttrType::Integer | AttrType::Short | AttrType::Byte | AttrType::Integer64 => {
            match be_uint(attr.ty, v) {
                Some(n) => number_or_name(dict, attr, n),
                None => hex_str(v),
            }
        }
        AttrType::Signed => match <[u8; 4]>::try_from(v) {
            Ok(a) => i32::from_be_bytes(a).to_string(),
            Err(_) => hex_str(v),
        },
        AttrType::Date => match <[u8; 4]>::try_from(v) {
            Ok(a) => format_date(u32::from_be_bytes(a)),
            Err(_) => hex_str(v),
        },
        AttrType::Ether => match *v {
            [a, b, c, d, e, f] => {
                format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
            }
            _ => hex_str(v),
        },
        AttrType::Octets
        | AttrType::Tlv
        | AttrType::Vsa
        | AttrType::Abinary
        | AttrType::Extended
        | AttrType::LongExtended
        | AttrType::Evs
        | AttrType::Other => hex_str(v),
    }
}

fn format_plain_as(dict: &Dictionary, attr: &AttrDef, v: &[u8], ty: AttrType) -> String {
    let as_ty = AttrDef { ty, ..attr.clone() };
    format_plain(dict, &as_ty, v, false)
}

/// The big-endian unsigned value, if `v` has exactly the type's size.
fn be_uint(ty: AttrType, v: &[u8]) -> Option<u64> {
    let size = match ty {
        AttrType::Byte => 1,
        AttrType::Short => 2,
        AttrType::Integer => 4,
        AttrType::Integer64 => 8,
        _ => return None,
    };
    if v.len() != size {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// RFC 3162 / 8044: reserved octet, prefix length, then as many prefix
/// octets as needed (up to 16).
fn format_ipv6prefix(v: &[u8]) -> Option<String> {
    let (&len, prefix) = v.get(1..)?.split_first()?;
    if len > 128 || prefix.len() > 16 || prefix.len() < usize::from(len).div_ceil(8) {
        return None;
    }
    let mut addr = [0u8; 16];
    addr[..prefix.len()].copy_from_slice(prefix);
    Some(format!("{}/{len}", Ipv6Addr::from(addr)))
}

fn hex_str(v: &[u8]) -> String {
    format!("0x{}", hex::encode(v))
}

fn format_string(v: &[u8], tagged: bool) -> String {
    let Ok(s) = std::str::from_utf8(v) else {
        return hex_str(v);
    };
    let trimmed = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let needs_quotes = s.is_empty()
        || trimmed.len() != s.len()
        || s.starts_with('"')
        || s.starts_with("0x")
        || s.starts_with("0X")
        || (tagged && s.starts_with(':'))
        || s.chars().any(char::is_control);
    if needs_quotes {
        quote(s)
    } else {
        s.to_string()
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // \xNN is a raw octet, so only ASCII controls use it; C1
            // controls are characters and get \u{..}.
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The inverse of [`quote`]; unknown escapes are kept literally so that a
/// Windows-style `DOMAIN\user` typed inside quotes survives.
fn unquote(inner: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            None => out.push(b'\\'),
            Some('"') => out.push(b'"'),
            Some('\\') => out.push(b'\\'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                let b = u8::from_str_radix(&h, 16)
                    .ok()
                    .filter(|_| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| format!("bad escape \\x{h}"))?;
                out.push(b);
            }
            Some('u') => {
                let rest = chars.as_str();
                let inner = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .map(|(code, _)| code)
                    .ok_or("bad escape \\u (expected \\u{hex})")?;
                let ch = u32::from_str_radix(inner, 16)
                    .ok()
                    .filter(|_| !inner.is_empty() && inner.len() <= 6)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad escape \\u{{{inner}}}"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                // Skip "{...}".
                for _ in 0..inner.chars().count() + 2 {
                    chars.next();
                }
            }
            Some(other) => {
                out.push(b'\\');
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

pub(super) fn parse_value(
    dict: &Dictionary,
    attr: &AttrDef,
    text: &str,
) -> Result<Vec<u8>, ValueError> {
    let bad = |reason: &str| ValueError {
        attr: attr.name.clone(),
        ty: attr.ty,
        text: text.chars().take(80).collect(),
        reason: reason.to_string(),
    };
    let mut body = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut tag = None;
    if let Some(rest) = body.strip_prefix(':').filter(|_| attr.has_tag) {
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let t = rest[..end]
            .parse::<u8>()
            .ok()
            .filter(|t| *t <= MAX_TAG)
            .ok_or_else(|| bad("a tag must be :0 to :31"))?;
        tag = Some(t);
        body = rest[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    }
    if attr.has_tag && attr.ty == AttrType::Integer && attr.encrypt == Encrypt::None {
        let n = parse_uint(dict, attr, body, 0xff_ffff).map_err(|r| bad(&r))?;
        return Ok(vec![
            tag.unwrap_or(0),
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ]);
    }
    let mut out = parse_plain(dict, attr, body).map_err(|r| bad(&r))?;
    if attr.has_tag {
        // Encrypted tagged values always carry the tag octet (it is outside
        // the hidden part); otherwise only when given, or when the value's
        // first octet would be mistaken for one.
        let always = attr.encrypt != Encrypt::None;
        match tag {
            Some(t) => out.insert(0, t),
            None if always || out.first().is_some_and(|&b| b <= MAX_TAG) => out.insert(0, 0),
            None => {}
        }
    }
    Ok(out)
}

fn parse_plain(dict: &Dictionary, attr: &AttrDef, s: &str) -> Result<Vec<u8>, String> {
    match attr.ty {
        AttrType::String => parse_bytes(s, true),
        AttrType::Octets
        | AttrType::Tlv
        | AttrType::Vsa
        | AttrType::Abinary
        | AttrType::Extended
        | AttrType::LongExtended
        | AttrType::Evs
        | AttrType::Other => parse_bytes(s, false),
        AttrType::Ipaddr => raw_hex(s).unwrap_or_else(|| {
            s.parse::<Ipv4Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| "not an IPv4 address".into())
        }),
        AttrType::Ipv6addr => raw_hex(s).unwrap_or_else(|| {
            s.parse::<Ipv6Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| "not an IPv6 address".into())
        }),
        AttrType::ComboIp => raw_hex(s).unwrap_or_else(|| {
            if let Ok(a) = s.parse::<Ipv4Addr>() {
                Ok(a.octets().to_vec())
            } else {
                s.parse::<Ipv6Addr>()
                    .map(|a| a.octets().to_vec())
                    .map_err(|_| "not an IPv4 or IPv6 address".into())
            }
        }),
        AttrType::Ipv6prefix => raw_hex(s).unwrap_or_else(|| parse_ipv6prefix(s)),
        AttrType::Ipv4prefix => raw_hex(s).unwrap_or_else(|| parse_ipv4prefix(s)),
        AttrType::Ifid => raw_hex(s).unwrap_or_else(|| parse_ifid(s)),
        AttrType::Ether => raw_hex(s).unwrap_or_else(|| parse_ether(s)),
        AttrType::Byte => Ok(vec![parse_uint(dict, attr, s, 0xff)? as u8]),
        AttrType::Short => Ok((parse_uint(dict, attr, s, 0xffff)? as u16)
            .to_be_bytes()
            .to_vec()),
        AttrType::Integer => Ok((parse_uint(dict, attr, s, u32::MAX.into())? as u32)
            .to_be_bytes()
            .to_vec()),
        AttrType::Integer64 => Ok(parse_uint(dict, attr, s, u64::MAX)?.to_be_bytes().to_vec()),
        AttrType::Signed => {
            let n = match dict.value_by_name(attr, s) {
                Some(v) => u32::try_from(v).map(|v| v as i32).ok(),
                None => s.parse::<i32>().ok(),
            };
            n.map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(|| "not a signed 32-bit number".into())
        }
        AttrType::Date => {
            let secs = match parse_u64(s) {
                Some(n) => u32::try_from(n).map_err(|_| "date is after 2106".to_string())?,
                None => parse_date(s)?,
            };
            Ok(secs.to_be_bytes().to_vec())
        }
    }
}

/// A VALUE name or a number (decimal or 0x hex) up to `max`.
fn parse_uint(dict: &Dictionary, attr: &AttrDef, s: &str, max: u64) -> Result<u64, String> {
    let n = match dict.value_by_name(attr, s) {
        Some(n) => n,
        None => parse_u64(s).ok_or_else(|| {
            if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                "number is too large".to_string()
            } else {
                "not a number or a known VALUE name".to_string()
            }
        })?,
    };
    if n > max {
        return Err(format!("{n} is larger than {max}"));
    }
    Ok(n)
}

/// `0x..` for types that are not hex by nature: the raw octets (this is
/// how [`format_value`] shows a value of the wrong length).
fn raw_hex(s: &str) -> Option<Result<Vec<u8>, String>> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    Some(hex::decode(h).map_err(|e| format!("bad hex: {e}")))
}

/// Octet strings: `0x`-hex, a double-quoted string with escapes, or the
/// text itself. For strings, `0x` that is not valid hex is literal text.
fn parse_bytes(s: &str, lenient_hex: bool) -> Result<Vec<u8>, String> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        match hex::decode(h) {
            Ok(v) => return Ok(v),
            Err(_) if lenient_hex => return Ok(s.as_bytes().to_vec()),
            Err(e) => return Err(format!("bad hex: {e}")),
        }
    }
    if let Some(inner) = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| s.len() >= 2)
    {
        return unquote(inner);
    }
    Ok(s.as_bytes().to_vec())
}

/// `addr/len`, or a bare address meaning a full-length prefix.
fn split_prefix(s: &str, max: u8) -> Result<(&str, u8), String> {
    match s.split_once('/') {
        Some((a, l)) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .map(|l| (a, l))
            .ok_or_else(|| format!("prefix length must be 0..{max}")),
        None => Ok((s, max)),
    }
}

fn parse_ipv6prefix(s: &str) -> Result<Vec<u8>, String> {
    let (addr, len) = split_prefix(s, 128)?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| "not an IPv6 prefix (addr/len)")?;
    let mut octets = addr.octets();
    mask_bits(&mut octets, len);
    let n = usize::from(len).div_ceil(8);
    let mut out = vec![0, len];
    out.extend_from_slice(&octets[..n]);
    Ok(out)
}

fn parse_ipv4prefix(s: &str) -> Result<Vec<u8>, String> {
    let (addr, len) = split_prefix(s, 32)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| "not an IPv4 prefix (addr/len)")?;
    let mut octets = addr.octets();
    mask_bits(&mut octets, len);
    let mut out = vec![0, len];
    out.extend_from_slice(&octets);
    Ok(out)
}

/// Clears the bits after the first `len` (prefix fields must have them
/// zero, RFC 8044).
fn mask_bits(octets: &mut [u8], len: u8) {
    let len = usize::from(len);
    for (i, o) in octets.iter_mut().enumerate() {
        let start = i * 8;
        if start >= len {
            *o = 0;
        } else if start + 8 > len {
            *o &= 0xffu8 << (8 - (len - start));
        }
    }
}

fn parse_ifid(s: &str) -> Result<Vec<u8>, String> {
    let groups: Vec<&str> = s.split(':').collect();
    if groups.len() != 4 {
        return Err("an interface id is four groups of hex digits (xxxx:xxxx:xxxx:xxxx)".into());
    }
    let mut out = Vec::with_capacity(8);
    for g in groups {
        let n = (!g.is_empty() && g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u16::from_str_radix(g, 16).ok())
            .flatten()
            .ok_or("an interface id is four groups of hex digits (xxxx:xxxx:xxxx:xxxx)")?;
        out.extend_from_slice(&n.to_be_bytes());
    }
    Ok(out)
}

fn parse_ether(s: &str) -> Result<Vec<u8>, String> {
    const WHY: &str = "a MAC address is six hex octets (aa:bb:cc:dd:ee:ff)";
    let groups: Vec<&str> = s.split([':', '-']).collect();
    if groups.len() != 6 {
        return Err(WHY.into());
    }
    groups
        .iter()
        .map(|g| {
            (!g.is_empty() && g.len() <= 2 && g.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(g, 16).ok())
                .flatten()
                .ok_or_else(|| WHY.to_string())
        })
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March-based month
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub(super) fn format_date(secs: u32) -> String {
    let secs = i64::from(secs);
    let (y, mo, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// RFC 3339 (`2026-11-22T00:00:00Z`, any `±HH:MM` offset, optional
/// fraction, `T` or a space) or a bare `2026-11-22` (midnight UTC).
pub(super) fn parse_date(s: &str) -> Result<u32, String> {
    const WHY: &str = "not a date (expected seconds or RFC 3339, e.g. 2026-11-22T00:00:00Z)";
    let num = |t: &str| -> Result<u32, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WHY.into());
        }
        t.parse().map_err(|_| WHY.to_string())
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let dp: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = dp.as_slice() else {
        return Err(WHY.into());
    };
    if y.len() != 4 {
        return Err(WHY.into());
    }
    let (y, mo, d) = (i64::from(num(y)?), num(mo)?, num(d)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err("no such calendar date".into());
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    if let Some(time) = time {
        // Split off the zone: Z, or +HH:MM / -HH:MM after the seconds.
        let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = time.rfind(['+', '-']) {
            let (c, z) = time.split_at(i);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let Some((oh, om)) = z[1..].split_once(':') else {
                return Err(WHY.into());
            };
            let (oh, om) = (num(oh)?, num(om)?);
            if oh > 23 || om > 59 {
                return Err(WHY.into());
            }
            (c, sign * i64::from(oh * 3600 + om * 60))
        } else {
            return Err("a time needs a zone (Z or ±HH:MM)".into());
        };
        let clock = clock.split('.').next().unwrap_or(clock);
        let tp: Vec<&str> = clock.split(':').collect();
        let [h, mi, se] = tp.as_slice() else {
            return Err(WHY.into());
        };
        let (h, mi, se) = (num(h)?, num(mi)?, num(se)?);
        if h > 23 || mi > 59 || se > 60 {
            return Err("no such time of day".into());
        }
        secs += i64::from(h * 3600 + mi * 60 + se) - offset;
    }
    u32::try_from(secs).map_err(|_| "date is outside 1970..2106".into())
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}
