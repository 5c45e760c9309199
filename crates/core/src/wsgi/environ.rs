//! Building the WSGI `environ` dictionary for one request.

use std::collections::HashMap;

use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rwsgi_config::trusted_proxy::MOUNT_POINT;


/// Keys whose values are the same for every request of this interpreter;
/// each request starts from a copy of this dict.
static TEMPLATE: crate::python::per_interpreter::Key = crate::python::per_interpreter::Key::new();

/// The mod_wsgi version whose behaviour this module reproduces, as exposed to
/// applications in `mod_wsgi.version` (some check it to detect features).
pub const MOD_WSGI_COMPAT_VERSION: (u32, u32, u32) = (4, 9, 4);

fn template(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let t = crate::python::per_interpreter::get_or_try_init(py, &TEMPLATE, |py| {
        let d = PyDict::new(py);
        let model = crate::runtime::process_model();
        d.set_item("wsgi.version", (1, 0))?;
        d.set_item("wsgi.multithread", model.multithread)?;
        d.set_item("wsgi.multiprocess", model.multiprocess)?;
        d.set_item("wsgi.run_once", false)?;
        d.set_item("wsgi.input_terminated", true)?;
        d.set_item("wsgi.file_wrapper", super::file_wrapper::FILE_WRAPPER.type_object(py)?)?;
        d.set_item("mod_wsgi.version", MOD_WSGI_COMPAT_VERSION)?;
        d.set_item("mod_rwsgi.version", env!("CARGO_PKG_VERSION"))?;
        d.set_item("apache.version", crate::runtime::apache_version())?;
        d.set_item("mod_wsgi.handler_script", "")?;
        d.set_item("mod_wsgi.enable_sendfile", "0")?;
        d.set_item("mod_wsgi.ignore_activity", "0")?;
        Ok(d.into_any())
    })?;
    // SAFETY: only this dict is stored under TEMPLATE.
    unsafe { t.cast_into_unchecked::<PyDict>() }.copy()
}

mod counters {
    //! Per-process and per-thread request counts reported in the environ.

    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TOTAL: AtomicU64 = AtomicU64::new(0);
    static THREADS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        // (thread number, requests served by this thread); plain Cells, no destructor.
        static THREAD: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    pub struct Counts {
        pub thread_id: u64,
        pub thread_requests: u64,
        pub total_requests: u64,
        pub now_micros: u128,
    }

    /// This thread's request-thread number (1-based; 0 before its first request).
    pub fn thread_id() -> u64 {
        THREAD.with(|t| t.get().0)
    }

    /// Counts as they were before this request (mod_wsgi reports them that way).
    pub fn next_request() -> Counts {
        let (thread_id, thread_requests) = THREAD.with(|t| {
            let (mut id, served) = t.get();
            if id == 0 {
                id = THREADS.fetch_add(1, Ordering::Relaxed) + 1;
            }
            t.set((id, served + 1));
            (id, served)
        });
        let now_micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        Counts { thread_id, thread_requests, total_requests: TOTAL.fetch_add(1, Ordering::Relaxed), now_micros }
    }
}

/// This thread's request-thread number (mod_wsgi.thread_id).
pub fn thread_id() -> u64 {
    counters::thread_id()
}

/// Decodes CGI bytes as Latin-1 (PEP 3333's "native strings") with CPython's
/// own decoder: one pass, no intermediate Rust string.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    // SAFETY: Latin-1 decoding cannot fail for any byte sequence (it returns
    // NULL only when out of memory, which from_owned_ptr turns into a panic
    // caught by the handler's guard); the pointer and length describe `bytes`.
    unsafe {
        let raw = pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr() as *const _, bytes.len() as pyo3::ffi::Py_ssize_t, std::ptr::null());
        Bound::from_owned_ptr(py, raw).cast_into_unchecked()
    }
}

/// CGI variable names repeat from request to request, so their Python strings
/// are made once, interned (an application's lookups with literal keys then
/// match by identity). Names are bounded in length and number: header names
/// come from clients.
static CGI_NAMES: Mutex<Option<Names>> = Mutex::new(None);
type Names = HashMap<Box<[u8]>, Py<PyString>, std::hash::BuildHasherDefault<Fnv1a>>;

/// FNV-1a: the names are short, and the table is bounded (256 entries), which
/// also bounds what colliding names can cost; SipHash's resistance buys nothing.
#[derive(Default)]
struct Fnv1a(u64);

impl std::hash::Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
const MAX_CGI_NAMES: usize = 256;
const MAX_CGI_NAME_LEN: usize = 64;

fn cgi_name<'py>(py: Python<'py>, names: &mut Names, name: &[u8]) -> Bound<'py, PyString> {
    if let Some(s) = names.get(name) {
        return s.bind(py).clone();
    }
    let mut raw = latin1(py, name).into_ptr();
    // SAFETY: `raw` is an owned reference to an exact str; InternInPlace
    // replaces it with an owned reference to the interned string.
    let s: Bound<'py, PyString> = unsafe {
        pyo3::ffi::PyUnicode_InternInPlace(&mut raw);
        Bound::from_owned_ptr(py, raw).cast_into_unchecked()
    };
    if names.len() < MAX_CGI_NAMES && name.len() <= MAX_CGI_NAME_LEN {
        names.insert(name.into(), s.clone().unbind());
    }
    s
}

/// What the environ needs beyond the CGI variables. In embedded mode it comes
/// from the request; in daemon mode the Apache child sends it with the request.
pub struct RequestInfo<'a> {
    pub script_name: &'a [u8],
    pub url_scheme: &'a [u8],
    pub handler: &'a [u8],
    /// The Authorization header, present only when passing it is allowed.
    pub authorization: Option<&'a [u8]>,
    pub listener_host: &'a [u8],
    pub listener_port: u16,
    pub request_id: &'a [u8],
    pub request_start: i64,
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub callable_object: &'a str,
    pub script_reloading: bool,
    /// WSGIPassApacheRequest On, embedded mode: Apache's `request_rec`, handed
    /// to the application as a nameless capsule `apache.request_rec` (as
    /// mod_wsgi does; it is valid only during the request).
    pub request_rec: Option<std::ptr::NonNull<std::ffi::c_void>>,
    /// Daemon mode only: when the child started handing the request over,
    /// when the daemon picked it up (µs), and the child's connection attempts.
    pub daemon: Option<DaemonTimes>,
}

pub struct DaemonTimes {
    pub queue_start: i64,
    pub daemon_start: i64,
    pub connects: u16,
}

/// Calls its argument once for every CGI variable (name, value).
pub type CgiVariables<'a> = &'a dyn Fn(&mut dyn FnMut(&[u8], &[u8]));

/// Builds the environ; the caller adds wsgi.input and wsgi.errors.
pub fn build<'py>(py: Python<'py>, variables: CgiVariables<'_>, info: &RequestInfo<'_>) -> PyResult<Bound<'py, PyDict>> {
    let environ = build_uncounted(py, variables, info)?;
    let counters = counters::next_request();
    environ.set_item(intern!(py, "mod_wsgi.script_start"), counters.now_micros.to_string())?;
    environ.set_item(intern!(py, "mod_wsgi.thread_id"), counters.thread_id)?;
    environ.set_item(intern!(py, "mod_wsgi.thread_requests"), counters.thread_requests)?;
    environ.set_item(intern!(py, "mod_wsgi.total_requests"), counters.total_requests)?;
    Ok(environ)
}

/// Copies the CGI variables into `environ` as native strings.
/// What the application's environ takes from the CGI variables other than
/// copying them.
#[derive(Default)]
struct AppVariables<'py> {
    /// HTTPS (mod_ssl's, SetEnv's or a trusted proxy's), which becomes
    /// wsgi.url_scheme and is not passed on, as in mod_wsgi.
    https: Option<bool>,
    /// A trusted proxy's X-Script-Name.
    mount_point: Option<Bound<'py, PyString>>,
}

/// Copies the CGI variables into `environ`. PATH is Apache's own search path,
/// not the request's (mod_wsgi drops it too); Authorization is only passed
/// when allowed, by the caller. For an application (`for_app`), HTTPS and
/// the proxy mount point are taken out as `AppVariables`; script hooks get
/// them as they are, as mod_wsgi gives them.
fn add_variables<'py>(py: Python<'py>, environ: &Bound<'py, PyDict>, variables: CgiVariables<'_>, for_app: bool) -> AppVariables<'py> {
    let mut taken = AppVariables::default();
    let mut names = CGI_NAMES.lock();
    let names = names.get_or_insert_with(Names::default);
    variables(&mut |k, v| match k {
        b"PATH" | b"HTTP_AUTHORIZATION" => {}
        b"HTTPS" if for_app => taken.https = Some(v.eq_ignore_ascii_case(b"on") || v == b"1"),
        _ => {
            if for_app && k == MOUNT_POINT.as_bytes() {
                taken.mount_point = Some(latin1(py, v));
            }
            let _ = environ.set_item(cgi_name(py, names, k), latin1(py, v));
        }
    });
    taken
}

/// The environ a script hook (access, authentication, group) is called with,
/// as mod_wsgi builds it for them: the request's CGI variables (never its
/// credentials) and the module's identification, with no `wsgi.*` streams of
/// a request body or response. The caller adds `wsgi.errors`.
pub fn build_for_hook<'py>(
    py: Python<'py>,
    variables: CgiVariables<'_>,
    application_group: &str,
    script_reloading: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    add_variables(py, &environ, variables, false);
    environ.set_item(intern!(py, "apache.version"), crate::runtime::apache_version())?;
    environ.set_item(intern!(py, "mod_wsgi.version"), MOD_WSGI_COMPAT_VERSION)?;
    environ.set_item(intern!(py, "mod_rwsgi.version"), env!("CARGO_PKG_VERSION"))?;
    // These hooks always run in the Apache child.
    environ.set_item(intern!(py, "mod_wsgi.process_group"), "")?;
    environ.set_item(intern!(py, "mod_wsgi.application_group"), application_group)?;
    environ.set_item(intern!(py, "mod_wsgi.script_reloading"), i32::from(script_reloading))?;
    Ok(environ)
}

/// The application's environ without the per-request counters, for a
/// dispatch script that runs before the application (it must not count as a
/// request served).
pub fn build_uncounted<'py>(py: Python<'py>, variables: CgiVariables<'_>, info: &RequestInfo<'_>) -> PyResult<Bound<'py, PyDict>> {
    let environ = template(py)?;
    let AppVariables { https, mount_point } = add_variables(py, &environ, variables, true);
    // SCRIPT_NAME never ends in '/': the slash belongs to PATH_INFO (so "/" mounts give "").
    // A trusted proxy's X-Script-Name replaces it (mod_wsgi.script_name keeps ours).
    match mount_point {
        Some(mount) => environ.set_item(intern!(py, "SCRIPT_NAME"), mount)?,
        None => environ.set_item(intern!(py, "SCRIPT_NAME"), latin1(py, info.script_name))?,
    }
    if environ.get_item(intern!(py, "PATH_INFO"))?.is_none() {
        environ.set_item(intern!(py, "PATH_INFO"), "")?;
    }
    if let Some(auth) = info.authorization {
        environ.set_item(intern!(py, "HTTP_AUTHORIZATION"), latin1(py, auth))?;
    }
    match https {
        Some(on) => environ.set_item(intern!(py, "wsgi.url_scheme"), if on { "https" } else { "http" })?,
        None => environ.set_item(intern!(py, "wsgi.url_scheme"), latin1(py, info.url_scheme))?,
    }
    environ.set_item(intern!(py, "mod_wsgi.process_group"), info.process_group)?;
    environ.set_item(intern!(py, "mod_wsgi.application_group"), info.application_group)?;
    environ.set_item(intern!(py, "mod_wsgi.callable_object"), info.callable_object)?;
    environ.set_item(intern!(py, "mod_wsgi.request_handler"), latin1(py, info.handler))?;
    environ.set_item(intern!(py, "mod_wsgi.script_reloading"), if info.script_reloading { "1" } else { "0" })?;
    // The values before any rewriting, as mod_wsgi records them.
    environ.set_item(intern!(py, "mod_wsgi.script_name"), latin1(py, info.script_name))?;
    environ.set_item(intern!(py, "mod_wsgi.path_info"), environ.get_item(intern!(py, "PATH_INFO"))?)?;
    environ.set_item(intern!(py, "mod_wsgi.listener_host"), latin1(py, info.listener_host))?;
    environ.set_item(intern!(py, "mod_wsgi.listener_port"), info.listener_port.to_string())?;
    environ.set_item(intern!(py, "mod_wsgi.request_id"), latin1(py, info.request_id))?;
    environ.set_item(intern!(py, "mod_wsgi.request_start"), info.request_start.to_string())?;
    if let Some(d) = &info.daemon {
        environ.set_item(intern!(py, "mod_wsgi.queue_start"), d.queue_start.to_string())?;
        environ.set_item(intern!(py, "mod_wsgi.daemon_start"), d.daemon_start.to_string())?;
        environ.set_item(intern!(py, "mod_wsgi.daemon_connects"), d.connects.to_string())?;
        // Requests are never re-sent to a restarted daemon here.
        environ.set_item(intern!(py, "mod_wsgi.daemon_restarts"), "0")?;
    }
    if let Some(request_rec) = info.request_rec {
        // SAFETY: a capsule with no name and no destructor only carries the
        // pointer; NULL (out of memory) becomes the error returned here.
        let capsule = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyCapsule_New(request_rec.as_ptr(), std::ptr::null(), None))? };
        environ.set_item(intern!(py, "apache.request_rec"), capsule)?;
    }
    Ok(environ)
}
