//! The listening socket of each daemon group, made by the Apache parent.

use std::ffi::{CString, c_int, c_void};

use crate::apache::Pool;
use crate::apache::process::{runtime_dir_relative, server_root_relative};
use crate::daemon::registry::Group;

/// WSGISocketPrefix, resolved as Apache resolves paths (default: `wsgi` in
/// the runtime directory).
pub fn prefix(pconf: Pool, configured: Option<&str>) -> String {
    match configured {
        Some(p) => server_root_relative(pconf, p),
        None => runtime_dir_relative(pconf, "wsgi"),
    }
}

/// How the generation's socket files are named.
pub struct Naming {
    pub prefix: String,
    /// The Apache parent's pid.
    pub parent: u32,
    pub generation: i32,
    /// WSGISocketRotation: a new name each generation (default), or one per
    /// user and group that survives graceful restarts.
    pub rotation: bool,
}

impl Naming {
    pub fn path(&self, id: usize, uid: u32) -> String {
        let Naming { prefix, parent, generation, .. } = self;
        if self.rotation { format!("{prefix}.{parent}.{generation}.{id}.sock") } else { format!("{prefix}.{parent}.u{uid}.{id}.sock") }
    }
}

/// Binds and listens on the group's socket: mode 0600, owned by the user the
/// Apache children run as, so that nobody else can submit requests.
pub fn create_listener(pconf: Pool, group: &mut Group) -> Result<(), String> {
    let path = &group.socket_path;
    let fail = |what: &str| format!("WSGIDaemonProcess {}: cannot {what} socket '{path}': {}", group.options.name, std::io::Error::last_os_error());
    let cpath = CString::new(path.as_str()).map_err(|_| format!("socket path {path:?} contains a NUL"))?;
    // SAFETY: plain socket calls on a fresh descriptor; the sockaddr is zeroed and
    // filled within sun_path's bounds (checked in resolve).
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(fail("create"));
        }
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in path.bytes().enumerate() {
            addr.sun_path[i] = b as libc::c_char;
        }
        libc::unlink(cpath.as_ptr());
        if let Some(size) = group.options.send_buffer_size {
            let v = size as c_int;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &v as *const c_int as *const c_void, 4);
        }
        if let Some(size) = group.options.receive_buffer_size {
            let v = size as c_int;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &v as *const c_int as *const c_void, 4);
        }
        let old = libc::umask(0o077);
        let bound = libc::bind(fd, &addr as *const libc::sockaddr_un as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_un>() as u32);
        libc::umask(old);
        if bound != 0 {
            let e = fail("bind");
            libc::close(fd);
            return Err(e);
        }
        if libc::listen(fd, group.options.listen_backlog as c_int) != 0 {
            let e = fail("listen on");
            libc::close(fd);
            return Err(e);
        }
        libc::chmod(cpath.as_ptr(), 0o600);
        if libc::geteuid() == 0 && libc::chown(cpath.as_ptr(), group.socket_uid, u32::MAX) != 0 {
            let e = fail("change the owner of");
            libc::close(fd);
            return Err(e);
        }
        // The parent owns the socket file and removes it when the generation ends.
        group.listener = fd;
        pconf.adopt(SocketCleanup { fd, path: cpath, parent: std::process::id() });
    }
    Ok(())
}

/// Closes and removes a group socket when pconf is cleared, in the parent only:
/// forked processes carry a copy of pconf and must not remove the parent's socket.
struct SocketCleanup {
    fd: i32,
    path: CString,
    parent: u32,
}

impl Drop for SocketCleanup {
    fn drop(&mut self) {
        if std::process::id() == self.parent {
            // SAFETY: our own descriptor and path.
            unsafe {
                libc::close(self.fd);
                libc::unlink(self.path.as_ptr());
            }
        }
    }
}
