//! Parsing of directive arguments and URI matching for script aliases.
//! Error messages name the directive and the offending option; Apache adds
//! the file and line.

use super::{AliasOptions, AliasPattern, ConfStr, ConfigError, GroupSpec, HashSeed, ScriptAlias, ValueError};

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
        let duplicate = |present: bool| {
            if present {
                Err(ConfigError::DuplicateOption { directive: directive.to_string(), option: key.to_string() })
            } else {
                Ok(())
            }
        };
        let bad = |reason| ConfigError::InvalidValue { directive: directive.to_string(), option: Some(key.to_string()), reason };
        match key {
            "process-group" => {
                duplicate(out.process_group.is_some())?;
                out.process_group = Some(GroupSpec::parse(value, intern).map_err(bad)?);
            }
            "application-group" => {
                duplicate(out.application_group.is_some())?;
                out.application_group = Some(GroupSpec::parse(value, intern).map_err(bad)?);
            }
            "callable-object" => {
                duplicate(out.callable_object.is_some())?;
                out.callable_object = Some(intern(callable_name(value).map_err(bad)?));
            }
            "pass-authorization" => {
                duplicate(out.pass_authorization.is_some())?;
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
        if slot.is_some() {
            return Err(ConfigError::DuplicateOption { directive: directive(), option: key.to_string() });
        }
        *slot = Some(literal(value)?);
    }
    match (process, application) {
        (Some(p), Some(a)) => Ok((path.to_string(), p, a)),
        _ => Err(ConfigError::MissingOptions { directive: directive(), options: OPTIONS }),
    }
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
        assert_eq!(
            alias("WSGIScriptAlias", &["/a", "/b", "process-group=x", "process-group=y"]),
            ConfigError::DuplicateOption { directive: d(), option: option("process-group") }
        );
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
