//! `wsgi.errors`, `sys.stdout` and `sys.stderr`: text streams that write to
//! Apache's error log, one log entry per line.

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::request_handle::RequestHandle;
use crate::log;
use crate::config::PythonSettings;

#[pyclass(module = "mod_wsgi", name = "Log", frozen)]
pub struct Log {
    request: Option<RequestHandle>,
    pending: Mutex<String>,
}

impl Log {
    pub fn for_request(request: RequestHandle) -> Log {
        Log { request: Some(request), pending: Mutex::new(String::new()) }
    }

    fn for_process() -> Log {
        Log { request: None, pending: Mutex::new(String::new()) }
    }

    fn emit(&self, line: &str) {
        // Lines of a finished request, or written from another thread, go to the
        // server log rather than being lost.
        // Application output is logged as written, without the module's prefix.
        if self.request.as_ref().and_then(RequestHandle::get).is_some() {
            tracing::error!(raw = true, "{line}");
        } else {
            log::outside_request(|| tracing::error!(raw = true, "{line}"));
        }
    }

    /// Logs whatever partial line is buffered (at request end).
    pub fn flush_pending(&self) {
        let rest = std::mem::take(&mut *self.pending.lock());
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }
}

#[pymethods]
impl Log {
    fn write(&self, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text = text
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("write() argument must be str, not {}", text.get_type().name().map(|n| n.to_string()).unwrap_or_default())))?;
        let text = text.to_cow()?;
        let mut lines = Vec::new();
        {
            let mut pending = self.pending.lock();
            pending.push_str(&text);
            while let Some(pos) = pending.find('\n') {
                let line: String = pending.drain(..=pos).collect();
                lines.push(line.trim_end_matches('\n').to_string());
            }
        }
        for line in &lines {
            self.emit(line);
        }
        Ok(text.chars().count())
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(&line?)?;
        }
        Ok(())
    }

    fn flush(&self) {
        self.flush_pending();
    }

    fn close(&self) {
        self.flush_pending();
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "backslashreplace"
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    fn fileno(&self) -> PyResult<i32> {
        Err(PyOSError::new_err("the Apache error log stream has no file descriptor"))
    }
}

/// Stands in for `sys.stdin`/`sys.stdout` under WSGIRestrictStdin/WSGIRestrictStdout.
#[pyclass(module = "mod_wsgi", name = "Restricted", frozen)]
struct Restricted {
    name: &'static str,
}

#[pymethods]
impl Restricted {
    fn __getattr__(&self, _attr: &str) -> PyResult<()> {
        Err(PyOSError::new_err(format!(
            "sys.{} access restricted by mod_rwsgi (WSGIRestrict{}{} On)",
            self.name,
            self.name[..1].to_uppercase(),
            &self.name[1..]
        )))
    }
}

/// Points sys.stdout and sys.stderr at the error log (or restricts them).
pub fn install_stdio(py: Python<'_>, settings: &PythonSettings) -> PyResult<()> {
    let sys = py.import("sys")?;
    sys.setattr("stderr", Py::new(py, Log::for_process())?)?;
    if settings.restrict_stdout == Some(true) {
        sys.setattr("stdout", Py::new(py, Restricted { name: "stdout" })?)?;
    } else {
        sys.setattr("stdout", Py::new(py, Log::for_process())?)?;
    }
    if settings.restrict_stdin == Some(true) {
        sys.setattr("stdin", Py::new(py, Restricted { name: "stdin" })?)?;
    }
    Ok(())
}

/// Makes the stdio classes in the (main) interpreter that is current.
pub(super) fn make_types(py: Python<'_>) {
    let _ = py.get_type::<Restricted>();
}
