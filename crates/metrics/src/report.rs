//! What the Apache side reports: every area (embedded mode, each daemon
//! group) with its processes, in the Prometheus text format.

use crate::layout::{BUCKET_BOUNDS_US, ExitReason};
use crate::prometheus::Exposition;
use crate::read::{HistogramSnapshot, ProcessSnapshot};

/// Embedded mode (Apache's children) or one daemon group.
pub struct Area {
    /// "" for embedded mode (mod_wsgi's %{GLOBAL} process group), else the group's name.
    pub group: String,
    pub daemon: bool,
    /// Configured processes= / threads= (daemon), or the MPM's limits.
    pub processes: Vec<ProcessSnapshot>,
    /// A daemon group's requests as the Apache children answered them (status
    /// classes, connections); for embedded mode, None (the processes' own counts are that).
    pub front: Option<ProcessSnapshot>,
}

/// A per-process family: name, type, help, its values (with a `state` label or none), daemon groups only.
type Family = (&'static str, &'static str, &'static str, fn(&ProcessSnapshot) -> Vec<(Option<&'static str>, f64)>, bool);

const CLASSES: [&str; 6] = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

fn bounds_s() -> Vec<f64> {
    BUCKET_BOUNDS_US.iter().map(|b| *b as f64 / 1e6).collect()
}

fn hist(e: &mut Exposition, name: &str, l: &[(&str, &str)], h: &HistogramSnapshot) {
    // Bucket 15 of the layout is never written; 14 is the overflow (+Inf).
    e.histogram(name, l, &bounds_s(), &h.counts[..15], h.sum_us as f64 / 1e6);
}

/// The exposition for all areas (`now_us`: the reader's clock, for ages).
pub fn prometheus(areas: &[Area]) -> String {
    let mut e = Exposition::default();
    e.family("rwsgi_requests_total", "counter", "Requests answered, by HTTP status class (daemon groups: as the Apache children answered them, including 502/503/504 of their own).");
    for a in areas {
        let mut status = [0u64; 6];
        match &a.front {
            Some(f) => status = f.status,
            None => a.processes.iter().for_each(|p| p.status.iter().enumerate().for_each(|(i, n)| status[i] = status[i].saturating_add(*n))),
        }
        for (i, class) in CLASSES.iter().enumerate() {
            e.sample("rwsgi_requests_total", &[("group", &a.group), ("status_class", class)], status[i] as f64);
        }
    }
    // Per-process families, each declared and then all its samples (the format wants them together).
    let per_process: [Family; 6] = [
        ("rwsgi_requests_in_flight", "gauge", "Requests being served now, per process.", |p| vec![(None, p.active as f64)], false),
        ("rwsgi_threads", "gauge", "Request threads of each process, busy or idle.", |p| {
            let busy = p.busy_threads();
            let threads = p.threads.max(busy);
            vec![(Some("busy"), busy as f64), (Some("idle"), (threads - busy) as f64)]
        }, false),
        ("rwsgi_process_requests_total", "counter", "Requests each process slot served (across the processes that used the slot).", |p| vec![(None, p.requests as f64)], false),
        ("rwsgi_process_pid", "gauge", "The pid of the process in each slot (0: none yet).", |p| vec![(None, p.pid as f64)], false),
        ("rwsgi_process_start_time_seconds", "gauge", "When the process in each slot started, seconds since the epoch.", |p| vec![(None, p.started_us as f64 / 1e6)], false),
        ("rwsgi_process_resident_memory_bytes", "gauge", "Resident set size of each daemon process, as it last published it (about every second).", |p| vec![(None, p.rss_bytes as f64)], true),
    ];
    for (name, kind, help, values, daemon_only) in per_process {
        e.family(name, kind, help);
        for a in areas.iter().filter(|a| a.daemon || !daemon_only) {
            for (i, p) in a.processes.iter().enumerate() {
                if p.pid == 0 && p.requests == 0 {
                    continue;
                }
                let idx = i.to_string();
                for (state, v) in values(p) {
                    match state {
                        Some(st) => e.sample(name, &[("group", &a.group), ("process", &idx), ("state", st)], v),
                        None => e.sample(name, &[("group", &a.group), ("process", &idx)], v),
                    }
                }
            }
        }
    }
    e.family("rwsgi_queue_wait_seconds", "histogram", "Daemon groups: from the Apache child handing a request over to a daemon thread taking it.");
    for a in areas.iter().filter(|a| a.daemon) {
        let mut h = HistogramSnapshot::default();
        a.processes.iter().for_each(|p| h.add(&p.queue));
        hist(&mut e, "rwsgi_queue_wait_seconds", &[("group", &a.group)], &h);
    }
    e.family("rwsgi_application_seconds", "histogram", "From the application being called to its response being complete.");
    for a in areas {
        let mut h = HistogramSnapshot::default();
        a.processes.iter().for_each(|p| h.add(&p.application));
        hist(&mut e, "rwsgi_application_seconds", &[("group", &a.group)], &h);
    }
    e.family("rwsgi_process_restarts_total", "counter", "Processes that stopped, by reason (daemon groups).");
    for a in areas.iter().filter(|a| a.daemon) {
        for r in ExitReason::ALL {
            let n: u64 = a.processes.iter().map(|p| p.exits[r as usize]).fold(0, u64::saturating_add);
            e.sample("rwsgi_process_restarts_total", &[("group", &a.group), ("reason", r.name())], n as f64);
        }
    }
    e.family("rwsgi_daemon_connections_total", "counter", "Connections from Apache's children to a daemon group: opened anew, or kept ones reused.");
    for a in areas.iter().filter(|a| a.daemon) {
        let f = a.front.clone().unwrap_or_default();
        e.sample("rwsgi_daemon_connections_total", &[("group", &a.group), ("kind", "opened")], f.connections_opened as f64);
        e.sample("rwsgi_daemon_connections_total", &[("group", &a.group), ("kind", "reused")], f.connections_reused as f64);
    }
    let bytes = |a: &Area| a.processes.iter().fold((0u64, 0u64), |(i, o), p| (i.saturating_add(p.bytes_in), o.saturating_add(p.bytes_out)));
    e.family("rwsgi_received_bytes_total", "counter", "Request body bytes the applications read.");
    for a in areas {
        e.sample("rwsgi_received_bytes_total", &[("group", &a.group)], bytes(a).0 as f64);
    }
    e.family("rwsgi_sent_bytes_total", "counter", "Response body bytes the applications sent.");
    for a in areas {
        e.sample("rwsgi_sent_bytes_total", &[("group", &a.group)], bytes(a).1 as f64);
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Region;
    use crate::read;

    #[test]
    fn every_area_and_process() {
        let b = Region::private_block();
        b.pid.store(42, std::sync::atomic::Ordering::Relaxed);
        b.threads.store(4, std::sync::atomic::Ordering::Relaxed);
        b.finish(200, 1000);
        b.application.record(1000);
        b.exited(ExitReason::MaximumRequests);
        let p = read::process(b);
        let areas = [
            Area { group: String::new(), daemon: false, processes: vec![p.clone()], front: None },
            Area { group: "g\"1".into(), daemon: true, processes: vec![p.clone(), p], front: Some(Default::default()) },
        ];
        let text = prometheus(&areas);
        assert!(text.contains("rwsgi_requests_total{group=\"\",status_class=\"2xx\"} 1\n"), "{text}");
        assert!(text.contains("rwsgi_process_restarts_total{group=\"g\\\"1\",reason=\"maximum_requests\"} 2\n"), "{text}");
        assert!(text.contains("rwsgi_threads{group=\"g\\\"1\",process=\"1\",state=\"idle\"} 4\n"), "{text}");
        assert!(text.contains("rwsgi_application_seconds_bucket{group=\"\",le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("rwsgi_application_seconds_bucket{group=\"\",le=\"+Inf\"} 1\n"), "{text}");
        // Each family is declared once.
        assert_eq!(text.matches("# TYPE rwsgi_threads gauge").count(), 1);
    }
}
