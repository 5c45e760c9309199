//! mod_rwsgi: an Apache HTTP Server 2.4 module that runs Python WSGI applications.
//!
//! This file holds only the module definition Apache loads; the hooks are in
//! `hooks`, the directive table in `hooks::directives`.

pub mod apache;
pub mod ffi;
mod daemon;
mod embedded;
mod metrics;
mod hooks;
mod route;

// The crates below the module, under the names the rest of it uses.
pub use rwsgi_config as config;
pub use rwsgi_protocol as protocol;
use rwsgi_core::{fdpass, privileges, python, runtime, wsgi};
pub use rwsgi_core::{alert, crit, notice};

use std::ffi::{c_ulong, c_void};
use std::ptr::null_mut;

/// The module record `LoadModule rwsgi_module …/mod_rwsgi.so` looks up; build.rs
/// also exports it as `wsgi_module`, so a mod_wsgi configuration's own
/// `LoadModule wsgi_module …` line works with only the path changed. Apache
/// writes into it (index, load handle, list link), so it must be a mutable static.
///
/// Its name is mod_wsgi's, `mod_wsgi.c`, because that is what `<IfModule
/// mod_wsgi.c>` compares; `<IfModule wsgi_module>` and `LogLevel wsgi:…`
/// compare the LoadModule symbol instead, and the log tag is that symbol
/// without `_module` (`[rwsgi:…]` or `[wsgi:…]`). See README, "Loading".
#[unsafe(no_mangle)]
pub static mut rwsgi_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as _,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as _,
    module_index: -1,
    name: c"mod_wsgi.c".as_ptr(),
    dynamic_load_handle: null_mut(),
    next: null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as c_ulong,
    rewrite_args: None,
    create_dir_config: Some(hooks::config::create_dir_config),
    merge_dir_config: Some(hooks::config::merge_dir_config),
    create_server_config: Some(hooks::config::create_server_config),
    merge_server_config: Some(hooks::config::merge_server_config),
    cmds: &raw const hooks::directives::COMMANDS as *const ffi::command_rec,
    register_hooks: Some(hooks::register),
    flags: 0,
};

/// The index Apache assigned to this module when it was loaded.
fn module_index() -> usize {
    // SAFETY: Apache writes module_index once, at load time, before any hook runs.
    unsafe { rwsgi_module.module_index as usize }
}

/// Reads this module's slot of a configuration vector (what `ap_get_module_config` does).
///
/// # Safety
/// `vector` must be a live `ap_conf_vector_t` built after this module was loaded.
pub(crate) unsafe fn module_config_slot(vector: *mut ffi::ap_conf_vector_t) -> *mut c_void {
    // SAFETY: (caller) a live vector with one slot per loaded module.
    unsafe { *(vector as *mut *mut c_void).add(module_index()) }
}

/// Writes this module's slot of a configuration vector (`ap_set_module_config`).
///
/// # Safety
/// As for [`module_config_slot`]; the vector must be writable by the caller.
pub(crate) unsafe fn set_module_config_slot(vector: *mut ffi::ap_conf_vector_t, value: *mut c_void) {
    // SAFETY: (caller) as above, and writable.
    unsafe { *(vector as *mut *mut c_void).add(module_index()) = value }
}
