//! The BSD loopback header (LINKTYPE_NULL, 0): a 32-bit address family in the byte
//! order of the host that captured, then the packet.

mod field {
    use core::ops::Range;
    pub const FAMILY: Range<usize> = 0..4;
    pub const PAYLOAD: usize = FAMILY.end;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// AF_INET everywhere.
pub const AF_INET: u32 = 2;
/// AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD and macOS.
pub const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// Why a record is not a loopback packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("record shorter than the 4-octet loopback (Null) header")]
    Truncated,
}

/// A loopback header view.
#[derive(Debug, Clone)]
pub struct NullHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NullHeader<T> {
    pub const fn new_unchecked(buffer: T) -> NullHeader<T> {
        NullHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<NullHeader<T>, Error> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The address family. The capture does not say which byte order the host had;
    /// families are small, so a value over 16 bits read one way is the other way.
    pub fn family(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::FAMILY];
        let le = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        if le > 0xffff { le.swap_bytes() } else { le }
    }

    /// Whether the payload is an IPv4 or IPv6 packet.
    pub fn is_ip(&self) -> bool {
        let family = self.family();
        family == AF_INET || AF_INET6.contains(&family)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NullHeader<T> {
    /// Writes the family in this host's byte order, as a capturing host would.
    pub fn set_family(&mut self, family: u32) {
        self.buffer.as_mut()[field::FAMILY].copy_from_slice(&family.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_byte_order() {
        // AF_INET little-endian (Linux, x86 BSDs) and AF_INET6 (macOS, 30) big-endian.
        let le = NullHeader::new_checked(&[2u8, 0, 0, 0, 0x45][..]).unwrap();
        assert_eq!(
            (le.family(), le.is_ip(), le.payload()),
            (2, true, &[0x45][..])
        );
        let be = NullHeader::new_checked(&[0u8, 0, 0, 30, 0x60][..]).unwrap();
        assert_eq!((be.family(), be.is_ip()), (30, true));
        let other = NullHeader::new_checked(&[7u8, 0, 0, 0][..]).unwrap();
        assert!(!other.is_ip());
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 5];
        NullHeader::new_unchecked(&mut b[..]).set_family(AF_INET);
        let h = NullHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.family(), AF_INET);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            NullHeader::new_checked(&[2u8, 0][..]).unwrap_err(),
            Error::Truncated
        );
    }
}
