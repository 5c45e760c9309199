//! Arbitrary bytes into every decoder of the daemon wire format: no panic, no
//! unbounded allocation. Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run protocol`.
#![no_main]

use rwsgi_protocol as protocol;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = protocol::decode_request(data);
    let _ = protocol::decode_head(data);
    let mut reader = data;
    while let Ok(frame) = protocol::read_frame(&mut reader, 1 << 16) {
        let _ = protocol::decode_request(&frame.payload);
        let _ = protocol::decode_head(&frame.payload);
    }
    if let Ok(h) = protocol::decode_request(data) {
        let mut out = Vec::new();
        protocol::encode_request(&h, &mut out);
        assert_eq!(protocol::decode_request(&out).as_ref(), Ok(&h));
    }
});
