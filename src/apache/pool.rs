//! APR pools: allocation of strings and Rust values that live as long as a pool.

use std::ffi::{CStr, c_char, c_void};

use crate::ffi;

/// A borrowed APR pool. Apache owns it; it is valid for the phase that handed it out
/// (pconf for a configuration generation, `r->pool` for one request, ...).
#[derive(Clone, Copy)]
pub struct Pool(*mut ffi::apr_pool_t);

impl Pool {
    /// # Safety
    /// `p` must be a live pool for as long as this `Pool` (and anything allocated from it) is used.
    pub unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Pool {
        Pool(p)
    }

    pub fn as_ptr(self) -> *mut ffi::apr_pool_t {
        self.0
    }

    /// Copies `s` into the pool as a NUL-terminated C string.
    pub fn strdup(self, s: &str) -> *const c_char {
        self.memdup(s.as_bytes())
    }

    /// Copies bytes into the pool, adding a terminating NUL.
    pub fn memdup(self, bytes: &[u8]) -> *const c_char {
        // SAFETY: the pool is live; apr_pstrmemdup copies `len` bytes and NUL-terminates.
        unsafe { ffi::apr_pstrmemdup(self.0, bytes.as_ptr() as *const c_char, bytes.len()) }
    }

    /// Moves `value` into memory owned by the pool; it is dropped when the pool is
    /// cleared or destroyed. The returned pointer is valid until then.
    pub fn adopt<T>(self, value: T) -> *mut T {
        unsafe extern "C" fn drop_box<T>(data: *mut c_void) -> ffi::apr_status_t {
            crate::apache::guard::contain("pool cleanup", (), || {
                // SAFETY: `data` came from Box::into_raw below and this cleanup runs once.
                drop(unsafe { Box::from_raw(data as *mut T) });
            });
            0
        }
        let raw = Box::into_raw(Box::new(value));
        // SAFETY: live pool; the cleanup frees exactly the box registered here. The
        // child cleanup is a no-op: forked children never run the parent's drops.
        unsafe {
            ffi::apr_pool_cleanup_register(self.0, raw as *const c_void, Some(drop_box::<T>), Some(ffi::apr_pool_cleanup_null));
        }
        raw
    }

    /// Allocates a copy of a plain-data value in the pool (no destructor runs).
    pub fn alloc_copy<T: Copy>(self, value: T) -> *mut T {
        // SAFETY: live pool; apr_palloc returns memory aligned for any type
        // (APR_ALIGN_DEFAULT = 8), enough for the plain structs stored here.
        unsafe {
            let p = ffi::apr_palloc(self.0, std::mem::size_of::<T>()) as *mut T;
            std::ptr::write(p, value);
            p
        }
    }
}

impl Pool {
    /// Copies plain-data items into the pool (no destructor runs); the slice is
    /// valid as long as the pool, which the `'static` stands for (as `ConfStr`).
    pub fn alloc_slice<T: Copy>(self, items: &[T]) -> &'static [T] {
        if items.is_empty() {
            return &[];
        }
        // SAFETY: live pool; apr_palloc's alignment (8) suffices for the plain
        // structs stored here, and the copy fills exactly the allocated length.
        unsafe {
            let p = ffi::apr_palloc(self.0, std::mem::size_of_val(items)) as *mut T;
            std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len());
            std::slice::from_raw_parts(p, items.len())
        }
    }
}

/// Reads a C string owned by Apache.
///
/// # Safety
/// `p` must be null or a NUL-terminated string that outlives `'a`.
pub unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: (caller) a NUL-terminated string that outlives 'a.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Like [`cstr`], as UTF-8 text (lossy bytes are rejected as `None`).
///
/// # Safety
/// As for [`cstr`].
pub unsafe fn cstr_utf8<'a>(p: *const c_char) -> Option<&'a str> {
    // SAFETY: (caller) as for cstr.
    unsafe { cstr(p) }.and_then(|b| std::str::from_utf8(b).ok())
}
