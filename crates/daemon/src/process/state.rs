//! What a daemon process's threads share: counters, the per-thread request
//! slots that request-timeout watches, and the reason it is stopping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Instant;

use parking_lot::Mutex;

use super::connection::Connection;
use super::poller::Poller;
use crate::group::Group;

/// Shared by the request threads and the main thread.
pub struct State {
    pub group: Arc<Group>,
    pub poller: Poller,
    pub stopping: AtomicBool,
    pub active: AtomicUsize,
    pub served: AtomicU64,
    /// Requests taken for serving (reserved before the request is read, for maximum-requests).
    pub taken: AtomicU64,
    pub succeeded: AtomicU64,
    /// Milliseconds since `started` (plus one, so 0 means none) of the first request.
    pub first_request_ms: AtomicU64,
    /// Milliseconds since `started` of the last request's end (inactivity-timeout).
    pub last_activity_ms: AtomicU64,
    pub started: Instant,
    /// What each request thread is serving.
    pub slots: Vec<Mutex<Option<Active>>>,
    pub reason: Mutex<Option<&'static str>>,
    /// Refreshed by a thread that takes the GIL every second (deadlock-timeout).
    pub heartbeat_ms: AtomicU64,
    /// This process's pid, sent with every response's End frame.
    pub pid: u32,
}

/// A request in progress on a thread.
pub struct Active {
    pub since: Instant,
    pub connection: Arc<Connection>,
    /// Python's identifier of the thread (threading.get_ident()).
    pub python_thread: u64,
    /// The application group the request runs in: the thread has a state in
    /// several interpreters, and only this one's may be interrupted.
    pub application_group: String,
    /// When interrupt-timeout's exception was injected, if it was.
    pub interrupted: Option<Instant>,
}

impl State {
    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Asks the process to stop for `reason` (the first reason wins).
    pub fn request_shutdown(&self, reason: &'static str) {
        let mut r = self.reason.lock();
        if r.is_none() {
            *r = Some(reason);
        }
    }
}
