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
// SAFETY: as above: shared reads only.
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
    pub(super) fn module_config(self) -> *mut c_void {
        // SAFETY: module_config is the per-server config vector; index by our module index.
        unsafe { crate::module_config_slot((*self.0).module_config) }
    }

    /// Apache's `Timeout` for this server (at least one second).
    pub fn timeout(self) -> std::time::Duration {
        // SAFETY: plain field read (microseconds).
        let micros = unsafe { (*self.0).timeout };
        std::time::Duration::from_micros(micros.max(1_000_000) as u64)
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

/// `(major, minor, patch)` of the running Apache, from its server description
/// ("Apache/2.4.65 (Debian)").
pub fn apache_version() -> (u32, u32, u32) {
    // SAFETY: returns a static string.
    let desc = unsafe { cstr_utf8(ffi::ap_get_server_description()) }.unwrap_or("");
    let version = desc.strip_prefix("Apache/").unwrap_or("").split([' ', '-']).next().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(2), parts.next().unwrap_or(4), parts.next().unwrap_or(0))
}

/// What the running Apache reports about itself (see `runtime::ServerFacts`).
pub fn facts() -> rwsgi_core::runtime::ServerFacts {
    let (maximum_processes, threads_per_process) = super::mpm::apache_module_sizes();
    // SAFETY: both return static (or pconf) strings that live for the process.
    let (description, build_date) = unsafe { (cstr_utf8(ffi::ap_get_server_description()), cstr_utf8(ffi::ap_get_server_built())) };
    rwsgi_core::runtime::ServerFacts {
        version: apache_version(),
        description: description.unwrap_or("").to_string(),
        mpm_name: super::mpm::name(),
        build_date: build_date.unwrap_or("").to_string(),
        maximum_processes,
        threads_per_process,
    }
}

/// True during the configuration dry run at start-up, after which Apache
/// unloads the module and reads the configuration again.
pub fn is_config_dry_run() -> bool {
    // SAFETY: plain query of Apache's start-up state.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_CREATE_PRE_CONFIG }
}

/// Adds `component` to the Server header and server description.
pub fn add_version_component(pconf: super::Pool, component: &str) {
    // SAFETY: pconf is live; the component is copied into it.
    unsafe { ffi::ap_add_version_component(pconf.as_ptr(), pconf.strdup(component)) }
}
