//! The `rwsgi-daemon` program's start: read the launch message the Apache
//! parent left on descriptor [`LAUNCH_FD`], rebuild the group, log to stderr,
//! and run the daemon process.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::Arc;

use crate::group::Group;
use crate::protocol::launch::{LAUNCH_FD, Launch, MAX_LAUNCH};

fn read_launch() -> Result<Launch, String> {
    // SAFETY: the parent put the launch memfd on this descriptor for us alone;
    // the File takes ownership and closes it after reading.
    let mut file = unsafe { std::fs::File::from_raw_fd(LAUNCH_FD) };
    let mut bytes = Vec::new();
    (&mut file).take(MAX_LAUNCH as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read the launch message on descriptor {LAUNCH_FD}: {e}"))?;
    Launch::decode(&bytes)
}

/// The program's main: never returns.
pub fn main() -> ! {
    // The Apache parent forked us and we exec'd in place: it is our parent
    // until it dies (the orphan check compares with it; in a container it is pid 1).
    // SAFETY: plain query.
    let parent = unsafe { libc::getppid() } as u32;
    let launch = match read_launch() {
        Ok(l) => l,
        Err(e) => {
            crate::log::write_line(&crate::log::line(2, None, &format!("mod_rwsgi: rwsgi-daemon: {e} (this program is started by mod_rwsgi, not by hand)")));
            // SAFETY: terminating this process.
            unsafe { libc::_exit(2) }
        }
    };
    crate::log::install(launch.log_level);
    let index = launch.index;
    match Group::from_launch(launch) {
        Ok(group) => {
            set_comm(&group);
            crate::process::run(Arc::new(group), index, parent)
        }
        Err(e) => {
            crate::crit!("rwsgi-daemon: the launch message's WSGIDaemonProcess arguments do not parse: {e}");
            // SAFETY: terminating this process.
            unsafe { libc::_exit(2) }
        }
    }
}

/// The kernel's short name (`ps -o comm`, `/proc/PID/comm`): display-name=, or
/// the program name of argv[0] (Apache's, when the command line is Apache's).
fn set_comm(group: &Group) {
    let argv0 = std::env::args_os().next().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match &group.options.display_name {
        Some(n) => n.clone(),
        None => argv0.rsplit('/').next().unwrap_or("").to_string(),
    };
    let bytes = name.as_bytes();
    if let Ok(c) = std::ffi::CString::new(&bytes[..bytes.len().min(15)]) {
        // SAFETY: PR_SET_NAME copies at most 16 bytes of a C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
    }
}
