//! Turning a configured group into a runnable one: users, groups, the socket
//! path and the script owner, resolved in the Apache parent at start-up.

use crate::apache::process::apache_user;
use crate::privileges::{lookup_group, lookup_user};
use super::socket::Naming;
use crate::apache::Server;
use crate::apache::module_config::server_config;
use crate::daemon::registry::{Defined, Group, ImportScript, ScriptOwner};

/// Resolves group `id` as configured by `d`; the main server supplies the
/// interpreter settings (which the group's options refine) and `Timeout`.
pub fn resolve(id: usize, d: Defined, imports: Vec<ImportScript>, main: Server, naming: &Naming, scripts: Option<Vec<String>>) -> Result<Group, String> {
    let python = &server_config(main).python;
    let o = &d.options;
    let fail = |e: String| format!("WSGIDaemonProcess {} (at {}): {e}", o.name, d.location);
    let apache = apache_user();
    let (apache_uid, apache_gid, apache_name) = (apache.uid, apache.gid, apache.name);
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
    let socket_path = naming.path(id, uid);
    if socket_path.len() >= 108 {
        return Err(fail(format!("the socket path '{socket_path}' is longer than a Unix socket allows (107 bytes); shorten WSGISocketPrefix")));
    }
    let script_owner = match (&o.script_user, &o.script_group) {
        (Some(u), _) => Some(ScriptOwner::User(lookup_user(u).map_err(fail)?.uid)),
        (None, Some(g)) => Some(ScriptOwner::Group(lookup_group(g).map_err(fail)?)),
        (None, None) => None,
    };
    // The group's own home= wins; then, for a user other than Apache's, that
    // user's home directory; else the working directory is left as it is
    // (mod_wsgi's rule, by uid: user= naming Apache's own user changes nothing).
    let home = o.home.clone().or(if uid != apache_uid { home } else { None });
    let mut python = python.clone();
    if o.python_home.is_some() {
        python.home = o.python_home.clone();
    }
    // WSGIPythonPath is for Apache's children only; a daemon group's path is
    // its python-path= (as in mod_wsgi).
    python.paths = o.python_path.clone();
    Ok(Group {
        id,
        arguments: d.arguments,
        // One per group name for the parent's life, so that Apache children of
        // the previous generation, still finishing after a graceful restart,
        // are let in by this generation's daemons (see child::pool::connect).
        secret: crate::apache::process::lifetime_bytes(&format!("secret:{}", o.name), new_secret).map_err(fail)?,
        scripts,
        python,
        options: d.options,
        virtual_host: d.defined_in.map(|s| s.hostname().to_string()),
        socket_path,
        listener: -1,
        uid,
        gid,
        groups,
        user_name,
        home,
        imports,
        apache_timeout: main.timeout(),
        server_facts: crate::apache::server::facts(),
        socket_uid,
        script_owner,
        metrics_fd: false,
        slow_requests_us: (config_slow_requests() * 1e6) as u64,
    })
}

/// WSGISlowRequests of the main server (the daemons log slow requests too).
fn config_slow_requests() -> f64 {
    crate::apache::Server::main().map_or(0.0, |s| crate::apache::module_config::server_config(s).slow_requests.unwrap_or(0.0))
}

/// A fresh connection secret (see the daemon's peer check).
fn new_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0u8; rwsgi_daemon::protocol::launch::SECRET_LEN];
    // SAFETY: getrandom fills the buffer it is given.
    let n = unsafe { libc::getrandom(secret.as_mut_ptr() as *mut libc::c_void, secret.len(), 0) };
    if n != secret.len() as isize {
        return Err(format!("cannot draw the group's connection secret: {}", std::io::Error::last_os_error()));
    }
    Ok(secret)
}
