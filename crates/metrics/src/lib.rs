//! The counters a process that serves requests publishes, as a fixed
//! `#[repr(C)]` layout of atomics that can live in memory shared with the
//! Apache side (an anonymous shared mapping for Apache's children, a memfd per
//! daemon group), and what the reader makes of them.
//!
//! Writers only ever do relaxed atomic adds and stores: no lock and no system
//! call on the request path. The reader may be looking at memory a hostile
//! daemon wrote, so everything it takes out is a bounded number or bytes it
//! escapes ([`read`]); nothing read is used as an index, a length or a pointer
//! without being clamped first.

pub mod layout;
pub mod prometheus;
pub mod read;
pub mod report;
pub mod scoreboard;
pub mod status;

pub use layout::*;
