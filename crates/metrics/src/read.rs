//! Taking a process block apart into plain numbers. The memory may have been
//! written by a hostile process: every number is clamped, lengths are bounded
//! by the layout, and nothing read decides where else to read.

use std::sync::atomic::{AtomicU64, Ordering::{Acquire, Relaxed}};

use crate::layout::*;

/// The largest value reported (so sums over processes cannot overflow and
/// every value is a number Prometheus reads back exactly).
pub const MAX_VALUE: u64 = 1 << 53;

fn get(a: &AtomicU64) -> u64 {
    a.load(Relaxed).min(MAX_VALUE)
}

#[derive(Clone, Debug, Default)]
pub struct HistogramSnapshot {
    pub counts: [u64; BUCKETS],
    pub sum_us: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
    pub fn add(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

fn histogram(h: &Histogram) -> HistogramSnapshot {
    let mut s = HistogramSnapshot { sum_us: get(&h.sum_us), ..Default::default() };
    for (d, c) in s.counts.iter_mut().zip(&h.counts) {
        *d = get(c);
    }
    s
}

/// A request in progress on a thread.
#[derive(Clone, Debug)]
pub struct Busy {
    pub start_us: u64,
    /// The URL's bytes as the writer left them (to be escaped by whoever shows them).
    pub url: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct ThreadSnapshot {
    /// 1-based, as mod_wsgi numbers request threads.
    pub id: usize,
    pub requests: u64,
    pub busy: Option<Busy>,
}

/// A process stop: when (µs since the epoch), why (None: a value no reason has), which pid.
pub type Restart = (u64, Option<ExitReason>, u64);

#[derive(Clone, Debug, Default)]
pub struct ProcessSnapshot {
    pub pid: u64,
    pub started_us: u64,
    pub starts: u64,
    pub requests: u64,
    pub active: u64,
    pub busy_us: u64,
    pub status: [u64; 6],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rss_bytes: u64,
    pub threads: u64,
    pub exits: [u64; EXIT_REASONS],
    pub connections_opened: u64,
    pub connections_reused: u64,
    pub queue: HistogramSnapshot,
    pub application: HistogramSnapshot,
    /// The thread slots that have served or are serving.
    pub thread: Vec<ThreadSnapshot>,
    /// (epoch, requests, application µs, queue µs) of the history slots.
    pub history: Vec<(u64, u64, u64, u64)>,
    /// Newest first.
    pub restarts: Vec<Restart>,
}

impl ProcessSnapshot {
    /// Threads serving a request now (from the thread slots, bounded by the layout).
    pub fn busy_threads(&self) -> u64 {
        self.thread.iter().filter(|t| t.busy.is_some()).count() as u64
    }
}

fn thread(id: usize, slot: &ThreadSlot) -> ThreadSnapshot {
    let requests = get(&slot.requests);
    for _ in 0..4 {
        let before = slot.seq.load(Acquire);
        if !before.is_multiple_of(2) {
            std::hint::spin_loop();
            continue;
        }
        let start_us = get(&slot.start_us);
        let len = (slot.url_len.load(Relaxed) as usize).min(URL_BYTES);
        let mut url = Vec::with_capacity(len);
        for w in &slot.url {
            url.extend_from_slice(&w.load(Relaxed).to_le_bytes());
        }
        url.truncate(len);
        std::sync::atomic::fence(Acquire);
        if slot.seq.load(Relaxed) == before {
            let busy = (start_us != 0).then_some(Busy { start_us, url });
            return ThreadSnapshot { id, requests, busy };
        }
    }
    // Changing under us the whole time: busy, with no URL to show.
    ThreadSnapshot { id, requests, busy: Some(Busy { start_us: get(&slot.start_us).max(1), url: Vec::new() }) }
}

pub fn process(b: &ProcessBlock) -> ProcessSnapshot {
    let mut s = ProcessSnapshot {
        pid: get(&b.pid),
        started_us: get(&b.started_us),
        starts: get(&b.starts),
        requests: get(&b.requests),
        active: get(&b.active),
        busy_us: get(&b.busy_us),
        bytes_in: get(&b.bytes_in),
        bytes_out: get(&b.bytes_out),
        rss_bytes: get(&b.rss_bytes),
        threads: get(&b.threads).min(1 << 20),
        connections_opened: get(&b.connections_opened),
        connections_reused: get(&b.connections_reused),
        queue: histogram(&b.queue),
        application: histogram(&b.application),
        ..Default::default()
    };
    for (d, a) in s.status.iter_mut().zip(&b.status) {
        *d = get(a);
    }
    for (d, a) in s.exits.iter_mut().zip(&b.exits) {
        *d = get(a);
    }
    s.history = b.history.iter().map(|h| (get(&h.epoch), get(&h.requests), get(&h.application_us), get(&h.queue_us))).collect();
    let logged = get(&b.restarts_logged);
    s.restarts = (0..logged.min(RESTART_LOG as u64))
        .map(|k| &b.restart_log[((logged - 1 - k) % RESTART_LOG as u64) as usize])
        .map(|r| (get(&r.at_us), ExitReason::ALL.get(r.reason.load(Relaxed) as usize).copied(), get(&r.pid)))
        .collect();
    s.thread = b
        .thread
        .iter()
        .enumerate()
        .map(|(i, slot)| thread(i + 1, slot))
        .filter(|t| t.requests > 0 || t.busy.is_some())
        .collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_clamped() {
        let b = Region::private_block();
        b.requests.store(u64::MAX, Relaxed);
        b.thread[0].url_len.store(u64::MAX, Relaxed);
        b.thread[0].start_us.store(5, Relaxed);
        let s = process(b);
        assert_eq!(s.requests, MAX_VALUE);
        assert_eq!(s.thread[0].busy.as_ref().unwrap().url.len(), URL_BYTES);
    }

    #[test]
    fn slot_round_trip() {
        let b = Region::private_block();
        b.thread[1].begin(1234, b"/a?<script>");
        let s = process(b);
        let t = s.thread.iter().find(|t| t.id == 2).unwrap();
        assert_eq!(t.busy.as_ref().unwrap().url, b"/a?<script>");
        assert_eq!(s.busy_threads(), 1);
        b.thread[1].end();
        let s = process(b);
        assert!(s.thread.iter().all(|t| t.busy.is_none()));
        // A long URL is cut at the slot's size.
        b.thread[2].begin(1, &[b'x'; 500]);
        assert_eq!(process(b).thread.iter().find(|t| t.id == 3).unwrap().busy.as_ref().unwrap().url.len(), URL_BYTES);
    }
}
