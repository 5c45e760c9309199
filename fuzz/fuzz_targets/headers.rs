//! Response-head validation (`protocol::headers`, shared by the WSGI layer
//! and the Apache child) on arbitrary text, and the child's whole head check
//! on arbitrary bytes: no panic, and what passes has the promised shape.
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run headers`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi_protocol::{headers, relay};

fuzz_target!(|data: &[u8]| {
    if let Ok(head) = relay::check_head(data) {
        assert!((100..1000).contains(&head.code));
        for (name, value) in &head.headers {
            assert!(!name.is_empty() && name.iter().all(|b| b.is_ascii_graphic() && *b != b':'));
            assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
        }
    }
    // Latin-1, as the checks see header values; the split gives name and value.
    let text: String = data.iter().map(|&b| b as char).collect();
    let (name, value) = text.split_once(':').unwrap_or((&text, ""));
    if let Ok(code) = headers::parse_status(&text) {
        assert!((100..1000).contains(&code));
        assert!(text.starts_with(&code.to_string()));
    }
    if headers::check_header_name(name).is_ok() {
        assert!(!name.is_empty() && !headers::is_hop_by_hop(name));
    }
    if headers::check_header_value(name, value).is_ok() {
        assert!(!value.contains(['\r', '\n', '\0']));
    }
    if let Ok(n) = headers::parse_content_length(value) {
        assert_eq!(value.trim_matches([' ', '\t']).parse::<u64>().ok(), Some(n));
    }
});
