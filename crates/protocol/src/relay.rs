//! What the Apache child accepts from a daemon while it relays one response:
//! the order of the frames, their sizes, their request id, the head's
//! validity, and how much body the head announced. Pure (the child does the
//! I/O and drives this with each frame), so it is unit-tested and fuzzed with
//! arbitrary frames.
//!
//! Any [`Violation`] ends the relay: the request gets a 502 (or its started
//! response is cut off) and the connection is closed, never reused, so the
//! next request cannot see what the daemon sent wrongly.

use crate::{DataHeader, End, Fail, FileRegion, Goodbye, Header, Kind, NO_REQUEST, PayloadError, ReadRequest, ResponseHead, headers};

/// The most files one response may pass (each stays open until the request
/// ends). An honest daemon passes one per `wsgi.file_wrapper` response.
pub const MAX_FILES: u32 = 16;

/// The largest payload of a frame other than `Head` and `Data`.
const MAX_SMALL_FRAME: usize = 64;

/// Why the child stops relaying: the daemon broke the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn violation<T>(msg: impl Into<String>) -> Result<T, Violation> {
    Err(Violation(msg.into()))
}

/// What the child does with a frame the checker accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The daemon closed the idle connection without reading the request: send it again.
    NotTaken,
    /// Answer with body bytes.
    ReadBody(ReadRequest),
    /// Apply this (validated) head.
    Head(ResponseHead<'a>),
    /// Relay `len` body bytes that follow (flush after them if asked).
    Data(DataHeader),
    /// Relay this region of the passed file, once [`ResponseCheck::file`] accepts the file.
    File(FileRegion),
    /// The response is complete; `close_connection` also when the body fell
    /// short of the announced length.
    End(End),
    /// Cut the client off.
    Abort,
    /// Answer with this status.
    Fail(u16),
}

/// The checker's state for one response.
#[derive(Debug)]
pub struct ResponseCheck {
    request: u64,
    header_buffer_size: usize,
    header_only: bool,
    first: bool,
    committed: bool,
    finished: bool,
    /// The head's Content-Length.
    announced: Option<u64>,
    /// Body bytes accepted so far (Data and File).
    body: u64,
    files: u32,
}

impl ResponseCheck {
    /// For the response to `request`; `header_buffer_size` bounds the head,
    /// `header_only`: a HEAD request, whose body is dropped by the child.
    pub fn new(request: u64, header_buffer_size: usize, header_only: bool) -> ResponseCheck {
        ResponseCheck { request, header_buffer_size, header_only, first: true, committed: false, finished: false, announced: None, body: 0, files: 0 }
    }

    /// The largest frame payload worth reading at all (the child's read limit).
    pub fn max_frame(&self) -> usize {
        crate::MAX_DATA_FRAME.max(self.header_buffer_size)
    }

    /// The head has been applied: body bytes after it reach the client.
    pub fn committed(&self) -> bool {
        self.committed
    }

    /// Checks a frame header before its payload is read.
    pub fn header(&mut self, h: Header) -> Result<(), Violation> {
        if self.finished {
            return violation(format!("a {:?} frame after the end of the response", h.kind));
        }
        let goodbye = h.kind == Kind::Goodbye && h.request == NO_REQUEST;
        if h.request != self.request && !goodbye {
            return violation(format!("a {:?} frame of request {} in the response to request {}", h.kind, h.request, self.request));
        }
        match h.kind {
            Kind::Head if h.len > self.header_buffer_size => {
                violation(format!("response header block of {} bytes exceeds header-buffer-size ({})", h.len, self.header_buffer_size))
            }
            Kind::Head if self.committed => violation("a second response head"),
            Kind::Data if h.len > crate::MAX_DATA_FRAME => violation(format!("data frame of {} bytes exceeds {}", h.len, crate::MAX_DATA_FRAME)),
            Kind::Data | Kind::File if !self.committed => violation("body data before the response head"),
            Kind::End if !self.committed => violation("end of response before its head"),
            Kind::Head | Kind::Data => Ok(()),
            Kind::Request | Kind::Body | Kind::BodyError => violation(format!("unexpected {:?} frame", h.kind)),
            _ if h.len > MAX_SMALL_FRAME => violation(format!("{:?} frame of {} bytes", h.kind, h.len)),
            _ => Ok(()),
        }
    }

    /// Decides on a frame whose header [`header`](Self::header) accepted; for
    /// `Data`, `payload` is just the flag byte (the body is streamed after it).
    pub fn frame<'a>(&mut self, h: Header, payload: &'a [u8]) -> Result<Step<'a>, Violation> {
        let first = std::mem::replace(&mut self.first, false);
        match h.kind {
            Kind::Goodbye => {
                if first && h.request == NO_REQUEST && Goodbye::decode(payload).is_ok() {
                    self.finished = true;
                    return Ok(Step::NotTaken);
                }
                violation("unexpected Goodbye frame")
            }
            Kind::Read => match ReadRequest::decode(payload) {
                Ok(read) => Ok(Step::ReadBody(read)),
                Err(_) => violation("malformed body read request"),
            },
            Kind::Head => {
                let head = check_head(payload).map_err(|e| Violation(format!("invalid response head: {e}")))?;
                self.committed = true;
                self.announced = head.content_length;
                Ok(Step::Head(head))
            }
            Kind::Data => {
                let data = match payload.first().map(|&flag| DataHeader::decode(h.len, flag)) {
                    Some(Ok(data)) if data.len > 0 => data,
                    Some(Err(e)) => return violation(format!("malformed data frame: {e}")),
                    _ => return violation("empty data frame"),
                };
                self.add_body(data.len as u64)?;
                Ok(Step::Data(data))
            }
            Kind::File => {
                let Ok(region) = FileRegion::decode(payload) else {
                    return violation("malformed file frame (bad region)");
                };
                self.files += 1;
                if self.files > MAX_FILES {
                    return violation(format!("more than {MAX_FILES} files passed in one response"));
                }
                self.add_body(region.len)?;
                Ok(Step::File(region))
            }
            Kind::End => {
                let mut end = End::decode(payload).map_err(|e| Violation(format!("malformed end frame: {e}")))?;
                self.finished = true;
                // A body shorter than announced: the client must not wait for the rest.
                if !self.header_only && self.announced.is_some_and(|n| self.body < n) {
                    end.close_connection = true;
                }
                Ok(Step::End(end))
            }
            Kind::Abort => {
                crate::Abort::decode(payload).map_err(|e| Violation(format!("malformed abort frame: {e}")))?;
                self.finished = true;
                Ok(Step::Abort)
            }
            Kind::Fail => {
                let fail = Fail::decode(payload);
                self.finished = true;
                if self.committed {
                    return violation(match fail {
                        Ok(Fail { status }) | Err(PayloadError::FailStatus(status)) => format!("request failed with status {status} after the response started"),
                        Err(e) => format!("malformed failure frame after the response started: {e}"),
                    });
                }
                match fail {
                    Ok(Fail { status }) => Ok(Step::Fail(status)),
                    Err(PayloadError::FailStatus(status)) => violation(format!("the daemon reported an invalid failure status {status}")),
                    Err(e) => violation(format!("malformed failure frame: {e}")),
                }
            }
            other => violation(format!("unexpected {other:?} frame")),
        }
    }

    /// Checks the file passed with a `File` frame: it must be a regular file
    /// (`regular`, from fstat) of `size` bytes that holds the whole region, so
    /// that reading it can never run past its end.
    pub fn file(&self, region: FileRegion, regular: bool, size: u64) -> Result<(), Violation> {
        if !regular {
            return violation("the descriptor passed with a file frame is not a regular file");
        }
        match region.offset.checked_add(region.len) {
            Some(end) if end <= size => Ok(()),
            _ => violation(format!("file frame region {}+{} is beyond the passed file's {size} bytes", region.offset, region.len)),
        }
    }

    fn add_body(&mut self, len: u64) -> Result<(), Violation> {
        self.body = self.body.saturating_add(len);
        match self.announced {
            Some(n) if self.body > n && !self.header_only => {
                violation(format!("{} body bytes or more, beyond the announced Content-Length of {n}", self.body))
            }
            _ => Ok(()),
        }
    }
}

/// Decodes a head and validates it again: the status line, its code, every
/// header name and value.
pub fn check_head(payload: &[u8]) -> Result<ResponseHead<'_>, String> {
    let head = crate::decode_head(payload)?;
    let status_line: String = head.status.iter().map(|&b| b as char).collect();
    let code = headers::parse_status(&status_line)?;
    if code != head.code {
        return Err(format!("status code {} does not match status line {status_line:?}", head.code));
    }
    for (name, value) in &head.headers {
        let name = std::str::from_utf8(name).map_err(|_| "header name is not ASCII".to_string())?;
        let value: String = value.iter().map(|&b| b as char).collect();
        headers::check_header_name(name)?;
        headers::check_header_value(name, &value)?;
        if name.eq_ignore_ascii_case("content-length") && headers::parse_content_length(&value).ok() != head.content_length {
            return Err(format!("Content-Length header {value:?} differs from the announced length {:?}", head.content_length));
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(kind: Kind, len: usize, request: u64) -> Header {
        Header { kind, len, request }
    }

    fn head(content_length: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        crate::encode_head::<&[u8], &[u8]>(200, b"200 OK", &[], content_length, &mut out);
        out
    }

    fn step<'a>(c: &mut ResponseCheck, kind: Kind, request: u64, payload: &'a [u8]) -> Result<Step<'a>, Violation> {
        c.header(h(kind, payload.len(), request))?;
        c.frame(h(kind, payload.len(), request), payload)
    }

    #[test]
    fn a_plain_response_passes() {
        let mut c = ResponseCheck::new(7, 8192, false);
        let p = head(Some(5));
        assert!(matches!(step(&mut c, Kind::Head, 7, &p), Ok(Step::Head(_))));
        c.header(h(Kind::Data, 6, 7)).unwrap();
        assert_eq!(c.frame(h(Kind::Data, 6, 7), &[0]), Ok(Step::Data(DataHeader { flush: false, len: 5 })));
        assert_eq!(step(&mut c, Kind::End, 7, &[0]), Ok(Step::End(End { close_connection: false, pid: None })));
        assert!(c.header(h(Kind::Data, 2, 7)).is_err(), "nothing after the end");
    }

    #[test]
    fn more_body_than_announced_is_a_violation() {
        let mut c = ResponseCheck::new(1, 8192, false);
        step(&mut c, Kind::Head, 1, &head(Some(5))).unwrap();
        c.header(h(Kind::Data, 7, 1)).unwrap();
        let e = c.frame(h(Kind::Data, 7, 1), &[0]).unwrap_err();
        assert!(e.0.contains("beyond the announced Content-Length of 5"), "{e}");
        let mut c = ResponseCheck::new(1, 8192, false);
        step(&mut c, Kind::Head, 1, &head(Some(5))).unwrap();
        let region = FileRegion { offset: 0, len: 6 }.encode();
        assert!(step(&mut c, Kind::File, 1, &region).is_err());
        // A HEAD request's body is dropped anyway.
        let mut c = ResponseCheck::new(1, 8192, true);
        step(&mut c, Kind::Head, 1, &head(Some(5))).unwrap();
        c.header(h(Kind::Data, 7, 1)).unwrap();
        assert!(c.frame(h(Kind::Data, 7, 1), &[0]).is_ok());
    }

    #[test]
    fn a_short_body_closes_the_client_connection() {
        let mut c = ResponseCheck::new(1, 8192, false);
        step(&mut c, Kind::Head, 1, &head(Some(5))).unwrap();
        assert_eq!(step(&mut c, Kind::End, 1, &[0]), Ok(Step::End(End { close_connection: true, pid: None })));
    }

    #[test]
    fn frames_of_another_request_are_violations() {
        let mut c = ResponseCheck::new(3, 8192, false);
        assert!(c.header(h(Kind::Head, 10, 2)).unwrap_err().0.contains("of request 2 in the response to request 3"));
        let mut c = ResponseCheck::new(3, 8192, false);
        assert_eq!(step(&mut c, Kind::Goodbye, NO_REQUEST, &[]), Ok(Step::NotTaken));
        let mut c = ResponseCheck::new(3, 8192, false);
        step(&mut c, Kind::Head, 3, &head(None)).unwrap();
        assert!(step(&mut c, Kind::Goodbye, NO_REQUEST, &[]).is_err(), "Goodbye only first");
    }

    #[test]
    fn order_and_sizes_are_checked() {
        let mut c = ResponseCheck::new(1, 100, false);
        assert!(c.header(h(Kind::Data, 3, 1)).is_err());
        assert!(c.header(h(Kind::End, 1, 1)).is_err());
        assert!(c.header(h(Kind::Head, 101, 1)).unwrap_err().0.contains("header-buffer-size"));
        assert!(c.header(h(Kind::Fail, 1000, 1)).is_err());
        assert!(c.header(h(Kind::Body, 0, 1)).is_err());
        assert_eq!(step(&mut c, Kind::Fail, 1, &503u16.to_le_bytes()), Ok(Step::Fail(503)));
        let mut c = ResponseCheck::new(1, 100, false);
        step(&mut c, Kind::Head, 1, &head(None)).unwrap();
        assert!(c.header(h(Kind::Head, 10, 1)).unwrap_err().0.contains("second"));
        assert!(step(&mut c, Kind::Fail, 1, &503u16.to_le_bytes()).unwrap_err().0.contains("after the response started"));
    }

    #[test]
    fn files_are_checked_against_their_size_and_counted() {
        let c = ResponseCheck::new(1, 100, false);
        let region = FileRegion { offset: 10, len: 20 };
        assert!(c.file(region, true, 30).is_ok());
        assert!(c.file(region, true, 29).unwrap_err().0.contains("beyond"));
        assert!(c.file(region, false, 100).is_err());
        assert!(c.file(FileRegion { offset: u64::MAX, len: 2 }, true, u64::MAX).is_err());
        let mut c = ResponseCheck::new(1, 100, false);
        step(&mut c, Kind::Head, 1, &head(None)).unwrap();
        let region = FileRegion { offset: 0, len: 1 }.encode();
        for _ in 0..MAX_FILES {
            step(&mut c, Kind::File, 1, &region).unwrap();
        }
        assert!(step(&mut c, Kind::File, 1, &region).unwrap_err().0.contains("more than"));
    }

    #[test]
    fn a_content_length_header_must_match_the_announced_length() {
        let mut out = Vec::new();
        crate::encode_head(200, b"200 OK", &[(b"Content-Length".to_vec(), b"5".to_vec())], Some(5), &mut out);
        assert!(check_head(&out).is_ok());
        out.clear();
        crate::encode_head(200, b"200 OK", &[(b"Content-Length".to_vec(), b"50".to_vec())], Some(5), &mut out);
        assert!(check_head(&out).unwrap_err().contains("differs"));
        out.clear();
        crate::encode_head(200, b"200 OK", &[(b"Content-Length".to_vec(), b"5".to_vec())], None, &mut out);
        assert!(check_head(&out).is_err());
    }
}
