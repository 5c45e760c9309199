//! URL → script mapping for WSGIScriptAlias / WSGIScriptAliasMatch.

use std::ffi::c_int;

use crate::apache::module_config::{server_config, set_request_alias};
use crate::apache::{DECLINED, OK, Request, guard};
use crate::config::{AliasPattern, parse};
use crate::ffi;

pub unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    guard::contain("translate_name", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: Apache passes the live request.
        let r = unsafe { Request::from_raw(r) };
        translate(&r)
    })
}

fn translate(r: &Request) -> c_int {
    let uri = r.uri();
    if uri.first() != Some(&b'/') {
        return DECLINED;
    }
    for alias in &server_config(r.server()).aliases {
        let filename = match &alias.pattern {
            AliasPattern::Prefix(prefix) => parse::match_prefix(prefix, uri).map(|rest| parse::alias_filename(&alias.target, rest)),
            AliasPattern::Regex(_) => alias.compiled.and_then(|re| {
                // SAFETY: compiled in pconf, which outlives every request of the generation.
                let (target, end) = unsafe { crate::apache::regex::substitute(re, r.pool(), &alias.target, uri) }?;
                // What follows the match becomes path info, as with a prefix alias.
                parse::match_rest(&uri[end..]).map(|rest| parse::alias_filename_bytes(&target, rest))
            }),
        };
        if let Some(filename) = filename {
            r.set_filename(&filename);
            r.set_handler(c"wsgi-script");
            r.notes().set(r.pool(), "alias-forced-type", b"wsgi-script");
            // The alias tells the handler which options apply and that ExecCGI
            // is not required.
            set_request_alias(r, alias);
            return OK;
        }
    }
    DECLINED
}
