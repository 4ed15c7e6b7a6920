//! The relay's frames on link B: a typed view over bytes in the style of `wire`, and
//! [`Repr`], the parsed form the session speaks.
//!
//! Every frame is a 5-octet header (type, body length as u32) and a body. Positions
//! are u64 byte offsets in one direction's stream: "sequence numbers" that make resuming
//! a matter of comparing two numbers.

use thiserror::Error;

/// The header's size: type (1) and body length (4).
pub const HEADER_LEN: usize = 5;
/// The largest Data payload a sender puts in one frame.
pub const MAX_PAYLOAD: usize = 16 * 1024;
/// The largest body a receiver accepts; anything longer is a broken or hostile peer.
pub const MAX_BODY: usize = DATA_HEADER + MAX_PAYLOAD;
pub const ID_LEN: usize = 16;
pub const NONCE_LEN: usize = 16;
pub const MAC_LEN: usize = 32;
const DATA_HEADER: usize = 16;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const LENGTH: Range<usize> = 1..5;
    // Body offsets, from the start of the frame.
    pub const NONCE: Range<usize> = 5..21;
    pub const OPEN_MAC: Range<usize> = 5..37;
    pub const ID: Range<usize> = 5..21;
    pub const RESUME_RECEIVED: Range<usize> = 21..29;
    pub const RESUME_FIRST_HELD: Range<usize> = 29..37;
    pub const RESUME_MAC: Range<usize> = 37..69;
    pub const RESUMED_RECEIVED: Range<usize> = 5..13;
    pub const RESUMED_FIRST_HELD: Range<usize> = 13..21;
    pub const REFUSED_CODE: usize = 5;
    pub const SEQ: Range<usize> = 5..13;
    pub const ACK: Range<usize> = 13..21;
    pub const PAYLOAD: usize = 21;
    pub const KEEPALIVE_ACK: Range<usize> = 5..13;
    pub const CLOSE_END: Range<usize> = 5..13;
    pub const CLOSE_ACK: Range<usize> = 13..21;
}

/// Why a frame cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Error {
    #[error("frame shorter than its header or its length field")]
    Truncated,
    #[error("frame body of {0} octets is over the limit")]
    TooLong(usize),
    #[error("frame body of {len} octets is wrong for type {kind}")]
    BadLength { kind: u8, len: usize },
    #[error("unknown frame type {0}")]
    UnknownType(u8),
}

/// The frame types. Values we do not know are kept, and refused by `Repr::parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Challenge,
    Open,
    Resume,
    Accepted,
    Resumed,
    Refused,
    Data,
    Keepalive,
    Close,
    Closed,
    Unknown(u8),
}

impl From<u8> for Kind {
    fn from(v: u8) -> Kind {
        match v {
            1 => Kind::Challenge,
            2 => Kind::Open,
            3 => Kind::Resume,
            4 => Kind::Accepted,
            5 => Kind::Resumed,
            6 => Kind::Refused,
            7 => Kind::Data,
            8 => Kind::Keepalive,
            9 => Kind::Close,
            10 => Kind::Closed,
            other => Kind::Unknown(other),
        }
    }
}

impl From<Kind> for u8 {
    fn from(k: Kind) -> u8 {
        match k {
            Kind::Challenge => 1,
            Kind::Open => 2,
            Kind::Resume => 3,
            Kind::Accepted => 4,
            Kind::Resumed => 5,
            Kind::Refused => 6,
            Kind::Data => 7,
            Kind::Keepalive => 8,
            Kind::Close => 9,
            Kind::Closed => 10,
            Kind::Unknown(v) => v,
        }
    }
}

/// Why a server refused an Open or a Resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A bad MAC and an unknown session id get the same answer, so a guess learns
    /// nothing about which ids exist.
    Denied,
    /// The session exists but the bytes the other side needs are gone.
    Gap,
    /// The server could not reach its target.
    Unavailable,
    Unknown(u8),
}

impl From<u8> for Refusal {
    fn from(v: u8) -> Refusal {
        match v {
            1 => Refusal::Denied,
            2 => Refusal::Gap,
            3 => Refusal::Unavailable,
            other => Refusal::Unknown(other),
        }
    }
}

impl From<Refusal> for u8 {
    fn from(r: Refusal) -> u8 {
        match r {
            Refusal::Denied => 1,
            Refusal::Gap => 2,
            Refusal::Unavailable => 3,
            Refusal::Unknown(v) => v,
        }
    }
}

/// A frame over a byte buffer (exactly one frame: header and body).
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

/// How long the whole frame at the start of `data` is, once its header is in; `None`
/// while fewer than [`HEADER_LEN`] octets are there. Refuses an oversized length
/// before any body is read.
pub fn frame_len(data: &[u8]) -> Result<Option<usize>, Error> {
    let Some(len) = data.get(field::LENGTH) else {
        return Ok(None);
    };
    let body = u32::from_be_bytes(len.try_into().expect("4 octets")) as usize;
    if body > MAX_BODY {
        return Err(Error::TooLong(body));
    }
    Ok(Some(HEADER_LEN + body))
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps untrusted input: the length field must match the buffer and the body must
    /// have its type's size, so the accessors below may index.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Error> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        let total = frame_len(data)?.ok_or(Error::Truncated)?;
        if data.len() != total {
            return Err(Error::Truncated);
        }
        let body = total - HEADER_LEN;
        let kind = data[field::TYPE];
        let fits = match Kind::from(kind) {
            Kind::Challenge => body == NONCE_LEN,
            Kind::Open => body == MAC_LEN,
            Kind::Resume => body == ID_LEN + 16 + MAC_LEN,
            Kind::Accepted => body == ID_LEN,
            Kind::Resumed => body == 16,
            Kind::Refused => body == 1,
            Kind::Data => body >= DATA_HEADER,
            Kind::Keepalive => body == 8,
            Kind::Close => body == 16,
            Kind::Closed => body == 0,
            Kind::Unknown(v) => return Err(Error::UnknownType(v)),
        };
        if fits {
            Ok(())
        } else {
            Err(Error::BadLength { kind, len: body })
        }
    }

    pub fn kind(&self) -> Kind {
        Kind::from(self.buffer.as_ref()[field::TYPE])
    }

    fn u64_at(&self, range: core::ops::Range<usize>) -> u64 {
        u64::from_be_bytes(self.buffer.as_ref()[range].try_into().expect("8 octets"))
    }

    fn array<const N: usize>(&self, range: core::ops::Range<usize>) -> [u8; N] {
        self.buffer.as_ref()[range].try_into().expect("field size")
    }
}

impl<'a> Frame<&'a [u8]> {
    /// The Data payload, borrowed from the receive buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    fn set_header(&mut self, kind: Kind, body: usize) {
        let d = self.buffer.as_mut();
        d[field::TYPE] = kind.into();
        d[field::LENGTH].copy_from_slice(&(body as u32).to_be_bytes());
    }

    fn set(&mut self, range: core::ops::Range<usize>, value: &[u8]) {
        self.buffer.as_mut()[range].copy_from_slice(value);
    }
}

/// A frame, parsed. Data borrows its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Server -> client, first on every connection: the nonce the client must sign.
    Challenge {
        nonce: [u8; NONCE_LEN],
    },
    /// Client -> server: a new session, proven with the shared key.
    Open {
        mac: [u8; MAC_LEN],
    },
    /// Client -> server: continue a session; what the client has received and the
    /// first position it still holds.
    Resume {
        id: [u8; ID_LEN],
        received: u64,
        first_held: u64,
        mac: [u8; MAC_LEN],
    },
    /// Server -> client: the new session's id.
    Accepted {
        id: [u8; ID_LEN],
    },
    /// Server -> client: the server's side of the resume handshake.
    Resumed {
        received: u64,
        first_held: u64,
    },
    Refused(Refusal),
    /// Bytes at stream position `seq`, and the sender's cumulative ack.
    Data {
        seq: u64,
        ack: u64,
        payload: &'a [u8],
    },
    /// The cumulative ack alone, also sent when idle to prove the link alive.
    Keepalive {
        ack: u64,
    },
    /// The sender's stream ends at `end`; the session ends once it is delivered.
    Close {
        end: u64,
        ack: u64,
    },
    /// Everything up to the Close was delivered; the session is gone.
    Closed,
}

impl<'a> Repr<'a> {
    pub fn parse(frame: &Frame<&'a [u8]>) -> Result<Repr<'a>, Error> {
        frame.check_len()?;
        Ok(match frame.kind() {
            Kind::Challenge => Repr::Challenge {
                nonce: frame.array(field::NONCE),
            },
            Kind::Open => Repr::Open {
                mac: frame.array(field::OPEN_MAC),
            },
            Kind::Resume => Repr::Resume {
                id: frame.array(field::ID),
                received: frame.u64_at(field::RESUME_RECEIVED),
                first_held: frame.u64_at(field::RESUME_FIRST_HELD),
                mac: frame.array(field::RESUME_MAC),
            },
            Kind::Accepted => Repr::Accepted {
                id: frame.array(field::ID),
            },
            Kind::Resumed => Repr::Resumed {
                received: frame.u64_at(field::RESUMED_RECEIVED),
                first_held: frame.u64_at(field::RESUMED_FIRST_HELD),
            },
            Kind::Refused => Repr::Refused(Refusal::from(frame.buffer[field::REFUSED_CODE])),
            Kind::Data => Repr::Data {
                seq: frame.u64_at(field::SEQ),
                ack: frame.u64_at(field::ACK),
                payload: frame.payload(),
            },
            Kind::Keepalive => Repr::Keepalive {
                ack: frame.u64_at(field::KEEPALIVE_ACK),
            },
            Kind::Close => Repr::Close {
                end: frame.u64_at(field::CLOSE_END),
                ack: frame.u64_at(field::CLOSE_ACK),
            },
            Kind::Closed => Repr::Closed,
            Kind::Unknown(v) => return Err(Error::UnknownType(v)),
        })
    }

    fn body_len(&self) -> usize {
        match self {
            Repr::Challenge { .. } => NONCE_LEN,
            Repr::Open { .. } => MAC_LEN,
            Repr::Resume { .. } => ID_LEN + 16 + MAC_LEN,
            Repr::Accepted { .. } => ID_LEN,
            Repr::Resumed { .. } => 16,
            Repr::Refused(_) => 1,
            Repr::Data { payload, .. } => DATA_HEADER + payload.len(),
            Repr::Keepalive { .. } => 8,
            Repr::Close { .. } => 16,
            Repr::Closed => 0,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Repr::Challenge { .. } => Kind::Challenge,
            Repr::Open { .. } => Kind::Open,
            Repr::Resume { .. } => Kind::Resume,
            Repr::Accepted { .. } => Kind::Accepted,
            Repr::Resumed { .. } => Kind::Resumed,
            Repr::Refused(_) => Kind::Refused,
            Repr::Data { .. } => Kind::Data,
            Repr::Keepalive { .. } => Kind::Keepalive,
            Repr::Close { .. } => Kind::Close,
            Repr::Closed => Kind::Closed,
        }
    }

    /// Appends the frame to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let body = self.body_len();
        out.resize(start + HEADER_LEN + body, 0);
        let mut f = Frame::new_unchecked(&mut out[start..]);
        f.set_header(self.kind(), body);
        match *self {
            Repr::Challenge { nonce } => f.set(field::NONCE, &nonce),
            Repr::Open { mac } => f.set(field::OPEN_MAC, &mac),
            Repr::Resume {
                id,
                received,
                first_held,
                mac,
            } => {
                f.set(field::ID, &id);
                f.set(field::RESUME_RECEIVED, &received.to_be_bytes());
                f.set(field::RESUME_FIRST_HELD, &first_held.to_be_bytes());
                f.set(field::RESUME_MAC, &mac);
            }
            Repr::Accepted { id } => f.set(field::ID, &id),
            Repr::Resumed {
                received,
                first_held,
            } => {
                f.set(field::RESUMED_RECEIVED, &received.to_be_bytes());
                f.set(field::RESUMED_FIRST_HELD, &first_held.to_be_bytes());
            }
            Repr::Refused(r) => f.buffer[field::REFUSED_CODE] = r.into(),
            Repr::Data { seq, ack, payload } => {
                f.set(field::SEQ, &seq.to_be_bytes());
                f.set(field::ACK, &ack.to_be_bytes());
                f.buffer[field::PAYLOAD..].copy_from_slice(payload);
            }
            Repr::Keepalive { ack } => f.set(field::KEEPALIVE_ACK, &ack.to_be_bytes()),
            Repr::Close { end, ack } => {
                f.set(field::CLOSE_END, &end.to_be_bytes());
                f.set(field::CLOSE_ACK, &ack.to_be_bytes());
            }
            Repr::Closed => {}
        }
    }
}

/// Splits the next whole frame off the front of a stream buffer: `Ok(None)` until it has
/// fully arrived, then the frame's length, so the caller can parse `&buf[..len]` and
/// drain it.
pub fn next_frame(buf: &[u8]) -> Result<Option<usize>, Error> {
    match frame_len(buf)? {
        Some(len) if buf.len() >= len => Ok(Some(len)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static DATA: [u8; 24] = [
        7, 0, 0, 0, 19, // Data, body 19
        0, 0, 0, 0, 0, 0, 1, 0, // seq 256
        0, 0, 0, 0, 0, 0, 0, 9, // ack 9
        b'a', b'b', b'c',
    ];

    #[test]
    fn deconstruct_data() {
        let f = Frame::new_checked(&DATA[..]).unwrap();
        assert_eq!(f.kind(), Kind::Data);
        assert_eq!(
            Repr::parse(&f).unwrap(),
            Repr::Data {
                seq: 256,
                ack: 9,
                payload: b"abc"
            }
        );
    }

    #[test]
    fn construct_data() {
        let mut out = Vec::new();
        Repr::Data {
            seq: 256,
            ack: 9,
            payload: b"abc",
        }
        .emit(&mut out);
        assert_eq!(out, DATA);
    }

    #[test]
    fn every_frame_round_trips() {
        let frames = [
            Repr::Challenge { nonce: [3; 16] },
            Repr::Open { mac: [4; 32] },
            Repr::Resume {
                id: [5; 16],
                received: u64::MAX,
                first_held: 7,
                mac: [6; 32],
            },
            Repr::Accepted { id: [8; 16] },
            Repr::Resumed {
                received: 1,
                first_held: 2,
            },
            Repr::Refused(Refusal::Gap),
            Repr::Data {
                seq: 1,
                ack: 2,
                payload: &[],
            },
            Repr::Keepalive { ack: 42 },
            Repr::Close { end: 10, ack: 11 },
            Repr::Closed,
        ];
        let mut out = Vec::new();
        for r in &frames {
            r.emit(&mut out);
        }
        let mut rest = &out[..];
        for r in &frames {
            let len = next_frame(rest).unwrap().unwrap();
            let f = Frame::new_checked(&rest[..len]).unwrap();
            assert_eq!(Repr::parse(&f).unwrap(), *r);
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn a_partial_frame_waits() {
        assert_eq!(next_frame(&DATA[..3]), Ok(None));
        assert_eq!(next_frame(&DATA[..23]), Ok(None));
        assert_eq!(next_frame(&DATA[..]), Ok(Some(24)));
    }

    #[test]
    fn an_oversized_length_is_refused_before_the_body() {
        assert_eq!(
            next_frame(&[7, 0xff, 0xff, 0xff, 0xff]),
            Err(Error::TooLong(0xffff_ffff))
        );
    }

    #[test]
    fn a_body_of_the_wrong_size_is_refused() {
        let bad = [8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Frame::new_checked(&bad[..]).unwrap_err(),
            Error::BadLength { kind: 8, len: 7 }
        );
        assert_eq!(
            Frame::new_checked(&DATA[..20]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn an_unknown_type_is_refused() {
        assert_eq!(
            Frame::new_checked(&[99, 0, 0, 0, 0][..]).unwrap_err(),
            Error::UnknownType(99)
        );
    }
}
