//! Arbitrary bytes into the launch message decoder (what a new rwsgi-daemon
//! reads from the Apache parent): no panic, no unbounded allocation, and the
//! encoding is canonical, so whatever decodes encodes back to the same bytes.
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run launch`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi_protocol::launch::Launch;

fuzz_target!(|data: &[u8]| {
    if let Ok(launch) = Launch::decode(data) {
        assert_eq!(launch.encode(), data);
    }
});
