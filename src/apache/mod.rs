//! Safe wrappers over the Apache and APR objects the module touches.
//!
//! Raw pointers from `crate::ffi` stop here: each wrapper documents for how
//! long the object it wraps stays valid, and every `unsafe` block says why it
//! is sound.

pub mod auth;
pub mod brigade;
pub mod cmd;
pub mod conftree;
pub mod file;
pub mod log;
pub mod module_config;
pub mod mpm;
pub mod pool;
pub mod process;
pub mod regex;
pub mod request;
pub mod scoreboard;
pub mod server;
pub mod ssl;
pub mod table;

pub use log::Level;
pub use rwsgi_core::guard;
pub use pool::Pool;
pub use request::Request;
pub use server::Server;
pub use table::Table;

/// Apache hook return values.
pub const OK: i32 = crate::ffi::OK;
pub const DECLINED: i32 = crate::ffi::DECLINED;

/// The HTTP statuses the module answers with itself.
pub mod status {
    use crate::ffi;
    pub const BAD_REQUEST: i32 = ffi::HTTP_BAD_REQUEST;
    pub const FORBIDDEN: i32 = ffi::HTTP_FORBIDDEN;
    pub const NOT_FOUND: i32 = ffi::HTTP_NOT_FOUND;
    pub const INTERNAL_SERVER_ERROR: i32 = ffi::HTTP_INTERNAL_SERVER_ERROR;
    pub const BAD_GATEWAY: i32 = ffi::HTTP_BAD_GATEWAY;
    pub const SERVICE_UNAVAILABLE: i32 = ffi::HTTP_SERVICE_UNAVAILABLE;
    pub const GATEWAY_TIME_OUT: i32 = ffi::HTTP_GATEWAY_TIME_OUT;
}
