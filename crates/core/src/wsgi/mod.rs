//! The WSGI side of a request (PEP 3333): environ, input, errors,
//! start_response and the response, file_wrapper.

pub mod app;
pub mod auth;
pub mod channel;
pub mod dispatch;
pub mod environ;
pub mod events;
pub mod errors;
pub mod file_wrapper;
/// The status and header checks live in the protocol crate, shared with the Apache child.
pub use rwsgi_protocol::headers;
pub mod hook_script;
pub mod input;
pub mod request_handle;
pub mod response;

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyType};

use crate::python::per_interpreter::{self, Key};

static REQUEST_TIMEOUT: Key = Key::new();

/// `mod_wsgi.RequestTimeout` of the current interpreter: raised inside a
/// request's thread when it exceeds request-timeout and the daemon group sets
/// interrupt-timeout (as in mod_wsgi 6); a BaseException so that `except
/// Exception` in the application does not swallow it.
pub fn request_timeout(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    let class = per_interpreter::get_or_try_init(py, &REQUEST_TIMEOUT, |py| {
        // SAFETY: the GIL is held; a static name and base, no dict.
        let raw = unsafe { pyo3::ffi::PyErr_NewException(c"mod_wsgi.RequestTimeout".as_ptr(), pyo3::ffi::PyExc_BaseException, std::ptr::null_mut()) };
        // SAFETY: a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, raw) }
    })?;
    Ok(class.cast_into::<PyType>()?)
}

/// `subscribe_shutdown(callback)`: callbacks called as
/// `callback("process_stopping", shutdown_reason=...)` when the process stops,
/// before the atexit callbacks (mod_wsgi's contract).
const SHUTDOWN_CALLBACKS: &str = r#"
_shutdown_callbacks = []

# Where the mod_wsgi package from PyPI is installed (mod_wsgi-express's), its
# submodules (mod_wsgi.express, mod_wsgi.server) import through this module,
# as they do under mod_wsgi.
def _package_path():
    import importlib.machinery, sys
    spec = importlib.machinery.PathFinder.find_spec("mod_wsgi", sys.path)
    return list(spec.submodule_search_locations or []) if spec else []

__path__ = _package_path()
del _package_path

shutdown_callbacks = _shutdown_callbacks

def subscribe_shutdown(callback):
    _shutdown_callbacks.append(callback)

def _process_stopping(reason):
    import sys, traceback
    for callback in list(event_callbacks) + list(_shutdown_callbacks):
        try:
            callback("process_stopping", shutdown_reason=reason)
        except Exception:
            traceback.print_exc(file=sys.stderr)
"#;

/// What every interpreter that runs applications provides them, once it has
/// started: sys.stdout/stderr/stdin as WSGIRestrict* wants them, and the
/// `mod_wsgi` and `apache` modules. `application_group` is the
/// interpreter's (`""`, the main interpreter, for `%{GLOBAL}`).
///
/// The classes of the objects applications get (wsgi.input, wsgi.errors,
/// start_response, FileWrapper, RequestTimeout) are made in each interpreter
/// (`python::native_class`), from one description each.
pub fn install(py: Python<'_>, settings: &crate::config::PythonSettings, application_group: &str) -> PyResult<()> {
    if !application_group.is_empty() {
        let code = crate::python::script::MARK_EXTENSION_ERRORS;
        PyModule::from_code(py, code, c"<mod_rwsgi extension errors>", c"_rwsgi_extension_errors")?.getattr("install")?.call0()?;
    }
    errors::install_stdio(py, settings)?;
    install_mod_wsgi_module(py, application_group)?;
    install_apache_module(py)
}

/// Provides an importable `apache` module with mod_wsgi's attributes: what
/// the running Apache reports about itself (the same in a daemon process as
/// in Apache's children, as with mod_wsgi).
fn install_apache_module(py: Python<'_>) -> PyResult<()> {
    let facts = crate::runtime::server_facts();
    let m = PyModule::new(py, "apache")?;
    m.add("version", facts.version)?;
    m.add("description", facts.description)?;
    m.add("mpm_name", facts.mpm_name)?;
    m.add("build_date", facts.build_date)?;
    m.add("maximum_processes", facts.maximum_processes)?;
    m.add("threads_per_process", facts.threads_per_process)?;
    py.import("sys")?.getattr("modules")?.set_item("apache", m)?;
    Ok(())
}

/// Provides an importable `mod_wsgi` module, as mod_wsgi does, so that
/// applications that detect it (or use `mod_wsgi.FileWrapper`) keep working.
fn install_mod_wsgi_module(py: Python<'_>, application_group: &str) -> PyResult<()> {
    let m = PyModule::new(py, "mod_wsgi")?;
    m.add("version", environ::MOD_WSGI_COMPAT_VERSION)?;
    m.add("process_group", "")?;
    m.add("application_group", application_group)?;
    m.add("FileWrapper", file_wrapper::FILE_WRAPPER.type_object(py)?)?;
    m.add("RequestTimeout", request_timeout(py)?)?;
    let model = crate::runtime::process_model();
    m.add("maximum_processes", model.max_processes)?;
    m.add("threads_per_process", if model.multithread { model.max_threads } else { 1 })?;
    events::install(py, &m)?;
    let code = std::ffi::CString::new(SHUTDOWN_CALLBACKS).expect("no NUL in the source");
    py.run(&code, Some(&m.dict()), None)?;
    py.import("sys")?.getattr("modules")?.set_item("mod_wsgi", m)?;
    Ok(())
}
