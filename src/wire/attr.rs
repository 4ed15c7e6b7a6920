//! Attribute walking: top-level attributes and RFC 2865 section 5.26 Vendor-Specific
//! sub-attributes, as borrowed slices with their offsets for in-place edits.

use super::Error;

/// Attribute type numbers the proxy itself needs; everything else goes through `dict`.
pub mod types {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const NAS_PORT: u8 = 5;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const FILTER_ID: u8 = 11;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const CALLED_STATION_ID: u8 = 30;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const PROXY_STATE: u8 = 33;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const TUNNEL_PASSWORD: u8 = 69;
    pub const EAP_MESSAGE: u8 = 79;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const NAS_PORT_ID: u8 = 87;
    pub const FRAMED_POOL: u8 = 88;
    pub const NAS_IPV6_ADDRESS: u8 = 95;
    pub const ERROR_CAUSE: u8 = 101;
}

/// Vendor numbers the proxy itself needs.
pub mod vendors {
    pub const MICROSOFT: u32 = 311;
    pub const MIKROTIK: u32 = 14988;
    pub const HUAWEI: u32 = 2011;
    /// Microsoft sub-attributes.
    pub const MS_CHAP_RESPONSE: u8 = 1;
    pub const MS_CHAP_ERROR: u8 = 2;
    pub const MS_MPPE_SEND_KEY: u8 = 16;
    pub const MS_MPPE_RECV_KEY: u8 = 17;
    pub const MS_CHAP_CHALLENGE: u8 = 11;
    pub const MS_CHAP2_RESPONSE: u8 = 25;
    pub const MS_CHAP2_SUCCESS: u8 = 26;
}

/// One top-level attribute: its type, value and where it starts in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub typ: u8,
    pub value: &'a [u8],
    /// Offset of the type octet from the start of the packet.
    pub offset: usize,
}

impl<'a> Attr<'a> {
    /// The Vendor-Specific content of this attribute, if it is one with a vendor id.
    pub fn vsa(&self) -> Option<Vsa<'a>> {
        if self.typ != types::VENDOR_SPECIFIC || self.value.len() < 4 {
            return None;
        }
        let vendor =
            u32::from_be_bytes([self.value[0], self.value[1], self.value[2], self.value[3]]);
        Some(Vsa {
            vendor,
            data: &self.value[4..],
            offset: self.offset + 6,
        })
    }

    /// The value as a big-endian 32-bit integer when it is exactly four octets.
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.value).ok().map(u32::from_be_bytes)
    }
}

/// The vendor part of a Vendor-Specific attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vsa<'a> {
    pub vendor: u32,
    /// Everything after the vendor id.
    pub data: &'a [u8],
    /// Offset of `data` from the start of the packet.
    pub offset: usize,
}

impl<'a> Vsa<'a> {
    /// Sub-attributes in the RFC 2865 recommended format (1-octet type and length).
    pub fn subs(&self) -> VsaIter<'a> {
        VsaIter::new(self.data, self.offset, 1, 1)
    }

    /// Sub-attributes for vendors with another `format=` (USR 4,0; Lucent 2,1; ...).
    pub fn subs_with_format(&self, type_len: u8, len_len: u8) -> VsaIter<'a> {
        VsaIter::new(self.data, self.offset, type_len, len_len)
    }
}

/// A vendor sub-attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorAttr<'a> {
    pub typ: u32,
    pub value: &'a [u8],
    /// Offset of `value` from the start of the packet.
    pub offset: usize,
}

/// Iterates vendor sub-attributes. Stops at the first malformed one and reports it once,
/// because vendors' formats are not checked by `Packet::new_checked`.
#[derive(Debug, Clone)]
pub struct VsaIter<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    type_len: u8,
    len_len: u8,
    failed: bool,
}

impl<'a> VsaIter<'a> {
    fn new(data: &'a [u8], base: usize, type_len: u8, len_len: u8) -> Self {
        VsaIter {
            data,
            pos: 0,
            base,
            type_len,
            len_len,
            failed: false,
        }
    }
}

impl<'a> Iterator for VsaIter<'a> {
    type Item = Result<VendorAttr<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let (tl, ll) = (self.type_len as usize, self.len_len as usize);
        let hdr = tl + ll;
        let bad = |s: &mut Self| {
            s.failed = true;
            Some(Err(Error::AttrOverrun((s.base + s.pos) as u16)))
        };
        if !(1..=4).contains(&tl) || ll > 2 || rest.len() < hdr {
            return bad(self);
        }
        let typ = rest[..tl]
            .iter()
            .fold(0u32, |a, b| (a << 8) | u32::from(*b));
        let (value, consumed) = if ll == 0 {
            // No length field: the sub-attribute fills the rest of the VSA.
            (&rest[hdr..], rest.len())
        } else {
            let len = rest[tl..hdr]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            if len < hdr || len > rest.len() {
                return bad(self);
            }
            (&rest[hdr..len], len)
        };
        let offset = self.base + self.pos + hdr;
        self.pos += consumed;
        Some(Ok(VendorAttr { typ, value, offset }))
    }
}

/// Iterates the top-level attributes of a packet whose attribute area was validated by
/// `Packet::new_checked`. On an unchecked buffer it stops at the first malformed attribute.
#[derive(Debug, Clone)]
pub struct AttrIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> AttrIter<'a> {
    /// `data` is the whole packet up to its Length; attributes start at offset 20.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        AttrIter {
            data,
            pos: super::HEADER_LEN,
        }
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let hdr = self.data.get(self.pos..self.pos + 2)?;
        let (typ, len) = (hdr[0], hdr[1] as usize);
        let value = self.data.get(self.pos + 2..self.pos + len.max(2))?;
        if len < 2 {
            return None;
        }
        let attr = Attr {
            typ,
            value,
            offset: self.pos,
        };
        self.pos += len;
        Some(attr)
    }
}

/// Checks that `attrs` (the bytes after the header, up to Length) is a well-formed
/// sequence of attributes. `base` is the packet offset of `attrs`, for error reporting.
pub(crate) fn check_attributes(attrs: &[u8], base: usize) -> Result<(), Error> {
    let mut pos = 0;
    while pos < attrs.len() {
        let off = (base + pos) as u16;
        let Some(&len) = attrs.get(pos + 1) else {
            return Err(Error::AttrOverrun(off));
        };
        let len = len as usize;
        if len < 2 {
            return Err(Error::AttrTooShort(off));
        }
        if pos + len > attrs.len() {
            return Err(Error::AttrOverrun(off));
        }
        pos += len;
    }
    Ok(())
}
