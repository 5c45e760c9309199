//! APR tables (`r->headers_in`, `r->subprocess_env`, `r->notes`, ...).

use std::ffi::c_char;

use super::pool::{Pool, cstr};
use crate::ffi;

/// A borrowed APR table, valid as long as the pool that owns it.
#[derive(Clone, Copy)]
pub struct Table(*mut ffi::apr_table_t);

impl Table {
    /// # Safety
    /// `t` must be a live table for as long as this value is used.
    pub unsafe fn from_raw(t: *mut ffi::apr_table_t) -> Table {
        Table(t)
    }

    /// The value of `key`; it lives as long as the table's pool, which the
    /// caller must not outlive.
    pub fn get<'a>(&self, key: &str) -> Option<&'a [u8]> {
        let key = std::ffi::CString::new(key).ok()?;
        // SAFETY: live table; the returned value lives in the table's pool.
        unsafe { cstr(ffi::apr_table_get(self.0, key.as_ptr())) }
    }

    /// Sets `key` to `value`, copying both into `pool` (the table's pool).
    pub fn set(&self, pool: Pool, key: &str, value: &[u8]) {
        // SAFETY: live table; key and value are pool copies, as setn requires.
        unsafe { ffi::apr_table_setn(self.0, pool.strdup(key), pool.memdup(value)) }
    }

    /// Removes every entry of `key`.
    pub fn unset(&self, key: &str) {
        let Ok(key) = std::ffi::CString::new(key) else { return };
        // SAFETY: live table; apr_table_unset copies nothing and keeps no pointer to key.
        unsafe { ffi::apr_table_unset(self.0, key.as_ptr()) }
    }

    /// Adds a (possibly repeated) entry; both strings are copied into `pool`.
    pub fn add(&self, pool: Pool, key: &[u8], value: &[u8]) {
        // SAFETY: live table; key and value are pool copies, as addn requires.
        unsafe { ffi::apr_table_addn(self.0, pool.memdup(key), pool.memdup(value)) }
    }

    /// Every entry in insertion order; the strings live as long as the table's
    /// pool, which the caller must not outlive.
    pub fn entries<'a>(&self) -> Vec<(&'a [u8], &'a [u8])> {
        let mut out = Vec::with_capacity(48);
        // SAFETY: as in for_each; the strings are pool memory, not the table's array.
        unsafe {
            let arr = ffi::apr_table_elts(self.0);
            let entries = (*arr).elts as *const ffi::apr_table_entry_t;
            for i in 0..(*arr).nelts as usize {
                let e = &*entries.add(i);
                if let (Some(k), Some(v)) = (cstr(e.key as *const c_char), cstr(e.val as *const c_char)) {
                    out.push((k, v));
                }
            }
        }
        out
    }

    /// Visits every entry in insertion order (repeated keys included).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        // SAFETY: live table; apr_table_elts exposes its entry array, which is not
        // modified while we walk it (the closure gets no access to the table).
        unsafe {
            let arr = ffi::apr_table_elts(self.0);
            let n = (*arr).nelts as usize;
            let entries = (*arr).elts as *const ffi::apr_table_entry_t;
            for i in 0..n {
                let e = &*entries.add(i);
                if e.key.is_null() {
                    continue;
                }
                let k = cstr(e.key as *const c_char).unwrap_or_default();
                let v = cstr(e.val as *const c_char).unwrap_or_default();
                f(k, v);
            }
        }
    }
}
