//! `start_response`, the `write()` callable, and sending the response through
//! Apache's output filters.
//!
//! Status and headers are validated when the application passes them, kept
//! pending, and committed to the request only with the first non-empty body
//! data (or at the end), as PEP 3333 requires. Until then an error can still
//! become a clean 500.

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::channel::{Channel, Disconnected, ValidatedHead};
use super::headers;
use super::request_handle::RequestHandle;
use crate::python::native_class::{self, Class, Native};

struct ResponseState {
    pending: Option<ValidatedHead>,
    committed: bool,
    sent: u64,
}

pub struct Response {
    pub request: RequestHandle,
    state: Mutex<ResponseState>,
}

/// Raw bytes handed to the channel while the GIL is released.
struct SendBytes(*const u8, usize);
// SAFETY: only read on the request's own thread while the owner is kept alive.
unsafe impl Send for SendBytes {}

impl Response {
    pub fn new(request: RequestHandle) -> Response {
        Response { request, state: Mutex::new(ResponseState { pending: None, committed: false, sent: 0 }) }
    }

    pub fn headers_committed(&self) -> bool {
        self.state.lock().committed
    }

    pub fn started(&self) -> bool {
        self.state.lock().pending.is_some()
    }

    /// The status the application gave (0 before start_response).
    pub fn status_code(&self) -> u16 {
        self.state.lock().pending.as_ref().map_or(0, |h| h.code)
    }

    pub fn bytes_sent(&self) -> u64 {
        self.state.lock().sent
    }

    /// `start_response(status, headers, exc_info=None)`.
    fn start(&self, status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>, exc_info: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        if let Some(exc_info) = exc_info {
            let tuple = exc_info.cast::<PyTuple>().map_err(|_| PyRuntimeError::new_err("exc_info must be a tuple (type, value, traceback)"))?;
            if self.headers_committed() {
                // PEP 3333: re-raise the original error once headers are out.
                let value = tuple.get_item(1)?;
                let tb = tuple.get_item(2)?;
                return Err(PyErr::from_value(value.call_method1("with_traceback", (tb,))?));
            }
        } else if self.started() {
            return Err(PyRuntimeError::new_err("start_response() called again without exc_info"));
        }
        let head = parse_start(status, headers)?;
        self.state.lock().pending = Some(head);
        Ok(())
    }

    /// Commits status and headers (once), before the first body bytes.
    fn commit(&self, channel: &dyn Channel, st: &mut ResponseState) -> PyResult<()> {
        if st.committed {
            return Ok(());
        }
        let head = st.pending.as_ref().ok_or_else(|| PyRuntimeError::new_err("response body produced before start_response() was called"))?;
        channel.commit(head);
        st.committed = true;
        Ok(())
    }

    fn content_length(st: &ResponseState) -> Option<u64> {
        st.pending.as_ref().and_then(|h| h.content_length)
    }

    /// Sends body bytes (committing headers first). Bytes past a declared
    /// Content-Length are discarded. The GIL is released while they are written.
    pub fn write(&self, py: Python<'_>, data: &[u8], flush: bool) -> PyResult<Result<(), Disconnected>> {
        if data.is_empty() {
            // An empty item sends nothing, not even the headers (PEP 3333).
            return Ok(Ok(()));
        }
        let channel = self.request.require("the response")?;
        let mut st = self.state.lock();
        self.commit(channel, &mut st)?;
        let allowed = match Self::content_length(&st) {
            Some(len) => (len.saturating_sub(st.sent)).min(data.len() as u64) as usize,
            None => data.len(),
        };
        let data = &data[..allowed];
        st.sent += data.len() as u64;
        if data.is_empty() || channel.header_only() {
            return Ok(Ok(()));
        }
        if channel.client_gone() {
            return Ok(Err(Disconnected));
        }
        let chunk = SendBytes(data.as_ptr(), data.len());
        let since = super::events::clock();
        let written = match channel.write_now(data, flush) {
            Some(written) => written,
            None => py.detach(move || {
                let chunk = chunk;
                // SAFETY: the bytes belong to a Python object the caller keeps alive
                // until this returns.
                channel.write(unsafe { std::slice::from_raw_parts(chunk.0, chunk.1) }, flush)
            }),
        };
        self.request.stats().wrote(data.len() as u64, since);
        Ok(written)
    }

    /// Sends `len` bytes of file `fd` from `offset` (the wsgi.file_wrapper fast path).
    /// Without a declared Content-Length the region's length is declared.
    pub fn write_file(&self, py: Python<'_>, fd: i32, offset: u64, len: u64) -> PyResult<Result<(), Disconnected>> {
        let channel = self.request.require("the response")?;
        let mut st = self.state.lock();
        if let Some(head) = st.pending.as_mut().filter(|h| h.content_length.is_none()) {
            head.content_length = Some(len);
            head.headers.push(("Content-Length".to_string(), len.to_string().into_bytes()));
        }
        self.commit(channel, &mut st)?;
        let len = Self::content_length(&st).map_or(len, |cl| cl.min(len));
        st.sent += len;
        if channel.header_only() || len == 0 {
            return Ok(Ok(()));
        }
        let since = super::events::clock();
        let written = py.detach(move || channel.write_file(fd, offset, len));
        self.request.stats().wrote(len, since);
        Ok(written)
    }

    /// Ends a successful response: headers out if nothing was written, end of
    /// stream, and a check that the declared length was honoured.
    pub fn finish(&self, py: Python<'_>) -> PyResult<Result<(), Disconnected>> {
        let channel = self.request.require("the response")?;
        let mut st = self.state.lock();
        self.commit(channel, &mut st)?;
        if let Some(len) = Self::content_length(&st)
            && st.sent < len
            && !channel.header_only()
        {
            tracing::error!("response shorter than its Content-Length ({} of {len} bytes sent); closing the connection", st.sent);
            channel.close_after_response();
        }
        if channel.client_gone() {
            return Ok(Err(Disconnected));
        }
        Ok(match channel.finish_now() {
            Some(finished) => finished,
            None => py.detach(move || channel.finish()),
        })
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn parse_start(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<ValidatedHead> {
    let status = status
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("expected str for status line, got {}", type_name(status))))?
        .to_string();
    let code = headers::parse_status(&status).map_err(PyValueError::new_err)?;
    let list = headers
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err(format!("response headers must be a list, got {}", type_name(headers))))?;
    let mut out = Vec::with_capacity(list.len());
    let mut content_length = None;
    for item in list.iter() {
        let tuple = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| PyTypeError::new_err(format!("each response header must be a (name, value) tuple, got {}", type_name(&item))))?;
        let (name, value) = (tuple.get_item(0)?, tuple.get_item(1)?);
        let name = name
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("header name must be str, got {}", type_name(&name))))?
            .to_string();
        let value = value
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("value of header {name:?} must be str, got {}", type_name(&value))))?
            .to_string();
        headers::check_header_name(&name).map_err(PyValueError::new_err)?;
        headers::check_header_value(&name, &value).map_err(PyValueError::new_err)?;
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(headers::parse_content_length(&value).map_err(PyValueError::new_err)?);
        }
        // Validation guaranteed every char is <= U+00FF: these are the wire bytes.
        out.push((name, value.chars().map(|c| c as u32 as u8).collect()));
    }
    Ok(ValidatedHead { code, status, headers: out, content_length })
}

/// The `start_response` callable passed to the application.
pub struct StartResponse {
    response: std::sync::Arc<Response>,
}

impl StartResponse {
    pub fn new(response: std::sync::Arc<Response>) -> StartResponse {
        StartResponse { response }
    }
}

pub static START_RESPONSE: Class<StartResponse> = Class {
    call: Some(|sr, py, args| {
        let [status, response_headers, exc_info] = args.parse("start_response", ["status", "response_headers", "exc_info"], 2)?;
        let (status, response_headers) = (status.expect("required"), response_headers.expect("required"));
        sr.response.request.require("start_response")?;
        sr.response.start(&status, &response_headers, exc_info.as_ref())?;
        super::events::response_started(py, &status, &response_headers, exc_info.as_ref());
        Ok(WRITE.create(py, Write { response: sr.response.clone() })?.into_any())
    }),
    ..native_class::class(c"mod_wsgi.StartResponse")
};

impl Native for StartResponse {
    fn class() -> &'static Class<Self> {
        &START_RESPONSE
    }
}

/// The `write(data)` callable returned by start_response (PEP 3333's
/// imperative output API, for frameworks that need it).
pub struct Write {
    response: std::sync::Arc<Response>,
}

pub static WRITE: Class<Write> = Class {
    call: Some(|w, py, args| {
        let [data] = args.parse("write", ["data"], 1)?;
        let data = data.expect("required");
        w.response.request.require("write()")?;
        let bytes = data
            .cast::<pyo3::types::PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() argument must be bytes, not {}", type_name(&data))))?;
        match w.response.write(py, bytes.as_bytes(), true)? {
            Ok(()) => native_class::none(py),
            Err(Disconnected) => Err(PyOSError::new_err("failed to write data: client connection closed")),
        }
    }),
    ..native_class::class(c"mod_wsgi.Write")
};

impl Native for Write {
    fn class() -> &'static Class<Self> {
        &WRITE
    }
}
