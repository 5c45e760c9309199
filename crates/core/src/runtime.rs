//! Facts about this process that are fixed once it starts serving: whether
//! Python is ready, the process model, and what the running Apache reports
//! (for the environ and the `mod_wsgi` and `apache` modules). The Apache module (for its children) and
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

/// What the running Apache says about itself, for `apache.version` in the
/// environ and the `apache` module (mod_wsgi's names). In a daemon process
/// these are the values of the Apache that forked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// `(major, minor, patch)` of the running Apache.
    pub version: (u32, u32, u32),
    /// The server description ("Apache/2.4.65 (Debian) mod_rwsgi/0.1.0").
    pub description: String,
    /// The MPM's name ("event", "worker", "prefork").
    pub mpm_name: String,
    /// When the Apache binary was built, as Apache reports it.
    pub build_date: String,
    /// The most child processes the MPM runs (at least 1).
    pub maximum_processes: i64,
    /// Threads per child process (1 for prefork).
    pub threads_per_process: i64,
}

static SERVER_FACTS: OnceCell<ServerFacts> = OnceCell::new();

/// Records what the running Apache reports, before Python starts.
pub fn set_server_facts(facts: ServerFacts) {
    set_once(&SERVER_FACTS, facts, "the Apache server facts");
}

/// What the running Apache reported (neutral values until it is set).
pub fn server_facts() -> ServerFacts {
    SERVER_FACTS.get().cloned().unwrap_or_else(|| ServerFacts {
        version: (2, 4, 0),
        description: String::new(),
        mpm_name: String::new(),
        build_date: String::new(),
        maximum_processes: 1,
        threads_per_process: 1,
    })
}

/// `(major, minor, patch)` of the running Apache.
pub fn apache_version() -> (u32, u32, u32) {
    SERVER_FACTS.get().map_or((2, 4, 0), |f| f.version)
}
