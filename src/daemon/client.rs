//! The Apache child's side of daemon mode: hands the request to the group's
//! daemon over its Unix socket and relays the response into Apache's output
//! filters. No Python runs here.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::fdpass::FdReader;
use super::registry::{Group, ScriptOwner};
use crate::apache::brigade::Brigade;
use crate::apache::{Level, OK, Request, log};
use crate::ffi;
use crate::protocol::{self, FrameError, Kind, RequestHeader};
use crate::wsgi::headers;
use crate::wsgi::route::Route;

/// Data frames are at most 1 MiB (see daemon::channel); one byte of flags more.
const MAX_DATA_FRAME: usize = (1 << 20) + 1;
/// The most request-body bytes sent to the daemon in one frame.
const MAX_BODY_READ: usize = 1 << 20;
/// Body data is relayed in pieces of this size, so the child never holds a
/// whole frame.
const PIECE: usize = 64 << 10;

fn connect(r: &Request, group: &Group) -> Result<(UnixStream, u16), i32> {
    let deadline = Instant::now() + group.options.connect_timeout;
    let mut delay = Duration::from_millis(25);
    let mut attempts: u16 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        match UnixStream::connect(&group.socket_path) {
            Ok(stream) => return Ok((stream, attempts)),
            // Not listening yet (starting or restarting) or the backlog is full: retry.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound | ErrorKind::WouldBlock) && Instant::now() + delay < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                log::request(
                    r,
                    Level::Error,
                    &format!(
                        "mod_rwsgi: unable to connect to daemon process group '{}' on '{}' after {attempts} attempts: {e}",
                        group.options.name, group.socket_path
                    ),
                );
                return Err(ffi::HTTP_SERVICE_UNAVAILABLE);
            }
        }
    }
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// script-user= / script-group=: the script and its directory must belong to
/// that user (or group) and must not be writable by group or others.
fn check_script_owner(route: &Route, owner: ScriptOwner) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = std::path::Path::new(std::str::from_utf8(&route.script).map_err(|_| "the script path is not UTF-8".to_string())?);
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    for p in [path, dir] {
        let meta = std::fs::metadata(p).map_err(|e| format!("cannot stat '{}': {e}", p.display()))?;
        let (owned, what) = match owner {
            ScriptOwner::User(uid) => (meta.uid() == uid, format!("user {uid}")),
            ScriptOwner::Group(gid) => (meta.gid() == gid, format!("group {gid}")),
        };
        if !owned {
            return Err(format!("'{}' is not owned by {what}", p.display()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!("'{}' is writable by group or others", p.display()));
        }
    }
    Ok(())
}

/// Forwards the request to `group` and relays the response; returns the handler status.
pub fn serve(r: &Request, route: &Route, group: &Group) -> i32 {
    if let Some(owner) = group.script_owner
        && let Err(e) = check_script_owner(route, owner)
    {
        log::request(r, Level::Error, &format!("mod_rwsgi: refusing to run the script for daemon process group '{}': {e}", group.options.name));
        return ffi::HTTP_FORBIDDEN;
    }
    if let Some(t) = group.options.response_socket_timeout {
        r.set_client_timeout(t);
    }
    let queue_start = now_micros();
    let (stream, connect_attempts) = match connect(r, group) {
        Ok(s) => s,
        Err(status) => return status,
    };
    // SAFETY: r->server is live; timeout is a plain field (µs).
    let apache_timeout = Duration::from_micros(unsafe { (*r.server().as_ptr()).timeout }.max(1_000_000) as u64);
    let timeout = group.options.socket_timeout.unwrap_or(apache_timeout);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));

    let variables = r.subprocess_env().entries();
    let (listener_host, listener_port) = r.listener();
    let client = client_address(r);
    let authorization = if route.pass_authorization { r.headers_in().get("Authorization") } else { None };
    let header = RequestHeader {
        request_start: r.request_time(),
        queue_start,
        script_mtime: r.file_mtime(),
        listener_port,
        connect_attempts,
        header_only: r.header_only(),
        script_reloading: route.script_reloading,
        has_body: r.should_read_body(),
        script_path: &route.script,
        script_name: &route.script_name,
        url_scheme: r.http_scheme(),
        handler: r.handler(),
        authorization,
        listener_host,
        request_id: r.log_id(),
        client: client.as_bytes(),
        process_group: route.process_group.as_bytes(),
        application_group: route.application_group.as_bytes(),
        callable_object: route.callable_object.as_bytes(),
        variables,
    };
    let mut payload = Vec::with_capacity(4096);
    protocol::encode_request(&header, &mut payload);
    if let Err(e) = protocol::write_frame(&mut &stream, Kind::Request, &payload) {
        log::request(r, Level::Error, &format!("mod_rwsgi: cannot send the request to daemon process group '{}': {e}", group.options.name));
        return ffi::HTTP_BAD_GATEWAY;
    }
    let reader = FdReader::new(&stream, 64 << 10);
    Relay { r: *r, group, stream: &stream, reader, committed: false, passed: false, brigade: Brigade::new(r), unflushed: 0 }.run()
}

fn client_address(r: &Request) -> String {
    // SAFETY: the connection and its strings outlive the request.
    unsafe {
        let c = &*(*r.as_ptr()).connection;
        let ip = crate::apache::pool::cstr_utf8(c.client_ip).unwrap_or("?");
        let port = if c.client_addr.is_null() { 0 } else { (*c.client_addr).port };
        format!("{ip}:{port}")
    }
}

struct Relay<'a> {
    r: Request,
    group: &'a Group,
    stream: &'a UnixStream,
    /// Frames that arrive together (head, body, end) are read in one system
    /// call; descriptors passed with File frames are collected here.
    reader: FdReader<'a>,
    committed: bool,
    /// Body bytes have been handed to Apache's output filters.
    passed: bool,
    brigade: Brigade,
    unflushed: u64,
}

impl Relay<'_> {
    fn log(&self, msg: &str) {
        log::request(&self.r, Level::Error, &format!("mod_rwsgi: daemon process group '{}': {msg}", self.group.options.name));
    }

    /// A failure of the daemon: 502/504 while nothing of the body has reached
    /// Apache's filters (the head alone can still be replaced), else the body
    /// produced so far goes out and the response is cut off.
    fn broken(&mut self, status: i32, msg: &str) -> i32 {
        self.log(msg);
        if !self.passed {
            return status;
        }
        self.cut_off()
    }

    /// Sends what the application produced so far (it may be held back by
    /// response-flush-delay), then cuts the connection so the client sees an
    /// incomplete response.
    fn cut_off(&mut self) -> i32 {
        let _ = self.brigade.write(&self.r, &[], true);
        self.r.abort_connection();
        OK
    }

    fn run(mut self) -> i32 {
        let max_frame = MAX_DATA_FRAME.max(self.group.options.header_buffer_size as usize);
        let mut body = Vec::new();
        // Small frames (head, read requests, status) land here; it only grows.
        let mut buf = Vec::new();
        let mut piece = vec![0u8; PIECE];
        loop {
            let header = protocol::read_header(&mut self.reader, max_frame).and_then(|(kind, len)| {
                if kind == Kind::Data {
                    return Ok((kind, len));
                }
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                self.reader.read_exact(&mut buf[..len])?;
                Ok((kind, len))
            });
            let (kind, len) = match header {
                Ok(f) => f,
                Err(FrameError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return self.broken(ffi::HTTP_GATEWAY_TIME_OUT, "timed out waiting for the response (socket-timeout)");
                }
                Err(FrameError::Closed) | Err(FrameError::Io(_)) => {
                    return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection before the response was complete");
                }
                Err(e) => return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed response: {e}")),
            };
            // Data payloads are streamed below, not read into `buf`.
            let payload: &[u8] = if kind == Kind::Data { &[] } else { &buf[..len] };
            match kind {
                Kind::Read => {
                    let (want, fill) = match payload {
                        [a, b, c, d, fill] => (u32::from_le_bytes([*a, *b, *c, *d]), *fill == 1),
                        _ => return self.broken(ffi::HTTP_BAD_GATEWAY, "malformed body read request"),
                    };
                    let want = (want as usize).min(MAX_BODY_READ);
                    body.clear();
                    body.reserve(want);
                    let spare = &mut body.spare_capacity_mut()[..want];
                    let reply = match self.r.read_body_fill(spare, fill) {
                        Ok(n) => {
                            // SAFETY: Apache initialised the first n bytes of the spare capacity.
                            unsafe { body.set_len(n) };
                            protocol::write_frame(&mut &*self.stream, Kind::Body, &body)
                        }
                        Err(()) => {
                            self.r.close_connection();
                            protocol::write_frame(&mut &*self.stream, Kind::BodyError, b"the client's request body could not be read")
                        }
                    };
                    if reply.is_err() {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process went away while reading the request body");
                    }
                }
                Kind::Head => {
                    if self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "a second response head");
                    }
                    if len > self.group.options.header_buffer_size as usize {
                        return self.broken(
                            ffi::HTTP_BAD_GATEWAY,
                            &format!("response header block of {len} bytes exceeds header-buffer-size ({})", self.group.options.header_buffer_size),
                        );
                    }
                    if let Err(e) = self.apply_head(payload) {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("invalid response head: {e}"));
                    }
                    self.committed = true;
                }
                Kind::Data => {
                    if !self.committed || len == 0 {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "body data before the response head");
                    }
                    let mut flag = [0u8; 1];
                    if self.reader.read_exact(&mut flag).is_err() {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                    }
                    let mut remaining = len - 1;
                    while remaining > 0 {
                        let n = remaining.min(PIECE);
                        if self.reader.read_exact(&mut piece[..n]).is_err() {
                            return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                        }
                        remaining -= n;
                        if self.r.header_only() {
                            continue;
                        }
                        self.unflushed += n as u64;
                        let flush = (remaining == 0 && flag[0] == 1 && !self.more_data_soon())
                            || self.unflushed >= self.group.options.response_buffer_size;
                        if flush {
                            self.unflushed = 0;
                        }
                        self.passed = true;
                        if self.brigade.write(&self.r, &piece[..n], flush).is_err() || self.r.client_aborted() {
                            // The client left: dropping the daemon connection tells the
                            // application (its next write fails and its iterable is closed).
                            return OK;
                        }
                    }
                }
                Kind::File => {
                    let region = <[u8; 16]>::try_from(payload).ok();
                    let fd = self.reader.take_fd();
                    let (Some(region), Some(fd)) = (region, fd) else {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "malformed file frame (no descriptor or bad region)");
                    };
                    if !self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "body data before the response head");
                    }
                    if self.r.header_only() {
                        continue;
                    }
                    let offset = u64::from_le_bytes(region[..8].try_into().expect("8 bytes"));
                    let length = u64::from_le_bytes(region[8..].try_into().expect("8 bytes"));
                    let Some(file) = crate::apache::file::dup_into_pool(self.r.pool(), fd.as_raw_fd()) else {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "cannot use the file passed by the daemon");
                    };
                    drop(fd);
                    self.passed = true;
                    if self.brigade.write_file(&self.r, &file, offset, length).is_err() || self.r.client_aborted() {
                        return OK;
                    }
                }
                Kind::End => {
                    if !self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "end of response before its head");
                    }
                    if payload.first() == Some(&1) {
                        self.r.close_connection();
                    }
                    let _ = self.brigade.finish(&self.r);
                    return OK;
                }
                Kind::Abort => return self.cut_off(),
                Kind::Fail => {
                    let status = <[u8; 2]>::try_from(payload).map(u16::from_le_bytes).unwrap_or(500);
                    if self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("request failed with status {status} after the response started"));
                    }
                    if !(400..600).contains(&status) {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("the daemon reported an invalid failure status {status}"));
                    }
                    return status as i32;
                }
                other => return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("unexpected {other:?} frame")),
            }
        }
    }

    /// response-flush-delay: before flushing, wait briefly for more output, so
    /// that small writes travel together (and rate-limiting filters see fewer,
    /// larger pieces).
    fn more_data_soon(&self) -> bool {
        use std::os::fd::AsRawFd;
        let Some(delay) = self.group.options.response_flush_delay else { return false };
        if !self.reader.buffered().is_empty() {
            return true;
        }
        let mut pfd = libc::pollfd { fd: self.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on our socket.
        unsafe { libc::poll(&mut pfd, 1, delay.as_millis().min(1000) as i32) > 0 }
    }

    /// Validates the head again (the daemon may run as another user) and
    /// applies it to the request.
    fn apply_head(&self, payload: &[u8]) -> Result<(), String> {
        let head = protocol::decode_head(payload)?;
        let status: String = head.status.iter().map(|&b| b as char).collect();
        let code = headers::parse_status(&status)?;
        if code != head.code {
            return Err(format!("status code {} does not match status line {status:?}", head.code));
        }
        let r = &self.r;
        r.set_status(code as i32, head.status);
        let pool = r.pool();
        let out = r.headers_out();
        for (name, value) in &head.headers {
            let name_s = std::str::from_utf8(name).map_err(|_| "header name is not ASCII".to_string())?;
            let value_s: String = value.iter().map(|&b| b as char).collect();
            headers::check_header_name(name_s)?;
            headers::check_header_value(name_s, &value_s)?;
            if name_s.eq_ignore_ascii_case("content-type") {
                r.set_content_type(value);
            } else if !name_s.eq_ignore_ascii_case("content-length") {
                out.add(pool, name, value);
            }
        }
        if let Some(len) = head.content_length {
            r.set_content_length(len);
        }
        r.clear_expecting_100();
        Ok(())
    }
}
