//! A process the application forks (`os.fork()` in a request, or a C library
//! calling fork) inherits the daemon's sockets and signal handlers, but must
//! not act as the daemon: a response it wrote would reach whichever request
//! the connection carries next, and a signal sent to it would stop the
//! daemon, with which it shares the signal pipe.
//!
//! A `pthread_atfork` handler, run in every forked child before any of its own
//! code, marks the process as forked (every write the connection objects would
//! make is then refused), closes the inherited listener, epoll set and
//! connections (a close in the child leaves the parent's descriptors open; a
//! shutdown would not, so none is made), and gives the stop signals their
//! default dispositions again. If the forked process returns into the
//! daemon's request loop, it exits there.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set in a forked child only.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Descriptors a forked child closes: the connections' sockets (registered as
/// they come and go) and the process-wide ones given to [`install`]. Slots
/// rather than a locked list: the handler runs in a child where a lock held by
/// another thread at the fork would never be released. A process holds at
/// most `threads` connections, two descriptors each, far below this.
const SLOTS: usize = 4096;
static DESCRIPTORS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// Whether this process was forked from a daemon process by the application.
pub fn forked() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Descriptors registered for closing in a forked child, until dropped.
pub struct Registered {
    slots: Vec<usize>,
}

impl Registered {
    pub fn new(fds: &[i32]) -> Registered {
        let mut slots = Vec::with_capacity(fds.len());
        for &fd in fds {
            // A full table only leaves the descriptor open in a forked child,
            // where every write through it is refused anyway.
            if let Some(i) = DESCRIPTORS.iter().position(|slot| slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed).is_ok()) {
                slots.push(i);
            }
        }
        Registered { slots }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        for &i in &self.slots {
            DESCRIPTORS[i].store(-1, Ordering::Release);
        }
    }
}

/// Installs the fork handler (once per process) and registers `fds` (the
/// listener and the epoll set) for closing in a forked child.
pub fn install(fds: &[i32]) {
    std::mem::forget(Registered::new(fds));
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a handler that only stores an atomic, closes
        // descriptors and sets signal dispositions (all async-signal-safe).
        let rv = unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
        if rv != 0 {
            tracing::error!("cannot install the fork handler: {}", std::io::Error::from_raw_os_error(rv));
        }
    });
}

extern "C" fn in_forked_child() {
    FORKED.store(true, Ordering::Relaxed);
    super::setup::forget_signals();
    for slot in &DESCRIPTORS {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: closing this process's copy of a descriptor it inherited.
            unsafe { libc::close(fd) };
        }
    }
}

/// Called where a forked child would return into the daemon's own code: it
/// leaves at once, without running the daemon's shutdown.
pub fn exit_if_forked() {
    if forked() {
        // No log line: the logger's lock may have been held by another thread
        // at the fork, and would never be released in this process.
        // SAFETY: terminating the forked child; nothing of the daemon's is its to clean up.
        unsafe { libc::_exit(0) };
    }
}
