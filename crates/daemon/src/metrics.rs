//! Where this daemon process counts: its slot of the group's metrics region
//! (the memfd the Apache parent passed on METRICS_FD), or a private region
//! when none was passed; and, with server-metrics=On, the copy of Apache's
//! scoreboard Apache's side keeps after the region (about a second old), which `server_metrics()`
//! reports.

use rwsgi_core::metrics::{self, ExitReason, Region, Scoreboard};
use rwsgi_metrics::scoreboard::{Dims, Summary};

use crate::group::Group;

static REGION: once_cell::sync::OnceCell<Region> = once_cell::sync::OnceCell::new();
static SCOREBOARD: once_cell::sync::OnceCell<Summary> = once_cell::sync::OnceCell::new();

/// Maps the group's memfd: the region, and the scoreboard's copy if `copy`.
fn map_group_region(processes: usize, copy: bool) -> Option<(Region, Option<Summary>)> {
    use crate::protocol::launch::METRICS_FD;
    let blocks = rwsgi_core::metrics::region_size(processes);
    // Never more than the largest copy the parent makes (the size is sealed).
    let most = blocks + if copy { Dims::max_size() } else { 0 };
    // SAFETY: fstat on the descriptor the launch says is the region.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(METRICS_FD, &mut st) } != 0 || (st.st_size as usize) < blocks {
        return None;
    }
    let len = (st.st_size as usize).min(most);
    // SAFETY: mapping the region shared, read-write, within its sealed size.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, METRICS_FD, 0) };
    // SAFETY: closing our copy of the descriptor; the mapping stays.
    unsafe { libc::close(METRICS_FD) };
    if base == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `len` bytes mapped for the life of the process, page-aligned.
    let region = unsafe { Region::new(base as *const u8, len, processes) }?;
    // SAFETY: the same mapping, from the end of the blocks (a multiple of 8
    // bytes) to its end; `open` keeps the copy's dimensions only if they fit.
    let summary = if copy { unsafe { Summary::open((base as *const u8).add(blocks), len - blocks) } } else { None };
    if copy && summary.is_none() {
        tracing::error!("server-metrics=On: the metrics memory the Apache parent passed holds no copy of Apache's scoreboard; server_metrics() returns None");
    }
    Some((region, summary))
}

fn scoreboard() -> Option<Scoreboard> {
    SCOREBOARD.get()?.read().map(|(sb, _)| sb)
}

/// Picks this process's block (before it serves) and records its start.
pub fn install(group: &Group, index: u32) {
    let processes = group.options.processes as usize;
    let region = REGION.get_or_init(|| {
        let mapped = if group.metrics_fd { map_group_region(processes, group.options.server_metrics) } else { None };
        match mapped {
            Some((region, summary)) => {
                if let Some(s) = summary {
                    let _ = SCOREBOARD.set(s);
                    metrics::set_scoreboard_source(scoreboard);
                }
                region
            }
            None => Region::leak(processes),
        }
    });
    let Some(block) = region.process(index as usize) else { return };
    block.pid.store(u64::from(std::process::id()), std::sync::atomic::Ordering::Relaxed);
    block.started_us.store(rwsgi_core::protocol::now_micros().max(0) as u64, std::sync::atomic::Ordering::Relaxed);
    block.starts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // What an earlier process in the slot left running (it was killed mid-request) is over.
    block.active.store(0, std::sync::atomic::Ordering::Relaxed);
    for t in &block.thread {
        t.start_us.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    block.threads.store(u64::from(group.options.threads), std::sync::atomic::Ordering::Relaxed);
    metrics::install(block);
    metrics::install_group(region, index as usize);
    rwsgi_core::wsgi::events::set_slow_threshold(group.slow_requests_us as f64 / 1e6);
}

/// Refreshes what the process publishes about itself (from its main thread, about once a second).
pub fn refresh() {
    metrics::block().rss_bytes.store(rwsgi_core::wsgi::events::rss_bytes(), std::sync::atomic::Ordering::Relaxed);
}

/// The process stops for `reason` (`deadlock_timeout`, `maximum_requests`, ...).
/// A stop by Apache's signal counts as the reason the supervisor wrote in the
/// slot before it signalled (Apache restarting), if it wrote one. Only atomics
/// and the clock: the deadlock path calls it with the interpreter stuck.
pub fn stopping(reason: &str) {
    let Some(mut r) = ExitReason::parse(reason) else { return };
    let block = metrics::block();
    if r == ExitReason::ShutdownSignal
        && let Some(asked) = block.supervisor_reason()
    {
        r = asked;
    }
    block.exiting(r, u64::from(std::process::id()));
}
