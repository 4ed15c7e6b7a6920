//! Writing packets into a reusable buffer: header, then attributes appended in order.
//! The Length field is kept current after every append, so the buffer is always a valid
//! packet; signing is a separate step (`crypto::sign_*`) once all attributes are in.

use super::attr::types::{MESSAGE_AUTHENTICATOR, VENDOR_SPECIFIC};
use super::{AUTH_LEN, Code, Error, HEADER_LEN, MAX_ATTR_VALUE_LEN, MAX_PACKET_LEN};

/// Appends attributes to a packet in a caller-owned `Vec`, which the proxy reuses so that
/// building a reply does not allocate once the buffer has grown.
#[derive(Debug)]
pub struct Builder<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Builder<'a> {
    /// Clears `buf` and writes a header with the given authenticator.
    pub fn new(buf: &'a mut Vec<u8>, code: Code, identifier: u8, auth: &[u8; AUTH_LEN]) -> Self {
        buf.clear();
        buf.push(code.into());
        buf.push(identifier);
        buf.extend_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        buf.extend_from_slice(auth);
        Builder { buf }
    }

    fn grow(&mut self, extra: usize) -> Result<(), Error> {
        if self.buf.len() + extra > MAX_PACKET_LEN {
            return Err(Error::PacketFull);
        }
        Ok(())
    }

    fn sync_length(&mut self) {
        let len = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends a standard attribute.
    pub fn attr(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, Error> {
        if value.len() > MAX_ATTR_VALUE_LEN {
            return Err(Error::ValueTooLong);
        }
        self.grow(2 + value.len())?;
        self.buf.push(typ);
        self.buf.push((2 + value.len()) as u8);
        self.buf.extend_from_slice(value);
        self.sync_length();
        Ok(self)
    }

    pub fn attr_u32(&mut self, typ: u8, value: u32) -> Result<&mut Self, Error> {
        self.attr(typ, &value.to_be_bytes())
    }

    /// Appends an attribute that may be longer than one attribute holds, split over
    /// consecutive attributes of the same type (EAP-Message, RFC 3579 section 3.1).
    pub fn attr_concat(&mut self, typ: u8, value: &[u8]) -> Result<&mut Self, Error> {
        for chunk in value.chunks(MAX_ATTR_VALUE_LEN) {
            self.attr(typ, chunk)?;
        }
        if value.is_empty() {
            self.attr(typ, &[])?;
        }
        Ok(self)
    }

    /// Appends a Vendor-Specific attribute holding one RFC 2865-format sub-attribute.
    pub fn vsa(&mut self, vendor: u32, typ: u8, value: &[u8]) -> Result<&mut Self, Error> {
        if value.len() > MAX_ATTR_VALUE_LEN - 6 {
            return Err(Error::ValueTooLong);
        }
        self.grow(8 + value.len())?;
        self.buf.push(VENDOR_SPECIFIC);
        self.buf.push((8 + value.len()) as u8);
        self.buf.extend_from_slice(&vendor.to_be_bytes());
        self.buf.push(typ);
        self.buf.push((2 + value.len()) as u8);
        self.buf.extend_from_slice(value);
        self.sync_length();
        Ok(self)
    }

    /// Appends a zeroed Message-Authenticator to be filled in by `crypto::sign_*`.
    pub fn message_authenticator(&mut self) -> Result<&mut Self, Error> {
        self.attr(MESSAGE_AUTHENTICATOR, &[0; AUTH_LEN])
    }

    /// Copies already encoded attributes verbatim (type, length, value...).
    pub fn raw(&mut self, encoded: &[u8]) -> Result<&mut Self, Error> {
        self.grow(encoded.len())?;
        self.buf.extend_from_slice(encoded);
        self.sync_length();
        Ok(self)
    }

    /// The packet so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Packet;
    use crate::wire::attr::types;
    use crate::wire::crypto;

    #[test]
    fn construct_matches_rfc_accept() {
        // RFC 2865 section 7.1's Access-Accept, rebuilt attribute by attribute.
        let req = hex::decode(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/rfc2865/7.1-request.hex"
            ))
            .trim(),
        )
        .unwrap();
        let expect = hex::decode(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/rfc2865/7.1-accept.hex"
            ))
            .trim(),
        )
        .unwrap();
        let req_auth: [u8; 16] = req[4..20].try_into().unwrap();
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]);
        b.attr_u32(types::SERVICE_TYPE, 1).unwrap();
        b.attr_u32(15, 0).unwrap();
        b.attr(14, &[192, 168, 1, 3]).unwrap();
        crypto::sign_response(b.as_bytes_mut(), &req_auth, b"xyzzy5461");
        assert_eq!(buf, expect);
    }

    #[test]
    fn oversize_is_refused() {
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessRequest, 1, &[0; 16]);
        assert_eq!(b.attr(1, &[0; 254]).unwrap_err(), Error::ValueTooLong);
        for _ in 0..15 {
            b.attr(25, &[0; 253]).unwrap();
        }
        assert_eq!(b.attr(25, &[0; 253]).unwrap_err(), Error::PacketFull);
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn radius_crate_decodes_what_we_build() {
        use radius::core::packet::Packet as Oracle;
        use radius::core::rfc2865;
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessRequest, 42, &[0x5a; 16]);
        b.message_authenticator().unwrap();
        b.attr(types::USER_NAME, b"alice").unwrap();
        let mut hidden = [0u8; crypto::MAX_PASSWORD_LEN];
        let n =
            crypto::hide_password(b"alice-pass", b"testing123", &[0x5a; 16], &mut hidden).unwrap();
        b.attr(types::USER_PASSWORD, &hidden[..n]).unwrap();
        b.vsa(14988, 19, b"garden").unwrap();
        b.attr_u32(types::NAS_PORT, 7).unwrap();
        crypto::sign_access_request(b.as_bytes_mut(), b"testing123");
        let p = Oracle::decode(&buf, b"testing123").expect("oracle decodes our packet");
        assert_eq!(p.get_identifier(), 42);
        assert_eq!(rfc2865::lookup_user_name(&p).unwrap().unwrap(), "alice");
        assert_eq!(
            rfc2865::lookup_user_password(&p).unwrap().unwrap(),
            b"alice-pass"
        );
        assert_eq!(rfc2865::lookup_nas_port(&p).unwrap().unwrap(), 7);
        let vsa = p.lookup(26).expect("Vendor-Specific").encode_bytes();
        assert_eq!(
            &vsa[..],
            &[0, 0, 0x3a, 0x8c, 19, 8, b'g', b'a', b'r', b'd', b'e', b'n']
        );
    }
}
