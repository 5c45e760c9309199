//! Output through a bucket brigade, as Apache's filters expect it.

use crate::ffi;

use super::file::PoolFile;
use super::request::Request;

/// A brigade allocated from the request pool, reused for every write of a response.
pub struct Brigade(*mut ffi::apr_bucket_brigade);

// SAFETY: the brigade is only used on the request's own thread; it is moved into
// `Python::detach` closures that run on that same thread while the GIL is released.
unsafe impl Send for Brigade {}

impl Brigade {
    pub fn new(r: &Request) -> Brigade {
        // SAFETY: r is live; the brigade lives in r->pool with the connection's allocator.
        unsafe {
            let raw = r.as_ptr();
            Brigade(ffi::apr_brigade_create((*raw).pool, (*(*raw).connection).bucket_alloc))
        }
    }

    pub fn as_ptr(&self) -> *mut ffi::apr_bucket_brigade {
        self.0
    }

    /// Passes `data` (after anything appended) down the output filters,
    /// optionally flushing.
    ///
    /// The data is wrapped in a transient bucket: filters that must keep it past
    /// this call copy it, so `data` only has to live until this returns.
    pub fn write(&mut self, r: &Request, data: &[u8], flush: bool) -> Result<(), ffi::apr_status_t> {
        // SAFETY: r and the brigade are live; the transient bucket borrows `data`,
        // which outlives the pass; the brigade is emptied before returning.
        unsafe {
            if !data.is_empty() {
                ffi::rwsgi_brigade_append_transient(self.0, data.as_ptr() as *const _, data.len());
            }
            if flush {
                ffi::rwsgi_brigade_append_flush(self.0);
            }
            self.pass(r)
        }
    }

    /// Appends `len` bytes that `fill` writes into a buffer of the connection's
    /// bucket allocator, to go with the next pass. The buffer becomes a heap
    /// bucket, so no filter that sets the data aside copies it. When `fill`
    /// fails, nothing is appended.
    pub fn append_filled<E>(&mut self, len: usize, fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> Result<(), E>) -> Result<(), E> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: apr_bucket_alloc returns `len` writable bytes (or aborts via the
        // allocator's abort function); they are freed on failure or owned by the
        // heap bucket (freed with apr_bucket_free) once appended.
        unsafe {
            let list = (*self.0).bucket_alloc;
            let data = ffi::apr_bucket_alloc(len, list) as *mut std::mem::MaybeUninit<u8>;
            if let Err(e) = fill(std::slice::from_raw_parts_mut(data, len)) {
                ffi::apr_bucket_free(data as *mut _);
                return Err(e);
            }
            ffi::rwsgi_brigade_append_owned(self.0, data as *mut _, len);
        }
        Ok(())
    }

    /// Passes a region of an open file (sendfile-capable when EnableSendfile is on).
    /// The file must belong to `r`'s pool (see `file::dup_into_pool`).
    pub fn write_file(&mut self, r: &Request, file: &PoolFile, offset: u64, len: u64) -> Result<(), ffi::apr_status_t> {
        // SAFETY: the file lives in r->pool, which outlives the pass and the
        // buckets; apr_brigade_insert_file splits regions larger than APR's bucket limit.
        unsafe {
            ffi::apr_brigade_insert_file(self.0, file.0, offset as ffi::apr_off_t, len as ffi::apr_off_t, (*r.as_ptr()).pool);
            self.pass(r)
        }
    }

    /// Like [`write_file`](Self::write_file) for a file another process
    /// controls (passed by a daemon): it is never mapped into memory, so a file
    /// that shrinks while it is sent gives a read error rather than SIGBUS.
    pub fn write_foreign_file(&mut self, r: &Request, file: &PoolFile, offset: u64, len: u64) -> Result<(), ffi::apr_status_t> {
        // SAFETY: as in write_file; the shim only also turns mmap off on the inserted buckets.
        unsafe {
            ffi::rwsgi_brigade_insert_file_unmapped(self.0, file.0, offset as ffi::apr_off_t, len as ffi::apr_off_t, (*r.as_ptr()).pool);
            self.pass(r)
        }
    }

    /// Sends the end-of-stream marker; nothing may be written after it.
    pub fn finish(&mut self, r: &Request) -> Result<(), ffi::apr_status_t> {
        // SAFETY: live brigade and request.
        unsafe {
            ffi::rwsgi_brigade_append_eos(self.0);
            self.pass(r)
        }
    }

    unsafe fn pass(&mut self, r: &Request) -> Result<(), ffi::apr_status_t> {
        // SAFETY: (caller) r is live and the brigade holds buckets for it.
        unsafe {
            let rv = ffi::ap_pass_brigade((*r.as_ptr()).output_filters, self.0);
            ffi::apr_brigade_cleanup(self.0 as *mut _);
            if rv == ffi::APR_SUCCESS { Ok(()) } else { Err(rv) }
        }
    }
}
