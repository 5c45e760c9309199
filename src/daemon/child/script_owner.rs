//! script-user= / script-group=: who must own the scripts a group runs.

use crate::daemon::registry::ScriptOwner;
use crate::route::Route;

/// script-user= / script-group=: the script and its directory must belong to
/// that user (or group) and must not be writable by group or others.
pub(super) fn check_script_owner(route: &Route, owner: ScriptOwner) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = std::path::Path::new(std::str::from_utf8(&route.script).map_err(|_| "the script path is not UTF-8".to_string())?);
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
