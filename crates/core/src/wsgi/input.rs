//! `wsgi.input`: the request body, streamed from Apache as the application reads.
//!
//! Nothing is read before the application asks, so `100 Continue` is only sent
//! (by Apache's HTTP_IN filter) on the first read, and memory stays bounded by
//! what the application requests.

use parking_lot::Mutex;
use pyo3::exceptions::PyOSError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::channel::Channel;
use super::request_handle::RequestHandle;
use crate::python::native_class::{self, Args, Class, Iter, Native};

/// Bytes asked of Apache per read when the application gives no size.
const CHUNK: usize = 64 * 1024;
/// From this size on, read(n) fills the returned bytes object directly.
const DIRECT_READ: usize = 16 * 1024;

struct Body {
    buffer: Vec<u8>,
    start: usize,
    started: bool,
    finished: bool,
}

impl Body {
    fn buffered(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buffer.len() - self.start);
        let out = self.buffer[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }
}

/// `wsgi.input`.
pub struct Input {
    request: RequestHandle,
    body: Mutex<Body>,
}

impl Input {
    pub fn new(request: RequestHandle) -> Input {
        Input { request, body: Mutex::new(Body { buffer: Vec::new(), start: 0, started: false, finished: false }) }
    }

    /// Appends more body bytes to the buffer, with the GIL released: exactly
    /// `max` (or up to the end of the body) when `exact`, else whatever one read
    /// returns (so readline() does not wait for more than a line). Returns the
    /// number appended; 0 means the body is complete.
    fn fill(&self, py: Python<'_>, channel: &dyn Channel, body: &mut Body, max: usize, exact: bool) -> PyResult<usize> {
        if body.finished || max == 0 {
            return Ok(0);
        }
        if !body.started {
            body.started = true;
            if !channel.has_body() {
                body.finished = true;
                return Ok(0);
            }
        }
        if body.start > 0 && body.start == body.buffer.len() {
            body.buffer.clear();
            body.start = 0;
        }
        body.buffer.reserve(max);
        let spare = SendSlice(body.buffer.spare_capacity_mut().as_mut_ptr(), max);
        let result = py.detach(move || {
            let spare = spare;
            // SAFETY: the reserved, unused capacity of the buffer, which is not
            // touched by anything else until detach returns.
            let dst = unsafe { std::slice::from_raw_parts_mut(spare.0, spare.1) };
            channel.read_body(dst, exact)
        });
        let (got, outcome) = match result {
            // Less than asked for with `exact` (or nothing at all) means the body ended.
            Ok(got) => (got, Ok(got == 0 || (exact && got < max))),
            Err(e) => (0, Err(e)),
        };
        let len = body.buffer.len();
        // SAFETY: the reader initialised `got` bytes of the spare capacity.
        unsafe { body.buffer.set_len(len + got) };
        match outcome {
            Ok(eof) => {
                body.finished |= eof;
                Ok(got)
            }
            Err(reason) => {
                body.finished = true;
                channel.close_after_response();
                Err(PyOSError::new_err(format!("request data read error: {reason}")))
            }
        }
    }

    /// Reads `size` bytes (or all that remain) and returns them as bytes.
    fn read_bytes<'py>(&self, py: Python<'py>, size: Option<usize>) -> PyResult<Bound<'py, PyBytes>> {
        let channel = self.request.require("wsgi.input")?;
        let mut body = self.body.lock();
        if let Some(size) = size
            && size >= DIRECT_READ
            && body.buffered().is_empty()
        {
            return self.read_direct(py, channel, &mut body, size);
        }
        match size {
            None => while self.fill(py, channel, &mut body, CHUNK, true)? > 0 {},
            Some(size) => {
                let missing = size.saturating_sub(body.buffered().len());
                self.fill(py, channel, &mut body, missing, true)?;
            }
        }
        let n = size.map_or(body.buffered().len(), |s| s.min(body.buffered().len()));
        let bytes = PyBytes::new(py, &body.buffered()[..n]);
        body.consume(n);
        Ok(bytes)
    }

    /// Large reads go straight into a new bytes object: one copy from Apache's
    /// buffers instead of two. A short body shrinks the object to what came.
    fn read_direct<'py>(&self, py: Python<'py>, channel: &dyn Channel, body: &mut Body, size: usize) -> PyResult<Bound<'py, PyBytes>> {
        if !body.started {
            body.started = true;
            if !channel.has_body() {
                body.finished = true;
            }
        }
        if body.finished {
            return Ok(PyBytes::new(py, b""));
        }
        // SAFETY: a fresh, uniquely owned bytes object of `size` bytes; it is
        // filled below before anything else can see it.
        let raw = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size as ffi::Py_ssize_t) };
        if raw.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: raw is a new, non-null bytes object of `size` bytes.
        let dst = SendSlice(unsafe { ffi::PyBytes_AsString(raw) } as *mut std::mem::MaybeUninit<u8>, size);
        let result = py.detach(move || {
            let dst = dst;
            // SAFETY: the bytes object's buffer, not yet visible to Python.
            let part = unsafe { std::slice::from_raw_parts_mut(dst.0, dst.1) };
            channel.read_body(part, true).map(|got| (got, got < dst.1))
        });
        // SAFETY: raw is a new reference we own.
        let bytes = unsafe { Bound::from_owned_ptr(py, raw) }.cast_into::<PyBytes>().map_err(PyErr::from)?;
        match result {
            Ok((got, eof)) => {
                body.finished |= eof;
                // A body shorter than asked (the end came first): the part that arrived.
                Ok(if got < size { PyBytes::new(py, &bytes.as_bytes()[..got]) } else { bytes })
            }
            Err(reason) => {
                body.finished = true;
                channel.close_after_response();
                Err(PyOSError::new_err(format!("request data read error: {reason}")))
            }
        }
    }

    fn read_line(&self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<u8>> {
        let channel = self.request.require("wsgi.input")?;
        let mut body = self.body.lock();
        let mut searched = 0;
        loop {
            let (found, available) = {
                let buffered = body.buffered();
                let window = &buffered[..limit.map_or(buffered.len(), |l| l.min(buffered.len()))];
                (memchr::memchr(b'\n', &window[searched..]).map(|pos| searched + pos + 1), window.len())
            };
            if let Some(n) = found {
                return Ok(body.take(n));
            }
            searched = available;
            if let Some(l) = limit.filter(|&l| available >= l) {
                return Ok(body.take(l));
            }
            if self.fill(py, channel, &mut body, 8192, false)? == 0 {
                let n = body.buffered().len();
                return Ok(body.take(n));
            }
        }
    }
}

/// A raw buffer region handed to the reader while the GIL is released.
struct SendSlice(*mut std::mem::MaybeUninit<u8>, usize);
// SAFETY: only used by the request's own thread inside `Python::detach`.
unsafe impl Send for SendSlice {}

/// Python's convention: None or a negative size means "all".
fn size_arg(size: Option<i64>) -> Option<usize> {
    size.filter(|&s| s >= 0).map(|s| s as usize)
}

pub static INPUT: Class<Input> = Class {
    methods: &[(c"read", Input::read), (c"readline", Input::readline), (c"readlines", Input::readlines), (c"close", Input::close)],
    iter: Iter::Itself,
    next: Some(Input::next),
    ..native_class::class(c"mod_wsgi.Input")
};

impl Native for Input {
    fn class() -> &'static Class<Self> {
        &INPUT
    }
}

/// A size argument: None, or an int.
fn size_param(value: Option<Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    Ok(size_arg(value.map(|v| v.extract::<i64>()).transpose()?))
}

impl Input {
    fn read<'py>(&self, py: Python<'py>, args: &Args<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        let [size] = args.parse("read", ["size"], 0)?;
        let since = super::events::clock();
        let data = self.read_bytes(py, size_param(size)?)?;
        self.request.stats().read(data.as_bytes().len(), since);
        Ok(data.into_any())
    }

    fn readline<'py>(&self, py: Python<'py>, args: &Args<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        let [size] = args.parse("readline", ["size"], 0)?;
        let since = super::events::clock();
        let line = self.read_line(py, size_param(size)?)?;
        self.request.stats().read(line.len(), since);
        Ok(PyBytes::new(py, &line).into_any())
    }

    fn readlines<'py>(&self, py: Python<'py>, args: &Args<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        let [hint] = args.parse("readlines", ["hint"], 0)?;
        let hint = size_param(hint)?.filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let since = super::events::clock();
            let line = self.read_line(py, None)?;
            self.request.stats().read(line.len(), since);
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines.into_any())
    }

    fn next<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let since = super::events::clock();
        let line = self.read_line(py, None)?;
        self.request.stats().read(line.len(), since);
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line).into_any()))
    }

    fn close<'py>(&self, py: Python<'py>, args: &Args<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        args.none("close")?;
        native_class::none(py)
    }
}
