//! Safe wrappers over the Apache and APR objects the module touches.
//!
//! Raw pointers from `crate::ffi` stop here: each wrapper documents for how
//! long the object it wraps stays valid, and every `unsafe` block says why it
//! is sound.

pub mod brigade;
pub mod cmd;
pub mod file;
pub mod guard;
pub mod log;
pub mod pool;
pub mod regex;
pub mod request;
pub mod server;
pub mod table;

pub use log::Level;
pub use pool::Pool;
pub use request::Request;
pub use server::Server;
pub use table::Table;

/// Apache hook return values.
pub const OK: i32 = crate::ffi::OK;
pub const DECLINED: i32 = crate::ffi::DECLINED;
