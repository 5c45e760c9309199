//! Apache's own regular expressions (PCRE), as mod_alias uses them, so that
//! `WSGIScriptAliasMatch` patterns behave exactly like `AliasMatch` ones.

use std::ffi::{CString, c_void};
use std::ptr::NonNull;

use super::pool::{Pool, cstr};
use crate::ffi;

const MAX_MATCHES: usize = 10;

/// Compiles `pattern` into `pool`; the handle is valid as long as the pool.
pub fn compile(pool: Pool, pattern: &str) -> Result<NonNull<c_void>, String> {
    let c = CString::new(pattern).map_err(|_| "the pattern contains a NUL byte".to_string())?;
    // SAFETY: live pool; ap_pregcomp registers the regex's cleanup on that pool.
    let re = unsafe { ffi::ap_pregcomp(pool.as_ptr(), c.as_ptr(), ffi::AP_REG_EXTENDED) };
    NonNull::new(re as *mut c_void).ok_or_else(|| format!("'{pattern}' is not a valid regular expression"))
}

/// If `subject` matches, returns `template` with `$0`..`$9` substituted, and
/// the offset in `subject` where the match ended.
///
/// # Safety
/// `re` must come from [`compile`] with a pool that is still live.
pub unsafe fn substitute(re: NonNull<c_void>, pool: Pool, template: &str, subject: &[u8]) -> Option<(Vec<u8>, usize)> {
    let subject = CString::new(subject).ok()?;
    let template = CString::new(template).ok()?;
    let mut matches = [ffi::ap_regmatch_t::default(); MAX_MATCHES];
    // SAFETY: `re` is a live compiled regex (caller); buffers are sized as declared.
    unsafe {
        let re = re.as_ptr() as *const ffi::ap_regex_t;
        if ffi::ap_regexec(re, subject.as_ptr(), MAX_MATCHES, matches.as_mut_ptr(), 0) != 0 {
            return None;
        }
        let out = ffi::ap_pregsub(pool.as_ptr(), template.as_ptr(), subject.as_ptr(), MAX_MATCHES, matches.as_mut_ptr());
        let end = matches[0].rm_eo.max(0) as usize;
        cstr(out).map(|s| (s.to_vec(), end))
    }
}
