//! The RADIUS packet view: header fields, attribute access and in-place setters.

use super::attr::{Attr, AttrIter, check_attributes};
use super::{AUTH_LEN, Code, Error, HEADER_LEN, MAX_PACKET_LEN};

mod field {
    use core::ops::Range;
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const AUTHENTICATOR: Range<usize> = 4..20;
}

/// A RADIUS packet over a byte buffer. The buffer may be longer than the packet (a
/// receive buffer): everything past the Length field is padding and is ignored.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. Use for packets we build ourselves.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted input: header, Length field and every attribute are checked once,
    /// so later accessors cannot index out of bounds.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the buffer as RFC 2865 section 3 describes.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::TooShort);
        }
        let length = u16::from_be_bytes([data[2], data[3]]);
        if (length as usize) < HEADER_LEN || length as usize > MAX_PACKET_LEN {
            return Err(Error::BadLength(length));
        }
        if length as usize > data.len() {
            return Err(Error::LengthOverDatagram {
                length,
                datagram: data.len(),
            });
        }
        check_attributes(&data[HEADER_LEN..length as usize], HEADER_LEN)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref()[field::CODE])
    }

    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    /// The Length field.
    pub fn length(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    pub fn authenticator(&self) -> &[u8; AUTH_LEN] {
        self.buffer.as_ref()[field::AUTHENTICATOR]
            .try_into()
            .expect("authenticator field is 16 octets")
    }

    /// The Code, Identifier and Length octets: what precedes the Authenticator in the
    /// hashes of RFC 2865 section 3 and RFC 2866 section 3.
    pub fn code_id_length(&self) -> &[u8] {
        &self.buffer.as_ref()[..field::AUTHENTICATOR.start]
    }

    /// The packet's bytes up to its Length field (padding excluded).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.length() as usize]
    }

    /// The attribute area.
    pub fn attributes(&self) -> &[u8] {
        &self.as_bytes()[HEADER_LEN..]
    }

    pub fn attrs(&self) -> AttrIter<'_> {
        AttrIter::new(self.as_bytes())
    }

    /// The first attribute of a type.
    pub fn find(&self, typ: u8) -> Option<Attr<'_>> {
        self.attrs().find(|a| a.typ == typ)
    }

    /// The first vendor sub-attribute (RFC 2865 format) of a vendor and type.
    pub fn find_vendor(&self, vendor: u32, typ: u8) -> Option<&[u8]> {
        self.attrs()
            .filter_map(|a| a.vsa())
            .filter(|v| v.vendor == vendor)
            .flat_map(|v| v.subs())
            .filter_map(Result::ok)
            .find(|s| s.typ == u32::from(typ))
            .map(|s| s.value)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_code(&mut self, code: Code) {
        self.buffer.as_mut()[field::CODE] = code.into();
    }

    pub fn set_identifier(&mut self, id: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = id;
    }

    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_authenticator(&mut self, auth: &[u8; AUTH_LEN]) {
        self.buffer.as_mut()[field::AUTHENTICATOR].copy_from_slice(auth);
    }

    /// The whole packet, mutable, up to its Length field.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.length() as usize;
        &mut self.buffer.as_mut()[..len]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::attr::types;

    /// RFC 2865 section 7.1: Access-Request for "nemo", secret "xyzzy5461".
    const RFC_PAP_REQUEST: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc2865/7.1-request.hex"
    ));

    fn bytes(h: &str) -> Vec<u8> {
        hex::decode(h.trim()).unwrap()
    }

    #[test]
    fn deconstruct_rfc_example() {
        let b = bytes(RFC_PAP_REQUEST);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 0);
        assert_eq!(p.length(), 56);
        assert_eq!(p.authenticator()[..2], [0x0f, 0x40]);
        let attrs: Vec<_> = p.attrs().map(|a| (a.typ, a.value.len())).collect();
        assert_eq!(
            attrs,
            vec![(1, 4), (2, 16), (4, 4), (5, 4)],
            "User-Name, User-Password, NAS-IP-Address, NAS-Port"
        );
        assert_eq!(p.find(types::USER_NAME).unwrap().value, b"nemo");
        assert_eq!(p.find(types::NAS_PORT).unwrap().as_u32(), Some(3));
    }

    #[test]
    fn padding_past_length_is_ignored() {
        let mut b = bytes(RFC_PAP_REQUEST);
        b.extend_from_slice(&[0xff; 10]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.as_bytes().len(), 56);
        assert_eq!(p.attrs().count(), 4);
    }

    #[test]
    fn set_fields_in_place() {
        let mut b = bytes(RFC_PAP_REQUEST);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_code(Code::AccessAccept);
        p.set_identifier(7);
        p.set_authenticator(&[1; 16]);
        assert_eq!(p.code(), Code::AccessAccept);
        assert_eq!(p.identifier(), 7);
        assert_eq!(p.authenticator(), &[1; 16]);
        assert_eq!(b[0], 2);
    }

    #[test]
    fn malformed_short() {
        assert_eq!(
            Packet::new_checked(&[1u8; 19][..]).unwrap_err(),
            Error::TooShort
        );
    }

    #[test]
    fn malformed_length_below_header() {
        let mut b = bytes(RFC_PAP_REQUEST);
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadLength(19)
        );
    }

    #[test]
    fn malformed_length_over_4096() {
        let mut b = vec![0u8; 5000];
        b[0] = 1;
        b[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadLength(4097)
        );
    }

    #[test]
    fn malformed_length_over_datagram() {
        let b = bytes(RFC_PAP_REQUEST);
        assert_eq!(
            Packet::new_checked(&b[..50]).unwrap_err(),
            Error::LengthOverDatagram {
                length: 56,
                datagram: 50
            }
        );
    }

    #[test]
    fn malformed_attribute_length_below_two() {
        let mut b = bytes(RFC_PAP_REQUEST);
        b[21] = 1;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::AttrTooShort(20)
        );
    }

    #[test]
    fn malformed_attribute_overrun() {
        let mut b = bytes(RFC_PAP_REQUEST);
        b[21] = 200;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::AttrOverrun(20)
        );
        // A lone type octet at the end has no length octet.
        let mut b = bytes(RFC_PAP_REQUEST);
        b.push(1);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::AttrOverrun(56)
        );
    }

    #[test]
    fn unknown_code_is_kept() {
        let mut b = bytes(RFC_PAP_REQUEST);
        b[0] = 250;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.code(), Code::Unknown(250));
        assert_eq!(u8::from(p.code()), 250);
    }

    #[test]
    fn vendor_specific_walk() {
        // Vendor-Specific, Microsoft, MS-CHAP-Error "\x01E=691 R=0".
        let mut b = vec![3u8, 9, 0, 0];
        b.extend_from_slice(&[0; 16]);
        let sub = b"\x01E=691 R=0";
        b.extend_from_slice(&[
            26,
            (8 + sub.len()) as u8,
            0,
            0,
            1,
            0x37,
            2,
            (2 + sub.len()) as u8,
        ]);
        b.extend_from_slice(sub);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.find_vendor(311, 2), Some(&sub[..]));
        let vsa = p.attrs().next().unwrap().vsa().unwrap();
        assert_eq!(vsa.vendor, 311);
        let s = vsa.subs().next().unwrap().unwrap();
        assert_eq!(&b[s.offset..s.offset + s.value.len()], sub);
    }

    #[test]
    fn vendor_specific_malformed_sub_is_reported_once() {
        let mut b = vec![3u8, 9, 0, 0];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[26, 10, 0, 0, 1, 0x37, 2, 9, 0x41, 0x42]);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        let vsa = p.attrs().next().unwrap().vsa().unwrap();
        let items: Vec<_> = vsa.subs().collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        assert_eq!(p.find_vendor(311, 2), None);
    }
}
