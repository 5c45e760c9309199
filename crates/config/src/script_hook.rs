//! The directives that name a Python script run by Apache's own request phases
//! rather than as the application: `WSGIAccessScript`, `WSGIAuthUserScript`,
//! `WSGIAuthGroupScript`, `WSGIDispatchScript` (each `path [application-group=]`)
//! and `WSGIHandlerScript name path [process-group=] [application-group=]
//! [pass-authorization=]`.

use super::parse::on_off;
use super::{ConfStr, ConfigError, GroupSpec};

/// A script a request phase calls, and the application group (interpreter)
/// it is loaded in; `None` is mod_wsgi's default for these, `%{GLOBAL}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptHook {
    pub path: ConfStr,
    pub application_group: Option<GroupSpec>,
}

/// A handler name (`SetHandler`, `AddHandler`, `RewriteRule [H=]`) whose
/// requests are served by the script's `handle_request` callable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerScript {
    pub name: ConfStr,
    pub path: ConfStr,
    pub process_group: Option<GroupSpec>,
    pub application_group: Option<GroupSpec>,
    pub pass_authorization: Option<bool>,
}

/// The callable a handler script provides (mod_wsgi's name for it).
pub const HANDLER_CALLABLE: &str = "handle_request";

const HOOK_OPTIONS: &[&str] = &["application-group="];
const HANDLER_OPTIONS: &[&str] = &["process-group=", "application-group=", "pass-authorization="];

/// Splits `name=value`, refusing what mod_wsgi refuses (no `=`, no value, an
/// option the directive does not have); an option given twice: the last wins,
/// as in mod_wsgi (the directive handler warns).
fn options<'a>(
    directive: &str,
    args: &[&'a str],
    valid: &'static [&'static str],
) -> Result<Vec<(&'a str, &'a str)>, ConfigError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(ConfigError::MalformedOption { directive: directive.to_string(), option: arg.to_string(), valid: Some(valid) });
        };
        if !valid.iter().any(|v| v.strip_suffix('=') == Some(key)) {
            return Err(ConfigError::UnknownOption { directive: directive.to_string(), option: key.to_string(), suggestion: None, valid });
        }
        if value.is_empty() {
            return Err(ConfigError::MissingValue { directive: directive.to_string(), option: key.to_string() });
        }
        out.push((key, value));
    }
    Ok(out)
}

fn group(directive: &str, key: &str, value: &str, intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<GroupSpec, ConfigError> {
    GroupSpec::parse(value, intern).map_err(|reason| ConfigError::InvalidValue {
        directive: directive.to_string(),
        option: Some(key.to_string()),
        reason,
    })
}

/// `WSGIAccessScript|WSGIAuthUserScript|WSGIAuthGroupScript|WSGIDispatchScript path [application-group=NAME]`.
pub fn script_hook(directive: &str, args: &[&str], intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<ScriptHook, ConfigError> {
    let (path, rest) = match args {
        [path, rest @ ..] if !path.is_empty() && !path.contains('=') => (*path, rest),
        _ => return Err(ConfigError::Usage { directive: directive.to_string(), usage: "a script path, then optionally application-group=" }),
    };
    let mut hook = ScriptHook { path: intern(path), application_group: None };
    for (key, value) in options(directive, rest, HOOK_OPTIONS)? {
        hook.application_group = Some(group(directive, key, value, intern)?);
    }
    Ok(hook)
}

/// `WSGIHandlerScript name path [process-group=] [application-group=] [pass-authorization=]`.
pub fn handler_script(directive: &str, args: &[&str], intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<HandlerScript, ConfigError> {
    let (name, path, rest) = match args {
        [name, path, rest @ ..] if !name.is_empty() && !path.is_empty() && !path.contains('=') => (*name, *path, rest),
        _ => {
            return Err(ConfigError::Usage {
                directive: directive.to_string(),
                usage: "a handler name and a script path, then optional process-group=, application-group=, pass-authorization=",
            });
        }
    };
    let mut script =
        HandlerScript { name: intern(name), path: intern(path), process_group: None, application_group: None, pass_authorization: None };
    for (key, value) in options(directive, rest, HANDLER_OPTIONS)? {
        match key {
            "process-group" => script.process_group = Some(group(directive, key, value, intern)?),
            "application-group" => script.application_group = Some(group(directive, key, value, intern)?),
            _ => {
                script.pass_authorization = Some(on_off(value).map_err(|reason| ConfigError::InvalidValue {
                    directive: directive.to_string(),
                    option: Some(key.to_string()),
                    reason,
                })?)
            }
        }
    }
    Ok(script)
}

/// The handler scripts of one scope over those of the scope above: a name
/// defined in both is the inner scope's (mod_wsgi overlays its tables so).
/// Inner entries come first, and lookups take the first match.
pub fn overlay_handler_scripts(inner: &[HandlerScript], outer: &[HandlerScript]) -> Vec<HandlerScript> {
    let mut merged: Vec<HandlerScript> = inner.to_vec();
    merged.extend(outer.iter().filter(|o| !inner.iter().any(|i| i.name == o.name)));
    merged
}

/// Adds a definition to one scope's list; a name defined again in the same
/// scope is replaced (the later line wins, as in mod_wsgi's table).
pub fn add_handler_script(list: &mut Vec<HandlerScript>, script: HandlerScript) {
    list.retain(|s| s.name != script.name);
    list.push(script);
}

/// The script for handler `name`.
pub fn find_handler_script<'a>(scripts: &'a [HandlerScript], name: &[u8]) -> Option<&'a HandlerScript> {
    scripts.iter().find(|s| s.name.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intern(s: &str) -> ConfStr {
        Box::leak(s.to_string().into_boxed_str())
    }

    #[test]
    fn hook_path_and_group() {
        let h = script_hook("WSGIAuthUserScript", &["/srv/auth.wsgi"], &mut intern).unwrap();
        assert_eq!(h, ScriptHook { path: "/srv/auth.wsgi", application_group: None });
        let h = script_hook("WSGIAccessScript", &["/srv/a.wsgi", "application-group=site"], &mut intern).unwrap();
        assert_eq!(h.application_group, Some(GroupSpec::Named("site")));
        let h = script_hook("WSGIDispatchScript", &["/srv/d.wsgi", "application-group=%{GLOBAL}"], &mut intern).unwrap();
        assert_eq!(h.application_group, Some(GroupSpec::Global));
        // Given twice, the last one wins, as in mod_wsgi.
        let h = script_hook("WSGIAuthGroupScript", &["/s.wsgi", "application-group=a", "application-group=b"], &mut intern).unwrap();
        assert_eq!(h.application_group, Some(GroupSpec::Named("b")));
    }

    #[test]
    fn hook_refusals() {
        let err = |args: &[&str]| script_hook("WSGIAuthGroupScript", args, &mut intern).unwrap_err().to_string();
        assert_eq!(err(&[]), "WSGIAuthGroupScript takes a script path, then optionally application-group=");
        assert_eq!(err(&["application-group=x"]), "WSGIAuthGroupScript takes a script path, then optionally application-group=");
        assert_eq!(err(&["/s.wsgi", "process-group=x"]), "WSGIAuthGroupScript: unknown option 'process-group' (valid options: application-group=)");
        assert_eq!(err(&["/s.wsgi", "application-group="]), "WSGIAuthGroupScript: option 'application-group' needs a value");
        assert!(err(&["/s.wsgi", "junk"]).starts_with("WSGIAuthGroupScript: invalid option 'junk'"));
        assert!(err(&["/s.wsgi", "application-group=%{NOPE}"]).contains("invalid value '%{NOPE}'"));
    }

    #[test]
    fn handler_script_options() {
        let s = handler_script(
            "WSGIHandlerScript",
            &["wsgi-handler", "/srv/handler.wsgi", "process-group=express", "application-group=%{GLOBAL}", "pass-authorization=On"],
            &mut intern,
        )
        .unwrap();
        assert_eq!(s.name, "wsgi-handler");
        assert_eq!(s.path, "/srv/handler.wsgi");
        assert_eq!(s.process_group, Some(GroupSpec::Named("express")));
        assert_eq!(s.application_group, Some(GroupSpec::Global));
        assert_eq!(s.pass_authorization, Some(true));
        let err = |args: &[&str]| handler_script("WSGIHandlerScript", args, &mut intern).unwrap_err().to_string();
        assert!(err(&["wsgi-handler"]).starts_with("WSGIHandlerScript takes a handler name and a script path"));
        assert_eq!(err(&["h", "/s", "pass-authorization=maybe"]), "WSGIHandlerScript: option 'pass-authorization': 'maybe' must be On or Off");
        assert!(err(&["h", "/s", "callable-object=x"]).starts_with("WSGIHandlerScript: unknown option 'callable-object'"));
    }

    #[test]
    fn inner_handler_scripts_win_by_name() {
        let mk = |name: &'static str, path: &'static str| HandlerScript {
            name,
            path,
            process_group: None,
            application_group: None,
            pass_authorization: None,
        };
        let outer = [mk("a", "/outer/a"), mk("b", "/outer/b")];
        let inner = [mk("b", "/inner/b"), mk("c", "/inner/c")];
        let merged = overlay_handler_scripts(&inner, &outer);
        let paths: Vec<_> = merged.iter().map(|s| s.path).collect();
        assert_eq!(paths, ["/inner/b", "/inner/c", "/outer/a"]);
        assert_eq!(find_handler_script(&merged, b"b").unwrap().path, "/inner/b");
        assert_eq!(find_handler_script(&merged, b"a").unwrap().path, "/outer/a");
        assert!(find_handler_script(&merged, b"d").is_none());
        assert_eq!(overlay_handler_scripts(&[], &outer), outer.to_vec());
        let mut scope = vec![mk("a", "/first")];
        add_handler_script(&mut scope, mk("z", "/z"));
        add_handler_script(&mut scope, mk("a", "/second"));
        assert_eq!(find_handler_script(&scope, b"a").unwrap().path, "/second");
        assert_eq!(scope.len(), 2);
    }
}
