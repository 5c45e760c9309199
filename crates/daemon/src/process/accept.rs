//! The acceptor thread of a daemon process: takes new connections from Apache
//! children while the process has room for them, checks who is connecting,
//! and hands the connections to the request threads.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::connection::Connection;
use super::state::State;

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
        let peer = match check_peer(&stream, &state.group) {
            Ok(pid) => pid,
            Err(e) => {
                tracing::error!("refused a connection: {e}");
                drop(stream);
                state.poller.closed();
                continue;
            }
        };
        // send-buffer-size= when given (on the listener it would not reach
        // accepted Unix connections, which start with the system's default).
        let send_buffer = state.group.options.send_buffer_size.map_or(crate::fdpass::SEND_BUFFER, |n| n as usize);
        crate::fdpass::set_send_buffer(&stream, send_buffer);
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

/// How long a new connection may take to present the group's secret (an
/// Apache child writes it with the connect, before anything else).
const SECRET_WAIT: Duration = Duration::from_secs(2);

/// Only this server's Apache children may submit requests. The socket file's
/// mode limits connections to their user (and root); SO_PEERCRED confirms the
/// user, and the connection must start with the group's secret, which only
/// this generation's Apache children (forked from the parent that made it)
/// and this group's daemons hold. Nothing is read from the peer's /proc
/// entry, so this works under `hidepid=2`, and nothing is cached by pid, so a
/// recycled pid gains nothing: each connection proves itself.
fn check_peer(stream: &UnixStream, group: &crate::group::Group) -> Result<i32, String> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given size.
    let rv = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut _ as *mut libc::c_void, &mut len) };
    if rv != 0 {
        return Err(format!("cannot read the peer's credentials: {}", std::io::Error::last_os_error()));
    }
    // The socket's user (Apache's children), root, or our own user (an Apache
    // not started as root runs everything as the user that started it).
    // SAFETY: plain query.
    let own = unsafe { libc::geteuid() };
    if cred.uid != group.socket_uid && cred.uid != 0 && cred.uid != own {
        return Err(format!("peer pid {} runs as uid {}, not as the socket's user {}", cred.pid, cred.uid, group.socket_uid));
    }
    if group.secret.is_empty() {
        return Ok(cred.pid);
    }
    let mut presented = vec![0u8; group.secret.len()];
    let read = stream.set_read_timeout(Some(SECRET_WAIT)).and_then(|()| (&*stream).read_exact(&mut presented));
    if let Err(e) = read {
        return Err(format!("peer pid {} (uid {}) did not present the group's secret: {e}", cred.pid, cred.uid));
    }
    // Compared in constant time: the peer learns nothing from how long a refusal takes.
    let differs = presented.iter().zip(&group.secret).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differs != 0 {
        return Err(format!("peer pid {} (uid {}) presented a wrong secret: it is not an Apache child of this server generation", cred.pid, cred.uid));
    }
    stream.set_read_timeout(None).map_err(|e| format!("cannot reset the connection's timeout: {e}"))?;
    Ok(cred.pid)
}
