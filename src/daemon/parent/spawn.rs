//! Forking a group's daemon processes and starting them again when they exit.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use crate::apache::process::{ChildEvent, Forked, ProcessRecord, child_event, unregister_other_child};
use crate::apache::{Pool, guard, mpm};
use crate::daemon::registry::Group;

/// One daemon process slot: the group, its index, and APR's process record
/// (reused by every process started in the slot). The slot lives in pconf and
/// is the other-child registration's data.
struct Slot {
    group: Arc<Group>,
    index: u32,
    record: ProcessRecord,
}

/// Starts daemon process `index` of `group`, and keeps a process running in
/// that slot for as long as the generation lasts.
pub fn start_process(pconf: Pool, group: Arc<Group>, index: u32) {
    let slot = pconf.adopt(Slot { group, index, record: ProcessRecord::new(pconf) });
    fork(slot);
}

fn fork(slot: *mut Slot) {
    // SAFETY: the slot lives in pconf for the generation; only the parent's
    // single thread touches it.
    let s = unsafe { &*slot };
    let parent = std::process::id();
    // SAFETY: the slot lives in pconf, as long as the registration (which the
    // pool's cleanup ends).
    match unsafe { s.record.fork(on_child_event, slot as *mut c_void) } {
        Ok(Forked::Child) => {
            shed_apache(&s.group);
            rwsgi_daemon::process::run(s.group.clone(), s.index, parent)
        }
        Ok(Forked::Parent(_)) => {}
        Err(rv) => crate::alert!("cannot fork a daemon process for group '{}' (APR error {rv})", s.group.options.name),
    }
}

/// In a new daemon process, before it starts: close Apache's listeners and the
/// other groups' sockets, and show display-name= in `ps`.
fn shed_apache(group: &Group) {
    crate::apache::process::close_listeners();
    for other in &crate::daemon::registry::running().groups {
        if other.id != group.id && other.listener >= 0 {
            // SAFETY: closing a descriptor this process inherited and will not use.
            unsafe { libc::close(other.listener) };
        }
    }
    if let Some(name) = &group.options.display_name {
        crate::apache::process::set_title(name);
    }
}

/// APR's other-child callback: start a new daemon when one dies, unless
/// Apache is stopping.
unsafe extern "C" fn on_child_event(reason: c_int, data: *mut c_void, status: c_int) {
    guard::contain("daemon maintenance", (), || {
        // SAFETY: `data` is the Slot registered with this callback, alive in pconf.
        let s = unsafe { &*(data as *const Slot) };
        let why = match child_event(reason, status) {
            ChildEvent::Died(status) => format!("exited (status {status})"),
            ChildEvent::Lost => "was lost".to_string(),
            // SAFETY: ending the registration this callback belongs to.
            ChildEvent::Restart => return unsafe { unregister_other_child(data) },
            ChildEvent::Other => return,
        };
        // SAFETY: as above.
        unsafe { unregister_other_child(data) };
        if mpm::is_stopping() {
            return;
        }
        crate::notice!("daemon process {} of group '{}' (pid {}) {why}; starting a new one", s.index, s.group.options.name, s.record.pid());
        fork(data as *mut Slot);
    })
}
