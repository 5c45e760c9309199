//! Which script, callable and groups serve a request (in either mode): the alias options win
//! over the directory configuration, which wins over the defaults.

use crate::apache::Request;
use crate::config::script_hook::HANDLER_CALLABLE;
use crate::config::{AliasOptions, DirConfig, GroupContext, GroupSpec, HandlerScript};
use crate::wsgi::dispatch::Choice;

pub struct Route {
    pub script: Vec<u8>,
    /// The script file's modification time (µs), which reloading compares.
    pub script_mtime: i64,
    pub script_name: Vec<u8>,
    pub process_group: String,
    pub application_group: String,
    pub callable_object: String,
    pub pass_authorization: bool,
    pub script_reloading: bool,
    pub chunked_request: bool,
    /// WSGIErrorOverride: a daemon's 4xx/5xx response gives way to Apache's error document.
    pub error_override: bool,
    /// WSGIPassApacheRequest: `apache.request_rec` in the environ (embedded mode).
    pub pass_apache_request: bool,
}

struct RequestGroups<'a> {
    r: &'a Request,
    script_name: &'a [u8],
}

impl GroupContext for RequestGroups<'_> {
    fn server_name(&self) -> String {
        // The configured ServerName (as mod_wsgi uses), not the client's Host.
        self.r.server().hostname().to_string()
    }
    fn server_port(&self) -> u16 {
        self.r.server_port()
    }
    fn host_header(&self) -> Option<String> {
        self.r.headers_in().get("Host").map(|h| String::from_utf8_lossy(h).into_owned())
    }
    fn script_name(&self) -> String {
        String::from_utf8_lossy(self.script_name).into_owned()
    }
    fn lookup_env(&self, name: &str) -> Option<String> {
        self.r
            .notes()
            .get(name)
            .or_else(|| self.r.subprocess_env().get(name))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .or_else(|| std::env::var(name).ok())
    }
}

/// A callable name as configured or chosen: `%{ENV:NAME}` is looked up.
fn callable_name(ctx: &RequestGroups<'_>, callable: &str) -> String {
    match callable.strip_prefix("%{ENV:").and_then(|v| v.strip_suffix('}')) {
        Some(name) => ctx.lookup_env(name).unwrap_or_else(|| "application".to_string()),
        None => callable.to_string(),
    }
}

/// SCRIPT_NAME for the request: the URI without its path info, with no trailing slash.
pub fn script_name(r: &Request) -> Vec<u8> {
    let uri = r.uri();
    let path_info = r.path_info();
    let mut base = if !path_info.is_empty() && uri.ends_with(path_info) { &uri[..uri.len() - path_info.len()] } else { uri };
    while let Some(stripped) = base.strip_suffix(b"/") {
        base = stripped;
    }
    base.to_vec()
}

/// Resolves a group name configured for this request's scope (or, with
/// `value`, one a script returned), as an alias's or directory's would be.
pub fn resolve_group(r: &Request, spec: GroupSpec) -> String {
    let script_name = script_name(r);
    spec.resolve(&RequestGroups { r, script_name: &script_name })
}

impl Route {
    /// Serves the request with a `WSGIHandlerScript`'s script (its
    /// `handle_request`) instead of the file Apache mapped the URL to; the
    /// entry's options win over the directory's.
    pub fn use_handler_script(&mut self, r: &Request, script: &HandlerScript) {
        let ctx = RequestGroups { r, script_name: &self.script_name };
        self.script = script.path.as_bytes().to_vec();
        self.script_mtime = std::fs::metadata(script.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_micros() as i64);
        self.callable_object = HANDLER_CALLABLE.to_string();
        if let Some(spec) = script.process_group {
            self.process_group = spec.resolve(&ctx);
        }
        if let Some(spec) = script.application_group {
            self.application_group = spec.resolve(&ctx);
        }
        if let Some(pass) = script.pass_authorization {
            self.pass_authorization = pass;
        }
    }

    /// Applies what a dispatch script chose; its `%{...}` forms expand as
    /// configured values do.
    pub fn apply_dispatch(&mut self, r: &Request, choice: Choice) {
        let ctx = RequestGroups { r, script_name: &self.script_name };
        if let Some(group) = choice.process_group {
            self.process_group = GroupSpec::resolve_value(&group, &ctx);
        }
        if let Some(group) = choice.application_group {
            self.application_group = GroupSpec::resolve_value(&group, &ctx);
        }
        if let Some(callable) = choice.callable_object {
            self.callable_object = callable_name(&ctx, &callable);
        }
    }
}

impl Route {
    pub fn resolve(r: &Request, dir: &DirConfig, alias: Option<&AliasOptions>) -> Route {
        let alias = alias.copied().unwrap_or_default();
        let script_name = script_name(r);
        let ctx = RequestGroups { r, script_name: &script_name };
        let process_group = alias.process_group.or(dir.process_group.get()).unwrap_or(GroupSpec::Global).resolve(&ctx);
        let application_group =
            alias.application_group.or(dir.application_group.get()).unwrap_or(GroupSpec::Resource).resolve(&ctx);
        let callable = alias.callable_object.or(dir.callable_object.get()).unwrap_or("application");
        let callable_object = callable_name(&ctx, callable);
        Route {
            script: r.filename().to_vec(),
            script_mtime: r.file_mtime(),
            script_name,
            process_group,
            application_group,
            callable_object,
            pass_authorization: alias.pass_authorization.or(dir.pass_authorization.get()).unwrap_or(false),
            script_reloading: dir.script_reloading.or(true),
            chunked_request: dir.chunked_request.or(false),
            error_override: dir.error_override.or(false),
            pass_apache_request: dir.pass_apache_request.or(false),
        }
    }
}
