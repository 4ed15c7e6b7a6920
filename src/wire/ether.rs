//! Ethernet II frames with 802.1Q / 802.1ad (QinQ) tags, as zero-copy views: enough for
//! the bridge to find the IP packet inside a frame and for pcap analysis.

use super::Error;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Some switches use 0x9100 for the outer tag.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

const HEADER_LEN: usize = 14;

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
        if frame.len() < HEADER_LEN {
            return Err(Error::TooShort);
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&frame[0..6]);
        src.copy_from_slice(&frame[6..12]);
        let mut offset = 12;
        let mut vlans = [None, None];
        let mut tags = 0;
        loop {
            let Some(t) = frame.get(offset..offset + 2) else {
                return Err(Error::TooShort);
            };
            let ethertype = u16::from_be_bytes([t[0], t[1]]);
            let tagged = matches!(
                ethertype,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            );
            if !tagged || tags == 2 {
                return Ok(EtherFrame {
                    dst,
                    src,
                    vlans,
                    ethertype,
                    payload_offset: offset + 2,
                });
            }
            let Some(tci) = frame.get(offset + 2..offset + 4) else {
                return Err(Error::TooShort);
            };
            vlans[tags] = Some(u16::from_be_bytes([tci[0], tci[1]]) & 0x0fff);
            tags += 1;
            offset += 4;
        }
    }
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
        let mut f = vec![0xaa; 6];
        f.extend_from_slice(&[0xbb; 6]);
        for (tpid, vid) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&[0x45, 0]);
        f
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
        assert_eq!(EtherFrame::parse(&[0; 13]), Err(Error::TooShort));
        let mut f = frame(&[(ETHERTYPE_VLAN, 1)], ETHERTYPE_IPV4);
        f.truncate(15);
        assert_eq!(EtherFrame::parse(&f), Err(Error::TooShort));
    }
}
