//! Building the packets the proxy sends: the upstream copy of a NAS request, the NAS
//! copy of an upstream reply, and the walled-garden Accept. Each writes into a reusable
//! buffer and signs with the right secret; Message-Authenticator always goes first
//! (the BlastRADIUS defence).

use crate::wire::attr::{Attr, types, vendors};
use crate::wire::crypto::{self, SharedSecret};
use crate::wire::{Builder, Code, Error, Packet};

/// Keys for re-encrypting a packet's hidden attributes for the next hop.
pub struct Hop<'a> {
    pub from_secret: &'a SharedSecret,
    pub from_auth: &'a [u8; 16],
    pub to_secret: &'a SharedSecret,
    pub to_auth: &'a [u8; 16],
}

/// The signing a built packet still needs: build functions leave it for last, so that
/// the engine can sign the packets of a whole receive batch together in MD5 lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the packet is not signed until the seal is applied"]
pub enum Seal {
    /// An Access-Request with its random authenticator set: the Message-Authenticator.
    Request,
    /// A reply: the Message-Authenticator (if present), then the Response Authenticator
    /// over the request's authenticator.
    Response { request_auth: [u8; 16] },
}

impl Seal {
    /// Signs `out` now, with `secret`.
    pub fn apply(self, out: &mut [u8], secret: &SharedSecret) {
        match self {
            Seal::Request => crypto::sign_access_request(out, secret),
            Seal::Response { request_auth } => crypto::sign_response(out, &request_auth, secret),
        }
    }

    /// The authenticator the Message-Authenticator is computed over.
    pub fn ma_auth(&self, packet: &[u8]) -> [u8; 16] {
        match self {
            Seal::Request => *Packet::new_unchecked(packet).authenticator(),
            Seal::Response { request_auth } => *request_auth,
        }
    }
}

/// Writes the upstream copy of an Access-Request: Message-Authenticator first, the NAS's
/// attributes in order with User-Password re-hidden, CHAP-Challenge added when the NAS
/// relied on its Request Authenticator as the challenge. Unsigned: apply the returned
/// seal with the upstream's secret.
pub fn upstream_access_request(
    nas: &Packet<&[u8]>,
    id: u8,
    hop: &Hop<'_>,
    out: &mut Vec<u8>,
) -> Result<Seal, Error> {
    let mut b = Builder::new(out, Code::AccessRequest, id, hop.to_auth);
    b.message_authenticator()?;
    let (mut chap, mut challenge) = (false, false);
    let mut tmp = [0u8; 255];
    for a in nas.attrs() {
        match a.typ {
            types::MESSAGE_AUTHENTICATOR => continue,
            types::USER_PASSWORD => {
                let v = &mut tmp[..a.value.len()];
                v.copy_from_slice(a.value);
                crypto::rehide_password(
                    v,
                    hop.from_secret.as_bytes(),
                    hop.from_auth,
                    hop.to_secret.as_bytes(),
                    hop.to_auth,
                )?;
                b.attr(types::USER_PASSWORD, v)?;
            }
            types::TUNNEL_PASSWORD if a.value.len() > 1 => {
                let v = &mut tmp[..a.value.len()];
                v.copy_from_slice(a.value);
                crypto::resalt(
                    &mut v[1..],
                    hop.from_secret.as_bytes(),
                    hop.from_auth,
                    hop.to_secret.as_bytes(),
                    hop.to_auth,
                )?;
                b.attr(types::TUNNEL_PASSWORD, v)?;
            }
            typ => {
                chap |= typ == types::CHAP_PASSWORD;
                challenge |= typ == types::CHAP_CHALLENGE;
                b.raw(&nas.as_bytes()[a.offset..a.offset + 2 + a.value.len()])?;
            }
        }
    }
    if chap && !challenge {
        b.attr(types::CHAP_CHALLENGE, hop.from_auth)?;
    }
    Ok(Seal::Request)
}

/// Writes the upstream copy of an Accounting-Request (no Message-Authenticator: RFC 3579
/// leaves it out of accounting, and several servers refuse it).
pub fn upstream_accounting_request(
    nas: &Packet<&[u8]>,
    id: u8,
    secret: &SharedSecret,
    out: &mut Vec<u8>,
) -> Result<[u8; 16], Error> {
    let mut b = Builder::new(out, Code::AccountingRequest, id, &[0; 16]);
    for a in nas
        .attrs()
        .filter(|a| a.typ != types::MESSAGE_AUTHENTICATOR)
    {
        b.raw(&nas.as_bytes()[a.offset..a.offset + 2 + a.value.len()])?;
    }
    crypto::sign_hashed_request(out, secret);
    Ok(*Packet::new_unchecked(&out[..]).authenticator())
}

/// Writes the NAS copy of an upstream reply: same code and attributes, our
/// Message-Authenticator first (not in an Accounting-Response, see
/// [`accounting_response`]), salted attributes re-encrypted as they are copied, however
/// many there are. Unsigned: apply the returned seal with the NAS's secret.
pub fn relay_reply(
    reply: &Packet<&[u8]>,
    nas_id: u8,
    hop: &Hop<'_>,
    out: &mut Vec<u8>,
) -> Result<Seal, Error> {
    let mut b = Builder::new(out, reply.code(), nas_id, &[0; 16]);
    if reply.code() != Code::AccountingResponse {
        b.message_authenticator()?;
    }
    let mut tmp = [0u8; 255];
    for a in reply
        .attrs()
        .filter(|a| a.typ != types::MESSAGE_AUTHENTICATOR)
    {
        let raw = &reply.as_bytes()[a.offset..a.offset + 2 + a.value.len()];
        let copy = &mut tmp[..raw.len()];
        copy.copy_from_slice(raw);
        if reencrypt_attribute(&a, copy, hop)? {
            b.raw(copy)?;
        } else {
            b.raw(raw)?;
        }
    }
    Ok(Seal::Response {
        request_auth: *hop.to_auth,
    })
}

/// Tunnel-Password and MS-MPPE-Send/Recv-Key are salt-encrypted with the secret and the
/// request authenticator of the hop: re-encrypts those of `copy` (a copy of `a`) for
/// the NAS. False if it holds none.
fn reencrypt_attribute(a: &Attr<'_>, copy: &mut [u8], hop: &Hop<'_>) -> Result<bool, Error> {
    let resalt = |v: &mut [u8]| {
        crypto::resalt(
            v,
            hop.from_secret.as_bytes(),
            hop.from_auth,
            hop.to_secret.as_bytes(),
            hop.to_auth,
        )
    };
    if a.typ == types::TUNNEL_PASSWORD && a.value.len() > 1 {
        // Type, length, tag, then the salt and the encrypted string.
        resalt(&mut copy[3..])?;
        return Ok(true);
    }
    let mut found = false;
    if let Some(v) = a.vsa().filter(|v| v.vendor == vendors::MICROSOFT) {
        for s in v.subs().flatten() {
            if s.typ == u32::from(vendors::MS_MPPE_SEND_KEY)
                || s.typ == u32::from(vendors::MS_MPPE_RECV_KEY)
            {
                let at = s.offset - a.offset;
                resalt(&mut copy[at..at + s.value.len()])?;
                found = true;
            }
        }
    }
    Ok(found)
}

/// What goes into a walled-garden Accept besides the profile.
pub struct GardenAccept<'a> {
    pub nas_id: u8,
    pub nas_auth: &'a [u8; 16],
    pub profile: &'a [u8],
    pub session_timeout: u32,
    pub class: &'a [u8],
    /// The NAS request, whose Proxy-State attributes are copied back in order.
    pub request: &'a Packet<&'a [u8]>,
}

/// Writes the Access-Accept that replaces a Reject: Message-Authenticator first, the
/// profile's attributes, Session-Timeout, the Class tag, Proxy-State. No Reply-Message
/// and no MS-CHAP-Error: they would contradict the Accept. Unsigned: apply the returned
/// seal with the NAS's secret.
pub fn garden_accept(g: &GardenAccept<'_>, out: &mut Vec<u8>) -> Result<Seal, Error> {
    let mut b = Builder::new(out, Code::AccessAccept, g.nas_id, &[0; 16]);
    b.message_authenticator()?;
    b.raw(g.profile)?;
    b.attr_u32(types::SESSION_TIMEOUT, g.session_timeout)?;
    b.attr(types::CLASS, g.class)?;
    for a in g.request.attrs().filter(|a| a.typ == types::PROXY_STATE) {
        b.attr(types::PROXY_STATE, a.value)?;
    }
    Ok(Seal::Response {
        request_auth: *g.nas_auth,
    })
}

/// Writes an Accounting-Response we answer ourselves (walled-garden sessions). No
/// Message-Authenticator: RFC 2866 defines none for accounting, and implementations
/// disagree on how to compute one (FreeRADIUS zeroes the authenticator), so adding it
/// would make NASes drop the answer.
pub fn accounting_response(
    request: &Packet<&[u8]>,
    secret: &SharedSecret,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut b = Builder::new(
        out,
        Code::AccountingResponse,
        request.identifier(),
        &[0; 16],
    );
    for a in request.attrs().filter(|a| a.typ == types::PROXY_STATE) {
        b.attr(types::PROXY_STATE, a.value)?;
    }
    crypto::sign_response(out, request.authenticator(), secret);
    Ok(())
}

/// Writes our answer to a Status-Server (RFC 5997 section 3).
pub fn status_reply(
    request: &Packet<&[u8]>,
    code: Code,
    secret: &SharedSecret,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut b = Builder::new(out, code, request.identifier(), &[0; 16]);
    b.message_authenticator()?;
    crypto::sign_response(out, request.authenticator(), secret);
    Ok(())
}

/// Writes a Status-Server probe for an upstream.
pub fn status_probe(
    id: u8,
    auth: &[u8; 16],
    secret: &SharedSecret,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut b = Builder::new(out, Code::StatusServer, id, auth);
    b.message_authenticator()?;
    crypto::sign_access_request(out, secret);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve Tunnel-Passwords and a Microsoft VSA with both MPPE keys: every one of
    /// them reaches the NAS decryptable with its secret and authenticator.
    #[test]
    fn every_salted_attribute_is_reencrypted_however_many() {
        let (aaa, nas) = (SharedSecret::new(b"aaa"), SharedSecret::new(b"nas"));
        let (up_auth, nas_auth) = ([1u8; 16], [2u8; 16]);
        let mut reply = Vec::new();
        let mut b = Builder::new(&mut reply, Code::AccessAccept, 9, &[0; 16]);
        let mut v = [0u8; 2 + 256];
        for i in 0..12u8 {
            let n =
                crypto::tunnel_password_encrypt(&[b'a' + i; 5], [i, i], b"aaa", &up_auth, &mut v)
                    .unwrap();
            let mut tagged = vec![i + 1];
            tagged.extend_from_slice(&v[..n]);
            b.attr(types::TUNNEL_PASSWORD, &tagged).unwrap();
        }
        // Vendor 311: Send-Key and Recv-Key sub-attributes, each salt + 32 octets.
        let mut keys = vec![];
        for (typ, fill) in [
            (vendors::MS_MPPE_SEND_KEY, 0x11),
            (vendors::MS_MPPE_RECV_KEY, 0x22),
        ] {
            let mut k = [fill; 34];
            k[0] = 0x80 | typ;
            crypto::salt_encrypt(&mut k, b"aaa", &up_auth).unwrap();
            keys.extend_from_slice(&[typ, 36]);
            keys.extend_from_slice(&k);
        }
        let mut vsa = vendors::MICROSOFT.to_be_bytes().to_vec();
        vsa.extend_from_slice(&keys);
        b.attr(types::VENDOR_SPECIFIC, &vsa).unwrap();
        let hop = Hop {
            from_secret: &aaa,
            from_auth: &up_auth,
            to_secret: &nas,
            to_auth: &nas_auth,
        };
        let mut out = Vec::new();
        let _ = relay_reply(&Packet::new_unchecked(&reply[..]), 3, &hop, &mut out).unwrap();
        let p = Packet::new_checked(&out[..]).unwrap();
        let tunnel: Vec<_> = p
            .attrs()
            .filter(|a| a.typ == types::TUNNEL_PASSWORD)
            .collect();
        assert_eq!(tunnel.len(), 12);
        for (i, a) in tunnel.iter().enumerate() {
            let mut v = a.value[1..].to_vec();
            let plain = crypto::tunnel_password_decrypt(&mut v, b"nas", &nas_auth).unwrap();
            assert_eq!(plain, [b'a' + i as u8; 5], "Tunnel-Password {}", i + 1);
        }
        let ms = p.attrs().find_map(|a| a.vsa()).unwrap();
        let subs: Vec<_> = ms.subs().flatten().collect();
        assert_eq!(subs.len(), 2);
        for (s, fill) in subs.iter().zip([0x11, 0x22]) {
            let mut k = s.value.to_vec();
            crypto::salt_decrypt(&mut k, b"nas", &nas_auth).unwrap();
            assert_eq!(k[2..], [fill; 32]);
        }
    }
}
