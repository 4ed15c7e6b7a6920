//! pcapng (draft-ietf-opsawg-pcapng): blocks of type, length, body and the length
//! again. A section header block sets the byte order for the blocks after it;
//! interface description blocks give each interface's link type and timestamp
//! resolution; packets come in enhanced, simple or (obsolete) packet blocks. Other
//! blocks (name resolution, statistics, decryption secrets, custom) are skipped.

use std::time::Duration;

use super::{CaptureError, Endian, Found, LinkType, MAX_BLOCK_LEN, Source};

/// The section header block's type, the same in either byte order.
pub(super) const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// The state of the current section.
pub(super) struct Section {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// The last packet's time, given to simple packet blocks (which carry none).
    last_timestamp: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    resolution: Resolution,
    offset_secs: i64,
}

/// Timestamp units: 10^-n or 2^-n seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Decimal(u32),
    Binary(u32),
}

impl Interface {
    fn timestamp(&self, units: u64) -> Duration {
        let base = match self.resolution {
            Resolution::Decimal(k) => {
                let per_sec = 10u64.pow(k);
                let frac = units % per_sec;
                let nanos = if k <= 9 {
                    frac * 10u64.pow(9 - k)
                } else {
                    frac / 10u64.pow(k - 9)
                };
                Duration::new(units / per_sec, nanos as u32)
            }
            Resolution::Binary(k) => {
                let frac = units & ((1u64 << k) - 1);
                let nanos = (u128::from(frac) * 1_000_000_000) >> k;
                Duration::new(units >> k, nanos as u32)
            }
        };
        let shift = Duration::from_secs(self.offset_secs.unsigned_abs());
        if self.offset_secs >= 0 {
            base.saturating_add(shift)
        } else {
            base.saturating_sub(shift)
        }
    }
}

fn check_block_len(len: usize, min: usize, offset: u64) -> Result<(), CaptureError> {
    if len < min || !len.is_multiple_of(4) || len > MAX_BLOCK_LEN {
        return Err(CaptureError::malformed(
            offset + 4,
            format!(
                "block length {len} is invalid (a multiple of 4, at least {min}, at most {MAX_BLOCK_LEN})"
            ),
        ));
    }
    Ok(())
}

/// Where the fields are: of a block header, and inside the bodies of the blocks we
/// read (after the block's type and length).
mod field {
    pub type Field = std::ops::Range<usize>;

    pub const BLOCK_TYPE: Field = 0..4;
    pub const BLOCK_LEN: Field = 4..8;
    /// Section header body, after its byte-order magic.
    pub const SHB_MAJOR: Field = 0..2;
    pub const SHB_MINOR: Field = 2..4;
    pub const IDB_LINK_TYPE: Field = 0..2;
    pub const IDB_SNAPLEN: Field = 4..8;
    pub const EPB_INTERFACE: Field = 0..4;
    /// The obsolete packet block's interface id is 16 bits (then 16 of drops).
    pub const OPB_INTERFACE: Field = 0..2;
    pub const PB_TS_HIGH: Field = 4..8;
    pub const PB_TS_LOW: Field = 8..12;
    pub const PB_CAPTURED_LEN: Field = 12..16;
    pub const PB_ORIGINAL_LEN: Field = 16..20;
    pub const SPB_ORIGINAL_LEN: Field = 0..4;
}

/// Reads a section header block whose type octets (at `offset`) were already read.
pub(super) fn read_section_header<R: std::io::Read>(
    src: &mut Source<R>,
    offset: u64,
    buf: &mut Vec<u8>,
) -> Result<Section, CaptureError> {
    let mut len_raw = [0u8; 4];
    src.exact(&mut len_raw, "pcapng section header block")?;
    section_after_len(src, offset, len_raw, buf)
}

fn section_after_len<R: std::io::Read>(
    src: &mut Source<R>,
    offset: u64,
    len_raw: [u8; 4],
    buf: &mut Vec<u8>,
) -> Result<Section, CaptureError> {
    let mut bom = [0u8; 4];
    src.exact(&mut bom, "pcapng section header block")?;
    let big = match bom {
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        _ => {
            return Err(CaptureError::malformed(
                offset + 8,
                format!("section header has no byte-order magic (found {bom:02x?})"),
            ));
        }
    };
    let endian = Endian { big };
    let len = endian.u32(&len_raw) as usize;
    // Type, length, byte-order magic, version (4), section length (8), trailing length.
    check_block_len(len, 28, offset)?;
    buf.resize(len - 12, 0);
    src.exact(buf, "pcapng section header block")?;
    check_trailer(endian, buf, len, offset)?;
    let (major, minor) = (
        endian.u16(&buf[field::SHB_MAJOR]),
        endian.u16(&buf[field::SHB_MINOR]),
    );
    if major != 1 {
        return Err(CaptureError::malformed(
            offset + 12,
            format!("pcapng version {major}.{minor} (only 1.x is defined)"),
        ));
    }
    Ok(Section {
        endian,
        interfaces: Vec::new(),
        last_timestamp: Duration::ZERO,
    })
}

/// `block` is everything after the type and length fields, trailing length included.
fn check_trailer(e: Endian, block: &[u8], len: usize, offset: u64) -> Result<(), CaptureError> {
    let trailer = e.u32(&block[block.len() - 4..]) as usize;
    if trailer != len {
        return Err(CaptureError::malformed(
            offset + len as u64 - 4,
            format!("block's trailing length {trailer} differs from its leading length {len}"),
        ));
    }
    Ok(())
}

/// Reads blocks until the next packet; `None` at the end of the file.
pub(super) fn next<R: std::io::Read>(
    src: &mut Source<R>,
    section: &mut Section,
    buf: &mut Vec<u8>,
) -> Result<Option<Found>, CaptureError> {
    loop {
        let offset = src.offset;
        let mut h = [0u8; 8];
        if !src.fill(&mut h, "pcapng block header")? {
            return Ok(None);
        }
        if h[field::BLOCK_TYPE] == SHB_TYPE {
            let len_raw = [h[4], h[5], h[6], h[7]];
            *section = section_after_len(src, offset, len_raw, buf)?;
            continue;
        }
        let e = section.endian;
        let typ = e.u32(&h[field::BLOCK_TYPE]);
        let len = e.u32(&h[field::BLOCK_LEN]) as usize;
        check_block_len(len, 12, offset)?;
        buf.resize(len - 8, 0);
        src.exact(buf, "pcapng block")?;
        check_trailer(e, buf, len, offset)?;
        let body = &buf[..len - 12];
        // Offsets inside `body` are `offset + 8 + i` in the file.
        let at = |i: usize| offset + 8 + i as u64;
        match typ {
            IDB => {
                let iface = parse_interface(e, body, at)?;
                section.interfaces.push(iface);
            }
            EPB | OPB => {
                if body.len() < 20 {
                    return Err(CaptureError::malformed(
                        offset,
                        "packet block is shorter than its fixed fields",
                    ));
                }
                let if_id = if typ == EPB {
                    e.u32(&body[field::EPB_INTERFACE]) as usize
                } else {
                    usize::from(e.u16(&body[field::OPB_INTERFACE]))
                };
                let iface = interface(section, if_id, at(0))?;
                let units = (u64::from(e.u32(&body[field::PB_TS_HIGH])) << 32)
                    | u64::from(e.u32(&body[field::PB_TS_LOW]));
                let caplen = e.u32(&body[field::PB_CAPTURED_LEN]) as usize;
                let original_len = e.u32(&body[field::PB_ORIGINAL_LEN]);
                if caplen > body.len() - 20 {
                    return Err(CaptureError::malformed(
                        at(12),
                        format!(
                            "captured length {caplen} runs past the block ({} octets of packet data)",
                            body.len() - 20
                        ),
                    ));
                }
                let timestamp = iface.timestamp(units);
                section.last_timestamp = timestamp;
                return Ok(Some(Found {
                    timestamp,
                    link: iface.link,
                    data: 20..20 + caplen,
                    original_len,
                    offset,
                }));
            }
            SPB => {
                if body.len() < 4 {
                    return Err(CaptureError::malformed(
                        offset,
                        "simple packet block is shorter than its fixed fields",
                    ));
                }
                let iface = interface(section, 0, offset)?;
                let original_len = e.u32(&body[field::SPB_ORIGINAL_LEN]);
                let mut caplen = (original_len as usize).min(body.len() - 4);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                return Ok(Some(Found {
                    timestamp: section.last_timestamp,
                    link: iface.link,
                    data: 4..4 + caplen,
                    original_len,
                    offset,
                }));
            }
            _ => {}
        }
    }
}

fn interface(section: &Section, id: usize, offset: u64) -> Result<Interface, CaptureError> {
    section.interfaces.get(id).copied().ok_or_else(|| {
        CaptureError::malformed(
            offset,
            format!(
                "packet on interface {id}, but the section describes {} interface(s)",
                section.interfaces.len()
            ),
        )
    })
}

fn parse_interface(
    e: Endian,
    body: &[u8],
    at: impl Fn(usize) -> u64,
) -> Result<Interface, CaptureError> {
    if body.len() < 8 {
        return Err(CaptureError::malformed(
            at(0),
            "interface description block is shorter than its fixed fields",
        ));
    }
    let mut iface = Interface {
        link: LinkType::from_raw(u32::from(e.u16(&body[field::IDB_LINK_TYPE]))),
        snaplen: e.u32(&body[field::IDB_SNAPLEN]),
        resolution: Resolution::Decimal(6),
        offset_secs: 0,
    };
    let mut o = 8;
    while o + 4 <= body.len() {
        let code = e.u16(&body[o..o + 2]);
        let len = usize::from(e.u16(&body[o + 2..o + 4]));
        let Some(value) = body.get(o + 4..o + 4 + len) else {
            return Err(CaptureError::malformed(
                at(o),
                format!("option {code} of length {len} runs past its block"),
            ));
        };
        match code {
            OPT_ENDOFOPT => break,
            OPT_IF_TSRESOL if len == 1 => {
                let v = u32::from(value[0]);
                iface.resolution = if v & 0x80 == 0 {
                    if v > 19 {
                        return Err(CaptureError::malformed(
                            at(o + 4),
                            format!("timestamp resolution 10^-{v} is finer than we can count"),
                        ));
                    }
                    Resolution::Decimal(v)
                } else {
                    let k = v & 0x7f;
                    if k > 63 {
                        return Err(CaptureError::malformed(
                            at(o + 4),
                            format!("timestamp resolution 2^-{k} is finer than we can count"),
                        ));
                    }
                    Resolution::Binary(k)
                };
            }
            OPT_IF_TSOFFSET if len == 8 => iface.offset_secs = e.u64(value) as i64,
            _ => {}
        }
        o += 4 + len.div_ceil(4) * 4;
    }
    Ok(iface)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(resolution: Resolution, offset_secs: i64) -> Interface {
        Interface {
            link: LinkType::Ethernet,
            snaplen: 0,
            resolution,
            offset_secs,
        }
    }

    #[test]
    fn timestamp_units() {
        let t = iface(Resolution::Decimal(6), 0).timestamp(1_700_000_000_123_456);
        assert_eq!(t, Duration::new(1_700_000_000, 123_456_000));
        let t = iface(Resolution::Decimal(9), 0).timestamp(1_700_000_000_123_456_789);
        assert_eq!(t, Duration::new(1_700_000_000, 123_456_789));
        let t = iface(Resolution::Decimal(12), 0).timestamp(5_000_000_123_456);
        assert_eq!(t, Duration::new(5, 123));
        let t = iface(Resolution::Decimal(0), -10).timestamp(100);
        assert_eq!(t, Duration::from_secs(90));
        // 2^-10 s units: 1024 units a second, 512 is half a second.
        let t = iface(Resolution::Binary(10), 3).timestamp(2 * 1024 + 512);
        assert_eq!(t, Duration::new(5, 500_000_000));
        // Extremes do not overflow.
        let _ = iface(Resolution::Decimal(19), i64::MIN).timestamp(u64::MAX);
        let _ = iface(Resolution::Binary(63), i64::MAX).timestamp(u64::MAX);
        let _ = iface(Resolution::Binary(0), 0).timestamp(u64::MAX);
    }
}
