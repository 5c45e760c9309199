//! The access, authentication and group scripts (`WSGIAccessScript`,
//! `WSGIAuthUserScript`, `WSGIAuthGroupScript`): their functions called with
//! mod_wsgi's arguments, and what they return turned into a decision. A
//! script that cannot be loaded, lacks the function, raises, or returns the
//! wrong type is an error (logged; the caller answers 500 or denies).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use super::environ::{self, CgiVariables};
use super::hook_script::{HookScript, Loaded, SslInfo, latin1_bytes, with_script};

/// What every hook of the access and authentication phases is called with.
pub struct Request<'a> {
    pub variables: CgiVariables<'a>,
    pub ssl: std::sync::Arc<dyn SslInfo>,
}

/// `check_password(environ, user, password)`.
#[derive(Debug, PartialEq, Eq)]
pub enum Password {
    /// True; or a string: the user under that name.
    Granted(Option<Vec<u8>>),
    /// False.
    Denied,
    /// None: the user is unknown to this provider (the next one is asked).
    UserNotFound,
    Error,
}

/// `get_realm_hash(environ, user, realm)`.
#[derive(Debug, PartialEq, Eq)]
pub enum RealmHash {
    /// The hex MD5 of `user:realm:password`.
    Found(Vec<u8>),
    UserNotFound,
    Error,
}

/// `allow_access(environ, host)`.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    Allow,
    /// False, or anything that is not a bool or None (logged), or an error.
    Deny,
    /// None: leave the decision to the other access checks.
    Undecided,
}

/// Calls `name` with the hook environ and `args`; `None` when it is missing
/// (logged with `missing`) or raised (logged with the traceback).
fn call<'py>(
    loaded: &Loaded<'py>,
    script: &HookScript<'_>,
    request: &Request<'_>,
    name: &str,
    missing: &str,
    args: impl FnOnce(Python<'py>) -> Vec<Bound<'py, PyAny>>,
) -> Option<Bound<'py, PyAny>> {
    let py = loaded.py;
    let Some(function) = loaded.function(name) else {
        loaded.log(&format!("{missing} '{}' does not provide {}.", script.path, provides(name)));
        return None;
    };
    let called = (|| {
        let environ = environ::build_for_hook(py, request.variables, script.application_group, script.reloading)?;
        loaded.add_errors(&environ)?;
        loaded.add_ssl(&environ, &request.ssl)?;
        let mut all = vec![environ.into_any()];
        all.extend(args(py));
        function.call1(pyo3::types::PyTuple::new(py, all)?)
    })();
    called.map_err(|e| loaded.report(&e)).ok()
}

/// What mod_wsgi says a script lacks when the function is missing.
fn provides(function: &str) -> &'static str {
    match function {
        "check_password" => "'Basic' auth provider",
        "get_realm_hash" => "'Digest' auth provider",
        "groups_for_user" => "group provider",
        _ => "host validator",
    }
}

/// A request's user name or password: bytes from the client, given to Python
/// as text (UTF-8, or Latin-1 where they are not UTF-8, so no byte is lost).
fn text<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    match std::str::from_utf8(bytes) {
        Ok(s) => PyString::new(py, s).into_any(),
        Err(_) => environ::latin1(py, bytes).into_any(),
    }
}

pub fn check_password(script: &HookScript<'_>, request: &Request<'_>, user: &[u8], password: &[u8]) -> Password {
    with_script(script, |loaded| {
        const MISSING: &str = "Target WSGI user authentication script";
        let Some(result) = call(loaded, script, request, "check_password", MISSING, |py| vec![text(py, user), text(py, password)])
        else {
            return Password::Error;
        };
        if result.is_none() {
            Password::UserNotFound
        } else if let Ok(b) = result.cast::<PyBool>() {
            if b.is_true() { Password::Granted(None) } else { Password::Denied }
        } else if let Ok(s) = result.cast::<PyString>() {
            match s.to_cow() {
                Ok(name) => Password::Granted(Some(name.as_bytes().to_vec())),
                Err(e) => {
                    loaded.report(&e);
                    Password::Error
                }
            }
        } else {
            loaded.report(&PyTypeError::new_err("Basic auth provider must return True, False None or user name as string"));
            Password::Error
        }
    })
    .unwrap_or(Password::Error)
}

pub fn get_realm_hash(script: &HookScript<'_>, request: &Request<'_>, user: &[u8], realm: &[u8]) -> RealmHash {
    with_script(script, |loaded| {
        const MISSING: &str = "Target WSGI user authentication script";
        let Some(result) = call(loaded, script, request, "get_realm_hash", MISSING, |py| vec![text(py, user), text(py, realm)])
        else {
            return RealmHash::Error;
        };
        if result.is_none() {
            return RealmHash::UserNotFound;
        }
        match latin1_bytes(&result, "Digest auth provider must return None or string object") {
            Ok(hash) => RealmHash::Found(hash),
            Err(e) => {
                loaded.report(&e);
                RealmHash::Error
            }
        }
    })
    .unwrap_or(RealmHash::Error)
}

/// The groups `user` is in; `None` on any error (logged).
pub fn groups_for_user(script: &HookScript<'_>, request: &Request<'_>, user: &[u8]) -> Option<Vec<Vec<u8>>> {
    with_script(script, |loaded| {
        const MISSING: &str = "Target WSGI group authentication script";
        let result = call(loaded, script, request, "groups_for_user", MISSING, |py| vec![text(py, user)])?;
        let wrong = || format!("Groups for user returned from '{}' must be an iterable sequence of byte strings.", script.path);
        let Ok(items) = result.try_iter() else {
            loaded.log(&wrong());
            return None;
        };
        let mut groups = Vec::new();
        for item in items {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    loaded.report(&e);
                    return None;
                }
            };
            match latin1_bytes(&item, "group name") {
                Ok(name) => groups.push(name),
                Err(_) => {
                    loaded.log(&wrong());
                    return None;
                }
            }
        }
        Some(groups)
    })
    .flatten()
}

pub fn allow_access(script: &HookScript<'_>, request: &Request<'_>, host: &[u8]) -> Access {
    with_script(script, |loaded| {
        const MISSING: &str = "Target WSGI host access script";
        let Some(result) = call(loaded, script, request, "allow_access", MISSING, |py| {
            vec![if host.is_empty() { py.None().into_bound(py) } else { text(py, host) }]
        }) else {
            return Access::Deny;
        };
        if result.is_none() {
            Access::Undecided
        } else if let Ok(b) = result.cast::<PyBool>() {
            if b.is_true() { Access::Allow } else { Access::Deny }
        } else {
            loaded.log(&format!("Indicator of host accessibility returned from '{}' must a boolean or None.", script.path));
            Access::Deny
        }
    })
    .unwrap_or(Access::Deny)
}
