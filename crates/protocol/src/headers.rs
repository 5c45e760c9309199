//! Validation of the status line and headers of a response (PEP 3333 and RFC
//! 9110/9112): what an application passes to `start_response`, checked where
//! it runs, and what a daemon sends, checked again by the Apache child. Pure,
//! so both sides share it and it is fuzzed without Python.

/// Headers that concern one connection only; a WSGI application must not set them
/// (PEP 3333, "Other HTTP Features"): the server owns the connection.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// RFC 9110 `tchar`.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Parses `"NNN Reason"`: three digits, one space, a reason phrase of visible
/// characters, spaces and tabs (possibly empty). Returns the status code.
pub fn parse_status(status: &str) -> Result<u16, String> {
    let bytes = status.as_bytes();
    if bytes.len() < 4 || !bytes[..3].iter().all(u8::is_ascii_digit) || bytes[3] != b' ' {
        return Err(format!("status line {status:?} is not a 3-digit code, a space and a reason phrase"));
    }
    let code: u16 = status[..3].parse().expect("three ASCII digits");
    if !(100..=999).contains(&code) {
        return Err(format!("status code {code} is out of range"));
    }
    if let Some(c) = status.chars().skip(4).find(|&c| c != '\t' && (c < ' ' || c == '\x7f' || c as u32 > 0xff)) {
        return Err(format!("status line {status:?} contains the character {c:?}"));
    }
    if status.ends_with([' ', '\t']) && status.len() > 4 {
        return Err(format!("status line {status:?} has trailing white space"));
    }
    Ok(code)
}

pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(format!("header name {name:?} is not a valid HTTP token"));
    }
    if is_hop_by_hop(name) {
        return Err(format!("hop-by-hop header {name:?} is not allowed in a WSGI response"));
    }
    Ok(())
}

/// Values must be Latin-1 with no control characters other than tab (no CR/LF:
/// they would split the header and let the value inject headers of its own).
pub fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|&c| (c < ' ' && c != '\t') || c == '\x7f' || c as u32 > 0xff) {
        let what = if (c as u32) > 0xff { "a character outside Latin-1" } else { "a control character" };
        return Err(format!("value of header {name:?} contains {what} ({c:?})"));
    }
    Ok(())
}

/// A Content-Length value: decimal digits only.
pub fn parse_content_length(value: &str) -> Result<u64, String> {
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Content-Length {value:?} is not a non-negative integer"));
    }
    v.parse().map_err(|_| format!("Content-Length {value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("200 OK"), Ok(200));
        assert_eq!(parse_status("404 Not Found"), Ok(404));
        assert_eq!(parse_status("299 "), Ok(299));
        for bad in ["200", "200OK", "abc OK", "20 OK", "2000 OK", " 200 OK", "200 OK\r\nX: y", "200 OK\n", "099 Low", "200 OK "] {
            assert!(parse_status(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn header_names() {
        assert!(check_header_name("X-Custom_1").is_ok());
        for bad in ["", "X Foo", "X:Foo", "Bad\r\n", "Ünï"] {
            assert!(check_header_name(bad).is_err(), "{bad:?} accepted");
        }
        for hop in ["Connection", "keep-alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer"] {
            assert!(check_header_name(hop).unwrap_err().contains("hop-by-hop"), "{hop}");
        }
    }

    #[test]
    fn header_values() {
        assert!(check_header_value("X", "a\tb café").is_ok());
        assert!(check_header_value("X", "a\r\nSet-Cookie: x").unwrap_err().contains("control"));
        assert!(check_header_value("X", "a\nb").is_err());
        assert!(check_header_value("X", "a\0").is_err());
        assert!(check_header_value("X", "€").unwrap_err().contains("Latin-1"));
    }

    #[test]
    fn content_lengths() {
        assert_eq!(parse_content_length("42"), Ok(42));
        assert_eq!(parse_content_length(" 7 "), Ok(7));
        for bad in ["", "abc", "-1", "1.5", "99999999999999999999999"] {
            assert!(parse_content_length(bad).is_err(), "{bad:?} accepted");
        }
    }
}
