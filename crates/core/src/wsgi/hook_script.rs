//! Calling a function of a script that a request phase runs before (or
//! instead of) the application: access, authentication and group scripts,
//! and the dispatch script. They always run here, in the Apache child, in the
//! application group the directive names (`%{GLOBAL}` by default), and are
//! loaded and reloaded like any WSGI script (`python::script`).

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString};

use super::app::{load_failure_line, report_exception};
use super::channel::{Channel, Disconnected, ValidatedHead};
use super::errors::{LOG, Log};
use super::request_handle::RequestHandle;
use crate::python::native_class::{self, Class, Native, Object};
use crate::python::script;

/// mod_ssl's view of a request, which the access and authentication
/// scripts reach through `environ['mod_ssl.is_https']()` and
/// `environ['mod_ssl.var_lookup'](name)` (the host provides it).
pub trait SslInfo: Send + Sync {
    fn is_https(&self) -> bool;
    /// The value of an SSL variable (`SSL_CLIENT_S_DN`, `HTTPS`, ...), if mod_ssl knows it.
    fn var_lookup(&self, name: &[u8]) -> Option<Vec<u8>>;
}

/// The callables' owner: usable only on the request's thread while the hook runs.
pub(super) struct SslAccess {
    handle: RequestHandle,
    info: std::sync::Arc<dyn SslInfo>,
}

static SSL_ACCESS: Class<SslAccess> = Class {
    methods: &[
        (c"ssl_is_https", |access, py, args| {
            args.none("ssl_is_https")?;
            access.handle.require("mod_ssl.is_https")?;
            i32::from(access.info.is_https()).into_bound_py_any(py)
        }),
        (c"ssl_var_lookup", |access, py, args| {
            let [name] = args.parse("ssl_var_lookup", ["name"], 1)?;
            access.handle.require("mod_ssl.var_lookup")?;
            let name = latin1_bytes(&name.expect("required"), "byte string value expected")?;
            access.info.var_lookup(&name).map(|v| super::environ::latin1(py, &v)).into_bound_py_any(py)
        }),
    ],
    ..native_class::class(c"mod_wsgi.Auth")
};

impl Native for SslAccess {
    fn class() -> &'static Class<Self> {
        &SSL_ACCESS
    }
}

/// The bytes of what a script returned as a name or hash: bytes as they are,
/// a str as Latin-1 (mod_wsgi's rule); `what` heads the TypeError otherwise.
pub fn latin1_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<pyo3::types::PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let Ok(s) = value.cast::<PyString>() else {
        let kind = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(PyTypeError::new_err(format!("{what}, value of type {kind} found")));
    };
    s.to_cow()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<Result<_, _>>()
        .map_err(|_| PyTypeError::new_err(format!("{what}, value containing non 'latin-1' characters found")))
}

/// Which script a hook runs, and how it is loaded.
pub struct HookScript<'a> {
    pub path: &'a str,
    /// The resolved application group (`""` is the main interpreter).
    pub application_group: &'a str,
    /// `WSGIScriptReloading`: reload the file when its mtime changes.
    pub reloading: bool,
}

/// A request phase has no body to read and sends no response itself: the
/// script only gets a `wsgi.errors` stream, which needs a request handle to
/// know whether the request is still running on this thread.
struct PhaseChannel;

impl Channel for PhaseChannel {
    fn has_body(&self) -> bool {
        false
    }
    fn read_body(&self, _: &mut [std::mem::MaybeUninit<u8>], _: bool) -> Result<usize, String> {
        Ok(0)
    }
    fn commit(&self, _: &ValidatedHead) {}
    fn write(&self, _: &[u8], _: bool) -> Result<(), Disconnected> {
        Err(Disconnected)
    }
    fn write_file(&self, _: i32, _: u64, _: u64) -> Result<(), Disconnected> {
        Err(Disconnected)
    }
    fn finish(&self) -> Result<(), Disconnected> {
        Err(Disconnected)
    }
    fn header_only(&self) -> bool {
        true
    }
    fn client_gone(&self) -> bool {
        false
    }
    fn close_after_response(&self) {}
    fn abort(&self) {}
}

/// What a hook body is given: the script's module and the `wsgi.errors`
/// stream for its environ.
pub struct Loaded<'py> {
    pub py: Python<'py>,
    pub module: Bound<'py, PyModule>,
    pub errors: Object<'py, Log>,
    path: String,
    handle: RequestHandle,
}

impl<'py> Loaded<'py> {
    /// The module's attribute `name`, if it has one.
    pub fn function(&self, name: &str) -> Option<Bound<'py, PyAny>> {
        self.module.dict().get_item(name).ok().flatten()
    }

    /// Logs an error raised by the script (or about what it returned).
    pub fn report(&self, err: &PyErr) {
        report_exception(self.py, self.path.as_bytes(), err, &|line| tracing::error!(raw = true, "{line}"));
    }

    /// Logs one of mod_wsgi's lines about the script (its own prefix, not the module's).
    pub fn log(&self, msg: &str) {
        tracing::error!(raw = true, "mod_rwsgi (pid={}): {msg}", std::process::id());
    }

    /// Adds `mod_ssl.is_https` and `mod_ssl.var_lookup` to an environ.
    pub fn add_ssl(&self, environ: &Bound<'py, PyDict>, info: &std::sync::Arc<dyn SslInfo>) -> PyResult<()> {
        let access = SSL_ACCESS.create(self.py, SslAccess { handle: self.handle.clone(), info: info.clone() })?;
        environ.set_item("mod_ssl.is_https", access.getattr("ssl_is_https")?)?;
        environ.set_item("mod_ssl.var_lookup", access.getattr("ssl_var_lookup")?)
    }

    /// Adds `wsgi.errors` to an environ.
    pub fn add_errors(&self, environ: &Bound<'py, PyDict>) -> PyResult<()> {
        environ.set_item(pyo3::intern!(self.py, "wsgi.errors"), &*self.errors)
    }
}

fn file_mtime(path: &str) -> std::io::Result<i64> {
    let modified = std::fs::metadata(path)?.modified()?;
    Ok(modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64))
}

/// Loads the script (with the GIL held) and runs `body` on it; `None` when
/// the script cannot be loaded (logged with its traceback). Lines the script
/// writes to `wsgi.errors` belong to the request while `body` runs.
pub fn with_script<R>(script: &HookScript<'_>, body: impl for<'py> FnOnce(&Loaded<'py>) -> R) -> Option<R> {
    let ran = crate::python::attach_in(script.application_group, |py| {
        let path = script.path;
        let loaded = match file_mtime(path) {
            Ok(mtime) => script::load(py, script.application_group, path.as_bytes(), mtime, script.reloading),
            Err(e) => Err(pyo3::exceptions::PyOSError::new_err(format!("cannot read WSGI script '{path}': {e}"))),
        };
        let module = match loaded {
            Ok(module) => module.into_bound(py),
            Err(e) => {
                tracing::error!(raw = true, "{}", load_failure_line(path.as_bytes()));
                report_exception(py, path.as_bytes(), &e, &|line| tracing::error!(raw = true, "{line}"));
                if let Some(hint) = script::extension_refusal(py, script.application_group, &e) {
                    tracing::error!("{hint}");
                }
                return None;
            }
        };
        let handle = RequestHandle::new(Box::new(PhaseChannel));
        let errors = match LOG.create(py, Log::for_request(handle.clone())) {
            Ok(errors) => errors,
            Err(e) => {
                report_exception(py, path.as_bytes(), &e, &|line| tracing::error!(raw = true, "{line}"));
                return None;
            }
        };
        let loaded = Loaded { py, module, errors, path: path.to_string(), handle: handle.clone() };
        let result = body(&loaded);
        loaded.errors.get().flush_pending();
        handle.expire();
        Some(result)
    });
    ran.unwrap_or_else(|e| {
        tracing::error!("{e}");
        None
    })
}
