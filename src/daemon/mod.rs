//! Daemon mode: WSGIDaemonProcess groups, in three places.
//!
//! - `parent`: in the Apache parent, creates each group's socket, forks the
//!   daemon processes and starts them again when they exit.
//! - `process`: inside a daemon process: set-up after the fork, Python, the
//!   acceptor and request threads, recycling and shutdown.
//! - `child`: in an Apache child: hands a request to a group over a kept or
//!   new connection and relays the response.
//!
//! They share `registry` (the running generation's groups); descriptor
//! passing and privileges come from `rwsgi_core`, and the bytes between child
//! and daemon are `crate::protocol`.

pub mod child;
pub mod parent;
pub mod process;
pub mod registry;
