//! The embedded CPython: start-up in a child process, per-thread thread
//! states, and loading/reloading of WSGI script files.

pub mod interpreter;
pub mod interpreters;
pub mod native_class;
pub mod per_interpreter;
pub mod script;
pub mod shutdown;
pub mod thread;

pub use thread::{attach, attach_in};
