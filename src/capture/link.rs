//! From a captured record to what is inside it: an Ethernet frame (Ethernet, or a Linux
//! cooked capture presented as one) or a bare IP packet.

use super::LinkType;
use crate::wire::ether::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EtherFrame};
use crate::wire::null::{self, NullHeader};
use crate::wire::sll::{self, Sll2Header, SllHeader};

/// Why a record's link-layer header does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ethernet(#[from] ether::Error),
    #[error(transparent)]
    Cooked(#[from] sll::Error),
    #[error(transparent)]
    Loopback(#[from] null::Error),
}

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
            let head = NullHeader::new_checked(data)?;
            if head.is_ip() {
                Ok(Layer::Ip(&data[null::HEADER_LEN..]))
            } else {
                Ok(Layer::Unsupported)
            }
        }
        LinkType::LinuxSll => {
            let head = SllHeader::new_checked(data)?;
            let src = head.ether_addr();
            cooked(data, src, head.protocol(), sll::SLL_HEADER_LEN)
        }
        LinkType::LinuxSll2 => {
            let head = Sll2Header::new_checked(data)?;
            let src = head.ether_addr();
            cooked(data, src, head.protocol(), sll::SLL2_HEADER_LEN)
        }
        LinkType::Unknown(_) => Ok(Layer::Unsupported),
    }
}

/// A Linux cooked capture as an Ethernet frame: the sender's address when it is an
/// Ethernet one, VLAN tags left in the data (if the kernel did not strip them) walked.
/// The payload is sliced from `data`, not from the view, so it lives as long as the
/// record.
fn cooked(
    data: &[u8],
    src: Option<[u8; 6]>,
    protocol: u16,
    header_len: usize,
) -> Result<Layer<'_>, Error> {
    let mut frame = EtherFrame {
        dst: [0; 6],
        src: src.unwrap_or([0; 6]),
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
        assert_eq!(
            decode(LinkType::Ethernet, &f[..13]),
            Err(Error::Ethernet(ether::Error::Truncated))
        );
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
        assert_eq!(
            decode(LinkType::Null, &[2, 0]),
            Err(Error::Loopback(null::Error::Truncated))
        );
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
        assert_eq!((frame.src, frame.vlans), (mac, [Some(100), None]));
        assert_eq!(ip_packet(&layer), Some(&IP[..]));
        assert_eq!(
            decode(LinkType::LinuxSll, &sll[..15]),
            Err(Error::Cooked(sll::Error::Truncated(16)))
        );
        assert_eq!(
            decode(LinkType::LinuxSll2, &sll2[..22]),
            Err(Error::Ethernet(ether::Error::Truncated))
        );
    }
}
