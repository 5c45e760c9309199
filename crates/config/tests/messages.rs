//! The exact text of every kind of configuration error, through the public API
//! the module calls. These messages reach administrators via `apache2 -t`, and
//! integration tests match on them: a change here is a behaviour change.

use rwsgi_config::{ConfStr, GroupSpec, daemon, parse};

fn intern(s: &str) -> ConfStr {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn script_alias_messages() {
    let cases: &[(&str, bool, &[&str], &str)] = &[
        ("WSGIScriptAlias", false, &["/app"], "WSGIScriptAlias takes a URL path and a script file or directory, then optional options"),
        ("WSGIScriptAliasMatch", true, &[], "WSGIScriptAliasMatch takes a URL regular expression and a script file or directory, then optional options"),
        ("WSGIScriptAlias", false, &["", "/srv/app.wsgi"], "WSGIScriptAlias: the URL and the target must not be empty"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "junk"], "WSGIScriptAlias: invalid option 'junk': options have the form name=value (process-group=, application-group=, callable-object=, pass-authorization=)"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "process-group="], "WSGIScriptAlias: option 'process-group' needs a value"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "process-group=%{NOPE}"], "WSGIScriptAlias: option 'process-group': invalid value '%{NOPE}': expected a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST} or %{ENV:NAME}"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "application-group=%{ENV:}"], "WSGIScriptAlias: option 'application-group': invalid value '%{ENV:}': expected a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST} or %{ENV:NAME}"),
        ("WSGIScriptAliasMatch", true, &["^/app", "/srv/app.wsgi", "application-group=%{GLOBAL"], "WSGIScriptAliasMatch: option 'application-group': invalid value '%{GLOBAL': unterminated %{...}"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "callable-object=not.valid"], "WSGIScriptAlias: option 'callable-object': 'not.valid' is not a Python identifier or %{ENV:NAME}"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "pass-authorization=maybe"], "WSGIScriptAlias: option 'pass-authorization': 'maybe' must be On or Off"),
        ("WSGIScriptAlias", false, &["/app", "/srv/app.wsgi", "foo=bar"], "WSGIScriptAlias: unknown option 'foo' (valid options: process-group=, application-group=, callable-object=, pass-authorization=)"),
        ("wsgiscriptalias", false, &["/app", "/srv/app.wsgi", "foo=bar"], "wsgiscriptalias: unknown option 'foo' (valid options: process-group=, application-group=, callable-object=, pass-authorization=)"),
    ];
    for (directive, regex, args, expected) in cases {
        let e = parse::script_alias(directive, args, *regex, &mut intern).unwrap_err();
        assert_eq!(e.to_string(), *expected, "{directive} {args:?}");
    }
}

#[test]
fn import_script_messages() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "WSGIImportScript takes a script path, then process-group= and application-group="),
        (&["process-group=a"], "WSGIImportScript takes a script path, then process-group= and application-group="),
        (&["/a.wsgi", "junk"], "WSGIImportScript: invalid option 'junk'"),
        (&["/a.wsgi", "process-group=%{RESOURCE}"], "WSGIImportScript: option 'process-group': '%{RESOURCE}' cannot be resolved before a request; use a literal name or %{GLOBAL}"),
        (&["/a.wsgi", "application-group="], "WSGIImportScript: option 'application-group' needs a value"),
        (&["/a.wsgi", "flavour=x"], "WSGIImportScript: unknown option 'flavour' (valid options: process-group=, application-group=)"),
        (&["/a.wsgi", "process-group=a"], "WSGIImportScript: both process-group= and application-group= are required"),
        (&["/a.wsgi"], "WSGIImportScript: both process-group= and application-group= are required"),
    ];
    for (args, expected) in cases {
        assert_eq!(parse::import_script(args).unwrap_err().to_string(), *expected, "{args:?}");
    }
}

#[test]
fn value_messages() {
    assert_eq!(parse::on_off("maybe").unwrap_err().to_string(), "'maybe' must be On or Off");
    assert_eq!(parse::callable_name("1abc").unwrap_err().to_string(), "'1abc' is not a Python identifier or %{ENV:NAME}");
    assert_eq!(parse::callable_name("%{ENV:}").unwrap_err().to_string(), "'%{ENV:}' is not a Python identifier or %{ENV:NAME}");
    assert_eq!(parse::optimize("3").unwrap_err().to_string(), "WSGIPythonOptimize: '3' is not 0, 1 or 2");
    assert_eq!(
        parse::hash_seed("abc").unwrap_err().to_string(),
        "WSGIPythonHashSeed: 'abc' is not 'random' or an integer from 0 to 4294967295"
    );
    assert_eq!(
        parse::hash_seed("4294967296").unwrap_err().to_string(),
        "WSGIPythonHashSeed: '4294967296' is not 'random' or an integer from 0 to 4294967295"
    );
}

#[test]
fn group_messages() {
    let cases: &[(&str, &str)] = &[
        ("%{BOGUS}", "invalid value '%{BOGUS}': expected a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST} or %{ENV:NAME}"),
        ("%{ENV:}", "invalid value '%{ENV:}': expected a name, %{GLOBAL}, %{SERVER}, %{RESOURCE}, %{HOST} or %{ENV:NAME}"),
        ("%{GLOBAL", "invalid value '%{GLOBAL': unterminated %{...}"),
        ("", "the group name is empty"),
    ];
    for (value, expected) in cases {
        assert_eq!(GroupSpec::parse(value, &mut intern).unwrap_err().to_string(), *expected, "{value:?}");
    }
}

#[test]
fn daemon_process_messages() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "WSGIDaemonProcess takes a process group name, then optional name=value options"),
        (&[""], "WSGIDaemonProcess: invalid process group name '': it must not be empty"),
        (&["a\x07b"], "WSGIDaemonProcess: invalid process group name 'a\x07b': it must not contain control characters"),
        (&["g", "threads"], "WSGIDaemonProcess: invalid option 'threads': options have the form name=value"),
        (&["g", "chroot=/jail"], "WSGIDaemonProcess: option 'chroot': chroot is not supported: it is deprecated in mod_wsgi and breaks Python's imports; use a container or systemd's RootDirectory instead"),
        (&["g", "Threads=5"], "WSGIDaemonProcess: unknown option 'Threads' (did you mean 'threads'? option names are lower-case with dashes)"),
        (&["g", "colour=blue"], "WSGIDaemonProcess: unknown option 'colour' (valid options: processes, threads, user, group, supplementary-groups, umask, home, lang, locale, python-home, python-path, python-eggs, switch-interval, display-name, maximum-requests, restart-interval, inactivity-timeout, request-timeout, interrupt-timeout, deadlock-timeout, startup-timeout, graceful-timeout, eviction-timeout, shutdown-timeout, connect-timeout, socket-timeout, queue-timeout, listen-backlog, socket-user, script-user, script-group, cpu-time-limit, cpu-priority, memory-limit, virtual-memory-limit, stack-size, send-buffer-size, receive-buffer-size, header-buffer-size, response-buffer-size, response-socket-timeout, response-flush-delay, server-metrics)"),
        (&["g", "threads="], "WSGIDaemonProcess: option 'threads' needs a value"),
        (&["g", "processes=0"], "WSGIDaemonProcess: option 'processes': '0' must be from 1 to 4294967295"),
        (&["g", "processes=-1"], "WSGIDaemonProcess: option 'processes': '-1' is negative"),
        (&["g", "processes=two"], "WSGIDaemonProcess: option 'processes': 'two' is not a whole number"),
        (&["g", "processes=4294967296"], "WSGIDaemonProcess: option 'processes': '4294967296' must be from 1 to 4294967295"),
        (&["g", "maximum-requests=18446744073709551616"], "WSGIDaemonProcess: option 'maximum-requests': '18446744073709551616' is too large"),
        (&["g", "threads=0"], "WSGIDaemonProcess: option 'threads': '0' (mod_wsgi's service-script mode, with no request threads) is not supported yet; use threads=1 or more"),
        (&["g", "threads=65534"], "WSGIDaemonProcess: option 'threads': '65534' must be from 1 to 65533"),
        (&["g", "threads=0x"], "WSGIDaemonProcess: option 'threads': '0x' is not a whole number"),
        (&["g", "request-timeout=abc"], "WSGIDaemonProcess: option 'request-timeout': 'abc' is not a number of seconds"),
        (&["g", "request-timeout=-5"], "WSGIDaemonProcess: option 'request-timeout': '-5' is negative"),
        (&["g", "request-timeout=2147483648"], "WSGIDaemonProcess: option 'request-timeout': '2147483648' is too large (at most 2147483647 seconds)"),
        (&["g", "response-flush-delay=fast"], "WSGIDaemonProcess: option 'response-flush-delay': 'fast' is not a number of milliseconds"),
        (&["g", "response-flush-delay=2147483648"], "WSGIDaemonProcess: option 'response-flush-delay': '2147483648' is too large (at most 2147483647 milliseconds)"),
        (&["g", "user=#x"], "WSGIDaemonProcess: option 'user': '#x' is not a numeric id ('#' followed by a number from 0 to 4294967294)"),
        (&["g", "user=a b"], "WSGIDaemonProcess: option 'user': 'a b' is not a user or group name or #id"),
        (&["g", "user=root"], "WSGIDaemonProcess: option 'user': 'root' is root: daemon processes must not run as root"),
        (&["g", "group=#0"], "WSGIDaemonProcess: option 'group': '#0' is root: daemon processes must not run as root"),
        (&["g", "supplementary-groups=a,,b"], "WSGIDaemonProcess: option 'supplementary-groups': 'a,,b' has an empty group name"),
        (&["g", "supplementary-groups=a,#x"], "WSGIDaemonProcess: option 'supplementary-groups': in 'a,#x': '#x' is not a numeric id ('#' followed by a number from 0 to 4294967294)"),
        (&["g", "supplementary-groups=a,root"], "WSGIDaemonProcess: option 'supplementary-groups': in 'a,root': 'root' is root: daemon processes must not run as root"),
        (&["g", "umask=0778"], "WSGIDaemonProcess: option 'umask': '0778' is not an octal umask from 000 to 777"),
        (&["g", "home=var/www"], "WSGIDaemonProcess: option 'home': 'var/www' is not an absolute path"),
        (&["g", "cpu-priority=21"], "WSGIDaemonProcess: option 'cpu-priority': '21' is not a whole number from -20 to 20"),
        (&["g", "switch-interval=0"], "WSGIDaemonProcess: option 'switch-interval': '0' is not a number of seconds greater than 0"),
        (&["g", "server-metrics=yes"], "WSGIDaemonProcess: option 'server-metrics': 'yes' must be On or Off"),
        (&["g", "stack-size=65535"], "WSGIDaemonProcess: option 'stack-size': '65535' must be at least 65536"),
        (&["g", "send-buffer-size=511"], "WSGIDaemonProcess: option 'send-buffer-size': '511' must be from 512 to 2147483647"),
        (&["g", "listen-backlog=2147483648"], "WSGIDaemonProcess: option 'listen-backlog': '2147483648' must be from 0 to 2147483647"),
        (&["g", "cpu-time-limit=1.5"], "WSGIDaemonProcess: option 'cpu-time-limit': '1.5' is not a whole number"),
        (&["g", "script-user=a", "script-group=b"], "WSGIDaemonProcess: options 'script-user' and 'script-group' cannot both be given: a script's owner is checked against one or the other"),
    ];
    for (args, expected) in cases {
        assert_eq!(daemon::parse(args).unwrap_err().to_string(), *expected, "{args:?}");
    }
}

#[test]
fn trusted_proxy_messages() {
    use rwsgi_config::{ConfigError, trusted_proxy};
    let shown = |directive: &str, reason| ConfigError::InvalidValue { directive: directive.to_string(), option: None, reason }.to_string();
    let cases: &[(&str, &str)] = &[
        ("localhost", "'localhost' is not an IP address or network: not an IPv4 address, a leading part of one, or an IPv6 address"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network: the mask must be a prefix length from 1 to 32 or a dotted netmask"),
        ("10.0/16", "'10.0/16' is not an IP address or network: a network with a mask needs a complete IPv4 address"),
        ("::1/0", "'::1/0' is not an IP address or network: the prefix length must be from 1 to 128"),
        ("::ffff:10.0.0.1", "'::ffff:10.0.0.1' is not an IP address or network: an IPv4-mapped IPv6 address; write the IPv4 address"),
        ("fe80::1%eth0", "'fe80::1%eth0' is not an IP address or network: not an IPv6 address"),
    ];
    for (value, expected) in cases {
        let e = trusted_proxy::IpNet::parse(value).unwrap_err();
        assert_eq!(shown("WSGITrustedProxies", e), format!("WSGITrustedProxies: {expected}"), "{value:?}");
    }
    let e = trusted_proxy::parse_header("X_Forwarded_For").unwrap_err();
    assert_eq!(
        shown("WSGITrustedProxyHeaders", e),
        "WSGITrustedProxyHeaders: 'X_Forwarded_For' is not a header name (letters, digits and '-', as in X-Forwarded-For)"
    );
}
