//! Relaying one response from a daemon into Apache's output filters. The
//! daemon may run as another user, so everything it sends is checked again.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;

use super::pool::DaemonConnection;
use crate::apache::brigade::Brigade;
use crate::apache::{OK, Request, status};
use crate::daemon::registry::Group;
use crate::protocol::{self, Abort, BodyError, DataHeader, End, Fail, FileRegion, FrameError, Goodbye, Kind, PayloadError, ReadRequest};
use crate::wsgi::headers;

/// Body data is relayed in pieces of this size, so the child never holds a
/// whole frame.
const PIECE: usize = 64 << 10;

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
    committed: bool,
    /// Body bytes have been handed to Apache's output filters.
    passed: bool,
    brigade: Brigade,
    unflushed: u64,
    /// WSGIErrorOverride On: an error status is answered by Apache itself.
    error_override: bool,
}

impl<'a> Relay<'a> {
    pub(super) fn new(r: &Request, group: &'a Group, connection: &'a mut DaemonConnection, error_override: bool) -> Relay<'a> {
        Relay { r: *r, group, connection, committed: false, passed: false, brigade: Brigade::new(r), unflushed: 0, error_override }
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
        let max_frame = protocol::MAX_DATA_FRAME.max(self.group.options.header_buffer_size as usize);
        let mut body = Vec::new();
        // Small frames (head, read requests, status) land here; it only grows.
        let mut buf = Vec::new();
        let mut first = true;
        loop {
            let reader = &mut self.connection.reader;
            let header = protocol::read_header(reader, max_frame).and_then(|(kind, len)| {
                if kind == Kind::Data {
                    return Ok((kind, len));
                }
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                reader.read_exact(&mut buf[..len])?;
                Ok((kind, len))
            });
            let (kind, len) = match header {
                Ok(f) => f,
                Err(FrameError::Io(e)) if first && e.kind() == ErrorKind::ConnectionReset => return Finish::NotTaken,
                Err(FrameError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return self.broken(status::GATEWAY_TIME_OUT, "timed out waiting for the response (socket-timeout)");
                }
                Err(FrameError::Closed) | Err(FrameError::Io(_)) => {
                    return self.broken(status::BAD_GATEWAY, "the daemon process closed the connection before the response was complete");
                }
                Err(e) => return self.broken(status::BAD_GATEWAY, &format!("malformed response: {e}")),
            };
            // Data payloads are streamed below, not read into `buf`.
            let payload: &[u8] = if kind == Kind::Data { &[] } else { &buf[..len] };
            if kind == Kind::Goodbye {
                if first && Goodbye::decode(payload).is_ok() {
                    return Finish::NotTaken;
                }
                return self.broken(status::BAD_GATEWAY, "unexpected Goodbye frame");
            }
            first = false;
            match kind {
                Kind::Read => {
                    let Ok(ReadRequest { want, fill }) = ReadRequest::decode(payload) else {
                        return self.broken(status::BAD_GATEWAY, "malformed body read request");
                    };
                    let want = (want as usize).min(protocol::MAX_BODY_READ);
                    body.clear();
                    body.reserve(want);
                    let spare = &mut body.spare_capacity_mut()[..want];
                    let reply = match self.r.read_body_fill(spare, fill) {
                        Ok(n) => {
                            // SAFETY: Apache initialised the first n bytes of the spare capacity.
                            unsafe { body.set_len(n) };
                            protocol::write_frame(&mut self.connection.reader.stream(), Kind::Body, &body)
                        }
                        Err(_) => {
                            self.r.close_connection();
                            let error = BodyError { reason: b"the client's request body could not be read" };
                            protocol::write_frame(&mut self.connection.reader.stream(), BodyError::KIND, error.encode())
                        }
                    };
                    if reply.is_err() {
                        return self.broken(status::BAD_GATEWAY, "the daemon process went away while reading the request body");
                    }
                }
                Kind::Head => {
                    if self.committed {
                        return self.broken(status::BAD_GATEWAY, "a second response head");
                    }
                    if len > self.group.options.header_buffer_size as usize {
                        return self.broken(
                            status::BAD_GATEWAY,
                            &format!("response header block of {len} bytes exceeds header-buffer-size ({})", self.group.options.header_buffer_size),
                        );
                    }
                    if let Some(code) = self.overridden_error(payload) {
                        // The application's head and body are dropped with the
                        // connection; Apache sends its ErrorDocument for `code`.
                        return done(code);
                    }
                    if let Err(e) = self.apply_head(payload) {
                        return self.broken(status::BAD_GATEWAY, &format!("invalid response head: {e}"));
                    }
                    self.committed = true;
                }
                Kind::Data => {
                    if !self.committed || len == 0 {
                        return self.broken(status::BAD_GATEWAY, "body data before the response head");
                    }
                    let mut flag = [0u8; 1];
                    if self.connection.reader.read_exact(&mut flag).is_err() {
                        return self.broken(status::BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                    }
                    let data = match DataHeader::decode(len, flag[0]) {
                        Ok(data) => data,
                        Err(e) => return self.broken(status::BAD_GATEWAY, &format!("malformed data frame: {e}")),
                    };
                    let mut remaining = data.len;
                    if self.r.header_only() {
                        if self.connection.reader.discard(remaining).is_err() {
                            return self.broken(status::BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                        }
                        continue;
                    }
                    while remaining > 0 {
                        let n = remaining.min(PIECE);
                        remaining -= n;
                        // Each piece is read from the socket into the bucket that carries it.
                        let reader = &mut self.connection.reader;
                        if self.brigade.append_filled(n, |dst| reader.read_exact_uninit(dst)).is_err() {
                            return self.broken(status::BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                        }
                        self.unflushed += n as u64;
                        let flush = (remaining == 0 && data.flush && !self.more_data_soon())
                            || self.unflushed >= self.group.options.response_buffer_size;
                        if flush {
                            self.unflushed = 0;
                        }
                        self.passed = true;
                        if self.brigade.write(&self.r, &[], flush).is_err() || self.r.client_aborted() {
                            // The client left: dropping the daemon connection tells the
                            // application (its next write fails and its iterable is closed).
                            return done(OK);
                        }
                    }
                }
                Kind::File => {
                    let region = FileRegion::decode(payload).ok();
                    let fd = self.connection.reader.take_fd();
                    let (Some(region), Some(fd)) = (region, fd) else {
                        return self.broken(status::BAD_GATEWAY, "malformed file frame (no descriptor or bad region)");
                    };
                    if !self.committed {
                        return self.broken(status::BAD_GATEWAY, "body data before the response head");
                    }
                    if self.r.header_only() {
                        continue;
                    }
                    let Some(file) = crate::apache::file::dup_into_pool(self.r.pool(), fd.as_raw_fd(), self.r.wsgi_sendfile_enabled()) else {
                        return self.broken(status::BAD_GATEWAY, "cannot use the file passed by the daemon");
                    };
                    drop(fd);
                    self.passed = true;
                    if self.brigade.write_file(&self.r, &file, region.offset, region.len).is_err() || self.r.client_aborted() {
                        return done(OK);
                    }
                }
                Kind::End => {
                    if !self.committed {
                        return self.broken(status::BAD_GATEWAY, "end of response before its head");
                    }
                    let end = match End::decode(payload) {
                        Ok(end) => end,
                        Err(e) => return self.broken(status::BAD_GATEWAY, &format!("malformed end frame: {e}")),
                    };
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
                Kind::Abort => {
                    if let Err(e) = Abort::decode(payload) {
                        return self.broken(status::BAD_GATEWAY, &format!("malformed abort frame: {e}"));
                    }
                    return self.cut_off();
                }
                Kind::Fail => {
                    let fail = Fail::decode(payload);
                    if self.committed {
                        let msg = match fail {
                            Ok(Fail { status }) | Err(PayloadError::FailStatus(status)) => {
                                format!("request failed with status {status} after the response started")
                            }
                            Err(e) => format!("malformed failure frame after the response started: {e}"),
                        };
                        return self.broken(status::BAD_GATEWAY, &msg);
                    }
                    return match fail {
                        Ok(Fail { status }) => done(i32::from(status)),
                        Err(PayloadError::FailStatus(status)) => {
                            self.broken(status::BAD_GATEWAY, &format!("the daemon reported an invalid failure status {status}"))
                        }
                        Err(e) => self.broken(status::BAD_GATEWAY, &format!("malformed failure frame: {e}")),
                    };
                }
                other => return self.broken(status::BAD_GATEWAY, &format!("unexpected {other:?} frame")),
            }
        }
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

    /// With WSGIErrorOverride On, the status of an error response (400-599),
    /// which Apache then answers itself (as mod_wsgi does, like ProxyErrorOverride).
    fn overridden_error(&self, payload: &[u8]) -> Option<i32> {
        if !self.error_override {
            return None;
        }
        let code = i32::from(protocol::decode_head(payload).ok()?.code);
        (400..600).contains(&code).then_some(code)
    }

    /// Validates the head again (the daemon may run as another user) and
    /// applies it to the request.
    fn apply_head(&self, payload: &[u8]) -> Result<(), String> {
        let head = protocol::decode_head(payload)?;
        let status_line: String = head.status.iter().map(|&b| b as char).collect();
        let code = headers::parse_status(&status_line)?;
        if code != head.code {
            return Err(format!("status code {} does not match status line {status_line:?}", head.code));
        }
        for (name, value) in &head.headers {
            let name = std::str::from_utf8(name).map_err(|_| "header name is not ASCII".to_string())?;
            let value: String = value.iter().map(|&b| b as char).collect();
            headers::check_header_name(name)?;
            headers::check_header_value(name, &value)?;
        }
        let headers = head.headers.iter().map(|(name, value)| (&name[..], &value[..]));
        self.r.apply_response_head(code, head.status, headers, head.content_length);
        Ok(())
    }

}
