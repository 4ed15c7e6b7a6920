//! Untrusted datagram -> `Packet::new_checked` -> every accessor, crypto check and
//! dictionary decoder a received packet can reach.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use radcare::dict::Dictionary;
use radcare::wire::Packet;
use radcare::wire::attr::types;
use radcare::wire::crypto::{self, MAX_PASSWORD_LEN};

fn dict() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| Dictionary::builtin().expect("builtin dictionary loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let d = dict();
    let _ = (p.code().name(), p.identifier(), p.length(), p.authenticator());
    assert!(p.as_bytes().len() <= data.len());
    assert_eq!(p.attributes().len() + 20, p.as_bytes().len());

    let mut walked = 20;
    for a in p.attrs() {
        assert_eq!(a.offset, walked, "attributes are contiguous");
        walked += 2 + a.value.len();
        let _ = a.as_u32();

        if let Some(v) = a.vsa() {
            for s in v.subs().chain(v.subs_with_format(2, 1)).chain(v.subs_with_format(4, 0)) {
                if let Ok(s) = s {
                    assert_eq!(&p.as_bytes()[s.offset..s.offset + s.value.len()], s.value);
                }
            }
            // Through the dictionary, in the vendor's own format.
            if let Some(vd) = d.vendor(v.vendor) {
                for s in v.subs_with_format(vd.type_len, vd.len_len).flatten() {
                    if let Some(def) = d.attr(v.vendor, s.typ) {
                        let _ = d.format_value(def, s.value);
                    }
                }
            }
        }

        if let Some(def) = d.attr(0, a.typ as u32) {
            let _ = d.format_value(def, a.value);
        }

        if a.typ == types::USER_PASSWORD {
            let mut out = [0u8; MAX_PASSWORD_LEN];
            if let Ok(n) = crypto::unhide_password(a.value, b"s", p.authenticator(), &mut out) {
                assert!(n <= a.value.len());
            }
        }
        if a.typ == types::TUNNEL_PASSWORD && !a.value.is_empty() {
            let mut v = a.value[1..].to_vec();
            let _ = crypto::salt_decrypt(&mut v, b"s", p.authenticator());
            let mut v = a.value[1..].to_vec();
            let _ = crypto::tunnel_password_decrypt(&mut v, b"s", p.authenticator());
        }
    }
    assert_eq!(walked, p.as_bytes().len(), "attrs() covers the whole attribute area");

    let _ = p.find(types::USER_NAME);
    let _ = p.find_vendor(311, 2);
    let _ = crypto::verify_message_authenticator(p.as_bytes(), None, b"s");
    let _ = crypto::verify_message_authenticator(p.as_bytes(), Some(&[0; 16]), b"s");
    let _ = crypto::verify_response(p.as_bytes(), &[0; 16], b"s");
    let _ = crypto::verify_hashed_request(p.as_bytes(), b"s");
});
