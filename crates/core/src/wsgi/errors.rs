//! `wsgi.errors`, `sys.stdout` and `sys.stderr`: text streams that write to
//! Apache's error log, one log entry per line.

use parking_lot::Mutex;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::request_handle::RequestHandle;
use crate::config::PythonSettings;
use crate::log;
use crate::python::native_class::{self, Args, Class, Native};

/// `wsgi.errors`, and `sys.stdout`/`sys.stderr` outside requests.
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

/// What a method answers whatever it is asked.
fn constant<'py, V: IntoPyObjectExt<'py>>(py: Python<'py>, args: &Args<'_, 'py>, name: &str, value: V) -> PyResult<Bound<'py, PyAny>> {
    args.none(name)?;
    value.into_bound_py_any(py)
}

pub static LOG: Class<Log> = Class {
    methods: &[
        (c"write", |log, py, args| {
            let [text] = args.parse("write", ["text"], 1)?;
            log.write(&text.expect("required"))?.into_bound_py_any(py)
        }),
        (c"writelines", |log, py, args| {
            let [lines] = args.parse("writelines", ["lines"], 1)?;
            for line in lines.expect("required").try_iter()? {
                log.write(&line?)?;
            }
            native_class::none(py)
        }),
        (c"flush", |log, py, args| {
            args.none("flush")?;
            log.flush_pending();
            native_class::none(py)
        }),
        (c"close", |log, py, args| {
            args.none("close")?;
            log.flush_pending();
            native_class::none(py)
        }),
        (c"isatty", |_, py, args| constant(py, args, "isatty", false)),
        (c"readable", |_, py, args| constant(py, args, "readable", false)),
        (c"writable", |_, py, args| constant(py, args, "writable", true)),
        (c"seekable", |_, py, args| constant(py, args, "seekable", false)),
        (c"fileno", |_, _, args| {
            args.none("fileno")?;
            Err(PyOSError::new_err("the Apache error log stream has no file descriptor"))
        }),
    ],
    getters: &[
        (c"closed", |_, py| false.into_bound_py_any(py)),
        (c"encoding", |_, py| "utf-8".into_bound_py_any(py)),
        (c"errors", |_, py| "backslashreplace".into_bound_py_any(py)),
    ],
    ..native_class::class(c"mod_wsgi.Log")
};

impl Native for Log {
    fn class() -> &'static Class<Self> {
        &LOG
    }
}

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
}

/// Stands in for `sys.stdin`/`sys.stdout` under WSGIRestrictStdin/WSGIRestrictStdout.
struct Restricted {
    name: &'static str,
}

static RESTRICTED: Class<Restricted> = Class {
    getattr: Some(|r, _, _| {
        Err(PyOSError::new_err(format!(
            "sys.{} access restricted by mod_rwsgi (WSGIRestrict{}{} On)",
            r.name,
            r.name[..1].to_uppercase(),
            &r.name[1..]
        )))
    }),
    ..native_class::class(c"mod_wsgi.Restricted")
};

impl Native for Restricted {
    fn class() -> &'static Class<Self> {
        &RESTRICTED
    }
}

/// Points sys.stdout and sys.stderr at the error log (or restricts them).
pub fn install_stdio(py: Python<'_>, settings: &PythonSettings) -> PyResult<()> {
    let sys = py.import("sys")?;
    sys.setattr("stderr", LOG.create(py, Log::for_process())?.into_any())?;
    if settings.restrict_stdout == Some(true) {
        sys.setattr("stdout", RESTRICTED.create(py, Restricted { name: "stdout" })?.into_any())?;
    } else {
        sys.setattr("stdout", LOG.create(py, Log::for_process())?.into_any())?;
    }
    if settings.restrict_stdin == Some(true) {
        sys.setattr("stdin", RESTRICTED.create(py, Restricted { name: "stdin" })?.into_any())?;
    }
    Ok(())
}
