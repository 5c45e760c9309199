//! Python at process exit (an Apache child's exit, a daemon process's).
//!
//! Every interpreter runs its `subscribe_shutdown()` callbacks and its
//! `atexit` callbacks, sub-interpreters first, as mod_wsgi does. With
//! `WSGIDestroyInterpreter On` (the default) each sub-interpreter is then
//! ended (its non-daemon threads joined, its modules and objects released, so
//! finalisers run) and Python is finalised, but only when that is safe: no
//! thread of ours is running Python, and none can start again (the way in,
//! `Inside`, is closed first). When it is not safe this exit only runs the
//! callbacks, as with `Off`.
//!
//! The whole sequence runs on a helper thread and the exiting thread waits for
//! it for a bounded time: a step that does not finish (a non-daemon thread
//! that never ends, a callback that blocks) is named in the log and the
//! process exits without finishing, so an exit never hangs.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::ffi;
use pyo3::prelude::*;

use super::interpreters;

/// Set in `USERS` once the exit has begun: no thread of ours starts running
/// Python after it (the exit's own helper aside).
const CLOSED: usize = 1 << (usize::BITS - 1);

/// How many threads of ours are inside [`Inside`] now, plus `CLOSED`.
static USERS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // How deeply this thread is inside `Inside` (plain Cells: no destructor).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    // The exit's helper thread, which may run Python after the way in closed.
    static EXEMPT: Cell<bool> = const { Cell::new(false) };
}

/// This thread may run Python while it holds this: every entry into Python of
/// ours (`python::attach`) takes one. Once the exit has closed the way in, a
/// thread that was not already inside never returns from `enter`: the
/// process is exiting and Python may be finalised under it.
pub(crate) struct Inside(());

impl Inside {
    pub(crate) fn enter() -> Inside {
        let admitted = DEPTH.with(|depth| {
            let outermost = depth.get() == 0;
            if outermost && USERS.fetch_add(1, Ordering::SeqCst) & CLOSED != 0 && !EXEMPT.get() {
                USERS.fetch_sub(1, Ordering::SeqCst);
                return false;
            }
            depth.set(depth.get() + 1);
            true
        });
        if !admitted {
            loop {
                std::thread::park();
            }
        }
        Inside(())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|depth| {
            depth.set(depth.get() - 1);
            if depth.get() == 0 {
                USERS.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
}

/// Closes the way into Python and waits up to `wait` for the threads still
/// inside to leave; the error says why finalising is not safe.
fn close(wait: Duration) -> Result<(), String> {
    if DEPTH.get() > 0 {
        // Prefork's SIGTERM handler exits the child from whatever its one
        // thread was doing, a request included.
        return Err("the exit interrupted this thread's own request".into());
    }
    USERS.fetch_or(CLOSED, Ordering::SeqCst);
    let deadline = Instant::now() + wait;
    loop {
        let inside = USERS.load(Ordering::SeqCst) & !CLOSED;
        if inside == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{inside} request thread(s) are still running Python"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the exit sequence for the process (`reason` is what the shutdown
/// callbacks are told), finalising when `destroy` and safe, within `limit`.
pub fn at_exit(reason: &str, destroy: bool, limit: Duration) {
    // SAFETY: plain query.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return;
    }
    let started = Instant::now();
    let finalise = destroy
        // Only a thread between two quick steps can still be inside here: the
        // MPMs have joined their workers, a daemon has drained.
        && match close((limit / 4).min(Duration::from_millis(100))) {
            Ok(()) => true,
            Err(why) => {
                tracing::debug!(pid = true, "Python is not finalised at this exit ({why}); the exit callbacks still run");
                false
            }
        };
    let step = Arc::new(Mutex::new(String::from("starting the exit")));
    let (tx, rx) = mpsc::channel();
    let (reason, at) = (reason.to_string(), step.clone());
    let spawned = crate::guard::spawn("rwsgi-exit", None, move || {
        EXEMPT.set(true);
        sequence(&reason, finalise, &at);
        let _ = tx.send(());
    });
    if let Err(e) = spawned {
        tracing::error!(pid = true, "cannot start the exit thread ({e}); exiting without the exit callbacks");
        return;
    }
    if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit.saturating_sub(started.elapsed())) {
        let step = step.lock().clone();
        if finalise {
            tracing::warn!(pid = true, "shutdown step '{step}' did not finish within {:.0}s; exiting without finishing the shutdown", limit.as_secs_f64());
            // SAFETY: Python is being finalised on the helper thread: returning
            // would run the rest of the process's exit beside it.
            unsafe { libc::_exit(0) };
        }
        tracing::warn!(pid = true, "exit callbacks did not finish within {:.0}s (at: {step}); exiting anyway", limit.as_secs_f64());
    }
}

/// Every interpreter's callbacks first (so one whose threads never end
/// cannot keep the others' from running), then, when finalising, each
/// sub-interpreter is ended and Python finalised.
fn sequence(reason: &str, finalise: bool, step: &Mutex<String>) {
    let at = |s: String| *step.lock() = s;
    let mut all_ended = true;
    crate::python::attach(|py| {
        let groups = interpreters::groups();
        for group in groups.iter().map(String::as_str).chain([""]) {
            match interpreters::enter(py, group) {
                Ok(_entered) => callbacks(py, group, reason, &at),
                Err(e) => tracing::error!("{e}"),
            }
        }
        if !finalise {
            return;
        }
        for group in &groups {
            let entered = match interpreters::enter(py, group) {
                Ok(Some(entered)) => entered,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!("{e}");
                    all_ended = false;
                    continue;
                }
            };
            interpreters::delete_other_states(py);
            join_threads(py, group, &at);
            at(format!("ending interpreter '{group}'"));
            if let Err(threads) = entered.end(py, group) {
                all_ended = false;
                tracing::info!(
                    pid = true,
                    "interpreter '{group}' is not ended: {threads} thread(s) of its own (Python daemon threads) still run, and ending it would crash them; Python is not finalised either"
                );
            }
        }
        if all_ended {
            interpreters::delete_other_states(py);
            join_threads(py, "", &at);
            at("end hooks of the main interpreter".into());
            interpreters::run_end_hooks(py);
        }
    });
    if finalise && all_ended {
        at("finalising Python".into());
        tracing::info!(pid = true, "Terminating Python.");
        // SAFETY: this thread's own main-interpreter state (made by the attach
        // above, kept for the thread's life) takes the GIL back; nothing of ours
        // runs Python after this (the way in is closed and this thread touches
        // Python no more), as Py_FinalizeEx requires.
        let status = unsafe {
            ffi::PyEval_RestoreThread(ffi::PyGILState_GetThisThreadState());
            ffi::Py_FinalizeEx()
        };
        if status != 0 {
            tracing::debug!(pid = true, "Python could not flush its standard streams while finalising");
        }
        tracing::info!(pid = true, "Python has shut down.");
    }
}

fn describe(group: &str) -> String {
    if group.is_empty() { "the main interpreter".to_string() } else { format!("interpreter '{group}'") }
}

/// The current interpreter's (`group`) exit callbacks: the shutdown
/// subscribers, then `atexit`'s (mod_wsgi's order, before any thread is
/// joined: an atexit callback can still tell a thread to stop).
fn callbacks(py: Python<'_>, group: &str, reason: &str, at: &impl Fn(String)) {
    at(format!("shutdown callbacks in {}", describe(group)));
    if let Err(e) = py.import("mod_wsgi").and_then(|m| m.call_method1("_process_stopping", (reason,))) {
        tracing::error!(application = group, "shutdown callbacks failed: {e}");
    }
    at(format!("atexit callbacks in {}", describe(group)));
    if let Err(e) = py.import("atexit").and_then(|m| m.call_method0("_run_exitfuncs")) {
        tracing::error!(application = group, "atexit callbacks failed: {e}");
    }
}

/// Joins the current interpreter's non-daemon threads, as CPython does
/// before it ends an interpreter (here first, so that the wait is a step of
/// its own for the watchdog, and the daemon threads left are what counts).
fn join_threads(py: Python<'_>, group: &str, at: &impl Fn(String)) {
    at(format!("waiting for the non-daemon threads of {}", describe(group)));
    let threading = py.import("sys").and_then(|sys| sys.getattr("modules")).and_then(|m| m.get_item("threading")).ok();
    if let Some(threading) = threading
        && let Err(e) = threading.call_method0("_shutdown")
    {
        // threading._shutdown asserts on the state of the thread that first
        // imported threading in this interpreter, which can be one of ours
        // already deleted; the non-daemon threads are then joined here (the
        // watchdog still bounds the wait).
        tracing::debug!(application = group, "threading._shutdown failed ({e}); joining the non-daemon threads directly");
        let join = c"import threading as t\nfor x in t.enumerate():\n    if x is not t.main_thread() and x is not t.current_thread() and not x.daemon:\n        x.join()\n";
        if let Err(e) = py.run(join, None, None) {
            tracing::error!(application = group, "joining the threads failed: {e}");
        }
    }
}
