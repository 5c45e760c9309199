//! `request_rec`: what the handler reads from and writes to a request.
//!
//! A `Request` is only valid on the thread running the request and until the
//! handler returns; Python-visible objects that need it go through
//! `crate::wsgi::request_handle`, which enforces both.

use std::ffi::c_void;

use super::pool::{Pool, cstr};
use super::server::Server;
use super::table::Table;
use crate::ffi;

/// The client's request body could not be read (it went away, or sent a
/// malformed chunk).
#[derive(Debug)]
pub struct BodyReadError;

#[derive(Clone, Copy)]
pub struct Request(*mut ffi::request_rec);

// SAFETY: a Request is moved into `Python::detach` closures that run on the
// request's own thread; it is never used from another thread (see request_handle).
unsafe impl Send for Request {}

/// What kind of object a request's filename names, after Apache's directory walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Missing,
    Regular,
    Directory,
    Other,
}

impl Request {
    /// # Safety
    /// `r` must be the live request_rec passed to the current hook invocation.
    pub unsafe fn from_raw(r: *mut ffi::request_rec) -> Request {
        Request(r)
    }

    pub fn as_ptr(&self) -> *mut ffi::request_rec {
        self.0
    }

    fn raw(&self) -> &ffi::request_rec {
        // SAFETY: constructed from the live request_rec of the current hook call.
        unsafe { &*self.0 }
    }

    pub fn pool(&self) -> Pool {
        // SAFETY: r->pool lives as long as the request.
        unsafe { Pool::from_raw(self.raw().pool) }
    }

    pub fn server(&self) -> Server {
        // SAFETY: r->server is the live (virtual) server handling this request.
        unsafe { Server::from_raw(self.raw().server) }
    }

    pub fn uri(&self) -> &[u8] {
        // SAFETY: request strings live in r->pool.
        unsafe { cstr(self.raw().uri) }.unwrap_or_default()
    }

    pub fn filename(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().filename) }.unwrap_or_default()
    }

    pub fn path_info(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().path_info) }.unwrap_or_default()
    }

    pub fn handler(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().handler) }.unwrap_or_default()
    }

    pub fn method(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().method) }.unwrap_or_default()
    }

    /// True for HEAD: Apache's filters drop any body we send.
    pub fn header_only(&self) -> bool {
        self.raw().header_only != 0
    }

    /// Whether the first output filter works on content (a resource or content
    /// filter such as DEFLATE or INCLUDES, before the protocol filters): such a
    /// filter may need the whole body to get a HEAD response's headers right.
    pub fn has_content_output_filter(&self) -> bool {
        let f = self.raw().output_filters;
        // SAFETY: the request's filter chain and each filter's record live as
        // long as the request; a NULL at either level means no such filter.
        unsafe { !f.is_null() && !(*f).frec.is_null() && (*(*f).frec).ftype < ffi::ap_filter_type_AP_FTYPE_PROTOCOL }
    }

    /// WSGIEnableSendfile for this request (the handler records it in the CGI
    /// variables, where the application sees it as `mod_wsgi.enable_sendfile`).
    pub fn wsgi_sendfile_enabled(&self) -> bool {
        self.subprocess_env().get("mod_wsgi.enable_sendfile") == Some(b"1".as_slice())
    }

    pub fn set_filename(&self, path: &[u8]) {
        let p = self.pool().memdup(path);
        // SAFETY: the string is in r->pool, as Apache requires.
        unsafe { (*self.0).filename = p as *mut _ }
    }

    pub fn set_handler(&self, name: &'static std::ffi::CStr) {
        // SAFETY: a 'static string outlives the request.
        unsafe { (*self.0).handler = name.as_ptr() }
    }

    pub fn file_kind(&self) -> FileKind {
        match self.raw().finfo.filetype {
            ffi::apr_filetype_e_APR_NOFILE => FileKind::Missing,
            ffi::apr_filetype_e_APR_REG => FileKind::Regular,
            ffi::apr_filetype_e_APR_DIR => FileKind::Directory,
            _ => FileKind::Other,
        }
    }

    /// Sets the timeout for writes to the client (and reads from it).
    pub fn set_client_timeout(&self, timeout: std::time::Duration) {
        // SAFETY: the connection's socket lives as long as the connection.
        unsafe {
            let sock = ffi::ap_get_conn_socket(self.raw().connection);
            if !sock.is_null() {
                ffi::apr_socket_timeout_set(sock, timeout.as_micros() as ffi::apr_interval_time_t);
            }
        }
    }

    /// Modification time of the file Apache resolved, in microseconds.
    pub fn file_mtime(&self) -> i64 {
        self.raw().finfo.mtime
    }

    /// True when the request's path info is refused (`AcceptPathInfo Off`).
    pub fn path_info_rejected(&self) -> bool {
        self.raw().used_path_info == ffi::AP_REQ_REJECT_PATH_INFO
    }

    pub fn exec_cgi_allowed(&self) -> bool {
        // SAFETY: live request.
        (unsafe { ffi::ap_allow_options(self.0) } & ffi::OPT_EXECCGI) != 0
    }

    pub fn headers_in(&self) -> Table {
        // SAFETY: request tables live in r->pool.
        unsafe { Table::from_raw(self.raw().headers_in) }
    }

    pub fn headers_out(&self) -> Table {
        // SAFETY: as above.
        unsafe { Table::from_raw(self.raw().headers_out) }
    }

    pub fn subprocess_env(&self) -> Table {
        // SAFETY: as above.
        unsafe { Table::from_raw(self.raw().subprocess_env) }
    }

    pub fn notes(&self) -> Table {
        // SAFETY: as above.
        unsafe { Table::from_raw(self.raw().notes) }
    }

    /// This module's merged per-directory configuration for the request.
    pub(super) fn dir_config(&self) -> *mut c_void {
        // SAFETY: per_dir_config is the merged config vector for this request.
        unsafe { crate::module_config_slot(self.raw().per_dir_config) }
    }

    /// This module's per-request scratch slot (`r->request_config`).
    pub(super) fn request_config(&self) -> *mut c_void {
        // SAFETY: request_config is the per-request vector, one slot per module.
        unsafe { crate::module_config_slot(self.raw().request_config) }
    }

    /// Stores a pointer in this module's per-request slot.
    ///
    /// # Safety
    /// `value` must stay valid for as long as anything reads the slot back
    /// (the request), and readers must know its type.
    pub(super) unsafe fn set_request_config(&self, value: *mut c_void) {
        // SAFETY: writing our own slot of the per-request vector.
        unsafe { crate::set_module_config_slot(self.raw().request_config, value) }
    }

    /// `r->user`: the authenticated user, once a provider has set it.
    pub fn user(&self) -> Option<&[u8]> {
        // SAFETY: r->user is null or a string in a pool that outlives the request.
        unsafe { cstr(self.raw().user) }
    }

    /// Sets `r->user` (a provider may name the user differently than the client did).
    pub fn set_user(&self, user: &[u8]) {
        let p = self.pool().memdup(user);
        // SAFETY: the string is in r->pool, as Apache requires.
        unsafe { (*self.0).user = p as *mut _ }
    }

    pub fn protocol(&self) -> &[u8] {
        // SAFETY: request strings live in r->pool.
        unsafe { cstr(self.raw().protocol) }.unwrap_or_default()
    }

    pub fn args(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().args) }.unwrap_or_default()
    }

    /// The URI as the client sent it (with the query string).
    pub fn unparsed_uri(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { cstr(self.raw().unparsed_uri) }.unwrap_or_default()
    }

    /// The client's host name if Apache knows one (`HostnameLookups`), else its address.
    pub fn remote_host(&self) -> &[u8] {
        // SAFETY: live request; both strings live in the connection's or request's pool.
        unsafe {
            let host =
                ffi::ap_get_remote_host(self.raw().connection, self.raw().per_dir_config as *mut _, ffi::REMOTE_HOST as _, std::ptr::null_mut());
            cstr(host).or_else(|| cstr(self.raw().useragent_ip)).unwrap_or_default()
        }
    }

    /// Whether a failed access check is expected to be rescued by authentication
    /// (`Satisfy Any` with an auth requirement), so the denial is not worth a log line.
    pub fn access_may_be_satisfied_by_auth(&self) -> bool {
        // SAFETY: live request; plain queries.
        unsafe { ffi::ap_satisfies(self.0) == ffi::SATISFY_ANY && ffi::ap_some_auth_required(self.0) != 0 }
    }

    /// The variables `ap_add_common_vars` computes (headers as `HTTP_*`, the
    /// server's and client's addresses, ...), in a table of their own: the
    /// request's `subprocess_env` is left as it was, so phases before the
    /// handler can see them without changing what the handler later builds.
    pub fn common_variables(&self) -> Table {
        // SAFETY: live request, on its own thread. subprocess_env is pointed at a
        // fresh pool table for the call and restored right after; Apache's
        // function only writes into whatever table the field holds.
        unsafe {
            let saved = (*self.0).subprocess_env;
            let fresh = ffi::apr_table_make(self.raw().pool, 32);
            (*self.0).subprocess_env = fresh;
            ffi::ap_add_common_vars(self.0);
            (*self.0).subprocess_env = saved;
            Table::from_raw(fresh)
        }
    }

    /// Fills `subprocess_env` with the CGI variables Apache computes.
    pub fn add_cgi_variables(&self) {
        // SAFETY: live request; both functions only write r->subprocess_env.
        unsafe {
            ffi::ap_add_common_vars(self.0);
            ffi::ap_add_cgi_vars(self.0);
        }
    }

    pub fn http_scheme(&self) -> &[u8] {
        // SAFETY: the hook returns a static or pool string.
        unsafe { cstr(ffi::rwsgi_http_scheme(self.0)) }.unwrap_or(b"http")
    }

    pub fn server_port(&self) -> u16 {
        // SAFETY: live request.
        unsafe { ffi::ap_get_server_port(self.0) }
    }

    /// Prepares to read the body; returns an HTTP status to answer with on refusal
    /// (411 for a chunked body when `dechunk` is false, 413, 400 ...).
    pub fn setup_body(&self, dechunk: bool) -> Result<(), i32> {
        let policy = if dechunk { ffi::REQUEST_CHUNKED_DECHUNK } else { ffi::REQUEST_CHUNKED_ERROR };
        // SAFETY: live request, called once before any read.
        let rv = unsafe { ffi::ap_setup_client_block(self.0, policy) };
        if rv == ffi::OK { Ok(()) } else { Err(rv) }
    }

    /// Like [`read_body`](Self::read_body); with `fill`, until `buf` is full or the body ends.
    pub fn read_body_fill(&self, buf: &mut [std::mem::MaybeUninit<u8>], fill: bool) -> Result<usize, BodyReadError> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_body(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
            if !fill {
                break;
            }
        }
        Ok(got)
    }

    /// LimitRequestBody for this request (0 = unlimited).
    pub fn body_limit(&self) -> i64 {
        // SAFETY: live request.
        unsafe { ffi::ap_get_limit_req_body(self.0) }
    }

    /// Whether a body is expected; on the first read the HTTP_IN filter sends
    /// `100 Continue` if the client asked for it.
    pub fn should_read_body(&self) -> bool {
        // SAFETY: live request, after setup_body.
        unsafe { ffi::ap_should_client_block(self.0) != 0 }
    }

    /// Reads up to `buf.len()` body bytes: Ok(0) at the end of the body. The
    /// buffer need not be initialised; Apache writes the bytes it returns.
    pub fn read_body(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize, BodyReadError> {
        // SAFETY: live request; the buffer is writable for its length.
        let n = unsafe { ffi::ap_get_client_block(self.0, buf.as_mut_ptr() as *mut _, buf.len()) };
        if n < 0 { Err(BodyReadError) } else { Ok(n as usize) }
    }

    /// When Apache read the request line, in microseconds since the epoch.
    pub fn request_time(&self) -> i64 {
        self.raw().request_time
    }

    /// The local address and port the request arrived on.
    pub fn listener(&self) -> (&[u8], u16) {
        // SAFETY: the connection and its addresses live longer than the request.
        unsafe {
            let c = &*self.raw().connection;
            let port = if c.local_addr.is_null() { 0 } else { (*c.local_addr).port };
            (cstr(c.local_ip).unwrap_or_default(), port)
        }
    }

    /// Apache's request log id (`%L`), generating it if no module has yet.
    pub fn log_id(&self) -> &[u8] {
        // SAFETY: live request; the generated id is allocated in r->pool, and log_id
        // is the field Apache itself fills in this way (ap_log_rerror does too).
        unsafe {
            if self.raw().log_id.is_null() {
                let mut id: *const std::ffi::c_char = std::ptr::null();
                ffi::ap_run_generate_log_id(self.raw().connection, self.0, &mut id);
                (*self.0).log_id = id;
            }
            cstr(self.raw().log_id).unwrap_or_default()
        }
    }

    /// The response status set so far.
    pub fn status(&self) -> i32 {
        self.raw().status
    }

    fn set_status(&self, code: i32, line: &[u8]) {
        let line = self.pool().memdup(line);
        // SAFETY: the status line is a pool copy.
        unsafe {
            (*self.0).status = code;
            (*self.0).status_line = line;
        }
    }

    fn set_content_type(&self, value: &[u8]) {
        let v = self.pool().memdup(value);
        // SAFETY: the value is a pool copy.
        unsafe { ffi::ap_set_content_type(self.0, v) }
    }

    fn set_content_length(&self, len: u64) {
        // SAFETY: live request.
        unsafe { ffi::ap_set_content_length(self.0, len as ffi::apr_off_t) }
    }

    /// The client's address as `ip:port`.
    pub fn client_address(&self) -> String {
        // SAFETY: the connection and its strings outlive the request.
        unsafe {
            let c = &*self.raw().connection;
            let ip = super::pool::cstr_utf8(c.client_ip).unwrap_or("?");
            let port = if c.client_addr.is_null() { 0 } else { (*c.client_addr).port };
            format!("{ip}:{port}")
        }
    }

    /// Applies a validated response head: status, headers (Content-Type and
    /// Content-Length through Apache's own setters, so that filters see them),
    /// and ends any pending `100 Continue` (a final response is under way).
    pub fn apply_response_head<'h>(
        &self,
        code: u16,
        status_line: &[u8],
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        content_length: Option<u64>,
    ) {
        self.set_status(code as i32, status_line);
        let pool = self.pool();
        let out = self.headers_out();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"content-type") {
                self.set_content_type(value);
            } else if !name.eq_ignore_ascii_case(b"content-length") {
                out.add(pool, name, value);
            }
        }
        if let Some(len) = content_length {
            self.set_content_length(len);
        }
        self.clear_expecting_100();
    }

    pub fn client_aborted(&self) -> bool {
        // SAFETY: r->connection lives longer than the request.
        unsafe { (*self.raw().connection).aborted != 0 }
    }

    /// Ends the connection after this response (used when a response is cut short,
    /// so the client can tell it is incomplete).
    pub fn close_connection(&self) {
        // SAFETY: as above; keepalive is a plain enum field.
        unsafe { (*self.raw().connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE }
    }

    /// Marks the connection aborted so no further output (not even the final
    /// chunk of a chunked response) is written.
    pub fn abort_connection(&self) {
        // SAFETY: as above.
        unsafe { (*self.raw().connection).aborted = 1 }
    }

    /// Stops Apache from sending `100 Continue` once a final response is under way.
    fn clear_expecting_100(&self) {
        // SAFETY: plain field write on the live request.
        unsafe { (*self.0).expecting_100 = 0 }
    }
}
