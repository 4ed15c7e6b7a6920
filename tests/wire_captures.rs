//! Packets captured from real radclient/FreeRADIUS traffic (tests/fixtures/packets,
//! secret `testing123`) decode, and their authenticators verify; the `radius` crate
//! agrees as an independent oracle.

mod support;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use radcare::wire::attr::types;
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Code, Packet};
use support::packet_fixture;

const SECRET: &[u8] = b"testing123";

fn auth(p: &[u8]) -> [u8; 16] {
    *Packet::new_unchecked(p).authenticator()
}

#[test]
fn pap_and_chap_requests_with_message_authenticator_verify() {
    for name in [
        "pap-request",
        "chap-request",
        "reject-request",
        "mschapv2-request",
    ] {
        let b = packet_fixture(name);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert!(p.find(types::USER_NAME).is_some(), "{name}");
        assert_eq!(
            crypto::verify_message_authenticator(&b, None, SECRET),
            MaStatus::Valid,
            "{name}"
        );
        assert_eq!(
            crypto::verify_message_authenticator(&b, None, b"wrong"),
            MaStatus::Invalid
        );
    }
    let pap = packet_fixture("pap-request");
    let p = Packet::new_checked(&pap[..]).unwrap();
    let mut out = [0u8; crypto::MAX_PASSWORD_LEN];
    let n = crypto::unhide_password(
        p.find(types::USER_PASSWORD).unwrap().value,
        SECRET,
        &auth(&pap),
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..n], b"alice-pass");
}

#[test]
fn message_authenticator_matches_an_independent_hmac() {
    let b = packet_fixture("pap-request");
    let at = crypto::find_message_authenticator(&b).unwrap();
    let mut zeroed = b.clone();
    zeroed[at..at + 16].fill(0);
    let mut mac = Hmac::<Md5>::new_from_slice(SECRET).unwrap();
    mac.update(&zeroed);
    assert_eq!(&b[at..at + 16], &mac.finalize().into_bytes()[..]);
}

#[test]
fn replies_verify_against_their_requests() {
    for (req, reply) in [
        ("pap-request", "pap-accept"),
        ("chap-request", "chap-accept"),
        ("reject-request", "reject"),
        ("arrears-request", "arrears-reject"),
        ("mschapv2-request", "mschapv2-accept"),
        ("mschapv2-bad-request", "mschapv2-reject"),
        ("signed-pap-request", "signed-pap-accept"),
        ("signed-reject-request", "signed-reject"),
        ("acct-request", "acct-response"),
    ] {
        let (q, r) = (packet_fixture(req), packet_fixture(reply));
        assert!(crypto::verify_response(&r, &auth(&q), SECRET), "{reply}");
        let ma = crypto::verify_message_authenticator(&r, Some(&auth(&q)), SECRET);
        assert_ne!(ma, MaStatus::Invalid, "{reply}");
        // The oracle agrees.
        assert!(
            radius::core::packet::Packet::is_authentic_response(&r, &q, SECRET),
            "{reply}"
        );
    }
    let signed = packet_fixture("signed-reject");
    let q = packet_fixture("signed-reject-request");
    assert_eq!(
        crypto::verify_message_authenticator(&signed, Some(&auth(&q)), SECRET),
        MaStatus::Valid
    );
    let acct = packet_fixture("acct-request");
    assert!(crypto::verify_hashed_request(&acct, SECRET));
    assert!(radius::core::packet::Packet::is_authentic_request(
        &acct, SECRET
    ));
}

#[test]
fn the_oracle_decodes_captured_packets_as_we_do() {
    let b = packet_fixture("arrears-reject");
    let ours = Packet::new_checked(&b[..]).unwrap();
    let theirs = radius::core::packet::Packet::decode(&b, SECRET).unwrap();
    let msg = radius::core::rfc2865::lookup_reply_message(&theirs)
        .unwrap()
        .unwrap();
    assert_eq!(
        msg.as_bytes(),
        ours.find(types::REPLY_MESSAGE).unwrap().value
    );
    assert!(msg.contains("欠费"));
}
