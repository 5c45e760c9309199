//! Users and groups: resolution in the parent (as root) and the switch in a
//! freshly forked daemon.

use std::ffi::{CStr, CString};

use crate::config::daemon::Principal;

/// A resolved user: uid, primary gid, name and home directory.
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
    pub home: Option<String>,
}

pub fn lookup_user(p: &Principal) -> Result<User, String> {
    // SAFETY: getpwnam/getpwuid return a pointer into static storage that stays
    // valid until the next call; the parent is single-threaded while configuring.
    unsafe {
        let pw = match p {
            Principal::Name(name) => {
                let c = CString::new(name.as_str()).map_err(|_| format!("user name {name:?} contains a NUL"))?;
                libc::getpwnam(c.as_ptr())
            }
            Principal::Id(uid) => libc::getpwuid(*uid),
        };
        if pw.is_null() {
            return match p {
                Principal::Name(name) => Err(format!("no such user '{name}'")),
                // A bare uid without a passwd entry is allowed, as with mod_wsgi.
                Principal::Id(uid) => Ok(User { uid: *uid, gid: u32::MAX, name: None, home: None }),
            };
        }
        let text = |s: *const libc::c_char| (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned());
        Ok(User { uid: (*pw).pw_uid, gid: (*pw).pw_gid, name: text((*pw).pw_name), home: text((*pw).pw_dir) })
    }
}

pub fn lookup_group(p: &Principal) -> Result<u32, String> {
    match p {
        Principal::Id(gid) => Ok(*gid),
        Principal::Name(name) => {
            let c = CString::new(name.as_str()).map_err(|_| format!("group name {name:?} contains a NUL"))?;
            // SAFETY: as for getpwnam above.
            let gr = unsafe { libc::getgrnam(c.as_ptr()) };
            if gr.is_null() {
                return Err(format!("no such group '{name}'"));
            }
            // SAFETY: a non-null entry from getgrnam, read before any other call can reuse it.
            Ok(unsafe { (*gr).gr_gid })
        }
    }
}

/// Switches this (single-threaded, just forked) process to `uid`/`gid` with the
/// given supplementary groups (or initgroups for `user_name`), in the order that
/// works: groups first, then the user. Verifies the result: setuid can fail
/// (RLIMIT_NPROC) and the process must never go on as root.
pub fn drop_to(uid: u32, gid: u32, groups: Option<&[u32]>, user_name: Option<&str>) -> Result<(), String> {
    // SAFETY: plain system calls in a single-threaded process.
    unsafe {
        if libc::geteuid() != 0 {
            // Not started as root: Apache ignores User/Group too; we run as we are.
            return Ok(());
        }
        if uid == 0 {
            return Err("daemon processes must not run as root (uid 0)".into());
        }
        if libc::setgid(gid) != 0 {
            return Err(format!("setgid({gid}) failed: {}", std::io::Error::last_os_error()));
        }
        let grouped = match (groups, user_name) {
            (Some(list), _) => libc::setgroups(list.len(), list.as_ptr()),
            (None, Some(name)) => match CString::new(name) {
                Ok(c) => libc::initgroups(c.as_ptr(), gid),
                Err(_) => libc::setgroups(0, std::ptr::null()),
            },
            (None, None) => libc::setgroups(0, std::ptr::null()),
        };
        if grouped != 0 {
            return Err(format!("setting supplementary groups failed: {}", std::io::Error::last_os_error()));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!("setuid({uid}) failed: {}", std::io::Error::last_os_error()));
        }
        if libc::getuid() != uid || libc::geteuid() != uid || libc::geteuid() == 0 || libc::getegid() != gid {
            return Err(format!("identity is uid {}/gid {} after switching to {uid}/{gid}", libc::geteuid(), libc::getegid()));
        }
    }
    Ok(())
}
