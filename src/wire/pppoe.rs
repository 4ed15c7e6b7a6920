//! PPPoE (RFC 2516) discovery and session frames, and the PPP control protocols inside
//! them that show a subscriber dialling: LCP, PAP (RFC 1334) and CHAP (RFC 1994). Only
//! what is needed to count dial attempts per subscriber MAC.

mod field {
    use core::ops::Range;
    /// Version and type, four bits each; both 1 in RFC 2516.
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION_ID: Range<usize> = 2..4;
    /// Length of the payload, not of the frame.
    pub const LENGTH: Range<usize> = 4..6;
    pub const PAYLOAD: usize = LENGTH.end;

    /// A PPP frame in a session payload (RFC 1661 section 2, without address and
    /// control, as RFC 2516 section 7 says), and the code octet that LCP, PAP and CHAP
    /// packets all start with.
    pub mod ppp {
        use core::ops::Range;
        pub const PROTOCOL: Range<usize> = 0..2;
        pub const CODE: usize = PROTOCOL.end;
    }
}

/// Length of the PPPoE header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of the PPP protocol field.
pub const PPP_PROTOCOL_LEN: usize = field::ppp::PROTOCOL.end;

/// Why bytes are not a PPPoE frame. `Copy`, so the dial counter can count it cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("frame shorter than the 6-octet PPPoE header")]
    Truncated,
    #[error("PPPoE length field {length} exceeds the {available} octets after the header")]
    LengthOverFrame { length: u16, available: usize },
    #[error("PPPoE session payload too short for its PPP protocol field")]
    NoPppProtocol,
    #[error("PPP control packet in a PPPoE session has no code octet")]
    NoPppCode,
}

/// PPPoE discovery codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Discovery {
    Padi,
    Pado,
    Padr,
    Pads,
    Padt,
    Unknown(u8),
}

impl Discovery {
    pub fn from_code(c: u8) -> Self {
        match c {
            0x09 => Discovery::Padi,
            0x07 => Discovery::Pado,
            0x19 => Discovery::Padr,
            0x65 => Discovery::Pads,
            0xa7 => Discovery::Padt,
            other => Discovery::Unknown(other),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Discovery::Padi => "PADI",
            Discovery::Pado => "PADO",
            Discovery::Padr => "PADR",
            Discovery::Pads => "PADS",
            Discovery::Padt => "PADT",
            Discovery::Unknown(_) => "unknown",
        }
    }
}

impl From<Discovery> for u8 {
    fn from(d: Discovery) -> u8 {
        match d {
            Discovery::Padi => 0x09,
            Discovery::Pado => 0x07,
            Discovery::Padr => 0x19,
            Discovery::Pads => 0x65,
            Discovery::Padt => 0xa7,
            Discovery::Unknown(c) => c,
        }
    }
}

pub const PPP_LCP: u16 = 0xc021;
pub const PPP_PAP: u16 = 0xc023;
pub const PPP_CHAP: u16 = 0xc223;

/// The code of every session frame (RFC 2516 section 5).
pub const SESSION_CODE: u8 = 0x00;
/// The version and the type of every frame RFC 2516 defines.
pub const VERSION: u8 = 1;
pub const FRAME_TYPE: u8 = 1;

/// A PPPoE header view over the bytes after the Ethernet header.
#[derive(Debug, Clone)]
pub struct PppoeHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PppoeHeader<T> {
    pub const fn new_unchecked(buffer: T) -> PppoeHeader<T> {
        PppoeHeader { buffer }
    }

    /// Wraps untrusted bytes: the header and the payload its Length field claims must
    /// be there. Ethernet padding past the payload is allowed.
    pub fn new_checked(buffer: T) -> Result<PppoeHeader<T>, Error> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = self.length();
        if usize::from(length) > len - HEADER_LEN {
            return Err(Error::LengthOverFrame {
                length,
                available: len - HEADER_LEN,
            });
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    pub fn frame_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// The code: a [`Discovery`] code, or [`SESSION_CODE`] in a session frame.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn session_id(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::SESSION_ID.start], d[field::SESSION_ID.start + 1]])
    }

    /// The Length field: octets of payload.
    pub fn length(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    /// The payload, as long as the Length field says (trailing padding excluded).
    pub fn payload(&self) -> &[u8] {
        let end = field::PAYLOAD + usize::from(self.length());
        &self.buffer.as_ref()[field::PAYLOAD..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PppoeHeader<T> {
    pub fn set_version_type(&mut self, version: u8, frame_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (frame_type & 0x0f);
    }

    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    pub fn set_session_id(&mut self, session: u16) {
        self.buffer.as_mut()[field::SESSION_ID].copy_from_slice(&session.to_be_bytes());
    }

    pub fn set_length(&mut self, length: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::PAYLOAD + usize::from(self.length());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }
}

/// A PPP frame view over a session payload: the protocol, then its packet.
#[derive(Debug, Clone)]
pub struct PppFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PppFrame<T> {
    pub const fn new_unchecked(buffer: T) -> PppFrame<T> {
        PppFrame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<PppFrame<T>, Error> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < PPP_PROTOCOL_LEN {
            return Err(Error::NoPppProtocol);
        }
        Ok(())
    }

    pub fn protocol(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([
            d[field::ppp::PROTOCOL.start],
            d[field::ppp::PROTOCOL.start + 1],
        ])
    }

    /// The code octet of an LCP, PAP or CHAP packet; data frames may have none, so it
    /// is not part of the length check.
    pub fn control_code(&self) -> Option<u8> {
        self.buffer.as_ref().get(field::ppp::CODE).copied()
    }

    /// The packet after the protocol field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ppp::PROTOCOL.end..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PppFrame<T> {
    pub fn set_protocol(&mut self, protocol: u16) {
        self.buffer.as_mut()[field::ppp::PROTOCOL].copy_from_slice(&protocol.to_be_bytes());
    }
}

/// Appends a PPPoE frame (version and type 1) with `payload` to `buf`. For tests and
/// tools that make frames; a session frame takes [`SESSION_CODE`] and a PPP payload
/// from [`emit_ppp`].
pub fn emit(buf: &mut Vec<u8>, code: u8, session: u16, payload: &[u8]) {
    let start = buf.len();
    buf.resize(start + HEADER_LEN, 0);
    buf.extend_from_slice(payload);
    let mut h = PppoeHeader::new_unchecked(&mut buf[start..]);
    h.set_version_type(VERSION, FRAME_TYPE);
    h.set_code(code);
    h.set_session_id(session);
    // A payload over 65535 octets does not fit an Ethernet frame; callers build small ones.
    h.set_length(u16::try_from(payload.len()).expect("PPPoE payload fits the Length field"));
}

/// Appends a PPP frame: the protocol, then `packet`.
pub fn emit_ppp(buf: &mut Vec<u8>, protocol: u16, packet: &[u8]) {
    let start = buf.len();
    buf.resize(start + PPP_PROTOCOL_LEN, 0);
    PppFrame::new_unchecked(&mut buf[start..]).set_protocol(protocol);
    buf.extend_from_slice(packet);
}

/// What a PPPoE frame says, for dial-attempt counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PppoeEvent {
    Discovery {
        code: Discovery,
        session: u16,
    },
    /// A PPP control frame in a session: protocol and its code octet.
    Control {
        session: u16,
        protocol: u16,
        code: u8,
    },
    /// Session data (IP and the rest): not interesting here.
    Data {
        session: u16,
    },
}

impl PppoeEvent {
    /// Parses a PPPoE payload (after the Ethernet header); `session` selects the
    /// session ethertype (0x8864) rather than discovery (0x8863).
    pub fn parse(payload: &[u8], session: bool) -> Result<PppoeEvent, Error> {
        let header = PppoeHeader::new_checked(payload)?;
        let sid = header.session_id();
        if !session {
            return Ok(PppoeEvent::Discovery {
                code: Discovery::from_code(header.code()),
                session: sid,
            });
        }
        let ppp = PppFrame::new_checked(header.payload())?;
        match ppp.protocol() {
            protocol @ (PPP_LCP | PPP_PAP | PPP_CHAP) => Ok(PppoeEvent::Control {
                session: sid,
                protocol,
                code: ppp.control_code().ok_or(Error::NoPppCode)?,
            }),
            _ => Ok(PppoeEvent::Data { session: sid }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PAP Authenticate-Request (id 7, empty peer id and password) in session 0x0042,
    /// with two octets of Ethernet padding after it.
    const PAP: [u8; 14] = [
        0x11, 0x00, 0x00, 0x42, 0x00, 0x06, 0xc0, 0x23, 0x01, 0x07, 0x00, 0x04, 0, 0,
    ];
    /// A PADI with an empty Service-Name tag (0x0101).
    const PADI: [u8; 10] = [0x11, 0x09, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00];

    #[test]
    fn deconstruct() {
        let h = PppoeHeader::new_checked(&PAP[..]).unwrap();
        assert_eq!((h.version(), h.frame_type()), (1, 1));
        assert_eq!(
            (h.code(), h.session_id(), h.length()),
            (SESSION_CODE, 0x42, 6)
        );
        assert_eq!(h.payload(), &PAP[6..12]);
        let ppp = PppFrame::new_checked(h.payload()).unwrap();
        assert_eq!((ppp.protocol(), ppp.control_code()), (PPP_PAP, Some(1)));
        assert_eq!(ppp.payload(), &[0x01, 0x07, 0x00, 0x04]);
    }

    #[test]
    fn construct() {
        let mut ppp = Vec::new();
        emit_ppp(&mut ppp, PPP_PAP, &[0x01, 0x07, 0x00, 0x04]);
        let mut f = Vec::new();
        emit(&mut f, SESSION_CODE, 0x42, &ppp);
        assert_eq!(f[..], PAP[..12]);
        let mut f = Vec::new();
        emit(&mut f, Discovery::Padi.into(), 0, &[0x01, 0x01, 0, 0]);
        assert_eq!(f[..], PADI[..]);
    }

    #[test]
    fn parse_events() {
        assert_eq!(
            PppoeEvent::parse(&PADI, false),
            Ok(PppoeEvent::Discovery {
                code: Discovery::Padi,
                session: 0
            })
        );
        assert_eq!(
            PppoeEvent::parse(&PAP, true),
            Ok(PppoeEvent::Control {
                session: 0x42,
                protocol: PPP_PAP,
                code: 1
            })
        );
        let ip = [0x11, 0x00, 0x00, 0x42, 0, 3, 0x00, 0x21, 0x45];
        assert_eq!(
            PppoeEvent::parse(&ip, true),
            Ok(PppoeEvent::Data { session: 0x42 })
        );
    }

    #[test]
    fn truncated_header() {
        assert_eq!(
            PppoeEvent::parse(&[0x11, 0x09], false),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn length_over_frame() {
        assert_eq!(
            PppoeEvent::parse(&[0x11, 0x09, 0, 0, 0, 9, 1], false),
            Err(Error::LengthOverFrame {
                length: 9,
                available: 1
            })
        );
    }

    #[test]
    fn session_without_protocol() {
        let f = [0x11, 0x00, 0x00, 0x42, 0, 1, 0xc0, 0x23];
        assert_eq!(PppoeEvent::parse(&f, true), Err(Error::NoPppProtocol));
    }

    #[test]
    fn control_without_code() {
        assert_eq!(
            PppoeEvent::parse(&PAP[..8], true),
            Err(Error::LengthOverFrame {
                length: 6,
                available: 2
            })
        );
        let f = [0x11, 0x00, 0x00, 0x42, 0, 2, 0xc0, 0x23];
        assert_eq!(PppoeEvent::parse(&f, true), Err(Error::NoPppCode));
    }
}
