//! Reader tests over captures built here byte by byte, in both formats and both byte
//! orders, plus the dumpcap capture committed in tests/fixtures/packets.

use std::time::Duration;

use super::*;

/// Writes integers in a chosen byte order.
struct Bytes {
    big: bool,
    out: Vec<u8>,
}

impl Bytes {
    fn new(big: bool) -> Bytes {
        Bytes {
            big,
            out: Vec::new(),
        }
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
        self
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }

    fn pad4(&mut self) -> &mut Self {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
        self
    }
}

/// A classic pcap in either byte order.
fn classic(big: bool, nanos: bool, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut b = Bytes::new(big);
    b.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 })
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(65535)
        .u32(link);
    for (secs, frac, data) in records {
        b.u32(*secs)
            .u32(*frac)
            .u32(data.len() as u32)
            .u32(data.len() as u32)
            .bytes(data);
    }
    b.out
}

/// A pcapng builder in either byte order.
struct Ng(Bytes);

impl Ng {
    fn new(big: bool) -> Ng {
        let mut ng = Ng(Bytes::new(big));
        ng.section();
        ng
    }

    fn block(&mut self, typ: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        self.0.u32(typ).u32(len).bytes(body).pad4().u32(len);
        self
    }

    fn section(&mut self) -> &mut Self {
        let mut body = Bytes::new(self.0.big);
        body.u32(0x1a2b_3c4d)
            .u16(1)
            .u16(0)
            .u32(u32::MAX)
            .u32(u32::MAX);
        // The SHB type is the same in both orders.
        self.block(0x0a0d_0d0a, &body.out)
    }

    fn interface(&mut self, link: u16, tsresol: Option<u8>) -> &mut Self {
        let mut body = Bytes::new(self.0.big);
        body.u16(link).u16(0).u32(0);
        // A comment option first, to be skipped, then the resolution.
        body.u16(1).u16(3).bytes(b"abc").pad4();
        if let Some(r) = tsresol {
            body.u16(9).u16(1).bytes(&[r]).pad4();
        }
        body.u16(0).u16(0);
        self.block(1, &body.out)
    }

    fn enhanced(&mut self, iface: u32, units: u64, data: &[u8]) -> &mut Self {
        let mut body = Bytes::new(self.0.big);
        body.u32(iface)
            .u32((units >> 32) as u32)
            .u32(units as u32)
            .u32(data.len() as u32)
            .u32(data.len() as u32 + 100)
            .bytes(data)
            .pad4();
        self.block(6, &body.out)
    }

    fn simple(&mut self, data: &[u8]) -> &mut Self {
        let mut body = Bytes::new(self.0.big);
        body.u32(data.len() as u32).bytes(data).pad4();
        self.block(3, &body.out)
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.out.clone()
    }
}

/// A record as (timestamp, link, data, original length).
type Owned = (Duration, LinkType, Vec<u8>, u32);

/// Every record, or the first error.
fn read_all(bytes: &[u8]) -> Result<Vec<Owned>, CaptureError> {
    let mut r = CaptureReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push((rec.timestamp, rec.link, rec.data.to_vec(), rec.original_len));
    }
    Ok(out)
}

#[test]
fn classic_little_endian_microseconds() {
    let f = classic(false, false, 1, &[(10, 250_000, b"one"), (11, 5, b"two!")]);
    let r = CaptureReader::new(&f[..]).unwrap();
    assert_eq!(
        r.format(),
        Format::Pcap {
            big_endian: false,
            nanoseconds: false
        }
    );
    assert_eq!(
        read_all(&f).unwrap(),
        vec![
            (
                Duration::new(10, 250_000_000),
                LinkType::Ethernet,
                b"one".to_vec(),
                3
            ),
            (
                Duration::new(11, 5_000),
                LinkType::Ethernet,
                b"two!".to_vec(),
                4
            ),
        ]
    );
}

#[test]
fn classic_big_endian_nanoseconds() {
    let f = classic(true, true, 113, &[(1_700_000_000, 123_456_789, b"sll")]);
    let r = CaptureReader::new(&f[..]).unwrap();
    assert_eq!(
        r.format(),
        Format::Pcap {
            big_endian: true,
            nanoseconds: true
        }
    );
    assert_eq!(
        read_all(&f).unwrap(),
        vec![(
            Duration::new(1_700_000_000, 123_456_789),
            LinkType::LinuxSll,
            b"sll".to_vec(),
            3
        )]
    );
}

#[test]
fn classic_link_types() {
    for (raw, link) in [
        (0, LinkType::Null),
        (1, LinkType::Ethernet),
        (101, LinkType::Raw),
        (113, LinkType::LinuxSll),
        (276, LinkType::LinuxSll2),
        (147, LinkType::Unknown(147)),
    ] {
        // FCS bits above the low 16 do not change the link type.
        let f = classic(false, false, raw | 0x1000_0000, &[(1, 0, b"x")]);
        assert_eq!(read_all(&f).unwrap()[0].1, link, "{raw}");
        assert_eq!(LinkType::from_raw(raw).raw(), raw);
    }
}

#[test]
fn writer_round_trip() {
    let mut w = PcapWriter::new(Vec::new(), LinkType::LinuxSll2, true).unwrap();
    w.write(Duration::new(5, 7), b"abc").unwrap();
    w.write(Duration::new(6, 999_999_999), b"").unwrap();
    let f = w.into_inner();
    assert_eq!(
        read_all(&f).unwrap(),
        vec![
            (Duration::new(5, 7), LinkType::LinuxSll2, b"abc".to_vec(), 3),
            (
                Duration::new(6, 999_999_999),
                LinkType::LinuxSll2,
                Vec::new(),
                0
            ),
        ]
    );
    // Microsecond files keep microseconds.
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, false).unwrap();
    w.write(Duration::new(5, 1_234_567), b"x").unwrap();
    assert_eq!(
        read_all(&w.into_inner()).unwrap()[0].0,
        Duration::new(5, 1_234_000)
    );
}

#[test]
fn pcapng_both_byte_orders() {
    for big in [false, true] {
        let mut ng = Ng::new(big);
        ng.interface(1, None)
            .interface(101, Some(9))
            .enhanced(0, 1_700_000_000_000_001, b"ether")
            .block(5, &[0; 8]) // interface statistics: skipped
            .enhanced(1, 1_700_000_001_000_000_002, b"raw ip")
            .simple(b"simple");
        let f = ng.bytes();
        assert_eq!(CaptureReader::new(&f[..]).unwrap().format(), Format::PcapNg);
        let recs = read_all(&f).unwrap();
        assert_eq!(recs.len(), 3, "big={big}");
        assert_eq!(recs[0].0, Duration::new(1_700_000_000, 1_000));
        assert_eq!(
            (recs[0].1, &recs[0].2[..], recs[0].3),
            (LinkType::Ethernet, &b"ether"[..], 105)
        );
        assert_eq!(recs[1].0, Duration::new(1_700_000_001, 2));
        assert_eq!((recs[1].1, &recs[1].2[..]), (LinkType::Raw, &b"raw ip"[..]));
        // A simple packet block: interface 0, the previous packet's time.
        assert_eq!(
            (recs[2].0, recs[2].1, &recs[2].2[..]),
            (
                Duration::new(1_700_000_001, 2),
                LinkType::Ethernet,
                &b"simple"[..]
            )
        );
    }
}

#[test]
fn pcapng_new_section_resets_interfaces_and_byte_order() {
    let mut ng = Ng::new(false);
    ng.interface(1, None).enhanced(0, 1, b"a");
    let mut f = ng.bytes();
    let mut second = Ng::new(true);
    second
        .interface(276, Some(0x80 | 10))
        .enhanced(0, 3 * 1024, b"b");
    f.extend_from_slice(&second.bytes());
    let recs = read_all(&f).unwrap();
    assert_eq!(recs[1].1, LinkType::LinuxSll2);
    assert_eq!(recs[1].0, Duration::from_secs(3));
}

#[test]
fn pcapng_each_link_type() {
    for raw in [0u16, 1, 101, 113, 228, 229, 276] {
        let mut ng = Ng::new(raw % 2 == 0);
        ng.interface(raw, None).enhanced(0, 0, b"x");
        let recs = read_all(&ng.bytes()).unwrap();
        assert_eq!(recs[0].1, LinkType::from_raw(u32::from(raw)));
        assert_ne!(recs[0].1.name(), "unknown");
    }
}

#[test]
fn dumpcap_capture_from_the_fixtures() {
    let f = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/packets/radclient.pcap"
    ))
    .unwrap();
    let recs = read_all(&f).unwrap();
    assert!(!recs.is_empty());
    for (ts, link, data, orig) in &recs {
        assert_eq!(*link, LinkType::Ethernet);
        assert!(ts.as_secs() > 1_600_000_000, "a plausible date: {ts:?}");
        assert_eq!(data.len(), *orig as usize);
        let layer = link::decode(*link, data).unwrap();
        let ip = link::ip_packet(&layer).expect("IP on the loopback");
        let udp = crate::wire::ip::udp_in_ip(ip).unwrap();
        assert!([1812, 1813].contains(&udp.dst_port) || [1812, 1813].contains(&udp.src_port));
    }
}

#[test]
fn not_a_capture() {
    let e = read_all(b"GIF89a..........................").unwrap_err();
    assert!(matches!(e, CaptureError::NotACapture { .. }), "{e}");
    assert!(e.to_string().contains("not a pcap"), "{e}");
    assert!(matches!(
        read_all(b"").unwrap_err(),
        CaptureError::Truncated { offset: 0, .. }
    ));
}

#[test]
fn truncated_classic_names_the_offset() {
    let f = classic(false, false, 1, &[(1, 0, b"0123456789")]);
    // Inside the file header.
    let e = read_all(&f[..10]).unwrap_err();
    assert!(
        matches!(e, CaptureError::Truncated { offset: 4, .. }),
        "{e}"
    );
    // Inside the record header (at 24).
    let e = read_all(&f[..30]).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::Truncated {
                offset: 24,
                got: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("offset 24"), "{e}");
    // Inside the packet data (at 40).
    let e = read_all(&f[..45]).unwrap_err();
    assert!(
        matches!(
            e,
            CaptureError::Truncated {
                offset: 40,
                wanted: 10,
                got: 5,
                ..
            }
        ),
        "{e}"
    );
    // A whole record is fine; the cut must be inside one.
    assert_eq!(read_all(&f).unwrap().len(), 1);
}

#[test]
fn corrupt_classic_record_length() {
    let mut f = classic(true, false, 1, &[(1, 0, b"abcd")]);
    f[32..36].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let e = read_all(&f).unwrap_err();
    assert!(
        matches!(e, CaptureError::Malformed { offset: 24, .. }),
        "{e}"
    );
    let mut f = classic(false, false, 1, &[]);
    f[4] = 3;
    assert!(matches!(
        read_all(&f).unwrap_err(),
        CaptureError::Malformed { offset: 4, .. }
    ));
}

#[test]
fn truncated_and_corrupt_pcapng_name_the_offset() {
    let mut ng = Ng::new(false);
    ng.interface(1, None).enhanced(0, 0, b"0123456789");
    let f = ng.bytes();
    let shb_len = 28;
    let idb_len = u32::from_le_bytes(f[shb_len + 4..shb_len + 8].try_into().unwrap()) as usize;
    let epb_at = shb_len + idb_len;
    assert_eq!(read_all(&f).unwrap().len(), 1);
    // Cut inside the enhanced packet block.
    let e = read_all(&f[..epb_at + 20]).unwrap_err();
    assert!(
        matches!(e, CaptureError::Truncated { offset, .. } if offset == (epb_at + 8) as u64),
        "{e}"
    );
    // Cut inside a block header.
    let e = read_all(&f[..epb_at + 3]).unwrap_err();
    assert!(
        matches!(e, CaptureError::Truncated { offset, .. } if offset == epb_at as u64),
        "{e}"
    );
    // Trailing length differs.
    let mut bad = f.clone();
    let last = bad.len() - 4;
    bad[last] ^= 4;
    let e = read_all(&bad).unwrap_err();
    assert!(
        matches!(e, CaptureError::Malformed { offset, .. } if offset == last as u64),
        "{e}"
    );
    // Block length not a multiple of 4.
    let mut bad = f.clone();
    bad[epb_at + 4] += 1;
    let e = read_all(&bad).unwrap_err();
    assert!(
        matches!(e, CaptureError::Malformed { offset, .. } if offset == (epb_at + 4) as u64),
        "{e}"
    );
    // Captured length past the block.
    let mut bad = f.clone();
    bad[epb_at + 8 + 12] = 200;
    let e = read_all(&bad).unwrap_err();
    assert!(matches!(e, CaptureError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("captured length 200"), "{e}");
    // Packet on an interface never described.
    let mut ng = Ng::new(true);
    ng.enhanced(0, 0, b"x");
    let e = read_all(&ng.bytes()).unwrap_err();
    assert!(e.to_string().contains("interface 0"), "{e}");
    // Bad byte-order magic.
    let mut bad = f.clone();
    bad[8] = 0;
    let e = read_all(&bad).unwrap_err();
    assert!(
        matches!(e, CaptureError::Malformed { offset: 8, .. }),
        "{e}"
    );
    // An option running past its block.
    let mut ng = Ng::new(false);
    ng.block(1, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 40, 0]);
    let e = read_all(&ng.bytes()).unwrap_err();
    assert!(e.to_string().contains("option 9"), "{e}");
}

#[test]
fn every_prefix_of_a_capture_errors_or_reads_cleanly() {
    // No prefix may panic; each either reads whole records or names an offset inside
    // the file.
    let mut ng = Ng::new(true);
    ng.interface(113, Some(6))
        .enhanced(0, 5, b"frame one")
        .simple(b"two");
    for f in [
        ng.bytes(),
        classic(false, true, 1, &[(1, 2, b"abc"), (3, 4, b"defgh")]),
    ] {
        for cut in 0..f.len() {
            if let Err(e) = read_all(&f[..cut]) {
                assert!(e.offset() <= cut as u64, "{e} for a {cut}-octet prefix");
            }
        }
    }
}
