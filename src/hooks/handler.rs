//! The content handler for `wsgi-script`: checks that Apache mapped the request
//! to a runnable script, then serves it.

use std::ffi::c_int;

use crate::apache::module_config::{dir_config, request_alias, server_config};
use crate::apache::{DECLINED, Request, guard, log, request::FileKind};
use crate::config::{DirConfig, GroupSpec, HandlerScript, HeadMapping, ScriptHook, Setting, script_hook};
use crate::daemon::{child, registry};
use crate::ffi;
use crate::embedded;
use crate::route::{Route, resolve_group};
use crate::wsgi::hook_script::HookScript;
use super::proxy_headers;

pub unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    guard::contain("handler", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: Apache passes the live request.
        let r = unsafe { Request::from_raw(r) };
        // Lines logged while serving carry the client and honour the
        // directory's LogLevel.
        let _scope = log::request_scope(&r);
        handle(&r)
    })
}

/// Runs before every other handler: a file that a `WSGIScriptAlias` names as
/// its script, reached some other way (under the DocumentRoot, say), is
/// refused rather than served as a file; its source may hold secrets.
/// (mod_wsgi serves it.)
pub unsafe extern "C" fn guard_scripts(r: *mut ffi::request_rec) -> c_int {
    guard::contain("handler", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: Apache passes the live request.
        let r = unsafe { Request::from_raw(r) };
        let handler = r.handler();
        // Mapped by a WSGIScriptAlias, it is not reached as a file: another
        // handler set on top of the mount (SetHandler server-status in a
        // <Location> under it) serves the request, not the file.
        if handler == b"wsgi-script" || handler == b"application/x-httpd-wsgi" || r.filename().is_empty() || request_alias(&r).is_some() {
            return DECLINED;
        }
        let filename = r.filename();
        let Some(alias) = server_config(r.server()).aliases.iter().find(|a| {
            matches!(a.pattern, crate::config::AliasPattern::Prefix(_)) && !a.target.ends_with('/') && a.target.as_bytes() == filename
        }) else {
            return DECLINED;
        };
        let _scope = log::request_scope(&r);
        let url = match &alias.pattern {
            crate::config::AliasPattern::Prefix(p) | crate::config::AliasPattern::Regex(p) => p.as_str(),
        };
        tracing::error!("refusing to serve the WSGI script {} (mounted by WSGIScriptAlias {url}) as a file", alias.target);
        ffi::HTTP_FORBIDDEN
    })
}

/// Which kind of request the handler serves.
enum Target {
    /// The mapped file is the WSGI script (`wsgi-script`).
    File,
    /// A `WSGIHandlerScript` named by the request's handler.
    HandlerScript(HandlerScript),
}

fn target(r: &Request, dir: &DirConfig) -> Option<Target> {
    let handler = r.handler();
    if handler == b"wsgi-script" || handler == b"application/x-httpd-wsgi" {
        return Some(Target::File);
    }
    if handler.is_empty() {
        return None;
    }
    // A directory's definitions replace the server's (as in mod_wsgi).
    let server = server_config(r.server());
    let scripts = dir.handler_scripts.get().unwrap_or(&server.handler_scripts);
    script_hook::find_handler_script(scripts, handler).copied().map(Target::HandlerScript)
}

fn handle(r: &Request) -> c_int {
    // The metrics endpoint, where SetHandler puts it (Apache's Require guards it).
    if r.handler() == b"rwsgi-metrics" {
        return crate::metrics::serve_prometheus(r);
    }
    if r.handler() == b"rwsgi-status" {
        return crate::metrics::serve_status(r);
    }
    let dir = dir_config(r);
    let Some(target) = target(r, &dir) else { return DECLINED };
    let filename = String::from_utf8_lossy(r.filename()).into_owned();
    let alias = request_alias(r);
    if let Target::File = target
        && let Some(status) = check_script_file(r, alias.is_some(), &filename)
    {
        return status;
    }
    if r.path_info_rejected() && !r.path_info().is_empty() {
        tracing::error!("AcceptPathInfo is off; path info not allowed: {filename}");
        return ffi::HTTP_NOT_FOUND;
    }
    let mut route = Route::resolve(r, &dir, alias.map(|a| &a.options));
    let mut variables_added = false;
    if let Target::HandlerScript(script) = &target {
        route.use_handler_script(r, script);
        r.subprocess_env().set(r.pool(), "mod_wsgi.handler_script", script.path.as_bytes());
    }
    if let Setting::Set(hook) = dir.dispatch_script {
        r.add_cgi_variables();
        proxy_headers::apply(r, &dir);
        set_directory_variables(r, &dir);
        variables_added = true;
        if let Err(status) = dispatch(r, &mut route, hook) {
            return status;
        }
    }
    if let Setting::Set(allowed) = dir.restrict_process
        && !allowed.contains(&route.process_group.as_str())
    {
        tracing::error!("process group '{}' is not allowed here by WSGIRestrictProcess: {filename}", route.process_group);
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
    }
    let daemon = if route.process_group.is_empty() {
        None
    } else {
        match registry::find(&route.process_group) {
            // A group defined in a virtual host serves that host's requests only.
            Some(group) if group.virtual_host.as_deref().is_none_or(|h| h == r.server().hostname()) => Some(group),
            _ => {
                tracing::error!("No WSGI daemon process called '{}' has been configured: {filename}", route.process_group);
                return ffi::HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    };
    if daemon.is_none() && server_config(r.server()).restrict_embedded == Some(true) {
        tracing::error!("embedded mode is disabled by WSGIRestrictEmbedded: {filename}");
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
    }
    if let Err(status) = r.setup_body(route.chunked_request) {
        let length = r.headers_in().get("Content-Length").map(|v| String::from_utf8_lossy(v).into_owned());
        let why = match status {
            ffi::HTTP_LENGTH_REQUIRED => "chunked request bodies are refused (WSGIChunkedRequest Off)".to_string(),
            ffi::HTTP_REQUEST_ENTITY_TOO_LARGE => format!(
                "request body of {} bytes is larger than LimitRequestBody ({})",
                length.as_deref().unwrap_or("?"),
                r.body_limit()
            ),
            _ => format!("the request body cannot be read (Content-Length {length:?})"),
        };
        tracing::error!("{why}: {filename}");
        return status;
    }
    if !variables_added {
        r.add_cgi_variables();
        proxy_headers::apply(r, &dir);
        set_directory_variables(r, &dir);
    }
    if let Some(group) = daemon {
        let code = child::serve(r, &route, &group);
        crate::metrics::daemon_request(&group.options.name, if code == ffi::OK { r.status() } else { code });
        return code;
    }
    if let Err(e) = crate::runtime::python_ready() {
        tracing::error!("cannot run {filename}: {e}");
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
    }
    embedded::serve(r, &route)
}

/// The checks a `wsgi-script` file must pass; the status to answer otherwise.
fn check_script_file(r: &Request, aliased: bool, filename: &str) -> Option<c_int> {
    if !aliased && !r.exec_cgi_allowed() {
        tracing::error!("Options ExecCGI is off in this directory: {filename}");
        return Some(ffi::HTTP_FORBIDDEN);
    }
    match r.file_kind() {
        FileKind::Regular => None,
        FileKind::Missing => {
            tracing::error!("Target WSGI script not found or unable to stat: {filename}");
            Some(ffi::HTTP_NOT_FOUND)
        }
        FileKind::Directory => {
            tracing::error!("Attempt to invoke directory as WSGI application: {filename}");
            Some(ffi::HTTP_FORBIDDEN)
        }
        FileKind::Other => {
            tracing::error!("Target WSGI script is not a regular file: {filename}");
            Some(ffi::HTTP_FORBIDDEN)
        }
    }
}

/// Runs the WSGIDispatchScript, which may change the route; Err(500) when it failed.
fn dispatch(r: &Request, route: &mut Route, hook: ScriptHook) -> Result<(), c_int> {
    if let Err(e) = crate::runtime::python_ready() {
        tracing::error!("cannot run the dispatch script '{}': {e}", hook.path);
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR);
    }
    let application_group = resolve_group(r, hook.application_group.unwrap_or(GroupSpec::Global));
    let script = HookScript { path: hook.path, application_group: &application_group, reloading: route.script_reloading };
    let env = r.subprocess_env();
    let choice = crate::wsgi::dispatch::dispatch(&script, &|visit| env.for_each(|k, v| visit(k, v)), &embedded::request_info(r, route));
    match choice {
        Some(choice) => {
            route.apply_dispatch(r, choice);
            Ok(())
        }
        None => Err(ffi::HTTP_INTERNAL_SERVER_ERROR),
    }
}

/// The environ entries mod_wsgi derives from the directory's directives; they
/// travel with the CGI variables, so both modes see them.
fn set_directory_variables(r: &Request, dir: &crate::config::DirConfig) {
    let env = r.subprocess_env();
    let flag = |on: bool| if on { b"1".as_slice() } else { b"0".as_slice() };
    env.set(r.pool(), "mod_wsgi.enable_sendfile", flag(dir.enable_sendfile.or(false)));
    env.set(r.pool(), "mod_wsgi.ignore_activity", flag(dir.ignore_activity.or(false)));
    if r.header_only() {
        let as_get = match dir.map_head_to_get.or(HeadMapping::Auto) {
            HeadMapping::On => true,
            HeadMapping::Off => false,
            HeadMapping::Auto => r.has_content_output_filter(),
        };
        if as_get {
            env.set(r.pool(), "REQUEST_METHOD", b"GET");
        }
    }
}
