//! `wsgi.file_wrapper`: when an application returns `FileWrapper(f)` for a real
//! file, the file goes out as an APR file bucket (sendfile when Apache's
//! EnableSendfile is on) instead of through Python reads.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyBytes;


#[pyclass(module = "mod_wsgi", name = "FileWrapper", frozen)]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = 8192))]
    fn new(filelike: Py<PyAny>, blksize: i64) -> FileWrapper {
        FileWrapper { filelike, blksize: blksize.max(1) as usize }
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    #[getter]
    fn blksize(&self) -> usize {
        self.blksize
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let data = self.filelike.bind(py).call_method1("read", (self.blksize,))?;
        let empty = match data.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().is_empty(),
            Err(_) => data.len().map(|n| n == 0).unwrap_or(false),
        };
        if empty { Err(PyStopIteration::new_err(())) } else { Ok(data) }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
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
    let wrapper = result.cast::<FileWrapper>().ok()?;
    let filelike = wrapper.get().filelike.bind(py);
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
