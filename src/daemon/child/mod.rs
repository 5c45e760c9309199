//! The Apache child's side of daemon mode: hands the request to the group's
//! daemon over its Unix socket and relays the response into Apache's output
//! filters. No Python runs here.
//!
//! Connections are kept after a complete response and reused by the next
//! request (of any thread of this child), which saves the connect, accept and
//! close of every request. A request is sent again on another connection only
//! when the daemon cannot have read it:
//! - the write failed because the daemon had closed the connection;
//! - the daemon answered `Goodbye` (it closes idle connections so when it stops);
//! - the first read failed with ECONNRESET: the kernel reports that, rather
//!   than an end of file, when the peer closed with our bytes still unread in
//!   its receive queue (a daemon killed before it read the request).
//!
//! A daemon that fails after it read the request is a 502, on a kept
//! connection as on a new one: the application may have run.

mod pool;
mod relay;
mod script_owner;

use std::io::ErrorKind;

use pool::{connect, pool_of};
use relay::{Finish, Relay};
use script_owner::check_script_owner;
use super::registry::Group;
use crate::apache::{Request, status};
use crate::protocol::{self, Kind, RequestHeader};
use crate::route::Route;

/// How many times a request is sent again after daemons closed connections without reading it.
const MAX_RESENDS: u32 = 8;

/// This child's request ids: each attempt to hand a request to a daemon gets a
/// new one, so a frame left over from any earlier request (on this connection
/// or another) can never pass as part of the current response.
static NEXT_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Forwards the request to `group` and relays the response; returns the handler status.
pub fn serve(r: &Request, route: &Route, group: &Group) -> i32 {
    if let Some(owner) = group.script_owner
        && let Err(e) = check_script_owner(route, owner)
    {
        tracing::error!("refusing to run the script for daemon process group '{}': {e}", group.options.name);
        return status::FORBIDDEN;
    }
    if let Some(t) = group.options.response_socket_timeout {
        r.set_client_timeout(t);
    }
    let queue_start = protocol::now_micros();
    let timeout = group.options.socket_timeout.unwrap_or_else(|| r.server().timeout());
    let variables = r.subprocess_env().entries();
    let (listener_host, listener_port) = r.listener();
    let client = r.client_address();
    let authorization = if route.pass_authorization { r.headers_in().get("Authorization") } else { None };
    let mut header = RequestHeader {
        request_start: r.request_time(),
        queue_start,
        script_mtime: route.script_mtime,
        deadline: 0,
        listener_port,
        connect_attempts: 0,
        header_only: r.header_only(),
        script_reloading: route.script_reloading,
        has_body: r.should_read_body(),
        script_path: &route.script,
        script_name: &route.script_name,
        url_scheme: r.http_scheme(),
        handler: r.handler(),
        authorization,
        listener_host,
        request_id: r.log_id(),
        client: client.as_bytes(),
        process_group: route.process_group.as_bytes(),
        application_group: route.application_group.as_bytes(),
        callable_object: route.callable_object.as_bytes(),
        variables,
    };
    let mut payload = Vec::with_capacity(4096);
    let mut resends = 0;
    // A kept connection the daemon closed is simply dropped (there are finitely
    // many); new connections that are not taken count towards the limit.
    let mut not_taken = |kept: bool| {
        if kept {
            return Ok(());
        }
        resends += 1;
        if resends < MAX_RESENDS {
            return Ok(());
        }
        tracing::error!("daemon process group '{}' closed {resends} connections in a row without taking the request", group.options.name);
        Err(status::SERVICE_UNAVAILABLE)
    };
    let connections = pool_of(group);
    loop {
        let (mut connection, kept) = match connections.take(group.options.processes as usize) {
            // Reported as one attempt that succeeded at once (mod_wsgi.daemon_connects).
            Some(c) => {
                header.connect_attempts = header.connect_attempts.saturating_add(1);
                crate::metrics::daemon_connection(&group.options.name, true);
                (c, true)
            }
            None => match connect(r, group) {
                Ok((c, attempts)) => {
                    header.connect_attempts = header.connect_attempts.saturating_add(attempts);
                    crate::metrics::daemon_connection(&group.options.name, false);
                    (c, false)
                }
                Err(code) => return code,
            },
        };
        connection.set_timeout(timeout);
        let request = NEXT_REQUEST.fetch_add(1, std::sync::atomic::Ordering::Relaxed).max(1);
        // The relay gives up (504) after `timeout` without a frame; the daemon
        // does not start the request after that.
        header.deadline = protocol::now_micros().saturating_add(timeout.as_micros().min(i64::MAX as u128) as i64);
        payload.clear();
        protocol::encode_request(&header, &mut payload);
        if let Err(e) = protocol::write_frame(&mut connection.reader.stream(), Kind::Request, request, &payload) {
            if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                match not_taken(kept) {
                    Ok(()) => continue,
                    Err(code) => return code,
                }
            }
            tracing::error!("cannot send the request to daemon process group '{}': {e}", group.options.name);
            return status::BAD_GATEWAY;
        }
        let pid = connection.pid;
        connections.begin(pid);
        let finish = Relay::new(r, group, &mut connection, request, timeout, route.error_override).run();
        connections.end(pid);
        match finish {
            Finish::Done { status: code, reusable } => {
                if reusable {
                    connections.put(connection);
                }
                return code;
            }
            Finish::NotTaken => {
                if let Err(code) = not_taken(kept) {
                    return code;
                }
            }
        }
    }
}
