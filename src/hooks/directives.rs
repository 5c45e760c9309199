//! The directive table Apache reads from the module struct, and the handlers
//! that feed each directive into `crate::config`.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::null;

use crate::apache::cmd::Cmd;
use crate::apache::{guard, module_config};
use super::config_pass;
use crate::config::{ConfStr, DirConfig, GroupSpec, ServerConfig, Setting, parse};
use crate::ffi::{self, cmd_func, cmd_how, cmd_parms, command_rec};

type Take1 = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, *const c_char) -> *const c_char;
type Flag = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, c_int) -> *const c_char;
type TakeArgv = unsafe extern "C" fn(*mut cmd_parms, *mut c_void, c_int, *const *mut c_char) -> *const c_char;

const SERVER: c_int = ffi::RSRC_CONF;
const SERVER_OR_DIR: c_int = ffi::RSRC_CONF | ffi::ACCESS_CONF;
const ANYWHERE: c_int = ffi::OR_FILEINFO;

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

#[repr(transparent)]
pub struct CommandTable<const N: usize>(pub [command_rec; N]);
// SAFETY: the table is immutable; Apache only reads it.
unsafe impl<const N: usize> Sync for CommandTable<N> {}

/// Apache walks the table until the entry with a NULL name at the end.
pub static COMMANDS: CommandTable<23> = CommandTable([
    argv(c"WSGIScriptAlias", script_alias, SERVER, c"URL-path, script file or directory, and options"),
    argv(c"WSGIScriptAliasMatch", script_alias_match, SERVER, c"URL regular expression, script file or directory, and options"),
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
    argv(c"WSGIDaemonProcess", daemon_process, SERVER, c"Daemon process group name and options"),
    argv(c"WSGIImportScript", import_script, SERVER, c"Script to load when a process starts, with process-group= and application-group="),
    flag(c"WSGIRestrictEmbedded", restrict_embedded, SERVER, c"On to refuse running applications in Apache's own processes"),
    argv(c"WSGIRestrictProcess", restrict_process, SERVER_OR_DIR, c"Daemon process groups that may be selected here"),
    flag(c"WSGISocketRotation", socket_rotation, SERVER, c"Off to keep daemon socket names across graceful restarts"),
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
fn run(cmd: *mut cmd_parms, body: impl FnOnce(&Cmd) -> Result<(), String>) -> *const c_char {
    guard::contain("directive handler", c"rwsgi: internal error (panic caught) while parsing this directive".as_ptr(), || {
        // SAFETY: Apache passes the live cmd_parms of this directive.
        let cmd = unsafe { Cmd::from_raw(cmd) };
        match body(&cmd) {
            Ok(()) => null(),
            Err(msg) => cmd.error(&msg),
        }
    })
}

fn dir_config<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
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

unsafe extern "C" fn script_alias(cmd: *mut cmd_parms, _: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| add_script_alias(cmd, argc, argv, false))
}

unsafe extern "C" fn script_alias_match(cmd: *mut cmd_parms, _: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| add_script_alias(cmd, argc, argv, true))
}

fn add_script_alias(cmd: &Cmd, argc: c_int, argv: *const *mut c_char, regex: bool) -> Result<(), String> {
    let args = argv_strings(argc, argv)?;
    let mut alias = parse::script_alias(cmd.directive(), &args, regex, &mut |s| cmd.intern(s)).map_err(|e| e.to_string())?;
    if regex {
        let crate::config::AliasPattern::Regex(pattern) = &alias.pattern else { unreachable!() };
        alias.compiled = Some(crate::apache::regex::compile(cmd.pool(), pattern).map_err(|e| format!("{}: {e}", cmd.directive()))?);
    }
    if let Some(spec) = alias.options.application_group {
        let value = args.iter().find_map(|a| a.strip_prefix("application-group=")).unwrap_or("");
        note_application_group(cmd, spec, value);
    }
    server_config(cmd).aliases.push(alias);
    Ok(())
}

fn group(cmd: &Cmd, value: &str) -> Result<GroupSpec, String> {
    GroupSpec::parse(value, &mut |s| cmd.intern(s)).map_err(|e| format!("{}: {e}", cmd.directive()))
}

fn note_application_group(cmd: &Cmd, spec: GroupSpec, value: &str) {
    if spec != GroupSpec::Global {
        let note = format!("'{value}' at {}", cmd.location());
        config_pass::with(|pass| pass.named_application_groups.push(note));
    }
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
        note_application_group(cmd, spec, value);
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

fn argv_strings<'a>(argc: c_int, argv: *const *mut c_char) -> Result<Vec<&'a str>, String> {
    (0..argc.max(0) as usize)
        // SAFETY: Apache passes argc valid C strings in argv, alive during parsing.
        .map(|i| unsafe { arg(*argv.add(i)) })
        .collect()
}

unsafe extern "C" fn daemon_process(cmd: *mut cmd_parms, _: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| {
        let args = argv_strings(argc, argv)?;
        let options = crate::config::daemon::parse(&args).map_err(|e| e.to_string())?;
        let server = cmd.server();
        let virtual_host = server.is_virtual().then(|| server.hostname().to_string());
        let arguments = args.iter().map(|a| a.to_string()).collect();
        let group = crate::daemon::registry::Defined { arguments, options, virtual_host, location: cmd.location() };
        config_pass::with(|pass| pass.define_group(group))
    })
}

unsafe extern "C" fn import_script(cmd: *mut cmd_parms, _: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| {
        let (path, process_group, application_group) = parse::import_script(&argv_strings(argc, argv)?).map_err(|e| e.to_string())?;
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
        // The list lives as long as the configuration pool, like every ConfStr.
        let list: &'static [ConfStr] = Box::leak(interned.into_boxed_slice());
        cmd.pool().adopt(Leaked(list));
        dir_config(mconfig).restrict_process = Setting::Set(list);
        Ok(())
    })
}

/// Frees a leaked configuration list when the configuration pool is cleared.
struct Leaked(&'static [ConfStr]);
impl Drop for Leaked {
    fn drop(&mut self) {
        // SAFETY: the slice came from Box::leak in restrict_process, and the pool
        // that owns this value is the configuration pool the slice was made for.
        drop(unsafe { Box::from_raw(self.0 as *const [ConfStr] as *mut [ConfStr]) });
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
