//! From a captured record to what is inside it: an Ethernet frame (Ethernet, or a Linux
//! cooked capture presented as one) or a bare IP packet.

use super::LinkType;
use crate::wire::ether::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, Error, EtherFrame};

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer<'a> {
    /// An Ethernet frame and its payload (after the tags). From a Linux cooked capture
    /// the destination address is unknown (all zeros) and the source is the sender's
    /// link-layer address.
    Ether {
        frame: EtherFrame,
        payload: &'a [u8],
    },
    /// An IP packet without a link-layer header.
    Ip(&'a [u8]),
    /// A link type or address family we do not decode.
    Unsupported,
}

const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const NULL_HEADER_LEN: usize = 4;

/// Decodes the link-layer header of a record.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Layer<'_>, Error> {
    match link {
        LinkType::Ethernet => {
            let frame = EtherFrame::parse(data)?;
            Ok(Layer::Ether {
                frame,
                payload: &data[frame.payload_offset..],
            })
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Ok(Layer::Ip(data)),
        LinkType::Null => {
            let head = data.get(..NULL_HEADER_LEN).ok_or(Error::Truncated)?;
            // The family is in the capturing host's byte order; families are small.
            let le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let family = if le > 0xffff { le.swap_bytes() } else { le };
            match family {
                // AF_INET everywhere; AF_INET6 on Linux, the BSDs and macOS.
                2 | 10 | 24 | 28 | 30 => Ok(Layer::Ip(&data[NULL_HEADER_LEN..])),
                _ => Ok(Layer::Unsupported),
            }
        }
        LinkType::LinuxSll => {
            let head = data.get(..SLL_HEADER_LEN).ok_or(Error::Truncated)?;
            let addr_len = usize::from(u16::from_be_bytes([head[4], head[5]]));
            let protocol = u16::from_be_bytes([head[14], head[15]]);
            cooked(data, &head[6..14], addr_len, protocol, SLL_HEADER_LEN)
        }
        LinkType::LinuxSll2 => {
            let head = data.get(..SLL2_HEADER_LEN).ok_or(Error::Truncated)?;
            let protocol = u16::from_be_bytes([head[0], head[1]]);
            let addr_len = usize::from(head[11]);
            cooked(data, &head[12..20], addr_len, protocol, SLL2_HEADER_LEN)
        }
        LinkType::Unknown(_) => Ok(Layer::Unsupported),
    }
}

/// A Linux cooked capture as an Ethernet frame: the sender's address when it is an
/// Ethernet one, VLAN tags left in the data (if the kernel did not strip them) walked.
fn cooked<'a>(
    data: &'a [u8],
    addr: &[u8],
    addr_len: usize,
    protocol: u16,
    header_len: usize,
) -> Result<Layer<'a>, Error> {
    let mut src = [0u8; 6];
    if addr_len == 6 {
        src.copy_from_slice(&addr[..6]);
    }
    let mut frame = EtherFrame {
        dst: [0; 6],
        src,
        vlans: [None, None],
        ethertype: protocol,
        payload_offset: header_len,
    };
    frame.walk_tags(data)?;
    Ok(Layer::Ether {
        frame,
        payload: &data[frame.payload_offset..],
    })
}

/// The IP packet inside a layer, if it carries one.
pub fn ip_packet<'a>(layer: &Layer<'a>) -> Option<&'a [u8]> {
    match layer {
        Layer::Ip(p) => Some(p),
        Layer::Ether { frame, payload }
            if frame.ethertype == ETHERTYPE_IPV4 || frame.ethertype == ETHERTYPE_IPV6 =>
        {
            Some(payload)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ether::ETHERTYPE_PPPOE_DISCOVERY;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn ethernet_with_a_tag() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        f.extend_from_slice(&IP);
        let layer = decode(LinkType::Ethernet, &f).unwrap();
        let Layer::Ether { frame, payload } = layer else {
            panic!("{layer:?}")
        };
        assert_eq!(frame.vlans, [Some(10), None]);
        assert_eq!(payload, IP);
        assert_eq!(ip_packet(&layer), Some(&IP[..]));
        assert_eq!(decode(LinkType::Ethernet, &f[..13]), Err(Error::Truncated));
    }

    #[test]
    fn raw_and_null() {
        assert_eq!(decode(LinkType::Raw, &IP), Ok(Layer::Ip(&IP)));
        // AF_INET little-endian (Linux, x86 BSDs) and AF_INET6 (macOS, 30) big-endian.
        let le = [2, 0, 0, 0, 0x45];
        assert_eq!(decode(LinkType::Null, &le), Ok(Layer::Ip(&[0x45])));
        let be = [0, 0, 0, 30, 0x60];
        assert_eq!(decode(LinkType::Null, &be), Ok(Layer::Ip(&[0x60])));
        assert_eq!(
            decode(LinkType::Null, &[7, 0, 0, 0, 1]),
            Ok(Layer::Unsupported)
        );
        assert_eq!(decode(LinkType::Null, &[2, 0]), Err(Error::Truncated));
        assert_eq!(decode(LinkType::Unknown(147), &IP), Ok(Layer::Unsupported));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mac = [2, 0, 0, 0, 0, 9];
        // SLL: packet type 0 (to us), ARPHRD_ETHER, address length 6, address padded
        // to 8, protocol PPPoE discovery.
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend_from_slice(&mac);
        sll.extend_from_slice(&[0, 0, 0x88, 0x63]);
        sll.extend_from_slice(&[0x11, 0x09]);
        let Layer::Ether { frame, payload } = decode(LinkType::LinuxSll, &sll).unwrap() else {
            panic!()
        };
        assert_eq!(
            (frame.src, frame.dst, frame.ethertype),
            (mac, [0; 6], ETHERTYPE_PPPOE_DISCOVERY)
        );
        assert_eq!(payload, [0x11, 0x09]);
        // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type 4 (outgoing),
        // address length 6, address; a VLAN tag the kernel left in the data.
        let mut sll2 = vec![0x81, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6];
        sll2.extend_from_slice(&mac);
        sll2.extend_from_slice(&[0, 0]);
        sll2.extend_from_slice(&[0x00, 0x64, 0x08, 0x00]);
        sll2.extend_from_slice(&IP);
        let layer = decode(LinkType::LinuxSll2, &sll2).unwrap();
        let Layer::Ether { frame, .. } = layer else {
            panic!()
        };
        assert_eq!((frame.src, frame.vlans[0]), (mac, Some(100)));
        assert_eq!(ip_packet(&layer), Some(&IP[..]));
        assert_eq!(
            decode(LinkType::LinuxSll, &sll[..15]),
            Err(Error::Truncated)
        );
        assert_eq!(
            decode(LinkType::LinuxSll2, &sll2[..22]),
            Err(Error::Truncated)
        );
    }
}
