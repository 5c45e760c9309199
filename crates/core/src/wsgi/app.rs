//! Running one request through the application, in either mode.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use super::channel::{Channel, Disconnected};
use super::environ::{self, CgiVariables, RequestInfo};
use super::events;
use super::errors::{LOG, Log};
use super::file_wrapper;
use super::input::{INPUT, Input};
use super::request_handle::RequestHandle;
use super::response::{Response, START_RESPONSE, StartResponse};
use crate::log;
use crate::python::native_class::Object;
use crate::python::script;

/// The script a request runs, and how.
pub struct Script<'a> {
    pub path: &'a [u8],
    /// Modification time of the file in microseconds (reloading compares it).
    pub mtime: i64,
    pub application_group: &'a str,
    pub callable_object: &'a str,
    pub reloading: bool,
}

/// How a request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response went out (complete, cut off after an error, or abandoned by the client).
    Served,
    /// Nothing was sent; the caller answers with this HTTP status (500, 404).
    Failed(u16),
}

/// Serves one request, in either mode: the channel is the transport (Apache's
/// request, or a daemon connection), `variables` the CGI variables.
pub fn serve_request(channel: Box<dyn Channel>, info: &RequestInfo<'_>, script: &Script<'_>, variables: CgiVariables<'_>) -> Outcome {
    // Runs in the application group's interpreter (the main one for %{GLOBAL}).
    let served = crate::python::attach_in(script.application_group, |py| {
        let handle = RequestHandle::new(channel);
        let outcome = match environ::build(py, variables, info) {
            Ok(environ) => {
                let uri = environ.get_item(pyo3::intern!(py, "REQUEST_URI")).ok().flatten();
                let uri = uri.as_ref().and_then(|u| u.cast::<pyo3::types::PyString>().ok()).and_then(|u| u.to_str().ok()).unwrap_or("");
                events::note_url(uri.as_bytes());
                let request = events::begin(py, info, uri.as_bytes(), environ::thread_id());
                let (outcome, status, sent) = run(py, &handle, script, environ, &request);
                request.finish(py, &handle, status, sent);
                outcome
            }
            Err(e) => {
                log_exception(py, &handle, script, &e);
                Outcome::Failed(500)
            }
        };
        handle.expire();
        outcome
    });
    served.unwrap_or_else(|e| {
        tracing::error!("{e}");
        Outcome::Failed(500)
    })
}

/// Serves one request on `handle`'s channel; `environ` lacks wsgi.input/errors.
/// Also returns the status that went out (0 if none) and the body bytes sent.
fn run(py: Python<'_>, handle: &RequestHandle, script: &Script<'_>, environ: Bound<'_, PyDict>, request: &events::Request) -> (Outcome, u16, u64) {
    let log = Log::for_request(handle.clone());
    let errors = match LOG.create(py, log) {
        Ok(errors) => errors,
        Err(e) => {
            log_exception(py, handle, script, &e);
            return (Outcome::Failed(500), 500, 0);
        }
    };
    let response = Arc::new(Response::new(handle.clone()));
    let outcome = respond(py, handle, script, environ, &response, &errors, request);
    errors.get().flush_pending();
    let status = match outcome {
        Outcome::Failed(code) => code,
        Outcome::Served => response.status_code(),
    };
    (outcome, status, response.bytes_sent())
}

/// Logs a line about the request as it is (these lines carry mod_wsgi's own
/// prefixes); once the request is over, in the server's log.
fn log(handle: &RequestHandle, msg: &str) {
    if handle.get().is_some() {
        tracing::error!(raw = true, "{msg}");
    } else {
        log::outside_request(|| tracing::error!(raw = true, "{msg}"));
    }
}

/// Logs a Python exception with its full traceback, one log entry per line.
fn log_exception(py: Python<'_>, handle: &RequestHandle, script: &Script<'_>, err: &PyErr) {
    report_exception(py, script.path, err, &|line| log(handle, line));
}

/// Writes the lines that report an exception raised by the script at `path`
/// (mod_wsgi's heading, then the traceback) through `emit`, one per line.
pub fn report_exception(py: Python<'_>, path: &[u8], err: &PyErr, emit: &dyn Fn(&str)) {
    let path = String::from_utf8_lossy(path);
    emit(&format!("mod_rwsgi (pid={}): Exception occurred processing WSGI script '{path}'.", std::process::id()));
    let formatted: PyResult<Vec<String>> = (|| {
        let tb = err.traceback(py).map(|t| t.into_any()).unwrap_or_else(|| py.None().into_bound(py));
        py.import("traceback")?.call_method1("format_exception", (err.get_type(py), err.value(py), tb))?.extract()
    })();
    match formatted {
        Ok(chunks) => chunks.iter().flat_map(|c| c.lines()).for_each(emit),
        Err(_) => emit(&err.to_string()),
    }
}

/// The line logged when a script file cannot be loaded (before its exception).
pub fn load_failure_line(path: &[u8]) -> String {
    format!("mod_rwsgi (pid={}): Failed to exec Python script file '{}'.", std::process::id(), String::from_utf8_lossy(path))
}

/// An error after the response started cannot change the status: cut the
/// connection so the client sees an incomplete response, not a complete one.
/// Before that, a request interrupted by request-timeout is a 504, anything else a 500.
fn fail_with(py: Python<'_>, handle: &RequestHandle, response: &Response, err: &PyErr) -> Outcome {
    if !response.headers_committed() && super::request_timeout(py).is_ok_and(|timeout| err.is_instance(py, &timeout)) {
        return Outcome::Failed(504);
    }
    fail(handle, response)
}

fn fail(handle: &RequestHandle, response: &Response) -> Outcome {
    if response.headers_committed() {
        if let Some(channel) = handle.get() {
            channel.abort();
        }
        Outcome::Served
    } else {
        Outcome::Failed(500)
    }
}

fn respond(
    py: Python<'_>,
    handle: &RequestHandle,
    script: &Script<'_>,
    environ: Bound<'_, PyDict>,
    response: &Arc<Response>,
    errors: &Object<'_, Log>,
    request: &events::Request,
) -> Outcome {
    let module = match script::load(py, script.application_group, script.path, script.mtime, script.reloading) {
        Ok(m) => m,
        Err(e) => {
            log(handle, &load_failure_line(script.path));
            log_exception(py, handle, script, &e);
            if let Some(hint) = script::extension_refusal(py, script.application_group, &e) {
                log(handle, &format!("mod_rwsgi (pid={}): {hint}", std::process::id()));
            }
            return Outcome::Failed(500);
        }
    };
    let module = match reload_for_resource(py, handle, script, &environ) {
        Ok(Some(reloaded)) => reloaded,
        Ok(None) => module,
        Err(()) => return Outcome::Failed(500),
    };
    let Ok(app) = module.bind(py).getattr(script.callable_object) else {
        log(
            handle,
            &format!(
                "mod_rwsgi (pid={}): Target WSGI script '{}' does not contain WSGI application '{}'.",
                std::process::id(),
                String::from_utf8_lossy(script.path),
                script.callable_object
            ),
        );
        // mod_wsgi answers 404 here; a script without its callable is a
        // broken deployment, not a missing resource, so it is a 500.
        return Outcome::Failed(500);
    };

    let called: PyResult<Bound<'_, PyAny>> = (|| {
        environ.set_item(pyo3::intern!(py, "wsgi.input"), INPUT.create(py, Input::new(handle.clone()))?.into_any())?;
        environ.set_item(pyo3::intern!(py, "wsgi.errors"), &**errors)?;
        let start_response = START_RESPONSE.create(py, StartResponse::new(response.clone()))?.into_any();
        let app = request.started(py, app, &environ);
        app.call1((environ, start_response))
    })();
    let result = match called {
        Ok(result) => result,
        Err(e) => {
            events::exception(py, &e);
            log_exception(py, handle, script, &e);
            return fail_with(py, handle, response, &e);
        }
    };

    let sent = send(py, &result, response);
    // close() is called exactly once, whatever happened while sending.
    // A list or tuple (the usual result) has no close(); asking would build an
    // AttributeError with a formatted message on every request.
    let close = pyo3::intern!(py, "close");
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let closed = if !plain && result.hasattr(close).unwrap_or(false) { result.call_method0(close).map(|_| ()) } else { Ok(()) };
    let report = |e: &PyErr| {
        events::exception(py, e);
        log_exception(py, handle, script, e)
    };
    match (sent, closed) {
        (Err(e), closed) => {
            report(&e);
            if let Err(e) = closed {
                report(&e);
            }
            fail_with(py, handle, response, &e)
        }
        (Ok(Err(Disconnected)), closed) => {
            if handle.get().is_some() {
                tracing::info!("client closed the connection before the response was complete");
            }
            if let Err(e) = closed {
                report(&e);
            }
            Outcome::Served
        }
        // The body went out in full: a failing close() is logged, and the response
        // still ends normally (cutting it off would lose a complete response).
        // Before any output it is the only answer, so it becomes a 500.
        (Ok(Ok(())), Err(e)) if response.headers_committed() => {
            report(&e);
            match response.finish(py) {
                Ok(_) => Outcome::Served,
                Err(_) => fail(handle, response),
            }
        }
        (Ok(Ok(())), Err(e)) => {
            report(&e);
            fail(handle, response)
        }
        (Ok(Ok(())), Ok(())) => match response.finish(py) {
            Ok(_) => Outcome::Served,
            Err(e) => {
                report(&e);
                fail(handle, response)
            }
        },
    }
}

/// A handler script (`WSGIHandlerScript`) may say that it must be loaded
/// again for this request's resource (the file Apache mapped the URL to):
/// mod_wsgi calls its `reload_required(resource)` when script reloading is on.
/// A raising `reload_required` is logged and the loaded module kept.
fn reload_for_resource(
    py: Python<'_>,
    handle: &RequestHandle,
    script: &Script<'_>,
    environ: &Bound<'_, PyDict>,
) -> Result<Option<Py<PyModule>>, ()> {
    if !script.reloading {
        return Ok(None);
    }
    let is_handler_script = environ
        .get_item(pyo3::intern!(py, "mod_wsgi.handler_script"))
        .ok()
        .flatten()
        .is_some_and(|v| v.is_truthy().unwrap_or(false));
    let resource = environ.get_item(pyo3::intern!(py, "SCRIPT_FILENAME")).ok().flatten();
    let Some(resource) = resource.filter(|_| is_handler_script) else { return Ok(None) };
    let required = |module: &Bound<'_, PyModule>| {
        let Ok(Some(check)) = module.dict().get_item("reload_required") else { return false };
        match check.call1((&resource,)).and_then(|r| r.is_truthy()) {
            Ok(required) => required,
            Err(e) => {
                log_exception(py, handle, script, &e);
                false
            }
        }
    };
    script::reload_if(py, script.application_group, script.path, script.mtime, required).map_err(|e| {
        log(handle, &load_failure_line(script.path));
        log_exception(py, handle, script, &e);
    })
}

/// Response items from this size on are flushed as they are written.
const LARGE_ITEM: usize = 256 * 1024;

/// Sends the application's result: the file fast path, or iteration.
fn send(py: Python<'_>, result: &Bound<'_, PyAny>, response: &Response) -> PyResult<Result<(), Disconnected>> {
    if response.bytes_sent() == 0
        && !response.headers_committed()
        && response.started()
        && let Some(region) = file_wrapper::file_region(py, result)
    {
        return response.write_file(py, region.fd, region.offset, region.len);
    }
    // Items of a list or tuple are all ready: let the transport coalesce them.
    // Items of any other iterable are flushed so streaming responses reach the
    // client as they are produced.
    let flush = !(result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>());
    for item in result.try_iter()? {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "sequence of byte string values expected, value of type {} found",
                item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        // Large items are flushed too: Apache then writes them out directly
        // instead of copying what the socket cannot take at once.
        let data = bytes.as_bytes();
        if let Err(e) = response.write(py, data, flush || data.len() >= LARGE_ITEM)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}
