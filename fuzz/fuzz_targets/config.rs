//! The directive and option parsers of `rwsgi-config` on arbitrary
//! arguments: no panic, every error renders, and the URI helpers keep within
//! their input. Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run config`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi_config::{GroupSpec, daemon, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    // Arguments as Apache hands them over: split at whitespace (quoting is
    // Apache's), at most a few dozen.
    let args: Vec<&str> = text.split([' ', '\t', '\n']).take(64).collect();
    // The parsers intern names for the server's lifetime; one static string
    // stands in here, so that millions of runs do not leak.
    let mut intern = |_: &str| -> &'static str { "interned" };
    match which % 10 {
        0 => drop(daemon::parse(&args).map_err(|e| e.to_string())),
        1 => drop(parse::script_alias("WSGIScriptAlias", &args, false, &mut intern).map_err(|e| e.to_string())),
        2 => drop(parse::script_alias("WSGIScriptAliasMatch", &args, true, &mut intern).map_err(|e| e.to_string())),
        3 => drop(parse::import_script(&args).map_err(|e| e.to_string())),
        4 => {
            let _ = parse::on_off(&text).map_err(|e| e.to_string());
            let _ = parse::callable_name(&text).map_err(|e| e.to_string());
            let _ = parse::optimize(&text).map_err(|e| e.to_string());
            let _ = parse::hash_seed(&text).map_err(|e| e.to_string());
            let _ = parse::python_path(&text);
        }
        5 => drop(GroupSpec::parse(&text, &mut intern).map_err(|e| e.to_string())),
        _ => {
            // URI matching: an alias and a URI from the input.
            let (alias, uri) = text.split_once('\n').unwrap_or((&text, ""));
            if let Some(rest) = parse::match_prefix(alias, uri.as_bytes()) {
                assert!(rest.len() <= uri.len());
                let _ = parse::match_rest(rest);
                let _ = parse::alias_filename(alias, rest);
            }
            let _ = parse::alias_filename_bytes(alias.as_bytes(), uri.as_bytes());
        }
    }
});
