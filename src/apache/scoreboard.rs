//! Apache's scoreboard, read for `mod_wsgi.server_metrics()` (through the shim,
//! which copies each entry out): in Apache's children, and in the parent for
//! the copies it keeps for daemon groups.

use crate::ffi;
use rwsgi_core::metrics::{ScoreProcess, ScoreWorker, Scoreboard};
use rwsgi_metrics::scoreboard::latin1;

fn text(buf: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
    latin1(&bytes)
}

/// The scoreboard now, or None where there is none.
pub fn read() -> Option<Scoreboard> {
    read_first(100_000, 100_000)
}

/// The scoreboard's first `max_processes` process slots and `max_threads` worker
/// slots of each (the limits reported are Apache's, whole).
pub fn read_first(max_processes: usize, max_threads: usize) -> Option<Scoreboard> {
    // SAFETY: zeroed plain C structs the shim fills in.
    let mut limits: ffi::rwsgi_sb_limits = unsafe { std::mem::zeroed() };
    // SAFETY: the shim checks the scoreboard exists before reading it.
    if unsafe { ffi::rwsgi_scoreboard_limits(&mut limits) } == 0 {
        return None;
    }
    let mut processes = Vec::new();
    for i in 0..limits.server_limit.clamp(0, max_processes.min(100_000) as i32) {
        // SAFETY: as above; i is below the MPM's server limit.
        let mut p: ffi::rwsgi_sb_process = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { ffi::rwsgi_scoreboard_process(i, &mut p) } == 0 {
            continue;
        }
        let mut workers = Vec::new();
        for j in 0..limits.thread_limit.clamp(0, max_threads.min(100_000) as i32) {
            // SAFETY: as above; j is below the thread limit.
            let mut w: ffi::rwsgi_sb_worker = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            if unsafe { ffi::rwsgi_scoreboard_worker(i, j, &mut w) } == 0 {
                continue;
            }
            workers.push(ScoreWorker {
                thread_num: w.thread_num as i64,
                generation: w.generation as i64,
                status: w.status as u8 as char,
                access_count: w.access_count as u64,
                bytes_served: w.bytes_served.max(0) as u64,
                start_time_us: w.start_time,
                stop_time_us: w.stop_time,
                last_used_us: w.last_used,
                client: text(&w.client),
                request: text(&w.request),
                vhost: text(&w.vhost),
            });
        }
        processes.push(ScoreProcess { process_num: i as i64, pid: p.pid as i64, generation: p.generation as i64, quiescing: p.quiescing != 0, workers });
    }
    Some(Scoreboard {
        server_limit: limits.server_limit as i64,
        thread_limit: limits.thread_limit as i64,
        running_generation: limits.running_generation as i64,
        restart_time_us: limits.restart_time,
        processes,
    })
}

/// The pid of the child in the lowest process slot of the running
/// generation that is not stopping (the one that copies the scoreboard for
/// daemon groups), if any. A slot whose generation the MPM does not record
/// (older prefork) still counts, after those that match.
pub fn first_serving_pid() -> Option<i64> {
    // SAFETY: zeroed plain C structs the shim fills in.
    let mut limits: ffi::rwsgi_sb_limits = unsafe { std::mem::zeroed() };
    // SAFETY: the shim checks the scoreboard exists before reading it.
    if unsafe { ffi::rwsgi_scoreboard_limits(&mut limits) } == 0 {
        return None;
    }
    let serving: Vec<(i64, bool)> = (0..limits.server_limit.clamp(0, 100_000))
        .filter_map(|i| {
            // SAFETY: as above; i is below the MPM's server limit.
            let mut p: ffi::rwsgi_sb_process = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let found = unsafe { ffi::rwsgi_scoreboard_process(i, &mut p) } != 0;
            (found && p.pid > 0 && p.quiescing == 0).then_some((p.pid as i64, p.generation == limits.running_generation))
        })
        .collect();
    serving.iter().find(|(_, current)| *current).or(serving.first()).map(|&(pid, _)| pid)
}
