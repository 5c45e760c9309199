//! mod_ssl's optional functions (`ssl_is_https`, `ssl_var_lookup`), found at
//! request time as mod_wsgi finds them: when mod_ssl is not loaded, a request
//! is not HTTPS and has no SSL variables.

use std::ffi::{CString, c_char, c_int};

use super::Request;
use super::pool::cstr;
use crate::ffi;
use crate::wsgi::hook_script::SslInfo;

type IsHttps = unsafe extern "C" fn(*mut ffi::conn_rec) -> c_int;
type VarLookup =
    unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut ffi::server_rec, *mut ffi::conn_rec, *mut ffi::request_rec, *mut c_char) -> *mut c_char;

/// One request's view of mod_ssl.
pub struct RequestSsl {
    r: Request,
    is_https: Option<IsHttps>,
    var_lookup: Option<VarLookup>,
}

// SAFETY: the Python objects that reach this check, before every use, that
// they run on the request's thread while its hook runs (RequestHandle::require).
unsafe impl Sync for RequestSsl {}

impl RequestSsl {
    pub fn new(r: &Request) -> RequestSsl {
        // SAFETY: looking up functions by name; a found one has the type mod_ssl
        // declares for that name (mod_ssl.h: APR_DECLARE_OPTIONAL_FN).
        unsafe {
            let is_https = ffi::apr_dynamic_fn_retrieve(c"ssl_is_https".as_ptr()).map(|f| std::mem::transmute::<_, IsHttps>(f));
            let var_lookup = ffi::apr_dynamic_fn_retrieve(c"ssl_var_lookup".as_ptr()).map(|f| std::mem::transmute::<_, VarLookup>(f));
            RequestSsl { r: *r, is_https, var_lookup }
        }
    }
}

impl SslInfo for RequestSsl {
    fn is_https(&self) -> bool {
        let Some(is_https) = self.is_https else { return false };
        // SAFETY: mod_ssl's function, on the live request's connection.
        unsafe { is_https((*self.r.as_ptr()).connection) != 0 }
    }

    fn var_lookup(&self, name: &[u8]) -> Option<Vec<u8>> {
        let lookup = self.var_lookup?;
        let name = CString::new(name).ok()?;
        let r = self.r.as_ptr();
        // SAFETY: mod_ssl's function with the live request's pool, server and
        // connection; it copies the name and returns a pool string or null.
        unsafe {
            let value = lookup((*r).pool, (*r).server, (*r).connection, r, name.as_ptr() as *mut c_char);
            cstr(value).map(<[u8]>::to_vec)
        }
    }
}
