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

/// A request thread: serves the next request on any connection, until the
/// process stops.
pub(super) fn request_loop(state: &Arc<State>, thread: usize) {
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

/// Serves the next request on `connection`; returns whether the connection
/// is fit for another (the response ended cleanly).
fn serve_request(state: &Arc<State>, thread: usize, connection: &Arc<Connection>) -> bool {
    let o = &state.group.options;
    connection.ended.store(false, Ordering::Release);
    connection.head_sent.store(false, Ordering::Release);
    let frame = match protocol::read_frame(&mut *connection.reader.lock(), MAX_REQUEST_FRAME) {
        Ok(frame) if frame.kind == Kind::Request => frame,
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
    if let Err(e) = super::admit::admit(&state.group, header.process_group, header.script_path) {
        let client = String::from_utf8_lossy(header.client).into_owned();
        let _scope = log::RequestScope::client(&client);
        tracing::error!("refusing a request for daemon process group '{}': {e}", o.name);
        connection.fail_unstarted(403);
        return false;
    }
    let picked_up = protocol::now_micros();
    if let Some(limit) = o.queue_timeout {
        let waited = Duration::from_micros(protocol::now_micros().saturating_sub(header.queue_start).max(0) as u64);
        if waited > limit {
            tracing::error!("[client {}] mod_rwsgi: queue-timeout of {:.0}s expired for daemon process group '{}' (waited {:.1}s); answering 504", String::from_utf8_lossy(header.client), limit.as_secs_f64(), o.name, waited.as_secs_f64());
            connection.fail_unstarted(504);
            return false;
        }
    }
    state.active.fetch_add(1, Ordering::AcqRel);
    let _ = state.first_request_ms.compare_exchange(0, state.started.elapsed().as_millis() as u64 + 1, Ordering::AcqRel, Ordering::Relaxed);
    // SAFETY: pthread_self is what Python's threading.get_ident() reports on Linux.
    let python_thread = unsafe { libc::pthread_self() } as u64;
    *state.slots[thread].lock() = Some(Active { since: std::time::Instant::now(), connection: connection.clone(), python_thread, interrupted: None });

    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (process_group, application_group, callable_object) = (text(header.process_group), text(header.application_group), text(header.callable_object));
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
    let client = text(header.client);
    let _scope = log::RequestScope::client(&client);
    let variables = &header.variables;
    let outcome = app::serve_request(Box::new(channel), &info, &script, &|visit| variables.iter().for_each(|(k, v)| visit(k, v)));
    if let Outcome::Failed(status) = outcome {
        connection.fail_unstarted(status);
    }
    *state.slots[thread].lock() = None;
    state.active.fetch_sub(1, Ordering::AcqRel);
    state.served.fetch_add(1, Ordering::AcqRel);
    if outcome == Outcome::Served {
        state.succeeded.fetch_add(1, Ordering::Relaxed);
    }
    state.last_activity_ms.store(state.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    connection.reusable()
}
