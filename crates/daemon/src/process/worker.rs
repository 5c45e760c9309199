//! A daemon process's request threads: each serves the next request on any
//! connection that has one, until the process stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::connection::{Connection, DaemonChannel};
use super::state::{Active, State};
use rwsgi_core::log;
use crate::protocol::{self, FrameError, Kind, MAX_REQUEST_FRAME};
use crate::wsgi::app::{self, Outcome, Script};
use crate::wsgi::environ::{DaemonTimes, RequestInfo};

/// Test hook for the panic guard: a request whose script path ends with the
/// value of `RWSGI_TEST_PANIC_SCRIPT` (read once, when the daemon starts) panics
/// in its request thread. Unset, as outside the test suite, it does nothing.
static PANIC_SCRIPT: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();

fn panic_script() -> Option<&'static [u8]> {
    PANIC_SCRIPT.get_or_init(|| std::env::var_os("RWSGI_TEST_PANIC_SCRIPT").map(std::os::unix::ffi::OsStringExt::into_vec).filter(|v| !v.is_empty())).as_deref()
}

/// A request thread: serves the next request on any connection, until the
/// process stops. A panic outside a request (each request has its own guard)
/// is logged and the loop goes on, so the process never silently loses a thread.
pub(super) fn request_loop(state: &Arc<State>, thread: usize) {
    let _ = panic_script();
    restart_on_panic("a request thread", || serve_until_stopped(state, thread));
}

/// Runs `body` until it returns; a panic in it is logged (by the guard) and,
/// after a pause that keeps a panic on every run from spinning, it runs again.
pub(super) fn restart_on_panic(what: &str, body: impl Fn()) {
    while !crate::guard::contain(what, false, || {
        body();
        true
    }) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve_until_stopped(state: &Arc<State>, thread: usize) {
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
        // A panic costs this request (a 500 if nothing was sent, else a cut
        // response) and its connection, never the thread.
        let reusable = crate::guard::contain("a daemon request", false, || serve_request(state, thread, &connection));
        super::fork::exit_if_forked();
        if reusable {
            if let Err(connection) = state.poller.keep(connection) {
                connection.goodbye();
            }
        } else {
            // A request still in its slot is one the guard cut short.
            if state.slots[thread].lock().take().is_some() {
                connection.fail_unstarted(500);
                state.active.fetch_sub(1, Ordering::AcqRel);
            }
            drop(connection);
            state.poller.closed();
        }
    }
}

/// Serves the next request on `connection`; returns whether the connection
/// is fit for another (the response ended cleanly).
fn serve_request(state: &Arc<State>, thread: usize, connection: &Arc<Connection>) -> bool {
    let o = &state.group.options;
    connection.ended.store(false, Ordering::Release);
    connection.head_sent.store(false, Ordering::Release);
    let frame = match protocol::read_frame(&mut *connection.reader.lock(), MAX_REQUEST_FRAME) {
        Ok(frame) if frame.kind == Kind::Request && frame.request != protocol::NO_REQUEST => frame,
        Ok(frame) => {
            tracing::error!("daemon got a {:?} frame instead of a request", frame.kind);
            return false;
        }
        // The child closed a kept connection (it exited).
        Err(FrameError::Closed) => return false,
        Err(e) => {
            tracing::error!("daemon could not read a request: {e}");
            return false;
        }
    };
    let header = match protocol::decode_request(&frame.payload) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("daemon got a malformed request: {e}");
            return false;
        }
    };
    connection.request.store(frame.request, Ordering::Release);
    // Lines about this request carry the client the Apache child sent.
    let client = String::from_utf8_lossy(header.client).into_owned();
    let _scope = log::RequestScope::client(&client);
    if let Err(e) = super::admit::admit(&state.group, header.process_group, header.script_path) {
        tracing::error!("refusing a request for daemon process group '{}': {e}", o.name);
        connection.fail_unstarted(403);
        return false;
    }
    let picked_up = protocol::now_micros();
    // The child gives up waiting (504) at its deadline and closes the
    // connection: a request it has given up on is never started.
    if header.deadline != 0 && picked_up >= header.deadline {
        tracing::error!(
            "request for daemon process group '{}' not started: the Apache child gave up waiting {:.1}s ago (socket-timeout)",
            o.name,
            (picked_up - header.deadline) as f64 / 1e6
        );
        return false;
    }
    if connection.closed_before_start() {
        tracing::error!("request for daemon process group '{}' not started: the Apache child has closed the connection", o.name);
        return false;
    }
    if let Some(limit) = o.queue_timeout {
        let waited = Duration::from_micros(protocol::now_micros().saturating_sub(header.queue_start).max(0) as u64);
        if waited > limit {
            tracing::error!("queue-timeout of {:.0}s expired for daemon process group '{}' (waited {:.1}s); answering 504", limit.as_secs_f64(), o.name, waited.as_secs_f64());
            connection.fail_unstarted(504);
            return false;
        }
    }
    state.active.fetch_add(1, Ordering::AcqRel);
    let _ = state.first_request_ms.compare_exchange(0, state.started.elapsed().as_millis() as u64 + 1, Ordering::AcqRel, Ordering::Relaxed);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (process_group, application_group, callable_object) = (text(header.process_group), text(header.application_group), text(header.callable_object));
    // SAFETY: pthread_self is what Python's threading.get_ident() reports on Linux.
    let python_thread = unsafe { libc::pthread_self() } as u64;
    *state.slots[thread].lock() = Some(Active {
        since: std::time::Instant::now(),
        connection: connection.clone(),
        python_thread,
        application_group: application_group.clone(),
        interrupted: None,
    });

    if panic_script().is_some_and(|p| header.script_path.ends_with(p)) {
        panic!("test hook: RWSGI_TEST_PANIC_SCRIPT matched the script path");
    }
    let info = RequestInfo {
        script_name: header.script_name,
        url_scheme: header.url_scheme,
        handler: header.handler,
        authorization: header.authorization,
        listener_host: header.listener_host,
        listener_port: header.listener_port,
        request_id: header.request_id,
        request_start: header.request_start,
        process_group: &process_group,
        application_group: &application_group,
        callable_object: &callable_object,
        script_reloading: header.script_reloading,
        // Apache's request lives in the Apache child, not here (as with mod_wsgi).
        request_rec: None,
        daemon: Some(DaemonTimes { queue_start: header.queue_start, daemon_start: picked_up, connects: header.connect_attempts }),
    };
    let script = Script {
        path: header.script_path,
        mtime: header.script_mtime,
        application_group: &application_group,
        callable_object: &callable_object,
        reloading: header.script_reloading,
    };
    let channel = DaemonChannel {
        connection: connection.clone(),
        header_only: header.header_only,
        has_body: header.has_body,
        close_after: AtomicBool::new(false),
        pid: state.pid,
    };
    let variables = &header.variables;
    // WSGIIgnoreActivity: such requests (health checks) leave the inactivity countdown alone.
    let counts_as_activity = !variables.iter().any(|(k, v)| *k == b"mod_wsgi.ignore_activity" && *v == b"1");
    let outcome = app::serve_request(Box::new(channel), &info, &script, &|visit| variables.iter().for_each(|(k, v)| visit(k, v)));
    // A process the application forked, returning here: it leaves at once.
    super::fork::exit_if_forked();
    match outcome {
        Outcome::Failed(status) => connection.fail_unstarted(status),
        // The response's end, queued while the GIL was held (DaemonChannel::finish_now).
        Outcome::Served => {
            let _ = connection.flush();
        }
    }
    *state.slots[thread].lock() = None;
    state.active.fetch_sub(1, Ordering::AcqRel);
    state.served.fetch_add(1, Ordering::AcqRel);
    if outcome == Outcome::Served {
        state.succeeded.fetch_add(1, Ordering::Relaxed);
    }
    if counts_as_activity {
        state.last_activity_ms.store(state.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    connection.reusable()
}
