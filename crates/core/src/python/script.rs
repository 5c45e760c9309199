//! Loading WSGI script files as modules, and reloading them when they change.
//!
//! As with mod_wsgi, a script is executed as a module named `_mod_wsgi_` plus
//! the MD5 hex digest of its path, recorded in `sys.modules`; the module's
//! `__mtime__` is the file's modification time when it was loaded.

use std::collections::HashMap;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule};

struct Loaded {
    module: Py<PyModule>,
    mtime: i64,
}

/// The scripts of one application group (one interpreter), and the lock that
/// serialises loading them: a Python lock made in that interpreter, so that a
/// thread waiting for it releases the GIL.
struct Group {
    lock: Py<PyAny>,
    scripts: HashMap<Vec<u8>, Loaded>,
}

/// Scripts loaded in this process, by application group, then path (nested so
/// that a lookup borrows the request's strings instead of building a key).
static LOADED: Mutex<Option<HashMap<String, Group>>> = Mutex::new(None);

/// The module name for a script, as mod_wsgi names it: `_mod_wsgi_<md5(path)>`,
/// in the `sys.modules` of the group's own interpreter.
fn module_name(py: Python<'_>, path: &[u8]) -> PyResult<String> {
    let digest: String =
        py.import("hashlib")?.call_method1("md5", (PyBytes::new(py, path),))?.call_method0("hexdigest")?.extract()?;
    Ok(format!("_mod_wsgi_{digest}"))
}

/// The loading lock of `group` (made on first use, in the current
/// interpreter, which is the group's).
fn load_lock<'py>(py: Python<'py>, group: &str) -> PyResult<Bound<'py, PyAny>> {
    if let Some(g) = LOADED.lock().as_ref().and_then(|m| m.get(group)) {
        return Ok(g.lock.bind(py).clone());
    }
    // Made without holding LOADED: creating it runs Python code.
    let lock = py.import("threading")?.call_method0("RLock")?;
    let mut loaded = LOADED.lock();
    let g = loaded.get_or_insert_with(HashMap::new).entry(group.to_string()).or_insert_with(|| Group { lock: lock.unbind(), scripts: HashMap::new() });
    Ok(g.lock.bind(py).clone())
}

/// Returns the module for `path`, (re)loading it when it is not loaded yet or,
/// with `reload` set, when the file's mtime differs from the loaded one. The
/// caller runs in `group`'s interpreter.
pub fn load(py: Python<'_>, group: &str, path: &[u8], mtime: i64, reload: bool) -> PyResult<Py<PyModule>> {
    if let Some(module) = cached(py, group, path, mtime, reload) {
        return Ok(module);
    }
    let lock = load_lock(py, group)?;
    lock.call_method0("acquire")?;
    let result = (|| {
        // Another thread may have loaded it while we waited.
        if let Some(module) = cached(py, group, path, mtime, reload) {
            return Ok(module);
        }
        tracing::info!(application = group, "Loading Python script file '{}'.", String::from_utf8_lossy(path));
        let module = execute(py, path, mtime)?;
        if let Some(g) = LOADED.lock().as_mut().and_then(|m| m.get_mut(group)) {
            g.scripts.insert(path.to_vec(), Loaded { module: module.clone_ref(py), mtime });
        }
        Ok(module)
    })();
    lock.call_method0("release")?;
    result
}

/// Loads the script afresh when `required` says so of the loaded module (a
/// handler script's `reload_required(resource)`); the check and the reload
/// happen under the loading lock, so concurrent requests reload it once.
pub fn reload_if(
    py: Python<'_>,
    group: &str,
    path: &[u8],
    mtime: i64,
    required: impl FnOnce(&Bound<'_, PyModule>) -> bool,
) -> PyResult<Option<Py<PyModule>>> {
    let lock = load_lock(py, group)?;
    lock.call_method0("acquire")?;
    let result = (|| {
        let Some(module) = cached(py, group, path, mtime, false) else { return Ok(None) };
        if !required(module.bind(py)) {
            return Ok(None);
        }
        tracing::info!(application = group, "Reloading Python script file '{}' (reload_required).", String::from_utf8_lossy(path));
        let module = execute(py, path, mtime)?;
        if let Some(g) = LOADED.lock().as_mut().and_then(|m| m.get_mut(group)) {
            g.scripts.insert(path.to_vec(), Loaded { module: module.clone_ref(py), mtime });
        }
        Ok(Some(module))
    })();
    lock.call_method0("release")?;
    result
}

fn cached(py: Python<'_>, group: &str, path: &[u8], mtime: i64, reload: bool) -> Option<Py<PyModule>> {
    let guard = LOADED.lock();
    let entry = guard.as_ref()?.get(group)?.scripts.get(path)?;
    if reload && entry.mtime != mtime { None } else { Some(entry.module.clone_ref(py)) }
}

/// Runs the script file as a fresh module, replacing any previous one.
fn execute(py: Python<'_>, path: &[u8], mtime: i64) -> PyResult<Py<PyModule>> {
    let name = module_name(py, path)?;
    let path_str = String::from_utf8_lossy(path).into_owned();
    let source = std::fs::read(std::ffi::OsStr::new(std::str::from_utf8(path).unwrap_or(&path_str)))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot read WSGI script '{path_str}': {e}")))?;
    let builtins = py.import("builtins")?;
    let code = builtins.call_method1("compile", (PyBytes::new(py, &source), &path_str, "exec", 0, true))?;
    let module = PyModule::new(py, &name)?;
    module.setattr("__file__", &path_str)?;
    let modules = py.import("sys")?.getattr("modules")?.cast_into::<PyDict>()?;
    modules.set_item(&name, &module)?;
    let globals = module.dict();
    globals.set_item("__builtins__", &builtins)?;
    if let Err(err) = builtins.call_method1("exec", (code, &globals)) {
        modules.del_item(&name).ok();
        return Err(err);
    }
    module.setattr("__mtime__", mtime as f64 / 1_000_000.0)?;
    Ok(module.unbind())
}

/// Loads a script at process start (WSGIImportScript); failures are logged.
pub fn preload(path: &str, group: &str) {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64);
    let loaded = crate::python::attach_in(group, |py| {
        if let Err(e) = load(py, group, path.as_bytes(), mtime, true) {
            let tb = e.traceback(py).and_then(|t| t.format().ok()).unwrap_or_default();
            tracing::error!(pid = true, "WSGIImportScript '{path}' failed: {e}");
            for line in tb.lines() {
                tracing::error!(raw = true, "{line}");
            }
            if let Some(hint) = extension_refusal(py, group, &e) {
                tracing::error!(pid = true, "{hint}");
            }
        }
    });
    if let Err(e) = loaded {
        tracing::error!(pid = true, "WSGIImportScript '{path}' failed: {e}");
    }
}

/// Marks, in a sub-interpreter, the ImportErrors raised while an extension
/// module initialises with the module's name (`_rwsgi_extension`), so that a
/// module that refuses sub-interpreters can be named in the log.
pub const MARK_EXTENSION_ERRORS: &std::ffi::CStr = c"
def install():
    from importlib import _bootstrap_external as external
    loader = external.ExtensionFileLoader

    def marking(original, name_of):
        def method(self, arg):
            try:
                return original(self, arg)
            except ImportError as e:
                e._rwsgi_extension = name_of(arg)
                raise
        return method

    loader.create_module = marking(loader.create_module, lambda spec: spec.name)
    loader.exec_module = marking(loader.exec_module, lambda module: module.__name__)
";

/// When `err` (raised while loading a script in `group`'s sub-interpreter)
/// comes from a C extension module that refuses to be loaded in a
/// sub-interpreter, the one line to log about it.
pub fn extension_refusal(py: Python<'_>, group: &str, err: &PyErr) -> Option<String> {
    if group.is_empty() {
        return None;
    }
    let mut current = Some(err.value(py).clone().into_any());
    let mut seen = 0;
    while let Some(exc) = current.take().filter(|_| seen < 32) {
        seen += 1;
        if let Ok(name) = exc.getattr("_rwsgi_extension").and_then(|n| n.extract::<String>()) {
            let text = exc.str().map(|s| s.to_string()).unwrap_or_default().to_lowercase();
            if text.contains("interpreter") || text.contains("once per process") || text.contains("more than once") {
                return Some(format!(
                    "the C extension module '{name}' cannot be loaded in a Python sub-interpreter (application group '{group}'); \
                     run this application in the main interpreter with `WSGIApplicationGroup %{{GLOBAL}}`"
                ));
            }
        }
        current = exc
            .getattr("__cause__")
            .ok()
            .filter(|c| !c.is_none())
            .or_else(|| exc.getattr("__context__").ok().filter(|c| !c.is_none()));
    }
    None
}
