//! Passing file descriptors over the daemon socket (SCM_RIGHTS).
//!
//! wsgi.file_wrapper files go from the daemon to the Apache child as a
//! descriptor rather than as bytes through the socket: the child sends them
//! with a file bucket (sendfile with EnableSendfile On), as embedded mode does.
//! (Passing in-memory bodies through a memfd the same way was measured slower
//! than copying them through the socket: page allocation and mmap per request.)

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The send buffer (SO_SNDBUF) each end of a daemon connection asks for; the
/// kernel doubles it (1 MiB, room for a 1 MiB body in flight) and caps it at
/// twice net.core.wmem_max. With the default (208 KiB) a 1 MiB echo cost 30-38
/// context switches per request across the child and the daemon, each side
/// waking the other every 64 KiB; with this and 256 KiB relay pieces, 13.
/// A ceiling, not an allocation: memory is used only by bytes in flight.
pub const SEND_BUFFER: usize = 512 << 10;

/// Sets `stream`'s send buffer to `bytes` (see [`SEND_BUFFER`]); a failure
/// leaves the system's default, which works, only slower.
pub fn set_send_buffer(stream: &UnixStream, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: setting an int option on our own socket.
    unsafe { libc::setsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, &v as *const libc::c_int as *const libc::c_void, std::mem::size_of::<libc::c_int>() as u32) };
}

/// Descriptors accepted with one receive call: one, as a File frame carries
/// (the kernel closes any more that a message carries, and says so with
/// MSG_CTRUNC, which marks the connection as misused).
const FDS_PER_RECEIVE: usize = 1;

/// Descriptors held for frames not yet parsed. A receive stops after the first
/// message that carries a descriptor, and a File frame's descriptor comes with
/// the frame's first byte, so an honest peer never has more than two pending
/// (a frame header split across two receives, the next File frame in the
/// second); one more marks the connection as misused and is closed at once.
const MAX_PENDING_FDS: usize = 2;

/// One-buffer message header with room for `fds` descriptors of control data.
/// The returned header points at `iov` and `control`, which must outlive its use.
fn message(iov: &mut libc::iovec, control: &mut Vec<u64>, fds: usize) -> libc::msghdr {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE((fds * std::mem::size_of::<i32>()) as u32) } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    control.resize(space.div_ceil(8), 0);
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    msg
}

/// Sends `bytes`, with `fd` attached to the first byte.
pub fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: i32) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    let mut control = Vec::new();
    let msg = message(&mut iov, &mut control, 1);
    // SAFETY: one SCM_RIGHTS control message written with the CMSG_* helpers
    // into the header's correctly sized, aligned control buffer.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut i32, fd);
        loop {
            let n = libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    };
    // The descriptor went with the first bytes; the rest is plain data.
    (&*stream).write_all(&bytes[sent..])
}

/// A buffered reader over a connection that also collects descriptors passed
/// with the data. It owns the connection, so that both outlive one request.
pub struct FdReader {
    stream: UnixStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    fds: VecDeque<OwnedFd>,
    /// The peer sent descriptors no frame can account for (closed on arrival).
    misused: bool,
}

impl FdReader {
    pub fn new(stream: UnixStream, capacity: usize) -> FdReader {
        FdReader { stream, buf: vec![0u8; capacity].into_boxed_slice(), start: 0, end: 0, fds: VecDeque::with_capacity(MAX_PENDING_FDS), misused: false }
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Bytes received but not read yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Nothing received is left unread: no bytes, no descriptors.
    pub fn is_drained(&self) -> bool {
        self.start == self.end && self.fds.is_empty()
    }

    /// Descriptors arrived that no frame can account for: too many, or more
    /// in one message than a frame carries. They were closed; the connection
    /// must not be used further.
    pub fn misused(&self) -> bool {
        self.misused
    }

    /// Descriptors received and not taken yet (at most two).
    pub fn pending_fds(&self) -> usize {
        self.fds.len()
    }

    /// The oldest descriptor received and not yet taken.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    /// Fills all of `dst`, which may be uninitialised: first from the buffer,
    /// then straight from the socket (no intermediate copy for large reads).
    pub fn read_exact_uninit(&mut self, dst: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<()> {
        let buffered = self.buffered();
        let mut got = buffered.len().min(dst.len());
        // SAFETY: copying initialised bytes into the destination's first `got` slots.
        unsafe { std::ptr::copy_nonoverlapping(buffered.as_ptr(), dst.as_mut_ptr() as *mut u8, got) };
        self.start += got;
        while got < dst.len() {
            // SAFETY: receiving into the unfilled tail of `dst`.
            let n = self.receive(unsafe { dst.as_mut_ptr().add(got) } as *mut u8, dst.len() - got)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        Ok(())
    }

    /// Reads and drops `len` bytes.
    pub fn discard(&mut self, mut len: usize) -> io::Result<()> {
        while len > 0 {
            if self.start == self.end {
                let (ptr, cap) = (self.buf.as_mut_ptr(), self.buf.len());
                self.end = self.receive(ptr, cap)?;
                self.start = 0;
                if self.end == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            let n = len.min(self.end - self.start);
            self.start += n;
            len -= n;
        }
        Ok(())
    }

    fn receive(&mut self, ptr: *mut u8, len: usize) -> io::Result<usize> {
        let mut iov = libc::iovec { iov_base: ptr as *mut libc::c_void, iov_len: len };
        let mut control = Vec::new();
        let mut msg = message(&mut iov, &mut control, FDS_PER_RECEIVE);
        // SAFETY: recvmsg into `len` writable bytes at `ptr` (the caller's buffer
        // or ours); the control data is parsed with the CMSG_* helpers.
        unsafe {
            let n = loop {
                let n = libc::recvmsg(self.stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
                if n >= 0 {
                    break n as usize;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            };
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg) as *const i32;
                    let count = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<i32>();
                    // The control buffer is padded: it may hold one more than asked for.
                    if count > FDS_PER_RECEIVE {
                        self.misused = true;
                    }
                    for i in 0..count {
                        let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                        if i < FDS_PER_RECEIVE && self.fds.len() < MAX_PENDING_FDS {
                            self.fds.push_back(fd);
                        } else {
                            // Dropping closes it: the count stays bounded.
                            self.misused = true;
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            if msg.msg_flags & libc::MSG_CTRUNC != 0 {
                self.misused = true;
            }
            Ok(n)
        }
    }
}

impl Read for FdReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= self.buf.len() {
                return self.receive(out.as_mut_ptr(), out.len());
            }
            let (ptr, len) = (self.buf.as_mut_ptr(), self.buf.len());
            self.end = self.receive(ptr, len)?;
            self.start = 0;
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_travel_with_the_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        send_with_fd(&a, b"hello, world", file.as_raw_fd()).unwrap();
        (&a).write_all(b"!").unwrap();
        let mut reader = FdReader::new(b, 4);
        let mut got = [0u8; 13];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello, world!");
        let fd = reader.take_fd().expect("a descriptor arrived");
        assert!(reader.take_fd().is_none());
        let mut passed = std::fs::File::from(fd);
        let mut text = String::new();
        passed.read_to_string(&mut text).unwrap();
        assert!(text.contains('('), "{text}");
        assert!(!reader.misused());
    }

    /// Sends one byte with `fds` attached in one message.
    fn send_fds(stream: &UnixStream, fds: &[i32]) {
        let byte = [b'x'];
        let mut iov = libc::iovec { iov_base: byte.as_ptr() as *mut libc::c_void, iov_len: 1 };
        let mut control = Vec::new();
        let msg = message(&mut iov, &mut control, fds.len());
        // SAFETY: one SCM_RIGHTS message with `fds.len()` descriptors in a buffer sized for them.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned((libc::CMSG_DATA(cmsg) as *mut i32).add(i), *fd);
            }
            assert_eq!(libc::sendmsg(stream.as_raw_fd(), &msg, 0), 1);
        }
    }

    #[test]
    fn several_descriptors_in_one_message_mark_the_connection_and_are_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let mut reader = FdReader::new(b, 64);
        send_fds(&a, &[file.as_raw_fd(); 5]);
        let mut got = [0u8; 1];
        reader.read_exact(&mut got).unwrap();
        assert!(reader.misused(), "MSG_CTRUNC noticed");
        assert_eq!(reader.pending_fds(), 1, "one kept, the others closed");
    }

    #[test]
    fn descriptors_never_pile_up() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let mut reader = FdReader::new(b, 64);
        for _ in 0..200 {
            send_fds(&a, &[file.as_raw_fd()]);
        }
        let mut got = [0u8; 200];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(reader.pending_fds(), MAX_PENDING_FDS, "the others were closed as they came");
        assert!(reader.misused());
    }
}
