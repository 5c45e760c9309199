//! `WSGITrustedProxyHeaders` and `WSGITrustedProxies`: their directive
//! handlers, and the rewrite of a request's CGI variables (in the Apache
//! child, before the request is served here or sent to a daemon, so both
//! modes see the same variables and a daemon never judges a peer it cannot
//! see). What the rewrite does: `rwsgi_config::trusted_proxy`.

use std::ffi::{c_char, c_int, c_void};

use super::directives::{argv_strings, config_list, dir_config, run};
use crate::apache::Request;
use crate::apache::table::Table;
use crate::config::trusted_proxy::{self, IpNet, ProxyHeader, Variables};
use crate::config::{ConfigError, DirConfig, Setting, ValueError};
use crate::ffi::cmd_parms;

fn invalid(directive: &str, reason: ValueError) -> String {
    ConfigError::InvalidValue { directive: directive.to_string(), option: None, reason }.to_string()
}

/// Appends to the list an earlier line of the same section set (mod_wsgi
/// accumulates repeated lines); a section's list replaces the inherited one.
fn extended<T: Copy + 'static>(earlier: Setting<&'static [T]>, more: Vec<T>) -> Vec<T> {
    let mut all = earlier.get().unwrap_or_default().to_vec();
    all.extend(more);
    all
}

pub unsafe extern "C" fn trusted_proxy_headers(cmd: *mut cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| {
        let mut headers: Vec<ProxyHeader> = Vec::new();
        for name in argv_strings(argc, argv)? {
            match trusted_proxy::parse_header(name).map_err(|e| invalid(cmd.directive(), e))? {
                Some(h) => headers.push(h),
                None => tracing::warn!(
                    "{}: '{name}' is not one of the proxy headers mod_wsgi understands; it is ignored ({})",
                    cmd.directive(),
                    cmd.location()
                ),
            }
        }
        let config = dir_config(mconfig);
        // Each header once: applying one twice would walk an already rewritten chain.
        let mut unique: Vec<ProxyHeader> = Vec::new();
        for h in extended(config.trusted_proxy_headers, headers) {
            if !unique.contains(&h) {
                unique.push(h);
            }
        }
        config.trusted_proxy_headers = Setting::Set(config_list(cmd, unique));
        Ok(())
    })
}

pub unsafe extern "C" fn trusted_proxies(cmd: *mut cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char {
    run(cmd, |cmd| {
        let networks = argv_strings(argc, argv)?
            .into_iter()
            .map(|word| IpNet::parse(word).map_err(|e| invalid(cmd.directive(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let config = dir_config(mconfig);
        config.trusted_proxies = Setting::Set(config_list(cmd, extended(config.trusted_proxies, networks)));
        Ok(())
    })
}

/// The request's `subprocess_env`, as the rewrite sees it.
struct Environment<'r> {
    r: &'r Request,
    table: Table,
}

impl Variables for Environment<'_> {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        self.table.get(name).map(<[u8]>::to_vec)
    }
    fn set(&mut self, name: &str, value: &[u8]) {
        self.table.set(self.r.pool(), name, value);
    }
    fn unset(&mut self, name: &str) {
        self.table.unset(name);
    }
}

/// Applies the trusted proxy headers to the request's CGI variables (after
/// Apache has added them).
pub fn apply(r: &Request, dir: &DirConfig) {
    let Setting::Set(headers) = dir.trusted_proxy_headers else { return };
    let mut env = Environment { r, table: r.subprocess_env() };
    let peer = env.get("REMOTE_ADDR").map(|p| String::from_utf8_lossy(&p).into_owned()).unwrap_or_default();
    let done = trusted_proxy::rewrite(headers, dir.trusted_proxies.get(), &mut env);
    if !done.peer_trusted && !done.removed.is_empty() {
        tracing::debug!("{peer} is not a trusted proxy (WSGITrustedProxies): removed {}", done.removed.join(", "));
    } else if !done.applied.is_empty() {
        tracing::debug!("proxy headers from {peer} applied: {}; removed: [{}]", done.applied.join(", "), done.removed.join(", "));
    }
}
