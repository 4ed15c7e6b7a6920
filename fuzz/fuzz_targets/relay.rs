//! Link B's bytes from a hostile peer: frames split and parsed as the driver does, each
//! fed to an established server session; nothing may panic, whatever the positions say.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use radcare::relay::proto::{Frame, Repr, next_frame};
use radcare::relay::session::{Limits, Session};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut s = Session::server([1; 16], Limits::default(), now);
    s.push(now, b"held for the peer");
    let mut rest = data;
    let mut out = Vec::new();
    while let Ok(Some(len)) = next_frame(rest) {
        if let Ok(repr) = Frame::new_checked(&rest[..len]).and_then(|f| Repr::parse(&f)) {
            s.handle_frame(now, &repr);
            if let Repr::Resume {
                received,
                first_held,
                ..
            } = repr
            {
                s.resume(now, received, first_held);
            }
        }
        rest = &rest[len..];
        out.clear();
        s.poll_transmit(now, &mut out, 1 << 16);
        let n = s.deliverable().len();
        s.consume(n);
        s.handle_timeout(now + Duration::from_secs(1));
        while s.poll_event().is_some() {}
    }
});
