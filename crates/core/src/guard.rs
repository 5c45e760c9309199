//! Panic containment for every `extern "C"` entry point.
//!
//! A panic that unwinds into Apache's C frames aborts the process, which would
//! take every in-flight request of that child with it (or the whole server in
//! the parent). Each entry point runs its body through [`contain`], which turns
//! a panic into the caller's safe fallback value and an error-log line.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

fn describe(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Runs `body`; if it panics, logs `what` with the panic message and returns `fallback`.
pub fn contain<T>(what: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    contain_or(what, body, || fallback)
}

/// Like [`contain`], with the fallback made only after a panic (for callers
/// whose fallback has an effect, such as setting a Python exception).
pub fn contain_or<T>(what: &str, body: impl FnOnce() -> T, on_panic: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            crate::crit!("internal error (panic caught) in {what}: {}", describe(payload.as_ref()));
            on_panic()
        }
    }
}

/// Installs a panic hook that keeps Rust's default stderr message out of the
/// error log; [`contain`] logs caught panics itself, with Apache's formatting.
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// Starts a thread whose body runs under [`contain`]: a panic in it is logged
/// and ends the thread, never the process (`stack`: its stack size, if not
/// Rust's default).
pub fn spawn(name: &str, stack: Option<usize>, body: impl FnOnce() + Send + 'static) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut builder = std::thread::Builder::new().name(name.to_string());
    if let Some(size) = stack {
        builder = builder.stack_size(size);
    }
    let what = format!("thread {name}");
    builder.spawn(move || contain(&what, (), body))
}
