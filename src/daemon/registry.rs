//! The daemon groups of the running generation.
//!
//! post_config resolves the configured groups (`Defined`) into `Group`s with
//! sockets and installs them as the generation; the daemon processes and the
//! Apache children forked afterwards inherit it.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::daemon::DaemonOptions;
pub use rwsgi_daemon::group::{Group, ImportScript, ScriptOwner};

/// A group as configured, with where it was defined.
pub struct Defined {
    /// The directive's arguments as written (the launch message carries them).
    pub arguments: Vec<String>,
    pub options: DaemonOptions,
    /// The virtual host that defines it; `None` for the main server. Its
    /// ServerName is read at start-up, once the whole configuration is in.
    pub defined_in: Option<crate::apache::Server>,
    pub location: String,
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
