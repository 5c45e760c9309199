//! The bridge between Python objects and the request they serve.
//!
//! Applications can keep `wsgi.input`, `wsgi.errors` or the `write` callable
//! after the request ends, or hand them to other threads. A channel is only
//! used on its request's thread until the request ends, so every use goes
//! through `get()`, which checks both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::ThreadId;

use pyo3::PyResult;
use pyo3::exceptions::PyOSError;

use super::channel::Channel;

/// What a request read and wrote, as the application saw it (mod_wsgi's
/// request_finished fields). Only its own thread updates it.
#[derive(Default)]
pub struct IoStats {
    pub input_reads: AtomicU64,
    pub input_length: AtomicU64,
    pub input_us: AtomicU64,
    pub output_writes: AtomicU64,
    pub output_length: AtomicU64,
    pub output_us: AtomicU64,
}

impl IoStats {
    pub fn read(&self, bytes: usize, since: Option<std::time::Instant>) {
        self.input_reads.fetch_add(1, Ordering::Relaxed);
        self.input_length.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some(since) = since {
            self.input_us.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
    pub fn wrote(&self, bytes: u64, since: Option<std::time::Instant>) {
        self.output_writes.fetch_add(1, Ordering::Relaxed);
        self.output_length.fetch_add(bytes, Ordering::Relaxed);
        if let Some(since) = since {
            self.output_us.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
}

struct Inner {
    channel: Box<dyn Channel>,
    stats: IoStats,
    live: AtomicBool,
    thread: ThreadId,
}

#[derive(Clone)]
pub struct RequestHandle(Arc<Inner>);

impl RequestHandle {
    pub fn new(channel: Box<dyn Channel>) -> RequestHandle {
        RequestHandle(Arc::new(Inner { channel, stats: IoStats::default(), live: AtomicBool::new(true), thread: std::thread::current().id() }))
    }

    /// The channel, if the request is still running and this is its thread.
    pub fn get(&self) -> Option<&dyn Channel> {
        if self.0.live.load(Ordering::Acquire) && std::thread::current().id() == self.0.thread {
            Some(self.0.channel.as_ref())
        } else {
            None
        }
    }

    /// Like [`get`](Self::get), as a Python error for the object named `what`.
    pub fn require(&self, what: &str) -> PyResult<&dyn Channel> {
        self.get().ok_or_else(|| {
            if self.0.live.load(Ordering::Acquire) {
                PyOSError::new_err(format!("{what} used from a thread other than the request's"))
            } else {
                PyOSError::new_err(format!("{what} used after its request finished"))
            }
        })
    }

    pub fn stats(&self) -> &IoStats {
        &self.0.stats
    }

    /// Called when the request ends: later uses fail cleanly.
    pub fn expire(&self) {
        self.0.live.store(false, Ordering::Release);
    }
}
