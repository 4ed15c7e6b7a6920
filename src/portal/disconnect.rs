//! The RFC 5176 Disconnect-Request client behind the portal's "reconnect me" button.
//!
//! One request, a bounded number of tries: the same packet (same Identifier and
//! authenticator, as RFC 5176 section 2.3 and RFC 5080 section 2.2.1 expect of a
//! retransmission) is sent up to `tries` times, each followed by a wait of `timeout`.
//! Only an answer from the NAS's address, with our Identifier, a valid Response
//! Authenticator and (if present) a valid Message-Authenticator counts; anything else
//! is ignored, as an off-path packet must not end the wait.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

use crate::wire::attr::types;
use crate::wire::crypto::{self, MaStatus};
use crate::wire::{AUTH_LEN, Builder, Code, MAX_PACKET_LEN, Packet};

/// Error-Cause 503 (RFC 5176 section 3.5): the session is already gone.
pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;

/// Which session to end, and at which NAS.
#[derive(Debug, Clone)]
pub struct DisconnectRequest<'a> {
    /// The NAS's Dynamic Authorization Server (address and CoA port).
    pub nas: SocketAddr,
    /// The secret shared with that NAS.
    pub secret: &'a [u8],
    pub user_name: &'a [u8],
    pub acct_session_id: Option<&'a str>,
    pub framed_ip: Option<Ipv4Addr>,
    /// Sent as NAS-IP-Address (or NAS-IPv6-Address).
    pub nas_ip: Option<IpAddr>,
}

/// How often to send and how long to wait after each send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub tries: u32,
    pub timeout: Duration,
}

/// What the NAS said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectOutcome {
    /// Disconnect-ACK: the session is ended.
    Acked,
    /// Disconnect-NAK with Error-Cause 503: there was no such session any more.
    AlreadyGone,
    /// Disconnect-NAK for another reason (or none given).
    Nak { error_cause: Option<u32> },
    /// No valid answer after every try.
    NoAnswer { tries: u32 },
}

impl DisconnectOutcome {
    /// A fixed label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectOutcome::Acked => "acked",
            DisconnectOutcome::AlreadyGone => "already_gone",
            DisconnectOutcome::Nak { .. } => "nak",
            DisconnectOutcome::NoAnswer { .. } => "no_answer",
        }
    }

    /// Whether the session is gone, so the subscriber's equipment dials again.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            DisconnectOutcome::Acked | DisconnectOutcome::AlreadyGone
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DisconnectError {
    #[error("cannot build the Disconnect-Request: {0}")]
    Build(#[from] crate::wire::Error),
    #[error("socket error talking to the NAS: {0}")]
    Io(#[from] io::Error),
}

/// The name RFC 5176 section 3.5 gives an Error-Cause value.
pub fn error_cause_name(code: u32) -> &'static str {
    match code {
        201 => "Residual Session Context Removed",
        202 => "Invalid EAP Packet (Ignored)",
        401 => "Unsupported Attribute",
        402 => "Missing Attribute",
        403 => "NAS Identification Mismatch",
        404 => "Invalid Request",
        405 => "Unsupported Service",
        406 => "Unsupported Extension",
        407 => "Invalid Attribute Value",
        501 => "Administratively Prohibited",
        502 => "Request Not Routable (Proxy)",
        503 => "Session Context Not Found",
        504 => "Session Context Not Removable",
        505 => "Other Proxy Processing Error",
        506 => "Resources Unavailable",
        507 => "Request Initiated",
        508 => "Multiple Session Selection Unsupported",
        _ => "Unknown Error-Cause",
    }
}

/// Builds and signs the Disconnect-Request: Message-Authenticator first (RFC 5176
/// section 3.4 and the BlastRADIUS advice), then the session's identifiers.
pub fn encode(req: &DisconnectRequest<'_>, identifier: u8) -> Result<Vec<u8>, crate::wire::Error> {
    let mut buf = Vec::with_capacity(128);
    let mut b = Builder::new(
        &mut buf,
        Code::DisconnectRequest,
        identifier,
        &[0; AUTH_LEN],
    );
    b.message_authenticator()?;
    b.attr(types::USER_NAME, req.user_name)?;
    if let Some(id) = req.acct_session_id {
        b.attr(types::ACCT_SESSION_ID, id.as_bytes())?;
    }
    if let Some(ip) = req.framed_ip {
        b.attr(types::FRAMED_IP_ADDRESS, &ip.octets())?;
    }
    match req.nas_ip {
        Some(IpAddr::V4(ip)) => {
            b.attr(types::NAS_IP_ADDRESS, &ip.octets())?;
        }
        Some(IpAddr::V6(ip)) => {
            b.attr(types::NAS_IPV6_ADDRESS, &ip.octets())?;
        }
        None => {}
    }
    crypto::sign_hashed_request(b.as_bytes_mut(), req.secret);
    Ok(buf)
}

/// Why an answer was not taken (for the debug log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    Malformed,
    WrongIdentifier,
    WrongCode,
    BadAuthenticator,
    BadMessageAuthenticator,
}

/// Checks one datagram against the request; `Ok` is the NAS's verdict.
fn judge(request: &[u8], datagram: &[u8], secret: &[u8]) -> Result<DisconnectOutcome, Ignored> {
    let reply = Packet::new_checked(datagram).map_err(|_| Ignored::Malformed)?;
    let request = Packet::new_unchecked(request);
    if reply.identifier() != request.identifier() {
        return Err(Ignored::WrongIdentifier);
    }
    let code = reply.code();
    if !matches!(code, Code::DisconnectAck | Code::DisconnectNak) {
        return Err(Ignored::WrongCode);
    }
    if !crypto::verify_response(reply.as_bytes(), request.authenticator(), secret) {
        return Err(Ignored::BadAuthenticator);
    }
    if crypto::verify_message_authenticator(reply.as_bytes(), Some(request.authenticator()), secret)
        == MaStatus::Invalid
    {
        return Err(Ignored::BadMessageAuthenticator);
    }
    let error_cause = reply.find(types::ERROR_CAUSE).and_then(|a| a.as_u32());
    Ok(match (code, error_cause) {
        (Code::DisconnectAck, _) => DisconnectOutcome::Acked,
        (_, Some(SESSION_CONTEXT_NOT_FOUND)) => DisconnectOutcome::AlreadyGone,
        (_, error_cause) => DisconnectOutcome::Nak { error_cause },
    })
}

/// Sends the Disconnect-Request and waits for the NAS's verdict, at most
/// `retry.tries * retry.timeout`.
pub async fn disconnect(
    req: &DisconnectRequest<'_>,
    retry: Retry,
) -> Result<DisconnectOutcome, DisconnectError> {
    let identifier = (rand::rng().next_u32() & 0xff) as u8;
    let packet = encode(req, identifier)?;
    let bind: SocketAddr = match req.nas {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).await?;
    // Connected: the kernel drops datagrams from any other address for us.
    socket.connect(req.nas).await?;
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    let tries = retry.tries.max(1);
    for attempt in 1..=tries {
        socket.send(&packet).await?;
        let deadline = Instant::now() + retry.timeout;
        loop {
            match timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_elapsed) => break,
                Ok(Ok(n)) => match judge(&packet, &buf[..n], req.secret) {
                    Ok(outcome) => return Ok(outcome),
                    Err(why) => {
                        tracing::debug!(nas = %req.nas, attempt, ?why, "ignoring answer to disconnect-request");
                    }
                },
                // An ICMP error (port unreachable) surfaces here: count it as silence.
                Ok(Err(e)) => {
                    tracing::debug!(nas = %req.nas, attempt, error = %e, "disconnect-request not delivered");
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
            }
        }
    }
    Ok(DisconnectOutcome::NoAnswer { tries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HEADER_LEN;
    use hmac::{Hmac, KeyInit, Mac};
    use md5::{Digest, Md5};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    const SECRET: &[u8] = b"nas-secret";

    /// How the test NAS answers.
    #[derive(Clone, Copy)]
    enum Answer {
        Ack,
        Nak(Option<u32>),
        Silent,
        /// First a reply signed with the wrong secret, then a good ACK.
        ForgedThenAck,
    }

    /// Independent checks of a Disconnect-Request, written from RFC 5176 section 2.3
    /// and 3.4 with the md-5 and hmac crates directly (not our `crypto`).
    fn assert_valid_request(p: &[u8]) {
        let view = Packet::new_checked(p).expect("a well-formed packet");
        assert_eq!(view.code(), Code::DisconnectRequest);
        assert_eq!(usize::from(view.length()), p.len());
        let mut zeroed = Packet::new_unchecked(p.to_vec());
        zeroed.set_authenticator(&[0; AUTH_LEN]);
        let mut h = Md5::new();
        h.update(zeroed.as_ref());
        h.update(SECRET);
        assert_eq!(
            &h.finalize()[..],
            view.authenticator(),
            "request authenticator"
        );
        // Message-Authenticator: first attribute, HMAC over zeroed auth and MA.
        let first = view.attrs().next().expect("an attribute");
        assert_eq!(
            (first.typ, first.value.len()),
            (types::MESSAGE_AUTHENTICATOR, AUTH_LEN),
            "Message-Authenticator comes first"
        );
        // Its value follows the header and the attribute's type and length octets.
        let ma = HEADER_LEN + 2..HEADER_LEN + 2 + AUTH_LEN;
        zeroed.as_bytes_mut()[ma].fill(0);
        let mut mac = Hmac::<Md5>::new_from_slice(SECRET).unwrap();
        mac.update(zeroed.as_ref());
        assert_eq!(
            &mac.finalize().into_bytes()[..],
            first.value,
            "message-authenticator"
        );
        // The radius crate reads the identifiers we sent.
        let oracle = radius::core::packet::Packet::decode(p, SECRET).expect("decodes");
        use radius::core::rfc2865;
        assert_eq!(rfc2865::lookup_user_name(&oracle).unwrap().unwrap(), "bob");
        assert_eq!(
            rfc2865::lookup_framed_ip_address(&oracle).unwrap().unwrap(),
            Ipv4Addr::new(100, 64, 0, 9)
        );
        assert_eq!(
            rfc2865::lookup_nas_ip_address(&oracle).unwrap().unwrap(),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(
            oracle
                .lookup(types::ACCT_SESSION_ID)
                .unwrap()
                .encode_bytes(),
            b"sess-1".to_vec()
        );
    }

    fn reply(req: &[u8], code: u8, error_cause: Option<u32>, secret: &[u8]) -> Vec<u8> {
        let req = Packet::new_unchecked(req);
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::from(code), req.identifier(), &[0; 16]);
        b.message_authenticator().unwrap();
        if let Some(c) = error_cause {
            b.attr_u32(types::ERROR_CAUSE, c).unwrap();
        }
        crypto::sign_response(b.as_bytes_mut(), req.authenticator(), secret);
        buf
    }

    /// A NAS on the loopback: verifies each request, counts them, answers as told.
    async fn test_nas(answer: Answer) -> (SocketAddr, Arc<AtomicU32>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let seen = Arc::new(AtomicU32::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let req = &buf[..n];
                assert_valid_request(req);
                count.fetch_add(1, Ordering::SeqCst);
                let out = match answer {
                    Answer::Ack => reply(req, 41, None, SECRET),
                    Answer::Nak(cause) => reply(req, 42, cause, SECRET),
                    Answer::Silent => continue,
                    Answer::ForgedThenAck => {
                        let forged = reply(req, 42, Some(404), b"not-the-secret");
                        sock.send_to(&forged, from).await.unwrap();
                        reply(req, 41, None, SECRET)
                    }
                };
                sock.send_to(&out, from).await.unwrap();
            }
        });
        (addr, seen)
    }

    fn request(nas: SocketAddr) -> DisconnectRequest<'static> {
        DisconnectRequest {
            nas,
            secret: SECRET,
            user_name: b"bob",
            acct_session_id: Some("sess-1"),
            framed_ip: Some(Ipv4Addr::new(100, 64, 0, 9)),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        }
    }

    const FAST: Retry = Retry {
        tries: 3,
        timeout: Duration::from_millis(300),
    };

    #[tokio::test]
    async fn ack_ends_the_session() {
        let (nas, seen) = test_nas(Answer::Ack).await;
        let out = disconnect(&request(nas), FAST).await.unwrap();
        assert_eq!(out, DisconnectOutcome::Acked);
        assert!(out.is_success());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn nak_503_means_already_gone() {
        let (nas, _) = test_nas(Answer::Nak(Some(503))).await;
        let out = disconnect(&request(nas), FAST).await.unwrap();
        assert_eq!(out, DisconnectOutcome::AlreadyGone);
        assert!(out.is_success());
    }

    #[tokio::test]
    async fn nak_with_other_cause_is_reported() {
        let (nas, _) = test_nas(Answer::Nak(Some(403))).await;
        let out = disconnect(&request(nas), FAST).await.unwrap();
        assert_eq!(
            out,
            DisconnectOutcome::Nak {
                error_cause: Some(403)
            }
        );
        assert_eq!(error_cause_name(403), "NAS Identification Mismatch");
        let (nas, _) = test_nas(Answer::Nak(None)).await;
        let out = disconnect(&request(nas), FAST).await.unwrap();
        assert_eq!(out, DisconnectOutcome::Nak { error_cause: None });
    }

    #[tokio::test]
    async fn a_forged_answer_is_ignored() {
        let (nas, _) = test_nas(Answer::ForgedThenAck).await;
        let out = disconnect(&request(nas), FAST).await.unwrap();
        assert_eq!(out, DisconnectOutcome::Acked);
    }

    #[tokio::test]
    async fn silence_is_retried_a_bounded_number_of_times() {
        let (nas, seen) = test_nas(Answer::Silent).await;
        let started = std::time::Instant::now();
        let out = disconnect(&request(nas), FAST).await.unwrap();
        let took = started.elapsed();
        assert_eq!(out, DisconnectOutcome::NoAnswer { tries: 3 });
        assert_eq!(seen.load(Ordering::SeqCst), 3, "three identical tries");
        assert!(took >= Duration::from_millis(850), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn nothing_listening_is_no_answer() {
        // Bind and drop: nobody listens there now (ICMP port unreachable).
        let addr = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let retry = Retry {
            tries: 2,
            timeout: Duration::from_millis(100),
        };
        let out = disconnect(&request(addr), retry).await.unwrap();
        assert_eq!(out, DisconnectOutcome::NoAnswer { tries: 2 });
    }

    #[test]
    fn replies_are_judged_strictly() {
        let req = encode(&request("127.0.0.1:3799".parse().unwrap()), 7).unwrap();
        assert_eq!(
            judge(&req, &reply(&req, 41, None, SECRET), SECRET),
            Ok(DisconnectOutcome::Acked)
        );
        let mut wrong_id = reply(&req, 41, None, SECRET);
        let mut view = Packet::new_unchecked(&mut wrong_id[..]);
        view.set_identifier(view.identifier() ^ 1);
        assert_eq!(
            judge(&req, &wrong_id, SECRET),
            Err(Ignored::WrongIdentifier)
        );
        assert_eq!(
            judge(&req, &reply(&req, 2, None, SECRET), SECRET),
            Err(Ignored::WrongCode)
        );
        assert_eq!(
            judge(&req, &reply(&req, 41, None, b"x"), SECRET),
            Err(Ignored::BadAuthenticator)
        );
        // A valid Response Authenticator over a corrupted Message-Authenticator.
        let mut bad_ma = reply(&req, 41, None, SECRET);
        bad_ma[30] ^= 0xff;
        let auth = *Packet::new_unchecked(&req[..]).authenticator();
        let ra = crypto::response_authenticator(&bad_ma, &auth, SECRET);
        Packet::new_unchecked(&mut bad_ma[..]).set_authenticator(&ra);
        assert_eq!(
            judge(&req, &bad_ma, SECRET),
            Err(Ignored::BadMessageAuthenticator)
        );
        assert_eq!(judge(&req, &[41, 7, 0], SECRET), Err(Ignored::Malformed));
    }
}
