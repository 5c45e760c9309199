//! `cmd_parms`: the context a directive handler runs in.

use std::ffi::c_char;

use super::pool::{Pool, cstr_utf8};
use super::server::Server;
use crate::config::ConfStr;
use crate::ffi;

pub struct Cmd(*mut ffi::cmd_parms);

impl Cmd {
    /// # Safety
    /// `cmd` must be the cmd_parms passed to the running directive handler.
    pub unsafe fn from_raw(cmd: *mut ffi::cmd_parms) -> Cmd {
        Cmd(cmd)
    }

    fn raw(&self) -> &ffi::cmd_parms {
        // SAFETY: valid for the duration of the directive handler call.
        unsafe { &*self.0 }
    }

    /// The directive's name as written in our table.
    pub fn directive(&self) -> &str {
        // SAFETY: cmd->cmd points into our static directive table.
        unsafe { cstr_utf8((*self.raw().cmd).name) }.unwrap_or("?")
    }

    /// The configuration pool (pconf): lives for the configuration generation.
    pub fn pool(&self) -> Pool {
        // SAFETY: cmd->pool is pconf.
        unsafe { Pool::from_raw(self.raw().pool) }
    }

    pub fn server(&self) -> Server {
        // SAFETY: cmd->server is the server (or vhost) being configured.
        unsafe { Server::from_raw(self.raw().server) }
    }

    /// True inside `<Directory>`, `<Location>`, `<Files>` (and .htaccess).
    pub fn in_section(&self) -> bool {
        !self.raw().path.is_null()
    }

    /// Fails unless the directive is at the top level of the main server config.
    pub fn require_global(&self) -> Result<(), String> {
        // SAFETY: valid cmd_parms; the returned message is a pool or static string.
        let err = unsafe { ffi::ap_check_cmd_context(self.0, ffi::GLOBAL_ONLY as u32) };
        // SAFETY: as above.
        match unsafe { cstr_utf8(err) } {
            None if err.is_null() => Ok(()),
            Some(msg) => Err(msg.to_string()),
            None => Err(format!("{} is not allowed here", self.directive())),
        }
    }

    /// Copies a string into the configuration pool for the generation's lifetime.
    pub fn intern(&self, s: &str) -> ConfStr {
        let p = self.pool().strdup(s);
        // SAFETY: p is a NUL-terminated copy of valid UTF-8 that lives as long as
        // pconf, i.e. for the whole configuration generation (see ConfStr).
        unsafe { cstr_utf8(p) }.unwrap_or("")
    }

    /// `file:line` of the directive being parsed.
    pub fn location(&self) -> String {
        let d = self.raw().directive;
        if d.is_null() {
            return "?".to_string();
        }
        // SAFETY: cmd->directive is the parsed directive node, live during parsing.
        unsafe { format!("{}:{}", cstr_utf8((*d).filename).unwrap_or("?"), (*d).line_num) }
    }

    /// The names of the directives directly inside the container being parsed
    /// (Apache has already read them into the tree; nothing runs them unless
    /// the container's handler does).
    pub fn contained_directives(&self) -> Vec<String> {
        self.contained_lines().into_iter().map(|(name, _)| name).collect()
    }

    /// The directives inside this container, as (name, raw arguments).
    pub fn contained_lines(&self) -> Vec<(String, String)> {
        let d = self.raw().directive;
        let mut lines = Vec::new();
        if d.is_null() {
            return lines;
        }
        // SAFETY: cmd->directive and its children are the parsed tree, live during parsing.
        let mut child = unsafe { (*d).first_child };
        while !child.is_null() {
            // SAFETY: as above; name and args are NUL-terminated pool strings (args may be null).
            unsafe {
                let name = cstr_utf8((*child).directive).unwrap_or("?").to_string();
                let args = if (*child).args.is_null() { String::new() } else { cstr_utf8((*child).args).unwrap_or("").to_string() };
                lines.push((name, args));
                child = (*child).next;
            }
        }
        lines
    }

    /// An error message in a form Apache can print after the handler returns.
    pub fn error(&self, msg: &str) -> *const c_char {
        self.pool().strdup(msg)
    }
}
