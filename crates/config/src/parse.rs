//! Parsing of directive arguments and URI matching for script aliases.
//! Error messages name the directive and the offending option; Apache adds
//! the file and line.

use super::{AliasOptions, AliasPattern, ConfStr, ConfigError, GroupSpec, HashSeed, HeadMapping, ScriptAlias, ValueError};

/// Reads one word of a directive line the way Apache's `ap_getword_conf` does:
/// leading whitespace is skipped; a word that starts with `"` or `'` runs to the
/// matching quote (which is dropped), with `\"` (or `\'`) and `\\` unescaped;
/// any other word runs to the next whitespace, with `\\` unescaped.
/// Advances `line` past the word and the whitespace after it.
pub fn getword_conf(line: &mut &str) -> String {
    let s = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let bytes = s.as_bytes();
    let (quote, start) = match bytes.first() {
        Some(&q @ (b'"' | b'\'')) => (Some(q), 1),
        _ => (None, 0),
    };
    let mut word = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => break,
            None if b.is_ascii_whitespace() => break,
            _ => {}
        }
        if b == b'\\' && i + 1 < bytes.len() && (bytes[i + 1] == b'\\' || Some(bytes[i + 1]) == quote) {
            i += 1;
        }
        word.push(bytes[i]);
        i += 1;
    }
    if quote.is_some() && i < bytes.len() {
        i += 1; // the closing quote
    }
    *line = s[i..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    // Only ASCII bytes were removed, so the word is still UTF-8.
    String::from_utf8(word).unwrap_or_default()
}

/// Splits a directive's raw arguments as mod_wsgi does: `positional` plain
/// words (each read by [`getword_conf`]), then `name=value` options whose
/// *value* may be quoted (`home="/srv/my app"`, `user='www-data'`), as
/// mod_wsgi's option reader allows on every directive that takes options.
/// Each option comes back as one `name=value` string, unquoted. A word that is
/// not of that form is returned as read, for the caller to refuse with its
/// own message; a whole option in quotes (`"home=/srv"`) is read as a word,
/// which is the same option.
pub fn directive_words(raw: &str, positional: usize) -> Vec<String> {
    let mut line = raw;
    let mut words = Vec::new();
    for _ in 0..positional {
        if line.trim().is_empty() {
            return words;
        }
        words.push(getword_conf(&mut line));
    }
    loop {
        line = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() {
            return words;
        }
        let name_end = line.find(|c: char| c == '=' || c.is_ascii_whitespace()).unwrap_or(line.len());
        let quoted = line.starts_with(['"', '\'']);
        if !quoted && name_end > 0 && line[name_end..].starts_with('=') {
            let name = &line[..name_end];
            let mut rest = &line[name_end + 1..];
            // `name=` followed by whitespace is an empty value, as in mod_wsgi.
            let value = if rest.starts_with(|c: char| c.is_ascii_whitespace()) || rest.is_empty() {
                String::new()
            } else {
                getword_conf(&mut rest)
            };
            words.push(format!("{name}={value}"));
            line = rest;
        } else {
            words.push(getword_conf(&mut line));
        }
    }
}

/// Parses `WSGIScriptAlias URL-path target [option=value ...]` (and the `Match` form).
pub fn script_alias(
    directive: &str,
    args: &[&str],
    regex: bool,
    intern: &mut dyn FnMut(&str) -> ConfStr,
) -> Result<ScriptAlias, ConfigError> {
    let (url, target, options) = match args {
        [url, target, options @ ..] => (*url, *target, options),
        _ => {
            let usage = if regex {
                "a URL regular expression and a script file or directory, then optional options"
            } else {
                "a URL path and a script file or directory, then optional options"
            };
            return Err(ConfigError::Usage { directive: directive.to_string(), usage });
        }
    };
    if url.is_empty() || target.is_empty() {
        return Err(ConfigError::EmptyArgument { directive: directive.to_string(), what: "the URL and the target" });
    }
    let options = alias_options(directive, options, intern)?;
    let pattern = if regex { AliasPattern::Regex(url.to_string()) } else { AliasPattern::Prefix(url.to_string()) };
    Ok(ScriptAlias { pattern, target: target.to_string(), options, compiled: None })
}

const ALIAS_OPTIONS: &[&str] = &["process-group=", "application-group=", "callable-object=", "pass-authorization="];

fn alias_options(directive: &str, options: &[&str], intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<AliasOptions, ConfigError> {
    let mut out = AliasOptions::default();
    for opt in options {
        let Some((key, value)) = opt.split_once('=') else {
            return Err(ConfigError::MalformedOption {
                directive: directive.to_string(),
                option: opt.to_string(),
                valid: Some(ALIAS_OPTIONS),
            });
        };
        if value.is_empty() {
            return Err(ConfigError::MissingValue { directive: directive.to_string(), option: key.to_string() });
        }
        let bad = |reason| ConfigError::InvalidValue { directive: directive.to_string(), option: Some(key.to_string()), reason };
        match key {
            "process-group" => {
                out.process_group = Some(GroupSpec::parse(value, intern).map_err(bad)?);
            }
            "application-group" => {
                out.application_group = Some(GroupSpec::parse(value, intern).map_err(bad)?);
            }
            "callable-object" => {
                out.callable_object = Some(intern(callable_name(value).map_err(bad)?));
            }
            "pass-authorization" => {
                out.pass_authorization = Some(on_off(value).map_err(bad)?);
            }
            _ => {
                return Err(ConfigError::UnknownOption {
                    directive: directive.to_string(),
                    option: key.to_string(),
                    suggestion: None,
                    valid: ALIAS_OPTIONS,
                });
            }
        }
    }
    Ok(out)
}

/// The names of options given more than once among `options` (`name=value`
/// words), each once. mod_wsgi lets the last value of a repeated option win,
/// and so do the parsers here; the directive handlers warn about these.
pub fn repeated_options<'a>(options: &[&'a str]) -> Vec<&'a str> {
    let names: Vec<&str> = options.iter().filter_map(|o| o.split_once('=').map(|(k, _)| k)).collect();
    let mut repeated = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) && !repeated.contains(name) {
            repeated.push(*name);
        }
    }
    repeated
}

/// `WSGIImportScript path process-group=NAME application-group=NAME`: both
/// options are required and must be literal names or `%{GLOBAL}`, because the
/// script is loaded when a process starts, before any request could resolve
/// `%{RESOURCE}`, `%{SERVER}`, `%{HOST}` or `%{ENV:…}`.
/// Returns (path, process group, application group); `""` is `%{GLOBAL}`.
pub fn import_script(args: &[&str]) -> Result<(String, String, String), ConfigError> {
    const D: &str = "WSGIImportScript";
    const OPTIONS: &[&str] = &["process-group=", "application-group="];
    let directive = || D.to_string();
    let (path, options) = match args {
        [path, options @ ..] if !path.contains('=') => (*path, options),
        _ => return Err(ConfigError::Usage { directive: directive(), usage: "a script path, then process-group= and application-group=" }),
    };
    let (mut process, mut application) = (None, None);
    for opt in options {
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| ConfigError::MalformedOption { directive: directive(), option: opt.to_string(), valid: None })?;
        let literal = |v: &str| -> Result<String, ConfigError> {
            match v {
                "%{GLOBAL}" => Ok(String::new()),
                v if v.starts_with("%{") => Err(ConfigError::InvalidValue {
                    directive: directive(),
                    option: Some(key.to_string()),
                    reason: ValueError::UnresolvableGroup { value: v.to_string() },
                }),
                "" => Err(ConfigError::MissingValue { directive: directive(), option: key.to_string() }),
                v => Ok(v.to_string()),
            }
        };
        let slot = match key {
            "process-group" => &mut process,
            "application-group" => &mut application,
            _ => {
                return Err(ConfigError::UnknownOption { directive: directive(), option: key.to_string(), suggestion: None, valid: OPTIONS });
            }
        };
        // A repeated option: the last one wins, as in mod_wsgi (see repeated_options).
        *slot = Some(literal(value)?);
    }
    match (process, application) {
        (Some(p), Some(a)) => Ok((path.to_string(), p, a)),
        _ => Err(ConfigError::MissingOptions { directive: directive(), options: OPTIONS }),
    }
}

/// The opening line of `<WSGIInterpreterOptions [process-group=NAME]
/// [application-group=NAME]>` (without the directive name; the closing `>`
/// may end the last word): the selectors, literal names or `%{GLOBAL}` (`""`).
pub fn interpreter_options_selectors(args: &[&str]) -> Result<(Option<String>, Option<String>), ConfigError> {
    const D: &str = "<WSGIInterpreterOptions>";
    const OPTIONS: &[&str] = &["process-group=", "application-group="];
    let directive = || D.to_string();
    let (mut process, mut application) = (None, None);
    for opt in args {
        let opt = opt.strip_suffix('>').unwrap_or(opt);
        if opt.is_empty() {
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| ConfigError::MalformedOption { directive: directive(), option: opt.to_string(), valid: Some(OPTIONS) })?;
        let value = match value {
            "%{GLOBAL}" => String::new(),
            v if v.starts_with("%{") => {
                return Err(ConfigError::InvalidValue {
                    directive: directive(),
                    option: Some(key.to_string()),
                    reason: ValueError::UnresolvableGroup { value: v.to_string() },
                });
            }
            "" => return Err(ConfigError::MissingValue { directive: directive(), option: key.to_string() }),
            v => v.to_string(),
        };
        match key {
            "process-group" => process = Some(value),
            "application-group" => application = Some(value),
            _ => return Err(ConfigError::UnknownOption { directive: directive(), option: key.to_string(), suggestion: None, valid: OPTIONS }),
        }
    }
    Ok((process, application))
}

/// `On`/`Off`, case-insensitively.
pub fn on_off(value: &str) -> Result<bool, ValueError> {
    if value.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(ValueError::NotOnOff { value: value.to_string() })
    }
}

/// A callable name: a Python identifier, or `%{ENV:NAME}` resolved per request.
pub fn callable_name(value: &str) -> Result<&str, ValueError> {
    let is_ident = value.chars().next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && value.chars().all(|c| c == '_' || c.is_alphanumeric());
    let is_env = value.starts_with("%{ENV:") && value.ends_with('}') && value.len() > "%{ENV:}".len();
    if is_ident || is_env {
        Ok(value)
    } else {
        Err(ValueError::NotCallableName { value: value.to_string() })
    }
}

/// `WSGIPythonOptimize 0|1|2`.
pub fn optimize(value: &str) -> Result<u8, ConfigError> {
    match value {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(ConfigError::InvalidValue {
            directive: "WSGIPythonOptimize".to_string(),
            option: None,
            reason: ValueError::NotOptimizeLevel { value: value.to_string() },
        }),
    }
}

/// `WSGIPythonHashSeed random|0..4294967295`.
pub fn hash_seed(value: &str) -> Result<HashSeed, ConfigError> {
    if value.eq_ignore_ascii_case("random") {
        return Ok(HashSeed::Random);
    }
    value
        .parse::<u32>()
        .map(HashSeed::Fixed)
        .map_err(|_| ConfigError::InvalidValue {
            directive: "WSGIPythonHashSeed".to_string(),
            option: None,
            reason: ValueError::NotHashSeed { value: value.to_string() },
        })
}

/// `WSGIMapHEADToGET On|Off|Auto`, case-insensitively (as mod_wsgi reads it).
pub fn head_mapping(value: &str) -> Result<HeadMapping, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" => Ok(HeadMapping::On),
        "off" => Ok(HeadMapping::Off),
        "auto" => Ok(HeadMapping::Auto),
        _ => Err(format!("WSGIMapHEADToGET must be On, Off or Auto, not '{value}'")),
    }
}

/// `WSGISwitchInterval seconds`: what `sys.setswitchinterval()` takes (a positive number).
pub fn switch_interval(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| format!("WSGISwitchInterval must be a positive number of seconds, not '{value}'"))
}

/// The lock types `WSGIAcceptMutex` names (those APR provides on Linux, and `default`).
pub fn accept_mutex(value: &str) -> Result<(), String> {
    const TYPES: &[&str] = &["default", "flock", "fcntl", "sysvsem", "posixsem", "pthread"];
    if TYPES.contains(&value.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(format!("WSGIAcceptMutex: '{value}' is not a lock type (one of Default, flock, fcntl, sysvsem, posixsem, pthread)"))
    }
}

/// `WSGIPythonPath dir[:dir...]`: the directories, in order, empty entries skipped.
pub fn python_path(value: &str) -> Vec<String> {
    value.split(':').filter(|p| !p.is_empty()).map(String::from).collect()
}

/// Matches a URL-path prefix alias against a request URI the way `Alias` does:
/// runs of `/` match runs of `/`, and the match must end at a segment boundary.
/// Returns the part of `uri` after the alias, which is empty or starts with `/`.
pub fn match_prefix<'u>(alias: &str, uri: &'u [u8]) -> Option<&'u [u8]> {
    let alias = alias.as_bytes();
    let (mut a, mut u) = (0, 0);
    while a < alias.len() {
        if alias[a] == b'/' {
            if uri.get(u) != Some(&b'/') {
                return None;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            // Keep the URI's last slash when the alias ends here, so the rest
            // keeps its leading '/' (an alias of "/" mounts the whole site).
            while uri.get(u + 1) == Some(&b'/') {
                u += 1;
            }
            if a < alias.len() {
                u += 1;
            }
        } else {
            if uri.get(u) != Some(&alias[a]) {
                return None;
            }
            a += 1;
            u += 1;
        }
    }
    match_rest(&uri[u..])
}

/// The rest of a URI after an alias matched, if the match ended at a segment boundary.
pub fn match_rest(rest: &[u8]) -> Option<&[u8]> {
    if rest.is_empty() || rest[0] == b'/' { Some(rest) } else { None }
}

/// The filename a prefix alias maps a request to: the target plus the rest of
/// the URI, so Apache's directory walk can split off PATH_INFO.
pub fn alias_filename(target: &str, rest: &[u8]) -> Vec<u8> {
    alias_filename_bytes(target.as_bytes(), rest)
}

pub fn alias_filename_bytes(target: &[u8], rest: &[u8]) -> Vec<u8> {
    let trimmed = if rest.is_empty() { target } else { target.strip_suffix(b"/").unwrap_or(target) };
    let mut out = Vec::with_capacity(trimmed.len() + rest.len());
    out.extend_from_slice(trimmed);
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intern(s: &str) -> ConfStr {
        Box::leak(s.to_string().into_boxed_str())
    }

    #[test]
    fn script_alias_with_options() {
        let a = script_alias(
            "WSGIScriptAlias",
            &["/app", "/srv/app.wsgi", "process-group=site", "application-group=%{GLOBAL}", "callable-object=app", "pass-authorization=On"],
            false,
            &mut intern,
        )
        .unwrap();
        assert!(matches!(a.pattern, AliasPattern::Prefix(ref p) if p == "/app"));
        assert_eq!(a.target, "/srv/app.wsgi");
        assert_eq!(a.options.process_group, Some(GroupSpec::Named("site")));
        assert_eq!(a.options.application_group, Some(GroupSpec::Global));
        assert_eq!(a.options.callable_object, Some("app"));
        assert_eq!(a.options.pass_authorization, Some(true));
    }

    #[test]
    fn script_alias_errors_name_directive_and_option() {
        let alias = |directive, args: &[&str]| script_alias(directive, args, directive == "WSGIScriptAliasMatch", &mut intern).unwrap_err();
        let d = || "WSGIScriptAlias".to_string();
        let option = |o: &str| o.to_string();
        assert!(matches!(alias("WSGIScriptAlias", &["/app"]), ConfigError::Usage { ref directive, .. } if *directive == d()));
        assert!(matches!(alias("WSGIScriptAlias", &["", "/b"]), ConfigError::EmptyArgument { .. }));
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "foo=bar"]),
            ConfigError::UnknownOption { directive: d(), option: option("foo"), suggestion: None, valid: ALIAS_OPTIONS }
        );
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "junk"]),
            ConfigError::MalformedOption { directive: d(), option: option("junk"), valid: Some(ALIAS_OPTIONS) }
        );
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "pass-authorization=maybe"]),
            ConfigError::InvalidValue {
                directive: d(),
                option: Some(option("pass-authorization")),
                reason: ValueError::NotOnOff { value: "maybe".into() }
            }
        );
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "callable-object=1x"]),
            ConfigError::InvalidValue {
                directive: d(),
                option: Some(option("callable-object")),
                reason: ValueError::NotCallableName { value: "1x".into() }
            }
        );
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "process-group="]),
            ConfigError::MissingValue { directive: d(), option: option("process-group") }
        );
        // A repeated option: the last one wins (mod_wsgi's rule); an invalid repeat is still refused.
        let a = script_alias("WSGIScriptAlias", &["/a", "/b", "process-group=x", "process-group=y"], false, &mut intern).unwrap();
        assert_eq!(a.options.process_group, Some(GroupSpec::Named("y")));
        assert!(matches!(alias("WSGIScriptAlias", &["/a", "/b", "callable-object=ok", "callable-object=1x"]), ConfigError::InvalidValue { .. }));
        assert_eq!(repeated_options(&["process-group=x", "callable-object=a", "process-group=y", "process-group=z", "junk"]), ["process-group"]);
        assert!(repeated_options(&["a=1", "b=2"]).is_empty());
        assert_eq!(
            alias("WSGIScriptAliasMatch", &["^/x", "/b", "application-group=%{NOPE}"]),
            ConfigError::InvalidValue {
                directive: "WSGIScriptAliasMatch".into(),
                option: Some(option("application-group")),
                reason: ValueError::UnknownGroupForm { value: "%{NOPE}".into() }
            }
        );
    }

    #[test]
    fn words_are_read_as_apache_reads_them() {
        let word = |s: &str| {
            let mut line = s;
            let w = getword_conf(&mut line);
            (w, line.to_string())
        };
        assert_eq!(word("  plain rest"), ("plain".into(), "rest".into()));
        assert_eq!(word("\"/srv/my app\" x"), ("/srv/my app".into(), "x".into()));
        assert_eq!(word("'it''s'"), ("it".into(), "'s'".into()));
        assert_eq!(word(r#""a\"b\\c\d""#), (r#"a"b\c\d"#.into(), "".into()));
        assert_eq!(word(r"a\\b\c"), (r"a\b\c".into(), "".into()));
        assert_eq!(word("\"unterminated"), ("unterminated".into(), "".into()));
        assert_eq!(word("   "), ("".into(), "".into()));
    }

    #[test]
    fn option_values_are_unquoted() {
        assert_eq!(
            directive_words(r#"site home="/srv/app" user='www-data' python-home="/venv" processes=2"#, 1),
            ["site", "home=/srv/app", "user=www-data", "python-home=/venv", "processes=2"]
        );
        assert_eq!(
            directive_words(r#"/app "/srv/my app.wsgi" process-group="g1" application-group='%{GLOBAL}'"#, 2),
            ["/app", "/srv/my app.wsgi", "process-group=g1", "application-group=%{GLOBAL}"]
        );
        // A value with spaces inside quotes stays one option.
        assert_eq!(directive_words(r#"g display-name="my site" threads=3"#, 1), ["g", "display-name=my site", "threads=3"]);
        // A whole option in quotes is the same option.
        assert_eq!(directive_words(r#"g "home=/srv""#, 1), ["g", "home=/srv"]);
        // What is not an option comes back as read, for the caller to refuse.
        assert_eq!(directive_words("g junk =x", 1), ["g", "junk", "=x"]);
        assert_eq!(directive_words("g home= threads=1", 1), ["g", "home=", "threads=1"]);
        // A quoted group name (mod_wsgi-express's service scripts).
        assert_eq!(directive_words("'service:x' threads=0", 1), ["service:x", "threads=0"]);
        assert_eq!(directive_words("", 2), Vec::<String>::new());
        assert_eq!(directive_words("/only", 2), ["/only"]);
    }

    #[test]
    fn quoted_options_parse_like_plain_ones() {
        let words = directive_words(r#"/app /srv/app.wsgi process-group="g1" callable-object='app'"#, 2);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let a = script_alias("WSGIScriptAlias", &args, false, &mut intern).unwrap();
        assert_eq!(a.options.process_group, Some(GroupSpec::Named("g1")));
        assert_eq!(a.options.callable_object, Some("app"));
        let words = directive_words(r#"/srv/a.wsgi process-group="site" application-group="%{GLOBAL}""#, 1);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(import_script(&args), Ok(("/srv/a.wsgi".into(), "site".into(), "".into())));
    }

    #[test]
    fn scalar_directives() {
        assert_eq!(optimize("2"), Ok(2));
        assert!(matches!(optimize("3"), Err(ConfigError::InvalidValue { reason: ValueError::NotOptimizeLevel { .. }, .. })));
        assert_eq!(optimize("3").unwrap_err().directive(), "WSGIPythonOptimize");
        assert_eq!(hash_seed("random"), Ok(HashSeed::Random));
        assert_eq!(hash_seed("4294967295"), Ok(HashSeed::Fixed(u32::MAX)));
        assert!(hash_seed("4294967296").is_err());
        assert!(matches!(hash_seed("abc"), Err(ConfigError::InvalidValue { reason: ValueError::NotHashSeed { .. }, .. })));
        assert_eq!(python_path("/a::/b"), vec!["/a".to_string(), "/b".to_string()]);
        assert_eq!(callable_name("%{ENV:APP}"), Ok("%{ENV:APP}"));
        assert_eq!(callable_name("a.b"), Err(ValueError::NotCallableName { value: "a.b".into() }));
        assert_eq!(on_off("oN"), Ok(true));
        assert_eq!(on_off("yes"), Err(ValueError::NotOnOff { value: "yes".into() }));
        assert_eq!((head_mapping("AUTO"), head_mapping("off"), head_mapping("On")), (Ok(HeadMapping::Auto), Ok(HeadMapping::Off), Ok(HeadMapping::On)));
        assert!(head_mapping("maybe").unwrap_err().contains("On, Off or Auto"));
        assert_eq!(switch_interval("0.001"), Ok(0.001));
        for bad in ["0", "-1", "x", "inf", "nan"] {
            assert!(switch_interval(bad).is_err(), "{bad}");
        }
        assert!(accept_mutex("Default").is_ok() && accept_mutex("fcntl").is_ok() && accept_mutex("pthread").is_ok());
        assert!(accept_mutex("spinlock").unwrap_err().contains("'spinlock'"));
    }

    #[test]
    fn import_script_options() {
        assert_eq!(
            import_script(&["/srv/a.wsgi", "process-group=site", "application-group=%{GLOBAL}"]),
            Ok(("/srv/a.wsgi".into(), "site".into(), "".into()))
        );
        assert!(matches!(import_script(&["/srv/a.wsgi", "process-group=site"]), Err(ConfigError::MissingOptions { .. })));
        assert!(matches!(
            import_script(&["/srv/a.wsgi", "process-group=site", "application-group=%{RESOURCE}"]),
            Err(ConfigError::InvalidValue { reason: ValueError::UnresolvableGroup { .. }, .. })
        ));
        assert!(matches!(
            import_script(&["/srv/a.wsgi", "flavour=x"]),
            Err(ConfigError::UnknownOption { ref option, .. }) if option == "flavour"
        ));
        assert!(matches!(import_script(&[]), Err(ConfigError::Usage { .. })));
        assert_eq!(
            import_script(&["/srv/a.wsgi", "process-group=a", "application-group=%{GLOBAL}", "process-group=b"]),
            Ok(("/srv/a.wsgi".into(), "b".into(), "".into()))
        );
    }

    #[test]
    fn prefix_matching_follows_segments() {
        assert_eq!(match_prefix("/app", b"/app"), Some(&b""[..]));
        assert_eq!(match_prefix("/app", b"/app/"), Some(&b"/"[..]));
        assert_eq!(match_prefix("/app", b"/app/x/y"), Some(&b"/x/y"[..]));
        assert_eq!(match_prefix("/app", b"/appx"), None);
        assert_eq!(match_prefix("/app", b"/ap"), None);
        assert_eq!(match_prefix("/", b"/"), Some(&b"/"[..]));
        assert_eq!(match_prefix("/", b"/x"), Some(&b"/x"[..]));
        assert_eq!(match_prefix("/dir/", b"/dir/env.wsgi/more"), Some(&b"/env.wsgi/more"[..]));
        assert_eq!(match_prefix("/dir/", b"/dir"), None);
        assert_eq!(match_prefix("/a/b", b"//a///b/c"), Some(&b"/c"[..]));
    }

    #[test]
    fn alias_filenames() {
        assert_eq!(alias_filename("/srv/app.wsgi", b""), b"/srv/app.wsgi");
        assert_eq!(alias_filename("/srv/app.wsgi", b"/x"), b"/srv/app.wsgi/x");
        assert_eq!(alias_filename("/srv/scripts/", b"/env.wsgi/more"), b"/srv/scripts/env.wsgi/more");
        assert_eq!(alias_filename("/srv/scripts/", b""), b"/srv/scripts/");
    }
}
