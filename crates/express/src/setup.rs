//! `setup-server`: turns the options into a server root holding `httpd.conf`,
//! `apachectl`, `envvars`, the generated WSGI scripts and the logs.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::locate;
use crate::options::Parsed;

/// What the generated server is, for the launcher and the messages it prints.
pub struct Server {
    pub root: PathBuf,
    pub conf: PathBuf,
    pub apachectl: PathBuf,
    /// Where to connect to see whether Apache is up.
    pub probe: (String, u16),
    pub url: String,
    pub https_url: Option<String>,
    pub error_log: Option<PathBuf>,
    pub listen: Vec<(Option<String>, u16)>,
}

#[derive(Clone, Copy, PartialEq)]
enum AppType {
    Script,
    Module,
    Paste,
    Default,
}

const MPMS: [&str; 3] = ["event", "worker", "prefork"];
const LOG_LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2", "trace3", "trace4", "trace5", "trace6",
    "trace7", "trace8",
];

/// Quotes an Apache argument or a WSGI option value when it must be (it holds
/// whitespace or quotes, or is empty); plain otherwise. mod_rwsgi does not yet
/// strip quotes from `name=value` options, so values are left bare wherever they can be.
fn q(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.to_string()
    }
}

/// An Apache argument that is always quoted (formats and header values hold spaces).
fn apache_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A Python string literal (JSON's escapes are valid Python).
fn py(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A shell word in single quotes.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn abs(p: &str) -> PathBuf {
    let p = Path::new(p);
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn is_module_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

fn port(o: &Parsed, name: &str, root: bool) -> Result<Option<u16>, String> {
    let Some(n) = o.number(name)? else { return Ok(None) };
    if n == 0 || n > 65535 {
        return Err(format!("{name} {n}: ports are 1-65535"));
    }
    if n < 1024 && !root {
        return Err(format!("{name} {n}: ports below 1024 need root; choose a port above 1023 (the default is 8000)"));
    }
    Ok(Some(n as u16))
}

/// Checks the Apache modules we load are there; an error names the Debian package.
struct Modules {
    dir: String,
}

impl Modules {
    fn path(&self, file: &str, why: &str) -> Result<String, String> {
        let p = Path::new(&self.dir).join(file);
        if p.is_file() {
            Ok(path_str(&p))
        } else {
            Err(format!(
                "{why} needs Apache's {file}, which is not in {} (install the Debian package {}: apt-get install {})",
                self.dir,
                locate::debian_package(file),
                locate::debian_package(file)
            ))
        }
    }

    fn load(&self, conf: &mut String, name: &str, why: &str) -> Result<(), String> {
        let file = format!("mod_{name}.so");
        let p = self.path(&file, why)?;
        let _ = writeln!(conf, "<IfModule !{name}_module>\n    LoadModule {name}_module {}\n</IfModule>", q(&p));
        Ok(())
    }
}

/// A server of this root already running is an error for start-server; a pid
/// file left by one that died is removed (Apache's `-k start` would believe a
/// reused pid).
fn check_pid_file(root: &Path) -> Result<(), String> {
    let pid_file = root.join("httpd.pid");
    let Ok(text) = fs::read_to_string(&pid_file) else { return Ok(()) };
    let pid = text.trim();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let conf = path_str(&root.join("httpd.conf"));
    if !pid.is_empty() && cmdline.windows(conf.len()).any(|w| w == conf.as_bytes()) {
        return Err(format!("Apache is already running for {} (pid {pid}); stop it with {}/apachectl stop", root.display(), root.display()));
    }
    fs::remove_file(&pid_file).map_err(|e| format!("cannot remove stale {}: {e}", pid_file.display()))
}

/// Writes the server root for `o`; `log_to_terminal` is the resolved choice.
/// `starting`: for start-server, which refuses a server root in use.
pub fn setup(o: &Parsed, log_to_terminal: bool, starting: bool) -> Result<Server, String> {
    let is_root = locate::euid() == 0;
    let httpd = o.get("--httpd-executable").unwrap_or_default();
    locate::httpd(&httpd)?;
    let mods = Modules { dir: o.get("--modules-directory").unwrap_or_default() };
    if !Path::new(&mods.dir).is_dir() {
        return Err(format!("Apache's modules directory {} does not exist (install the Debian package apache2-bin)", mods.dir));
    }
    let module = locate::module(o.get("--module-path").as_deref(), &mods.dir)?;

    // ---- the entry point -------------------------------------------------------
    if o.positional.len() > 1 || (o.given("--entry-point") && !o.positional.is_empty()) {
        return Err(format!("one entry point only; unexpected argument(s): {}", o.positional.join(" ")));
    }
    let entry = o.get("--entry-point").or_else(|| o.positional.first().cloned());
    let mut callable = o.get("--callable-object").unwrap_or_default();
    let app_type = match (o.get("--application-type").as_deref(), &entry) {
        (_, None) => AppType::Default,
        (Some("script"), _) => AppType::Script,
        (Some("module"), _) => AppType::Module,
        (Some("paste"), _) => AppType::Paste,
        (Some(other), _) => return Err(format!("--application-type {other}: use script, module or paste")),
        (None, _) => AppType::Script,
    };
    let mut entry_path: Option<PathBuf> = None;
    let mut module_name = String::new();
    match app_type {
        AppType::Script | AppType::Paste => {
            let e = entry.clone().unwrap_or_default();
            let p = abs(&e);
            if !p.is_file() {
                let what = if app_type == AppType::Script { "WSGI script" } else { "Paste Deploy configuration" };
                let hint = if app_type == AppType::Script && is_module_name(e.split(':').next().unwrap_or("")) && !e.ends_with(".py") {
                    format!(" (for an importable module use --application-type module {e})")
                } else {
                    String::new()
                };
                return Err(format!("{what} not found: {}{hint}", p.display()));
            }
            entry_path = Some(p);
        }
        AppType::Module => {
            let e = entry.clone().unwrap_or_default();
            let (m, c) = match e.split_once(':') {
                Some((m, c)) => (m.to_string(), Some(c.to_string())),
                None => (e.clone(), None),
            };
            if !is_module_name(&m) || c.as_deref().is_some_and(|c| !is_module_name(c) || c.contains('.')) {
                return Err(format!("--application-type module: '{e}' is not a module name ('pkg.module' or 'pkg.module:callable')"));
            }
            module_name = m;
            if let Some(c) = c {
                callable = c;
            }
        }
        AppType::Default => {}
    }
    if !is_module_name(&callable) || callable.contains('.') {
        return Err(format!("--callable-object '{callable}' is not a Python name"));
    }

    // ---- addresses -------------------------------------------------------------
    let http_port = port(o, "--port", is_root)?.unwrap_or(8000);
    let https_port = port(o, "--https-port", is_root)?;
    if https_port == Some(http_port) {
        return Err("--https-port must differ from --port".into());
    }
    let host = o.get("--host");
    let server_name = o.get("--server-name").unwrap_or_else(|| "localhost".into());
    let host_label = host.clone().unwrap_or_else(|| "localhost".into());
    let mut mount = o.get("--mount-point").unwrap_or_else(|| "/".into());
    if !mount.starts_with('/') {
        return Err(format!("--mount-point '{mount}' must start with '/'"));
    }
    while mount.len() > 1 && mount.ends_with('/') {
        mount.pop();
    }

    // ---- who runs it -------------------------------------------------------------
    let uid = locate::euid();
    let (run_user, run_group) = if is_root {
        let name = o.get("--user").unwrap_or_else(|| "www-data".into());
        let u = locate::user_by_name(&name).ok_or_else(|| format!("--user {name}: no such user"))?;
        if u.uid == 0 {
            return Err("--user: Apache's children and the daemon processes must not run as root; name an ordinary user (default www-data)".into());
        }
        let (gname, gid) = match o.get("--group") {
            Some(g) => (g.clone(), locate::group_by_name(&g).ok_or_else(|| format!("--group {g}: no such group"))?),
            None => (locate::group_name(u.gid).unwrap_or_else(|| u.gid.to_string()), u.gid),
        };
        (Some((u, gname)), gid)
    } else {
        // Not root: Apache and the daemons run as this user; --user/--group may only repeat that.
        let me = locate::user_by_uid(uid);
        if let Some(v) = o.get("--user") {
            let name = me.as_ref().map(|u| u.name.clone()).unwrap_or_default();
            if v != name {
                return Err(format!("--user {v}: only root can run Apache as another user (running as {name})"));
            }
        }
        if let Some(g) = o.get("--group") {
            // SAFETY: getegid cannot fail.
            let egid = unsafe { libc::getegid() };
            if locate::group_by_name(&g) != Some(egid) {
                return Err(format!("--group {g}: only root can run Apache with another group"));
            }
        }
        (None, 0)
    };

    // ---- the server root ---------------------------------------------------------
    let root = match o.get("--server-root") {
        Some(r) => abs(&r),
        None => PathBuf::from(format!("/tmp/rwsgi-express-{host_label}:{http_port}:{uid}")),
    };
    if let Ok(m) = fs::symlink_metadata(&root) {
        // Never follow a link someone else may have planted in /tmp.
        if m.file_type().is_symlink() {
            return Err(format!("server root {} is a symbolic link; refusing to write through it (give the real directory)", root.display()));
        }
        if !m.is_dir() {
            return Err(format!("server root {} exists and is not a directory", root.display()));
        }
        if m.uid() != uid {
            return Err(format!(
                "server root {} belongs to uid {}, not to you (uid {uid}); remove it or choose another with --server-root",
                root.display(),
                m.uid()
            ));
        }
        if starting {
            check_pid_file(&root)?;
        }
    } else {
        fs::create_dir_all(&root).map_err(|e| format!("cannot create server root {}: {e}", root.display()))?;
    }
    // Apache's children (www-data when started as root) read the generated scripts here.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(|e| format!("{}: {e}", root.display()))?;
    let rootp = |name: &str| root.join(name);
    let root_s = path_str(&root);

    // ---- the Python side -----------------------------------------------------------
    let workdir = match o.get("--working-directory") {
        Some(w) => abs(&w),
        None => match &entry_path {
            Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/")),
            None if app_type == AppType::Default => root.clone(),
            None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
        },
    };
    if !workdir.is_dir() {
        return Err(format!("--working-directory {}: no such directory", workdir.display()));
    }
    let mut python_path = vec![path_str(&workdir)];
    for p in o.list("--python-path") {
        let p = abs(&p);
        if !p.is_dir() {
            return Err(format!("--python-path {}: no such directory", p.display()));
        }
        python_path.push(path_str(&p));
    }
    let python_home = match o.get("--python-home") {
        Some(h) => {
            let p = abs(&h);
            if !p.join("pyvenv.cfg").is_file() && !p.join("bin").join("python3").exists() {
                return Err(format!(
                    "--python-home {}: no virtual environment there (no pyvenv.cfg or bin/python3); make one with /usr/bin/python3 -m venv {}",
                    p.display(),
                    p.display()
                ));
            }
            check_venv_python(&p)?;
            Some(p)
        }
        None => None,
    };
    // Default: this process's LANG when it names an installed UTF-8-capable
    // locale, else C.UTF-8 (always there on Debian).
    let lang = o.get("--lang").unwrap_or_else(|| {
        let env = std::env::var("LANG").unwrap_or_default();
        if env.is_empty() || env == "C" || env == "POSIX" || !locale_installed(&env) { "C.UTF-8".into() } else { env }
    });
    let locale = o.get("--locale").unwrap_or_else(|| lang.clone());
    for (opt, name) in [("--lang", &lang), ("--locale", &locale)] {
        if o.given(opt) && !locale_installed(name) {
            return Err(format!("{opt} {name}: this locale is not installed (see locale -a); use C.UTF-8 or install it (Debian package locales)"));
        }
    }

    // Everything the children read must be readable by the user they run as.
    if let Some((u, _)) = &run_user {
        let mut check: Vec<(String, PathBuf)> = vec![("the working directory".into(), workdir.clone())];
        if let Some(p) = &entry_path {
            check.push(("the entry point".into(), p.clone()));
        }
        if let Some(p) = &python_home {
            check.push(("--python-home".into(), p.clone()));
        }
        for p in &python_path[1..] {
            check.push(("--python-path".into(), PathBuf::from(p)));
        }
        for opt in ["--document-root", "--auth-user-script", "--host-access-script"] {
            if let Some(p) = o.get(opt) {
                check.push((opt.into(), abs(&p)));
            }
        }
        for pair in o.all("--url-alias") {
            check.push(("--url-alias".into(), abs(&pair[1])));
        }
        for (what, p) in check {
            if let Some(why) = locate::unreadable_by(&p, u.uid, run_group) {
                return Err(format!(
                    "{what} {}: Apache's children run as '{}' and cannot read it ({why}); move it (not under /root) or choose another --user",
                    p.display(),
                    u.name
                ));
            }
        }
    }

    // ---- processes -----------------------------------------------------------------
    let embedded = o.flag("--embedded-mode");
    let processes = o.number("--processes")?.unwrap_or(1);
    let threads = o.number("--threads")?.unwrap_or(5);
    if processes == 0 || threads == 0 {
        return Err("--processes and --threads must be at least 1".into());
    }
    let mpm = match o.get("--server-mpm") {
        Some(m) => {
            if !MPMS.contains(&m.as_str()) {
                return Err(format!("--server-mpm {m}: use event, worker or prefork"));
            }
            mods.path(&format!("mod_mpm_{m}.so"), &format!("--server-mpm {m}"))?;
            m
        }
        None => MPMS
            .iter()
            .find(|m| Path::new(&mods.dir).join(format!("mod_mpm_{m}.so")).is_file())
            .map(|m| m.to_string())
            .ok_or_else(|| format!("no Apache MPM module in {} (install the Debian package apache2-bin)", mods.dir))?,
    };
    let group_name = o.get("--process-group").unwrap_or_else(|| format!("{host_label}:{http_port}"));
    if group_name.contains('/') || group_name.chars().any(char::is_whitespace) {
        return Err(format!("--process-group '{group_name}': no '/' or spaces (it names the daemon's socket)"));
    }
    let app_group = o.get("--application-group").unwrap_or_else(|| "%{GLOBAL}".into());
    let process_group = if embedded { "%{GLOBAL}".to_string() } else { group_name.clone() };
    let log_level = o.get("--log-level").unwrap_or_else(|| "warn".into());
    if !LOG_LEVELS.contains(&log_level.as_str()) {
        return Err(format!("--log-level {log_level}: use one of {}", LOG_LEVELS.join(", ")));
    }

    // ---- httpd.conf ------------------------------------------------------------------
    let mut c = String::new();
    let cmdline: Vec<String> = std::env::args().map(|a| if a.contains(char::is_whitespace) { format!("'{a}'") } else { a }).collect();
    let _ = writeln!(c, "# Generated by rwsgi-express; regenerated by every setup-server/start-server.");
    let _ = writeln!(c, "# Command: {}\n", cmdline.join(" ").replace('\n', " "));
    let _ = writeln!(c, "ServerRoot {}", q(&root_s));
    let _ = writeln!(c, "DefaultRuntimeDir {}", q(&root_s));
    let _ = writeln!(c, "PidFile {}", q(&path_str(&rootp("httpd.pid"))));
    let _ = writeln!(c, "ServerName {}", q(&server_name));
    c.push_str("ServerTokens ProductOnly\nServerSignature Off\nHostnameLookups Off\nTimeout 60\n");
    if let Some((u, g)) = &run_user {
        let _ = writeln!(c, "User {}\nGroup {}", q(&u.name), q(g));
    }
    let listen_on = |p: u16| match &host {
        Some(h) if h.contains(':') => format!("[{h}]:{p}"),
        Some(h) => format!("{h}:{p}"),
        None => p.to_string(),
    };
    let _ = writeln!(c, "Listen {}", listen_on(http_port));
    if let Some(p) = https_port {
        let _ = writeln!(c, "Listen {} https", listen_on(p));
    }
    let _ = writeln!(c, "ListenBacklog {}", o.number("--server-backlog")?.unwrap_or(500));
    c.push('\n');

    let _ = writeln!(c, "LoadModule mpm_{mpm}_module {}", q(&mods.path(&format!("mod_mpm_{mpm}.so"), "Apache")?));
    // mod_unixd and mod_log_config are compiled into Debian's apache2.
    for m in ["authz_core", "authz_host", "mime", "alias", "dir"] {
        mods.load(&mut c, m, "the generated configuration")?;
    }
    let document_root = o.get("--document-root").map(|d| abs(&d));
    let need_rewrite = o.flag("--https-only") || o.given("--rewrite-rules") || (document_root.is_some() && mount == "/");
    if need_rewrite {
        mods.load(&mut c, "rewrite", "--document-root/--https-only/--rewrite-rules")?;
    }
    let read_timeouts = (o.number("--header-timeout")?.unwrap_or(0), o.number("--body-timeout")?.unwrap_or(0));
    if read_timeouts != (0, 0) {
        mods.load(&mut c, "reqtimeout", "--header-timeout/--body-timeout")?;
    }
    if o.given("--hsts-policy") {
        mods.load(&mut c, "headers", "--hsts-policy")?;
    }
    if o.given("--setenv") || o.given("--passenv") {
        mods.load(&mut c, "env", "--setenv/--passenv")?;
    }
    if https_port.is_some() {
        mods.load(&mut c, "ssl", "--https-port")?;
        mods.load(&mut c, "socache_shmcb", "--https-port")?;
    } else if o.flag("--https-only") {
        return Err("--https-only needs --https-port".into());
    }
    if o.flag("--http2") {
        mods.load(&mut c, "http2", "--http2")?;
    }
    if o.flag("--compress-responses") {
        mods.load(&mut c, "filter", "--compress-responses")?;
        mods.load(&mut c, "deflate", "--compress-responses")?;
    }
    if o.flag("--server-status") {
        mods.load(&mut c, "status", "--server-status")?;
    }
    let auth_type = o.get("--auth-type").unwrap_or_else(|| "Basic".into());
    if o.given("--auth-user-script") {
        let auth_mod = match auth_type.as_str() {
            "Basic" => "auth_basic",
            "Digest" => "auth_digest",
            other => return Err(format!("--auth-type {other}: use Basic or Digest")),
        };
        for m in ["authn_core", auth_mod, "authz_user"] {
            mods.load(&mut c, m, "--auth-user-script")?;
        }
    }
    let _ = writeln!(c, "LoadModule rwsgi_module {}\n", q(&path_str(&module)));
    if Path::new("/etc/mime.types").is_file() {
        c.push_str("TypesConfig /etc/mime.types\n");
    }

    // Logging.
    let log_dir = o.get("--log-directory").map(|d| abs(&d)).unwrap_or_else(|| root.clone());
    let terminal = log_to_terminal && !o.given("--log-directory");
    let rotate = o.flag("--rotate-logs");
    if rotate && !Path::new("/usr/bin/rotatelogs").is_file() {
        return Err("--rotate-logs needs /usr/bin/rotatelogs (install the Debian package apache2-utils)".into());
    }
    let max_log = o.number("--max-log-size")?.unwrap_or(5);
    let log_target = |name: &str| {
        let file = path_str(&log_dir.join(name));
        if rotate { q(&format!("|/usr/bin/rotatelogs {file}.%Y-%m-%d-%H_%M_%S {max_log}M")) } else { q(&file) }
    };
    let error_log_name = o.get("--error-log-name").unwrap_or_else(|| "error_log".into());
    let error_log = if terminal { None } else { Some(log_dir.join(&error_log_name)) };
    if !terminal {
        fs::create_dir_all(&log_dir).map_err(|e| format!("cannot create log directory {}: {e}", log_dir.display()))?;
    }
    let _ = writeln!(c, "ErrorLog {}", if terminal { "/dev/stderr".to_string() } else { log_target(&error_log_name) });
    let _ = writeln!(c, "LogLevel {log_level}");
    if let Some(f) = o.get("--error-log-format") {
        let _ = writeln!(c, "ErrorLogFormat {}", apache_string(&f));
    }
    if o.flag("--access-log") {
        c.push_str("LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common\n");
        c.push_str("LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" combined\n");
        let format = match o.get("--access-log-format").as_deref() {
            Some("common") | None => "common".to_string(),
            Some("combined") => "combined".to_string(),
            Some(custom) => apache_string(custom),
        };
        let name = o.get("--access-log-name").unwrap_or_else(|| "access_log".into());
        let _ = writeln!(c, "CustomLog {} {format}", if terminal { "/dev/stdout".to_string() } else { log_target(&name) });
    }
    c.push('\n');

    // Limits and the MPM.
    let _ = writeln!(c, "LimitRequestBody {}", o.number("--limit-request-body")?.unwrap_or(10485760));
    match o.number("--keep-alive-timeout")?.unwrap_or(2) {
        0 => c.push_str("KeepAlive Off\n"),
        n => {
            let _ = writeln!(c, "KeepAlive On\nKeepAliveTimeout {n}");
        }
    }
    if read_timeouts != (0, 0) {
        let part = |name: &str, t: u64, max: Option<u64>, rate: u64| match (t, max) {
            (0, _) => format!("{name}=0"),
            (t, Some(m)) if m > t => format!("{name}={t}-{m},MinRate={rate}"),
            (t, _) => format!("{name}={t},MinRate={rate}"),
        };
        let _ = writeln!(
            c,
            "RequestReadTimeout {} {}",
            part("header", read_timeouts.0, o.number("--header-max-timeout")?, o.number("--header-min-rate")?.unwrap_or(500)),
            part("body", read_timeouts.1, None, o.number("--body-min-rate")?.unwrap_or(500))
        );
    }
    if o.flag("--enable-sendfile") {
        c.push_str("EnableSendfile On\n");
    }
    for pair in o.all("--error-document") {
        let _ = writeln!(c, "ErrorDocument {} {}", q(&pair[0]), q(&pair[1]));
    }
    let _ = writeln!(c, "{}", mpm_sizing(&mpm, embedded, processes, threads, o.number("--max-clients")?));
    c.push_str("MaxConnectionsPerChild 0\n");
    if o.flag("--http2") {
        c.push_str("Protocols h2 h2c http/1.1\n");
    }
    if o.flag("--compress-responses") {
        for t in ["text/plain", "text/html", "text/xml", "text/css", "text/javascript", "application/xhtml+xml", "application/javascript", "application/json"] {
            let _ = writeln!(c, "AddOutputFilterByType DEFLATE {t}");
        }
    }
    c.push('\n');

    // Access: nothing by default, then what is served.
    let htdocs = document_root.clone().unwrap_or_else(|| rootp("htdocs"));
    if document_root.is_none() {
        fs::create_dir_all(&htdocs).map_err(|e| format!("{}: {e}", htdocs.display()))?;
    } else if !htdocs.is_dir() {
        return Err(format!("--document-root {}: no such directory", htdocs.display()));
    }
    let htdocs_s = path_str(&htdocs);
    c.push_str("<Directory />\n    AllowOverride None\n    Require all denied\n</Directory>\n");
    let _ = writeln!(c, "DocumentRoot {}", q(&htdocs_s));
    let _ = writeln!(c, "<Directory {}>\n    AllowOverride None\n    Require all granted\n</Directory>", q(&htdocs_s));
    if let Some(index) = o.get("--directory-index") {
        let _ = writeln!(c, "DirectoryIndex {}", q(&index));
    }
    for pair in o.all("--url-alias") {
        let (url, target) = (&pair[0], abs(&pair[1]));
        if !url.starts_with('/') {
            return Err(format!("--url-alias {url}: the URL path must start with '/'"));
        }
        if !target.exists() {
            return Err(format!("--url-alias {url} {}: no such file or directory", target.display()));
        }
        let t = path_str(&target);
        let _ = writeln!(c, "Alias {} {}", q(url), q(&t));
        if target.is_dir() {
            let _ = writeln!(c, "<Directory {}>\n    Require all granted\n</Directory>", q(&t));
        } else {
            let dir = path_str(target.parent().unwrap_or(Path::new("/")));
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let _ = writeln!(c, "<Directory {}>\n    <Files {}>\n        Require all granted\n    </Files>\n</Directory>", q(&dir), q(&name));
        }
    }
    for pair in o.all("--setenv") {
        let _ = writeln!(c, "SetEnv {} {}", q(&pair[0]), q(&pair[1]));
    }
    for name in o.list("--passenv") {
        let _ = writeln!(c, "PassEnv {}", q(&name));
    }
    if o.flag("--server-status") {
        c.push_str("ExtendedStatus On\n<Location /server-status>\n    SetHandler server-status\n    Require local\n</Location>\n");
    }
    c.push('\n');

    // Rewriting: HTTPS redirect, existing static files before the application, user rules.
    if need_rewrite {
        c.push_str("RewriteEngine On\n");
        if let (true, Some(p)) = (o.flag("--https-only"), https_port) {
            let _ = writeln!(c, "RewriteCond %{{HTTPS}} !=on\nRewriteRule ^ https://{server_name}:{p}%{{REQUEST_URI}} [R=301,L]");
        }
        if document_root.is_some() && mount == "/" {
            // mod_rewrite runs before WSGIScriptAlias: a file that exists is mapped
            // to itself, everything else falls through to the application.
            if let Some(index) = o.get("--directory-index") {
                let _ = writeln!(
                    c,
                    "RewriteCond {} -f\nRewriteRule ^(.*/)$ {} [L]",
                    q(&format!("{htdocs_s}%{{REQUEST_URI}}{index}")),
                    q(&format!("{htdocs_s}$1{index}"))
                );
            }
            let _ = writeln!(c, "RewriteCond {} -f\nRewriteRule ^(.*)$ {} [L]", q(&format!("{htdocs_s}%{{REQUEST_URI}}")), q(&format!("{htdocs_s}$1")));
        }
        if let Some(f) = o.get("--rewrite-rules") {
            let f = abs(&f);
            if !f.is_file() {
                return Err(format!("--rewrite-rules {}: no such file", f.display()));
            }
            let _ = writeln!(c, "Include {}", q(&path_str(&f)));
        }
        c.push('\n');
    }

    // ---- mod_rwsgi -------------------------------------------------------------------------
    let _ = writeln!(c, "WSGISocketPrefix {}", q(&path_str(&rootp("wsgi"))));
    c.push_str("WSGISocketRotation Off\n");
    if o.flag("--chunked-request") {
        c.push_str("WSGIChunkedRequest On\n");
    }
    if o.flag("--disable-reloading") {
        c.push_str("WSGIScriptReloading Off\n");
    }
    if let (Some(h), true) = (&python_home, embedded) {
        let _ = writeln!(c, "WSGIPythonHome {}", q(&path_str(h)));
    }
    if embedded {
        let _ = writeln!(c, "WSGIPythonPath {}", q(&python_path.join(":")));
    } else {
        c.push_str("WSGIRestrictEmbedded On\n");
        let mut d = format!("WSGIDaemonProcess {}", q(&group_name));
        let mut opt = |k: &str, v: &str| {
            let _ = write!(d, " \\\n    {k}={}", q(v));
        };
        opt("display-name", &format!("(rwsgi:{host_label}:{http_port}:{uid})"));
        opt("home", &path_str(&workdir));
        if processes > 1 {
            opt("processes", &processes.to_string());
        }
        opt("threads", &threads.to_string());
        opt("python-path", &python_path.join(":"));
        if let Some(h) = &python_home {
            opt("python-home", &path_str(h));
        }
        if let Some((u, g)) = &run_user {
            opt("user", &u.name);
            opt("group", g);
        }
        opt("lang", &lang);
        opt("locale", &locale);
        opt("listen-backlog", &o.number("--daemon-backlog")?.unwrap_or(100).to_string());
        // Zero means "the module's default" (mostly: off) for all of these: leave those out.
        for name in [
            "maximum-requests",
            "request-timeout",
            "queue-timeout",
            "connect-timeout",
            "socket-timeout",
            "startup-timeout",
            "shutdown-timeout",
            "graceful-timeout",
            "deadlock-timeout",
            "interrupt-timeout",
            "eviction-timeout",
            "inactivity-timeout",
            "restart-interval",
            "cpu-time-limit",
            "memory-limit",
            "send-buffer-size",
            "receive-buffer-size",
            "header-buffer-size",
            "response-buffer-size",
            "response-socket-timeout",
        ] {
            let v = o.number(&format!("--{name}"))?.unwrap_or(0);
            if v > 0 {
                opt(name, &v.to_string());
            }
        }
        let _ = writeln!(c, "{d}");
        let _ = writeln!(c, "WSGIProcessGroup {}", q(&group_name));
    }
    let _ = writeln!(c, "WSGIApplicationGroup {}", q(&app_group));

    // The script mounted: the user's own, or one we generate.
    let watched: Vec<String> = entry_path.iter().map(|p| path_str(p)).collect();
    let script = match app_type {
        AppType::Script => entry_path.clone().unwrap(),
        AppType::Module => {
            let p = rootp("handler.wsgi");
            write_file(&p, &module_handler(&module_name, &callable, &python_path[0]), 0o644)?;
            callable = "application".into();
            p
        }
        AppType::Paste => {
            let p = rootp("handler.wsgi");
            write_file(&p, &paste_handler(&path_str(entry_path.as_ref().unwrap()), &python_path[0]), 0o644)?;
            callable = "application".into();
            p
        }
        AppType::Default => {
            let p = rootp("default.wsgi");
            write_file(&p, DEFAULT_APP, 0o644)?;
            callable = "application".into();
            p
        }
    };
    let script_s = path_str(&script);
    let mut alias_opts = format!("process-group={} application-group={} pass-authorization=On", q(&process_group), q(&app_group));
    if callable != "application" {
        let _ = write!(alias_opts, " callable-object={callable}");
    }
    let _ = writeln!(c, "WSGIScriptAlias {} {} {alias_opts}", q(&mount), q(&script_s));
    // Loaded when each process starts, so an import error shows at once.
    let _ = writeln!(c, "WSGIImportScript {} process-group={} application-group={}", q(&script_s), q(&process_group), q(&app_group));
    let script_dir = path_str(script.parent().unwrap_or(Path::new("/")));
    let script_name = script.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _ = writeln!(c, "<Directory {}>\n    <Files {}>\n        Require all granted\n    </Files>\n</Directory>", q(&script_dir), q(&script_name));
    if o.flag("--reload-on-changes") && embedded {
        eprintln!("rwsgi-express: note: with --embedded-mode, --reload-on-changes reloads the WSGI script only (imported modules need daemon mode)");
    }
    if o.flag("--reload-on-changes") && !embedded {
        let p = rootp("reloader.py");
        write_file(&p, &reloader(&watched), 0o644)?;
        let _ = writeln!(c, "WSGIImportScript {} process-group={} application-group={}", q(&path_str(&p)), q(&process_group), q(&app_group));
    }
    let mut location = String::new();
    if let Some(s) = o.get("--host-access-script") {
        let s = abs(&s);
        if !s.is_file() {
            return Err(format!("--host-access-script {}: no such file", s.display()));
        }
        let _ = writeln!(location, "    WSGIAccessScript {} application-group={}", q(&path_str(&s)), q(&app_group));
    }
    if let Some(s) = o.get("--auth-user-script") {
        let s = abs(&s);
        if !s.is_file() {
            return Err(format!("--auth-user-script {}: no such file", s.display()));
        }
        let _ = writeln!(location, "    AuthType {auth_type}\n    AuthName {}", q(&format!("{host_label}:{http_port}")));
        let _ = writeln!(location, "    Auth{auth_type}Provider wsgi");
        let _ = writeln!(location, "    WSGIAuthUserScript {} application-group={}", q(&path_str(&s)), q(&app_group));
        location.push_str("    Require valid-user\n");
    }
    if !location.is_empty() {
        let _ = writeln!(c, "<Location {}>\n{location}</Location>", q(&mount));
    }
    let proxies = o.list("--trust-proxy");
    if !proxies.is_empty() {
        let _ = writeln!(c, "WSGITrustedProxies {}", proxies.iter().map(|p| q(p)).collect::<Vec<_>>().join(" "));
    }
    let headers = o.list("--trust-proxy-header");
    if !headers.is_empty() {
        let _ = writeln!(c, "WSGITrustedProxyHeaders {}", headers.iter().map(|p| q(p)).collect::<Vec<_>>().join(" "));
    }

    // HTTPS: a virtual host on its port that inherits all of the above.
    if let Some(p) = https_port {
        let cert = o.get("--ssl-certificate-file").ok_or("--https-port needs --ssl-certificate-file")?;
        let key = o.get("--ssl-certificate-key-file").ok_or("--https-port needs --ssl-certificate-key-file")?;
        let (cert, key) = (abs(&cert), abs(&key));
        for (opt, f) in [("--ssl-certificate-file", &cert), ("--ssl-certificate-key-file", &key)] {
            if !f.is_file() {
                return Err(format!("{opt} {}: no such file", f.display()));
            }
        }
        let _ = writeln!(c, "\nSSLSessionCache {}", q(&format!("shmcb:{}(512000)", path_str(&rootp("ssl_scache")))));
        let _ = writeln!(c, "<VirtualHost *:{p}>\n    ServerName {}\n    SSLEngine on", q(&server_name));
        let _ = writeln!(c, "    SSLCertificateFile {}\n    SSLCertificateKeyFile {}", q(&path_str(&cert)), q(&path_str(&key)));
        if let Some(chain) = o.get("--ssl-certificate-chain-file") {
            let chain = abs(&chain);
            if !chain.is_file() {
                return Err(format!("--ssl-certificate-chain-file {}: no such file", chain.display()));
            }
            let _ = writeln!(c, "    SSLCertificateChainFile {}", q(&path_str(&chain)));
        }
        if let Some(policy) = o.get("--hsts-policy") {
            let _ = writeln!(c, "    Header always set Strict-Transport-Security {}", apache_string(&policy));
        }
        if need_rewrite {
            c.push_str("    RewriteEngine On\n    RewriteOptions Inherit\n");
        }
        c.push_str("</VirtualHost>\n");
    } else if o.given("--ssl-certificate-file") || o.given("--ssl-certificate-key-file") || o.given("--ssl-certificate-chain-file") {
        return Err("the certificate options need --https-port".into());
    }
    for f in o.list("--include-file") {
        let f = abs(&f);
        if !f.is_file() {
            return Err(format!("--include-file {}: no such file", f.display()));
        }
        let _ = writeln!(c, "Include {}", q(&path_str(&f)));
    }

    let conf = rootp("httpd.conf");
    write_file(&conf, &c, 0o644)?;
    let envvars = rootp("envvars");
    if !envvars.exists() {
        write_file(&envvars, ENVVARS, 0o644)?;
    }
    let apachectl = rootp("apachectl");
    let home = run_user.as_ref().map(|(u, _)| u.home.as_str());
    let envvars_script = match o.get("--envvars-script") {
        Some(f) => {
            let f = abs(&f);
            if !f.is_file() {
                return Err(format!("--envvars-script {}: no such file", f.display()));
            }
            Some(path_str(&f))
        }
        None => None,
    };
    write_file(&apachectl, &apachectl_script(&httpd, &root_s, &path_str(&workdir), &lang, &locale, home, envvars_script.as_deref()), 0o755)?;

    let url_host = host.clone().filter(|h| h != "0.0.0.0" && h != "::").unwrap_or_else(|| server_name.clone());
    let url_host = if url_host.contains(':') { format!("[{url_host}]") } else { url_host };
    let mount_slash = if mount == "/" { "/".to_string() } else { format!("{mount}/") };
    let probe_host = match host.as_deref() {
        None | Some("0.0.0.0") => "127.0.0.1".to_string(),
        Some("::") => "::1".to_string(),
        Some(h) => h.to_string(),
    };
    let mut listen = vec![(host.clone(), http_port)];
    if let Some(p) = https_port {
        listen.push((host.clone(), p));
    }
    Ok(Server {
        root: root.clone(),
        conf,
        apachectl,
        probe: (probe_host, http_port),
        url: format!("http://{url_host}:{http_port}{mount_slash}"),
        https_url: https_port.map(|p| format!("https://{url_host}:{p}{mount_slash}")),
        error_log,
        listen,
    })
}

/// Whether the C library can switch to locale `name` (what the daemon will try).
fn locale_installed(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else { return false };
    // SAFETY: single-threaded; the previous locale ("C": Rust never changes it) is restored at once.
    unsafe {
        let ok = !libc::setlocale(libc::LC_ALL, c.as_ptr()).is_null();
        libc::setlocale(libc::LC_ALL, c"C".as_ptr());
        ok
    }
}

/// A virtualenv must be of the Python mod_rwsgi embeds (/usr/bin/python3):
/// compares the venv's lib/pythonX.Y with the version /usr/bin/python3 links to.
fn check_venv_python(venv: &Path) -> Result<(), String> {
    let Ok(target) = fs::read_link("/usr/bin/python3") else { return Ok(()) };
    let ours = target.to_string_lossy().rsplit('/').next().unwrap_or_default().to_string();
    if !ours.starts_with("python3.") {
        return Ok(());
    }
    let theirs: Vec<String> = fs::read_dir(venv.join("lib"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("python3")).collect())
        .unwrap_or_default();
    if !theirs.is_empty() && !theirs.contains(&ours) {
        return Err(format!(
            "--python-home {}: made with {}, but mod_rwsgi embeds /usr/bin/python3 ({ours}); make it with /usr/bin/python3 -m venv",
            venv.display(),
            theirs.join(", ")
        ));
    }
    Ok(())
}

fn mpm_sizing(mpm: &str, embedded: bool, processes: u64, threads: u64, max_clients: Option<u64>) -> String {
    if embedded {
        // The application runs in Apache's children: size them as asked.
        return if mpm == "prefork" {
            let n = processes * threads;
            format!("StartServers {n}\nMinSpareServers {n}\nMaxSpareServers {n}\nServerLimit {n}\nMaxRequestWorkers {n}")
        } else {
            format!(
                "StartServers {processes}\nServerLimit {processes}\nThreadLimit {threads}\nThreadsPerChild {threads}\nMinSpareThreads 1\nMaxSpareThreads {}\nMaxRequestWorkers {}",
                processes * threads,
                processes * threads
            )
        };
    }
    // Daemon mode: Apache's children only relay requests; enough of them for
    // every daemon thread plus slow clients.
    let clients = max_clients.unwrap_or_else(|| 10 + 10u64.max((3 * processes * threads).div_ceil(2))).max(1);
    if mpm == "prefork" {
        format!("StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nServerLimit {clients}\nMaxRequestWorkers {clients}")
    } else {
        let per_child = clients.min(10);
        let children = clients.div_ceil(per_child);
        format!(
            "StartServers 1\nServerLimit {}\nThreadLimit {per_child}\nThreadsPerChild {per_child}\nMinSpareThreads {per_child}\nMaxSpareThreads {}\nMaxRequestWorkers {}",
            children + 1,
            children * per_child,
            children * per_child
        )
    }
}

const DEFAULT_APP: &str = r#""""Generated by rwsgi-express: the page served when no application is given."""


def application(environ, start_response):
    body = (
        b"rwsgi-express is running, but no WSGI application was given.\n"
        b"Start it with: rwsgi-express start-server path/to/app.wsgi\n"
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn module_handler(module: &str, callable: &str, workdir: &str) -> String {
    format!(
        r#""""Generated by rwsgi-express: serves `{callable}` of module `{module}`."""

import importlib
import sys

_directory = {dir}
if _directory not in sys.path:
    sys.path.insert(0, _directory)

_module = importlib.import_module({module_lit})
try:
    application = getattr(_module, {callable_lit})
except AttributeError:
    raise RuntimeError("rwsgi-express: module %r has no attribute %r (the WSGI callable)" % ({module_lit}, {callable_lit})) from None
"#,
        dir = py(workdir),
        module_lit = py(module),
        callable_lit = py(callable),
    )
}

fn paste_handler(ini: &str, workdir: &str) -> String {
    format!(
        r#""""Generated by rwsgi-express: serves the Paste Deploy application of {ini_name}."""

import configparser
import logging.config
import sys

_directory = {dir}
if _directory not in sys.path:
    sys.path.insert(0, _directory)

_ini = {ini}
_parser = configparser.ConfigParser()
_parser.read(_ini)
if _parser.has_section("loggers"):
    logging.config.fileConfig(_ini, disable_existing_loggers=False)

try:
    from paste.deploy import loadapp
except ImportError:
    raise RuntimeError("rwsgi-express: --application-type paste needs PasteDeploy installed in the Python environment (pip install PasteDeploy)") from None

application = loadapp("config:" + _ini)
"#,
        ini_name = Path::new(ini).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        dir = py(workdir),
        ini = py(ini),
    )
}

fn reloader(extra: &[String]) -> String {
    let files: Vec<String> = extra.iter().map(|f| py(f)).collect();
    format!(
        r#""""Generated by rwsgi-express for --reload-on-changes.

Watches every Python file this daemon process has loaded (and the entry point);
when one changes, asks the process to stop gracefully (SIGUSR1: running
requests finish). The Apache parent then starts a new process, which loads the
application afresh.
"""

import os
import signal
import sys
import threading
import time

_EXTRA = [{files}]


def _files():
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            yield name
    yield from _EXTRA


def _watch():
    seen = {{}}
    while True:
        for name in set(_files()):
            try:
                mtime = os.stat(name).st_mtime_ns
            except OSError:
                continue
            if seen.setdefault(name, mtime) != mtime:
                print("rwsgi-express: %s changed; restarting daemon process %d" % (name, os.getpid()), file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGUSR1)
                return
        time.sleep(1.0)


threading.Thread(target=_watch, name="rwsgi-express-reloader", daemon=True).start()
"#,
        files = files.join(", ")
    )
}

const ENVVARS: &str = r#"# Environment for this server: apachectl reads this file before starting Apache.
# Written once by rwsgi-express and never overwritten: add your settings, e.g.
#   export DATABASE_URL=postgres://...
# The application sees them through os.environ (and, with --passenv NAME, in
# the WSGI environ).
"#;

fn apachectl_script(httpd: &str, root: &str, workdir: &str, lang: &str, locale: &str, home: Option<&str>, envvars_script: Option<&str>) -> String {
    let extra = match envvars_script {
        Some(f) => format!(". {}\n", sh(f)),
        None => String::new(),
    };
    // Started as root, Apache's children and daemons run as another user: give
    // them that user's HOME rather than root's (Python looks there for user site-packages).
    let home = match home {
        Some(h) => format!("HOME={}\nexport HOME\n", sh(h)),
        None => String::new(),
    };
    format!(
        r#"#!/bin/sh
# Generated by rwsgi-express: controls the Apache server of this server root.
#   apachectl start|stop|restart|graceful|graceful-stop [apache2 options]
#   apachectl configtest
# start runs Apache in the background (-DFOREGROUND keeps it in front, as
# rwsgi-express start-server does); stop and the restarts signal the process
# named in httpd.pid.
HTTPD={httpd}
SERVER_ROOT={root}
LANG={lang}
LC_ALL={locale}
export LANG LC_ALL
{home}if [ -f "$SERVER_ROOT/envvars" ]; then
    . "$SERVER_ROOT/envvars"
fi
{extra}cd {workdir} || exit 1
action=$1
[ $# -gt 0 ] && shift
case "$action" in
start|stop|restart|graceful|graceful-stop)
    exec "$HTTPD" -f "$SERVER_ROOT/httpd.conf" -k "$action" "$@"
    ;;
configtest)
    exec "$HTTPD" -f "$SERVER_ROOT/httpd.conf" -t "$@"
    ;;
*)
    echo "usage: $0 start|stop|restart|graceful|graceful-stop|configtest" >&2
    exit 2
    ;;
esac
"#,
        httpd = sh(httpd),
        root = sh(root),
        workdir = sh(workdir),
        lang = sh(lang),
        locale = sh(locale),
        home = home,
        extra = extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(q("/srv/app"), "/srv/app");
        assert_eq!(q("/srv/my app"), "\"/srv/my app\"");
        assert_eq!(q(""), "\"\"");
        assert_eq!(py("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(sh("it's"), "'it'\\''s'");
    }

    #[test]
    fn module_names() {
        assert!(is_module_name("mysite.wsgi") && is_module_name("_a.b2"));
        assert!(!is_module_name("my-site") && !is_module_name("a..b") && !is_module_name("1a"));
    }

    #[test]
    fn daemon_sizing_follows_mod_wsgi_express() {
        // 1 process x 5 threads: 20 clients, two children of 10 threads (plus a spare slot).
        let s = mpm_sizing("event", false, 1, 5, None);
        assert!(s.contains("ThreadsPerChild 10") && s.contains("MaxRequestWorkers 20") && s.contains("ServerLimit 3"), "{s}");
        let s = mpm_sizing("event", true, 2, 3, None);
        assert!(s.contains("StartServers 2") && s.contains("ThreadsPerChild 3") && s.contains("MaxRequestWorkers 6"), "{s}");
    }
}
