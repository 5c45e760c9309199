//! What the directive handlers collect while Apache reads one configuration
//! pass, beyond the per-server and per-directory records Apache keeps itself.
//!
//! It is one value, made fresh in pre_config (before any of this module's
//! directives run) and taken whole by post_config, so nothing of one pass
//! survives into the next, even when the DSO stays mapped across a restart.

use parking_lot::Mutex;

use crate::daemon::registry::{Defined, ImportScript};

#[derive(Default)]
pub struct ConfigPass {
    /// WSGIDaemonProcess groups, in the order defined; names are unique server-wide.
    pub daemon_groups: Vec<Defined>,
    /// WSGIImportScript lines.
    pub imports: Vec<ImportScript>,
    /// A script hook (auth, access, dispatch) needs Python in Apache's children,
    /// even under WSGIRestrictEmbedded On.
    pub python_in_children: bool,
    /// Start-up warnings about directives accepted with less than their full
    /// effect (each names the directive, where it is and why).
    pub warnings: Vec<String>,
}

static PASS: Mutex<Option<ConfigPass>> = Mutex::new(None);

/// Starts a pass (pre_config).
pub fn begin() {
    *PASS.lock() = Some(ConfigPass::default());
}

/// Runs `f` on the pass being read.
pub fn with<R>(f: impl FnOnce(&mut ConfigPass) -> R) -> R {
    f(PASS.lock().get_or_insert_with(ConfigPass::default))
}

/// Ends the pass (post_config): what it collected.
pub fn take() -> ConfigPass {
    PASS.lock().take().unwrap_or_default()
}

impl ConfigPass {
    /// Records a group; names are unique across the whole server.
    pub fn define_group(&mut self, group: Defined) -> Result<(), String> {
        if let Some(other) = self.daemon_groups.iter().find(|d| d.options.name == group.options.name) {
            return Err(format!(
                "WSGIDaemonProcess: the name '{}' is already used by the group defined at {}",
                group.options.name, other.location
            ));
        }
        self.daemon_groups.push(group);
        Ok(())
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.daemon_groups.iter().any(|d| d.options.name == name)
    }
}
