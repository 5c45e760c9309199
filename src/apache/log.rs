//! The module's one logging mechanism: `tracing` events, written to Apache's
//! error log by [`ApacheLog`], tagged `[rwsgi:LEVEL]` and filtered by
//! `LogLevel rwsgi:LEVEL` (per server, and per directory inside a request).
//!
//! Call sites use `tracing::{error, warn, info, debug, trace}!` and, for the
//! Apache levels tracing lacks, this crate's `crit!` and `notice!`. Each line
//! gets the module's prefix, `mod_rwsgi: ` (in a daemon process
//! `mod_rwsgi (pid=N, group='G'): `), except application output (`raw`).
//! Where a request is being served, its scope ([`RequestScope`]) makes lines
//! carry the client address and honour the request's LogLevel.

use std::cell::Cell;
use std::ffi::CString;
use std::fmt::Write as _;

use once_cell::sync::OnceCell;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

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

/// Logs at Apache's `crit` level (tracing has no such level).
#[macro_export]
macro_rules! crit {
    ($($arg:tt)+) => { ::tracing::error!(crit = true, $($arg)+) };
}

/// Logs at Apache's `alert` level (tracing has no such level).
#[macro_export]
macro_rules! alert {
    ($($arg:tt)+) => { ::tracing::error!(alert = true, $($arg)+) };
}

/// Logs at Apache's `notice` level (tracing has no such level).
#[macro_export]
macro_rules! notice {
    ($($arg:tt)+) => { ::tracing::info!(notice = true, $($arg)+) };
}

/// The Apache level of an event: tracing's level, refined by a marker field.
fn apache_level(meta: &Metadata<'_>) -> Level {
    let marked = |name| meta.fields().field(name).is_some();
    match *meta.level() {
        tracing::Level::ERROR if marked("alert") => Level::Alert,
        tracing::Level::ERROR if marked("crit") => Level::Crit,
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::INFO if marked("notice") => Level::Notice,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::TRACE => Level::Trace1,
    }
}

/// Where this thread's lines go.
#[derive(Clone, Copy)]
enum Scope {
    /// The main server's log and LogLevel.
    Server,
    /// An embedded request: `ap_log_rerror`, which adds the client and honours
    /// the directory's LogLevel.
    Request(Request),
    /// A request in a daemon process: the server log, prefixed with the
    /// client address the Apache child sent (`ip:port`).
    Client(*const u8, usize),
}

thread_local! {
    // A plain Cell of Copy data: no destructor is registered, so touching it
    // never pins the DSO.
    static SCOPE: Cell<Scope> = const { Cell::new(Scope::Server) };
}

/// While it lives, lines logged on this thread belong to a request.
pub struct RequestScope {
    previous: Scope,
    // Tied to the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl RequestScope {
    /// Lines go to `r`'s log (embedded mode).
    pub fn request(r: &Request) -> RequestScope {
        RequestScope::enter(Scope::Request(*r))
    }

    /// Lines carry `client` (daemon mode); it must outlive the scope.
    pub fn client(client: &str) -> RequestScope {
        RequestScope::enter(Scope::Client(client.as_ptr(), client.len()))
    }

    fn enter(scope: Scope) -> RequestScope {
        RequestScope { previous: SCOPE.with(|s| s.replace(scope)), _not_send: std::marker::PhantomData }
    }
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        SCOPE.with(|s| s.set(self.previous));
    }
}

/// Runs `f` with this thread's lines going to the server log, not the
/// request being served (for output of objects that outlived their request).
pub fn outside_request<R>(f: impl FnOnce() -> R) -> R {
    let _scope = RequestScope::enter(Scope::Server);
    f()
}

fn c_message(msg: &str) -> CString {
    // Interior NULs would truncate the line; show them instead.
    CString::new(msg.replace('\0', "\\0")).expect("NULs were replaced")
}

fn main_server_ptr() -> *const ffi::server_rec {
    Server::main().map_or(std::ptr::null(), |s| s.as_ptr() as *const _)
}

fn server_enabled(level: Level) -> bool {
    let sp = main_server_ptr();
    if sp.is_null() {
        return level <= Level::Notice;
    }
    // SAFETY: `sp` is the live main server_rec.
    unsafe { ffi::rwsgi_server_log_enabled(sp, level as i32) != 0 }
}

fn write_server(level: Level, msg: &str) {
    let msg = c_message(msg);
    // SAFETY: null or the live main server; the shim passes `msg` as a "%s" argument.
    unsafe { ffi::rwsgi_log_error(main_server_ptr(), level as i32, 0, msg.as_ptr()) }
}

/// Daemon processes name themselves in every line.
static PROCESS_LABEL: OnceCell<String> = OnceCell::new();

/// Makes every later line of this (daemon) process say which group it serves.
pub fn set_daemon_group(group: &str) {
    let _ = PROCESS_LABEL.set(format!("group='{group}'"));
}

/// Gathers an event's message and marker fields.
#[derive(Default)]
struct Line {
    message: String,
    raw: bool,
    pid: bool,
    application: Option<String>,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "application" => self.application = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "application" => self.application = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "raw" => self.raw = value,
            "pid" => self.pid = value,
            _ => {}
        }
    }
}

impl Line {
    /// `mod_rwsgi: `, or with a process label `mod_rwsgi (pid=N, ...): `.
    fn prefixed(self) -> String {
        if self.raw {
            return self.message;
        }
        let mut labels = Vec::new();
        if self.pid || PROCESS_LABEL.get().is_some() || self.application.is_some() {
            labels.push(format!("pid={}", std::process::id()));
        }
        if let Some(group) = PROCESS_LABEL.get() {
            labels.push(group.clone());
        }
        if let Some(app) = &self.application {
            labels.push(format!("application='{app}'"));
        }
        if labels.is_empty() { format!("mod_rwsgi: {}", self.message) } else { format!("mod_rwsgi ({}): {}", labels.join(", "), self.message) }
    }
}

/// The tracing subscriber that writes to Apache's error log.
pub struct ApacheLog;

impl tracing::Subscriber for ApacheLog {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // LogLevel can differ per server and directory: decide per event.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        let level = apache_level(meta);
        match SCOPE.with(Cell::get) {
            // SAFETY: a request scope only lives while its request is served on this thread.
            Scope::Request(r) => unsafe { ffi::rwsgi_request_log_enabled(r.as_ptr(), level as i32) != 0 },
            Scope::Server | Scope::Client(..) => server_enabled(level),
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn event(&self, event: &Event<'_>) {
        let level = apache_level(event.metadata());
        let mut line = Line::default();
        event.record(&mut line);
        let text = line.prefixed();
        match SCOPE.with(Cell::get) {
            Scope::Request(r) => {
                let msg = c_message(&text);
                // SAFETY: as in `enabled`; the shim passes `msg` as a "%s" argument.
                unsafe { ffi::rwsgi_log_rerror(r.as_ptr(), level as i32, 0, msg.as_ptr()) }
            }
            Scope::Client(ptr, len) => {
                // SAFETY: the scope's client string outlives the scope (RequestScope::client).
                let client = unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) };
                write_server(level, &format!("[client {client}] {text}"));
            }
            Scope::Server => write_server(level, &text),
        }
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
