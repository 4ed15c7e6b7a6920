//! Ethernet II frames with 802.1Q / 802.1ad (QinQ) tags, as zero-copy views: enough for
//! the bridge to find the IP packet inside a frame and for pcap analysis.

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Some switches use 0x9100 for the outer tag.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    /// The ethertype, or the TPID of the first VLAN tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = ETHERTYPE.end;
    /// A VLAN tag after its TPID (which sits where the ethertype would): the tag
    /// control information, then the next ethertype.
    pub const TAG_TCI: Range<usize> = 0..2;
    pub const TAG_NEXT: Range<usize> = 2..4;
    pub const TAG_LEN: usize = 4;
}

/// Length of the untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of one 802.1Q tag.
pub const VLAN_TAG_LEN: usize = field::TAG_LEN;

/// Why bytes are not an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("frame shorter than its Ethernet header and tags")]
    Truncated,
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// An Ethernet II header view over a frame (untagged fields only; tags are walked by
/// [`EtherFrame::parse`]).
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>, Error> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn dst_addr(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::DESTINATION]
            .try_into()
            .expect("6 octets")
    }

    pub fn src_addr(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SOURCE]
            .try_into()
            .expect("6 octets")
    }

    /// The ethertype, or the TPID when the frame is tagged.
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, mac: &[u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(mac);
    }

    pub fn set_src_addr(&mut self, mac: &[u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(mac);
    }

    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    }

    /// Writes a VLAN tag right after the addresses (the next ethertype, 4 octets on,
    /// is left as it is).
    pub fn set_vlan_tag(&mut self, tpid: u16, tci: u16) {
        self.set_ethertype(tpid);
        let tag = &mut self.buffer.as_mut()[field::PAYLOAD..];
        tag[field::TAG_TCI].copy_from_slice(&tci.to_be_bytes());
    }
}

/// Appends an Ethernet header with VLAN tags (`(tpid, vid)`, outermost first) to `buf`.
/// For tests, benchmarks and tools that make frames.
pub fn emit_header(
    buf: &mut Vec<u8>,
    dst: &[u8; 6],
    src: &[u8; 6],
    tags: &[(u16, u16)],
    ethertype: u16,
) {
    let start = buf.len();
    buf.resize(start + HEADER_LEN + tags.len() * VLAN_TAG_LEN, 0);
    let mut frame = EthernetFrame::new_unchecked(&mut buf[start..]);
    frame.set_dst_addr(dst);
    frame.set_src_addr(src);
    let mut at = start;
    for &(tpid, vid) in tags {
        EthernetFrame::new_unchecked(&mut buf[at..]).set_vlan_tag(tpid, vid);
        at += VLAN_TAG_LEN;
    }
    EthernetFrame::new_unchecked(&mut buf[at..]).set_ethertype(ethertype);
}

/// A parsed Ethernet header: addresses, VLAN tags (outer first) and where the payload
/// starts in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherFrame {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// VLAN ids, outermost first; up to two (QinQ).
    pub vlans: [Option<u16>; 2],
    pub ethertype: u16,
    pub payload_offset: usize,
}

impl EtherFrame {
    /// Parses the header of an untrusted frame.
    pub fn parse(frame: &[u8]) -> Result<EtherFrame, Error> {
        let view = EthernetFrame::new_checked(frame)?;
        let mut parsed = EtherFrame {
            dst: view.dst_addr(),
            src: view.src_addr(),
            vlans: [None, None],
            ethertype: view.ethertype(),
            payload_offset: HEADER_LEN,
        };
        parsed.walk_tags(frame)?;
        Ok(parsed)
    }

    /// While `ethertype` is a TPID, reads the tag at `payload_offset` (up to two): records
    /// its id and moves the ethertype and payload past it.
    pub fn walk_tags(&mut self, frame: &[u8]) -> Result<(), Error> {
        let mut tags = 0;
        while tags < 2 && is_tag(self.ethertype) {
            let o = self.payload_offset;
            let tag = frame.get(o..o + VLAN_TAG_LEN).ok_or(Error::Truncated)?;
            self.vlans[tags] = Some(be16(tag, field::TAG_TCI.start) & 0x0fff);
            self.ethertype = be16(tag, field::TAG_NEXT.start);
            self.payload_offset += VLAN_TAG_LEN;
            tags += 1;
        }
        Ok(())
    }
}

fn is_tag(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    )
}

/// The Ethernet address as aa:bb:cc:dd:ee:ff.
pub fn mac_string(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tags: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
        let mut f = Vec::new();
        emit_header(&mut f, &[0xaa; 6], &[0xbb; 6], tags, ethertype);
        f.extend_from_slice(&[0x45, 0]);
        f
    }

    #[test]
    fn emitted_header_known_answer() {
        let f = frame(&[(ETHERTYPE_VLAN, 0x2064)], ETHERTYPE_IPV6);
        let expect = [[0xaa; 6], [0xbb; 6]].concat();
        assert_eq!(f[..12], expect[..]);
        assert_eq!(f[12..], [0x81, 0x00, 0x20, 0x64, 0x86, 0xdd, 0x45, 0]);
        let view = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(
            (view.dst_addr(), view.src_addr(), view.ethertype()),
            ([0xaa; 6], [0xbb; 6], ETHERTYPE_VLAN)
        );
    }

    #[test]
    fn untagged_single_and_qinq() {
        let f = EtherFrame::parse(&frame(&[], ETHERTYPE_IPV4)).unwrap();
        assert_eq!(
            (f.vlans, f.ethertype, f.payload_offset),
            ([None, None], ETHERTYPE_IPV4, 14)
        );
        let f = EtherFrame::parse(&frame(&[(ETHERTYPE_VLAN, 0x2064)], ETHERTYPE_IPV6)).unwrap();
        assert_eq!(
            (f.vlans, f.ethertype, f.payload_offset),
            ([Some(100), None], ETHERTYPE_IPV6, 18)
        );
        let f = EtherFrame::parse(&frame(
            &[(ETHERTYPE_QINQ, 10), (ETHERTYPE_VLAN, 20)],
            ETHERTYPE_IPV4,
        ))
        .unwrap();
        assert_eq!((f.vlans, f.payload_offset), ([Some(10), Some(20)], 22));
        assert_eq!(mac_string(&f.src), "bb:bb:bb:bb:bb:bb");
    }

    #[test]
    fn truncated() {
        assert_eq!(EtherFrame::parse(&[0; 13]), Err(Error::Truncated));
        let mut f = frame(&[(ETHERTYPE_VLAN, 1)], ETHERTYPE_IPV4);
        f.truncate(15);
        assert_eq!(EtherFrame::parse(&f), Err(Error::Truncated));
    }
}
