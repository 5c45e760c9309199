//! The wire format between an Apache child and a daemon process.
//!
//! Pure: no I/O beyond `std::io::Read`/`Write`, no Apache, no Python, so it can
//! be unit-tested and fuzzed. Every decoder returns an error on malformed or
//! oversized input; none panics on arbitrary bytes.
//!
//! A connection carries one request at a time, and then the next: the child
//! keeps it after `End` and the daemon watches it for the next `Request`.
//! Frames:
//! `[u32 payload length, little-endian][u8 kind][u64 request id][payload]`.
//! The child numbers its requests; every frame of a request and of its
//! response carries that number, and the child closes a connection on which a
//! frame of any other request arrives (see `frame`).
//!
//! ```text
//! child                                   daemon
//!   Request ───────────────────────────▶
//!           ◀─────────────────── Read(n)     (the application wants body bytes)
//!   Body(≤ n bytes; empty = end) ──────▶
//!           ◀──────────────────── Head       (status and headers)
//!           ◀──────────────────── Data …     (body; flag: flush now)
//!           ◀──────────────────── File …     (body in a passed file descriptor: large bodies, file_wrapper)
//!           ◀──────────────────── End        (complete; flag: close the client connection)
//!                        or ◀──── Abort      (failed after output began: cut the client off)
//!                        or ◀──── Fail(n)    (failed before output: answer with status n)
//!                        or ◀──── Goodbye    (the daemon is closing this idle connection and did
//!                                             not read the request: send it again elsewhere)
//! ```
//! After `Fail` or `Abort`, or any error, the connection is closed, not reused.
//! The request body only moves when the application asks for it, so buffers on
//! both sides stay bounded and `100 Continue` is sent only if the body is read.
//!
//! Payloads: `Request` and `Head` have their codecs ([`encode_request`],
//! [`decode_request`], [`encode_head`], [`decode_head`]), `Body` is raw
//! bytes, every other kind has a type here ([`ReadRequest`], [`DataHeader`],
//! [`End`], [`Fail`], [`FileRegion`], [`BodyError`], [`Goodbye`], [`Abort`]).

mod codec;
mod frame;
pub mod headers;
pub mod launch;
mod payload;
pub mod relay;

pub use codec::{RequestHeader, ResponseHead, decode_head, decode_request, encode_head, encode_request};
pub use frame::{Frame, FrameError, Header, Kind, NO_REQUEST, append_frame, frame_header, read_frame, read_header, write_frame, write_frame_parts};
pub use payload::{Abort, BodyError, DataHeader, End, Fail, FileRegion, Goodbye, PayloadError, ReadRequest};

/// Format version; a daemon refuses requests of another version.
pub const VERSION: u16 = 2;

/// Bytes of a frame header: `[u32 payload length][u8 kind][u64 request id]`.
pub const HEADER_SIZE: usize = 13;

/// The largest `Request` payload a daemon accepts: the CGI variables and
/// routing data (Apache's own header limits keep real requests far below this).
pub const MAX_REQUEST_FRAME: usize = 4 << 20;

/// The most body bytes the daemon puts in one `Data` frame (it splits larger
/// writes), which bounds the child's buffer.
pub const MAX_DATA_CHUNK: usize = 1 << 20;

/// The largest `Data` payload: [`MAX_DATA_CHUNK`] body bytes after the flag
/// byte. (The child accepts frames up to the larger of this and its
/// header-buffer-size, the bound for `Head`.)
pub const MAX_DATA_FRAME: usize = MAX_DATA_CHUNK + DataHeader::FLAG_SIZE;

/// The most request-body bytes the child sends in one `Body` frame, whatever a
/// `Read` asks for.
pub const MAX_BODY_READ: usize = 1 << 20;

/// Now, in microseconds since the Unix epoch, as the wire's timestamps are
/// (`RequestHeader::request_start`, `queue_start`); 0 if the clock is before 1970.
pub fn now_micros() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_keep_their_values() {
        assert_eq!(super::MAX_REQUEST_FRAME, 4 << 20);
        assert_eq!(super::MAX_DATA_FRAME, (1 << 20) + 1);
        assert_eq!(super::MAX_BODY_READ, 1 << 20);
        assert_eq!(super::HEADER_SIZE, 13);
    }

    #[test]
    fn now_is_after_2020_in_micros() {
        let now = super::now_micros();
        assert!(now > 1_577_836_800_000_000 && now < 4_102_444_800_000_000, "{now}");
    }
}
