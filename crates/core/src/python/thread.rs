//! One Python thread state per Apache worker thread, kept for the thread's life.
//!
//! pyo3's `Python::attach` uses `PyGILState_Ensure`/`Release`; on a thread that
//! Python did not create, the release at the end of every request would delete
//! the thread state, losing `threading.local` data and costing a new state per
//! request. Ensuring once and never releasing keeps the state's counter above
//! zero, so later attaches reuse it.

use std::cell::Cell;

use pyo3::Python;
use pyo3::ffi;

thread_local! {
    // A plain Cell: no destructor is registered, so touching this never pins the DSO.
    static PINNED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the GIL held on this thread's long-lived thread state.
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    let _inside = super::shutdown::Inside::enter();
    PINNED.with(|pinned| {
        if !pinned.get() {
            // SAFETY: Python is initialised (child_init ran before any request thread
            // exists) and this thread holds no thread state yet. Ensure creates the
            // state with a count of 1; SaveThread releases the GIL but keeps the state.
            unsafe {
                ffi::PyGILState_Ensure();
                super::interpreters::remember_main(ffi::PyThreadState_Get());
                ffi::PyEval_SaveThread();
            }
            pinned.set(true);
        }
    });
    Python::attach(f)
}

/// Runs `f` with the GIL held in the interpreter of application group
/// `group` (`""` is the main interpreter), on this thread's long-lived state
/// in it; an error if the group's interpreter cannot be created.
pub fn attach_in<R>(group: &str, f: impl for<'py> FnOnce(Python<'py>) -> R) -> Result<R, String> {
    attach(|py| {
        let _entered = super::interpreters::enter(py, group)?;
        Ok(f(py))
    })
}
