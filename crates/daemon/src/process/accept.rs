//! The acceptor thread of a daemon process: takes new connections from Apache
//! children while the process has room for them, checks who is connecting,
//! and hands the connections to the request threads.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::connection::Connection;
use super::state::State;

/// Peer pids already found to be children of our parent. A pid is only reused
/// after its process exits; Apache reaps its children, and a stranger reusing
/// the pid would still need the socket, which only Apache's user can open.
static VERIFIED_PEERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// The acceptor thread: takes new connections while the process has room
/// (see `poller`), checks the peer, and hands them to the request threads.
pub(super) fn accept_loop(state: &Arc<State>) {
    let o = &state.group.options;
    let read_timeout = o.socket_timeout.unwrap_or(state.group.apache_timeout);
    let write_timeout = o.response_socket_timeout.unwrap_or(read_timeout);
    while !state.stopping.load(Ordering::Acquire) {
        let Some(stream) = state.poller.accept() else { continue };
        if state.stopping.load(Ordering::Acquire) {
            // Accepted while stopping: closed unread, the child sends the request elsewhere.
            state.poller.closed();
            break;
        }
        let peer = match check_peer(&stream) {
            Ok(pid) => pid,
            Err(e) => {
                tracing::error!("refused a connection: {e}");
                drop(stream);
                state.poller.closed();
                continue;
            }
        };
        let connection = match Connection::new(stream, state.poller.token(), read_timeout, write_timeout) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!("cannot use a connection: {e}");
                state.poller.closed();
                continue;
            }
        };
        tracing::debug!("new connection from Apache child {peer}");
        if let Err(connection) = state.poller.keep(connection) {
            connection.goodbye();
        }
    }
}

/// Only this server's Apache children may submit requests: the socket file's
/// mode already limits connections to their user; the peer must also be a
/// child of our own parent (the Apache parent).
fn check_peer(stream: &UnixStream) -> Result<i32, String> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given size.
    let rv = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut _ as *mut libc::c_void, &mut len) };
    if rv != 0 {
        return Err(format!("cannot read the peer's credentials: {}", std::io::Error::last_os_error()));
    }
    // Apache's children are few and long-lived: remember the ones already checked.
    if VERIFIED_PEERS.lock().contains(&cred.pid) {
        return Ok(cred.pid);
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", cred.pid)).map_err(|e| format!("peer pid {}: {e}", cred.pid))?;
    // The fields after the ")" that ends the command name: state, then ppid.
    let ppid: u32 = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: plain query.
    let parent = unsafe { libc::getppid() } as u32;
    if ppid != parent {
        return Err(format!("peer pid {} (uid {}) is not a child of this Apache server (pid {parent})", cred.pid, cred.uid));
    }
    let mut verified = VERIFIED_PEERS.lock();
    if verified.len() >= 4096 {
        verified.clear();
    }
    verified.push(cred.pid);
    Ok(cred.pid)
}
