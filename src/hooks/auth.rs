//! The script hooks of Apache's access and authentication phases, run in this
//! child as mod_wsgi runs them: the `wsgi` authentication provider
//! (`AuthBasicProvider wsgi` / `AuthDigestProvider wsgi` with
//! `WSGIAuthUserScript`), the `wsgi-group` authorization provider
//! (`Require wsgi-group NAME...` with `WSGIAuthGroupScript`), and the access
//! checker for `WSGIAccessScript`.

use std::ffi::{CStr, c_char, c_int, c_void};

use crate::apache::auth::{self, Provider, authn_provider, authn_status, authz_provider, authz_status};
use std::sync::Arc;

use crate::apache::module_config::dir_config;
use crate::apache::ssl::RequestSsl;
use crate::apache::{DECLINED, OK, Request, Table, guard, log, status};
use crate::config::{DirConfig, GroupSpec, ScriptHook, Setting};
use crate::route;
use crate::wsgi::auth::{self as scripts, Access, Password, RealmHash};
use crate::wsgi::hook_script::HookScript;

pub static AUTHN: Provider<authn_provider> =
    Provider(authn_provider { check_password: Some(check_password), get_realm_hash: Some(get_realm_hash) });
pub static AUTHZ: Provider<authz_provider> =
    Provider(authz_provider { check_authorization: Some(check_authorization), parse_require_line: None });

/// Runs `body` with the hook's script for this request (the one `hook` picks
/// from the directory's configuration) and what it is called with; `failed`
/// when there is none (the directive that names it is missing: logged with
/// `used`, the configuration line that needs it) or Python does not run here.
fn run_script<R>(
    r: &Request,
    hook: fn(&DirConfig) -> Setting<ScriptHook>,
    used: &str,
    failed: R,
    body: impl FnOnce(&HookScript<'_>, &scripts::Request<'_>) -> R,
) -> R {
    let dir = dir_config(r);
    let Setting::Set(hook) = hook(&dir) else {
        tracing::error!("{used} is used but no script is set for it here: {}", String::from_utf8_lossy(r.uri()));
        return failed;
    };
    if let Err(e) = crate::runtime::python_ready() {
        tracing::error!("cannot run the script '{}': {e}", hook.path);
        return failed;
    }
    let application_group = route::resolve_group(r, hook.application_group.unwrap_or(GroupSpec::Global));
    let script = HookScript { path: hook.path, application_group: &application_group, reloading: dir.script_reloading.or(true) };
    let table = r.common_variables();
    let variables = |visit: &mut dyn FnMut(&[u8], &[u8])| visit_variables(r, table, visit);
    body(&script, &scripts::Request { variables: &variables, ssl: Arc::new(RequestSsl::new(r)) })
}

/// Calls `visit` for each variable a hook script's environ holds: what Apache
/// gives CGI scripts (never the credentials), and the request line's parts.
fn visit_variables(r: &Request, table: Table, visit: &mut dyn FnMut(&[u8], &[u8])) {
    table.for_each(|k, v| visit(k, v));
    visit(b"SERVER_PROTOCOL", r.protocol());
    visit(b"REQUEST_METHOD", r.method());
    visit(b"QUERY_STRING", r.args());
    visit(b"REQUEST_URI", r.unparsed_uri());
    let (uri, path_info) = (r.uri(), r.path_info());
    let script_name = if !path_info.is_empty() && uri.ends_with(path_info) { &uri[..uri.len() - path_info.len()] } else { uri };
    visit(b"SCRIPT_NAME", script_name);
    visit(b"PATH_INFO", path_info);
}

/// # Safety
/// `p` must be null or a NUL-terminated string alive for the call.
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: (caller) a live C string.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

unsafe extern "C" fn check_password(r: *mut crate::ffi::request_rec, user: *const c_char, password: *const c_char) -> authn_status {
    guard::contain("check_password", auth::AUTH_GENERAL_ERROR, || {
        // SAFETY: mod_auth_basic passes the live request and its two strings.
        let (r, user, password) = unsafe { (Request::from_raw(r), bytes(user), bytes(password)) };
        let _scope = log::request_scope(&r);
        let used = "AuthBasicProvider wsgi (WSGIAuthUserScript)";
        run_script(&r, |d| d.auth_user_script, used, auth::AUTH_GENERAL_ERROR, |script, request| {
            match scripts::check_password(script, request, user, password) {
                Password::Granted(name) => {
                    if let Some(name) = name {
                        r.set_user(&name);
                    }
                    auth::AUTH_GRANTED
                }
                Password::Denied => auth::AUTH_DENIED,
                Password::UserNotFound => auth::AUTH_USER_NOT_FOUND,
                Password::Error => auth::AUTH_GENERAL_ERROR,
            }
        })
    })
}

unsafe extern "C" fn get_realm_hash(
    r: *mut crate::ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> authn_status {
    guard::contain("get_realm_hash", auth::AUTH_GENERAL_ERROR, || {
        // SAFETY: mod_auth_digest passes the live request and its two strings.
        let (r, user, realm) = unsafe { (Request::from_raw(r), bytes(user), bytes(realm)) };
        let _scope = log::request_scope(&r);
        let used = "AuthDigestProvider wsgi (WSGIAuthUserScript)";
        run_script(&r, |d| d.auth_user_script, used, auth::AUTH_GENERAL_ERROR, |script, request| {
            match scripts::get_realm_hash(script, request, user, realm) {
                RealmHash::Found(hash) => {
                    // SAFETY: the caller's out-parameter; the string is a copy in r->pool.
                    unsafe { *rethash = r.pool().memdup(&hash) as *mut c_char };
                    auth::AUTH_USER_FOUND
                }
                RealmHash::UserNotFound => auth::AUTH_USER_NOT_FOUND,
                RealmHash::Error => auth::AUTH_GENERAL_ERROR,
            }
        })
    })
}

unsafe extern "C" fn check_authorization(r: *mut crate::ffi::request_rec, require_args: *const c_char, _parsed: *const c_void) -> authz_status {
    guard::contain("check_authorization", auth::AUTHZ_GENERAL_ERROR, || {
        // SAFETY: mod_authz_core passes the live request.
        let r = unsafe { Request::from_raw(r) };
        let _scope = log::request_scope(&r);
        let Some(user) = r.user().map(<[u8]>::to_vec) else { return auth::AUTHZ_DENIED_NO_USER };
        let used = "Require wsgi-group (WSGIAuthGroupScript)";
        let Some(groups) = run_script(&r, |d| d.auth_group_script, used, None, |script, request| scripts::groups_for_user(script, request, &user))
        else {
            return auth::AUTHZ_DENIED;
        };
        let (user, uri) = (String::from_utf8_lossy(&user), String::from_utf8_lossy(r.uri()));
        let why = if groups.is_empty() {
            "User is not a member of any groups"
        } else {
            // SAFETY: the Require line's arguments, alive for this call.
            let wanted = unsafe { auth::require_words(&r, require_args) };
            if wanted.iter().any(|w| groups.contains(w)) {
                return auth::AUTHZ_GRANTED;
            }
            "User is not a member of designated groups"
        };
        tracing::error!(raw = true, "mod_rwsgi (pid={}): Authorization of user '{user}' to access '{uri}' failed. {why}.", std::process::id());
        auth::AUTHZ_DENIED
    })
}

pub unsafe extern "C" fn access_checker(r: *mut crate::ffi::request_rec) -> c_int {
    guard::contain("access_checker", status::INTERNAL_SERVER_ERROR, || {
        // SAFETY: Apache passes the live request.
        let r = unsafe { Request::from_raw(r) };
        if dir_config(&r).access_script == Setting::Unset {
            return DECLINED;
        }
        let _scope = log::request_scope(&r);
        let used = "WSGIAccessScript";
        let access = run_script(&r, |d| d.access_script, used, None, |script, request| Some(scripts::allow_access(script, request, r.remote_host())));
        match access {
            None => status::INTERNAL_SERVER_ERROR,
            Some(Access::Undecided) => DECLINED,
            Some(Access::Allow) => OK,
            Some(Access::Deny) => {
                if !r.access_may_be_satisfied_by_auth() {
                    tracing::error!(raw = true, "mod_rwsgi (pid={}): Client denied by server configuration: '{}'.", std::process::id(), String::from_utf8_lossy(r.filename()));
                }
                status::FORBIDDEN
            }
        }
    })
}
