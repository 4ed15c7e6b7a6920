//! RADIUS cryptography: authenticators (RFC 2865 section 3, RFC 2866 section 3,
//! RFC 5176 section 2.3), User-Password hiding (RFC 2865 section 5.2), salt encryption of
//! Tunnel-Password and MS-MPPE keys (RFC 2868 section 3.5, RFC 2548 section 2.4.2), and
//! Message-Authenticator (RFC 3579 section 3.2, RFC 5176 section 3.4).
//!
//! Nothing here allocates: these run several times per proxied packet. Functions take the
//! whole packet (up to its Length) and the authenticator to hash in place of the header's,
//! so callers never copy a packet to zero a field.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};

use super::attr::types::MESSAGE_AUTHENTICATOR;
use super::md5x::{self, Lanes};
use super::{AUTH_LEN, Error, HEADER_LEN};

type HmacMd5 = Hmac<Md5>;

/// A shared secret with its HMAC-MD5 key schedule done once: every Message-Authenticator
/// would otherwise hash the padded key twice before the packet.
#[derive(Clone)]
pub struct SharedSecret {
    bytes: Vec<u8>,
    hmac: HmacMd5,
    /// MD5 states after the ipad and the opad key blocks, for [`super::md5x`] lanes.
    inner: [u32; 4],
    outer: [u32; 4],
}

impl SharedSecret {
    pub fn new(bytes: &[u8]) -> SharedSecret {
        // RFC 2104: a key longer than the block is hashed first, then zero-padded.
        let mut key = [0u8; 64];
        if bytes.len() > 64 {
            key[..16].copy_from_slice(&Md5::digest(bytes));
        } else {
            key[..bytes.len()].copy_from_slice(bytes);
        }
        let keyed = |pad: u8| {
            let mut state = md5x::INIT;
            md5x::compress(&mut state, &key.map(|k| k ^ pad));
            state
        };
        SharedSecret {
            bytes: bytes.to_vec(),
            hmac: HmacMd5::new_from_slice(bytes).expect("HMAC takes any key length"),
            inner: keyed(0x36),
            outer: keyed(0x5c),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// Anything usable as a shared secret: plain bytes, or a [`SharedSecret`] with its HMAC
/// key prepared.
pub trait Secret {
    fn bytes(&self) -> &[u8];
    fn hmac(&self) -> HmacMd5 {
        HmacMd5::new_from_slice(self.bytes()).expect("HMAC takes any key length")
    }
}

impl Secret for [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> Secret for [u8; N] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Secret for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Secret for SharedSecret {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn hmac(&self) -> HmacMd5 {
        self.hmac.clone()
    }
}

/// Longest User-Password plaintext (RFC 2865 section 5.2).
pub const MAX_PASSWORD_LEN: usize = 128;

const ZERO_AUTH: [u8; AUTH_LEN] = [0; AUTH_LEN];

/// Compares in time independent of where the first difference is.
/// Fills `buf` straight from the operating system's random source: keys, seeds,
/// tokens, session ids, nonces, what an attacker would have to guess, so never a
/// seeded generator. Panics if the OS has none to give.
pub fn os_random(buf: &mut [u8]) {
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, buf)
        .expect("the operating system's random source");
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// MD5(Code+ID+Length + `auth` + Attributes + Secret) over `packet` (header through
/// attributes) with `auth` in place of the authenticator field.
fn md5_with_auth(packet: &[u8], auth: &[u8; AUTH_LEN], secret: &[u8]) -> [u8; AUTH_LEN] {
    let mut h = Md5::new();
    h.update(&packet[..4]);
    h.update(auth);
    h.update(&packet[HEADER_LEN..]);
    h.update(secret);
    h.finalize().into()
}

/// Response Authenticator of a reply (RFC 2865 section 3): needs the request's authenticator.
pub fn response_authenticator(
    reply: &[u8],
    request_auth: &[u8; AUTH_LEN],
    secret: &(impl Secret + ?Sized),
) -> [u8; AUTH_LEN] {
    md5_with_auth(reply, request_auth, secret.bytes())
}

/// Request Authenticator of an Accounting-, CoA- or Disconnect-Request (RFC 2866, 5176).
pub fn hashed_request_authenticator(
    request: &[u8],
    secret: &(impl Secret + ?Sized),
) -> [u8; AUTH_LEN] {
    md5_with_auth(request, &ZERO_AUTH, secret.bytes())
}

pub fn verify_response(
    reply: &[u8],
    request_auth: &[u8; AUTH_LEN],
    secret: &(impl Secret + ?Sized),
) -> bool {
    ct_eq(
        &response_authenticator(reply, request_auth, secret),
        &reply[4..HEADER_LEN],
    )
}

pub fn verify_hashed_request(request: &[u8], secret: &(impl Secret + ?Sized)) -> bool {
    ct_eq(
        &hashed_request_authenticator(request, secret),
        &request[4..HEADER_LEN],
    )
}

/// Offset of the first Message-Authenticator's value, if the packet has a well-formed one.
pub fn find_message_authenticator(packet: &[u8]) -> Option<usize> {
    match locate_message_authenticator(packet) {
        MaField::At(at) => Some(at),
        MaField::Absent | MaField::Malformed => None,
    }
}

/// Where a packet's Message-Authenticator is, if it has a well-formed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaField {
    Absent,
    /// Offset of its 16-octet value.
    At(usize),
    /// One of the wrong length (RFC 3579: 18 octets with its header): not a missing
    /// one, but a packet to drop, as FreeRADIUS does.
    Malformed,
}

pub fn locate_message_authenticator(packet: &[u8]) -> MaField {
    let mut pos = HEADER_LEN;
    while pos + 2 <= packet.len() {
        let (typ, len) = (packet[pos], packet[pos + 1] as usize);
        if len < 2 {
            return MaField::Absent;
        }
        if typ == MESSAGE_AUTHENTICATOR {
            return if len == 2 + AUTH_LEN && pos + len <= packet.len() {
                MaField::At(pos + 2)
            } else {
                MaField::Malformed
            };
        }
        pos += len;
    }
    MaField::Absent
}

/// HMAC-MD5 over `packet` with `auth` in the authenticator field and the 16 octets at
/// `ma_value` taken as zero (RFC 3579 section 3.2).
pub fn message_authenticator(
    packet: &[u8],
    auth: &[u8; AUTH_LEN],
    ma_value: usize,
    secret: &(impl Secret + ?Sized),
) -> [u8; AUTH_LEN] {
    let mut mac = secret.hmac();
    mac.update(&packet[..4]);
    mac.update(auth);
    mac.update(&packet[HEADER_LEN..ma_value]);
    mac.update(&ZERO_AUTH);
    mac.update(&packet[ma_value + AUTH_LEN..]);
    mac.finalize().into_bytes().into()
}

/// What a packet's Message-Authenticator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaStatus {
    Absent,
    Valid,
    Invalid,
}

impl MaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MaStatus::Absent => "absent",
            MaStatus::Valid => "valid",
            MaStatus::Invalid => "invalid",
        }
    }
}

/// The authenticator that goes in the header while a packet's Message-Authenticator is
/// computed: the request's own for Access-Request and Status-Server, the request's for a
/// reply, zeros for Accounting-, CoA- and Disconnect-Request.
pub fn ma_auth_for(packet: &[u8], request_auth: Option<&[u8; AUTH_LEN]>) -> [u8; AUTH_LEN] {
    match (super::Code::from(packet[0]), request_auth) {
        (c, _) if c.has_hashed_request_authenticator() => ZERO_AUTH,
        (c, Some(ra)) if c.is_response() => *ra,
        _ => packet[4..HEADER_LEN].try_into().expect("16 octets"),
    }
}

/// Checks the Message-Authenticator of a packet. For replies pass the request's
/// authenticator; for requests pass `None`.
pub fn verify_message_authenticator(
    packet: &[u8],
    request_auth: Option<&[u8; AUTH_LEN]>,
    secret: &(impl Secret + ?Sized),
) -> MaStatus {
    let at = match locate_message_authenticator(packet) {
        MaField::At(at) => at,
        MaField::Absent => return MaStatus::Absent,
        MaField::Malformed => return MaStatus::Invalid,
    };
    let auth = ma_auth_for(packet, request_auth);
    if ct_eq(
        &message_authenticator(packet, &auth, at, secret),
        &packet[at..at + AUTH_LEN],
    ) {
        MaStatus::Valid
    } else {
        MaStatus::Invalid
    }
}

/// Queues, as a job in `lanes`, the inner hash of a packet's Message-Authenticator:
/// the packet with `auth` in the header and the value at `ma_value` taken as zero. Its
/// digest goes to [`push_message_authenticator_outer`].
pub fn push_message_authenticator_inner(
    lanes: &mut Lanes,
    packet: &[u8],
    auth: &[u8; AUTH_LEN],
    ma_value: usize,
    secret: &SharedSecret,
) -> usize {
    let (job, buf) = lanes.push(secret.inner, 64);
    buf.extend_from_slice(&packet[..4]);
    buf.extend_from_slice(auth);
    buf.extend_from_slice(&packet[HEADER_LEN..ma_value]);
    buf.extend_from_slice(&ZERO_AUTH);
    buf.extend_from_slice(&packet[ma_value + AUTH_LEN..]);
    job
}

/// Queues the outer hash of a Message-Authenticator over its inner digest; this job's
/// digest is the Message-Authenticator.
pub fn push_message_authenticator_outer(
    lanes: &mut Lanes,
    inner: &[u8; AUTH_LEN],
    secret: &SharedSecret,
) -> usize {
    let (job, buf) = lanes.push(secret.outer, 64);
    buf.extend_from_slice(inner);
    job
}

/// Queues the Response Authenticator of a reply (or, with a zero `auth`, the hashed
/// authenticator of an Accounting-Request); its digest is the authenticator.
pub fn push_authenticator(
    lanes: &mut Lanes,
    packet: &[u8],
    auth: &[u8; AUTH_LEN],
    secret: &(impl Secret + ?Sized),
) -> usize {
    let (job, buf) = lanes.push(md5x::INIT, 0);
    buf.extend_from_slice(&packet[..4]);
    buf.extend_from_slice(auth);
    buf.extend_from_slice(&packet[HEADER_LEN..]);
    buf.extend_from_slice(secret.bytes());
    job
}

/// Fills in the Message-Authenticator (if the packet has one) and then the authenticator
/// field of a reply, in that order as RFC 3579 requires.
pub fn sign_response(
    reply: &mut [u8],
    request_auth: &[u8; AUTH_LEN],
    secret: &(impl Secret + ?Sized),
) {
    if let Some(at) = find_message_authenticator(reply) {
        let ma = message_authenticator(reply, request_auth, at, secret);
        reply[at..at + AUTH_LEN].copy_from_slice(&ma);
    }
    let ra = response_authenticator(reply, request_auth, secret);
    reply[4..HEADER_LEN].copy_from_slice(&ra);
}

/// Signs an Access-Request or Status-Server whose random authenticator is already set.
pub fn sign_access_request(request: &mut [u8], secret: &(impl Secret + ?Sized)) {
    if let Some(at) = find_message_authenticator(request) {
        let auth: [u8; AUTH_LEN] = request[4..HEADER_LEN].try_into().expect("16 octets");
        let ma = message_authenticator(request, &auth, at, secret);
        request[at..at + AUTH_LEN].copy_from_slice(&ma);
    }
}

/// Signs an Accounting-, CoA- or Disconnect-Request: Message-Authenticator (if present)
/// over a zero authenticator, then the hashed Request Authenticator.
pub fn sign_hashed_request(request: &mut [u8], secret: &(impl Secret + ?Sized)) {
    if let Some(at) = find_message_authenticator(request) {
        let ma = message_authenticator(request, &ZERO_AUTH, at, secret);
        request[at..at + AUTH_LEN].copy_from_slice(&ma);
    }
    let ra = hashed_request_authenticator(request, secret);
    request[4..HEADER_LEN].copy_from_slice(&ra);
}

/// XORs `data` in 16-octet blocks with the chain b1 = MD5(S + seed...), bi = MD5(S + c(i-1)),
/// the scheme shared by User-Password and salt encryption. `encrypt` selects whether the
/// chain feeds on the output (hiding) or the input (un-hiding).
fn md5_chain(data: &mut [u8], secret: &[u8], seed: &[&[u8]], encrypt: bool) {
    let keyed = Md5::new_with_prefix(secret);
    let mut prev = [0u8; AUTH_LEN];
    for (i, block) in data.chunks_mut(AUTH_LEN).enumerate() {
        let mut h = keyed.clone();
        if i == 0 {
            for s in seed {
                h.update(s);
            }
        } else {
            h.update(prev);
        }
        let b: [u8; AUTH_LEN] = h.finalize().into();
        if !encrypt {
            prev[..block.len()].copy_from_slice(block);
        }
        for (x, k) in block.iter_mut().zip(b) {
            *x ^= k;
        }
        if encrypt {
            prev[..block.len()].copy_from_slice(block);
        }
    }
}

/// Hides a User-Password (RFC 2865 section 5.2) into `out`, returning the hidden length
/// (the plaintext padded with NULs to a multiple of 16).
pub fn hide_password(
    plain: &[u8],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
    out: &mut [u8; MAX_PASSWORD_LEN],
) -> Result<usize, Error> {
    if plain.len() > MAX_PASSWORD_LEN {
        return Err(Error::ValueTooLong);
    }
    let len = plain.len().div_ceil(AUTH_LEN).max(1) * AUTH_LEN;
    out[..len].fill(0);
    out[..plain.len()].copy_from_slice(plain);
    md5_chain(&mut out[..len], secret, &[request_auth], true);
    Ok(len)
}

/// Un-hides a User-Password into `out`, returning the plaintext length without the
/// trailing NUL padding.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
    out: &mut [u8; MAX_PASSWORD_LEN],
) -> Result<usize, Error> {
    if hidden.is_empty()
        || !hidden.len().is_multiple_of(AUTH_LEN)
        || hidden.len() > MAX_PASSWORD_LEN
    {
        return Err(Error::BadHiddenPassword);
    }
    out[..hidden.len()].copy_from_slice(hidden);
    md5_chain(&mut out[..hidden.len()], secret, &[request_auth], false);
    let end = out[..hidden.len()]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p + 1);
    Ok(end)
}

/// Re-hides a User-Password in place for another hop, keeping its padded length, so a
/// proxy rewrites the attribute without moving any other byte of the packet.
pub fn rehide_password(
    value: &mut [u8],
    from_secret: &[u8],
    from_auth: &[u8; AUTH_LEN],
    to_secret: &[u8],
    to_auth: &[u8; AUTH_LEN],
) -> Result<(), Error> {
    if value.is_empty() || !value.len().is_multiple_of(AUTH_LEN) || value.len() > MAX_PASSWORD_LEN {
        return Err(Error::BadHiddenPassword);
    }
    md5_chain(value, from_secret, &[from_auth], false);
    md5_chain(value, to_secret, &[to_auth], true);
    Ok(())
}

/// Salt-encrypts `value` in place (RFC 2868 section 3.5): `value` is salt (2 octets, high
/// bit set) followed by the already padded "length octet + data" plaintext.
pub fn salt_encrypt(
    value: &mut [u8],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
) -> Result<(), Error> {
    let (salt, body) = split_salted(value)?;
    md5_chain(body, secret, &[request_auth, &salt], true);
    Ok(())
}

/// Reverses [`salt_encrypt`] in place; the padded plaintext stays in the buffer.
pub fn salt_decrypt(
    value: &mut [u8],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
) -> Result<(), Error> {
    let (salt, body) = split_salted(value)?;
    md5_chain(body, secret, &[request_auth, &salt], false);
    Ok(())
}

fn split_salted(value: &mut [u8]) -> Result<([u8; 2], &mut [u8]), Error> {
    if value.len() < 2 + AUTH_LEN || !(value.len() - 2).is_multiple_of(AUTH_LEN) {
        return Err(Error::BadSaltedValue);
    }
    let (salt, body) = value.split_at_mut(2);
    Ok(([salt[0], salt[1]], body))
}

/// Re-encrypts a salted value in place for another hop (Tunnel-Password, MS-MPPE keys in
/// a proxied Accept). The salt is kept; RFC 2868 only requires it to be unique per
/// packet, which holds because the NAS-side packet is a different packet.
pub fn resalt(
    value: &mut [u8],
    from_secret: &[u8],
    from_auth: &[u8; AUTH_LEN],
    to_secret: &[u8],
    to_auth: &[u8; AUTH_LEN],
) -> Result<(), Error> {
    salt_decrypt(value, from_secret, from_auth)?;
    salt_encrypt(value, to_secret, to_auth)
}

/// Builds a salted Tunnel-Password value (without the tag octet) into `out`.
pub fn tunnel_password_encrypt(
    plain: &[u8],
    salt: [u8; 2],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
    out: &mut [u8; 2 + 256],
) -> Result<usize, Error> {
    if plain.len() > 240 {
        return Err(Error::ValueTooLong);
    }
    let body = (1 + plain.len()).div_ceil(AUTH_LEN) * AUTH_LEN;
    out[..2 + body].fill(0);
    out[0] = salt[0] | 0x80;
    out[1] = salt[1];
    out[2] = plain.len() as u8;
    out[3..3 + plain.len()].copy_from_slice(plain);
    salt_encrypt(&mut out[..2 + body], secret, request_auth)?;
    Ok(2 + body)
}

/// Decrypts a Tunnel-Password value (without the tag octet) and returns the plaintext.
pub fn tunnel_password_decrypt<'a>(
    value: &'a mut [u8],
    secret: &[u8],
    request_auth: &[u8; AUTH_LEN],
) -> Result<&'a [u8], Error> {
    salt_decrypt(value, secret, request_auth)?;
    let len = value[2] as usize;
    value.get(3..3 + len).ok_or(Error::BadSaltedValue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_authenticator_of_the_wrong_length_is_malformed() {
        let mut pkt = vec![1, 1, 0, 0];
        pkt.extend_from_slice(&[0; 16]);
        pkt.extend_from_slice(&[1, 5, b'b', b'o', b'b']);
        let base = pkt.len();
        assert_eq!(locate_message_authenticator(&pkt), MaField::Absent);
        pkt.extend_from_slice(&[80, 12]);
        pkt.extend_from_slice(&[0; 10]);
        let len = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(locate_message_authenticator(&pkt), MaField::Malformed);
        assert_eq!(
            verify_message_authenticator(&pkt, None, b"s".as_slice()),
            MaStatus::Invalid
        );
        pkt.truncate(base);
        pkt.extend_from_slice(&[80, 18]);
        pkt.extend_from_slice(&[0; 16]);
        let len = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(locate_message_authenticator(&pkt), MaField::At(base + 2));
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    const SECRET: &[u8] = b"xyzzy5461";
    /// RFC 2865 section 7 examples, extracted byte for byte from the RFC text.
    macro_rules! rfc {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/rfc2865/",
                $name,
                ".hex"
            ))
        };
    }
    const PAP_REQ: &str = rfc!("7.1-request");
    const PAP_ACC: &str = rfc!("7.1-accept");
    const CHAP_REQ: &str = rfc!("7.2-request");
    const CHAP_ACC: &str = rfc!("7.2-accept");
    const CHAL_REQ: &str = rfc!("7.3-request");
    const CHAL: &str = rfc!("7.3-challenge");
    const CHAL_REQ2: &str = rfc!("7.3-request2");
    const REJ: &str = rfc!("7.3-reject");

    fn auth_of(p: &[u8]) -> [u8; 16] {
        p[4..20].try_into().unwrap()
    }

    #[test]
    fn rfc2865_section7_response_authenticators_verify() {
        for (req, resp) in [
            (PAP_REQ, PAP_ACC),
            (CHAP_REQ, CHAP_ACC),
            (CHAL_REQ, CHAL),
            (CHAL_REQ2, REJ),
        ] {
            let (req, resp) = (h(req), h(resp));
            assert_eq!(req.len(), u16::from_be_bytes([req[2], req[3]]) as usize);
            assert_eq!(resp.len(), u16::from_be_bytes([resp[2], resp[3]]) as usize);
            assert!(verify_response(&resp, &auth_of(&req), SECRET));
            assert!(!verify_response(&resp, &auth_of(&req), b"wrong"));
        }
    }

    #[test]
    fn rfc2865_section7_passwords_unhide() {
        let mut out = [0u8; MAX_PASSWORD_LEN];
        let req = h(PAP_REQ);
        let n = unhide_password(&req[28..44], SECRET, &auth_of(&req), &mut out).unwrap();
        assert_eq!(&out[..n], b"arctangent");
        // The challenge-response example hides the card's answers the same way.
        let req = h(CHAL_REQ2);
        let n = unhide_password(&req[29..45], SECRET, &auth_of(&req), &mut out).unwrap();
        assert_eq!(&out[..n], b"99101462");
        let mut again = [0u8; MAX_PASSWORD_LEN];
        let len = hide_password(b"99101462", SECRET, &auth_of(&req), &mut again).unwrap();
        assert_eq!(&again[..len], &req[29..45]);
    }

    #[test]
    fn hide_long_password_round_trip_and_rehide() {
        let plain = b"a much longer password that spans three md5 blocks!";
        let (a1, a2) = ([7u8; 16], [9u8; 16]);
        let mut out = [0u8; MAX_PASSWORD_LEN];
        let n = hide_password(plain, b"s1", &a1, &mut out).unwrap();
        assert_eq!(n, 64);
        let mut hidden = out[..n].to_vec();
        rehide_password(&mut hidden, b"s1", &a1, b"other", &a2).unwrap();
        let mut back = [0u8; MAX_PASSWORD_LEN];
        let m = unhide_password(&hidden, b"other", &a2, &mut back).unwrap();
        assert_eq!(&back[..m], plain);
        assert_eq!(
            unhide_password(&hidden[..15], b"x", &a2, &mut back),
            Err(Error::BadHiddenPassword)
        );
    }

    #[test]
    fn empty_password_hides_to_one_block() {
        let mut out = [0u8; MAX_PASSWORD_LEN];
        assert_eq!(hide_password(b"", b"s", &[0; 16], &mut out), Ok(16));
    }

    #[test]
    fn tunnel_password_round_trip_and_resalt() {
        let auth = [3u8; 16];
        let mut out = [0u8; 258];
        let n =
            tunnel_password_encrypt(b"tunnel-secret", [0x12, 0x34], b"s", &auth, &mut out).unwrap();
        assert_eq!(n, 2 + 16);
        assert_eq!(out[0], 0x92, "salt high bit is set");
        let mut v = out[..n].to_vec();
        resalt(&mut v, b"s", &auth, b"t", &[4; 16]).unwrap();
        assert_eq!(
            tunnel_password_decrypt(&mut v, b"t", &[4; 16]).unwrap(),
            b"tunnel-secret"
        );
        assert_eq!(
            salt_decrypt(&mut [0u8; 5], b"s", &auth),
            Err(Error::BadSaltedValue)
        );
    }

    #[test]
    fn tunnel_password_known_answer() {
        // Independent computation of RFC 2868 3.5: b1 = MD5(S + R + A), c1 = p1 xor b1.
        let (secret, auth, salt) = (b"secret", [0xabu8; 16], [0x85u8, 0x01]);
        let mut p1 = [0u8; 16];
        p1[0] = 4;
        p1[1..5].copy_from_slice(b"pass");
        let b1: [u8; 16] = Md5::new()
            .chain_update(secret)
            .chain_update(auth)
            .chain_update(salt)
            .finalize()
            .into();
        let mut out = [0u8; 258];
        let n = tunnel_password_encrypt(b"pass", salt, secret, &auth, &mut out).unwrap();
        let expect: Vec<u8> = p1.iter().zip(b1).map(|(p, b)| p ^ b).collect();
        assert_eq!(&out[2..n], &expect[..]);
    }

    fn with_ma(code: u8, auth: [u8; 16]) -> Vec<u8> {
        let mut p = vec![code, 5, 0, 0];
        p.extend_from_slice(&auth);
        p.extend_from_slice(&[80, 18]);
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[1, 6, b'u', b's', b'e', b'r']);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[test]
    fn message_authenticator_matches_independent_hmac() {
        let mut p = with_ma(1, [0x55; 16]);
        sign_access_request(&mut p, b"testing123");
        let mut zeroed = p.clone();
        zeroed[22..38].fill(0);
        let mut mac = HmacMd5::new_from_slice(b"testing123").unwrap();
        mac.update(&zeroed);
        let expect: [u8; 16] = mac.finalize().into_bytes().into();
        assert_eq!(&p[22..38], &expect);
        assert_eq!(
            verify_message_authenticator(&p, None, b"testing123"),
            MaStatus::Valid
        );
        p[40] ^= 1;
        assert_eq!(
            verify_message_authenticator(&p, None, b"testing123"),
            MaStatus::Invalid
        );
    }

    #[test]
    fn signed_reply_verifies_both_ways() {
        let req_auth = [0x11; 16];
        let mut p = with_ma(2, [0; 16]);
        sign_response(&mut p, &req_auth, b"s3cret");
        assert!(verify_response(&p, &req_auth, b"s3cret"));
        assert_eq!(
            verify_message_authenticator(&p, Some(&req_auth), b"s3cret"),
            MaStatus::Valid
        );
        assert_eq!(
            verify_message_authenticator(&p, Some(&[0x12; 16]), b"s3cret"),
            MaStatus::Invalid
        );
    }

    #[test]
    fn hashed_request_with_ma_per_rfc5176() {
        let mut p = with_ma(40, [0; 16]);
        sign_hashed_request(&mut p, b"nas");
        assert!(verify_hashed_request(&p, b"nas"));
        assert_eq!(
            verify_message_authenticator(&p, None, b"nas"),
            MaStatus::Valid
        );
        // MA was computed over zeros in both fields, before the authenticator.
        let mut zeroed = p.clone();
        zeroed[4..20].fill(0);
        zeroed[22..38].fill(0);
        let mut mac = HmacMd5::new_from_slice(b"nas").unwrap();
        mac.update(&zeroed);
        assert_eq!(&p[22..38], &mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn absent_message_authenticator() {
        assert_eq!(
            verify_message_authenticator(&h(PAP_REQ), None, SECRET),
            MaStatus::Absent
        );
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;

    /// The lane jobs give what the scalar functions give: for short and long (hashed)
    /// secrets, requests and replies, and several packets at once.
    #[test]
    fn lane_jobs_equal_the_scalar_functions() {
        let secrets = [
            SharedSecret::new(b"testing123"),
            SharedSecret::new(&[0xa5; 100]),
            SharedSecret::new(&[0x11; 64]),
        ];
        let mut packets = Vec::new();
        for (i, len) in [40usize, 90, 150, 300, 1000].into_iter().enumerate() {
            let mut p: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
            p[0] = 2;
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            // A Message-Authenticator attribute right after the header.
            p[20] = MESSAGE_AUTHENTICATOR;
            p[21] = 18;
            p[22..38].fill(0);
            p[38] = 1;
            p[39] = (len - 38) as u8;
            packets.push(p);
        }
        let auth = [9u8; AUTH_LEN];
        let mut lanes = Lanes::new();
        let mut inner = Vec::new();
        let mut ra = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let s = &secrets[i % secrets.len()];
            inner.push(push_message_authenticator_inner(
                &mut lanes, p, &auth, 22, s,
            ));
            ra.push(push_authenticator(&mut lanes, p, &auth, s));
        }
        lanes.run();
        let digests: Vec<[u8; 16]> = inner.iter().map(|&j| lanes.digest(j)).collect();
        let authenticators: Vec<[u8; 16]> = ra.iter().map(|&j| lanes.digest(j)).collect();
        lanes.clear();
        let outer: Vec<usize> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| push_message_authenticator_outer(&mut lanes, d, &secrets[i % 3]))
            .collect();
        lanes.run();
        for (i, p) in packets.iter().enumerate() {
            let s = &secrets[i % secrets.len()];
            assert_eq!(
                lanes.digest(outer[i]),
                message_authenticator(p, &auth, 22, s),
                "packet {i}"
            );
            assert_eq!(authenticators[i], response_authenticator(p, &auth, s));
        }
    }
}
