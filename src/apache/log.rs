//! Logging to Apache's error log, tagged `[rwsgi:LEVEL]` and filtered by
//! `LogLevel rwsgi:LEVEL`, through the C shim's wrappers of Apache's macros.

use std::ffi::CString;

use crate::ffi;

use super::{Request, Server};

/// Apache log levels (`APLOG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Emerg = ffi::APLOG_EMERG,
    Alert = ffi::APLOG_ALERT,
    Crit = ffi::APLOG_CRIT,
    Error = ffi::APLOG_ERR,
    Warn = ffi::APLOG_WARNING,
    Notice = ffi::APLOG_NOTICE,
    Info = ffi::APLOG_INFO,
    Debug = ffi::APLOG_DEBUG,
    Trace1 = ffi::APLOG_TRACE1,
}

fn c_message(msg: &str) -> CString {
    // Interior NULs would truncate the line; show them instead.
    CString::new(msg.replace('\0', "\\0")).expect("NULs were replaced")
}

/// Logs against a server (the main server when `None`, so its LogLevel applies).
pub fn server(s: Option<Server>, level: Level, msg: &str) {
    let msg = c_message(msg);
    let sp = s.or_else(Server::main).map_or(std::ptr::null(), |s| s.as_ptr() as *const _);
    // SAFETY: `sp` is null or a live server_rec; the shim passes `msg` as a "%s" argument.
    unsafe { ffi::rwsgi_log_error(sp, level as i32, 0, msg.as_ptr()) }
}

/// Whether a server-level message at `level` would be written.
pub fn server_enabled(s: Option<Server>, level: Level) -> bool {
    let sp: *const ffi::server_rec = s.or_else(Server::main).map_or(std::ptr::null(), |s| s.as_ptr() as *const _);
    if sp.is_null() {
        return level <= Level::Notice;
    }
    // SAFETY: `sp` is a live server_rec.
    unsafe { ffi::rwsgi_server_log_enabled(sp, level as i32) != 0 }
}

/// Logs against a request: the line carries the client address and honours
/// per-directory `LogLevel`.
pub fn request(r: &Request, level: Level, msg: &str) {
    let msg = c_message(msg);
    // SAFETY: `r` wraps the live request_rec of the current request.
    unsafe { ffi::rwsgi_log_rerror(r.as_ptr(), level as i32, 0, msg.as_ptr()) }
}

/// Whether a request-level message at `level` would be written.
pub fn request_enabled(r: &Request, level: Level) -> bool {
    // SAFETY: `r` wraps the live request_rec of the current request.
    unsafe { ffi::rwsgi_request_log_enabled(r.as_ptr(), level as i32) != 0 }
}

/// `log_error!(server_opt, Level::Error, "fmt", args)`-style helper that skips
/// the formatting when the level is filtered out.
#[macro_export]
macro_rules! server_log {
    ($s:expr, $level:expr, $($arg:tt)*) => {{
        let s = $s;
        if $crate::apache::log::server_enabled(s, $level) {
            $crate::apache::log::server(s, $level, &format!($($arg)*));
        }
    }};
}

#[macro_export]
macro_rules! request_log {
    ($r:expr, $level:expr, $($arg:tt)*) => {{
        let r = $r;
        if $crate::apache::log::request_enabled(r, $level) {
            $crate::apache::log::request(r, $level, &format!($($arg)*));
        }
    }};
}
