//! Facts about this process that are fixed once it starts serving: whether
//! Python is ready, the process model and the Apache version that the environ
//! and the `mod_wsgi` module report. The Apache module (for its children) and
//! the daemon (for its own processes) set them; the WSGI layer reads them.
//!
//! Each is set at most once per process. A second set is a bug in the start-up
//! sequence: it is logged and the first value kept.

use once_cell::sync::OnceCell;


/// How requests are spread over processes and threads here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessModel {
    /// wsgi.multithread
    pub multithread: bool,
    /// wsgi.multiprocess
    pub multiprocess: bool,
    /// mod_wsgi.maximum_processes
    pub max_processes: i64,
    /// mod_wsgi.threads_per_process (before the single-thread adjustment)
    pub max_threads: i64,
}

static PYTHON_READY: OnceCell<Result<(), String>> = OnceCell::new();
static PROCESS_MODEL: OnceCell<ProcessModel> = OnceCell::new();

fn set_once<T: std::fmt::Debug>(cell: &OnceCell<T>, value: T, what: &str) {
    if let Err(value) = cell.set(value) {
        tracing::error!("internal error: {what} was set twice in process {} (kept {:?}, ignored {value:?})", std::process::id(), cell.get());
    }
}

/// Records whether Python started in this process.
pub fn set_python_ready(outcome: Result<(), String>) {
    set_once(&PYTHON_READY, outcome, "the Python start-up outcome");
}

/// Ok once Python runs in this process; otherwise why requests cannot be served.
pub fn python_ready() -> Result<(), &'static str> {
    match PYTHON_READY.get() {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(e.as_str()),
        None => Err("Python was not initialised in this process"),
    }
}

/// Fixes the process model of a daemon process (its processes= and threads=),
/// before Python starts.
pub fn set_daemon_model(processes: i64, threads: i64, processes_given: bool) {
    let model = ProcessModel { multithread: threads > 1, multiprocess: processes_given || processes > 1, max_processes: processes, max_threads: threads };
    set_process_model(model);
}

/// Fixes the process model (an Apache child: the MPM's), before Python starts.
pub fn set_process_model(model: ProcessModel) {
    set_once(&PROCESS_MODEL, model, "the process model");
}

/// The process model (single process, single thread until it is set).
pub fn process_model() -> ProcessModel {
    PROCESS_MODEL.get().copied().unwrap_or(ProcessModel { multithread: false, multiprocess: false, max_processes: 1, max_threads: 1 })
}

static APACHE_VERSION: OnceCell<(u32, u32, u32)> = OnceCell::new();

/// Records the running Apache's version, for `apache.version`.
pub fn set_apache_version(version: (u32, u32, u32)) {
    set_once(&APACHE_VERSION, version, "the Apache version");
}

/// `(major, minor, patch)` of the running Apache.
pub fn apache_version() -> (u32, u32, u32) {
    APACHE_VERSION.get().copied().unwrap_or((2, 4, 0))
}
