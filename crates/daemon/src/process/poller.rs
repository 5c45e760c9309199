//! Which connection a daemon's request thread serves next.
//!
//! Apache children keep their connections between requests, so a daemon holds
//! idle connections as well as busy ones. A thread must not wait on any one
//! connection (the requests of the others would starve): the connections are
//! watched by one epoll set that all request threads wait on. Every entry is
//! one-shot, so exactly one thread takes an event; a connection goes back into
//! the set only once its request is answered.
//!
//! New connections are taken by one acceptor thread per process, blocked in
//! accept(): the kernel hands a connection to the longest-waiting acceptor of
//! the group's processes, so new connections go round the processes (an epoll
//! wake-up of every process would let the one scheduled first take them all,
//! and one process's GIL would then serve what several could).
//!
//! A process holds at most as many connections as it has request threads, so
//! a request that arrives on any of them finds a free thread: it never waits
//! here while another process of the group is idle. At that limit the acceptor
//! takes a new connection only by closing the longest-kept idle one (the child
//! sends its next request elsewhere); with none idle, it stops accepting and
//! leaves new connections to the group's other processes.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::connection::Connection;

/// How long a blocked accept or wait lasts before its caller checks for a stop.
const TICK: Duration = Duration::from_millis(250);

pub struct Poller {
    epoll: OwnedFd,
    listener: i32,
    /// The most connections held at once: the number of request threads.
    limit: usize,
    state: Mutex<Held>,
    /// Signalled when a connection is kept or closed: the acceptor may have room.
    room: Condvar,
    next_token: AtomicU64,
}

struct Held {
    /// Idle connections by token, oldest first.
    idle: BTreeMap<u64, Arc<Connection>>,
    /// Connections accepted and not yet closed, idle or busy.
    open: usize,
    /// Set when the process stops: no connection is kept or accepted any more.
    closed: bool,
}

/// The longest-kept idle connection with nothing to read. One with bytes
/// waiting holds a request that a thread will take (a new connection's first
/// request, while every thread is busy): closing it would only make the child
/// send the request again.
fn evictable(held: &Held) -> Option<u64> {
    held.idle.iter().find(|(_, c)| c.pending_bytes() == 0).map(|(&token, _)| token)
}

impl Poller {
    /// For `listener`, which the group's processes share; each blocks in
    /// accept() on it for at most `TICK`.
    pub fn new(listener: i32, limit: usize) -> io::Result<Poller> {
        // SAFETY: plain system calls with a valid timeval; the new descriptor is owned below.
        let epoll = unsafe {
            let tv = libc::timeval { tv_sec: 0, tv_usec: TICK.as_micros() as libc::suseconds_t };
            if libc::setsockopt(listener, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv as *const _ as *const libc::c_void, std::mem::size_of::<libc::timeval>() as u32) < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let held = Held { idle: BTreeMap::new(), open: 0, closed: false };
        Ok(Poller { epoll, listener, limit: limit.max(1), state: Mutex::new(held), room: Condvar::new(), next_token: AtomicU64::new(1) })
    }

    /// The epoll set's descriptor (for closing in a process the application forks).
    pub fn epoll_fd(&self) -> i32 {
        self.epoll.as_raw_fd()
    }

    /// A token for a new connection.
    pub fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    fn arm(&self, op: i32, fd: i32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32, u64: token };
        // SAFETY: a valid epoll descriptor, a descriptor we hold and an initialised event.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `TICK` for a connection with something to read: a request,
    /// or its end.
    pub fn wait(&self) -> Option<Arc<Connection>> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut event, 1, TICK.as_millis() as i32) };
        if n <= 0 {
            return None;
        }
        let token = event.u64;
        // Absent when it was closed meanwhile (evicted, or the process stopped).
        let connection = self.state.lock().idle.remove(&token)?;
        // epoll reports the readiness at this moment: whether the child has
        // closed its end is known without another system call.
        let closed = event.events & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0;
        connection.closed_at_wake.store(closed, Ordering::Release);
        Some(connection)
    }

    /// Whether a new connection can be taken now: below the limit, or an idle
    /// connection can be closed for it.
    fn has_room(&self, held: &Held) -> bool {
        held.open < self.limit || evictable(held).is_some()
    }

    /// The acceptor: waits (up to `TICK`) for room and then for a new
    /// connection. At the limit, the longest-kept idle connection is closed to
    /// make room. `None` on a timeout, or once the process stops.
    pub fn accept(&self) -> Option<UnixStream> {
        {
            let mut held = self.state.lock();
            if !held.closed && !self.has_room(&held) {
                // Every connection busy: leave new ones to the other processes.
                self.room.wait_for(&mut held, TICK);
            }
            if held.closed || !self.has_room(&held) {
                return None;
            }
        }
        // SAFETY: accepting on the listening socket; the new descriptor is owned by the stream.
        let fd = unsafe { libc::accept4(self.listener, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let stream = unsafe { UnixStream::from_raw_fd(fd) };
        let mut held = self.state.lock();
        if held.closed {
            return None;
        }
        // Another connection may have become busy meanwhile: then this one is
        // one over the limit until a connection closes (a request on it waits
        // for a thread, as it would have in the backlog).
        if held.open >= self.limit
            && let Some(token) = evictable(&held)
            && let Some(oldest) = held.idle.remove(&token)
        {
            oldest.goodbye();
            held.open -= 1;
        }
        held.open += 1;
        Some(stream)
    }

    /// A connection was closed (not kept): room for another.
    pub fn closed(&self) {
        let mut held = self.state.lock();
        held.open = held.open.saturating_sub(1);
        self.room.notify_one();
    }

    /// Watches `connection` (new, or done with its request) for its next
    /// request; gives it back when the process is stopping (the caller says
    /// goodbye on it).
    pub fn keep(&self, connection: Arc<Connection>) -> Result<(), Arc<Connection>> {
        let (fd, token) = (connection.fd(), connection.token);
        let op = if connection.watched.swap(true, Ordering::Relaxed) { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
        // Held until it is armed: the acceptor may evict and drop the
        // connection in between, and without this its descriptor number could
        // already belong to the next accepted connection, whose registration
        // the arm below would then take over (its requests would wake nobody).
        let _open_until_armed = connection.clone();
        {
            let mut held = self.state.lock();
            if held.closed {
                held.open = held.open.saturating_sub(1);
                return Err(connection);
            }
            // Into the map before the event can fire, so the thread that takes it finds it.
            held.idle.insert(token, connection);
            self.room.notify_one();
        }
        // Armed outside the lock, which the woken thread takes at once. If the
        // connection was evicted in between, the event finds no entry and is dropped.
        if self.arm(op, fd, token).is_err() {
            let mut held = self.state.lock();
            if let Some(connection) = held.idle.remove(&token) {
                held.open = held.open.saturating_sub(1);
                return Err(connection);
            }
        }
        Ok(())
    }

    /// Stops keeping and accepting connections; returns the idle ones (to say
    /// goodbye on).
    pub fn close(&self) -> Vec<Arc<Connection>> {
        let mut held = self.state.lock();
        held.closed = true;
        let idle = std::mem::take(&mut held.idle);
        held.open = held.open.saturating_sub(idle.len());
        self.room.notify_all();
        idle.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    use super::*;

    fn listener() -> (UnixListener, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("rwsgi-poller-{}-{:?}.sock", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_file(&path);
        (UnixListener::bind(&path).unwrap(), path)
    }

    fn connection(poller: &Poller, stream: UnixStream) -> Arc<Connection> {
        Arc::new(Connection::new(stream, poller.token(), Duration::from_secs(5), Duration::from_secs(5)).unwrap())
    }

    #[test]
    fn kept_connection_wakes_a_thread_when_its_next_request_arrives() {
        let (l, path) = listener();
        let poller = Poller::new(l.into_raw_fd(), 2).unwrap();
        let mut child = UnixStream::connect(&path).unwrap();
        let conn = connection(&poller, poller.accept().expect("a connection"));
        let token = conn.token;
        assert!(poller.keep(conn).is_ok());
        // Idle: nothing wakes.
        assert!(poller.wait().is_none());
        child.write_all(b"next").unwrap();
        let conn = match poller.wait() {
            Some(c) => c,
            None => panic!("the kept connection did not wake"),
        };
        assert_eq!(conn.token, token);
        assert!(!conn.closed_before_start(), "the child is still there");
        // One-shot: taken once, silent until kept again.
        assert!(poller.wait().is_none());
        // A request whose child has gone by the time a thread wakes for it is
        // known as such from the event alone (the worker does not start it).
        let mut next = [0u8; 4];
        conn.reader.lock().get_mut().read_exact(&mut next).unwrap();
        assert!(poller.keep(conn).is_ok());
        child.write_all(b"last").unwrap();
        drop(child);
        match poller.wait() {
            Some(c) => assert!(c.closed_before_start(), "the event said the child had closed"),
            None => panic!("the kept connection did not wake"),
        }
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn at_the_limit_a_new_connection_evicts_the_oldest_idle_one() {
        let (l, path) = listener();
        let poller = Poller::new(l.into_raw_fd(), 1).unwrap();
        let mut first = UnixStream::connect(&path).unwrap();
        let conn = connection(&poller, poller.accept().unwrap());
        // Busy (not kept): no room, the second child's connection stays queued.
        let _second = UnixStream::connect(&path).unwrap();
        assert!(poller.accept().is_none(), "no room while the only connection is busy");
        assert!(poller.keep(conn).is_ok());
        // Idle now: the second connection is taken by closing the first.
        assert!(poller.accept().is_some());
        let mut got = Vec::new();
        first.read_to_end(&mut got).unwrap();
        assert_eq!(got, crate::protocol::Goodbye.frame());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn closing_returns_the_idle_connections_and_keeps_no_more() {
        let (l, path) = listener();
        let poller = Poller::new(l.into_raw_fd(), 4).unwrap();
        let _child = UnixStream::connect(&path).unwrap();
        let conn = connection(&poller, poller.accept().unwrap());
        assert!(poller.keep(conn.clone()).is_ok());
        assert_eq!(poller.close().len(), 1);
        assert!(poller.keep(conn).is_err());
        let _late = UnixStream::connect(&path).unwrap();
        assert!(poller.accept().is_none(), "no accepting after close");
        let _ = std::fs::remove_file(path);
    }
}
