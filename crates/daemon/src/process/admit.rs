//! Which requests a daemon process runs. The request frame comes from an
//! Apache child, but any code running as Apache's user in a child (another
//! virtual host's embedded application, PHP) can write one by hand: the daemon
//! therefore checks the script itself against what the configuration routes
//! to its group, and applies script-user=/script-group= itself.

use rwsgi_config::scripts::{is_allowed, normalize_script_path};

use crate::group::{Group, check_script_owner};

/// Whether this group may run the script at `path` for a request the child
/// routed to `process_group`; the error says why not.
pub(super) fn admit(group: &Group, process_group: &[u8], path: &[u8]) -> Result<(), String> {
    // An Apache child connects to the socket of the group it resolved.
    if process_group != group.options.name.as_bytes() {
        return Err(format!("the request names process group '{}'", String::from_utf8_lossy(process_group)));
    }
    let path = normalize_script_path(path)?;
    if let Some(patterns) = &group.scripts
        && !is_allowed(patterns, &path)
    {
        return Err(format!("'{path}' is not in a script location the configuration routes to this group"));
    }
    if let Some(owner) = group.script_owner {
        check_script_owner(std::path::Path::new(&path), owner)?;
    }
    Ok(())
}
