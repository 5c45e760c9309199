//! The Apache side of the metrics: the shared regions the parent makes
//! before it forks (an anonymous shared mapping for Apache's children, one
//! sealed-size memfd per daemon group, passed to its processes at launch),
//! each child's slot, what Apache's children count for daemon groups, the
//! copy of Apache's scoreboard kept in the memfd of each group with
//! server-metrics=On (by one of Apache's children about every second, and by
//! the parent), and the `rwsgi-metrics` endpoint.
//!
//! Regions are kept for the parent's life in its process pool (by name and
//! size), so counters keep going up across restarts and a reload of this
//! module. A daemon group's memfd is writable by that group's processes only:
//! everything read from it goes through `rwsgi_metrics::read`, which clamps it.
//! Apache's side only writes to a group's copy of the scoreboard, never reads
//! it (beyond its seqlock word and the time it was made, which decide only
//! whether and when that group's copy is rewritten).

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::RwLock;
use rwsgi_core::metrics::{ExitReason, ProcessBlock, Region, region_size};
use rwsgi_metrics::scoreboard::{Dims, Published, Summary};
use rwsgi_metrics::{read, report, status};

use crate::apache::{Request, brigade::Brigade, mpm};

/// Embedded slots at most (ServerLimit can be far larger than what runs).
const MAX_EMBEDDED: usize = 1024;

struct GroupRegions {
    name: String,
    memfd: RawFd,
    region: &'static Region,
    /// What Apache's children count for the group (one block, not writable by the group).
    front: &'static Region,
    /// server-metrics=On: where Apache's side copies its scoreboard (after the
    /// region). The parent maps it before it forks: Apache's children write
    /// through the same shared mapping.
    scoreboard: Option<&'static Summary>,
}

#[derive(Default)]
struct Regions {
    embedded: Option<&'static Region>,
    groups: Vec<GroupRegions>,
}

static REGIONS: RwLock<Option<Arc<Regions>>> = RwLock::new(None);
static EMBEDDED_SLOT: once_cell::sync::OnceCell<usize> = once_cell::sync::OnceCell::new();

fn regions() -> Arc<Regions> {
    REGIONS.read().clone().unwrap_or_default()
}

/// A mapping kept for the parent's life under `key`: (address, length, descriptor or -1).
fn lifetime_mapping(key: &str, len: usize, memfd: bool) -> Option<(*const u8, RawFd, bool)> {
    let made = std::cell::Cell::new(false);
    let bytes = crate::apache::process::lifetime_bytes(key, || {
        made.set(true);
        let (addr, fd) = map_new(len, memfd)?;
        let mut b = (addr as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&(fd as i64).to_le_bytes());
        Ok(b)
    })
    .map_err(|e| tracing::error!("metrics: cannot set up shared memory for {key}: {e}"))
    .ok()?;
    let addr = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize as *const u8;
    let fd = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?) as RawFd;
    Some((addr, fd, made.get()))
}

fn map_new(len: usize, memfd: bool) -> Result<(*const u8, RawFd), String> {
    let err = || std::io::Error::last_os_error().to_string();
    // SAFETY: plain system calls on descriptors and memory this function creates.
    unsafe {
        let fd = if memfd {
            let fd = libc::memfd_create(c"rwsgi-metrics".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
            if fd < 0 || libc::ftruncate(fd, len as libc::off_t) != 0 {
                return Err(err());
            }
            // The group's processes may write the counters, never change the size
            // (a shrunk mapping would fault in the reader).
            if libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL) != 0 {
                return Err(err());
            }
            fd
        } else {
            -1
        };
        let flags = if memfd { libc::MAP_SHARED } else { libc::MAP_SHARED | libc::MAP_ANONYMOUS };
        let addr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, fd, 0);
        if addr == libc::MAP_FAILED {
            return Err(err());
        }
        Ok((addr as *const u8, fd))
    }
}

/// A region of `processes` blocks, followed by a copy of the scoreboard of
/// `scoreboard` dimensions if asked for.
fn region(key: &str, processes: usize, memfd: bool, scoreboard: Option<Dims>) -> Option<(&'static Region, RawFd, Option<&'static Summary>)> {
    let blocks = region_size(processes);
    let len = blocks + scoreboard.map_or(0, |d| d.size());
    let (addr, fd, made) = lifetime_mapping(&format!("metrics:{key}:{processes}:{len}"), len, memfd)?;
    // SAFETY: a mapping of `len` bytes made above (or by an earlier generation
    // with the same key and size), never unmapped in the parent's life; its
    // children inherit it. Page-aligned.
    let r = unsafe { Region::new(addr, len, processes) }?;
    if made {
        r.init();
    }
    // SAFETY: the same mapping; the copy takes the `len - blocks` bytes after
    // the blocks (a multiple of 8 bytes from the page-aligned start).
    let summary = scoreboard.and_then(|d| unsafe { Summary::new(addr.add(blocks), len - blocks, d) });
    if let Some(s) = &summary {
        s.init();
    }
    Some((Box::leak(Box::new(r)), fd, summary.map(|s| &*Box::leak(Box::new(s)))))
}

/// What a group's copy of the scoreboard holds: all of it, unless that is
/// more than `rwsgi_metrics::scoreboard`'s bounds (then the first slots, and
/// a warning).
fn scoreboard_dims(groups: &[rwsgi_daemon::group::Group]) -> Dims {
    let (server_limit, thread_limit) = (i64::from(mpm::hard_limit_daemons()), i64::from(mpm::hard_limit_threads()));
    let dims = Dims::for_limits(server_limit, thread_limit);
    if !dims.covers(server_limit, thread_limit) {
        for g in groups.iter().filter(|g| g.options.server_metrics) {
            tracing::warn!(
                "daemon process group '{}': server-metrics=On reports the first {} of ServerLimit {} processes and {} of ThreadLimit {} threads each (the copy of the scoreboard is bounded to {} worker slots)",
                g.options.name,
                dims.processes,
                server_limit,
                dims.threads,
                thread_limit,
                rwsgi_metrics::scoreboard::MAX_WORKERS
            );
        }
    }
    dims
}

/// post_config (the parent, the pass that runs): regions for embedded mode
/// and for every daemon group; marks the groups whose launch passes a region.
pub fn parent_setup(groups: &mut [rwsgi_daemon::group::Group]) {
    let embedded = region("embedded", (mpm::hard_limit_daemons().max(mpm::max_daemons()).max(1) as usize).min(MAX_EMBEDDED), false, None).map(|(r, ..)| r);
    let dims = scoreboard_dims(groups);
    let mut list = Vec::new();
    for g in groups.iter_mut() {
        let n = g.options.processes as usize;
        let copy = g.options.server_metrics.then_some(dims);
        let (Some((r, fd, scoreboard)), Some((front, ..))) =
            (region(&format!("group:{}", g.options.name), n, true, copy), region(&format!("front:{}", g.options.name), 1, false, None))
        else {
            continue;
        };
        g.metrics_fd = true;
        // A new generation: its processes stop for their own reasons until told otherwise.
        for i in 0..r.processes() {
            if let Some(b) = r.process(i) {
                b.stop_reason.store(0, Relaxed);
            }
        }
        list.push(GroupRegions { name: g.options.name.clone(), memfd: fd, region: r, front, scoreboard });
    }
    *REGIONS.write() = Some(Arc::new(Regions { embedded, groups: list }));
    // After a graceful restart the scoreboard is there already: the new
    // daemons find a copy at once (otherwise pre_mpm makes the first).
    copy_scoreboard();
}

/// Copies Apache's scoreboard into the memfd of each group with
/// server-metrics=On (the parent: its monitor hook, pre_mpm and post_config).
/// Apache runs the monitor hook every tenth turn of its main loop, which waits
/// a second a turn; the children's copier ([`start_copier`]) keeps the copy
/// about a second old between those.
pub fn copy_scoreboard() {
    publish_all(&regions());
}

/// One copy of the scoreboard into every group's memfd (each taken by its
/// seqlock; a group whose copy another writer holds is skipped this round).
fn publish_all(r: &Regions) {
    let copies: Vec<(&str, &'static Summary)> = r.groups.iter().filter_map(|g| Some((g.name.as_str(), g.scoreboard?))).collect();
    let Some(dims) = copies.first().map(|(_, s)| s.dims()) else { return };
    let Some(sb) = crate::apache::scoreboard::read_first(dims.processes, dims.threads) else { return };
    let now = rwsgi_core::protocol::now_micros().max(0) as u64;
    let round = next_round();
    for (group, copy) in copies {
        if copy.publish(round, &sb, now) == Published::TookOver {
            tracing::warn!(
                "daemon process group '{group}': its copy of Apache's scoreboard had been left half-written for {} s (a writer killed, or the group's processes writing there); rewritten",
                rwsgi_metrics::scoreboard::TAKEOVER_NS / 1_000_000_000
            );
        }
    }
}

/// How often Apache's children refresh the copies.
const CHILD_COPY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// A copy this old (µs) is refreshed by any child, elected or not (the
/// elected child is gone, stopped, or has not yet been told its slot).
const CHILD_COPY_STALE_US: u64 = 2_500_000;

/// The copier's stop flag, and what wakes it.
static COPIER: (parking_lot::Mutex<bool>, parking_lot::Condvar) = (parking_lot::Mutex::new(false), parking_lot::Condvar::new());

/// child_init: when a daemon group has server-metrics=On, a background
/// thread in this child that keeps the groups' copies of the scoreboard
/// about a second old. Each child's copier wakes every second; the one in
/// the lowest slot of the running generation that is not stopping copies
/// (the others only when the copy has grown stale). Nothing on the request
/// path. Stopped by `pchild`'s cleanup; it never holds the child up (its
/// exit waits at most for one copy under way, bounded).
pub fn start_copier(pchild: crate::apache::Pool) {
    let r = regions();
    if !r.groups.iter().any(|g| g.scoreboard.is_some()) {
        return;
    }
    *COPIER.0.lock() = false;
    if let Err(e) = crate::apache::process::spawn_without_signals("rwsgi-sbcopy", move || copier(&r)) {
        tracing::error!("server-metrics=On: cannot start the thread that copies Apache's scoreboard every second ({e}); daemon processes see the parent's copy, up to 10 s old");
        return;
    }
    pchild.adopt(CopierStop);
}

fn copier(r: &Regions) {
    let me = i64::from(std::process::id());
    let mut stop = COPIER.0.lock();
    // A first look at once: a child that lives less than a second (prefork
    // under a low MaxConnectionsPerChild) still copies.
    while !*stop {
        let now = rwsgi_core::protocol::now_micros().max(0) as u64;
        let stale = r.groups.iter().filter_map(|g| g.scoreboard).any(|s| now.saturating_sub(s.copied_us()) >= CHILD_COPY_STALE_US);
        if stale || crate::apache::scoreboard::first_serving_pid() == Some(me) {
            // With the lock held: the child's exit waits for this copy to end.
            publish_all(r);
        }
        COPIER.1.wait_for(&mut stop, CHILD_COPY_EVERY);
    }
}

/// pchild's cleanup: stops the copier, after the copy under way if any
/// (a half-written copy would wait for the takeover), never for long.
struct CopierStop;

impl Drop for CopierStop {
    fn drop(&mut self) {
        if let Some(mut stop) = COPIER.0.try_lock_for(std::time::Duration::from_millis(250)) {
            *stop = true;
            COPIER.1.notify_all();
        }
    }
}

/// A number that rises with every copy, also across reloads of this module
/// in the same parent (the monotonic clock), so that a reader never sees the
/// same sequence number around two different copies.
fn next_round() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let clock = (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64);
    let round = clock.max(LAST.load(Relaxed) + 1);
    LAST.store(round, Relaxed);
    round
}

/// A pconf cleanup (dropped when the generation ends, before APR signals the
/// daemons noted on pconf): if Apache is restarting, every daemon slot is told
/// to count the stop that follows as `graceful_restart`, not `shutdown_signal`.
struct RestartNotice;

impl Drop for RestartNotice {
    fn drop(&mut self) {
        let reason = if mpm::restarting() { ExitReason::GracefulRestart as u64 + 1 } else { 0 };
        for g in &regions().groups {
            for i in 0..g.region.processes() {
                if let Some(b) = g.region.process(i) {
                    b.stop_reason.store(reason, Relaxed);
                }
            }
        }
    }
}

/// Registers the [`RestartNotice`] of this generation on `pconf`.
pub fn note_restart_on(pconf: crate::apache::Pool) {
    pconf.adopt(RestartNotice);
}

/// The memfd to pass to a process of `group` (on METRICS_FD).
pub fn group_memfd(group: &str) -> Option<RawFd> {
    regions().groups.iter().find(|g| g.name == group).map(|g| g.memfd)
}

/// Slot `index` of a daemon group's region (the parent records a crash there).
pub fn group_block(group: &str, index: usize) -> Option<&'static ProcessBlock> {
    regions().groups.iter().find(|g| g.name == group).and_then(|g| g.region.process(index))
}

fn alive(pid: u64) -> bool {
    // SAFETY: signal 0 only checks the process exists.
    pid != 0 && pid < i32::MAX as u64 && (unsafe { libc::kill(pid as i32, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// child_init: this child takes a free embedded slot and counts there.
pub fn child_init() {
    let r = regions();
    let Some(region) = r.embedded else { return };
    let me = u64::from(std::process::id());
    for i in 0..region.processes() {
        let Some(b) = region.process(i) else { break };
        let pid = b.pid.load(Relaxed);
        if (pid == 0 || (pid != me && !alive(pid))) && b.pid.compare_exchange(pid, me, Relaxed, Relaxed).is_ok() {
            b.started_us.store(rwsgi_core::protocol::now_micros().max(0) as u64, Relaxed);
            b.starts.fetch_add(1, Relaxed);
            b.active.store(0, Relaxed);
            b.threads.store(mpm::process_model().max_threads.max(1) as u64, Relaxed);
            for t in &b.thread {
                t.start_us.store(0, Relaxed);
            }
            rwsgi_core::metrics::install(b);
            let _ = EMBEDDED_SLOT.set(i);
            return;
        }
    }
}

/// An Apache child answered a request for daemon group `group` with `status`.
pub fn daemon_request(group: &str, status: i32) {
    let r = regions();
    let Some(front) = r.groups.iter().find(|g| g.name == group).and_then(|g| g.front.process(0)) else { return };
    front.finish(status.clamp(0, 999) as u16, 0);
}

/// A connection to `group` was opened (false) or a kept one reused (true).
pub fn daemon_connection(group: &str, kept: bool) {
    let r = regions();
    let Some(front) = r.groups.iter().find(|g| g.name == group).and_then(|g| g.front.process(0)) else { return };
    if kept { front.connections_reused.fetch_add(1, Relaxed) } else { front.connections_opened.fetch_add(1, Relaxed) };
}

fn snapshot(region: &Region) -> Vec<read::ProcessSnapshot> {
    (0..region.processes()).filter_map(|i| region.process(i)).map(read::process).collect()
}

/// Every area as it is now.
fn areas() -> Vec<report::Area> {
    let r = regions();
    let mut areas = Vec::new();
    if let Some(e) = r.embedded {
        let mut processes = snapshot(e);
        // A slot whose child is gone serves nothing now.
        for p in processes.iter_mut().filter(|p| !alive(p.pid)) {
            p.active = 0;
            p.thread.iter_mut().for_each(|t| t.busy = None);
        }
        areas.push(report::Area { group: String::new(), daemon: false, processes, front: None });
    }
    for g in &r.groups {
        areas.push(report::Area { group: g.name.clone(), daemon: true, processes: snapshot(g.region), front: g.front.process(0).map(read::process) });
    }
    areas
}

fn send(r: &Request, content_type: &[u8], body: &[u8]) -> i32 {
    r.apply_response_head(200, b"200 OK", [(&b"Content-Type"[..], content_type), (&b"Cache-Control"[..], &b"no-store"[..])], Some(body.len() as u64));
    if r.header_only() {
        return crate::apache::OK;
    }
    let mut b = Brigade::new(r);
    let _ = b.write(r, body, false);
    let _ = b.finish(r);
    crate::apache::OK
}

/// `SetHandler rwsgi-metrics`: the Prometheus text exposition.
pub fn serve_prometheus(r: &Request) -> i32 {
    send(r, b"text/plain; version=0.0.4; charset=utf-8", report::prometheus(&areas()).as_bytes())
}

/// `SetHandler rwsgi-status`: the status page (`?json`: the same for machines).
pub fn serve_status(r: &Request) -> i32 {
    let now = rwsgi_core::protocol::now_micros().max(0) as u64;
    let areas = areas();
    if r.args() == b"json" {
        send(r, b"application/json", status::json(&areas, now).as_bytes())
    } else {
        send(r, b"text/html; charset=utf-8", status::html(&areas, now).as_bytes())
    }
}
