//! Start-up hooks: configuration passes in the parent, Python start in each child.

use std::ffi::c_int;

use once_cell::sync::OnceCell;
use parking_lot::Mutex;

use super::config::server_config;
use crate::apache::{Level, Server, guard, log};
use crate::ffi;
use crate::python::interpreter;

/// Application groups named in the configuration being read (each with where it
/// was named), reported once at start-up: they all share the main interpreter.
static NAMED_APPLICATION_GROUPS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn note_named_application_group(description: String) {
    NAMED_APPLICATION_GROUPS.lock().push(description);
}

/// Whether Python started in this process; requests fail with 500 otherwise.
static PYTHON_READY: OnceCell<Result<(), String>> = OnceCell::new();

/// Records whether Python started in this process (a daemon process does so itself).
pub fn set_python_ready(outcome: Result<(), String>) {
    let _ = PYTHON_READY.set(outcome);
}

pub fn python_ready() -> Result<(), &'static str> {
    match PYTHON_READY.get() {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(e.as_str()),
        None => Err("Python was not initialised in this process"),
    }
}

static PROCESS_MODEL: OnceCell<(bool, bool)> = OnceCell::new();

/// Fixes (wsgi.multithread, wsgi.multiprocess) for a daemon process.
pub fn set_process_model(multithread: bool, multiprocess: bool) {
    let _ = PROCESS_MODEL.set((multithread, multiprocess));
}

/// (wsgi.multithread, wsgi.multiprocess) for this MPM.
pub fn process_model() -> (bool, bool) {
    *PROCESS_MODEL.get_or_init(|| {
        let query = |code: i32| {
            let mut value: c_int = 0;
            // SAFETY: ap_mpm_query writes one int for these query codes.
            let rv = unsafe { ffi::ap_mpm_query(code, &mut value) };
            if rv == 0 { value } else { 0 }
        };
        let threaded = query(ffi::AP_MPMQ_IS_THREADED) != ffi::AP_MPMQ_NOT_SUPPORTED && query(ffi::AP_MPMQ_MAX_THREADS) > 1;
        let multiprocess = query(ffi::AP_MPMQ_MAX_DAEMONS) > 1;
        (threaded, multiprocess)
    })
}

/// (maximum processes, threads per process) of this MPM, for the mod_wsgi module.
pub fn process_limits() -> (i64, i64) {
    if let Some(limits) = DAEMON_LIMITS.get() {
        return *limits;
    }
    let query = |code: i32| {
        let mut value: c_int = 0;
        // SAFETY: ap_mpm_query writes one int for these query codes.
        unsafe { ffi::ap_mpm_query(code, &mut value) };
        value as i64
    };
    (query(ffi::AP_MPMQ_MAX_DAEMONS).max(1), query(ffi::AP_MPMQ_MAX_THREADS).max(1))
}

static DAEMON_LIMITS: OnceCell<(i64, i64)> = OnceCell::new();

/// Fixes the process limits reported in a daemon process (processes=, threads=).
pub fn set_process_limits(processes: i64, threads: i64) {
    let _ = DAEMON_LIMITS.set((processes, threads));
}

/// `(major, minor, patch)` of the running Apache.
pub fn apache_version() -> (u32, u32, u32) {
    // SAFETY: returns a static string such as "Apache/2.4.65 (Debian)".
    let desc = unsafe { crate::apache::pool::cstr_utf8(ffi::ap_get_server_description()) }.unwrap_or("");
    let version = desc.strip_prefix("Apache/").unwrap_or("").split([' ', '-']).next().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(2), parts.next().unwrap_or(4), parts.next().unwrap_or(0))
}

pub unsafe extern "C" fn pre_config(_pconf: *mut ffi::apr_pool_t, _plog: *mut ffi::apr_pool_t, _ptemp: *mut ffi::apr_pool_t) -> c_int {
    guard::contain("pre_config", ffi::OK, || {
        // Statics survive a restart when the DSO stays mapped; start each read clean.
        NAMED_APPLICATION_GROUPS.lock().clear();
        crate::daemon::registry::reset_configuration();
        ffi::OK
    })
}

pub unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard::contain("post_config", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: plain query of Apache's start-up state.
        if unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) } == ffi::AP_SQ_MS_CREATE_PRE_CONFIG {
            // The dry-run pass: the module is unloaded after it; do nothing.
            return ffi::OK;
        }
        // SAFETY: Apache passes the main server of the configuration just read.
        let server = unsafe { Server::from_raw(s) };
        let component = format!("mod_rwsgi/{}", env!("CARGO_PKG_VERSION"));
        // SAFETY: pconf is live; the component string is copied into it.
        unsafe { ffi::ap_add_version_component(pconf, crate::apache::Pool::from_raw(pconf).strdup(&component)) };
        let named = std::mem::take(&mut *NAMED_APPLICATION_GROUPS.lock());
        if !named.is_empty() {
            log::server(
                Some(server),
                Level::Warn,
                &format!(
                    "mod_rwsgi: application groups other than %{{GLOBAL}} are configured ({}); they all run in the main Python interpreter of each process for now",
                    named.join(", ")
                ),
            );
        }
        // SAFETY: pconf is the live configuration pool.
        let pool = unsafe { crate::apache::Pool::from_raw(pconf) };
        if let Err(e) = crate::daemon::supervisor::start(pool, server, server_config(server)) {
            log::server(Some(server), Level::Crit, &format!("mod_rwsgi: {e}"));
            return ffi::HTTP_INTERNAL_SERVER_ERROR;
        }
        ffi::OK
    })
}

/// pchild cleanup: the applications' atexit callbacks, as the child exits.
unsafe extern "C" fn child_exit(_: *mut std::ffi::c_void) -> ffi::apr_status_t {
    guard::contain("child exit", (), || interpreter::run_exit_functions("shutdown_signal", std::time::Duration::from_secs(2)));
    0
}

pub unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard::contain("child_init", (), || {
        // SAFETY: Apache passes the main server.
        let server = unsafe { Server::from_raw(s) };
        // Caught panics are logged with Apache's formatting by the guard.
        guard::install_quiet_panic_hook();
        process_model();
        // Apache's children connect to daemon sockets by path; the listening
        // descriptors belong to the parent and the daemons.
        for group in crate::daemon::registry::running() {
            // SAFETY: closing an inherited descriptor this process never uses.
            unsafe { libc::close(group.listener) };
        }
        let config = server_config(server);
        if config.restrict_embedded == Some(true) {
            // Every request goes to a daemon group: Python is not needed here.
            let _ = PYTHON_READY.set(Err("embedded mode is disabled (WSGIRestrictEmbedded On)".to_string()));
            return;
        }
        let outcome = interpreter::initialize(&config.python);
        match &outcome {
            Ok(()) => crate::server_log!(Some(server), Level::Info, "mod_rwsgi: Python initialised in process {}", std::process::id()),
            Err(e) => log::server(Some(server), Level::Crit, &format!("mod_rwsgi: cannot initialise Python: {e}")),
        }
        let ready = outcome.is_ok();
        let _ = PYTHON_READY.set(outcome);
        if ready {
            // SAFETY: pchild lives until this child exits; the cleanup is in this
            // module, which a child never unloads.
            unsafe { ffi::apr_pool_cleanup_register(pchild, std::ptr::null(), Some(child_exit), Some(ffi::apr_pool_cleanup_null)) };
            for script in crate::daemon::registry::embedded_imports() {
                crate::python::script::preload(&script.path, &script.application_group);
            }
        }
    })
}
