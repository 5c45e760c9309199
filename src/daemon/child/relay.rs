//! Relaying one response from a daemon into Apache's output filters. The
//! daemon may run as another user, so everything it sends is checked again.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::pool::DaemonConnection;
use crate::apache::brigade::Brigade;
use crate::apache::{OK, Request, status};
use crate::daemon::registry::Group;
use crate::protocol::relay::{ResponseCheck, Step, Violation};
use crate::protocol::{self, BodyError, DataHeader, FrameError, Kind, ReadRequest};

/// Body data is relayed in pieces of this size, so the child never holds a
/// whole frame. A quarter of the connection's send buffer
/// (fdpass::SEND_BUFFER, doubled by the kernel): a piece never waits for
/// room, and the other side wakes once per piece.
const PIECE: usize = 256 << 10;

/// How a relay ended.
pub(super) enum Finish {
    /// The handler's status; `reusable`: the connection is clean for another request.
    Done { status: i32, reusable: bool },
    /// The daemon closed the connection without reading the request.
    NotTaken,
}

fn done(status: i32) -> Finish {
    Finish::Done { status, reusable: false }
}

pub(super) struct Relay<'a> {
    r: Request,
    group: &'a Group,
    /// Frames that arrive together (head, body, end) are read in one system
    /// call; descriptors passed with File frames are collected there.
    connection: &'a mut DaemonConnection,
    /// The request id, the frame order, the head and the announced length.
    check: ResponseCheck,
    /// Body bytes have been handed to Apache's output filters.
    passed: bool,
    brigade: Brigade,
    unflushed: u64,
    /// While the application fills a large read, the child sends what it has
    /// at least this often, so the daemon's socket-timeout measures inactivity.
    body_keepalive: Duration,
    /// WSGIErrorOverride On: an error status is answered by Apache itself.
    error_override: bool,
}

impl<'a> Relay<'a> {
    pub(super) fn new(r: &Request, group: &'a Group, connection: &'a mut DaemonConnection, request: u64, timeout: Duration, error_override: bool) -> Relay<'a> {
        let check = ResponseCheck::new(request, group.options.header_buffer_size as usize, r.header_only());
        Relay { r: *r, group, connection, check, passed: false, brigade: Brigade::new(r), unflushed: 0, body_keepalive: timeout / 2, error_override }
    }

    fn log(&self, msg: &str) {
        tracing::error!("daemon process group '{}': {msg}", self.group.options.name);
    }

    /// A failure of the daemon: 502/504 while nothing of the body has reached
    /// Apache's filters (the head alone can still be replaced), else the body
    /// produced so far goes out and the response is cut off.
    fn broken(&mut self, code: i32, msg: &str) -> Finish {
        self.log(msg);
        if !self.passed {
            return done(code);
        }
        self.cut_off()
    }

    /// Sends what the application produced so far (it may be held back by
    /// response-flush-delay), then cuts the connection so the client sees an
    /// incomplete response.
    fn cut_off(&mut self) -> Finish {
        let _ = self.brigade.write(&self.r, &[], true);
        self.r.abort_connection();
        done(OK)
    }

    pub(super) fn run(mut self) -> Finish {
        let max_frame = self.check.max_frame();
        let mut body = Vec::new();
        // Small frames (head, read requests, status) land here; it only grows.
        let mut buf = Vec::new();
        let mut first = true;
        loop {
            let reader = &mut self.connection.reader;
            let check = &mut self.check;
            let header = protocol::read_header(reader, max_frame).and_then(|h| {
                if let Err(v) = check.header(h) {
                    return Ok(Err(v));
                }
                // Data payloads are streamed below; the rest are read whole.
                let len = if h.kind == Kind::Data { DataHeader::FLAG_SIZE.min(h.len) } else { h.len };
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                reader.read_exact(&mut buf[..len])?;
                Ok(Ok((h, len)))
            });
            let (h, len) = match header {
                Ok(Ok(f)) => f,
                Ok(Err(v)) => return self.broken(status::BAD_GATEWAY, &v.0),
                Err(FrameError::Io(e)) if first && e.kind() == ErrorKind::ConnectionReset => return Finish::NotTaken,
                Err(FrameError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return self.broken(status::GATEWAY_TIME_OUT, "timed out waiting for the response (socket-timeout)");
                }
                Err(FrameError::Closed) | Err(FrameError::Io(_)) => {
                    return self.broken(status::BAD_GATEWAY, "the daemon process closed the connection before the response was complete");
                }
                Err(e) => return self.broken(status::BAD_GATEWAY, &format!("malformed response: {e}")),
            };
            first = false;
            if self.connection.reader.misused() {
                return self.broken(status::BAD_GATEWAY, "the daemon passed file descriptors that no file frame accounts for");
            }
            let step = match self.check.frame(h, &buf[..len]) {
                Ok(step) => step,
                Err(v) => return self.broken(status::BAD_GATEWAY, &v.0),
            };
            match step {
                Step::NotTaken => return Finish::NotTaken,
                Step::ReadBody(read) => {
                    if let Err(msg) = self.answer_read(&mut body, read, h.request) {
                        return self.broken(status::BAD_GATEWAY, msg);
                    }
                }
                Step::Head(head) => {
                    if self.error_override && (400..600).contains(&head.code) {
                        // WSGIErrorOverride On (as mod_wsgi does, like ProxyErrorOverride):
                        // the application's head and body are dropped with the
                        // connection; Apache sends its ErrorDocument for the status.
                        return done(i32::from(head.code));
                    }
                    let headers = head.headers.iter().map(|(name, value)| (&name[..], &value[..]));
                    self.r.apply_response_head(head.code, head.status, headers, head.content_length);
                }
                Step::Data(data) => {
                    if let Some(finish) = self.relay_data(data) {
                        return finish;
                    }
                }
                Step::File(region) => {
                    let Some(fd) = self.connection.reader.take_fd() else {
                        return self.broken(status::BAD_GATEWAY, "malformed file frame (no descriptor or bad region)");
                    };
                    if let Err(v) = fstat_regular(&fd).and_then(|(regular, size)| self.check.file(region, regular, size)) {
                        return self.broken(status::BAD_GATEWAY, &v.0);
                    }
                    if self.r.header_only() || region.len == 0 {
                        continue;
                    }
                    let Some(file) = crate::apache::file::dup_into_pool(self.r.pool(), fd.as_raw_fd(), self.r.wsgi_sendfile_enabled()) else {
                        return self.broken(status::BAD_GATEWAY, "cannot use the file passed by the daemon");
                    };
                    drop(fd);
                    self.passed = true;
                    if self.brigade.write_foreign_file(&self.r, &file, region.offset, region.len).is_err() || self.r.client_aborted() {
                        return done(OK);
                    }
                }
                Step::End(end) => {
                    if end.close_connection {
                        self.r.close_connection();
                    }
                    if let Some(pid) = end.pid {
                        self.connection.pid = pid;
                    }
                    let _ = self.brigade.finish(&self.r);
                    // Whatever happened to the client, the daemon's side is complete.
                    return Finish::Done { status: OK, reusable: self.connection.reader.is_drained() };
                }
                Step::Abort => return self.cut_off(),
                Step::Fail(code) => return done(i32::from(code)),
            }
        }
    }

    /// Streams one Data frame's body into Apache's filters; `Some` ends the relay.
    fn relay_data(&mut self, data: DataHeader) -> Option<Finish> {
        let mut remaining = data.len;
        if self.r.header_only() {
            if self.connection.reader.discard(remaining).is_err() {
                return Some(self.broken(status::BAD_GATEWAY, "the daemon process closed the connection in the middle of the body"));
            }
            return None;
        }
        while remaining > 0 {
            let n = remaining.min(PIECE);
            remaining -= n;
            // Each piece is read from the socket into the bucket that carries it.
            let reader = &mut self.connection.reader;
            if self.brigade.append_filled(n, |dst| reader.read_exact_uninit(dst)).is_err() {
                return Some(self.broken(status::BAD_GATEWAY, "the daemon process closed the connection in the middle of the body"));
            }
            self.unflushed += n as u64;
            let flush = (remaining == 0 && data.flush && !self.more_data_soon()) || self.unflushed >= self.group.options.response_buffer_size;
            if flush {
                self.unflushed = 0;
            }
            self.passed = true;
            if self.brigade.write(&self.r, &[], flush).is_err() || self.r.client_aborted() {
                // The client left: dropping the daemon connection tells the
                // application (its next write fails and its iterable is closed).
                return Some(done(OK));
            }
        }
        None
    }

    /// Answers a Read: up to `want` body bytes in one Body frame; with `fill`,
    /// exactly `want` unless the body ends first, followed by an empty Body
    /// frame when the body ended short. A filled answer goes out in Body
    /// frames of at most [`PIECE`] bytes as they arrive from the client (and
    /// sooner when the client is slow, so the daemon sees activity): the
    /// daemon copies one piece while the next is read, and the child holds one
    /// piece, not the whole answer.
    fn answer_read(&mut self, body: &mut Vec<u8>, read: ReadRequest, request: u64) -> Result<(), &'static str> {
        let want = (read.want as usize).min(protocol::MAX_BODY_READ);
        let room = if read.fill { want.min(PIECE) } else { want };
        body.clear();
        body.reserve(room);
        let (mut total, mut last_sent) = (0, Instant::now());
        let gone = "the daemon process went away while reading the request body";
        let stream = self.connection.reader.stream();
        let mut ended = false;
        loop {
            // The unfilled part of this piece (spare capacity starts at body.len()).
            let got = body.len();
            let spare = &mut body.spare_capacity_mut()[..room.min(want - total) - got];
            match self.r.read_body(spare) {
                Ok(0) => ended = true,
                Ok(n) => {
                    // SAFETY: Apache initialised the n bytes after the first `got`.
                    unsafe { body.set_len(got + n) };
                }
                Err(_) => {
                    self.r.close_connection();
                    let error = BodyError { reason: b"the client's request body could not be read" };
                    return protocol::write_frame(&mut &*stream, BodyError::KIND, request, error.encode()).map_err(|_| gone);
                }
            }
            if !read.fill {
                return protocol::write_frame(&mut &*stream, Kind::Body, request, body).map_err(|_| gone);
            }
            let full = total + body.len() == want || body.len() == room;
            if !body.is_empty() && (ended || full || last_sent.elapsed() >= self.body_keepalive) {
                protocol::write_frame(&mut &*stream, Kind::Body, request, body).map_err(|_| gone)?;
                total += body.len();
                body.clear();
                last_sent = Instant::now();
            }
            if ended || total == want {
                break;
            }
        }
        if ended && total < want {
            protocol::write_frame(&mut &*stream, Kind::Body, request, &[]).map_err(|_| gone)?;
        }
        Ok(())
    }

    /// response-flush-delay: before flushing, wait briefly for more output, so
    /// that small writes travel together (and rate-limiting filters see fewer,
    /// larger pieces).
    fn more_data_soon(&self) -> bool {
        use std::os::fd::AsRawFd;
        let Some(delay) = self.group.options.response_flush_delay else { return false };
        if !self.connection.reader.buffered().is_empty() {
            return true;
        }
        let mut pfd = libc::pollfd { fd: self.connection.reader.stream().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on our socket.
        unsafe { libc::poll(&mut pfd, 1, delay.as_millis().min(1000) as i32) > 0 }
    }
}

/// Whether a passed descriptor is a regular file, and its size.
fn fstat_regular(fd: &OwnedFd) -> Result<(bool, u64), Violation> {
    // SAFETY: fstat on a descriptor we own, into a zeroed stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Violation(format!("cannot fstat the descriptor passed with a file frame: {}", std::io::Error::last_os_error())));
    }
    Ok((st.st_mode & libc::S_IFMT == libc::S_IFREG, st.st_size.max(0) as u64))
}
