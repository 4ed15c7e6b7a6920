//! RADIUS attribute dictionary: a loader for FreeRADIUS-format dictionary
//! files (the `ATTRIBUTE` / `VALUE` / `VENDOR` / `BEGIN-VENDOR` /
//! `BEGIN-TLV` / `$INCLUDE` syntax of FreeRADIUS 3.x), plus the lookups and
//! the value rendering/parsing that the rest of radcare needs to name and
//! explain attributes.
//!
//! Two sources share one loader: files on disk ([`Dictionary::load`], e.g.
//! Debian's `/usr/share/freeradius/dictionary`) and radcare's own tree in
//! `dictionaries/`, compiled into the binary ([`Dictionary::builtin`]). The
//! loader only sees a `Fn(&Path) -> io::Result<String>` reader, so both go
//! through exactly the same code ([`Dictionary::load_with`]).
//!
//! Semantics follow FreeRADIUS where they matter for loading real trees:
//! names are case-insensitive; redefining a name with the same number
//! overrides its type and flags, but reusing a name for a *different* number
//! is an error; when one number has several names the last one defined is
//! the one used for printing; `VALUE` lines may come before their
//! `ATTRIBUTE` and are resolved once everything is loaded.
//!
//! Numbering: every attribute has a `vendor` (0 for the standard space,
//! otherwise the vendor's private enterprise number) and an `oid`, its full
//! number path inside that vendor space (`[1]` for User-Name, `[241, 1]` for
//! an extended attribute, `[37, 2]` for a TLV child of a vendor attribute).
//! `code` is always `oid[0]`. Attributes of a vendor declared inside an
//! Extended-Vendor-Specific attribute (`BEGIN-VENDOR X
//! format=Extended-Vendor-Specific-5`) live in the standard space under that
//! attribute: vendor 0, oid `[245, 26, <pec>, <n>]`, as on the wire.

mod parse;
mod value;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use value::ValueError;

/// The vendor number of the standard (non-vendor) attribute space.
pub const VENDOR_NONE: u32 = 0;

/// The data type of an attribute, as named in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Octets,
    Ipaddr,
    Ipv6addr,
    Ipv6prefix,
    Ipv4prefix,
    Ifid,
    Integer,
    Byte,
    Short,
    Signed,
    Integer64,
    Date,
    Ether,
    Tlv,
    Vsa,
    ComboIp,
    Abinary,
    Extended,
    LongExtended,
    Evs,
    /// Any type name this loader does not know (e.g. FreeRADIUS v4's
    /// `struct`); kept so that newer trees still load.
    Other,
}

impl AttrType {
    /// Maps a dictionary type name (case-insensitive, without any `[N]`
    /// size suffix) to a type; unknown names give [`AttrType::Other`].
    pub fn from_name(name: &str) -> AttrType {
        // The uintN/intN spellings are FreeRADIUS's aliases for the same
        // wire formats (Debian's dictionary.dhcp uses them).
        match name.to_ascii_lowercase().as_str() {
            "string" | "text" => AttrType::String,
            "octets" => AttrType::Octets,
            "ipaddr" | "ipv4addr" => AttrType::Ipaddr,
            "ipv6addr" => AttrType::Ipv6addr,
            "ipv6prefix" => AttrType::Ipv6prefix,
            "ipv4prefix" => AttrType::Ipv4prefix,
            "ifid" => AttrType::Ifid,
            "integer" | "uint32" => AttrType::Integer,
            "byte" | "uint8" => AttrType::Byte,
            "short" | "uint16" => AttrType::Short,
            "signed" | "int32" => AttrType::Signed,
            "integer64" | "uint64" => AttrType::Integer64,
            "date" => AttrType::Date,
            "ether" => AttrType::Ether,
            "tlv" => AttrType::Tlv,
            "vsa" => AttrType::Vsa,
            "combo-ip" => AttrType::ComboIp,
            "abinary" => AttrType::Abinary,
            "extended" => AttrType::Extended,
            "long-extended" => AttrType::LongExtended,
            "evs" => AttrType::Evs,
            _ => AttrType::Other,
        }
    }

    /// The canonical FreeRADIUS name of the type (`"other"` for unknown).
    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Octets => "octets",
            AttrType::Ipaddr => "ipaddr",
            AttrType::Ipv6addr => "ipv6addr",
            AttrType::Ipv6prefix => "ipv6prefix",
            AttrType::Ipv4prefix => "ipv4prefix",
            AttrType::Ifid => "ifid",
            AttrType::Integer => "integer",
            AttrType::Byte => "byte",
            AttrType::Short => "short",
            AttrType::Signed => "signed",
            AttrType::Integer64 => "integer64",
            AttrType::Date => "date",
            AttrType::Ether => "ether",
            AttrType::Tlv => "tlv",
            AttrType::Vsa => "vsa",
            AttrType::ComboIp => "combo-ip",
            AttrType::Abinary => "abinary",
            AttrType::Extended => "extended",
            AttrType::LongExtended => "long-extended",
            AttrType::Evs => "evs",
            AttrType::Other => "other",
        }
    }

    /// Whether attributes of this type may have children (dotted numbers
    /// below them). `Other` is allowed so unknown container types load.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            AttrType::Tlv
                | AttrType::Vsa
                | AttrType::Extended
                | AttrType::LongExtended
                | AttrType::Evs
                | AttrType::Other
        )
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the attribute's value is hidden on the wire (`encrypt=N` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encrypt {
    #[default]
    None,
    /// `encrypt=1`: RFC 2865 User-Password hiding.
    UserPassword,
    /// `encrypt=2`: RFC 2868 Tunnel-Password (salted) hiding.
    TunnelPassword,
    /// `encrypt=3`: Ascend's secret hiding.
    AscendSecret,
}

/// One attribute definition.
#[derive(Debug, Clone)]
pub struct AttrDef {
    pub name: String,
    /// 0 ([`VENDOR_NONE`]) or the vendor's private enterprise number.
    pub vendor: u32,
    /// Top-level number within the vendor space (`oid[0]`).
    pub code: u32,
    /// Full number path within the vendor space; `[code]` for top-level.
    pub oid: Vec<u32>,
    pub ty: AttrType,
    pub encrypt: Encrypt,
    pub has_tag: bool,
    pub concat: bool,
}

impl AttrDef {
    /// The number path, falling back to `[code]` for a hand-built def with
    /// an empty `oid`, so lookups keyed by oid still work for it.
    fn key_oid(&self) -> &[u32] {
        if self.oid.is_empty() {
            std::slice::from_ref(&self.code)
        } else {
            &self.oid
        }
    }

    /// The number as written in a dictionary: `1`, `241.1`, `37.2`.
    pub fn oid_string(&self) -> String {
        let parts: Vec<String> = self.key_oid().iter().map(u32::to_string).collect();
        parts.join(".")
    }
}

/// The less common attribute flags, kept beside [`AttrDef`] so that
/// `AttrDef` stays small (see [`Dictionary::attr_flags`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrFlags {
    pub array: bool,
    pub virtual_: bool,
    pub internal: bool,
    pub secret: bool,
    pub long: bool,
    /// From a sized type such as `octets[16]`.
    pub fixed_len: Option<u32>,
    /// Flags this loader does not interpret (`format=..`, `clone=..`,
    /// `enum=..`, `ref=..`, anything unknown), verbatim.
    pub other: Vec<String>,
}

/// One vendor definition.
#[derive(Debug, Clone)]
pub struct VendorDef {
    pub name: String,
    pub id: u32,
    /// Octets of the vendor attribute type field (1, 2 or 4; default 1).
    pub type_len: u8,
    /// Octets of the vendor attribute length field (0, 1 or 2; default 1).
    pub len_len: u8,
}

/// Sizes of a loaded dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Distinct attribute names.
    pub attributes: usize,
    /// Distinct (attribute, value name) pairs.
    pub values: usize,
    /// Distinct vendor numbers.
    pub vendors: usize,
}

/// A dictionary load error. Display is `file:line: why` for anything tied
/// to a line, `path: why` for a top-level file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    /// A line that is malformed or contradicts an earlier definition.
    #[error("{file}:{line}: {msg}")]
    Syntax {
        file: String,
        line: usize,
        msg: String,
    },
    /// An `$INCLUDE`d file that could not be read.
    #[error("{file}:{line}: cannot read $INCLUDE file {path}: {source}")]
    Include {
        file: String,
        line: usize,
        path: String,
        #[source]
        source: io::Error,
    },
    /// The top-level file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl DictError {
    /// The file the error is in (the unreadable file for `Io`).
    pub fn file(&self) -> &str {
        match self {
            DictError::Syntax { file, .. } | DictError::Include { file, .. } => file,
            DictError::Io { path, .. } => path,
        }
    }

    /// The 1-based line, if the error is tied to one.
    pub fn line(&self) -> Option<usize> {
        match self {
            DictError::Syntax { line, .. } | DictError::Include { line, .. } => Some(*line),
            DictError::Io { .. } => None,
        }
    }
}

/// Where a definition came from, for "already defined at" messages.
#[derive(Debug, Clone, Copy)]
struct Origin {
    file: u32,
    line: u32,
}

/// The VALUE names of one attribute number.
#[derive(Debug, Clone, Default)]
struct ValueTable {
    /// Number -> name used for printing (the last one defined).
    by_value: HashMap<u64, String>,
    /// Lowercased name -> (name as written, number).
    by_name: HashMap<String, (String, u64)>,
}

/// vendor -> full oid -> T; two levels so lookups can borrow `&[u32]`.
type OidMap<T> = HashMap<u32, HashMap<Vec<u32>, T>>;

/// A loaded dictionary: attributes, their VALUE names, and vendors.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    attrs: Vec<AttrDef>,
    flags: Vec<AttrFlags>,
    origins: Vec<Origin>,
    /// File names referred to by `Origin::file`.
    files: Vec<String>,
    /// (vendor, code) -> attr index, top-level attributes only.
    by_code: HashMap<(u32, u32), usize>,
    /// (vendor, full oid) -> attr index, every attribute.
    by_oid: OidMap<usize>,
    /// Lowercased name -> attr index.
    by_name: HashMap<String, usize>,
    values: OidMap<ValueTable>,
    vendors: Vec<VendorDef>,
    vendor_by_id: HashMap<u32, usize>,
    vendor_by_name: HashMap<String, usize>,
    /// Vendors declared with `format=1,1,c` (WiMAX-style continuation).
    vendor_cont: HashSet<u32>,
}

/// `(file name, contents)` for one file of `dictionaries/`.
macro_rules! embed {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries/", $name)),
        )
    };
}

/// radcare's shipped dictionary tree, compiled in. Keep in sync with the
/// files in `dictionaries/` (a unit test compares the two sets).
const EMBEDDED: &[(&str, &str)] = &[
    embed!("dictionary"),
    embed!("dictionary.cisco"),
    embed!("dictionary.erx"),
    embed!("dictionary.huawei"),
    embed!("dictionary.juniper"),
    embed!("dictionary.microsoft"),
    embed!("dictionary.mikrotik"),
    embed!("dictionary.rfc2865"),
    embed!("dictionary.rfc2866"),
    embed!("dictionary.rfc2867"),
    embed!("dictionary.rfc2868"),
    embed!("dictionary.rfc2869"),
    embed!("dictionary.rfc3162"),
    embed!("dictionary.rfc3580"),
    embed!("dictionary.rfc4072"),
    embed!("dictionary.rfc4372"),
    embed!("dictionary.rfc4675"),
    embed!("dictionary.rfc4679"),
    embed!("dictionary.rfc4818"),
    embed!("dictionary.rfc5090"),
    embed!("dictionary.rfc5176"),
    embed!("dictionary.rfc6911"),
    embed!("dictionary.zte"),
];

/// The directory name the embedded files pretend to live in, so errors in
/// them read like `dictionaries/dictionary.foo:12: ...`.
const EMBEDDED_DIR: &str = "dictionaries";

impl Dictionary {
    /// Loads a dictionary file from disk, following `$INCLUDE`s (relative
    /// to the including file's directory).
    pub fn load(path: &Path) -> Result<Dictionary, DictError> {
        Dictionary::load_with(path, read_disk)
    }

    /// radcare's shipped dictionary (`dictionaries/dictionary` and the
    /// files it includes), from the copies compiled into the binary.
    pub fn builtin() -> Result<Dictionary, DictError> {
        let top = Path::new(EMBEDDED_DIR).join("dictionary");
        Dictionary::load_with(&top, read_embedded)
    }

    /// Loads `path` with `read` supplying file contents; `$INCLUDE`d paths
    /// are resolved relative to the including file and passed to `read`.
    pub fn load_with<F>(path: &Path, read: F) -> Result<Dictionary, DictError>
    where
        F: Fn(&Path) -> io::Result<String>,
    {
        let mut dict = Dictionary::default();
        parse::load_into(&mut dict, path, &read)?;
        Ok(dict)
    }

    /// Loads more files on top of this dictionary (e.g. a site's local
    /// vendor file over the builtin tree). On error `self` is unchanged.
    pub fn extend_with_file(&mut self, path: &Path) -> Result<(), DictError> {
        let mut next = self.clone();
        parse::load_into(&mut next, path, &read_disk)?;
        *self = next;
        Ok(())
    }

    /// Parses one dictionary file given as text; `name` is used in error
    /// messages. `$INCLUDE` is refused since there is nothing to include
    /// from.
    pub fn parse_str(name: &str, text: &str) -> Result<Dictionary, DictError> {
        let mut dict = Dictionary::default();
        parse::parse_single(&mut dict, name, text)?;
        Ok(dict)
    }

    /// [`Dictionary::parse_str`] for raw bytes (invalid UTF-8 is replaced),
    /// e.g. for fuzzing.
    pub fn parse_bytes(name: &str, bytes: &[u8]) -> Result<Dictionary, DictError> {
        Dictionary::parse_str(name, &String::from_utf8_lossy(bytes))
    }

    /// The top-level attribute `code` in `vendor`'s space (the most
    /// recently defined name if several share the number).
    pub fn attr(&self, vendor: u32, code: u32) -> Option<&AttrDef> {
        self.by_code.get(&(vendor, code)).map(|&i| &self.attrs[i])
    }

    /// Any attribute by its full number path within `vendor`'s space, e.g.
    /// `(0, &[241, 1])` or `(24757, &[37, 2])`.
    pub fn attr_by_oid(&self, vendor: u32, oid: &[u32]) -> Option<&AttrDef> {
        self.by_oid.get(&vendor)?.get(oid).map(|&i| &self.attrs[i])
    }

    /// An attribute by name, case-insensitively.
    pub fn attr_by_name(&self, name: &str) -> Option<&AttrDef> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.attrs[i])
    }

    /// The less common flags of an attribute (array, virtual, ...).
    pub fn attr_flags(&self, attr: &AttrDef) -> Option<&AttrFlags> {
        let &i = self.by_name.get(&attr.name.to_ascii_lowercase())?;
        Some(&self.flags[i])
    }

    /// All attribute definitions (one per name), in definition order.
    pub fn attributes(&self) -> impl Iterator<Item = &AttrDef> {
        self.by_name_order().map(|i| &self.attrs[i])
    }

    fn by_name_order(&self) -> impl Iterator<Item = usize> + '_ {
        // Entries replaced by a same-name redefinition are dropped from
        // by_name; only live ones are listed.
        (0..self.attrs.len())
            .filter(|&i| self.by_name.get(&self.attrs[i].name.to_ascii_lowercase()) == Some(&i))
    }

    /// The vendor with this private enterprise number.
    pub fn vendor(&self, id: u32) -> Option<&VendorDef> {
        self.vendor_by_id.get(&id).map(|&i| &self.vendors[i])
    }

    /// A vendor by name, case-insensitively.
    pub fn vendor_by_name(&self, name: &str) -> Option<&VendorDef> {
        self.vendor_by_name
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.vendors[i])
    }

    /// Whether the vendor's attributes use WiMAX-style continuation
    /// (declared `format=1,1,c`).
    pub fn vendor_has_continuation(&self, id: u32) -> bool {
        self.vendor_cont.contains(&id)
    }

    fn value_table(&self, attr: &AttrDef) -> Option<&ValueTable> {
        self.values.get(&attr.vendor)?.get(attr.key_oid())
    }

    /// The VALUE name for `value` of `attr`, if one is defined.
    pub fn value_name(&self, attr: &AttrDef, value: u64) -> Option<&str> {
        self.value_table(attr)?
            .by_value
            .get(&value)
            .map(String::as_str)
    }

    /// The number of VALUE `name` of `attr`, case-insensitively.
    pub fn value_by_name(&self, attr: &AttrDef, name: &str) -> Option<u64> {
        self.value_table(attr)?
            .by_name
            .get(&name.to_ascii_lowercase())
            .map(|(_, v)| *v)
    }

    /// All VALUE names of `attr` as (number, name), sorted by number then
    /// name; aliases of one number are all listed.
    pub fn values_of(&self, attr: &AttrDef) -> Vec<(u64, &str)> {
        let mut out: Vec<(u64, &str)> = match self.value_table(attr) {
            Some(t) => t.by_name.values().map(|(n, v)| (*v, n.as_str())).collect(),
            None => Vec::new(),
        };
        out.sort_unstable();
        out
    }

    /// How many attributes, values and vendors are defined.
    pub fn counts(&self) -> Counts {
        Counts {
            attributes: self.by_name.len(),
            values: self
                .values
                .values()
                .flat_map(HashMap::values)
                .map(|t| t.by_name.len())
                .sum(),
            vendors: self.vendor_by_id.len(),
        }
    }

    /// Where `attr` was defined, as `file:line`.
    pub fn defined_at(&self, attr: &AttrDef) -> Option<String> {
        let &i = self.by_name.get(&attr.name.to_ascii_lowercase())?;
        Some(self.origin_string(i))
    }

    fn origin_string(&self, i: usize) -> String {
        let o = self.origins[i];
        let file = self
            .files
            .get(o.file as usize)
            .map(String::as_str)
            .unwrap_or("?");
        format!("{file}:{}", o.line)
    }

    /// Renders a wire value of `attr` as text by its type. Never fails:
    /// anything that does not fit the type is shown as `0x`-hex.
    ///
    /// - string: as-is when printable UTF-8; double-quoted with `\n`, `\t`,
    ///   `\"`, `\\`, `\xNN` (an octet) and `\u{..}` escapes when it has
    ///   control characters or could be misread (empty, leading/trailing
    ///   blanks, starts with `"` or `0x`, or `:` on a tagged attribute);
    ///   `0x`-hex when it is not UTF-8.
    /// - octets, tlv, vsa, extended, evs, abinary, unknown types: `0x`-hex.
    /// - ipaddr `192.0.2.1`, ipv6addr `2001:db8::1`, combo-ip either,
    ///   ipv4prefix/ipv6prefix `addr/len`, ifid `xxxx:xxxx:xxxx:xxxx`,
    ///   ether `aa:bb:cc:dd:ee:ff`.
    /// - integer, short, byte, integer64: the VALUE name if defined, else
    ///   decimal; signed: decimal; date: RFC 3339 UTC
    ///   (`2026-11-22T00:00:00Z`).
    /// - has_tag: a tag 1..31 becomes a `:N ` prefix (`:1 L2TP`); tagged
    ///   integers are a tag octet plus a 24-bit value (RFC 2868).
    /// - encrypt=N: the wire value is ciphertext, shown as `0x`-hex.
    pub fn format_value(&self, attr: &AttrDef, value: &[u8]) -> String {
        value::format_value(self, attr, value)
    }

    /// Parses text into the wire bytes for `attr`; the inverse of
    /// [`Dictionary::format_value`]: its output for a well-formed value
    /// parses back to the same bytes (values it had to show as `0x`-hex
    /// come back as those octets, or as a number for integer types).
    ///
    /// Accepts VALUE names (case-insensitive), decimal or `0x` numbers,
    /// addresses and prefixes, RFC 3339 dates (or epoch seconds), `0x`-hex
    /// (raw octets for any non-numeric type), double-quoted strings with
    /// escapes, and plain text for string/octets. Surrounding blanks are
    /// ignored. On has_tag attributes a leading `:N ` sets the tag.
    /// Encrypted attributes give the *plaintext* encoding (hiding needs the
    /// shared secret and is the caller's job); if also has_tag, the first
    /// octet is always the tag (0 if none was given).
    pub fn parse_value(&self, attr: &AttrDef, text: &str) -> Result<Vec<u8>, ValueError> {
        value::parse_value(self, attr, text)
    }
}

/// Disk reader: invalid UTF-8 (old vendor files have Latin-1 comments) is
/// replaced rather than refused.
fn read_disk(path: &Path) -> io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Reader over [`EMBEDDED`], addressed as `dictionaries/<name>`.
fn read_embedded(path: &Path) -> io::Result<String> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, "not a builtin dictionary file");
    let rest = path.strip_prefix(EMBEDDED_DIR).map_err(|_| not_found())?;
    let name = rest.to_str().ok_or_else(not_found)?;
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| (*text).to_string())
        .ok_or_else(not_found)
}

/// Lexical path normalisation (no filesystem access, so it works for the
/// embedded tree too): drops `.`, folds `dir/..`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}
