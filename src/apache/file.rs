//! Files owned by a pool, for file buckets.

use super::pool::Pool;
use crate::ffi;

/// An open APR file owned by a pool (closed by the pool's cleanup), valid while
/// that pool lives: a request's pool for a request's response.
pub struct PoolFile(pub(super) *mut ffi::apr_file_t);

/// A duplicate of `fd` as an APR file whose close is registered on `pool`, so
/// the bytes can be sent after the caller closes its own descriptor.
/// `sendfile`: Apache may send it with sendfile() (when its EnableSendfile allows too).
pub fn dup_into_pool(pool: Pool, fd: i32, sendfile: bool) -> Option<PoolFile> {
    // SAFETY: wrap the descriptor without taking ownership, then let APR dup it
    // into a file that the pool owns (and closes at its cleanup).
    unsafe {
        let mut os_fd: ffi::apr_os_file_t = fd;
        let mut borrowed: *mut ffi::apr_file_t = std::ptr::null_mut();
        let flags = if sendfile { ffi::APR_FOPEN_READ | ffi::APR_FOPEN_SENDFILE_ENABLED } else { ffi::APR_FOPEN_READ };
        if ffi::apr_os_file_put(&mut borrowed, &mut os_fd, flags, pool.as_ptr()) != 0 {
            return None;
        }
        let mut owned: *mut ffi::apr_file_t = std::ptr::null_mut();
        if ffi::apr_file_dup(&mut owned, borrowed, pool.as_ptr()) != 0 {
            return None;
        }
        Some(PoolFile(owned))
    }
}
