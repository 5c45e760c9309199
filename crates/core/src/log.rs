//! What every process of the module shares about logging: the levels (Apache's,
//! which are syslog's), the macros for the levels `tracing` lacks, the line
//! prefix, and the per-thread scope that says which request a line belongs to.
//! Where the lines are written is the host's business: the Apache module's
//! subscriber (`apache::log`) or the daemon's.

use std::cell::Cell;
use std::fmt::Write as _;

use once_cell::sync::OnceCell;
use tracing::Metadata;
use tracing::field::{Field, Visit};

/// Log levels, numbered as Apache's `APLOG_*` (and syslog's) are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Error = 3,
    Warn = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
    Trace1 = 8,
}

/// Logs at the `crit` level (tracing has no such level).
#[macro_export]
macro_rules! crit {
    ($($arg:tt)+) => { ::tracing::error!(crit = true, $($arg)+) };
}

/// Logs at the `alert` level (tracing has no such level).
#[macro_export]
macro_rules! alert {
    ($($arg:tt)+) => { ::tracing::error!(alert = true, $($arg)+) };
}

/// Logs at the `notice` level (tracing has no such level).
#[macro_export]
macro_rules! notice {
    ($($arg:tt)+) => { ::tracing::info!(notice = true, $($arg)+) };
}

/// The level of an event: tracing's level, refined by a marker field.
pub fn level_of(meta: &Metadata<'_>) -> Level {
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

/// Which request this thread's lines belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// None: the server's log and level.
    Server,
    /// A request of the host, identified by a token only the host reads (the
    /// Apache module keeps its request_rec there).
    Host(usize),
    /// A request in a daemon process, from the client `ip:port` the Apache
    /// child sent (a string the scope's creator keeps alive).
    Client(*const u8, usize),
}

thread_local! {
    // A plain Cell of Copy data: no destructor is registered, so touching it
    // never pins the DSO that holds it.
    static SCOPE: Cell<Scope> = const { Cell::new(Scope::Server) };
}

/// This thread's scope.
pub fn scope() -> Scope {
    SCOPE.with(Cell::get)
}

/// The client of a `Scope::Client`.
///
/// # Safety
/// `scope` must be this thread's current scope, whose creator keeps the string alive.
pub unsafe fn client_of<'a>(ptr: *const u8, len: usize) -> &'a str {
    // SAFETY: (caller) the bytes of a live &str.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) }
}

/// While it lives, lines logged on this thread belong to a request.
pub struct RequestScope {
    previous: Scope,
    // Tied to the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl RequestScope {
    /// Lines carry `client` (daemon mode); it must outlive the scope.
    pub fn client(client: &str) -> RequestScope {
        RequestScope::enter(Scope::Client(client.as_ptr(), client.len()))
    }

    /// Lines belong to the host's request `token`, which must stay valid for
    /// the scope's life.
    pub fn host(token: usize) -> RequestScope {
        RequestScope::enter(Scope::Host(token))
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

/// Daemon processes name themselves in every line.
static PROCESS_LABEL: OnceCell<String> = OnceCell::new();

/// Makes every later line of this (daemon) process say which group it serves.
pub fn set_daemon_group(group: &str) {
    if PROCESS_LABEL.set(format!("group='{group}'")).is_err() {
        tracing::error!("internal error: the daemon group of process {} was set twice (now '{group}')", std::process::id());
    }
}

/// An event's text with the module's prefix: `mod_rwsgi: ...`, or with labels
/// `mod_rwsgi (pid=N, group='G', application='A'): ...`; application output
/// (marked `raw`) as written.
pub fn format_event(event: &tracing::Event<'_>) -> String {
    let mut line = Line::default();
    event.record(&mut line);
    line.prefixed()
}

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
