//! Untrusted dictionary text -> `Dictionary::parse_bytes`; then every attribute it defines
//! renders a few byte strings and parses a few strings taken from the input itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radcare::dict::{AttrDef, AttrType, Dictionary, Encrypt};

/// RFC 2868: on a tagged (non-integer, unencrypted) attribute a 0x00 tag octet in front
/// of a value that cannot be mistaken for a tag means the same as no tag octet, and
/// `format_value` deliberately drops it (`:0 vpn` and `vpn` both show as `vpn`, see the
/// dict tests `tags_and_encryption`). Round trips are compared modulo that octet.
fn untag0<'a>(a: &AttrDef, v: &'a [u8]) -> &'a [u8] {
    if !a.has_tag || a.encrypt != Encrypt::None || a.ty == AttrType::Integer {
        return v;
    }
    match v {
        [0, rest @ ..] if rest.first().is_none_or(|&b| b > 0x1f) => rest,
        _ => v,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(d) = Dictionary::parse_bytes("fuzz", data) else {
        return;
    };
    let _ = d.counts();

    // Byte strings for format_value: prefixes of the input at the sizes the value
    // decoders care about, plus a whole (capped) value.
    let mut values: Vec<&[u8]> = [0, 1, 2, 3, 4, 5, 6, 8, 16, 17, 18, 253]
        .iter()
        .map(|&n| &data[..n.min(data.len())])
        .collect();
    values.push(&data[data.len().saturating_sub(4)..]);

    // Strings for parse_value: the text of the input's comments (`# text`), which the
    // fuzzer can vary freely without breaking the dictionary; and the input's first line.
    let text = String::from_utf8_lossy(data);
    let mut texts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('#').map(|(_, c)| c))
        .take(4)
        .collect();
    if let Some(first) = text.lines().next() {
        texts.push(first);
    }

    for a in d.attributes() {
        let _ = a.oid_string();
        let _ = d.attr_flags(a);
        let _ = d.defined_at(a);
        let _ = d.values_of(a);
        for v in &values {
            let shown = d.format_value(a, v);
            let _ = d.parse_value(a, &shown);
        }
        for t in &texts {
            if let Ok(wire) = d.parse_value(a, t) {
                // What the parser produced is well formed, so it must survive a round trip
                // through its own text form.
                let shown = d.format_value(a, &wire);
                match d.parse_value(a, &shown) {
                    Ok(again) => assert_eq!(
                        untag0(a, &again),
                        untag0(a, &wire),
                        "{} ({:?}): {t:?} -> {wire:02x?} -> {shown:?} -> {again:02x?}",
                        a.name, a.ty
                    ),
                    Err(e) => panic!(
                        "{} ({:?}): {t:?} -> {wire:02x?} -> {shown:?} does not parse: {e}",
                        a.name, a.ty
                    ),
                }
            }
        }
    }
});
