//! Reading packet captures: classic pcap (either byte order, micro- or nanosecond
//! timestamps) and pcapng (section header, interface description with link type and
//! timestamp resolution, enhanced, simple and obsolete packet blocks), plus a small
//! classic-pcap writer.
//!
//! Our own code rather than a crate: the formats are small, and an operator handed a
//! damaged capture wants to be told exactly where it breaks. Every malformed or
//! truncated input is an error naming its byte offset; nothing here panics on input.
//! The reader streams (one record in memory at a time), so a capture of any size works.
//!
//! [`link`] turns a record's bytes into an Ethernet frame or an IP packet according to
//! its link type (Ethernet, Linux cooked SLL and SLL2, raw IP, BSD loopback).

pub mod link;
mod pcap;
mod pcapng;

use std::io::{self, BufReader, Read, Write};
use std::time::Duration;

/// Largest record or block we accept: far above any real snap length, low enough that
/// a corrupt length field cannot make us allocate gigabytes.
pub const MAX_BLOCK_LEN: usize = 16 * 1024 * 1024;

/// Link-layer header types (the tcpdump.org LINKTYPE_ registry) we decode; others are
/// kept as `Unknown` and their records reported, not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback: a 4-octet address family in the capturing host's byte order.
    Null,
    Ethernet,
    /// Raw IP, version in the first nibble.
    Raw,
    /// Linux "cooked" capture, version 1 (`tcpdump -i any` before libpcap 1.10).
    LinuxSll,
    Ipv4,
    Ipv6,
    /// Linux "cooked" capture, version 2 (`tcpdump -i any`, libpcap 1.10 and later).
    LinuxSll2,
    Unknown(u32),
}

impl LinkType {
    pub fn from_raw(v: u32) -> LinkType {
        match v {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }

    pub fn raw(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Unknown(v) => v,
        }
    }

    /// The name tcpdump and Wireshark use (without the LINKTYPE_ prefix).
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Null => "NULL",
            LinkType::Ethernet => "ETHERNET",
            LinkType::Raw => "RAW",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::LinuxSll2 => "LINUX_SLL2",
            LinkType::Unknown(_) => "unknown",
        }
    }
}

/// Which file format a capture is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { big_endian: bool, nanoseconds: bool },
    PcapNg,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Format::Pcap {
                big_endian,
                nanoseconds,
            } => write!(
                f,
                "pcap ({}-endian, {})",
                if *big_endian { "big" } else { "little" },
                if *nanoseconds {
                    "nanoseconds"
                } else {
                    "microseconds"
                }
            ),
            Format::PcapNg => f.write_str("pcapng"),
        }
    }
}

/// One captured packet, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Time since the Unix epoch. pcapng simple packet blocks carry none: they get the
    /// previous packet's time.
    pub timestamp: Duration,
    pub link: LinkType,
    /// The captured octets (at most the snap length).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub original_len: u32,
    /// Byte offset of the record in the file, for messages about it.
    pub offset: u64,
}

/// Why a capture cannot be read on. Every variant names the byte offset where the
/// problem lies.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file (starts with {magic:02x?})")]
    NotACapture { magic: [u8; 4] },
    #[error("{what} at offset {offset} is truncated: {got} of {wanted} octets present")]
    Truncated {
        offset: u64,
        what: &'static str,
        wanted: usize,
        got: usize,
    },
    #[error("malformed capture at offset {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("cannot read the capture at offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

impl CaptureError {
    fn malformed(offset: u64, message: impl Into<String>) -> CaptureError {
        CaptureError::Malformed {
            offset,
            message: message.into(),
        }
    }

    /// The byte offset the error is about.
    pub fn offset(&self) -> u64 {
        match self {
            CaptureError::NotACapture { .. } => 0,
            CaptureError::Truncated { offset, .. }
            | CaptureError::Malformed { offset, .. }
            | CaptureError::Io { offset, .. } => *offset,
        }
    }
}

/// A byte stream that knows its position, so errors can say where they happened.
struct Source<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Source<R> {
    /// Fills `buf`. `Ok(false)` at a clean end of file (nothing left at all); a partial
    /// read is a truncated `what`.
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, CaptureError> {
        let start = self.offset;
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CaptureError::Io {
                        offset: start + got as u64,
                        source,
                    });
                }
            }
        }
        self.offset += got as u64;
        if got == 0 && !buf.is_empty() {
            return Ok(false);
        }
        if got < buf.len() {
            return Err(CaptureError::Truncated {
                offset: start,
                what,
                wanted: buf.len(),
                got,
            });
        }
        Ok(true)
    }

    /// Fills `buf`; the end of the file here is a truncation too.
    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), CaptureError> {
        let start = self.offset;
        if self.fill(buf, what)? {
            Ok(())
        } else {
            Err(CaptureError::Truncated {
                offset: start,
                what,
                wanted: buf.len(),
                got: 0,
            })
        }
    }
}

/// Reads integers in a section's byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Endian {
    big: bool,
}

impl Endian {
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
}

enum State {
    Pcap(pcap::Header),
    PcapNg(pcapng::Section),
}

/// A streaming reader over a pcap or pcapng capture.
pub struct CaptureReader<R> {
    src: Source<BufReader<R>>,
    state: State,
    buf: Vec<u8>,
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header (pcap) or first section header (pcapng).
    pub fn new(reader: R) -> Result<CaptureReader<R>, CaptureError> {
        let mut src = Source {
            inner: BufReader::with_capacity(64 * 1024, reader),
            offset: 0,
        };
        let mut magic = [0u8; 4];
        src.exact(&mut magic, "file header")?;
        let mut buf = Vec::new();
        let state = if magic == pcapng::SHB_TYPE {
            State::PcapNg(pcapng::read_section_header(&mut src, 0, &mut buf)?)
        } else {
            State::Pcap(pcap::read_header(&mut src, magic)?)
        };
        Ok(CaptureReader { src, state, buf })
    }

    pub fn format(&self) -> Format {
        match &self.state {
            State::Pcap(h) => Format::Pcap {
                big_endian: h.endian.big,
                nanoseconds: h.nanoseconds,
            },
            State::PcapNg(_) => Format::PcapNg,
        }
    }

    /// The next packet, `None` at the end of the capture.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        let found = match &mut self.state {
            State::Pcap(h) => pcap::next(&mut self.src, h, &mut self.buf)?,
            State::PcapNg(s) => pcapng::next(&mut self.src, s, &mut self.buf)?,
        };
        Ok(found.map(|f| Record {
            timestamp: f.timestamp,
            link: f.link,
            data: &self.buf[f.data.clone()],
            original_len: f.original_len,
            offset: f.offset,
        }))
    }
}

/// A packet found by a format reader: where its octets lie in the reader's buffer.
struct Found {
    timestamp: Duration,
    link: LinkType,
    data: std::ops::Range<usize>,
    original_len: u32,
    offset: u64,
}

/// Writes a classic little-endian pcap file. Small and exact: for tests, fixtures and
/// tools that record.
pub struct PcapWriter<W: Write> {
    out: W,
    nanoseconds: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header (version 2.4, snap length 262144).
    pub fn new(mut out: W, link: LinkType, nanoseconds: bool) -> io::Result<PcapWriter<W>> {
        let magic: u32 = if nanoseconds {
            pcap::MAGIC_NANOS
        } else {
            pcap::MAGIC_MICROS
        };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&link.raw().to_le_bytes())?;
        Ok(PcapWriter { out, nanoseconds })
    }

    /// Writes one record (the whole packet, not cut to a snap length).
    pub fn write(&mut self, timestamp: Duration, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too long"))?;
        let secs = u32::try_from(timestamp.as_secs())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp past 2106"))?;
        let frac = if self.nanoseconds {
            timestamp.subsec_nanos()
        } else {
            timestamp.subsec_micros()
        };
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&frac.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests;
