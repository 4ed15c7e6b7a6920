//! Zero-copy RADIUS wire format (RFC 2865 section 3, RFC 2866, RFC 5176).
//!
//! `Packet<T>` is a typed view over a byte buffer in the smoltcp style: getters need
//! `AsRef<[u8]>`, setters `AsMut<[u8]>`, so one type parses untrusted input and edits a
//! packet in place. `Packet::new_checked` validates the header and walks every attribute
//! once; afterwards accessors may index without further checks. The crypto lives in
//! [`crypto`] and never allocates, because it sits on the proxy's per-packet path.

pub mod attr;
pub mod builder;
pub mod crypto;
pub mod ether;
pub mod ip;
pub mod md5x;
pub mod null;
pub mod packet;
pub mod pppoe;
pub mod sll;

pub use attr::{Attr, AttrIter, Vsa, VsaIter};
pub use builder::Builder;
pub use packet::Packet;

/// Smallest legal RADIUS packet: the header.
pub const HEADER_LEN: usize = 20;
/// Largest legal RADIUS packet (RFC 2865 section 3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Largest attribute value: 255 minus the type and length octets.
pub const MAX_ATTR_VALUE_LEN: usize = 253;
/// Length of the authenticator field and of a Message-Authenticator value.
pub const AUTH_LEN: usize = 16;

/// Why a datagram is not a RADIUS packet. Small and `Copy` so the hot path can count
/// drops by reason without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("datagram shorter than the 20-octet header")]
    TooShort,
    #[error("length field {0} is outside 20..=4096")]
    BadLength(u16),
    #[error("length field {length} exceeds the {datagram}-octet datagram")]
    LengthOverDatagram { length: u16, datagram: usize },
    #[error("attribute at offset {0} has a length below 2")]
    AttrTooShort(u16),
    #[error("attribute at offset {0} runs past the end of the packet")]
    AttrOverrun(u16),
    #[error("attribute value longer than 253 octets")]
    ValueTooLong,
    #[error("packet would exceed 4096 octets")]
    PacketFull,
    #[error("hidden password is not a multiple of 16 octets or longer than 128")]
    BadHiddenPassword,
    #[error("salt-encrypted value is malformed")]
    BadSaltedValue,
}

/// RADIUS packet codes (RFC 2865, 2866, 5176, 5997). Unknown codes are kept, not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccountingRequest,
    AccountingResponse,
    AccessChallenge,
    StatusServer,
    StatusClient,
    DisconnectRequest,
    DisconnectAck,
    DisconnectNak,
    CoaRequest,
    CoaAck,
    CoaNak,
    Unknown(u8),
}

impl From<u8> for Code {
    fn from(v: u8) -> Self {
        match v {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            13 => Code::StatusClient,
            40 => Code::DisconnectRequest,
            41 => Code::DisconnectAck,
            42 => Code::DisconnectNak,
            43 => Code::CoaRequest,
            44 => Code::CoaAck,
            45 => Code::CoaNak,
            other => Code::Unknown(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(c: Code) -> u8 {
        match c {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::DisconnectRequest => 40,
            Code::DisconnectAck => 41,
            Code::DisconnectNak => 42,
            Code::CoaRequest => 43,
            Code::CoaAck => 44,
            Code::CoaNak => 45,
            Code::Unknown(v) => v,
        }
    }
}

impl Code {
    /// The name FreeRADIUS and Wireshark print for this code.
    pub fn name(self) -> &'static str {
        match self {
            Code::AccessRequest => "Access-Request",
            Code::AccessAccept => "Access-Accept",
            Code::AccessReject => "Access-Reject",
            Code::AccountingRequest => "Accounting-Request",
            Code::AccountingResponse => "Accounting-Response",
            Code::AccessChallenge => "Access-Challenge",
            Code::StatusServer => "Status-Server",
            Code::StatusClient => "Status-Client",
            Code::DisconnectRequest => "Disconnect-Request",
            Code::DisconnectAck => "Disconnect-ACK",
            Code::DisconnectNak => "Disconnect-NAK",
            Code::CoaRequest => "CoA-Request",
            Code::CoaAck => "CoA-ACK",
            Code::CoaNak => "CoA-NAK",
            Code::Unknown(_) => "Unknown",
        }
    }

    /// Requests whose authenticator is an MD5 over the packet with a zero authenticator
    /// (RFC 2866 section 3, RFC 5176 section 2.3), not a random nonce.
    pub fn has_hashed_request_authenticator(self) -> bool {
        matches!(
            self,
            Code::AccountingRequest | Code::DisconnectRequest | Code::CoaRequest
        )
    }

    /// Codes sent in answer to a request; their authenticator is a Response Authenticator.
    pub fn is_response(self) -> bool {
        matches!(
            self,
            Code::AccessAccept
                | Code::AccessReject
                | Code::AccessChallenge
                | Code::AccountingResponse
                | Code::DisconnectAck
                | Code::DisconnectNak
                | Code::CoaAck
                | Code::CoaNak
        )
    }
}
