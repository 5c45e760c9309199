//! `WSGIDispatchScript`: before a request is served, its `process_group`,
//! `application_group` and `callable_object` functions (each optional) may
//! choose where and what serves it. Each is called with the application's
//! environ (as the request would see it, with `mod_wsgi.process_group` empty,
//! `mod_wsgi.application_group` the dispatch script's own, and no
//! `mod_wsgi.callable_object`); None keeps the configured value.

use pyo3::prelude::*;

use super::environ::{self, CgiVariables, RequestInfo};
use super::hook_script::{HookScript, Loaded, latin1_bytes, with_script};

/// The values a dispatch script chose (unresolved: `%{...}` forms are the caller's to expand).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Choice {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// Runs the dispatch script; `None` when it failed (logged), which is a 500.
pub fn dispatch(script: &HookScript<'_>, variables: CgiVariables<'_>, info: &RequestInfo<'_>) -> Option<Choice> {
    with_script(script, |loaded| {
        let py = loaded.py;
        let environ = (|| {
            let environ = environ::build_uncounted(py, variables, info)?;
            environ.set_item("mod_wsgi.process_group", "")?;
            environ.set_item("mod_wsgi.application_group", script.application_group)?;
            environ.del_item("mod_wsgi.callable_object")?;
            loaded.add_errors(&environ)?;
            Ok::<_, PyErr>(environ)
        })();
        let environ = match environ {
            Ok(environ) => environ,
            Err(e) => {
                loaded.report(&e);
                return None;
            }
        };
        let mut choice = Choice::default();
        for (name, what, slot) in [
            ("process_group", "Process group", &mut choice.process_group),
            ("application_group", "Application group", &mut choice.application_group),
            ("callable_object", "Callable object", &mut choice.callable_object),
        ] {
            *slot = call(loaded, &environ, name, what)?;
        }
        Some(choice)
    })
    .flatten()
}

/// One function's answer: Ok(None) when it is absent or returns None.
fn call(loaded: &Loaded<'_>, environ: &Bound<'_, pyo3::types::PyDict>, name: &str, what: &str) -> Option<Option<String>> {
    let Some(function) = loaded.function(name) else {
        return Some(None);
    };
    let answer = function.call1((environ,)).and_then(|result| {
        if result.is_none() {
            return Ok(None);
        }
        let name = latin1_bytes(&result, &format!("{what} must be a byte string"))?;
        Ok(Some(name.iter().map(|&b| b as char).collect()))
    });
    answer.map_err(|e| loaded.report(&e)).ok()
}
