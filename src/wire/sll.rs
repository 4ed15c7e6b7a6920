//! Linux cooked capture headers, as libpcap writes them for captures on the `any`
//! device: SLL (LINKTYPE_LINUX_SLL, 113) and SLL2 (LINKTYPE_LINUX_SLL2, 276). They stand
//! where an Ethernet header would, with the sender's link-layer address and the
//! ethertype but no destination.

mod field {
    pub mod sll {
        use core::ops::Range;
        pub const PACKET_TYPE: Range<usize> = 0..2;
        pub const HARDWARE_TYPE: Range<usize> = 2..4;
        pub const ADDR_LEN: Range<usize> = 4..6;
        /// The first eight octets of the address, zero padded.
        pub const ADDR: Range<usize> = 6..14;
        pub const PROTOCOL: Range<usize> = 14..16;
        pub const PAYLOAD: usize = PROTOCOL.end;
    }
    pub mod sll2 {
        use core::ops::Range;
        pub const PROTOCOL: Range<usize> = 0..2;
        pub const RESERVED: Range<usize> = 2..4;
        pub const IF_INDEX: Range<usize> = 4..8;
        pub const HARDWARE_TYPE: Range<usize> = 8..10;
        pub const PACKET_TYPE: usize = 10;
        pub const ADDR_LEN: usize = 11;
        pub const ADDR: Range<usize> = 12..20;
        pub const PAYLOAD: usize = ADDR.end;
    }
}

pub const SLL_HEADER_LEN: usize = field::sll::PAYLOAD;
pub const SLL2_HEADER_LEN: usize = field::sll2::PAYLOAD;
/// ARPHRD_ETHER: the address is an Ethernet one.
pub const HARDWARE_ETHER: u16 = 1;

/// Why a record is not a Linux cooked capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("record shorter than the {0}-octet Linux cooked capture header")]
    Truncated(usize),
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// The address field as an Ethernet address, when it holds one (length 6).
fn ether_addr(addr: &[u8], len: usize) -> Option<[u8; 6]> {
    (len == 6).then(|| addr[..6].try_into().expect("address field is 8 octets"))
}

/// A Linux cooked (SLL) header view.
#[derive(Debug, Clone)]
pub struct SllHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllHeader<T> {
    pub const fn new_unchecked(buffer: T) -> SllHeader<T> {
        SllHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<SllHeader<T>, Error> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < SLL_HEADER_LEN {
            return Err(Error::Truncated(SLL_HEADER_LEN));
        }
        Ok(())
    }

    /// To us, broadcast, multicast, to another host or outgoing (0 to 4).
    pub fn packet_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll::PACKET_TYPE.start)
    }

    /// The ARPHRD_ type of the interface.
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll::HARDWARE_TYPE.start)
    }

    pub fn addr_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll::ADDR_LEN.start)
    }

    /// The sender's address when it is an Ethernet one.
    pub fn ether_addr(&self) -> Option<[u8; 6]> {
        let addr = &self.buffer.as_ref()[field::sll::ADDR];
        ether_addr(addr, usize::from(self.addr_len()))
    }

    /// The ethertype of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll::PROTOCOL.start)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::sll::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SllHeader<T> {
    pub fn set_packet_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::sll::PACKET_TYPE].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::sll::HARDWARE_TYPE].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes an Ethernet address and its length, zero padding the field.
    pub fn set_ether_addr(&mut self, mac: &[u8; 6]) {
        let d = self.buffer.as_mut();
        d[field::sll::ADDR_LEN].copy_from_slice(&6u16.to_be_bytes());
        d[field::sll::ADDR].fill(0);
        d[field::sll::ADDR][..6].copy_from_slice(mac);
    }

    pub fn set_protocol(&mut self, v: u16) {
        self.buffer.as_mut()[field::sll::PROTOCOL].copy_from_slice(&v.to_be_bytes());
    }
}

/// A Linux cooked v2 (SLL2) header view.
#[derive(Debug, Clone)]
pub struct Sll2Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll2Header<T> {
    pub const fn new_unchecked(buffer: T) -> Sll2Header<T> {
        Sll2Header { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Sll2Header<T>, Error> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < SLL2_HEADER_LEN {
            return Err(Error::Truncated(SLL2_HEADER_LEN));
        }
        Ok(())
    }

    /// The ethertype of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll2::PROTOCOL.start)
    }

    pub fn if_index(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::sll2::IF_INDEX];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The ARPHRD_ type of the interface.
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::sll2::HARDWARE_TYPE.start)
    }

    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::sll2::PACKET_TYPE]
    }

    pub fn addr_len(&self) -> u8 {
        self.buffer.as_ref()[field::sll2::ADDR_LEN]
    }

    /// The sender's address when it is an Ethernet one.
    pub fn ether_addr(&self) -> Option<[u8; 6]> {
        let addr = &self.buffer.as_ref()[field::sll2::ADDR];
        ether_addr(addr, usize::from(self.addr_len()))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::sll2::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sll2Header<T> {
    /// Sets the protocol and clears the reserved field after it.
    pub fn set_protocol(&mut self, v: u16) {
        let d = self.buffer.as_mut();
        d[field::sll2::PROTOCOL].copy_from_slice(&v.to_be_bytes());
        d[field::sll2::RESERVED].fill(0);
    }

    pub fn set_if_index(&mut self, v: u32) {
        self.buffer.as_mut()[field::sll2::IF_INDEX].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::sll2::HARDWARE_TYPE].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_packet_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::sll2::PACKET_TYPE] = v;
    }

    /// Writes an Ethernet address and its length, zero padding the field.
    pub fn set_ether_addr(&mut self, mac: &[u8; 6]) {
        let d = self.buffer.as_mut();
        d[field::sll2::ADDR_LEN] = 6;
        d[field::sll2::ADDR].fill(0);
        d[field::sll2::ADDR][..6].copy_from_slice(mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];
    /// SLL: outgoing (4), ARPHRD_ETHER, address length 6, padded address, IPv4, then
    /// one payload octet.
    const SLL: [u8; 17] = [0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x08, 0x00, 0x45];
    /// SLL2: IPv6, reserved, ifindex 2, ARPHRD_ETHER, to us (0), address length 6,
    /// padded address, then one payload octet.
    const SLL2: [u8; 21] = [
        0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x60,
    ];

    #[test]
    fn deconstruct_sll() {
        let h = SllHeader::new_checked(&SLL[..]).unwrap();
        assert_eq!((h.packet_type(), h.hardware_type()), (4, HARDWARE_ETHER));
        assert_eq!((h.addr_len(), h.ether_addr()), (6, Some(MAC)));
        assert_eq!((h.protocol(), h.payload()), (0x0800, &[0x45][..]));
    }

    #[test]
    fn deconstruct_sll2() {
        let h = Sll2Header::new_checked(&SLL2[..]).unwrap();
        assert_eq!((h.protocol(), h.if_index()), (0x86dd, 2));
        assert_eq!((h.hardware_type(), h.packet_type()), (HARDWARE_ETHER, 0));
        assert_eq!((h.addr_len(), h.ether_addr()), (6, Some(MAC)));
        assert_eq!(h.payload(), [0x60]);
    }

    #[test]
    fn construct() {
        let mut b = [0xffu8; 17];
        let mut h = SllHeader::new_unchecked(&mut b[..]);
        h.set_packet_type(4);
        h.set_hardware_type(HARDWARE_ETHER);
        h.set_ether_addr(&MAC);
        h.set_protocol(0x0800);
        b[SLL_HEADER_LEN] = 0x45;
        assert_eq!(b, SLL);

        let mut b = [0xffu8; 21];
        let mut h = Sll2Header::new_unchecked(&mut b[..]);
        h.set_protocol(0x86dd);
        h.set_if_index(2);
        h.set_hardware_type(HARDWARE_ETHER);
        h.set_packet_type(0);
        h.set_ether_addr(&MAC);
        b[SLL2_HEADER_LEN] = 0x60;
        assert_eq!(b, SLL2);
    }

    #[test]
    fn other_address_lengths_are_not_ethernet() {
        let mut b = SLL;
        b[5] = 8;
        assert_eq!(SllHeader::new_checked(&b[..]).unwrap().ether_addr(), None);
        let mut b = SLL2;
        b[11] = 0;
        assert_eq!(Sll2Header::new_checked(&b[..]).unwrap().ether_addr(), None);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            SllHeader::new_checked(&SLL[..15]).unwrap_err(),
            Error::Truncated(16)
        );
        assert_eq!(
            Sll2Header::new_checked(&SLL2[..19]).unwrap_err(),
            Error::Truncated(20)
        );
    }
}
