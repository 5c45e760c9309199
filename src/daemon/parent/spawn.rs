//! Starting a group's daemon processes, and starting them again when they exit.
//!
//! Each process is a fork of the Apache parent that at once becomes a new
//! program image, `rwsgi-daemon` (installed beside mod_rwsgi.so): between the
//! fork and the exec the child only sets its priority, switches to the group's
//! user (so the new image never runs as root), and keeps three descriptors
//! besides stdin/stdout (on /dev/null) and stderr (Apache's error log): the
//! launch message and the group's socket. Nothing else of Apache's — memory
//! with its keys and configuration, shared memory, log and pipe descriptors,
//! environment — reaches the daemon.

use std::ffi::{CString, c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::apache::process::{ChildEvent, Forked, ProcessRecord, child_event, command_line, unregister_other_child};
use crate::apache::{Pool, guard, mpm};
use crate::daemon::registry::Group;
use rwsgi_daemon::protocol::launch::{LAUNCH_FD, LISTENER_FD, METRICS_FD};

/// One daemon process slot: the group, its index, and APR's process record
/// (reused by every process started in the slot). The slot lives in pconf and
/// is the other-child registration's data.
struct Slot {
    group: Arc<Group>,
    index: u32,
    record: ProcessRecord,
    program: Arc<CString>,
    /// The main server's `LogLevel rwsgi:`, which the daemon's own log applies.
    log_level: u8,
}

/// Starts daemon process `index` of `group`, and keeps a process running in
/// that slot for as long as the generation lasts.
pub fn start_process(pconf: Pool, group: Arc<Group>, index: u32, program: Arc<CString>, log_level: u8) {
    let slot = pconf.adopt(Slot { group, index, record: ProcessRecord::new(pconf), program, log_level });
    fork(slot);
}

/// What the exec needs, prepared before the fork.
struct Exec {
    launch: OwnedFd,
    /// The group's metrics memfd (the parent's, dup'ed onto METRICS_FD in the child).
    metrics: Option<i32>,
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn prepare(s: &Slot) -> Result<Exec, String> {
    let message = s.group.launch(s.index, s.log_level).encode();
    let launch = sealed_memfd(&message).map_err(|e| format!("cannot create the launch message: {e}"))?;
    // display-name= is argv[0]; without it the process shows Apache's command line, as mod_wsgi's do.
    let argv: Vec<Vec<u8>> = match &s.group.options.display_name {
        Some(name) => vec![name.clone().into_bytes()],
        None => {
            let apache = command_line();
            if apache.is_empty() { vec![b"rwsgi-daemon".to_vec()] } else { apache }
        }
    };
    let argv = argv.into_iter().filter_map(|a| CString::new(a).ok()).collect();
    let metrics = if s.group.metrics_fd { crate::metrics::group_memfd(&s.group.options.name) } else { None };
    Ok(Exec { launch, argv, metrics, env: daemon_environment(&s.group) })
}

/// The daemon's environment: the Apache parent's process environment, as a
/// forked mod_wsgi daemon has it (Debian's and mod_wsgi-express's `envvars`
/// are how sites hand settings to their applications), with HOME of the user
/// it runs as; the daemon itself applies lang=, locale= and python-eggs=.
fn daemon_environment(group: &Group) -> Vec<CString> {
    let mut env: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k != "HOME")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let user = crate::privileges::lookup_user(&crate::config::daemon::Principal::Id(group.uid));
    if let Some(home) = user.ok().and_then(|u| u.home) {
        env.push(format!("HOME={home}"));
    }
    env.into_iter().filter_map(|e| CString::new(e).ok()).collect()
}

/// A memfd holding `bytes`, sealed against any change.
fn sealed_memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    // SAFETY: plain system calls on a descriptor this function owns.
    unsafe {
        let fd = libc::memfd_create(c"rwsgi-launch".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mut file = std::fs::File::from(owned);
        std::io::Write::write_all(&mut file, bytes)?;
        if libc::lseek(file.as_raw_fd(), 0, libc::SEEK_SET) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        if libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from(file))
    }
}

fn fork(slot: *mut Slot) {
    // SAFETY: the slot lives in pconf for the generation; only the parent's
    // single thread touches it.
    let s = unsafe { &*slot };
    let exec = match prepare(s) {
        Ok(e) => e,
        Err(e) => return crate::alert!("cannot start a daemon process for group '{}': {e}", s.group.options.name),
    };
    // SAFETY: the slot lives in pconf, as long as the registration (which the
    // pool's cleanup ends).
    match unsafe { s.record.fork(on_child_event, slot as *mut c_void) } {
        Ok(Forked::Child) => become_daemon(s, &exec),
        // The parent's copy of the launch message closes as `exec` drops.
        Ok(Forked::Parent(_)) => {}
        Err(rv) => crate::alert!("cannot fork a daemon process for group '{}' (APR error {rv})", s.group.options.name),
    }
}

/// In the forked child: priority, identity, descriptors, exec. Never returns.
fn become_daemon(s: &Slot, exec: &Exec) -> ! {
    let fail = |what: String| -> ! {
        rwsgi_daemon::log::write_line(&rwsgi_daemon::log::line(2, None, &format!("mod_rwsgi (pid={}, group='{}'): {what}", std::process::id(), s.group.options.name)));
        // Pause before exiting so that a permanent failure does not become a fork loop.
        std::thread::sleep(std::time::Duration::from_secs(5));
        // SAFETY: terminating the forked child without running Apache's cleanups.
        unsafe { libc::_exit(1) }
    };
    let g = &s.group;
    if g.options.cpu_priority != 0 {
        // SAFETY: plain system call (needs root for a negative value: done before the switch).
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, g.options.cpu_priority) };
    }
    if let Err(e) = crate::privileges::drop_to(g.uid, g.gid, g.groups.as_deref(), g.user_name.as_deref()) {
        fail(format!("cannot switch to uid {} / gid {}: {e}", g.uid, g.gid));
    }
    let argv: Vec<*const libc::c_char> = exec.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<*const libc::c_char> = exec.env.iter().map(|e| e.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    // SAFETY: the process is the single-threaded fork of the parent; these calls
    // only rearrange its own descriptors, and execve gets NULL-terminated arrays
    // of live C strings.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        // Out of the way of 3 and 4 first: either may be where the other must go.
        let launch = libc::fcntl(exec.launch.as_raw_fd(), libc::F_DUPFD, 10);
        let listener = libc::fcntl(g.listener, libc::F_DUPFD, 10);
        // The group's own metrics region (only its own: other groups' are closed below).
        let metrics = exec.metrics.map_or(-1, |fd| libc::fcntl(fd, libc::F_DUPFD, 10));
        if null < 0 || launch < 0 || listener < 0 || (exec.metrics.is_some() && metrics < 0) {
            fail(format!("cannot arrange the daemon's descriptors: {}", std::io::Error::last_os_error()));
        }
        if libc::dup2(null, 0) < 0 || libc::dup2(null, 1) < 0 || libc::dup2(launch, LAUNCH_FD) < 0 || libc::dup2(listener, LISTENER_FD) < 0 {
            fail(format!("cannot arrange the daemon's descriptors: {}", std::io::Error::last_os_error()));
        }
        if metrics >= 0 && libc::dup2(metrics, METRICS_FD) < 0 {
            fail(format!("cannot arrange the daemon's descriptors: {}", std::io::Error::last_os_error()));
        }
        // Everything else Apache had open: logs, listeners, pipes, shared memory, other sockets.
        if libc::syscall(libc::SYS_close_range, METRICS_FD as u32 + 1, u32::MAX, 0) != 0 {
            for fd in METRICS_FD + 1..65536 {
                libc::close(fd);
            }
        }
        libc::execve(s.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    fail(format!("cannot execute {}: {}", s.program.to_string_lossy(), std::io::Error::last_os_error()))
}

/// APR's other-child callback: start a new daemon when one dies, unless
/// Apache is stopping.
unsafe extern "C" fn on_child_event(reason: c_int, data: *mut c_void, status: c_int) {
    guard::contain("daemon maintenance", (), || {
        // SAFETY: `data` is the Slot registered with this callback, alive in pconf.
        let s = unsafe { &*(data as *const Slot) };
        let why = match child_event(reason, status) {
            ChildEvent::Died(status) => {
                // A process that stops on its own exits 0, or counted its exit
                // itself (deadlock-timeout exits 1 at once): the rest crashed.
                if status != 0
                    && let Some(b) = crate::metrics::group_block(&s.group.options.name, s.index as usize)
                    && b.counted_exit.load(std::sync::atomic::Ordering::Relaxed) != s.record.pid() as u64
                {
                    b.exited(rwsgi_core::metrics::ExitReason::Crash);
                }
                format!("exited (status {status})")
            }
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
