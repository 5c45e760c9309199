//! The daemon groups of the running generation.
//!
//! post_config resolves the configured groups (`Defined`) into `Group`s with
//! sockets and installs them as the generation; the daemon processes and the
//! Apache children forked afterwards inherit it.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::PythonSettings;
use crate::config::daemon::DaemonOptions;

/// A group as configured, with where it was defined.
pub struct Defined {
    pub options: DaemonOptions,
    /// The virtual host that defines it; `None` for the main server. Its
    /// ServerName is read at start-up, once the whole configuration is in.
    pub defined_in: Option<crate::apache::Server>,
    pub location: String,
}

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

/// What post_config set up for the generation now running.
#[derive(Default)]
pub struct Generation {
    pub groups: Vec<Arc<Group>>,
    /// Scripts to preload in Apache's own children (process-group=%{GLOBAL}).
    pub embedded_imports: Vec<ImportScript>,
}

static RUNNING: RwLock<Option<Arc<Generation>>> = RwLock::new(None);

/// Installs the generation that post_config just set up.
pub fn set_running(generation: Generation) {
    *RUNNING.write() = Some(Arc::new(generation));
}

/// The running generation (empty before post_config).
pub fn running() -> Arc<Generation> {
    RUNNING.read().clone().unwrap_or_default()
}

pub fn find(name: &str) -> Option<Arc<Group>> {
    RUNNING.read().as_ref()?.groups.iter().find(|g| g.options.name == name).cloned()
}
