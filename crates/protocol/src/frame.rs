//! Framing: `[u32 length LE][u8 kind][u64 request id LE][payload]`.
//!
//! Every frame names the request it belongs to: the child numbers its
//! requests, the daemon echoes the number in every frame of the response, and
//! a frame of another request (a stray response, say from a process the
//! application forked) is an error that closes the connection. `Goodbye` is
//! the one frame sent for no request: its id is [`NO_REQUEST`].

use std::io::{self, IoSlice, Read, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// child → daemon: the request (see `codec::RequestHeader`).
    Request = 1,
    /// child → daemon: request body bytes; empty at the end of the body.
    Body = 2,
    /// child → daemon: the request body could not be read (payload: reason).
    BodyError = 3,
    /// daemon → child: the application wants up to N (u32) body bytes; a flag
    /// byte 1 means "all N unless the body ends first", 0 "whatever comes first".
    Read = 4,
    /// daemon → child: status and headers (see `codec::ResponseHead`).
    Head = 5,
    /// daemon → child: body bytes, after a flag byte (1 = flush now).
    Data = 6,
    /// daemon → child: the response is complete; flag byte 1 = close the client
    /// connection after it; then the daemon process's pid (u32), by which the
    /// child spreads its requests over the group's processes.
    End = 7,
    /// daemon → child: the response failed after output began.
    Abort = 8,
    /// daemon → child: the request failed before any output; u16 HTTP status.
    Fail = 9,
    /// daemon → child: body bytes in a file whose descriptor travels with this
    /// frame (SCM_RIGHTS); payload: u64 offset, u64 length.
    File = 10,
    /// daemon → child, instead of any response: this idle connection is being
    /// closed and the request on it was not read. The child may send the
    /// request again on another connection: it has not run.
    Goodbye = 11,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Request,
            2 => Kind::Body,
            3 => Kind::BodyError,
            4 => Kind::Read,
            5 => Kind::Head,
            6 => Kind::Data,
            7 => Kind::End,
            8 => Kind::Abort,
            9 => Kind::Fail,
            10 => Kind::File,
            11 => Kind::Goodbye,
            _ => return None,
        })
    }
}

/// The request id of a frame that belongs to no request (`Goodbye`).
pub const NO_REQUEST: u64 = 0;

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    /// The request this frame belongs to.
    pub request: u64,
    pub payload: Vec<u8>,
}

/// A decoded frame header: what the payload is, how long, for which request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub len: usize,
    pub request: u64,
}

#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection at a frame boundary.
    Closed,
    Io(io::Error),
    UnknownKind(u8),
    TooLarge { len: usize, max: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::TooLarge { len, max } => write!(f, "frame of {len} bytes exceeds the limit of {max}"),
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Reads a frame header: the kind, the payload length (at most `max`) and the
/// request id. The caller then reads exactly that many payload bytes, in pieces
/// if it likes.
pub fn read_header(r: &mut impl Read, max: usize) -> Result<Header, FrameError> {
    let mut header = [0u8; crate::HEADER_SIZE];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let kind = Kind::from_byte(header[4]).ok_or(FrameError::UnknownKind(header[4]))?;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let request = u64::from_le_bytes(header[5..13].try_into().expect("8 bytes"));
    Ok(Header { kind, len, request })
}

/// Appends a frame to `out` (for coalescing several frames into one write).
pub fn append_frame(out: &mut Vec<u8>, kind: Kind, request: u64, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(&frame_header(kind, total, request)?);
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// Reads one frame whose payload may not exceed `max` bytes.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Frame, FrameError> {
    let Header { kind, len, request } = read_header(r, max)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Frame { kind, request, payload })
}

/// The header of a frame of `kind` for `request` with a payload of `len`
/// bytes; fails if `len` does not fit the length field (4 GiB).
pub fn frame_header(kind: Kind, len: usize, request: u64) -> io::Result<[u8; crate::HEADER_SIZE]> {
    let len = u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame payload over 4 GiB"))?;
    let mut out = [0u8; crate::HEADER_SIZE];
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4] = kind as u8;
    out[5..].copy_from_slice(&request.to_le_bytes());
    Ok(out)
}

pub fn write_frame(w: &mut impl Write, kind: Kind, request: u64, payload: &[u8]) -> io::Result<()> {
    write_frame_parts(w, kind, request, &[payload])
}

/// Writes a frame whose payload is the concatenation of `parts`, with as few
/// system calls as the writer allows (vectored writes, no copying of the parts).
pub fn write_frame_parts(w: &mut impl Write, kind: Kind, request: u64, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let head = frame_header(kind, total, request)?;
    let mut slices: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    slices.push(&head);
    slices.extend(parts.iter().copied().filter(|p| !p.is_empty()));
    let mut index = 0;
    let mut offset = 0;
    while index < slices.len() {
        let io: Vec<IoSlice<'_>> =
            slices[index..].iter().enumerate().map(|(i, s)| IoSlice::new(if i == 0 { &s[offset..] } else { s })).collect();
        let mut n = match w.write_vectored(&io) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let left = slices[index].len() - offset;
            if n >= left {
                n -= left;
                index += 1;
                offset = 0;
            } else {
                offset += n;
                n = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `step` bytes per call, to exercise partial writes.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_round_trip_through_partial_writes() {
        for step in [1, 2, 3, 7, 1000] {
            let mut w = Trickle { out: Vec::new(), step };
            write_frame_parts(&mut w, Kind::Data, 7, &[b"\x01", b"", b"hello", b" world"]).unwrap();
            write_frame(&mut w, Kind::End, 7, b"").unwrap();
            let mut r = &w.out[..];
            assert_eq!(read_frame(&mut r, 100).unwrap(), Frame { kind: Kind::Data, request: 7, payload: b"\x01hello world".to_vec() });
            assert_eq!(read_frame(&mut r, 100).unwrap(), Frame { kind: Kind::End, request: 7, payload: vec![] });
            assert!(matches!(read_frame(&mut r, 100), Err(FrameError::Closed)));
        }
    }

    #[test]
    fn coalesced_frames_read_whole_or_in_pieces() {
        let mut out = Vec::new();
        append_frame(&mut out, Kind::Head, 9, &[b"head"]).unwrap();
        append_frame(&mut out, Kind::Data, 9, &[b"\x00", b"body-bytes"]).unwrap();
        append_frame(&mut out, Kind::End, 9, &[]).unwrap();
        let mut r = &out[..];
        assert_eq!(read_frame(&mut r, 100).unwrap(), Frame { kind: Kind::Head, request: 9, payload: b"head".to_vec() });
        assert_eq!(read_header(&mut r, 100).unwrap(), Header { kind: Kind::Data, len: 11, request: 9 });
        let mut payload = [0u8; 11];
        r.read_exact(&mut payload).unwrap();
        assert_eq!(&payload, b"\x00body-bytes");
        assert_eq!(read_frame(&mut r, 100).unwrap(), Frame { kind: Kind::End, request: 9, payload: vec![] });
        assert!(matches!(read_frame(&mut r, 100), Err(FrameError::Closed)));
    }

    #[test]
    fn the_request_id_travels_in_every_header() {
        let header = frame_header(Kind::End, 3, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(header, [3, 0, 0, 0, 7, 8, 7, 6, 5, 4, 3, 2, 1]);
        let mut r = &header[..];
        assert_eq!(read_header(&mut r, 3).unwrap(), Header { kind: Kind::End, len: 3, request: 0x0102_0304_0506_0708 });
    }

    #[test]
    fn every_kind_round_trips() {
        for byte in 1..=11u8 {
            let kind = Kind::from_byte(byte).expect("a known kind");
            assert_eq!(kind as u8, byte);
            let mut out = Vec::new();
            append_frame(&mut out, kind, u64::from(byte), &[]).unwrap();
            assert_eq!(read_frame(&mut &out[..], 0).unwrap(), Frame { kind, request: u64::from(byte), payload: vec![] });
        }
        assert_eq!(Kind::from_byte(0), None);
        assert_eq!(Kind::from_byte(12), None);
    }

    #[test]
    fn malformed_frames_are_errors() {
        let id = [0u8; 8];
        let with_id = |head: &[u8], tail: &[u8]| [head, &id[..], tail].concat();
        assert!(matches!(read_frame(&mut &with_id(&[1u8, 0, 0, 0, 99], b"\0")[..], 10), Err(FrameError::UnknownKind(99))));
        assert!(matches!(read_frame(&mut &with_id(&[11u8, 0, 0, 0, 2], b"")[..], 10), Err(FrameError::TooLarge { len: 11, max: 10 })));
        assert!(matches!(read_frame(&mut &with_id(&[5u8, 0, 0, 0, 2], b"a")[..], 10), Err(FrameError::Io(_))));
        assert!(matches!(read_frame(&mut &[5u8, 0][..], 10), Err(FrameError::Io(_))));
        assert!(matches!(read_frame(&mut &[0u8, 0, 0, 0, 2, 1, 2][..], 10), Err(FrameError::Io(_))), "a header cut in its request id");
    }
}
