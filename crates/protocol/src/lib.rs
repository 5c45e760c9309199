//! The wire format between an Apache child and a daemon process.
//!
//! Pure: no I/O beyond `std::io::Read`/`Write`, no Apache, no Python, so it can
//! be unit-tested and fuzzed. Every decoder returns an error on malformed or
//! oversized input; none panics on arbitrary bytes.
//!
//! A connection carries one request at a time, and then the next: the child
//! keeps it after `End` and the daemon watches it for the next `Request`.
//! Frames:
//! `[u32 payload length, little-endian][u8 kind][payload]`.
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

mod codec;
mod frame;

pub use codec::{RequestHeader, ResponseHead, decode_head, decode_request, encode_head, encode_request};
pub use frame::{Frame, FrameError, Kind, append_frame, read_frame, read_header, write_frame, write_frame_parts};

/// The largest request frame a daemon accepts (the CGI variables and routing
/// data; Apache's own header limits keep real requests far below this).
pub const MAX_REQUEST_FRAME: usize = 4 << 20;

/// Microseconds since the Unix epoch: the clock of every timestamp on the wire.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Format version; a daemon refuses requests of another version.
pub const VERSION: u16 = 1;
