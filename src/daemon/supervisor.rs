//! The Apache parent's side of daemon mode: listening sockets, forking the
//! daemon processes after configuration, and restarting them when they exit.
//!
//! Nothing here starts threads or Python: the parent stays single-threaded so
//! that forking is safe.

use std::ffi::{CString, c_int, c_void};
use std::sync::Arc;

use super::privileges::{lookup_group, lookup_user};
use super::registry::{self, Defined, Group, ImportScript, ScriptOwner};
use crate::apache::{Level, Pool, Server, guard, log};
use crate::config::ServerConfig;
use crate::ffi;

/// One daemon process slot: the group, its index, and APR's process record.
///
/// The record is plain pool memory, not part of the Slot: APR's
/// note_subprocess list reads it when pconf is cleared, *after* the pool's
/// cleanups have run (and dropped the Slot), to send the daemons SIGTERM.
struct Slot {
    group: Arc<Group>,
    index: u32,
    proc_: *mut ffi::apr_proc_t,
    pconf: *mut ffi::apr_pool_t,
}

fn apache_user() -> (u32, u32, Option<String>) {
    // SAFETY: mod_unixd fills ap_unixd_config while reading User/Group; read-only here.
    unsafe {
        let c = &*(&raw const ffi::ap_unixd_config);
        let name = crate::apache::pool::cstr_utf8(c.user_name).map(String::from);
        (c.user_id, c.group_id, name)
    }
}

fn mpm_query(code: i32) -> i32 {
    let mut v: c_int = 0;
    // SAFETY: writes one int.
    unsafe { ffi::ap_mpm_query(code, &mut v) };
    v
}

/// Resolves users, groups and socket paths; creates the sockets; forks the daemons.
pub fn start(pconf: Pool, main: Server, config: &ServerConfig) -> Result<(), String> {
    let (defined, imports) = registry::take_configuration();
    let (embedded_imports, daemon_imports): (Vec<_>, Vec<_>) = imports.into_iter().partition(|i| i.process_group.is_empty());
    let parent = std::process::id();
    let generation = mpm_query(ffi::AP_MPMQ_GENERATION);
    let rotation = config.socket_rotation.unwrap_or(true);
    let prefix = socket_prefix(pconf, config.socket_prefix.as_deref());
    let mut groups = Vec::new();
    for (id, d) in defined.into_iter().enumerate() {
        let imports = daemon_imports.iter().filter(|i| i.process_group == d.options.name).cloned().collect();
        let mut group = resolve(id, d, imports, &prefix, parent, generation, rotation)?;
        create_listener(pconf, &mut group)?;
        groups.push(Arc::new(group));
    }
    // Forks below and Apache's children (forked later) inherit this list.
    registry::set_running(groups.clone(), embedded_imports);
    for group in &groups {
        crate::server_log!(
            Some(main),
            Level::Info,
            "mod_rwsgi: starting daemon process group '{}' ({} processes x {} threads) on {}",
            group.options.name,
            group.options.processes,
            group.options.threads,
            group.socket_path
        );
        for index in 0..group.options.processes {
            let proc_ = pconf.alloc_copy(ffi::apr_proc_t::default());
            let slot = pconf.adopt(Slot { group: group.clone(), index, proc_, pconf: pconf.as_ptr() });
            spawn(slot);
        }
    }
    Ok(())
}

fn socket_prefix(pconf: Pool, configured: Option<&str>) -> String {
    let raw = match configured {
        // SAFETY: pconf is live; both functions return pool strings.
        Some(p) => unsafe { ffi::ap_server_root_relative(pconf.as_ptr(), pconf.strdup(p)) },
        None => unsafe { ffi::ap_runtime_dir_relative(pconf.as_ptr(), c"wsgi".as_ptr()) },
    };
    // SAFETY: a pool string (or null).
    unsafe { crate::apache::pool::cstr_utf8(raw) }.unwrap_or("wsgi").to_string()
}

fn resolve(
    id: usize,
    d: Defined,
    imports: Vec<ImportScript>,
    prefix: &str,
    parent: u32,
    generation: i32,
    rotation: bool,
) -> Result<Group, String> {
    let o = &d.options;
    let fail = |e: String| format!("WSGIDaemonProcess {} (at {}): {e}", o.name, d.location);
    let (apache_uid, apache_gid, apache_name) = apache_user();
    // SAFETY: plain query.
    let root = unsafe { libc::geteuid() } == 0;
    let (uid, mut gid, user_name, home) = match &o.user {
        Some(p) => {
            let u = lookup_user(p).map_err(fail)?;
            (u.uid, u.gid, u.name, u.home)
        }
        None => (apache_uid, apache_gid, apache_name, None),
    };
    if let Some(g) = &o.group {
        gid = lookup_group(g).map_err(fail)?;
    } else if gid == u32::MAX {
        gid = apache_gid;
    }
    if root && uid == 0 {
        return Err(fail("daemon processes must not run as root; set user= (or Apache's User) to an unprivileged user".into()));
    }
    let groups = if o.supplementary_groups.is_empty() {
        None
    } else {
        Some(o.supplementary_groups.iter().map(lookup_group).collect::<Result<Vec<_>, _>>().map_err(fail)?)
    };
    let socket_uid = match &o.socket_user {
        Some(p) => lookup_user(p).map_err(fail)?.uid,
        None => apache_uid,
    };
    let socket_path = if rotation {
        format!("{prefix}.{parent}.{generation}.{id}.sock")
    } else {
        format!("{prefix}.{parent}.u{uid}.{id}.sock")
    };
    if socket_path.len() >= 108 {
        return Err(fail(format!("the socket path '{socket_path}' is longer than a Unix socket allows (107 bytes); shorten WSGISocketPrefix")));
    }
    let script_owner = match (&o.script_user, &o.script_group) {
        (Some(u), _) => Some(ScriptOwner::User(lookup_user(u).map_err(fail)?.uid)),
        (None, Some(g)) => Some(ScriptOwner::Group(lookup_group(g).map_err(fail)?)),
        (None, None) => None,
    };
    // The group's own home= wins; another user's home directory comes next (mod_wsgi's rule).
    let home = o.home.clone().or(if o.user.is_some() { home } else { None });
    Ok(Group {
        id,
        options: d.options,
        virtual_host: d.virtual_host.map(|s| s.hostname().to_string()),
        socket_path,
        listener: -1,
        uid,
        gid,
        groups,
        user_name,
        home,
        imports,
        socket_uid,
        script_owner,
        connections: Default::default(),
    })
}

/// Binds and listens on the group's socket: mode 0600, owned by the user the
/// Apache children run as, so that nobody else can submit requests.
fn create_listener(pconf: Pool, group: &mut Group) -> Result<(), String> {
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

fn spawn(slot: *mut Slot) {
    // SAFETY: the slot and its process record live in pconf; apr_proc_fork fills the record.
    unsafe {
        let s = &mut *slot;
        let parent = std::process::id();
        match ffi::apr_proc_fork(s.proc_, s.pconf) {
            ffi::APR_INCHILD => super::process::run(s.group.clone(), s.index, parent),
            ffi::APR_INPARENT => {
                ffi::apr_pool_note_subprocess(s.pconf, s.proc_, ffi::apr_kill_conditions_e_APR_KILL_AFTER_TIMEOUT);
                ffi::apr_proc_other_child_register(s.proc_, Some(maintenance), slot as *mut c_void, std::ptr::null_mut(), s.pconf);
            }
            rv => log::server(
                None,
                Level::Alert,
                &format!("mod_rwsgi: cannot fork a daemon process for group '{}' (APR error {rv})", s.group.options.name),
            ),
        }
    }
}

/// APR's other-child callback: restart a daemon that died, unless Apache is stopping.
unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    guard::contain("daemon maintenance", (), || {
        // SAFETY: `data` is the Slot registered with this callback, alive in pconf.
        let s = unsafe { &mut *(data as *mut Slot) };
        match reason {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                // SAFETY: unregistering the registration this callback belongs to.
                unsafe { ffi::apr_proc_other_child_unregister(data) };
                if mpm_query(ffi::AP_MPMQ_MPM_STATE) == ffi::AP_MPMQ_STOPPING {
                    return;
                }
                let why = if reason == ffi::APR_OC_REASON_LOST { "was lost".to_string() } else { format!("exited (status {status})") };
                log::server(
                    None,
                    Level::Notice,
                    &format!(
                        "mod_rwsgi: daemon process {} of group '{}' (pid {}) {why}; starting a new one",
                        s.index,
                        s.group.options.name,
                        // SAFETY: the record lives in pconf.
                        unsafe { (*s.proc_).pid }
                    ),
                );
                spawn(s);
            }
            ffi::APR_OC_REASON_RESTART => {
                // SAFETY: as above.
                unsafe { ffi::apr_proc_other_child_unregister(data) };
            }
            _ => {}
        }
    })
}
