//! The command-line options of `setup-server` / `start-server`: one table with
//! each option's name, argument shape, default and help text, a hand-written
//! parser over it, and typed accessors. Names, defaults and meanings follow
//! mod_wsgi-express.

use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq)]
pub enum Arg {
    /// `--name`
    Flag,
    /// `--name VALUE` or `--name=VALUE`
    One(&'static str),
    /// `--name A B`
    Two(&'static str, &'static str),
}

pub struct Spec {
    pub name: &'static str,
    pub arg: Arg,
    /// May be given more than once (values accumulate).
    pub multi: bool,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

const fn flag(name: &'static str, help: &'static str) -> Spec {
    Spec { name, arg: Arg::Flag, multi: false, default: None, help }
}
const fn one(name: &'static str, meta: &'static str, default: Option<&'static str>, help: &'static str) -> Spec {
    Spec { name, arg: Arg::One(meta), multi: false, default, help }
}
const fn many(name: &'static str, meta: &'static str, help: &'static str) -> Spec {
    Spec { name, arg: Arg::One(meta), multi: true, default: None, help }
}
const fn pairs(name: &'static str, a: &'static str, b: &'static str, help: &'static str) -> Spec {
    Spec { name, arg: Arg::Two(a, b), multi: true, default: None, help }
}

/// Sections of the help text, each with its options.
pub const SECTIONS: &[(&str, &[Spec])] = &[
    (
        "Application",
        &[
            one("--application-type", "TYPE", Some("script"), "How the entry point is given: 'script' (a WSGI script file), 'module' (an importable module, 'pkg.mod' or 'pkg.mod:callable') or 'paste' (a Paste Deploy .ini file; PasteDeploy must be installed in the Python environment)."),
            one("--entry-point", "PATH|MODULE", None, "The entry point (instead of giving it as the first argument)."),
            one("--callable-object", "NAME", Some("application"), "Name of the WSGI callable in the script or module."),
            one("--mount-point", "URL-PATH", Some("/"), "URL path the application is mounted at."),
            one("--application-group", "NAME", Some("%{GLOBAL}"), "Application group: %{GLOBAL} is the main interpreter, any other name a sub-interpreter of its own."),
            one("--process-group", "NAME", None, "Name of the daemon process group (default HOST:PORT)."),
            one("--working-directory", "DIR", None, "Current directory of the application (the daemon's home=), also on sys.path (default: the directory of a script or .ini entry point, else the current directory)."),
            many("--python-path", "DIR", "Another directory to add to sys.path (repeatable)."),
            one("--python-home", "DIR", None, "A virtual environment made with /usr/bin/python3 -m venv, whose packages the application uses."),
            flag("--reload-on-changes", "Restart the daemon process when any Python file the application has loaded changes (the script itself is always reloaded when it changes, unless --disable-reloading)."),
            flag("--disable-reloading", "Do not reload the WSGI script when it changes (WSGIScriptReloading Off)."),
        ],
    ),
    (
        "Server",
        &[
            one("--host", "IP-ADDRESS", None, "Interface to listen on (default: all interfaces)."),
            one("--port", "NUMBER", Some("8000"), "Port for HTTP."),
            one("--server-name", "HOSTNAME", None, "The server's host name (ServerName; default localhost)."),
            one("--server-root", "DIR", None, "Where to write the configuration, scripts and logs (default /tmp/rwsgi-express-HOST:PORT:UID)."),
            one("--https-port", "NUMBER", None, "Also accept HTTPS on this port (needs the two certificate options)."),
            one("--ssl-certificate-file", "FILE", None, "Certificate (PEM) for HTTPS."),
            one("--ssl-certificate-key-file", "FILE", None, "Private key (PEM) of that certificate."),
            one("--ssl-certificate-chain-file", "FILE", None, "Intermediate certificates (PEM) sent with the certificate."),
            flag("--https-only", "Redirect plain HTTP requests to HTTPS."),
            one("--hsts-policy", "POLICY", None, "With --https-only: Strict-Transport-Security header value, e.g. 'max-age=31536000' (mod_headers)."),
            flag("--http2", "Enable HTTP/2 (mod_http2)."),
            one("--server-mpm", "NAME", None, "Apache MPM: event, worker or prefork (default: the first available in that order)."),
            one("--max-clients", "NUMBER", None, "Simultaneous client connections Apache accepts in daemon mode (default 10 + max(10, 1.5 x processes x threads)); in embedded mode it is processes x threads."),
            one("--limit-request-body", "BYTES", Some("10485760"), "Largest request body accepted (LimitRequestBody)."),
            one("--keep-alive-timeout", "SECONDS", Some("2"), "Keep-alive timeout; 0 turns keep-alive off."),
            one("--server-backlog", "NUMBER", Some("500"), "Listen backlog of Apache's sockets."),
            one("--document-root", "DIR", None, "Static files: a request for a file that exists here is served from it, anything else goes to the application."),
            one("--directory-index", "FILE", None, "Index file served for directories of the document root."),
            pairs("--url-alias", "URL-PATH", "PATH", "Serve a static file or directory at a URL (repeatable)."),
            many("--include-file", "FILE", "Apache configuration file included at the end (repeatable)."),
            pairs("--error-document", "STATUS", "URL-PATH", "Apache's ErrorDocument for a status (repeatable)."),
            flag("--chunked-request", "Accept chunked request bodies (WSGIChunkedRequest On)."),
            flag("--enable-sendfile", "Let Apache send static files and wsgi.file_wrapper files with sendfile (EnableSendfile On)."),
            one("--header-timeout", "SECONDS", Some("15"), "Time a client has to send the request headers (mod_reqtimeout; 0: no limit)."),
            one("--header-max-timeout", "SECONDS", Some("30"), "Upper bound of that time while data keeps arriving."),
            one("--header-min-rate", "BYTES", Some("500"), "Bytes per second that extend the header timeout."),
            one("--body-timeout", "SECONDS", Some("15"), "Time a client has to send (each part of) the request body (0: no limit)."),
            one("--body-min-rate", "BYTES", Some("500"), "Bytes per second that extend the body timeout."),
            one("--envvars-script", "FILE", None, "Shell script apachectl sources (after SERVER-ROOT/envvars) before starting Apache."),
            one("--rewrite-rules", "FILE", None, "File of mod_rewrite rules included at server level."),
            flag("--compress-responses", "Compress text responses (mod_deflate)."),
            flag("--server-status", "Apache's status page at /server-status (from localhost only)."),
            many("--trust-proxy", "IP/SUBNET", "A trusted front-end proxy (WSGITrustedProxies; repeatable)."),
            many("--trust-proxy-header", "HEADER", "A header set by the trusted proxy (WSGITrustedProxyHeaders; repeatable)."),
            one("--auth-user-script", "FILE", None, "Python script authenticating users (WSGIAuthUserScript) for the whole site."),
            one("--auth-type", "TYPE", Some("Basic"), "Authentication scheme with --auth-user-script: Basic or Digest."),
            one("--host-access-script", "FILE", None, "Python script deciding host access (WSGIAccessScript)."),
            one("--user", "NAME", None, "When started as root: the user Apache's children and the daemon processes run as (default www-data)."),
            one("--group", "NAME", None, "When started as root: their group (default: --user's primary group, www-data)."),
            pairs("--setenv", "KEY", "VALUE", "Add KEY=VALUE to every request's WSGI environ (repeatable)."),
            many("--passenv", "KEY", "Pass this environment variable of the server into the WSGI environ (repeatable)."),
            one("--lang", "NAME", None, "LANG of the server and daemon processes (default: this process's LANG, or C.UTF-8 when that is unset, C, POSIX or not installed)."),
            one("--locale", "NAME", None, "LC_ALL of the server and daemon processes (default: as --lang)."),
        ],
    ),
    (
        "Processes (daemon mode, the default)",
        &[
            flag("--embedded-mode", "Run the application inside Apache's child processes instead of a daemon process group."),
            one("--processes", "NUMBER", Some("1"), "Number of daemon processes (embedded mode: Apache child processes)."),
            one("--threads", "NUMBER", Some("5"), "Request threads per process."),
            one("--maximum-requests", "NUMBER", Some("0"), "Recycle a process after this many requests (0: never)."),
            one("--request-timeout", "SECONDS", Some("60"), "A request running longer gets 504 and its process recycles."),
            one("--queue-timeout", "SECONDS", Some("45"), "A request waiting longer for a daemon process gets 504."),
            one("--connect-timeout", "SECONDS", Some("15"), "Give up connecting to the daemon after this long (503)."),
            one("--socket-timeout", "SECONDS", Some("60"), "Timeout of reads and writes on the daemon socket."),
            one("--startup-timeout", "SECONDS", Some("15"), "A process that has not loaded the application after this long is restarted."),
            one("--shutdown-timeout", "SECONDS", Some("5"), "Time a stopping process is given to exit."),
            one("--graceful-timeout", "SECONDS", Some("15"), "Time running requests are given to finish when a process recycles."),
            one("--deadlock-timeout", "SECONDS", Some("60"), "Restart a process whose Python interpreter is stuck holding the GIL this long."),
            one("--eviction-timeout", "SECONDS", Some("0"), "Graceful timeout used for a graceful restart signal (0: --graceful-timeout)."),
            one("--inactivity-timeout", "SECONDS", Some("0"), "Recycle a process idle this long (0: never)."),
            one("--restart-interval", "SECONDS", Some("0"), "Recycle each process after this long (0: never)."),
            one("--interrupt-timeout", "SECONDS", Some("0"), "Before recycling a stuck request's process, raise mod_wsgi.RequestTimeout in it and wait this long (0: off)."),
            one("--cpu-time-limit", "SECONDS", Some("0"), "Recycle a process after this much CPU time (0: no limit)."),
            one("--memory-limit", "BYTES", Some("0"), "Memory limit of each process (0: no limit)."),
            one("--daemon-backlog", "NUMBER", Some("100"), "Listen backlog of the daemon socket."),
            one("--send-buffer-size", "BYTES", Some("0"), "Socket send buffer to the daemon (0: system default)."),
            one("--receive-buffer-size", "BYTES", Some("0"), "Socket receive buffer from the daemon (0: system default)."),
            one("--header-buffer-size", "BYTES", Some("0"), "Largest response header block from the daemon (0: 32768)."),
            one("--response-buffer-size", "BYTES", Some("0"), "Flush the response after this many unflushed bytes (0: default)."),
            one("--response-socket-timeout", "SECONDS", Some("0"), "Timeout of writes to the client (0: --socket-timeout)."),
        ],
    ),
    (
        "Logging",
        &[
            one("--log-level", "NAME", Some("warn"), "Apache's LogLevel (emerg ... debug, trace1 ... trace8)."),
            flag("--log-to-terminal", "Error (and access) log to this terminal instead of files (default for start-server on a terminal)."),
            flag("--log-to-files", "Log to files even when start-server runs on a terminal."),
            one("--log-directory", "DIR", None, "Directory for the log files (default: the server root)."),
            one("--error-log-name", "NAME", Some("error_log"), "File name of the error log."),
            flag("--access-log", "Write an access log."),
            one("--access-log-format", "FORMAT", Some("common"), "Its format: common, combined, or a LogFormat string."),
            one("--error-log-format", "FORMAT", None, "ErrorLogFormat string of the error log."),
            one("--access-log-name", "NAME", Some("access_log"), "File name of the access log."),
            flag("--rotate-logs", "Rotate the log files with rotatelogs."),
            one("--max-log-size", "MB", Some("5"), "Size at which --rotate-logs rotates."),
        ],
    ),
    (
        "Launcher",
        &[
            one("--httpd-executable", "FILE", Some("/usr/sbin/apache2"), "The Apache binary."),
            one("--modules-directory", "DIR", Some("/usr/lib/apache2/modules"), "Apache's modules directory."),
            one("--module-path", "FILE", None, "mod_rwsgi.so to load (default: env RWSGI_EXPRESS_MODULE, the build tree's libmod_rwsgi.so beside this binary, or mod_rwsgi.so in the modules directory)."),
            flag("--setup-only", "start-server: write the server root, then exit without starting Apache."),
        ],
    ),
];

pub fn spec(name: &str) -> Option<&'static Spec> {
    SECTIONS.iter().flat_map(|(_, specs)| specs.iter()).find(|s| s.name == name)
}

/// Parsed command line: option values by name, and the positional arguments.
#[derive(Default, Debug)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<Vec<String>>>,
    pub positional: Vec<String>,
}

impl Parsed {
    /// Parses `args` (without the program and subcommand names).
    pub fn parse(args: &[String]) -> Result<Parsed, String> {
        let mut out = Parsed::default();
        let mut i = 0;
        let mut only_positional = false;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if only_positional || !a.starts_with("--") {
                if !only_positional && a.starts_with('-') && a.len() > 1 {
                    return Err(format!("unknown option '{a}' (options are spelt --name; see --help)"));
                }
                out.positional.push(a.clone());
                continue;
            }
            if a == "--" {
                only_positional = true;
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            let Some(s) = spec(name) else {
                let close: Vec<&str> = SECTIONS
                    .iter()
                    .flat_map(|(_, specs)| specs.iter())
                    .map(|s| s.name)
                    .filter(|n| n.contains(name.trim_start_matches('-')) || name.contains(n.trim_start_matches('-')))
                    .collect();
                let hint = if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(", ")) };
                return Err(format!("unknown option '{name}'{hint}; see --help"));
            };
            let need = match s.arg {
                Arg::Flag => 0,
                Arg::One(_) => 1,
                Arg::Two(..) => 2,
            };
            let mut vals = Vec::new();
            if let Some(v) = inline {
                if need == 0 {
                    return Err(format!("option {name} takes no value"));
                }
                vals.push(v);
            }
            while vals.len() < need {
                match args.get(i) {
                    Some(v) => {
                        vals.push(v.clone());
                        i += 1;
                    }
                    None => return Err(format!("option {name} needs {} value(s): {}", need, usage_of(s))),
                }
            }
            let entry = out.values.entry(s.name).or_default();
            if !s.multi {
                entry.clear();
            }
            entry.push(vals);
        }
        Ok(out)
    }

    pub fn flag(&self, name: &str) -> bool {
        debug_assert!(spec(name).is_some(), "{name}");
        self.values.contains_key(name)
    }

    /// Whether the option was given on the command line.
    pub fn given(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value given, else the default.
    pub fn get(&self, name: &str) -> Option<String> {
        let s = spec(name).unwrap_or_else(|| panic!("no option {name}"));
        self.values.get(name).and_then(|v| v.last()).and_then(|v| v.first().cloned()).or(s.default.map(str::to_string))
    }

    pub fn all(&self, name: &str) -> Vec<Vec<String>> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.all(name).into_iter().flatten().collect()
    }

    pub fn number(&self, name: &str) -> Result<Option<u64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| format!("{name} takes a whole number, not '{v}'")),
        }
    }
}

fn usage_of(s: &Spec) -> String {
    match s.arg {
        Arg::Flag => s.name.to_string(),
        Arg::One(m) => format!("{} {m}", s.name),
        Arg::Two(a, b) => format!("{} {a} {b}", s.name),
    }
}

/// Help text for all options, wrapped to 80 columns.
pub fn help() -> String {
    let mut out = String::new();
    for (title, specs) in SECTIONS {
        out.push_str(&format!("\n{title}:\n"));
        for s in specs.iter() {
            let mut text = s.help.to_string();
            if let Some(d) = s.default
                && !text.contains("(default")
            {
                text.push_str(&format!(" Default: {d}."));
            }
            if s.multi && !text.contains("repeatable") {
                text.push_str(" Repeatable.");
            }
            out.push_str(&format!("  {}\n", usage_of(s)));
            out.push_str(&wrap(&text, 8, 80));
        }
    }
    out
}

fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&" ".repeat(indent));
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        Parsed::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn values_defaults_and_repeats() {
        let o = p(&["app.wsgi", "--port", "9000", "--threads=3", "--setenv", "A", "1", "--setenv", "B", "2 3", "--reload-on-changes"]).unwrap();
        assert_eq!(o.positional, vec!["app.wsgi"]);
        assert_eq!(o.number("--port").unwrap(), Some(9000));
        assert_eq!(o.number("--threads").unwrap(), Some(3));
        assert_eq!(o.number("--processes").unwrap(), Some(1));
        assert_eq!(o.all("--setenv"), vec![vec!["A".to_string(), "1".into()], vec!["B".into(), "2 3".into()]]);
        assert!(o.flag("--reload-on-changes") && !o.flag("--embedded-mode"));
        assert_eq!(o.get("--callable-object").as_deref(), Some("application"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(p(&["--prot", "1"]).unwrap_err().contains("unknown option '--prot'"));
        assert!(p(&["--port"]).unwrap_err().contains("needs 1 value"));
        assert!(p(&["--setenv", "A"]).unwrap_err().contains("--setenv KEY VALUE"));
        assert!(p(&["--https-only=1"]).unwrap_err().contains("takes no value"));
        assert!(p(&["-p"]).unwrap_err().contains("unknown option '-p'"));
        assert!(p(&["--threads", "x"]).unwrap().number("--threads").unwrap_err().contains("whole number"));
    }
}
