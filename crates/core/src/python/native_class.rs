//! Python classes whose instances hold a Rust value, made in each
//! interpreter that uses them.
//!
//! pyo3's `#[pyclass]` type objects are process-wide statics, which every
//! sub-interpreter would have to share. A [`Class`] is only a description (a
//! `static`): the type object is a heap type made from it with
//! `PyType_FromSpec` in each interpreter on first use, and kept in that
//! interpreter's row of [`per_interpreter`](super::per_interpreter). The same
//! Rust methods serve every interpreter.
//!
//! Every entry point CPython calls (methods, slots, dealloc) runs under the
//! panic guard: a panic becomes a `RuntimeError`, never an abort.

use std::ffi::{CStr, c_int, c_void};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use super::per_interpreter::{self, Key};

/// A method: the value, the arguments; what it returns.
pub type Method<T> = for<'a, 'py> fn(&T, Python<'py>, &Args<'a, 'py>) -> PyResult<Bound<'py, PyAny>>;
/// A read-only attribute.
pub type Getter<T> = for<'py> fn(&T, Python<'py>) -> PyResult<Bound<'py, PyAny>>;
/// `__next__`: `None` ends the iteration.
pub type Next<T> = for<'py> fn(&T, Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>>;
/// A slot that takes one object (`__getitem__`, the `__getattr__` fallback).
pub type Unary<T> = for<'py> fn(&T, Python<'py>, &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>;
/// `__contains__`.
pub type Contains<T> = for<'py> fn(&T, Python<'py>, &Bound<'py, PyAny>) -> PyResult<bool>;
/// A constructor callable from Python.
pub type New<T> = for<'a, 'py> fn(Python<'py>, &Args<'a, 'py>) -> PyResult<T>;
/// Visits the Python objects the value holds (for the cycle collector).
pub type Traverse<T> = fn(&T, &mut dyn FnMut(*mut ffi::PyObject) -> c_int) -> c_int;

/// What `iter(obj)` gives.
pub enum Iter<T: 'static> {
    None,
    /// The object is its own iterator.
    Itself,
    Call(Getter<T>),
}

/// A class's description. Its type object exists once per interpreter.
pub struct Class<T: 'static> {
    /// `module.Name`.
    pub name: &'static CStr,
    pub methods: &'static [(&'static CStr, Method<T>)],
    pub getters: &'static [(&'static CStr, Getter<T>)],
    pub call: Option<Method<T>>,
    pub iter: Iter<T>,
    pub next: Option<Next<T>>,
    pub len: Option<for<'py> fn(&T, Python<'py>) -> PyResult<usize>>,
    pub getitem: Option<Unary<T>>,
    pub contains: Option<Contains<T>>,
    pub repr: Option<for<'py> fn(&T, Python<'py>) -> PyResult<String>>,
    /// Called for attributes the class does not have (Python's `__getattr__`).
    pub getattr: Option<Unary<T>>,
    /// Without it, Python cannot make instances (only Rust can).
    pub new: Option<New<T>>,
    /// With it, instances take part in cycle collection. A value that holds
    /// Python references must have one (its drop is then run with pyo3
    /// told that the thread is attached).
    pub traverse: Option<Traverse<T>>,
    /// Set by [`class`] (public only so that struct update syntax can be used).
    pub key: Key,
    /// Set by [`class`], as `key` (made on first use, then kept for the process).
    pub tables: AtomicPtr<Tables>,
}

/// What each class needs from Rust: its description.
pub trait Native: Sized + Send + Sync + 'static {
    fn class() -> &'static Class<Self>;
}

/// A class that only Rust instantiates and that has nothing but methods;
/// the other fields are set with struct update syntax from this.
pub const fn class<T>(name: &'static CStr) -> Class<T> {
    Class {
        name,
        methods: &[],
        getters: &[],
        call: None,
        iter: Iter::None,
        next: None,
        len: None,
        getitem: None,
        contains: None,
        repr: None,
        getattr: None,
        new: None,
        traverse: None,
        key: Key::new(),
        tables: AtomicPtr::new(std::ptr::null_mut()),
    }
}

/// An instance made by [`Class::create`], whose value is known to be a `T`.
pub struct Object<'py, T> {
    obj: Bound<'py, PyAny>,
    value: std::marker::PhantomData<T>,
}

impl<'py, T: Native> Object<'py, T> {
    pub fn get(&self) -> &T {
        // SAFETY: made by Class::<T>::create, so laid out as Instance<T>.
        unsafe { value_of::<T>(self.obj.as_ptr()) }
    }

    pub fn into_any(self) -> Bound<'py, PyAny> {
        self.obj
    }
}

impl<'py, T> std::ops::Deref for Object<'py, T> {
    type Target = Bound<'py, PyAny>;
    fn deref(&self) -> &Bound<'py, PyAny> {
        &self.obj
    }
}

/// An instance: the object header, then the value.
#[repr(C)]
struct Instance<T> {
    head: ffi::PyObject,
    value: ManuallyDrop<T>,
}

/// The method and attribute tables a type object points into: made once per
/// process (CPython keeps pointers to them in every interpreter's type).
pub struct Tables {
    methods: Box<[ffi::PyMethodDef]>,
    getset: Box<[ffi::PyGetSetDef]>,
}

// SAFETY: the tables are written once, before any type object points to
// them, and only read afterwards (by CPython, with the GIL held).
unsafe impl Send for Tables {}
// SAFETY: as above.
unsafe impl Sync for Tables {}

/// The most methods a class may have (one trampoline per index).
const MAX_METHODS: usize = 12;

impl<T: Native> Class<T> {
    /// The current interpreter's type object for this class (made on first use).
    pub fn type_object<'py>(&'static self, py: Python<'py>) -> PyResult<Bound<'py, PyType>> {
        let ty = per_interpreter::get_or_try_init(py, &self.key, |py| self.make_type(py))?;
        // SAFETY: only type objects are stored under a class's key.
        Ok(unsafe { ty.cast_into_unchecked() })
    }

    /// A new instance holding `value`, of the current interpreter's type.
    pub fn create<'py>(&'static self, py: Python<'py>, value: T) -> PyResult<Object<'py, T>> {
        let ty = self.type_object(py)?;
        // SAFETY: ty is this class's type in the current interpreter; alloc
        // fills in a fresh instance of it.
        let obj = unsafe { alloc(py, ty.as_ptr().cast(), value) }?;
        Ok(Object { obj, value: std::marker::PhantomData })
    }

    /// The value of `obj` if it is an instance of this class (of the current
    /// interpreter's type: objects do not cross interpreters).
    pub fn value<'a>(&'static self, py: Python<'_>, obj: &'a Bound<'_, PyAny>) -> Option<&'a T> {
        let ty = self.type_object(py).ok()?;
        // SAFETY: obj is a live object; when its type is this class's, its
        // layout is Instance<T> with the value initialised.
        unsafe { (ffi::Py_TYPE(obj.as_ptr()) == ty.as_ptr().cast()).then(|| value_of::<T>(obj.as_ptr())) }
    }

    fn tables(&'static self) -> &'static Tables {
        let made = self.tables.load(Ordering::Acquire);
        if !made.is_null() {
            // SAFETY: published below, never freed.
            return unsafe { &*made };
        }
        let fresh = Box::into_raw(Box::new(self.make_tables()));
        match self.tables.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just published; kept for the process.
            Ok(_) => unsafe { &*fresh },
            Err(earlier) => {
                // SAFETY: fresh was never published; earlier is, for good.
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*earlier
                }
            }
        }
    }

    fn make_tables(&'static self) -> Tables {
        let mut methods: Vec<ffi::PyMethodDef> = self
            .methods
            .iter()
            .enumerate()
            .map(|(i, (name, _))| ffi::PyMethodDef {
                ml_name: name.as_ptr(),
                ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: method_trampoline::<T>(i) },
                ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
                ml_doc: std::ptr::null(),
            })
            .collect();
        methods.push(ffi::PyMethodDef::zeroed());
        let mut getset: Vec<ffi::PyGetSetDef> = self
            .getters
            .iter()
            .enumerate()
            .map(|(i, (name, _))| ffi::PyGetSetDef {
                name: name.as_ptr(),
                get: Some(getter::<T>),
                set: None,
                doc: std::ptr::null(),
                closure: i as *mut c_void,
            })
            .collect();
        getset.push(ffi::PyGetSetDef { name: std::ptr::null(), get: None, set: None, doc: std::ptr::null(), closure: std::ptr::null_mut() });
        Tables { methods: methods.into_boxed_slice(), getset: getset.into_boxed_slice() }
    }

    fn make_type<'py>(&'static self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Python's allocator aligns objects to 16 bytes.
        if self.methods.len() > MAX_METHODS || std::mem::align_of::<Instance<T>>() > 16 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "internal error: class {:?} has more than {MAX_METHODS} methods or a value aligned to more than 16 bytes",
                self.name
            )));
        }
        let tables = self.tables();
        let mut slots: Vec<ffi::PyType_Slot> = Vec::new();
        let mut slot = |slot: c_int, pfunc: *mut c_void| slots.push(ffi::PyType_Slot { slot, pfunc });
        slot(ffi::Py_tp_dealloc, dealloc::<T> as *mut c_void);
        slot(ffi::Py_tp_methods, tables.methods.as_ptr() as *mut c_void);
        slot(ffi::Py_tp_getset, tables.getset.as_ptr() as *mut c_void);
        if self.call.is_some() {
            slot(ffi::Py_tp_call, call::<T> as *mut c_void);
        }
        match self.iter {
            Iter::None => {}
            Iter::Itself => slot(ffi::Py_tp_iter, ffi::PyObject_SelfIter as *mut c_void),
            Iter::Call(_) => slot(ffi::Py_tp_iter, iter::<T> as *mut c_void),
        }
        if self.next.is_some() {
            slot(ffi::Py_tp_iternext, next::<T> as *mut c_void);
        }
        if self.len.is_some() {
            slot(ffi::Py_mp_length, len::<T> as *mut c_void);
        }
        if self.getitem.is_some() {
            slot(ffi::Py_mp_subscript, getitem::<T> as *mut c_void);
        }
        if self.contains.is_some() {
            slot(ffi::Py_sq_contains, contains::<T> as *mut c_void);
        }
        if self.repr.is_some() {
            slot(ffi::Py_tp_repr, repr::<T> as *mut c_void);
        }
        if self.getattr.is_some() {
            slot(ffi::Py_tp_getattro, getattro::<T> as *mut c_void);
        }
        if self.new.is_some() {
            slot(ffi::Py_tp_new, new::<T> as *mut c_void);
        }
        if self.traverse.is_some() {
            slot(ffi::Py_tp_traverse, traverse::<T> as *mut c_void);
        }
        slots.push(ffi::PyType_Slot { slot: 0, pfunc: std::ptr::null_mut() });
        let mut flags = ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE;
        if self.new.is_none() {
            flags |= ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION;
        }
        if self.traverse.is_some() {
            flags |= ffi::Py_TPFLAGS_HAVE_GC;
        }
        let mut spec = ffi::PyType_Spec {
            name: self.name.as_ptr(),
            basicsize: std::mem::size_of::<Instance<T>>() as c_int,
            itemsize: 0,
            flags: flags as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec and slots are valid for the call; the method and
        // attribute tables they point to live for the process.
        let ty = unsafe { ffi::PyType_FromSpec(&mut spec) };
        // SAFETY: a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, ty) }
    }
}

/// Allocates an instance of `ty` and moves `value` into it (dropped if that fails).
///
/// # Safety
/// `ty` is a live type object made from `T`'s class (or a subtype of one).
unsafe fn alloc<'py, T: Native>(py: Python<'py>, ty: *mut ffi::PyTypeObject, value: T) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: per the contract; tp_alloc is PyType_GenericAlloc for these
    // types: zeroed memory of basicsize with a reference to the type.
    let obj = unsafe { ((*ty).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc))(ty, 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: obj is a fresh instance of ty, laid out as Instance<T>; its
    // value field is uninitialised until this write.
    unsafe { std::ptr::write(&mut (*obj.cast::<Instance<T>>()).value, ManuallyDrop::new(value)) };
    // SAFETY: a new reference we own.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) })
}

/// The value of `slf`, which CPython only passes to our slots and methods
/// for instances of the type they belong to.
///
/// # Safety
/// `slf` is a live instance of a type made from `T`'s class.
unsafe fn value_of<'a, T: Native>(slf: *mut ffi::PyObject) -> &'a T {
    // SAFETY: per the contract the layout is Instance<T>, value initialised.
    unsafe { &(*slf.cast::<Instance<T>>()).value }
}

/// Runs a slot's body attached, under the panic guard: an error (or a panic,
/// as RuntimeError) is raised in Python and `failed` returned.
fn entry<R: Copy>(failed: R, body: impl for<'py> FnOnce(Python<'py>) -> PyResult<R>) -> R {
    crate::guard::contain_or(
        "a method of a mod_wsgi object",
        || {
            attached(|py| match body(py) {
                Ok(value) => value,
                Err(e) => {
                    e.restore(py);
                    failed
                }
            })
        },
        || {
            // SAFETY: the GIL is held (CPython called the slot); a static message.
            unsafe { ffi::PyErr_SetString(ffi::PyExc_RuntimeError, c"internal error in mod_rwsgi (see the error log)".as_ptr()) };
            failed
        },
    )
}

/// Runs `f` on a thread that holds the GIL (CPython is calling us), telling
/// pyo3 so where that is safe, so that Python references dropped in `f` are
/// released now, in this interpreter, rather than queued for whichever
/// interpreter pyo3 next runs in. Telling pyo3 is `Python::attach`, which on a
/// thread pyo3 has not counted as attached calls `PyGILState_Ensure`: that
/// only counts when the thread's PyGILState state is the current one (Python's
/// own threads, the main interpreter), and would wait for the GIL it already
/// holds when a sub-interpreter's state is current. Our request threads are
/// always counted there; anything else (an interpreter being ended outside
/// pyo3) gets the token as is.
fn attached<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    // SAFETY: the GIL is held, so there is a current thread state to compare.
    let own_state = unsafe { ffi::PyGILState_GetThisThreadState() == ffi::PyThreadState_Get() };
    if own_state {
        Python::attach(f)
    } else {
        // SAFETY: CPython called us with the GIL held on this thread.
        f(unsafe { Python::assume_attached() })
    }
}

fn into_ptr(value: Bound<'_, PyAny>) -> *mut ffi::PyObject {
    value.into_ptr()
}

/// The method trampoline for index `i` of `T`'s class.
fn method_trampoline<T: Native>(i: usize) -> ffi::PyCFunctionFastWithKeywords {
    macro_rules! table {
        ($($n:literal)*) => {
            match i {
                $($n => method::<T, $n>,)*
                _ => unreachable!("checked against MAX_METHODS"),
            }
        };
    }
    table!(0 1 2 3 4 5 6 7 8 9 10 11)
}

unsafe extern "C" fn method<T: Native, const I: usize>(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: CPython's vectorcall convention: `nargs` positional arguments,
        // then one value per name in `kwnames` (a tuple, or NULL).
        let args = unsafe { Args::vectorcall(py, args, nargsf, kwnames) };
        // SAFETY: the method descriptor checked that slf is an instance of the class.
        let value = unsafe { value_of::<T>(slf) };
        (T::class().methods[I].1)(value, py, &args).map(into_ptr)
    })
}

unsafe extern "C" fn getter<T: Native>(slf: *mut ffi::PyObject, closure: *mut c_void) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: the getset descriptor checked slf's type.
        let value = unsafe { value_of::<T>(slf) };
        (T::class().getters[closure as usize].1)(value, py).map(into_ptr)
    })
}

unsafe extern "C" fn call<T: Native>(slf: *mut ffi::PyObject, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: tp_call's convention: a tuple and a dict or NULL.
        let args = unsafe { Args::tuple(py, args, kwargs) };
        // SAFETY: CPython calls a type's slots with its own instances.
        let value = unsafe { value_of::<T>(slf) };
        let call = T::class().call.expect("the slot is only set with a call");
        call(value, py, &args).map(into_ptr)
    })
}

unsafe extern "C" fn iter<T: Native>(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: as in `call`.
        let value = unsafe { value_of::<T>(slf) };
        match T::class().iter {
            Iter::Call(f) => f(value, py).map(into_ptr),
            _ => unreachable!("the slot is only set for Iter::Call"),
        }
    })
}

unsafe extern "C" fn next<T: Native>(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: as in `call`.
        let value = unsafe { value_of::<T>(slf) };
        let next = T::class().next.expect("the slot is only set with a next");
        // NULL without an exception is the end of the iteration.
        Ok(next(value, py)?.map_or(std::ptr::null_mut(), into_ptr))
    })
}

unsafe extern "C" fn len<T: Native>(slf: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    entry(-1, |py| {
        // SAFETY: as in `call`.
        let value = unsafe { value_of::<T>(slf) };
        Ok((T::class().len.expect("set with len"))(value, py)? as ffi::Py_ssize_t)
    })
}

unsafe extern "C" fn getitem<T: Native>(slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: as in `call`; key is a live object CPython lends us.
        let (value, key) = unsafe { (value_of::<T>(slf), Bound::from_borrowed_ptr(py, key)) };
        (T::class().getitem.expect("set with getitem"))(value, py, &key).map(into_ptr)
    })
}

unsafe extern "C" fn contains<T: Native>(slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> c_int {
    entry(-1, |py| {
        // SAFETY: as in `getitem`.
        let (value, key) = unsafe { (value_of::<T>(slf), Bound::from_borrowed_ptr(py, key)) };
        Ok(c_int::from((T::class().contains.expect("set with contains"))(value, py, &key)?))
    })
}

unsafe extern "C" fn repr<T: Native>(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: as in `call`.
        let value = unsafe { value_of::<T>(slf) };
        let text = (T::class().repr.expect("set with repr"))(value, py)?;
        Ok(PyString::new(py, &text).into_any().into_ptr())
    })
}

unsafe extern "C" fn getattro<T: Native>(slf: *mut ffi::PyObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: the generic lookup first, as Python does before __getattr__.
        let found = unsafe { ffi::PyObject_GenericGetAttr(slf, name) };
        if !found.is_null() {
            return Ok(found);
        }
        let err = PyErr::fetch(py);
        if !err.is_instance_of::<pyo3::exceptions::PyAttributeError>(py) {
            return Err(err);
        }
        // SAFETY: as in `getitem`.
        let (value, name) = unsafe { (value_of::<T>(slf), Bound::from_borrowed_ptr(py, name)) };
        (T::class().getattr.expect("set with getattr"))(value, py, &name).map(into_ptr)
    })
}

unsafe extern "C" fn new<T: Native>(subtype: *mut ffi::PyTypeObject, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> *mut ffi::PyObject {
    entry(std::ptr::null_mut(), |py| {
        // SAFETY: tp_new's convention, as tp_call's.
        let args = unsafe { Args::tuple(py, args, kwargs) };
        let value = (T::class().new.expect("set with new"))(py, &args)?;
        // SAFETY: CPython calls tp_new with our type (the classes are final).
        unsafe { alloc(py, subtype, value) }.map(into_ptr)
    })
}

unsafe extern "C" fn traverse<T: Native>(slf: *mut ffi::PyObject, visit: ffi::visitproc, arg: *mut c_void) -> c_int {
    // No Python may run here, and no attach: only visits.
    crate::guard::contain_or(
        "traversing a mod_wsgi object",
        || {
            // SAFETY: heap types' instances hold a reference to their type.
            let ty = unsafe { ffi::Py_TYPE(slf) };
            // SAFETY: visit is the collector's callback with its argument.
            let r = unsafe { visit(ty.cast(), arg) };
            if r != 0 {
                return r;
            }
            // SAFETY: as in `call`.
            let value = unsafe { value_of::<T>(slf) };
            let traverse = T::class().traverse.expect("set with traverse");
            // SAFETY: as above, for each object the value holds.
            traverse(value, &mut |obj| if obj.is_null() { 0 } else { unsafe { visit(obj, arg) } })
        },
        || 0,
    )
}

unsafe extern "C" fn dealloc<T: Native>(slf: *mut ffi::PyObject) {
    // SAFETY: CPython deallocates an instance of a type made from T's class.
    let ty = unsafe { ffi::Py_TYPE(slf) };
    if T::class().traverse.is_some() {
        // SAFETY: a GC instance, still tracked; it must not be seen half-freed.
        unsafe { ffi::PyObject_GC_UnTrack(slf.cast()) };
    }
    crate::guard::contain_or(
        "freeing a mod_wsgi object",
        || {
            // SAFETY: the value was initialised when the instance was made
            // and is dropped exactly once, here.
            let drop_value = || unsafe { ManuallyDrop::drop(&mut (*slf.cast::<Instance<T>>()).value) };
            // Only values with Python references (which have a traverse)
            // need pyo3 told, as in `entry`; the others are plain Rust.
            if T::class().traverse.is_some() { attached(|_| drop_value()) } else { drop_value() }
        },
        || (),
    );
    // SAFETY: the memory goes back the way it came (tp_free of the type), and
    // the instance's reference to its heap type is given up last.
    unsafe {
        let free = (*ty).tp_free.expect("heap types have tp_free");
        free(slf.cast());
        ffi::Py_DECREF(ty.cast());
    }
}

/// The arguments of a call, positional and by keyword.
pub struct Args<'a, 'py> {
    py: Python<'py>,
    positional: &'a [*mut ffi::PyObject],
    keywords: Keywords<'a>,
}

enum Keywords<'a> {
    None,
    /// Vectorcall: the names (a tuple of str) and their values.
    Names(*mut ffi::PyObject, &'a [*mut ffi::PyObject]),
    Dict(*mut ffi::PyObject),
}

impl<'a, 'py> Args<'a, 'py> {
    /// # Safety
    /// CPython's vectorcall arguments, valid for `'a`.
    unsafe fn vectorcall(py: Python<'py>, args: *const *mut ffi::PyObject, nargsf: ffi::Py_ssize_t, kwnames: *mut ffi::PyObject) -> Args<'a, 'py> {
        // SAFETY: per the contract.
        let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf as usize) } as usize;
        // SAFETY: kwnames, when not NULL, is a tuple.
        let nkw = if kwnames.is_null() { 0 } else { (unsafe { ffi::PyTuple_GET_SIZE(kwnames) }) as usize };
        let all = if args.is_null() {
            &[][..]
        } else {
            // SAFETY: nargs positional values, then nkw keyword values.
            unsafe { std::slice::from_raw_parts(args, nargs + nkw) }
        };
        let (positional, values) = all.split_at(nargs);
        Args { py, positional, keywords: if nkw == 0 { Keywords::None } else { Keywords::Names(kwnames, values) } }
    }

    /// # Safety
    /// `args` is a tuple and `kwargs` a dict or NULL, both valid for `'a`.
    unsafe fn tuple(py: Python<'py>, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> Args<'a, 'py> {
        // SAFETY: a tuple's items are stored inline after its header.
        let positional = unsafe {
            let n = ffi::PyTuple_GET_SIZE(args) as usize;
            let items = (*args.cast::<ffi::PyTupleObject>()).ob_item.as_ptr();
            std::slice::from_raw_parts(items, n)
        };
        // SAFETY: kwargs is a dict when not NULL.
        let keywords = if kwargs.is_null() || unsafe { ffi::PyDict_Size(kwargs) } == 0 { Keywords::None } else { Keywords::Dict(kwargs) };
        Args { py, positional, keywords }
    }

    /// The arguments by position or name (`names`), for a function called
    /// `function`; the first `required` must be given. A missing optional
    /// argument is `None` (so is an explicit None).
    pub fn parse<const N: usize>(&self, function: &str, names: [&str; N], required: usize) -> PyResult<[Option<Bound<'py, PyAny>>; N]> {
        let py = self.py;
        let mut out: [Option<Bound<'py, PyAny>>; N] = std::array::from_fn(|_| None);
        if self.positional.len() > N {
            return Err(PyTypeError::new_err(format!("{function}() takes at most {N} argument{} ({} given)", if N == 1 { "" } else { "s" }, self.positional.len())));
        }
        for (slot, &arg) in out.iter_mut().zip(self.positional) {
            // SAFETY: CPython lends the arguments for the call.
            *slot = Some(unsafe { Bound::from_borrowed_ptr(py, arg) });
        }
        let mut put = |name: &Bound<'py, PyAny>, value: Bound<'py, PyAny>| -> PyResult<()> {
            let name = name.cast::<PyString>()?.to_str()?;
            let Some(i) = names.iter().position(|n| *n == name) else {
                return Err(PyTypeError::new_err(format!("{function}() got an unexpected keyword argument '{name}'")));
            };
            if out[i].is_some() {
                return Err(PyTypeError::new_err(format!("{function}() got multiple values for argument '{name}'")));
            }
            out[i] = Some(value);
            Ok(())
        };
        match self.keywords {
            Keywords::None => {}
            Keywords::Names(kwnames, values) => {
                // SAFETY: kwnames is a live tuple for the call.
                let kwnames = unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<PyTuple>()?;
                for (name, &value) in kwnames.iter().zip(values) {
                    // SAFETY: as for the positional arguments.
                    put(&name, unsafe { Bound::from_borrowed_ptr(py, value) })?;
                }
            }
            Keywords::Dict(kwargs) => {
                // SAFETY: kwargs is a live dict for the call.
                let kwargs = unsafe { Bound::from_borrowed_ptr(py, kwargs) }.cast_into::<PyDict>()?;
                for (name, value) in kwargs.iter() {
                    put(&name, value)?;
                }
            }
        }
        if let Some(i) = out[..required].iter().position(Option::is_none) {
            return Err(PyTypeError::new_err(format!("{function}() missing required argument '{}' (pos {})", names[i], i + 1)));
        }
        for slot in &mut out[required..] {
            if slot.as_ref().is_some_and(|v| v.is_none()) {
                *slot = None;
            }
        }
        Ok(out)
    }

    /// For methods that take no arguments.
    pub fn none(&self, function: &str) -> PyResult<()> {
        self.parse(function, [], 0).map(|_: [Option<Bound<'py, PyAny>>; 0]| ())
    }
}

/// `None`, as a method's result.
pub fn none(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    Ok(py.None().into_bound(py))
}
