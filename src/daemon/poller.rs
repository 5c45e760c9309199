//! Which connection a daemon's request thread serves next.
//!
//! Apache children keep their connections between requests, so a daemon holds
//! idle connections as well as busy ones. A thread must not wait on any one
//! connection (the requests of the others would starve): idle connections and
//! the listening socket are watched by one epoll set that all request threads
//! wait on. Every entry is one-shot, so exactly one thread takes an event; a
//! connection goes back into the set only once its request is answered.
//!
//! A process holds at most as many connections as it has request threads, so
//! a request that arrives on any of them finds a free thread: it never waits
//! here while another process of the group is idle. At that limit the process
//! accepts a new connection only by closing its longest-kept idle one (the
//! child sends its next request elsewhere); with none idle, it leaves new
//! connections to the group's other processes.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::channel::Connection;

/// The epoll token of the listening socket; connections count from 1.
const LISTENER: u64 = 0;

pub struct Poller {
    epoll: OwnedFd,
    listener: i32,
    /// The most connections held at once: the number of request threads.
    limit: usize,
    state: Mutex<Held>,
    next_token: AtomicU64,
}

struct Held {
    /// Idle connections by token, oldest first.
    idle: BTreeMap<u64, Arc<Connection>>,
    /// Connections accepted and not yet closed, idle or busy.
    open: usize,
    /// The listener is armed in the epoll set.
    listening: bool,
    /// Set when the process stops: no connection is kept or accepted any more.
    closed: bool,
}

/// What woke a request thread.
pub enum Ready {
    /// The listening socket has a connection to accept (see `Poller::accept`).
    Listener,
    /// A kept connection has something to read: the next request, or its end.
    Connection(Arc<Connection>),
}

impl Poller {
    /// Watches `listener` (shared with the group's other daemon processes,
    /// which all accept without blocking).
    pub fn new(listener: i32, limit: usize) -> io::Result<Poller> {
        // SAFETY: plain system calls; the new descriptor is owned below.
        let epoll = unsafe {
            let flags = libc::fcntl(listener, libc::F_GETFL);
            if flags < 0 || libc::fcntl(listener, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let held = Held { idle: BTreeMap::new(), open: 0, listening: true, closed: false };
        let poller = Poller { epoll, listener, limit: limit.max(1), state: Mutex::new(held), next_token: AtomicU64::new(LISTENER + 1) };
        poller.arm(libc::EPOLL_CTL_ADD, listener, LISTENER)?;
        Ok(poller)
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

    /// Waits up to `timeout_ms` for the listener or a kept connection.
    pub fn wait(&self, timeout_ms: i32) -> Option<Ready> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut event, 1, timeout_ms) };
        if n <= 0 {
            return None;
        }
        let token = event.u64;
        let mut held = self.state.lock();
        if token == LISTENER {
            held.listening = false;
            return Some(Ready::Listener);
        }
        // Absent when it was closed meanwhile (evicted, or the process stopped).
        held.idle.remove(&token).map(Ready::Connection)
    }

    /// After `Ready::Listener`: accepts one connection, first closing the
    /// longest-kept idle one if the process is at its limit. `None` when
    /// another process took the connection first, or every held connection
    /// is busy (the listener then waits until one is kept or closed).
    pub fn accept(&self) -> Option<UnixStream> {
        let mut held = self.state.lock();
        if held.closed {
            return None;
        }
        if held.open >= self.limit {
            let (_, oldest) = held.idle.pop_first()?;
            oldest.goodbye();
            held.open -= 1;
        }
        // SAFETY: accepting on the listening socket; the new descriptor is owned by the stream.
        let fd = unsafe { libc::accept4(self.listener, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if fd >= 0 {
            held.open += 1;
        }
        self.listen_if_room(&mut held);
        // SAFETY: a fresh descriptor we own.
        (fd >= 0).then(|| unsafe { UnixStream::from_raw_fd(fd) })
    }

    /// A connection was closed (not kept): room for another.
    pub fn closed(&self) {
        let mut held = self.state.lock();
        held.open = held.open.saturating_sub(1);
        self.listen_if_room(&mut held);
    }

    /// Arms the listener if a new connection could be taken now.
    fn listen_if_room(&self, held: &mut Held) {
        if !held.listening && !held.closed && (held.open < self.limit || !held.idle.is_empty()) {
            held.listening = self.arm(libc::EPOLL_CTL_MOD, self.listener, LISTENER).is_ok();
        }
    }

    /// Keeps `connection` for its next request; gives it back when the
    /// process is stopping (the caller says goodbye on it).
    pub fn keep(&self, connection: Arc<Connection>) -> Result<(), Arc<Connection>> {
        let (fd, token) = (connection.fd(), connection.token);
        let op = if connection.watched.swap(true, Ordering::Relaxed) { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
        {
            let mut held = self.state.lock();
            if held.closed {
                held.open = held.open.saturating_sub(1);
                return Err(connection);
            }
            // Into the map before the event can fire, so the thread that takes it finds it.
            held.idle.insert(token, connection);
            self.listen_if_room(&mut held);
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
        assert!(matches!(poller.wait(1000), Some(Ready::Listener)));
        let conn = connection(&poller, poller.accept().expect("a connection"));
        let token = conn.token;
        assert!(poller.keep(conn).is_ok());
        // Idle: nothing wakes.
        assert!(poller.wait(50).is_none());
        child.write_all(b"next").unwrap();
        match poller.wait(1000) {
            Some(Ready::Connection(c)) => assert_eq!(c.token, token),
            _ => panic!("the kept connection did not wake"),
        }
        // One-shot: taken once, silent until kept again.
        assert!(poller.wait(50).is_none());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn at_the_limit_a_new_connection_evicts_the_oldest_idle_one() {
        let (l, path) = listener();
        let poller = Poller::new(l.into_raw_fd(), 1).unwrap();
        let mut first = UnixStream::connect(&path).unwrap();
        assert!(matches!(poller.wait(1000), Some(Ready::Listener)));
        let conn = connection(&poller, poller.accept().unwrap());
        // Busy (not kept): the listener is not armed, a second child waits.
        let _second = UnixStream::connect(&path).unwrap();
        assert!(poller.wait(100).is_none(), "no room while the only connection is busy");
        assert!(poller.keep(conn).is_ok());
        // Idle now: the second connection is taken by closing the first.
        assert!(matches!(poller.wait(1000), Some(Ready::Listener)));
        assert!(poller.accept().is_some());
        let mut got = Vec::new();
        first.read_to_end(&mut got).unwrap();
        let mut goodbye = Vec::new();
        crate::protocol::append_frame(&mut goodbye, crate::protocol::Kind::Goodbye, &[]).unwrap();
        assert_eq!(got, goodbye);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn closing_returns_the_idle_connections_and_keeps_no_more() {
        let (l, path) = listener();
        let poller = Poller::new(l.into_raw_fd(), 4).unwrap();
        let _child = UnixStream::connect(&path).unwrap();
        assert!(matches!(poller.wait(1000), Some(Ready::Listener)));
        let conn = connection(&poller, poller.accept().unwrap());
        assert!(poller.keep(conn.clone()).is_ok());
        assert_eq!(poller.close().len(), 1);
        assert!(poller.keep(conn).is_err());
        let _ = std::fs::remove_file(path);
    }
}
