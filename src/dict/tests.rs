use super::*;
use std::collections::{BTreeSet, HashMap};

/// A small file using every keyword the loader knows.
const FIXTURE: &str = "\
# comment line
ATTRIBUTE\tUser-Name\t1\tstring
ATTRIBUTE User-Password 2 string encrypt=1   # trailing comment
ATTRIBUTE NAS-IP-Address 4 ipaddr
VALUE Service-Type Login-User 1   # before its ATTRIBUTE: resolved at the end
ATTRIBUTE Service-Type 6 integer
VALUE Service-Type Framed-User 2
VALUE Service-Type Framed 2
VALUE service-type FRAMED 2
ATTRIBUTE Filter-Id 0x0b string
ATTRIBUTE Login-Time 55 date
ATTRIBUTE Tunnel-Type 64 integer has_tag
VALUE Tunnel-Type L2TP 3
ATTRIBUTE Tunnel-Password 69 string has_tag,encrypt=2
ATTRIBUTE Vendor-Specific 26 vsa
ATTRIBUTE Framed-IPv6-Prefix 97 ipv6prefix
ATTRIBUTE Delegated-IPv6-Prefix 123 ipv6prefix
ATTRIBUTE Framed-Interface-Id 96 ifid
ATTRIBUTE Old-Name 200 octets[16] array,virtual,secret,clone=Foo,weird
ATTRIBUTE New-Name 200 octets
ATTRIBUTE Extended-Attribute-1 241 extended
ATTRIBUTE Frag-Status 241.1 integer
ATTRIBUTE Extended-Attribute-5 245 long-extended
ATTRIBUTE Extended-Vendor-Specific-5 245.26 evs
VENDOR Acme 9999 format=2,1
BEGIN-VENDOR Acme
ATTRIBUTE Acme-Thing 300 short
ATTRIBUTE Acme-Group 1 tlv
BEGIN-TLV Acme-Group
ATTRIBUTE Acme-Group-Name 1 string
ATTRIBUTE Acme-Group-Sub 2 tlv
BEGIN-TLV Acme-Group-Sub
ATTRIBUTE Acme-Group-Sub-Mac 1 ether
END-TLV Acme-Group-Sub
END-TLV Acme-Group
END-VENDOR Acme
VENDOR WiMAX 24757 format=1,1,c
VENDOR WiMAX 24757 format=1,1,c
VENDOR Cisco 9
ATTRIBUTE Cisco-AVPair 26.9.1 string
ATTRIBUTE Cisco-Legacy 2 integer Cisco
BEGIN-VENDOR Acme format=Extended-Vendor-Specific-5
ATTRIBUTE Acme-Evs 1 octets
END-VENDOR Acme
FLAGS internal
ATTRIBUTE Internal-Thing 3000 integer64
FLAGS !internal
PROTOCOL RADIUS 1
BEGIN-PROTOCOL DHCPv4
ATTRIBUTE Message-Type 53 uint8
STRUCT whatever
END-PROTOCOL DHCPv4
BEGIN-PROTOCOL RADIUS
ATTRIBUTE Signed-Thing 3001 signed
END-PROTOCOL RADIUS
ATTRIBUTE Session-Bytes 3002 uint64
ATTRIBUTE Pkt-Mac 3003 ether
ATTRIBUTE Combo 3004 combo-ip
ATTRIBUTE V6 3005 ipv6addr
ATTRIBUTE V4-Prefix 3006 ipv4prefix
ATTRIBUTE A-Byte 3007 byte
VALUE A-Byte Max 255
ATTRIBUTE Ascend-Data-Filter 242 abinary
ATTRIBUTE Future 3008 struct
";

fn fixture() -> Dictionary {
    match Dictionary::parse_str("fixture", FIXTURE) {
        Ok(d) => d,
        Err(e) => panic!("fixture failed to load: {e}"),
    }
}

fn attr<'a>(d: &'a Dictionary, name: &str) -> &'a AttrDef {
    d.attr_by_name(name)
        .unwrap_or_else(|| panic!("attribute {name} missing"))
}

#[test]
fn fixture_keywords() {
    let d = fixture();

    let un = attr(&d, "user-name");
    assert_eq!((un.name.as_str(), un.vendor, un.code), ("User-Name", 0, 1));
    assert_eq!(un.oid, vec![1]);
    assert_eq!(un.ty, AttrType::String);
    assert_eq!(attr(&d, "User-Password").encrypt, Encrypt::UserPassword);
    assert_eq!(attr(&d, "Filter-Id").code, 11, "hex number");
    let tp = attr(&d, "Tunnel-Password");
    assert!(tp.has_tag);
    assert_eq!(tp.encrypt, Encrypt::TunnelPassword);

    // VALUE before ATTRIBUTE; aliases: last name printed, all accepted.
    let st = attr(&d, "Service-Type");
    assert_eq!(d.value_name(st, 1), Some("Login-User"));
    assert_eq!(d.value_name(st, 2), Some("Framed"));
    assert_eq!(d.value_by_name(st, "framed-user"), Some(2));
    assert_eq!(d.value_by_name(st, "FRAMED"), Some(2));
    assert_eq!(d.value_by_name(st, "nope"), None);
    assert_eq!(
        d.values_of(st),
        vec![(1, "Login-User"), (2, "Framed"), (2, "Framed-User")]
    );

    // Same number, two names: the later name wins for number lookups,
    // both names resolve, flags come from each definition.
    assert_eq!(d.attr(0, 200).map(|a| a.name.as_str()), Some("New-Name"));
    let old = attr(&d, "old-name");
    assert_eq!(old.code, 200);
    let f = d.attr_flags(old).cloned().unwrap_or_default();
    assert!(f.array && f.virtual_ && f.secret);
    assert_eq!(f.fixed_len, Some(16));
    assert_eq!(f.other, vec!["clone=Foo".to_string(), "weird".to_string()]);

    // Extended and EVS.
    let fs = attr(&d, "Frag-Status");
    assert_eq!((fs.vendor, fs.code, fs.oid.clone()), (0, 241, vec![241, 1]));
    assert_eq!(d.attr(0, 241).map(|a| a.ty), Some(AttrType::Extended));
    assert_eq!(
        d.attr_by_oid(0, &[241, 1]).map(|a| a.name.as_str()),
        Some("Frag-Status")
    );
    let evs = attr(&d, "Acme-Evs");
    assert_eq!(evs.vendor, 0);
    assert_eq!(evs.oid, vec![245, 26, 9999, 1]);
    assert_eq!(attr(&d, "Extended-Vendor-Specific-5").ty, AttrType::Evs);
    assert_eq!(attr(&d, "Extended-Attribute-5").ty, AttrType::LongExtended);

    // Vendors, blocks, nested TLVs.
    let acme = d
        .vendor(9999)
        .map(|v| (v.name.clone(), v.type_len, v.len_len));
    assert_eq!(acme, Some(("Acme".to_string(), 2, 1)));
    assert_eq!(d.vendor_by_name("ACME").map(|v| v.id), Some(9999));
    assert_eq!(d.attr(9999, 300).map(|a| a.ty), Some(AttrType::Short));
    let mac = attr(&d, "Acme-Group-Sub-Mac");
    assert_eq!(
        (mac.vendor, mac.code, mac.oid.clone()),
        (9999, 1, vec![1, 2, 1])
    );
    assert_eq!(mac.ty, AttrType::Ether);
    assert_eq!(attr(&d, "Acme-Group-Name").oid, vec![1, 1]);
    assert!(d.vendor_has_continuation(24757));
    assert!(!d.vendor_has_continuation(9999));
    let wimax = d.vendor(24757).map(|v| (v.type_len, v.len_len));
    assert_eq!(wimax, Some((1, 1)));
    assert_eq!(d.vendor(9).map(|v| (v.type_len, v.len_len)), Some((1, 1)));

    // 26.<pec>.<n> and the old trailing vendor-name field.
    let av = attr(&d, "Cisco-AVPair");
    assert_eq!((av.vendor, av.code, av.oid.clone()), (9, 1, vec![1]));
    assert_eq!(d.attr(9, 2).map(|a| a.name.as_str()), Some("Cisco-Legacy"));

    // FLAGS internal applies until cleared.
    let it = attr(&d, "Internal-Thing");
    assert_eq!(it.ty, AttrType::Integer64);
    assert!(d.attr_flags(it).is_some_and(|f| f.internal));
    assert!(
        !d.attr_flags(attr(&d, "Signed-Thing"))
            .is_some_and(|f| f.internal)
    );

    // Non-RADIUS protocol blocks are skipped, RADIUS ones are read.
    assert!(d.attr_by_name("Message-Type").is_none());
    assert_eq!(attr(&d, "Signed-Thing").ty, AttrType::Signed);
    assert_eq!(attr(&d, "Session-Bytes").ty, AttrType::Integer64);
    assert_eq!(attr(&d, "Future").ty, AttrType::Other);

    assert_eq!(
        d.counts(),
        Counts {
            attributes: 36,
            values: 5,
            vendors: 3
        }
    );
    assert_eq!(d.attributes().count(), 36);
    assert_eq!(
        d.defined_at(attr(&d, "Filter-Id")).as_deref(),
        Some("fixture:10")
    );
    assert_eq!(attr(&d, "Acme-Group-Sub-Mac").oid_string(), "1.2.1");
}

/// Parses `text` as file `t.dict` and returns the error text.
fn parse_err(text: &str) -> String {
    match Dictionary::parse_str("t.dict", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_file_and_line() {
    let base = "VENDOR V 77\nATTRIBUTE Str 1 string\nATTRIBUTE Tlv 2 tlv\n";
    // (extra lines appended after `base`, expected line, expected text)
    let cases: &[(&str, usize, &str)] = &[
        (
            "ATTRIBUTE Foo 5",
            4,
            "ATTRIBUTE needs a name, a number and a type",
        ),
        ("ATTRIBUTE Foo 5 string has_tag extra", 4, "too many fields"),
        ("ATTRIBUTE Foo five string", 4, "'five' is not a number"),
        ("ATTRIBUTE Foo 1..2 string", 4, "empty part"),
        ("ATTRIBUTE Foo 99999999999 string", 4, "not a number"),
        ("ATTRIBUTE Foo 5 str!ng", 4, "is not a type name"),
        ("ATTRIBUTE Foo 5 octets[x]", 4, "size that is not a number"),
        ("ATTRIBUTE F$o 5 string", 4, "invalid character"),
        ("ATTRIBUTE Foo 5 string encrypt=9", 4, "encrypt=9"),
        ("ATTRIBUTE Foo 5 string has_tag,,x", 4, "empty flag"),
        (
            "ATTRIBUTE Str 6 string",
            4,
            "name already defined as number 1 at t.dict:2",
        ),
        (
            "ATTRIBUTE Foo 7.1 string",
            4,
            "parent attribute number 7 is not defined",
        ),
        (
            "ATTRIBUTE Foo 1.1 string",
            4,
            "parent Str is of type string",
        ),
        ("ATTRIBUTE Foo 2.300 string", 4, "larger than 255"),
        (
            "ATTRIBUTE Foo 26.42.1 string",
            4,
            "vendor 42, which is not defined",
        ),
        ("BOGUS x y", 4, "unknown keyword 'BOGUS'"),
        (
            "VALUE Str\n",
            4,
            "VALUE needs an attribute name, a value name and a number",
        ),
        ("VALUE Str A 1", 4, "type string, which cannot have VALUEs"),
        (
            "\nVALUE Nope A 1\nATTRIBUTE Z 9 integer",
            5,
            "VALUE A for unknown ATTRIBUTE Nope",
        ),
        (
            "ATTRIBUTE B 9 byte\nVALUE B Big 256",
            5,
            "256 is too large for a byte",
        ),
        (
            "ATTRIBUTE I 9 integer\nVALUE I A 1\nVALUE I a 2",
            6,
            "name already defined as 1",
        ),
        (
            "ATTRIBUTE I 9 integer\nVALUE I A x",
            5,
            "'x' is not a number",
        ),
        ("VENDOR W", 4, "VENDOR needs a name and a number"),
        ("VENDOR W x", 4, "'x' is not a number"),
        ("VENDOR W 5 format=3,1", 4, "not 1, 2 or 4"),
        ("VENDOR W 5 format=2,1,c", 4, "needs format=1,1"),
        ("VENDOR W 5 length=2", 4, "unknown option"),
        (
            "VENDOR V 78",
            4,
            "name already defined for vendor number 77",
        ),
        ("END-VENDOR V", 4, "END-VENDOR V without BEGIN-VENDOR"),
        (
            "BEGIN-VENDOR V\nEND-VENDOR W",
            5,
            "does not match BEGIN-VENDOR V (line 4)",
        ),
        ("BEGIN-VENDOR V\nBEGIN-VENDOR V", 5, "blocks do not nest"),
        (
            "BEGIN-VENDOR V\nATTRIBUTE Foo 1 string",
            4,
            "BEGIN-VENDOR V has no matching END-VENDOR",
        ),
        ("BEGIN-VENDOR Q", 4, "unknown vendor"),
        ("BEGIN-VENDOR V format=Str", 4, "not evs"),
        (
            "BEGIN-VENDOR V\nATTRIBUTE Big 256 string\nEND-VENDOR V",
            5,
            "1-octet type field",
        ),
        ("BEGIN-TLV Str", 4, "not tlv"),
        ("BEGIN-TLV Nope", 4, "unknown attribute"),
        ("END-TLV Tlv", 4, "END-TLV Tlv without BEGIN-TLV"),
        (
            "BEGIN-TLV Tlv\nEND-TLV Str",
            5,
            "does not match BEGIN-TLV Tlv",
        ),
        (
            "BEGIN-TLV Tlv\n\n",
            4,
            "BEGIN-TLV Tlv has no matching END-TLV",
        ),
        ("END-PROTOCOL RADIUS", 4, "without BEGIN-PROTOCOL"),
        ("PROTOCOL RADIUS x", 4, "is not a number"),
        ("$INCLUDE other", 4, "$INCLUDE is not allowed here"),
        ("$INCLUDE", 4, "$INCLUDE needs exactly one file name"),
    ];
    for (extra, line, why) in cases {
        let text = format!("{base}{extra}\n");
        let msg = parse_err(&text);
        let want_prefix = format!("t.dict:{line}: ");
        assert!(
            msg.starts_with(&want_prefix) && msg.contains(why),
            "for {extra:?}: got {msg:?}, wanted {want_prefix}...{why}..."
        );
    }
}

#[test]
fn error_display_and_accessors() {
    let e = match Dictionary::parse_str("dictionaries/dictionary.foo", "\n\nATTRIBUTE Foo 12\n") {
        Ok(_) => panic!("should fail"),
        Err(e) => e,
    };
    assert_eq!(
        e.to_string(),
        "dictionaries/dictionary.foo:3: ATTRIBUTE needs a name, a number and a type"
    );
    assert_eq!(e.file(), "dictionaries/dictionary.foo");
    assert_eq!(e.line(), Some(3));
}

/// A reader over an in-memory file tree.
fn mem_reader(files: &[(&str, &str)]) -> impl Fn(&Path) -> io::Result<String> + use<> {
    let map: HashMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    move |p: &Path| {
        map.get(p)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

#[test]
fn includes_resolve_relative_to_the_including_file() {
    let read = mem_reader(&[
        (
            "d/dictionary",
            "$INCLUDE sub/dictionary.a\n$INCLUDE- dictionary.missing\n",
        ),
        (
            "d/sub/dictionary.a",
            "ATTRIBUTE A 1 string\n$INCLUDE ../dictionary.b\n",
        ),
        (
            "d/dictionary.b",
            "ATTRIBUTE B 2 integer\nVALUE A-Late X 1\n$INCLUDE /abs/dictionary.c\n",
        ),
        ("/abs/dictionary.c", "ATTRIBUTE A-Late 3 integer\n"),
    ]);
    let d = match Dictionary::load_with(Path::new("d/./dictionary"), read) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(d.counts().attributes, 3);
    assert_eq!(d.value_by_name(attr(&d, "A-Late"), "x"), Some(1));
    assert_eq!(
        d.defined_at(attr(&d, "B")).as_deref(),
        Some("d/dictionary.b:1")
    );
}

#[test]
fn include_cycle_is_refused() {
    let read = mem_reader(&[
        ("t/dictionary", "# top\n$INCLUDE dictionary.a\n"),
        (
            "t/dictionary.a",
            "ATTRIBUTE A 1 string\n$INCLUDE dictionary.b\n",
        ),
        ("t/dictionary.b", "\n\n$INCLUDE ./dictionary.a\n"),
    ]);
    let msg = match Dictionary::load_with(Path::new("t/dictionary"), read) {
        Ok(_) => panic!("cycle accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        msg,
        "t/dictionary.b:3: $INCLUDE cycle: t/dictionary.a -> t/dictionary.b -> t/dictionary.a"
    );

    let read = mem_reader(&[("self", "$INCLUDE self\n")]);
    let msg = Dictionary::load_with(Path::new("self"), read).map(|_| ());
    assert!(
        matches!(&msg, Err(e) if e.to_string() == "self:1: $INCLUDE cycle: self -> self"),
        "{msg:?}"
    );
}

#[test]
fn missing_files_are_errors() {
    let read = mem_reader(&[("t/dictionary", "\n$INCLUDE dictionary.gone\n")]);
    match Dictionary::load_with(Path::new("t/dictionary"), read) {
        Err(e @ DictError::Include { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("t/dictionary:2: cannot read $INCLUDE file t/dictionary.gone"),
                "{msg}"
            );
            assert_eq!(e.line(), Some(2));
        }
        other => panic!("unexpected {other:?}"),
    }

    let missing = Path::new("/nonexistent/radcare/dictionary");
    match Dictionary::load(missing) {
        Err(e @ DictError::Io { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("/nonexistent/radcare/dictionary: ")
            );
            assert_eq!(e.line(), None);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn extend_with_file_layers_and_rolls_back() {
    let dir = std::env::temp_dir().join(format!("radcare-dict-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let good = dir.join("dictionary.site");
    let bad = dir.join("dictionary.bad");
    let written = std::fs::write(&good, "VENDOR Site 65000\nBEGIN-VENDOR Site\nATTRIBUTE Site-Role 1 integer\nEND-VENDOR Site\nVALUE Service-Type Site-Special 99\n")
        .and_then(|_| std::fs::write(&bad, "ATTRIBUTE Zzz 1 string\nATTRIBUTE User-Name 77 string\n"));
    if let Err(e) = written {
        panic!("cannot write temp files: {e}");
    }
    let mut d = fixture();
    if let Err(e) = d.extend_with_file(&good) {
        panic!("{e}");
    }
    assert_eq!(d.attr(65000, 1).map(|a| a.name.as_str()), Some("Site-Role"));
    assert_eq!(
        d.value_name(attr(&d, "Service-Type"), 99),
        Some("Site-Special")
    );
    let before = d.counts();
    let res = d.extend_with_file(&bad);
    assert!(matches!(&res, Err(e) if e.line() == Some(2)), "{res:?}");
    assert_eq!(
        d.counts(),
        before,
        "a failed extend leaves the dictionary as it was"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// format_value(parse_value(text)) == text for canonical forms.
#[test]
fn values_round_trip_by_type() {
    let d = fixture();
    let cases: &[(&str, &str, &[u8])] = &[
        ("User-Name", "bob", b"bob"),
        (
            "User-Name",
            "caf\u{e9} \u{1f600}",
            "caf\u{e9} \u{1f600}".as_bytes(),
        ),
        (
            "User-Name",
            "\"two\\nlines\\t\\\"q\\\" \\\\ \\x01\"",
            b"two\nlines\t\"q\" \\ \x01",
        ),
        ("User-Name", "\"\"", b""),
        ("User-Name", "\" padded \"", b" padded "),
        ("User-Name", "\"0xnot-hex\"", b"0xnot-hex"),
        ("User-Name", "\"\\u{85}\"", "\u{85}".as_bytes()),
        ("User-Name", "0xff00", &[0xff, 0x00]),
        ("User-Name", "DOMAIN\\user", b"DOMAIN\\user"),
        ("Vendor-Specific", "0x0000000901", &[0, 0, 0, 9, 1]),
        ("New-Name", "0x", &[]),
        ("NAS-IP-Address", "192.0.2.1", &[192, 0, 2, 1]),
        ("NAS-IP-Address", "0x0102", &[1, 2]),
        (
            "V6",
            "2001:db8::1",
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        ("Combo", "10.0.0.1", &[10, 0, 0, 1]),
        (
            "Combo",
            "::1",
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        (
            "Framed-IPv6-Prefix",
            "2001:db8::/32",
            &[0, 32, 0x20, 0x01, 0x0d, 0xb8],
        ),
        ("Framed-IPv6-Prefix", "::/0", &[0, 0]),
        (
            "Delegated-IPv6-Prefix",
            "2001:db8:0:80::/57",
            &[0, 57, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0x80],
        ),
        ("V4-Prefix", "10.1.0.0/16", &[0, 16, 10, 1, 0, 0]),
        (
            "Framed-Interface-Id",
            "0211:22ff:fe33:4455",
            &[2, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55],
        ),
        ("Service-Type", "Framed", &[0, 0, 0, 2]),
        ("Service-Type", "7", &[0, 0, 0, 7]),
        ("Service-Type", "4294967295", &[0xff; 4]),
        ("Acme-Thing", "65535", &[0xff, 0xff]),
        ("A-Byte", "Max", &[255]),
        ("A-Byte", "7", &[7]),
        ("Signed-Thing", "-5", &[0xff, 0xff, 0xff, 0xfb]),
        ("Session-Bytes", "18446744073709551615", &[0xff; 8]),
        (
            "Login-Time",
            "2026-11-22T00:00:00Z",
            &[0x6b, 0x02, 0x30, 0x80],
        ),
        ("Login-Time", "1970-01-01T00:00:00Z", &[0, 0, 0, 0]),
        ("Login-Time", "2106-02-07T06:28:15Z", &[0xff; 4]),
        (
            "Pkt-Mac",
            "00:1a:2b:3c:4d:5e",
            &[0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e],
        ),
        ("Ascend-Data-Filter", "0x0101", &[1, 1]),
        ("Future", "0xabcd", &[0xab, 0xcd]),
        ("Frag-Status", "3", &[0, 0, 0, 3]),
        ("Tunnel-Type", "L2TP", &[0, 0, 0, 3]),
        ("Tunnel-Type", ":1 L2TP", &[1, 0, 0, 3]),
        ("Tunnel-Type", ":31 99", &[31, 0, 0, 99]),
        ("Acme-Group-Name", "x", b"x"),
    ];
    for (name, text, wire) in cases {
        let a = attr(&d, name);
        let got = d.parse_value(a, text);
        assert_eq!(got.as_deref(), Ok(*wire), "parse {name} {text:?}");
        assert_eq!(d.format_value(a, wire), *text, "format {name} {wire:?}");
    }
    assert_eq!(
        d.format_value(attr(&d, "Login-Time"), &1_795_305_600u32.to_be_bytes()),
        "2026-11-22T00:00:00Z"
    );
}

#[test]
fn tags_and_encryption() {
    let d = fixture();
    // Tagged strings: a first octet up to 0x1f is the tag.
    let a = attr(&d, "Tunnel-Password");
    assert_eq!(
        d.format_value(a, &[2, 0xab, 0xcd]),
        ":2 0xabcd",
        "ciphertext is hex"
    );
    assert_eq!(
        d.parse_value(a, ":2 s3cret").as_deref(),
        Ok(&b"\x02s3cret"[..])
    );
    assert_eq!(
        d.parse_value(a, "s3cret").as_deref(),
        Ok(&b"\x00s3cret"[..])
    );
    let up = attr(&d, "User-Password");
    assert_eq!(d.format_value(up, b"\x01\x02"), "0x0102");
    assert_eq!(d.parse_value(up, "pw").as_deref(), Ok(&b"pw"[..]));

    let mut tagged_str = attr(&d, "User-Name").clone();
    tagged_str.has_tag = true;
    assert_eq!(d.format_value(&tagged_str, b"\x03vpn"), ":3 vpn");
    assert_eq!(d.format_value(&tagged_str, b"\x00vpn"), "vpn");
    assert_eq!(d.format_value(&tagged_str, b"vpn"), "vpn");
    assert_eq!(d.format_value(&tagged_str, b"\x00:1 x"), "\":1 x\"");
    assert_eq!(
        d.parse_value(&tagged_str, ":3 vpn").as_deref(),
        Ok(&b"\x03vpn"[..])
    );
    assert_eq!(
        d.parse_value(&tagged_str, "vpn").as_deref(),
        Ok(&b"vpn"[..])
    );
    assert_eq!(
        d.parse_value(&tagged_str, "\"\\x05x\"").as_deref(),
        Ok(&b"\x00\x05x"[..])
    );
    assert_eq!(
        d.parse_value(&tagged_str, "\":1 x\"").as_deref(),
        Ok(&b":1 x"[..])
    );

    let tt = attr(&d, "Tunnel-Type");
    assert_eq!(
        d.format_value(tt, &[0x20, 0, 0, 3]),
        "0x20000003",
        "tag out of range"
    );
    assert!(d.parse_value(tt, ":32 L2TP").is_err());
    assert!(d.parse_value(tt, "16777216").is_err(), "24-bit value");
}

#[test]
fn wrong_lengths_and_bad_text() {
    let d = fixture();
    for (name, wire, shown) in [
        ("NAS-IP-Address", &[1u8, 2, 3][..], "0x010203"),
        ("Service-Type", &[1, 2, 3], "0x010203"),
        ("A-Byte", &[], "0x"),
        ("Login-Time", &[1], "0x01"),
        ("Pkt-Mac", &[1, 2], "0x0102"),
        ("Framed-IPv6-Prefix", &[0, 129], "0x0081"),
        ("Framed-IPv6-Prefix", &[0, 64, 1], "0x004001"),
        ("V4-Prefix", &[0, 33, 1, 2, 3, 4], "0x002101020304"),
        ("Framed-Interface-Id", &[1], "0x01"),
        ("Signed-Thing", &[1], "0x01"),
        ("Combo", &[1, 2], "0x0102"),
        ("User-Name", &[0xff, 0xfe], "0xfffe"),
    ] {
        assert_eq!(d.format_value(attr(&d, name), wire), shown, "{name}");
    }
    for (name, text) in [
        ("NAS-IP-Address", "300.1.1.1"),
        ("NAS-IP-Address", "0xzz"),
        ("Service-Type", "Nope"),
        ("Service-Type", "4294967296"),
        ("Service-Type", "-1"),
        ("A-Byte", "256"),
        ("Acme-Thing", "70000"),
        ("Signed-Thing", "2147483648"),
        ("Login-Time", "2026-02-30T00:00:00Z"),
        ("Login-Time", "2026-11-22T25:00:00Z"),
        ("Login-Time", "2026-11-22T00:00:00"),
        ("Login-Time", "1969-12-31T23:59:59Z"),
        ("Login-Time", "yesterday"),
        ("Pkt-Mac", "00:11:22:33:44"),
        ("Pkt-Mac", "00:11:22:33:44:zz"),
        ("Framed-Interface-Id", "1:2:3"),
        ("Framed-IPv6-Prefix", "2001:db8::/129"),
        ("V4-Prefix", "10.0.0.0/33"),
        ("New-Name", "0xabc"),
        ("User-Name", "\"bad \\xz1\""),
    ] {
        let res = d.parse_value(attr(&d, name), text);
        assert!(res.is_err(), "{name} {text:?} gave {res:?}");
    }
    let err = d.parse_value(attr(&d, "A-Byte"), "256");
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("A-Byte") && msg.contains("byte"), "{msg}");
    // Host bits are cleared; offsets and fractions are understood.
    assert_eq!(
        d.parse_value(attr(&d, "V4-Prefix"), "10.1.2.3/16")
            .as_deref(),
        Ok(&[0u8, 16, 10, 1, 0, 0][..])
    );
    assert_eq!(
        d.parse_value(attr(&d, "Login-Time"), "2026-11-22T02:00:00.5+02:00")
            .as_deref(),
        Ok(&1_795_305_600u32.to_be_bytes()[..])
    );
    assert_eq!(
        d.parse_value(attr(&d, "Login-Time"), " 1795305600 ")
            .as_deref(),
        Ok(&1_795_305_600u32.to_be_bytes()[..])
    );
    assert_eq!(
        d.parse_value(attr(&d, "Login-Time"), "2000-02-29")
            .as_deref(),
        Ok(&951_782_400u32.to_be_bytes()[..])
    );
    assert_eq!(
        d.parse_value(attr(&d, "Pkt-Mac"), "0-1A-2b-3C-4d-5E")
            .as_deref(),
        Ok(&[0u8, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e][..])
    );
}

#[test]
fn civil_date_conversions_agree() {
    use value::{civil_from_days, days_from_civil, format_date, parse_date};
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    for z in (-800_000..800_000).step_by(97) {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z);
    }
    assert_eq!(format_date(951_827_696), "2000-02-29T12:34:56Z");
    for secs in [
        0u32,
        59,
        86_399,
        86_400,
        951_827_696,
        1_795_305_600,
        u32::MAX,
    ] {
        assert_eq!(parse_date(&format_date(secs)), Ok(secs));
    }
}

/// Deterministic pseudo-random bytes (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Lcg(42);
    let words = [
        "ATTRIBUTE",
        "VALUE",
        "VENDOR",
        "BEGIN-VENDOR",
        "END-VENDOR",
        "BEGIN-TLV",
        "END-TLV",
        "$INCLUDE",
        "$INCLUDE-",
        "FLAGS",
        "PROTOCOL",
        "BEGIN-PROTOCOL",
        "END-PROTOCOL",
        "Foo",
        "Str",
        "Tlv",
        "V",
        "1",
        "0x1",
        "1.2",
        "241.1",
        "26.77.1",
        "string",
        "tlv",
        "evs",
        "octets[3]",
        "integer",
        "byte",
        "has_tag,encrypt=2",
        "format=2,1",
        "format=1,1,c",
        "format=Evs",
        "#",
        "\t",
        "é",
        "\u{0}",
        "..",
        "99999999999999999999",
        "internal",
    ];
    let fixture_bytes = FIXTURE.as_bytes();
    for _ in 0..3000 {
        // Random token soup.
        let mut text = String::from("VENDOR V 77\nATTRIBUTE Tlv 2 tlv\nATTRIBUTE Evs 245.26 evs\n");
        for _ in 0..rng.below(40) {
            text.push_str(words[rng.below(words.len())]);
            text.push(if rng.below(4) == 0 { '\n' } else { ' ' });
        }
        let _ = Dictionary::parse_str("fuzz", &text);
        // Byte-level mutations of the fixture.
        let mut bytes = fixture_bytes.to_vec();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(bytes.len());
            bytes[i] = rng.next() as u8;
        }
        let _ = Dictionary::parse_bytes("fuzz", &bytes);
    }
    // Every type renders and parses arbitrary input without panicking.
    let d = fixture();
    let attrs: Vec<AttrDef> = d.attributes().cloned().collect();
    for _ in 0..5000 {
        let mut a = attrs[rng.below(attrs.len())].clone();
        a.has_tag = rng.below(3) == 0;
        let len = rng.below(24);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let shown = d.format_value(&a, &bytes);
        let _ = d.parse_value(&a, &shown);
        let junk: String = (0..rng.below(20))
            .map(|_| char::from_u32(rng.next() as u32 % 0x250).unwrap_or('?'))
            .collect();
        let _ = d.parse_value(&a, &junk);
        let _ = d.parse_value(&a, &format!("\"{junk}\\u{{"));
    }
}

#[test]
fn debian_tree_loads() {
    let path = Path::new("/usr/share/freeradius/dictionary");
    if !path.exists() {
        let msg = "Debian's freeradius-common is not installed (apt-get install freeradius-common)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}; CI must have it");
        }
        eprintln!("note: skipping debian_tree_loads: {msg}");
        return;
    }
    let d = match Dictionary::load(path) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let c = d.counts();
    eprintln!("Debian tree: {c:?}");
    assert!(c.attributes > 5000, "{c:?}");
    assert!(c.values > 5000 && c.vendors > 100, "{c:?}");
    let ms = d.attr(311, 2).map(|a| a.name.as_str());
    assert_eq!(ms, Some("MS-CHAP-Error"));
    assert_eq!(
        d.value_name(attr(&d, "Acct-Status-Type"), 3),
        Some("Interim-Update")
    );
    let wimax = attr(&d, "WiMAX-Capability");
    assert_eq!((wimax.vendor, wimax.ty), (24757, AttrType::Tlv));
    assert!(d.vendor_has_continuation(24757));
    let evs = attr(&d, "FreeRADIUS-802.1X-Anonce");
    assert_eq!((evs.vendor, evs.oid.clone()), (0, vec![245, 26, 11344, 1]));
    // Not included by Debian's top file; uses the uintN type aliases.
    let dhcp = Dictionary::load(&path.with_file_name("dictionary.dhcp"));
    let dhcp = dhcp.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(attr(&dhcp, "Operator-Identifier").ty, AttrType::Integer);
    assert_eq!(attr(&dhcp, "Access-Technology-Type").ty, AttrType::Short);
}

#[test]
fn builtin_tree_loads() {
    let d = match Dictionary::builtin() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let up = attr(&d, "User-Password");
    assert_eq!(
        (up.vendor, up.code, up.encrypt),
        (0, 2, Encrypt::UserPassword)
    );
    let tp = attr(&d, "Tunnel-Password");
    assert_eq!(tp.encrypt, Encrypt::TunnelPassword);
    assert!(tp.has_tag);
    let ms = attr(&d, "MS-CHAP-Error");
    assert_eq!((ms.vendor, ms.code), (311, 2));
    assert_eq!(
        d.attr(311, 2).map(|a| a.name.as_str()),
        Some("MS-CHAP-Error")
    );
    let mk = attr(&d, "Mikrotik-Address-List");
    assert_eq!((mk.vendor, mk.code), (14988, 19));
    assert_eq!(d.attr(0, 11).map(|a| a.name.as_str()), Some("Filter-Id"));
    assert!(d.vendor(311).is_some() && d.vendor(14988).is_some());
}

/// Every file in dictionaries/ must be in EMBEDDED and vice versa, so a
/// new file cannot be forgotten (or a removed one left behind).
#[test]
fn embedded_set_matches_dictionaries_dir() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(EMBEDDED_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let on_disk: BTreeSet<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".md") && !n.starts_with("README"))
        .collect();
    let embedded: BTreeSet<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, embedded,
        "dictionaries/ and EMBEDDED in src/dict/mod.rs differ"
    );
    // The compiled-in copies are the files as they are now.
    for (name, text) in EMBEDDED {
        let disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(disk, *text, "{name} changed since the build");
    }
}

#[test]
fn lookups() {
    let d = fixture();
    assert!(d.attr(0, 9999).is_none());
    assert!(d.attr(12345, 1).is_none());
    assert!(d.vendor(1).is_none());
    assert!(d.attr_by_name("").is_none());
    assert!(d.attr_by_oid(9999, &[]).is_none());
    assert_eq!(
        d.attr_by_oid(9999, &[1, 2, 1]).map(|a| a.name.as_str()),
        Some("Acme-Group-Sub-Mac")
    );
    // A hand-built def with an empty oid still finds its VALUEs.
    let st = AttrDef {
        name: "Service-Type".into(),
        vendor: 0,
        code: 6,
        oid: Vec::new(),
        ty: AttrType::Integer,
        encrypt: Encrypt::None,
        has_tag: false,
        concat: false,
    };
    assert_eq!(d.value_name(&st, 2), Some("Framed"));
    assert_eq!(d.format_value(&st, &[0, 0, 0, 1]), "Login-User");
    assert_eq!(AttrType::from_name("UInt16"), AttrType::Short);
    assert_eq!(AttrType::from_name("String"), AttrType::String);
    assert_eq!(AttrType::ComboIp.to_string(), "combo-ip");
    assert_eq!(Dictionary::default().counts(), Counts::default());
}
