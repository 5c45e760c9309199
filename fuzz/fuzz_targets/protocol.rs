//! Arbitrary bytes into every decoder of the daemon wire format: no panic, no
//! unbounded allocation, and whatever decodes encodes back to the same bytes
//! (or, for `Request` and `Head`, to bytes that decode to the same value).
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run protocol`.
#![no_main]

use rwsgi_protocol::{self as protocol, Abort, BodyError, DataHeader, End, Fail, FileRegion, Goodbye, Kind, ReadRequest};

use libfuzzer_sys::fuzz_target;

/// Every decoder on one payload, with roundtrip checks where it decodes.
fn payload(data: &[u8]) {
    if let Ok(h) = protocol::decode_request(data) {
        let mut out = Vec::new();
        protocol::encode_request(&h, &mut out);
        assert_eq!(protocol::decode_request(&out).as_ref(), Ok(&h));
        // The encoding is canonical except for the unused flag bits.
        assert_eq!(out[2], data[2] & 7);
        assert_eq!(out[3..], data[3..]);
    }
    if let Ok(h) = protocol::decode_head(data) {
        let headers: Vec<(Vec<u8>, Vec<u8>)> = h.headers.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let mut out = Vec::new();
        protocol::encode_head(h.code, h.status, &headers, h.content_length, &mut out);
        assert_eq!(out, data);
        assert_eq!(protocol::decode_head(&out).as_ref(), Ok(&h));
    }
    if let Ok(r) = ReadRequest::decode(data) {
        assert_eq!(r.encode()[..], *data);
    }
    if let Some(&first) = data.first()
        && let Ok(d) = DataHeader::decode(data.len(), first)
    {
        assert_eq!(d.len, data.len() - 1);
        assert_eq!(d.flag(), [first]);
        let frame = d.encode(7).expect("fuzz inputs are far below 4 GiB");
        assert_eq!(protocol::read_header(&mut &frame[..], usize::MAX).ok(), Some(protocol::Header { kind: Kind::Data, len: data.len(), request: 7 }));
        assert_eq!(frame[protocol::HEADER_SIZE], first);
    }
    if let Ok(e) = End::decode(data) {
        let (bytes, n) = e.encode();
        assert_eq!(bytes[..n], *data);
    }
    if let Ok(f) = Fail::decode(data) {
        assert!(Fail::STATUSES.contains(&f.status));
        assert_eq!(f.encode()[..], *data);
    }
    if let Ok(r) = FileRegion::decode(data) {
        assert_eq!(r.encode()[..], *data);
    }
    assert_eq!(BodyError::decode(data).encode(), data);
    assert_eq!(Goodbye::decode(data).is_ok(), data.is_empty());
    assert_eq!(Abort::decode(data).is_ok(), data.is_empty());
}

fuzz_target!(|data: &[u8]| {
    payload(data);
    // The same bytes as a stream of frames, each payload to its own decoder.
    let mut reader = data;
    while let Ok(frame) = protocol::read_frame(&mut reader, 1 << 16) {
        let p = &frame.payload[..];
        let mut again = Vec::new();
        protocol::append_frame(&mut again, frame.kind, frame.request, &[p]).unwrap();
        assert_eq!(protocol::read_frame(&mut &again[..], p.len()).ok().as_ref(), Some(&frame));
        match frame.kind {
            Kind::Request => drop(protocol::decode_request(p)),
            Kind::Head => drop(protocol::decode_head(p)),
            Kind::Body => {}
            Kind::BodyError => drop(BodyError::decode(p)),
            Kind::Read => drop(ReadRequest::decode(p)),
            Kind::Data => drop(p.first().map(|&f| DataHeader::decode(p.len(), f))),
            Kind::End => drop(End::decode(p)),
            Kind::Abort => drop(Abort::decode(p)),
            Kind::Fail => drop(Fail::decode(p)),
            Kind::File => drop(FileRegion::decode(p)),
            Kind::Goodbye => drop(Goodbye::decode(p)),
        }
        payload(p);
    }
});
