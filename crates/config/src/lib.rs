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

pub use error::{ConfigError, ValueError};
pub use group::{GroupContext, GroupSpec};

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
#[derive(Clone, Copy, Debug, Default)]
pub struct DirConfig {
    pub process_group: Setting<GroupSpec>,
    pub application_group: Setting<GroupSpec>,
    pub callable_object: Setting<ConfStr>,
    pub pass_authorization: Setting<bool>,
    pub chunked_request: Setting<bool>,
    pub script_reloading: Setting<bool>,
    /// `WSGIRestrictProcess`: the daemon groups requests here may be sent to.
    pub restrict_process: Setting<&'static [ConfStr]>,
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
#[derive(Clone, Debug, Default)]
pub struct PythonSettings {
    pub home: Option<String>,
    pub paths: Vec<String>,
    pub optimize: Option<u8>,
    pub hash_seed: Option<HashSeed>,
    pub dont_write_bytecode: Option<bool>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
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
}
