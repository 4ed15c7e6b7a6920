//! The engine's event vocabulary: what the proxy core and the bridge core tell the rest
//! of the process (gardens entered, accounting, drops, classified Rejects). Every
//! payload is `Clone` so a driver can fan one event out to several consumers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{garden_class, nas_addr};
use crate::wire::Packet;
use crate::wire::attr::{types, vendors};

/// How the subscriber authenticated: decides whether a Reject may become an Accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Pap,
    Chap,
    MsChapV1,
    MsChapV2,
    Eap,
    /// No credentials (authorize-only, Status-Server ...).
    Other,
}

impl AuthMethod {
    pub fn of(request: &Packet<&[u8]>) -> AuthMethod {
        let mut method = AuthMethod::Other;
        for a in request.attrs() {
            match a.typ {
                types::EAP_MESSAGE => return AuthMethod::Eap,
                types::USER_PASSWORD => method = AuthMethod::Pap,
                types::CHAP_PASSWORD => method = AuthMethod::Chap,
                types::VENDOR_SPECIFIC => {
                    if let Some(v) = a.vsa().filter(|v| v.vendor == vendors::MICROSOFT) {
                        for s in v.subs().flatten() {
                            if s.typ == u32::from(vendors::MS_CHAP2_RESPONSE) {
                                return AuthMethod::MsChapV2;
                            }
                            if s.typ == u32::from(vendors::MS_CHAP_RESPONSE) {
                                method = AuthMethod::MsChapV1;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        method
    }

    /// PAP, CHAP and MS-CHAPv1 finish with a bare Accept; MS-CHAPv2 needs
    /// MS-CHAP2-Success computed from the NT hash and EAP needs EAP-Success and keys, so
    /// an Accept we write ourselves would fail the login anyway.
    pub fn allows_rewrite(self) -> bool {
        matches!(
            self,
            AuthMethod::Pap | AuthMethod::Chap | AuthMethod::MsChapV1
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Pap => "pap",
            AuthMethod::Chap => "chap",
            AuthMethod::MsChapV1 => "mschap",
            AuthMethod::MsChapV2 => "mschapv2",
            AuthMethod::Eap => "eap",
            AuthMethod::Other => "other",
        }
    }
}

/// Why a datagram was dropped; a fixed set, used as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    Malformed,
    UnknownClient,
    UnexpectedCode,
    BadAuthenticator,
    BadMessageAuthenticator,
    MissingMessageAuthenticator,
    ProxyStateWithoutMessageAuthenticator,
    DuplicateInFlight,
    NoUpstream,
    IdsExhausted,
    TooBig,
    UnknownReply,
    WrongUpstreamSource,
    UpstreamBadAuthenticator,
    UpstreamBadMessageAuthenticator,
    UpstreamMissingMessageAuthenticator,
    NoAnswer,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownClient => "unknown_client",
            DropReason::UnexpectedCode => "unexpected_code",
            DropReason::BadAuthenticator => "bad_authenticator",
            DropReason::BadMessageAuthenticator => "bad_message_authenticator",
            DropReason::MissingMessageAuthenticator => "missing_message_authenticator",
            DropReason::ProxyStateWithoutMessageAuthenticator => {
                "proxy_state_without_message_authenticator"
            }
            DropReason::DuplicateInFlight => "duplicate_in_flight",
            DropReason::NoUpstream => "no_upstream",
            DropReason::IdsExhausted => "ids_exhausted",
            DropReason::TooBig => "too_big",
            DropReason::UnknownReply => "unknown_reply",
            DropReason::WrongUpstreamSource => "wrong_upstream_source",
            DropReason::UpstreamBadAuthenticator => "upstream_bad_authenticator",
            DropReason::UpstreamBadMessageAuthenticator => "upstream_bad_message_authenticator",
            DropReason::UpstreamMissingMessageAuthenticator => {
                "upstream_missing_message_authenticator"
            }
            DropReason::NoAnswer => "no_answer",
        }
    }
}

/// What became of a classified Reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectOutcome {
    Rewritten,
    /// Passed on as a Reject: the cause says `pass`, or the method forbids a rewrite.
    Passed,
    /// Shadow mode: passed on, but would have been rewritten.
    WouldRewrite,
    /// Passed on: an ambiguous Reject (action `redial`) of a subscriber not (yet) seen
    /// redialling.
    AwaitingRedial,
}

impl RejectOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectOutcome::Rewritten => "rewrite",
            RejectOutcome::Passed => "pass",
            RejectOutcome::WouldRewrite => "would_rewrite",
            RejectOutcome::AwaitingRedial => "pass_until_redial",
        }
    }
}

/// A subscriber let into the walled garden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GardenEntered {
    /// Random id, also carried in the Class tag, that accounting refers back to.
    pub garden_id: u64,
    /// The subscriber's key (`garden_id` without the cause), by which accounting that
    /// lost the Class tag finds the entry.
    pub subscriber: u64,
    /// User-Name's octets as sent (not necessarily UTF-8: GBK is common), so that a
    /// Disconnect-Request names the session exactly; decoded only for display.
    pub user: Vec<u8>,
    pub calling_station_id: Option<String>,
    pub client: String,
    pub nas_addr: IpAddr,
    pub nas_identifier: Option<String>,
    pub nas_port_id: Option<String>,
    pub cause: String,
    pub reason: String,
    pub method: AuthMethod,
}

/// Accounting for a walled-garden session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GardenAccountingEvent {
    pub garden_id: u64,
    pub status: Option<u32>,
    pub user: Vec<u8>,
    pub framed_ip: Option<Ipv4Addr>,
    pub acct_session_id: Option<String>,
    pub nas_addr: IpAddr,
}

/// An Acct-Session-Id carried inline, so that an accounting event costs no allocation
/// on the packet path; an id longer than `MAX` octets (rare) is cut there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionId {
    len: u8,
    octets: [u8; SessionId::MAX],
}

impl SessionId {
    pub const MAX: usize = 64;

    pub fn new(value: &[u8]) -> SessionId {
        let len = value.len().min(SessionId::MAX);
        let mut octets = [0; SessionId::MAX];
        octets[..len].copy_from_slice(&value[..len]);
        SessionId {
            len: len as u8,
            octets,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.octets[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Accounting without radcare's Class tag (some BRAS configurations strip it): the
/// garden matches it to an entry by subscriber. Still forwarded to the AAA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberAccounting {
    /// The subscriber's key, as in [`GardenEntered::subscriber`].
    pub subscriber: u64,
    pub status: Option<u32>,
    pub framed_ip: Option<Ipv4Addr>,
    pub acct_session_id: Option<SessionId>,
    pub nas_addr: IpAddr,
}

/// What the engine tells the rest of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    GardenEntered(GardenEntered),
    GardenAccounting(GardenAccountingEvent),
    SubscriberAccounting(SubscriberAccounting),
    UpstreamDown {
        upstream: String,
    },
    UpstreamUp {
        upstream: String,
    },
    /// Counted by the driver into metrics.
    Dropped(DropReason),
    /// A Reject was classified (rewritten or passed); `cause` indexes the cause table
    /// (`Engine::cause_id`), so the event costs no allocation.
    Rejected {
        cause: usize,
        outcome: RejectOutcome,
        method: AuthMethod,
    },
    /// A retransmitted request: answered from the cache, or dropped while in flight.
    Duplicate {
        answered: bool,
    },
    /// Round trip of an answered upstream request.
    UpstreamLatency {
        upstream: usize,
        rtt: Duration,
    },
}

impl GardenEntered {
    /// The event for a rewritten request (its text fields are the only allocation of
    /// the rewrite path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        garden_id: u64,
        subscriber: u64,
        req: &Packet<&[u8]>,
        nas: SocketAddr,
        client: &str,
        cause: &str,
        reason: String,
        method: AuthMethod,
    ) -> GardenEntered {
        GardenEntered {
            garden_id,
            subscriber,
            user: octets(req, types::USER_NAME),
            calling_station_id: text(req, types::CALLING_STATION_ID),
            client: client.to_string(),
            nas_addr: nas_addr(req, nas),
            nas_identifier: text(req, types::NAS_IDENTIFIER),
            nas_port_id: text(req, types::NAS_PORT_ID),
            cause: cause.to_string(),
            reason,
            method,
        }
    }
}

impl GardenAccountingEvent {
    /// The event for an Accounting-Request of a walled-garden session (tagged Class).
    pub(crate) fn of(pkt: &Packet<&[u8]>, src: SocketAddr) -> Option<GardenAccountingEvent> {
        Some(GardenAccountingEvent {
            garden_id: garden_class(pkt)?,
            status: pkt.find(types::ACCT_STATUS_TYPE).and_then(|a| a.as_u32()),
            user: octets(pkt, types::USER_NAME),
            framed_ip: pkt
                .find(types::FRAMED_IP_ADDRESS)
                .and_then(|a| <[u8; 4]>::try_from(a.value).ok())
                .map(Ipv4Addr::from),
            acct_session_id: text(pkt, types::ACCT_SESSION_ID),
            nas_addr: nas_addr(pkt, src),
        })
    }
}

impl SubscriberAccounting {
    /// The event for an Accounting-Request without radcare's Class tag.
    pub(crate) fn of(
        pkt: &Packet<&[u8]>,
        src: SocketAddr,
        subscriber: u64,
    ) -> SubscriberAccounting {
        SubscriberAccounting {
            subscriber,
            status: pkt.find(types::ACCT_STATUS_TYPE).and_then(|a| a.as_u32()),
            framed_ip: pkt
                .find(types::FRAMED_IP_ADDRESS)
                .and_then(|a| <[u8; 4]>::try_from(a.value).ok())
                .map(Ipv4Addr::from),
            acct_session_id: pkt
                .find(types::ACCT_SESSION_ID)
                .map(|a| SessionId::new(a.value)),
            nas_addr: nas_addr(pkt, src),
        }
    }
}

fn octets(pkt: &Packet<&[u8]>, typ: u8) -> Vec<u8> {
    pkt.find(typ).map_or_else(Vec::new, |a| a.value.to_vec())
}

fn text(pkt: &Packet<&[u8]>, typ: u8) -> Option<String> {
    pkt.find(typ)
        .map(|a| String::from_utf8_lossy(a.value).into_owned())
}
