//! Pre-encoded requests: every attribute of a request is encoded once, when the input is
//! read; sending one is a copy, the identifier, a fresh authenticator and the crypto
//! (User-Password hiding, the CHAP response, Message-Authenticator, or the hashed
//! Accounting-Request authenticator). Replies are checked here too: the Response
//! Authenticator, and the Message-Authenticator when there is one.
//!
//! Nothing on the per-request path allocates. The HMAC-MD5 key schedule is computed once
//! and cloned per packet, which saves two of the ~12 MD5 blocks a request and its reply
//! cost (the generator spends its CPU on the kernel's UDP path and on these blocks).

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::input::{Request, Role};
use crate::wire::attr::types;
use crate::wire::crypto::{self, MAX_PASSWORD_LEN};
use crate::wire::{AUTH_LEN, Builder, Code, HEADER_LEN, Packet};

type HmacMd5 = Hmac<Md5>;

/// The shared secret, with its HMAC-MD5 key schedule computed once.
#[derive(Clone)]
pub struct Keys {
    secret: Vec<u8>,
    hmac: HmacMd5,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            secret: secret.to_vec(),
            hmac: HmacMd5::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// HMAC-MD5 over `parts` in order.
    pub fn hmac(&self, parts: &[&[u8]]) -> [u8; AUTH_LEN] {
        let mut mac = self.hmac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// MD5 over `parts` in order, then the secret (the authenticators of RFC 2865/2866).
    pub fn md5_then_secret(&self, parts: &[&[u8]]) -> [u8; AUTH_LEN] {
        let mut h = Md5::new();
        for p in parts {
            h.update(p);
        }
        h.update(&self.secret);
        h.finalize().into()
    }
}

/// What the request-side crypto needs to know about a template.
#[derive(Debug, Clone, Default)]
struct Slots {
    /// Offset of the Message-Authenticator's value.
    ma: Option<usize>,
    /// Offset of the User-Password value and the plaintext.
    password: Option<(usize, Vec<u8>)>,
    /// Offset of the CHAP-Password value (17 octets) and the plaintext.
    chap: Option<(usize, Vec<u8>)>,
    /// Offset and length of a CHAP-Challenge given in the input; the authenticator is
    /// the challenge otherwise (RFC 2865 section 2.2).
    chap_challenge: Option<(usize, usize)>,
}

/// Why a request cannot be encoded (a template error names the input line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request at line {line}: {why}")]
pub struct TemplateError {
    pub line: usize,
    pub why: String,
}

/// One request, encoded except for the per-packet fields.
#[derive(Debug, Clone)]
pub struct Template {
    code: Code,
    bytes: Vec<u8>,
    slots: Slots,
}

/// How the request-side Message-Authenticator is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaPolicy {
    /// First attribute of every Access-Request and Status-Server (the default; RFC 3579
    /// and the BlastRADIUS advisories want it there). Accounting gets one only if the
    /// input asks.
    Add,
    /// Only where the input has a `Message-Authenticator` line (radclient's behaviour);
    /// Status-Server always, since RFC 5997 requires it.
    AsInput,
}

impl Template {
    /// Encodes `req`. `default_code` is used when the input has no `Packet-Type`.
    pub fn encode(
        req: &Request,
        default_code: Code,
        ma: MaPolicy,
    ) -> Result<Template, TemplateError> {
        let code = req.code.unwrap_or(default_code);
        let fail = |why: String| TemplateError {
            line: req.line,
            why,
        };
        let wanted = req
            .attrs
            .iter()
            .any(|p| p.role == Role::MessageAuthenticator);
        let with_ma = match (code, ma) {
            (Code::StatusServer, _) => true,
            (Code::AccessRequest, MaPolicy::Add) => true,
            _ => wanted,
        };
        if code == Code::AccountingRequest
            && req
                .attrs
                .iter()
                .any(|p| matches!(p.role, Role::UserPassword | Role::ChapPassword))
        {
            return Err(fail("an Accounting-Request carries no password".into()));
        }
        let cleartext = req
            .attrs
            .iter()
            .find(|p| p.role == Role::Cleartext)
            .map(|p| p.value.clone());
        let mut bytes = Vec::with_capacity(256);
        let mut slots = Slots::default();
        let mut b = Builder::new(&mut bytes, code, 0, &[0; AUTH_LEN]);
        let full = |e: crate::wire::Error| fail(e.to_string());
        if with_ma {
            slots.ma = Some(b.len() + 2);
            b.message_authenticator().map_err(full)?;
        }
        for p in &req.attrs {
            match p.role {
                Role::MessageAuthenticator | Role::Cleartext => {}
                Role::Standard { typ, concat } => {
                    if typ == types::CHAP_CHALLENGE {
                        slots.chap_challenge = Some((b.len() + 2, p.value.len()));
                    }
                    if concat {
                        b.attr_concat(typ, &p.value).map_err(full)?;
                    } else {
                        b.attr(typ, &p.value).map_err(full)?;
                    }
                }
                Role::Vendor { vendor, typ } => {
                    b.vsa(vendor, typ, &p.value).map_err(full)?;
                }
                Role::UserPassword => {
                    let hidden = p.value.len().div_ceil(AUTH_LEN).max(1) * AUTH_LEN;
                    slots.password = Some((b.len() + 2, p.value.clone()));
                    b.attr(types::USER_PASSWORD, &[0; MAX_PASSWORD_LEN][..hidden])
                        .map_err(full)?;
                }
                Role::ChapPassword => {
                    let plain = if p.value.is_empty() {
                        cleartext.clone().unwrap_or_default()
                    } else {
                        p.value.clone()
                    };
                    slots.chap = Some((b.len() + 2, plain));
                    b.attr(types::CHAP_PASSWORD, &[0; 1 + AUTH_LEN])
                        .map_err(full)?;
                }
            }
        }
        Ok(Template { code, bytes, slots })
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// Length of every packet made from this template.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.len() == HEADER_LEN
    }

    /// Whether the request's authenticator is random (the caller supplies it) rather
    /// than hashed over the packet (Accounting-Request).
    pub fn random_authenticator(&self) -> bool {
        !self.code.has_hashed_request_authenticator()
    }

    /// Writes the request with `id` into `out` (at least [`Template::len`] octets) and
    /// signs it. `nonce` is the authenticator of an Access-Request or Status-Server
    /// (ignored for accounting). Returns the packet's length and its Request Authenticator, which the reply is
    /// checked against. Encoding again with the same `id` and `nonce` gives the same
    /// bytes, so a retransmission needs no copy of the packet.
    pub fn write(
        &self,
        out: &mut [u8],
        id: u8,
        nonce: &[u8; AUTH_LEN],
        keys: &Keys,
    ) -> (usize, [u8; AUTH_LEN]) {
        let len = self.bytes.len();
        let pkt = &mut out[..len];
        pkt.copy_from_slice(&self.bytes);
        Packet::new_unchecked(&mut *pkt).set_identifier(id);
        if self.code.has_hashed_request_authenticator() {
            // RFC 2866: Message-Authenticator over a zero authenticator, then the hash.
            if let Some(at) = self.slots.ma {
                let ma = keys.hmac(&[pkt]);
                pkt[at..at + AUTH_LEN].copy_from_slice(&ma);
            }
            let auth = keys.md5_then_secret(&[pkt]);
            Packet::new_unchecked(&mut *pkt).set_authenticator(&auth);
            return (len, auth);
        }
        Packet::new_unchecked(&mut *pkt).set_authenticator(nonce);
        if let Some((at, plain)) = &self.slots.password {
            let mut hidden = [0u8; MAX_PASSWORD_LEN];
            let n = crypto::hide_password(plain, keys.secret(), nonce, &mut hidden)
                .expect("password length checked when the input was read");
            pkt[*at..at + n].copy_from_slice(&hidden[..n]);
        }
        if let Some((at, plain)) = &self.slots.chap {
            let mut h = Md5::new();
            h.update([id]);
            h.update(plain);
            match self.slots.chap_challenge {
                Some((c, n)) => h.update(&pkt[c..c + n]),
                None => h.update(nonce),
            }
            pkt[*at] = id;
            pkt[at + 1..at + 1 + AUTH_LEN].copy_from_slice(&h.finalize());
        }
        if let Some(at) = self.slots.ma {
            let ma = keys.hmac(&[pkt]);
            pkt[at..at + AUTH_LEN].copy_from_slice(&ma);
        }
        (len, *nonce)
    }
}

/// What a verified reply said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accept,
    /// An Access-Accept carrying a `Class` that starts with `radcare;`: radcare turned
    /// a Reject into a walled-garden Accept.
    Rewrite,
    Reject,
    Challenge,
    AccountingResponse,
}

/// Why a reply was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    /// The code does not answer the request's code.
    WrongCode,
    BadAuthenticator,
    BadMessageAuthenticator,
}

/// Prefix of the Class radcare puts in a walled-garden Accept.
pub const REWRITE_CLASS_PREFIX: &[u8] = b"radcare;";

/// Checks a reply against the request it answers (its code and authenticator).
pub fn verify_reply(
    reply: &[u8],
    request_code: Code,
    request_auth: &[u8; AUTH_LEN],
    keys: &Keys,
) -> Result<Outcome, Invalid> {
    let p = Packet::new_checked(reply).map_err(|_| Invalid::Malformed)?;
    let outcome = match (request_code, p.code()) {
        (Code::AccessRequest | Code::StatusServer, Code::AccessAccept) => Outcome::Accept,
        (Code::AccessRequest, Code::AccessReject) => Outcome::Reject,
        (Code::AccessRequest, Code::AccessChallenge) => Outcome::Challenge,
        (Code::AccountingRequest | Code::StatusServer, Code::AccountingResponse) => {
            Outcome::AccountingResponse
        }
        _ => return Err(Invalid::WrongCode),
    };
    let bytes = p.as_bytes();
    let expect = keys.md5_then_secret(&[p.code_id_length(), request_auth, p.attributes()]);
    if !crypto::ct_eq(&expect, p.authenticator()) {
        return Err(Invalid::BadAuthenticator);
    }
    let mut rewrite = false;
    let mut ma = None;
    for a in p.attrs() {
        match a.typ {
            types::MESSAGE_AUTHENTICATOR if ma.is_none() => {
                if a.value.len() != AUTH_LEN {
                    return Err(Invalid::BadMessageAuthenticator);
                }
                ma = Some(a.offset + 2);
            }
            types::CLASS if a.value.starts_with(REWRITE_CLASS_PREFIX) => rewrite = true,
            _ => {}
        }
    }
    if let Some(at) = ma {
        let mac = keys.hmac(&[
            p.code_id_length(),
            request_auth,
            &bytes[HEADER_LEN..at],
            &[0; AUTH_LEN],
            &bytes[at + AUTH_LEN..],
        ]);
        if !crypto::ct_eq(&mac, &bytes[at..at + AUTH_LEN]) {
            return Err(Invalid::BadMessageAuthenticator);
        }
    }
    Ok(match outcome {
        Outcome::Accept if rewrite => Outcome::Rewrite,
        o => o,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::Dictionary;
    use crate::replay::input;
    use crate::wire::MAX_PACKET_LEN;
    use crate::wire::crypto::MaStatus;

    const SECRET: &[u8] = b"testing123";

    fn templates(text: &str, code: Code, ma: MaPolicy) -> Vec<Template> {
        let dict = Dictionary::builtin().unwrap();
        input::parse(text, &dict)
            .unwrap()
            .iter()
            .map(|r| Template::encode(r, code, ma).unwrap())
            .collect()
    }

    fn build(t: &Template, id: u8, nonce: [u8; 16]) -> (Vec<u8>, [u8; 16]) {
        let mut out = [0u8; MAX_PACKET_LEN];
        let (n, auth) = t.write(&mut out, id, &nonce, &Keys::new(SECRET));
        (out[..n].to_vec(), auth)
    }

    #[test]
    fn pap_request_verifies_and_the_oracle_decodes_it() {
        use radius::core::packet::Packet as Oracle;
        use radius::core::rfc2865;
        let t = templates(
            "User-Name = alice\nUser-Password = \"alice-pass\"\nNAS-Port = 7\n\
             Mikrotik-Rate-Limit = \"1M/2M\"",
            Code::AccessRequest,
            MaPolicy::Add,
        );
        let (pkt, auth) = build(&t[0], 42, [0x5a; 16]);
        assert_eq!(auth, [0x5a; 16]);
        let view = Packet::new_checked(&pkt[..]).unwrap();
        let first = view.attrs().next().unwrap();
        assert_eq!(first.typ, types::MESSAGE_AUTHENTICATOR, "first attribute");
        assert_eq!(
            crypto::verify_message_authenticator(&pkt, None, SECRET),
            MaStatus::Valid
        );
        let p = Oracle::decode(&pkt, SECRET).expect("oracle decodes our request");
        assert_eq!(p.get_identifier(), 42);
        assert_eq!(rfc2865::lookup_user_name(&p).unwrap().unwrap(), "alice");
        assert_eq!(
            rfc2865::lookup_user_password(&p).unwrap().unwrap(),
            b"alice-pass"
        );
        assert_eq!(rfc2865::lookup_nas_port(&p).unwrap().unwrap(), 7);
        let vsa = p.lookup(26).expect("Vendor-Specific").encode_bytes();
        assert_eq!(&vsa[..6], &[0, 0, 0x3a, 0x8c, 8, 7]);
        // Each write is a fresh packet: another id and nonce change the hidden password.
        let (pkt2, _) = build(&t[0], 43, [0x11; 16]);
        assert_eq!(pkt.len(), pkt2.len());
        let hidden = |p: &[u8]| {
            let p = Packet::new_checked(p).unwrap();
            p.find(types::USER_PASSWORD).unwrap().value.to_vec()
        };
        assert_ne!(hidden(&pkt), hidden(&pkt2));
        let p2 = Oracle::decode(&pkt2, SECRET).unwrap();
        assert_eq!(
            rfc2865::lookup_user_password(&p2).unwrap().unwrap(),
            b"alice-pass"
        );
    }

    #[test]
    fn chap_response_uses_the_authenticator_as_challenge() {
        let t = templates(
            "User-Name = bob\nCHAP-Password = bob-pass",
            Code::AccessRequest,
            MaPolicy::AsInput,
        );
        let nonce = [7u8; 16];
        let (pkt, _) = build(&t[0], 9, nonce);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        assert!(p.find(types::MESSAGE_AUTHENTICATOR).is_none());
        let chap = p.find(types::CHAP_PASSWORD).unwrap().value;
        let expect = Md5::new()
            .chain_update([9u8])
            .chain_update(b"bob-pass")
            .chain_update(nonce)
            .finalize();
        // CHAP-Password is the CHAP identifier, then the response.
        assert_eq!(chap.split_first(), Some((&9, &expect[..])));
        // And the demo AAA, which checks CHAP itself, accepts it... for a known user.
        let t = templates(
            "User-Name = alice\nCHAP-Password = alice-pass",
            Code::AccessRequest,
            MaPolicy::Add,
        );
        let (pkt, _) = build(&t[0], 3, nonce);
        let reply = crate::demo::answer(&pkt, SECRET).unwrap();
        assert_eq!(
            Packet::new_checked(&reply[..]).unwrap().code(),
            Code::AccessAccept
        );
        assert_eq!(
            verify_reply(&reply, Code::AccessRequest, &nonce, &Keys::new(SECRET)),
            Ok(Outcome::Accept)
        );
    }

    #[test]
    fn chap_with_an_explicit_challenge_and_cleartext() {
        let t = templates(
            "User-Name = bob\nCHAP-Challenge = 0x0102030405\nCleartext-Password = pw\n\
             CHAP-Password = \"\"",
            Code::AccessRequest,
            MaPolicy::Add,
        );
        let (pkt, _) = build(&t[0], 1, [0; 16]);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        let chap = p.find(types::CHAP_PASSWORD).unwrap().value;
        let expect = Md5::new()
            .chain_update([1u8])
            .chain_update(b"pw")
            .chain_update([1, 2, 3, 4, 5])
            .finalize();
        assert_eq!(
            chap.split_first().map(|(_, response)| response),
            Some(&expect[..])
        );
    }

    #[test]
    fn accounting_request_is_hashed() {
        use radius::core::packet::Packet as Oracle;
        let t = templates(
            "Acct-Status-Type = Start\nAcct-Session-Id = \"s-1\"\nUser-Name = alice",
            Code::AccountingRequest,
            MaPolicy::Add,
        );
        let (pkt, auth) = build(&t[0], 5, [0xee; 16]);
        assert!(crypto::verify_hashed_request(&pkt, SECRET));
        assert_eq!(
            Packet::new_checked(&pkt[..]).unwrap().authenticator(),
            &auth
        );
        assert!(
            Packet::new_checked(&pkt[..])
                .unwrap()
                .find(types::MESSAGE_AUTHENTICATOR)
                .is_none()
        );
        let p = Oracle::decode(&pkt, SECRET).unwrap();
        assert_eq!(p.get_code(), radius::core::code::Code::AccountingRequest);
        // With a Message-Authenticator asked for, both checks still pass.
        let t = templates(
            "Acct-Status-Type = Stop\nMessage-Authenticator = 0x00",
            Code::AccountingRequest,
            MaPolicy::Add,
        );
        let (pkt, _) = build(&t[0], 6, [0; 16]);
        assert!(crypto::verify_hashed_request(&pkt, SECRET));
        assert_eq!(
            crypto::verify_message_authenticator(&pkt, None, SECRET),
            MaStatus::Valid
        );
    }

    #[test]
    fn replies_are_checked_and_classified() {
        let keys = Keys::new(SECRET);
        let req_auth = [3u8; 16];
        let reply = |code: Code, class: Option<&[u8]>, ma: bool| {
            let mut buf = Vec::new();
            let mut b = Builder::new(&mut buf, code, 1, &[0; 16]);
            if ma {
                b.message_authenticator().unwrap();
            }
            if let Some(c) = class {
                b.attr(types::CLASS, c).unwrap();
            }
            crypto::sign_response(&mut buf, &req_auth, SECRET);
            buf
        };
        let ok = |r: &[u8]| verify_reply(r, Code::AccessRequest, &req_auth, &keys);
        assert_eq!(
            ok(&reply(Code::AccessAccept, None, true)),
            Ok(Outcome::Accept)
        );
        assert_eq!(
            ok(&reply(Code::AccessAccept, None, false)),
            Ok(Outcome::Accept)
        );
        assert_eq!(
            ok(&reply(
                Code::AccessAccept,
                Some(b"radcare;cause=arrears;g=1"),
                true
            )),
            Ok(Outcome::Rewrite)
        );
        assert_eq!(
            ok(&reply(Code::AccessAccept, Some(b"other"), true)),
            Ok(Outcome::Accept)
        );
        assert_eq!(
            ok(&reply(Code::AccessReject, None, true)),
            Ok(Outcome::Reject)
        );
        assert_eq!(
            ok(&reply(Code::AccountingResponse, None, false)),
            Err(Invalid::WrongCode)
        );
        let mut bad = reply(Code::AccessAccept, None, true);
        bad[30] ^= 1;
        assert_eq!(ok(&bad), Err(Invalid::BadAuthenticator));
        // A Message-Authenticator that does not verify, under a valid authenticator.
        let mut bad_ma = reply(Code::AccessAccept, None, true);
        bad_ma[25] ^= 1;
        let mut view = Packet::new_unchecked(&mut bad_ma[..]);
        let ra = keys.md5_then_secret(&[view.code_id_length(), &req_auth, view.attributes()]);
        view.set_authenticator(&ra);
        assert_eq!(ok(&bad_ma), Err(Invalid::BadMessageAuthenticator));
        assert_eq!(ok(&bad_ma[..10]), Err(Invalid::Malformed));
        assert_eq!(
            verify_reply(
                &reply(Code::AccessAccept, None, true),
                Code::AccessRequest,
                &[4u8; 16],
                &keys
            ),
            Err(Invalid::BadAuthenticator),
            "another request's authenticator"
        );
    }

    #[test]
    fn status_server_always_signed() {
        let t = templates(
            "Packet-Type = Status-Server\nNAS-Identifier = bench",
            Code::AccessRequest,
            MaPolicy::AsInput,
        );
        assert_eq!(t[0].code(), Code::StatusServer);
        let (pkt, _) = build(&t[0], 1, [1; 16]);
        assert_eq!(
            crypto::verify_message_authenticator(&pkt, None, SECRET),
            MaStatus::Valid
        );
        let reply = crate::demo::answer(&pkt, SECRET).expect("demo answers Status-Server");
        assert_eq!(
            verify_reply(&reply, Code::StatusServer, &[1; 16], &Keys::new(SECRET)),
            Ok(Outcome::Accept)
        );
    }
}
