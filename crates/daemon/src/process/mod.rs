//! Inside a daemon process, from the exec to `_exit`.
//!
//! The Apache parent forks, sets the priority, switches to the group's user and
//! execs `rwsgi-daemon` with only the group's socket, stderr and the launch
//! message open (`crate::launch`). Then, still single-threaded: signal
//! dispositions reset, the identity checked (never root), cwd, umask, resource
//! limits, locale; then Python starts,
//! WSGIImportScript scripts run, and the request threads begin serving. The
//! main thread watches for signals and recycling triggers and drains the
//! process on shutdown.

mod accept;
mod admit;
pub mod connection;
mod fork;
pub mod poller;
mod setup;
mod state;
mod supervise;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::prelude::*;

use poller::Poller;
use state::State;
use crate::group::Group;
use crate::guard;
use crate::python::{self, interpreter};

/// The daemon's entry point in the exec'd program; never returns. `parent`
/// is the pid of the Apache parent that forked it.
pub fn run(group: Arc<Group>, index: u32, parent: u32) -> ! {
    let code = guard::contain("daemon process", 1, || main(group, index, parent));
    // _exit: a plain exit would run the parent's pool cleanups and atexit handlers.
    // SAFETY: terminating this process.
    unsafe { libc::_exit(code) }
}


fn main(group: Arc<Group>, index: u32, parent: u32) -> i32 {
    guard::install_quiet_panic_hook();
    rwsgi_core::log::set_daemon_group(&group.options.name);
    setup::reset_signals();
    let o = &group.options;
    // The Apache parent set the priority and switched to the group's identity
    // before the exec: this program never runs as root.
    // SAFETY: plain queries.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if uid == 0 || euid == 0 {
        crate::crit!("refusing to run as uid {uid}/{euid}: daemon processes of group '{}' run as uid {}", o.name, group.uid);
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    // If the Apache parent dies without stopping us (kill -9), stop too. Set after
    // the privilege drop, which clears it; the getppid check closes the race with
    // a parent that died before this line (we were re-parented). It compares with
    // the forking parent's pid, not with 1: in a container Apache itself is pid 1.
    // SAFETY: prctl on the current process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() as u32 != parent {
            return 0;
        }
    }
    if let Err(e) = setup::setup_environment(&group) {
        crate::crit!("{}", e);
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    // Before Python starts: the mod_wsgi and apache modules and the environ read them.
    crate::runtime::set_server_facts(group.server_facts.clone());
    crate::runtime::set_daemon_model(i64::from(o.processes), i64::from(o.threads), o.processes_given);
    rwsgi_core::metrics::enable_server_metrics(o.server_metrics);
    crate::metrics::install(&group, index);
    // Every interpreter of the process (the main one now, each application
    // group's when it is first used) gets the same set-up.
    let (home, interval, name) = (o.home.clone(), o.switch_interval, o.name.clone());
    let setup = move |py: pyo3::Python<'_>, application_group: &str, settings: &crate::config::PythonSettings| -> pyo3::PyResult<()> {
        crate::wsgi::install(py, settings, application_group)?;
        // As mod_wsgi does, home= also comes first on sys.path (like a script's directory).
        if let Some(home) = &home {
            py.import("sys")?.getattr("path")?.call_method1("insert", (0, home.as_str()))?;
        }
        if let Some(interval) = interval {
            py.import("sys")?.call_method1("setswitchinterval", (interval,))?;
        }
        py.import("mod_wsgi")?.setattr("process_group", name.as_str())
    };
    if let Err(e) = interpreter::initialize(&group.python, &o.name, setup) {
        crate::crit!("cannot initialise Python: {e}");
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    crate::runtime::set_python_ready(Ok(()));
    for script in &group.imports {
        crate::python::script::preload(&script.path, &script.application_group);
    }
    tracing::info!("daemon process {index} started ({} threads)", o.threads);

    let poller = match Poller::new(group.listener, o.threads as usize) {
        Ok(p) => p,
        Err(e) => {
            crate::crit!("cannot watch the group's socket: {e}");
            return 1;
        }
    };
    fork::install(&[group.listener, poller.epoll_fd()]);
    let state = Arc::new(State {
        group: group.clone(),
        poller,
        stopping: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        taken: AtomicU64::new(0),
        succeeded: AtomicU64::new(0),
        first_request_ms: AtomicU64::new(0),
        last_activity_ms: AtomicU64::new(0),
        started: Instant::now(),
        slots: (0..o.threads).map(|_| Mutex::new(None)).collect(),
        reason: Mutex::new(None),
        heartbeat_ms: AtomicU64::new(0),
        pid: std::process::id(),
    });
    // Python needs more stack than Rust's 2 MiB default for deep recursion.
    let stack = o.stack_size.unwrap_or(8 << 20) as usize;
    for thread in 0..o.threads as usize {
        let state = state.clone();
        if let Err(e) = guard::spawn(&format!("rwsgi-{thread}"), Some(stack), move || worker::request_loop(&state, thread)) {
            crate::crit!("cannot start request thread {thread}: {e}");
            return 1;
        }
    }
    {
        let state = state.clone();
        // A panic in the acceptor is logged and it accepts on: without it no
        // new connection would ever be served.
        let accept = move || worker::restart_on_panic("the accepting thread", || accept::accept_loop(&state));
        if let Err(e) = guard::spawn("rwsgi-accept", None, accept) {
            crate::crit!("cannot start the accepting thread: {e}");
            return 1;
        }
    }
    if o.deadlock_timeout > Duration::ZERO {
        let state = state.clone();
        let _ = guard::spawn("rwsgi-heartbeat", None, move || {
            loop {
                // Never 0 (which means "no beat yet"): a first beat in the first millisecond counts.
                python::attach(|_| state.heartbeat_ms.store(state.now_ms().max(1), Ordering::Relaxed));
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    supervise::supervise(&state)
}
