//! The daemon groups of the configuration being read, and of the running generation.
//!
//! Directive handlers add to `DEFINED` while Apache reads the configuration
//! (cleared in pre_config, since statics survive a restart when the DSO stays
//! mapped). post_config turns them into `Group`s with sockets; the Apache
//! children forked afterwards inherit that list.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::daemon::DaemonOptions;

/// A group as configured, with where it was defined.
pub struct Defined {
    pub options: DaemonOptions,
    /// The virtual host that defines it; `None` for the main server. Its
    /// ServerName is read in post_config: while the directive is parsed it may
    /// not be set yet (ServerName later in the block, or none: inherited).
    pub virtual_host: Option<crate::apache::Server>,
    pub location: String,
}

/// `WSGIImportScript path process-group=… application-group=…`.
#[derive(Clone, Debug)]
pub struct ImportScript {
    pub path: String,
    pub process_group: String,
    pub application_group: String,
}

static DEFINED: Mutex<Vec<Defined>> = Mutex::new(Vec::new());
static IMPORTS: Mutex<Vec<ImportScript>> = Mutex::new(Vec::new());

/// A group of the running generation.
pub struct Group {
    pub id: usize,
    pub options: DaemonOptions,
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
    pub imports: Vec<ImportScript>,
    /// Owner of the socket file: the user Apache's children run as, or socket-user=.
    pub socket_uid: u32,
    /// script-user= / script-group=: who must own the scripts this group runs.
    pub script_owner: Option<ScriptOwner>,
    /// In an Apache child: connections to this group's daemons kept between requests.
    pub connections: super::client::Pool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOwner {
    User(u32),
    Group(u32),
}

static RUNNING: RwLock<Vec<Arc<Group>>> = RwLock::new(Vec::new());

pub fn reset_configuration() {
    DEFINED.lock().clear();
    IMPORTS.lock().clear();
}

/// Records a group; names are unique across the whole server.
pub fn define(group: Defined) -> Result<(), String> {
    let mut defined = DEFINED.lock();
    if let Some(other) = defined.iter().find(|d| d.options.name == group.options.name) {
        return Err(format!(
            "WSGIDaemonProcess: the name '{}' is already used by the group defined at {}",
            group.options.name, other.location
        ));
    }
    defined.push(group);
    Ok(())
}

pub fn is_defined(name: &str) -> bool {
    DEFINED.lock().iter().any(|d| d.options.name == name)
}

pub fn add_import(script: ImportScript) {
    IMPORTS.lock().push(script);
}

/// The configuration's groups and import scripts (post_config takes them).
pub fn take_configuration() -> (Vec<Defined>, Vec<ImportScript>) {
    (std::mem::take(&mut *DEFINED.lock()), std::mem::take(&mut *IMPORTS.lock()))
}

/// Scripts to preload in Apache's own children (process-group=%{GLOBAL}).
static EMBEDDED_IMPORTS: Mutex<Vec<ImportScript>> = Mutex::new(Vec::new());

/// Installs the running generation's groups and embedded import scripts.
pub fn set_running(groups: Vec<Arc<Group>>, embedded_imports: Vec<ImportScript>) {
    *RUNNING.write() = groups;
    *EMBEDDED_IMPORTS.lock() = embedded_imports;
}

pub fn embedded_imports() -> Vec<ImportScript> {
    EMBEDDED_IMPORTS.lock().clone()
}

pub fn running() -> Vec<Arc<Group>> {
    RUNNING.read().clone()
}

pub fn find(name: &str) -> Option<Arc<Group>> {
    RUNNING.read().iter().find(|g| g.options.name == name).cloned()
}
