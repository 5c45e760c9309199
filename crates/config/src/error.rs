//! Why a directive was refused. Two levels, as the messages are built:
//! [`ValueError`] says what is wrong with one value and names only the value
//! (`'maybe' must be On or Off`); [`ConfigError`] places that, or a problem
//! with the arguments' shape, in a directive and option
//! (`WSGIScriptAlias: option 'pass-authorization': 'maybe' must be On or Off`).
//!
//! `Display` gives the complete message Apache shows (it adds file and line);
//! the text is part of the module's behaviour (`tests/messages.rs`).

use std::fmt;

/// A directive's arguments were refused. `directive` is the name as the
/// caller gave it (Apache passes it as written in the configuration file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The arguments do not have the directive's shape: "`{directive}` takes `{usage}`".
    Usage { directive: String, usage: &'static str },
    /// Required arguments are empty: "`{what}` must not be empty".
    EmptyArgument { directive: String, what: &'static str },
    /// An option without `=`. `valid`: `None` for the bare message, else the
    /// message explains the `name=value` form and lists `valid` when it is not empty.
    MalformedOption { directive: String, option: String, valid: Option<&'static [&'static str]> },
    /// An option name the directive does not have. `suggestion` is the intended
    /// name when only its spelling style is off; otherwise `valid` is listed.
    UnknownOption { directive: String, option: String, suggestion: Option<&'static str>, valid: &'static [&'static str] },
    /// `option=` with nothing after the `=`.
    MissingValue { directive: String, option: String },
    /// An option that exists (in mod_wsgi) but is refused, whatever its value.
    UnsupportedOption { directive: String, option: String, reason: &'static str },
    /// Options that exclude each other were both given.
    ConflictingOptions { directive: String, options: [&'static str; 2], reason: &'static str },
    /// Required options are missing (named as written, e.g. `process-group=`).
    MissingOptions { directive: String, options: &'static [&'static str] },
    /// `WSGIDaemonProcess`'s group name cannot be used.
    InvalidGroupName { directive: String, name: String, reason: &'static str },
    /// A value was refused: the directive's argument (`option: None`) or an option's value.
    InvalidValue { directive: String, option: Option<String>, reason: ValueError },
}

/// What is wrong with one value (which the message quotes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    NotOnOff { value: String },
    NotCallableName { value: String },
    NotOptimizeLevel { value: String },
    NotHashSeed { value: String },
    /// A `%{...}` group form that does not exist.
    UnknownGroupForm { value: String },
    UnterminatedGroupForm { value: String },
    EmptyGroupName,
    /// A `%{...}` form where only a literal name or `%{GLOBAL}` can be used.
    UnresolvableGroup { value: String },
    /// Digits preceded by `-` where only non-negative numbers are accepted.
    Negative { value: String },
    /// Not a number of the `expected` kind ("a whole number", "a number of seconds", …).
    NotNumber { value: String, expected: &'static str },
    /// Above the largest representable value; `limit` is (maximum, unit) when the message gives it.
    TooLarge { value: String, limit: Option<(u64, &'static str)> },
    /// Outside `min..=max`; `max: None` means only the minimum applies.
    OutOfRange { value: String, min: u64, max: Option<u64> },
    /// `threads=0`: mod_wsgi's service-script mode.
    NoRequestThreads { value: String },
    NotNumericId { value: String },
    NotPrincipal { value: String },
    /// A daemon process would run as root (name `root` or id 0).
    Root { value: String },
    /// A comma-separated list with an empty entry.
    EmptyListEntry { list: String },
    /// An entry of a comma-separated list was refused.
    InList { list: String, error: Box<ValueError> },
    NotUmask { value: String },
    NotAbsolutePath { value: String },
    NotCpuPriority { value: String },
    NotSwitchInterval { value: String },
    /// A `WSGITrustedProxyHeaders` word with characters a header name cannot have.
    NotHeaderName { value: String },
    /// A `WSGITrustedProxies` word that is not an address or network.
    NotTrustedProxy { value: String, reason: &'static str },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Usage { directive, usage } => write!(f, "{directive} takes {usage}"),
            ConfigError::EmptyArgument { directive, what } => write!(f, "{directive}: {what} must not be empty"),
            ConfigError::MalformedOption { directive, option, valid } => {
                write!(f, "{directive}: invalid option '{option}'")?;
                match valid {
                    None => Ok(()),
                    Some([]) => write!(f, ": options have the form name=value"),
                    Some(valid) => write!(f, ": options have the form name=value ({})", valid.join(", ")),
                }
            }
            ConfigError::UnknownOption { directive, option, suggestion, valid } => match suggestion {
                Some(name) => write!(
                    f,
                    "{directive}: unknown option '{option}' (did you mean '{name}'? option names are lower-case with dashes)"
                ),
                None => write!(f, "{directive}: unknown option '{option}' (valid options: {})", valid.join(", ")),
            },
            ConfigError::MissingValue { directive, option } => write!(f, "{directive}: option '{option}' needs a value"),
            ConfigError::UnsupportedOption { directive, option, reason } => write!(f, "{directive}: option '{option}': {reason}"),
            ConfigError::ConflictingOptions { directive, options: [a, b], reason } => {
                write!(f, "{directive}: options '{a}' and '{b}' cannot both be given: {reason}")
            }
            ConfigError::MissingOptions { directive, options } => match options {
                [one] => write!(f, "{directive}: {one} is required"),
                [a, b] => write!(f, "{directive}: both {a} and {b} are required"),
                _ => write!(f, "{directive}: {} are required", options.join(", ")),
            },
            ConfigError::InvalidGroupName { directive, name, reason } => {
                write!(f, "{directive}: invalid process group name '{name}': {reason}")
            }
            ConfigError::InvalidValue { directive, option: Some(option), reason } => {
                write!(f, "{directive}: option '{option}': {reason}")
            }
            ConfigError::InvalidValue { directive, option: None, reason } => write!(f, "{directive}: {reason}"),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::NotOnOff { value } => write!(f, "'{value}' must be On or Off"),
            ValueError::NotCallableName { value } => write!(f, "'{value}' is not a Python identifier or %{{ENV:NAME}}"),
            ValueError::NotOptimizeLevel { value } => write!(f, "'{value}' is not 0, 1 or 2"),
            ValueError::NotHashSeed { value } => {
                write!(f, "'{value}' is not 'random' or an integer from 0 to 4294967295")
            }
            ValueError::UnknownGroupForm { value } => write!(
                f,
                "invalid value '{value}': expected a name, %{{GLOBAL}}, %{{SERVER}}, %{{RESOURCE}}, %{{HOST}} or %{{ENV:NAME}}"
            ),
            ValueError::UnterminatedGroupForm { value } => write!(f, "invalid value '{value}': unterminated %{{...}}"),
            ValueError::EmptyGroupName => write!(f, "the group name is empty"),
            ValueError::UnresolvableGroup { value } => write!(
                f,
                "'{value}' cannot be resolved before a request; use a literal name or %{{GLOBAL}}"
            ),
            ValueError::Negative { value } => write!(f, "'{value}' is negative"),
            ValueError::NotNumber { value, expected } => write!(f, "'{value}' is not {expected}"),
            ValueError::TooLarge { value, limit: None } => write!(f, "'{value}' is too large"),
            ValueError::TooLarge { value, limit: Some((max, unit)) } => {
                write!(f, "'{value}' is too large (at most {max} {unit})")
            }
            ValueError::OutOfRange { value, min, max: None } => write!(f, "'{value}' must be at least {min}"),
            ValueError::OutOfRange { value, min, max: Some(max) } => write!(f, "'{value}' must be from {min} to {max}"),
            ValueError::NoRequestThreads { value } => write!(
                f,
                "'{value}' (mod_wsgi's service-script mode, with no request threads) is not supported yet; use threads=1 or more"
            ),
            ValueError::NotNumericId { value } => {
                write!(f, "'{value}' is not a numeric id ('#' followed by a number from 0 to 4294967294)")
            }
            ValueError::NotPrincipal { value } => write!(f, "'{value}' is not a user or group name or #id"),
            ValueError::Root { value } => write!(f, "'{value}' is root: daemon processes must not run as root"),
            ValueError::EmptyListEntry { list } => write!(f, "'{list}' has an empty group name"),
            ValueError::InList { list, error } => write!(f, "in '{list}': {error}"),
            ValueError::NotUmask { value } => write!(f, "'{value}' is not an octal umask from 000 to 777"),
            ValueError::NotAbsolutePath { value } => write!(f, "'{value}' is not an absolute path"),
            ValueError::NotCpuPriority { value } => write!(f, "'{value}' is not a whole number from -20 to 20"),
            ValueError::NotSwitchInterval { value } => write!(f, "'{value}' is not a number of seconds greater than 0"),
            ValueError::NotHeaderName { value } => {
                write!(f, "'{value}' is not a header name (letters, digits and '-', as in X-Forwarded-For)")
            }
            ValueError::NotTrustedProxy { value, reason } => write!(f, "'{value}' is not an IP address or network: {reason}"),
        }
    }
}

// The messages are complete in Display, so neither error reports a `source()`:
// a reporter walking the chain would print the inner reason twice.
impl std::error::Error for ConfigError {}
impl std::error::Error for ValueError {}

impl ConfigError {
    /// The directive the error is about, as the caller named it.
    pub fn directive(&self) -> &str {
        match self {
            ConfigError::Usage { directive, .. }
            | ConfigError::EmptyArgument { directive, .. }
            | ConfigError::MalformedOption { directive, .. }
            | ConfigError::UnknownOption { directive, .. }
            | ConfigError::MissingValue { directive, .. }
            | ConfigError::UnsupportedOption { directive, .. }
            | ConfigError::ConflictingOptions { directive, .. }
            | ConfigError::MissingOptions { directive, .. }
            | ConfigError::InvalidGroupName { directive, .. }
            | ConfigError::InvalidValue { directive, .. } => directive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> String {
        "WSGIDaemonProcess".to_string()
    }

    #[test]
    fn config_error_display() {
        let e = ConfigError::UnknownOption {
            directive: "WSGIImportScript".into(),
            option: "flavour".into(),
            suggestion: None,
            valid: &["process-group=", "application-group="],
        };
        assert_eq!(e.to_string(), "WSGIImportScript: unknown option 'flavour' (valid options: process-group=, application-group=)");
        let e = ConfigError::UnknownOption { directive: d(), option: "Threads".into(), suggestion: Some("threads"), valid: &["threads"] };
        assert_eq!(
            e.to_string(),
            "WSGIDaemonProcess: unknown option 'Threads' (did you mean 'threads'? option names are lower-case with dashes)"
        );
        let e = ConfigError::InvalidValue {
            directive: "WSGIScriptAlias".into(),
            option: Some("pass-authorization".into()),
            reason: ValueError::NotOnOff { value: "maybe".into() },
        };
        assert_eq!(e.to_string(), "WSGIScriptAlias: option 'pass-authorization': 'maybe' must be On or Off");
        let e = ConfigError::InvalidValue {
            directive: "WSGIPythonOptimize".into(),
            option: None,
            reason: ValueError::NotOptimizeLevel { value: "3".into() },
        };
        assert_eq!(e.to_string(), "WSGIPythonOptimize: '3' is not 0, 1 or 2");
        assert_eq!(e.directive(), "WSGIPythonOptimize");
        let e = ConfigError::MissingValue { directive: d(), option: "threads".into() };
        assert_eq!(e.to_string(), "WSGIDaemonProcess: option 'threads' needs a value");
        let e = ConfigError::Usage { directive: "WSGIScriptAlias".into(), usage: "a URL path and a script" };
        assert_eq!(e.to_string(), "WSGIScriptAlias takes a URL path and a script");
        let e = ConfigError::InvalidGroupName { directive: d(), name: "a/b".into(), reason: "no slashes" };
        assert_eq!(e.to_string(), "WSGIDaemonProcess: invalid process group name 'a/b': no slashes");
        let e = ConfigError::ConflictingOptions { directive: d(), options: ["script-user", "script-group"], reason: "pick one" };
        assert_eq!(e.to_string(), "WSGIDaemonProcess: options 'script-user' and 'script-group' cannot both be given: pick one");
    }

    #[test]
    fn malformed_option_has_three_forms() {
        let malformed = |valid| ConfigError::MalformedOption { directive: d(), option: "junk".into(), valid }.to_string();
        assert_eq!(malformed(None), "WSGIDaemonProcess: invalid option 'junk'");
        assert_eq!(malformed(Some(&[])), "WSGIDaemonProcess: invalid option 'junk': options have the form name=value");
        assert_eq!(
            malformed(Some(&["a=", "b="])),
            "WSGIDaemonProcess: invalid option 'junk': options have the form name=value (a=, b=)"
        );
    }

    #[test]
    fn missing_options_lists_them() {
        let missing = |options| ConfigError::MissingOptions { directive: "WSGIImportScript".into(), options }.to_string();
        assert_eq!(missing(&["a="]), "WSGIImportScript: a= is required");
        assert_eq!(missing(&["a=", "b="]), "WSGIImportScript: both a= and b= are required");
        assert_eq!(missing(&["a=", "b=", "c="]), "WSGIImportScript: a=, b=, c= are required");
    }

    #[test]
    fn value_error_display() {
        let v = |s: &str| s.to_string();
        assert_eq!(ValueError::Negative { value: v("-1") }.to_string(), "'-1' is negative");
        assert_eq!(ValueError::NotNumber { value: v("x"), expected: "a whole number" }.to_string(), "'x' is not a whole number");
        assert_eq!(ValueError::TooLarge { value: v("9"), limit: None }.to_string(), "'9' is too large");
        assert_eq!(
            ValueError::TooLarge { value: v("9"), limit: Some((8, "seconds")) }.to_string(),
            "'9' is too large (at most 8 seconds)"
        );
        assert_eq!(ValueError::OutOfRange { value: v("0"), min: 1, max: Some(5) }.to_string(), "'0' must be from 1 to 5");
        assert_eq!(ValueError::OutOfRange { value: v("0"), min: 1, max: None }.to_string(), "'0' must be at least 1");
        let inner = ValueError::Root { value: v("root") };
        assert_eq!(
            ValueError::InList { list: v("a,root"), error: Box::new(inner) }.to_string(),
            "in 'a,root': 'root' is root: daemon processes must not run as root"
        );
        assert_eq!(ValueError::EmptyGroupName.to_string(), "the group name is empty");
        assert_eq!(
            ValueError::UnterminatedGroupForm { value: v("%{GLOBAL") }.to_string(),
            "invalid value '%{GLOBAL': unterminated %{...}"
        );
        // Both are std errors, so `?` into Box<dyn Error> works.
        let boxed: Box<dyn std::error::Error> = Box::new(ValueError::EmptyGroupName);
        assert_eq!(boxed.to_string(), "the group name is empty");
    }
}
