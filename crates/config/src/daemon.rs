//! `WSGIDaemonProcess name [option=value ...]`: the options of a daemon process
//! group, parsed and validated in pure Rust so that every rule is unit-tested.
//! User and group names are only recorded here; the code that forks the daemons
//! resolves them at start-up, when the system's user database is the one that counts.
//!
//! Option names, defaults and limits follow mod_wsgi 6.0 (`wsgi_add_daemon_process`)
//! so that an existing configuration keeps its meaning, and so does mod_wsgi's
//! leniency where it is harmless: a repeated option is "last one wins" (with a
//! warning). We are stricter where leniency hides mistakes: a time is digits
//! with an optional fraction (`2.5`), never `1e3` or `10s` (which mod_wsgi's
//! `atoi` reads as 1 and 10).
//! Options that mod_wsgi has and we do not implement are refused with the reason,
//! never ignored: an ignored `chroot=` would run the application outside the jail
//! its administrator asked for.

use std::time::Duration;

use super::parse::{on_off, python_path};
use super::{ConfigError, ValueError};

const DIRECTIVE: &str = "WSGIDaemonProcess";

/// Default request threads per process (mod_wsgi's).
pub const DEFAULT_THREADS: u32 = 15;
/// Largest `threads=`: mod_wsgi requires fewer than 65534.
pub const MAX_THREADS: u32 = 65533;
/// The longest response header line the Apache child accepts by default.
pub const DEFAULT_HEADER_BUFFER_SIZE: u64 = 32768;
/// Unflushed response bytes after which the Apache child forces a flush.
pub const DEFAULT_RESPONSE_BUFFER_SIZE: u64 = 8 * 1024 * 1024;
/// How long to wait for more daemon data before flushing to the client (mod_wsgi 6.0).
pub const DEFAULT_RESPONSE_FLUSH_DELAY: Duration = Duration::from_millis(5);

/// The largest number of seconds (or milliseconds) a time option accepts: about 68
/// years, which keeps `Instant + timeout` and conversions to C's `int`/`time_t`
/// arithmetic far from overflow in the code that uses these values.
const MAX_TIME_UNITS: u64 = i32::MAX as u64;

/// How a user or group was given: a name (resolved later, at start-up, with
/// getpwnam/getgrnam by other code) or a numeric id (`#1000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Name(String),
    Id(u32),
}

/// One daemon process group as configured. Times of zero that mean "off" in
/// mod_wsgi are `None`; the `Duration` fields without `Option` always apply.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonOptions {
    pub name: String,
    pub processes: u32,
    /// `wsgi.multiprocess` is true when `processes=` was given, even `processes=1`
    /// (mod_wsgi's rule: the administrator said the group may grow).
    pub processes_given: bool,
    pub threads: u32,
    /// Run-as user; `None` means Apache's `User`.
    pub user: Option<Principal>,
    /// Primary group; `None` means Apache's `Group`.
    pub group: Option<Principal>,
    /// Extra groups for `setgroups`; empty means `initgroups` for the user.
    pub supplementary_groups: Vec<Principal>,
    pub umask: Option<u32>,
    /// Initial working directory (absolute).
    pub home: Option<String>,
    /// `LANG`.
    pub lang: Option<String>,
    /// `LC_ALL` (and `setlocale`).
    pub locale: Option<String>,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    /// `PYTHON_EGG_CACHE`.
    pub python_eggs: Option<String>,
    /// The process title; `%{GROUP}` is already expanded to `(wsgi:NAME)`.
    pub display_name: Option<String>,
    /// Recycle a process after this many requests; 0 = never.
    pub maximum_requests: u64,
    pub restart_interval: Option<Duration>,
    pub inactivity_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub interrupt_timeout: Option<Duration>,
    pub graceful_timeout: Duration,
    /// Drain time on SIGUSR1; `None` means `graceful_timeout`.
    pub eviction_timeout: Option<Duration>,
    pub shutdown_timeout: Duration,
    /// GIL-held-too-long detection; zero turns it off (as in mod_wsgi).
    pub deadlock_timeout: Duration,
    pub startup_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// `None` means Apache's `Timeout`.
    pub socket_timeout: Option<Duration>,
    pub queue_timeout: Option<Duration>,
    pub listen_backlog: u32,
    /// Owner of the group's listening socket; `None` means Apache's `User`.
    pub socket_user: Option<Principal>,
    /// Scripts (and their directories) must be owned by this user, else 403.
    /// Mutually exclusive with `script_group`.
    pub script_user: Option<Principal>,
    /// Scripts (and their directories) must be owned by this group, else 403.
    pub script_group: Option<Principal>,
    /// `RLIMIT_CPU`, seconds.
    pub cpu_time_limit: Option<u64>,
    /// `setpriority()`, -20..=20.
    pub cpu_priority: i32,
    /// `RLIMIT_DATA`, bytes.
    pub memory_limit: Option<u64>,
    /// `RLIMIT_AS`, bytes.
    pub virtual_memory_limit: Option<u64>,
    /// Request thread stack size, bytes; `None` is the OS default.
    pub stack_size: Option<u64>,
    pub header_buffer_size: u64,
    pub response_buffer_size: u64,
    /// `None` means `socket_timeout`.
    pub response_socket_timeout: Option<Duration>,
    /// `SO_SNDBUF`; `None` is the OS default.
    pub send_buffer_size: Option<u64>,
    /// `SO_RCVBUF`; `None` is the OS default.
    pub receive_buffer_size: Option<u64>,
    /// Given in milliseconds; defaults to 5 ms, and `=0` (`None`) flushes on any stall.
    /// `server-metrics=On`: mod_wsgi.server_metrics() answers in the group's processes.
    pub server_metrics: bool,
    pub response_flush_delay: Option<Duration>,
    /// `sys.setswitchinterval()`; `None` keeps Python's default.
    pub switch_interval: Option<f64>,
}

impl DaemonOptions {
    /// A group with mod_wsgi's defaults for every option.
    pub fn new(name: &str) -> DaemonOptions {
        DaemonOptions {
            name: name.to_string(),
            processes: 1,
            processes_given: false,
            threads: DEFAULT_THREADS,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            home: None,
            lang: None,
            locale: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            display_name: None,
            maximum_requests: 0,
            restart_interval: None,
            inactivity_timeout: None,
            request_timeout: None,
            interrupt_timeout: None,
            graceful_timeout: Duration::from_secs(15),
            eviction_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            deadlock_timeout: Duration::from_secs(300),
            startup_timeout: None,
            connect_timeout: Duration::from_secs(15),
            socket_timeout: None,
            queue_timeout: None,
            listen_backlog: 100,
            socket_user: None,
            script_user: None,
            script_group: None,
            cpu_time_limit: None,
            cpu_priority: 0,
            memory_limit: None,
            virtual_memory_limit: None,
            stack_size: None,
            header_buffer_size: DEFAULT_HEADER_BUFFER_SIZE,
            response_buffer_size: DEFAULT_RESPONSE_BUFFER_SIZE,
            response_socket_timeout: None,
            send_buffer_size: None,
            receive_buffer_size: None,
            response_flush_delay: Some(DEFAULT_RESPONSE_FLUSH_DELAY),
            server_metrics: false,
            switch_interval: None,
        }
    }
}

/// Parses the directive's arguments (`args[0]` is the group name). The errors'
/// messages are complete, such as "WSGIDaemonProcess: option 'threads': '0x' is not a whole number".
pub fn parse(args: &[&str]) -> Result<DaemonOptions, ConfigError> {
    parse_with_warnings(args).map(|(options, _)| options)
}

/// As [`parse`], with what the administrator should hear about a configuration
/// that mod_wsgi accepts and so do we: a repeated option (the last one wins, as
/// in mod_wsgi), an option that does nothing any more, an odd group name.
/// Each warning is a complete sentence naming the directive and the group.
pub fn parse_with_warnings(args: &[&str]) -> Result<(DaemonOptions, Vec<String>), ConfigError> {
    let directive = || DIRECTIVE.to_string();
    let Some((name, options)) = args.split_first() else {
        return Err(ConfigError::Usage { directive: directive(), usage: "a process group name, then optional name=value options" });
    };
    let mut warnings = check_group_name(name)?.into_iter().collect::<Vec<_>>();
    let mut out = DaemonOptions::new(name);
    let mut seen: Vec<&str> = Vec::with_capacity(options.len());
    for opt in options {
        let Some((key, value)) = opt.split_once('=') else {
            return Err(ConfigError::MalformedOption { directive: directive(), option: opt.to_string(), valid: Some(&[]) });
        };
        if let Some(reason) = refused(key) {
            return Err(ConfigError::UnsupportedOption { directive: directive(), option: key.to_string(), reason });
        }
        if let Some(why) = inert(key) {
            warnings.push(format!("{DIRECTIVE} {name}: option '{key}' is accepted but does nothing: {why}"));
            continue;
        }
        let Some((_, setter)) = OPTIONS.iter().find(|(k, _)| *k == key) else {
            return Err(unknown_option(key));
        };
        if value.is_empty() {
            // mod_wsgi takes an empty value for these as "not set", and
            // mod_wsgi-express writes `python-path=''`.
            if EMPTY_IS_UNSET.contains(&key) {
                continue;
            }
            return Err(ConfigError::MissingValue { directive: directive(), option: key.to_string() });
        }
        if seen.contains(&key) {
            // mod_wsgi lets the last one win; so do we, but say so: a repeated
            // option is usually a merge mistake.
            warnings.push(format!("{DIRECTIVE} {name}: option '{key}' is given more than once; the last value ('{value}') is used"));
        } else {
            seen.push(key);
        }
        setter(&mut out, value)
            .map_err(|reason| ConfigError::InvalidValue { directive: directive(), option: Some(key.to_string()), reason })?;
    }
    if out.script_user.is_some() && out.script_group.is_some() {
        return Err(ConfigError::ConflictingOptions {
            directive: directive(),
            options: ["script-user", "script-group"],
            reason: "a script's owner is checked against one or the other",
        });
    }
    Ok((out, warnings))
}

/// mod_wsgi takes any non-empty name (the socket's file name does not contain
/// it, here or there). Names that cannot be what was meant are accepted with a
/// warning, as mod_wsgi accepts them.
fn check_group_name(name: &str) -> Result<Option<String>, ConfigError> {
    let refuse = |why| Err(ConfigError::InvalidGroupName { directive: DIRECTIVE.to_string(), name: name.to_string(), reason: why });
    if name.is_empty() {
        return refuse("it must not be empty");
    }
    if name.chars().any(|c| c.is_control() && c != '\t') {
        return refuse("it must not contain control characters");
    }
    let warning = if name.starts_with("%{") {
        Some("WSGIProcessGroup reads a name starting with '%{' as a special value, so no request can select this group")
    } else if name.contains('=') {
        Some("it looks like an option: the first argument is the process group's name")
    } else {
        None
    };
    Ok(warning.map(|why| format!("{DIRECTIVE}: process group name '{name}' is accepted, but {why}")))
}

/// Options whose empty value mod_wsgi accepts: it means the option is not set.
const EMPTY_IS_UNSET: &[&str] = &["lang", "locale", "python-home", "python-path", "python-eggs", "display-name"];

/// Options mod_wsgi 4.9 has that do nothing here, with why.
fn inert(key: &str) -> Option<&'static str> {
    match key {
        "newrelic-config-file" | "newrelic-environment" => {
            Some("mod_wsgi 6.0.0 removed its New Relic support; configure the New Relic agent from the application instead")
        }
        _ => None,
    }
}

/// Options mod_wsgi knows that we refuse, with the reason.
fn refused(key: &str) -> Option<&'static str> {
    match key {
        "chroot" => Some(
            "chroot is not supported: it is deprecated in mod_wsgi and breaks Python's imports; \
             use a container or systemd's RootDirectory instead",
        ),
        _ => None,
    }
}

fn unknown_option(key: &str) -> ConfigError {
    // mod_wsgi's names are case-sensitive, lower-case with dashes; point at the
    // intended one when only the spelling style is off.
    let normalized = key.to_ascii_lowercase().replace('_', "-");
    let suggestion = if normalized == key { None } else { OPTION_NAMES.iter().copied().find(|k| *k == normalized) };
    ConfigError::UnknownOption { directive: DIRECTIVE.to_string(), option: key.to_string(), suggestion, valid: &OPTION_NAMES }
}

/// Stores one option's value; the error is the part after "option 'NAME': ".
type Setter = fn(&mut DaemonOptions, &str) -> Result<(), ValueError>;

fn set<T>(field: &mut T, value: Result<T, ValueError>) -> Result<(), ValueError> {
    *field = value?;
    Ok(())
}

/// Every supported option, in the order of mod_wsgi's documentation table.
const OPTIONS: &[(&str, Setter)] = &[
    ("processes", |d, v| {
        d.processes = count(v, 1, u32::MAX.into())? as u32;
        d.processes_given = true;
        Ok(())
    }),
    ("threads", |d, v| set(&mut d.threads, threads(v))),
    ("user", |d, v| set(&mut d.user, unprivileged(v).map(Some))),
    ("group", |d, v| set(&mut d.group, unprivileged(v).map(Some))),
    ("supplementary-groups", |d, v| set(&mut d.supplementary_groups, group_list(v))),
    ("umask", |d, v| set(&mut d.umask, umask(v).map(Some))),
    ("home", |d, v| set(&mut d.home, absolute_path(v).map(Some))),
    ("lang", |d, v| set(&mut d.lang, text(v))),
    ("locale", |d, v| set(&mut d.locale, text(v))),
    ("python-home", |d, v| set(&mut d.python_home, text(v))),
    ("python-path", |d, v| set(&mut d.python_path, Ok(python_path(v)))),
    ("python-eggs", |d, v| set(&mut d.python_eggs, text(v))),
    ("switch-interval", |d, v| set(&mut d.switch_interval, switch_interval(v).map(Some))),
    ("display-name", |d, v| {
        let title = if v == "%{GROUP}" { format!("(wsgi:{})", d.name) } else { v.to_string() };
        set(&mut d.display_name, Ok(Some(title)))
    }),
    ("maximum-requests", |d, v| set(&mut d.maximum_requests, count(v, 0, u64::MAX))),
    ("restart-interval", |d, v| set(&mut d.restart_interval, seconds(v).map(off_if_zero))),
    ("inactivity-timeout", |d, v| set(&mut d.inactivity_timeout, seconds(v).map(off_if_zero))),
    ("request-timeout", |d, v| set(&mut d.request_timeout, seconds(v).map(off_if_zero))),
    ("interrupt-timeout", |d, v| set(&mut d.interrupt_timeout, seconds(v).map(off_if_zero))),
    ("deadlock-timeout", |d, v| set(&mut d.deadlock_timeout, seconds(v))),
    ("startup-timeout", |d, v| set(&mut d.startup_timeout, seconds(v).map(off_if_zero))),
    ("graceful-timeout", |d, v| set(&mut d.graceful_timeout, seconds(v))),
    ("eviction-timeout", |d, v| set(&mut d.eviction_timeout, seconds(v).map(off_if_zero))),
    ("shutdown-timeout", |d, v| set(&mut d.shutdown_timeout, seconds(v))),
    ("connect-timeout", |d, v| set(&mut d.connect_timeout, seconds(v))),
    ("socket-timeout", |d, v| set(&mut d.socket_timeout, seconds(v).map(off_if_zero))),
    ("queue-timeout", |d, v| set(&mut d.queue_timeout, seconds(v).map(off_if_zero))),
    // listen() takes an int.
    // mod_wsgi allows 0 (the kernel's minimum queue).
    ("listen-backlog", |d, v| set(&mut d.listen_backlog, count(v, 0, i32::MAX as u64).map(|n| n as u32))),
    ("socket-user", |d, v| set(&mut d.socket_user, principal(v).map(Some))),
    ("script-user", |d, v| set(&mut d.script_user, principal(v).map(Some))),
    ("script-group", |d, v| set(&mut d.script_group, principal(v).map(Some))),
    // The hard limit is this plus shutdown-timeout and more: keep the sum representable.
    ("cpu-time-limit", |d, v| set(&mut d.cpu_time_limit, limit(v, 1, MAX_TIME_UNITS))),
    ("cpu-priority", |d, v| set(&mut d.cpu_priority, cpu_priority(v))),
    ("memory-limit", |d, v| set(&mut d.memory_limit, limit(v, 1, u64::MAX))),
    ("virtual-memory-limit", |d, v| set(&mut d.virtual_memory_limit, limit(v, 1, u64::MAX))),
    ("stack-size", |d, v| set(&mut d.stack_size, limit(v, 65536, u64::MAX))),
    // setsockopt() takes an int.
    ("send-buffer-size", |d, v| set(&mut d.send_buffer_size, limit(v, 512, i32::MAX as u64))),
    ("receive-buffer-size", |d, v| set(&mut d.receive_buffer_size, limit(v, 512, i32::MAX as u64))),
    ("header-buffer-size", |d, v| {
        set(&mut d.header_buffer_size, limit(v, 8192, u64::MAX).map(|n| n.unwrap_or(DEFAULT_HEADER_BUFFER_SIZE)))
    }),
    ("response-buffer-size", |d, v| {
        set(&mut d.response_buffer_size, limit(v, 65536, u64::MAX).map(|n| n.unwrap_or(DEFAULT_RESPONSE_BUFFER_SIZE)))
    }),
    ("response-socket-timeout", |d, v| set(&mut d.response_socket_timeout, seconds(v).map(off_if_zero))),
    ("response-flush-delay", |d, v| set(&mut d.response_flush_delay, milliseconds(v).map(off_if_zero))),
    // mod_wsgi.server_metrics() in the group's processes: the parent's copy of Apache's scoreboard.
    ("server-metrics", |d, v| set(&mut d.server_metrics, on_off(v))),
];

/// The names in [`OPTIONS`], in its order (what an unknown option's message lists).
const OPTION_NAMES: [&str; OPTIONS.len()] = {
    let mut names = [""; OPTIONS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = OPTIONS[i].0;
        i += 1;
    }
    names
};

/// Why `value` is not a number; a negative number gets its own message because
/// "is not a number" would puzzle whoever wrote `-1` to mean "unlimited".
fn not_a(value: &str, expected: &'static str) -> ValueError {
    let value = value.to_string();
    if value.strip_prefix('-').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())) {
        ValueError::Negative { value }
    } else {
        ValueError::NotNumber { value, expected }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A non-negative whole number written as plain decimal digits.
fn whole(value: &str) -> Result<u64, ValueError> {
    if !all_digits(value) {
        return Err(not_a(value, "a whole number"));
    }
    value.parse().map_err(|_| ValueError::TooLarge { value: value.to_string(), limit: None })
}

/// A whole number in `min..=max`.
fn count(value: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let n = whole(value)?;
    if n < min || n > max {
        return Err(ValueError::OutOfRange { value: value.to_string(), min, max: (max != u64::MAX).then_some(max) });
    }
    Ok(n)
}

/// A limit or size where 0 means "not set" (mod_wsgi's convention for every
/// such option); otherwise it must be in `min..=max`.
fn limit(value: &str, min: u64, max: u64) -> Result<Option<u64>, ValueError> {
    match whole(value)? {
        0 => Ok(None),
        _ => count(value, min, max).map(Some),
    }
}

fn threads(value: &str) -> Result<u32, ValueError> {
    if whole(value)? == 0 {
        return Err(ValueError::NoRequestThreads { value: value.to_string() });
    }
    count(value, 1, MAX_THREADS.into()).map(|n| n as u32)
}

/// Seconds, whole (mod_wsgi's form) or with a decimal fraction (`2.5`).
fn seconds(value: &str) -> Result<Duration, ValueError> {
    decimal_time(value, Unit { name: "seconds", expected: "a number of seconds" })
}

/// `response-flush-delay` is the one time option given in milliseconds.
fn milliseconds(value: &str) -> Result<Duration, ValueError> {
    decimal_time(value, Unit { name: "milliseconds", expected: "a number of milliseconds" }).map(|d| d / 1000)
}

/// A time option's unit, as its messages name it.
#[derive(Clone, Copy)]
struct Unit {
    name: &'static str,
    expected: &'static str,
}

/// `digits[.digits]` in some unit, read as if the unit were seconds. Exponents,
/// signs and `inf`/`nan` are refused: they are never what a timeout meant.
fn decimal_time(value: &str, unit: Unit) -> Result<Duration, ValueError> {
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (value, None),
    };
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(not_a(value, unit.expected));
    }
    let secs = int
        .parse::<u64>()
        .ok()
        .filter(|&n| n <= MAX_TIME_UNITS)
        .ok_or_else(|| ValueError::TooLarge { value: value.to_string(), limit: Some((MAX_TIME_UNITS, unit.name)) })?;
    // Digits beyond nanoseconds are dropped.
    let nanos = frac.map_or(0, |f| {
        let f = &f.as_bytes()[..f.len().min(9)];
        f.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')) * 10u32.pow(9 - f.len() as u32)
    });
    Ok(Duration::new(secs, nanos))
}

fn off_if_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `name` or `#id`. Names are checked against the user database later, at start-up.
fn principal(value: &str) -> Result<Principal, ValueError> {
    if let Some(id) = value.strip_prefix('#') {
        // (uid_t)-1 means "leave unchanged" to setuid()/setgid(), so it is not a usable id.
        return whole(id)
            .ok()
            .filter(|&n| n < u64::from(u32::MAX))
            .map(|n| Principal::Id(n as u32))
            .ok_or_else(|| ValueError::NotNumericId { value: value.to_string() });
    }
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
        return Err(ValueError::NotPrincipal { value: value.to_string() });
    }
    Ok(Principal::Name(value.to_string()))
}

/// A principal the daemon runs as. Only the name "root" and id 0 can be recognised
/// here; other names for uid/gid 0 are caught when they are resolved at start-up.
fn unprivileged(value: &str) -> Result<Principal, ValueError> {
    let p = principal(value)?;
    match p {
        Principal::Id(0) => Err(ValueError::Root { value: value.to_string() }),
        Principal::Name(ref n) if n == "root" => Err(ValueError::Root { value: value.to_string() }),
        _ => Ok(p),
    }
}

/// `g1,g2,...`, each a group the daemon runs with.
fn group_list(value: &str) -> Result<Vec<Principal>, ValueError> {
    value
        .split(',')
        .map(|g| match g {
            "" => Err(ValueError::EmptyListEntry { list: value.to_string() }),
            _ => unprivileged(g).map_err(|e| ValueError::InList { list: value.to_string(), error: Box::new(e) }),
        })
        .collect()
}

/// Octal, with or without a leading zero (`0007`, `007`, `22`).
fn umask(value: &str) -> Result<u32, ValueError> {
    Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .and_then(|v| u32::from_str_radix(v, 8).ok())
        .filter(|&n| n <= 0o777)
        .ok_or_else(|| ValueError::NotUmask { value: value.to_string() })
}

/// Free text (a locale, a directory Python resolves itself); the value is known to be non-empty.
fn text(value: &str) -> Result<Option<String>, ValueError> {
    Ok(Some(value.to_string()))
}

fn absolute_path(value: &str) -> Result<String, ValueError> {
    if value.starts_with('/') { Ok(value.to_string()) } else { Err(ValueError::NotAbsolutePath { value: value.to_string() }) }
}

fn cpu_priority(value: &str) -> Result<i32, ValueError> {
    value
        .parse::<i32>()
        .ok()
        .filter(|n| (-20..=20).contains(n))
        .ok_or_else(|| ValueError::NotCpuPriority { value: value.to_string() })
}

/// Handed to `sys.setswitchinterval()`, which takes any positive float.
fn switch_interval(value: &str) -> Result<f64, ValueError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| ValueError::NotSwitchInterval { value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Parses group "site" with the given options.
    fn with(options: &[&str]) -> DaemonOptions {
        let mut args = vec!["site"];
        args.extend_from_slice(options);
        parse(&args).unwrap_or_else(|e| panic!("{options:?}: {e}"))
    }

    fn err(options: &[&str]) -> String {
        let mut args = vec!["site"];
        args.extend_from_slice(options);
        parse(&args).expect_err(&format!("{options:?} should be rejected")).to_string()
    }

    /// `option=value` is rejected with a message naming the directive, the option
    /// and the value, and containing `why`.
    fn rejects(option: &str, value: &str, why: &str) {
        let e = err(&[&format!("{option}={value}")]);
        assert!(e.starts_with("WSGIDaemonProcess: "), "{e}");
        assert!(e.contains(&format!("'{option}'")), "{option}={value}: {e}");
        assert!(e.contains(&format!("'{value}'")), "{option}={value}: {e}");
        assert!(e.contains(why), "{option}={value}: expected '{why}' in: {e}");
    }

    fn name(n: &str) -> Principal {
        Principal::Name(n.to_string())
    }

    /// A valid value for every option in the table (and what it must not be confused with).
    const SAMPLES: &[(&str, &str)] = &[
        ("processes", "3"),
        ("threads", "4"),
        ("user", "www"),
        ("group", "#33"),
        ("supplementary-groups", "a,b"),
        ("umask", "0027"),
        ("home", "/srv"),
        ("lang", "en_US.UTF-8"),
        ("locale", "en_US.UTF-8"),
        ("python-home", "/venv"),
        ("python-path", "/a:/b"),
        ("python-eggs", "/tmp/eggs"),
        ("switch-interval", "0.01"),
        ("display-name", "x"),
        ("maximum-requests", "1000"),
        ("restart-interval", "3600"),
        ("inactivity-timeout", "300"),
        ("request-timeout", "60"),
        ("interrupt-timeout", "5"),
        ("deadlock-timeout", "60"),
        ("startup-timeout", "15"),
        ("graceful-timeout", "30"),
        ("eviction-timeout", "20"),
        ("shutdown-timeout", "10"),
        ("connect-timeout", "20"),
        ("socket-timeout", "60"),
        ("queue-timeout", "45"),
        ("listen-backlog", "500"),
        ("socket-user", "apache"),
        ("script-user", "deploy"),
        ("script-group", "deploy"),
        ("cpu-time-limit", "600"),
        ("cpu-priority", "5"),
        ("memory-limit", "1000000000"),
        ("virtual-memory-limit", "2000000000"),
        ("stack-size", "524288"),
        ("send-buffer-size", "65536"),
        ("receive-buffer-size", "65536"),
        ("header-buffer-size", "65536"),
        ("response-buffer-size", "1048576"),
        ("response-socket-timeout", "30"),
        ("response-flush-delay", "10"),
        ("server-metrics", "on"),
    ];

    #[test]
    fn defaults_when_only_the_name_is_given() {
        let d = with(&[]);
        assert_eq!(d, DaemonOptions::new("site"));
        assert_eq!(d.name, "site");
        assert_eq!((d.processes, d.processes_given, d.threads), (1, false, 15));
        assert_eq!((d.user.as_ref(), d.group.as_ref(), d.supplementary_groups.len()), (None, None, 0));
        assert_eq!((d.umask, d.home.as_deref(), d.lang.as_deref(), d.locale.as_deref()), (None, None, None, None));
        assert_eq!((d.python_home.as_deref(), d.python_path.len(), d.python_eggs.as_deref()), (None, 0, None));
        assert_eq!((d.display_name.as_deref(), d.maximum_requests), (None, 0));
        assert_eq!(
            [d.restart_interval, d.inactivity_timeout, d.request_timeout, d.interrupt_timeout, d.eviction_timeout],
            [None; 5]
        );
        assert_eq!([d.startup_timeout, d.socket_timeout, d.queue_timeout, d.response_socket_timeout], [None; 4]);
        assert_eq!(d.graceful_timeout, secs(15));
        assert_eq!(d.shutdown_timeout, secs(5));
        assert_eq!(d.deadlock_timeout, secs(300));
        assert_eq!(d.connect_timeout, secs(15));
        assert_eq!(d.listen_backlog, 100);
        assert_eq!((d.socket_user, d.script_user, d.script_group), (None, None, None));
        assert_eq!((d.cpu_time_limit, d.cpu_priority), (None, 0));
        assert_eq!((d.memory_limit, d.virtual_memory_limit, d.stack_size), (None, None, None));
        assert_eq!((d.header_buffer_size, d.response_buffer_size), (32768, 8388608));
        assert_eq!((d.send_buffer_size, d.receive_buffer_size), (None, None));
        assert_eq!(d.response_flush_delay, Some(Duration::from_millis(5)));
        assert_eq!(d.switch_interval, None);
    }

    #[test]
    fn every_option_parses_with_a_valid_value() {
        let args: Vec<String> = SAMPLES.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // script-user and script-group are mutually exclusive: drop script-group here.
        let args: Vec<&str> = args.into_iter().filter(|a| !a.starts_with("script-group=")).collect();
        let d = with(&args);
        let expected = DaemonOptions {
            name: "site".into(),
            processes: 3,
            processes_given: true,
            threads: 4,
            user: Some(name("www")),
            group: Some(Principal::Id(33)),
            supplementary_groups: vec![name("a"), name("b")],
            umask: Some(0o027),
            home: Some("/srv".into()),
            lang: Some("en_US.UTF-8".into()),
            locale: Some("en_US.UTF-8".into()),
            python_home: Some("/venv".into()),
            python_path: vec!["/a".into(), "/b".into()],
            python_eggs: Some("/tmp/eggs".into()),
            display_name: Some("x".into()),
            maximum_requests: 1000,
            restart_interval: Some(secs(3600)),
            inactivity_timeout: Some(secs(300)),
            request_timeout: Some(secs(60)),
            interrupt_timeout: Some(secs(5)),
            graceful_timeout: secs(30),
            eviction_timeout: Some(secs(20)),
            shutdown_timeout: secs(10),
            deadlock_timeout: secs(60),
            startup_timeout: Some(secs(15)),
            connect_timeout: secs(20),
            socket_timeout: Some(secs(60)),
            queue_timeout: Some(secs(45)),
            listen_backlog: 500,
            socket_user: Some(name("apache")),
            script_user: Some(name("deploy")),
            script_group: None,
            cpu_time_limit: Some(600),
            cpu_priority: 5,
            memory_limit: Some(1_000_000_000),
            virtual_memory_limit: Some(2_000_000_000),
            stack_size: Some(524288),
            header_buffer_size: 65536,
            response_buffer_size: 1048576,
            response_socket_timeout: Some(secs(30)),
            send_buffer_size: Some(65536),
            receive_buffer_size: Some(65536),
            response_flush_delay: Some(Duration::from_millis(10)),
            server_metrics: true,
            switch_interval: Some(0.01),
        };
        assert_eq!(d, expected);
        assert_eq!(with(&["script-group=#50"]).script_group, Some(Principal::Id(50)));
    }

    #[test]
    fn samples_cover_the_whole_table() {
        let table: Vec<&str> = OPTIONS.iter().map(|(k, _)| *k).collect();
        let samples: Vec<&str> = SAMPLES.iter().map(|(k, _)| *k).collect();
        assert_eq!(table, samples);
        for (key, value) in SAMPLES.iter() {
            let arg = format!("{key}={value}");
            assert_ne!(with(&[&arg]), DaemonOptions::new("site"), "{arg} changed nothing");
        }
    }

    #[test]
    fn processes_given_even_when_one() {
        let d = with(&["processes=1"]);
        assert_eq!((d.processes, d.processes_given), (1, true));
        assert_eq!(with(&["processes=4294967295"]).processes, u32::MAX);
        rejects("processes", "0", "must be from 1 to 4294967295");
        rejects("processes", "4294967296", "must be from 1 to 4294967295");
        rejects("processes", "two", "not a whole number");
        rejects("processes", "-1", "negative");
        rejects("processes", "+2", "not a whole number");
    }

    #[test]
    fn threads_limits_and_service_script_mode() {
        assert_eq!(with(&["threads=1"]).threads, 1);
        assert_eq!(with(&["threads=65533"]).threads, 65533);
        rejects("threads", "65534", "must be from 1 to 65533");
        rejects("threads", "0", "service-script mode");
        rejects("threads", "0", "not supported yet");
        rejects("threads", "-3", "negative");
        assert_eq!(err(&["threads=0x"]), "WSGIDaemonProcess: option 'threads': '0x' is not a whole number");
        rejects("threads", "99999999999999999999999", "too large");
    }

    #[test]
    fn users_and_groups_by_name_or_id() {
        let d = with(&["user=www-data", "group=#1000", "socket-user=#48", "script-user=root"]);
        assert_eq!(d.user, Some(name("www-data")));
        assert_eq!(d.group, Some(Principal::Id(1000)));
        assert_eq!(d.socket_user, Some(Principal::Id(48)));
        // Scripts owned by root are fine: only the daemon itself must not be root.
        assert_eq!(d.script_user, Some(name("root")));
        assert_eq!(with(&["socket-user=root"]).socket_user, Some(name("root")));
        assert_eq!(with(&["script-group=#0"]).script_group, Some(Principal::Id(0)));
        assert_eq!(with(&["user=#4294967294"]).user, Some(Principal::Id(4294967294)));
        for option in ["user", "group", "socket-user", "script-user", "script-group"] {
            rejects(option, "#", "not a numeric id");
            rejects(option, "#abc", "not a numeric id");
            rejects(option, "#-1", "not a numeric id");
            rejects(option, "#4294967295", "not a numeric id");
            rejects(option, "a b", "not a user or group name");
        }
    }

    #[test]
    fn daemons_must_not_run_as_root() {
        rejects("user", "root", "must not run as root");
        rejects("user", "#0", "must not run as root");
        rejects("group", "#0", "must not run as root");
        rejects("group", "root", "must not run as root");
        rejects("supplementary-groups", "wheel,#0", "must not run as root");
        rejects("supplementary-groups", "root", "must not run as root");
        // Leading zeros are still id 0.
        rejects("user", "#000", "must not run as root");
        assert_eq!(with(&["user=Root"]).user, Some(name("Root")));
    }

    #[test]
    fn supplementary_groups_are_comma_separated() {
        let d = with(&["supplementary-groups=adm,#4,www-data"]);
        assert_eq!(d.supplementary_groups, vec![name("adm"), Principal::Id(4), name("www-data")]);
        assert_eq!(with(&["supplementary-groups=one"]).supplementary_groups, vec![name("one")]);
        rejects("supplementary-groups", "a,,b", "empty group name");
        rejects("supplementary-groups", "a,", "empty group name");
        rejects("supplementary-groups", "a,#x", "not a numeric id");
    }

    #[test]
    fn umask_is_octal() {
        assert_eq!(with(&["umask=0007"]).umask, Some(0o007));
        assert_eq!(with(&["umask=007"]).umask, Some(0o007));
        assert_eq!(with(&["umask=22"]).umask, Some(0o022));
        assert_eq!(with(&["umask=0"]).umask, Some(0));
        assert_eq!(with(&["umask=0777"]).umask, Some(0o777));
        rejects("umask", "0778", "octal umask");
        rejects("umask", "1000", "octal umask");
        rejects("umask", "0x1f", "octal umask");
        rejects("umask", "-022", "octal umask");
        rejects("umask", "077777777777777777", "octal umask");
    }

    #[test]
    fn paths_and_strings() {
        let d = with(&[
            "home=/var/www",
            "python-home=/opt/venv",
            "python-path=/srv/app::/srv/lib:",
            "python-eggs=/tmp/eggs",
            "lang=C.UTF-8",
            "locale=de_DE.UTF-8",
        ]);
        assert_eq!(d.home.as_deref(), Some("/var/www"));
        assert_eq!(d.python_home.as_deref(), Some("/opt/venv"));
        assert_eq!(d.python_path, vec!["/srv/app".to_string(), "/srv/lib".to_string()]);
        assert_eq!(d.python_eggs.as_deref(), Some("/tmp/eggs"));
        assert_eq!((d.lang.as_deref(), d.locale.as_deref()), (Some("C.UTF-8"), Some("de_DE.UTF-8")));
        rejects("home", "var/www", "not an absolute path");
        rejects("home", "~/app", "not an absolute path");
    }

    #[test]
    fn display_name_expands_group() {
        assert_eq!(with(&["display-name=%{GROUP}"]).display_name.as_deref(), Some("(wsgi:site)"));
        let d = parse(&["my.app", "display-name=%{GROUP}"]).unwrap();
        assert_eq!(d.display_name.as_deref(), Some("(wsgi:my.app)"));
        assert_eq!(with(&["display-name=httpd-app"]).display_name.as_deref(), Some("httpd-app"));
        // Only the whole value is the special form, as in mod_wsgi.
        assert_eq!(with(&["display-name=x%{GROUP}"]).display_name.as_deref(), Some("x%{GROUP}"));
    }

    #[test]
    fn timeouts_accept_whole_and_decimal_seconds() {
        let d = with(&["request-timeout=2.5", "graceful-timeout=0.25", "socket-timeout=007", "queue-timeout=1.000000001"]);
        assert_eq!(d.request_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(d.graceful_timeout, Duration::from_millis(250));
        assert_eq!(d.socket_timeout, Some(secs(7)));
        assert_eq!(d.queue_timeout, Some(Duration::new(1, 1)));
        // Digits beyond nanoseconds are dropped.
        assert_eq!(with(&["queue-timeout=1.1234567899"]).queue_timeout, Some(Duration::new(1, 123456789)));
        assert_eq!(with(&["queue-timeout=2147483647"]).queue_timeout, Some(secs(2147483647)));
    }

    #[test]
    fn zero_turns_optional_timeouts_off() {
        let optional = [
            "restart-interval",
            "inactivity-timeout",
            "request-timeout",
            "interrupt-timeout",
            "eviction-timeout",
            "startup-timeout",
            "socket-timeout",
            "queue-timeout",
            "response-socket-timeout",
            "response-flush-delay",
        ];
        for option in optional {
            let d = with(&[&format!("{option}=0")]);
            let d2 = with(&[&format!("{option}=0.0")]);
            assert_eq!(d, d2, "{option}");
            let expected = if option == "response-flush-delay" {
                DaemonOptions { response_flush_delay: None, ..DaemonOptions::new("site") }
            } else {
                DaemonOptions::new("site")
            };
            assert_eq!(d, expected, "{option}=0");
        }
        // The timeouts that always apply take zero literally.
        let d = with(&["graceful-timeout=0", "shutdown-timeout=0", "deadlock-timeout=0", "connect-timeout=0"]);
        assert_eq!([d.graceful_timeout, d.shutdown_timeout, d.deadlock_timeout, d.connect_timeout], [Duration::ZERO; 4]);
    }

    #[test]
    fn bad_timeouts_name_option_and_value() {
        let timeouts = SAMPLES.iter().map(|(k, _)| *k).filter(|k| k.ends_with("-timeout") || *k == "restart-interval");
        let mut n = 0;
        for option in timeouts {
            n += 1;
            rejects(option, "-5", "negative");
            rejects(option, "-0.5", "negative");
            rejects(option, "abc", "not a number of seconds");
            rejects(option, "1.", "not a number of seconds");
            rejects(option, ".5", "not a number of seconds");
            rejects(option, "1e3", "not a number of seconds");
            rejects(option, "inf", "not a number of seconds");
            rejects(option, "1.2.3", "not a number of seconds");
            rejects(option, "+5", "not a number of seconds");
            rejects(option, "10s", "not a number of seconds");
            rejects(option, "2147483648", "too large");
        }
        assert_eq!(n, 13);
    }

    #[test]
    fn response_flush_delay_is_in_milliseconds() {
        assert_eq!(with(&["response-flush-delay=20"]).response_flush_delay, Some(Duration::from_millis(20)));
        assert_eq!(with(&["response-flush-delay=0.5"]).response_flush_delay, Some(Duration::from_micros(500)));
        assert_eq!(with(&["response-flush-delay=1500"]).response_flush_delay, Some(Duration::from_millis(1500)));
        rejects("response-flush-delay", "fast", "not a number of milliseconds");
        rejects("response-flush-delay", "-1", "negative");
    }

    #[test]
    fn counts_and_limits() {
        let d = with(&["maximum-requests=0", "listen-backlog=1", "cpu-time-limit=0", "memory-limit=0", "virtual-memory-limit=0"]);
        assert_eq!((d.maximum_requests, d.listen_backlog), (0, 1));
        assert_eq!((d.cpu_time_limit, d.memory_limit, d.virtual_memory_limit), (None, None, None));
        assert_eq!(with(&["maximum-requests=18446744073709551615"]).maximum_requests, u64::MAX);
        assert_eq!(with(&["memory-limit=18446744073709551615"]).memory_limit, Some(u64::MAX));
        assert_eq!(with(&["listen-backlog=2147483647"]).listen_backlog, 2147483647);
        assert_eq!(with(&["cpu-time-limit=1"]).cpu_time_limit, Some(1));
        rejects("maximum-requests", "-1", "negative");
        rejects("maximum-requests", "18446744073709551616", "too large");
        assert_eq!(with(&["listen-backlog=0"]).listen_backlog, 0);
        rejects("listen-backlog", "2147483648", "must be from 0 to 2147483647");
        rejects("cpu-time-limit", "2147483648", "must be from 1 to 2147483647");
        rejects("cpu-time-limit", "1.5", "not a whole number");
        rejects("memory-limit", "1G", "not a whole number");
        rejects("virtual-memory-limit", "-1", "negative");
    }

    #[test]
    fn cpu_priority_range() {
        assert_eq!(with(&["cpu-priority=-20"]).cpu_priority, -20);
        assert_eq!(with(&["cpu-priority=20"]).cpu_priority, 20);
        assert_eq!(with(&["cpu-priority=0"]).cpu_priority, 0);
        rejects("cpu-priority", "21", "from -20 to 20");
        rejects("cpu-priority", "-21", "from -20 to 20");
        rejects("cpu-priority", "high", "from -20 to 20");
    }

    #[test]
    fn buffer_sizes() {
        let d = with(&[
            "header-buffer-size=0",
            "response-buffer-size=0",
            "stack-size=0",
            "send-buffer-size=0",
            "receive-buffer-size=0",
        ]);
        assert_eq!((d.header_buffer_size, d.response_buffer_size), (32768, 8388608));
        assert_eq!((d.stack_size, d.send_buffer_size, d.receive_buffer_size), (None, None, None));
        let d = with(&[
            "header-buffer-size=8192",
            "response-buffer-size=65536",
            "stack-size=65536",
            "send-buffer-size=512",
            "receive-buffer-size=512",
        ]);
        assert_eq!((d.header_buffer_size, d.response_buffer_size, d.stack_size), (8192, 65536, Some(65536)));
        assert_eq!((d.send_buffer_size, d.receive_buffer_size), (Some(512), Some(512)));
        rejects("header-buffer-size", "8191", "must be at least 8192");
        rejects("response-buffer-size", "65535", "must be at least 65536");
        rejects("stack-size", "65535", "must be at least 65536");
        rejects("send-buffer-size", "511", "must be from 512 to 2147483647");
        rejects("receive-buffer-size", "511", "must be from 512 to 2147483647");
        rejects("send-buffer-size", "2147483648", "must be from 512 to 2147483647");
        rejects("header-buffer-size", "32k", "not a whole number");
        rejects("stack-size", "-65536", "negative");
    }

    #[test]
    fn switch_interval_must_be_positive() {
        assert_eq!(with(&["switch-interval=0.005"]).switch_interval, Some(0.005));
        assert_eq!(with(&["switch-interval=1"]).switch_interval, Some(1.0));
        assert_eq!(with(&["switch-interval=5e-3"]).switch_interval, Some(0.005));
        for bad in ["0", "0.0", "-0.1", "inf", "NaN", "fast"] {
            rejects("switch-interval", bad, "greater than 0");
        }
    }

    #[test]
    fn server_metrics_on_off() {
        assert!(with(&["server-metrics=on"]).server_metrics);
        assert!(with(&["server-metrics=On"]).server_metrics);
        assert_eq!(with(&["server-metrics=off"]), DaemonOptions::new("site"));
        rejects("server-metrics", "yes", "On or Off");
    }

    #[test]
    fn script_user_and_group_are_exclusive() {
        let e = err(&["script-user=deploy", "script-group=deploy"]);
        assert!(e.contains("WSGIDaemonProcess") && e.contains("'script-user'") && e.contains("'script-group'"), "{e}");
        assert!(e.contains("cannot both be given"), "{e}");
    }

    #[test]
    fn group_name_rules() {
        assert_eq!(parse(&["site-1.example_org"]).unwrap().name, "site-1.example_org");
        assert!(matches!(parse(&[]), Err(ConfigError::Usage { .. })));
        for (bad, why) in [("", "must not be empty"), ("a\x01b", "control characters")] {
            let e = parse(&[bad]).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidGroupName { ref name, .. } if name == bad), "{e}");
            let e = e.to_string();
            assert!(e.starts_with("WSGIDaemonProcess: invalid process group name"), "{e}");
            assert!(e.contains(&format!("'{bad}'")) && e.contains(why), "{bad}: {e}");
        }
        // mod_wsgi accepts any other name; the socket's file name does not contain it.
        for ok in ["a/b", "a b", "a\tb", "localhost:8000", "service:x"] {
            let (o, warnings) = parse_with_warnings(&[ok]).unwrap();
            assert_eq!((o.name.as_str(), warnings.len()), (ok, 0));
        }
        // Names that cannot be what was meant: accepted, with a warning saying why.
        for (odd, why) in [("%{GLOBAL}", "no request can select"), ("%{ENV:X}", "no request can select"), ("processes=2", "looks like an option")] {
            let (o, warnings) = parse_with_warnings(&[odd]).unwrap();
            assert_eq!(o.name, odd);
            assert!(warnings.len() == 1 && warnings[0].contains(why) && warnings[0].contains(odd), "{warnings:?}");
        }
    }

    #[test]
    fn malformed_unknown_empty_and_duplicate_options() {
        let e = err(&["threads"]);
        assert_eq!(e, "WSGIDaemonProcess: invalid option 'threads': options have the form name=value");
        let e = err(&["colour=blue"]);
        assert!(e.starts_with("WSGIDaemonProcess: unknown option 'colour' (valid options: processes, threads,"), "{e}");
        assert!(e.contains("server-metrics"), "{e}");
        let e = err(&["=5"]);
        assert!(e.contains("unknown option ''"), "{e}");
        let e = err(&["threads="]);
        assert_eq!(e, "WSGIDaemonProcess: option 'threads' needs a value");
        // Empty is "not set" where mod_wsgi takes it so (mod_wsgi-express writes python-path='').
        let d = with(&["python-path=", "python-home=", "python-eggs=", "lang=", "locale=", "display-name="]);
        assert_eq!(d, DaemonOptions::new("site"));
        let e = err(&["colour="]);
        assert!(e.contains("unknown option 'colour'"), "{e}");
        // A repeated option: the last one wins (mod_wsgi's rule), with a warning.
        let (o, warnings) = parse_with_warnings(&["site", "threads=2", "processes=2", "threads=3"]).unwrap();
        assert_eq!((o.threads, o.processes), (3, 2));
        assert_eq!(warnings, ["WSGIDaemonProcess site: option 'threads' is given more than once; the last value ('3') is used"]);
        assert_eq!(parse_with_warnings(&["site", "user=www", "user=www"]).unwrap().1.len(), 1);
        // An invalid repeat is still an error.
        assert!(err(&["threads=2", "threads=x"]).contains("'x'"));
        // A value may itself contain '='.
        assert_eq!(with(&["display-name=a=b"]).display_name.as_deref(), Some("a=b"));
    }

    #[test]
    fn option_names_are_case_sensitive() {
        let e = err(&["Threads=5"]);
        assert!(e.contains("unknown option 'Threads'") && e.contains("did you mean 'threads'?"), "{e}");
        let e = err(&["python_path=/x"]);
        assert!(e.contains("unknown option 'python_path'") && e.contains("did you mean 'python-path'?"), "{e}");
        let e = err(&["PROCESSES=2"]);
        assert!(e.contains("did you mean 'processes'?"), "{e}");
    }

    #[test]
    fn refused_options_say_why() {
        let e = err(&["chroot=/jail"]);
        assert_eq!(
            e,
            "WSGIDaemonProcess: option 'chroot': chroot is not supported: it is deprecated in mod_wsgi and breaks \
             Python's imports; use a container or systemd's RootDirectory instead"
        );
        // The reason is given even before the value is looked at.
        assert!(err(&["chroot="]).contains("chroot is not supported"));
        // 4.9's New Relic options: accepted (configs still carry them), with a warning that they do nothing.
        for option in ["newrelic-config-file", "newrelic-environment"] {
            let (o, warnings) = parse_with_warnings(&["site", &format!("{option}=/etc/newrelic.ini"), "threads=2"]).unwrap();
            assert_eq!(o, DaemonOptions { threads: 2, ..DaemonOptions::new("site") });
            assert_eq!(warnings.len(), 1);
            assert!(warnings[0].starts_with(&format!("WSGIDaemonProcess site: option '{option}' is accepted but does nothing")), "{warnings:?}");
        }
    }

    #[test]
    fn errors_are_matchable() {
        let parse_err = |options: &[&str]| {
            let mut args = vec!["site"];
            args.extend_from_slice(options);
            parse(&args).unwrap_err()
        };
        let ConfigError::UnknownOption { option, suggestion, valid, .. } = parse_err(&["python_path=/x"]) else { panic!() };
        assert_eq!((option.as_str(), suggestion), ("python_path", Some("python-path")));
        assert_eq!(valid, &OPTION_NAMES[..]);
        assert!(matches!(parse_err(&["colour=1"]), ConfigError::UnknownOption { suggestion: None, .. }));
        assert!(matches!(parse_err(&["chroot=/j"]), ConfigError::UnsupportedOption { ref option, .. } if option == "chroot"));
        assert!(matches!(parse_err(&["threads"]), ConfigError::MalformedOption { valid: Some([]), .. }));
        assert!(matches!(
            parse_err(&["script-user=a", "script-group=b"]),
            ConfigError::ConflictingOptions { options: ["script-user", "script-group"], .. }
        ));
        assert_eq!(
            parse_err(&["threads=65534"]),
            ConfigError::InvalidValue {
                directive: "WSGIDaemonProcess".into(),
                option: Some("threads".into()),
                reason: ValueError::OutOfRange { value: "65534".into(), min: 1, max: Some(65533) },
            }
        );
        let ConfigError::InvalidValue { reason: ValueError::InList { list, error }, .. } = parse_err(&["supplementary-groups=a,#0"])
        else {
            panic!()
        };
        assert_eq!((list.as_str(), *error), ("a,#0", ValueError::Root { value: "#0".into() }));
        assert!(matches!(
            parse_err(&["queue-timeout=-1"]),
            ConfigError::InvalidValue { reason: ValueError::Negative { .. }, .. }
        ));
    }

    #[test]
    fn errors_stop_at_the_first_bad_option() {
        let e = err(&["processes=2", "threads=x", "umask=9"]);
        assert!(e.contains("'threads'") && !e.contains("umask"), "{e}");
    }
}
