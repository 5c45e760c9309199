//! Apache's scoreboard as `mod_wsgi.server_metrics()` reports it, and a
//! bounded copy of it ([`Summary`]) that Apache's side writes into a daemon
//! group's metrics memfd, so that the group's processes (exec'd programs
//! that never map Apache's scoreboard) can report it too.
//!
//! The copy is a seqlock with several possible writers (the Apache parent,
//! and any of Apache's children): a writer takes it by turning `seq` from
//! even to odd with a compare-and-swap (and skips its round if `seq` is odd:
//! someone else is writing), rewrites everything, and makes it even again.
//! A reader keeps a copy only if `seq` was the same even number before and
//! after it read, and tries [`READ_TRIES`] times. A sequence that stays the
//! same odd number for [`TAKEOVER_NS`] (a writer killed half-way, or a
//! group's process that wrote it) is taken over by the next writer that sees
//! it twice that far apart. Writers never read the copy beyond `seq` (the
//! group's processes can write to it), and size it from their own [`Dims`],
//! never from the header. The reader (a daemon process, which can only
//! mislead itself by writing there) takes its dimensions from the header
//! only if they fit the mapping, and clamps every value it takes out.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Process slots a copy keeps at most (ServerLimit can be up to 20000).
pub const MAX_PROCESSES: usize = 1024;
/// Worker slots per process a copy keeps at most (ThreadLimit can be up to 20000).
pub const MAX_THREADS: usize = 1024;
/// Worker slots a copy keeps at most in all (about 3 MiB per group).
pub const MAX_WORKERS: usize = 16_384;
/// Bytes kept of a worker's client address, request line and virtual host
/// (what the shim copies out of Apache's worker record).
pub const CLIENT_BYTES: usize = 40;
pub const REQUEST_BYTES: usize = 64;
pub const VHOST_BYTES: usize = 32;
/// How often a reader tries to find the copy between two rewrites.
pub const READ_TRIES: usize = 16;
/// How long (in the writers' rounds: the monotonic clock, ns) a sequence may
/// stay the same odd number before a writer takes it over. A rewrite takes
/// well under a millisecond.
pub const TAKEOVER_NS: u64 = 3_000_000_000;

/// A worker's status as mod_wsgi spells it (one letter of mod_status's key).
pub const STATUS_LETTERS: &[u8] = b"._SRWKLDCGI";

pub const MAGIC: u64 = 0x5257_5347_4953_4231; // "RWSGISB1"
pub const VERSION: u64 = 1;

/// Apache's scoreboard, with mod_wsgi's fields (times in µs since the epoch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scoreboard {
    pub server_limit: i64,
    pub thread_limit: i64,
    pub running_generation: i64,
    pub restart_time_us: i64,
    pub processes: Vec<ScoreProcess>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreProcess {
    pub process_num: i64,
    pub pid: i64,
    pub generation: i64,
    pub quiescing: bool,
    pub workers: Vec<ScoreWorker>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreWorker {
    pub thread_num: i64,
    pub generation: i64,
    pub status: char,
    pub access_count: u64,
    pub bytes_served: u64,
    pub start_time_us: i64,
    pub stop_time_us: i64,
    pub last_used_us: i64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

/// Text from a C buffer: up to the first NUL, each byte one character
/// (latin-1, as mod_wsgi decodes the scoreboard's strings).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().take_while(|&&b| b != 0).map(|&b| char::from(b)).collect()
}

/// How much of a scoreboard a copy holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub processes: usize,
    pub threads: usize,
}

impl Dims {
    /// What a copy keeps of a `server_limit` × `thread_limit` scoreboard:
    /// every thread of the first processes, within the bounds above.
    pub fn for_limits(server_limit: i64, thread_limit: i64) -> Dims {
        let threads = thread_limit.clamp(1, MAX_THREADS as i64) as usize;
        let processes = (server_limit.clamp(1, MAX_PROCESSES as i64) as usize).min(MAX_WORKERS / threads);
        Dims { processes, threads }
    }

    /// The copy holds every slot of such a scoreboard.
    pub fn covers(self, server_limit: i64, thread_limit: i64) -> bool {
        server_limit <= self.processes as i64 && thread_limit <= self.threads as i64
    }

    fn valid(self) -> bool {
        (1..=MAX_PROCESSES).contains(&self.processes)
            && (1..=MAX_THREADS).contains(&self.threads)
            && self.processes * self.threads <= MAX_WORKERS
    }

    /// Bytes a copy of these dimensions takes.
    pub fn size(self) -> usize {
        size_of::<Header>() + self.processes * size_of::<ProcSlot>() + self.processes * self.threads * size_of::<WorkerSlot>()
    }

    /// Bytes the largest copy takes.
    pub fn max_size() -> usize {
        size_of::<Header>() + MAX_PROCESSES * size_of::<ProcSlot>() + MAX_WORKERS * size_of::<WorkerSlot>()
    }
}

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU64,
    processes: AtomicU64,
    threads: AtomicU64,
    /// Odd while a writer rewrites the copy; 0 until the first copy.
    seq: AtomicU64,
    /// When the copy was made (µs since the epoch).
    copied_us: AtomicU64,
    server_limit: AtomicU64,
    thread_limit: AtomicU64,
    running_generation: AtomicU64,
    restart_time_us: AtomicU64,
}

#[repr(C)]
struct ProcSlot {
    pid: AtomicU64,
    generation: AtomicU64,
    quiescing: AtomicU64,
}

#[repr(C)]
struct WorkerSlot {
    thread_num: AtomicU64,
    generation: AtomicU64,
    status: AtomicU64,
    access_count: AtomicU64,
    bytes_served: AtomicU64,
    start_us: AtomicU64,
    stop_us: AtomicU64,
    last_used_us: AtomicU64,
    client: [AtomicU64; CLIENT_BYTES / 8],
    request: [AtomicU64; REQUEST_BYTES / 8],
    vhost: [AtomicU64; VHOST_BYTES / 8],
}

fn store_text(words: &[AtomicU64], text: &[u8]) {
    let mut chunks = text.chunks(8);
    for word in words {
        let mut bytes = [0u8; 8];
        if let Some(chunk) = chunks.next() {
            bytes[..chunk.len()].copy_from_slice(chunk);
        }
        word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
    }
}

fn load_text(words: &[AtomicU64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes()).collect();
    latin1(&bytes)
}

/// Latin-1 bytes of `s` (what the shim gave, one byte per character).
fn bytes_of(s: &str) -> Vec<u8> {
    s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

fn clamp_int(v: u64) -> i64 {
    (v as i64).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

fn clamp_count(v: u64) -> i64 {
    (v as i64).clamp(0, i64::from(i32::MAX))
}

fn clamp_time(v: u64) -> i64 {
    (v as i64).max(0)
}

/// A copy of the scoreboard laid over shared memory.
pub struct Summary {
    base: *const u8,
    dims: Dims,
    /// The writer's own memory: the odd sequence it found last, and the
    /// round it first found it in (for the takeover).
    seen_odd: AtomicU64,
    seen_since: AtomicU64,
}

/// What a writer's round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// A whole copy, readable now.
    Written,
    /// Someone else was writing: nothing done.
    Busy,
    /// A sequence odd for [`TAKEOVER_NS`] was taken over, and the copy written.
    TookOver,
    /// Another writer took the copy over half-way: it finishes the copy.
    Lost,
}

// SAFETY: a summary is only atomics; sharing it between threads is what it is for.
unsafe impl Send for Summary {}
// SAFETY: as above.
unsafe impl Sync for Summary {}

impl Summary {
    /// The writer's view, of its own dimensions.
    ///
    /// # Safety
    /// `base` points to `len` bytes, 8-byte aligned, that stay mapped for the
    /// life of the returned value and are only ever accessed through atomics.
    pub unsafe fn new(base: *const u8, len: usize, dims: Dims) -> Option<Summary> {
        if base.is_null() || !(base as usize).is_multiple_of(8) || !dims.valid() || len < dims.size() {
            return None;
        }
        Some(Summary { base, dims, seen_odd: AtomicU64::new(0), seen_since: AtomicU64::new(0) })
    }

    /// The reader's view: the dimensions the header gives, if they fit in `len`.
    ///
    /// # Safety
    /// As [`Summary::new`].
    pub unsafe fn open(base: *const u8, len: usize) -> Option<Summary> {
        if base.is_null() || !(base as usize).is_multiple_of(8) || len < size_of::<Header>() {
            return None;
        }
        // SAFETY: the caller's guarantee; the header fits, aligned.
        let h = unsafe { &*(base as *const Header) };
        if h.magic.load(Ordering::Relaxed) != MAGIC || h.version.load(Ordering::Relaxed) != VERSION {
            return None;
        }
        let (p, t) = (h.processes.load(Ordering::Relaxed), h.threads.load(Ordering::Relaxed));
        if p > MAX_PROCESSES as u64 || t > MAX_THREADS as u64 {
            return None;
        }
        // SAFETY: the caller's guarantee; `new` checks the dimensions fit in `len`.
        unsafe { Summary::new(base, len, Dims { processes: p as usize, threads: t as usize }) }
    }

    /// A copy in this process's own memory (never freed), for tests.
    pub fn leak(dims: Dims) -> Option<Summary> {
        let words = dims.size().div_ceil(8);
        let mem: &'static mut [AtomicU64] = Box::leak((0..words).map(|_| AtomicU64::new(0)).collect());
        // SAFETY: `words` words of this process's memory, never freed, only atomics.
        let s = unsafe { Summary::new(mem.as_ptr() as *const u8, words * 8, dims) }?;
        s.init();
        Some(s)
    }

    pub fn dims(&self) -> Dims {
        self.dims
    }

    fn header(&self) -> &Header {
        // SAFETY: `new` checked the memory holds a header, aligned.
        unsafe { &*(self.base as *const Header) }
    }

    fn process(&self, i: usize) -> &ProcSlot {
        assert!(i < self.dims.processes);
        let offset = size_of::<Header>() + i * size_of::<ProcSlot>();
        // SAFETY: `new` checked the memory holds `processes` slots after the
        // header (i is below it); every slot is whole words, so aligned.
        unsafe { &*(self.base.add(offset) as *const ProcSlot) }
    }

    fn worker(&self, i: usize, j: usize) -> &WorkerSlot {
        assert!(i < self.dims.processes && j < self.dims.threads);
        let offset = size_of::<Header>() + self.dims.processes * size_of::<ProcSlot>() + (i * self.dims.threads + j) * size_of::<WorkerSlot>();
        // SAFETY: as above, for the worker slots after the process slots.
        unsafe { &*(self.base.add(offset) as *const WorkerSlot) }
    }

    /// Writes the header's constants (the writer does, with its own dimensions).
    pub fn init(&self) {
        let h = self.header();
        h.version.store(VERSION, Ordering::Relaxed);
        h.processes.store(self.dims.processes as u64, Ordering::Relaxed);
        h.threads.store(self.dims.threads as u64, Ordering::Relaxed);
        h.magic.store(MAGIC, Ordering::Release);
    }

    /// When the copy in the memory was made (µs since the epoch; 0 before
    /// the first). Writers use it only to decide whether to write.
    pub fn copied_us(&self) -> u64 {
        self.header().copied_us.load(Ordering::Relaxed)
    }

    /// Takes the seqlock: an even `seq` becomes odd, above it and above
    /// `round * 2`, so that every copy has sequence numbers of its own
    /// whichever writer makes it (rounds come from the monotonic clock, the
    /// same in every process). An odd `seq` is someone else's rewrite, taken
    /// over only when this writer found the same odd number [`TAKEOVER_NS`]
    /// earlier. Returns the odd number taken and whether it was a takeover.
    fn lock(&self, round: u64) -> Option<(u64, bool)> {
        let seq = &self.header().seq;
        let current = seq.load(Ordering::Relaxed);
        let takeover = current % 2 == 1;
        if takeover {
            let since = self.seen_since.load(Ordering::Relaxed);
            if self.seen_odd.swap(current, Ordering::Relaxed) != current {
                self.seen_since.store(round, Ordering::Relaxed);
                return None;
            }
            if round.saturating_sub(since) < TAKEOVER_NS {
                return None;
            }
        }
        let odd = (round.wrapping_mul(2) | 1).max(current.wrapping_add(1) | 1);
        seq.compare_exchange(current, odd, Ordering::Acquire, Ordering::Relaxed).ok()?;
        self.seen_odd.store(0, Ordering::Relaxed);
        Some((odd, takeover))
    }

    /// Rewrites the copy from `sb`, as one of several writers (see the
    /// module's comment). `round` rises from call to call (the monotonic
    /// clock, ns). Slots past what `sb` holds are cleared.
    pub fn publish(&self, round: u64, sb: &Scoreboard, now_us: u64) -> Published {
        let h = self.header();
        let Some((seq, took_over)) = self.lock(round) else { return Published::Busy };
        fence(Ordering::Release);
        self.init();
        h.copied_us.store(now_us, Ordering::Relaxed);
        h.server_limit.store(sb.server_limit as u64, Ordering::Relaxed);
        h.thread_limit.store(sb.thread_limit as u64, Ordering::Relaxed);
        h.running_generation.store(sb.running_generation as u64, Ordering::Relaxed);
        h.restart_time_us.store(sb.restart_time_us as u64, Ordering::Relaxed);
        let empty = ScoreProcess::default();
        let idle = ScoreWorker { status: '.', ..ScoreWorker::default() };
        for i in 0..self.dims.processes {
            // Taken over (this writer was stopped longer than TAKEOVER_NS):
            // the other writer's copy is the one that counts. What this one
            // stored since its last check is the one way a reader can take a
            // mixed copy: a writer stopped for seconds inside one process slot.
            if h.seq.load(Ordering::Relaxed) != seq {
                return Published::Lost;
            }
            let p = sb.processes.get(i).unwrap_or(&empty);
            let slot = self.process(i);
            slot.pid.store(p.pid as u64, Ordering::Relaxed);
            slot.generation.store(p.generation as u64, Ordering::Relaxed);
            slot.quiescing.store(u64::from(p.quiescing), Ordering::Relaxed);
            for j in 0..self.dims.threads {
                let w = p.workers.get(j).unwrap_or(&idle);
                let slot = self.worker(i, j);
                slot.thread_num.store(w.thread_num as u64, Ordering::Relaxed);
                slot.generation.store(w.generation as u64, Ordering::Relaxed);
                slot.status.store(u64::from(w.status), Ordering::Relaxed);
                slot.access_count.store(w.access_count, Ordering::Relaxed);
                slot.bytes_served.store(w.bytes_served, Ordering::Relaxed);
                slot.start_us.store(w.start_time_us as u64, Ordering::Relaxed);
                slot.stop_us.store(w.stop_time_us as u64, Ordering::Relaxed);
                slot.last_used_us.store(w.last_used_us as u64, Ordering::Relaxed);
                store_text(&slot.client, &bytes_of(&w.client));
                store_text(&slot.request, &bytes_of(&w.request));
                store_text(&slot.vhost, &bytes_of(&w.vhost));
            }
        }
        // Even again (never 0, which means "no copy yet"), unless taken over.
        let done = seq.wrapping_add(1).max(2);
        match h.seq.compare_exchange(seq, done, Ordering::Release, Ordering::Relaxed) {
            Ok(_) if took_over => Published::TookOver,
            Ok(_) => Published::Written,
            Err(_) => Published::Lost,
        }
    }

    /// The last copy and when it was made (µs since the epoch), or None if
    /// there is none yet or it was being rewritten each of [`READ_TRIES`] times.
    pub fn read(&self) -> Option<(Scoreboard, i64)> {
        (0..READ_TRIES).find_map(|_| {
            let got = self.try_read();
            if got.is_none() {
                std::thread::yield_now();
            }
            got
        })?
    }

    /// One attempt: Some(None) when there is no copy yet.
    fn try_read(&self) -> Option<Option<(Scoreboard, i64)>> {
        let h = self.header();
        let before = h.seq.load(Ordering::Acquire);
        if before == 0 {
            return Some(None);
        }
        if before % 2 == 1 {
            return None;
        }
        let server_limit = clamp_count(h.server_limit.load(Ordering::Relaxed));
        let thread_limit = clamp_count(h.thread_limit.load(Ordering::Relaxed));
        let mut sb = Scoreboard {
            server_limit,
            thread_limit,
            running_generation: clamp_int(h.running_generation.load(Ordering::Relaxed)),
            restart_time_us: clamp_time(h.restart_time_us.load(Ordering::Relaxed)),
            processes: Vec::new(),
        };
        let copied = clamp_time(h.copied_us.load(Ordering::Relaxed));
        for i in 0..(server_limit as usize).min(self.dims.processes) {
            let p = self.process(i);
            let workers = (0..(thread_limit as usize).min(self.dims.threads))
                .map(|j| {
                    let w = self.worker(i, j);
                    let status = w.status.load(Ordering::Relaxed);
                    ScoreWorker {
                        thread_num: clamp_count(w.thread_num.load(Ordering::Relaxed)),
                        generation: clamp_int(w.generation.load(Ordering::Relaxed)),
                        status: STATUS_LETTERS.iter().find(|&&c| u64::from(c) == status).map_or('?', |&c| char::from(c)),
                        access_count: w.access_count.load(Ordering::Relaxed),
                        bytes_served: w.bytes_served.load(Ordering::Relaxed).min(i64::MAX as u64),
                        start_time_us: clamp_time(w.start_us.load(Ordering::Relaxed)),
                        stop_time_us: clamp_time(w.stop_us.load(Ordering::Relaxed)),
                        last_used_us: clamp_time(w.last_used_us.load(Ordering::Relaxed)),
                        client: load_text(&w.client),
                        request: load_text(&w.request),
                        vhost: load_text(&w.vhost),
                    }
                })
                .collect();
            sb.processes.push(ScoreProcess {
                process_num: i as i64,
                pid: clamp_count(p.pid.load(Ordering::Relaxed)),
                generation: clamp_int(p.generation.load(Ordering::Relaxed)),
                quiescing: p.quiescing.load(Ordering::Relaxed) != 0,
                workers,
            });
        }
        fence(Ordering::Acquire);
        (h.seq.load(Ordering::Relaxed) == before).then_some(Some((sb, copied)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(processes: usize, threads: usize, k: i64) -> Scoreboard {
        Scoreboard {
            server_limit: processes as i64,
            thread_limit: threads as i64,
            running_generation: k,
            restart_time_us: k,
            processes: (0..processes)
                .map(|i| ScoreProcess {
                    process_num: i as i64,
                    pid: k,
                    generation: k,
                    quiescing: false,
                    workers: (0..threads)
                        .map(|j| ScoreWorker {
                            thread_num: j as i64,
                            generation: k,
                            status: 'W',
                            access_count: k as u64,
                            bytes_served: k as u64,
                            start_time_us: k,
                            stop_time_us: k,
                            last_used_us: k,
                            client: "127.0.0.1".into(),
                            request: format!("GET /{k} HTTP/1.1"),
                            vhost: "localhost".into(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn dims_are_bounded() {
        assert_eq!(Dims::for_limits(16, 64), Dims { processes: 16, threads: 64 });
        assert!(Dims::for_limits(16, 64).covers(16, 64));
        let big = Dims::for_limits(20_000, 20_000);
        assert_eq!(big, Dims { processes: MAX_WORKERS / MAX_THREADS, threads: MAX_THREADS });
        assert!(!big.covers(20_000, 20_000));
        assert_eq!(Dims::for_limits(0, -5), Dims { processes: 1, threads: 1 });
        assert_eq!(Dims::for_limits(5000, 1).processes, MAX_PROCESSES);
        assert!(Dims::for_limits(i64::MAX, i64::MAX).size() <= Dims::max_size());
        assert!(Dims::for_limits(5000, 1).size() <= Dims::max_size());
        assert!(Dims::max_size() < 4 << 20);
    }

    #[test]
    fn round_trip() {
        let s = Summary::leak(Dims::for_limits(3, 2)).unwrap();
        assert_eq!(s.read(), None, "no copy yet");
        let mut sb = board(3, 2, 7);
        sb.processes[1].workers[0].request = "GET /caf\u{e9} HTTP/1.1".into();
        s.publish(1, &sb, 99);
        let (got, copied) = s.read().unwrap();
        assert_eq!(got, sb);
        assert_eq!(copied, 99);
    }

    #[test]
    fn truncated_to_its_dimensions() {
        let s = Summary::leak(Dims { processes: 2, threads: 3 }).unwrap();
        let mut sb = board(5, 4, 1);
        sb.processes[0].workers[0].request = "x".repeat(200);
        s.publish(1, &sb, 1);
        let (got, _) = s.read().unwrap();
        // Apache's limits as they are; the slots the copy has room for.
        assert_eq!((got.server_limit, got.thread_limit), (5, 4));
        assert_eq!(got.processes.len(), 2);
        assert!(got.processes.iter().all(|p| p.workers.len() == 3));
        assert_eq!(got.processes[0].workers[0].request.len(), REQUEST_BYTES);
        // A smaller scoreboard after a bigger one: the old slots are cleared.
        s.publish(2, &board(1, 1, 2), 2);
        let (got, _) = s.read().unwrap();
        assert_eq!(got.processes.len(), 1);
        assert_eq!(got.processes[0].workers.len(), 1);
    }

    /// A second writer's view of `s`'s memory (as another process has it).
    fn other_writer(s: &Summary) -> Summary {
        // SAFETY: the same leaked memory, never freed.
        unsafe { Summary::new(s.base, s.dims.size(), s.dims) }.unwrap()
    }

    #[test]
    fn a_copy_being_rewritten_is_not_read() {
        let s = Summary::leak(Dims { processes: 1, threads: 1 }).unwrap();
        assert_eq!(s.publish(1, &board(1, 1, 1), 1), Published::Written);
        s.header().seq.fetch_add(1, Ordering::Relaxed); // a writer stopped half-way
        assert_eq!(s.read(), None);
    }

    #[test]
    fn one_writer_at_a_time() {
        let s = Summary::leak(Dims { processes: 1, threads: 1 }).unwrap();
        let other = other_writer(&s);
        assert_eq!(s.publish(5, &board(1, 1, 5), 5), Published::Written);
        // The first writer holds the lock: the second skips its round, and
        // the copy there stays unreadable until the first is done.
        let (odd, took_over) = s.lock(10).unwrap();
        assert!(odd % 2 == 1 && !took_over);
        assert_eq!(other.publish(11, &board(1, 1, 11), 11), Published::Busy);
        assert_eq!(s.read(), None);
        s.header().seq.store(odd + 1, Ordering::Release);
        assert_eq!(other.publish(12, &board(1, 1, 12), 12), Published::Written);
        assert_eq!(s.read().unwrap().1, 12);
        // Sequence numbers rise whichever writer writes, even with an
        // earlier round: a reader never sees one number around two copies.
        let before = s.header().seq.load(Ordering::Relaxed);
        assert_eq!(s.publish(3, &board(1, 1, 3), 3), Published::Written);
        assert!(s.header().seq.load(Ordering::Relaxed) > before);
    }

    #[test]
    fn a_sequence_left_odd_is_taken_over() {
        let s = Summary::leak(Dims { processes: 1, threads: 2 }).unwrap();
        let other = other_writer(&s);
        assert_eq!(s.publish(1, &board(1, 2, 1), 1), Published::Written);
        // A writer killed half-way (or a group's process writing there).
        s.header().seq.store(1001, Ordering::Relaxed);
        let t0 = 5_000_000_000;
        assert_eq!(other.publish(t0, &board(1, 2, 2), 2), Published::Busy);
        assert_eq!(other.publish(t0 + TAKEOVER_NS - 1, &board(1, 2, 3), 3), Published::Busy);
        assert_eq!(s.read(), None);
        assert_eq!(other.publish(t0 + TAKEOVER_NS, &board(1, 2, 4), 4), Published::TookOver);
        assert_eq!(s.read().unwrap(), (board(1, 2, 4), 4));
        // A new odd number is someone else's rewrite again, whatever came before.
        s.header().seq.store(u64::MAX, Ordering::Relaxed);
        let t1 = t0 + 2 * TAKEOVER_NS;
        assert_eq!(other.publish(t1, &board(1, 2, 5), 5), Published::Busy);
        assert_eq!(other.publish(t1 + TAKEOVER_NS, &board(1, 2, 6), 6), Published::TookOver);
        assert_eq!(s.read().unwrap(), (board(1, 2, 6), 6));
        // A hostile even number next to the top: the copy stays readable.
        s.header().seq.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(other.publish(t1 + 2 * TAKEOVER_NS, &board(1, 2, 7), 7), Published::Written);
        assert_eq!(s.read().unwrap(), (board(1, 2, 7), 7));
        assert_eq!(other.publish(t1 + 3 * TAKEOVER_NS, &board(1, 2, 8), 8), Published::Written);
        assert_eq!(s.read().unwrap(), (board(1, 2, 8), 8));
    }

    /// Every field of a copy comes from the same round (`copied` names it).
    fn check_whole(sb: &Scoreboard, copied: i64) {
        let k = copied;
        assert_eq!(sb.running_generation, k);
        for p in &sb.processes {
            assert_eq!((p.pid, p.generation), (k, k));
            for w in &p.workers {
                assert_eq!((w.generation, w.access_count, w.last_used_us), (k, k as u64, k));
                assert_eq!(w.request, format!("GET /{k} HTTP/1.1"));
            }
        }
    }

    #[test]
    fn torn_copies_are_never_returned() {
        let dims = Dims { processes: 4, threads: 16 };
        let s: &'static Summary = Box::leak(Box::new(Summary::leak(dims).unwrap()));
        let writer = std::thread::spawn(move || {
            for k in 1..3000u64 {
                assert_eq!(s.publish(k, &board(4, 16, k as i64), k), Published::Written);
            }
        });
        let mut seen = 0;
        while !writer.is_finished() || seen == 0 {
            if let Some((sb, copied)) = s.read() {
                check_whole(&sb, copied);
                seen += 1;
            }
        }
        writer.join().unwrap();
        assert!(seen > 0);
    }

    #[test]
    fn two_writers_racing_never_tear_a_copy() {
        let dims = Dims { processes: 4, threads: 16 };
        let s: &'static Summary = Box::leak(Box::new(Summary::leak(dims).unwrap()));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let view = other_writer(s);
                std::thread::spawn(move || {
                    let mut written = 0;
                    for k in 1..3000u64 {
                        // Rounds of their own (odd and even), in the same clock.
                        let round = k * 2 + w;
                        match view.publish(round, &board(4, 16, round as i64), round) {
                            Published::Written => written += 1,
                            Published::Busy => {}
                            other => panic!("{other:?} with no writer stopped"),
                        }
                    }
                    written
                })
            })
            .collect();
        let mut seen = 0;
        while writers.iter().any(|w| !w.is_finished()) || seen == 0 {
            if let Some((sb, copied)) = s.read() {
                check_whole(&sb, copied);
                seen += 1;
            }
        }
        let written: Vec<u32> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(written.iter().all(|&n| n > 0), "{written:?}");
        assert!(seen > 0);
        // Whoever wrote last, the copy there is whole and the lock free.
        let (sb, copied) = s.read().unwrap();
        check_whole(&sb, copied);
        assert_eq!(s.header().seq.load(Ordering::Relaxed) % 2, 0);
    }

    #[test]
    fn hostile_values_are_clamped() {
        let s = Summary::leak(Dims { processes: 2, threads: 2 }).unwrap();
        assert_eq!(s.publish(1, &board(2, 2, 1), 1), Published::Written);
        let h = s.header();
        h.seq.store(10, Ordering::Relaxed); // odd, then even again, as a reader would find it
        h.server_limit.store(u64::MAX, Ordering::Relaxed);
        h.thread_limit.store(1 << 40, Ordering::Relaxed);
        h.restart_time_us.store(u64::MAX, Ordering::Relaxed);
        let w = s.worker(1, 1);
        w.status.store(0xff, Ordering::Relaxed);
        w.bytes_served.store(u64::MAX, Ordering::Relaxed);
        w.generation.store(u64::MAX / 2, Ordering::Relaxed);
        for word in &w.request {
            word.store(u64::from_le_bytes(*b"\xffABCDEFG"), Ordering::Relaxed);
        }
        s.process(0).pid.store(u64::MAX, Ordering::Relaxed);
        let (got, _) = s.read().unwrap();
        assert_eq!(got.server_limit, 0, "a negative limit lists nothing");
        assert!(got.processes.is_empty());
        h.server_limit.store(1 << 40, Ordering::Relaxed);
        let (got, _) = s.read().unwrap();
        assert_eq!((got.server_limit, got.thread_limit), (i64::from(i32::MAX), i64::from(i32::MAX)));
        assert_eq!(got.processes.len(), 2, "never more than the copy holds");
        assert_eq!(got.processes[1].workers.len(), 2);
        assert_eq!(got.restart_time_us, 0);
        assert_eq!(got.processes[0].pid, 0);
        let w = &got.processes[1].workers[1];
        assert_eq!(w.status, '?');
        assert_eq!(w.bytes_served, i64::MAX as u64);
        assert_eq!(w.generation, i64::from(i32::MAX));
        assert_eq!(w.request.chars().count(), REQUEST_BYTES);
    }

    #[test]
    fn the_reader_takes_only_dimensions_that_fit() {
        let dims = Dims { processes: 2, threads: 2 };
        let s = Summary::leak(dims).unwrap();
        let len = dims.size();
        // SAFETY: the leaked memory above, `len` bytes.
        let open = || unsafe { Summary::open(s.base, len) };
        assert_eq!(open().unwrap().dims(), dims);
        s.header().processes.store(3, Ordering::Relaxed);
        assert!(open().is_none(), "larger than the mapping");
        s.header().processes.store(u64::MAX, Ordering::Relaxed);
        assert!(open().is_none());
        s.header().processes.store(0, Ordering::Relaxed);
        assert!(open().is_none());
        s.header().processes.store(2, Ordering::Relaxed);
        s.header().magic.store(0, Ordering::Relaxed);
        assert!(open().is_none(), "not a copy");
        // SAFETY: too small for a header: refused before any access.
        assert!(unsafe { Summary::open(s.base, 8) }.is_none());
    }
}
