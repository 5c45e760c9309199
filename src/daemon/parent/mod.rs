//! The Apache parent's side of daemon mode: listening sockets, forking the
//! daemon processes after configuration, and restarting them when they exit.
//!
//! Nothing here starts threads or Python: the parent stays single-threaded so
//! that forking is safe.

mod program;
mod resolve;
mod socket;
mod spawn;

use std::sync::Arc;

use super::registry::{self, Defined, Generation, ImportScript};
use crate::apache::{Pool, Server, mpm};
use crate::config::ServerConfig;

/// Resolves users, groups and socket paths; creates the sockets; forks the
/// daemons; installs the generation that Apache's children will inherit.
pub fn start(pconf: Pool, main: Server, config: &ServerConfig, defined: Vec<Defined>, imports: Vec<ImportScript>) -> Result<(), String> {
    let (embedded_imports, daemon_imports): (Vec<_>, Vec<_>) = imports.into_iter().partition(|i| i.process_group.is_empty());
    if defined.is_empty() {
        crate::metrics::parent_setup(&mut []);
        registry::set_running(Generation { groups: Vec::new(), embedded_imports });
        return Ok(());
    }
    let (dir, stem) = socket::private_dir(&socket::prefix(pconf, config.socket_prefix.as_deref()))?;
    let naming = socket::Naming {
        dir,
        stem,
        parent: std::process::id(),
        generation: mpm::generation(),
        rotation: config.socket_rotation.unwrap_or(true),
    };
    let program = Arc::new(program::locate()?);
    let log_level = crate::apache::log::module_level(main);
    let names: Vec<&str> = defined.iter().map(|d| d.options.name.as_str()).collect();
    let routed = rwsgi_config::scripts::allowed_scripts(&crate::apache::conftree::current(), &names);
    let mut resolved = Vec::new();
    for (id, d) in defined.into_iter().enumerate() {
        let imports = daemon_imports.iter().filter(|i| i.process_group == d.options.name).cloned().collect();
        let allowed = routed.get(&d.options.name).cloned().unwrap_or_default();
        match &allowed.unrestricted {
            Some(why) => tracing::warn!("daemon process group '{}' runs any script a request names: the configuration can route scripts to it from a place not tied to the file system ({why})", d.options.name),
            None => tracing::debug!("daemon process group '{}' runs only scripts in: {}", d.options.name, allowed.patterns.join(", ")),
        }
        let mut group = resolve::resolve(id, d, imports, main, &naming, allowed.enforced())?;
        socket::create_listener(pconf, &mut group)?;
        resolved.push(group);
    }
    crate::metrics::parent_setup(&mut resolved);
    crate::metrics::note_restart_on(pconf);
    let groups: Vec<Arc<_>> = resolved.into_iter().map(Arc::new).collect();
    // Forks below and Apache's children (forked later) inherit this generation.
    registry::set_running(Generation { groups: groups.clone(), embedded_imports });
    // A daemon that dies is restarted as soon as it dies, not on the MPM's next pass.
    crate::apache::process::wake_on_child_exit(pconf);
    for group in &groups {
        tracing::info!("starting daemon process group '{}' ({} processes x {} threads) on {}", group.options.name, group.options.processes, group.options.threads, group.socket_path);
        for index in 0..group.options.processes {
            spawn::start_process(pconf, group.clone(), index, program.clone(), log_level);
        }
    }
    Ok(())
}
