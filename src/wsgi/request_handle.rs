//! The bridge between Python objects and the `request_rec` they serve.
//!
//! Applications can keep `wsgi.input`, `wsgi.errors` or the `write` callable
//! after the request ends, or hand them to other threads. The request_rec is
//! only valid on its own thread until the handler returns, so every use goes
//! through `get()`, which checks both.

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::thread::ThreadId;

use pyo3::PyResult;
use pyo3::exceptions::PyOSError;

use crate::apache::Request;
use crate::ffi;

struct Inner {
    request: AtomicPtr<ffi::request_rec>,
    thread: ThreadId,
}

#[derive(Clone)]
pub struct RequestHandle(Arc<Inner>);

impl RequestHandle {
    pub fn new(r: &Request) -> RequestHandle {
        RequestHandle(Arc::new(Inner { request: AtomicPtr::new(r.as_ptr()), thread: std::thread::current().id() }))
    }

    /// The request, if it is still running and this is its thread.
    pub fn get(&self) -> Option<Request> {
        let p = self.0.request.load(Ordering::Acquire);
        if p.is_null() || std::thread::current().id() != self.0.thread {
            return None;
        }
        // SAFETY: not yet expired (the handler expires it before returning) and we
        // are on the request's thread.
        Some(unsafe { Request::from_raw(p) })
    }

    /// Like [`get`](Self::get), as a Python error for the object named `what`.
    pub fn require(&self, what: &str) -> PyResult<Request> {
        self.get().ok_or_else(|| {
            if self.0.request.load(Ordering::Acquire).is_null() {
                PyOSError::new_err(format!("{what} used after its request finished"))
            } else {
                PyOSError::new_err(format!("{what} used from a thread other than the request's"))
            }
        })
    }

    /// Called when the handler returns: later uses fail cleanly.
    pub fn expire(&self) {
        self.0.request.store(std::ptr::null_mut(), Ordering::Release);
    }
}
