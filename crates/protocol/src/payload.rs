//! Payload encodings of the small frames (everything but `Request`, `Head` and
//! `Body`). All integers are little-endian; flag bytes are 0 or 1. Each type
//! encodes into a fixed-size array and decodes from a payload, returning an
//! error (never panicking) on a wrong size, a flag byte other than 0 or 1, or
//! a value out of range.

use crate::Kind;

/// What is wrong with a frame payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// The payload is not of the size this frame kind has.
    Size { kind: Kind, len: usize, expected: &'static str },
    /// A flag byte other than 0 or 1.
    Flag { kind: Kind, value: u8 },
    /// A `Fail` status outside 400..600.
    FailStatus(u16),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::Size { kind, len, expected } => write!(f, "{kind:?} payload of {len} bytes, expected {expected}"),
            PayloadError::Flag { kind, value } => write!(f, "{kind:?} flag byte {value}, expected 0 or 1"),
            PayloadError::FailStatus(status) => write!(f, "invalid failure status {status}"),
        }
    }
}

impl std::error::Error for PayloadError {}

fn flag(kind: Kind, value: u8) -> Result<bool, PayloadError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(PayloadError::Flag { kind, value }),
    }
}

fn exact<const N: usize>(kind: Kind, payload: &[u8], expected: &'static str) -> Result<[u8; N], PayloadError> {
    <[u8; N]>::try_from(payload).map_err(|_| PayloadError::Size { kind, len: payload.len(), expected })
}

/// `Read`, daemon → child: the application wants up to `want` body bytes.
/// Payload: `[u32 want][u8 fill]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    /// At most this many bytes (the child sends at most [`crate::MAX_BODY_READ`]).
    pub want: u32,
    /// All `want` bytes unless the body ends first (else whatever comes first).
    pub fill: bool,
}

impl ReadRequest {
    pub const KIND: Kind = Kind::Read;
    pub const SIZE: usize = 5;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let w = self.want.to_le_bytes();
        [w[0], w[1], w[2], w[3], u8::from(self.fill)]
    }

    pub fn decode(payload: &[u8]) -> Result<ReadRequest, PayloadError> {
        let [a, b, c, d, fill] = exact::<5>(Self::KIND, payload, "5")?;
        Ok(ReadRequest { want: u32::from_le_bytes([a, b, c, d]), fill: flag(Self::KIND, fill)? })
    }
}

/// The start of a `Data` frame, daemon → child: payload `[u8 flush][len body bytes]`.
/// The body is streamed: the sender writes [`DataHeader::encode`] (or the
/// frame header and [`DataHeader::flag`]) and then the bytes; the receiver
/// reads the frame header, then the flag byte, and gives both to
/// [`DataHeader::decode`] before it reads the body in pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
    /// The child should flush its output after these bytes.
    pub flush: bool,
    /// Body bytes that follow the flag byte (the daemon sends at most [`crate::MAX_DATA_CHUNK`]).
    pub len: usize,
}

impl DataHeader {
    pub const KIND: Kind = Kind::Data;
    /// Bytes of the payload before the body: the flag byte.
    pub const FLAG_SIZE: usize = 1;

    /// The flag byte, the first part of the payload.
    pub fn flag(&self) -> [u8; Self::FLAG_SIZE] {
        [u8::from(self.flush)]
    }

    /// The frame header and the flag byte: what precedes the `len` body bytes.
    /// Fails only if the payload would exceed the frame length field (4 GiB).
    pub fn encode(&self, request: u64) -> std::io::Result<[u8; crate::HEADER_SIZE + Self::FLAG_SIZE]> {
        let total = self.len.checked_add(Self::FLAG_SIZE).ok_or(std::io::ErrorKind::InvalidInput)?;
        let h = crate::frame_header(Self::KIND, total, request)?;
        let mut out = [0u8; crate::HEADER_SIZE + Self::FLAG_SIZE];
        out[..crate::HEADER_SIZE].copy_from_slice(&h);
        out[crate::HEADER_SIZE] = u8::from(self.flush);
        Ok(out)
    }

    /// From the frame's payload length and the payload's first byte (read
    /// from the stream, ahead of the body). A payload needs the flag byte.
    pub fn decode(payload_len: usize, flag_byte: u8) -> Result<DataHeader, PayloadError> {
        if payload_len < Self::FLAG_SIZE {
            return Err(PayloadError::Size { kind: Self::KIND, len: payload_len, expected: "at least 1" });
        }
        Ok(DataHeader { flush: flag(Self::KIND, flag_byte)?, len: payload_len - Self::FLAG_SIZE })
    }
}

/// `End`, daemon → child: the response is complete. Payload:
/// `[u8 close_connection][u32 pid]`, or the short form `[u8 close_connection]`
/// from a peer that does not say its pid (the daemon always sends it; the
/// child keeps what it knew of the pid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    /// Close the client connection after this response.
    pub close_connection: bool,
    /// The daemon process's pid, by which the child spreads its requests over
    /// the group's processes.
    pub pid: Option<u32>,
}

impl End {
    pub const KIND: Kind = Kind::End;
    pub const SIZE: usize = 5;
    pub const SHORT_SIZE: usize = 1;

    /// Five bytes with a pid, one without (use `&encoded[..len]`).
    pub fn encode(&self) -> ([u8; Self::SIZE], usize) {
        let close = u8::from(self.close_connection);
        match self.pid {
            Some(pid) => {
                let p = pid.to_le_bytes();
                ([close, p[0], p[1], p[2], p[3]], Self::SIZE)
            }
            None => ([close, 0, 0, 0, 0], Self::SHORT_SIZE),
        }
    }

    pub fn decode(payload: &[u8]) -> Result<End, PayloadError> {
        match *payload {
            [close] => Ok(End { close_connection: flag(Self::KIND, close)?, pid: None }),
            [close, a, b, c, d] => Ok(End { close_connection: flag(Self::KIND, close)?, pid: Some(u32::from_le_bytes([a, b, c, d])) }),
            _ => Err(PayloadError::Size { kind: Self::KIND, len: payload.len(), expected: "1 or 5" }),
        }
    }
}

/// `Fail`, daemon → child: the request failed before any output; answer with
/// `status` (400..600). Payload: `[u16 status]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub status: u16,
}

impl Fail {
    pub const KIND: Kind = Kind::Fail;
    pub const SIZE: usize = 2;
    /// The statuses a `Fail` may carry.
    pub const STATUSES: std::ops::Range<u16> = 400..600;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        self.status.to_le_bytes()
    }

    pub fn decode(payload: &[u8]) -> Result<Fail, PayloadError> {
        let status = u16::from_le_bytes(exact::<2>(Self::KIND, payload, "2")?);
        if !Self::STATUSES.contains(&status) {
            return Err(PayloadError::FailStatus(status));
        }
        Ok(Fail { status })
    }
}

/// `File`, daemon → child: `len` body bytes of the file whose descriptor
/// travels with the frame (SCM_RIGHTS), from `offset`. Payload: `[u64 offset][u64 len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRegion {
    pub offset: u64,
    pub len: u64,
}

impl FileRegion {
    pub const KIND: Kind = Kind::File;
    pub const SIZE: usize = 16;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    pub fn decode(payload: &[u8]) -> Result<FileRegion, PayloadError> {
        let b = exact::<16>(Self::KIND, payload, "16")?;
        let (offset, len) = b.split_at(8);
        Ok(FileRegion { offset: u64::from_le_bytes(offset.try_into().expect("8 bytes")), len: u64::from_le_bytes(len.try_into().expect("8 bytes")) })
    }
}

/// `BodyError`, child → daemon: the request body could not be read. Payload:
/// the reason, as text (any bytes are accepted; shown lossily as UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyError<'a> {
    pub reason: &'a [u8],
}

impl<'a> BodyError<'a> {
    pub const KIND: Kind = Kind::BodyError;

    pub fn encode(&self) -> &'a [u8] {
        self.reason
    }

    pub fn decode(payload: &'a [u8]) -> BodyError<'a> {
        BodyError { reason: payload }
    }

    /// The reason as a string (invalid UTF-8 replaced).
    pub fn reason_lossy(&self) -> String {
        String::from_utf8_lossy(self.reason).into_owned()
    }
}

fn empty(kind: Kind, payload: &[u8]) -> Result<(), PayloadError> {
    if payload.is_empty() { Ok(()) } else { Err(PayloadError::Size { kind, len: payload.len(), expected: "0" }) }
}

/// `Goodbye`, daemon → child, instead of a response: the idle connection is
/// being closed and its request was not read. Empty payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Goodbye;

impl Goodbye {
    pub const KIND: Kind = Kind::Goodbye;

    pub fn encode(&self) -> [u8; 0] {
        []
    }

    pub fn decode(payload: &[u8]) -> Result<Goodbye, PayloadError> {
        empty(Self::KIND, payload).map(|()| Goodbye)
    }

    /// The whole frame (header, no payload), for no request ([`crate::NO_REQUEST`]).
    pub fn frame(&self) -> [u8; crate::HEADER_SIZE] {
        crate::frame_header(Self::KIND, 0, crate::NO_REQUEST).expect("an empty payload fits")
    }
}

/// `Abort`, daemon → child: the response failed after output began; cut the
/// client off. Empty payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Abort;

impl Abort {
    pub const KIND: Kind = Kind::Abort;

    pub fn encode(&self) -> [u8; 0] {
        []
    }

    pub fn decode(payload: &[u8]) -> Result<Abort, PayloadError> {
        empty(Self::KIND, payload).map(|()| Abort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_request_round_trips_and_keeps_its_layout() {
        for r in [ReadRequest { want: 0, fill: false }, ReadRequest { want: 0x0102_0304, fill: true }, ReadRequest { want: u32::MAX, fill: false }] {
            assert_eq!(ReadRequest::decode(&r.encode()), Ok(r));
        }
        assert_eq!(ReadRequest { want: 0x0102_0304, fill: true }.encode(), [4, 3, 2, 1, 1]);
    }

    #[test]
    fn malformed_read_requests_are_errors() {
        for bad in [&b""[..], b"\x01\x02", b"\x00\x00\x10\x00", b"\x00\x00\x10\x00\x01\x00"] {
            assert!(matches!(ReadRequest::decode(bad), Err(PayloadError::Size { kind: Kind::Read, .. })), "{bad:?}");
        }
        assert_eq!(ReadRequest::decode(b"\x00\x00\x10\x00\x02"), Err(PayloadError::Flag { kind: Kind::Read, value: 2 }));
    }

    #[test]
    fn data_header_round_trips_through_a_frame() {
        let h = DataHeader { flush: true, len: 5 };
        let mut frame = h.encode(42).unwrap().to_vec();
        frame.extend_from_slice(b"hello");
        let header = crate::read_header(&mut &frame[..], 100).unwrap();
        assert_eq!(header, crate::Header { kind: Kind::Data, len: 6, request: 42 });
        assert_eq!(DataHeader::decode(header.len, frame[crate::HEADER_SIZE]), Ok(h));
        // The same bytes as a frame built from parts.
        let mut parts = Vec::new();
        crate::append_frame(&mut parts, Kind::Data, 42, &[&h.flag(), b"hello"]).unwrap();
        assert_eq!(parts, frame);
        assert_eq!(DataHeader::decode(1, 0), Ok(DataHeader { flush: false, len: 0 }));
    }

    #[test]
    fn malformed_data_headers_are_errors() {
        assert!(matches!(DataHeader::decode(0, 0), Err(PayloadError::Size { kind: Kind::Data, len: 0, .. })));
        assert_eq!(DataHeader::decode(10, 7), Err(PayloadError::Flag { kind: Kind::Data, value: 7 }));
        assert!(DataHeader { flush: false, len: usize::MAX }.encode(1).is_err());
        assert!(DataHeader { flush: false, len: u32::MAX as usize }.encode(1).is_err(), "payload of 4 GiB + 1");
    }

    #[test]
    fn end_round_trips_in_both_forms() {
        for e in [End { close_connection: false, pid: Some(4242) }, End { close_connection: true, pid: Some(u32::MAX) }, End { close_connection: true, pid: None }] {
            let (bytes, n) = e.encode();
            assert_eq!(End::decode(&bytes[..n]), Ok(e));
        }
        let (bytes, n) = End { close_connection: true, pid: Some(0x0a0b_0c0d) }.encode();
        assert_eq!(&bytes[..n], [1, 0x0d, 0x0c, 0x0b, 0x0a]);
        assert_eq!(End { close_connection: false, pid: None }.encode().1, 1);
    }

    #[test]
    fn malformed_ends_are_errors() {
        for bad in [&b""[..], b"\x00\x01", b"\x00\x01\x02\x03", b"\x00\x01\x02\x03\x04\x05"] {
            assert!(matches!(End::decode(bad), Err(PayloadError::Size { kind: Kind::End, .. })), "{bad:?}");
        }
        assert_eq!(End::decode(b"\x02"), Err(PayloadError::Flag { kind: Kind::End, value: 2 }));
        assert_eq!(End::decode(b"\xff\x01\x00\x00\x00"), Err(PayloadError::Flag { kind: Kind::End, value: 255 }));
    }

    #[test]
    fn fail_round_trips_within_its_range() {
        for status in [400, 404, 500, 503, 504, 599] {
            assert_eq!(Fail::decode(&Fail { status }.encode()), Ok(Fail { status }));
        }
        assert_eq!(Fail { status: 504 }.encode(), 504u16.to_le_bytes());
    }

    #[test]
    fn malformed_fails_are_errors() {
        for status in [0, 200, 399, 600, u16::MAX] {
            assert_eq!(Fail::decode(&status.to_le_bytes()), Err(PayloadError::FailStatus(status)));
        }
        assert_eq!(PayloadError::FailStatus(200).to_string(), "invalid failure status 200");
        for bad in [&b""[..], b"\x01", b"\xf4\x01\x00"] {
            assert!(matches!(Fail::decode(bad), Err(PayloadError::Size { kind: Kind::Fail, .. })), "{bad:?}");
        }
    }

    #[test]
    fn file_region_round_trips() {
        for r in [FileRegion { offset: 0, len: 0 }, FileRegion { offset: 1 << 40, len: 12345 }, FileRegion { offset: u64::MAX, len: u64::MAX }] {
            assert_eq!(FileRegion::decode(&r.encode()), Ok(r));
        }
        let bytes = FileRegion { offset: 1, len: 2 }.encode();
        assert_eq!(bytes[..8], 1u64.to_le_bytes());
        assert_eq!(bytes[8..], 2u64.to_le_bytes());
    }

    #[test]
    fn malformed_file_regions_are_errors() {
        for n in [0, 8, 15, 17, 32] {
            assert!(matches!(FileRegion::decode(&vec![0; n]), Err(PayloadError::Size { kind: Kind::File, .. })), "{n} bytes");
        }
    }

    #[test]
    fn body_error_carries_any_reason() {
        let e = BodyError { reason: b"the client's request body could not be read" };
        assert_eq!(BodyError::decode(e.encode()), e);
        assert_eq!(BodyError::decode(b"caf\xe9").reason_lossy(), "caf\u{fffd}");
        assert_eq!(BodyError::decode(b"").reason_lossy(), "");
    }

    #[test]
    fn empty_frames_must_be_empty() {
        assert_eq!(Goodbye::decode(&Goodbye.encode()), Ok(Goodbye));
        assert_eq!(Abort::decode(&Abort.encode()), Ok(Abort));
        assert!(matches!(Goodbye::decode(b"x"), Err(PayloadError::Size { kind: Kind::Goodbye, len: 1, .. })));
        assert!(matches!(Abort::decode(b"xy"), Err(PayloadError::Size { kind: Kind::Abort, len: 2, .. })));
        let mut frame = Vec::new();
        crate::append_frame(&mut frame, Kind::Goodbye, crate::NO_REQUEST, &[]).unwrap();
        assert_eq!(Goodbye.frame()[..], frame[..]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(ReadRequest::decode(b"\x01\x02").unwrap_err().to_string(), "Read payload of 2 bytes, expected 5");
        assert_eq!(End::decode(b"\x03").unwrap_err().to_string(), "End flag byte 3, expected 0 or 1");
    }
}
