//! Process-group and application-group names, with mod_wsgi's `%{...}` forms.

use super::{ConfStr, ValueError};

/// A group name as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupSpec {
    /// `%{GLOBAL}`: the main interpreter / the Apache child itself.
    Global,
    /// `%{SERVER}`: ServerName, plus `:port` unless the port is 80 or 443.
    Server,
    /// `%{RESOURCE}`: `%{SERVER}|SCRIPT_NAME` (the default application group).
    Resource,
    /// `%{HOST}`: the Host header (or ServerName) plus a non-default port.
    Host,
    /// `%{ENV:NAME}`: the request's notes, then its environment, then the process environment.
    Env(ConfStr),
    /// A literal name.
    Named(ConfStr),
}

/// What a group name can be resolved against at request time.
pub trait GroupContext {
    fn server_name(&self) -> String;
    fn server_port(&self) -> u16;
    fn host_header(&self) -> Option<String>;
    fn script_name(&self) -> String;
    fn lookup_env(&self, name: &str) -> Option<String>;
}

impl GroupSpec {
    /// Parses a directive value; `intern` stores names in the config pool.
    pub fn parse(value: &str, intern: &mut dyn FnMut(&str) -> ConfStr) -> Result<GroupSpec, ValueError> {
        if let Some(inner) = value.strip_prefix("%{").and_then(|v| v.strip_suffix('}')) {
            return match inner {
                "GLOBAL" => Ok(GroupSpec::Global),
                "SERVER" => Ok(GroupSpec::Server),
                "RESOURCE" => Ok(GroupSpec::Resource),
                "HOST" => Ok(GroupSpec::Host),
                _ => match inner.strip_prefix("ENV:") {
                    Some(name) if !name.is_empty() => Ok(GroupSpec::Env(intern(name))),
                    _ => Err(ValueError::UnknownGroupForm { value: value.to_string() }),
                },
            };
        }
        if value.starts_with("%{") {
            return Err(ValueError::UnterminatedGroupForm { value: value.to_string() });
        }
        if value.is_empty() {
            return Err(ValueError::EmptyGroupName);
        }
        Ok(GroupSpec::Named(intern(value)))
    }

    /// The resolved name; `""` means the main interpreter / embedded mode.
    pub fn resolve(&self, ctx: &dyn GroupContext) -> String {
        match *self {
            GroupSpec::Global => String::new(),
            GroupSpec::Named(name) => name.to_string(),
            GroupSpec::Server => server_with_port(ctx.server_name(), ctx.server_port()),
            GroupSpec::Resource => {
                format!("{}|{}", server_with_port(ctx.server_name(), ctx.server_port()), ctx.script_name())
            }
            GroupSpec::Host => {
                let host = ctx.host_header().unwrap_or_else(|| ctx.server_name());
                if host.contains(':') { host } else { server_with_port(host, ctx.server_port()) }
            }
            GroupSpec::Env(name) => match ctx.lookup_env(name) {
                // A value that is itself a %{...} form (other than ENV) is expanded once more.
                Some(v) if v.starts_with("%{") && !v.starts_with("%{ENV:") => {
                    match GroupSpec::parse(&v, &mut |_| "") {
                        Ok(spec) => spec.resolve(ctx),
                        Err(_) => v,
                    }
                }
                Some(v) => v,
                None => String::new(),
            },
        }
    }
}

impl GroupSpec {
    /// Resolves a name given at request time (what a dispatch script returns):
    /// the `%{...}` forms expand as in the configuration, anything else is the
    /// name itself, as mod_wsgi treats it.
    pub fn resolve_value(value: &str, ctx: &dyn GroupContext) -> String {
        if let Some(name) = value.strip_prefix("%{ENV:").and_then(|v| v.strip_suffix('}')).filter(|n| !n.is_empty()) {
            return match ctx.lookup_env(name) {
                Some(v) if v.starts_with("%{") && !v.starts_with("%{ENV:") => GroupSpec::resolve_value(&v, ctx),
                Some(v) => v,
                None => String::new(),
            };
        }
        match GroupSpec::parse(value, &mut |_| "") {
            Ok(spec @ (GroupSpec::Global | GroupSpec::Server | GroupSpec::Resource | GroupSpec::Host)) => spec.resolve(ctx),
            _ => value.to_string(),
        }
    }
}

fn server_with_port(name: String, port: u16) -> String {
    if port == 80 || port == 443 || port == 0 { name } else { format!("{name}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx {
        env: Option<&'static str>,
        host: Option<&'static str>,
        port: u16,
    }
    impl GroupContext for Ctx {
        fn server_name(&self) -> String {
            "example.org".into()
        }
        fn server_port(&self) -> u16 {
            self.port
        }
        fn host_header(&self) -> Option<String> {
            self.host.map(String::from)
        }
        fn script_name(&self) -> String {
            "/app".into()
        }
        fn lookup_env(&self, _: &str) -> Option<String> {
            self.env.map(String::from)
        }
    }

    fn leak(s: &str) -> ConfStr {
        Box::leak(s.to_string().into_boxed_str())
    }

    #[test]
    fn parses_special_forms() {
        let mut i = |s: &str| leak(s);
        assert_eq!(GroupSpec::parse("%{GLOBAL}", &mut i), Ok(GroupSpec::Global));
        assert_eq!(GroupSpec::parse("%{RESOURCE}", &mut i), Ok(GroupSpec::Resource));
        assert_eq!(GroupSpec::parse("%{ENV:GROUP}", &mut i), Ok(GroupSpec::Env("GROUP")));
        assert_eq!(GroupSpec::parse("site1", &mut i), Ok(GroupSpec::Named("site1")));
        assert_eq!(GroupSpec::parse("%{BOGUS}", &mut i), Err(ValueError::UnknownGroupForm { value: "%{BOGUS}".into() }));
        assert_eq!(GroupSpec::parse("%{ENV:}", &mut i), Err(ValueError::UnknownGroupForm { value: "%{ENV:}".into() }));
        assert_eq!(GroupSpec::parse("%{GLOBAL", &mut i), Err(ValueError::UnterminatedGroupForm { value: "%{GLOBAL".into() }));
        assert_eq!(GroupSpec::parse("", &mut i), Err(ValueError::EmptyGroupName));
    }

    #[test]
    fn resolves_against_the_request() {
        let ctx = Ctx { env: None, host: Some("h.example"), port: 8080 };
        assert_eq!(GroupSpec::Global.resolve(&ctx), "");
        assert_eq!(GroupSpec::Server.resolve(&ctx), "example.org:8080");
        assert_eq!(GroupSpec::Resource.resolve(&ctx), "example.org:8080|/app");
        assert_eq!(GroupSpec::Host.resolve(&ctx), "h.example:8080");
        let ctx80 = Ctx { env: Some("%{SERVER}"), host: None, port: 80 };
        assert_eq!(GroupSpec::Resource.resolve(&ctx80), "example.org|/app");
        assert_eq!(GroupSpec::Env("X").resolve(&ctx80), "example.org");
        let unset = Ctx { env: None, host: None, port: 443 };
        assert_eq!(GroupSpec::Env("X").resolve(&unset), "");
    }

    #[test]
    fn resolves_values_given_at_request_time() {
        let ctx = Ctx { env: Some("from-env"), host: None, port: 8080 };
        assert_eq!(GroupSpec::resolve_value("site1", &ctx), "site1");
        assert_eq!(GroupSpec::resolve_value("%{GLOBAL}", &ctx), "");
        assert_eq!(GroupSpec::resolve_value("%{SERVER}", &ctx), "example.org:8080");
        assert_eq!(GroupSpec::resolve_value("%{RESOURCE}", &ctx), "example.org:8080|/app");
        assert_eq!(GroupSpec::resolve_value("%{ENV:G}", &ctx), "from-env");
        assert_eq!(GroupSpec::resolve_value("%{BOGUS}", &ctx), "%{BOGUS}");
        assert_eq!(GroupSpec::resolve_value("", &ctx), "");
        let nested = Ctx { env: Some("%{SERVER}"), host: None, port: 80 };
        assert_eq!(GroupSpec::resolve_value("%{ENV:G}", &nested), "example.org");
        let unset = Ctx { env: None, host: None, port: 80 };
        assert_eq!(GroupSpec::resolve_value("%{ENV:G}", &unset), "");
    }
}
