//! Where the `rwsgi-daemon` program is: beside the mod_rwsgi.so Apache loaded
//! (found with dladdr on a function of this library), or else the path fixed
//! at build time (`RWSGI_DAEMON_PROGRAM`, default Debian's module directory).

use std::ffi::CString;
use std::path::{Path, PathBuf};

const NAME: &str = "rwsgi-daemon";
const BUILT_IN: &str = match option_env!("RWSGI_DAEMON_PROGRAM") {
    Some(p) => p,
    None => "/usr/lib/apache2/modules/rwsgi-daemon",
};

/// The file this code was loaded from.
fn loaded_library() -> Option<PathBuf> {
    static ANCHOR: u8 = 0;
    let mut info = libc::Dl_info { dli_fname: std::ptr::null(), dli_fbase: std::ptr::null_mut(), dli_sname: std::ptr::null(), dli_saddr: std::ptr::null_mut() };
    // SAFETY: dladdr reads the loader's tables for an address in this library
    // and fills `info`; dli_fname stays valid while the library is loaded.
    unsafe {
        if libc::dladdr(&ANCHOR as *const u8 as *const libc::c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        Some(PathBuf::from(std::ffi::CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned()))
    }
}

fn executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: access(2) on a C string.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// The daemon program, checked to be an executable file.
pub fn locate() -> Result<CString, String> {
    let beside = loaded_library().and_then(|lib| lib.parent().map(|dir| dir.join(NAME)));
    let candidates: Vec<PathBuf> = beside.iter().cloned().chain(std::iter::once(PathBuf::from(BUILT_IN))).collect();
    for c in &candidates {
        if executable(c) {
            return CString::new(c.as_os_str().as_encoded_bytes()).map_err(|_| format!("the path {c:?} contains a NUL"));
        }
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!("daemon mode needs the program {NAME}, installed beside mod_rwsgi.so (apxs/install.sh does it); not found as an executable file at {}", tried.join(" or ")))
}
