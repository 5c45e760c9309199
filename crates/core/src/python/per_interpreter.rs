//! Objects made once per interpreter: the classes and the exception that
//! applications see, the environ template. Python objects belong to the
//! interpreter that made them, so nothing of this kind may live in a Rust
//! static shared by every interpreter; this store keeps them by interpreter
//! instead, each under a [`Key`] (a static that only numbers a kind of object).
//!
//! The store holds one reference to each object; finding one is a
//! thread-local check and an atomic load (it is on every request's path). An interpreter that is ended
//! must give its objects up first, with [`forget`], while it is still current.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, Ordering::Relaxed};

use parking_lot::Mutex;
use pyo3::ffi;
use pyo3::prelude::*;

/// Names one kind of object made in every interpreter.
pub struct Key(AtomicUsize);

/// Keys numbered so far (a key's number is its slot in each interpreter's row).
static NUMBERED: AtomicUsize = AtomicUsize::new(0);

impl Key {
    pub const fn new() -> Key {
        Key(AtomicUsize::new(usize::MAX))
    }

    fn slot(&self) -> usize {
        let slot = self.0.load(Relaxed);
        if slot != usize::MAX {
            return slot;
        }
        let fresh = NUMBERED.fetch_add(1, Relaxed);
        match self.0.compare_exchange(usize::MAX, fresh, Relaxed, Relaxed) {
            Ok(_) => fresh,
            Err(taken) => taken,
        }
    }
}

impl Default for Key {
    fn default() -> Key {
        Key::new()
    }
}

/// The most keys there may be (each is a slot in every interpreter's row).
const SLOTS: usize = 32;

/// An interpreter's objects, by key slot: a reference owned by the row, or NULL.
struct Row {
    objects: [AtomicPtr<ffi::PyObject>; SLOTS],
}

/// Rows by interpreter (`PyInterpreterState` address). A row is never freed:
/// [`forget`] empties it, and an interpreter made later at the same address
/// uses it again; so a row found once stays valid for the thread to keep.
static ROWS: Mutex<Vec<(usize, &'static Row)>> = Mutex::new(Vec::new());

thread_local! {
    // The row of the interpreter this thread last asked for (requests mostly
    // stay in one). A plain Cell: no destructor, which would pin the DSO.
    static LAST: Cell<(usize, *const Row)> = const { Cell::new((0, std::ptr::null())) };
}

/// The current interpreter's address.
pub fn current(_py: Python<'_>) -> usize {
    // SAFETY: the thread is attached (`_py`), so it has a current interpreter.
    unsafe { ffi::PyInterpreterState_Get() as usize }
}

fn row(py: Python<'_>) -> &'static Row {
    let interpreter = current(py);
    let (last, row) = LAST.with(Cell::get);
    if last == interpreter && !row.is_null() {
        // SAFETY: rows are leaked, never freed.
        return unsafe { &*row };
    }
    let row = {
        let mut rows = ROWS.lock();
        match rows.iter().find(|(i, _)| *i == interpreter) {
            Some(&(_, row)) => row,
            None => {
                let row: &'static Row = Box::leak(Box::new(Row { objects: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())) }));
                rows.push((interpreter, row));
                row
            }
        }
    };
    LAST.with(|last| last.set((interpreter, row)));
    row
}

/// The current interpreter's object for `key`, made by `make` the first time.
/// Two threads may both make it; the first one stored is kept.
pub fn get_or_try_init<'py>(py: Python<'py>, key: &'static Key, make: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let slot = key.slot();
    if slot >= SLOTS {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!("internal error: more than {SLOTS} kinds of per-interpreter objects")));
    }
    let cell = &row(py).objects[slot];
    let found = cell.load(Ordering::Acquire);
    if !found.is_null() {
        // SAFETY: the row holds a reference to it; only this interpreter's
        // threads, holding its GIL, reach this slot (or empty it).
        return Ok(unsafe { Bound::from_borrowed_ptr(py, found) });
    }
    let made = make(py)?;
    match cell.compare_exchange(std::ptr::null_mut(), made.as_ptr(), Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            let for_caller = made.clone();
            // The row keeps this reference (until `forget`).
            let _ = made.into_ptr();
            Ok(for_caller)
        }
        // SAFETY: as above, for the object another thread stored first.
        Err(earlier) => Ok(unsafe { Bound::from_borrowed_ptr(py, earlier) }),
    }
}

/// Empties the current interpreter's row (before the interpreter is ended);
/// the objects are released here, in their own interpreter. Later uses in an
/// interpreter at the same address make them again.
pub fn forget(py: Python<'_>) {
    for cell in &row(py).objects {
        let object = cell.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !object.is_null() {
            // SAFETY: the row's own reference, given up with the GIL held.
            unsafe { ffi::Py_DECREF(object) };
        }
    }
}
