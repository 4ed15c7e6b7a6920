//! IPv4, IPv6 and UDP as far as a bump in the wire needs them: find a UDP datagram in an
//! IP packet, rewrite its payload in place, and fix the checksums (RFC 791, 8200, 768).
//! Checksums are recomputed rather than patched incrementally: RADIUS packets are small.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const PROTO_UDP: u8 = 17;
pub const PROTO_TCP: u8 = 6;
/// IPv6 Fragment extension header.
const PROTO_IPV6_FRAGMENT: u8 = 44;

mod field {
    pub mod ipv4 {
        use core::ops::Range;
        pub const VER_IHL: usize = 0;
        pub const TOTAL_LEN: Range<usize> = 2..4;
        pub const FLAGS_FRAG: Range<usize> = 6..8;
        pub const TTL: usize = 8;
        pub const PROTOCOL: usize = 9;
        pub const CHECKSUM: Range<usize> = 10..12;
        pub const SRC_ADDR: Range<usize> = 12..16;
        pub const DST_ADDR: Range<usize> = 16..20;
        pub const HEADER_LEN: usize = DST_ADDR.end;
    }
    pub mod ipv6 {
        use core::ops::Range;
        pub const VER_TC_FLOW: usize = 0;
        pub const PAYLOAD_LEN: Range<usize> = 4..6;
        pub const NEXT_HEADER: usize = 6;
        pub const HOP_LIMIT: usize = 7;
        pub const SRC_ADDR: Range<usize> = 8..24;
        pub const DST_ADDR: Range<usize> = 24..40;
        pub const HEADER_LEN: usize = DST_ADDR.end;
    }
    pub mod udp {
        use core::ops::Range;
        pub const SRC_PORT: Range<usize> = 0..2;
        pub const DST_PORT: Range<usize> = 2..4;
        pub const LENGTH: Range<usize> = 4..6;
        pub const CHECKSUM: Range<usize> = 6..8;
        pub const HEADER_LEN: usize = CHECKSUM.end;
    }
}

/// Length of the IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = field::ipv4::HEADER_LEN;
/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = field::ipv6::HEADER_LEN;
pub const UDP_HEADER_LEN: usize = field::udp::HEADER_LEN;

/// Why bytes are not a well-formed IP or UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("buffer shorter than the header")]
    Truncated,
    #[error("IP version {0} is neither 4 nor 6")]
    BadVersion(u8),
    #[error("IPv4 header length {0} is below 20 or past the packet")]
    BadHeaderLen(usize),
    #[error("IP length field {0} is inconsistent with the buffer")]
    BadTotalLen(u16),
    #[error("UDP length field {0} is below 8 or past the IP packet")]
    BadUdpLen(u16),
}

fn be16(d: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([d[r.start], d[r.start + 1]])
}

/// The IP version nibble of a packet, if it has a first octet.
pub fn version(packet: &[u8]) -> Option<u8> {
    packet.first().map(|b| b >> 4)
}

/// An IPv4 header view (RFC 791). The buffer may run past the packet (padding).
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps untrusted input: header length and total length are checked once.
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::ipv4::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let ihl = self.header_len();
        if ihl < field::ipv4::HEADER_LEN || ihl > len {
            return Err(Error::BadHeaderLen(ihl));
        }
        let total = self.total_len();
        if usize::from(total) < ihl || usize::from(total) > len {
            return Err(Error::BadTotalLen(total));
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::ipv4::VER_IHL] >> 4
    }

    /// The header length in octets (IHL times four).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::ipv4::VER_IHL] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ipv4::TOTAL_LEN)
    }

    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::ipv4::FLAGS_FRAG) & 0x2000 != 0
    }

    /// The fragment offset in 8-octet units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ipv4::FLAGS_FRAG) & 0x1fff
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::ipv4::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ipv4::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let a: [u8; 4] = self.buffer.as_ref()[field::ipv4::SRC_ADDR]
            .try_into()
            .expect("4 octets");
        a.into()
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let a: [u8; 4] = self.buffer.as_ref()[field::ipv4::DST_ADDR]
            .try_into()
            .expect("4 octets");
        a.into()
    }

    /// Whether the header sums to all ones with its checksum in.
    pub fn verify_checksum(&self) -> bool {
        let ihl = self.header_len().min(self.buffer.as_ref().len());
        fold(sum16(0, &self.buffer.as_ref()[..ihl])) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length (a multiple of 4, at most 60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::ipv4::VER_IHL] = 0x40 | (header_len / 4) as u8;
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::ipv4::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::ipv4::PROTOCOL] = protocol;
    }

    pub fn set_total_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::ipv4::TOTAL_LEN].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_checksum(&mut self, sum: u16) {
        self.buffer.as_mut()[field::ipv4::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::ipv4::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::ipv4::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let ihl = self.header_len().min(self.buffer.as_ref().len());
        let c = fold(sum16(0, &self.buffer.as_ref()[..ihl]));
        self.set_checksum(c);
    }
}

/// An IPv6 fixed-header view (RFC 8200).
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::ipv6::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if field::ipv6::HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::BadTotalLen(self.payload_len()));
        }
        Ok(())
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ipv6::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::ipv6::NEXT_HEADER]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        let a: [u8; 16] = self.buffer.as_ref()[field::ipv6::SRC_ADDR]
            .try_into()
            .expect("16 octets");
        a.into()
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        let a: [u8; 16] = self.buffer.as_ref()[field::ipv6::DST_ADDR]
            .try_into()
            .expect("16 octets");
        a.into()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, with traffic class and flow label zero.
    pub fn set_version(&mut self) {
        self.buffer.as_mut()[field::ipv6::VER_TC_FLOW..field::ipv6::PAYLOAD_LEN.start]
            .copy_from_slice(&[0x60, 0, 0, 0]);
    }

    pub fn set_next_header(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::ipv6::NEXT_HEADER] = protocol;
    }

    pub fn set_hop_limit(&mut self, hops: u8) {
        self.buffer.as_mut()[field::ipv6::HOP_LIMIT] = hops;
    }

    pub fn set_payload_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::ipv6::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::ipv6::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::ipv6::DST_ADDR].copy_from_slice(&a.octets());
    }
}

/// A UDP header view (RFC 768); the buffer starts at the UDP header.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::udp::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let udp_len = self.len();
        if usize::from(udp_len) < field::udp::HEADER_LEN || usize::from(udp_len) > len {
            return Err(Error::BadUdpLen(udp_len));
        }
        Ok(())
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::udp::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::udp::DST_PORT)
    }

    /// The Length field: header and payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::udp::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::udp::CHECKSUM)
    }

    /// The payload, up to the Length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::udp::HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::udp::SRC_PORT].copy_from_slice(&port.to_be_bytes());
    }

    pub fn set_dst_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::udp::DST_PORT].copy_from_slice(&port.to_be_bytes());
    }

    pub fn set_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::udp::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_checksum(&mut self, sum: u16) {
        self.buffer.as_mut()[field::udp::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

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

impl UdpInIp {
    /// The UDP payload's range within the IP packet.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
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

/// The addresses, transport protocol, transport offset and end of an IP packet that
/// is not a fragment.
fn transport(packet: &[u8]) -> Result<(IpAddr, IpAddr, u8, usize, usize), NotUdp> {
    match version(packet) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(packet).map_err(NotUdp::Malformed)?;
            if ip.more_frags() || ip.frag_offset() != 0 {
                return Err(NotUdp::Fragment);
            }
            Ok((
                IpAddr::V4(ip.src_addr()),
                IpAddr::V4(ip.dst_addr()),
                ip.protocol(),
                ip.header_len(),
                usize::from(ip.total_len()),
            ))
        }
        Some(6) => {
            let ip = Ipv6Packet::new_checked(packet).map_err(NotUdp::Malformed)?;
            if ip.next_header() == PROTO_IPV6_FRAGMENT {
                return Err(NotUdp::Fragment);
            }
            Ok((
                IpAddr::V6(ip.src_addr()),
                IpAddr::V6(ip.dst_addr()),
                ip.next_header(),
                IPV6_HEADER_LEN,
                IPV6_HEADER_LEN + usize::from(ip.payload_len()),
            ))
        }
        Some(v) => Err(NotUdp::Malformed(Error::BadVersion(v))),
        None => Err(NotUdp::Malformed(Error::Truncated)),
    }
}

/// Finds the UDP datagram in an IPv4 or IPv6 packet (`packet` starts at the IP header;
/// trailing Ethernet padding is allowed).
pub fn udp_in_ip(packet: &[u8]) -> Result<UdpInIp, NotUdp> {
    let (src, dst, proto, l4, total) = transport(packet)?;
    if proto != PROTO_UDP {
        return Err(NotUdp::OtherProtocol);
    }
    let udp = UdpPacket::new_checked(&packet[l4..total]).map_err(NotUdp::Malformed)?;
    Ok(UdpInIp {
        src,
        dst,
        src_port: udp.src_port(),
        dst_port: udp.dst_port(),
        udp_offset: l4,
        payload_offset: l4 + UDP_HEADER_LEN,
        payload_len: udp.payload().len(),
    })
}

/// Writes the IP and UDP length fields for a UDP payload of `at.payload_len` octets
/// (after the payload was replaced); the IP packet ends where the datagram ends.
pub fn set_lengths(packet: &mut [u8], at: &UdpInIp) {
    let udp_len = (UDP_HEADER_LEN + at.payload_len) as u16;
    let ip_len = (at.udp_offset + usize::from(udp_len)) as u16;
    match version(packet) {
        Some(4) => Ipv4Packet::new_unchecked(&mut *packet).set_total_len(ip_len),
        _ => {
            Ipv6Packet::new_unchecked(&mut *packet).set_payload_len(ip_len - IPV6_HEADER_LEN as u16)
        }
    }
    UdpPacket::new_unchecked(&mut packet[at.udp_offset..]).set_len(udp_len);
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

/// Appends an IP header (IPv4 without options, or IPv6), a UDP header and `payload` to
/// `buf`, lengths and checksums filled. For tests, benchmarks and tools that make
/// frames; the packet path rewrites in place instead. Both addresses must be of one
/// family.
pub fn emit_udp(buf: &mut Vec<u8>, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
    let start = buf.len();
    let header_len = if src.is_ipv4() {
        IPV4_HEADER_LEN
    } else {
        IPV6_HEADER_LEN
    };
    buf.resize(start + header_len + UDP_HEADER_LEN, 0);
    buf.extend_from_slice(payload);
    let packet = &mut buf[start..];
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = Ipv4Packet::new_unchecked(&mut *packet);
            ip.set_version_and_header_len(IPV4_HEADER_LEN);
            ip.set_ttl(64);
            ip.set_protocol(PROTO_UDP);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = Ipv6Packet::new_unchecked(&mut *packet);
            ip.set_version();
            ip.set_next_header(PROTO_UDP);
            ip.set_hop_limit(64);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
        }
        _ => panic!("emit_udp: {src} and {dst} are of different families"),
    }
    let mut udp = UdpPacket::new_unchecked(&mut packet[header_len..]);
    udp.set_src_port(src.port());
    udp.set_dst_port(dst.port());
    let at = UdpInIp {
        src: src.ip(),
        dst: dst.ip(),
        src_port: src.port(),
        dst_port: dst.port(),
        udp_offset: header_len,
        payload_offset: header_len + UDP_HEADER_LEN,
        payload_len: payload.len(),
    };
    set_lengths(packet, &at);
    fix_ipv4_checksum(packet);
    fix_udp_checksum(packet, &at);
}

/// Recomputes the IPv4 header checksum in place (no-op for IPv6, which has none).
pub fn fix_ipv4_checksum(packet: &mut [u8]) {
    if version(packet) != Some(4) || packet.len() < IPV4_HEADER_LEN {
        return;
    }
    Ipv4Packet::new_unchecked(packet).fill_checksum();
}

/// The one's complement sum of the pseudo header (RFC 768, RFC 8200 section 8.1).
fn pseudo_sum(at: &UdpInIp, udp_len: usize) -> Option<u32> {
    pseudo_sum_of(at.src, at.dst, PROTO_UDP, udp_len)
}

fn pseudo_sum_of(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Option<u32> {
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum16(sum16(0, &s.octets()), &d.octets()),
        _ => return None,
    };
    Some(acc + u32::from(proto) + len as u32)
}

/// Computes the TCP or UDP checksum of an IP packet in place, over the pseudo header
/// and the segment: for a frame whose sender left it to the NIC (a veth's "hardware"),
/// which a frame relayed through a packet socket never meets. False (untouched) for
/// other protocols, fragments, IPv6 extension headers and malformed packets.
pub fn complete_l4_checksum(packet: &mut [u8]) -> bool {
    let Ok((src, dst, proto, l4, total)) = transport(packet) else {
        return false;
    };
    let at = match proto {
        PROTO_UDP => 6,
        PROTO_TCP => 16,
        _ => return false,
    };
    let Some(segment) = packet.get_mut(l4..total).filter(|s| s.len() >= at + 2) else {
        return false;
    };
    let Some(pseudo) = pseudo_sum_of(src, dst, proto, segment.len()) else {
        return false;
    };
    segment[at..at + 2].fill(0);
    let mut c = fold(sum16(pseudo, segment));
    // RFC 768: a computed zero is sent as all ones (zero meaning none).
    if c == 0 && proto == PROTO_UDP {
        c = 0xffff;
    }
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Recomputes the UDP checksum (with the pseudo header) in place.
pub fn fix_udp_checksum(packet: &mut [u8], at: &UdpInIp) {
    let udp_len = UDP_HEADER_LEN + at.payload_len;
    let datagram = &mut packet[at.udp_offset..at.udp_offset + udp_len];
    let Some(pseudo) = pseudo_sum(at, udp_len) else {
        return;
    };
    let mut udp = UdpPacket::new_unchecked(datagram);
    udp.set_checksum(0);
    let mut c = fold(sum16(pseudo, udp.buffer));
    // RFC 768: a computed zero is sent as all ones.
    if c == 0 {
        c = 0xffff;
    }
    udp.set_checksum(c);
}

/// Verifies a UDP checksum (zero = none, allowed for IPv4 only): the one's complement
/// sum over pseudo header and datagram, checksum included, is all ones.
pub fn udp_checksum_ok(packet: &[u8], at: &UdpInIp) -> bool {
    let udp_len = UDP_HEADER_LEN + at.payload_len;
    let udp = UdpPacket::new_unchecked(&packet[at.udp_offset..at.udp_offset + udp_len]);
    if udp.checksum() == 0 {
        return at.src.is_ipv4();
    }
    let Some(pseudo) = pseudo_sum(at, udp_len) else {
        return false;
    };
    fold(sum16(pseudo, udp.buffer)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet to port 1812, its checksums filled in by our own code and
    /// then checked independently below.
    fn v4_packet(payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        emit_udp(
            &mut p,
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:1812".parse().unwrap(),
            payload,
        );
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

    /// 10.0.0.1:1645 to 10.0.0.2:1812 carrying "ab", worked out by hand. IPv4 header
    /// words sum to 0x9932, so its checksum is 0x66cd; the pseudo header (0x141e) and
    /// the datagram (0x6eed) sum to 0x830b, so the UDP checksum is 0x7cf4.
    #[rustfmt::skip]
    const V4_UDP: [u8; 30] = [
        // IPv4: length 30, no id or flags, TTL 64, UDP, checksum, addresses.
        0x45, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x66, 0xcd,
        10, 0, 0, 1, 10, 0, 0, 2,
        // UDP: ports 1645 and 1812, length 10, checksum, payload.
        0x06, 0x6d, 0x07, 0x14, 0x00, 0x0a, 0x7c, 0xf4, b'a', b'b',
    ];

    #[test]
    fn emit_udp_known_answer() {
        let mut p = vec![0xee];
        emit_udp(
            &mut p,
            "10.0.0.1:1645".parse().unwrap(),
            "10.0.0.2:1812".parse().unwrap(),
            b"ab",
        );
        // Appended after what the buffer held.
        assert_eq!((p[0], &p[1..]), (0xee, &V4_UDP[..]));
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
        let mut p = Vec::new();
        emit_udp(
            &mut p,
            "[::1]:40000".parse().unwrap(),
            "[::1]:1812".parse().unwrap(),
            payload,
        );
        let at = udp_in_ip(&p).unwrap();
        assert_eq!(&p[at.payload_range()], payload);
        assert!(udp_checksum_ok(&p, &at));
        assert_eq!(at.dst_port, 1812);
    }

    #[test]
    fn views_read_and_write_fields() {
        let mut p = v4_packet(b"abc");
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            (ip.version(), ip.header_len(), ip.total_len(), ip.protocol()),
            (4, 20, 31, PROTO_UDP)
        );
        assert_eq!(
            (ip.src_addr(), ip.dst_addr()),
            (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
        );
        assert!(ip.verify_checksum());
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        let mut udp = UdpPacket::new_checked(&mut p[20..]).unwrap();
        assert_eq!(
            (udp.src_port(), udp.dst_port(), udp.len(), udp.payload()),
            (40000, 1812, 11, &b"abc"[..])
        );
        udp.set_dst_port(1813);
        assert_eq!(udp_in_ip(&p).unwrap().dst_port, 1813);
    }

    #[test]
    fn set_lengths_after_a_new_payload() {
        let mut p = v4_packet(b"abc");
        let at = udp_in_ip(&p).unwrap();
        p.extend_from_slice(b"defg");
        let at = UdpInIp {
            payload_len: 7,
            ..at
        };
        set_lengths(&mut p, &at);
        assert_eq!(Ipv4Packet::new_unchecked(&p[..]).total_len(), 35);
        assert_eq!(udp_in_ip(&p).unwrap().payload_len, 7);
    }

    #[test]
    fn malformed_headers() {
        let p = v4_packet(b"x");
        assert_eq!(
            Ipv4Packet::new_checked(&p[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut q = p.clone();
        q[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&q[..]).unwrap_err(),
            Error::BadHeaderLen(16)
        );
        assert_eq!(
            Ipv4Packet::new_checked(&p[..25]).unwrap_err(),
            Error::BadTotalLen(29)
        );
        let mut q = p.clone();
        q[24..26].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(udp_in_ip(&q), Err(NotUdp::Malformed(Error::BadUdpLen(7))));
        assert_eq!(
            udp_in_ip(&[0x50]),
            Err(NotUdp::Malformed(Error::BadVersion(5)))
        );
        assert_eq!(
            Ipv6Packet::new_checked(&[0x60; 39][..]).unwrap_err(),
            Error::Truncated
        );
    }

    /// Checksums left for "hardware" (the field holds the pseudo-header sum, as a veth
    /// with TX offload sends them) are completed: UDP over IPv4 and IPv6, TCP.
    #[test]
    fn checksums_left_for_hardware_are_completed() {
        for (src, dst) in [
            ("10.0.0.1:40000", "10.0.0.2:1812"),
            ("[fd00::1]:40000", "[fd00::2]:1812"),
        ] {
            let mut p = Vec::new();
            emit_udp(
                &mut p,
                src.parse().unwrap(),
                dst.parse().unwrap(),
                b"radius!",
            );
            let at = udp_in_ip(&p).unwrap();
            p[at.udp_offset + 6..at.udp_offset + 8].copy_from_slice(&[0x12, 0x34]);
            assert!(!udp_checksum_ok(&p, &at));
            assert!(complete_l4_checksum(&mut p));
            assert!(udp_checksum_ok(&p, &at), "{src}");
        }
        // IPv4 + TCP (header 20, then 5 octets of data), the checksum field unfilled.
        let mut p = v4_packet(&[0; 20 + 5]);
        p[9] = PROTO_TCP;
        p[20 + 28..].copy_from_slice(b"hello");
        let len = p.len() - 20;
        p[20 + 16..20 + 18].copy_from_slice(&[0xab, 0xcd]);
        assert!(complete_l4_checksum(&mut p));
        let pseudo = sum16(sum16(0, &p[12..16]), &p[16..20]) + 6 + len as u32;
        assert_eq!(fold(sum16(pseudo, &p[20..])), 0, "TCP checksum verifies");
        // A fragment and another protocol are left alone.
        let mut icmp = v4_packet(b"x");
        icmp[9] = 1;
        let before = icmp.clone();
        assert!(!complete_l4_checksum(&mut icmp));
        assert_eq!(icmp, before);
    }
}
