//! Classic pcap: a 24-octet file header, then records of a 16-octet header and the
//! packet. The magic number gives the byte order and the timestamp unit.

use std::time::Duration;

use super::{CaptureError, Endian, Found, LinkType, MAX_BLOCK_LEN, Source};

/// 0xa1b2c3d4: microsecond timestamps.
pub(super) const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// 0xa1b23c4d: nanosecond timestamps.
pub(super) const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's patched format: longer record headers we do not read.
const MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

pub(super) struct Header {
    pub(super) endian: Endian,
    pub(super) nanoseconds: bool,
    link: LinkType,
}

/// Where the fields are: of the file header after its 4-octet magic, and of a record
/// header.
mod field {
    pub type Field = std::ops::Range<usize>;

    pub const VERSION_MAJOR: Field = 0..2;
    pub const LINK_TYPE: Field = 16..20;

    pub const TS_SECS: Field = 0..4;
    pub const TS_FRACTION: Field = 4..8;
    pub const CAPTURED_LEN: Field = 8..12;
    pub const ORIGINAL_LEN: Field = 12..16;
}

/// Reads the rest of the file header after its 4-octet magic.
pub(super) fn read_header<R: std::io::Read>(
    src: &mut Source<R>,
    magic: [u8; 4],
) -> Result<Header, CaptureError> {
    let le = u32::from_le_bytes(magic);
    let be = u32::from_be_bytes(magic);
    let (big, value) = match (le, be) {
        (MAGIC_MICROS | MAGIC_NANOS | MAGIC_KUZNETZOV, _) => (false, le),
        (_, MAGIC_MICROS | MAGIC_NANOS | MAGIC_KUZNETZOV) => (true, be),
        _ => return Err(CaptureError::NotACapture { magic }),
    };
    if value == MAGIC_KUZNETZOV {
        return Err(CaptureError::malformed(
            0,
            "Kuznetzov's modified pcap format is not supported (convert it with editcap)",
        ));
    }
    let endian = Endian { big };
    let mut rest = [0u8; FILE_HEADER_LEN - 4];
    src.exact(&mut rest, "pcap file header")?;
    let major = endian.u16(&rest[field::VERSION_MAJOR]);
    if major != 2 {
        return Err(CaptureError::malformed(
            4,
            format!("pcap version {major} (only version 2 exists)"),
        ));
    }
    // The low 16 bits are the link type; the high bits may carry FCS information.
    let link = LinkType::from_raw(endian.u32(&rest[field::LINK_TYPE]) & 0xffff);
    Ok(Header {
        endian,
        nanoseconds: value == MAGIC_NANOS,
        link,
    })
}

/// Reads the next record into `buf`.
pub(super) fn next<R: std::io::Read>(
    src: &mut Source<R>,
    h: &Header,
    buf: &mut Vec<u8>,
) -> Result<Option<Found>, CaptureError> {
    let offset = src.offset;
    let mut rh = [0u8; RECORD_HEADER_LEN];
    if !src.fill(&mut rh, "pcap record header")? {
        return Ok(None);
    }
    let e = h.endian;
    let secs = e.u32(&rh[field::TS_SECS]);
    let frac = e.u32(&rh[field::TS_FRACTION]);
    let caplen = e.u32(&rh[field::CAPTURED_LEN]) as usize;
    let original_len = e.u32(&rh[field::ORIGINAL_LEN]);
    if caplen > MAX_BLOCK_LEN {
        return Err(CaptureError::malformed(
            offset,
            format!("record length {caplen} is beyond any snap length (corrupt file?)"),
        ));
    }
    // Duration::new carries sub-second overflow into the seconds; it cannot overflow
    // from a u32 second count.
    let nanos = if h.nanoseconds {
        u64::from(frac)
    } else {
        u64::from(frac) * 1000
    };
    let timestamp = Duration::from_secs(u64::from(secs)) + Duration::from_nanos(nanos);
    buf.resize(caplen, 0);
    src.exact(buf, "pcap record")?;
    Ok(Some(Found {
        timestamp,
        link: h.link,
        data: 0..caplen,
        original_len,
        offset,
    }))
}
