//! A mod_rwsgi daemon process: from the fork (or exec) to `_exit`, it serves
//! one WSGIDaemonProcess group's requests arriving from Apache's children on
//! the group's socket. It needs no Apache symbol: what it knows of its group
//! arrives as a [`group::Group`].

pub mod group;
pub mod process;

use rwsgi_core::{fdpass, privileges, python, runtime, wsgi};
pub use rwsgi_core::{crit, guard};
pub use rwsgi_config as config;
pub use rwsgi_protocol as protocol;
