//! Daemon mode: WSGIDaemonProcess groups.
//!
//! - `registry`: the groups and import scripts the configuration defines, and
//!   their runtime state (socket paths, listening sockets) for this generation.
//! - `supervisor`: in the Apache parent, creates the sockets, forks the daemon
//!   processes and restarts them when they exit.
//! - `process`: inside a daemon process: privilege drop, Python start, request
//!   threads, recycling and shutdown.
//! - `poller`: in a daemon process, which connection (new or kept) a request
//!   thread serves next.
//! - `channel`: the daemon side of a connection (a `wsgi::channel::Channel`
//!   for each request on it).
//! - `client`: the Apache child side: hands a request to the daemon over a
//!   kept or new connection and relays the response.
//! - `privileges`: user/group resolution and switching.

pub mod channel;
pub mod client;
pub mod fdpass;
pub mod poller;
pub mod privileges;
pub mod process;
pub mod registry;
pub mod supervisor;
