//! Starting CPython inside a child process (never the Apache parent).

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::path::Path;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::config::{HashSeed, PythonSettings};

/// The interpreter this module was built against (PYO3_PYTHON at build time).
const BUILD_PYTHON: &str = env!("RWSGI_BUILD_PYTHON");

/// Where Python should find its standard library and prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Derive everything from this executable (the build interpreter or a venv's python).
    Executable(String),
    /// An explicit PYTHONHOME that is not a virtual environment.
    Home(String),
}

/// A virtual environment (it has `pyvenv.cfg`) is entered through its own
/// `bin/python`, so that `sys.prefix` is the venv and the base standard library is
/// found through the file's `home =` key; any other directory is a PYTHONHOME.
pub fn locate_prefix(home: Option<&str>) -> Prefix {
    match home {
        None => Prefix::Executable(BUILD_PYTHON.to_string()),
        Some(home) => {
            let home = home.trim_end_matches('/');
            if Path::new(home).join("pyvenv.cfg").is_file() {
                let bin = Path::new(home).join("bin");
                let exe = ["python3", "python"].iter().map(|n| bin.join(n)).find(|p| p.exists()).unwrap_or_else(|| bin.join("python3"));
                Prefix::Executable(exe.to_string_lossy().into_owned())
            } else {
                Prefix::Home(home.to_string())
            }
        }
    }
}

/// Initialises the interpreter, runs `setup` (the objects the layers above
/// provide to applications) with the GIL held, and leaves the GIL released.
/// `setup` is kept: every sub-interpreter created later runs it too (with its
/// application group's name; the main interpreter's is `""`), after the
/// settings that apply to every interpreter (WSGIPythonPath, WSGIRestrictSignal).
///
/// `process_group` is this process's (`""` in Apache's children): with the
/// application group it selects the `<WSGIInterpreterOptions>` that apply to
/// an interpreter, and `setup` is given the settings that result.
pub fn initialize(
    settings: &PythonSettings,
    process_group: &str,
    setup: impl Fn(Python<'_>, &str, &PythonSettings) -> PyResult<()> + Send + Sync + 'static,
) -> Result<(), String> {
    // SAFETY: called once per process from child_init (or daemon start), on the
    // process's main thread, before any other thread can use Python.
    unsafe {
        if ffi::Py_IsInitialized() != 0 {
            return Ok(());
        }
        let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let cfg = config.as_mut_ptr();
        // Apache owns the process's signals.
        (*cfg).install_signal_handlers = 0;
        (*cfg).parse_argv = 0;
        if let Some(level) = settings.optimize {
            (*cfg).optimization_level = level as i32;
        }
        match settings.hash_seed {
            Some(HashSeed::Fixed(seed)) => {
                (*cfg).use_hash_seed = 1;
                (*cfg).hash_seed = seed as _;
            }
            Some(HashSeed::Random) => (*cfg).use_hash_seed = 0,
            None => {}
        }
        if settings.dont_write_bytecode == Some(true) {
            (*cfg).write_bytecode = 0;
        }
        for filter in &settings.warnings {
            if let Err(e) = append_wide(&raw mut (*cfg).warnoptions, filter) {
                ffi::PyConfig_Clear(cfg);
                return Err(format!("WSGIPythonWarnings '{filter}': {e}"));
            }
        }
        if let Some(eggs) = &settings.eggs {
            // Read by pkg_resources; set before anything can import it.
            std::env::set_var("PYTHON_EGG_CACHE", eggs);
        }
        let status = match locate_prefix(settings.home.as_deref()) {
            Prefix::Executable(exe) => set_string(cfg, &raw mut (*cfg).program_name, &exe),
            Prefix::Home(home) => set_string(cfg, &raw mut (*cfg).home, &home)
                .and_then(|_| set_string(cfg, &raw mut (*cfg).program_name, BUILD_PYTHON)),
        };
        if let Err(e) = status {
            ffi::PyConfig_Clear(cfg);
            return Err(e);
        }
        let status = ffi::Py_InitializeFromConfig(cfg);
        ffi::PyConfig_Clear(cfg);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(status_message(&status));
        }
        let (each, process_group) = (settings.clone(), process_group.to_string());
        // The environment as the process has it now: each sub-interpreter's
        // os.environ starts from it, not from what other interpreters set since
        // (Django's wsgi.py does os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...),
        // which would otherwise hand one site's settings to the next).
        let environment: Vec<(Vec<u8>, Vec<u8>)> = {
            use std::os::unix::ffi::OsStrExt;
            std::env::vars_os().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
        };
        super::interpreters::set_setup(Box::new(move |py, group| {
            if !group.is_empty() {
                own_environ(py, &environment)?;
            }
            let settings = each.for_interpreter(&process_group, group);
            after_start(py, &settings).and_then(|()| setup(py, group, &settings))
        }));
        // Each interpreter's own classes and objects go with it, in it.
        super::interpreters::on_end(super::per_interpreter::forget);
        super::interpreters::remember_main(ffi::PyThreadState_Get());
        let setup = Python::attach(|py| super::interpreters::run_setup(py, ""));
        // Release the GIL taken by initialisation; request threads attach on their own.
        ffi::PyEval_SaveThread();
        setup.map_err(|e| format!("Python start-up failed: {e}"))
    }
}

/// Appends `value` to one of PyConfig's string lists (decoded as the locale does).
unsafe fn append_wide(list: *mut ffi::PyWideStringList, value: &str) -> Result<(), String> {
    let c = CString::new(value).map_err(|_| format!("'{value}' contains a NUL byte"))?;
    // SAFETY: c is a NUL-terminated string; the result is freed below with PyMem_RawFree.
    let wide = unsafe { ffi::Py_DecodeLocale(c.as_ptr(), std::ptr::null_mut()) };
    if wide.is_null() {
        return Err(format!("'{value}' cannot be decoded"));
    }
    // SAFETY: (caller) list belongs to an initialised PyConfig; Append copies the string.
    let status = unsafe { ffi::PyWideStringList_Append(list, wide) };
    // SAFETY: wide came from Py_DecodeLocale.
    unsafe { ffi::PyMem_RawFree(wide as *mut std::ffi::c_void) };
    // SAFETY: inspecting the status just returned.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 { Err(status_message(&status)) } else { Ok(()) }
}

unsafe fn set_string(cfg: *mut ffi::PyConfig, field: *mut *mut libc::wchar_t, value: &str) -> Result<(), String> {
    let c = CString::new(value).map_err(|_| format!("'{value}' contains a NUL byte"))?;
    // SAFETY: (caller) cfg is an initialised PyConfig and field one of its strings.
    let status = unsafe { ffi::PyConfig_SetBytesString(cfg, field, c.as_ptr()) };
    // SAFETY: inspecting the status just returned.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 { Err(status_message(&status)) } else { Ok(()) }
}

fn status_message(status: &ffi::PyStatus) -> String {
    let msg = if status.err_msg.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: err_msg is a static C string set by CPython.
        unsafe { CStr::from_ptr(status.err_msg) }.to_string_lossy().into_owned()
    };
    if status.func.is_null() {
        msg
    } else {
        // SAFETY: as above.
        format!("{}: {msg}", unsafe { CStr::from_ptr(status.func) }.to_string_lossy())
    }
}

/// Process-wide Python set-up that needs a running interpreter.
fn after_start(py: Python<'_>, settings: &PythonSettings) -> PyResult<()> {
    let sys = py.import("sys")?;
    sys.setattr("argv", vec!["mod_wsgi"])?;
    let site = py.import("site")?;
    for dir in &settings.paths {
        site.call_method1("addsitedir", (dir,))?;
    }
    if let Some(interval) = settings.switch_interval {
        sys.call_method1("setswitchinterval", (interval,))?;
    }
    if settings.restrict_signal.unwrap_or(true) {
        restrict_signal(py)?;
    }
    Ok(())
}

/// Gives the current (sub-)interpreter an `os.environ` of its own holding
/// `environment`, without changing the process's environment.
fn own_environ(py: Python<'_>, environment: &[(Vec<u8>, Vec<u8>)]) -> PyResult<()> {
    let data = py.import("os")?.getattr("environ")?.getattr("_data")?;
    data.call_method0("clear")?;
    for (key, value) in environment {
        data.set_item(pyo3::types::PyBytes::new(py, key), pyo3::types::PyBytes::new(py, value))?;
    }
    Ok(())
}

/// WSGIRestrictSignal On (the default): `signal.signal()` in this process logs
/// a warning with the caller's stack and returns the handler without
/// installing it, as mod_wsgi does (Apache owns the process's signals). A
/// process forked from this one gets the real function back.
fn restrict_signal(py: Python<'_>) -> PyResult<()> {
    let code = c"
import os, signal, sys, traceback

def install():
    original = signal.signal
    owner = os.getpid()

    def intercepted(signalnum, handler):
        if os.getpid() != owner:
            return original(signalnum, handler)
        lines = ''.join(traceback.format_stack()[:-1])
        sys.stderr.write('Callback registration for signal %d ignored.\\n%s' % (int(signalnum), lines))
        return handler

    intercepted.__name__ = 'signal'
    intercepted.__wrapped__ = original
    signal.signal = intercepted
";
    let module = PyModule::from_code(py, code, c"<mod_rwsgi restrict_signal>", c"_rwsgi_restrict_signal")?;
    module.getattr("install")?.call0()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_is_entered_through_its_python() {
        let dir = std::env::temp_dir().join(format!("rwsgi-venv-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(dir.join("bin/python3"), "").unwrap();
        let found = locate_prefix(Some(&format!("{}/", dir.display())));
        assert_eq!(found, Prefix::Executable(format!("{}/bin/python3", dir.display())));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(locate_prefix(Some("/opt/python")), Prefix::Home("/opt/python".into()));
        assert_eq!(locate_prefix(None), Prefix::Executable(BUILD_PYTHON.into()));
    }
}
