//! A capture file -> `CaptureReader` -> every record through the `Analyzer` (with a
//! secret, so the authenticator checks run), then the report as text and JSON. Reading
//! must end in records or an error whose offset lies inside the input, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use radcare::analysis::{Analyzer, Settings};
use radcare::capture::CaptureReader;
use radcare::dict::Dictionary;
use radcare::policy::Policy;

fn setup() -> &'static (Arc<Policy>, Arc<Dictionary>) {
    static SETUP: OnceLock<(Arc<Policy>, Arc<Dictionary>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let loaded = radcare::server::load_file(None).expect("embedded config loads");
        (loaded.policy, loaded.dict)
    })
}

fuzz_target!(|data: &[u8]| {
    let (policy, dict) = setup();
    let settings = Settings {
        secret: Some(b"testing123".to_vec()),
        top: 5,
        ..Settings::default()
    };
    let mut analyzer = Analyzer::new(settings, policy.clone(), dict.clone());
    let Ok(mut reader) = CaptureReader::new(data) else {
        return;
    };
    loop {
        match reader.next_record() {
            Ok(Some(r)) => {
                assert!(r.data.len() <= data.len());
                analyzer.observe(r.timestamp, r.link, r.data);
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.offset() <= data.len() as u64, "{e}");
                break;
            }
        }
    }
    let report = analyzer.report();
    let _ = report.to_text();
    serde_json::to_string(&report).expect("a report serializes");
});
