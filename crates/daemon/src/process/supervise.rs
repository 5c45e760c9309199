//! The daemon process's main thread once serving: waits for signals and
//! recycling triggers (maximum-requests, restart-interval, inactivity,
//! startup, deadlock and request timeouts), then drains the process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::connection::Connection;
use super::state::{Active, State};
use super::setup;
use crate::python;

/// The main thread: waits for a signal or a recycling trigger, then drains.
pub(super) fn supervise(state: &Arc<State>) -> i32 {
    let o = &state.group.options;
    let signals = setup::signal_pipe();
    let mut drain = o.graceful_timeout;
    let mut refreshed = Instant::now() - Duration::from_secs(2);
    loop {
        if refreshed.elapsed() >= Duration::from_secs(1) {
            crate::metrics::refresh();
            check_memory(state);
            refreshed = Instant::now();
        }
        let mut pfd = libc::pollfd { fd: signals, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd (or -1, which poll ignores).
        unsafe { libc::poll(&mut pfd, 1, 100) };
        let mut buf = [0u8; 16];
        // SAFETY: reading the non-blocking signal pipe into a local buffer.
        let n = unsafe { libc::read(signals, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        for &sig in &buf[..n.max(0) as usize] {
            match sig as i32 {
                libc::SIGTERM | libc::SIGINT => {
                    drain = o.shutdown_timeout.min(Duration::from_millis(2500));
                    state.request_shutdown("shutdown signal");
                }
                libc::SIGUSR1 | libc::SIGHUP => {
                    drain = o.eviction_timeout.unwrap_or(o.graceful_timeout);
                    state.request_shutdown("graceful signal");
                }
                libc::SIGXCPU => state.request_shutdown("cpu-time-limit"),
                _ => {}
            }
        }
        check_triggers(state);
        if let Some(reason) = *state.reason.lock() {
            // A request stuck past request-timeout holds its thread: waiting
            // graceful-timeout for it would keep the group unavailable when all
            // its threads are stuck. As mod_wsgi does, the process restarts
            // within shutdown-timeout.
            if reason == "request-timeout" {
                drain = drain.min(o.shutdown_timeout);
            }
            tracing::info!("shutting down ({reason}); draining for up to {:.1}s", drain.as_secs_f64());
            break;
        }
    }
    state.stopping.store(true, Ordering::Release);
    // Kept connections are closed at once: their children send new requests elsewhere.
    for connection in state.poller.close() {
        connection.goodbye();
    }
    let deadline = Instant::now() + drain;
    while state.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = state.active.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!("{left} request(s) still running at the end of the drain; exiting");
    }
    let reason = state.reason.lock().unwrap_or("shutdown signal").replace([' ', '-'], "_");
    crate::metrics::stopping(&reason);
    // Request threads still in a request keep Python from being finalised
    // (python::shutdown checks); the others never run Python again.
    python::shutdown::at_exit(&reason, state.group.python.destroy_interpreter != Some(false), Duration::from_secs(2));
    0
}

/// How full memory-limit= (RLIMIT_DATA) or virtual-memory-limit= (RLIMIT_AS)
/// may get before the process is recycled, in percent. An allocation the
/// limit refuses never counts, so a process gets this close only by holding
/// the memory (a leak, a cache without bound); from there each allocation
/// risks a MemoryError, and a fresh process serves better.
const MEMORY_LIMIT_FULL_PERCENT: u64 = 95;

/// The process's data size (what RLIMIT_DATA limits) and virtual size (RLIMIT_AS), in bytes.
fn memory_sizes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |field: &str| {
        status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((kib("VmData:")? * 1024, kib("VmSize:")? * 1024))
}

/// memory-limit= / virtual-memory-limit=: a process whose memory has reached
/// `MEMORY_LIMIT_FULL_PERCENT` of its limit restarts gracefully.
fn check_memory(state: &State) {
    let o = &state.group.options;
    if o.memory_limit.is_none() && o.virtual_memory_limit.is_none() {
        return;
    }
    let Some((data, size)) = memory_sizes() else { return };
    let full = |used: u64, limit: Option<u64>| limit.is_some_and(|l| used.saturating_mul(100) >= l.saturating_mul(MEMORY_LIMIT_FULL_PERCENT));
    for (name, used, limit) in [("memory-limit", data, o.memory_limit), ("virtual-memory-limit", size, o.virtual_memory_limit)] {
        if full(used, limit) && state.reason.lock().is_none() {
            tracing::warn!(
                "the process holds {} MiB, {MEMORY_LIMIT_FULL_PERCENT}% or more of its {name} of {} MiB; restarting it",
                used >> 20,
                limit.unwrap_or(0) >> 20
            );
            state.request_shutdown("memory-limit");
        }
    }
}

fn check_triggers(state: &Arc<State>) {
    let o = &state.group.options;
    let now = state.now_ms();
    if o.maximum_requests > 0 && state.served.load(Ordering::Relaxed) >= o.maximum_requests {
        state.request_shutdown("maximum-requests");
    }
    if let Some(t) = o.restart_interval
        && state.started.elapsed() >= t
    {
        state.request_shutdown("restart-interval");
    }
    if let Some(t) = o.inactivity_timeout
        && state.active.load(Ordering::Relaxed) == 0
        && now.saturating_sub(state.last_activity_ms.load(Ordering::Relaxed)) >= t.as_millis() as u64
    {
        state.request_shutdown("inactivity-timeout");
    }
    // startup-timeout: the script has not once loaded and run successfully
    // within that long of the first request.
    let first = state.first_request_ms.load(Ordering::Relaxed);
    if let Some(t) = o.startup_timeout
        && first > 0
        && state.succeeded.load(Ordering::Relaxed) == 0
        && now.saturating_sub(first - 1) >= t.as_millis() as u64
    {
        state.request_shutdown("startup-timeout");
    }
    if o.deadlock_timeout > Duration::ZERO {
        let beat = state.heartbeat_ms.load(Ordering::Relaxed);
        if beat > 0 && now.saturating_sub(beat) >= o.deadlock_timeout.as_millis() as u64 {
            crate::crit!("Python's GIL has been held for longer than deadlock-timeout; exiting");
            crate::metrics::stopping("deadlock_timeout");
            // SAFETY: the interpreter is stuck; nothing can be drained.
            unsafe { libc::_exit(1) };
        }
    }
    if let Some(t) = o.request_timeout {
        // interrupt-timeout: first raise RequestTimeout in the stuck thread; only if it
        // has not unwound after interrupt-timeout does the request get cut off below.
        if let Some(grace) = o.interrupt_timeout {
            for slot in &state.slots {
                let mut slot = slot.lock();
                if let Some(active) = slot.as_mut().filter(|a| a.since.elapsed() >= t && a.interrupted.is_none()) {
                    active.interrupted = Some(Instant::now());
                    tracing::error!("request exceeded request-timeout of {:.0}s; interrupting it", t.as_secs_f64());
                    interrupt(active.python_thread, active.application_group.clone());
                }
            }
            let unwound_late = |a: &Active| a.interrupted.is_some_and(|at| at.elapsed() >= grace);
            if !state.slots.iter().any(|s| s.lock().as_ref().is_some_and(unwound_late)) {
                return;
            }
        }
        let stuck: Vec<(usize, Arc<Connection>, u64)> = state
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.lock().as_ref().filter(|a| a.since.elapsed() >= t).map(|a| (i, a.connection.clone(), a.python_thread)))
            .filter(|(_, c, _)| !c.timed_out.swap(true, Ordering::AcqRel))
            .collect();
        if !stuck.is_empty() {
            for (thread, connection, _) in &stuck {
                tracing::error!("request on thread {thread} exceeded request-timeout of {:.0}s; answering 504 and recycling the process", t.as_secs_f64());
                connection.fail_unstarted(504);
            }
            dump_stacks(state);
            state.request_shutdown("request-timeout");
        }
    }
}

/// Raises mod_wsgi.RequestTimeout in the Python thread `ident`, in the
/// interpreter of `group` that its request runs in (from a helper thread, so
/// a thread holding the GIL cannot stall the main thread). CPython looks the
/// thread up in the current interpreter only; its states in the others must
/// be left alone, or their next request would be interrupted.
fn interrupt(ident: u64, group: String) {
    let _ = crate::guard::spawn("rwsgi-interrupt", None, move || {
        let raised = python::attach_in(&group, |py| match crate::wsgi::request_timeout(py) {
            // SAFETY: the GIL is held; the exception type is a live type object.
            Ok(exc) => unsafe {
                pyo3::ffi::PyThreadState_SetAsyncExc(ident as std::ffi::c_long, exc.as_ptr());
            },
            Err(e) => tracing::error!("cannot raise RequestTimeout: {e}"),
        });
        if let Err(e) = raised {
            tracing::error!("cannot raise RequestTimeout: {e}");
        }
    });
}

/// Logs the Python stack of every thread, from a helper thread so that a
/// thread holding the GIL cannot stall the main thread for more than a moment.
fn dump_stacks(state: &Arc<State>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let _group = state.group.clone();
    let _ = crate::guard::spawn("rwsgi-stacks", None, move || {
        let lines: Vec<String> = python::attach(|py| {
            let code = c"import sys, threading, traceback\nnames = {t.ident: t.name for t in threading.enumerate()}\nout = []\nfor ident, frame in sys._current_frames().items():\n    out.append('Thread %s (%s):' % (ident, names.get(ident, '?')))\n    out.extend(l.rstrip() for chunk in traceback.format_stack(frame) for l in chunk.splitlines())\n";
            let globals = pyo3::types::PyDict::new(py);
            match py.run(code, Some(&globals), None) {
                Ok(()) => globals.get_item("out").ok().flatten().and_then(|o| o.extract().ok()).unwrap_or_default(),
                Err(e) => vec![format!("cannot collect Python stacks: {e}")],
            }
        });
        for line in lines {
            tracing::error!("{}", line);
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_sizes_are_read_from_proc() {
        let (data, size) = super::memory_sizes().expect("/proc/self/status has VmData and VmSize");
        assert!(data > 0 && data <= size, "{data} {size}");
    }
}
