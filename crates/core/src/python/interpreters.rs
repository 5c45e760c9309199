//! Application groups as Python interpreters, as mod_wsgi has them: the
//! group `""` (`%{GLOBAL}`) is the main interpreter; every other group is a
//! sub-interpreter of its own, created in this process the first time a
//! request (or a WSGIImportScript, or an auth/access/dispatch script) needs it.
//!
//! Each thread keeps one thread state per interpreter it has run code in, for
//! the thread's life (so `threading.local` data persists per interpreter). In
//! the main interpreter that is the thread's own `PyGILState` state (see
//! `thread.rs`), which is what C extensions calling `PyGILState_Ensure` from
//! their own code expect. On Python 3.11 every interpreter shares the one GIL:
//! running code in a sub-interpreter is attaching to the main interpreter as
//! usual and swapping the current thread state, which is cheap, and the GIL is
//! released around blocking calls exactly as in the main interpreter
//! (`Python::detach` saves and restores whichever state is current).
//!
//! Interpreters are never ended: at exit each one runs its `atexit` and
//! `subscribe_shutdown` callbacks (`interpreter::run_exit_functions`), and the
//! process then exits without finalising anything, which cannot hang on, or
//! crash under, request threads that still hold thread states.

use std::cell::Cell;

use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use pyo3::ffi;
use pyo3::prelude::*;

/// What a new interpreter is given before anything else runs in it (the
/// process's Python settings, stdio, the `mod_wsgi` and `apache` modules);
/// called with the interpreter's group name.
pub type Setup = dyn Fn(Python<'_>, &str) -> PyResult<()> + Send + Sync;

static SETUP: OnceCell<Box<Setup>> = OnceCell::new();

/// Records what every interpreter of this process is set up with (the main
/// one at start-up, each sub-interpreter when it is created).
pub fn set_setup(setup: Box<Setup>) {
    if SETUP.set(setup).is_err() {
        tracing::error!("internal error: the interpreter set-up was recorded twice");
    }
}

/// Runs the recorded set-up in the current interpreter.
pub(crate) fn run_setup(py: Python<'_>, group: &str) -> PyResult<()> {
    match SETUP.get() {
        Some(setup) => setup(py, group),
        None => Ok(()),
    }
}

/// A `PyInterpreterState*` or `PyThreadState*` kept as an address: they are
/// only dereferenced by CPython, with the GIL held.
type Addr = usize;

/// The sub-interpreters of this process, by application group, in the order
/// they were created.
static GROUPS: Mutex<Vec<(String, Addr)>> = Mutex::new(Vec::new());

/// Serialises creating interpreters (a set-up can release the GIL).
static CREATING: Mutex<()> = Mutex::new(());

thread_local! {
    // (interpreter, this thread's state in it); leaked once per thread. A plain
    // Cell holding a pointer: no destructor is registered, which would pin the DSO.
    static STATES: Cell<*mut Vec<(Addr, Addr)>> = const { Cell::new(std::ptr::null_mut()) };
}

fn find(group: &str) -> Option<Addr> {
    GROUPS.lock().iter().find(|(name, _)| name == group).map(|&(_, interp)| interp)
}

/// The names of the sub-interpreters created so far.
pub fn groups() -> Vec<String> {
    GROUPS.lock().iter().map(|(name, _)| name.clone()).collect()
}

fn thread_state(interp: Addr) -> Option<Addr> {
    STATES.with(|states| {
        let states = states.get();
        // SAFETY: the vector is this thread's own (leaked below, never freed).
        (!states.is_null()).then(|| unsafe { &*states }).and_then(|v| v.iter().find(|(i, _)| *i == interp).map(|&(_, t)| t))
    })
}

fn remember(interp: Addr, tstate: Addr) {
    STATES.with(|states| {
        if states.get().is_null() {
            states.set(Box::into_raw(Box::default()));
        }
        // SAFETY: this thread's own vector, allocated just above or earlier.
        unsafe { &mut *states.get() }.push((interp, tstate));
    })
}

/// Switched into a sub-interpreter; dropping it switches back.
pub struct Entered {
    previous: *mut ffi::PyThreadState,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: the GIL is still held (the guard lives inside the attach that
        // took it) and `previous` is this thread's state that was current before.
        unsafe { ffi::PyThreadState_Swap(self.previous) };
    }
}

/// Makes `group`'s interpreter current on this thread (creating the
/// interpreter, and this thread's state in it, on first use). `""` needs no
/// switch and gives `None`.
pub fn enter(py: Python<'_>, group: &str) -> Result<Option<Entered>, String> {
    if group.is_empty() {
        return Ok(None);
    }
    let interp = match find(group) {
        Some(interp) => interp,
        None => create(py, group)?,
    };
    let tstate = match thread_state(interp) {
        Some(t) => t,
        None => {
            // SAFETY: the GIL is held and interp is a live interpreter (never ended).
            let t = unsafe { ffi::PyThreadState_New(interp as *mut ffi::PyInterpreterState) };
            if t.is_null() {
                return Err(format!("cannot create a thread state in the interpreter of application group '{group}'"));
            }
            remember(interp, t as Addr);
            t as Addr
        }
    };
    // SAFETY: the GIL is held; tstate belongs to this thread.
    let previous = unsafe { ffi::PyThreadState_Swap(tstate as *mut ffi::PyThreadState) };
    Ok(Some(Entered { previous }))
}

fn create(py: Python<'_>, group: &str) -> Result<Addr, String> {
    let _creating = loop {
        if let Some(guard) = CREATING.try_lock() {
            break guard;
        }
        py.detach(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    };
    if let Some(interp) = find(group) {
        return Ok(interp);
    }
    // SAFETY: the GIL is held with this thread's main-interpreter state current.
    let previous = unsafe { ffi::PyThreadState_Get() };
    // SAFETY: as above; on success the new interpreter's first thread state is current.
    let tstate = unsafe { ffi::Py_NewInterpreter() };
    if tstate.is_null() {
        // SAFETY: restores this thread's state (CPython does too on failure).
        unsafe { ffi::PyThreadState_Swap(previous) };
        return Err(format!("cannot create a Python sub-interpreter for application group '{group}'"));
    }
    tracing::info!(pid = true, "Create interpreter '{group}'.");
    if let Err(e) = run_setup(py, group) {
        let tb = e.traceback(py).and_then(|t| t.format().ok()).unwrap_or_default();
        tracing::error!(pid = true, "setting up the interpreter of application group '{group}' failed: {e}");
        for line in tb.lines() {
            tracing::error!(raw = true, "{line}");
        }
    }
    // SAFETY: tstate is the new, current thread state.
    let interp = unsafe { ffi::PyThreadState_GetInterpreter(tstate) } as Addr;
    remember(interp, tstate as Addr);
    // SAFETY: back to this thread's previous state, GIL still held.
    unsafe { ffi::PyThreadState_Swap(previous) };
    GROUPS.lock().push((group.to_string(), interp));
    Ok(interp)
}

/// Runs `f` in every interpreter of this process that exists now: the
/// sub-interpreters in the order they were created, then the main one (the
/// caller is attached to the main interpreter).
pub fn each(py: Python<'_>, mut f: impl FnMut(Python<'_>, &str)) {
    for group in groups() {
        match enter(py, &group) {
            Ok(_entered) => f(py, &group),
            Err(e) => tracing::error!("{e}"),
        }
    }
    f(py, "");
}
