//! The Apache child's side of daemon mode: hands the request to the group's
//! daemon over its Unix socket and relays the response into Apache's output
//! filters. No Python runs here.
//!
//! Connections are kept after a complete response and reused by the next
//! request (of any thread of this child), which saves the connect, accept and
//! close of every request. A request is sent again on another connection only
//! when the daemon cannot have read it:
//! - the write failed because the daemon had closed the connection;
//! - the daemon answered `Goodbye` (it closes idle connections so when it stops);
//! - the first read failed with ECONNRESET: the kernel reports that, rather
//!   than an end of file, when the peer closed with our bytes still unread in
//!   its receive queue (a daemon killed before it read the request).
//!
//! A daemon that fails after it read the request is a 502, on a kept
//! connection as on a new one: the application may have run.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::fdpass::FdReader;
use super::registry::{Group, ScriptOwner};
use crate::apache::brigade::Brigade;
use crate::apache::{Level, OK, Request, log};
use crate::ffi;
use crate::protocol::{self, Abort, BodyError, DataHeader, End, Fail, FileRegion, FrameError, Goodbye, Kind, PayloadError, ReadRequest, RequestHeader};
use crate::wsgi::headers;
use crate::wsgi::route::Route;

/// Body data is relayed in pieces of this size, so the child never holds a
/// whole frame.
const PIECE: usize = 64 << 10;
/// Buffer for frame headers and small frames on each connection.
const READ_BUFFER: usize = 16 << 10;
/// Kept connections per group in one child; more than its threads is never useful.
const MAX_IDLE: usize = 256;
/// How many times a request is sent again after daemons closed connections without reading it.
const MAX_RESENDS: u32 = 8;

/// A connection to one of a group's daemon processes.
pub struct DaemonConnection {
    reader: FdReader,
    /// The socket timeout last set, so that a kept connection is not set again.
    timeout: Option<Duration>,
    /// The daemon process on the other end, once a response has said (0 before).
    pid: u32,
}

impl DaemonConnection {
    fn set_timeout(&mut self, timeout: Duration) {
        if self.timeout != Some(timeout) {
            let _ = self.reader.stream().set_read_timeout(Some(timeout));
            let _ = self.reader.stream().set_write_timeout(Some(timeout));
            self.timeout = Some(timeout);
        }
    }
}

/// The connections of one group that this child keeps between requests, and
/// how many of this child's requests each daemon process is serving.
///
/// A kept connection always reaches the same process, so reuse alone would let
/// one process (one GIL) serve a child whose requests several processes could
/// share. A request therefore goes to the least busy process this child has a
/// kept connection to; when that one is already busy and another process may
/// be idle (one not known to be busy, or known and less busy but with no kept
/// connection), it connects anew, and the group's daemons take new connections
/// in turn.
#[derive(Default)]
pub struct Pool(parking_lot::Mutex<PoolState>);

#[derive(Default)]
struct PoolState {
    /// Oldest first, so that ties go round the processes.
    idle: std::collections::VecDeque<DaemonConnection>,
    /// Requests of this child in flight, by daemon pid (0: not known yet).
    in_flight: std::collections::HashMap<u32, u32>,
}

impl Pool {
    fn take(&self, processes: usize) -> Option<DaemonConnection> {
        let mut st = self.0.lock();
        let load = |st: &PoolState, pid: u32| st.in_flight.get(&pid).copied().unwrap_or(0);
        let (index, busiest) = st.idle.iter().enumerate().map(|(i, c)| (i, load(&st, c.pid))).min_by_key(|&(i, n)| (n, i))?;
        if busiest > 0 {
            let mut known: Vec<u32> = st.idle.iter().map(|c| c.pid).chain(st.in_flight.keys().copied()).filter(|&p| p != 0).collect();
            known.sort_unstable();
            known.dedup();
            if known.len() < processes || st.in_flight.iter().any(|(&pid, &n)| pid != 0 && n < busiest) {
                return None;
            }
        }
        st.idle.remove(index)
    }

    fn put(&self, connection: DaemonConnection) {
        let mut st = self.0.lock();
        if st.idle.len() < MAX_IDLE {
            st.idle.push_back(connection);
        }
    }

    fn begin(&self, pid: u32) {
        *self.0.lock().in_flight.entry(pid).or_insert(0) += 1;
    }

    fn end(&self, pid: u32) {
        let mut st = self.0.lock();
        if let Some(n) = st.in_flight.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                st.in_flight.remove(&pid);
            }
        }
    }
}

fn connect(r: &Request, group: &Group) -> Result<(DaemonConnection, u16), i32> {
    let deadline = Instant::now() + group.options.connect_timeout;
    let mut delay = Duration::from_millis(25);
    let mut attempts: u16 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        match UnixStream::connect(&group.socket_path) {
            Ok(stream) => return Ok((DaemonConnection { reader: FdReader::new(stream, READ_BUFFER), timeout: None, pid: 0 }, attempts)),
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
    let queue_start = protocol::now_micros();
    // SAFETY: r->server is live; timeout is a plain field (µs).
    let apache_timeout = Duration::from_micros(unsafe { (*r.server().as_ptr()).timeout }.max(1_000_000) as u64);
    let timeout = group.options.socket_timeout.unwrap_or(apache_timeout);
    let variables = r.subprocess_env().entries();
    let (listener_host, listener_port) = r.listener();
    let client = client_address(r);
    let authorization = if route.pass_authorization { r.headers_in().get("Authorization") } else { None };
    let mut header = RequestHeader {
        request_start: r.request_time(),
        queue_start,
        script_mtime: r.file_mtime(),
        listener_port,
        connect_attempts: 0,
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
    let mut resends = 0;
    // A kept connection the daemon closed is simply dropped (there are finitely
    // many); new connections that are not taken count towards the limit.
    let mut not_taken = |kept: bool| {
        if kept {
            return Ok(());
        }
        resends += 1;
        if resends < MAX_RESENDS {
            return Ok(());
        }
        log::request(
            r,
            Level::Error,
            &format!("mod_rwsgi: daemon process group '{}' closed {resends} connections in a row without taking the request", group.options.name),
        );
        Err(ffi::HTTP_SERVICE_UNAVAILABLE)
    };
    loop {
        let (mut connection, kept) = match group.connections.take(group.options.processes as usize) {
            // Reported as one attempt that succeeded at once (mod_wsgi.daemon_connects).
            Some(c) => {
                header.connect_attempts = header.connect_attempts.saturating_add(1);
                (c, true)
            }
            None => match connect(r, group) {
                Ok((c, attempts)) => {
                    header.connect_attempts = header.connect_attempts.saturating_add(attempts);
                    (c, false)
                }
                Err(status) => return status,
            },
        };
        connection.set_timeout(timeout);
        payload.clear();
        protocol::encode_request(&header, &mut payload);
        if let Err(e) = protocol::write_frame(&mut connection.reader.stream(), Kind::Request, &payload) {
            if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                match not_taken(kept) {
                    Ok(()) => continue,
                    Err(status) => return status,
                }
            }
            log::request(r, Level::Error, &format!("mod_rwsgi: cannot send the request to daemon process group '{}': {e}", group.options.name));
            return ffi::HTTP_BAD_GATEWAY;
        }
        let pid = connection.pid;
        group.connections.begin(pid);
        let relay = Relay { r: *r, group, connection: &mut connection, committed: false, passed: false, brigade: Brigade::new(r), unflushed: 0 };
        let finish = relay.run();
        group.connections.end(pid);
        match finish {
            Finish::Done { status, reusable } => {
                if reusable {
                    group.connections.put(connection);
                }
                return status;
            }
            Finish::NotTaken => {
                if let Err(status) = not_taken(kept) {
                    return status;
                }
            }
        }
    }
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

/// How a relay ended.
enum Finish {
    /// The handler's status; `reusable`: the connection is clean for another request.
    Done { status: i32, reusable: bool },
    /// The daemon closed the connection without reading the request.
    NotTaken,
}

fn done(status: i32) -> Finish {
    Finish::Done { status, reusable: false }
}

struct Relay<'a> {
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
}

impl Relay<'_> {
    fn log(&self, msg: &str) {
        log::request(&self.r, Level::Error, &format!("mod_rwsgi: daemon process group '{}': {msg}", self.group.options.name));
    }

    /// A failure of the daemon: 502/504 while nothing of the body has reached
    /// Apache's filters (the head alone can still be replaced), else the body
    /// produced so far goes out and the response is cut off.
    fn broken(&mut self, status: i32, msg: &str) -> Finish {
        self.log(msg);
        if !self.passed {
            return done(status);
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

    fn run(mut self) -> Finish {
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
                    return self.broken(ffi::HTTP_GATEWAY_TIME_OUT, "timed out waiting for the response (socket-timeout)");
                }
                Err(FrameError::Closed) | Err(FrameError::Io(_)) => {
                    return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection before the response was complete");
                }
                Err(e) => return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed response: {e}")),
            };
            // Data payloads are streamed below, not read into `buf`.
            let payload: &[u8] = if kind == Kind::Data { &[] } else { &buf[..len] };
            if kind == Kind::Goodbye {
                if first && Goodbye::decode(payload).is_ok() {
                    return Finish::NotTaken;
                }
                return self.broken(ffi::HTTP_BAD_GATEWAY, "unexpected Goodbye frame");
            }
            first = false;
            match kind {
                Kind::Read => {
                    let Ok(ReadRequest { want, fill }) = ReadRequest::decode(payload) else {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "malformed body read request");
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
                        Err(()) => {
                            self.r.close_connection();
                            let error = BodyError { reason: b"the client's request body could not be read" };
                            protocol::write_frame(&mut self.connection.reader.stream(), BodyError::KIND, error.encode())
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
                    if self.connection.reader.read_exact(&mut flag).is_err() {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                    }
                    let data = match DataHeader::decode(len, flag[0]) {
                        Ok(data) => data,
                        Err(e) => return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed data frame: {e}")),
                    };
                    let mut remaining = data.len;
                    if self.r.header_only() {
                        if self.connection.reader.discard(remaining).is_err() {
                            return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
                        }
                        continue;
                    }
                    while remaining > 0 {
                        let n = remaining.min(PIECE);
                        remaining -= n;
                        // Each piece is read from the socket into the bucket that carries it.
                        let reader = &mut self.connection.reader;
                        if self.brigade.append_filled(n, |dst| reader.read_exact_uninit(dst)).is_err() {
                            return self.broken(ffi::HTTP_BAD_GATEWAY, "the daemon process closed the connection in the middle of the body");
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
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "malformed file frame (no descriptor or bad region)");
                    };
                    if !self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "body data before the response head");
                    }
                    if self.r.header_only() {
                        continue;
                    }
                    let Some(file) = crate::apache::file::dup_into_pool(self.r.pool(), fd.as_raw_fd()) else {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "cannot use the file passed by the daemon");
                    };
                    drop(fd);
                    self.passed = true;
                    if self.brigade.write_file(&self.r, &file, region.offset, region.len).is_err() || self.r.client_aborted() {
                        return done(OK);
                    }
                }
                Kind::End => {
                    if !self.committed {
                        return self.broken(ffi::HTTP_BAD_GATEWAY, "end of response before its head");
                    }
                    let end = match End::decode(payload) {
                        Ok(end) => end,
                        Err(e) => return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed end frame: {e}")),
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
                        return self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed abort frame: {e}"));
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
                        return self.broken(ffi::HTTP_BAD_GATEWAY, &msg);
                    }
                    return match fail {
                        Ok(Fail { status }) => done(status as i32),
                        Err(PayloadError::FailStatus(status)) => {
                            self.broken(ffi::HTTP_BAD_GATEWAY, &format!("the daemon reported an invalid failure status {status}"))
                        }
                        Err(e) => self.broken(ffi::HTTP_BAD_GATEWAY, &format!("malformed failure frame: {e}")),
                    };
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
        if !self.connection.reader.buffered().is_empty() {
            return true;
        }
        let mut pfd = libc::pollfd { fd: self.connection.reader.stream().as_raw_fd(), events: libc::POLLIN, revents: 0 };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(pid: u32) -> DaemonConnection {
        let (a, _b) = UnixStream::pair().unwrap();
        DaemonConnection { reader: FdReader::new(a, 16), timeout: None, pid }
    }

    #[test]
    fn requests_go_to_the_least_busy_process() {
        let pool = Pool::default();
        pool.put(kept(1));
        pool.put(kept(2));
        pool.put(kept(1));
        let first = pool.take(2).unwrap();
        assert_eq!(first.pid, 1, "oldest first when none is busy");
        pool.begin(1);
        assert_eq!(pool.take(2).unwrap().pid, 2, "process 1 is busy");
        pool.begin(2);
        // Both busy once: the remaining connection to 1 is used.
        assert_eq!(pool.take(2).unwrap().pid, 1);
        assert!(pool.take(2).is_none(), "nothing idle left");
    }

    #[test]
    fn a_busy_process_sends_the_next_request_to_a_new_connection() {
        let pool = Pool::default();
        pool.put(kept(1));
        pool.put(kept(1));
        pool.begin(1);
        // Two processes, only one known and it is busy: connect anew.
        assert!(pool.take(2).is_none());
        // One process: the kept connection is the only way there.
        assert_eq!(pool.take(1).unwrap().pid, 1);
        // Process 3 is known and less busy than 1 (one request against two) but
        // has no kept connection: connect anew.
        pool.begin(1);
        pool.begin(3);
        pool.put(kept(1));
        assert!(pool.take(2).is_none());
        pool.end(3);
        pool.end(1);
        pool.end(1);
        assert_eq!(pool.take(2).unwrap().pid, 1, "nothing in flight: reuse");
    }
}
