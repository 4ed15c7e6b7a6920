//! The dictionary file parser: line syntax, VENDOR/TLV/PROTOCOL blocks,
//! `$INCLUDE` with cycle detection, and deferred VALUE resolution.

use std::io;
use std::path::{Path, PathBuf};

use super::{
    AttrDef, AttrFlags, AttrType, DictError, Dictionary, Encrypt, Origin, VendorDef, normalize,
};

/// Deeper than any real tree; stops runaway (e.g. symlink) include chains.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Bounds BEGIN-TLV nesting and dotted numbers, so hostile input cannot
/// build huge keys.
const MAX_TLV_DEPTH: usize = 16;
const MAX_OID_LEN: usize = 24;

type Reader<'a> = &'a dyn Fn(&Path) -> io::Result<String>;

/// A VALUE line whose ATTRIBUTE was not defined yet (FreeRADIUS allows
/// that; e.g. dictionary.bay adds VALUEs to attributes of other files).
struct PendingValue {
    file: u32,
    line: u32,
    attr: String,
    name: String,
    number: u64,
}

/// Per-file block state: blocks never span files.
#[derive(Default)]
struct FileState {
    vendor: Option<VendorBlock>,
    tlvs: Vec<TlvBlock>,
    /// (protocol name, line, is it RADIUS)
    protocols: Vec<(String, usize, bool)>,
    /// Set by `FLAGS internal`, cleared by `FLAGS !internal`.
    internal: bool,
}

struct VendorBlock {
    id: u32,
    name: String,
    line: usize,
    /// Non-empty for `format=Extended-Vendor-Specific-N`: the oid (in the
    /// standard space) that the block's attribute numbers hang under.
    evs_prefix: Vec<u32>,
}

struct TlvBlock {
    name: String,
    line: usize,
    vendor: u32,
    oid: Vec<u32>,
}

/// The position being parsed, for error messages.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    file: &'a str,
    file_idx: u32,
    path: Option<&'a Path>,
    line: usize,
}

impl Ctx<'_> {
    fn err(&self, msg: impl Into<String>) -> DictError {
        syntax(self.file, self.line, msg)
    }
}

fn syntax(file: &str, line: usize, msg: impl Into<String>) -> DictError {
    DictError::Syntax {
        file: file.to_string(),
        line,
        msg: msg.into(),
    }
}

struct Loader<'a> {
    dict: &'a mut Dictionary,
    /// `None` for a single-file parse, where `$INCLUDE` is refused.
    read: Option<Reader<'a>>,
    /// The chain of files being included, for cycle detection.
    stack: Vec<PathBuf>,
    pending: Vec<PendingValue>,
}

/// Loads `path` (and its includes) into `dict`.
pub(super) fn load_into(
    dict: &mut Dictionary,
    path: &Path,
    read: Reader<'_>,
) -> Result<(), DictError> {
    let path = normalize(path);
    let shown = path.display().to_string();
    let text = read(&path).map_err(|source| DictError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut loader = Loader {
        dict,
        read: Some(read),
        stack: vec![path.clone()],
        pending: Vec::new(),
    };
    loader.parse_file(&shown, Some(&path), &text)?;
    loader.resolve_pending()
}

/// Parses one self-contained file.
pub(super) fn parse_single(dict: &mut Dictionary, name: &str, text: &str) -> Result<(), DictError> {
    let mut loader = Loader {
        dict,
        read: None,
        stack: Vec::new(),
        pending: Vec::new(),
    };
    loader.parse_file(name, None, text)?;
    loader.resolve_pending()
}

impl Loader<'_> {
    fn parse_file(&mut self, file: &str, path: Option<&Path>, text: &str) -> Result<(), DictError> {
        let file_idx = u32::try_from(self.dict.files.len()).unwrap_or(u32::MAX);
        self.dict.files.push(file.to_string());
        let mut st = FileState::default();
        for (i, raw) in text.split('\n').enumerate() {
            let ctx = Ctx {
                file,
                file_idx,
                path,
                line: i + 1,
            };
            // FreeRADIUS cuts every line at the first '#', wherever it is
            // (Debian's dictionary.wimax has `integer #kb`).
            let content = raw.split('#').next().unwrap_or("");
            let toks: Vec<&str> = content.split_ascii_whitespace().collect();
            let Some((&kw, args)) = toks.split_first() else {
                continue;
            };
            self.line(&mut st, ctx, kw, args)?;
        }
        if let Some(t) = st.tlvs.last() {
            return Err(syntax(
                file,
                t.line,
                format!("BEGIN-TLV {} has no matching END-TLV", t.name),
            ));
        }
        if let Some(v) = &st.vendor {
            return Err(syntax(
                file,
                v.line,
                format!("BEGIN-VENDOR {} has no matching END-VENDOR", v.name),
            ));
        }
        if let Some((name, line, _)) = st.protocols.last() {
            return Err(syntax(
                file,
                *line,
                format!(
                    "BEGIN-PROTOCOL {} has no matching END-PROTOCOL",
                    printable(name)
                ),
            ));
        }
        Ok(())
    }

    fn line(
        &mut self,
        st: &mut FileState,
        ctx: Ctx<'_>,
        kw: &str,
        args: &[&str],
    ) -> Result<(), DictError> {
        let kw_upper = kw.to_ascii_uppercase();
        // Definitions for other protocols (FreeRADIUS v4 trees) are skipped
        // whole; only the block structure is still checked.
        let skipping = st.protocols.iter().any(|(_, _, radius)| !radius);
        if skipping && kw_upper != "BEGIN-PROTOCOL" && kw_upper != "END-PROTOCOL" {
            return Ok(());
        }
        match kw_upper.as_str() {
            "$INCLUDE" => self.include(ctx, args, false),
            "$INCLUDE-" => self.include(ctx, args, true),
            "ATTRIBUTE" => self.attribute(st, ctx, args),
            "VALUE" => self.value(ctx, args),
            "VENDOR" => self.vendor(ctx, args),
            "BEGIN-VENDOR" => self.begin_vendor(st, ctx, args),
            "END-VENDOR" => end_vendor(st, ctx, args),
            "BEGIN-TLV" => self.begin_tlv(st, ctx, args),
            "END-TLV" => end_tlv(st, ctx, args),
            "FLAGS" => flags_line(st, ctx, args),
            "PROTOCOL" => protocol_line(ctx, args),
            "BEGIN-PROTOCOL" => {
                let [name] = args else {
                    return Err(ctx.err("BEGIN-PROTOCOL needs exactly one protocol name"));
                };
                let radius = name.eq_ignore_ascii_case("RADIUS");
                st.protocols.push((name.to_string(), ctx.line, radius));
                Ok(())
            }
            "END-PROTOCOL" => {
                let [name] = args else {
                    return Err(ctx.err("END-PROTOCOL needs exactly one protocol name"));
                };
                match st.protocols.last() {
                    None => Err(ctx.err(format!(
                        "END-PROTOCOL {} without BEGIN-PROTOCOL",
                        printable(name)
                    ))),
                    Some((open, line, _)) if !open.eq_ignore_ascii_case(name) => {
                        Err(ctx.err(format!(
                            "END-PROTOCOL {} does not match BEGIN-PROTOCOL {} (line {line})",
                            printable(name),
                            printable(open)
                        )))
                    }
                    Some(_) => {
                        st.protocols.pop();
                        Ok(())
                    }
                }
            }
            _ => Err(ctx.err(format!("unknown keyword '{}'", printable(kw)))),
        }
    }

    fn include(&mut self, ctx: Ctx<'_>, args: &[&str], optional: bool) -> Result<(), DictError> {
        let [target] = args else {
            return Err(ctx.err("$INCLUDE needs exactly one file name"));
        };
        let (Some(read), Some(path)) = (self.read, ctx.path) else {
            return Err(ctx.err(
                "$INCLUDE is not allowed here (a single file is being parsed, with nothing to include from)",
            ));
        };
        let target = Path::new(target);
        let joined = if target.is_absolute() {
            target.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new("")).join(target)
        };
        let full = normalize(&joined);
        if let Some(pos) = self.stack.iter().position(|p| *p == full) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&full))
                .map(|p| p.display().to_string())
                .collect();
            return Err(ctx.err(format!("$INCLUDE cycle: {}", chain.join(" -> "))));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ctx.err(format!(
                "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} files deep"
            )));
        }
        let shown = full.display().to_string();
        let text = match read(&full) {
            Ok(text) => text,
            // `$INCLUDE-` is for files that may legitimately be absent.
            Err(e) if optional && e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(DictError::Include {
                    file: ctx.file.to_string(),
                    line: ctx.line,
                    path: shown,
                    source,
                });
            }
        };
        self.stack.push(full.clone());
        let res = self.parse_file(&shown, Some(&full), &text);
        self.stack.pop();
        res
    }

    fn attribute(&mut self, st: &FileState, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
        if args.len() < 3 {
            return Err(ctx.err("ATTRIBUTE needs a name, a number and a type"));
        }
        if args.len() > 4 {
            return Err(ctx.err(
                "ATTRIBUTE has too many fields (expected a name, a number, a type and optional flags)",
            ));
        }
        let name = args[0];
        check_name(name).map_err(|why| ctx.err(format!("ATTRIBUTE name {why}")))?;
        let rel = parse_oid(args[1]).map_err(|why| {
            ctx.err(format!(
                "ATTRIBUTE {name}: number '{}' {why}",
                printable(args[1])
            ))
        })?;
        let (ty, fixed_len) = parse_type(args[2]).map_err(|why| {
            ctx.err(format!(
                "ATTRIBUTE {name}: type '{}' {why}",
                printable(args[2])
            ))
        })?;

        let mut def = AttrDef {
            name: name.to_string(),
            vendor: 0,
            code: 0,
            oid: Vec::new(),
            ty,
            encrypt: Encrypt::None,
            has_tag: false,
            concat: false,
        };
        let mut flags = AttrFlags {
            fixed_len,
            internal: st.internal,
            ..AttrFlags::default()
        };
        let mut legacy_vendor = None;
        if let Some(list) = args.get(3) {
            legacy_vendor = self
                .parse_attr_flags(list, &mut def, &mut flags)
                .map_err(|why| ctx.err(format!("ATTRIBUTE {name}: {why}")))?;
        }

        // Where the number is relative to: an open TLV, an EVS vendor
        // block, a vendor, or the standard space.
        let (vendor, prefix): (u32, &[u32]) = if let Some(tlv) = st.tlvs.last() {
            if legacy_vendor.is_some() {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {name}: a vendor name flag is not allowed inside BEGIN-TLV"
                )));
            }
            (tlv.vendor, tlv.oid.as_slice())
        } else if let Some(vb) = &st.vendor {
            if legacy_vendor.is_some_and(|v| v != vb.id) {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {name}: vendor flag does not match BEGIN-VENDOR {}",
                    vb.name
                )));
            }
            if vb.evs_prefix.is_empty() {
                (vb.id, &[])
            } else {
                (0, vb.evs_prefix.as_slice())
            }
        } else if let Some(v) = legacy_vendor {
            (v, &[])
        } else {
            (0, &[])
        };
        let mut vendor = vendor;
        let mut oid: Vec<u32> = prefix.iter().chain(rel.iter()).copied().collect();
        // `26.<pec>.<n>` in the standard space is FreeRADIUS's spelling of
        // a vendor attribute outside a BEGIN-VENDOR block.
        if vendor == 0 && prefix.is_empty() && oid.len() >= 3 && oid[0] == 26 {
            let pec = oid[1];
            if self.dict.vendor(pec).is_none() {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {name}: number {} names vendor {pec}, which is not defined",
                    args[1]
                )));
            }
            vendor = pec;
            oid.drain(..2);
        }
        if oid.len() > MAX_OID_LEN {
            return Err(ctx.err(format!(
                "ATTRIBUTE {name}: nested more than {MAX_OID_LEN} levels deep"
            )));
        }
        let prefix_len = prefix.len();
        self.check_numbers(ctx, name, vendor, &oid, prefix_len, st)?;

        def.vendor = vendor;
        def.code = oid.first().copied().unwrap_or(0);
        def.oid = oid;
        self.add_attr(ctx, def, flags)
    }

    /// Range and parent checks for a new attribute's full number path.
    fn check_numbers(
        &self,
        ctx: Ctx<'_>,
        name: &str,
        vendor: u32,
        oid: &[u32],
        prefix_len: usize,
        st: &FileState,
    ) -> Result<(), DictError> {
        let Some(&code) = oid.first() else {
            return Err(ctx.err(format!("ATTRIBUTE {name}: empty number")));
        };
        if prefix_len == 0 && vendor != 0 {
            let type_len = self.dict.vendor(vendor).map_or(1, |v| v.type_len);
            let max: u64 = match type_len {
                1 => 0xff,
                2 => 0xffff,
                _ => u64::from(u32::MAX),
            };
            if u64::from(code) > max {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {name}: number {code} does not fit the vendor's {type_len}-octet type field"
                )));
            }
        }
        // Below the top level, numbers are one-octet TLV/extended types
        // (EVS prefixes carry a vendor number and are exempt).
        for &n in oid.iter().skip(prefix_len.max(1)) {
            if n > 255 {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {name}: sub-attribute number {n} is larger than 255"
                )));
            }
        }
        let evs_len = match (&st.vendor, st.tlvs.is_empty()) {
            (Some(vb), true) => vb.evs_prefix.len(),
            _ => 0,
        };
        if oid.len() > 1 && oid.len() - 1 > evs_len {
            let parent_oid = &oid[..oid.len() - 1];
            match self.dict.attr_by_oid(vendor, parent_oid) {
                None => {
                    return Err(ctx.err(format!(
                        "ATTRIBUTE {name}: parent attribute {} is not defined",
                        describe(vendor, parent_oid)
                    )));
                }
                Some(p) if !p.ty.is_container() => {
                    return Err(ctx.err(format!(
                        "ATTRIBUTE {name}: parent {} is of type {}, which cannot have sub-attributes",
                        p.name, p.ty
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Parses the comma-separated flags field. Returns a vendor if the
    /// field is an old-style vendor name.
    fn parse_attr_flags(
        &self,
        list: &str,
        def: &mut AttrDef,
        flags: &mut AttrFlags,
    ) -> Result<Option<u32>, String> {
        let mut vendor = None;
        for item in list.split(',') {
            if item.is_empty() {
                return Err(format!("empty flag in '{}'", printable(list)));
            }
            let (key, val) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (key.to_ascii_lowercase().as_str(), val) {
                ("has_tag", None) => def.has_tag = true,
                ("concat", None) => def.concat = true,
                ("array", None) => flags.array = true,
                ("virtual", None) => flags.virtual_ = true,
                ("internal", None) => flags.internal = true,
                ("secret", None) => flags.secret = true,
                ("long", None) => flags.long = true,
                ("encrypt", Some(v)) => {
                    def.encrypt = match v {
                        "0" => Encrypt::None,
                        "1" => Encrypt::UserPassword,
                        "2" => Encrypt::TunnelPassword,
                        "3" => Encrypt::AscendSecret,
                        _ => {
                            return Err(format!(
                                "encrypt={} is not one of 1, 2 or 3",
                                printable(v)
                            ));
                        }
                    }
                }
                ("encrypt", None) => return Err("encrypt needs a value (1, 2 or 3)".into()),
                (_, None) if self.dict.vendor_by_name(key).is_some() => {
                    // FreeRADIUS's old `ATTRIBUTE name num type Vendor` form.
                    vendor = self.dict.vendor_by_name(key).map(|v| v.id);
                }
                _ => {
                    if item.chars().any(char::is_control) {
                        return Err(format!("flag '{}' has control characters", printable(item)));
                    }
                    flags.other.push(item.to_string());
                }
            }
        }
        Ok(vendor)
    }

    fn add_attr(&mut self, ctx: Ctx<'_>, def: AttrDef, flags: AttrFlags) -> Result<(), DictError> {
        let d = &mut *self.dict;
        let lname = def.name.to_ascii_lowercase();
        if let Some(&old) = d.by_name.get(&lname) {
            let o = &d.attrs[old];
            // FreeRADIUS: same name and number overrides type/flags; the
            // same name for another number is a conflict.
            if o.vendor != def.vendor || o.key_oid() != def.oid.as_slice() {
                return Err(ctx.err(format!(
                    "ATTRIBUTE {}: name already defined as {} at {}",
                    def.name,
                    describe(o.vendor, o.key_oid()),
                    d.origin_string(old)
                )));
            }
        }
        let idx = d.attrs.len();
        d.by_name.insert(lname, idx);
        if def.oid.len() == 1 {
            d.by_code.insert((def.vendor, def.code), idx);
        }
        d.by_oid
            .entry(def.vendor)
            .or_default()
            .insert(def.oid.clone(), idx);
        d.attrs.push(def);
        d.flags.push(flags);
        d.origins.push(Origin {
            file: ctx.file_idx,
            line: u32::try_from(ctx.line).unwrap_or(u32::MAX),
        });
        Ok(())
    }

    fn value(&mut self, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
        let [attr, name, number] = args else {
            return Err(ctx.err("VALUE needs an attribute name, a value name and a number"));
        };
        if name.chars().any(char::is_control) {
            return Err(ctx.err(format!(
                "VALUE {}: value name '{}' has control characters",
                printable(attr),
                printable(name)
            )));
        }
        let number = parse_u64(number).ok_or_else(|| {
            ctx.err(format!(
                "VALUE {} {name}: '{}' is not a number",
                printable(attr),
                printable(number)
            ))
        })?;
        match self.dict.by_name.get(&attr.to_ascii_lowercase()) {
            Some(&idx) => add_value(self.dict, ctx.file, ctx.line, idx, name, number),
            None => {
                self.pending.push(PendingValue {
                    file: ctx.file_idx,
                    line: u32::try_from(ctx.line).unwrap_or(u32::MAX),
                    attr: attr.to_string(),
                    name: name.to_string(),
                    number,
                });
                Ok(())
            }
        }
    }

    /// Attaches VALUEs that came before their ATTRIBUTE; any still unknown
    /// is an error at the VALUE's line.
    fn resolve_pending(&mut self) -> Result<(), DictError> {
        for p in std::mem::take(&mut self.pending) {
            let file = self
                .dict
                .files
                .get(p.file as usize)
                .cloned()
                .unwrap_or_default();
            let line = p.line as usize;
            let Some(&idx) = self.dict.by_name.get(&p.attr.to_ascii_lowercase()) else {
                return Err(syntax(
                    &file,
                    line,
                    format!(
                        "VALUE {} for unknown ATTRIBUTE {}",
                        p.name,
                        printable(&p.attr)
                    ),
                ));
            };
            add_value(self.dict, &file, line, idx, &p.name, p.number)?;
        }
        Ok(())
    }

    fn vendor(&mut self, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
        if args.len() < 2 || args.len() > 3 {
            return Err(
                ctx.err("VENDOR needs a name and a number (and optionally format=<type>,<length>)")
            );
        }
        let name = args[0];
        check_name(name).map_err(|why| ctx.err(format!("VENDOR name {why}")))?;
        let id = parse_u32(args[1]).ok_or_else(|| {
            ctx.err(format!(
                "VENDOR {name}: '{}' is not a number",
                printable(args[1])
            ))
        })?;
        let format = match args.get(2) {
            Some(opt) => Some(
                parse_vendor_format(opt).map_err(|why| ctx.err(format!("VENDOR {name}: {why}")))?,
            ),
            None => None,
        };
        let d = &mut *self.dict;
        let lname = name.to_ascii_lowercase();
        if let Some(&old) = d.vendor_by_name.get(&lname) {
            let old_id = d.vendors[old].id;
            if old_id != id {
                return Err(ctx.err(format!(
                    "VENDOR {name}: name already defined for vendor number {old_id}"
                )));
            }
        }
        // Re-declaring (dictionary.wimax and friends all declare WiMAX)
        // keeps one vendor; a new format applies to every name of it.
        let inherited = d.vendor(id).map(|v| (v.type_len, v.len_len));
        let (type_len, len_len) = match (format, inherited) {
            (Some((t, l, _)), _) => (t, l),
            (None, Some(tl)) => tl,
            (None, None) => (1, 1),
        };
        if let Some((_, _, cont)) = format {
            if cont {
                d.vendor_cont.insert(id);
            } else {
                d.vendor_cont.remove(&id);
            }
        }
        for v in d.vendors.iter_mut().filter(|v| v.id == id) {
            v.type_len = type_len;
            v.len_len = len_len;
        }
        let idx = match d.vendor_by_name.get(&lname) {
            Some(&i) => i,
            None => {
                d.vendors.push(VendorDef {
                    name: name.to_string(),
                    id,
                    type_len,
                    len_len,
                });
                let i = d.vendors.len() - 1;
                d.vendor_by_name.insert(lname, i);
                i
            }
        };
        // The latest name of a number is the one printed.
        d.vendor_by_id.insert(id, idx);
        Ok(())
    }

    fn begin_vendor(
        &mut self,
        st: &mut FileState,
        ctx: Ctx<'_>,
        args: &[&str],
    ) -> Result<(), DictError> {
        if args.is_empty() || args.len() > 2 {
            return Err(ctx.err(
                "BEGIN-VENDOR needs a vendor name (and optionally format=Extended-Vendor-Specific-N)",
            ));
        }
        let name = args[0];
        let shown = printable(name);
        if let Some(open) = &st.vendor {
            return Err(ctx.err(format!(
                "BEGIN-VENDOR {shown} inside BEGIN-VENDOR {} (line {}); blocks do not nest",
                open.name, open.line
            )));
        }
        if let Some(t) = st.tlvs.last() {
            return Err(ctx.err(format!(
                "BEGIN-VENDOR {shown} inside BEGIN-TLV {} (line {})",
                t.name, t.line
            )));
        }
        let Some(v) = self.dict.vendor_by_name(name) else {
            return Err(ctx.err(format!(
                "BEGIN-VENDOR {}: unknown vendor (define it with VENDOR first)",
                printable(name)
            )));
        };
        let id = v.id;
        let mut evs_prefix = Vec::new();
        if let Some(opt) = args.get(1) {
            let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
            if !(key.eq_ignore_ascii_case("format") || key.eq_ignore_ascii_case("parent")) {
                return Err(ctx.err(format!(
                    "BEGIN-VENDOR {shown}: unknown option '{}'",
                    printable(opt)
                )));
            }
            match self.dict.attr_by_name(val) {
                Some(a) if a.ty == AttrType::Evs && a.vendor == 0 => {
                    evs_prefix = a.oid.clone();
                    evs_prefix.push(id);
                }
                Some(a) => {
                    return Err(ctx.err(format!(
                        "BEGIN-VENDOR {shown}: {} is of type {}, not evs",
                        a.name, a.ty
                    )));
                }
                None => {
                    return Err(ctx.err(format!(
                        "BEGIN-VENDOR {shown}: unknown attribute '{}' in {key}=",
                        printable(val)
                    )));
                }
            }
        }
        st.vendor = Some(VendorBlock {
            id,
            name: name.to_string(),
            line: ctx.line,
            evs_prefix,
        });
        Ok(())
    }

    fn begin_tlv(
        &mut self,
        st: &mut FileState,
        ctx: Ctx<'_>,
        args: &[&str],
    ) -> Result<(), DictError> {
        let [name] = args else {
            return Err(ctx.err("BEGIN-TLV needs exactly one attribute name"));
        };
        let Some(a) = self.dict.attr_by_name(name) else {
            return Err(ctx.err(format!("BEGIN-TLV {}: unknown attribute", printable(name))));
        };
        if a.ty != AttrType::Tlv {
            return Err(ctx.err(format!(
                "BEGIN-TLV {name}: attribute is of type {}, not tlv",
                a.ty
            )));
        }
        if st.tlvs.len() >= MAX_TLV_DEPTH {
            return Err(ctx.err(format!(
                "BEGIN-TLV {name}: nested more than {MAX_TLV_DEPTH} deep"
            )));
        }
        st.tlvs.push(TlvBlock {
            name: a.name.clone(),
            line: ctx.line,
            vendor: a.vendor,
            oid: a.oid.clone(),
        });
        Ok(())
    }
}

fn end_vendor(st: &mut FileState, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
    let [name] = args else {
        return Err(ctx.err("END-VENDOR needs exactly one vendor name"));
    };
    let Some(open) = &st.vendor else {
        return Err(ctx.err(format!(
            "END-VENDOR {} without BEGIN-VENDOR",
            printable(name)
        )));
    };
    if let Some(t) = st.tlvs.last() {
        return Err(ctx.err(format!(
            "END-VENDOR {} while BEGIN-TLV {} (line {}) is still open",
            printable(name),
            t.name,
            t.line
        )));
    }
    if !open.name.eq_ignore_ascii_case(name) {
        return Err(ctx.err(format!(
            "END-VENDOR {} does not match BEGIN-VENDOR {} (line {})",
            printable(name),
            open.name,
            open.line
        )));
    }
    st.vendor = None;
    Ok(())
}

fn end_tlv(st: &mut FileState, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
    let [name] = args else {
        return Err(ctx.err("END-TLV needs exactly one attribute name"));
    };
    match st.tlvs.last() {
        None => Err(ctx.err(format!("END-TLV {} without BEGIN-TLV", printable(name)))),
        Some(t) if !t.name.eq_ignore_ascii_case(name) => Err(ctx.err(format!(
            "END-TLV {} does not match BEGIN-TLV {} (line {})",
            printable(name),
            t.name,
            t.line
        ))),
        Some(_) => {
            st.tlvs.pop();
            Ok(())
        }
    }
}

fn flags_line(st: &mut FileState, ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
    if args.is_empty() {
        return Err(ctx.err("FLAGS needs at least one flag"));
    }
    for flag in args.iter().flat_map(|a| a.split(',')) {
        match flag {
            "internal" => st.internal = true,
            "!internal" => st.internal = false,
            // Other v4 file-level flags do not change what we store.
            _ => {}
        }
    }
    Ok(())
}

fn protocol_line(ctx: Ctx<'_>, args: &[&str]) -> Result<(), DictError> {
    if args.len() < 2 || args.len() > 3 {
        return Err(ctx.err("PROTOCOL needs a name and a number (and optional flags)"));
    }
    if parse_u32(args[1]).is_none() {
        return Err(ctx.err(format!(
            "PROTOCOL {}: '{}' is not a number",
            printable(args[0]),
            printable(args[1])
        )));
    }
    Ok(())
}

/// Adds one VALUE to attribute `idx`, with FreeRADIUS's checks.
fn add_value(
    d: &mut Dictionary,
    file: &str,
    line: usize,
    idx: usize,
    name: &str,
    number: u64,
) -> Result<(), DictError> {
    let Some(def) = d.attrs.get(idx) else {
        return Ok(());
    };
    let max = match def.ty {
        AttrType::Byte => Some(0xff),
        AttrType::Short => Some(0xffff),
        AttrType::Integer | AttrType::Signed | AttrType::Date => Some(u64::from(u32::MAX)),
        AttrType::Integer64 | AttrType::Octets | AttrType::Other => None,
        ty => {
            return Err(syntax(
                file,
                line,
                format!(
                    "VALUE {} {name}: attribute is of type {ty}, which cannot have VALUEs",
                    def.name
                ),
            ));
        }
    };
    if max.is_some_and(|max| number > max) {
        return Err(syntax(
            file,
            line,
            format!(
                "VALUE {} {name}: {number} is too large for a {} attribute",
                def.name, def.ty
            ),
        ));
    }
    let table = d
        .values
        .entry(def.vendor)
        .or_default()
        .entry(def.key_oid().to_vec())
        .or_default();
    let lname = name.to_ascii_lowercase();
    if let Some((_, old)) = table.by_name.get(&lname) {
        // Repeats with the same number are common (dictionary.ascend);
        // FreeRADIUS refuses only a real conflict.
        if *old == number {
            return Ok(());
        }
        return Err(syntax(
            file,
            line,
            format!("VALUE {} {name}: name already defined as {old}", def.name),
        ));
    }
    table.by_name.insert(lname, (name.to_string(), number));
    // Several names for one number: the last one is printed.
    table.by_value.insert(number, name.to_string());
    Ok(())
}

/// Attribute and vendor names: the characters FreeRADIUS accepts.
fn check_name(name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '+')))
    {
        Some(c) => Err(format!(
            "'{}' has an invalid character {c:?}",
            printable(name)
        )),
        None => Ok(()),
    }
}

/// Decimal or `0x` hex, digits only (no sign, no blanks).
pub(super) fn parse_u64(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(hex, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_u32(s: &str) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// A dotted number path: `1`, `0x1a`, `241.1`, `26.9.1`.
fn parse_oid(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split('.') {
        if out.len() >= MAX_OID_LEN {
            return Err(format!("has more than {MAX_OID_LEN} parts"));
        }
        match parse_u32(part) {
            Some(n) => out.push(n),
            None if part.is_empty() => return Err("has an empty part".into()),
            None => return Err("is not a number (or is too large)".into()),
        }
    }
    Ok(out)
}

/// A type name, optionally sized (`octets[16]`).
fn parse_type(s: &str) -> Result<(AttrType, Option<u32>), String> {
    let (base, size) = match s.split_once('[') {
        Some((base, rest)) => {
            let Some(num) = rest.strip_suffix(']') else {
                return Err("has an unclosed '['".into());
            };
            let Some(n) = parse_u32(num) else {
                return Err("has a size that is not a number".into());
            };
            (base, Some(n))
        }
        None => (s, None),
    };
    if base.is_empty()
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("is not a type name".into());
    }
    Ok((AttrType::from_name(base), size))
}

/// `format=<type octets>,<length octets>[,c]` of a VENDOR line.
fn parse_vendor_format(opt: &str) -> Result<(u8, u8, bool), String> {
    let Some(spec) = opt
        .split_once('=')
        .filter(|(k, _)| k.eq_ignore_ascii_case("format"))
        .map(|(_, v)| v)
    else {
        return Err(format!(
            "unknown option '{}' (expected format=<type>,<length>)",
            printable(opt)
        ));
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let (t, l, c) = match parts.as_slice() {
        [t, l] => (*t, *l, false),
        [t, l, c] if c.eq_ignore_ascii_case("c") => (*t, *l, true),
        _ => {
            return Err(format!(
                "format '{}' is not <type>,<length>[,c]",
                printable(spec)
            ));
        }
    };
    let t: u8 = match t {
        "1" => 1,
        "2" => 2,
        "4" => 4,
        _ => {
            return Err(format!(
                "format type size '{}' is not 1, 2 or 4",
                printable(t)
            ));
        }
    };
    let l: u8 = match l {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => {
            return Err(format!(
                "format length size '{}' is not 0, 1 or 2",
                printable(l)
            ));
        }
    };
    // RFC-style continuation (WiMAX) only exists for 1,1 vendors.
    if c && (t != 1 || l != 1) {
        return Err("format continuation ',c' needs format=1,1".into());
    }
    Ok((t, l, c))
}

/// `vendor 311 number 2` / `number 241.1`, for messages.
fn describe(vendor: u32, oid: &[u32]) -> String {
    let num: Vec<String> = oid.iter().map(u32::to_string).collect();
    if vendor == 0 {
        format!("number {}", num.join("."))
    } else {
        format!("vendor {vendor} number {}", num.join("."))
    }
}

/// Input text for an error message: control characters escaped and long
/// tokens cut, so hostile input cannot garble logs.
fn printable(s: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
