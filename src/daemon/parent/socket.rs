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

/// How the generation's socket files are named: `DIR/STEM.PID.GENERATION.ID.sock`,
/// where `PREFIX` = `PARENT/STEM` and `DIR` = `PREFIX.d`, the private directory
/// ([`private_dir`]).
pub struct Naming {
    pub dir: String,
    pub stem: String,
    /// The Apache parent's pid.
    pub parent: u32,
    pub generation: i32,
    /// WSGISocketRotation: a new name each generation (default), or one per
    /// user and group that survives graceful restarts.
    pub rotation: bool,
}

impl Naming {
    pub fn path(&self, id: usize, uid: u32) -> String {
        let Naming { dir, stem, parent, generation, .. } = self;
        if self.rotation { format!("{dir}/{stem}.{parent}.{generation}.{id}.sock") } else { format!("{dir}/{stem}.{parent}.u{uid}.{id}.sock") }
    }
}

/// Whether users other than root and us can change entries of a directory
/// with this owner and mode: its owner is someone else, or it is writable by
/// its group (not root's) or by everyone. `sticky`: only the entries they own.
fn others_can_write(uid: u32, gid: u32, mode: u32, euid: u32) -> Option<&'static str> {
    if uid != 0 && uid != euid {
        return Some("owned by another user");
    }
    if mode & 0o002 != 0 {
        return Some("writable by every user");
    }
    if mode & 0o020 != 0 && gid != 0 {
        return Some("writable by its group");
    }
    None
}

/// The private directory the sockets go in, made (or checked) so that no
/// other local user can squat a socket name or redirect one: `PREFIX.d`,
/// owned by root (by the user Apache runs as, when that is not root), mode
/// 0711 (Apache's children can reach a socket whose name they know; nobody
/// can list or add entries). Fails, with the reason, when a directory on the
/// way lets another user replace it, or when the name is taken by anything
/// but such a directory. A prefix in a world-writable sticky directory such as
/// /tmp works (nobody else can remove our directory there) but is warned about:
/// another user can take the name before Apache's first start.
pub fn private_dir(prefix: &str) -> Result<(String, String), String> {
    use std::os::unix::fs::MetadataExt;
    let fail = |e: String| format!("WSGISocketPrefix {prefix}: {e}");
    let path = std::path::Path::new(prefix);
    let (Some(parent), Some(stem)) = (path.parent(), path.file_name().and_then(|s| s.to_str())) else {
        return Err(fail("the prefix must name a file in a directory".into()));
    };
    // SAFETY: plain query.
    let euid = unsafe { libc::geteuid() };
    // Every directory from the root down to the parent, symbolic links resolved
    // (/var/run is one): none may let another user swap what follows it.
    let real = std::fs::canonicalize(parent).map_err(|e| fail(format!("cannot resolve '{}': {e}", parent.display())))?;
    let mut sticky_warning = None;
    for dir in real.ancestors() {
        let meta = std::fs::metadata(dir).map_err(|e| fail(format!("cannot stat '{}': {e}", dir.display())))?;
        if let Some(why) = others_can_write(meta.uid(), meta.gid(), meta.mode(), euid) {
            if meta.mode() & 0o1000 != 0 && why != "owned by another user" {
                // Sticky: others cannot remove or rename what root owns below it (each
                // directory on the way is checked to be root's); only a name not yet
                // taken in the prefix's own directory is open to them.
                if dir == real {
                    sticky_warning = Some(format!("'{}' is {why} (sticky)", dir.display()));
                }
            } else {
                return Err(fail(format!(
                    "'{}' is {why} (owner uid {}, mode {:04o}): another user could replace the socket directory; use a directory only root can write, such as Apache's runtime directory",
                    dir.display(),
                    meta.uid(),
                    meta.mode() & 0o7777
                )));
            }
        }
    }
    let dir = format!("{}/{stem}.d", real.display());
    let cdir = CString::new(dir.as_str()).map_err(|_| fail("the path contains a NUL".into()))?;
    // SAFETY: mkdir/open/fstat/fchmod on a C string and a descriptor this function owns.
    unsafe {
        if libc::mkdir(cdir.as_ptr(), 0o700) != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            return Err(fail(format!("cannot create the socket directory '{dir}': {}", std::io::Error::last_os_error())));
        }
        // Never through a symbolic link: the descriptor is the directory itself.
        let fd = libc::open(cdir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(fail(format!("'{dir}' exists and is not a directory (or is a symbolic link): {}; remove it", std::io::Error::last_os_error())));
        }
        let mut st: libc::stat = std::mem::zeroed();
        let ok = libc::fstat(fd, &mut st) == 0;
        let problem = if !ok {
            Some(format!("cannot stat '{dir}': {}", std::io::Error::last_os_error()))
        } else if st.st_uid != euid {
            Some(format!("the socket directory '{dir}' belongs to uid {}, not to uid {euid}: another user made it; remove it", st.st_uid))
        } else if libc::fchmod(fd, 0o711) != 0 {
            Some(format!("cannot set the mode of '{dir}': {}", std::io::Error::last_os_error()))
        } else {
            None
        };
        libc::close(fd);
        if let Some(p) = problem {
            return Err(fail(p));
        }
    }
    if let Some(w) = sticky_warning {
        tracing::warn!("WSGISocketPrefix {prefix}: {w}: another user can take the name '{dir}' before Apache starts (startup then fails); prefer a directory only root can write");
    }
    Ok((dir, stem.to_string()))
}

/// Makes room for a socket at `path` in the private directory: nothing there,
/// or an old socket of ours (a previous generation's, or a crashed server's),
/// which is removed. Anything else is left alone and reported.
fn clear_socket_name(path: &str, cpath: &CString) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot stat '{path}': {e}")),
        Ok(meta) if meta.file_type().is_socket() => {
            // SAFETY: unlink on a C string.
            if unsafe { libc::unlink(cpath.as_ptr()) } != 0 {
                return Err(format!("cannot remove the old socket '{path}': {}", std::io::Error::last_os_error()));
            }
            Ok(())
        }
        Ok(_) => Err(format!("'{path}' exists and is not a socket; it is left alone (remove it)")),
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
        if let Err(e) = clear_socket_name(path, &cpath) {
            libc::close(fd);
            return Err(format!("WSGIDaemonProcess {}: {e}", group.options.name));
        }
        if let Some(size) = group.options.send_buffer_size {
            let v = size as c_int;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &v as *const c_int as *const c_void, 4);
        }
        if let Some(size) = group.options.receive_buffer_size {
            let v = size as c_int;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &v as *const c_int as *const c_void, 4);
        }
        // Created with mode 0600 (no chmod afterwards, which would follow a link).
        let old = libc::umask(0o177);
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
        if libc::geteuid() == 0 && libc::lchown(cpath.as_ptr(), group.socket_uid, u32::MAX) != 0 {
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

#[cfg(test)]
mod tests {
    use super::others_can_write;

    #[test]
    fn who_else_can_write_a_directory() {
        assert_eq!(others_can_write(0, 0, 0o755, 0), None);
        assert_eq!(others_can_write(0, 0, 0o775, 0), None, "root's group is root");
        assert_eq!(others_can_write(0, 33, 0o775, 0), Some("writable by its group"));
        assert_eq!(others_can_write(0, 0, 0o777, 0), Some("writable by every user"));
        assert_eq!(others_can_write(0, 0, 0o1777, 0), Some("writable by every user"));
        assert_eq!(others_can_write(1000, 1000, 0o700, 0), Some("owned by another user"));
        // Apache not started as root: its own directories are fine.
        assert_eq!(others_can_write(1000, 1000, 0o755, 1000), None);
    }
}
