//! mod_wsgi's events and metrics API: `subscribe_events`, `event_callbacks`,
//! `request_data()`, `active_requests`, `process_metrics()`,
//! `request_metrics()`, `server_metrics()`, and WSGISlowRequests. Each
//! request is counted in this process's metrics block (see
//! [`crate::metrics`]) with relaxed atomic adds; the event payloads are only
//! built when a callback is subscribed.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyString, PyTuple};

use super::environ::RequestInfo;
use super::request_handle::RequestHandle;
use crate::metrics;
use crate::python::native_class::{self, Class, Iter, Native};
use rwsgi_metrics::{BUCKETS, read};

/// The subscribed callbacks of each interpreter (by its `PyInterpreterState`
/// address): as in mod_wsgi, an application's callbacks see the events of
/// its own interpreter's requests and run in that interpreter.
static CALLBACKS: Mutex<Vec<(usize, Py<PyList>)>> = Mutex::new(Vec::new());
static SLOW_US: AtomicU64 = AtomicU64::new(0);
/// Some callback is subscribed: the I/O of requests is timed for their events.
static TIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// When an I/O call starts, if anyone will read how long it took.
#[inline]
pub fn clock() -> Option<Instant> {
    TIMED.load(Relaxed).then(Instant::now)
}
static STARTED_US: AtomicU64 = AtomicU64::new(0);

/// The requests in progress, by request thread (index = thread_id - 1):
/// the id as bytes, and its request_data dict once someone asks for it (most
/// requests never do, so none is made for them).
struct Running {
    id: [u8; 64],
    len: u8,
    data: Option<Py<PyDict>>,
    busy: bool,
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

thread_local! {
    // This thread's index in RUNNING while it serves a request (usize::MAX: none).
    static CURRENT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn id_of(r: &Running) -> &[u8] {
    &r.id[..r.len as usize]
}

/// The request_data dict of the request at `index` (made on first use).
fn data_at<'py>(py: Python<'py>, index: usize) -> Option<Bound<'py, PyDict>> {
    let mut running = RUNNING.lock();
    let r = running.get_mut(index).filter(|r| r.busy)?;
    Some(r.data.get_or_insert_with(|| PyDict::new(py).unbind()).bind(py).clone())
}

fn id_at<'py>(py: Python<'py>, index: usize) -> Option<Bound<'py, PyString>> {
    let running = RUNNING.lock();
    running.get(index).filter(|r| r.busy).map(|r| super::environ::latin1(py, id_of(r)))
}

/// `mod_wsgi.active_requests`: the requests in progress in this process, a
/// read-only mapping of request id to its request_data dict.
struct ActiveRequests;

impl ActiveRequests {
    fn snapshot<'py>(py: Python<'py>) -> Vec<(Bound<'py, PyString>, Bound<'py, PyDict>)> {
        let n = RUNNING.lock().len();
        (0..n).filter_map(|i| Some((id_at(py, i)?, data_at(py, i)?))).collect()
    }
    fn find<'py>(py: Python<'py>, key: &Bound<'py, PyAny>) -> Option<Bound<'py, PyDict>> {
        let key = key.cast::<PyString>().ok()?.to_str().ok()?.to_owned();
        let n = RUNNING.lock().len();
        (0..n).find(|&i| id_at(py, i).is_some_and(|id| id.to_str().ok() == Some(key.as_str()))).and_then(|i| data_at(py, i))
    }
    fn keys(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
        PyList::new(py, Self::snapshot(py).into_iter().map(|(k, _)| k))
    }
}

static ACTIVE_REQUESTS: Class<ActiveRequests> = Class {
    methods: &[
        (c"get", |_, py, args| {
            let [key, default] = args.parse("get", ["key", "default"], 1)?;
            Ok(match ActiveRequests::find(py, &key.expect("required")) {
                Some(d) => d.into_any(),
                None => default.unwrap_or_else(|| py.None().into_bound(py)),
            })
        }),
        (c"keys", |_, py, args| {
            args.none("keys")?;
            Ok(ActiveRequests::keys(py)?.into_any())
        }),
        (c"values", |_, py, args| {
            args.none("values")?;
            Ok(PyList::new(py, ActiveRequests::snapshot(py).into_iter().map(|(_, v)| v))?.into_any())
        }),
        (c"items", |_, py, args| {
            args.none("items")?;
            let pairs = ActiveRequests::snapshot(py).into_iter().map(|(k, v)| PyTuple::new(py, [k.into_any(), v.into_any()]));
            Ok(PyList::new(py, pairs.collect::<PyResult<Vec<_>>>()?)?.into_any())
        }),
    ],
    len: Some(|_, py| Ok(ActiveRequests::snapshot(py).len())),
    getitem: Some(|_, py, key| ActiveRequests::find(py, key).map(Bound::into_any).ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.clone().unbind()))),
    contains: Some(|_, py, key| Ok(ActiveRequests::find(py, key).is_some())),
    iter: Iter::Call(|_, py| Ok(ActiveRequests::keys(py)?.try_iter()?.into_any())),
    repr: Some(|_, py| {
        let items: Vec<String> = ActiveRequests::snapshot(py)
            .iter()
            .map(|(k, v)| format!("{}: {}", k.repr().map(|r| r.to_string()).unwrap_or_default(), v.repr().map(|r| r.to_string()).unwrap_or_default()))
            .collect();
        Ok(format!("{{{}}}", items.join(", ")))
    }),
    ..native_class::class(c"mod_wsgi.ActiveRequests")
};

impl Native for ActiveRequests {
    fn class() -> &'static Class<Self> {
        &ACTIVE_REQUESTS
    }
}

/// WSGISlowRequests: requests that take longer than this are logged.
pub fn set_slow_threshold(seconds: f64) {
    SLOW_US.store((seconds * 1e6).max(0.0) as u64, Relaxed);
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}

/// Adds the API to the `mod_wsgi` module.
pub fn install(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = STARTED_US.compare_exchange(0, now_us() as u64, Relaxed, Relaxed);
    m.add("event_callbacks", callbacks(py))?;
    m.add("active_requests", ACTIVE_REQUESTS.create(py, ActiveRequests)?.into_any())?;
    m.add_function(pyo3::wrap_pyfunction!(subscribe_events, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(request_data, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(process_metrics, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(request_metrics, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(server_metrics, m)?)?;
    Ok(())
}

/// `subscribe_events(callback)`: `callback(name, **payload)` for every event;
/// a dict it returns is merged into the payload the next callbacks get.
#[pyfunction]
fn subscribe_events(py: Python<'_>, callback: Bound<'_, PyAny>) -> PyResult<()> {
    TIMED.store(true, Relaxed);
    callbacks(py).append(callback)
}

/// The current interpreter's callback list (made on first use).
fn callbacks(py: Python<'_>) -> Bound<'_, PyList> {
    // SAFETY: the GIL is held (`py`), so there is a current interpreter.
    let interpreter = unsafe { pyo3::ffi::PyInterpreterState_Get() } as usize;
    let mut all = CALLBACKS.lock();
    if let Some((_, list)) = all.iter().find(|(i, _)| *i == interpreter) {
        return list.bind(py).clone();
    }
    let list = PyList::empty(py);
    all.push((interpreter, list.clone().unbind()));
    list
}

/// `request_data()`: the dict of the request this thread serves (shared with
/// the event payloads); None outside a request.
#[pyfunction]
fn request_data(py: Python<'_>) -> Py<PyAny> {
    match data_at(py, CURRENT.with(|c| c.get())) {
        Some(d) => d.into_any().unbind(),
        None => py.None(),
    }
}

/// Calls every subscribed callback with `name` and `payload`.
fn publish(py: Python<'_>, name: &str, payload: &Bound<'_, PyDict>) {
    let list = callbacks(py);
    for cb in list.iter() {
        match cb.call((name,), Some(payload)) {
            Ok(r) => {
                if let Ok(extra) = r.cast::<PyDict>() {
                    let _ = payload.update(extra.as_mapping());
                }
            }
            Err(e) => {
                tracing::error!("exception in the {name} event callback: {e}");
                e.print(py);
            }
        }
    }
}

fn thread_cpu() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// One request, from the environ being ready to the response being done.
pub struct Request {
    /// Index in RUNNING (usize::MAX: none).
    index: usize,
    request_start: i64,
    queue_start: i64,
    daemon_start: i64,
    application_start: i64,
    queue_us: u64,
    thread_id: u64,
    cpu0: Cell<Option<(f64, f64)>>,
    /// Whether callbacks are subscribed (known once the script has loaded: it may subscribe).
    events: Cell<bool>,
}

/// The request starts: it is counted as active and gets its request_data.
pub fn begin(py: Python<'_>, info: &RequestInfo<'_>, url: &[u8], thread_id: u64) -> Request {
    let _ = py;
    let index = (thread_id as usize).wrapping_sub(1).min(4096);
    {
        let mut running = RUNNING.lock();
        while running.len() <= index {
            running.push(Running { id: [0; 64], len: 0, data: None, busy: false });
        }
        let r = &mut running[index];
        let n = info.request_id.len().min(64);
        r.id[..n].copy_from_slice(&info.request_id[..n]);
        r.len = n as u8;
        r.busy = true;
    }
    CURRENT.with(|c| c.set(index));
    let block = metrics::block();
    block.active.fetch_add(1, Relaxed);
    let now = now_us();
    if let Some(slot) = block.thread_slot(thread_id) {
        slot.begin(now as u64, url);
    }
    let (queue_start, daemon_start) = info.daemon.as_ref().map_or((0, 0), |d| (d.queue_start, d.daemon_start));
    let queue_us = if queue_start > 0 { (daemon_start - queue_start).max(0) as u64 } else { 0 };
    if queue_start > 0 {
        block.queue.record(queue_us);
        metrics::LOCAL.server.record((queue_start - info.request_start).max(0) as u64);
        metrics::LOCAL.daemon.record((now - daemon_start).max(0) as u64);
    } else {
        metrics::LOCAL.server.record((now - info.request_start).max(0) as u64);
    }
    Request {
        index,
        request_start: info.request_start,
        queue_start,
        daemon_start,
        application_start: now,
        queue_us,
        thread_id,
        cpu0: Cell::new(None),
        events: Cell::new(false),
    }
}

impl Request {
    /// request_started, just before the application is called: returns the
    /// application to call (a callback may replace `application_object`).
    pub fn started<'py>(&self, py: Python<'py>, app: Bound<'py, PyAny>, environ: &Bound<'py, PyDict>) -> Bound<'py, PyAny> {
        if callbacks(py).is_empty() {
            return app;
        }
        self.events.set(true);
        self.cpu0.set(Some(thread_cpu()));
        let payload = PyDict::new(py);
        let filled: PyResult<()> = (|| {
            payload.set_item("request_id", id_at(py, self.index))?;
            payload.set_item("thread_id", self.thread_id)?;
            let (connects, restarts) = match environ.get_item("mod_wsgi.daemon_connects")? {
                Some(c) => (c.extract::<String>()?.parse::<i64>().unwrap_or(0), 0),
                None => (0, 0),
            };
            payload.set_item("daemon_connects", connects)?;
            payload.set_item("daemon_restarts", restarts)?;
            payload.set_item("request_start", secs(self.request_start))?;
            payload.set_item("queue_start", secs(self.queue_start))?;
            payload.set_item("daemon_start", secs(self.daemon_start))?;
            payload.set_item("application_object", &app)?;
            payload.set_item("request_environ", environ)?;
            payload.set_item("application_start", secs(self.application_start))?;
            payload.set_item("request_data", data_at(py, self.index))?;
            Ok(())
        })();
        if filled.is_err() {
            return app;
        }
        publish(py, "request_started", &payload);
        payload.get_item("application_object").ok().flatten().unwrap_or(app)
    }

    /// The request ends with HTTP status `status` (0 when none went out).
    pub fn finish(self, py: Python<'_>, handle: &RequestHandle, status: u16, bytes_out: u64) {
        let now = now_us();
        let elapsed = (now - self.application_start).max(0) as u64;
        let stats = handle.stats();
        let block = metrics::block();
        block.finish(status, elapsed);
        block.application.record(elapsed);
        block.history(now.max(0) as u64, elapsed, self.queue_us);
        block.bytes_in.fetch_add(stats.input_length.load(Relaxed), Relaxed);
        block.bytes_out.fetch_add(bytes_out, Relaxed);
        block.active.fetch_sub(1, Relaxed);
        if let Some(slot) = block.thread_slot(self.thread_id) {
            slot.end();
        }
        if self.events.get() {
            let (u1, s1) = thread_cpu();
            let (u0, s0) = self.cpu0.get().unwrap_or((u1, s1));
            let payload = PyDict::new(py);
            let filled: PyResult<()> = (|| {
                payload.set_item("request_id", id_at(py, self.index))?;
                payload.set_item("input_reads", stats.input_reads.load(Relaxed))?;
                payload.set_item("input_length", stats.input_length.load(Relaxed))?;
                payload.set_item("input_time", stats.input_us.load(Relaxed) as f64 / 1e6)?;
                payload.set_item("output_length", stats.output_length.load(Relaxed))?;
                payload.set_item("output_writes", stats.output_writes.load(Relaxed))?;
                payload.set_item("cpu_user_time", (u1 - u0).max(0.0))?;
                payload.set_item("cpu_system_time", (s1 - s0).max(0.0))?;
                payload.set_item("output_time", stats.output_us.load(Relaxed) as f64 / 1e6)?;
                payload.set_item("application_finish", secs(self.application_start + elapsed as i64))?;
                payload.set_item("application_time", elapsed as f64 / 1e6)?;
                payload.set_item("request_data", data_at(py, self.index))?;
                Ok(())
            })();
            if filled.is_ok() {
                publish(py, "request_finished", &payload);
            }
        }
        let slow = SLOW_US.load(Relaxed);
        if slow > 0 && elapsed > slow {
            let uri = CURRENT_URL.with(|u| u.take());
            tracing::warn!(
                "slow request {} ({:.3}s > WSGISlowRequests {:.3}s): {}",
                String::from_utf8_lossy(RUNNING.lock().get(self.index).map_or(&[][..], |r| id_of(r))),
                elapsed as f64 / 1e6,
                slow as f64 / 1e6,
                String::from_utf8_lossy(&uri)
            );
        }
        let data = RUNNING.lock().get_mut(self.index).and_then(|r| {
            r.busy = false;
            r.data.take()
        });
        drop(data); // with the GIL held
        CURRENT.with(|c| c.set(usize::MAX));
    }
}

thread_local! {
    static CURRENT_URL: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Keeps the URL for a WSGISlowRequests line (only when the threshold is set).
pub fn note_url(url: &[u8]) {
    if SLOW_US.load(Relaxed) > 0 {
        CURRENT_URL.with(|u| u.set(url.to_vec()));
    }
}

fn current<'py>(py: Python<'py>) -> Option<(Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let index = CURRENT.with(|c| c.get());
    Some((data_at(py, index)?, id_at(py, index)?))
}

/// response_started: the application called start_response.
pub fn response_started(py: Python<'_>, status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>, exc_info: Option<&Bound<'_, PyAny>>) {
    if callbacks(py).is_empty() {
        return;
    }
    let Some((data, id)) = current(py) else { return };
    let payload = PyDict::new(py);
    let filled: PyResult<()> = (|| {
        payload.set_item("request_id", id)?;
        payload.set_item("response_status", status)?;
        payload.set_item("response_headers", headers)?;
        payload.set_item("exception_info", exc_info.cloned().unwrap_or_else(|| py.None().into_bound(py)))?;
        payload.set_item("request_data", data)?;
        Ok(())
    })();
    if filled.is_ok() {
        publish(py, "response_started", &payload);
    }
}

/// request_exception: the application raised `err`.
pub fn exception(py: Python<'_>, err: &PyErr) {
    if callbacks(py).is_empty() {
        return;
    }
    let Some((data, id)) = current(py) else { return };
    let payload = PyDict::new(py);
    let filled: PyResult<()> = (|| {
        let tb = err.traceback(py).map(|t| t.into_any()).unwrap_or_else(|| py.None().into_bound(py));
        let info = PyTuple::new(py, [err.get_type(py).into_any(), err.value(py).clone().into_any(), tb])?;
        payload.set_item("request_id", id)?;
        payload.set_item("exception_info", info)?;
        payload.set_item("request_data", data)?;
        Ok(())
    })();
    if filled.is_ok() {
        publish(py, "request_exception", &payload);
    }
}

struct Usage {
    user: f64,
    system: f64,
    max_rss: u64,
}

fn process_usage() -> Usage {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage { user: t(ru.ru_utime), system: t(ru.ru_stime), max_rss: ru.ru_maxrss as u64 * 1024 }
}

/// This process's resident set size, in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok())).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page
}

/// Busy time so far: finished requests plus the elapsed part of those in progress.
fn busy_us(snap: &read::ProcessSnapshot, now: i64) -> u64 {
    let running: u64 = snap.thread.iter().filter_map(|t| t.busy.as_ref()).map(|b| (now as u64).saturating_sub(b.start_us)).sum();
    snap.busy_us + running
}

/// `process_metrics()`: this process since it started (mod_wsgi's fields).
#[pyfunction]
fn process_metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let snap = read::process(metrics::block());
    let now = now_us();
    let usage = process_usage();
    let started = STARTED_US.load(Relaxed) as i64;
    let d = PyDict::new(py);
    d.set_item("pid", std::process::id())?;
    d.set_item("request_busy_time", busy_us(&snap, now) as f64 / 1e6)?;
    d.set_item("request_count", snap.requests)?;
    d.set_item("memory_max_rss", usage.max_rss)?;
    d.set_item("memory_rss", rss_bytes())?;
    d.set_item("cpu_user_time", usage.user)?;
    d.set_item("cpu_system_time", usage.system)?;
    d.set_item("restart_time", secs(started))?;
    d.set_item("current_time", secs(now))?;
    d.set_item("running_time", (now - started).max(0) / 1_000_000)?;
    d.set_item("request_threads", snap.thread.len())?;
    d.set_item("active_requests", snap.active)?;
    let threads = PyList::empty(py);
    for t in &snap.thread {
        let td = PyDict::new(py);
        td.set_item("thread_id", t.id)?;
        td.set_item("request_count", t.requests + u64::from(t.busy.is_some()))?;
        threads.append(td)?;
    }
    d.set_item("threads", threads)?;
    Ok(d)
}

/// What the previous `request_metrics()` call saw.
struct Sample {
    at: i64,
    cpu: (f64, f64),
    snap: read::ProcessSnapshot,
    busy: u64,
    server: read::HistogramSnapshot,
    daemon: read::HistogramSnapshot,
}

static LAST_SAMPLE: Mutex<Option<Sample>> = Mutex::new(None);

fn local_histogram(h: &rwsgi_metrics::Histogram) -> read::HistogramSnapshot {
    let mut s = read::HistogramSnapshot { sum_us: h.sum_us.load(Relaxed), ..Default::default() };
    for (d, c) in s.counts.iter_mut().zip(&h.counts) {
        *d = c.load(Relaxed);
    }
    s
}

fn delta(now: &read::HistogramSnapshot, before: &read::HistogramSnapshot) -> ([u64; BUCKETS], f64) {
    let mut counts = [0u64; BUCKETS];
    for (i, c) in counts.iter_mut().enumerate() {
        *c = now.counts[i].saturating_sub(before.counts[i]);
    }
    let n: u64 = counts.iter().sum();
    let total = now.sum_us.saturating_sub(before.sum_us) as f64 / 1e6;
    (counts, if n > 0 { total / n as f64 } else { 0.0 })
}

/// `request_metrics()`: what happened since the previous call (the first
/// call starts the sample and returns an empty dict, as mod_wsgi's does).
#[pyfunction]
fn request_metrics(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let now = now_us();
    let usage = process_usage();
    let snap = read::process(metrics::block());
    let sample = Sample {
        at: now,
        cpu: (usage.user, usage.system),
        busy: busy_us(&snap, now),
        server: local_histogram(&metrics::LOCAL.server),
        daemon: local_histogram(&metrics::LOCAL.daemon),
        snap,
    };
    let previous = LAST_SAMPLE.lock().replace(sample);
    let d = PyDict::new(py);
    let Some(before) = previous else { return Ok(d) };
    let guard = LAST_SAMPLE.lock();
    let after = guard.as_ref().expect("just stored");
    let period = ((after.at - before.at).max(1)) as f64 / 1e6;
    let model = crate::runtime::process_model();
    let threads_max = if model.multithread { model.max_threads.max(1) } else { 1 } as u64;
    let count = after.snap.requests.saturating_sub(before.snap.requests);
    d.set_item("pid", std::process::id())?;
    d.set_item("start_time", secs(before.at))?;
    d.set_item("stop_time", secs(after.at))?;
    d.set_item("sample_period", period)?;
    d.set_item("cpu_user_time", (after.cpu.0 - before.cpu.0).max(0.0))?;
    d.set_item("cpu_system_time", (after.cpu.1 - before.cpu.1).max(0.0))?;
    d.set_item("memory_max_rss", usage.max_rss)?;
    d.set_item("memory_rss", rss_bytes())?;
    d.set_item("request_threads_maximum", threads_max)?;
    d.set_item("request_threads_started", after.snap.thread.len())?;
    let busy = after.busy.saturating_sub(before.busy) as f64 / 1e6;
    d.set_item("capacity_utilization", busy / (period * threads_max as f64))?;
    d.set_item("request_count", count)?;
    d.set_item("request_throughput", count as f64 / period)?;
    let (server, server_avg) = delta(&after.server, &before.server);
    let (queue, queue_avg) = delta(&after.snap.queue, &before.snap.queue);
    let (daemon, daemon_avg) = delta(&after.daemon, &before.daemon);
    let (application, application_avg) = delta(&after.snap.application, &before.snap.application);
    d.set_item("server_time_buckets", server.to_vec())?;
    d.set_item("queue_time_buckets", queue.to_vec())?;
    d.set_item("daemon_time_buckets", daemon.to_vec())?;
    d.set_item("application_time_buckets", application.to_vec())?;
    // Requests each thread finished in the period.
    let mut per_thread = vec![0u64; threads_max.min(rwsgi_metrics::MAX_THREADS as u64) as usize];
    let mut active_threads = 0;
    for t in &after.snap.thread {
        let was = before.snap.thread.iter().find(|b| b.id == t.id).map_or(0, |b| b.requests);
        let n = t.requests.saturating_sub(was);
        if n > 0 || t.busy.is_some() {
            active_threads += 1;
        }
        if let Some(slot) = per_thread.get_mut(t.id - 1) {
            *slot = n;
        }
    }
    d.set_item("request_threads_buckets", per_thread)?;
    d.set_item("request_threads_active", active_threads)?;
    d.set_item("server_time", server_avg)?;
    // No queue or daemon phase in Apache's own processes (None, as mod_wsgi).
    let daemon = metrics::group().is_some();
    d.set_item("queue_time", daemon.then_some(queue_avg))?;
    d.set_item("daemon_time", daemon.then_some(daemon_avg))?;
    d.set_item("application_time", application_avg)?;
    Ok(d)
}

/// `server_metrics()`: None unless WSGIServerMetrics On (or the daemon
/// group's server-metrics=On). Apache's scoreboard: read directly in Apache's
/// children; in a daemon process, the copy the Apache parent last made in the
/// group's memfd (None until its first copy, or if it could not be read
/// between two rewrites).
#[pyfunction]
fn server_metrics(py: Python<'_>) -> PyResult<Py<PyAny>> {
    if !metrics::server_metrics_enabled() {
        return Ok(py.None());
    }
    let now = now_us();
    if let Some(sb) = metrics::scoreboard() {
        let d = PyDict::new(py);
        d.set_item("server_limit", sb.server_limit)?;
        d.set_item("thread_limit", sb.thread_limit)?;
        d.set_item("running_generation", sb.running_generation)?;
        d.set_item("restart_time", secs(sb.restart_time_us))?;
        d.set_item("current_time", secs(now))?;
        d.set_item("running_time", (now - sb.restart_time_us).max(0) / 1_000_000)?;
        let procs = PyList::empty(py);
        for p in &sb.processes {
            let pd = PyDict::new(py);
            pd.set_item("process_num", p.process_num)?;
            pd.set_item("pid", p.pid)?;
            pd.set_item("generation", p.generation)?;
            pd.set_item("quiescing", p.quiescing)?;
            let workers = PyList::empty(py);
            for w in &p.workers {
                let wd = PyDict::new(py);
                wd.set_item("thread_num", w.thread_num)?;
                wd.set_item("generation", w.generation)?;
                wd.set_item("status", w.status.to_string())?;
                wd.set_item("access_count", w.access_count)?;
                wd.set_item("bytes_served", w.bytes_served)?;
                wd.set_item("start_time", secs(w.start_time_us))?;
                wd.set_item("stop_time", secs(w.stop_time_us))?;
                wd.set_item("last_used", secs(w.last_used_us))?;
                wd.set_item("client", &w.client)?;
                wd.set_item("request", &w.request)?;
                wd.set_item("vhost", &w.vhost)?;
                workers.append(wd)?;
            }
            pd.set_item("workers", workers)?;
            procs.append(pd)?;
        }
        d.set_item("processes", procs)?;
        return Ok(d.into_any().unbind());
    }
    Ok(py.None())
}
