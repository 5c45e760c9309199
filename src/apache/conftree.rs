//! Apache's parsed configuration tree (`ap_conftree`), copied into plain
//! `ConfNode`s for the pure analysis in `rwsgi_config::scripts`. Valid during
//! post_config: Apache builds it for each pass in pconf.

use rwsgi_config::scripts::ConfNode;

use crate::ffi;

/// A copy of the whole configuration tree of the pass being started.
pub fn current() -> Vec<ConfNode> {
    // SAFETY: ap_conftree is set by ap_read_config and lives in pconf until the
    // next pass; post_config runs after it was read.
    unsafe { copy(ffi::ap_conftree) }
}

/// # Safety
/// `first` is null or a node of a live tree.
unsafe fn copy(mut node: *const ffi::ap_directive_t) -> Vec<ConfNode> {
    let mut out = Vec::new();
    // The tree is as deep as sections nest; each level is a list.
    while !node.is_null() {
        // SAFETY: (caller) a live node, whose strings and links are live too.
        unsafe {
            let d = &*node;
            let text = |p: *const std::ffi::c_char| if p.is_null() { String::new() } else { std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned() };
            let name = text(d.directive);
            let mut args = text(d.args);
            if name.starts_with('<') {
                // A section's arguments end with its '>'.
                if let Some(stripped) = args.trim_end().strip_suffix('>') {
                    args = stripped.to_string();
                }
            }
            let location = format!("{}:{}", text(d.filename), d.line_num);
            out.push(ConfNode { name, args, location, children: copy(d.first_child) });
            node = d.next;
        }
    }
    out
}
