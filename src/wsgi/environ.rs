//! Building the WSGI `environ` dictionary for one request.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use super::route::Route;
use crate::apache::Request;

/// Keys whose values are the same for every request of this process; each
/// request starts from a copy of this dict.
static TEMPLATE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The mod_wsgi version whose behaviour this module reproduces, as exposed to
/// applications in `mod_wsgi.version` (some check it to detect features).
pub const MOD_WSGI_COMPAT_VERSION: (u32, u32, u32) = (4, 9, 4);

fn template(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let t = TEMPLATE.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let d = PyDict::new(py);
        let (multithread, multiprocess) = crate::hooks::process_model();
        d.set_item("wsgi.version", (1, 0))?;
        d.set_item("wsgi.multithread", multithread)?;
        d.set_item("wsgi.multiprocess", multiprocess)?;
        d.set_item("wsgi.run_once", false)?;
        d.set_item("wsgi.input_terminated", true)?;
        d.set_item("wsgi.file_wrapper", py.get_type::<super::file_wrapper::FileWrapper>())?;
        d.set_item("mod_wsgi.version", MOD_WSGI_COMPAT_VERSION)?;
        d.set_item("mod_rwsgi.version", env!("CARGO_PKG_VERSION"))?;
        d.set_item("apache.version", crate::hooks::apache_version())?;
        d.set_item("mod_wsgi.handler_script", "")?;
        d.set_item("mod_wsgi.enable_sendfile", "0")?;
        d.set_item("mod_wsgi.ignore_activity", "0")?;
        Ok(d.unbind())
    })?;
    t.bind(py).copy()
}

mod counters {
    //! Per-process and per-thread request counts reported in the environ.

    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TOTAL: AtomicU64 = AtomicU64::new(0);
    static THREADS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        // (thread number, requests served by this thread); plain Cells, no destructor.
        static THREAD: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    pub struct Counts {
        pub thread_id: u64,
        pub thread_requests: u64,
        pub total_requests: u64,
        pub now_micros: u128,
    }

    /// Counts as they were before this request (mod_wsgi reports them that way).
    pub fn next_request() -> Counts {
        let (thread_id, thread_requests) = THREAD.with(|t| {
            let (mut id, served) = t.get();
            if id == 0 {
                id = THREADS.fetch_add(1, Ordering::Relaxed) + 1;
            }
            t.set((id, served + 1));
            (id, served)
        });
        let now_micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        Counts { thread_id, thread_requests, total_requests: TOTAL.fetch_add(1, Ordering::Relaxed), now_micros }
    }
}

/// Decodes CGI bytes as Latin-1 (PEP 3333's "native strings").
fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    if bytes.is_ascii() {
        // SAFETY-free fast path: ASCII is valid UTF-8.
        PyString::new(py, std::str::from_utf8(bytes).expect("ASCII"))
    } else {
        let s: String = bytes.iter().map(|&b| b as char).collect();
        PyString::new(py, &s)
    }
}

/// Builds the environ; the caller adds wsgi.input, wsgi.errors and the routing keys.
pub fn build<'py>(py: Python<'py>, r: &Request, route: &Route) -> PyResult<Bound<'py, PyDict>> {
    let environ = template(py)?;
    let env = r.subprocess_env();
    env.for_each(|k, v| {
        // PATH is Apache's own search path, not the request's (mod_wsgi drops it too).
        if k != b"PATH" {
            let _ = environ.set_item(latin1(py, k), latin1(py, v));
        }
    });
    // SCRIPT_NAME never ends in '/': the slash belongs to PATH_INFO (so "/" mounts give "").
    let script_name = route.script_name.as_slice();
    environ.set_item("SCRIPT_NAME", latin1(py, script_name))?;
    if environ.get_item("PATH_INFO")?.is_none() {
        environ.set_item("PATH_INFO", "")?;
    }
    if route.pass_authorization {
        if let Some(auth) = r.headers_in().get("Authorization") {
            environ.set_item("HTTP_AUTHORIZATION", latin1(py, auth))?;
        }
    } else {
        environ.del_item("HTTP_AUTHORIZATION").ok();
    }
    environ.set_item("wsgi.url_scheme", latin1(py, r.http_scheme()))?;
    environ.set_item("mod_wsgi.process_group", &route.process_group)?;
    environ.set_item("mod_wsgi.application_group", &route.application_group)?;
    environ.set_item("mod_wsgi.callable_object", &route.callable_object)?;
    environ.set_item("mod_wsgi.request_handler", latin1(py, r.handler()))?;
    environ.set_item("mod_wsgi.script_reloading", if route.script_reloading { "1" } else { "0" })?;
    // The values before any rewriting, as mod_wsgi records them.
    environ.set_item("mod_wsgi.script_name", latin1(py, script_name))?;
    environ.set_item("mod_wsgi.path_info", environ.get_item("PATH_INFO")?)?;
    let (host, port) = r.listener();
    environ.set_item("mod_wsgi.listener_host", latin1(py, host))?;
    environ.set_item("mod_wsgi.listener_port", port.to_string())?;
    environ.set_item("mod_wsgi.request_id", latin1(py, r.log_id()))?;
    environ.set_item("mod_wsgi.request_start", r.request_time().to_string())?;
    let counters = counters::next_request();
    environ.set_item("mod_wsgi.script_start", counters.now_micros.to_string())?;
    environ.set_item("mod_wsgi.thread_id", counters.thread_id)?;
    environ.set_item("mod_wsgi.thread_requests", counters.thread_requests)?;
    environ.set_item("mod_wsgi.total_requests", counters.total_requests)?;
    Ok(environ)
}
