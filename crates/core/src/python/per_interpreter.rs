//! Objects made once per interpreter: the classes and the exception that
//! applications see, the environ template. Python objects belong to the
//! interpreter that made them, so nothing of this kind may live in a Rust
//! static shared by every interpreter; this store keeps them by interpreter
//! instead, each under a [`Key`] (a static that only numbers a kind of object).
//!
//! The store holds one reference to each object. An interpreter that is ended
//! must give its objects up first, with [`forget`], while it is still current.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

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

/// An interpreter's objects, by key slot.
struct Row {
    interpreter: usize,
    objects: Vec<Option<Py<PyAny>>>,
}

/// Rows by interpreter (`PyInterpreterState` address). The lock is held only
/// to look up or insert, never while Python code runs.
static STORE: Mutex<Vec<Row>> = Mutex::new(Vec::new());

/// The current interpreter's address.
pub fn current(_py: Python<'_>) -> usize {
    // SAFETY: the thread is attached (`_py`), so it has a current interpreter.
    unsafe { ffi::PyInterpreterState_Get() as usize }
}

fn lookup<'py>(py: Python<'py>, interpreter: usize, slot: usize) -> Option<Bound<'py, PyAny>> {
    let store = STORE.lock();
    let row = store.iter().find(|r| r.interpreter == interpreter)?;
    row.objects.get(slot)?.as_ref().map(|o| o.bind(py).clone())
}

/// The current interpreter's object for `key`, made by `make` the first time.
/// Two threads may both make it; the first one stored is kept.
pub fn get_or_try_init<'py>(py: Python<'py>, key: &'static Key, make: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let interpreter = current(py);
    let slot = key.slot();
    if let Some(found) = lookup(py, interpreter, slot) {
        return Ok(found);
    }
    let made = make(py)?;
    let mut store = STORE.lock();
    let index = match store.iter().position(|r| r.interpreter == interpreter) {
        Some(i) => i,
        None => {
            store.push(Row { interpreter, objects: Vec::new() });
            store.len() - 1
        }
    };
    let objects = &mut store[index].objects;
    if objects.len() <= slot {
        objects.resize_with(slot + 1, || None);
    }
    match &objects[slot] {
        Some(earlier) => Ok(earlier.bind(py).clone()),
        None => {
            objects[slot] = Some(made.clone().unbind());
            Ok(made)
        }
    }
}

/// Drops the current interpreter's objects (before it is ended); they are
/// released here, in their own interpreter. Later uses make them again.
pub fn forget(py: Python<'_>) {
    let interpreter = current(py);
    let row = {
        let mut store = STORE.lock();
        store.iter().position(|r| r.interpreter == interpreter).map(|i| store.swap_remove(i))
    };
    drop(row);
}
