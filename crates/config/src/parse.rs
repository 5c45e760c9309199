//! Parsing of directive arguments and URI matching for script aliases.
//! Error messages name the directive and the offending option; Apache adds
//! the file and line.

use super::{AliasOptions, AliasPattern, ConfStr, GroupSpec, HashSeed, ScriptAlias};

/// Parses `WSGIScriptAlias URL-path target [option=value ...]` (and the `Match` form).
pub fn script_alias(
    directive: &str,
    args: &[&str],
    regex: bool,
    intern: &mut dyn FnMut(&str) -> ConfStr,
) -> Result<ScriptAlias, String> {
    let (url, target, options) = match args {
        [url, target, options @ ..] => (*url, *target, options),
        _ => {
            return Err(format!(
                "{directive} takes a URL {} and a script file or directory, then optional options",
                if regex { "regular expression" } else { "path" }
            ));
        }
    };
    if url.is_empty() || target.is_empty() {
        return Err(format!("{directive}: the URL and the target must not be empty"));
    }
    let options = alias_options(directive, options, intern)?;
    let pattern = if regex { AliasPattern::Regex(url.to_string()) } else { AliasPattern::Prefix(url.to_string()) };
    Ok(ScriptAlias { pattern, target: target.to_string(), options, compiled: None })
}

const ALIAS_OPTIONS: &str = "process-group=, application-group=, callable-object=, pass-authorization=";

fn alias_options(directive: &str, options: &[&str], intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<AliasOptions, String> {
    let mut out = AliasOptions::default();
    for opt in options {
        let Some((key, value)) = opt.split_once('=') else {
            return Err(format!("{directive}: invalid option '{opt}': options have the form name=value ({ALIAS_OPTIONS})"));
        };
        if value.is_empty() {
            return Err(format!("{directive}: option '{key}' needs a value"));
        }
        let duplicate = |present: bool| {
            if present { Err(format!("{directive}: option '{key}' is given more than once")) } else { Ok(()) }
        };
        let bad = |e: String| format!("{directive}: option '{key}': {e}");
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
            _ => return Err(format!("{directive}: unknown option '{key}' (valid options: {ALIAS_OPTIONS})")),
        }
    }
    Ok(out)
}

/// `WSGIImportScript path process-group=NAME application-group=NAME`: both
/// options are required and must be literal names or `%{GLOBAL}`, because the
/// script is loaded when a process starts, before any request could resolve
/// `%{RESOURCE}`, `%{SERVER}`, `%{HOST}` or `%{ENV:…}`.
/// Returns (path, process group, application group); `""` is `%{GLOBAL}`.
pub fn import_script(args: &[&str]) -> Result<(String, String, String), String> {
    const D: &str = "WSGIImportScript";
    let (path, options) = match args {
        [path, options @ ..] if !path.contains('=') => (*path, options),
        _ => return Err(format!("{D} takes a script path, then process-group= and application-group=")),
    };
    let (mut process, mut application) = (None, None);
    for opt in options {
        let (key, value) = opt.split_once('=').ok_or_else(|| format!("{D}: invalid option '{opt}'"))?;
        let literal = |v: &str| -> Result<String, String> {
            match v {
                "%{GLOBAL}" => Ok(String::new()),
                v if v.starts_with("%{") => Err(format!("{D}: option '{key}': '{v}' cannot be resolved before a request; use a literal name or %{{GLOBAL}}")),
                "" => Err(format!("{D}: option '{key}' needs a value")),
                v => Ok(v.to_string()),
            }
        };
        let slot = match key {
            "process-group" => &mut process,
            "application-group" => &mut application,
            _ => return Err(format!("{D}: unknown option '{key}' (valid options: process-group=, application-group=)")),
        };
        if slot.is_some() {
            return Err(format!("{D}: option '{key}' is given more than once"));
        }
        *slot = Some(literal(value)?);
    }
    match (process, application) {
        (Some(p), Some(a)) => Ok((path.to_string(), p, a)),
        _ => Err(format!("{D}: both process-group= and application-group= are required")),
    }
}

/// `On`/`Off`, case-insensitively.
pub fn on_off(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(format!("'{value}' must be On or Off"))
    }
}

/// A callable name: a Python identifier, or `%{ENV:NAME}` resolved per request.
pub fn callable_name(value: &str) -> Result<&str, String> {
    let is_ident = value.chars().next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && value.chars().all(|c| c == '_' || c.is_alphanumeric());
    let is_env = value.starts_with("%{ENV:") && value.ends_with('}') && value.len() > "%{ENV:}".len();
    if is_ident || is_env {
        Ok(value)
    } else {
        Err(format!("'{value}' is not a Python identifier or %{{ENV:NAME}}"))
    }
}

/// `WSGIPythonOptimize 0|1|2`.
pub fn optimize(value: &str) -> Result<u8, String> {
    match value {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(format!("WSGIPythonOptimize: '{value}' is not 0, 1 or 2")),
    }
}

/// `WSGIPythonHashSeed random|0..4294967295`.
pub fn hash_seed(value: &str) -> Result<HashSeed, String> {
    if value.eq_ignore_ascii_case("random") {
        return Ok(HashSeed::Random);
    }
    value
        .parse::<u32>()
        .map(HashSeed::Fixed)
        .map_err(|_| format!("WSGIPythonHashSeed: '{value}' is not 'random' or an integer from 0 to 4294967295"))
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
        let err = script_alias("WSGIScriptAlias", &["/app"], false, &mut intern).unwrap_err();
        assert!(err.starts_with("WSGIScriptAlias takes"), "{err}");
        let err = script_alias("WSGIScriptAlias", &["/a", "/b", "foo=bar"], false, &mut intern).unwrap_err();
        assert!(err.contains("WSGIScriptAlias") && err.contains("unknown option 'foo'"), "{err}");
        let err = script_alias("WSGIScriptAlias", &["/a", "/b", "junk"], false, &mut intern).unwrap_err();
        assert!(err.contains("invalid option 'junk'"), "{err}");
        let err = script_alias("WSGIScriptAlias", &["/a", "/b", "pass-authorization=maybe"], false, &mut intern).unwrap_err();
        assert!(err.contains("'pass-authorization'") && err.contains("On or Off"), "{err}");
        let err = script_alias("WSGIScriptAlias", &["/a", "/b", "callable-object=1x"], false, &mut intern).unwrap_err();
        assert!(err.contains("'callable-object'"), "{err}");
        let err = script_alias("WSGIScriptAlias", &["/a", "/b", "process-group="], false, &mut intern).unwrap_err();
        assert!(err.contains("'process-group' needs a value"), "{err}");
        let err =
            script_alias("WSGIScriptAlias", &["/a", "/b", "process-group=x", "process-group=y"], false, &mut intern).unwrap_err();
        assert!(err.contains("more than once"), "{err}");
        let err = script_alias("WSGIScriptAliasMatch", &["^/x", "/b", "application-group=%{NOPE}"], true, &mut intern).unwrap_err();
        assert!(err.contains("WSGIScriptAliasMatch") && err.contains("%{NOPE}"), "{err}");
    }

    #[test]
    fn scalar_directives() {
        assert_eq!(optimize("2"), Ok(2));
        assert!(optimize("3").unwrap_err().contains("WSGIPythonOptimize"));
        assert_eq!(hash_seed("random"), Ok(HashSeed::Random));
        assert_eq!(hash_seed("4294967295"), Ok(HashSeed::Fixed(u32::MAX)));
        assert!(hash_seed("4294967296").is_err());
        assert!(hash_seed("abc").unwrap_err().contains("WSGIPythonHashSeed"));
        assert_eq!(python_path("/a::/b"), vec!["/a".to_string(), "/b".to_string()]);
        assert_eq!(callable_name("%{ENV:APP}"), Ok("%{ENV:APP}"));
        assert!(callable_name("a.b").is_err());
        assert_eq!(on_off("oN"), Ok(true));
    }

    #[test]
    fn import_script_options() {
        assert_eq!(
            import_script(&["/srv/a.wsgi", "process-group=site", "application-group=%{GLOBAL}"]),
            Ok(("/srv/a.wsgi".into(), "site".into(), "".into()))
        );
        assert!(import_script(&["/srv/a.wsgi", "process-group=site"]).unwrap_err().contains("both"));
        assert!(import_script(&["/srv/a.wsgi", "process-group=site", "application-group=%{RESOURCE}"]).unwrap_err().contains("cannot be resolved"));
        assert!(import_script(&["/srv/a.wsgi", "flavour=x"]).unwrap_err().contains("unknown option 'flavour'"));
        assert!(import_script(&[]).is_err());
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
