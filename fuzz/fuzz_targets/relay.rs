//! The Apache child's checks of a daemon's response (`protocol::relay`) on an
//! arbitrary sequence of frames, with arbitrary facts about passed files: no
//! panic, and whatever is accepted keeps the promises the relay relies on
//! (frames only of the request, the head first, never more body than the head
//! announced, nothing after the end, at most MAX_FILES files, files within
//! their size). Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run relay`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi_protocol::relay::{MAX_FILES, ResponseCheck, Step};
use rwsgi_protocol::{FileRegion, Header, Kind, NO_REQUEST};

const REQUEST: u64 = 0x1234;

/// Takes `n` bytes from the input, or what is left.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, rest) = data.split_at(n);
    *data = rest;
    head
}

fn kind(b: u8) -> Kind {
    [Kind::Request, Kind::Body, Kind::BodyError, Kind::Read, Kind::Head, Kind::Data, Kind::End, Kind::Abort, Kind::Fail, Kind::File, Kind::Goodbye][b as usize % 11]
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let Some((&setup, rest)) = data.split_first() else { return };
    data = rest;
    let header_only = setup & 1 != 0;
    let header_buffer_size = [0usize, 16, 64, 8192][(setup >> 1) as usize % 4];
    let mut check = ResponseCheck::new(REQUEST, header_buffer_size, header_only);
    let (mut announced, mut body, mut files, mut head_seen, mut steps) = (None, 0u64, 0u32, false, 0usize);
    while data.len() >= 3 {
        let meta = take(&mut data, 3);
        let (k, request) = (kind(meta[0]), match meta[1] % 4 {
            0 => REQUEST,
            1 => NO_REQUEST,
            2 => REQUEST + 1,
            _ => u64::from(meta[1]) << 40,
        });
        let payload = take(&mut data, meta[2] as usize);
        // Data frames: the payload given to the checker is the flag byte; the
        // declared length is what the header says (possibly far larger).
        let len = if k == Kind::Data { payload.len() + (usize::from(meta[2]) << 8) } else { payload.len() };
        let h = Header { kind: k, len, request };
        if check.header(h).is_err() {
            return;
        }
        let given = if k == Kind::Data { &payload[..payload.len().min(1)] } else { payload };
        let Ok(step) = check.frame(h, given) else { return };
        steps += 1;
        assert!(request == REQUEST || (k == Kind::Goodbye && request == NO_REQUEST), "a frame of another request accepted");
        match step {
            Step::NotTaken => {
                assert_eq!(steps, 1, "Goodbye accepted after other frames");
                assert!(check.header(Header { kind: Kind::Head, len: 0, request: REQUEST }).is_err());
                return;
            }
            Step::ReadBody(_) => {}
            Step::Head(head) => {
                assert!(!head_seen, "a second head accepted");
                assert!(len <= header_buffer_size);
                head_seen = true;
                announced = head.content_length;
            }
            Step::Data(d) => {
                assert!(head_seen && d.len > 0);
                body += d.len as u64;
            }
            Step::File(region) => {
                assert!(head_seen);
                files += 1;
                assert!(files <= MAX_FILES);
                body = body.saturating_add(region.len);
                // The facts about the passed file come from the input too.
                let facts = take(&mut data, 2);
                let regular = facts.first().is_some_and(|b| b & 1 != 0);
                let size = u64::from(facts.get(1).copied().unwrap_or(0)) << (facts.first().copied().unwrap_or(0) % 64);
                if check.file(region, regular, size).is_ok() {
                    assert!(regular && region.offset.checked_add(region.len).is_some_and(|end| end <= size));
                } else {
                    return;
                }
                let _ = FileRegion::decode(&region.encode());
            }
            Step::End(end) => {
                assert!(head_seen);
                if !header_only && announced.is_some_and(|n| body < n) {
                    assert!(end.close_connection, "a short body kept the client connection");
                }
                assert!(check.header(Header { kind: Kind::Data, len: 2, request: REQUEST }).is_err(), "a frame after the end accepted");
                return;
            }
            Step::Abort | Step::Fail(_) => {
                assert!(check.header(Header { kind: Kind::End, len: 1, request: REQUEST }).is_err());
                return;
            }
        }
        if !header_only && let Some(n) = announced {
            assert!(body <= n, "{body} body bytes accepted beyond the announced {n}");
        }
    }
});
