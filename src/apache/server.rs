//! `server_rec` and module-configuration access.

use std::ffi::c_void;

use super::pool::cstr_utf8;
use crate::ffi;

/// A borrowed `server_rec`: the main server or a virtual host. Server records
/// live for the whole configuration generation.
#[derive(Clone, Copy)]
pub struct Server(*mut ffi::server_rec);

// SAFETY: server_recs are read-only after configuration and outlive every
// request thread of the generation.
unsafe impl Send for Server {}
unsafe impl Sync for Server {}

impl Server {
    /// # Safety
    /// `s` must be a live server_rec of the current configuration generation.
    pub unsafe fn from_raw(s: *mut ffi::server_rec) -> Server {
        Server(s)
    }

    pub fn as_ptr(self) -> *mut ffi::server_rec {
        self.0
    }

    /// The main server record (`ap_server_conf`), if Apache has set it yet.
    pub fn main() -> Option<Server> {
        // SAFETY: reading an exported pointer that Apache sets once at startup.
        let s = unsafe { ffi::ap_server_conf };
        if s.is_null() { None } else { Some(Server(s)) }
    }

    /// This module's per-server configuration pointer.
    pub fn module_config(self) -> *mut c_void {
        // SAFETY: module_config is the per-server config vector; index by our module index.
        unsafe { crate::module_config_slot((*self.0).module_config) }
    }

    pub fn hostname(self) -> &'static str {
        // SAFETY: server_hostname is a pconf string valid for the generation.
        unsafe { cstr_utf8((*self.0).server_hostname) }.unwrap_or("")
    }

    pub fn port(self) -> u16 {
        // SAFETY: plain field read.
        unsafe { (*self.0).port }
    }

    /// True for a `<VirtualHost>`.
    pub fn is_virtual(self) -> bool {
        // SAFETY: plain field read.
        unsafe { (*self.0).is_virtual != 0 }
    }
}
