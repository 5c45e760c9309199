//! The daemon program's tracing subscriber. An exec'd daemon has no Apache to
//! log through: its stderr is the Apache parent's, which Apache points at the
//! main error log, so each line is written there whole, in the error log's
//! default format (`[time] [rwsgi:level] [pid P:tid T] [client …] text`), and
//! filtered by the `LogLevel rwsgi:` level the parent passed.

use std::sync::atomic::{AtomicI32, Ordering};

use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

use rwsgi_core::log::{Level, Scope, client_of, format_event, level_of, scope};

/// The most verbose level written (Apache's numbering: 0 emerg … 7 debug).
static MAX_LEVEL: AtomicI32 = AtomicI32::new(Level::Notice as i32);

/// Apache's names for its levels.
fn level_name(level: i32) -> &'static str {
    ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"].get(level as usize).copied().unwrap_or("trace1")
}

/// `Tue Dec 01 20:06:30.123456 2026` in local time, as Apache's `%{u}t`.
fn timestamp() -> String {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec; localtime_r and strftime write
    // within the buffers given.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&ts.tv_sec, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), c"%a %b %d %H:%M:%S".as_ptr(), &tm);
        let mut year = [0u8; 16];
        let y = libc::strftime(year.as_mut_ptr() as *mut libc::c_char, year.len(), c"%Y".as_ptr(), &tm);
        format!("{}.{:06} {}", String::from_utf8_lossy(&buf[..n]), ts.tv_nsec / 1000, String::from_utf8_lossy(&year[..y]))
    }
}

/// One error-log line for `text` at `level`.
pub fn line(level: i32, client: Option<&str>, text: &str) -> String {
    // SAFETY: pthread_self has no preconditions.
    let tid = unsafe { libc::pthread_self() } as u64;
    let client = client.map(|c| format!("[client {c}] ")).unwrap_or_default();
    // One line per event: embedded newlines would make lines without a prefix.
    let text = text.replace('\n', "\\n");
    format!("[{}] [rwsgi:{}] [pid {}:tid {tid}] {client}{text}\n", timestamp(), level_name(level), std::process::id())
}

/// Writes a line to stderr in one write(2): O_APPEND keeps concurrent writers'
/// lines whole.
pub fn write_line(line: &str) {
    let bytes = line.as_bytes();
    // SAFETY: writing our buffer to descriptor 2.
    unsafe { libc::write(2, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
}

struct StderrLog;

impl tracing::Subscriber for StderrLog {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled(meta) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        level_of(meta) as i32 <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn event(&self, event: &Event<'_>) {
        let level = level_of(event.metadata()) as i32;
        let text = format_event(event);
        let client = match scope() {
            // SAFETY: this thread's current scope, kept alive by its creator.
            Scope::Client(ptr, len) => Some(unsafe { client_of(ptr, len) }),
            Scope::Server | Scope::Host(_) => None,
        };
        write_line(&line(level, client, &text));
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Makes stderr the process's log, at `level` (Apache's numbering).
pub fn install(level: u8) {
    MAX_LEVEL.store(i32::from(level), Ordering::Relaxed);
    let _ = tracing::subscriber::set_global_default(StderrLog);
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_have_apaches_shape() {
        let l = super::line(3, Some("127.0.0.1:5000"), "mod_rwsgi: a\nb");
        let re = l.trim_end();
        assert!(re.starts_with('['), "{l}");
        assert!(re.contains("] [rwsgi:error] [pid "), "{l}");
        assert!(re.ends_with("[client 127.0.0.1:5000] mod_rwsgi: a\\nb"), "{l}");
        assert!(l.ends_with('\n') && l.matches('\n').count() == 1);
        // `[Tue Dec 01 20:06:30.123456 2026]`
        let stamp = &re[1..re.find(']').unwrap()];
        assert_eq!(stamp.len(), 31, "{stamp}");
        assert_eq!(super::level_name(8), "trace1");
    }
}
