//! The daemon side of a connection from an Apache child, and the WSGI
//! `Channel` over it for one request at a time.

use std::io::{BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::protocol::{self, Abort, BodyError, DataHeader, End, Fail, FileRegion, Goodbye, Kind, ReadRequest};
use crate::wsgi::channel::{Channel, Disconnected, ValidatedHead, latin1};

/// Small frames are collected and written together, so that a short response
/// (head, body, end) costs one system call. (Local batching, not part of the
/// wire format: the child reads frames however they arrive.)
const COALESCE: usize = 64 << 10;

/// A connection from an Apache child. Output goes through `pending` under its
/// lock, because the main thread may answer a timed-out request while the
/// request's own thread is stuck.
pub struct Connection {
    /// The poller's key for this connection.
    pub token: u64,
    /// Registered with the poller (it is re-armed rather than added).
    pub watched: AtomicBool,
    /// The poller's wake-up for the current request said the child had
    /// closed its end (see [`Connection::closed_before_start`]).
    pub closed_at_wake: AtomicBool,
    /// This connection's entry among the descriptors a forked process closes;
    /// declared before the sockets so that it is dropped before they close.
    _fork_slot: super::fork::Registered,
    stream: UnixStream,
    pub(super) reader: Mutex<BufReader<UnixStream>>,
    pending: Mutex<Vec<u8>>,
    pub(super) head_sent: AtomicBool,
    /// Set once request-timeout has answered this request: later output is dropped.
    pub timed_out: AtomicBool,
    broken: AtomicBool,
    /// The current request's End frame went out: the connection is clean.
    pub(super) ended: AtomicBool,
    /// The id of the request being served, echoed in every frame of its response.
    pub(super) request: AtomicU64,
}

impl Connection {
    /// Wraps a newly accepted connection; `timeout` bounds each read and write.
    pub fn new(stream: UnixStream, token: u64, read_timeout: Duration, write_timeout: Duration) -> std::io::Result<Connection> {
        stream.set_read_timeout(Some(read_timeout))?;
        stream.set_write_timeout(Some(write_timeout))?;
        let reader = BufReader::with_capacity(COALESCE, stream.try_clone()?);
        let fork_slot = super::fork::Registered::new(&[stream.as_raw_fd(), reader.get_ref().as_raw_fd()]);
        Ok(Connection {
            token,
            watched: AtomicBool::new(false),
            closed_at_wake: AtomicBool::new(false),
            stream,
            reader: Mutex::new(reader),
            pending: Mutex::new(Vec::with_capacity(4096)),
            head_sent: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            request: AtomicU64::new(protocol::NO_REQUEST),
            _fork_slot: fork_slot,
        })
    }

    pub fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// Bytes received and not read yet (by the socket or our buffer).
    pub fn pending_bytes(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD stores an int for our own socket.
        let queued = if unsafe { libc::ioctl(self.fd(), libc::FIONREAD, &mut n) } == 0 { n.max(0) as usize } else { 1 };
        queued + self.reader.try_lock().map_or(1, |r| r.buffer().len())
    }

    /// The child had closed its end (it gave up on the request) when the
    /// poller woke a thread for this request: epoll's event says so, which
    /// saves a poll() per request. (The event reflects the socket's state when
    /// epoll_wait returned, microseconds before this is asked.)
    pub fn closed_before_start(&self) -> bool {
        self.closed_at_wake.load(Ordering::Acquire)
    }

    /// The child has closed its end (it gave up on the request, or exited).
    pub fn peer_closed(&self) -> bool {
        let mut pfd = libc::pollfd { fd: self.fd(), events: libc::POLLRDHUP, revents: 0 };
        // SAFETY: one valid pollfd on our socket, no waiting.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0
    }

    /// Closes the connection without reading the request the child may have
    /// sent on it; the child sends it again elsewhere.
    pub fn goodbye(&self) {
        if super::fork::forked() {
            return;
        }
        let _ = (&self.stream).write_all(&Goodbye.frame());
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Whether the request just served left the connection fit for the next.
    pub(super) fn reusable(&self) -> bool {
        self.ended.load(Ordering::Acquire)
            && !self.broken.load(Ordering::Acquire)
            && !self.timed_out.load(Ordering::Acquire)
            && self.pending.lock().is_empty()
            && self.reader.lock().buffer().is_empty()
    }

    fn write_all(&self, bytes: &[u8]) -> Result<(), Disconnected> {
        // A process the application forked answers nothing on our connections.
        if super::fork::forked() {
            return Err(Disconnected);
        }
        (&self.stream).write_all(bytes).map_err(|_| {
            self.broken.store(true, Ordering::Release);
            Disconnected
        })
    }

    /// Queues a frame; writes the queue (and the frame) when `flush` is set or
    /// the frame is large.
    fn send(&self, kind: Kind, parts: &[&[u8]], flush: bool) -> Result<(), Disconnected> {
        if self.broken.load(Ordering::Acquire) || super::fork::forked() {
            return Err(Disconnected);
        }
        let mut pending = self.pending.lock();
        if self.timed_out.load(Ordering::Acquire) {
            return Err(Disconnected);
        }
        let request = self.request.load(Ordering::Acquire);
        let size: usize = parts.iter().map(|p| p.len()).sum();
        if pending.len() + size + protocol::HEADER_SIZE <= COALESCE {
            protocol::append_frame(&mut pending, kind, request, parts).map_err(|_| Disconnected)?;
            if flush {
                self.write_all(&pending)?;
                pending.clear();
            }
            return Ok(());
        }
        if !pending.is_empty() {
            self.write_all(&pending)?;
            pending.clear();
        }
        protocol::write_frame_parts(&mut &self.stream, kind, request, parts).map_err(|_| {
            self.broken.store(true, Ordering::Release);
            Disconnected
        })
    }

    /// Queues a frame if it fits the queue (no system call: the caller may
    /// hold the GIL); `None` when it does not, and then nothing was queued.
    fn queue(&self, kind: Kind, parts: &[&[u8]]) -> Option<Result<(), Disconnected>> {
        if self.broken.load(Ordering::Acquire) || super::fork::forked() {
            return Some(Err(Disconnected));
        }
        let mut pending = self.pending.lock();
        if self.timed_out.load(Ordering::Acquire) {
            return Some(Err(Disconnected));
        }
        let size: usize = parts.iter().map(|p| p.len()).sum();
        if pending.len() + size + protocol::HEADER_SIZE > COALESCE {
            return None;
        }
        let request = self.request.load(Ordering::Acquire);
        Some(protocol::append_frame(&mut pending, kind, request, parts).map_err(|_| Disconnected))
    }

    /// Writes what is queued (a response's end queued by `finish_now`); the
    /// request thread calls it once it has let go of the GIL.
    pub(super) fn flush(&self) -> Result<(), Disconnected> {
        let mut pending = self.pending.lock();
        if pending.is_empty() || self.timed_out.load(Ordering::Acquire) {
            return Ok(());
        }
        let written = self.write_all(&pending);
        pending.clear();
        written
    }

    /// Sends `len` bytes of file `fd` from `offset` as a File frame carrying the
    /// descriptor (queued frames go first, to keep the order).
    fn send_file(&self, fd: i32, offset: u64, len: u64) -> Result<(), Disconnected> {
        if self.broken.load(Ordering::Acquire) || super::fork::forked() {
            return Err(Disconnected);
        }
        let mut pending = self.pending.lock();
        if self.timed_out.load(Ordering::Acquire) {
            return Err(Disconnected);
        }
        if !pending.is_empty() {
            self.write_all(&pending)?;
            pending.clear();
        }
        let mut frame = Vec::with_capacity(protocol::HEADER_SIZE + FileRegion::SIZE);
        let request = self.request.load(Ordering::Acquire);
        protocol::append_frame(&mut frame, FileRegion::KIND, request, &[&FileRegion { offset, len }.encode()]).map_err(|_| Disconnected)?;
        crate::fdpass::send_with_fd(&self.stream, &frame, fd).map_err(|_| {
            self.broken.store(true, Ordering::Release);
            Disconnected
        })
    }

    /// Answers with an HTTP status if no response has started; otherwise cuts
    /// the connection so the child reports an incomplete response.
    pub fn fail_unstarted(&self, status: u16) {
        if super::fork::forked() {
            return;
        }
        let mut pending = self.pending.lock();
        if !self.head_sent.load(Ordering::Acquire) && !self.broken.load(Ordering::Acquire) {
            let request = self.request.load(Ordering::Acquire);
            let _ = protocol::append_frame(&mut pending, Fail::KIND, request, &[&Fail { status }.encode()]);
            let _ = self.write_all(&pending);
            pending.clear();
        } else {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
        self.head_sent.store(true, Ordering::Release);
    }
}

pub struct DaemonChannel {
    pub connection: Arc<Connection>,
    pub header_only: bool,
    pub has_body: bool,
    pub close_after: AtomicBool,
    /// The daemon's pid, for the End frame.
    pub pid: u32,
}

impl DaemonChannel {
    /// One Read frame and its answer: up to `buf.len()` (at most
    /// [`protocol::MAX_BODY_READ`]) body bytes. With `fill`, the child sends
    /// them in as many Body frames as the client's pace needs, and an empty one
    /// if the body ends first; without, in one frame (empty: the end).
    fn read_piece(&self, buf: &mut [std::mem::MaybeUninit<u8>], fill: bool) -> Result<usize, String> {
        let read = ReadRequest { want: buf.len() as u32, fill };
        self.connection.send(ReadRequest::KIND, &[&read.encode()], true).map_err(|_| "the Apache child has gone".to_string())?;
        let gone = |e: &dyn std::fmt::Display| format!("reading from the Apache child: {e}");
        let mut reader = self.connection.reader.lock();
        let expected = self.connection.request.load(Ordering::Acquire);
        let mut got = 0;
        loop {
            let header = protocol::read_header(&mut *reader, buf.len() - got).map_err(|e| gone(&e))?;
            if header.request != expected {
                self.connection.broken.store(true, Ordering::Release);
                return Err(format!("a {:?} frame of request {} while reading the body of request {expected}", header.kind, header.request));
            }
            let len = header.len;
            match header.kind {
                Kind::Body => {
                    read_into(&mut reader, &mut buf[got..got + len]).map_err(|e| gone(&e))?;
                    got += len;
                    if !fill || len == 0 || got == buf.len() {
                        return Ok(got);
                    }
                }
                Kind::BodyError => {
                    let mut reason = vec![0u8; len];
                    reader.read_exact(&mut reason).map_err(|e| gone(&e))?;
                    return Err(BodyError::decode(&reason).reason_lossy());
                }
                other => {
                    self.connection.broken.store(true, Ordering::Release);
                    return Err(format!("unexpected {other:?} frame while reading the request body"));
                }
            }
        }
    }
}

impl Channel for DaemonChannel {
    fn has_body(&self) -> bool {
        self.has_body
    }

    fn read_body(&self, buf: &mut [std::mem::MaybeUninit<u8>], fill: bool) -> Result<usize, String> {
        // The child answers a Read with at most MAX_BODY_READ bytes, so a larger
        // read is several Reads; with `fill`, only a Body shorter than asked for
        // means the end of the body.
        let mut got = 0;
        loop {
            let want = (buf.len() - got).min(protocol::MAX_BODY_READ);
            let n = self.read_piece(&mut buf[got..got + want], fill)?;
            got += n;
            if !fill || n < want || got == buf.len() {
                return Ok(got);
            }
        }
    }

    fn commit(&self, head: &ValidatedHead) {
        let headers: Vec<(&[u8], &[u8])> = head.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())).collect();
        let mut payload = Vec::with_capacity(64 + headers.iter().map(|(k, v)| k.len() + v.len() + 8).sum::<usize>());
        protocol::encode_head(head.code, &latin1(&head.status), &headers, head.content_length, &mut payload);
        if self.connection.send(Kind::Head, &[&payload], false).is_ok() {
            self.connection.head_sent.store(true, Ordering::Release);
        }
    }

    fn write(&self, data: &[u8], flush: bool) -> Result<(), Disconnected> {
        let chunks = data.chunks(protocol::MAX_DATA_CHUNK);
        let count = chunks.len();
        for (i, chunk) in chunks.enumerate() {
            let header = DataHeader { flush: flush && i + 1 == count, len: chunk.len() };
            self.connection.send(DataHeader::KIND, &[&header.flag(), chunk], header.flush)?;
        }
        Ok(())
    }

    fn write_file(&self, fd: i32, offset: u64, len: u64) -> Result<(), Disconnected> {
        // The child gets the file itself and sends it with a file bucket
        // (sendfile with EnableSendfile On), as embedded mode does.
        if self.connection.send_file(fd, offset, len).is_ok() {
            return Ok(());
        }
        if self.connection.broken.load(Ordering::Acquire) {
            return Err(Disconnected);
        }
        let mut buf = vec![0u8; (256 << 10).min(len as usize).max(1)];
        let (mut at, end) = (offset, offset + len);
        while at < end {
            let want = buf.len().min((end - at) as usize);
            // SAFETY: reading into our buffer from the application's descriptor.
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr() as *mut libc::c_void, want, at as libc::off_t) };
            if n <= 0 {
                // The file shrank: what is missing shows as a short response.
                break;
            }
            self.write(&buf[..n as usize], false)?;
            at += n as u64;
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Disconnected> {
        let (end, n) = End { close_connection: self.close_after.load(Ordering::Relaxed), pid: Some(self.pid) }.encode();
        self.connection.send(End::KIND, &[&end[..n]], true)?;
        self.connection.ended.store(true, Ordering::Release);
        Ok(())
    }

    fn write_now(&self, data: &[u8], flush: bool) -> Option<Result<(), Disconnected>> {
        // A flush is a system call, made with the GIL released: holding it
        // there lets the woken Apache child's thread preempt this one with the
        // GIL held (measured: more context switches per request, not fewer).
        if flush || data.len() > protocol::MAX_DATA_CHUNK {
            return None;
        }
        self.connection.queue(DataHeader::KIND, &[&DataHeader { flush: false, len: data.len() }.flag(), data])
    }

    fn finish_now(&self) -> Option<Result<(), Disconnected>> {
        let (end, n) = End { close_connection: self.close_after.load(Ordering::Relaxed), pid: Some(self.pid) }.encode();
        let queued = self.connection.queue(End::KIND, &[&end[..n]])?;
        // The connection is reusable only once the queue is out and the write
        // did not break it (reusable() checks both).
        if queued.is_ok() {
            self.connection.ended.store(true, Ordering::Release);
        }
        Some(queued)
    }

    fn header_only(&self) -> bool {
        self.header_only
    }

    fn client_gone(&self) -> bool {
        self.connection.broken.load(Ordering::Acquire) || self.connection.timed_out.load(Ordering::Acquire)
    }

    fn close_after_response(&self) {
        self.close_after.store(true, Ordering::Relaxed);
    }

    fn abort(&self) {
        let _ = self.connection.send(Abort::KIND, &[&Abort.encode()], true);
    }
}

/// Reads exactly `dst.len()` bytes into possibly uninitialised memory: first
/// what the reader has buffered, then straight from the socket (no zero-filled
/// intermediate buffer for request bodies).
fn read_into(reader: &mut BufReader<UnixStream>, dst: &mut [std::mem::MaybeUninit<u8>]) -> std::io::Result<()> {
    use std::io::BufRead;
    let buffered = reader.buffer();
    let mut got = buffered.len().min(dst.len());
    // SAFETY: copying initialised bytes into the destination's first `got` slots.
    unsafe { std::ptr::copy_nonoverlapping(buffered.as_ptr(), dst.as_mut_ptr() as *mut u8, got) };
    reader.consume(got);
    let fd = reader.get_ref().as_raw_fd();
    while got < dst.len() {
        // SAFETY: reading into the unfilled tail of `dst`.
        let n = unsafe { libc::read(fd, dst.as_mut_ptr().add(got) as *mut libc::c_void, dst.len() - got) };
        match n {
            n if n > 0 => got += n as usize,
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}
