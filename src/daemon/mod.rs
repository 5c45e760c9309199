//! Daemon mode: WSGIDaemonProcess groups, in three places.
//!
//! - `parent`: in the Apache parent, creates each group's socket, forks the
//!   daemon processes and starts them again when they exit.
//! - the daemon process itself is the `rwsgi-daemon` crate (crates/daemon):
//!   set-up, Python, the acceptor and request threads, recycling, shutdown.
//! - `child`: in an Apache child: hands a request to a group over a kept or
//!   new connection and relays the response.
//!
//! `registry` holds the running generation's groups; the bytes between child
//! and daemon are `crate::protocol`.

pub mod child;
pub mod parent;
pub mod registry;
