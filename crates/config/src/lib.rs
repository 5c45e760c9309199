//! Configuration: what the `WSGI*` directives mean, parsed and merged in pure
//! Rust so that it can be unit-tested without Apache. The Apache-facing
//! directive table lives in the module crate (`hooks::directives`).
//!
//! Parsing fails with a [`ConfigError`] (a directive's arguments) or, for the
//! helpers that see one value without its directive, a [`ValueError`]; both
//! display as the complete message Apache shows.

pub mod group;
pub mod daemon;
pub mod error;
pub mod parse;
pub mod trusted_proxy;
pub mod script_hook;
pub mod scripts;

pub use error::{ConfigError, ValueError};
pub use group::{GroupContext, GroupSpec};
pub use script_hook::{HandlerScript, ScriptHook};

/// Strings owned by the configuration pool. They live for the whole
/// configuration generation, which outlives every request that can see them;
/// `'static` is the closest lifetime Rust can name for that.
pub type ConfStr = &'static str;

/// A setting that may be left unset at one level and inherited from the level
/// above (`Unset` is what Apache's merge sees for "not configured here").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Setting<T> {
    #[default]
    Unset,
    Set(T),
}

impl<T: Copy> Setting<T> {
    pub fn merge(base: Self, over: Self) -> Self {
        match over {
            Setting::Set(_) => over,
            Setting::Unset => base,
        }
    }

    pub fn or(self, default: T) -> T {
        match self {
            Setting::Set(v) => v,
            Setting::Unset => default,
        }
    }

    pub fn get(self) -> Option<T> {
        match self {
            Setting::Set(v) => Some(v),
            Setting::Unset => None,
        }
    }
}

/// Per-directory settings (`<Directory>`, `<Location>`, or a server's defaults).
/// Plain data: Apache merges these per request into pool memory, so nothing
/// here may need dropping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirConfig {
    pub process_group: Setting<GroupSpec>,
    pub application_group: Setting<GroupSpec>,
    pub callable_object: Setting<ConfStr>,
    pub pass_authorization: Setting<bool>,
    pub chunked_request: Setting<bool>,
    pub script_reloading: Setting<bool>,
    /// `WSGIRestrictProcess`: the daemon groups requests here may be sent to.
    pub restrict_process: Setting<&'static [ConfStr]>,
    /// `WSGITrustedProxyHeaders`: the headers honoured from trusted proxies.
    pub trusted_proxy_headers: Setting<&'static [trusted_proxy::ProxyHeader]>,
    /// `WSGITrustedProxies`: the peers that are trusted proxies (unset: every peer).
    pub trusted_proxies: Setting<&'static [trusted_proxy::IpNet]>,
    /// `WSGIAccessScript`: `allow_access(environ, host)` in the access phase.
    pub access_script: Setting<ScriptHook>,
    /// `WSGIAuthUserScript`: the `wsgi` authentication provider's script.
    pub auth_user_script: Setting<ScriptHook>,
    /// `WSGIAuthGroupScript`: `groups_for_user(environ, user)` for `Require wsgi-group`.
    pub auth_group_script: Setting<ScriptHook>,
    /// `WSGIGroupAuthoritative` (default On).
    pub group_authoritative: Setting<bool>,
    /// `WSGIDispatchScript`: may override the process group, application group and callable.
    pub dispatch_script: Setting<ScriptHook>,
    /// `WSGIHandlerScript` lines of directory sections (inner scope first; the
    /// module's merge overlays the scopes' lists, see `merge_handler_scripts`).
    pub handler_scripts: Setting<&'static [HandlerScript]>,
    /// `WSGIMapHEADToGET`: when a HEAD request reaches the application as GET.
    pub map_head_to_get: Setting<HeadMapping>,
    /// `WSGIErrorOverride`: a daemon's error responses give way to Apache's `ErrorDocument`.
    pub error_override: Setting<bool>,
    /// `WSGIPassApacheRequest`: `apache.request_rec` in the environ (embedded mode).
    pub pass_apache_request: Setting<bool>,
    /// `WSGIEnableSendfile`: `wsgi.file_wrapper` files may go out with sendfile().
    pub enable_sendfile: Setting<bool>,
    /// `WSGIIgnoreActivity`: these requests do not restart a daemon's inactivity countdown.
    pub ignore_activity: Setting<bool>,
}

/// `WSGIMapHEADToGET On|Off|Auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeadMapping {
    /// Always: the application sees GET.
    On,
    /// Never: the application sees HEAD.
    Off,
    /// Only when an output filter that may need the whole body (such as
    /// DEFLATE) comes before the protocol filters (mod_wsgi's default).
    #[default]
    Auto,
}

impl DirConfig {
    pub fn merge(base: &DirConfig, over: &DirConfig) -> DirConfig {
        DirConfig {
            process_group: Setting::merge(base.process_group, over.process_group),
            application_group: Setting::merge(base.application_group, over.application_group),
            callable_object: Setting::merge(base.callable_object, over.callable_object),
            pass_authorization: Setting::merge(base.pass_authorization, over.pass_authorization),
            chunked_request: Setting::merge(base.chunked_request, over.chunked_request),
            script_reloading: Setting::merge(base.script_reloading, over.script_reloading),
            restrict_process: Setting::merge(base.restrict_process, over.restrict_process),
            trusted_proxy_headers: Setting::merge(base.trusted_proxy_headers, over.trusted_proxy_headers),
            trusted_proxies: Setting::merge(base.trusted_proxies, over.trusted_proxies),
            access_script: Setting::merge(base.access_script, over.access_script),
            auth_user_script: Setting::merge(base.auth_user_script, over.auth_user_script),
            auth_group_script: Setting::merge(base.auth_group_script, over.auth_group_script),
            group_authoritative: Setting::merge(base.group_authoritative, over.group_authoritative),
            dispatch_script: Setting::merge(base.dispatch_script, over.dispatch_script),
            handler_scripts: Setting::merge(base.handler_scripts, over.handler_scripts),
            map_head_to_get: Setting::merge(base.map_head_to_get, over.map_head_to_get),
            error_override: Setting::merge(base.error_override, over.error_override),
            pass_apache_request: Setting::merge(base.pass_apache_request, over.pass_apache_request),
            enable_sendfile: Setting::merge(base.enable_sendfile, over.enable_sendfile),
            ignore_activity: Setting::merge(base.ignore_activity, over.ignore_activity),
        }
    }

    /// The handler scripts both levels define, when both do: the merged list
    /// must then be stored where the merged configuration lives (the caller's
    /// pool), so it is returned rather than placed in `merge`'s result.
    pub fn merge_handler_scripts(base: &DirConfig, over: &DirConfig) -> Option<Vec<HandlerScript>> {
        match (base.handler_scripts, over.handler_scripts) {
            (Setting::Set(outer), Setting::Set(inner)) => Some(script_hook::overlay_handler_scripts(inner, outer)),
            _ => None,
        }
    }
}

/// Options that may follow the target of `WSGIScriptAlias` / `WSGIScriptAliasMatch`;
/// they take precedence over the directory configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AliasOptions {
    pub process_group: Option<GroupSpec>,
    pub application_group: Option<GroupSpec>,
    pub callable_object: Option<ConfStr>,
    pub pass_authorization: Option<bool>,
}

/// How an alias matches the request URI.
#[derive(Clone, Debug)]
pub enum AliasPattern {
    /// URL-path prefix matched segment by segment (as `Alias` does).
    Prefix(String),
    /// Regular expression; `$N` in the target is replaced by capture N.
    /// The compiled expression is attached by the directive handler.
    Regex(String),
}

#[derive(Clone, Debug)]
pub struct ScriptAlias {
    pub pattern: AliasPattern,
    pub target: String,
    pub options: AliasOptions,
    /// The compiled expression of a regex alias, an opaque handle owned by the
    /// configuration pool (set by the directive handler).
    pub compiled: Option<std::ptr::NonNull<std::ffi::c_void>>,
}

/// How Python's hash seed is chosen (`WSGIPythonHashSeed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashSeed {
    Random,
    Fixed(u32),
}

/// Interpreter settings; only the main server's values are used
/// (the directives are rejected inside `<VirtualHost>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PythonSettings {
    pub home: Option<String>,
    pub paths: Vec<String>,
    pub optimize: Option<u8>,
    pub hash_seed: Option<HashSeed>,
    pub dont_write_bytecode: Option<bool>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    /// `WSGIRestrictSignal`: `signal.signal()` is intercepted (default On).
    pub restrict_signal: Option<bool>,
    /// `WSGIDestroyInterpreter`: the interpreters are ended and Python is
    /// finalised at process exit (default On, as mod_wsgi).
    pub destroy_interpreter: Option<bool>,
    /// `WSGIPythonWarnings`: `-W` filters, in order.
    pub warnings: Vec<String>,
    /// `WSGIPythonEggs`: `PYTHON_EGG_CACHE` for Apache's children.
    pub eggs: Option<String>,
    /// `WSGISwitchInterval`: `sys.setswitchinterval()`.
    pub switch_interval: Option<f64>,
    /// `<WSGIInterpreterOptions>` containers, in the order given.
    pub interpreter_options: Vec<InterpreterOptions>,
}

/// One `<WSGIInterpreterOptions process-group= application-group=>`
/// container (mod_wsgi 6): settings for the interpreters it selects. A
/// selector left out matches every group; `""` is `%{GLOBAL}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterpreterOptions {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    /// `WSGIPythonPath` inside: added after the process's own (layers add up).
    pub paths: Vec<String>,
    pub switch_interval: Option<f64>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
    pub per_interpreter_gil: Option<bool>,
}

impl InterpreterOptions {
    /// How many selectors it has (0–2) if it selects this interpreter.
    fn specificity(&self, process_group: &str, application_group: &str) -> Option<usize> {
        let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        (matches(&self.process_group, process_group) && matches(&self.application_group, application_group))
            .then(|| usize::from(self.process_group.is_some()) + usize::from(self.application_group.is_some()))
    }
}

impl PythonSettings {
    /// The settings of the interpreter of `application_group` in a process of
    /// `process_group` (`""`: Apache's children): the matching
    /// `<WSGIInterpreterOptions>` applied from the least to the most specific
    /// (ties: in the order given), so the most specific, then the later, wins;
    /// their `WSGIPythonPath` entries all add up, in that order.
    pub fn for_interpreter(&self, process_group: &str, application_group: &str) -> PythonSettings {
        let mut out = self.clone();
        let mut matching: Vec<(usize, &InterpreterOptions)> =
            self.interpreter_options.iter().filter_map(|o| o.specificity(process_group, application_group).map(|n| (n, o))).collect();
        matching.sort_by_key(|&(n, _)| n);
        for (_, o) in matching {
            out.paths.extend(o.paths.iter().cloned());
            out.switch_interval = o.switch_interval.or(out.switch_interval);
            out.restrict_stdin = o.restrict_stdin.or(out.restrict_stdin);
            out.restrict_stdout = o.restrict_stdout.or(out.restrict_stdout);
            out.restrict_signal = o.restrict_signal.or(out.restrict_signal);
        }
        out
    }

    /// Whether any container asks for a per-interpreter GIL.
    pub fn wants_own_gil(&self) -> bool {
        self.interpreter_options.iter().any(|o| o.per_interpreter_gil == Some(true))
    }
}

/// Per-server configuration (main server and each virtual host).
#[derive(Debug, Default)]
pub struct ServerConfig {
    pub aliases: Vec<ScriptAlias>,
    pub python: PythonSettings,
    /// Where daemon-mode sockets are created (`WSGISocketPrefix`).
    pub socket_prefix: Option<String>,
    /// `WSGISocketRotation`: socket names change with each generation (default On).
    pub socket_rotation: Option<bool>,
    /// `WSGIRestrictEmbedded On`: no Python in Apache's children; every request
    /// must go to a daemon group.
    pub restrict_embedded: Option<bool>,
    /// `WSGIHandlerScript` lines outside directory sections (this server's, then
    /// the main server's for a virtual host).
    pub handler_scripts: Vec<HandlerScript>,
    /// `WSGICaseSensitivity`: script paths name distinct scripts by case (default On).
    pub case_sensitive: Option<bool>,
    /// `WSGIServerMetrics On`: `mod_wsgi.server_metrics()` reports Apache's scoreboard.
    pub server_metrics: Option<bool>,
    /// `WSGISlowRequests`: requests slower than this many seconds are logged.
    pub slow_requests: Option<f64>,
}

impl ServerConfig {
    /// A virtual host's configuration (`over`) merged onto the main server's (`base`).
    /// The virtual host's aliases are tried first, then the main server's (as in
    /// mod_wsgi). Everything else is the main server's: those directives are
    /// refused inside `<VirtualHost>`, so `over` never sets them.
    pub fn merge(base: &ServerConfig, over: &ServerConfig) -> ServerConfig {
        let mut aliases = over.aliases.clone();
        aliases.extend(base.aliases.iter().cloned());
        ServerConfig {
            aliases,
            python: base.python.clone(),
            socket_prefix: base.socket_prefix.clone(),
            socket_rotation: base.socket_rotation,
            restrict_embedded: base.restrict_embedded,
            handler_scripts: script_hook::overlay_handler_scripts(&over.handler_scripts, &base.handler_scripts),
            case_sensitive: base.case_sensitive,
            server_metrics: base.server_metrics,
            slow_requests: base.slow_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_config_child_overrides_only_what_it_sets() {
        let base = DirConfig {
            callable_object: Setting::Set("app"),
            pass_authorization: Setting::Set(true),
            script_reloading: Setting::Set(false),
            ..Default::default()
        };
        let over = DirConfig { pass_authorization: Setting::Set(false), ..Default::default() };
        let merged = DirConfig::merge(&base, &over);
        assert_eq!(merged.callable_object, Setting::Set("app"));
        assert_eq!(merged.pass_authorization, Setting::Set(false));
        assert_eq!(merged.script_reloading, Setting::Set(false));
        assert_eq!(merged.chunked_request, Setting::Unset);
        assert!(!merged.chunked_request.or(false));
    }

    // Every field is listed (no `..Default::default()`), so a new field must be added here.
    fn dir_a() -> DirConfig {
        DirConfig {
            process_group: Setting::Set(GroupSpec::Named("a")),
            application_group: Setting::Set(GroupSpec::Global),
            callable_object: Setting::Set("app_a"),
            pass_authorization: Setting::Set(true),
            chunked_request: Setting::Set(true),
            script_reloading: Setting::Set(true),
            restrict_process: Setting::Set(&["a"]),
            trusted_proxy_headers: Setting::Set(&trusted_proxy::HEADERS[..1]),
            trusted_proxies: Setting::Set(&[trusted_proxy::IpNet::V4 { network: 0x0a00_0000, mask: 0xff00_0000 }]),
            access_script: Setting::Set(ScriptHook { path: "/a/access", application_group: None }),
            auth_user_script: Setting::Set(ScriptHook { path: "/a/user", application_group: Some(GroupSpec::Global) }),
            auth_group_script: Setting::Set(ScriptHook { path: "/a/group", application_group: None }),
            group_authoritative: Setting::Set(true),
            dispatch_script: Setting::Set(ScriptHook { path: "/a/dispatch", application_group: None }),
            handler_scripts: Setting::Set(HANDLERS_A),
            map_head_to_get: Setting::Set(HeadMapping::On),
            error_override: Setting::Set(true),
            pass_apache_request: Setting::Set(true),
            enable_sendfile: Setting::Set(true),
            ignore_activity: Setting::Set(true),
        }
    }

    fn dir_b() -> DirConfig {
        DirConfig {
            process_group: Setting::Set(GroupSpec::Env("B")),
            application_group: Setting::Set(GroupSpec::Resource),
            callable_object: Setting::Set("app_b"),
            pass_authorization: Setting::Set(false),
            chunked_request: Setting::Set(false),
            script_reloading: Setting::Set(false),
            restrict_process: Setting::Set(&["b", ""]),
            trusted_proxy_headers: Setting::Set(&[]),
            trusted_proxies: Setting::Set(&[]),
            access_script: Setting::Set(ScriptHook { path: "/b/access", application_group: Some(GroupSpec::Named("b")) }),
            auth_user_script: Setting::Set(ScriptHook { path: "/b/user", application_group: None }),
            auth_group_script: Setting::Set(ScriptHook { path: "/b/group", application_group: Some(GroupSpec::Server) }),
            group_authoritative: Setting::Set(false),
            dispatch_script: Setting::Set(ScriptHook { path: "/b/dispatch", application_group: Some(GroupSpec::Global) }),
            handler_scripts: Setting::Set(HANDLERS_B),
            map_head_to_get: Setting::Set(HeadMapping::Off),
            error_override: Setting::Set(false),
            pass_apache_request: Setting::Set(false),
            enable_sendfile: Setting::Set(false),
            ignore_activity: Setting::Set(false),
        }
    }

    const fn handler(name: &'static str, path: &'static str) -> HandlerScript {
        HandlerScript { name, path, process_group: None, application_group: None, pass_authorization: None }
    }
    const HANDLERS_A: &[HandlerScript] = &[handler("h", "/a/h"), handler("x", "/a/x")];
    const HANDLERS_B: &[HandlerScript] = &[handler("h", "/b/h")];

    #[test]
    fn handler_scripts_of_both_levels_overlay() {
        let merged = DirConfig::merge_handler_scripts(&dir_a(), &dir_b()).unwrap();
        let paths: Vec<_> = merged.iter().map(|h| h.path).collect();
        assert_eq!(paths, ["/b/h", "/a/x"]);
        assert!(DirConfig::merge_handler_scripts(&dir_a(), &DirConfig::default()).is_none());
        assert!(DirConfig::merge_handler_scripts(&DirConfig::default(), &dir_b()).is_none());
    }

    /// One entry per field: copies that field of the second config into the first.
    const FIELDS: &[fn(&mut DirConfig, &DirConfig)] = &[
        |d, s| d.process_group = s.process_group,
        |d, s| d.application_group = s.application_group,
        |d, s| d.callable_object = s.callable_object,
        |d, s| d.pass_authorization = s.pass_authorization,
        |d, s| d.chunked_request = s.chunked_request,
        |d, s| d.script_reloading = s.script_reloading,
        |d, s| d.restrict_process = s.restrict_process,
        |d, s| d.trusted_proxy_headers = s.trusted_proxy_headers,
        |d, s| d.trusted_proxies = s.trusted_proxies,
        |d, s| d.access_script = s.access_script,
        |d, s| d.auth_user_script = s.auth_user_script,
        |d, s| d.auth_group_script = s.auth_group_script,
        |d, s| d.group_authoritative = s.group_authoritative,
        |d, s| d.dispatch_script = s.dispatch_script,
        |d, s| d.handler_scripts = s.handler_scripts,
        |d, s| d.map_head_to_get = s.map_head_to_get,
        |d, s| d.error_override = s.error_override,
        |d, s| d.pass_apache_request = s.pass_apache_request,
        |d, s| d.enable_sendfile = s.enable_sendfile,
        |d, s| d.ignore_activity = s.ignore_activity,
    ];

    #[test]
    fn dir_config_every_field_inherits_when_unset() {
        let (base, unset) = (dir_a(), DirConfig::default());
        assert_eq!(DirConfig::merge(&base, &unset), base);
        assert_eq!(DirConfig::merge(&unset, &unset), unset);
        // One field set below, the rest inherited.
        for set_one in FIELDS {
            let mut over = unset;
            set_one(&mut over, &dir_b());
            let mut expected = base;
            set_one(&mut expected, &dir_b());
            assert_eq!(DirConfig::merge(&base, &over), expected);
            assert_ne!(expected, base);
        }
    }

    #[test]
    fn dir_config_every_field_overrides_when_set() {
        let (base, over) = (dir_a(), dir_b());
        assert_eq!(DirConfig::merge(&base, &over), over);
        assert_eq!(DirConfig::merge(&DirConfig::default(), &over), over);
        // Setting back to a value equal to the default still overrides.
        let off = DirConfig { pass_authorization: Setting::Set(false), ..Default::default() };
        assert_eq!(DirConfig::merge(&base, &off).pass_authorization, Setting::Set(false));
        // Merging is associative across levels: server, <Directory>, <Location>.
        let mut mid = DirConfig::default();
        FIELDS[2](&mut mid, &dir_b());
        let top = DirConfig { chunked_request: Setting::Set(false), ..Default::default() };
        let merged = DirConfig::merge(&DirConfig::merge(&base, &mid), &top);
        assert_eq!(merged, DirConfig { callable_object: Setting::Set("app_b"), chunked_request: Setting::Set(false), ..base });
        assert_eq!(merged, DirConfig::merge(&base, &DirConfig::merge(&mid, &top)));
    }

    fn alias(url: &str) -> ScriptAlias {
        ScriptAlias {
            pattern: AliasPattern::Prefix(url.to_string()),
            target: format!("/srv{url}.wsgi"),
            options: AliasOptions::default(),
            compiled: None,
        }
    }

    fn urls(config: &ServerConfig) -> Vec<&str> {
        config
            .aliases
            .iter()
            .map(|a| match &a.pattern {
                AliasPattern::Prefix(p) | AliasPattern::Regex(p) => p.as_str(),
            })
            .collect()
    }

    fn main_server() -> ServerConfig {
        ServerConfig {
            aliases: vec![alias("/main1"), alias("/main2")],
            python: PythonSettings {
                home: Some("/venv".into()),
                paths: vec!["/lib1".into(), "/lib2".into()],
                optimize: Some(1),
                hash_seed: Some(HashSeed::Fixed(7)),
                dont_write_bytecode: Some(true),
                restrict_stdin: Some(false),
                restrict_stdout: Some(true),
                restrict_signal: Some(false),
                destroy_interpreter: Some(false),
                warnings: vec!["ignore".into()],
                eggs: Some("/tmp/eggs".into()),
                switch_interval: Some(0.01),
                interpreter_options: vec![InterpreterOptions { application_group: Some("x".into()), ..Default::default() }],
            },
            socket_prefix: Some("/run/wsgi".into()),
            socket_rotation: Some(false),
            restrict_embedded: Some(true),
            handler_scripts: vec![handler("h", "/main/h"), handler("m", "/main/m")],
            case_sensitive: Some(false),
            server_metrics: Some(true),
            slow_requests: Some(2.5),
        }
    }

    #[test]
    fn server_config_vhost_aliases_come_first() {
        let vhost = ServerConfig { aliases: vec![alias("/v1"), alias("/v2")], ..Default::default() };
        let merged = ServerConfig::merge(&main_server(), &vhost);
        assert_eq!(urls(&merged), ["/v1", "/v2", "/main1", "/main2"]);
        assert_eq!(merged.aliases[0].target, "/srv/v1.wsgi");
        // Either side may have none.
        assert_eq!(urls(&ServerConfig::merge(&main_server(), &ServerConfig::default())), ["/main1", "/main2"]);
        assert_eq!(urls(&ServerConfig::merge(&ServerConfig::default(), &vhost)), ["/v1", "/v2"]);
        // The inputs are left as they were (Apache requires it).
        let main = main_server();
        ServerConfig::merge(&main, &vhost);
        assert_eq!((urls(&main), urls(&vhost)), (vec!["/main1", "/main2"], vec!["/v1", "/v2"]));
    }

    #[test]
    fn server_config_globals_are_the_main_servers() {
        let check = |merged: &ServerConfig| {
            let p = &merged.python;
            assert_eq!(p.home.as_deref(), Some("/venv"));
            assert_eq!(p.paths, ["/lib1", "/lib2"]);
            assert_eq!((p.optimize, p.hash_seed), (Some(1), Some(HashSeed::Fixed(7))));
            assert_eq!((p.dont_write_bytecode, p.restrict_stdin, p.restrict_stdout), (Some(true), Some(false), Some(true)));
            assert_eq!(merged.socket_prefix.as_deref(), Some("/run/wsgi"));
            assert_eq!((merged.socket_rotation, merged.restrict_embedded), (Some(false), Some(true)));
            assert_eq!((p.restrict_signal, p.warnings.as_slice(), p.eggs.as_deref()), (Some(false), &["ignore".to_string()][..], Some("/tmp/eggs")));
            assert_eq!((p.switch_interval, merged.case_sensitive), (Some(0.01), Some(false)));
        };
        check(&ServerConfig::merge(&main_server(), &ServerConfig::default()));
        // A virtual host cannot set them (the directives are refused there); if
        // its values were somehow set, the main server's still win.
        let vhost = ServerConfig {
            aliases: vec![],
            python: PythonSettings { home: Some("/other".into()), paths: vec!["/x".into()], optimize: Some(2), ..Default::default() },
            socket_prefix: Some("/tmp/x".into()),
            socket_rotation: Some(true),
            restrict_embedded: Some(false),
            handler_scripts: vec![handler("h", "/vhost/h")],
            case_sensitive: Some(true),
            server_metrics: Some(false),
            slow_requests: None,
        };
        let merged = ServerConfig::merge(&main_server(), &vhost);
        let paths: Vec<_> = merged.handler_scripts.iter().map(|h| h.path).collect();
        assert_eq!(paths, ["/vhost/h", "/main/m"]);
        check(&ServerConfig::merge(&main_server(), &vhost));
        // Unset in the main server stays unset.
        let merged = ServerConfig::merge(&ServerConfig::default(), &vhost);
        assert_eq!((merged.python.home, merged.socket_prefix, merged.restrict_embedded), (None, None, None));
        assert!(merged.python.paths.is_empty());
    }

    #[test]
    fn interpreter_options_most_specific_then_later_wins_paths_add_up() {
        let opts = |p: Option<&str>, a: Option<&str>, path: &str, stdout: bool| InterpreterOptions {
            process_group: p.map(str::to_string),
            application_group: a.map(str::to_string),
            paths: vec![path.to_string()],
            restrict_stdout: Some(stdout),
            ..Default::default()
        };
        let base = PythonSettings {
            paths: vec!["/base".into()],
            interpreter_options: vec![
                opts(None, Some("site"), "/both-later", false),
                opts(Some(""), Some("site"), "/exact", true),
                opts(None, None, "/all", false),
                opts(None, Some("site"), "/app-later", false),
                opts(Some("daemon"), None, "/daemon", true),
            ],
            ..Default::default()
        };
        let s = base.for_interpreter("", "site");
        assert_eq!(s.paths, ["/base", "/all", "/both-later", "/app-later", "/exact"]);
        assert_eq!(s.restrict_stdout, Some(true));
        let s = base.for_interpreter("", "other");
        assert_eq!(s.paths, ["/base", "/all"]);
        assert_eq!(s.restrict_stdout, Some(false));
        let s = base.for_interpreter("daemon", "");
        assert_eq!(s.paths, ["/base", "/all", "/daemon"]);
        assert_eq!(s.restrict_stdout, Some(true));
        assert!(!base.wants_own_gil());
    }
}
