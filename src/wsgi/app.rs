//! Running one request through the application in this process (embedded mode).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::errors::Log;
use super::file_wrapper;
use super::input::Input;
use super::request_handle::RequestHandle;
use super::response::{Response, StartResponse, WriteError};
use super::route::Route;
use super::environ;
use crate::apache::{Level, OK, Request, log};
use crate::ffi;
use crate::python::{self, script};

const SERVER_ERROR: i32 = ffi::HTTP_INTERNAL_SERVER_ERROR;

/// Serves the request; returns the handler's status (OK, or an HTTP error
/// status when nothing has been sent yet).
pub fn run(r: &Request, route: &Route) -> i32 {
    python::attach(|py| {
        let handle = RequestHandle::new(r);
        let response = Arc::new(Response::new(handle.clone()));
        let errors = Log::for_request(handle.clone());
        let status = match Py::new(py, errors) {
            Ok(errors) => {
                let status = serve(py, r, route, &handle, &response, &errors);
                errors.get().flush_pending();
                status
            }
            Err(e) => {
                log_exception(py, r, route, &e);
                SERVER_ERROR
            }
        };
        handle.expire();
        status
    })
}

/// Logs a Python exception with its full traceback, one log entry per line.
pub fn log_exception(py: Python<'_>, r: &Request, route: &Route, err: &PyErr) {
    let script = String::from_utf8_lossy(&route.script);
    log::request(
        r,
        Level::Error,
        &format!("mod_rwsgi (pid={}): Exception occurred processing WSGI script '{script}'.", std::process::id()),
    );
    let formatted: PyResult<Vec<String>> = (|| {
        let tb = err.traceback(py).map(|t| t.into_any()).unwrap_or_else(|| py.None().into_bound(py));
        py.import("traceback")?.call_method1("format_exception", (err.get_type(py), err.value(py), tb))?.extract()
    })();
    match formatted {
        Ok(chunks) => {
            for line in chunks.iter().flat_map(|c| c.lines()) {
                log::request(r, Level::Error, line);
            }
        }
        Err(_) => log::request(r, Level::Error, &err.to_string()),
    }
}

/// An error after the response started cannot change the status: cut the
/// connection so the client sees an incomplete response, not a complete one.
fn fail(r: &Request, response: &Response) -> i32 {
    if response.headers_committed() {
        r.close_connection();
        r.abort_connection();
        OK
    } else {
        SERVER_ERROR
    }
}

fn serve(py: Python<'_>, r: &Request, route: &Route, handle: &RequestHandle, response: &Arc<Response>, errors: &Py<Log>) -> i32 {
    let module = match script::load(py, &route.application_group, &route.script, r.file_mtime(), route.script_reloading) {
        Ok(m) => m,
        Err(e) => {
            log::request(
                r,
                Level::Error,
                &format!("mod_rwsgi (pid={}): Failed to exec Python script file '{}'.", std::process::id(), String::from_utf8_lossy(&route.script)),
            );
            log_exception(py, r, route, &e);
            return SERVER_ERROR;
        }
    };
    let app = match module.bind(py).getattr(route.callable_object.as_str()) {
        Ok(app) => app,
        Err(_) => {
            log::request(
                r,
                Level::Error,
                &format!(
                    "mod_rwsgi (pid={}): Target WSGI script '{}' does not contain WSGI application '{}'.",
                    std::process::id(),
                    String::from_utf8_lossy(&route.script),
                    route.callable_object
                ),
            );
            return ffi::HTTP_NOT_FOUND;
        }
    };

    let called: PyResult<Bound<'_, PyAny>> = (|| {
        let environ = environ::build(py, r, route)?;
        environ.set_item("wsgi.input", Py::new(py, Input::new(handle.clone()))?)?;
        environ.set_item("wsgi.errors", errors.clone_ref(py))?;
        let start_response = Py::new(py, StartResponse::new(response.clone()))?;
        app.call1((environ, start_response))
    })();
    let result = match called {
        Ok(result) => result,
        Err(e) => {
            log_exception(py, r, route, &e);
            return fail(r, response);
        }
    };

    let sent = send(py, r, &result, response);
    // close() is called exactly once, whatever happened while sending.
    let closed = if result.hasattr("close").unwrap_or(false) { result.call_method0("close").map(|_| ()) } else { Ok(()) };
    match (sent, closed) {
        (Err(e), closed) => {
            log_exception(py, r, route, &e);
            if let Err(e) = closed {
                log_exception(py, r, route, &e);
            }
            fail(r, response)
        }
        (Ok(Err(WriteError::Disconnected)), closed) => {
            crate::request_log!(r, Level::Info, "mod_rwsgi: client closed the connection before the response was complete");
            if let Err(e) = closed {
                log_exception(py, r, route, &e);
            }
            OK
        }
        (Ok(Ok(())), Err(e)) => {
            log_exception(py, r, route, &e);
            fail(r, response)
        }
        (Ok(Ok(())), Ok(())) => match response.finish(py, r) {
            Ok(()) => OK,
            Err(e) => {
                log_exception(py, r, route, &e);
                fail(r, response)
            }
        },
    }
}

/// Sends the application's result: the file fast path, or iteration.
fn send(py: Python<'_>, r: &Request, result: &Bound<'_, PyAny>, response: &Response) -> PyResult<Result<(), WriteError>> {
    if response.bytes_sent() == 0
        && !response.headers_committed()
        && response.started()
        && let Some(region) = file_wrapper::file_region(py, result, r)
    {
        return response.write_file(py, r, region);
    }
    // Items of a list or tuple are all ready: let Apache coalesce them. Items of
    // any other iterable are flushed so streaming responses reach the client.
    let flush = !(result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>());
    for item in result.try_iter()? {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "sequence of byte string values expected, value of type {} found",
                item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        if let Err(e) = response.write(py, r, bytes.as_bytes(), flush)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}
