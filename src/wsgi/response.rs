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

use super::headers;
use super::request_handle::RequestHandle;
use crate::apache::brigade::Brigade;
use crate::apache::{Level, Request, log};

struct Pending {
    code: u16,
    status: String,
    headers: Vec<(String, String)>,
    content_length: Option<u64>,
}

/// Why a body write did not go out.
#[derive(Debug)]
pub enum WriteError {
    /// The client went away; stop producing output.
    Disconnected,
}

pub struct ResponseState {
    pending: Option<Pending>,
    committed: bool,
    content_length: Option<u64>,
    sent: u64,
    brigade: Option<Brigade>,
}

pub struct Response {
    pub request: RequestHandle,
    state: Mutex<ResponseState>,
}

impl Response {
    pub fn new(request: RequestHandle) -> Response {
        Response {
            request,
            state: Mutex::new(ResponseState { pending: None, committed: false, content_length: None, sent: 0, brigade: None }),
        }
    }

    pub fn headers_committed(&self) -> bool {
        self.state.lock().committed
    }

    pub fn started(&self) -> bool {
        self.state.lock().pending.is_some()
    }

    pub fn bytes_sent(&self) -> u64 {
        self.state.lock().sent
    }

    pub fn content_length(&self) -> Option<u64> {
        let st = self.state.lock();
        st.content_length.or(st.pending.as_ref().and_then(|p| p.content_length))
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
                let err = PyErr::from_value(value.call_method1("with_traceback", (tb,))?);
                return Err(err);
            }
        } else if self.started() {
            return Err(PyRuntimeError::new_err("start_response() called again without exc_info"));
        }
        let pending = parse_start(status, headers)?;
        self.state.lock().pending = Some(pending);
        Ok(())
    }

    /// Commits status and headers to the request (once).
    fn commit(&self, r: &Request, st: &mut ResponseState) -> PyResult<()> {
        if st.committed {
            return Ok(());
        }
        let pending = st.pending.as_ref().ok_or_else(|| PyRuntimeError::new_err("response body produced before start_response() was called"))?;
        r.set_status(pending.code as i32, pending.status.as_bytes());
        let pool = r.pool();
        let out = r.headers_out();
        for (name, value) in &pending.headers {
            if name.eq_ignore_ascii_case("content-type") {
                r.set_content_type(&latin1(value));
            } else if name.eq_ignore_ascii_case("content-length") {
                // Set from the parsed value below.
            } else {
                out.add(pool, name.as_bytes(), &latin1(value));
            }
        }
        if let Some(len) = pending.content_length {
            r.set_content_length(len);
        }
        st.content_length = pending.content_length;
        st.committed = true;
        // A final response is under way: no interim 100 may follow.
        r.clear_expecting_100();
        Ok(())
    }

    /// Sends body bytes (committing headers first). Bytes past a declared
    /// Content-Length are discarded. The GIL is released while Apache writes.
    pub fn write(&self, py: Python<'_>, r: &Request, data: &[u8], flush: bool) -> PyResult<Result<(), WriteError>> {
        if data.is_empty() {
            // An empty item sends nothing, not even the headers (PEP 3333).
            return Ok(Ok(()));
        }
        let mut st = self.state.lock();
        self.commit(r, &mut st)?;
        let allowed = match st.content_length {
            Some(len) => (len.saturating_sub(st.sent)).min(data.len() as u64) as usize,
            None => data.len(),
        };
        let data = &data[..allowed];
        st.sent += data.len() as u64;
        if data.is_empty() || r.header_only() {
            return Ok(Ok(()));
        }
        if r.client_aborted() {
            return Ok(Err(WriteError::Disconnected));
        }
        let brigade = st.brigade.get_or_insert_with(|| Brigade::new(r));
        let chunk = SendBytes(data.as_ptr(), data.len());
        let request = *r;
        let result = py.detach(move || {
            let chunk = chunk;
            // SAFETY: the bytes are borrowed from a Python object the caller keeps
            // alive until this returns; the transient bucket does not outlive the pass.
            brigade.write(&request, unsafe { std::slice::from_raw_parts(chunk.0, chunk.1) }, flush)
        });
        Ok(result.map_err(|_| WriteError::Disconnected))
    }

    /// Passes a file region (wsgi.file_wrapper fast path).
    pub fn write_file(&self, py: Python<'_>, r: &Request, file: FileRegion) -> PyResult<Result<(), WriteError>> {
        let mut st = self.state.lock();
        if st.content_length.is_none() && st.pending.as_ref().is_some_and(|p| p.content_length.is_none()) {
            st.pending.as_mut().unwrap().content_length = Some(file.len);
        }
        self.commit(r, &mut st)?;
        let len = st.content_length.map_or(file.len, |cl| cl.min(file.len));
        st.sent += len;
        if r.header_only() || len == 0 {
            return Ok(Ok(()));
        }
        let brigade = st.brigade.get_or_insert_with(|| Brigade::new(r));
        let request = *r;
        let result = py.detach(move || {
            let file = file;
            brigade.write_file(&request, file.file.0, file.offset, len)
        });
        Ok(result.map_err(|_| WriteError::Disconnected))
    }

    /// Ends a successful response: headers out if nothing was written, end of
    /// stream, and a check that the declared length was honoured.
    pub fn finish(&self, py: Python<'_>, r: &Request) -> PyResult<()> {
        let mut st = self.state.lock();
        self.commit(r, &mut st)?;
        if let Some(len) = st.content_length
            && st.sent < len
            && !r.header_only()
        {
            log::request(
                r,
                Level::Error,
                &format!("rwsgi: response shorter than its Content-Length ({} of {len} bytes sent); closing the connection", st.sent),
            );
            r.close_connection();
        }
        if r.client_aborted() {
            return Ok(());
        }
        let brigade = st.brigade.get_or_insert_with(|| Brigade::new(r));
        let request = *r;
        py.detach(move || brigade.finish(&request)).ok();
        Ok(())
    }
}

/// A region of an APR file owned by the request pool.
pub struct FileRegion {
    pub file: SendFile,
    pub offset: u64,
    pub len: u64,
}

pub struct SendFile(pub *mut crate::ffi::apr_file_t);
// SAFETY: used only on the request's thread, inside detach.
unsafe impl Send for SendFile {}

struct SendBytes(*const u8, usize);
// SAFETY: only read on the request's own thread while the owner is kept alive.
unsafe impl Send for SendBytes {}

fn latin1(s: &str) -> Vec<u8> {
    // Validation guaranteed every char is <= U+00FF.
    s.chars().map(|c| c as u32 as u8).collect()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn parse_start(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<Pending> {
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
        out.push((name, value));
    }
    Ok(Pending { code, status, headers: out, content_length })
}

/// The `start_response` callable passed to the application.
#[pyclass(module = "mod_wsgi", name = "StartResponse", frozen)]
pub struct StartResponse {
    response: std::sync::Arc<Response>,
}

impl StartResponse {
    pub fn new(response: std::sync::Arc<Response>) -> StartResponse {
        StartResponse { response }
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, response_headers, exc_info = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        response_headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Write>> {
        self.response.request.require("start_response")?;
        self.response.start(status, response_headers, exc_info)?;
        Py::new(py, Write { response: self.response.clone() })
    }
}

/// The `write(data)` callable returned by start_response (PEP 3333's
/// imperative output API, for frameworks that need it).
#[pyclass(module = "mod_wsgi", name = "Write", frozen)]
pub struct Write {
    response: std::sync::Arc<Response>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = self.response.request.require("write()")?;
        let bytes = data
            .cast::<pyo3::types::PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() argument must be bytes, not {}", type_name(data))))?;
        match self.response.write(py, &r, bytes.as_bytes(), true)? {
            Ok(()) => Ok(()),
            Err(WriteError::Disconnected) => Err(PyOSError::new_err("failed to write data: client connection closed")),
        }
    }
}
