//! The daemon process's operating-system set-up after the fork, while it is
//! still single-threaded: signals, working directory, umask, resource limits
//! and locale. (What it inherited of Apache's is shed before it starts.)

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::group::Group;

/// Signals arrive here as bytes on a pipe; the handlers do nothing else.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// Default dispositions for everything, SIGPIPE ignored (a closed peer is a
/// write error, not death), handlers that only write to the signal pipe for
/// the signals that stop or recycle the process, and an empty signal mask.
pub(super) fn reset_signals() {
    // SAFETY: single-threaded; sigaction/sigprocmask with initialised structures.
    unsafe {
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut fds = [0; 2];
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) == 0 {
            SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
            SIGNAL_READ.store(fds[0], Ordering::Relaxed);
        }
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGXCPU] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

static SIGNAL_READ: AtomicI32 = AtomicI32::new(-1);

/// In a process forked from this one: default dispositions for the signals
/// that stop the daemon, and the signal pipe closed (async-signal-safe).
pub(super) fn forget_signals() {
    // SAFETY: signal(2) and close(2) on our own pipe; both async-signal-safe.
    unsafe {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1, libc::SIGXCPU] {
            libc::signal(sig, libc::SIG_DFL);
        }
        for pipe in [&SIGNAL_PIPE, &SIGNAL_READ] {
            let fd = pipe.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                libc::close(fd);
            }
        }
    }
}

/// The read end of the signal pipe (-1 before `reset_signals`).
pub(super) fn signal_pipe() -> i32 {
    SIGNAL_READ.load(Ordering::Relaxed)
}

/// cwd, umask, resource limits and locale for the group.
pub(super) fn setup_environment(group: &Group) -> Result<(), String> {
    let o = &group.options;
    // Without a home (home=, or another user's), the directory Apache was
    // started in is kept, as mod_wsgi keeps it.
    if let Some(home) = &group.home {
        std::env::set_current_dir(home).map_err(|e| format!("cannot change directory to '{home}': {e}"))?;
    }
    // SAFETY: plain system calls on the current process.
    unsafe {
        if let Some(mask) = o.umask {
            libc::umask(mask as libc::mode_t);
        }
        let limit = |resource, soft: u64, hard: u64| {
            let rl = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            if libc::setrlimit(resource, &rl) != 0 {
                Err(format!("cannot set resource limit {resource}: {}", std::io::Error::last_os_error()))
            } else {
                Ok(())
            }
        };
        if let Some(secs) = o.cpu_time_limit {
            // The soft limit sends SIGXCPU (a graceful recycle); the hard one kills.
            limit(libc::RLIMIT_CPU, secs, secs + 1 + o.shutdown_timeout.as_secs())?;
        }
        if let Some(bytes) = o.memory_limit {
            limit(libc::RLIMIT_DATA, bytes, bytes)?;
        }
        if let Some(bytes) = o.virtual_memory_limit {
            limit(libc::RLIMIT_AS, bytes, bytes)?;
        }
    }
    // Still single-threaded: changing the environment is safe here.
    // SAFETY: no other thread exists yet.
    unsafe {
        if let Some(lang) = &o.lang {
            std::env::set_var("LANG", lang);
        }
        if let Some(locale) = &o.locale {
            std::env::set_var("LC_ALL", locale);
            if let Ok(c) = CString::new(locale.as_str()) {
                libc::setlocale(libc::LC_ALL, c.as_ptr());
            }
        }
        if let Some(eggs) = &o.python_eggs {
            std::env::set_var("PYTHON_EGG_CACHE", eggs);
        }
    }
    Ok(())
}
