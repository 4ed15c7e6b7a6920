//! PPPoE (RFC 2516) discovery and session frames, and the PPP control protocols inside
//! them that show a subscriber dialling: LCP, PAP (RFC 1334) and CHAP (RFC 1994). Only
//! what is needed to count dial attempts per subscriber MAC.

use super::Error;

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

pub const PPP_LCP: u16 = 0xc021;
pub const PPP_PAP: u16 = 0xc023;
pub const PPP_CHAP: u16 = 0xc223;

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

/// Parses a PPPoE payload (after the Ethernet header); `session` selects the session
/// ethertype (0x8864) rather than discovery (0x8863).
pub fn parse(payload: &[u8], session: bool) -> Result<PppoeEvent, Error> {
    if payload.len() < 6 {
        return Err(Error::TooShort);
    }
    let code = payload[1];
    let sid = u16::from_be_bytes([payload[2], payload[3]]);
    let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
    let body = payload.get(6..6 + len).ok_or(Error::AttrOverrun(4))?;
    if !session {
        return Ok(PppoeEvent::Discovery {
            code: Discovery::from_code(code),
            session: sid,
        });
    }
    if body.len() < 2 {
        return Err(Error::TooShort);
    }
    let protocol = u16::from_be_bytes([body[0], body[1]]);
    match protocol {
        PPP_LCP | PPP_PAP | PPP_CHAP => Ok(PppoeEvent::Control {
            session: sid,
            protocol,
            code: *body.get(2).ok_or(Error::TooShort)?,
        }),
        _ => Ok(PppoeEvent::Data { session: sid }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_and_session_frames() {
        // PADI with a Service-Name tag (0x0101, empty).
        let padi = [0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0];
        assert_eq!(
            parse(&padi, false),
            Ok(PppoeEvent::Discovery {
                code: Discovery::Padi,
                session: 0
            })
        );
        // PAP Authenticate-Request in session 0x0042.
        let pap = [0x11, 0x00, 0x00, 0x42, 0, 6, 0xc0, 0x23, 1, 7, 0, 4];
        assert_eq!(
            parse(&pap, true),
            Ok(PppoeEvent::Control {
                session: 0x42,
                protocol: PPP_PAP,
                code: 1
            })
        );
        let ip = [0x11, 0x00, 0x00, 0x42, 0, 3, 0x00, 0x21, 0x45];
        assert_eq!(parse(&ip, true), Ok(PppoeEvent::Data { session: 0x42 }));
    }

    #[test]
    fn truncated() {
        assert_eq!(parse(&[0x11, 0x09], false), Err(Error::TooShort));
        assert!(parse(&[0x11, 0x09, 0, 0, 0, 9, 1], false).is_err());
    }
}
