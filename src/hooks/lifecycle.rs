//! Start-up hooks: configuration passes in the parent, Python start in each child.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config_pass;
use crate::apache::module_config::server_config;
use crate::apache::{Pool, Server, guard, mpm, server};
use crate::ffi;
use crate::python::interpreter;

/// Whether a script hook needs Python in the children even when
/// WSGIRestrictEmbedded On keeps applications out of them (set by the parent's
/// post_config, inherited by the children it forks).
static PYTHON_IN_CHILDREN: AtomicBool = AtomicBool::new(false);

/// WSGIDestroyInterpreter, as this child read it in child_init.
static DESTROY_AT_EXIT: AtomicBool = AtomicBool::new(true);

pub unsafe extern "C" fn pre_config(_pconf: *mut ffi::apr_pool_t, _plog: *mut ffi::apr_pool_t, _ptemp: *mut ffi::apr_pool_t) -> c_int {
    guard::contain("pre_config", ffi::OK, || {
        config_pass::begin();
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
        let pass = config_pass::take();
        if server::is_config_dry_run() {
            // The dry-run pass: the module is unloaded after it; do nothing.
            return ffi::OK;
        }
        // SAFETY: Apache passes the main server of the configuration just read.
        let server = unsafe { Server::from_raw(s) };
        // SAFETY: pconf is the live configuration pool.
        let pool = unsafe { Pool::from_raw(pconf) };
        server::add_version_component(pool, &format!("mod_rwsgi/{}", env!("CARGO_PKG_VERSION")));
        PYTHON_IN_CHILDREN.store(pass.python_in_children, Ordering::Relaxed);
        for warning in &pass.warnings {
            tracing::warn!("{warning}");
        }
        if let Err(e) = crate::daemon::parent::start(pool, server, server_config(server), pass.daemon_groups, pass.imports) {
            crate::crit!("{e}");
            return ffi::HTTP_INTERNAL_SERVER_ERROR;
        }
        ffi::OK
    })
}

/// The parent's periodic hook (every tenth turn of the MPM's main loop, about
/// every 10 seconds): refreshes the daemon groups' copies of the scoreboard
/// (Apache's children keep them about a second old; this copy stands in
/// when none of them can, and takes over a copy one left half-written).
pub unsafe extern "C" fn monitor(_p: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) -> c_int {
    guard::contain("monitor", ffi::DECLINED, || {
        crate::metrics::copy_scoreboard();
        ffi::DECLINED
    })
}

/// The parent, once Apache has made its scoreboard (first start, and a
/// restart that is not graceful), before it forks its children: the daemon
/// groups get their first copy of it at once, not at the first monitor run.
pub unsafe extern "C" fn pre_mpm(_p: *mut ffi::apr_pool_t, _sb_type: ffi::ap_scoreboard_e) -> c_int {
    guard::contain("pre_mpm", ffi::OK, || {
        crate::metrics::copy_scoreboard();
        ffi::OK
    })
}

/// pchild cleanup: Python's exit sequence (`python::shutdown`), as the child
/// exits. The threaded MPMs run it once their worker threads are joined;
/// prefork from its main loop, or from its SIGTERM handler, possibly in the
/// middle of a request (then Python is not finalised).
unsafe extern "C" fn child_exit(_: *mut std::ffi::c_void) -> ffi::apr_status_t {
    guard::contain("child exit", (), || {
        let destroy = DESTROY_AT_EXIT.load(Ordering::Relaxed);
        crate::python::shutdown::at_exit("shutdown_signal", destroy, std::time::Duration::from_secs(2))
    });
    0
}

pub unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard::contain("child_init", (), || {
        // SAFETY: Apache passes the main server.
        let server = unsafe { Server::from_raw(s) };
        // Caught panics are logged with Apache's formatting by the guard.
        guard::install_quiet_panic_hook();
        crate::apache::process::reset_child_exit_wakeup();
        crate::runtime::set_process_model(mpm::process_model());
        crate::runtime::set_server_facts(server::facts());
        let generation = crate::daemon::registry::running();
        // Apache's children connect to daemon sockets by path; the listening
        // descriptors belong to the parent and the daemons.
        for group in &generation.groups {
            // SAFETY: closing an inherited descriptor this process never uses.
            unsafe { libc::close(group.listener) };
        }
        let config = server_config(server);
        crate::metrics::child_init();
        // SAFETY: pchild lives until this child exits.
        crate::metrics::start_copier(unsafe { Pool::from_raw(pchild) });
        rwsgi_core::metrics::set_scoreboard_source(crate::apache::scoreboard::read);
        rwsgi_core::metrics::enable_server_metrics(config.server_metrics == Some(true));
        rwsgi_core::wsgi::events::set_slow_threshold(config.slow_requests.unwrap_or(0.0));
        if config.restrict_embedded == Some(true) && !PYTHON_IN_CHILDREN.load(Ordering::Relaxed) {
            // Every request goes to a daemon group: Python is not needed here.
            crate::runtime::set_python_ready(Err("embedded mode is disabled (WSGIRestrictEmbedded On)".to_string()));
            return;
        }
        let outcome = interpreter::initialize(&config.python, "", |py, group, settings| crate::wsgi::install(py, settings, group));
        match &outcome {
            Ok(()) => tracing::info!("Python initialised in process {}", std::process::id()),
            Err(e) => crate::crit!("cannot initialise Python: {e}"),
        }
        let ready = outcome.is_ok();
        crate::runtime::set_python_ready(outcome);
        if ready {
            DESTROY_AT_EXIT.store(config.python.destroy_interpreter != Some(false), Ordering::Relaxed);
            // SAFETY: pchild lives until this child exits; the cleanup is in this
            // module, which a child never unloads.
            unsafe { ffi::apr_pool_cleanup_register(pchild, std::ptr::null(), Some(child_exit), Some(ffi::apr_pool_cleanup_null)) };
            for script in &generation.embedded_imports {
                crate::python::script::preload(&script.path, &script.application_group);
            }
        }
    })
}
