//! The Apache module's tracing subscriber: writes the module's lines (see
//! `rwsgi_core::log`) to Apache's error log, tagged `[rwsgi:LEVEL]` and
//! filtered by `LogLevel rwsgi:LEVEL`, per server and, inside a request, per
//! directory.

use std::ffi::CString;

use once_cell::sync::OnceCell;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

pub use rwsgi_core::log::{Level, RequestScope, outside_request};
use rwsgi_core::log::{Scope, client_of, format_event, level_of, scope};

use super::{Request, Server};
use crate::ffi;

/// A scope whose lines go to `r`'s log (embedded mode, and the Apache child's
/// side of daemon mode): they carry the client and honour the directory's LogLevel.
pub fn request_scope(r: &Request) -> RequestScope {
    RequestScope::host(r.as_ptr() as usize)
}

fn c_message(msg: &str) -> CString {
    // Interior NULs would truncate the line; show them instead.
    CString::new(msg.replace('\0', "\\0")).expect("NULs were replaced")
}

fn main_server_ptr() -> *const ffi::server_rec {
    Server::main().map_or(std::ptr::null(), |s| s.as_ptr() as *const _)
}

/// The request_rec of a host scope.
fn request_of(token: usize) -> *const ffi::request_rec {
    token as *const ffi::request_rec
}

/// The tracing subscriber that writes to Apache's error log.
pub struct ApacheLog;

impl tracing::Subscriber for ApacheLog {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // LogLevel can differ per server and directory: decide per event.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        let level = level_of(meta) as i32;
        match scope() {
            // SAFETY: a host scope holds the request_rec being served on this thread.
            Scope::Host(r) => unsafe { ffi::rwsgi_request_log_enabled(request_of(r), level) != 0 },
            Scope::Server | Scope::Client(..) => {
                let sp = main_server_ptr();
                if sp.is_null() {
                    return level <= Level::Notice as i32;
                }
                // SAFETY: `sp` is the live main server_rec.
                unsafe { ffi::rwsgi_server_log_enabled(sp, level) != 0 }
            }
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn event(&self, event: &Event<'_>) {
        let level = level_of(event.metadata()) as i32;
        let text = format_event(event);
        let msg = match scope() {
            Scope::Host(r) => {
                let msg = c_message(&text);
                // SAFETY: as in `enabled`; the shim passes `msg` as a "%s" argument.
                unsafe { ffi::rwsgi_log_rerror(request_of(r), level, 0, msg.as_ptr()) };
                return;
            }
            // SAFETY: this thread's current scope, kept alive by its creator.
            Scope::Client(ptr, len) => c_message(&format!("[client {}] {text}", unsafe { client_of(ptr, len) })),
            Scope::Server => c_message(&text),
        };
        // SAFETY: null or the live main server; the shim passes `msg` as a "%s" argument.
        unsafe { ffi::rwsgi_log_error(main_server_ptr(), level, 0, msg.as_ptr()) }
    }

    // Spans are not used: a request's context is its RequestScope.
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Makes [`ApacheLog`] the process's subscriber. Called from register_hooks
/// on every load of the module; a load installs it once (the tracing
/// dispatcher lives in this DSO, so a reloaded module starts without one).
pub fn install() {
    static INSTALLED: OnceCell<()> = OnceCell::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(ApacheLog);
    });
}

/// A server's `LogLevel` for this module (Apache's numbering), for processes
/// that log without Apache (the exec'd daemons). (APLOG_IS_LEVEL would not do:
/// it lets every level up to notice through and leaves the rest to ap_log_error.)
pub fn module_level(server: Server) -> u8 {
    // SAFETY: `server` is a live server_rec; the index is this module's.
    let level = unsafe { ffi::ap_get_server_module_loglevel(server.as_ptr() as *const _, crate::module_index() as i32) };
    level.clamp(0, 15) as u8
}
