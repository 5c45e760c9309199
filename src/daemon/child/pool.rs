//! The connections an Apache child keeps to each daemon group, and how a
//! request picks one (or connects anew).

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use crate::apache::{Request, status};
use crate::fdpass::FdReader;
use crate::daemon::registry::{self, Group};

/// Buffer for frame headers and small frames on each connection.
const READ_BUFFER: usize = 16 << 10;
/// Kept connections per group in one child; more than its threads is never useful.
const MAX_IDLE: usize = 256;

/// This child's pools, one per group of the generation (index: group id). A
/// child never outlives its generation, so they are made on first use.
static POOLS: OnceCell<Vec<Pool>> = OnceCell::new();

/// The connections this child keeps to `group`.
pub(super) fn pool_of(group: &Group) -> &'static Pool {
    let pools = POOLS.get_or_init(|| registry::running().groups.iter().map(|_| Pool::default()).collect());
    // A group of the generation always has its pool; the fallback only keeps a
    // lookup of a stale group from panicking.
    static NONE: OnceCell<Pool> = OnceCell::new();
    pools.get(group.id).unwrap_or_else(|| NONE.get_or_init(Pool::default))
}

/// A connection to one of a group's daemon processes.
pub struct DaemonConnection {
    pub(super) reader: FdReader,
    /// The socket timeout last set, so that a kept connection is not set again.
    timeout: Option<Duration>,
    /// The daemon process on the other end, once a response has said (0 before).
    pub(super) pid: u32,
}

impl DaemonConnection {
    pub(super) fn set_timeout(&mut self, timeout: Duration) {
        if self.timeout != Some(timeout) {
            let _ = self.reader.stream().set_read_timeout(Some(timeout));
            let _ = self.reader.stream().set_write_timeout(Some(timeout));
            self.timeout = Some(timeout);
        }
    }
}

/// The connections of one group that this child keeps between requests, and
/// how many of this child's requests each daemon process is serving.
///
/// A kept connection always reaches the same process, so reuse alone would let
/// one process (one GIL) serve a child whose requests several processes could
/// share. A request therefore goes to the least busy process this child has a
/// kept connection to; when that one is already busy and another process may
/// be idle (one not known to be busy, or known and less busy but with no kept
/// connection), it connects anew, and the group's daemons take new connections
/// in turn.
#[derive(Default)]
pub struct Pool(parking_lot::Mutex<PoolState>);

#[derive(Default)]
struct PoolState {
    /// Oldest first, so that ties go round the processes.
    idle: std::collections::VecDeque<DaemonConnection>,
    /// Requests of this child in flight, by daemon pid (0: not known yet).
    in_flight: std::collections::HashMap<u32, u32>,
}

impl Pool {
    pub(super) fn take(&self, processes: usize) -> Option<DaemonConnection> {
        let mut st = self.0.lock();
        let load = |st: &PoolState, pid: u32| st.in_flight.get(&pid).copied().unwrap_or(0);
        let (index, busiest) = st.idle.iter().enumerate().map(|(i, c)| (i, load(&st, c.pid))).min_by_key(|&(i, n)| (n, i))?;
        if busiest > 0 {
            let mut known: Vec<u32> = st.idle.iter().map(|c| c.pid).chain(st.in_flight.keys().copied()).filter(|&p| p != 0).collect();
            known.sort_unstable();
            known.dedup();
            if known.len() < processes || st.in_flight.iter().any(|(&pid, &n)| pid != 0 && n < busiest) {
                return None;
            }
        }
        st.idle.remove(index)
    }

    pub(super) fn put(&self, connection: DaemonConnection) {
        let mut st = self.0.lock();
        if st.idle.len() < MAX_IDLE {
            st.idle.push_back(connection);
        }
    }

    pub(super) fn begin(&self, pid: u32) {
        *self.0.lock().in_flight.entry(pid).or_insert(0) += 1;
    }

    pub(super) fn end(&self, pid: u32) {
        let mut st = self.0.lock();
        if let Some(n) = st.in_flight.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                st.in_flight.remove(&pid);
            }
        }
    }
}

pub(super) fn connect(_r: &Request, group: &Group) -> Result<(DaemonConnection, u16), i32> {
    let deadline = Instant::now() + group.options.connect_timeout;
    let mut delay = Duration::from_millis(25);
    let mut attempts: u16 = 0;
    let mut path = std::borrow::Cow::Borrowed(group.socket_path.as_str());
    loop {
        attempts = attempts.saturating_add(1);
        match UnixStream::connect(&*path) {
            Ok(stream) => {
                // The group's secret comes first (the daemon's peer check). It fits the
                // empty socket buffer; if the daemon is gone, writing the request fails
                // and is handled there.
                let _ = std::io::Write::write_all(&mut &stream, &group.secret);
                crate::fdpass::set_send_buffer(&stream, crate::fdpass::SEND_BUFFER);
                return Ok((DaemonConnection { reader: FdReader::new(stream, READ_BUFFER), timeout: None, pid: 0 }, attempts));
            }
            // This child's generation ended (a graceful restart) while it finishes
            // its requests: the group now listens under the newer generation's
            // name. Its daemons check the secret and what the group may run.
            Err(e) if e.kind() == ErrorKind::NotFound && let Some(newer) = newer_generation_socket(&path) => {
                tracing::debug!("daemon process group '{}' moved to '{newer}' (graceful restart)", group.options.name);
                path = std::borrow::Cow::Owned(newer);
            }
            // Not listening yet (starting or restarting) or the backlog is full: retry.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound | ErrorKind::WouldBlock) && Instant::now() + delay < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::error!("unable to connect to daemon process group '{}' on '{path}' after {attempts} attempts: {e}", group.options.name);
                return Err(status::SERVICE_UNAVAILABLE);
            }
        }
    }
}

/// How many later generations a child of an ended generation looks through.
const LATER_GENERATIONS: u64 = 64;

/// The socket of the same group (index) in the newest later generation, for
/// a rotating name `DIR/STEM.PARENT.GENERATION.ID.sock` that no longer exists.
/// The names are probed one by one: the directory is mode 0711, so Apache's
/// children can reach a socket whose name they know but cannot list it.
fn newer_generation_socket(path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once('/')?;
    let (front, generation, id) = split_rotating_name(file)?;
    (generation + 1..=generation + LATER_GENERATIONS)
        .rev()
        .map(|g| format!("{dir}/{front}.{g}.{id}.sock"))
        .find(|candidate| std::fs::symlink_metadata(candidate).is_ok())
}

/// `STEM.PARENT.GENERATION.ID.sock` as (`STEM.PARENT`, generation, id).
fn split_rotating_name(file: &str) -> Option<(&str, u64, &str)> {
    let rest = file.strip_suffix(".sock")?;
    let (rest, id) = rest.rsplit_once('.')?;
    let (front, generation) = rest.rsplit_once('.')?;
    Some((front, generation.parse().ok()?, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(pid: u32) -> DaemonConnection {
        let (a, _b) = UnixStream::pair().unwrap();
        DaemonConnection { reader: FdReader::new(a, 16), timeout: None, pid }
    }

    #[test]
    fn rotating_names_are_split_from_the_right() {
        assert_eq!(split_rotating_name("wsgi.123.7.0.sock"), Some(("wsgi.123", 7, "0")));
        assert_eq!(split_rotating_name("my.prefix.123.12.3.sock"), Some(("my.prefix.123", 12, "3")));
        assert_eq!(split_rotating_name("wsgi.123.u33.0.sock"), None, "not rotating");
        let dir = std::env::temp_dir().join(format!("rwsgi-rotation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["wsgi.9.3.0.sock", "wsgi.9.5.0.sock", "wsgi.9.6.1.sock", "wsgi.8.7.0.sock"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let old = format!("{}/wsgi.9.2.0.sock", dir.display());
        assert_eq!(newer_generation_socket(&old), Some(format!("{}/wsgi.9.5.0.sock", dir.display())));
        assert_eq!(newer_generation_socket(&format!("{}/wsgi.9.6.1.sock", dir.display())), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn requests_go_to_the_least_busy_process() {
        let pool = Pool::default();
        pool.put(kept(1));
        pool.put(kept(2));
        pool.put(kept(1));
        let first = pool.take(2).unwrap();
        assert_eq!(first.pid, 1, "oldest first when none is busy");
        pool.begin(1);
        assert_eq!(pool.take(2).unwrap().pid, 2, "process 1 is busy");
        pool.begin(2);
        // Both busy once: the remaining connection to 1 is used.
        assert_eq!(pool.take(2).unwrap().pid, 1);
        assert!(pool.take(2).is_none(), "nothing idle left");
    }

    #[test]
    fn a_busy_process_sends_the_next_request_to_a_new_connection() {
        let pool = Pool::default();
        pool.put(kept(1));
        pool.put(kept(1));
        pool.begin(1);
        // Two processes, only one known and it is busy: connect anew.
        assert!(pool.take(2).is_none());
        // One process: the kept connection is the only way there.
        assert_eq!(pool.take(1).unwrap().pid, 1);
        // Process 3 is known and less busy than 1 (one request against two) but
        // has no kept connection: connect anew.
        pool.begin(1);
        pool.begin(3);
        pool.put(kept(1));
        assert!(pool.take(2).is_none());
        pool.end(3);
        pool.end(1);
        pool.end(1);
        assert_eq!(pool.take(2).unwrap().pid, 1, "nothing in flight: reuse");
    }
}
