//! A mod_rwsgi daemon process: from the exec to `_exit`, it serves one
//! WSGIDaemonProcess group's requests arriving from Apache's children on the
//! group's socket. It needs no Apache symbol: it is the `rwsgi-daemon`
//! program, and what it knows of its group arrives as a launch message
//! (`protocol::launch`), rebuilt into a [`group::Group`].

pub mod group;
pub mod log;
pub mod metrics;
pub mod process;
pub mod start;

use rwsgi_core::{fdpass, python, runtime, wsgi};
pub use rwsgi_core::{crit, guard};
pub use rwsgi_config as config;
pub use rwsgi_protocol as protocol;
