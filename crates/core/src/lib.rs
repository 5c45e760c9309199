//! The part of mod_rwsgi that needs neither Apache nor a particular process:
//! the embedded Python, PEP 3333 serving, what a process fixes at start-up,
//! panic containment and the log scope. The Apache module and its daemon
//! processes are both built on it.

pub mod fdpass;
pub mod guard;
pub mod log;
pub mod metrics;
pub mod privileges;
pub mod python;
pub mod runtime;
pub mod wsgi;

pub use rwsgi_config as config;
pub use rwsgi_protocol as protocol;
