//! What a WSGI request reads from and writes to.
//!
//! The WSGI machinery (environ, input, start_response, iteration, file_wrapper)
//! is the same in both modes; only the transport differs: Apache's request in
//! embedded mode, the daemon socket in daemon mode. Blocking methods are called
//! with the GIL released.

/// Status line and headers, validated, ready to go out.
pub struct ValidatedHead {
    pub code: u16,
    pub status: String,
    /// Names, and values as the Latin-1 bytes that go on the wire.
    pub headers: Vec<(String, Vec<u8>)>,
    pub content_length: Option<u64>,
}

/// The client (or the Apache child in front of a daemon) went away.
#[derive(Debug)]
pub struct Disconnected;

pub trait Channel: Send + Sync {
    /// Whether the request has a body to read (checked before the first read).
    fn has_body(&self) -> bool;
    /// Reads body bytes into `buf` (which need not be initialised); returns how
    /// many, `Ok(0)` at the end of the body. With `fill`, keeps reading until
    /// `buf` is full or the body ends (the application asked for that much);
    /// without, returns after the first bytes that arrive (readline).
    fn read_body(&self, buf: &mut [std::mem::MaybeUninit<u8>], fill: bool) -> Result<usize, String>;
    /// Sends the status and headers (before the first body bytes).
    fn commit(&self, head: &ValidatedHead);
    /// Sends body bytes; `flush` pushes them to the client now.
    fn write(&self, data: &[u8], flush: bool) -> Result<(), Disconnected>;
    /// Sends `len` bytes of an open file from `offset`.
    fn write_file(&self, fd: i32, offset: u64, len: u64) -> Result<(), Disconnected>;
    /// Ends a complete response.
    fn finish(&self) -> Result<(), Disconnected>;
    /// `write`, if it is done without waiting (the bytes are only queued):
    /// `None` when it would wait, and then nothing was taken. Called with the
    /// GIL held, so that a response that only queues keeps it: every release
    /// can hand the GIL to another request thread, and taking it back then
    /// waits for that thread.
    fn write_now(&self, _data: &[u8], _flush: bool) -> Option<Result<(), Disconnected>> {
        None
    }
    /// `finish`, if the transport can end the response without waiting here,
    /// by queueing its end and sending it once the request's thread has let go
    /// of the GIL; `None` otherwise (as for `write_now`).
    fn finish_now(&self) -> Option<Result<(), Disconnected>> {
        None
    }
    /// The response must not carry a body (HEAD).
    fn header_only(&self) -> bool;
    fn client_gone(&self) -> bool;
    /// Ends the connection after this response (it is shorter than announced).
    fn close_after_response(&self);
    /// Cuts the response off so the client sees it is incomplete.
    fn abort(&self);
}

/// A validated header string as the Latin-1 bytes that go on the wire.
pub fn latin1(s: &str) -> Vec<u8> {
    // Validation guaranteed every char is <= U+00FF.
    s.chars().map(|c| c as u32 as u8).collect()
}
