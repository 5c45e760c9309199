//! Where this process counts its requests: its block in a shared region (set
//! up by the Apache module for its children, by the daemon for itself), or a
//! private block until then. Also what `server_metrics()` reports, which the
//! layer that knows it provides.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use once_cell::sync::OnceCell;
pub use rwsgi_metrics::{ExitReason, ProcessBlock, Region, region_size};

static BLOCK: OnceCell<&'static ProcessBlock> = OnceCell::new();
static GROUP: OnceCell<(&'static Region, usize)> = OnceCell::new();

/// This process counts in `block` from now on (once, before it serves).
pub fn install(block: &'static ProcessBlock) {
    if BLOCK.set(block).is_err() {
        tracing::error!("internal error: the metrics block was set twice in process {}", std::process::id());
    }
}

/// This daemon process's group region and its own index in it.
pub fn install_group(region: &'static Region, index: usize) {
    let _ = GROUP.set((region, index));
}

pub fn group() -> Option<(&'static Region, usize)> {
    GROUP.get().copied()
}

/// The block this process counts in.
#[inline]
pub fn block() -> &'static ProcessBlock {
    BLOCK.get_or_init(Region::private_block)
}

/// Phases only the Python API reports (mod_wsgi's request_metrics()), counted in this process.
pub struct LocalTimes {
    pub server: rwsgi_metrics::Histogram,
    pub daemon: rwsgi_metrics::Histogram,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
pub static LOCAL: LocalTimes = LocalTimes {
    server: rwsgi_metrics::Histogram { counts: [ZERO; rwsgi_metrics::BUCKETS], sum_us: ZERO },
    daemon: rwsgi_metrics::Histogram { counts: [ZERO; rwsgi_metrics::BUCKETS], sum_us: ZERO },
};

pub use rwsgi_metrics::scoreboard::{ScoreProcess, ScoreWorker, Scoreboard};

static SCOREBOARD: OnceCell<fn() -> Option<Scoreboard>> = OnceCell::new();
static SERVER_METRICS: AtomicBool = AtomicBool::new(false);

/// WSGIServerMetrics On (Apache children) or server-metrics=On (a daemon group).
pub fn enable_server_metrics(on: bool) {
    SERVER_METRICS.store(on, Relaxed);
}

pub fn server_metrics_enabled() -> bool {
    SERVER_METRICS.load(Relaxed)
}

/// How this process reads Apache's scoreboard: Apache's children from the
/// scoreboard itself, a daemon process from the copy the Apache parent keeps
/// in its group's memfd.
pub fn set_scoreboard_source(f: fn() -> Option<Scoreboard>) {
    let _ = SCOREBOARD.set(f);
}

pub fn scoreboard() -> Option<Scoreboard> {
    SCOREBOARD.get().and_then(|f| f())
}
