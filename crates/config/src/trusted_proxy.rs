//! `WSGITrustedProxyHeaders` and `WSGITrustedProxies`: which headers a front
//! proxy may use to describe the original request, which peers count as such
//! a proxy, and how the headers rewrite the CGI variables.
//!
//! Semantics are mod_wsgi 6's (`wsgi_process_proxy_headers`), which extend
//! 4.9.4's: six families of headers; a family is "listed" when one of its
//! headers is named in `WSGITrustedProxyHeaders`. With a trusted peer (any
//! peer when `WSGITrustedProxies` is not given) each listed header present in
//! the request rewrites its variable, in the order listed. Afterwards every
//! header of a listed family is removed from the variables except the one
//! that was applied last, so an application never sees a spoofed synonym,
//! and from an untrusted peer it sees none of them.
//!
//! Deliberate differences from mod_wsgi: forwarded addresses and the peer
//! address are taken only as literal IP addresses (mod_wsgi asks the resolver,
//! so a client-controlled header can trigger DNS lookups); a header name that
//! cannot be a header (`X_Forwarded_For`) is a configuration error (mod_wsgi
//! stores a null name and crashes on the first request); IPv6 networks may be
//! written in upper case.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ValueError;

/// What a proxy header describes, and so which CGI variable it rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `REMOTE_ADDR`
    ClientAddress,
    /// `HTTPS`, and with it `wsgi.url_scheme`
    Scheme,
    /// `HTTP_HOST`
    Host,
    /// `SERVER_PORT`
    Port,
    /// `SERVER_NAME`
    ServerName,
    /// `SCRIPT_NAME` (the original kept in `mod_wsgi.script_name`, the new one
    /// also in `mod_wsgi.mount_point`)
    ScriptName,
}

const FAMILIES: [Family; 6] = [Family::ClientAddress, Family::Scheme, Family::Host, Family::Port, Family::ServerName, Family::ScriptName];

/// How a header's value is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Apply {
    /// A comma-separated chain of addresses, client first.
    ForwardedFor,
    /// The value as it is, into the family's variable.
    Verbatim,
    /// `http` or `https`.
    SchemeName,
    /// `On`/`Off`, `true`/`false`, `1`/`0`.
    SchemeFlag,
}

/// One header mod_wsgi understands (the CGI variable Apache makes of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// `HTTP_X_FORWARDED_FOR`, …
    pub variable: &'static str,
    pub family: Family,
    apply: Apply,
}

const fn header(variable: &'static str, family: Family, apply: Apply) -> ProxyHeader {
    ProxyHeader { variable, family, apply }
}

/// Every header of every family, in mod_wsgi's order.
pub const HEADERS: [ProxyHeader; 15] = [
    header("HTTP_X_FORWARDED_FOR", Family::ClientAddress, Apply::ForwardedFor),
    header("HTTP_X_CLIENT_IP", Family::ClientAddress, Apply::Verbatim),
    header("HTTP_X_REAL_IP", Family::ClientAddress, Apply::Verbatim),
    header("HTTP_X_FORWARDED_HOST", Family::Host, Apply::Verbatim),
    header("HTTP_X_HOST", Family::Host, Apply::Verbatim),
    header("HTTP_X_FORWARDED_SERVER", Family::ServerName, Apply::Verbatim),
    header("HTTP_X_FORWARDED_PORT", Family::Port, Apply::Verbatim),
    header("HTTP_X_SCRIPT_NAME", Family::ScriptName, Apply::Verbatim),
    header("HTTP_X_FORWARDED_SCRIPT_NAME", Family::ScriptName, Apply::Verbatim),
    header("HTTP_X_FORWARDED_PROTO", Family::Scheme, Apply::SchemeName),
    header("HTTP_X_FORWARDED_SCHEME", Family::Scheme, Apply::SchemeName),
    header("HTTP_X_SCHEME", Family::Scheme, Apply::SchemeName),
    header("HTTP_X_FORWARDED_HTTPS", Family::Scheme, Apply::SchemeFlag),
    header("HTTP_X_FORWARDED_SSL", Family::Scheme, Apply::SchemeFlag),
    header("HTTP_X_HTTPS", Family::Scheme, Apply::SchemeFlag),
];

/// The variable each family rewrites (the scheme is handled apart).
fn target(family: Family) -> &'static str {
    match family {
        Family::ClientAddress => "REMOTE_ADDR",
        Family::Scheme => "HTTPS",
        Family::Host => "HTTP_HOST",
        Family::Port => "SERVER_PORT",
        Family::ServerName => "SERVER_NAME",
        Family::ScriptName => "SCRIPT_NAME",
    }
}

/// Where a trusted `X-Script-Name` is also recorded, as mod_wsgi does.
pub const MOUNT_POINT: &str = "mod_wsgi.mount_point";

/// One word of `WSGITrustedProxyHeaders`: `Ok(None)` for a well-formed header
/// name that is not one of the fifteen (mod_wsgi accepts and ignores those).
/// Matching is case-insensitive; `-` stands for `_` as in CGI names.
pub fn parse_header(name: &str) -> Result<Option<ProxyHeader>, ValueError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ValueError::NotHeaderName { value: name.to_string() });
    }
    let variable: String = "HTTP_".chars().chain(name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() })).collect();
    Ok(HEADERS.iter().copied().find(|h| h.variable == variable))
}

/// An address or network of `WSGITrustedProxies`, as APR's `apr_ipsubnet_t`
/// (which mod_wsgi uses) reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpNet {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

impl IpNet {
    /// `a.b.c.d`, `a.b.c.d/bits`, `a.b.c.d/m.m.m.m`, a leading part of an
    /// address (`10.1` is 10.1.0.0/16), an IPv6 address, or one with `/bits`.
    pub fn parse(value: &str) -> Result<IpNet, ValueError> {
        let bad = |reason: &'static str| ValueError::NotTrustedProxy { value: value.to_string(), reason };
        let (address, mask) = match value.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (value, None),
        };
        if address.contains(':') {
            let ip: Ipv6Addr = address.parse().map_err(|_| bad("not an IPv6 address"))?;
            if ip.to_ipv4_mapped().is_some() {
                return Err(bad("an IPv4-mapped IPv6 address; write the IPv4 address"));
            }
            let mask = match mask {
                None => u128::MAX,
                Some(bits) => {
                    let bits = prefix_length(bits, 128).ok_or_else(|| bad("the prefix length must be from 1 to 128"))?;
                    u128::MAX << (128 - bits)
                }
            };
            return Ok(IpNet::V6 { network: u128::from(ip) & mask, mask });
        }
        let (network, mask) = match mask {
            None => match dotted_quad(address) {
                Some(ip) => (ip, u32::MAX),
                None => leading_octets(address).ok_or_else(|| bad("not an IPv4 address, a leading part of one, or an IPv6 address"))?,
            },
            Some(m) => {
                let ip = dotted_quad(address).ok_or_else(|| bad("a network with a mask needs a complete IPv4 address"))?;
                let mask = match prefix_length(m, 32) {
                    Some(bits) => u32::MAX << (32 - bits),
                    None => dotted_quad(m).ok_or_else(|| bad("the mask must be a prefix length from 1 to 32 or a dotted netmask"))?,
                };
                (ip, mask)
            }
        };
        Ok(IpNet::V4 { network: network & mask, mask })
    }

    /// Whether `ip` is in this network; an IPv4-mapped IPv6 address counts as
    /// its IPv4 address, as in `apr_ipsubnet_test`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (IpNet::V4 { network, mask }, IpAddr::V4(v4)) => u32::from(v4) & mask == network,
            (IpNet::V4 { network, mask }, IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some_and(|v4| u32::from(v4) & mask == network),
            (IpNet::V6 { network, mask }, IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_none() && u128::from(v6) & mask == network,
            (IpNet::V6 { .. }, IpAddr::V4(_)) => false,
        }
    }
}

/// `1..=max` written in decimal digits only.
fn prefix_length(bits: &str, max: u32) -> Option<u32> {
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    bits.parse().ok().filter(|b| (1..=max).contains(b))
}

/// Four decimal octets (APR reads leading zeros as decimal too).
fn dotted_quad(s: &str) -> Option<u32> {
    let octets: Vec<&str> = s.split('.').collect();
    if octets.len() != 4 {
        return None;
    }
    octets.iter().try_fold(0u32, |acc, o| Some(acc << 8 | u32::from(octet(o)?)))
}

fn octet(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// APR's legacy network form: one to four leading octets, optionally ending
/// in a dot (`10.`, `192.168`); the mask covers the octets given.
fn leading_octets(s: &str) -> Option<(u32, u32)> {
    let s = s.strip_suffix('.').unwrap_or(s);
    let octets: Vec<&str> = s.split('.').collect();
    if octets.is_empty() || octets.len() > 4 {
        return None;
    }
    let (mut network, mut mask) = (0u32, 0u32);
    for (i, o) in octets.iter().enumerate() {
        let shift = 24 - 8 * i as u32;
        network |= u32::from(octet(o)?) << shift;
        mask |= 0xff << shift;
    }
    Some((network, mask))
}

/// A literal IPv4 or IPv6 address, as found in `REMOTE_ADDR` or a forwarded chain.
pub fn literal_address(value: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(value).ok()?;
    if text.contains(':') { text.parse::<Ipv6Addr>().ok().map(IpAddr::V6) } else { text.parse::<Ipv4Addr>().ok().map(IpAddr::V4) }
}

fn trusted(proxies: &[IpNet], value: &[u8]) -> bool {
    literal_address(value).is_some_and(|ip| proxies.iter().any(|net| net.contains(ip)))
}

/// The CGI variables of one request, as the rewrite reads and changes them.
pub trait Variables {
    fn get(&self, name: &str) -> Option<Vec<u8>>;
    fn set(&mut self, name: &str, value: &[u8]);
    fn unset(&mut self, name: &str);
}

/// What the rewrite did, for the debug log.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// False when `WSGITrustedProxies` is given and the peer is not in it.
    pub peer_trusted: bool,
    /// The headers whose values were applied, in order.
    pub applied: Vec<&'static str>,
    /// The headers removed.
    pub removed: Vec<&'static str>,
}

/// Applies the trusted proxy headers of one request to its CGI variables.
/// `proxies` is `WSGITrustedProxies` (`None`: every peer is trusted).
pub fn rewrite(headers: &[ProxyHeader], proxies: Option<&[IpNet]>, vars: &mut dyn Variables) -> Rewritten {
    let peer_trusted = match proxies {
        None => true,
        Some(list) => vars.get("REMOTE_ADDR").is_some_and(|peer| trusted(list, &peer)),
    };
    let mut listed = [false; FAMILIES.len()];
    let mut kept: [Option<&'static str>; FAMILIES.len()] = [None; FAMILIES.len()];
    let mut applied = Vec::new();
    for h in headers {
        let family = h.family as usize;
        listed[family] = true;
        if !peer_trusted {
            continue;
        }
        let Some(value) = vars.get(h.variable) else { continue };
        apply(*h, &value, proxies, vars);
        kept[family] = Some(h.variable);
        applied.push(h.variable);
    }
    let mut removed = Vec::new();
    for h in HEADERS.iter().filter(|h| listed[h.family as usize] && kept[h.family as usize] != Some(h.variable)) {
        if vars.get(h.variable).is_some() {
            removed.push(h.variable);
        }
        vars.unset(h.variable);
    }
    Rewritten { peer_trusted, applied, removed }
}

fn apply(h: ProxyHeader, value: &[u8], proxies: Option<&[IpNet]>, vars: &mut dyn Variables) {
    match h.apply {
        Apply::ForwardedFor => {
            if let Some((client, chain)) = forwarded_for(value, proxies) {
                vars.set("REMOTE_ADDR", &client);
                if let Some(chain) = chain {
                    vars.set(h.variable, &chain);
                }
            }
        }
        Apply::Verbatim => {
            if h.family == Family::ScriptName {
                vars.set(MOUNT_POINT, value);
            }
            vars.set(target(h.family), value);
        }
        Apply::SchemeName => {
            if value.eq_ignore_ascii_case(b"https") {
                set_https(vars, true);
            } else if value.eq_ignore_ascii_case(b"http") {
                set_https(vars, false);
            }
        }
        Apply::SchemeFlag => {
            if [&b"on"[..], b"true", b"1"].iter().any(|v| value.eq_ignore_ascii_case(v)) {
                set_https(vars, true);
            } else if [&b"off"[..], b"false", b"0"].iter().any(|v| value.eq_ignore_ascii_case(v)) {
                set_https(vars, false);
            }
        }
    }
}

/// `HTTPS` decides `wsgi.url_scheme` (and is not passed on to the
/// application). A proxy's "http" is written as `off` rather than removing the
/// variable, so that it also wins over the scheme of Apache's own connection
/// to the proxy (as in mod_wsgi 6).
fn set_https(vars: &mut dyn Variables, on: bool) {
    vars.set("HTTPS", if on { b"on" } else { b"off" });
}

/// The client address and the rewritten chain (`None`: leave the header as it
/// is) from an `X-Forwarded-For` value; `None` when it lists nothing.
///
/// Without a list of trusted proxies the first entry is the client. With one,
/// the chain is walked from the right (the entry the peer added) past every
/// trusted proxy; the entry before the leftmost trusted one is the client (or
/// that proxy itself when every entry is trusted), and the chain is cut to
/// start there. Empty entries are skipped (RFC 9110 section 5.6.1).
fn forwarded_for(value: &[u8], proxies: Option<&[IpNet]>) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let items: Vec<&[u8]> = value.split(|&b| b == b',').map(trim).filter(|item| !item.is_empty()).collect();
    let last = items.len().checked_sub(1)?;
    let Some(proxies) = proxies else {
        return Some((items[0].to_vec(), None));
    };
    let leftmost_trusted = (0..items.len()).rev().take_while(|&i| trusted(proxies, items[i])).last();
    let client = match leftmost_trusted {
        Some(i) => i.saturating_sub(1),
        None => last,
    };
    Some((items[client].to_vec(), Some(items[client..].join(&b", "[..]))))
}

/// Without the whitespace APR's `apr_isspace` skips.
fn trim(item: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = item.iter().position(|b| !space(b)).unwrap_or(item.len());
    let end = item.iter().rposition(|b| !space(b)).map_or(start, |e| e + 1);
    &item[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Vars(Vec<(String, Vec<u8>)>);

    impl Variables for Vars {
        fn get(&self, name: &str) -> Option<Vec<u8>> {
            self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        }
        fn set(&mut self, name: &str, value: &[u8]) {
            match self.0.iter_mut().find(|(k, _)| k == name) {
                Some(entry) => entry.1 = value.to_vec(),
                None => self.0.push((name.to_string(), value.to_vec())),
            }
        }
        fn unset(&mut self, name: &str) {
            self.0.retain(|(k, _)| k != name);
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect())
    }

    fn get(v: &Vars, name: &str) -> Option<String> {
        v.get(name).map(|b| String::from_utf8(b).unwrap())
    }

    fn headers(names: &[&str]) -> Vec<ProxyHeader> {
        names.iter().map(|n| parse_header(n).unwrap().unwrap()).collect()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| IpNet::parse(n).unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn header_names_map_to_their_cgi_variables() {
        assert_eq!(parse_header("X-Forwarded-For").unwrap().unwrap().variable, "HTTP_X_FORWARDED_FOR");
        assert_eq!(parse_header("x-forwarded-proto").unwrap().unwrap().family, Family::Scheme);
        assert_eq!(parse_header("X-REAL-IP").unwrap().unwrap().family, Family::ClientAddress);
        // Every known header round-trips from its usual spelling.
        for h in HEADERS {
            let name = h.variable.strip_prefix("HTTP_").unwrap().replace('_', "-").to_lowercase();
            assert_eq!(parse_header(&name).unwrap(), Some(h), "{name}");
        }
        // Well-formed but unknown: accepted and ignored, as mod_wsgi does.
        assert_eq!(parse_header("X-Forwarded-Prefix").unwrap(), None);
        assert_eq!(parse_header("Forwarded").unwrap(), None);
        // Not header names at all.
        for bad in ["", "X_Forwarded_For", "HTTP_X_FORWARDED_FOR", "X-Forwarded-For:", "X Forwarded", "Xé"] {
            assert_eq!(parse_header(bad), Err(ValueError::NotHeaderName { value: bad.to_string() }), "{bad:?}");
        }
    }

    #[test]
    fn families_cover_all_six_and_each_header_once() {
        for family in FAMILIES {
            assert!(HEADERS.iter().any(|h| h.family == family), "{family:?}");
        }
        for (i, h) in HEADERS.iter().enumerate() {
            assert!(HEADERS[i + 1..].iter().all(|o| o.variable != h.variable));
        }
        assert_eq!(HEADERS.iter().filter(|h| h.family == Family::Scheme).count(), 6);
        assert_eq!(HEADERS.iter().filter(|h| h.family == Family::ClientAddress).count(), 3);
    }

    #[test]
    fn ipv4_networks_parse_as_apr_reads_them() {
        let v4 = |n: [u8; 4], m: [u8; 4]| IpNet::V4 { network: u32::from_be_bytes(n), mask: u32::from_be_bytes(m) };
        let cases: &[(&str, IpNet)] = &[
            ("127.0.0.1", v4([127, 0, 0, 1], [255; 4])),
            ("10.0.0.0/8", v4([10, 0, 0, 0], [255, 0, 0, 0])),
            ("10.1.2.3/8", v4([10, 0, 0, 0], [255, 0, 0, 0])),
            ("192.168.1.0/255.255.255.0", v4([192, 168, 1, 0], [255, 255, 255, 0])),
            ("172.16.0.0/12", v4([172, 16, 0, 0], [255, 240, 0, 0])),
            ("1.2.3.4/32", v4([1, 2, 3, 4], [255; 4])),
            ("0.0.0.0/1", v4([0, 0, 0, 0], [128, 0, 0, 0])),
            ("10", v4([10, 0, 0, 0], [255, 0, 0, 0])),
            ("10.", v4([10, 0, 0, 0], [255, 0, 0, 0])),
            ("192.168", v4([192, 168, 0, 0], [255, 255, 0, 0])),
            ("192.168.7.", v4([192, 168, 7, 0], [255, 255, 255, 0])),
            ("010.000.000.001", v4([10, 0, 0, 1], [255; 4])),
        ];
        for (text, expected) in cases {
            assert_eq!(IpNet::parse(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn ipv6_networks_parse() {
        assert_eq!(IpNet::parse("::1"), Ok(IpNet::V6 { network: 1, mask: u128::MAX }));
        let IpNet::V6 { network, mask } = IpNet::parse("fd00:ABCD::7/16").unwrap() else { panic!() };
        assert_eq!((network, mask), (0xfd00u128 << 112, u128::MAX << 112));
        assert!(IpNet::parse("2001:db8::/32").is_ok());
        assert!(IpNet::parse("::/128").is_ok());
    }

    #[test]
    fn bad_networks_are_refused_with_a_reason() {
        for bad in [
            "", "localhost", "proxy.example.com", "10.0.0.0/", "10.0.0.0/0", "10.0.0.0/33", "10.0.0.0/x", "10.0/16",
            "256.0.0.1", "1.2.3.4.5", "1..2", ".1", "1.2.3.4/255.255.0", "::1/0", "::1/129", "::1/255.0.0.0",
            "::ffff:10.0.0.1", "fe80::1%eth0", "1:2:3", "10.0.0.1/+8", "10.0.0.1/8/8", "1234",
        ] {
            let e = IpNet::parse(bad).unwrap_err();
            assert!(matches!(&e, ValueError::NotTrustedProxy { value, .. } if value == bad), "{bad:?}: {e:?}");
        }
    }

    #[test]
    fn containment_follows_apr() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        // IPv4-mapped IPv6 peers match IPv4 networks; IPv6 networks never match IPv4.
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("::ffff:11.1.2.3")));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe00::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(!IpNet::parse("::/1").unwrap().contains(ip("::ffff:10.0.0.1")));
        let host = IpNet::parse("127.0.0.1").unwrap();
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let legacy = IpNet::parse("192.168").unwrap();
        assert!(legacy.contains(ip("192.168.200.1")) && !legacy.contains(ip("192.169.0.1")));
        let netmask = IpNet::parse("192.168.1.0/255.255.255.128").unwrap();
        assert!(netmask.contains(ip("192.168.1.127")) && !netmask.contains(ip("192.168.1.128")));
    }

    #[test]
    fn literal_addresses_only() {
        assert_eq!(literal_address(b"127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(literal_address(b"::1"), Some(ip("::1")));
        for not in [&b""[..], b"localhost", b"1.2.3.4:80", b"[::1]", b"unknown", b"1.2.3", b"\xff"] {
            assert_eq!(literal_address(not), None, "{not:?}");
        }
    }

    const ALL: &[&str] = &[
        "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Server", "X-Script-Name",
    ];

    fn spoofed(peer: &str) -> Vars {
        vars(&[
            ("REMOTE_ADDR", peer),
            ("HTTP_HOST", "internal:8080"),
            ("SERVER_NAME", "internal"),
            ("SERVER_PORT", "8080"),
            ("SCRIPT_NAME", "/app"),
            ("HTTP_X_FORWARDED_FOR", "203.0.113.9"),
            ("HTTP_X_REAL_IP", "203.0.113.10"),
            ("HTTP_X_CLIENT_IP", "203.0.113.11"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_FORWARDED_SSL", "on"),
            ("HTTP_X_FORWARDED_HOST", "www.example.com"),
            ("HTTP_X_HOST", "other.example.com"),
            ("HTTP_X_FORWARDED_PORT", "443"),
            ("HTTP_X_FORWARDED_SERVER", "www.example.com"),
            ("HTTP_X_SCRIPT_NAME", "/mount"),
            ("HTTP_X_FORWARDED_SCRIPT_NAME", "/other"),
            ("HTTP_USER_AGENT", "test"),
        ])
    }

    #[test]
    fn trusted_peer_rewrites_every_family_and_keeps_only_the_applied_header() {
        let mut v = spoofed("10.0.0.5");
        let proxies = nets(&["10.0.0.0/8"]);
        let out = rewrite(&headers(ALL), Some(&proxies), &mut v);
        assert!(out.peer_trusted);
        assert_eq!(out.applied.len(), 6);
        assert_eq!(get(&v, "REMOTE_ADDR").as_deref(), Some("203.0.113.9"));
        assert_eq!(get(&v, "HTTPS").as_deref(), Some("on"));
        assert_eq!(get(&v, "HTTP_HOST").as_deref(), Some("www.example.com"));
        assert_eq!(get(&v, "SERVER_PORT").as_deref(), Some("443"));
        assert_eq!(get(&v, "SERVER_NAME").as_deref(), Some("www.example.com"));
        assert_eq!(get(&v, "SCRIPT_NAME").as_deref(), Some("/mount"));
        assert_eq!(get(&v, MOUNT_POINT).as_deref(), Some("/mount"));
        // The applied headers stay; their synonyms are gone.
        for kept in ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_SERVER", "HTTP_X_SCRIPT_NAME"] {
            assert!(v.get(kept).is_some(), "{kept}");
        }
        for gone in ["HTTP_X_REAL_IP", "HTTP_X_CLIENT_IP", "HTTP_X_FORWARDED_SSL", "HTTP_X_HOST", "HTTP_X_FORWARDED_SCRIPT_NAME"] {
            assert_eq!(v.get(gone), None, "{gone}");
        }
        assert_eq!(out.removed.len(), 5);
        assert_eq!(get(&v, "HTTP_USER_AGENT").as_deref(), Some("test"));
    }

    #[test]
    fn untrusted_peer_changes_nothing_and_loses_every_listed_family() {
        let mut v = spoofed("127.0.0.1");
        let proxies = nets(&["10.0.0.0/8"]);
        let out = rewrite(&headers(ALL), Some(&proxies), &mut v);
        assert!(!out.peer_trusted && out.applied.is_empty());
        assert_eq!(
            v,
            vars(&[
                ("REMOTE_ADDR", "127.0.0.1"),
                ("HTTP_HOST", "internal:8080"),
                ("SERVER_NAME", "internal"),
                ("SERVER_PORT", "8080"),
                ("SCRIPT_NAME", "/app"),
                ("HTTP_USER_AGENT", "test"),
            ])
        );
        assert_eq!(out.removed.len(), 15 - 4);
    }

    #[test]
    fn only_listed_families_are_stripped() {
        // Only the client address family is listed: scheme and host headers
        // from an untrusted peer are none of this feature's business.
        let mut v = spoofed("127.0.0.1");
        let proxies = nets(&["10.0.0.0/8"]);
        rewrite(&headers(&["X-Real-IP"]), Some(&proxies), &mut v);
        for gone in ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_CLIENT_IP"] {
            assert_eq!(v.get(gone), None);
        }
        for left in ["HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_SSL", "HTTP_X_HOST", "HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_PORT"] {
            assert!(v.get(left).is_some(), "{left}");
        }
        assert_eq!(get(&v, "REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn each_family_alone_from_a_trusted_peer() {
        let proxies = nets(&["127.0.0.1"]);
        let cases: &[(&str, &str, &str, &str)] = &[
            ("X-Client-IP", "HTTP_X_CLIENT_IP", "REMOTE_ADDR", "203.0.113.11"),
            ("X-Real-IP", "HTTP_X_REAL_IP", "REMOTE_ADDR", "203.0.113.10"),
            ("X-Host", "HTTP_X_HOST", "HTTP_HOST", "other.example.com"),
            ("X-Forwarded-Host", "HTTP_X_FORWARDED_HOST", "HTTP_HOST", "www.example.com"),
            ("X-Forwarded-Port", "HTTP_X_FORWARDED_PORT", "SERVER_PORT", "443"),
            ("X-Forwarded-Server", "HTTP_X_FORWARDED_SERVER", "SERVER_NAME", "www.example.com"),
            ("X-Forwarded-Script-Name", "HTTP_X_FORWARDED_SCRIPT_NAME", "SCRIPT_NAME", "/other"),
            ("X-Forwarded-SSL", "HTTP_X_FORWARDED_SSL", "HTTPS", "on"),
        ];
        for (name, variable, target, value) in cases {
            let mut v = spoofed("127.0.0.1");
            let out = rewrite(&headers(&[name]), Some(&proxies), &mut v);
            assert_eq!(out.applied, [*variable]);
            assert_eq!(get(&v, target).as_deref(), Some(*value), "{name}");
            assert!(v.get(variable).is_some(), "{name}: the applied header stays");
        }
    }

    #[test]
    fn scheme_values() {
        let proxies = nets(&["127.0.0.1"]);
        let case = |header: &str, value: &str| {
            let variable = parse_header(header).unwrap().unwrap().variable;
            let mut v = vars(&[("REMOTE_ADDR", "127.0.0.1"), ("HTTPS", "on"), (variable, value)]);
            rewrite(&headers(&[header]), Some(&proxies), &mut v);
            get(&v, "HTTPS")
        };
        for (header, value, expected) in [
            ("X-Forwarded-Proto", "https", "on"),
            ("X-Forwarded-Proto", "HTTPS", "on"),
            ("X-Forwarded-Proto", "http", "off"),
            ("X-Forwarded-Scheme", "Http", "off"),
            ("X-Scheme", "https", "on"),
            ("X-Forwarded-HTTPS", "On", "on"),
            ("X-Forwarded-HTTPS", "true", "on"),
            ("X-HTTPS", "1", "on"),
            ("X-Forwarded-SSL", "off", "off"),
            ("X-Forwarded-SSL", "FALSE", "off"),
            ("X-HTTPS", "0", "off"),
        ] {
            assert_eq!(case(header, value).as_deref(), Some(expected), "{header}: {value}");
        }
        // Anything else leaves the connection's own scheme.
        for (header, value) in [("X-Forwarded-Proto", "ftp"), ("X-Forwarded-Proto", "on"), ("X-HTTPS", "https"), ("X-HTTPS", "yes"), ("X-Scheme", "")] {
            assert_eq!(case(header, value).as_deref(), Some("on"), "{header}: {value}");
        }
    }

    fn chain(proxies: Option<&[&str]>, value: &str) -> (String, Option<String>) {
        let list = proxies.map(nets);
        let mut v = vars(&[("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_FORWARDED_FOR", value)]);
        let mut with_peer = list.clone();
        if let Some(l) = with_peer.as_mut() {
            l.push(IpNet::parse("127.0.0.1").unwrap());
        }
        rewrite(&headers(&["X-Forwarded-For"]), with_peer.as_deref(), &mut v);
        (get(&v, "REMOTE_ADDR").unwrap(), get(&v, "HTTP_X_FORWARDED_FOR"))
    }

    #[test]
    fn forwarded_chains_walk_right_to_left_through_trusted_proxies() {
        let p = Some(&["10.0.0.0/8", "192.168.0.0/16"][..]);
        let cases: &[(&str, &str, &str)] = &[
            // The peer's own client is the last entry when it is not a trusted proxy.
            ("203.0.113.9", "203.0.113.9", "203.0.113.9"),
            ("198.51.100.1, 203.0.113.9", "203.0.113.9", "203.0.113.9"),
            // Trusted proxies on the right are skipped; entries before the client are dropped.
            ("198.51.100.1, 203.0.113.9, 10.1.1.1", "203.0.113.9", "203.0.113.9, 10.1.1.1"),
            ("198.51.100.1,203.0.113.9,192.168.1.1,10.1.1.1", "203.0.113.9", "203.0.113.9, 192.168.1.1, 10.1.1.1"),
            // An untrusted address between trusted ones ends the walk there.
            ("10.0.0.1, 203.0.113.9, 10.0.0.2", "203.0.113.9", "203.0.113.9, 10.0.0.2"),
            // Every entry trusted: the leftmost proxy is the client.
            ("10.0.0.1, 10.0.0.2", "10.0.0.1", "10.0.0.1, 10.0.0.2"),
            // A non-address stops the walk and is reported as it is (mod_wsgi does the same).
            ("203.0.113.9, unknown, 10.0.0.2", "unknown", "unknown, 10.0.0.2"),
            ("203.0.113.9, proxy.example, 10.0.0.2", "proxy.example", "proxy.example, 10.0.0.2"),
            // Whitespace and empty entries.
            ("  198.51.100.1 ,\t203.0.113.9 , , 10.1.1.1  ", "203.0.113.9", "203.0.113.9, 10.1.1.1"),
            (",,203.0.113.9,,", "203.0.113.9", "203.0.113.9"),
            // IPv6 entries.
            ("2001:db8::1, 10.0.0.3", "2001:db8::1", "2001:db8::1, 10.0.0.3"),
        ];
        for (value, client, rest) in cases {
            assert_eq!(chain(p, value), (client.to_string(), Some(rest.to_string())), "{value:?}");
        }
    }

    #[test]
    fn forwarded_chain_without_a_proxy_list_takes_the_first_entry() {
        for (value, client) in [("203.0.113.9", "203.0.113.9"), ("203.0.113.9, 10.0.0.1", "203.0.113.9"), (" , 198.51.100.7 ,x", "198.51.100.7")] {
            assert_eq!(chain(None, value), (client.to_string(), Some(value.to_string())), "{value:?}");
        }
    }

    #[test]
    fn empty_forwarded_chain_changes_nothing_but_counts_as_applied() {
        for value in ["", "  ", ", ,"] {
            assert_eq!(chain(Some(&[]), value), ("127.0.0.1".to_string(), Some(value.to_string())));
        }
        let mut v = vars(&[("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_FORWARDED_FOR", ""), ("HTTP_X_REAL_IP", "1.2.3.4")]);
        rewrite(&headers(&["X-Forwarded-For"]), None, &mut v);
        assert_eq!(v, vars(&[("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_FORWARDED_FOR", "")]));
    }

    #[test]
    fn later_listed_header_of_a_family_wins() {
        let mut v = spoofed("10.0.0.5");
        rewrite(&headers(&["X-Forwarded-For", "X-Real-IP"]), None, &mut v);
        assert_eq!(get(&v, "REMOTE_ADDR").as_deref(), Some("203.0.113.10"));
        assert_eq!(v.get("HTTP_X_FORWARDED_FOR"), None);
        assert_eq!(get(&v, "HTTP_X_REAL_IP").as_deref(), Some("203.0.113.10"));
        // A listed header missing from the request does not displace an applied one.
        let mut v = vars(&[("REMOTE_ADDR", "10.0.0.5"), ("HTTP_X_FORWARDED_FOR", "203.0.113.9")]);
        rewrite(&headers(&["X-Forwarded-For", "X-Real-IP"]), None, &mut v);
        assert_eq!(get(&v, "REMOTE_ADDR").as_deref(), Some("203.0.113.9"));
        assert!(v.get("HTTP_X_FORWARDED_FOR").is_some());
    }

    #[test]
    fn peer_trust() {
        let list = nets(&["10.0.0.0/8", "::1"]);
        let trusted_for = |peer: Option<&str>| {
            let mut v = match peer {
                Some(p) => vars(&[("REMOTE_ADDR", p), ("HTTP_X_REAL_IP", "1.2.3.4")]),
                None => vars(&[("HTTP_X_REAL_IP", "1.2.3.4")]),
            };
            rewrite(&headers(&["X-Real-IP"]), Some(&list), &mut v).peer_trusted
        };
        assert!(trusted_for(Some("10.9.9.9")));
        assert!(trusted_for(Some("::1")));
        assert!(trusted_for(Some("::ffff:10.0.0.1")));
        assert!(!trusted_for(Some("127.0.0.1")));
        assert!(!trusted_for(Some("localhost")));
        assert!(!trusted_for(Some("")));
        assert!(!trusted_for(None));
        // An empty list trusts nobody; no list trusts everybody.
        let mut v = vars(&[("REMOTE_ADDR", "10.0.0.1"), ("HTTP_X_REAL_IP", "1.2.3.4")]);
        assert!(!rewrite(&headers(&["X-Real-IP"]), Some(&[]), &mut v).peer_trusted);
        assert_eq!(v.get("HTTP_X_REAL_IP"), None);
        let mut v = vars(&[("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_REAL_IP", "1.2.3.4")]);
        assert!(rewrite(&headers(&["X-Real-IP"]), None, &mut v).peer_trusted);
        assert_eq!(get(&v, "REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn nothing_listed_changes_nothing() {
        let before = spoofed("10.0.0.1");
        let mut v = spoofed("10.0.0.1");
        let out = rewrite(&[], None, &mut v);
        assert_eq!((v, out.applied.len(), out.removed.len()), (before, 0, 0));
    }

    #[test]
    fn trimming_matches_apr_isspace() {
        assert_eq!(trim(b" \t\r\n\x0b\x0c a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b""), b"");
    }
}
