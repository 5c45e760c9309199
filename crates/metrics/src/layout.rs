//! The shared layout: a [`Region`] is a header and `processes` process blocks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Time buckets, as mod_wsgi 4.x's `request_metrics()`: bucket `i < 14` counts
/// durations up to 5 ms × 2^i; bucket 14 the rest (15 is never used).
pub const BUCKETS: usize = 16;
/// Upper bounds of the bounded buckets, in microseconds.
pub const BUCKET_BOUNDS_US: [u64; 14] = {
    let mut b = [0u64; 14];
    let mut i = 0;
    while i < 14 {
        b[i] = 5_000 << i;
        i += 1;
    }
    b
};

/// The bucket a duration falls in.
pub fn bucket(us: u64) -> usize {
    BUCKET_BOUNDS_US.iter().position(|&b| us <= b).unwrap_or(14)
}

/// Request threads with a slot of their own in a process block; threads past
/// this are counted but not shown individually.
pub const MAX_THREADS: usize = 64;
/// Bytes of a request's URL kept for the status page.
pub const URL_BYTES: usize = 120;
const URL_WORDS: usize = URL_BYTES / 8;

/// Why a process stopped (process restarts by reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    ShutdownSignal = 0,
    GracefulSignal,
    MaximumRequests,
    RestartInterval,
    InactivityTimeout,
    RequestTimeout,
    StartupTimeout,
    DeadlockTimeout,
    CpuTimeLimit,
    MemoryLimit,
    ScriptReload,
    Crash,
    /// Apache restarted (graceful or not) and replaced the group's processes.
    GracefulRestart,
}

pub const EXIT_REASONS: usize = 13;

impl ExitReason {
    pub const ALL: [ExitReason; EXIT_REASONS] = [
        ExitReason::ShutdownSignal,
        ExitReason::GracefulSignal,
        ExitReason::MaximumRequests,
        ExitReason::RestartInterval,
        ExitReason::InactivityTimeout,
        ExitReason::RequestTimeout,
        ExitReason::StartupTimeout,
        ExitReason::DeadlockTimeout,
        ExitReason::CpuTimeLimit,
        ExitReason::MemoryLimit,
        ExitReason::ScriptReload,
        ExitReason::Crash,
        ExitReason::GracefulRestart,
    ];

    /// mod_wsgi's `shutdown_reason` spelling (process_stopping), also the label value.
    pub fn name(self) -> &'static str {
        match self {
            ExitReason::ShutdownSignal => "shutdown_signal",
            ExitReason::GracefulSignal => "graceful_signal",
            ExitReason::MaximumRequests => "maximum_requests",
            ExitReason::RestartInterval => "restart_interval",
            ExitReason::InactivityTimeout => "inactivity_timeout",
            ExitReason::RequestTimeout => "request_timeout",
            ExitReason::StartupTimeout => "startup_timeout",
            ExitReason::DeadlockTimeout => "deadlock_timeout",
            ExitReason::CpuTimeLimit => "cpu_time_limit",
            ExitReason::MemoryLimit => "memory_limit",
            ExitReason::ScriptReload => "script_reload",
            ExitReason::Crash => "crash",
            ExitReason::GracefulRestart => "graceful_restart",
        }
    }

    /// From a reason written either way (`maximum-requests`, `maximum_requests`, `graceful signal`).
    pub fn parse(s: &str) -> Option<ExitReason> {
        let norm: String = s.chars().map(|c| if c == ' ' || c == '-' { '_' } else { c }).collect();
        ExitReason::ALL.into_iter().find(|r| r.name() == norm)
    }
}

/// A histogram: counts per [`bucket`] and the sum of what was recorded.
#[repr(C)]
pub struct Histogram {
    pub counts: [AtomicU64; BUCKETS],
    pub sum_us: AtomicU64,
}

impl Histogram {
    #[inline]
    pub fn record(&self, us: u64) {
        self.counts[bucket(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }
}

/// What one request thread is doing. `seq` is odd while the writer changes
/// the slot; a reader that sees it change (or odd) tries again.
#[repr(C)]
pub struct ThreadSlot {
    pub seq: AtomicU64,
    /// When the request in progress started (µs since the epoch), 0 when idle.
    pub start_us: AtomicU64,
    pub requests: AtomicU64,
    pub url_len: AtomicU64,
    pub url: [AtomicU64; URL_WORDS],
}

impl ThreadSlot {
    /// A request starts on this thread.
    pub fn begin(&self, now_us: u64, url: &[u8]) {
        let url = &url[..url.len().min(URL_BYTES)];
        self.seq.fetch_add(1, Relaxed);
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // Only the words the URL fills: the reader stops at url_len.
        for (word, chunk) in self.url.iter().zip(url.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Relaxed);
        }
        self.url_len.store(url.len() as u64, Relaxed);
        self.start_us.store(now_us.max(1), Relaxed);
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// The request on this thread ended.
    pub fn end(&self) {
        self.requests.fetch_add(1, Relaxed);
        self.start_us.store(0, Relaxed);
    }
}

/// Seconds each history slot covers, and how many slots (5 minutes).
pub const HISTORY_SECONDS: u64 = 10;
pub const HISTORY: usize = 30;
/// Restarts remembered per process slot.
pub const RESTART_LOG: usize = 8;

/// What happened in one history slot (for the status page's charts).
#[repr(C)]
pub struct HistorySlot {
    /// Which slot of time this is (seconds since the epoch / HISTORY_SECONDS).
    pub epoch: AtomicU64,
    pub requests: AtomicU64,
    pub application_us: AtomicU64,
    pub queue_us: AtomicU64,
}

/// One process stop: when, why (an ExitReason index), which pid.
#[repr(C)]
pub struct RestartRecord {
    pub at_us: AtomicU64,
    pub reason: AtomicU64,
    pub pid: AtomicU64,
}

/// Everything one process publishes. A daemon process slot keeps its counters
/// across the restarts of the processes that use it (they add to them), so
/// the counters only go up for as long as the region lives.
#[repr(C)]
pub struct ProcessBlock {
    /// Written by the supervisor (the Apache parent) when it starts the process.
    pub pid: AtomicU64,
    /// When the process in this slot started (µs since the epoch).
    pub started_us: AtomicU64,
    /// How many processes have run in this slot.
    pub starts: AtomicU64,
    pub requests: AtomicU64,
    pub active: AtomicU64,
    /// Sum of the durations of the finished requests (µs).
    pub busy_us: AtomicU64,
    /// Responses by status class: index 1..=5 for 1xx..5xx, 0 for anything else.
    pub status: [AtomicU64; 6],
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub rss_bytes: AtomicU64,
    /// Request threads (the group's threads=, or the MPM's).
    pub threads: AtomicU64,
    pub exits: [AtomicU64; EXIT_REASONS],
    /// Written by the supervisor before it signals the process to stop: the
    /// reason (an ExitReason index + 1) the process counts its stop as instead
    /// of `shutdown_signal` (the supervisor knows Apache is restarting). 0: none.
    pub stop_reason: AtomicU64,
    /// The pid of the last process in the slot that counted its own exit (so
    /// the supervisor does not count it again when it exits with a non-zero status).
    pub counted_exit: AtomicU64,
    /// Apache child to daemon connections: new ones, and kept ones reused.
    pub connections_opened: AtomicU64,
    pub connections_reused: AtomicU64,
    /// From the Apache child handing the request to a daemon to a daemon thread taking it.
    pub queue: Histogram,
    /// From the application being called to its response being complete.
    pub application: Histogram,
    pub history: [HistorySlot; HISTORY],
    pub restarts_logged: AtomicU64,
    pub restart_log: [RestartRecord; RESTART_LOG],
    pub thread: [ThreadSlot; MAX_THREADS],
}

impl ProcessBlock {
    /// The slot of request thread `id` (1-based), if it has one.
    #[inline]
    pub fn thread_slot(&self, id: u64) -> Option<&ThreadSlot> {
        (id as usize).checked_sub(1).and_then(|i| self.thread.get(i))
    }

    /// A request finished with `status` after `us` microseconds.
    #[inline]
    pub fn finish(&self, status: u16, us: u64) {
        let class = if (100..600).contains(&status) { (status / 100) as usize } else { 0 };
        self.status[class].fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        self.busy_us.fetch_add(us, Relaxed);
    }

    /// The process in this slot counts its own exit (`pid` is its own).
    pub fn exiting(&self, reason: ExitReason, pid: u64) {
        self.exited(reason);
        self.counted_exit.store(pid, Relaxed);
    }

    /// The reason the supervisor asked the process to count a signalled stop
    /// as, if it wrote a valid one.
    pub fn supervisor_reason(&self) -> Option<ExitReason> {
        (self.stop_reason.load(Relaxed) as usize).checked_sub(1).and_then(|i| ExitReason::ALL.get(i).copied())
    }

    pub fn exited(&self, reason: ExitReason) {
        self.exits[reason as usize].fetch_add(1, Relaxed);
        let n = self.restarts_logged.fetch_add(1, Relaxed);
        let rec = &self.restart_log[(n % RESTART_LOG as u64) as usize];
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        rec.at_us.store(now, Relaxed);
        rec.reason.store(reason as u64, Relaxed);
        rec.pid.store(self.pid.load(Relaxed), Relaxed);
    }

    /// Adds a finished request to the history slot of `now_us`.
    #[inline]
    pub fn history(&self, now_us: u64, application_us: u64, queue_us: u64) {
        let epoch = now_us / 1_000_000 / HISTORY_SECONDS;
        let h = &self.history[(epoch % HISTORY as u64) as usize];
        if h.epoch.load(Relaxed) != epoch && h.epoch.swap(epoch, Relaxed) != epoch {
            // A new slot of time: the old figures there are 5 minutes old.
            h.requests.store(0, Relaxed);
            h.application_us.store(0, Relaxed);
            h.queue_us.store(0, Relaxed);
        }
        h.requests.fetch_add(1, Relaxed);
        h.application_us.fetch_add(application_us, Relaxed);
        h.queue_us.fetch_add(queue_us, Relaxed);
    }
}

pub const MAGIC: u64 = 0x5257_5347_494d_3031; // "RWSGIM01"

/// The head of a region: what its writer may not change.
#[repr(C)]
pub struct Header {
    pub magic: AtomicU64,
    pub processes: AtomicU64,
}

/// Bytes a region for `processes` process blocks takes.
pub fn region_size(processes: usize) -> usize {
    std::mem::size_of::<Header>() + processes * std::mem::size_of::<ProcessBlock>()
}

/// A region laid out over `len` bytes of memory (shared or not), all zero or
/// written by [`Region::init`] before.
pub struct Region {
    base: *const u8,
    processes: usize,
}

// SAFETY: a region is only atomics; sharing it between threads is what it is for.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// # Safety
    /// `base` points to `len` bytes, 8-byte aligned, that stay mapped for the
    /// life of the returned value (and of every reference taken from it), and
    /// are only ever accessed through atomics.
    pub unsafe fn new(base: *const u8, len: usize, processes: usize) -> Option<Region> {
        if base.is_null() || !(base as usize).is_multiple_of(8) || len < region_size(processes) {
            return None;
        }
        Some(Region { base, processes })
    }

    /// A region in fresh memory of this process (never freed: it lives as long as the process).
    pub fn leak(processes: usize) -> Region {
        let words = region_size(processes).div_ceil(8);
        let mem: &'static mut [AtomicU64] = Box::leak((0..words).map(|_| AtomicU64::new(0)).collect());
        let r = Region { base: mem.as_ptr() as *const u8, processes };
        r.init();
        r
    }

    /// Writes the header (the creator does, once).
    pub fn init(&self) {
        self.header().processes.store(self.processes as u64, Relaxed);
        self.header().magic.store(MAGIC, Relaxed);
    }

    pub fn header(&self) -> &Header {
        // SAFETY: `new` checked the memory holds a header, aligned.
        unsafe { &*(self.base as *const Header) }
    }

    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Process block `i`, if the region has it. The count is the creator's,
    /// never the header's (which the writer could change).
    pub fn process(&self, i: usize) -> Option<&ProcessBlock> {
        if i >= self.processes {
            return None;
        }
        let offset = std::mem::size_of::<Header>() + i * std::mem::size_of::<ProcessBlock>();
        // SAFETY: `new` checked the memory holds `processes` blocks after the header;
        // blocks are multiples of 8 bytes, so each is aligned.
        Some(unsafe { &*(self.base.add(offset) as *const ProcessBlock) })
    }

    /// A block to use where no shared region was set up (tests, a process
    /// without a supervisor): this process's own memory.
    pub fn private_block() -> &'static ProcessBlock {
        let r: &'static Region = Box::leak(Box::new(Region::leak(1)));
        r.process(0).expect("one block")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_mod_wsgi_4s() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(5_000), 0);
        assert_eq!(bucket(5_001), 1);
        assert_eq!(bucket(10_000), 1);
        assert_eq!(bucket(5_000 << 13), 13);
        assert_eq!(bucket((5_000 << 13) + 1), 14);
        assert_eq!(bucket(u64::MAX), 14);
    }

    #[test]
    fn layout_is_words() {
        assert_eq!(std::mem::size_of::<ProcessBlock>() % 8, 0);
        assert_eq!(std::mem::size_of::<Header>(), 16);
    }

    #[test]
    fn region_bounds() {
        let r = Region::leak(3);
        assert!(r.process(2).is_some() && r.process(3).is_none());
        assert_eq!(r.header().magic.load(Relaxed), MAGIC);
        let buf = [0u64; 4];
        // SAFETY: too small: refused before any access.
        assert!(unsafe { Region::new(buf.as_ptr() as *const u8, 32, 1) }.is_none());
    }

    #[test]
    fn reasons_parse_both_spellings() {
        assert_eq!(ExitReason::parse("maximum-requests"), Some(ExitReason::MaximumRequests));
        assert_eq!(ExitReason::parse("graceful signal"), Some(ExitReason::GracefulSignal));
        assert_eq!(ExitReason::parse("nonsense"), None);
        for r in ExitReason::ALL {
            assert_eq!(ExitReason::parse(r.name()), Some(r));
        }
    }

    #[test]
    fn supervisor_reason_is_bounded() {
        let b = Region::private_block();
        assert_eq!(b.supervisor_reason(), None);
        b.stop_reason.store(ExitReason::GracefulRestart as u64 + 1, Relaxed);
        assert_eq!(b.supervisor_reason(), Some(ExitReason::GracefulRestart));
        b.stop_reason.store(u64::MAX, Relaxed);
        assert_eq!(b.supervisor_reason(), None);
        b.exiting(ExitReason::DeadlockTimeout, 42);
        assert_eq!(b.counted_exit.load(Relaxed), 42);
        assert_eq!(b.exits[ExitReason::DeadlockTimeout as usize].load(Relaxed), 1);
    }

    #[test]
    fn status_classes() {
        let b = Region::private_block();
        b.finish(200, 10);
        b.finish(404, 10);
        b.finish(0, 10);
        b.finish(999, 10);
        let s: Vec<u64> = b.status.iter().map(|a| a.load(Relaxed)).collect();
        assert_eq!(s, vec![2, 0, 1, 0, 1, 0]);
        assert_eq!(b.requests.load(Relaxed), 4);
    }
}
