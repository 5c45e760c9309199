//! Finding things on this machine: mod_rwsgi.so, Apache and its modules, users.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

pub const MODULE_ENV: &str = "RWSGI_EXPRESS_MODULE";

/// Where mod_rwsgi.so is: `explicit` (--module-path), else $RWSGI_EXPRESS_MODULE,
/// else beside this binary when it runs from the build tree (target/release
/// holds libmod_rwsgi.so), else `mod_rwsgi.so` in the modules directory (where
/// apxs/install.sh and the Debian package put it).
pub fn module(explicit: Option<&str>, modules_dir: &str) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return existing(PathBuf::from(p), "--module-path");
    }
    if let Ok(p) = std::env::var(MODULE_ENV)
        && !p.is_empty()
    {
        return existing(PathBuf::from(p), MODULE_ENV);
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.canonicalize().ok()).and_then(|e| e.parent().map(Path::to_path_buf)) {
        for name in ["libmod_rwsgi.so", "mod_rwsgi.so"] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p);
        }
    }
    let installed = Path::new(modules_dir).join("mod_rwsgi.so");
    if installed.is_file() {
        return Ok(installed);
    }
    tried.push(installed);
    Err(format!(
        "mod_rwsgi.so not found (looked for {}); build it (cargo build --release), install it (apxs/install.sh or rwsgi-express install-module), or name it with --module-path or {MODULE_ENV}",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

fn existing(p: PathBuf, from: &str) -> Result<PathBuf, String> {
    if p.is_file() {
        Ok(std::path::absolute(&p).unwrap_or(p))
    } else {
        Err(format!("{from}: no module file at {}", p.display()))
    }
}

/// Checks that Apache is installed where expected.
pub fn httpd(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if !p.is_file() {
        return Err(format!(
            "Apache is not installed: {path} does not exist (install the Debian package apache2: apt-get install apache2, or name the binary with --httpd-executable)"
        ));
    }
    Ok(())
}

/// The Debian package that ships an Apache module file.
pub fn debian_package(module_file: &str) -> &'static str {
    match module_file {
        // Everything under /usr/lib/apache2/modules in Debian 12 comes with apache2-bin,
        // except the separately packaged ones we might name.
        "mod_wsgi.so" => "libapache2-mod-wsgi-py3",
        _ => "apache2-bin",
    }
}

/// A user of this machine.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

pub fn user_by_name(name: &str) -> Option<User> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; copied out at once
    // (single-threaded program).
    unsafe { user_from(libc::getpwnam(c.as_ptr())) }
}

pub fn user_by_uid(uid: u32) -> Option<User> {
    // SAFETY: as above.
    unsafe { user_from(libc::getpwuid(uid)) }
}

unsafe fn user_from(pw: *const libc::passwd) -> Option<User> {
    if pw.is_null() {
        return None;
    }
    // SAFETY: a valid passwd record from libc.
    unsafe {
        Some(User {
            name: CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned(),
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
            home: CStr::from_ptr((*pw).pw_dir).to_string_lossy().into_owned(),
        })
    }
}

/// A group's gid, by name.
pub fn group_by_name(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: getgrnam returns static storage or null.
    unsafe {
        let g = libc::getgrnam(c.as_ptr());
        if g.is_null() { None } else { Some((*g).gr_gid) }
    }
}

pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid returns static storage or null.
    unsafe {
        let g = libc::getgrgid(gid);
        if g.is_null() { None } else { Some(CStr::from_ptr((*g).gr_name).to_string_lossy().into_owned()) }
    }
}

pub fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether user `uid`/`gid` (not root) can reach and read `path`: every
/// ancestor directory searchable, the path itself readable. Returns the first
/// component that is not, with the reason.
pub fn unreadable_by(path: &Path, uid: u32, gid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = std::path::absolute(path).ok()?;
    let allowed = |m: &std::fs::Metadata, bits: u32| {
        let mode = m.mode();
        if m.uid() == uid {
            mode & (bits << 6) == bits << 6
        } else if m.gid() == gid {
            mode & (bits << 3) == bits << 3
        } else {
            mode & bits == bits
        }
    };
    let mut prefix = PathBuf::from("/");
    let comps: Vec<_> = path.components().skip(1).collect();
    for (i, c) in comps.iter().enumerate() {
        let Ok(m) = std::fs::metadata(&prefix) else { return None };
        if !allowed(&m, 0o1) {
            return Some(format!("directory {} is not searchable", prefix.display()));
        }
        prefix.push(c);
        if i + 1 == comps.len() {
            let Ok(m) = std::fs::metadata(&prefix) else { return None };
            let need = if m.is_dir() { 0o5 } else { 0o4 };
            if !allowed(&m, need) {
                return Some(format!("{} is not readable", prefix.display()));
            }
        }
    }
    None
}
