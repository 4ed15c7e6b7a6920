//! IPv4, IPv6 and UDP as far as a bump in the wire needs them: find a UDP datagram in an
//! IP packet, rewrite its payload in place, and fix the checksums (RFC 791, 8200, 768).
//! Checksums are recomputed rather than patched incrementally: RADIUS packets are small.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Error;

pub const PROTO_UDP: u8 = 17;

/// Where a UDP datagram lies in an IP packet, and its addressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInIp {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Offset of the UDP header within the IP packet.
    pub udp_offset: usize,
    /// Offset and length of the UDP payload within the IP packet.
    pub payload_offset: usize,
    pub payload_len: usize,
}

/// Why an IP packet is not a plain UDP datagram we can rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotUdp {
    Malformed(Error),
    /// A fragment: passed on unchanged.
    Fragment,
    /// Another protocol, or IPv6 extension headers we do not walk.
    OtherProtocol,
}

/// Finds the UDP datagram in an IPv4 or IPv6 packet (`packet` starts at the IP header;
/// trailing Ethernet padding is allowed).
pub fn udp_in_ip(packet: &[u8]) -> Result<UdpInIp, NotUdp> {
    let version = packet
        .first()
        .map(|b| b >> 4)
        .ok_or(NotUdp::Malformed(Error::TooShort))?;
    let (src, dst, proto, l4, total) = match version {
        4 => {
            if packet.len() < 20 {
                return Err(NotUdp::Malformed(Error::TooShort));
            }
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            if ihl < 20 || total < ihl || total > packet.len() {
                return Err(NotUdp::Malformed(Error::TooShort));
            }
            let frag = u16::from_be_bytes([packet[6], packet[7]]);
            // More-fragments set, or a non-zero offset.
            if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
                return Err(NotUdp::Fragment);
            }
            let src = IpAddr::V4(Ipv4Addr::new(
                packet[12], packet[13], packet[14], packet[15],
            ));
            let dst = IpAddr::V4(Ipv4Addr::new(
                packet[16], packet[17], packet[18], packet[19],
            ));
            (src, dst, packet[9], ihl, total)
        }
        6 => {
            if packet.len() < 40 {
                return Err(NotUdp::Malformed(Error::TooShort));
            }
            let total = 40 + usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            if total > packet.len() {
                return Err(NotUdp::Malformed(Error::TooShort));
            }
            let addr = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&packet[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(a))
            };
            if packet[6] == 44 {
                return Err(NotUdp::Fragment);
            }
            (addr(8), addr(24), packet[6], 40, total)
        }
        _ => return Err(NotUdp::Malformed(Error::TooShort)),
    };
    if proto != PROTO_UDP {
        return Err(NotUdp::OtherProtocol);
    }
    let udp = &packet[l4..total];
    if udp.len() < 8 {
        return Err(NotUdp::Malformed(Error::TooShort));
    }
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < 8 || udp_len > udp.len() {
        return Err(NotUdp::Malformed(Error::TooShort));
    }
    Ok(UdpInIp {
        src,
        dst,
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
        udp_offset: l4,
        payload_offset: l4 + 8,
        payload_len: udp_len - 8,
    })
}

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Recomputes the IPv4 header checksum in place (no-op for IPv6, which has none).
pub fn fix_ipv4_checksum(packet: &mut [u8]) {
    if packet.first().map(|b| b >> 4) != Some(4) || packet.len() < 20 {
        return;
    }
    let ihl = (usize::from(packet[0] & 0x0f) * 4).min(packet.len());
    packet[10] = 0;
    packet[11] = 0;
    let c = fold(sum16(0, &packet[..ihl]));
    packet[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the UDP checksum (with the pseudo header) in place.
pub fn fix_udp_checksum(packet: &mut [u8], at: &UdpInIp) {
    let udp_len = 8 + at.payload_len;
    let end = at.udp_offset + udp_len;
    packet[at.udp_offset + 6] = 0;
    packet[at.udp_offset + 7] = 0;
    let mut acc = match (at.src, at.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + u32::from(PROTO_UDP) + udp_len as u32
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let acc = sum16(sum16(0, &s.octets()), &d.octets());
            acc + u32::from(PROTO_UDP) + udp_len as u32
        }
        _ => return,
    };
    acc = sum16(acc, &packet[at.udp_offset..end]);
    let mut c = fold(acc);
    // RFC 768: a computed zero is sent as all ones.
    if c == 0 {
        c = 0xffff;
    }
    packet[at.udp_offset + 6..at.udp_offset + 8].copy_from_slice(&c.to_be_bytes());
}

/// Verifies a UDP checksum (zero = none, allowed for IPv4 only): the one's complement
/// sum over pseudo header and datagram, checksum included, is all ones.
pub fn udp_checksum_ok(packet: &[u8], at: &UdpInIp) -> bool {
    let stored = u16::from_be_bytes([packet[at.udp_offset + 6], packet[at.udp_offset + 7]]);
    if stored == 0 {
        return at.src.is_ipv4();
    }
    let udp_len = 8 + at.payload_len;
    let pseudo = match (at.src, at.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        _ => return false,
    };
    let acc = sum16(
        pseudo + u32::from(PROTO_UDP) + udp_len as u32,
        &packet[at.udp_offset..at.udp_offset + udp_len],
    );
    fold(acc) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet to port 1812, its checksums filled in by our own code and
    /// then checked independently below.
    fn v4_packet(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&1812u16.to_be_bytes());
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        fix_ipv4_checksum(&mut p);
        let at = udp_in_ip(&p).unwrap();
        fix_udp_checksum(&mut p, &at);
        p
    }

    #[test]
    fn finds_udp_and_checksums_verify() {
        let p = v4_packet(b"hello radius");
        let at = udp_in_ip(&p).unwrap();
        assert_eq!(
            (at.src_port, at.dst_port, at.payload_len),
            (40000, 1812, 12)
        );
        assert_eq!(
            &p[at.payload_offset..at.payload_offset + 12],
            b"hello radius"
        );
        assert!(udp_checksum_ok(&p, &at));
        // The IPv4 header sums to 0xffff with its checksum in.
        assert_eq!(fold(sum16(0, &p[..20])), 0);
        let mut bad = p.clone();
        bad[at.payload_offset] ^= 1;
        assert!(!udp_checksum_ok(&bad, &at));
    }

    #[test]
    fn known_answer_checksum() {
        // RFC 1071's example words sum to 0xddf2; the checksum is its complement.
        assert_eq!(
            fold(sum16(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            !0xddf2
        );
    }

    #[test]
    fn fragments_and_other_protocols_pass() {
        let mut p = v4_packet(b"x");
        p[6] = 0x20; // more fragments
        assert_eq!(udp_in_ip(&p), Err(NotUdp::Fragment));
        let mut p = v4_packet(b"x");
        p[9] = 6;
        assert_eq!(udp_in_ip(&p), Err(NotUdp::OtherProtocol));
        assert!(matches!(udp_in_ip(&p[..10]), Err(NotUdp::Malformed(_))));
    }

    #[test]
    fn ipv6_udp() {
        let payload = b"v6 radius";
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&[0x9c, 0x40, 0x07, 0x14]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        let at = udp_in_ip(&p).unwrap();
        fix_udp_checksum(&mut p, &at);
        assert!(udp_checksum_ok(&p, &at));
        assert_eq!(at.dst_port, 1812);
    }
}
