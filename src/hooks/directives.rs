//! The directive table Apache reads from the module struct, and the handlers
//! that feed each directive into `crate::config`.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::null;

use crate::apache::cmd::Cmd;
use crate::apache::{guard, module_config};
use super::{config_pass, proxy_headers};
use crate::config::{ConfStr, DirConfig, GroupSpec, ServerConfig, Setting, parse, script_hook};
use crate::ffi::{self, cmd_func, cmd_how, cmd_parms, command_rec};

type Take1 = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, *const c_char) -> *const c_char;
type Flag = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, c_int) -> *const c_char;
type TakeArgv = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, c_int, *const *mut c_char) -> *const c_char;
type RawArgs = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, *const c_char) -> *const c_char;

const SERVER: c_int = ffi::RSRC_CONF;
const SERVER_OR_DIR: c_int = ffi::RSRC_CONF | ffi::ACCESS_CONF;
const ANYWHERE: c_int = ffi::OR_FILEINFO;
const AUTHCFG: c_int = ffi::OR_AUTHCFG;

const fn entry(name: &'static CStr, func: cmd_func, how: cmd_how, req_override: c_int, help: &'static CStr) -> command_rec {
    command_rec { name: name.as_ptr(), func, cmd_data: std::ptr::null_mut(), req_override, args_how: how, errmsg: help.as_ptr() }
}
const fn take1(name: &'static CStr, f: Take1, ov: c_int, help: &'static CStr) -> command_rec {
    entry(name, cmd_func { take1: Some(f) }, ffi::cmd_how_TAKE1, ov, help)
}
const fn flag(name: &'static CStr, f: Flag, ov: c_int, help: &'static CStr) -> command_rec {
    entry(name, cmd_func { flag: Some(f) }, ffi::cmd_how_FLAG, ov, help)
}
const fn argv(name: &'static CStr, f: TakeArgv, ov: c_int, help: &'static CStr) -> command_rec {
    entry(name, cmd_func { take_argv: Some(f) }, ffi::cmd_how_TAKE_ARGV, ov, help)
}
/// The whole argument line, for directives whose options mod_wsgi reads itself
/// (`name="quoted value"`).
const fn raw(name: &'static CStr, f: RawArgs, ov: c_int, help: &'static CStr) -> command_rec {
    entry(name, cmd_func { raw_args: Some(f) }, ffi::cmd_how_RAW_ARGS, ov, help)
}

#[repr(transparent)]
pub struct CommandTable<const N: usize>(pub [command_rec; N]);
// SAFETY: the table is immutable; Apache only reads it.
unsafe impl<const N: usize> Sync for CommandTable<N> {}

/// Apache walks the table until the entry with a NULL name at the end.
pub static COMMANDS: CommandTable<53> = CommandTable([
    raw(c"WSGIScriptAlias", script_alias, SERVER, c"URL-path, script file or directory, and options"),
    raw(c"WSGIScriptAliasMatch", script_alias_match, SERVER, c"URL regular expression, script file or directory, and options"),
    take1(c"WSGICallableObject", callable_object, ANYWHERE, c"Name of the WSGI application object in the script"),
    take1(c"WSGIApplicationGroup", application_group, SERVER_OR_DIR, c"Application group (interpreter) name"),
    take1(c"WSGIProcessGroup", process_group, SERVER_OR_DIR, c"Daemon process group name, or %{GLOBAL}"),
    take1(c"WSGIPythonHome", python_home, SERVER, c"Python prefix or virtual environment"),
    take1(c"WSGIPythonPath", python_path, SERVER, c"Directories to add to sys.path, ':'-separated"),
    take1(c"WSGIPythonOptimize", python_optimize, SERVER, c"Python optimisation level: 0, 1 or 2"),
    take1(c"WSGIPythonHashSeed", python_hash_seed, SERVER, c"Python hash seed: random or a number"),
    flag(c"WSGIDontWriteBytecode", dont_write_bytecode, SERVER, c"On to stop Python writing .pyc files"),
    flag(c"WSGIPassAuthorization", pass_authorization, ANYWHERE, c"On to pass the Authorization header to the application"),
    flag(c"WSGIChunkedRequest", chunked_request, ANYWHERE, c"On to accept chunked request bodies"),
    flag(c"WSGIScriptReloading", script_reloading, ANYWHERE, c"On to reload scripts when their file changes"),
    flag(c"WSGIRestrictStdin", restrict_stdin, SERVER, c"On to make reading sys.stdin an error"),
    flag(c"WSGIRestrictStdout", restrict_stdout, SERVER, c"On to make writing sys.stdout an error"),
    flag(c"WSGILazyInitialization", lazy_initialization, SERVER, c"Accepted for compatibility; Python always starts in the children"),
    take1(c"WSGISocketPrefix", socket_prefix, SERVER, c"Path prefix for daemon-mode sockets"),
    raw(c"WSGIDaemonProcess", daemon_process, SERVER, c"Daemon process group name and options"),
    raw(c"WSGIImportScript", import_script, SERVER, c"Script to load when a process starts, with process-group= and application-group="),
    flag(c"WSGIRestrictEmbedded", restrict_embedded, SERVER, c"On to refuse running applications in Apache's own processes"),
    argv(c"WSGIRestrictProcess", restrict_process, SERVER_OR_DIR, c"Daemon process groups that may be selected here"),
    flag(c"WSGISocketRotation", socket_rotation, SERVER, c"Off to keep daemon socket names across graceful restarts"),
    // Proxies (hooks/proxy_headers.rs).
    argv(c"WSGITrustedProxyHeaders", proxy_headers::trusted_proxy_headers, ANYWHERE, c"Proxy headers to honour from trusted proxies (X-Forwarded-For, X-Forwarded-Proto, ...)"),
    argv(c"WSGITrustedProxies", proxy_headers::trusted_proxies, ANYWHERE, c"Addresses and networks of the trusted proxies"),
    // The script hooks (see script_hooks below).
    raw(c"WSGIAccessScript", access_script, AUTHCFG, c"Script whose allow_access(environ, host) decides host access, and application-group="),
    raw(c"WSGIAuthUserScript", auth_user_script, AUTHCFG, c"Script for the wsgi auth provider (check_password, get_realm_hash), and application-group="),
    raw(c"WSGIAuthGroupScript", auth_group_script, AUTHCFG, c"Script whose groups_for_user(environ, user) serves Require wsgi-group, and application-group="),
    take1(c"WSGIGroupAuthoritative", group_authoritative, AUTHCFG, c"On or Off (kept for mod_wsgi configurations)"),
    raw(c"WSGIDispatchScript", dispatch_script, SERVER_OR_DIR, c"Script that may choose a request's process group, application group and callable"),
    raw(c"WSGIHandlerScript", handler_script, SERVER_OR_DIR, c"Handler name, script whose handle_request serves it, and options"),
    // The rest of mod_wsgi 4.9/6.x's directives (issue 9); `more` holds their handlers.
    take1(c"WSGIMapHEADToGET", more::map_head_to_get, ANYWHERE, c"On, Off or Auto: when a HEAD request reaches the application as GET"),
    flag(c"WSGIErrorOverride", more::error_override, ANYWHERE, c"On to answer a daemon's error responses with Apache's ErrorDocument"),
    flag(c"WSGIPassApacheRequest", more::pass_apache_request, SERVER_OR_DIR, c"On to add apache.request_rec to the environ (embedded mode)"),
    flag(c"WSGIEnableSendfile", more::enable_sendfile, ANYWHERE, c"On to let wsgi.file_wrapper use sendfile()"),
    flag(c"WSGIIgnoreActivity", more::ignore_activity, ANYWHERE, c"On so that these requests do not count as daemon activity"),
    flag(c"WSGICaseSensitivity", more::case_sensitivity, SERVER, c"Off if script paths are case-insensitive"),
    take1(c"WSGIPythonWarnings", more::python_warnings, SERVER, c"A Python -W warnings filter (repeatable)"),
    take1(c"WSGIPythonEggs", more::python_eggs, SERVER, c"Python egg cache directory"),
    take1(c"WSGISwitchInterval", more::switch_interval, SERVER, c"Python thread switch interval, in seconds"),
    flag(c"WSGIDestroyInterpreter", more::destroy_interpreter, SERVER, c"Whether Python is finalised at process exit"),
    flag(c"WSGIRestrictSignal", more::restrict_signal, SERVER, c"On to make signal.signal() log and ignore registrations"),
    take1(c"WSGIAcceptMutex", more::accept_mutex, SERVER, c"Lock type for daemon accept (not needed here)"),
    flag(c"WSGIVerboseDebugging", more::verbose_debugging, SERVER, c"Deprecated: use LogLevel rwsgi:debug"),
    flag(c"WSGIServerMetrics", more::server_metrics, SERVER, c"On to allow mod_wsgi.server_metrics()"),
    take1(c"WSGISlowRequests", more::slow_requests, SERVER, c"Slow-request telemetry threshold, in seconds"),
    raw(c"WSGITelemetryService", more::telemetry_service, SERVER, c"unix:/path [interval=N]: the telemetry ingester"),
    raw(c"WSGITelemetryOptions", more::telemetry_options, SERVER, c"Telemetry capture flags"),
    flag(c"WSGIPerInterpreterGIL", more::per_interpreter_gil, SERVER, c"On to give sub-interpreters their own GIL"),
    flag(c"WSGIFreeThreading", more::free_threading, SERVER, c"On to run free-threaded Python"),
    raw(c"<WSGIInterpreterOptions", more::interpreter_options, SERVER, c"Container of interpreter settings for a process/application group"),
    take1(c"WSGINewRelicConfigFile", more::newrelic, SERVER, c"Removed in mod_wsgi 6.0: does nothing"),
    take1(c"WSGINewRelicEnvironment", more::newrelic, SERVER, c"Removed in mod_wsgi 6.0: does nothing"),
    END,
]);

const END: command_rec = command_rec {
    name: null(),
    func: cmd_func { take1: None },
    cmd_data: std::ptr::null_mut(),
    req_override: 0,
    args_how: 0,
    errmsg: null(),
};

/// Runs a directive body: errors and panics become Apache syntax errors.
pub(super) fn run(cmd: *mut cmd_parms, body: impl FnOnce(&Cmd) -> Result<(), String>) -> *const c_char {
    guard::contain("directive handler", c"rwsgi: internal error (panic caught) while parsing this directive".as_ptr(), || {
        // SAFETY: Apache passes the live cmd_parms of this directive.
        let cmd = unsafe { Cmd::from_raw(cmd) };
        match body(&cmd) {
            Ok(()) => null(),
            Err(msg) => cmd.error(&msg),
        }
    })
}

pub(super) fn dir_config<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
    // SAFETY: Apache passes our directive handlers the section's DirConfig.
    unsafe { module_config::section_config(mconfig) }
}

fn server_config<'a>(cmd: &Cmd) -> &'a mut ServerConfig {
    module_config::server_config_mut(cmd)
}

/// # Safety
/// `w` is the NUL-terminated argument Apache passes to a TAKE1 handler.
unsafe fn arg<'a>(w: *const c_char) -> Result<&'a str, String> {
    // SAFETY: (caller) w is a live C string.
    unsafe { CStr::from_ptr(w) }.to_str().map_err(|_| "the argument is not valid UTF-8".to_string())
}

unsafe extern "C" fn script_alias(cmd: *mut cmd_parms, _: *mut c_void, line: *const c_char) -> *const c_char {
    // SAFETY: the RAW_ARGS line Apache passed.
    run(cmd, |cmd| add_script_alias(cmd, unsafe { arg(line) }?, false))
}

unsafe extern "C" fn script_alias_match(cmd: *mut cmd_parms, _: *mut c_void, line: *const c_char) -> *const c_char {
    // SAFETY: the RAW_ARGS line Apache passed.
    run(cmd, |cmd| add_script_alias(cmd, unsafe { arg(line) }?, true))
}

/// A directive's raw line split as mod_wsgi splits it: `positional` words, then options.
fn words(line: &str, positional: usize) -> Vec<String> {
    parse::directive_words(line, positional)
}

fn add_script_alias(cmd: &Cmd, line: &str, regex: bool) -> Result<(), String> {
    let words = words(line, 2);
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut alias = parse::script_alias(cmd.directive(), &args, regex, &mut |s| cmd.intern(s)).map_err(|e| e.to_string())?;
    if regex {
        let crate::config::AliasPattern::Regex(pattern) = &alias.pattern else { unreachable!() };
        alias.compiled = Some(crate::apache::regex::compile(cmd.pool(), pattern).map_err(|e| format!("{}: {e}", cmd.directive()))?);
    }
    warn_repeated(cmd, &args[2.min(args.len())..]);
    server_config(cmd).aliases.push(alias);
    Ok(())
}

/// The start-up warning for options given more than once (the last one wins, as in mod_wsgi).
fn warn_repeated(cmd: &Cmd, options: &[&str]) {
    for name in parse::repeated_options(options) {
        let warning = format!("{}: option '{name}' is given more than once; the last value is used ({})", cmd.directive(), cmd.location());
        config_pass::with(|pass| pass.warnings.push(warning));
    }
}

fn group(cmd: &Cmd, value: &str) -> Result<GroupSpec, String> {
    GroupSpec::parse(value, &mut |s| cmd.intern(s)).map_err(|e| format!("{}: {e}", cmd.directive()))
}

unsafe extern "C" fn callable_object(cmd: *mut cmd_parms, mconfig: *mut c_void, w: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the TAKE1 argument Apache passed.
        let name = parse::callable_name(unsafe { arg(w) }?).map_err(|e| format!("{}: {e}", cmd.directive()))?;
        dir_config(mconfig).callable_object = Setting::Set(cmd.intern(name));
        Ok(())
    })
}

unsafe extern "C" fn application_group(cmd: *mut cmd_parms, mconfig: *mut c_void, w: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the TAKE1 argument Apache passed.
        let value = unsafe { arg(w) }?;
        let spec = group(cmd, value)?;
        dir_config(mconfig).application_group = Setting::Set(spec);
        Ok(())
    })
}

unsafe extern "C" fn process_group(cmd: *mut cmd_parms, mconfig: *mut c_void, w: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the TAKE1 argument Apache passed.
        dir_config(mconfig).process_group = Setting::Set(group(cmd, unsafe { arg(w) }?)?);
        Ok(())
    })
}

/// Body shared by the main-server-only directives.
fn global(cmd: *mut cmd_parms, set: impl FnOnce(&Cmd, &mut ServerConfig) -> Result<(), String>) -> *const c_char {
    run(cmd, |cmd| {
        cmd.require_global()?;
        set(cmd, server_config(cmd))
    })
}

unsafe extern "C" fn python_home(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
    global(cmd, |_, c| {
        // SAFETY: the TAKE1 argument Apache passed.
        c.python.home = Some(unsafe { arg(w) }?.to_string());
        Ok(())
    })
}

unsafe extern "C" fn python_path(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
    global(cmd, |_, c| {
        // SAFETY: the TAKE1 argument Apache passed.
        c.python.paths.extend(parse::python_path(unsafe { arg(w) }?));
        Ok(())
    })
}

unsafe extern "C" fn python_optimize(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
    global(cmd, |_, c| {
        // SAFETY: the TAKE1 argument Apache passed.
        c.python.optimize = Some(parse::optimize(unsafe { arg(w) }?).map_err(|e| e.to_string())?);
        Ok(())
    })
}

unsafe extern "C" fn python_hash_seed(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
    global(cmd, |_, c| {
        // SAFETY: the TAKE1 argument Apache passed.
        c.python.hash_seed = Some(parse::hash_seed(unsafe { arg(w) }?).map_err(|e| e.to_string())?);
        Ok(())
    })
}

unsafe extern "C" fn dont_write_bytecode(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
    global(cmd, |_, c| {
        c.python.dont_write_bytecode = Some(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn restrict_stdin(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
    global(cmd, |_, c| {
        c.python.restrict_stdin = Some(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn restrict_stdout(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
    global(cmd, |_, c| {
        c.python.restrict_stdout = Some(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn socket_prefix(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
    global(cmd, |_, c| {
        // SAFETY: the TAKE1 argument Apache passed.
        c.socket_prefix = Some(unsafe { arg(w) }?.to_string());
        Ok(())
    })
}

pub(super) fn argv_strings<'a>(argc: c_int, argv: *const *mut c_char) -> Result<Vec<&'a str>, String> {
    (0..argc.max(0) as usize)
        // SAFETY: Apache passes argc valid C strings in argv, alive during parsing.
        .map(|i| unsafe { arg(*argv.add(i)) })
        .collect()
}

unsafe extern "C" fn daemon_process(cmd: *mut cmd_parms, _: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the RAW_ARGS line Apache passed.
        let words = words(unsafe { arg(line) }?, 1);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let (options, warnings) = crate::config::daemon::parse_with_warnings(&args).map_err(|e| e.to_string())?;
        let server = cmd.server();
        // The virtual host's ServerName is read after the whole configuration
        // (it may come later in the section, or be inherited).
        let defined_in = server.is_virtual().then_some(server);
        let location = cmd.location();
        // The daemon program is given the words as read (unquoted) and parses them again.
        let arguments = words.clone();
        let group = crate::daemon::registry::Defined { arguments, options, defined_in, location: location.clone() };
        config_pass::with(|pass| {
            pass.warnings.extend(warnings.into_iter().map(|w| format!("{w} ({location})")));
            pass.define_group(group)
        })
    })
}

unsafe extern "C" fn import_script(cmd: *mut cmd_parms, _: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the RAW_ARGS line Apache passed.
        let words = words(unsafe { arg(line) }?, 1);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let (path, process_group, application_group) = parse::import_script(&args).map_err(|e| e.to_string())?;
        warn_repeated(cmd, &args[1.min(args.len())..]);
        if !process_group.is_empty() && !config_pass::with(|pass| pass.is_defined(&process_group)) {
            return Err(format!(
                "WSGIImportScript: no WSGIDaemonProcess named '{process_group}' is defined before this line ({})",
                cmd.location()
            ));
        }
        let script = crate::daemon::registry::ImportScript { path, process_group, application_group };
        config_pass::with(|pass| pass.imports.push(script));
        Ok(())
    })
}

unsafe extern "C" fn restrict_embedded(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
    global(cmd, |_, c| {
        c.restrict_embedded = Some(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn socket_rotation(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
    global(cmd, |_, c| {
        c.socket_rotation = Some(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn restrict_process(cmd: *mut cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| {
        let names = argv_strings(argc, argv)?;
        if names.is_empty() {
            return Err("WSGIRestrictProcess takes one or more daemon process group names".into());
        }
        let interned: Vec<ConfStr> = names.iter().map(|n| if *n == "%{GLOBAL}" { "" } else { cmd.intern(n) }).collect();
        dir_config(mconfig).restrict_process = Setting::Set(config_list(cmd, interned));
        Ok(())
    })
}

/// A list that lives as long as the configuration pool, like every ConfStr
/// (the pool frees it when it is cleared).
pub(super) fn config_list<T: 'static>(cmd: &Cmd, items: Vec<T>) -> &'static [T] {
    let list: &'static [T] = Box::leak(items.into_boxed_slice());
    cmd.pool().adopt(Leaked(list));
    list
}

/// Frees a leaked configuration list when the configuration pool is cleared.
struct Leaked<T: 'static>(&'static [T]);
impl<T> Drop for Leaked<T> {
    fn drop(&mut self) {
        // SAFETY: the slice came from Box::leak in config_list, and the pool
        // that owns this value is the configuration pool the slice was made for.
        drop(unsafe { Box::from_raw(self.0 as *const [T] as *mut [T]) });
    }
}

unsafe extern "C" fn lazy_initialization(cmd: *mut cmd_parms, _: *mut c_void, _on: c_int) -> *const c_char {
    global(cmd, |_, _| Ok(()))
}

unsafe extern "C" fn pass_authorization(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
    run(cmd, |_| {
        dir_config(mconfig).pass_authorization = Setting::Set(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn chunked_request(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
    run(cmd, |_| {
        dir_config(mconfig).chunked_request = Setting::Set(on != 0);
        Ok(())
    })
}

unsafe extern "C" fn script_reloading(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
    run(cmd, |_| {
        dir_config(mconfig).script_reloading = Setting::Set(on != 0);
        Ok(())
    })
}

// The script hooks: they run Python in this child (even with
// WSGIRestrictEmbedded On, as with mod_wsgi), so each one marks the pass as
// needing Python in the children.

/// Parses a script hook's raw line (`path [application-group=...]`, quoted
/// as mod_wsgi allows).
fn script_hook(cmd: &Cmd, line: *const c_char) -> Result<crate::config::ScriptHook, String> {
    // SAFETY: the RAW_ARGS line Apache passed.
    let words = words(unsafe { arg(line) }?, 1);
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let hook = script_hook::script_hook(cmd.directive(), &args, &mut |s| cmd.intern(s)).map_err(|e| e.to_string())?;
    warn_repeated(cmd, &args[1.min(args.len())..]);
    config_pass::with(|pass| pass.python_in_children = true);
    Ok(hook)
}

unsafe extern "C" fn access_script(cmd: *mut cmd_parms, mconfig: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        dir_config(mconfig).access_script = Setting::Set(script_hook(cmd, line)?);
        Ok(())
    })
}

unsafe extern "C" fn auth_user_script(cmd: *mut cmd_parms, mconfig: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        dir_config(mconfig).auth_user_script = Setting::Set(script_hook(cmd, line)?);
        Ok(())
    })
}

unsafe extern "C" fn auth_group_script(cmd: *mut cmd_parms, mconfig: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        dir_config(mconfig).auth_group_script = Setting::Set(script_hook(cmd, line)?);
        Ok(())
    })
}

unsafe extern "C" fn dispatch_script(cmd: *mut cmd_parms, mconfig: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        dir_config(mconfig).dispatch_script = Setting::Set(script_hook(cmd, line)?);
        Ok(())
    })
}

unsafe extern "C" fn group_authoritative(cmd: *mut cmd_parms, mconfig: *mut c_void, w: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the TAKE1 argument Apache passed.
        let on = parse::on_off(unsafe { arg(w) }?).map_err(|e| format!("{}: {e}", cmd.directive()))?;
        dir_config(mconfig).group_authoritative = Setting::Set(on);
        let warning = format!(
            "WSGIGroupAuthoritative has no effect ({}): with Apache 2.4, Require wsgi-group is an authorization provider, combined with other Require lines by <RequireAny>/<RequireAll> (mod_wsgi ignores it too)",
            cmd.location()
        );
        config_pass::with(|pass| pass.warnings.push(warning));
        Ok(())
    })
}

unsafe extern "C" fn handler_script(cmd: *mut cmd_parms, mconfig: *mut c_void, line: *const c_char) -> *const c_char {
    run(cmd, |cmd| {
        // SAFETY: the RAW_ARGS line Apache passed.
        let words = words(unsafe { arg(line) }?, 2);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let script = script_hook::handler_script(cmd.directive(), &args, &mut |s| cmd.intern(s)).map_err(|e| e.to_string())?;
        warn_repeated(cmd, &args[2.min(args.len())..]);
        if cmd.in_section() {
            let dir = dir_config(mconfig);
            let mut list = dir.handler_scripts.get().unwrap_or_default().to_vec();
            script_hook::add_handler_script(&mut list, script);
            dir.handler_scripts = Setting::Set(config_list(cmd, list));
        } else {
            script_hook::add_handler_script(&mut server_config(cmd).handler_scripts, script);
        }
        Ok(())
    })
}

/// Handlers of the directives added for drop-in compatibility with every
/// mod_wsgi 4.9/6.x directive. Each either acts, or is accepted with a start-up
/// warning that names it, where it is, and why it does less here.
mod more {
    use super::*;
    use crate::config::HeadMapping;

    fn warn(cmd: &Cmd, why: &str) {
        let warning = format!("{} ({}) is accepted but {why}", cmd.directive(), cmd.location());
        config_pass::with(|pass| pass.warnings.push(warning));
    }

    /// A main-server directive that is accepted and only warned about.
    fn warn_only(cmd: *mut cmd_parms, why: &str) -> *const c_char {
        global(cmd, |cmd, _| {
            warn(cmd, why);
            Ok(())
        })
    }

    /// A main-server On/Off whose Off is what happens here; On is warned about.
    fn warn_if_on(cmd: *mut cmd_parms, on: c_int, why: &str) -> *const c_char {
        global(cmd, |cmd, _| {
            if on != 0 {
                warn(cmd, why);
            }
            Ok(())
        })
    }

    fn dir_flag(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int, field: fn(&mut DirConfig) -> &mut Setting<bool>) -> *const c_char {
        run(cmd, |_| {
            *field(dir_config(mconfig)) = Setting::Set(on != 0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn map_head_to_get(cmd: *mut cmd_parms, mconfig: *mut c_void, w: *const c_char) -> *const c_char {
        run(cmd, |_| {
            // SAFETY: the TAKE1 argument Apache passed.
            let mapping: HeadMapping = parse::head_mapping(unsafe { arg(w) }?)?;
            dir_config(mconfig).map_head_to_get = Setting::Set(mapping);
            Ok(())
        })
    }

    pub unsafe extern "C" fn error_override(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
        dir_flag(cmd, mconfig, on, |d| &mut d.error_override)
    }

    pub unsafe extern "C" fn pass_apache_request(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
        dir_flag(cmd, mconfig, on, |d| &mut d.pass_apache_request)
    }

    pub unsafe extern "C" fn enable_sendfile(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
        dir_flag(cmd, mconfig, on, |d| &mut d.enable_sendfile)
    }

    pub unsafe extern "C" fn ignore_activity(cmd: *mut cmd_parms, mconfig: *mut c_void, on: c_int) -> *const c_char {
        dir_flag(cmd, mconfig, on, |d| &mut d.ignore_activity)
    }

    pub unsafe extern "C" fn case_sensitivity(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        global(cmd, |cmd, c| {
            // On is what Linux file systems are, and what is done here.
            if on == 0 {
                warn(cmd, "Off has no effect: script paths that differ in case are different scripts here, as on Linux file systems (mod_wsgi's Off is for case-insensitive ones)");
            }
            c.case_sensitive = Some(on != 0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn python_warnings(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
        global(cmd, |_, c| {
            // SAFETY: the TAKE1 argument Apache passed.
            c.python.warnings.push(unsafe { arg(w) }?.to_string());
            Ok(())
        })
    }

    pub unsafe extern "C" fn python_eggs(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
        global(cmd, |_, c| {
            // SAFETY: the TAKE1 argument Apache passed.
            c.python.eggs = Some(unsafe { arg(w) }?.to_string());
            Ok(())
        })
    }

    pub unsafe extern "C" fn switch_interval(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
        global(cmd, |_, c| {
            // SAFETY: the TAKE1 argument Apache passed.
            c.python.switch_interval = Some(parse::switch_interval(unsafe { arg(w) }?)?);
            Ok(())
        })
    }

    pub unsafe extern "C" fn destroy_interpreter(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        global(cmd, |_, c| {
            c.python.destroy_interpreter = Some(on != 0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn restrict_signal(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        global(cmd, |_, c| {
            c.python.restrict_signal = Some(on != 0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn accept_mutex(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
        global(cmd, |cmd, _| {
            // SAFETY: the TAKE1 argument Apache passed.
            parse::accept_mutex(unsafe { arg(w) }?)?;
            warn(cmd, "has no effect: daemon processes here take connections with one accept() thread each, and the kernel gives each connection to one process, so no cross-process lock is used");
            Ok(())
        })
    }

    pub unsafe extern "C" fn verbose_debugging(cmd: *mut cmd_parms, _: *mut c_void, _on: c_int) -> *const c_char {
        warn_only(cmd, "does nothing (deprecated in mod_wsgi 6.0 too); use LogLevel rwsgi:debug")
    }

    pub unsafe extern "C" fn server_metrics(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        global(cmd, |_, c| {
            c.server_metrics = Some(on != 0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn slow_requests(cmd: *mut cmd_parms, _: *mut c_void, w: *const c_char) -> *const c_char {
        global(cmd, |_, c| {
            // SAFETY: the TAKE1 argument Apache passed.
            let value = unsafe { arg(w) }?;
            if value.parse::<f64>().map_or(true, |x| !x.is_finite() || x < 0.0) {
                return Err(format!("WSGISlowRequests must be a number of seconds, not '{value}'"));
            }
            c.slow_requests = value.parse::<f64>().ok().filter(|x| *x > 0.0);
            Ok(())
        })
    }

    pub unsafe extern "C" fn telemetry_service(cmd: *mut cmd_parms, _: *mut c_void, _line: *const c_char) -> *const c_char {
        warn_only(cmd, "has no effect yet: no telemetry reporter runs in this version of mod_rwsgi")
    }

    pub unsafe extern "C" fn telemetry_options(cmd: *mut cmd_parms, _: *mut c_void, _line: *const c_char) -> *const c_char {
        warn_only(cmd, "has no effect yet: telemetry is not provided by this version of mod_rwsgi")
    }

    /// Said once at start-up when a per-interpreter GIL is asked for: the
    /// embedded Python's interpreters share one GIL before 3.12.
    const OWN_GIL_NEEDS_312: &str = "needs Python 3.12 or later (PEP 684); with the Python 3.11 this module embeds, sub-interpreters share the one GIL (application groups still get their own interpreters)";

    pub unsafe extern "C" fn per_interpreter_gil(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        warn_if_on(cmd, on, OWN_GIL_NEEDS_312)
    }

    pub unsafe extern "C" fn free_threading(cmd: *mut cmd_parms, _: *mut c_void, on: c_int) -> *const c_char {
        warn_if_on(cmd, on, "has no effect: the embedded Python (Debian's 3.11) is not a free-threaded build, so the GIL stays on")
    }

    pub unsafe extern "C" fn interpreter_options(cmd: *mut cmd_parms, _: *mut c_void, line: *const c_char) -> *const c_char {
        global(cmd, |cmd, c| {
            // SAFETY: the RAW_ARGS line Apache passed.
            let line = unsafe { arg(line) }?;
            if !line.trim_end().ends_with('>') {
                return Err("<WSGIInterpreterOptions> line must end with '>'".to_string());
            }
            let selectors = words(line.trim_end().trim_end_matches('>'), 0);
            let args: Vec<&str> = selectors.iter().map(String::as_str).collect();
            let (process_group, application_group) = parse::interpreter_options_selectors(&args).map_err(|e| e.to_string())?;
            let mut options = crate::config::InterpreterOptions { process_group, application_group, ..Default::default() };
            for (name, args) in cmd.contained_lines() {
                // Each of these takes one argument, which may be quoted as anywhere else.
                let values = words(&args, 0);
                let [value] = values.as_slice() else {
                    return Err(format!("<WSGIInterpreterOptions> {name} takes one argument, not '{}'", args.trim()));
                };
                let value = value.as_str();
                let flag = || parse::on_off(value).map_err(|e| format!("<WSGIInterpreterOptions> {name}: {e}"));
                match name.to_ascii_lowercase().as_str() {
                    "wsgipythonpath" => options.paths.extend(parse::python_path(value)),
                    "wsgiswitchinterval" => options.switch_interval = Some(parse::switch_interval(value)?),
                    "wsgirestrictstdin" => options.restrict_stdin = Some(flag()?),
                    "wsgirestrictstdout" => options.restrict_stdout = Some(flag()?),
                    "wsgirestrictsignal" => options.restrict_signal = Some(flag()?),
                    "wsgiperinterpretergil" => options.per_interpreter_gil = Some(flag()?),
                    "wsgifreethreading" => {
                        if flag()? {
                            warn(cmd, "WSGIFreeThreading inside it has no effect: the embedded Python (Debian's 3.11) is not a free-threaded build");
                        }
                    }
                    _ => {
                        return Err(format!(
                            "<WSGIInterpreterOptions>: {name} is not allowed here (WSGIPythonPath, WSGISwitchInterval, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal, WSGIPerInterpreterGIL, WSGIFreeThreading are)"
                        ));
                    }
                }
            }
            if options.per_interpreter_gil == Some(true) {
                warn(cmd, &format!("WSGIPerInterpreterGIL inside it {OWN_GIL_NEEDS_312}"));
            }
            c.python.interpreter_options.push(options);
            Ok(())
        })
    }

    pub unsafe extern "C" fn newrelic(cmd: *mut cmd_parms, _: *mut c_void, _w: *const c_char) -> *const c_char {
        warn_only(cmd, "does nothing: mod_wsgi 6.0 removed its New Relic support; configure the New Relic agent from the application")
    }
}
