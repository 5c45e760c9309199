//! Payload encodings of the `Request` and `Head` frames. Decoders borrow from
//! the frame payload (no copies) and reject truncated or inconsistent input.

/// Everything the daemon needs to run a request, as the Apache child sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// When Apache read the request line, µs since the epoch.
    pub request_start: i64,
    /// When the child started handing the request to the daemon (for queue-timeout).
    pub queue_start: i64,
    /// The script's modification time, µs (the child has already stat'ed it).
    pub script_mtime: i64,
    /// When the child gives up waiting for the response to start (504), µs
    /// since the epoch; 0: never. The daemon does not start a request after it.
    pub deadline: i64,
    pub listener_port: u16,
    /// How many connection attempts the child needed (mod_wsgi.daemon_connects).
    pub connect_attempts: u16,
    pub header_only: bool,
    pub script_reloading: bool,
    /// The request has a body the application may read.
    pub has_body: bool,
    pub script_path: &'a [u8],
    pub script_name: &'a [u8],
    pub url_scheme: &'a [u8],
    pub handler: &'a [u8],
    pub authorization: Option<&'a [u8]>,
    pub listener_host: &'a [u8],
    pub request_id: &'a [u8],
    /// `ip:port` of the client, for the daemon's log lines.
    pub client: &'a [u8],
    pub process_group: &'a [u8],
    pub application_group: &'a [u8],
    pub callable_object: &'a [u8],
    /// The CGI variables, in order.
    pub variables: Vec<(&'a [u8], &'a [u8])>,
}

/// Status and headers as they travel from the daemon to the child.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub code: u16,
    pub status: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub content_length: Option<u64>,
}

const FLAG_HEADER_ONLY: u8 = 1;
const FLAG_RELOADING: u8 = 2;
const FLAG_HAS_BODY: u8 = 4;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

pub fn encode_request(h: &RequestHeader<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(&super::VERSION.to_le_bytes());
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    out.push(flag(h.header_only, FLAG_HEADER_ONLY) | flag(h.script_reloading, FLAG_RELOADING) | flag(h.has_body, FLAG_HAS_BODY));
    for v in [h.request_start, h.queue_start, h.script_mtime, h.deadline] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&h.listener_port.to_le_bytes());
    out.extend_from_slice(&h.connect_attempts.to_le_bytes());
    for b in [h.script_path, h.script_name, h.url_scheme, h.handler, h.listener_host, h.request_id, h.client] {
        put_bytes(out, b);
    }
    for b in [h.process_group, h.application_group, h.callable_object] {
        put_bytes(out, b);
    }
    match h.authorization {
        Some(a) => {
            out.push(1);
            put_bytes(out, a);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(h.variables.len() as u32).to_le_bytes());
    for (k, v) in &h.variables {
        put_bytes(out, k);
        put_bytes(out, v);
    }
}

/// A cursor over a payload; every read checks the remaining length.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err(format!("truncated: needed {n} more bytes, {} left", self.data.len()));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A count of items each at least `min_item` bytes long, checked against what is left,
    /// so a hostile count cannot make the decoder reserve huge vectors.
    fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.data.len() {
            return Err(format!("count {n} exceeds the payload"));
        }
        Ok(n)
    }
    fn finish(&self) -> Result<(), String> {
        if self.data.is_empty() { Ok(()) } else { Err(format!("{} trailing bytes", self.data.len())) }
    }
}

pub fn decode_request(payload: &[u8]) -> Result<RequestHeader<'_>, String> {
    let mut c = Cursor { data: payload };
    let version = c.u16()?;
    if version != super::VERSION {
        return Err(format!("protocol version {version}, expected {}", super::VERSION));
    }
    let flags = c.u8()?;
    let request_start = c.u64()? as i64;
    let queue_start = c.u64()? as i64;
    let script_mtime = c.u64()? as i64;
    let deadline = c.u64()? as i64;
    let listener_port = c.u16()?;
    let connect_attempts = c.u16()?;
    let mut h = RequestHeader {
        request_start,
        queue_start,
        script_mtime,
        deadline,
        listener_port,
        connect_attempts,
        header_only: flags & FLAG_HEADER_ONLY != 0,
        script_reloading: flags & FLAG_RELOADING != 0,
        has_body: flags & FLAG_HAS_BODY != 0,
        script_path: c.bytes()?,
        script_name: c.bytes()?,
        url_scheme: c.bytes()?,
        handler: c.bytes()?,
        listener_host: c.bytes()?,
        request_id: c.bytes()?,
        client: c.bytes()?,
        process_group: c.bytes()?,
        application_group: c.bytes()?,
        callable_object: c.bytes()?,
        ..Default::default()
    };
    h.authorization = match c.u8()? {
        0 => None,
        1 => Some(c.bytes()?),
        other => return Err(format!("bad authorization marker {other}")),
    };
    let n = c.count(8)?;
    h.variables.reserve(n);
    for _ in 0..n {
        h.variables.push((c.bytes()?, c.bytes()?));
    }
    c.finish()?;
    Ok(h)
}

pub fn encode_head<K: AsRef<[u8]>, V: AsRef<[u8]>>(code: u16, status: &[u8], headers: &[(K, V)], content_length: Option<u64>, out: &mut Vec<u8>) {
    out.extend_from_slice(&code.to_le_bytes());
    put_bytes(out, status);
    match content_length {
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (k, v) in headers {
        put_bytes(out, k.as_ref());
        put_bytes(out, v.as_ref());
    }
}

pub fn decode_head(payload: &[u8]) -> Result<ResponseHead<'_>, String> {
    let mut c = Cursor { data: payload };
    let code = c.u16()?;
    let status = c.bytes()?;
    let content_length = match c.u8()? {
        0 => None,
        1 => Some(c.u64()?),
        other => return Err(format!("bad content-length marker {other}")),
    };
    let n = c.count(8)?;
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        headers.push((c.bytes()?, c.bytes()?));
    }
    c.finish()?;
    Ok(ResponseHead { code, status, headers, content_length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RequestHeader<'static> {
        RequestHeader {
            request_start: 1_700_000_000_000_000,
            queue_start: 1_700_000_000_000_100,
            script_mtime: -5,
            deadline: 1_700_000_003_000_000,
            listener_port: 8080,
            connect_attempts: 3,
            header_only: true,
            script_reloading: true,
            has_body: true,
            script_path: b"/srv/app.wsgi",
            script_name: b"/app",
            url_scheme: b"https",
            handler: b"wsgi-script",
            authorization: Some(b"Basic eA=="),
            listener_host: b"127.0.0.1",
            request_id: b"abc",
            client: b"127.0.0.1:5555",
            process_group: b"site",
            application_group: b"",
            callable_object: b"application",
            variables: vec![(b"REQUEST_METHOD", b"GET"), (b"HTTP_X", b"caf\xe9")],
        }
    }

    #[test]
    fn request_round_trips() {
        let mut out = Vec::new();
        encode_request(&sample(), &mut out);
        assert_eq!(decode_request(&out).unwrap(), sample());
        let plain = RequestHeader { authorization: None, header_only: false, ..sample() };
        out.clear();
        encode_request(&plain, &mut out);
        assert_eq!(decode_request(&out).unwrap(), plain);
    }

    #[test]
    fn every_truncation_of_a_request_is_rejected() {
        let mut out = Vec::new();
        encode_request(&sample(), &mut out);
        for cut in 0..out.len() {
            assert!(decode_request(&out[..cut]).is_err(), "accepted a request cut at {cut}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode_request(&longer).unwrap_err().contains("trailing"));
        let mut wrong_version = out.clone();
        wrong_version[0] = 99;
        assert!(decode_request(&wrong_version).unwrap_err().contains("version"));
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        let mut out = Vec::new();
        encode_request(&RequestHeader { variables: vec![], ..sample() }, &mut out);
        let n = out.len();
        out[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_request(&out).unwrap_err().contains("exceeds"));
    }

    #[test]
    fn head_round_trips_and_rejects_truncation() {
        let headers = vec![(b"Content-Type".to_vec(), b"text/plain".to_vec()), (b"Set-Cookie".to_vec(), b"a=1".to_vec())];
        let mut out = Vec::new();
        encode_head(404, b"404 Not Found", &headers, Some(12), &mut out);
        let h = decode_head(&out).unwrap();
        assert_eq!((h.code, h.status, h.content_length), (404, &b"404 Not Found"[..], Some(12)));
        assert_eq!(h.headers, vec![(&b"Content-Type"[..], &b"text/plain"[..]), (&b"Set-Cookie"[..], &b"a=1"[..])]);
        for cut in 0..out.len() {
            assert!(decode_head(&out[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic sweep; the cargo-fuzz target covers far more.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_request(&bytes);
            let _ = decode_head(&bytes);
        }
    }
}
