//! Inside a daemon process, from the fork to `_exit`.
//!
//! Order after the fork (the process is still single-threaded): signal
//! dispositions reset, inherited sockets closed, priority, privileges dropped
//! (refusing root), cwd, umask, resource limits, locale; then Python starts,
//! WSGIImportScript scripts run, and the request threads begin serving. The
//! main thread watches for signals and recycling triggers and drains the
//! process on shutdown.

use std::ffi::CString;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::prelude::*;

use super::channel::{Connection, apache_timeout, serve_request};
use super::poller::Poller;
use super::registry::{self, Group};
use crate::apache::{Level, log};
use crate::ffi;
use crate::python::{self, interpreter};

/// Shared by the request threads and the main thread.
pub struct State {
    pub group: Arc<Group>,
    pub poller: Poller,
    pub stopping: AtomicBool,
    pub active: AtomicUsize,
    pub served: AtomicU64,
    /// Requests taken for serving (reserved before the request is read, for maximum-requests).
    pub taken: AtomicU64,
    pub succeeded: AtomicU64,
    /// Milliseconds since `started` (plus one, so 0 means none) of the first request.
    pub first_request_ms: AtomicU64,
    /// Milliseconds since `started` of the last request's end (inactivity-timeout).
    pub last_activity_ms: AtomicU64,
    pub started: Instant,
    /// What each request thread is serving.
    pub slots: Vec<Mutex<Option<Active>>>,
    pub reason: Mutex<Option<&'static str>>,
    /// Refreshed by a thread that takes the GIL every second (deadlock-timeout).
    pub heartbeat_ms: AtomicU64,
    /// This process's pid, sent with every response's End frame.
    pub pid: u32,
}

/// A request in progress on a thread.
pub struct Active {
    pub since: Instant,
    pub connection: Arc<Connection>,
    /// Python's identifier of the thread (threading.get_ident()).
    pub python_thread: u64,
    /// When interrupt-timeout's exception was injected, if it was.
    pub interrupted: Option<Instant>,
}

impl State {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Asks the process to stop for `reason` (the first reason wins).
    pub fn request_shutdown(&self, reason: &'static str) {
        let mut r = self.reason.lock();
        if r.is_none() {
            *r = Some(reason);
        }
    }
}

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

/// The daemon's entry point after the fork; never returns.
/// `parent` is the pid of the Apache parent that forked this process.
pub fn run(group: Arc<Group>, index: u32, parent: u32) -> ! {
    let code = crate::apache::guard::contain("daemon process", 1, || main(group, index, parent));
    // _exit: a plain exit would run the parent's pool cleanups and atexit handlers.
    // SAFETY: terminating this process.
    unsafe { libc::_exit(code) }
}

fn daemon_log(group: &Group, level: Level, msg: &str) {
    log::server(None, level, &format!("mod_rwsgi (pid={}, group='{}'): {msg}", std::process::id(), group.options.name));
}

fn main(group: Arc<Group>, index: u32, parent: u32) -> i32 {
    crate::apache::guard::install_quiet_panic_hook();
    reset_signals();
    close_inherited(&group);
    set_display_name(&group);
    let o = &group.options;
    // SAFETY: plain system calls in a single-threaded process.
    unsafe {
        if o.cpu_priority != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, o.cpu_priority);
        }
    }
    if let Err(e) = super::privileges::drop_to(group.uid, group.gid, group.groups.as_deref(), group.user_name.as_deref()) {
        daemon_log(&group, Level::Crit, &format!("cannot switch to uid {} / gid {}: {e}", group.uid, group.gid));
        // Pause before exiting so that a permanent failure does not become a fork loop.
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    // If the Apache parent dies without stopping us (kill -9), stop too. Set after
    // the privilege drop, which clears it; the getppid check closes the race with
    // a parent that died before this line (we were re-parented). Compared with
    // the forking parent's pid, not with 1: in a container Apache itself is pid 1.
    // SAFETY: prctl on the current process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() as u32 != parent {
            return 0;
        }
    }
    if let Err(e) = setup_environment(&group) {
        daemon_log(&group, Level::Crit, &e);
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    let mut settings = crate::hooks::config::server_config(crate::apache::Server::main().expect("main server")).python.clone();
    if o.python_home.is_some() {
        settings.home = o.python_home.clone();
    }
    settings.paths.extend(o.python_path.iter().cloned());
    // Before Python starts: the mod_wsgi module and the environ read these.
    crate::hooks::set_process_model(o.threads > 1, o.processes_given || o.processes > 1);
    crate::hooks::set_process_limits(o.processes as i64, o.threads as i64);
    if let Err(e) = interpreter::initialize(&settings) {
        daemon_log(&group, Level::Crit, &format!("cannot initialise Python: {e}"));
        std::thread::sleep(Duration::from_secs(5));
        return 1;
    }
    crate::hooks::set_python_ready(Ok(()));
    python::attach(|py| {
        if let Some(interval) = o.switch_interval {
            let _ = py.import("sys").and_then(|sys| sys.call_method1("setswitchinterval", (interval,)));
        }
        let _ = py.import("mod_wsgi").and_then(|m| m.setattr("process_group", o.name.as_str()));
    });
    for script in &group.imports {
        crate::python::script::preload(&script.path, &script.application_group);
    }
    daemon_log(&group, Level::Info, &format!("daemon process {index} started ({} threads)", o.threads));

    let poller = match Poller::new(group.listener, o.threads as usize) {
        Ok(p) => p,
        Err(e) => {
            daemon_log(&group, Level::Crit, &format!("cannot watch the group's socket: {e}"));
            return 1;
        }
    };
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
    for thread in 0..o.threads as usize {
        let state = state.clone();
        let mut builder = std::thread::Builder::new().name(format!("rwsgi-{thread}"));
        // Python needs more stack than Rust's 2 MiB default for deep recursion.
        builder = builder.stack_size(o.stack_size.unwrap_or(8 << 20) as usize);
        if let Err(e) = builder.spawn(move || request_loop(&state, thread)) {
            daemon_log(&group, Level::Crit, &format!("cannot start request thread {thread}: {e}"));
            return 1;
        }
    }
    {
        let state = state.clone();
        if let Err(e) = std::thread::Builder::new().name("rwsgi-accept".into()).spawn(move || accept_loop(&state)) {
            daemon_log(&group, Level::Crit, &format!("cannot start the accepting thread: {e}"));
            return 1;
        }
    }
    if o.deadlock_timeout > Duration::ZERO {
        let state = state.clone();
        let _ = std::thread::Builder::new().name("rwsgi-heartbeat".into()).spawn(move || {
            loop {
                python::attach(|_| state.heartbeat_ms.store(state.now_ms(), Ordering::Relaxed));
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    supervise(&state)
}

/// Default dispositions for everything, SIGPIPE ignored (a closed peer is a
/// write error, not death), handlers that only write to the signal pipe for
/// the signals that stop or recycle the process, and an empty signal mask.
fn reset_signals() {
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

/// Peer pids already found to be children of our parent. A pid is only reused
/// after its process exits; Apache reaps its children, and a stranger reusing
/// the pid would still need the socket, which only Apache's user can open.
static VERIFIED_PEERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Closes Apache's listening sockets and the other groups' sockets.
fn close_inherited(group: &Group) {
    // SAFETY: closing descriptors this process inherited and will not use.
    unsafe {
        ffi::ap_close_listeners();
        for other in registry::running() {
            if other.id != group.id && other.listener >= 0 {
                libc::close(other.listener);
            }
        }
    }
}

/// Rewrites the process title (what ps shows) with display-name=.
fn set_display_name(group: &Group) {
    let Some(name) = &group.options.display_name else { return };
    // SAFETY: argv of the process (kept by Apache in process_rec) is contiguous
    // memory from argv[0] to the end of the last argument; we write within it.
    unsafe {
        let Some(main) = crate::apache::Server::main() else { return };
        let process = (*main.as_ptr()).process;
        if process.is_null() || (*process).argc < 1 {
            return;
        }
        let argv = (*process).argv as *const *mut libc::c_char;
        let first = *argv;
        let last = *argv.add((*process).argc as usize - 1);
        let end = last.add(libc::strlen(last));
        let room = end.offset_from(first) as usize;
        std::ptr::write_bytes(first, 0, room);
        let bytes = name.as_bytes();
        std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const libc::c_char, first, bytes.len().min(room));
        if let Ok(c) = CString::new(&bytes[..bytes.len().min(15)]) {
            libc::prctl(libc::PR_SET_NAME, c.as_ptr());
        }
    }
}

/// cwd, umask, resource limits and locale for the group.
fn setup_environment(group: &Group) -> Result<(), String> {
    let o = &group.options;
    let home = group.home.clone().unwrap_or_else(|| "/".to_string());
    std::env::set_current_dir(&home).map_err(|e| format!("cannot change directory to '{home}': {e}"))?;
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

/// The acceptor thread: takes new connections while the process has room
/// (see `poller`), checks the peer, and hands them to the request threads.
fn accept_loop(state: &Arc<State>) {
    let o = &state.group.options;
    let read_timeout = o.socket_timeout.unwrap_or_else(apache_timeout);
    let write_timeout = o.response_socket_timeout.unwrap_or(read_timeout);
    while !state.stopping.load(Ordering::Acquire) {
        let Some(stream) = state.poller.accept() else { continue };
        if state.stopping.load(Ordering::Acquire) {
            // Accepted while stopping: closed unread, the child sends the request elsewhere.
            state.poller.closed();
            break;
        }
        let peer = match check_peer(&stream) {
            Ok(pid) => pid,
            Err(e) => {
                daemon_log(&state.group, Level::Error, &format!("refused a connection: {e}"));
                drop(stream);
                state.poller.closed();
                continue;
            }
        };
        let connection = match Connection::new(stream, state.poller.token(), read_timeout, write_timeout) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                daemon_log(&state.group, Level::Error, &format!("cannot use a connection: {e}"));
                state.poller.closed();
                continue;
            }
        };
        daemon_log(&state.group, Level::Debug, &format!("new connection from Apache child {peer}"));
        if let Err(connection) = state.poller.keep(connection) {
            connection.goodbye();
        }
    }
}

/// A request thread: serves the next request on any connection, until the
/// process stops.
fn request_loop(state: &Arc<State>, thread: usize) {
    let o = &state.group.options;
    while !state.stopping.load(Ordering::Acquire) {
        // The wait's timeout lets an idle thread notice a stop.
        let Some(connection) = state.poller.wait() else { continue };
        // maximum-requests: a request is reserved before it is read, so the process
        // serves exactly that many; the child sends the others elsewhere.
        if o.maximum_requests > 0 && state.taken.fetch_add(1, Ordering::AcqRel) >= o.maximum_requests {
            state.taken.fetch_sub(1, Ordering::AcqRel);
            state.request_shutdown("maximum-requests");
            state.stopping.store(true, Ordering::Release);
        }
        if state.stopping.load(Ordering::Acquire) {
            connection.goodbye();
            state.poller.closed();
            break;
        }
        if serve_request(state, thread, &connection) {
            if let Err(connection) = state.poller.keep(connection) {
                connection.goodbye();
            }
        } else {
            drop(connection);
            state.poller.closed();
        }
    }
}

/// Only this server's Apache children may submit requests: the socket file's
/// mode already limits connections to their user; the peer must also be a
/// child of our own parent (the Apache parent).
fn check_peer(stream: &UnixStream) -> Result<i32, String> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given size.
    let rv = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut _ as *mut libc::c_void, &mut len) };
    if rv != 0 {
        return Err(format!("cannot read the peer's credentials: {}", std::io::Error::last_os_error()));
    }
    // Apache's children are few and long-lived: remember the ones already checked.
    if VERIFIED_PEERS.lock().contains(&cred.pid) {
        return Ok(cred.pid);
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", cred.pid)).map_err(|e| format!("peer pid {}: {e}", cred.pid))?;
    // The fields after the ")" that ends the command name: state, then ppid.
    let ppid: u32 = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: plain query.
    let parent = unsafe { libc::getppid() } as u32;
    if ppid != parent {
        return Err(format!("peer pid {} (uid {}) is not a child of this Apache server (pid {parent})", cred.pid, cred.uid));
    }
    let mut verified = VERIFIED_PEERS.lock();
    if verified.len() >= 4096 {
        verified.clear();
    }
    verified.push(cred.pid);
    Ok(cred.pid)
}

/// The main thread: waits for a signal or a recycling trigger, then drains.
fn supervise(state: &Arc<State>) -> i32 {
    let o = &state.group.options;
    let signals = SIGNAL_READ.load(Ordering::Relaxed);
    let mut drain = o.graceful_timeout;
    loop {
        let mut pfd = libc::pollfd { fd: signals, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd (or -1, which poll ignores).
        unsafe { libc::poll(&mut pfd, 1, 100) };
        let mut buf = [0u8; 16];
        // SAFETY: reading the non-blocking signal pipe into a local buffer.
        let n = unsafe { libc::read(signals, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        for &sig in &buf[..n.max(0) as usize] {
            match sig as i32 {
                libc::SIGTERM | libc::SIGINT => {
                    drain = o.shutdown_timeout.min(Duration::from_millis(2500));
                    state.request_shutdown("shutdown signal");
                }
                libc::SIGUSR1 | libc::SIGHUP => {
                    drain = o.eviction_timeout.unwrap_or(o.graceful_timeout);
                    state.request_shutdown("graceful signal");
                }
                libc::SIGXCPU => state.request_shutdown("cpu-time-limit"),
                _ => {}
            }
        }
        check_triggers(state);
        if let Some(reason) = *state.reason.lock() {
            daemon_log(&state.group, Level::Info, &format!("shutting down ({reason}); draining for up to {:.1}s", drain.as_secs_f64()));
            break;
        }
    }
    state.stopping.store(true, Ordering::Release);
    // Kept connections are closed at once: their children send new requests elsewhere.
    for connection in state.poller.close() {
        connection.goodbye();
    }
    let deadline = Instant::now() + drain;
    while state.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = state.active.load(Ordering::Acquire);
    if left > 0 {
        daemon_log(&state.group, Level::Warn, &format!("{left} request(s) still running at the end of the drain; exiting"));
    }
    let reason = state.reason.lock().unwrap_or("shutdown signal").replace([' ', '-'], "_");
    interpreter::run_exit_functions(&reason, Duration::from_secs(2));
    0
}

fn check_triggers(state: &Arc<State>) {
    let o = &state.group.options;
    let now = state.now_ms();
    if o.maximum_requests > 0 && state.served.load(Ordering::Relaxed) >= o.maximum_requests {
        state.request_shutdown("maximum-requests");
    }
    if let Some(t) = o.restart_interval
        && state.started.elapsed() >= t
    {
        state.request_shutdown("restart-interval");
    }
    if let Some(t) = o.inactivity_timeout
        && state.active.load(Ordering::Relaxed) == 0
        && now.saturating_sub(state.last_activity_ms.load(Ordering::Relaxed)) >= t.as_millis() as u64
    {
        state.request_shutdown("inactivity-timeout");
    }
    // startup-timeout: the script has not once loaded and run successfully
    // within that long of the first request.
    let first = state.first_request_ms.load(Ordering::Relaxed);
    if let Some(t) = o.startup_timeout
        && first > 0
        && state.succeeded.load(Ordering::Relaxed) == 0
        && now.saturating_sub(first - 1) >= t.as_millis() as u64
    {
        state.request_shutdown("startup-timeout");
    }
    if o.deadlock_timeout > Duration::ZERO {
        let beat = state.heartbeat_ms.load(Ordering::Relaxed);
        if beat > 0 && now.saturating_sub(beat) >= o.deadlock_timeout.as_millis() as u64 {
            daemon_log(&state.group, Level::Crit, "Python's GIL has been held for longer than deadlock-timeout; exiting");
            // SAFETY: the interpreter is stuck; nothing can be drained.
            unsafe { libc::_exit(1) };
        }
    }
    if let Some(t) = o.request_timeout {
        // interrupt-timeout: first raise RequestTimeout in the stuck thread; only if it
        // has not unwound after interrupt-timeout does the request get cut off below.
        if let Some(grace) = o.interrupt_timeout {
            for slot in &state.slots {
                let mut slot = slot.lock();
                if let Some(active) = slot.as_mut().filter(|a| a.since.elapsed() >= t && a.interrupted.is_none()) {
                    active.interrupted = Some(Instant::now());
                    daemon_log(&state.group, Level::Error, &format!("request exceeded request-timeout of {:.0}s; interrupting it", t.as_secs_f64()));
                    interrupt(active.python_thread);
                }
            }
            let unwound_late = |a: &Active| a.interrupted.is_some_and(|at| at.elapsed() >= grace);
            if !state.slots.iter().any(|s| s.lock().as_ref().is_some_and(unwound_late)) {
                return;
            }
        }
        let stuck: Vec<(usize, Arc<Connection>, u64)> = state
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.lock().as_ref().filter(|a| a.since.elapsed() >= t).map(|a| (i, a.connection.clone(), a.python_thread)))
            .filter(|(_, c, _)| !c.timed_out.swap(true, Ordering::AcqRel))
            .collect();
        if !stuck.is_empty() {
            for (thread, connection, _) in &stuck {
                daemon_log(
                    &state.group,
                    Level::Error,
                    &format!("request on thread {thread} exceeded request-timeout of {:.0}s; answering 504 and recycling the process", t.as_secs_f64()),
                );
                connection.fail_unstarted(504);
            }
            dump_stacks(state);
            state.request_shutdown("request-timeout");
        }
    }
}

/// Raises mod_wsgi.RequestTimeout in the Python thread `ident` (from a helper
/// thread, so a thread holding the GIL cannot stall the main thread).
fn interrupt(ident: u64) {
    let _ = std::thread::Builder::new().name("rwsgi-interrupt".into()).spawn(move || {
        python::attach(|py| {
            let exc = py.get_type::<crate::wsgi::RequestTimeout>();
            // SAFETY: the GIL is held; the exception type is a live type object.
            unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(ident as std::ffi::c_long, exc.as_ptr()) };
        })
    });
}

/// Logs the Python stack of every thread, from a helper thread so that a
/// thread holding the GIL cannot stall the main thread for more than a moment.
fn dump_stacks(state: &Arc<State>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let group = state.group.clone();
    let _ = std::thread::Builder::new().name("rwsgi-stacks".into()).spawn(move || {
        let lines: Vec<String> = python::attach(|py| {
            let code = c"import sys, threading, traceback\nnames = {t.ident: t.name for t in threading.enumerate()}\nout = []\nfor ident, frame in sys._current_frames().items():\n    out.append('Thread %s (%s):' % (ident, names.get(ident, '?')))\n    out.extend(l.rstrip() for chunk in traceback.format_stack(frame) for l in chunk.splitlines())\n";
            let globals = pyo3::types::PyDict::new(py);
            match py.run(code, Some(&globals), None) {
                Ok(()) => globals.get_item("out").ok().flatten().and_then(|o| o.extract().ok()).unwrap_or_default(),
                Err(e) => vec![format!("cannot collect Python stacks: {e}")],
            }
        });
        for line in lines {
            daemon_log(&group, Level::Error, &line);
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(2));
}
