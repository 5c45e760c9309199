//! Apache's authentication and authorization provider API (mod_auth.h): the
//! provider tables this module registers, and the status values they return.

use std::ffi::{CStr, c_char};

use super::{Pool, Request};
use crate::ffi;

pub use ffi::{authn_provider, authn_status, authz_provider, authz_status};

pub const AUTH_GRANTED: authn_status = ffi::authn_status_AUTH_GRANTED;
pub const AUTH_DENIED: authn_status = ffi::authn_status_AUTH_DENIED;
pub const AUTH_USER_FOUND: authn_status = ffi::authn_status_AUTH_USER_FOUND;
pub const AUTH_USER_NOT_FOUND: authn_status = ffi::authn_status_AUTH_USER_NOT_FOUND;
pub const AUTH_GENERAL_ERROR: authn_status = ffi::authn_status_AUTH_GENERAL_ERROR;

pub const AUTHZ_DENIED: authz_status = ffi::authz_status_AUTHZ_DENIED;
pub const AUTHZ_GRANTED: authz_status = ffi::authz_status_AUTHZ_GRANTED;
pub const AUTHZ_DENIED_NO_USER: authz_status = ffi::authz_status_AUTHZ_DENIED_NO_USER;
pub const AUTHZ_GENERAL_ERROR: authz_status = ffi::authz_status_AUTHZ_GENERAL_ERROR;

/// A provider table Apache keeps a pointer to for the configuration's life.
#[repr(transparent)]
pub struct Provider<T>(pub T);
// SAFETY: the tables hold only function pointers and are never written.
unsafe impl<T> Sync for Provider<T> {}

fn register<T>(pool: Pool, group: &[u8], name: &CStr, version: &[u8], provider: &'static Provider<T>) {
    let group = CStr::from_bytes_with_nul(group).expect("bindgen's string constants end in NUL");
    let version = CStr::from_bytes_with_nul(version).expect("as above");
    // SAFETY: live pool (register_hooks' pconf); the names are static strings and
    // the table is a static, so everything outlives the registration.
    unsafe {
        ffi::ap_register_auth_provider(
            pool.as_ptr(),
            group.as_ptr(),
            name.as_ptr(),
            version.as_ptr(),
            provider as *const Provider<T> as *const _,
            ffi::AP_AUTH_INTERNAL_PER_CONF,
        );
    }
}

/// Registers an authentication provider (`AuthBasicProvider NAME`, `AuthDigestProvider NAME`).
pub fn register_authn(pool: Pool, name: &CStr, provider: &'static Provider<authn_provider>) {
    register(pool, ffi::AUTHN_PROVIDER_GROUP, name, ffi::AUTHN_PROVIDER_VERSION, provider);
}

/// Registers an authorization provider (`Require NAME ...`).
pub fn register_authz(pool: Pool, name: &CStr, provider: &'static Provider<authz_provider>) {
    register(pool, ffi::AUTHZ_PROVIDER_GROUP, name, ffi::AUTHZ_PROVIDER_VERSION, provider);
}

/// Splits a `Require` line's arguments into words the way Apache's own
/// configuration reader does (`ap_getword_conf`: quotes and backslashes).
///
/// # Safety
/// `args` must be null or a NUL-terminated string alive for the call.
pub unsafe fn require_words(r: &Request, args: *const c_char) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    if args.is_null() {
        return words;
    }
    let mut rest = args;
    loop {
        // SAFETY: (caller) `rest` walks the live string; each word is a pool copy.
        let word = unsafe { ffi::ap_getword_conf(r.pool().as_ptr(), &mut rest) };
        // SAFETY: as above.
        match unsafe { super::pool::cstr(word) } {
            Some(w) if !w.is_empty() => words.push(w.to_vec()),
            _ => break,
        }
    }
    words
}
