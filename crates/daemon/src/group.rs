//! What a daemon process is told about its group: the configured options and
//! what the Apache parent resolved for them (users, socket, interpreter). It
//! crosses the exec as a [`Launch`] message: [`Group::launch`] writes it in
//! the parent and [`Group::from_launch`] reads it back in the new program.

use rwsgi_config::daemon::DaemonOptions;
use rwsgi_config::PythonSettings;
use rwsgi_protocol::launch::{self, Launch};

pub use rwsgi_protocol::launch::ScriptOwner;

/// `WSGIImportScript path process-group=… application-group=…`.
#[derive(Clone, Debug)]
pub struct ImportScript {
    pub path: String,
    pub process_group: String,
    pub application_group: String,
}

/// A group of the running generation.
pub struct Group {
    /// Its index in the generation's list.
    pub id: usize,
    /// The `WSGIDaemonProcess` arguments as written; `options` is what they mean.
    pub arguments: Vec<String>,
    pub options: DaemonOptions,
    /// ServerName of the virtual host that defines it (`None`: the main server).
    /// As in mod_wsgi, a group is usable from the main server's scope everywhere,
    /// and from a virtual host's scope by requests to any virtual host with the
    /// same ServerName (a host without one inherits the main server's).
    pub virtual_host: Option<String>,
    pub socket_path: String,
    /// The listening socket (in the parent and the group's daemons; closed in Apache children).
    pub listener: i32,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; `None` means initgroups() for the user.
    pub groups: Option<Vec<u32>>,
    /// The user whose name initgroups() uses, and whose home is the default cwd.
    pub user_name: Option<String>,
    pub home: Option<String>,
    /// The interpreter settings of the group's processes: the server's, with
    /// python-home= and python-path= applied.
    pub python: PythonSettings,
    pub imports: Vec<ImportScript>,
    /// What the running Apache reports about itself (`apache.version`, the
    /// `apache` module).
    pub server_facts: rwsgi_core::runtime::ServerFacts,
    /// The main server's `Timeout`: the default of socket-timeout.
    pub apache_timeout: std::time::Duration,
    /// Owner of the socket file: the user Apache's children run as, or socket-user=.
    pub socket_uid: u32,
    /// script-user= / script-group=: who must own the scripts this group runs.
    pub script_owner: Option<ScriptOwner>,
    /// What an Apache child sends first on each connection (per group and
    /// generation; only Apache's children and this group's daemons hold it).
    pub secret: Vec<u8>,
    /// The script locations the configuration routes to this group
    /// (`rwsgi_config::scripts` patterns); `None`: not restricted.
    pub scripts: Option<Vec<String>>,
    /// Whether the launch passed a metrics region on METRICS_FD.
    pub metrics_fd: bool,
    pub slow_requests_us: u64,
}

impl Group {
    /// The launch message for process `index` of this group.
    pub fn launch(&self, index: u32, log_level: u8) -> Launch {
        Launch {
            group_id: self.id as u32,
            index,
            arguments: self.arguments.clone(),
            virtual_host: self.virtual_host.clone(),
            socket_path: self.socket_path.clone(),
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.clone(),
            user_name: self.user_name.clone(),
            home: self.home.clone(),
            python: self.python.clone(),
            imports: self
                .imports
                .iter()
                .map(|i| launch::Import { path: i.path.clone(), process_group: i.process_group.clone(), application_group: i.application_group.clone() })
                .collect(),
            server: launch::ServerInfo {
                version: self.server_facts.version,
                description: self.server_facts.description.clone(),
                mpm_name: self.server_facts.mpm_name.clone(),
                build_date: self.server_facts.build_date.clone(),
                maximum_processes: self.server_facts.maximum_processes,
                threads_per_process: self.server_facts.threads_per_process,
            },
            apache_timeout_ms: self.apache_timeout.as_millis() as u64,
            socket_uid: self.socket_uid,
            script_owner: self.script_owner,
            log_level,
            secret: self.secret.clone(),
            scripts: self.scripts.clone(),
            metrics_fd: self.metrics_fd,
            slow_requests_us: self.slow_requests_us,
        }
    }

    /// The group a launch message describes, its options parsed again from the
    /// arguments; the listener is the inherited [`launch::LISTENER_FD`].
    pub fn from_launch(l: Launch) -> Result<Group, String> {
        let args: Vec<&str> = l.arguments.iter().map(String::as_str).collect();
        let options = rwsgi_config::daemon::parse(&args).map_err(|e| e.to_string())?;
        Ok(Group {
            id: l.group_id as usize,
            arguments: l.arguments,
            options,
            virtual_host: l.virtual_host,
            socket_path: l.socket_path,
            listener: launch::LISTENER_FD,
            uid: l.uid,
            gid: l.gid,
            groups: l.groups,
            user_name: l.user_name,
            home: l.home,
            python: l.python,
            imports: l
                .imports
                .into_iter()
                .map(|i| ImportScript { path: i.path, process_group: i.process_group, application_group: i.application_group })
                .collect(),
            server_facts: rwsgi_core::runtime::ServerFacts {
                version: l.server.version,
                description: l.server.description,
                mpm_name: l.server.mpm_name,
                build_date: l.server.build_date,
                maximum_processes: l.server.maximum_processes,
                threads_per_process: l.server.threads_per_process,
            },
            apache_timeout: std::time::Duration::from_millis(l.apache_timeout_ms),
            socket_uid: l.socket_uid,
            script_owner: l.script_owner,
            secret: l.secret,
            scripts: l.scripts,
            metrics_fd: l.metrics_fd,
            slow_requests_us: l.slow_requests_us,
        })
    }
}

/// script-user= / script-group=: the script and its directory must belong to
/// that user (or group) and must not be writable by group or others. Checked
/// by the Apache child (403) and again by the daemon, which trusts no frame.
pub fn check_script_owner(path: &std::path::Path, owner: ScriptOwner) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    for p in [path, dir] {
        let meta = std::fs::metadata(p).map_err(|e| format!("cannot stat '{}': {e}", p.display()))?;
        let (owned, what) = match owner {
            ScriptOwner::User(uid) => (meta.uid() == uid, format!("user {uid}")),
            ScriptOwner::Group(gid) => (meta.gid() == gid, format!("group {gid}")),
        };
        if !owned {
            return Err(format!("'{}' is not owned by {what}", p.display()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!("'{}' is writable by group or others", p.display()));
        }
    }
    Ok(())
}
