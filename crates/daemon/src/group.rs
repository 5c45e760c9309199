//! What a daemon process is told about its group: the configured options and
//! what the Apache parent resolved for them (users, socket, interpreter).

use rwsgi_config::PythonSettings;
use rwsgi_config::daemon::DaemonOptions;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOwner {
    User(u32),
    Group(u32),
}

