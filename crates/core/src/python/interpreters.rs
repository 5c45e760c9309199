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
//! At process exit (`shutdown.rs`) each sub-interpreter is ended here, once no
//! thread of ours can run Python again: the thread states our threads made in
//! it are deleted first (CPython ends an interpreter only from its last thread
//! state), and an interpreter in which a thread of its own (a Python daemon
//! thread) still runs is left alone, since deleting that thread's state would
//! crash it when it wakes.

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

/// Every thread state our threads made, as (interpreter, thread state), the
/// main interpreter's (each thread's PyGILState one) included: what is deleted
/// before an interpreter is ended.
static OURS: Mutex<Vec<(Addr, Addr)>> = Mutex::new(Vec::new());

/// Records this thread's state in the main interpreter (`thread.rs`, and the
/// state Python started with).
pub(crate) fn remember_main(tstate: *mut ffi::PyThreadState) {
    // SAFETY: a live thread state, only read for its interpreter.
    let interp = unsafe { ffi::PyThreadState_GetInterpreter(tstate) } as Addr;
    let mut ours = OURS.lock();
    if !ours.contains(&(interp, tstate as Addr)) {
        ours.push((interp, tstate as Addr));
    }
}

/// At process exit, once no other thread of ours can run Python again
/// (`shutdown.rs` closes the way in first): clears and deletes the thread
/// states our other threads have in the current interpreter. Besides being
/// what ending an interpreter needs, it is what lets `threading` join its
/// threads: it waits for the thread that first imported it (one of ours) until
/// that thread's state is deleted.
pub(crate) fn delete_other_states(_py: Python<'_>) {
    // SAFETY: the GIL is held (the token), so some state is current.
    let current = unsafe { ffi::PyThreadState_Get() };
    // SAFETY: as above.
    let interp = unsafe { ffi::PyThreadState_GetInterpreter(current) } as Addr;
    let others: Vec<Addr> = {
        let mut ours = OURS.lock();
        let others = ours.iter().filter(|&&(i, t)| i == interp && t != current as Addr).map(|&(_, t)| t).collect();
        ours.retain(|&(i, t)| i != interp || t == current as Addr);
        others
    };
    for t in others {
        let t = t as *mut ffi::PyThreadState;
        // SAFETY: a state of the current interpreter, not current, whose thread
        // can no longer run Python (the caller's guarantee); cleared with this
        // interpreter current, as CPython clears stale states.
        unsafe {
            ffi::PyThreadState_Clear(t);
            ffi::PyThreadState_Delete(t);
        }
    }
}

/// What runs in an interpreter just before it is ended or finalised, with it
/// current (for example, to drop what is cached for it).
static END_HOOKS: Mutex<Vec<fn(Python<'_>)>> = Mutex::new(Vec::new());

/// Adds `hook` to what runs in each interpreter (sub-interpreters and the main
/// one) just before it is ended at process exit, with that interpreter current
/// and the GIL held. Nothing runs in the interpreter after the hook but
/// CPython's own teardown.
pub fn on_end(hook: fn(Python<'_>)) {
    END_HOOKS.lock().push(hook);
}

/// Runs the end hooks in the current interpreter.
pub(crate) fn run_end_hooks(py: Python<'_>) {
    let hooks = END_HOOKS.lock().clone();
    for hook in hooks {
        hook(py);
    }
}

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
    });
    OURS.lock().push((interp, tstate));
}

fn forget(interp: Addr) {
    STATES.with(|states| {
        if !states.get().is_null() {
            // SAFETY: this thread's own vector.
            unsafe { &mut *states.get() }.retain(|(i, _)| *i != interp);
        }
    });
    OURS.lock().retain(|(i, _)| *i != interp);
    GROUPS.lock().retain(|(_, i)| *i != interp);
}

/// Switched into a sub-interpreter; dropping it switches back.
pub struct Entered {
    previous: *mut ffi::PyThreadState,
}

impl Entered {
    /// Ends the interpreter this switched into (the application group
    /// `group`) and switches back, after [`delete_other_states`]: CPython ends
    /// it from this thread's state, which must be its last. If a thread of its
    /// own is still running (a Python daemon thread), it is left as it is and
    /// their count is returned.
    pub(crate) fn end(self, py: Python<'_>, group: &str) -> Result<(), usize> {
        // SAFETY: the GIL is held and this thread's state in the interpreter is current.
        let current = unsafe { ffi::PyThreadState_Get() };
        // SAFETY: as above; the interpreter is live while one of its states is current.
        let interp = unsafe { ffi::PyThreadState_GetInterpreter(current) };
        let mut others = 0;
        // SAFETY: the GIL is held, so no thread state of this interpreter is
        // made or deleted while the list is walked.
        let mut t = unsafe { ffi::PyInterpreterState_ThreadHead(interp) };
        while !t.is_null() {
            others += usize::from(t != current);
            // SAFETY: as above.
            t = unsafe { ffi::PyThreadState_Next(t) };
        }
        if others > 0 {
            return Err(others);
        }
        run_end_hooks(py);
        tracing::info!(pid = true, "Destroy interpreter '{group}'.");
        // SAFETY: `current` is now the interpreter's only thread state and has no
        // frame (nothing of Python is running on this thread); afterwards no
        // state is current and the GIL is still held.
        unsafe { ffi::Py_EndInterpreter(current) };
        let previous = self.previous;
        std::mem::forget(self);
        // SAFETY: back to this thread's state from before the switch, GIL held.
        unsafe { ffi::PyThreadState_Swap(previous) };
        forget(interp as Addr);
        Ok(())
    }
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
