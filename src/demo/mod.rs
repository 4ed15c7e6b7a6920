//! A small built-in AAA server for `serve --demo`: a handful of sample subscribers, so a
//! newcomer can dial with `radtest` through radcare and watch each kind of Reject become
//! an explained walled-garden Accept. It speaks real RADIUS (PAP and CHAP verified with
//! the shared secret, Message-Authenticator on every reply) but is not an AAA to deploy.
//!
//! [`story`] fills every other part for the console: dials, terminals, releases, a
//! planned deployment, fault reports.

pub mod story;

use std::net::SocketAddr;
use std::sync::Arc;

use md5::{Digest, Md5};
use tokio::net::UdpSocket;

use crate::wire::attr::types;
use crate::wire::crypto::{self, MAX_PASSWORD_LEN, MaStatus};
use crate::wire::{Builder, Code, Packet};

/// (user, password, outcome): `None` = Accept, `Some(text)` = Reject with that reason.
pub const SUBSCRIBERS: &[(&str, &str, Option<&str>)] = &[
    ("alice", "alice-pass", None),
    ("bob", "bob-pass", None),
    (
        "carol",
        "carol-pass",
        Some("欠费停机: account in arrears, balance -12.50"),
    ),
    ("dave", "dave-pass", Some("account disabled")),
    ("frank", "frank-pass", Some("account expired")),
    (
        "grace",
        "grace-pass",
        Some("user already online, session limit reached"),
    ),
];

/// What the demo AAA decides for a request.
fn decide(request: &Packet<&[u8]>, secret: &[u8]) -> (Code, String) {
    let user = request
        .find(types::USER_NAME)
        .map(|a| String::from_utf8_lossy(a.value).into_owned())
        .unwrap_or_default();
    let Some(&(_, password, outcome)) = SUBSCRIBERS.iter().find(|s| s.0 == user) else {
        return (Code::AccessReject, "user not found".into());
    };
    if let Some(reason) = outcome {
        return (Code::AccessReject, reason.into());
    }
    if password_ok(request, secret, password) {
        (Code::AccessAccept, format!("welcome {user}"))
    } else {
        (Code::AccessReject, "wrong password".into())
    }
}

fn password_ok(request: &Packet<&[u8]>, secret: &[u8], password: &str) -> bool {
    if let Some(a) = request.find(types::USER_PASSWORD) {
        let mut out = [0u8; MAX_PASSWORD_LEN];
        return crypto::unhide_password(a.value, secret, request.authenticator(), &mut out)
            .is_ok_and(|n| crypto::ct_eq(&out[..n], password.as_bytes()));
    }
    if let Some(a) = request
        .find(types::CHAP_PASSWORD)
        .filter(|a| a.value.len() == 17)
    {
        let challenge = request
            .find(types::CHAP_CHALLENGE)
            .map_or(&request.authenticator()[..], |c| c.value);
        let expect: [u8; 16] = Md5::new()
            .chain_update([a.value[0]])
            .chain_update(password.as_bytes())
            .chain_update(challenge)
            .finalize()
            .into();
        return crypto::ct_eq(&expect, &a.value[1..]);
    }
    false
}

/// Builds the reply to one datagram, or `None` to stay silent.
pub fn answer(data: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    let request = Packet::new_checked(data).ok()?;
    let mut out = Vec::new();
    match request.code() {
        Code::AccessRequest => {
            if crypto::verify_message_authenticator(data, None, secret) == MaStatus::Invalid {
                return None;
            }
            let (code, message) = decide(&request, secret);
            let mut b = Builder::new(&mut out, code, request.identifier(), &[0; 16]);
            b.message_authenticator().ok()?;
            b.attr(types::REPLY_MESSAGE, message.as_bytes()).ok()?;
            if code == Code::AccessAccept {
                b.attr_u32(types::SESSION_TIMEOUT, 3600).ok()?;
            }
            for a in request.attrs().filter(|a| a.typ == types::PROXY_STATE) {
                b.attr(types::PROXY_STATE, a.value).ok()?;
            }
        }
        Code::AccountingRequest => {
            if !crypto::verify_hashed_request(data, secret) {
                return None;
            }
            let mut b = Builder::new(
                &mut out,
                Code::AccountingResponse,
                request.identifier(),
                &[0; 16],
            );
            b.message_authenticator().ok()?;
        }
        Code::StatusServer => {
            if crypto::verify_message_authenticator(data, None, secret) != MaStatus::Valid {
                return None;
            }
            let mut b = Builder::new(&mut out, Code::AccessAccept, request.identifier(), &[0; 16]);
            b.message_authenticator().ok()?;
        }
        _ => return None,
    }
    crypto::sign_response(&mut out, request.authenticator(), secret);
    Some(out)
}

/// The demo AAA as a part of `serve --demo`: an auth and an accounting socket, bound.
pub struct DemoAaa {
    pub auth: UdpSocket,
    pub acct: UdpSocket,
    pub secret: Vec<u8>,
}

impl crate::part::Part for DemoAaa {
    fn name(&self) -> &'static str {
        "demo-aaa"
    }

    async fn run(self, shutdown: crate::part::Shutdown) {
        let secret = Arc::new(self.secret);
        let serve = |sock: UdpSocket, secret: Arc<Vec<u8>>| async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, src)): Result<(usize, SocketAddr), _> = sock.recv_from(&mut buf).await
                else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..n], &secret) {
                    let _ = sock.send_to(&reply, src).await;
                }
            }
        };
        tokio::select! {
            _ = serve(self.auth, secret.clone()) => {}
            _ = serve(self.acct, secret) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pap(user: &str, password: &str) -> Vec<u8> {
        let auth = [9u8; 16];
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessRequest, 1, &auth);
        b.attr(types::USER_NAME, user.as_bytes()).unwrap();
        let mut h = [0u8; MAX_PASSWORD_LEN];
        let n = crypto::hide_password(password.as_bytes(), b"s", &auth, &mut h).unwrap();
        b.attr(types::USER_PASSWORD, &h[..n]).unwrap();
        buf
    }

    #[test]
    fn sample_subscribers() {
        for (user, pass, code, msg) in [
            ("alice", "alice-pass", 2, "welcome alice"),
            ("bob", "nope", 3, "wrong password"),
            (
                "carol",
                "carol-pass",
                3,
                "欠费停机: account in arrears, balance -12.50",
            ),
            ("zed", "x", 3, "user not found"),
        ] {
            let reply = answer(&pap(user, pass), b"s").unwrap();
            let p = Packet::new_checked(&reply[..]).unwrap();
            assert_eq!(reply[0], code, "{user}");
            assert_eq!(p.find(types::REPLY_MESSAGE).unwrap().value, msg.as_bytes());
            assert!(crypto::verify_response(&reply, &[9; 16], b"s"));
        }
    }

    #[test]
    fn chap_is_verified() {
        let auth = [5u8; 16];
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessRequest, 1, &auth);
        b.attr(types::USER_NAME, b"alice").unwrap();
        let mut v = vec![7u8];
        v.extend_from_slice(
            &Md5::new()
                .chain_update([7])
                .chain_update(b"alice-pass")
                .chain_update(auth)
                .finalize(),
        );
        b.attr(types::CHAP_PASSWORD, &v).unwrap();
        assert_eq!(answer(&buf, b"s").unwrap()[0], 2);
    }
}
