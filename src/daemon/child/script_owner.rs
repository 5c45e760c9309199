//! script-user= / script-group=: who must own the scripts a group runs.

use crate::daemon::registry::ScriptOwner;
use crate::route::Route;

/// script-user= / script-group= (see `rwsgi_daemon::group::check_script_owner`).
pub(super) fn check_script_owner(route: &Route, owner: ScriptOwner) -> Result<(), String> {
    let path = std::path::Path::new(std::str::from_utf8(&route.script).map_err(|_| "the script path is not UTF-8".to_string())?);
    rwsgi_daemon::group::check_script_owner(path, owner)
}
