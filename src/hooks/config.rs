//! Creation and merging of per-directory and per-server configuration.

use std::ffi::{c_char, c_void};

use crate::apache::{Pool, guard};
use crate::config::{DirConfig, ServerConfig, Setting};
use crate::ffi;

pub unsafe extern "C" fn create_dir_config(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void {
    guard::contain("create_dir_config", std::ptr::null_mut(), || {
        // SAFETY: Apache passes the pool the config must live in.
        unsafe { Pool::from_raw(p) }.alloc_copy(DirConfig::default()) as *mut c_void
    })
}

pub unsafe extern "C" fn merge_dir_config(p: *mut ffi::apr_pool_t, base: *mut c_void, over: *mut c_void) -> *mut c_void {
    guard::contain("merge_dir_config", std::ptr::null_mut(), || {
        // SAFETY: both are DirConfigs from create_dir_config/merge_dir_config; they are
        // only read (Apache requires merges not to modify their inputs).
        let (base, over) = unsafe { (&*(base as *const DirConfig), &*(over as *const DirConfig)) };
        let mut merged = DirConfig::merge(base, over);
        // SAFETY: Apache passes the pool the merged config must live in.
        let pool = unsafe { Pool::from_raw(p) };
        if let Some(both) = DirConfig::merge_handler_scripts(base, over) {
            merged.handler_scripts = Setting::Set(pool.alloc_slice(&both));
        }
        pool.alloc_copy(merged) as *mut c_void
    })
}

pub unsafe extern "C" fn create_server_config(p: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) -> *mut c_void {
    guard::contain("create_server_config", std::ptr::null_mut(), || {
        // SAFETY: p is pconf; the config is dropped when pconf is cleared.
        unsafe { Pool::from_raw(p) }.adopt(ServerConfig::default()) as *mut c_void
    })
}

pub unsafe extern "C" fn merge_server_config(p: *mut ffi::apr_pool_t, base: *mut c_void, over: *mut c_void) -> *mut c_void {
    guard::contain("merge_server_config", std::ptr::null_mut(), || {
        // SAFETY: both are ServerConfigs from create_server_config, only read here.
        let merged = unsafe { ServerConfig::merge(&*(base as *const ServerConfig), &*(over as *const ServerConfig)) };
        // SAFETY: p is pconf.
        unsafe { Pool::from_raw(p) }.adopt(merged) as *mut c_void
    })
}
