//! Which script files the configuration can route to each daemon process
//! group: what a daemon checks a request's script against, so that a request
//! frame forged by other code in an Apache child cannot make it run a file the
//! configuration never sends it.
//!
//! The input is Apache's parsed configuration tree (after `Include`,
//! `<IfModule>`, `<IfDefine>` and macros were expanded). A script reaches a
//! group in one of two ways:
//! - a `WSGIScriptAlias`/`WSGIScriptAliasMatch` target (with its
//!   `process-group=`, or else the group the directory configuration selects);
//! - a handler scope: a file handled as `wsgi-script`, which needs `Options
//!   ExecCGI` where it lives, so the places ExecCGI can be turned on
//!   (`Options` with ExecCGI or All, or `AllowOverride` letting `.htaccess`
//!   files set it) bound the files a handler scope can reach.
//!
//! The answer over-approximates and never under-approximates: a file any
//! request could route to a group is always allowed for it. Where a scope cannot
//! be tied to a place in the file system (`<Location>`, regular-expression
//! sections, `<Files>` outside a `<Directory>`, server-wide `Options
//! ExecCGI`), the group is left unrestricted and the reason is reported. A
//! dynamic group (`%{ENV:…}`, `%{SERVER}`, `%{HOST}`, `%{RESOURCE}`) can name
//! any group (the client controls the Host header, and environment variables
//! come from SetEnvIf, rewrite rules and `.htaccess`), so the places where one
//! is used are allowed for every group.
//!
//! Locations are glob patterns whose only wildcard is `*` (any characters,
//! `/` included); a path is allowed when it matches a pattern or lies below
//! one. `<Directory>` wildcards and `WSGIScriptAliasMatch` substitutions
//! become `*`, which only widens them.

use std::collections::BTreeMap;

/// One directive of Apache's configuration tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfNode {
    /// As written: `WSGIScriptAlias`, `<Directory`, …
    pub name: String,
    /// The rest of the line (a section's without its closing `>`).
    pub args: String,
    /// `file:line`, for messages.
    pub location: String,
    pub children: Vec<ConfNode>,
}

/// What the configuration lets a group run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// Script locations (glob patterns).
    pub patterns: Vec<String>,
    /// Why the group cannot be restricted, when it cannot.
    pub unrestricted: Option<String>,
}

impl Allowed {
    /// The patterns to enforce; `None` when the group is unrestricted.
    pub fn enforced(&self) -> Option<Vec<String>> {
        if self.unrestricted.is_some() { None } else { Some(self.patterns.clone()) }
    }
}

/// Splits a directive's arguments as Apache's `ap_getword_conf` does: words
/// separated by white space, `"…"` or `'…'` quoting, a backslash escaping the
/// quote character inside quotes.
pub fn split_args(args: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&first) {
                    word.push(first);
                    chars.next();
                } else if c == first {
                    break;
                } else {
                    word.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// A process-group setting as far as routing is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pg {
    /// `%{GLOBAL}`: embedded, no daemon.
    Embedded,
    Named(String),
    /// Resolved per request: may name any group.
    Dynamic(String),
}

fn pg(value: &str, location: &str) -> Pg {
    if value == "%{GLOBAL}" {
        Pg::Embedded
    } else if value.starts_with("%{") {
        Pg::Dynamic(format!("process group '{value}' at {location}"))
    } else {
        Pg::Named(value.to_string())
    }
}

/// Where a setting applies in the file system.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    /// Files matching this pattern and below it.
    Under(String),
    /// Cannot be tied to a place: the reason.
    Anywhere(String),
}

/// One server's (main or virtual host) own settings.
#[derive(Default)]
struct Server {
    /// Alias targets (as patterns) and their process-group= option.
    aliases: Vec<(String, Option<Pg>)>,
    /// The server-level WSGIProcessGroup.
    default_group: Option<Pg>,
    /// WSGIProcessGroup in sections.
    section_groups: Vec<(Place, Pg)>,
    /// Where ExecCGI can be turned on.
    exec: Vec<Place>,
    /// Where a WSGIDispatchScript applies: it may send any script there to
    /// any group, over an alias's process-group= too.
    dispatch: Vec<Place>,
}

/// Turns a path with Apache wildcards (or `$N`/`&` substitutions) into a
/// pattern whose only wildcard is `*`, without a trailing slash.
fn pattern_of(path: &str, substitutions: bool) -> String {
    let mut out = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('*'),
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                out.push('*');
            }
            '$' if substitutions && chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                chars.next();
                out.push('*');
            }
            '&' if substitutions => out.push('*'),
            '\\' if substitutions => {
                // An escaped `$` or `&`: a literal, but `*` is the safe reading.
                chars.next();
                out.push('*');
            }
            _ => out.push(c),
        }
    }
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if out == "/" { String::new() } else { out }
}

fn words_enable_exec_cgi(words: &[String]) -> bool {
    words.iter().any(|w| {
        let w = w.to_ascii_lowercase();
        let w = w.strip_prefix('+').unwrap_or(&w);
        w == "execcgi" || w == "all"
    })
}

fn override_enables_exec_cgi(words: &[String]) -> bool {
    words.iter().any(|w| {
        let w = w.to_ascii_lowercase();
        w == "all" || w == "options" || (w.starts_with("options=") && (w.contains("execcgi") || w.contains("all")))
    })
}

fn walk(nodes: &[ConfNode], place: Option<&Place>, server: &mut Server, vhosts: &mut Vec<Server>) {
    for node in nodes {
        let name = node.name.to_ascii_lowercase();
        // Directives with mod_wsgi options read them as mod_wsgi does (a quoted
        // value: process-group="g1"); the others as Apache splits words.
        let words = match name.as_str() {
            "wsgiscriptalias" | "wsgiscriptaliasmatch" | "wsgihandlerscript" => crate::parse::directive_words(&node.args, 2),
            _ => split_args(&node.args),
        };
        let here = |what: &str| Place::Anywhere(format!("{what} at {}", node.location));
        if let Some(section) = name.strip_prefix('<') {
            let inner = match section {
                "virtualhost" if place.is_none() => {
                    let mut vhost = Server::default();
                    walk(&node.children, None, &mut vhost, vhosts);
                    vhosts.push(vhost);
                    continue;
                }
                "directory" => match words.first().map(String::as_str) {
                    Some("~") | None => here("<Directory ~>"),
                    Some(dir) => Place::Under(pattern_of(dir, false)),
                },
                "files" | "filesmatch" | "if" | "elseif" | "else" | "limit" | "limitexcept" | "requireall" | "requireany"
                | "requirenone" => match place {
                    Some(p) => p.clone(),
                    // Outside a <Directory>, these apply wherever the file is.
                    None if matches!(section, "limit" | "limitexcept" | "requireall" | "requireany" | "requirenone") => {
                        walk(&node.children, None, server, vhosts);
                        continue;
                    }
                    None => here(&format!("<{}>", node.name.trim_start_matches('<'))),
                },
                _ => here(&format!("<{}>", node.name.trim_start_matches('<'))),
            };
            walk(&node.children, Some(&inner), server, vhosts);
            continue;
        }
        match name.as_str() {
            "wsgiscriptalias" | "wsgiscriptaliasmatch" if words.len() >= 2 => {
                let group = words[2..].iter().find_map(|w| w.strip_prefix("process-group=")).map(|v| pg(v, &node.location));
                server.aliases.push((pattern_of(&words[1], name == "wsgiscriptaliasmatch"), group));
            }
            // `WSGIHandlerScript name path [process-group=...]`: its script is
            // served like an alias target, in its group or the scope's.
            "wsgihandlerscript" if words.len() >= 2 => {
                let group = words[2..].iter().find_map(|w| w.strip_prefix("process-group=")).map(|v| pg(v, &node.location));
                server.aliases.push((pattern_of(&words[1], false), group));
            }
            "wsgiprocessgroup" if !words.is_empty() => {
                let group = pg(&words[0], &node.location);
                match place {
                    None => server.default_group = Some(group),
                    Some(p) => server.section_groups.push((p.clone(), group)),
                }
            }
            // A dispatch script may send any request of its scope to any group:
            // a dynamic group there (server-wide: no place to tie it to).
            "wsgidispatchscript" if !words.is_empty() => {
                server.dispatch.push(place.cloned().unwrap_or_else(|| here("a server-wide WSGIDispatchScript")));
            }
            "options" if words_enable_exec_cgi(&words) => {
                server.exec.push(place.cloned().unwrap_or_else(|| here("server-wide Options ExecCGI")));
            }
            "allowoverride" if override_enables_exec_cgi(&words) => {
                server.exec.push(place.cloned().unwrap_or_else(|| here("AllowOverride outside <Directory>")));
            }
            "allowoverridelist" if words.iter().any(|w| w.eq_ignore_ascii_case("options")) => {
                server.exec.push(place.cloned().unwrap_or_else(|| here("AllowOverrideList outside <Directory>")));
            }
            _ => {}
        }
    }
}

/// Whether a setting for `a` can apply to a script at `b` (or below).
fn overlaps(a: &Place, b: &Place) -> bool {
    match (a, b) {
        (Place::Under(a), Place::Under(b)) => {
            if a.contains('*') || b.contains('*') {
                return true;
            }
            let below = |x: &str, y: &str| x == y || y.is_empty() || x.strip_prefix(y).is_some_and(|rest| rest.starts_with('/'));
            below(a, b) || below(b, a)
        }
        _ => true,
    }
}

/// The script locations the configuration routes to each of `groups`.
pub fn allowed_scripts(tree: &[ConfNode], groups: &[&str]) -> BTreeMap<String, Allowed> {
    let mut main = Server::default();
    let mut vhosts = Vec::new();
    walk(tree, None, &mut main, &mut vhosts);
    let mut allowed: BTreeMap<String, Allowed> = groups.iter().map(|g| (g.to_string(), Allowed::default())).collect();
    let mut grant = |group: &Pg, place: &Place| {
        let targets: Vec<String> = match group {
            Pg::Embedded => return,
            Pg::Named(g) => vec![g.clone()],
            Pg::Dynamic(_) => groups.iter().map(|g| g.to_string()).collect(),
        };
        for g in targets {
            let Some(a) = allowed.get_mut(&g) else { continue };
            match place {
                Place::Under(p) => {
                    if !a.patterns.contains(p) {
                        a.patterns.push(p.clone());
                    }
                }
                Place::Anywhere(why) => {
                    let why = match group {
                        Pg::Dynamic(d) => format!("{why}, with the dynamic {d}"),
                        _ => why.clone(),
                    };
                    a.unrestricted.get_or_insert(why);
                }
            }
        }
    };
    let servers: Vec<Option<&Server>> = std::iter::once(None).chain(vhosts.iter().map(Some)).collect();
    for vhost in servers {
        // A virtual host sees its own settings and then the main server's.
        let layers: Vec<&Server> = vhost.into_iter().chain(std::iter::once(&main)).collect();
        let default_group = layers.iter().find_map(|s| s.default_group.clone());
        // The groups the directory configuration can select for a script at `place`.
        let groups_at = |place: &Place| -> Vec<Pg> {
            let mut out: Vec<Pg> = default_group.iter().cloned().collect();
            for s in &layers {
                for (p, g) in &s.section_groups {
                    if overlaps(p, place) && !out.contains(g) {
                        out.push(g.clone());
                    }
                }
            }
            out
        };
        let dispatched = |place: &Place| layers.iter().any(|s| s.dispatch.iter().any(|d| overlaps(d, place)));
        let any_group = Pg::Dynamic("group a WSGIDispatchScript may choose".to_string());
        for s in &layers {
            for (target, group) in &s.aliases {
                let place = Place::Under(target.clone());
                match group {
                    Some(g) => grant(g, &place),
                    None => groups_at(&place).iter().for_each(|g| grant(g, &place)),
                }
                if dispatched(&place) {
                    grant(&any_group, &place);
                }
            }
            for place in &s.exec {
                groups_at(place).iter().for_each(|g| grant(g, place));
                if dispatched(place) {
                    grant(&any_group, place);
                }
            }
        }
    }
    allowed
}

/// Matches `path` against a pattern whose only wildcard is `*`.
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
        } else if p < pattern.len() && pattern[p] == path[s] {
            p += 1;
            s += 1;
        } else if let Some((sp, ss)) = star {
            p = sp + 1;
            s = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The form of a requested script path that is compared: absolute, without
/// `//` or `/./`; a `..` component is refused (Apache never produces one from
/// a URL, and it could climb out of an allowed directory).
pub fn normalize_script_path(path: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(path).map_err(|_| "the script path is not UTF-8".to_string())?;
    if !text.starts_with('/') || text.contains('\0') {
        return Err(format!("the script path '{}' is not absolute", text.escape_debug()));
    }
    let mut out = String::with_capacity(text.len());
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("the script path '{}' contains '..'", text.escape_debug())),
            _ => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether the script at `path` lies in one of `patterns` (a matching file,
/// or anything below a matching directory).
pub fn is_allowed(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| {
        glob(p.as_bytes(), path.as_bytes()) || {
            let mut below = p.clone();
            below.push_str("/*");
            glob(below.as_bytes(), path.as_bytes())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, args: &str) -> ConfNode {
        ConfNode { name: name.into(), args: args.into(), location: "t.conf:1".into(), children: vec![] }
    }
    fn section(name: &str, args: &str, children: Vec<ConfNode>) -> ConfNode {
        ConfNode { children, ..node(name, args) }
    }

    #[test]
    fn splits_like_apache() {
        assert_eq!(split_args(r#"/app "/srv/my app/x.wsgi"  process-group=a"#), ["/app", "/srv/my app/x.wsgi", "process-group=a"]);
        assert_eq!(split_args(r#"'a \' b' c"#), ["a ' b", "c"]);
        assert!(split_args("   ").is_empty());
    }

    #[test]
    fn glob_and_below() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_allowed(&p(&["/srv/app.wsgi"]), "/srv/app.wsgi"));
        assert!(!is_allowed(&p(&["/srv/app.wsgi"]), "/srv/app.wsgix"));
        assert!(is_allowed(&p(&["/srv/apps"]), "/srv/apps/a/b.py"));
        assert!(!is_allowed(&p(&["/srv/apps"]), "/srv/apps-evil/b.py"));
        assert!(is_allowed(&p(&["/srv/*.wsgi"]), "/srv/x.wsgi"));
        assert!(is_allowed(&p(&["/srv/*.wsgi"]), "/srv/a/b.wsgi"));
        assert!(!is_allowed(&p(&["/srv/*.wsgi"]), "/etc/x.wsgi"));
        assert!(is_allowed(&p(&[""]), "/anything"));
        assert!(!is_allowed(&[], "/srv/app.wsgi"));
    }

    #[test]
    fn normalizes_and_refuses_dot_dot() {
        assert_eq!(normalize_script_path(b"/srv//a/./b.wsgi").unwrap(), "/srv/a/b.wsgi");
        assert!(normalize_script_path(b"/srv/a/../../etc/x").unwrap_err().contains(".."));
        assert!(normalize_script_path(b"relative.wsgi").is_err());
        assert!(normalize_script_path(b"/a\0b").is_err());
        assert!(normalize_script_path(&[0xff]).is_err());
    }

    #[test]
    fn patterns_from_wildcards_and_substitutions() {
        assert_eq!(pattern_of("/srv/*/app/", false), "/srv/*/app");
        assert_eq!(pattern_of("/srv/[ab]?.d", false), "/srv/**.d");
        assert_eq!(pattern_of("/srv/$1/x$2.wsgi", true), "/srv/*/x*.wsgi");
        assert_eq!(pattern_of("/", false), "");
    }

    fn groups() -> Vec<&'static str> {
        vec!["a", "b", "c"]
    }

    #[test]
    fn aliases_route_to_their_groups() {
        let tree = vec![
            node("WSGIScriptAlias", "/a /srv/a/app.wsgi process-group=a"),
            node("WSGIScriptAliasMatch", "^/b/([^/]+) /srv/b/$1.wsgi process-group=b"),
            node("WSGIScriptAlias", "/embedded /srv/e.wsgi process-group=%{GLOBAL}"),
        ];
        let allowed = allowed_scripts(&tree, &groups());
        assert_eq!(allowed["a"].enforced().unwrap(), ["/srv/a/app.wsgi"]);
        assert_eq!(allowed["b"].enforced().unwrap(), ["/srv/b/*.wsgi"]);
        assert_eq!(allowed["c"].enforced().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn server_group_and_directory_sections() {
        let tree = vec![
            node("WSGIProcessGroup", "a"),
            node("WSGIScriptAlias", "/ /srv/site/wsgi.py"),
            section("<Directory", "/srv/tools", vec![node("Options", "+ExecCGI"), node("WSGIProcessGroup", "b"), node("AddHandler", "wsgi-script .wsgi")]),
            section("<VirtualHost", "*:80", vec![
                node("WSGIProcessGroup", "c"),
                node("WSGIScriptAlias", "/v /srv/vhost/app.wsgi"),
            ]),
        ];
        let allowed = allowed_scripts(&tree, &groups());
        // Main server: its alias goes to a; the tools directory (ExecCGI) to a (server
        // default) and b (its own section).
        assert_eq!(allowed["a"].enforced().unwrap(), ["/srv/site/wsgi.py", "/srv/tools"]);
        assert_eq!(allowed["b"].enforced().unwrap(), ["/srv/tools"]);
        // The vhost's default is c: its alias, the main server's alias (vhosts see
        // them) and the main server's ExecCGI directory.
        assert_eq!(allowed["c"].enforced().unwrap(), ["/srv/vhost/app.wsgi", "/srv/site/wsgi.py", "/srv/tools"]);
    }

    #[test]
    fn directory_groups_apply_only_where_they_overlap() {
        let tree = vec![
            node("WSGIScriptAlias", "/x /srv/x/app.wsgi"),
            node("WSGIScriptAlias", "/y /srv/y/app.wsgi"),
            section("<Directory", "/srv/x", vec![node("WSGIProcessGroup", "a")]),
            section("<Directory", "/srv/y/", vec![node("WSGIProcessGroup", "b")]),
        ];
        let allowed = allowed_scripts(&tree, &groups());
        assert_eq!(allowed["a"].enforced().unwrap(), ["/srv/x/app.wsgi"]);
        assert_eq!(allowed["b"].enforced().unwrap(), ["/srv/y/app.wsgi"]);
    }

    #[test]
    fn quoted_option_values_name_their_group() {
        let tree = vec![node("WSGIScriptAlias", r#"/q "/srv/q.wsgi" process-group="g1""#), node("WSGIHandlerScript", "h /srv/h.wsgi process-group='g1'")];
        let g1 = allowed_scripts(&tree, &["g1"])["g1"].enforced().expect("restricted");
        assert!(is_allowed(&g1, "/srv/q.wsgi") && is_allowed(&g1, "/srv/h.wsgi"), "{g1:?}");
    }

    #[test]
    fn dispatch_scripts_count_as_dynamic_groups() {
        let tree = vec![
            node("WSGIScriptAlias", "/a /srv/a.wsgi process-group=a"),
            section("<Directory", "/srv/d", vec![node("WSGIDispatchScript", "/srv/dispatch.wsgi")]),
            node("WSGIScriptAlias", "/d /srv/d/site.wsgi"),
        ];
        let allowed = allowed_scripts(&tree, &groups());
        let b = allowed["b"].enforced().expect("still restricted");
        assert!(is_allowed(&b, "/srv/d/site.wsgi"), "the dispatch script may choose b: {b:?}");
        assert!(!is_allowed(&b, "/srv/a.wsgi"));
        // Server-wide, it may send any mounted script to any group, over process-group= too.
        let server_wide = vec![node("WSGIDispatchScript", "/srv/dispatch.wsgi"), node("WSGIScriptAlias", "/a /srv/a.wsgi process-group=a")];
        let b = allowed_scripts(&server_wide, &groups())["b"].enforced().expect("restricted to what is mounted");
        assert!(is_allowed(&b, "/srv/a.wsgi") && !is_allowed(&b, "/srv/other.wsgi"));
    }

    #[test]
    fn dynamic_groups_open_their_places_to_every_group() {
        let tree = vec![node("WSGIScriptAlias", "/d /srv/d.wsgi process-group=%{ENV:PG}"), node("WSGIScriptAlias", "/a /srv/a.wsgi process-group=a")];
        let allowed = allowed_scripts(&tree, &groups());
        assert_eq!(allowed["a"].enforced().unwrap(), ["/srv/d.wsgi", "/srv/a.wsgi"]);
        assert_eq!(allowed["b"].enforced().unwrap(), ["/srv/d.wsgi"]);
    }

    #[test]
    fn unplaceable_scopes_leave_groups_unrestricted_with_a_reason() {
        let tree = vec![
            node("WSGIScriptAlias", "/a /srv/a.wsgi process-group=a"),
            section("<Location", "/tools", vec![node("WSGIProcessGroup", "b"), node("Options", "ExecCGI")]),
            section("<DirectoryMatch", "^/srv/c", vec![node("WSGIProcessGroup", "c"), node("Options", "ExecCGI")]),
        ];
        let allowed = allowed_scripts(&tree, &groups());
        assert_eq!(allowed["a"].enforced().unwrap(), ["/srv/a.wsgi"]);
        assert!(allowed["b"].unrestricted.as_ref().unwrap().contains("<Location> at t.conf:1"));
        assert!(allowed["b"].enforced().is_none());
        // The <Location>'s ExecCGI can reach c's scripts too: the first reason found is kept.
        assert!(allowed["c"].enforced().is_none());
        let tree = vec![section("<DirectoryMatch", "^/srv/c", vec![node("WSGIProcessGroup", "c"), node("Options", "ExecCGI")])];
        let allowed = allowed_scripts(&tree, &groups());
        assert!(allowed["c"].unrestricted.as_ref().unwrap().contains("<DirectoryMatch> at t.conf:1"));
        assert_eq!(allowed["a"].enforced().unwrap(), Vec::<String>::new());
        // Server-wide ExecCGI with a dynamic default: every group, unrestricted.
        let tree = vec![node("Options", "ExecCGI"), node("WSGIProcessGroup", "%{ENV:X}")];
        let allowed = allowed_scripts(&tree, &groups());
        assert!(allowed.values().all(|a| a.unrestricted.as_ref().is_some_and(|w| w.contains("%{ENV:X}"))));
        // .htaccess may turn ExecCGI on below a directory that allows overriding Options.
        let tree = vec![section("<Directory", "/home/*/public_wsgi", vec![node("AllowOverride", "FileInfo Options=ExecCGI"), node("WSGIProcessGroup", "a")])];
        assert_eq!(allowed_scripts(&tree, &groups())["a"].enforced().unwrap(), ["/home/*/public_wsgi"]);
        // Options -ExecCGI turns nothing on.
        let tree = vec![section("<Directory", "/srv", vec![node("Options", "-ExecCGI"), node("WSGIProcessGroup", "a")])];
        assert_eq!(allowed_scripts(&tree, &groups())["a"].enforced().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn files_inside_a_directory_stay_in_it() {
        let tree = vec![section("<Directory", "/srv/app", vec![section("<Files", "app.wsgi", vec![node("WSGIProcessGroup", "a"), node("Options", "ExecCGI")])])];
        assert_eq!(allowed_scripts(&tree, &groups())["a"].enforced().unwrap(), ["/srv/app"]);
        let tree = vec![section("<Files", "app.wsgi", vec![node("WSGIProcessGroup", "a"), node("Options", "ExecCGI")])];
        assert!(allowed_scripts(&tree, &groups())["a"].unrestricted.is_some());
    }
}
