//! Apache entry points: hook registration, configuration callbacks, request
//! hooks. Each `extern "C"` function here contains panics (apache::guard).

mod auth;
pub mod config;
mod config_pass;
pub mod directives;
mod handler;
mod lifecycle;
mod proxy_headers;
mod translate;

use std::ffi::c_char;
use std::ptr::null;

use crate::apache::guard;
use crate::ffi;

/// A NULL-terminated list of module names for hook ordering.
#[repr(transparent)]
struct ModuleList<const N: usize>([*const c_char; N]);
// SAFETY: immutable pointers to static strings.
unsafe impl<const N: usize> Sync for ModuleList<N> {}

// WSGIScriptAlias runs after mod_alias (so Alias/Redirect win, as with mod_wsgi)
// and before the modules that map URLs to user or virtual-host directories.
static TRANSLATE_AFTER: ModuleList<2> = ModuleList([c"mod_alias.c".as_ptr(), null()]);
static TRANSLATE_BEFORE: ModuleList<3> = ModuleList([c"mod_userdir.c".as_ptr(), c"mod_vhost_alias.c".as_ptr(), null()]);
// WSGIAccessScript runs after mod_ssl's access checks and before mod_authz_host's (as with mod_wsgi).
static ACCESS_AFTER: ModuleList<2> = ModuleList([c"mod_ssl.c".as_ptr(), null()]);
static ACCESS_BEFORE: ModuleList<2> = ModuleList([c"mod_authz_host.c".as_ptr(), null()]);

pub unsafe extern "C" fn register(pool: *mut ffi::apr_pool_t) {
    crate::apache::log::install();
    guard::contain("register_hooks", (), || {
        // SAFETY: registering functions of this module; Apache copies the ordering
        // lists' pointers, which are static.
        unsafe {
            ffi::ap_hook_pre_config(Some(lifecycle::pre_config), null(), null(), ffi::APR_HOOK_MIDDLE);
            ffi::ap_hook_post_config(Some(lifecycle::post_config), null(), null(), ffi::APR_HOOK_MIDDLE);
            ffi::ap_hook_child_init(Some(lifecycle::child_init), null(), null(), ffi::APR_HOOK_MIDDLE);
            ffi::ap_hook_monitor(Some(lifecycle::monitor), null(), null(), ffi::APR_HOOK_MIDDLE);
            // After the core's pre_mpm, which makes the scoreboard.
            ffi::ap_hook_pre_mpm(Some(lifecycle::pre_mpm), null(), null(), ffi::APR_HOOK_REALLY_LAST);
            ffi::ap_hook_translate_name(
                Some(translate::translate_name),
                TRANSLATE_AFTER.0.as_ptr(),
                TRANSLATE_BEFORE.0.as_ptr(),
                ffi::APR_HOOK_MIDDLE,
            );
            ffi::ap_hook_handler(Some(handler::handler), null(), null(), ffi::APR_HOOK_MIDDLE);
            ffi::ap_hook_access_checker(
                Some(auth::access_checker),
                ACCESS_AFTER.0.as_ptr(),
                ACCESS_BEFORE.0.as_ptr(),
                ffi::APR_HOOK_MIDDLE,
            );
            ffi::ap_hook_handler(Some(handler::guard_scripts), null(), null(), ffi::APR_HOOK_REALLY_FIRST);
        }
        // SAFETY: Apache passes register_hooks the configuration pool.
        let pool = unsafe { crate::apache::Pool::from_raw(pool) };
        // The names mod_wsgi gives its providers, which configurations use.
        crate::apache::auth::register_authn(pool, c"wsgi", &auth::AUTHN);
        crate::apache::auth::register_authz(pool, c"wsgi-group", &auth::AUTHZ);
    })
}
