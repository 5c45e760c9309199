//! `wsgi.file_wrapper`: when an application returns `FileWrapper(f)` for a real
//! file, the file goes out as an APR file bucket (sendfile when Apache's
//! EnableSendfile is on) instead of through Python reads.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::python::native_class::{self, Args, Class, Iter, Native};

/// `wsgi.file_wrapper` and `mod_wsgi.FileWrapper(filelike, blksize=8192)`.
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

pub static FILE_WRAPPER: Class<FileWrapper> = Class {
    methods: &[(c"close", FileWrapper::close)],
    getters: &[(c"filelike", |w, py| Ok(w.filelike.bind(py).clone())), (c"blksize", |w, py| w.blksize.into_bound_py_any(py))],
    iter: Iter::Itself,
    next: Some(FileWrapper::next),
    new: Some(FileWrapper::new),
    traverse: Some(|w, visit| visit(w.filelike.as_ptr())),
    ..native_class::class(c"mod_wsgi.FileWrapper")
};

impl Native for FileWrapper {
    fn class() -> &'static Class<Self> {
        &FILE_WRAPPER
    }
}

impl FileWrapper {
    fn new(_py: Python<'_>, args: &Args<'_, '_>) -> PyResult<FileWrapper> {
        let [filelike, blksize] = args.parse("FileWrapper", ["filelike", "blksize"], 1)?;
        let filelike = filelike.expect("required");
        let blksize: i64 = match blksize {
            Some(b) => b.extract()?,
            None => 8192,
        };
        Ok(FileWrapper { filelike: filelike.unbind(), blksize: blksize.max(1) as usize })
    }

    fn next<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self.filelike.bind(py).call_method1("read", (self.blksize,))?;
        let empty = match data.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().is_empty(),
            Err(_) => data.len().map(|n| n == 0).unwrap_or(false),
        };
        Ok((!empty).then_some(data))
    }

    fn close<'py>(&self, py: Python<'py>, args: &Args<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        args.none("close")?;
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        native_class::none(py)
    }
}

/// A region of an open file to send as is.
pub struct FileRegion {
    pub fd: i32,
    pub offset: u64,
    pub len: u64,
}

/// If `result` is a FileWrapper over a regular file with a descriptor, returns
/// the region from the file's current position to its end. Anything else:
/// `None`, and the caller iterates the wrapper like any other response.
pub fn file_region(py: Python<'_>, result: &Bound<'_, PyAny>) -> Option<FileRegion> {
    // The usual result, a list or tuple, needs no look-up of the class.
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return None;
    }
    let filelike = FILE_WRAPPER.value(py, result)?.filelike.bind(py);
    let fd: i32 = filelike.call_method0("fileno").ok()?.extract().ok()?;
    // Flush buffered writes so the descriptor sees them (harmless for readers).
    if filelike.hasattr("flush").unwrap_or(false) {
        filelike.call_method0("flush").ok();
    }
    let offset: u64 = if filelike.hasattr("tell").unwrap_or(false) { filelike.call_method0("tell").ok()?.extract().ok()? } else { 0 };
    // SAFETY: fstat on a descriptor the application handed us; a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; st is a valid out-buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return None;
    }
    Some(FileRegion { fd, offset, len: (st.st_size as u64).saturating_sub(offset) })
}
