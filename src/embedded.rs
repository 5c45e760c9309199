//! Embedded mode: the application runs in this Apache child, and the WSGI
//! channel is Apache's own request.

use parking_lot::Mutex;

use crate::apache::brigade::Brigade;
use crate::apache::{OK, Request};
use crate::wsgi::app::{self, Outcome, Script};
use crate::wsgi::channel::{Channel, Disconnected, ValidatedHead};
use crate::wsgi::environ::RequestInfo;
use crate::route::Route;

pub struct ApacheChannel {
    r: Request,
    brigade: Mutex<Option<Brigade>>,
}

// SAFETY: the request handle only hands the channel out on the request's own
// thread while the request runs (see RequestHandle::get); the Mutex makes the
// brigade slot safe to reach through a shared reference.
unsafe impl Sync for ApacheChannel {}

impl ApacheChannel {
    pub fn new(r: Request) -> ApacheChannel {
        ApacheChannel { r, brigade: Mutex::new(None) }
    }

    fn with_brigade<T>(&self, f: impl FnOnce(&mut Brigade) -> T) -> T {
        let mut slot = self.brigade.lock();
        f(slot.get_or_insert_with(|| Brigade::new(&self.r)))
    }
}

impl Channel for ApacheChannel {
    fn has_body(&self) -> bool {
        self.r.should_read_body()
    }

    fn read_body(&self, buf: &mut [std::mem::MaybeUninit<u8>], fill: bool) -> Result<usize, String> {
        self.r.read_body_fill(buf, fill).map_err(|_| "the client's request body could not be read".to_string())
    }

    fn commit(&self, head: &ValidatedHead) {
        let headers = head.headers.iter().map(|(name, value)| (name.as_bytes(), value.as_slice()));
        self.r.apply_response_head(head.code, head.status.as_bytes(), headers, head.content_length);
    }

    fn write(&self, data: &[u8], flush: bool) -> Result<(), Disconnected> {
        self.with_brigade(|b| b.write(&self.r, data, flush)).map_err(|_| Disconnected)
    }

    fn write_file(&self, fd: i32, offset: u64, len: u64) -> Result<(), Disconnected> {
        // The application may close its file object as soon as we return.
        let file = crate::apache::file::dup_into_pool(self.r.pool(), fd, self.r.wsgi_sendfile_enabled()).ok_or(Disconnected)?;
        self.with_brigade(|b| b.write_file(&self.r, &file, offset, len)).map_err(|_| Disconnected)
    }

    fn finish(&self) -> Result<(), Disconnected> {
        self.with_brigade(|b| b.finish(&self.r)).map_err(|_| Disconnected)
    }

    fn header_only(&self) -> bool {
        self.r.header_only()
    }

    fn client_gone(&self) -> bool {
        self.r.client_aborted()
    }

    fn close_after_response(&self) {
        self.r.close_connection();
    }

    fn abort(&self) {
        self.r.close_connection();
        self.r.abort_connection();
    }
}

/// What the environ needs beyond the CGI variables, for a request served (or
/// dispatched) in this process.
pub fn request_info<'a>(r: &'a Request, route: &'a Route) -> RequestInfo<'a> {
    let (listener_host, listener_port) = r.listener();
    let authorization = if route.pass_authorization { r.headers_in().get("Authorization") } else { None };
    RequestInfo {
        script_name: &route.script_name,
        url_scheme: r.http_scheme(),
        handler: r.handler(),
        authorization,
        listener_host,
        listener_port,
        request_id: r.log_id(),
        request_start: r.request_time(),
        process_group: &route.process_group,
        application_group: &route.application_group,
        callable_object: &route.callable_object,
        script_reloading: route.script_reloading,
        request_rec: if route.pass_apache_request { std::ptr::NonNull::new(r.as_ptr() as *mut std::ffi::c_void) } else { None },
        daemon: None,
    }
}

/// Serves the request in this process; returns the handler's status.
pub fn serve(r: &Request, route: &Route) -> i32 {
    let info = request_info(r, route);
    let script = Script {
        path: &route.script,
        mtime: route.script_mtime,
        application_group: &route.application_group,
        callable_object: &route.callable_object,
        reloading: route.script_reloading,
    };
    let env = r.subprocess_env();
    match app::serve_request(Box::new(ApacheChannel::new(*r)), &info, &script, &|visit| env.for_each(|k, v| visit(k, v))) {
        Outcome::Served => OK,
        Outcome::Failed(status) => i32::from(status),
    }
}
