//! What the running MPM reports about itself (`ap_mpm_query`).

use crate::ffi;

fn query(code: i32) -> Option<i32> {
    let mut value: std::ffi::c_int = 0;
    // SAFETY: ap_mpm_query writes one int for the AP_MPMQ_* codes used here.
    let rv = unsafe { ffi::ap_mpm_query(code, &mut value) };
    (rv == ffi::APR_SUCCESS).then_some(value)
}

/// The MPM runs several threads per process (event, worker).
pub fn is_threaded() -> bool {
    query(ffi::AP_MPMQ_IS_THREADED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED)
}

/// ThreadsPerChild (1 for prefork).
pub fn max_threads() -> i32 {
    query(ffi::AP_MPMQ_MAX_THREADS).unwrap_or(0)
}

/// The most child processes the MPM runs at once.
pub fn max_daemons() -> i32 {
    query(ffi::AP_MPMQ_MAX_DAEMONS).unwrap_or(0)
}

/// ServerLimit: the most child processes there can be (old generations' included).
pub fn hard_limit_daemons() -> i32 {
    query(ffi::AP_MPMQ_HARD_LIMIT_DAEMONS).unwrap_or(0)
}

/// ThreadLimit: the most threads a child process can have (1 for prefork).
pub fn hard_limit_threads() -> i32 {
    query(ffi::AP_MPMQ_HARD_LIMIT_THREADS).unwrap_or(0)
}

/// The most child processes that have run at once, or None where the MPM
/// does not fork.
fn max_daemons_used() -> Option<i32> {
    if query(ffi::AP_MPMQ_IS_FORKED).is_none_or(|v| v == ffi::AP_MPMQ_NOT_SUPPORTED) {
        return None;
    }
    query(ffi::AP_MPMQ_MAX_DAEMON_USED)
}

/// The MPM's name ("event", "worker", "prefork").
pub fn name() -> String {
    // SAFETY: returns a static string.
    unsafe { super::pool::cstr_utf8(ffi::ap_show_mpm()) }.unwrap_or("").to_string()
}

/// `apache.maximum_processes` and `apache.threads_per_process`, computed as
/// mod_wsgi does: the processes in use (or the limit when the MPM cannot say)
/// and the threads of a threaded MPM, each at least 1.
pub fn apache_module_sizes() -> (i64, i64) {
    let threads = if is_threaded() { max_threads() } else { 0 };
    let processes = match max_daemons_used() {
        Some(-1) => max_daemons(),
        Some(n) => n,
        None => 0,
    };
    (i64::from(processes.max(1)), i64::from(threads.max(1)))
}

/// The restart generation: it changes with every graceful restart.
pub fn generation() -> i32 {
    query(ffi::AP_MPMQ_GENERATION).unwrap_or(0)
}

/// How this MPM spreads requests over processes and threads.
pub fn process_model() -> rwsgi_core::runtime::ProcessModel {
    let (threads, daemons) = (max_threads(), max_daemons());
    rwsgi_core::runtime::ProcessModel {
        multithread: is_threaded() && threads > 1,
        multiprocess: daemons > 1,
        max_processes: i64::from(daemons.max(1)),
        max_threads: i64::from(threads.max(1)),
    }
}

/// Apache is restarting (its configuration is being torn down for a new
/// generation), not stopping: what pconf's cleanups see.
pub fn restarting() -> bool {
    // SAFETY: a plain query of the server's state.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_DESTROY_CONFIG }
}

/// Apache is stopping (or restarting): processes that exit now are not replaced.
pub fn is_stopping() -> bool {
    query(ffi::AP_MPMQ_MPM_STATE) == Some(ffi::AP_MPMQ_STOPPING)
}
