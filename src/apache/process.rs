//! The Apache parent's process management as the module uses it: forking a
//! supervised process with APR (so Apache signals it when the pool goes), the
//! other-child registry that reports its death, and what a forked process
//! sheds of Apache's.

use std::ffi::{c_int, c_void};

use super::pool::{Pool, cstr_utf8};
use super::Server;
use crate::ffi;

/// Where a fork left the caller.
pub enum Forked {
    /// In the new process.
    Child,
    /// In the parent; the child has this pid.
    Parent(i32),
}

/// Why the other-child registry calls back.
#[derive(Debug, PartialEq, Eq)]
pub enum ChildEvent {
    /// The process exited; its wait status.
    Died(i32),
    /// Apache lost track of it (it was reaped elsewhere).
    Lost,
    /// Apache is restarting.
    Restart,
    /// Anything else (unwritable, health checks): nothing to do.
    Other,
}

/// A process record in `pool` that APR's fork fills in. It is plain pool
/// memory, not dropped with anything: APR's note_subprocess list reads it when
/// the pool is cleared, after the pool's cleanups ran, to signal the process.
#[derive(Clone, Copy)]
pub struct ProcessRecord(*mut ffi::apr_proc_t, Pool);

// SAFETY: only used from the Apache parent's single thread.
unsafe impl Send for ProcessRecord {}

impl ProcessRecord {
    pub fn new(pool: Pool) -> ProcessRecord {
        ProcessRecord(pool.alloc_copy(ffi::apr_proc_t::default()), pool)
    }

    pub fn pid(self) -> i32 {
        // SAFETY: the record lives in its pool.
        unsafe { (*self.0).pid }
    }

    /// Forks. In the parent the child is noted on the pool (Apache sends it
    /// SIGTERM, then SIGKILL, when the pool is cleared) and registered as an
    /// "other child", so that `on_event(data, event)` runs when it dies.
    ///
    /// # Safety
    /// `data` must stay valid until the registration ends ([`unregister_other_child`]
    /// or the pool's cleanup): APR passes it to `on_event`.
    pub unsafe fn fork(self, on_event: OtherChildCallback, data: *mut c_void) -> Result<Forked, i32> {
        // SAFETY: the record and pool are live; APR fills the record; (caller) data outlives the registration.
        unsafe {
            match ffi::apr_proc_fork(self.0, self.1.as_ptr()) {
                ffi::APR_INCHILD => Ok(Forked::Child),
                ffi::APR_INPARENT => {
                    ffi::apr_pool_note_subprocess(self.1.as_ptr(), self.0, ffi::apr_kill_conditions_e_APR_KILL_AFTER_TIMEOUT);
                    ffi::apr_proc_other_child_register(self.0, Some(on_event), data, std::ptr::null_mut(), self.1.as_ptr());
                    Ok(Forked::Parent((*self.0).pid))
                }
                rv => Err(rv),
            }
        }
    }
}

/// The C signature APR calls when a registered child changes state; the
/// callback decodes its arguments with [`child_event`].
pub type OtherChildCallback = unsafe extern "C" fn(reason: c_int, data: *mut c_void, status: c_int);

/// Decodes the other-child callback's reason and status.
pub fn child_event(reason: c_int, status: c_int) -> ChildEvent {
    match reason {
        ffi::APR_OC_REASON_DEATH => ChildEvent::Died(status),
        ffi::APR_OC_REASON_LOST => ChildEvent::Lost,
        ffi::APR_OC_REASON_RESTART => ChildEvent::Restart,
        _ => ChildEvent::Other,
    }
}

/// Ends the other-child registration made with `data`.
///
/// # Safety
/// `data` must be the pointer a live registration was made with (or unknown to APR).
pub unsafe fn unregister_other_child(data: *mut c_void) {
    // SAFETY: APR looks the registration up by its data pointer; an unknown
    // pointer is ignored.
    unsafe { ffi::apr_proc_other_child_unregister(data) }
}

/// The Apache parent's command line (`process_rec`'s argv): a daemon without
/// display-name= shows it, as mod_wsgi's daemons do.
pub fn command_line() -> Vec<Vec<u8>> {
    let Some(main) = Server::main() else { return Vec::new() };
    // SAFETY: process_rec's argv holds argc live C strings for the process's life.
    unsafe {
        let process = (*main.as_ptr()).process;
        if process.is_null() {
            return Vec::new();
        }
        let argv = (*process).argv;
        (0..(*process).argc.max(0) as usize).map(|i| std::ffi::CStr::from_ptr(*argv.add(i)).to_bytes().to_vec()).collect()
    }
}

/// The user Apache's children run as (`User`/`Group`, from mod_unixd).
pub struct ApacheUser {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
}

pub fn apache_user() -> ApacheUser {
    // SAFETY: mod_unixd fills ap_unixd_config while reading User/Group; it is
    // only read here, after configuration.
    unsafe {
        let c = &raw const ffi::ap_unixd_config;
        ApacheUser { uid: (*c).user_id, gid: (*c).group_id, name: cstr_utf8((*c).user_name).map(String::from) }
    }
}

/// `path` relative to ServerRoot, as Apache resolves configured paths.
pub fn server_root_relative(pool: Pool, path: &str) -> String {
    // SAFETY: pool is live; the result is a pool string or null.
    let raw = unsafe { ffi::ap_server_root_relative(pool.as_ptr(), pool.strdup(path)) };
    // SAFETY: as above.
    unsafe { cstr_utf8(raw) }.unwrap_or(path).to_string()
}

/// `name` inside DefaultRuntimeDir.
pub fn runtime_dir_relative(pool: Pool, name: &str) -> String {
    // SAFETY: pool is live; the result is a pool string or null.
    let raw = unsafe { ffi::ap_runtime_dir_relative(pool.as_ptr(), pool.strdup(name)) };
    // SAFETY: as above.
    unsafe { cstr_utf8(raw) }.unwrap_or(name).to_string()
}

/// Bytes kept in the Apache parent's process pool under `key`: they outlive
/// every configuration generation and a reload of this module, for as long as
/// the parent runs. `make` supplies them the first time.
pub fn lifetime_bytes(key: &str, make: impl FnOnce() -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    let Some(main) = Server::main() else { return make() };
    // SAFETY: the main server's process record and its pool live as long as
    // the parent process.
    let pool = unsafe { (*(*main.as_ptr()).process).pool };
    let ckey = std::ffi::CString::new(format!("mod_rwsgi:{key}")).map_err(|_| "key contains a NUL".to_string())?;
    let mut found: *mut c_void = std::ptr::null_mut();
    // SAFETY: userdata lookup on a live pool; the value, if any, is what the
    // code below stored: a length-prefixed copy in the same pool.
    unsafe {
        if ffi::apr_pool_userdata_get(&mut found, ckey.as_ptr(), pool) == 0 && !found.is_null() {
            let len = std::ptr::read_unaligned(found as *const u32) as usize;
            return Ok(std::slice::from_raw_parts((found as *const u8).add(4), len).to_vec());
        }
    }
    let bytes = make()?;
    // SAFETY: the process pool, live for the parent's life (above).
    let pool_handle = unsafe { Pool::from_raw(pool) };
    let mut stored = (bytes.len() as u32).to_le_bytes().to_vec();
    stored.extend_from_slice(&bytes);
    let data = pool_handle.memdup(&stored);
    let key_copy = pool_handle.strdup(&format!("mod_rwsgi:{key}"));
    // SAFETY: key and data are copies in the pool itself, so they live as long
    // as the entry; no cleanup is needed for plain bytes.
    unsafe { ffi::apr_pool_userdata_set(data as *const c_void, key_copy, None, pool) };
    Ok(bytes)
}

/// Makes the Apache parent notice a dead supervised process at once.
///
/// The MPM's main loop looks for exited processes (and so runs the
/// other-child callbacks) and then sleeps a second before it looks again. A
/// SIGCHLD handler, even one that does nothing, cuts that sleep short: the
/// sleep is a select(), which a handled signal always interrupts, while
/// SA_RESTART keeps the parent's other system calls going. A daemon killed
/// under load is then replaced within milliseconds instead of up to a second.
///
/// The previous disposition comes back when `pool` (the generation's) is
/// cleared, before a restart can unload this module and with it the handler.
/// Forked processes inherit the handler until they exec or reset it
/// (see [`reset_child_exit_wakeup`]).
pub fn wake_on_child_exit(pool: Pool) {
    struct Restore(libc::sigaction);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: reinstating a disposition sigaction returned earlier.
            unsafe { libc::sigaction(libc::SIGCHLD, &self.0, std::ptr::null_mut()) };
        }
    }
    // SAFETY: a zeroed sigaction is a valid starting point; the handler is
    // async-signal-safe (it does nothing) and stays mapped until the pool's
    // cleanup reinstates the previous disposition.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = wake_parent as extern "C" fn(c_int) as usize;
        action.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, &action, &mut previous) == 0 {
            pool.adopt(Restore(previous));
        }
    }
}

/// The parent's SIGCHLD handler: its only effect is to interrupt the MPM's sleep.
extern "C" fn wake_parent(_: c_int) {}

/// In a process forked from the parent that runs on (an Apache child): the
/// default SIGCHLD disposition again if [`wake_on_child_exit`]'s handler is
/// still in place, so that the applications it runs see what they expect.
pub fn reset_child_exit_wakeup() {
    // SAFETY: querying and then setting a disposition with valid arguments.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == wake_parent as extern "C" fn(c_int) as usize {
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        }
    }
}

/// Starts a background thread in an Apache child (under the panic guard)
/// that takes none of the process's signals: Apache's children stop on
/// signals their main thread must take (prefork's handlers call exit from
/// the thread the signal lands on; a threaded MPM's main thread waits for
/// them). The thread is made with every signal blocked, so none lands on it
/// even before it runs.
pub fn spawn_without_signals(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    // SAFETY: a full set, and this thread's mask saved and put back around the spawn.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let spawned = crate::apache::guard::spawn(name, None, body);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned.map(drop)
    }
}
