//! Typed access to this module's configuration slots. Apache keeps them as
//! `void*`; the types are fixed by the config hooks (`hooks::config`), which
//! are the only writers, so the casts live here and nowhere else.

use std::ffi::c_void;

use super::{Request, Server, cmd::Cmd};
use crate::config::{DirConfig, ScriptAlias, ServerConfig};

/// The ServerConfig of a server (main or virtual host).
pub fn server_config<'a>(s: Server) -> &'a ServerConfig {
    // SAFETY: the slot holds a ServerConfig from create/merge_server_config,
    // which lives (unmodified after configuration) for the generation.
    unsafe { &*(s.module_config() as *const ServerConfig) }
}

/// The ServerConfig of the server whose directives are being read.
pub fn server_config_mut<'a>(cmd: &Cmd) -> &'a mut ServerConfig {
    // SAFETY: the slot holds the ServerConfig made by create_server_config for
    // this server; directives are read on one thread, one at a time, and no
    // other reference to it exists while they are.
    unsafe { &mut *(cmd.server().module_config() as *mut ServerConfig) }
}

/// The DirConfig Apache hands a directive handler for its section.
///
/// # Safety
/// `mconfig` must be the per-directory pointer Apache passed to one of this
/// module's directive handlers.
pub unsafe fn section_config<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
    // SAFETY: (caller) made by create_dir_config for the section being read;
    // nothing else holds a reference during parsing.
    unsafe { &mut *(mconfig as *mut DirConfig) }
}

/// The request's merged per-directory configuration.
pub fn dir_config(r: &Request) -> DirConfig {
    // SAFETY: the merged slot is a DirConfig from create/merge_dir_config (or
    // null where the module has no section).
    unsafe { (r.dir_config() as *const DirConfig).as_ref() }.copied().unwrap_or_default()
}

/// Remembers which alias mapped the request (set by translate_name).
pub fn set_request_alias(r: &Request, alias: &ScriptAlias) {
    // SAFETY: the alias lives in the server config for the generation, longer
    // than the request; `request_alias` reads it back with this type.
    unsafe { r.set_request_config(alias as *const ScriptAlias as *mut c_void) }
}

/// The alias that mapped the request, if one did.
pub fn request_alias<'a>(r: &Request) -> Option<&'a ScriptAlias> {
    // SAFETY: the slot is null or was set by `set_request_alias`.
    unsafe { (r.request_config() as *const ScriptAlias).as_ref() }
}
